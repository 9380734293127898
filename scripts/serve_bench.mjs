#!/usr/bin/env node
// Bounded benchmark of `difflab serve` on loopback (issue 17's goals), with Node's own fetch:
//  1. Module 1 slider: N sequential x_t requests, p50/p95 round trip and server time;
//  2. sampling: time from "start" to the first streamed frame, and the whole run
//     (12 samples × 200 DDPM steps), against `difflab sample`'s own sampling time;
//  3. load: 30 simulated browsers moving sliders while one training job runs: failed requests,
//     p95, and the training's slowdown against the same run alone.
// Starts its own server (the binary, an ephemeral port, a fresh --data) and stops it at the end.
//
// Usage: node scripts/serve_bench.mjs --model DIR [--bin target/release/difflab] [--n 200]
//        [--browsers 30] [--scale 1] [--skip-load] [--skip-compare]
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) => {
  if (a.startsWith("--")) acc.push([a.slice(2), all[i + 1] && !all[i + 1].startsWith("--") ? all[i + 1] : true]);
  return acc;
}, []));
const bin = args.bin || "target/release/difflab";
const N = +(args.n || 200);
const BROWSERS = +(args.browsers || 30);
if (!args.model) { console.error("give --model DIR (a checkpoint from `difflab train`)"); process.exit(2); }

const pct = (xs, p) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]; };
const fmt = (xs) => `p50 ${pct(xs, 50).toFixed(1)} ms, p95 ${pct(xs, 95).toFixed(1)} ms, max ${Math.max(...xs).toFixed(1)} ms (n = ${xs.length})`;

const data = mkdtempSync(join(tmpdir(), "difflab-bench-"));
const server = spawn(bin, ["serve", "--addr", "127.0.0.1:0", "--data", data, "--model", args.model], { stdio: ["ignore", "pipe", "inherit"] });
const base = await new Promise((resolve, reject) => {
  server.stdout.on("data", (b) => { const m = String(b).match(/http:\/\/127\.0\.0\.1:\d+/); if (m) resolve(m[0]); });
  server.on("exit", (c) => reject(new Error(`the server exited (${c})`)));
  setTimeout(() => reject(new Error("the server did not start in 20 s")), 20000);
});

async function json(path, body) {
  const r = await fetch(base + path, body ? { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) } : {});
  const v = await r.json();
  if (!r.ok) throw new Error(`${path}: ${r.status} ${v.error}`);
  return v;
}

// Follow a job's SSE stream; calls on(name, data, ms since `t0`) per event; resolves at the end.
async function follow(id, t0, on) {
  const r = await fetch(`${base}/api/jobs/${id}/events`);
  const reader = r.body.getReader();
  const dec = new TextDecoder();
  let buf = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += dec.decode(value, { stream: true });
    let k;
    while ((k = buf.indexOf("\n\n")) >= 0) {
      const block = buf.slice(0, k); buf = buf.slice(k + 2);
      const name = (block.match(/^event: ?(.*)$/m) || [])[1];
      const dataLine = block.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.replace(/^data: ?/, "")).join("");
      if (!name) continue;
      on(name, JSON.parse(dataLine), performance.now() - t0);
      if (["done", "failed", "cancelled"].includes(name)) { reader.cancel(); return; }
    }
  }
}

// The page asks for 28×28 (scale=1) and upscales; --scale 10 measures the server-upscaled PNG.
const SCALE = +(args.scale || 1);

async function slider(n, seed, out, failures) {
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    try {
      const r = await fetch(`${base}/api/forward?index=${(seed * 7 + i) % 1000}&t=${(i * 37 + seed) % 200}&seed=${seed}&scale=${SCALE}`);
      const v = await r.json();
      if (!r.ok || !v.image) throw new Error(v.error);
      out.push({ rt: performance.now() - t0, server: v.server_ms });
    } catch (e) { failures.push(String(e)); }
  }
}

async function train(limit, epochs) {
  const job = await json("/api/jobs/train", { epochs, limit, digits: [0, 1, 2, 3] });
  let result;
  await follow(job.id, performance.now(), (name, d) => { if (name === "done") result = d; if (name === "failed") throw new Error(d.error); });
  return result.train_seconds;
}

try {
  await json("/api/forward?index=0&t=0"); // MNIST loaded
  // 1. slider
  const s = [], f = [];
  await slider(N, 1, s, f);
  console.log(`slider (sequential): round trip ${fmt(s.map((x) => x.rt))}; server ${fmt(s.map((x) => x.server))}; failed ${f.length}`);

  // 2. sampling stream
  const t0 = performance.now();
  const job = await json("/api/jobs/sample", { model: "given", sampler: "ddpm", steps: 200, count: 12, seed: 42 });
  let first = null, frames = 0, total = null, seconds = null;
  await follow(job.id, t0, (name, d, ms) => {
    if (name === "frame") { frames++; if (first === null) first = ms; }
    if (name === "done") { total = ms; seconds = d.seconds; }
  });
  console.log(`sampling 12 × 200 DDPM: first frame ${first.toFixed(0)} ms after start, ${frames} frames, done after ${(total / 1e3).toFixed(2)} s (job ${seconds.toFixed(2)} s)`);
  if (!args["skip-compare"]) {
    const out = mkdtempSync(join(tmpdir(), "difflab-bench-sample-"));
    execFileSync(bin, ["sample", "--model", args.model, "--steps", "200", "--count", "12", "--out", out], { stdio: "ignore" });
    const sum = JSON.parse(readFileSync(join(out, "summary.json"), "utf8"));
    console.log(`difflab sample 12 × 200 DDPM: sampling ${sum.sampling_seconds.toFixed(2)} s → serve's run is ${((100 * seconds) / sum.sampling_seconds - 100).toFixed(1)}% ${seconds >= sum.sampling_seconds ? "slower" : "faster"}`);
    rmSync(out, { recursive: true, force: true });
  }

  // 3. load: browsers moving sliders during training, against training alone
  if (!args["skip-load"]) {
    const alone = await train(2560, 2);
    const results = [], failures = [];
    let stop = false;
    const browsers = Array.from({ length: BROWSERS }, (_, b) => (async () => {
      for (let k = 0; !stop && k < 400; k++) { await slider(1, b * 1000 + k, results, failures); await new Promise((r) => setTimeout(r, 30)); }
    })());
    const loaded = await train(2560, 2);
    stop = true;
    await Promise.all(browsers);
    console.log(`load: ${BROWSERS} browsers, ${results.length} slider requests during training, failed ${failures.length}; round trip ${fmt(results.map((x) => x.rt))}`);
    console.log(`training 2 epochs × 20 steps: alone ${alone.toFixed(2)} s, under load ${loaded.toFixed(2)} s (${((100 * loaded) / alone - 100).toFixed(1)}% slower)`);
  }
} finally {
  server.kill("SIGINT");
  rmSync(data, { recursive: true, force: true });
}
