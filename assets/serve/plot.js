// difflab serve: line plots on a canvas in the report's style (colours from theme.css, DejaVu
// Sans, grid, ticks, a marker). No library: one function, `drawPlot(canvas, spec)`.
"use strict";

function cssVar(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || "#000";
}

// Nice tick values covering [lo, hi], about n of them.
function niceTicks(lo, hi, n) {
  const span = hi - lo || 1;
  const raw = span / Math.max(1, n);
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) || raw;
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(+v.toFixed(10));
  return out;
}

function fmtTick(v) {
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1e4 || a < 1e-3) return v.toExponential(0).replace("e+", "e");
  return String(+v.toPrecision(4));
}

// spec: { title, xLabel, yLabel, xs (or per-series xs), series: [{ys, color, label, xs?}],
//         logY, yMin, yMax, xMin, xMax, marker: {x, label}, hlines: [{y, label}] }
function drawPlot(canvas, spec) {
  const dpr = window.devicePixelRatio || 1;
  const W = canvas.clientWidth || canvas.width, H = canvas.clientHeight || canvas.height;
  if (canvas.width !== Math.round(W * dpr)) { canvas.width = Math.round(W * dpr); canvas.height = Math.round(H * dpr); }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  const font = '"DejaVu Sans", sans-serif';
  const col = { bg: cssVar("--plot-background"), text: cssVar("--text"), muted: cssVar("--muted"),
    axis: cssVar("--axis"), grid: cssVar("--grid"), ref: cssVar("--reference") };
  ctx.fillStyle = col.bg; ctx.fillRect(0, 0, W, H);
  const m = { l: 62, r: 16, t: 50, b: 46 };
  const pw = W - m.l - m.r, ph = H - m.t - m.b;
  const all = spec.series.flatMap((s) => s.ys.filter((v) => Number.isFinite(v) && (!spec.logY || v > 0)));
  const xsAll = spec.series.flatMap((s) => s.xs || spec.xs || []);
  const xMin = spec.xMin ?? Math.min(...xsAll), xMax = spec.xMax ?? Math.max(...xsAll, xMin + 1);
  const tr = spec.logY ? Math.log10 : (v) => v;
  let yLo = spec.yMin ?? (all.length ? Math.min(...all) : 0), yHi = spec.yMax ?? (all.length ? Math.max(...all) : 1);
  if (yHi <= yLo) yHi = yLo + 1;
  const [a, b] = [tr(yLo), tr(yHi)];
  const X = (x) => m.l + ((x - xMin) / (xMax - xMin || 1)) * pw;
  const Y = (y) => m.t + ph - ((tr(y) - a) / (b - a || 1)) * ph;
  // grid and ticks
  ctx.font = `12px ${font}`; ctx.textBaseline = "middle"; ctx.lineWidth = 1;
  let yt;
  if (spec.logY) {
    const lo = Math.ceil(a - 1e-9), hi = Math.floor(b + 1e-9), every = Math.max(1, Math.ceil((hi - lo + 1) / 6));
    yt = [];
    for (let e = hi; e >= lo; e -= every) yt.push(Math.pow(10, e));
  } else yt = niceTicks(yLo, yHi, 5);
  for (const v of yt) {
    const y = Y(v); ctx.strokeStyle = col.grid; ctx.beginPath(); ctx.moveTo(m.l, y); ctx.lineTo(m.l + pw, y); ctx.stroke();
    ctx.fillStyle = col.muted; ctx.textAlign = "right"; ctx.fillText(fmtTick(v), m.l - 6, y);
  }
  ctx.textBaseline = "top";
  for (const v of niceTicks(xMin, xMax, 6)) {
    const x = X(v); ctx.strokeStyle = col.grid; ctx.beginPath(); ctx.moveTo(x, m.t); ctx.lineTo(x, m.t + ph); ctx.stroke();
    ctx.fillStyle = col.muted; ctx.textAlign = "center"; ctx.fillText(fmtTick(v), x, m.t + ph + 5);
  }
  ctx.strokeStyle = col.axis; ctx.strokeRect(m.l + 0.5, m.t + 0.5, pw, ph);
  // reference lines
  for (const h of spec.hlines || []) {
    if (h.y < yLo || h.y > yHi) continue;
    ctx.setLineDash([5, 4]); ctx.strokeStyle = col.ref; ctx.beginPath(); ctx.moveTo(m.l, Y(h.y)); ctx.lineTo(m.l + pw, Y(h.y)); ctx.stroke(); ctx.setLineDash([]);
    ctx.fillStyle = col.ref; ctx.textAlign = "right"; ctx.textBaseline = "bottom"; ctx.fillText(h.label, m.l + pw - 4, Y(h.y) - 2);
  }
  // series
  ctx.save(); ctx.beginPath(); ctx.rect(m.l, m.t, pw, ph); ctx.clip();
  for (const s of spec.series) {
    const xs = s.xs || spec.xs; ctx.strokeStyle = s.color; ctx.lineWidth = 2; ctx.beginPath();
    let started = false;
    s.ys.forEach((v, i) => {
      if (!Number.isFinite(v) || (spec.logY && v <= 0)) return;
      const px = X(xs[i]), py = Y(v);
      if (started) ctx.lineTo(px, py); else { ctx.moveTo(px, py); started = true; }
    });
    ctx.stroke();
  }
  ctx.restore();
  // marker
  if (spec.marker) {
    const x = X(spec.marker.x); ctx.strokeStyle = col.text; ctx.lineWidth = 1.5; ctx.beginPath(); ctx.moveTo(x, m.t); ctx.lineTo(x, m.t + ph); ctx.stroke();
    for (const s of spec.series) {
      const xs = s.xs || spec.xs, i = xs.indexOf(spec.marker.x);
      if (i < 0 || !Number.isFinite(s.ys[i]) || (spec.logY && s.ys[i] <= 0)) continue;
      ctx.fillStyle = s.color; ctx.beginPath(); ctx.arc(x, Y(s.ys[i]), 4.5, 0, 2 * Math.PI); ctx.fill();
    }
    if (spec.marker.label) { ctx.fillStyle = col.text; ctx.font = `bold 12px ${font}`; ctx.textAlign = x > m.l + pw - 80 ? "right" : "left"; ctx.textBaseline = "top"; ctx.fillText(spec.marker.label, x + (x > m.l + pw - 80 ? -5 : 5), m.t + 4); }
  }
  // title, labels, legend
  ctx.fillStyle = col.text; ctx.font = `bold 15px ${font}`; ctx.textAlign = "left"; ctx.textBaseline = "top"; ctx.fillText(spec.title || "", m.l, 8);
  ctx.font = `13px ${font}`; ctx.fillStyle = col.text; ctx.textAlign = "center"; ctx.fillText(spec.xLabel || "", m.l + pw / 2, H - 20);
  ctx.save(); ctx.translate(14, m.t + ph / 2); ctx.rotate(-Math.PI / 2); ctx.textBaseline = "middle"; ctx.fillText(spec.yLabel || "", 0, 0); ctx.restore();
  let lx = m.l; ctx.textAlign = "left"; ctx.textBaseline = "middle"; ctx.font = `12px ${font}`;
  for (const s of spec.series) {
    if (!s.label) continue;
    ctx.fillStyle = s.color; ctx.fillRect(lx, 31, 16, 4);
    ctx.fillStyle = col.text; ctx.fillText(s.label, lx + 22, 33); lx += 22 + ctx.measureText(s.label).width + 18;
  }
}
