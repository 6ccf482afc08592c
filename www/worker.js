// The sampling worker: loads the wasm package and the ONNX UNet, runs the ask/tell loop of the
// package's Sampler with the package's Model, and posts an x0-estimate grid after every step.
// Between evaluations it yields to its event loop, so a 'cancel' message stops a run at once.
import init, { Model, Sampler, gaussianNoise, gridRgba, simdEnabled } from './pkg/dpm_solver.js';
import { samplerOptions } from './solvers.js';

let model = null;
let meta = null;
let current = 0; // id of the run allowed to continue; a cancel or a new run bumps it
const post = (m, transfer) => self.postMessage(m, transfer ?? []);

/** Model options from the files: a .json is the scheduler config, others the external data. */
function modelFrom(files) {
  const onnx = files.find((f) => /\.onnx$/i.test(f.name));
  if (!onnx) throw new Error('no .onnx file among the files given');
  const opts = {};
  const json = files.find((f) => /\.json$/i.test(f.name));
  if (json) opts.schedulerConfig = new TextDecoder().decode(json.bytes);
  const data = files.filter((f) => f !== onnx && f !== json);
  if (data.length) opts.externalData = Object.fromEntries(data.map((f) => [f.name, f.bytes]));
  return new Model(onnx.bytes, opts);
}

async function fetchBytes(url) {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`HTTP ${r.status} for ${url}`);
  return new Uint8Array(await r.arrayBuffer());
}

/**
 * Loads a model: `{ files: [{ name, bytes }] }` (file picker, drop) or `{ url, scheduler?, data? }`
 * (the page's ?model=URL, or the demo model). A model that fails leaves the previous one loaded.
 */
async function loadModel(src, t0 = performance.now()) {
  const name = src.name ?? (src.files ? src.files.find((f) => /\.onnx$/i.test(f.name))?.name : decodeURIComponent(src.url.split('/').pop()));
  let files;
  try {
    if (src.files) files = src.files;
    else {
      const base = new URL('./', self.location.href);
      const file = decodeURIComponent(new URL(src.url, base).pathname.split('/').pop());
      files = [{ name: /\.onnx$/i.test(file) ? file : `${file}.onnx`, bytes: await fetchBytes(new URL(src.url, base)) }];
      if (src.scheduler) files.push({ name: 'scheduler_config.json', bytes: await fetchBytes(new URL(src.scheduler, base)) });
      if (src.data) files.push({ name: decodeURIComponent(src.data.split('/').pop()), bytes: await fetchBytes(new URL(src.data, base)) });
    }
  } catch (e) {
    post({ type: 'error', stage: 'model', message: `could not fetch the model: ${e.message || e}` });
    return;
  }
  let m;
  try {
    m = modelFrom(files);
  } catch (e) {
    post({ type: 'error', stage: 'model', message: String(e && e.message || e) });
    return;
  }
  model?.free();
  model = m;
  meta = model.metadata;
  post({ type: 'ready', name, metadata: meta, simd: simdEnabled(), loadMs: performance.now() - t0 });
}

async function load() {
  const t0 = performance.now();
  try {
    await init({ module_or_path: new URL('./pkg/dpm_solver_bg.wasm', import.meta.url) });
  } catch (e) {
    post({ type: 'error', stage: 'wasm', message: String(e && e.message || e) });
    return;
  }
  // ?model=URL[&scheduler=URL][&data=URL] on the page (passed on in this script's URL).
  const q = new URL(self.location.href).searchParams;
  if (q.get('model')) await loadModel({ url: q.get('model'), scheduler: q.get('scheduler'), data: q.get('data') }, t0);
  else await loadModel({ url: './models/unet.onnx', name: 'default' }, t0);
}

const tick = () => new Promise((r) => setTimeout(r, 0));

/** x_T for `batch` images: image i is stream i of `seed` (independent of the batch size). */
function noise(seed, batch) {
  const per = meta.channels * meta.height * meta.width;
  const x = new Float32Array(batch * per);
  for (let i = 0; i < batch; i++) x.set(gaussianNoise(seed, per, i), i * per);
  return x;
}

function classesFor(cls, batch) {
  // 'mixed': all classes cycling; 'uncond': the null class (0 for an unconditional model,
  // which ignores it); else one class.
  const nc = meta.numClasses;
  return Int32Array.from({ length: batch }, (_, i) =>
    cls === 'uncond' ? (meta.nullClass ?? 0) : cls === 'mixed' ? i % nc : Number(cls));
}

/**
 * One sampling run; calls onStep(x0, report, nfe) after each evaluation. Classifier-free
 * guidance evaluates the conditional and unconditional halves as one batch of 2B.
 * Returns { x, nfe } or null when cancelled.
 */
