// The page: controls, the package's worker (dpm-solver/worker: createWorker runs the Model in a
// Web Worker, generateAsync there), progressive drawing, compare mode and the error-vs-NFE chart.
import { createWorker } from './pkg/worker.js';
import { SOLVERS, isDiffusers, generateOptions } from './solvers.js';

const $ = (id) => document.getElementById(id);
const el = {
  message: $('message'), solver: $('solver'), solver2: $('solver2'), steps: $('steps'), spacing: $('spacing'),
  cls: $('class'), guidance: $('guidance'), seed: $('seed'), batch: $('batch'), compare: $('compare'),
  generate: $('generate'), cancel: $('cancel'), progress: $('progress'), status: $('status'),
  panelB: $('panelB'), chart: $('chart'), chartRun: $('chartRun'), chartNfe: $('chartNfe'),
  chartBatch: $('chartBatch'), chartSolvers: $('chartSolvers'), controls: $('controls'),
  title: $('title'), description: $('description'), modelFile: $('modelFile'), resetModel: $('resetModel'),
  runtime: $('runtime'), runtimeLabel: $('runtimeLabel'), demoModel: $('demoModel'),
};
// The two demo models this repository trains and ships (train/): the same UNet trained as a DDPM
// (noise prediction) and as a rectified flow (velocity prediction). `?demo=flow` picks the second.
const DEMO_MODELS = { default: './models/unet.onnx', flow: './models/flow.onnx' };
const HEADERS = {
  default: { title: el.title.textContent, description: el.description.textContent },
  flow: {
    title: 'DPM-Solver in the browser: rectified flow',
    description: 'The same 1M-parameter class-conditional MNIST UNet trained by flow matching (it predicts the velocity ' +
      'eps - x0 along x_t = (1 - t) x0 + t eps, as Stable Diffusion 3 and Flux do), sampled with Euler, DPM-Solver++ ' +
      'and UniPC on flow sigmas, run by tract compiled to WebAssembly in a Web Worker. Everything runs on this page, offline.',
  },
};
const isDemo = (name) => Object.hasOwn(DEMO_MODELS, name);
// Workers of the pool: one per core, at most 4 (`?workers=N` overrides, for benchmarks).
const WORKERS = Math.max(1, Math.min(64, Number(new URLSearchParams(location.search).get('workers')) ||
  Math.min(navigator.hardwareConcurrency || 1, 4)));
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

/** Whether a preset applies to the model (`schedules` in solvers.json: discrete and/or flow). */
const presetFits = (key, m) => !SOLVERS[key].schedules || SOLVERS[key].schedules.includes(m.schedule.type);

// Only the presets that apply to the model are offered (FlowMatchEuler needs a flow model).
function syncPresets(m) {
  for (const sel of [el.solver, el.solver2]) {
    for (const o of sel.options) o.hidden = o.disabled = !presetFits(o.value, m);
    if (sel.selectedOptions[0]?.disabled) sel.value = 'pp2m';
  }
  for (const box of el.chartSolvers.querySelectorAll('input')) {
    const fits = presetFits(box.value, m);
    box.disabled = !fits;
    box.parentElement.style.display = fits ? '' : 'none'; // not `hidden`: the label's CSS display wins
    if (!fits) box.checked = false;
  }
}

// diffusers' schedulers run on diffusers' own integer timesteps: the spacing does not apply.
function syncSpacing() {
  const used = [el.solver.value, ...(el.compare.checked ? [el.solver2.value] : [])];
  const off = used.every(isDiffusers);
  el.spacing.disabled = off;
  el.spacing.title = off ? "diffusers' schedulers use their own timesteps (timestep_spacing linspace)" : '';
}
for (const x of [el.solver, el.solver2, el.compare]) x.addEventListener('change', syncSpacing);

let dpm, meta, current = null; // current: the AbortController of the run in progress
let loading = 0; // id of the newest model load: an older one that finishes late is dropped

/** Bytes of a URL (relative to the page), with the HTTP status in the error. */
async function fetchBytes(url) {
  const r = await fetch(new URL(url, location.href));
  if (!r.ok) throw new Error(`HTTP ${r.status} for ${url}`);
  return new Uint8Array(await r.arrayBuffer());
}

/**
 * The model and its load options from files `[{ name, bytes }]`: the .onnx, a .json is its
 * diffusers scheduler_config.json (as text: Python's JSON), anything else the external data.
 */
