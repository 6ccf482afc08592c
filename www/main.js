// The page: controls, the worker, progressive drawing, compare mode and the error-vs-NFE chart.
import { SOLVERS, isDiffusers } from './solvers.js';

const $ = (id) => document.getElementById(id);
const el = {
  message: $('message'), solver: $('solver'), solver2: $('solver2'), steps: $('steps'), spacing: $('spacing'),
  cls: $('class'), guidance: $('guidance'), seed: $('seed'), batch: $('batch'), compare: $('compare'),
  generate: $('generate'), cancel: $('cancel'), progress: $('progress'), status: $('status'),
  panelB: $('panelB'), chart: $('chart'), chartRun: $('chartRun'), chartNfe: $('chartNfe'),
  chartBatch: $('chartBatch'), chartSolvers: $('chartSolvers'), controls: $('controls'),
};
const canvases = { A: $('canvasA'), B: $('canvasB') };
const captions = { A: $('captionA'), B: $('captionB') };

// Page state, readable by tests (window.demo).
const demo = window.demo = { ready: false, busy: false, loadMs: null, runs: [], errors: [], chart: [], firstDoneAt: null, t0: performance.now() };

function showMessage(text, kind = 'error') {
  el.message.hidden = false;
  el.message.className = `message ${kind === 'error' ? '' : kind}`;
  el.message.textContent = text;
  if (kind === 'error') demo.errors.push(text);
}

for (const [key, s] of Object.entries(SOLVERS)) {
  el.solver.add(new Option(s.label, key, false, key === 'pp2m'));
  el.solver2.add(new Option(s.label, key, false, key === 'ddim'));
  const l = document.createElement('label');
  l.innerHTML = `<input type="checkbox" value="${key}" ${['ddim', 'dpm2', 'pp2m', 'pp3m'].includes(key) ? 'checked' : ''}> ${s.label}`;
  el.chartSolvers.append(l);
}

// diffusers' schedulers run on diffusers' own integer timesteps: the spacing does not apply.
function syncSpacing() {
  const used = [el.solver.value, ...(el.compare.checked ? [el.solver2.value] : [])];
  const off = used.every(isDiffusers);
  el.spacing.disabled = off;
  el.spacing.title = off ? "diffusers' schedulers use their own timesteps (timestep_spacing linspace)" : '';
}
for (const x of [el.solver, el.solver2, el.compare]) x.addEventListener('change', syncSpacing);

let worker, runId = 0, meta, current = null;

function start() {
  try {
    worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
  } catch (e) {
    showMessage(`Could not start the Web Worker: ${e.message}`);
    return;
  }
  worker.onerror = (e) => {
    showMessage(`The worker failed to start (module workers need Chrome 80+, Firefox 114+, Safari 15+): ${e.message || 'script error'}`);
    e.preventDefault();
  };
  worker.onmessage = (e) => onMessage(e.data);
}

function setBusy(b) {
  demo.busy = b;
  el.generate.disabled = b || !demo.ready;
  el.chartRun.disabled = b || !demo.ready;
  el.cancel.disabled = !b;
}

function onReady(m) {
  meta = m.metadata;
  demo.ready = true;
  demo.loadMs = m.loadMs;
  demo.metadata = meta;
  el.cls.add(new Option('mixed (0–9)', 'mixed'));
  for (let c = 0; c < meta.numClasses; c++) el.cls.add(new Option(meta.classLabels?.[c] ?? String(c), String(c), false, c === 3));
  el.cls.add(new Option('unconditional', 'uncond'));
  el.status.textContent = `ready: model and wasm loaded in ${m.loadMs.toFixed(0)} ms${m.simd ? ' (wasm SIMD)' : ''}`;
  setBusy(false);
  // The WebGPU runtime (onnxruntime-web + the package's plan executor), only where it can run.
  // Loaded lazily: the page works without it (and without WebGPU).
  if (navigator.gpu) {
    import('./webgpu.js').then((w) => w.webgpuAvailable())
      .then((ok) => { demo.webgpu = ok; $('runtimeLabel').hidden = !ok; }, () => { demo.webgpu = false; });
  }
}

function paint(panel, m) {
  const c = canvases[panel];
  if (c.width !== m.width || c.height !== m.height) { c.width = m.width; c.height = m.height; }
  c.getContext('2d').putImageData(new ImageData(new Uint8ClampedArray(m.rgba.buffer ?? m.rgba), m.width, m.height), 0, 0);
}

