// difflab serve: the page. Module 1 redraws on every slider move (one request in flight, stale
// ones aborted); Modules 2 and 3 start jobs and follow their server-sent events; the answer
// sheet saves as the student types (debounced PUT).
"use strict";

const $ = (id) => document.getElementById(id);
const state = { tab: "forward", questions: [], answers: {}, facts: {}, models: [], T: 200 };
const PART_OF_TAB = { forward: ["forward"], train: ["train"], sample: ["sample"], sheet: null };

async function api(path, opts = {}) {
  const r = await fetch(path, opts);
  const body = await r.json().catch(() => ({ error: `HTTP ${r.status}` }));
  if (!r.ok) throw new Error(body.error || `HTTP ${r.status}`);
  return body;
}

// ------------------------------------------------------------------ tabs

function showTab(tab) {
  state.tab = tab;
  for (const b of document.querySelectorAll("#tabs button")) b.classList.toggle("active", b.dataset.tab === tab);
  for (const p of document.querySelectorAll(".panel")) p.classList.toggle("hidden", p.id !== `tab-${tab}`);
  $("questions").classList.toggle("hidden", tab === "sheet");
  renderQuestions();
  if (tab === "forward") drawForwardPlots();
  if (tab === "sample" || tab === "train") refreshModels();
  history.replaceState(null, "", `#${tab}`);
}

// ------------------------------------------------------------------ Module 1

const fwd = { index: 7, digit: null, upload: null, seed: 42, schedule: "linear", t: 50, curves: {}, ctrl: null, pending: false, last: null };

function forwardQuery() {
  const src = fwd.upload ? `upload=${fwd.upload}` : `index=${fwd.index}`;
  // scale=1: a 28×28 PNG of a few hundred bytes; the page upscales it (nearest neighbour).
  return `/api/forward?${src}&t=${fwd.t}&schedule=${fwd.schedule}&seed=${fwd.seed}&scale=1`;
}

// One request in flight; a newer slider position aborts the stale one.
async function updateForward() {
  if (fwd.ctrl) fwd.ctrl.abort();
  const ctrl = new AbortController();
  fwd.ctrl = ctrl;
  const t0 = performance.now();
  try {
    const r = await fetch(forwardQuery(), { signal: ctrl.signal });
    const d = await r.json();
    if (!r.ok) throw new Error(d.error);
    await setImage($("f-image"), d.image);
    fwd.last = d;
    const ms = performance.now() - t0;
    $("f-ab").textContent = d.alpha_bar.toFixed(4);
    $("f-signal").textContent = (100 * d.signal_share).toFixed(1) + "%";
    $("f-noise").textContent = (100 * d.noise_share).toFixed(1) + "%";
    $("f-snr").textContent = d.snr >= 100 ? d.snr.toFixed(0) : d.snr.toPrecision(3);
    $("f-bar-signal").style.width = `${100 * d.signal_variance}%`;
    $("f-bar-noise").style.width = `${100 * d.noise_variance}%`;
    $("f-bar-caption").textContent = `share of xₜ's variance: digit ${(100 * d.signal_variance).toFixed(1)}%, noise ${(100 * d.noise_variance).toFixed(1)}%`;
    const src = d.source.upload ? "your picture" : `training image #${d.source.index} (a ${d.source.label})`;
    $("f-caption").textContent = `x${sub(d.t)} of ${src}`;
    $("f-timing").textContent = `server ${d.server_ms.toFixed(1)} ms · on screen ${ms.toFixed(0)} ms`;
    document.body.dataset.forwardT = String(d.t);
    drawForwardPlots();
  } catch (e) {
    if (e.name !== "AbortError") $("f-caption").textContent = `error: ${e.message}`;
  } finally {
    if (fwd.ctrl === ctrl) fwd.ctrl = null;
  }
}

// Grids come at native resolution: show them `zoom` times larger, pixels kept sharp.
function zoomed(img, zoom) {
  img.onload = () => { img.style.width = `${img.naturalWidth * zoom}px`; };
}

