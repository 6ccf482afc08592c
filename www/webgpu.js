// The demo's "WebGPU" runtime: the UNet on onnxruntime-web's WebGPU execution provider and the
// solver step as the package's WGSL plan executor (dpm-solver/webgpu.js), latents kept on the
// GPU; only the finished images are read back (no per-step preview on this path). Offered only
// where the browser has a WebGPU adapter and onnxruntime-web is served in ./ort/ (make demo
// copies it there). Answers with the worker's message shapes ('done', 'finished', 'error').
import init, { Sampler, gaussianNoise, gridRgba } from './pkg/dpm_solver.js';
import { sampleWithOrt } from './pkg/webgpu.js';
import { samplerOptions } from './solvers.js';

const ORT = new URL('./ort/ort.webgpu.min.mjs', import.meta.url);
let ready = null;

/** Whether the WebGPU runtime can be offered here. */
export async function webgpuAvailable() {
  try {
    if (!globalThis.navigator?.gpu || !(await navigator.gpu.requestAdapter())) return false;
    return (await fetch(ORT, { method: 'HEAD' })).ok;
  } catch {
    return false;
  }
}

async function setup() {
  await init({ module_or_path: new URL('./pkg/dpm_solver_bg.wasm', import.meta.url) });
  const ort = await import(ORT.href);
  ort.env.wasm.numThreads = 1;
  ort.env.wasm.wasmPaths = new URL('./ort/', import.meta.url).href;
  const bytes = new Uint8Array(await (await fetch(new URL('./models/unet.onnx', import.meta.url))).arrayBuffer());
  const session = await ort.InferenceSession.create(bytes, {
    executionProviders: ['webgpu'], preferredOutputLocation: 'gpu-buffer', logSeverityLevel: 3,
  });
  return { ort, session };
}

/** Runs `m.jobs` (the worker's 'generate' message) on WebGPU; `post` receives the results. */
export async function runWebGpu(m, meta, post) {
  try {
    ready ??= setup();
    const { ort, session } = await ready;
    for (const job of m.jobs) {
      const t0 = performance.now();
      const cfg = m.cls !== 'uncond' && m.guidance !== 1;
      const opts = samplerOptions(job.solver, m.steps, m.spacing, m.batch, meta, m.seed);
      if (cfg) opts.guidance = { type: 'classifier-free', scale: m.guidance };
      const per = meta.channels * meta.height * meta.width;
      const xT = new Float32Array(m.batch * per);
      for (let i = 0; i < m.batch; i++) xT.set(gaussianNoise(m.seed, per, i), i * per);
      const plan = new Sampler(opts, xT).plan(); // throws for adaptive: no plan ahead of time
      const nc = meta.numClasses;
      const classes = Array.from({ length: m.batch }, (_, i) =>
        m.cls === 'uncond' ? meta.nullClass : m.cls === 'mixed' ? i % nc : Number(m.cls));
      const r = await sampleWithOrt({
        ort, session, plan, xT, shape: [meta.channels, meta.height, meta.width],
        numTrainTimesteps: meta.numTrainTimesteps, classes, nullClass: meta.nullClass,
      });
      const g = gridRgba(r.x, { height: meta.height, width: meta.width, channels: meta.channels, batch: m.batch,
        columns: Math.ceil(Math.sqrt(m.batch)), gap: 1, valueRange: meta.valueRange });
      post({ type: 'done', id: m.id, panel: job.panel, solver: job.solver, nfe: r.nfe,
        stats: { nfe: r.nfe, nAccept: r.nfe, nReject: 0 }, ms: performance.now() - t0,
        width: g.width, height: g.height, rgba: g.data, checksum: r.x.reduce((s, v) => s + v, 0), webgpu: r });
    }
    post({ type: 'finished', id: m.id });
  } catch (e) {
    post({ type: 'error', stage: 'webgpu', message: `WebGPU: ${e?.message ?? e}` });
  }
}