function onMessage(m) {
  switch (m.type) {
    case 'ready': onReady(m); break;
    case 'error':
      if (m.stage === 'wasm') showMessage(`The WebAssembly module could not be loaded: ${m.message}`);
      else if (m.stage === 'model') showMessage(`The model could not be loaded: ${m.message}`);
      else showMessage(`Sampling failed: ${m.message}`);
      el.status.textContent = 'error';
      setBusy(false);
      break;
    case 'progress': {
      if (m.id !== runId) return;
      paint(m.panel, m);
      const total = current.expected;
      el.progress.value = Math.min(1, (current.doneNfe + m.nfe) / total);
      el.status.textContent = `${current.labels[m.panel]}: NFE ${m.nfe}, ${m.ms.toFixed(0)} ms`;
      break;
    }
    case 'done': {
      if (m.id !== runId) return;
      paint(m.panel, m);
      current.doneNfe += m.nfe;
      const s = m.stats;
      captions[m.panel].textContent = `${SOLVERS[m.solver].label}: ${m.nfe} NFE` +
        (s.nReject ? ` (${s.nAccept} steps accepted, ${s.nReject} rejected)` : '') + `, ${m.ms.toFixed(0)} ms`;
      demo.runs.push({ id: m.id, panel: m.panel, solver: m.solver, nfe: m.nfe, ms: m.ms, checksum: m.checksum });
      if (demo.firstDoneAt === null) demo.firstDoneAt = performance.now() - demo.t0;
      break;
    }
    case 'finished':
      if (m.id !== runId) return;
      el.progress.value = 1;
      el.status.textContent = `done in ${(performance.now() - current.t0).toFixed(0)} ms`;
      setBusy(false);
      break;
    case 'cancelled':
      if (m.id !== runId) return;
      el.status.textContent = 'cancelled';
      el.progress.value = 0;
      setBusy(false);
      break;
    case 'chartStatus': el.status.textContent = `chart: ${m.text}`; break;
    case 'chartPoint': demo.chart.push(m); drawChart(); break;
    case 'chartDone': el.status.textContent = 'chart done'; setBusy(false); break;
  }
}


function readForm() {
  const int = (x, lo, hi, name) => {
    const v = Number(x.value);
    if (!Number.isInteger(v) || v < lo || v > hi) throw new Error(`${name} must be an integer from ${lo} to ${hi}`);
    return v;
  };
  const g = Number(el.guidance.value);
  if (!Number.isFinite(g) || g < 0) throw new Error('guidance must be a number >= 0');
  return {
    steps: int(el.steps, 1, 50, 'steps'), spacing: el.spacing.value, cls: el.cls.value, guidance: g,
    seed: int(el.seed, 0, 2 ** 32 - 1, 'seed'), batch: int(el.batch, 1, 64, 'batch'),
  };
}

el.controls.addEventListener('submit', (e) => {
  e.preventDefault();
  let f;
  try { f = readForm(); } catch (err) { showMessage(err.message); return; }
  el.message.hidden = true;
  const compare = el.compare.checked;
  el.panelB.hidden = !compare;
  const jobs = [{ panel: 'A', solver: el.solver.value }];
  if (compare) jobs.push({ panel: 'B', solver: el.solver2.value });
  runId++;
  const est = (s) => (s.startsWith('adaptive') ? 40 : f.steps);
  current = { t0: performance.now(), doneNfe: 0, expected: jobs.reduce((n, j) => n + est(j.solver), 0),
    labels: Object.fromEntries(jobs.map((j) => [j.panel, SOLVERS[j.solver].label])) };
  for (const j of jobs) captions[j.panel].textContent = `${SOLVERS[j.solver].label}: running…`;
  el.progress.value = 0;
  setBusy(true);
  if ($('runtime').value === 'webgpu') import('./webgpu.js').then((w) => w.runWebGpu({ id: runId, jobs, ...f }, meta, onMessage));
  else worker.postMessage({ type: 'generate', id: runId, jobs, ...f });
});

el.cancel.addEventListener('click', () => worker.postMessage({ type: 'cancel' }));