function setImage(img, src) {
  return new Promise((resolve) => {
    img.onload = img.onerror = () => { if (img.dataset.zoom) img.style.width = `${img.naturalWidth * img.dataset.zoom}px`; resolve(); };
    img.src = src;
    img.classList.remove("hidden");
  });
}

async function loadCurves(name) {
  if (!fwd.curves[name]) fwd.curves[name] = await api(`/api/schedule?schedule=${name}`);
  const c = fwd.curves[name];
  const last = c.snr.length - 1;
  const below = (t, v) => (t === null ? `never falls below ${v} (lowest: ${c.snr[last].toPrecision(3)} at t = ${last})` : `falls below ${v} first at t = ${t}`);
  setFact(7, `${name} schedule: SNR ${below(c.first_t_snr_below_1, 1)}; it ${below(c.first_t_snr_below_0_1, 0.1)}`);
  return c;
}

function drawForwardPlots() {
  const c = fwd.curves[fwd.schedule];
  if (!c || state.tab !== "forward") return;
  const xs = c.alpha_bar.map((_, i) => i);
  const noise = c.alpha_bar.map((a) => 1 - a);
  drawPlot($("plot-ab"), {
    title: `Signal and noise weights (${fwd.schedule} schedule)`, xLabel: "timestep t", yLabel: "share of variance",
    xs, yMin: 0, yMax: 1, series: [{ ys: c.alpha_bar, color: cssVar("--signal"), label: "signal weight ᾱₜ" },
      { ys: noise, color: cssVar("--noise"), label: "noise weight 1 − ᾱₜ" }],
    hlines: [{ y: 0.5, label: "50 %" }], marker: { x: fwd.t, label: `t = ${fwd.t}` },
  });
  drawPlot($("plot-snr"), {
    title: "Signal-to-noise ratio", xLabel: "timestep t", yLabel: "SNR (log scale)", xs, logY: true,
    series: [{ ys: c.snr, color: cssVar("--signal"), label: "SNR(t) = ᾱₜ / (1 − ᾱₜ)" }],
    hlines: [{ y: 1, label: "SNR = 1" }], marker: { x: fwd.t, label: `SNR = ${(c.snr[fwd.t] || 0).toPrecision(3)}` },
  });
}

function setupForward() {
  const box = $("digit-buttons");
  for (let d = 0; d <= 9; d++) {
    const b = document.createElement("button");
    b.textContent = d;
    b.onclick = async () => {
      try {
        const r = await api(`/api/forward?digit=${d}&t=0&schedule=linear`);
        fwd.index = r.source.index; fwd.upload = null; $("f-index").value = fwd.index;
        for (const o of box.children) o.classList.toggle("active", o === b);
        $("f-upload-note").textContent = "";
        updateForward();
      } catch (e) { $("f-caption").textContent = `error: ${e.message}`; }
    };
    box.appendChild(b);
  }
  $("f-index").onchange = () => { fwd.index = Math.max(0, parseInt($("f-index").value, 10) || 0); fwd.upload = null; updateForward(); };
  $("f-t").oninput = () => { fwd.t = parseInt($("f-t").value, 10); $("f-t-label").textContent = fwd.t; drawForwardPlots(); updateForward(); };
  for (const r of document.querySelectorAll("input[name=schedule]")) {
    r.onchange = async () => { fwd.schedule = r.value; await loadCurves(fwd.schedule); drawForwardPlots(); updateForward(); };
  }
  $("f-reseed").onclick = () => { fwd.seed = Math.floor(Math.random() * 1e9); $("f-seed").textContent = fwd.seed; updateForward(); };
  $("f-file").onchange = () => $("f-file").files[0] && uploadPicture($("f-file").files[0]);
  const drop = $("drop");
  drop.ondragover = (e) => { e.preventDefault(); drop.classList.add("over"); };
  drop.ondragleave = () => drop.classList.remove("over");
  drop.ondrop = (e) => { e.preventDefault(); drop.classList.remove("over"); if (e.dataTransfer.files[0]) uploadPicture(e.dataTransfer.files[0]); };
}