function modelFrom(files) {
  const onnx = files.find((f) => /\.onnx$/i.test(f.name));
  if (!onnx) throw new Error('no .onnx file among the files given');
  const load = {};
  const json = files.find((f) => /\.json$/i.test(f.name));
  if (json) load.schedulerConfig = new TextDecoder().decode(json.bytes);
  const data = files.filter((f) => f !== onnx && f !== json);
  if (data.length) load.externalData = Object.fromEntries(data.map((f) => [f.name, f.bytes]));
  return { bytes: onnx.bytes, load };
}

/**
 * Loads a model in a new worker (the package's createWorker): `{ files }` (file picker, drop) or
 * `{ url, scheduler?, data? }` (?model=URL, or the demo model). The previous model's worker
 * stays in use until the new one is ready; a model that fails leaves it loaded.
 */
async function loadModel(src) {
  const id = ++loading;
  const t0 = performance.now();
  const name = src.name ?? (src.files ? src.files.find((f) => /\.onnx$/i.test(f.name))?.name
    : decodeURIComponent(new URL(src.url, location.href).pathname.split('/').pop()));
  let next;
  try {
    let files = src.files;
    if (!files) {
      try {
        files = [{ name: /\.onnx$/i.test(name) ? name : `${name}.onnx`, bytes: await fetchBytes(src.url) }];
        if (src.scheduler) files.push({ name: 'scheduler_config.json', bytes: await fetchBytes(src.scheduler) });
        if (src.data) files.push({ name: decodeURIComponent(src.data.split('/').pop()), bytes: await fetchBytes(src.data) });
      } catch (e) {
        throw Object.assign(new Error(`could not fetch the model: ${e.message}`), { stage: 'model' });
      }
    }
    const { bytes, load } = modelFrom(files);
    // A pool of workers (one per core, at most 4): a batch is split image by image, the images
    // are the same as with one worker.
    next = createWorker({ model: bytes, load, workers: WORKERS });
    const metadata = await next.ready;
    if (id !== loading) { next.terminate(); return; }
    if (current) current.abort();
    dpm?.terminate();
    dpm = next;
    onReady(metadata, name, performance.now() - t0);
  } catch (e) {
    next?.terminate();
    if (id !== loading) return;
    if (e.stage === 'wasm') showMessage(`The WebAssembly module could not be loaded: ${e.message}`);
    else if (e.stage === 'model' || !e.stage) showMessage(`The model could not be loaded: ${e.message}`);
    else showMessage(`The worker failed to start (module workers need Chrome 80+, Firefox 114+, Safari 15+): ${e.message}`);
    // A model that did not fit leaves the one before it in place.
    if (meta) {
      demo.ready = true;
      el.status.textContent = `still using ${isDemo(demo.modelName) ? 'the demo model' : demo.modelName}`;
      setBusy(false);
    } else {
      el.status.textContent = 'error';
    }
  }
}

function start() {
  // ?model=URL[&scheduler=URL][&data=URL]: the user's model instead of the demo's.
  const q = new URLSearchParams(location.search);
  if (q.get('model')) loadModel({ url: q.get('model'), scheduler: q.get('scheduler'), data: q.get('data') });
  else {
    const name = isDemo(q.get('demo')) ? q.get('demo') : 'default';
    el.demoModel.value = name;
    loadModel({ url: DEMO_MODELS[name], name });
  }
}

function setBusy(b) {
  demo.busy = b;
  el.generate.disabled = b || !demo.ready;
  el.chartRun.disabled = b || !demo.ready;
  el.cancel.disabled = !b;
}

/** The page's title and text from a model's `description` (title: up to the first ". ", ":" or line end). */
function header(meta, name) {
  const d = (meta.description ?? '').trim();
  if (!d) {
    const kind = meta.numClasses ? `${meta.numClasses} classes` : 'unconditional';
    return { title: name, description: `${name}: ${meta.channels}x${meta.height}x${meta.width} images, ${kind}, ${meta.prediction} prediction.` };
  }
  const cut = d.search(/\.\s|:|\n/);
  return { title: cut > 0 ? d.slice(0, cut) : d, description: d };
}