async function sample(job, id, onStep) {
  const { solver, steps, spacing, batch, seed, cls, guidance } = job;
  const cfg = cls !== 'uncond' && guidance !== 1;
  const opts = samplerOptions(solver, steps, spacing, batch, meta, seed);
  if (cfg) opts.guidance = { type: 'classifier-free', scale: guidance };
  const sampler = new Sampler(opts, noise(seed, batch));
  try {
    const classes = classesFor(cls, batch);
    const both = cfg ? Int32Array.from([...classes, ...new Array(batch).fill(meta.nullClass)]) : classes;
    const n = sampler.x.length;
    let req;
    while ((req = sampler.ask())) {
      if (id !== current) return null;
      const input = cfg ? new Float32Array(2 * n) : req.x;
      if (cfg) { input.set(req.x); input.set(req.x, n); }
      const out = model.run(input, (req.tModel * meta.numTrainTimesteps) / 1000, both);
      let report, guided = out;
      if (cfg) {
        const cond = out.subarray(0, n), uncond = out.subarray(n);
        guided = new Float32Array(n);
        for (let i = 0; i < n; i++) guided[i] = uncond[i] + guidance * (cond[i] - uncond[i]);
        const x0 = sampler.predictX0(guided);
        report = sampler.tellCfg(cond, uncond);
        onStep && onStep(x0, report, sampler.nfe);
      } else {
        const x0 = sampler.predictX0(out);
        report = sampler.tell(out);
        onStep && onStep(x0, report, sampler.nfe);
      }
      await tick();
    }
    return { x: sampler.x, nfe: sampler.nfe, stats: sampler.stats };
  } finally {
    sampler.free();
  }
}

function grid(x, batch) {
  const g = gridRgba(x, { height: meta.height, width: meta.width, channels: meta.channels, batch,
    columns: Math.ceil(Math.sqrt(batch)), gap: 1, valueRange: meta.valueRange });
  return g;
}

async function generate(m) {
  const id = m.id;
  for (const job of m.jobs) {
    const t0 = performance.now();
    let lastPost = 0;
    const res = await sample({ ...m, solver: job.solver }, id, (x0, report, nfe) => {
      const now = performance.now();
      if (now - lastPost < 30 && report === null) return; // rate-limit intermediate stages
      lastPost = now;
      const g = grid(x0, m.batch);
      post({ type: 'progress', id, panel: job.panel, nfe, ms: now - t0, width: g.width, height: g.height,
        rgba: g.data, t: report ? report.tTo : null }, [g.data.buffer]);
    });
    if (!res) { post({ type: 'cancelled', id }); return; }
    const g = grid(res.x, m.batch);
    const sum = res.x.reduce((s, v) => s + v, 0);
    post({ type: 'done', id, panel: job.panel, solver: job.solver, nfe: res.nfe, stats: res.stats,
      ms: performance.now() - t0, width: g.width, height: g.height, rgba: g.data, checksum: sum }, [g.data.buffer]);
  }
  post({ type: 'finished', id });
}

async function chart(m) {
  const id = m.id;
  const base = { steps: 100, spacing: m.spacing, batch: m.batch, seed: m.seed, cls: m.cls, guidance: m.guidance };
  post({ type: 'chartStatus', id, text: 'reference: 100-step DPM-Solver++(3M)…' });
  const ref = await sample({ ...base, solver: 'pp3m' }, id);
  if (!ref) { post({ type: 'cancelled', id }); return; }
  for (const solver of m.solvers) {
    for (const nfe of m.nfes) {
      if (solver.startsWith('adaptive') && nfe !== m.nfes[0]) continue; // adaptive: one point
      post({ type: 'chartStatus', id, text: `${solver}, ${nfe} NFE…` });
      const r = await sample({ ...base, steps: nfe, solver }, id);
      if (!r) { post({ type: 'cancelled', id }); return; }
      // Distance of what is drawn: both clamped to the value range.
      const [lo, hi] = meta.valueRange, clamp = (v) => Math.min(hi, Math.max(lo, v));
      let se = 0;
      for (let i = 0; i < r.x.length; i++) se += (clamp(r.x[i]) - clamp(ref.x[i])) ** 2;
      post({ type: 'chartPoint', id, solver, nfe: r.nfe, err: Math.sqrt(se / r.x.length) });
    }
  }
  post({ type: 'chartDone', id });
}

self.onmessage = async (e) => {
  const m = e.data;
  try {
    if (m.type === 'cancel') { current = -1; return; }
    if (m.type === 'load') { current = -1; await loadModel(m); return; }
    if (!model) throw new Error('the model is not loaded');
    current = m.id;
    if (m.type === 'generate') await generate(m);
    else if (m.type === 'chart') await chart(m);
  } catch (err) {
    post({ type: 'error', stage: 'run', id: m.id, message: String(err && err.message || err) });
  }
};

load();