async function uploadPicture(file) {
  try {
    const r = await api("/api/uploads", { method: "POST", body: file, headers: { "Content-Type": file.type || "application/octet-stream" } });
    fwd.upload = r.id;
    $("f-upload-note").textContent = `${file.name}: ${r.width}×${r.height} → 28×28${r.inverted ? ", inverted to white ink on black" : ""}`;
    updateForward();
  } catch (e) { $("f-upload-note").textContent = `could not use ${file.name}: ${e.message}`; }
}

// ------------------------------------------------------------------ jobs (Modules 2 and 3)

// Follow a job's events; `on[name](data)` for each; closes on the final event.
function follow(jobId, on) {
  const es = new EventSource(`/api/jobs/${jobId}/events`);
  for (const name of ["queued", "started", "plan", "progress", "epoch", "frame"]) {
    es.addEventListener(name, (e) => on[name] && on[name](JSON.parse(e.data)));
  }
  for (const name of ["done", "failed", "cancelled"]) {
    es.addEventListener(name, (e) => { es.close(); on.end && on.end(name, JSON.parse(e.data)); });
  }
  return es;
}

async function refreshModels() {
  try { state.models = (await api("/api/models")).models.filter((m) => !m.error); } catch (e) { state.models = []; }
  const none = state.models.length === 0;
  $("t-nomodel").classList.toggle("hidden", !none);
  $("s-nomodel").classList.toggle("hidden", !none);
  $("s-start").disabled = none || !!sam.job;
  const sel = $("s-model"), keep = sel.value;
  sel.innerHTML = "";
  for (const m of state.models) {
    const o = document.createElement("option");
    o.value = m.name;
    o.textContent = `${m.name} · ${m.arch}, digits ${m.digits.join("")}, ${m.epochs} epoch${m.epochs === 1 ? "" : "s"}${m.conditional ? ", conditional" : ""}`;
    sel.appendChild(o);
  }
  if (keep && state.models.some((m) => m.name === keep)) sel.value = keep;
  onModelChange();
}

function onModelChange() {
  const m = state.models.find((x) => x.name === $("s-model").value);
  $("s-cond").classList.toggle("hidden", !(m && m.conditional));
  if (m) { $("s-steps").max = m.timesteps; if (+$("s-steps").value > m.timesteps) $("s-steps").value = m.timesteps; }
}

const tr = { job: null, points: [], es: null };

function setupTrain() {
  const box = $("t-digits");
  for (let d = 0; d <= 9; d++) {
    const l = document.createElement("label");
    l.innerHTML = `<input type="checkbox" value="${d}" ${d < 4 ? "checked" : ""}> ${d}`;
    box.appendChild(l);
  }
  $("t-start").onclick = startTraining;
  $("t-cancel").onclick = () => tr.job && api(`/api/jobs/${tr.job}`, { method: "DELETE" }).catch(() => {});
  drawLoss();
}

function drawLoss() {
  const xs = tr.points.map((p) => p[0]), ys = tr.points.map((p) => p[1]);
  drawPlot($("plot-loss"), { title: "Training loss (MSE of the predicted noise)", xLabel: "step", yLabel: "loss",
    xs: xs.length ? xs : [0, 1], yMin: 0, series: [{ ys, color: cssVar("--signal"), label: "loss per step" }],
    hlines: [{ y: 1, label: "always “no noise” = 1.0" }] });
  document.body.dataset.lossPoints = String(tr.points.length);
}