el.chartRun.addEventListener('click', () => {
  let f;
  try { f = readForm(); } catch (err) { showMessage(err.message); return; }
  const nfes = el.chartNfe.value.split(',').map((s) => Number(s.trim())).filter((n) => Number.isInteger(n) && n >= 1 && n <= 100);
  const solvers = [...el.chartSolvers.querySelectorAll('input:checked')].map((i) => i.value);
  if (!nfes.length || !solvers.length) { showMessage('choose at least one solver and one NFE'); return; }
  const batch = Math.max(1, Math.min(16, Number(el.chartBatch.value) || 4));
  demo.chart = [];
  drawChart();
  runId++;
  setBusy(true);
  worker.postMessage({ type: 'chart', id: runId, solvers, nfes, ...f, batch });
});

// One colour per solver preset (solvers.js order).
const COLORS = ['#d62728', '#1f77b4', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#e377c2', '#17becf', '#bcbd22', '#7f7f7f', '#000000'];

function drawChart() {
  const svg = el.chart, W = 560, H = 300, L = 60, R = 170, T = 15, B = 40;
  const pts = demo.chart;
  const ns = 'http://www.w3.org/2000/svg';
  svg.replaceChildren();
  const add = (tag, attrs, text) => {
    const n = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v);
    if (text !== undefined) n.textContent = text;
    svg.append(n);
    return n;
  };
  add('rect', { x: L, y: T, width: W - L - R, height: H - T - B, fill: 'none', stroke: '#999' });
  if (!pts.length) { add('text', { x: L + 10, y: T + 25, 'font-size': 13, fill: '#777' }, 'press Compute'); return; }
  const xs = pts.map((p) => p.nfe), ys = pts.map((p) => Math.max(p.err, 1e-6));
  const x0 = Math.min(...xs), x1 = Math.max(...xs, x0 + 1);
  const ly0 = Math.floor(Math.log10(Math.min(...ys))), ly1 = Math.ceil(Math.log10(Math.max(...ys)) + 1e-9);
  const sx = (v) => L + ((v - x0) / (x1 - x0)) * (W - L - R);
  const sy = (v) => T + (1 - (Math.log10(v) - ly0) / Math.max(1, ly1 - ly0)) * (H - T - B);
  for (let e = ly0; e <= ly1; e++) {
    add('line', { x1: L, x2: W - R, y1: sy(10 ** e), y2: sy(10 ** e), stroke: '#eee' });
    add('text', { x: L - 6, y: sy(10 ** e) + 4, 'text-anchor': 'end', 'font-size': 11 }, `1e${e}`);
  }
  for (const v of [...new Set(xs)]) add('text', { x: sx(v), y: H - B + 15, 'text-anchor': 'middle', 'font-size': 11 }, v);
  add('text', { x: (L + W - R) / 2, y: H - 6, 'text-anchor': 'middle', 'font-size': 12 }, 'NFE');
  add('text', { x: 14, y: (T + H - B) / 2, 'font-size': 12, transform: `rotate(-90 14 ${(T + H - B) / 2})`, 'text-anchor': 'middle' }, 'RMS error');
  const solvers = [...new Set(pts.map((p) => p.solver))];
  solvers.forEach((s, i) => {
    const c = COLORS[Object.keys(SOLVERS).indexOf(s) % COLORS.length];
    const sp = pts.filter((p) => p.solver === s).sort((a, b) => a.nfe - b.nfe);
    add('polyline', { points: sp.map((p) => `${sx(p.nfe)},${sy(Math.max(p.err, 1e-6))}`).join(' '), fill: 'none', stroke: c, 'stroke-width': 2 });
    for (const p of sp) add('circle', { cx: sx(p.nfe), cy: sy(Math.max(p.err, 1e-6)), r: 3, fill: c });
    add('line', { x1: W - R + 10, x2: W - R + 28, y1: T + 12 + i * 18, y2: T + 12 + i * 18, stroke: c, 'stroke-width': 2 });
    add('text', { x: W - R + 32, y: T + 16 + i * 18, 'font-size': 11 }, SOLVERS[s].label);
  });
}
drawChart();

// WebAssembly SIMD probe: (func (result v128) i32.const 0 i8x16.splat i8x16.popcnt).
const SIMD_PROBE = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8, 0, 65, 0, 253, 15, 253, 98, 11]);
const hasWasm = typeof WebAssembly === 'object' && typeof WebAssembly.validate === 'function';
if (!hasWasm) {
  showMessage('This browser has no WebAssembly: the demo cannot run.');
} else if (!WebAssembly.validate(SIMD_PROBE)) {
  showMessage('This browser does not support WebAssembly SIMD (128-bit), which the package is built with. ' +
    'Use Chrome/Edge 91+, Firefox 89+ or Safari 16.4+.');
} else {
  start();
}
