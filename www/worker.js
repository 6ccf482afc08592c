// The sampling worker: loads the wasm package and the ONNX UNet (Model.fromUrl), runs the
// package's Model.generateAsync and posts an x0-estimate grid after every step.
// generateAsync yields to the event loop before every evaluation, so a 'cancel' message aborts
// a run before its next evaluation.
import init, { Model, gridRgba, simdEnabled } from './pkg/index.js';
import { SOLVERS } from './solvers.js';

let model = null;
let meta = null;
let current = null; // the AbortController of the run in progress
const post = (m, transfer) => self.postMessage(m, transfer ?? []);

async function load() {
  const t0 = performance.now();
  try {
    await init({ module_or_path: new URL('./pkg/dpm_solver_bg.wasm', import.meta.url) });
  } catch (e) {
    post({ type: 'error', stage: 'wasm', message: String(e && e.message || e) });
    return;
  }
  try {
    model = await Model.fromUrl(new URL('./models/unet.onnx', import.meta.url));
    meta = model.metadata;
  } catch (e) {
    post({ type: 'error', stage: 'model', message: String(e && e.message || e) });
    return;
  }
  post({ type: 'ready', metadata: meta, simd: simdEnabled(), loadMs: performance.now() - t0 });
}

function classesFor(cls, batch) {
  // 'mixed': 0..9 cycling; 'uncond': none (the model's null class); else one class.
  if (cls === 'uncond') return undefined;
  return Array.from({ length: batch }, (_, i) => (cls === 'mixed' ? i % meta.numClasses : Number(cls)));
}

/** Model.generate options for a demo job (a solver preset of solvers.js). */
function generateOptions({ solver, steps, spacing, batch, seed, cls, guidance }) {
  const preset = SOLVERS[solver];
  if (!preset) throw new Error(`unknown solver ${solver}`);
  const classes = classesFor(cls, batch);
  const common = { steps, batch, seed, class: classes, guidance: classes ? guidance : 1 };
  if (preset.diffusers) {
    return { ...common, scheduler: preset.diffusers.scheduler, schedulerConfig: { ...preset.diffusers.config } };
  }
  return { ...common, ...preset.options, spacing: spacing === 'karras' ? { karras: 7 } : spacing };
}

/**
 * One sampling run; calls onStep(x0, report, nfe) after each completed step. Classifier-free
 * guidance evaluates the conditional and unconditional halves as one batch of 2B.
 * Returns { x, nfe, stats } or null when cancelled.
 */
async function sample(job, signal, onStep) {
  try {
    const g = await model.generateAsync({ ...generateOptions(job), clip: false, signal },
      onStep && ((p) => onStep(p.x0, p.report, p.nfe)));
    return { x: g.images, nfe: g.nfe, stats: g.stats };
  } catch (e) {
    if (e && e.name === 'AbortError') return null;
    throw e;
  }
}

function grid(x, batch) {
  const g = gridRgba(x, { height: meta.height, width: meta.width, channels: meta.channels, batch,
    columns: Math.ceil(Math.sqrt(batch)), gap: 1, valueRange: meta.valueRange });
  return g;
}

async function generate(m, signal) {
  const id = m.id;
  for (const job of m.jobs) {
    const t0 = performance.now();
    let lastPost = 0;
    const res = await sample({ ...m, solver: job.solver }, signal, (x0, report, nfe) => {
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

async function chart(m, signal) {
  const id = m.id;
  const base = { steps: 100, spacing: m.spacing, batch: m.batch, seed: m.seed, cls: m.cls, guidance: m.guidance };
  post({ type: 'chartStatus', id, text: 'reference: 100-step DPM-Solver++(3M)…' });
  const ref = await sample({ ...base, solver: 'pp3m' }, signal);
  if (!ref) { post({ type: 'cancelled', id }); return; }
  for (const solver of m.solvers) {
    for (const nfe of m.nfes) {
      if (solver.startsWith('adaptive') && nfe !== m.nfes[0]) continue; // adaptive: one point
      post({ type: 'chartStatus', id, text: `${solver}, ${nfe} NFE…` });
      const r = await sample({ ...base, steps: nfe, solver }, signal);
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
    if (m.type === 'cancel') { if (current) current.abort(); return; }
    if (!model) throw new Error('the model is not loaded');
    if (current) current.abort();
    const ac = new AbortController();
    current = ac;
    if (m.type === 'generate') await generate(m, ac.signal);
    else if (m.type === 'chart') await chart(m, ac.signal);
  } catch (err) {
    post({ type: 'error', stage: 'run', id: m.id, message: String(err && err.message || err) });
  }
};

load();
