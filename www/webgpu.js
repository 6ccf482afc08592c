// The demo's "WebGPU" runtime: the UNet on onnxruntime-web's WebGPU execution provider and the
// solver step as the package's WGSL plan executor (dpm-solver/webgpu), latents kept on the
// GPU; only the finished images are read back (no per-step preview on this path). Offered only
// where the browser has a WebGPU adapter and onnxruntime-web is served in ./ort/ (make demo
// copies it there). Used for the demo model only (the runtime choice is hidden for others).
import init, { Sampler, StepPlan, gaussianNoise, gridRgba } from './pkg/dpm_solver.js';
import { sampleStepsWithOrt, sampleWithOrt } from './pkg/webgpu.js';
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

/**
 * Runs one solver preset (`solver`) with the form's settings `f` on WebGPU and returns the
 * finished batch: `{ nfe, image: { data, width, height }, checksum }` (image as an RGBA grid).
 */
export async function runWebGpu(f, solver, meta) {
  ready ??= setup();
  const { ort, session } = await ready;
  const cfg = f.cls !== 'uncond' && f.guidance !== 1;
  const opts = samplerOptions(solver, f.steps, f.spacing, f.batch, meta, f.seed);
  if (cfg) opts.guidance = { type: 'classifier-free', scale: f.guidance };
  const per = meta.channels * meta.height * meta.width;
  const xT = new Float32Array(f.batch * per);
  for (let i = 0; i < f.batch; i++) xT.set(gaussianNoise(f.seed, per, i), i * per);
  // The adaptive presets are planned step by step (their error norm is reduced on the GPU).
  const adaptive = opts.method === 'adaptive';
  let plan;
  if (adaptive) {
    plan = new StepPlan(opts);
  } else {
    const sampler = new Sampler(opts, xT);
    try {
      plan = sampler.plan();
    } finally {
      sampler.free();
    }
  }
  const nc = meta.numClasses;
  const classes = Array.from({ length: f.batch }, (_, i) =>
    f.cls === 'uncond' ? meta.nullClass : f.cls === 'mixed' ? i % nc : Number(f.cls));
  let r;
  try {
    r = await (adaptive ? sampleStepsWithOrt : sampleWithOrt)({
      ort, session, plan, xT, shape: [meta.channels, meta.height, meta.width],
      numTrainTimesteps: meta.numTrainTimesteps, classes, nullClass: meta.nullClass,
    });
  } finally {
    if (adaptive) plan.free();
  }
  const g = gridRgba(r.x, { height: meta.height, width: meta.width, channels: meta.channels, batch: f.batch,
    columns: Math.ceil(Math.sqrt(f.batch)), gap: 1, valueRange: meta.valueRange });
  return { nfe: r.nfe, image: { data: g.data, width: g.width, height: g.height }, checksum: r.x.reduce((s, v) => s + v, 0) };
}