// The controls follow the model: its classes, guidance only with a class input and a null class.
function onReady(metadata, name, loadMs) {
  meta = metadata;
  demo.ready = true;
  demo.loadMs = loadMs;
  demo.metadata = meta;
  demo.modelName = name;
  el.cls.replaceChildren();
  const nc = meta.numClasses, guided = nc > 0 && meta.nullClass !== null;
  if (nc > 0) {
    el.cls.add(new Option(`mixed (all ${nc})`, 'mixed'));
    for (let c = 0; c < nc; c++) el.cls.add(new Option(meta.classLabels?.[c] ?? String(c), String(c), false, c === Math.min(3, nc - 1)));
  }
  if (nc === 0 || meta.nullClass !== null) el.cls.add(new Option('unconditional', 'uncond', false, nc === 0));
  if (guided && el.guidance.disabled) el.guidance.value = '2';
  el.guidance.disabled = !guided;
  if (!guided) el.guidance.value = '1';
  el.guidance.title = guided ? '' : 'classifier-free guidance needs a class-conditional model with a null class';
  const h = HEADERS[name] ?? header(meta, name);
  el.title.textContent = h.title;
  el.description.textContent = h.description;
  document.title = isDemo(name) ? h.title : `${h.title} · DPM-Solver`;
  el.resetModel.hidden = isDemo(name);
  if (isDemo(name)) el.demoModel.value = name;
  syncPresets(meta);
  syncSpacing();
  for (const p of ['A', 'B']) captions[p].textContent = '';
  el.status.textContent = `ready: ${isDemo(name) ? 'model' : name} and wasm loaded in ${loadMs.toFixed(0)} ms (wasm SIMD)`;
  setBusy(false);
  // The WebGPU runtime (onnxruntime-web + the package's plan executor), only where it can run,
  // for the demo model. Loaded lazily: the page works without it (and without WebGPU).
  el.runtimeLabel.hidden = true;
  el.runtime.value = 'tract';
  if (navigator.gpu && name === 'default') {
    import('./webgpu.js').then((w) => w.webgpuAvailable())
      .then((ok) => { demo.webgpu = ok; el.runtimeLabel.hidden = !ok; }, () => { demo.webgpu = false; });
  } else {
    demo.webgpu = false;
  }
}

/** Loads the user's files (the .onnx, its .onnx.data, a scheduler_config.json). */
async function loadFiles(list) {
  const files = [...list];
  if (!files.length) return;
  if (!files.some((f) => /\.onnx$/i.test(f.name))) { showMessage('Choose an .onnx file (with its .onnx.data and scheduler_config.json if it has them).'); return; }
  el.message.hidden = true;
  demo.ready = false;
  setBusy(false);
  el.status.textContent = 'loading your model…';
  loadModel({ files: await Promise.all(files.map(async (f) => ({ name: f.name, bytes: new Uint8Array(await f.arrayBuffer()) }))) });
}

el.modelFile.addEventListener('change', () => { loadFiles(el.modelFile.files); el.modelFile.value = ''; });
el.resetModel.addEventListener('click', () => { el.message.hidden = true; loadModel({ url: DEMO_MODELS[el.demoModel.value], name: el.demoModel.value }); });
el.demoModel.addEventListener('change', () => {
  el.message.hidden = true;
  demo.ready = false;
  setBusy(false);
  el.status.textContent = 'loading the demo model…';
  loadModel({ url: DEMO_MODELS[el.demoModel.value], name: el.demoModel.value });
});
document.addEventListener('dragover', (e) => { e.preventDefault(); document.body.classList.add('dragging'); });
document.addEventListener('dragleave', () => document.body.classList.remove('dragging'));
document.addEventListener('drop', (e) => {
  e.preventDefault();
  document.body.classList.remove('dragging');
  if (e.dataTransfer?.files?.length) loadFiles(e.dataTransfer.files);
});

function paint(panel, img) {
  const c = canvases[panel];
  if (c.width !== img.width || c.height !== img.height) { c.width = img.width; c.height = img.height; }
  c.getContext('2d').putImageData(new ImageData(img.data, img.width, img.height), 0, 0);
}

/** A new run: cancels the one in progress and returns its AbortSignal. */
function newRun() {
  if (current) current.abort();
  current = new AbortController();
  setBusy(true);
  return current.signal;
}

/** Ends a run: 'cancelled' for an abort, the message of any other error. */
function endRun(signal, e) {
  if (signal !== current?.signal) return; // a newer run owns the page
  if (e && e.name === 'AbortError') {
    el.status.textContent = 'cancelled';
    el.progress.value = 0;
  } else if (e) {
    showMessage(`Sampling failed: ${e.message}`);
    el.status.textContent = 'error';
  }
  current = null;
  setBusy(false);
}