async function startTraining() {
  const digits = [...document.querySelectorAll("#t-digits input:checked")].map((i) => +i.value);
  const body = { digits, epochs: +$("t-epochs").value, arch: $("t-arch").value, conditional: $("t-cond").checked };
  if ($("t-limit").value) body.limit = +$("t-limit").value;
  try {
    const job = await api("/api/jobs/train", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
    attachTraining(job);
  } catch (e) { setStatus("t-status", e.message, true); }
}

function attachTraining(job) {
  tr.job = job.id; tr.points = []; drawLoss();
  $("t-start").disabled = true; $("t-cancel").disabled = false;
  setStatus("t-status", `training ${job.request.model}: waiting…`);
  tr.es = follow(job.id, {
    queued: (d) => setStatus("t-status", `queued: position ${d.position}`),
    started: () => setStatus("t-status", "loading the digits…"),
    plan: (d) => setStatus("t-status", `${d.images} images, ${d.total_steps} steps`),
    progress: (d) => {
      tr.points.push(...d.points); drawLoss();
      setStatus("t-status", `epoch ${d.epoch}, step ${d.step}/${d.total_steps} · ETA ${fmtSecs(d.eta_s)}`);
    },
    epoch: (d) => {
      if (d.preview) { setImage($("t-preview"), d.preview); $("t-preview-caption").textContent = `after epoch ${d.epoch}/${d.epochs} (mean loss ${d.mean_loss.toFixed(4)})`; }
      refreshModels();
    },
    end: (name, d) => {
      tr.job = null; $("t-start").disabled = false; $("t-cancel").disabled = true;
      if (name === "done") {
        setFact(11, `final loss ${d.final_loss.toFixed(4)} after ${d.epochs} epoch${d.epochs === 1 ? "" : "s"} (${d.model})`);
        setFact(12, `training took ${fmtSecs(d.train_seconds)}`);
      }
      setStatus("t-status", name === "done" ? `done: ${d.model}, final loss ${d.final_loss.toFixed(4)} in ${fmtSecs(d.train_seconds)}` : name === "failed" ? `failed: ${d.error}` : "cancelled", name === "failed");
      document.body.dataset.trainState = name;
      refreshModels();
    },
  });
}

const sam = { job: null, es: null };

function setupSample() {
  for (let d = 0; d <= 9; d++) { const o = document.createElement("option"); o.value = d; o.textContent = d; $("s-digit").appendChild(o); }
  zoomed($("s-xt"), 4); zoomed($("s-x0"), 4);
  $("s-w").oninput = () => { $("s-w-label").textContent = (+$("s-w").value).toFixed(1); };
  $("s-model").onchange = onModelChange;
  $("s-go-train").onclick = () => showTab("train");
  $("s-start").onclick = startSampling;
  $("s-cancel").onclick = () => sam.job && api(`/api/jobs/${sam.job}/cancel`, { method: "POST" }).catch(() => {});
}

async function startSampling() {
  const body = { model: $("s-model").value || undefined, sampler: $("s-sampler").value, steps: +$("s-steps").value, count: +$("s-count").value, seed: +$("s-seed").value };
  if (!$("s-cond").classList.contains("hidden") && $("s-digit").value !== "") { body.digit = +$("s-digit").value; body.guidance = +$("s-w").value; }
  try {
    const job = await api("/api/jobs/sample", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
    sam.job = job.id; $("s-start").disabled = true; $("s-cancel").disabled = false;
    $("s-samples").classList.add("hidden");
    document.body.dataset.frames = "0";
    let frames = 0;
    sam.es = follow(job.id, {
      queued: (d) => setStatus("s-status", `queued: position ${d.position}`),
      started: () => setStatus("s-status", "loading the model…"),
      frame: (d) => {
        frames++; $("s-xt").src = d.x_t; $("s-x0").src = d.x0; // zoomed on load
        $("s-xt").classList.remove("hidden"); $("s-x0").classList.remove("hidden");
        setStatus("s-status", `step ${d.index + 1}/${d.steps} · t = ${d.t}`);
        document.body.dataset.frames = String(frames);
      },
      end: (name, d) => {
        sam.job = null; $("s-start").disabled = state.models.length === 0; $("s-cancel").disabled = true;
        if (name === "done") { setImage($("s-samples"), d.samples); setStatus("s-status", `${d.count} samples in ${fmtSecs(d.seconds)}`);
          setFact(19, `${body.sampler.toUpperCase()} with ${body.steps} steps: ${d.count} samples in ${fmtSecs(d.seconds)}`); }
        else setStatus("s-status", name === "failed" ? `failed: ${d.error}` : "cancelled", name === "failed");
        document.body.dataset.sampleState = name;
      },
    });
  } catch (e) { setStatus("s-status", e.message, true); }
}

function sub(n) { return String(n).replace(/\d/g, (c) => "₀₁₂₃₄₅₆₇₈₉"[c]); }
function setStatus(id, text, error = false) { $(id).textContent = text; $(id).classList.toggle("error", error); }
function fmtSecs(s) { if (!Number.isFinite(s)) return "–"; return s < 90 ? `${s.toFixed(s < 10 ? 1 : 0)} s` : `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`; }

// ------------------------------------------------------------------ answer sheet

const saveTimers = {};

function questionBlock(q) {
  const div = document.createElement("div");
  div.className = "question";
  const ev = q.evidence ? `<span class="evidence">(see ${q.evidence})</span>` : "";
  div.innerHTML = `<p><b></b> <span></span> ${ev}</p><div class="measured" id="fact-${q.number}"></div><textarea data-key="${q.number}" aria-label="answer to Q${q.number}"></textarea>`;
  div.querySelector("b").textContent = q.heading;
  div.querySelector("span").textContent = q.text;
  div.querySelector(".measured").textContent = state.facts[q.number] || "";
  const ta = div.querySelector("textarea");
  ta.value = state.answers[q.number] || "";
  ta.oninput = () => scheduleSave(String(q.number), ta.value);
  return div;
}

function renderQuestions() {
  const parts = PART_OF_TAB[state.tab];
  const list = state.tab === "sheet" ? $("sheet-all") : $("questions-list");
  list.innerHTML = "";
  let part = null;
  for (const q of state.questions) {
    if (parts && !parts.includes(q.part)) continue;
    if (q.part !== part) {
      part = q.part;
      const h = document.createElement("div"); h.className = "part-title"; h.textContent = q.part_title; list.appendChild(h);
    }
    list.appendChild(questionBlock(q));
  }
}

// A measured fact shown with question n ("Measured here — …"), as the report does.
function setFact(n, text) {
  state.facts[n] = `Measured here — ${text}`;
  for (const el of document.querySelectorAll(`#fact-${n}`)) el.textContent = state.facts[n];
}

function scheduleSave(key, text) {
  if (key === "name") state.name = text; else state.answers[key] = text;
  $("save-state").textContent = "saving…";
  clearTimeout(saveTimers[key]);
  saveTimers[key] = setTimeout(async () => {
    try {
      await api(`/api/answers/${key}`, { method: "PUT", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ text }) });
      $("save-state").textContent = "saved ✓";
      document.body.dataset.saved = key;
    } catch (e) { $("save-state").textContent = `not saved: ${e.message}`; }
  }, 400);
}

async function loadSheet() {
  const s = await api("/api/answers");
  state.questions = s.questions; state.answers = s.answers; state.name = s.name;
  $("a-name").value = s.name || "";
  $("a-name").oninput = () => scheduleSave("name", $("a-name").value);
  renderQuestions();
}

// ------------------------------------------------------------------ start

async function main() {
  for (const b of document.querySelectorAll("#tabs button")) b.onclick = () => showTab(b.dataset.tab);
  setupForward(); setupTrain(); setupSample();
  await document.fonts.load('15px "DejaVu Sans"').catch(() => {});
  await Promise.all([loadSheet(), loadCurves("linear")]);
  const tab = location.hash.slice(1);
  showTab(PART_OF_TAB.hasOwnProperty(tab) ? tab : "forward");
  updateForward();
  // Re-attach to a training run that is still going (after a reload).
  try {
    const jobs = (await api("/api/jobs")).jobs;
    const running = jobs.find((j) => j.kind === "train" && (j.state === "running" || j.state === "queued"));
    if (running) attachTraining(running);
  } catch (e) { /* the page works without it */ }
  document.body.dataset.ready = "1";
}

main();