async function generate(f, jobs, signal) {
  const t0 = performance.now();
  const est = (s) => (s.startsWith('adaptive') ? 40 : f.steps);
  const expected = jobs.reduce((n, j) => n + est(j.solver), 0);
  let doneNfe = 0;
  for (const job of jobs) {
    const label = SOLVERS[job.solver].label;
    const tj = performance.now();
    if (el.runtime.value === 'webgpu') {
      // onnxruntime-web on WebGPU with the package's plan executor: no per-step preview.
      if (signal.aborted) throw Object.assign(new Error('cancelled'), { name: 'AbortError' });
      const w = await import('./webgpu.js');
      const r = await w.runWebGpu(f, job.solver, meta).catch((e) => { throw new Error(`WebGPU: ${e?.message ?? e}`); });
      const ms = performance.now() - tj;
      paint(job.panel, r.image);
      doneNfe += r.nfe;
      captions[job.panel].textContent = `${label}: ${r.nfe} NFE on WebGPU, ${ms.toFixed(0)} ms`;
      demo.runs.push({ panel: job.panel, solver: job.solver, nfe: r.nfe, ms, checksum: r.checksum, webgpu: true });
      if (demo.firstDoneAt === null) demo.firstDoneAt = performance.now() - demo.t0;
      continue;
    }
    const gen = await dpm.generate(generateOptions({ ...f, solver: job.solver }, meta), {
      signal,
      preview: { gap: 1 },
      onPreview: (img) => paint(job.panel, img),
      onProgress: (p) => {
        el.progress.value = Math.min(1, (doneNfe + p.nfe) / expected);
        el.status.textContent = `${label}: NFE ${p.nfe}, ${(performance.now() - tj).toFixed(0)} ms`;
      },
    });
    const ms = performance.now() - tj;
    doneNfe += gen.nfe;
    const s = gen.stats;
    captions[job.panel].textContent = `${label}: ${gen.nfe} NFE` +
      (s.nReject ? ` (${s.nAccept} steps accepted, ${s.nReject} rejected)` : '') + `, ${ms.toFixed(0)} ms`;
    const checksum = gen.images.reduce((a, v) => a + v, 0);
    demo.runs.push({ panel: job.panel, solver: job.solver, nfe: gen.nfe, ms, checksum });
    if (demo.firstDoneAt === null) demo.firstDoneAt = performance.now() - demo.t0;
  }
  el.progress.value = 1;
  el.status.textContent = `done in ${(performance.now() - t0).toFixed(0)} ms`;
}

async function chart(f, solvers, nfes, batch, signal) {
  const base = { steps: 100, spacing: f.spacing, batch, seed: f.seed, cls: f.cls, guidance: f.guidance };
  el.status.textContent = 'chart: reference: 100-step DPM-Solver++(3M)…';
  const ref = (await dpm.generate(generateOptions({ ...base, solver: 'pp3m' }, meta), { signal })).images;
  // Distance of what is drawn: both clamped to the value range.
  const [lo, hi] = meta.valueRange, clamp = (v) => Math.min(hi, Math.max(lo, v));
  for (const solver of solvers) {
    for (const nfe of nfes) {
      if (solver.startsWith('adaptive') && nfe !== nfes[0]) continue; // adaptive: one point
      el.status.textContent = `chart: ${solver}, ${nfe} NFE…`;
      const r = await dpm.generate(generateOptions({ ...base, steps: nfe, solver }, meta), { signal });
      let se = 0;
      for (let i = 0; i < r.images.length; i++) se += (clamp(r.images[i]) - clamp(ref[i])) ** 2;
      demo.chart.push({ solver, nfe: r.nfe, err: Math.sqrt(se / r.images.length) });
      drawChart();
    }
  }
  el.status.textContent = 'chart done';
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
  for (const j of jobs) captions[j.panel].textContent = `${SOLVERS[j.solver].label}: running…`;
  el.progress.value = 0;
  const signal = newRun();
  generate(f, jobs, signal).then(() => endRun(signal), (e) => endRun(signal, e));
});

el.cancel.addEventListener('click', () => current?.abort());

el.chartRun.addEventListener('click', () => {
  let f;
  try { f = readForm(); } catch (err) { showMessage(err.message); return; }
  const nfes = el.chartNfe.value.split(',').map((s) => Number(s.trim())).filter((n) => Number.isInteger(n) && n >= 1 && n <= 100);
  const solvers = [...el.chartSolvers.querySelectorAll('input:checked')].map((i) => i.value);
  if (!nfes.length || !solvers.length) { showMessage('choose at least one solver and one NFE'); return; }
  const batch = Math.max(1, Math.min(16, Number(el.chartBatch.value) || 4));
  demo.chart = [];
  drawChart();
  const signal = newRun();
  chart(f, solvers, nfes, batch, signal).then(() => endRun(signal), (e) => endRun(signal, e));
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
