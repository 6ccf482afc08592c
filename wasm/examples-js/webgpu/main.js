// The demo UNet on onnxruntime-web's WebGPU execution provider, sampled with dpm-solver's plan
// executor (latents stay on the GPU), next to the package's CPU path (tract in wasm) drawing
// the same images from the same x_T. Used by index.html and by webgpu.test.mjs.
import init, { Model, Sampler, gaussianNoise } from './pkg/dpm_solver.js';
import { sampleWithOrt } from './pkg/webgpu.js';
import * as ort from './ort/ort.webgpu.min.mjs';

let cpuModel, session, wasmSession, meta;

/** Whether this browser exposes a WebGPU adapter. */
export async function hasWebGPU() {
  return !!(globalThis.navigator?.gpu && (await navigator.gpu.requestAdapter()));
}

/** Loads the package, the CPU model (tract) and the WebGPU session from `modelUrl`. */
export async function setup(modelUrl) {
  await init();
  const bytes = new Uint8Array(await (await fetch(modelUrl)).arrayBuffer());
  cpuModel = new Model(bytes);
  meta = cpuModel.metadata;
  ort.env.wasm.numThreads = 1; // no cross-origin isolation here
  ort.env.logLevel = 'error'; // not the EP-assignment warnings
  ort.env.wasm.wasmPaths = new URL('./ort/', import.meta.url).href;
  session = await ort.InferenceSession.create(bytes, {
    executionProviders: ['webgpu'],
    preferredOutputLocation: 'gpu-buffer',
    logSeverityLevel: 3, // not the EP-assignment warnings
  });
  return meta;
}

/** The diffusers training config of the model (as the package's pipeline derives it). */
function trainConfig(md) {
  const b = md.schedule.betas ?? {};
  const kinds = { linear: 'linear', scaled_linear: 'scaled_linear', cosine: 'squaredcos_cap_v2' };
  return {
    num_train_timesteps: md.numTrainTimesteps,
    beta_schedule: kinds[b.kind] ?? 'linear',
    beta_start: b.start ?? 1e-4,
    beta_end: b.end ?? 0.02,
    prediction_type: { noise: 'epsilon', data: 'sample', v: 'v_prediction' }[md.prediction] ?? 'epsilon',
  };
}

const SCHEDULERS = { unipc: 'UniPCMultistepScheduler', ddim: 'DDIMScheduler', 'dpm++2m-diffusers': 'DPMSolverMultistepScheduler' };

/** `Sampler` options and the matching `Model.generate` options for a solver `kind`. */
export function options(kind, steps, classes, guidance) {
  const batch = classes.length;
  const g = guidance !== 1 ? { type: 'classifier-free', scale: guidance } : undefined;
  if (kind === 'dpm++2m') {
    const common = { algorithm: 'dpmsolver++', method: 'multistep', order: 2, steps, spacing: 'logSNR' };
    return {
      sampler: { ...common, schedule: meta.schedule, prediction: meta.prediction, guidance: g, batch },
      generate: { ...common, class: classes, guidance, batch, clip: false },
    };
  }
  const scheduler = SCHEDULERS[kind];
  if (!scheduler) throw new Error(`unknown solver ${kind}: one of dpm++2m, ${Object.keys(SCHEDULERS).join(', ')}`);
  return {
    sampler: { scheduler, schedulerConfig: trainConfig(meta), steps, guidance: g, batch },
    generate: { scheduler, schedulerConfig: {}, steps, class: classes, guidance, batch, clip: false },
  };
}

/** x_T of `batch` images: image i is gaussianNoise(seed, imageLength, i), as the pipeline's. */
export function startNoise(seed, batch) {
  const len = meta.channels * meta.height * meta.width;
  const x = new Float32Array(batch * len);
  for (let i = 0; i < batch; i++) x.set(gaussianNoise(seed, len, i), i * len);
  return x;
}

/** Samples on WebGPU: the plan of `kind` applied by the package's executor. */
export async function runGpu({ kind, steps, classes, guidance = 1, seed = 0, xT = startNoise(seed, classes.length) }) {
  const o = options(kind, steps, classes, guidance);
  const plan = new Sampler(o.sampler, xT).plan();
  const t0 = performance.now();
  const r = await sampleWithOrt({
    ort,
    session,
    plan,
    xT,
    shape: [meta.channels, meta.height, meta.width],
    numTrainTimesteps: meta.numTrainTimesteps,
    classes,
    nullClass: meta.nullClass,
  });
  return { ...r, ms: performance.now() - t0 };
}

/** Samples with the package's CPU path (tract in wasm) from the same x_T. */
export function runCpu({ kind, steps, classes, guidance = 1, seed = 0, xT = startNoise(seed, classes.length) }) {
  const o = options(kind, steps, classes, guidance);
  const t0 = performance.now();
  const g = cpuModel.generate({ ...o.generate, noise: xT });
  return { images: g.images, nfe: g.nfe, ms: performance.now() - t0 };
}

/** The ask/tell Sampler on the CPU driving `sess` (latents copied to and from it every step). */
async function askTell(sess, { kind, steps, classes, guidance = 1, xT }) {
  const o = options(kind, steps, classes, guidance);
  const s = new Sampler(o.sampler, xT);
  const batch = classes.length;
  const guided = guidance !== 1;
  const evalB = guided ? 2 * batch : batch;
  const labels = new BigInt64Array(evalB);
  classes.forEach((c, i) => { labels[i] = BigInt(c); });
  if (guided) labels.fill(BigInt(meta.nullClass), batch);
  const n = xT.length;
  const t0 = performance.now();
  for (let req = s.ask(); req; req = s.ask()) {
    const x = new Float32Array(evalB * (n / batch));
    x.set(req.x);
    if (guided) x.set(req.x, n);
    const t = req.timestep ?? req.tModel * meta.numTrainTimesteps / 1000;
    const out = await sess.run({
      x: new ort.Tensor('float32', x, [evalB, meta.channels, meta.height, meta.width]),
      t: new ort.Tensor('float32', new Float32Array(evalB).fill(t), [evalB]),
      class: new ort.Tensor('int64', labels, [evalB]),
    });
    const r = out[sess.outputNames[0]];
    const eps = r.location === 'gpu-buffer' ? await r.getData(true) : r.data;
    if (guided) s.tellCfg(eps.subarray(0, n), eps.subarray(n, 2 * n));
    else s.tell(eps);
  }
  return { images: s.x, nfe: s.nfe, ms: performance.now() - t0 };
}

/**
 * The WebGPU session driven by the ask/tell Sampler on the CPU: every step downloads the
 * output and uploads the next input (what the plan executor avoids). Same network numerics as
 * runGpu, so the two differ only by the solver step's placement.
 */
export async function runGpuRoundTrip({ kind, steps, classes, guidance = 1, seed = 0, xT = startNoise(seed, classes.length) }) {
  return askTell(session, { kind, steps, classes, guidance, xT });
}

/**
 * The same model with onnxruntime-web's wasm EP and the ask/tell Sampler on the CPU: the
 * baseline the WebGPU path is measured against on a real GPU (bench.html).
 */
export async function runWasmEp({ kind, steps, classes, guidance = 1, seed = 0, xT = startNoise(seed, classes.length) }) {
  if (!wasmSession) {
    const bytes = new Uint8Array(await (await fetch('./models/unet.onnx')).arrayBuffer());
    wasmSession = await ort.InferenceSession.create(bytes, { executionProviders: ['wasm'], logSeverityLevel: 3 });
  }
  return askTell(wasmSession, { kind, steps, classes, guidance, xT });
}

/** Both paths from the same x_T: `maxDiff` is the largest elementwise difference. */
export async function compare(args) {
  const xT = startNoise(args.seed ?? 0, args.classes.length);
  const gpu = await runGpu({ ...args, xT });
  const cpu = runCpu({ ...args, xT });
  const diff = (a, b) => {
    let d = 0;
    for (let i = 0; i < a.length; i++) d = Math.max(d, Number.isFinite(b[i]) ? Math.abs(a[i] - b[i]) : Infinity);
    return d;
  };
  const maxDiff = diff(cpu.images, gpu.x);
  // Optionally the same WebGPU network driven by the CPU sampler: isolates the solver step.
  const rt = args.roundTrip ? await runGpuRoundTrip({ ...args, xT }) : null;
  return {
    planVsRoundTrip: rt ? diff(rt.images, gpu.x) : null,
    roundTripVsCpu: rt ? diff(cpu.images, rt.images) : null,
    roundTripMs: rt?.ms ?? null,
    kind: args.kind,
    steps: args.steps,
    nfe: gpu.nfe,
    maxDiff,
    gpuMs: gpu.ms,
    cpuMs: cpu.ms,
    cpuMsPerStep: gpu.cpuMsPerStep,
    cpuMsPerStepMedian: gpu.cpuMsPerStepMedian,
    bytesUpPerStep: gpu.bytesUpPerStep,
    bytesDownPerStep: gpu.bytesDownPerStep,
    bytesUpOnce: gpu.bytesUpOnce,
    bytesDownOnce: gpu.bytesDownOnce,
    gpu: gpu.x,
    cpu: cpu.images,
  };
}

/**
 * The network's own gap: max |eps_webgpu - eps_wasm| of the two onnxruntime-web EPs on the same
 * input, at each time of `ts` (what the sampled images inherit, whatever the solver).
 */
export async function epsGap(ts = [999, 700, 300, 50, 1]) {
  await runWasmEp({ kind: 'ddim', steps: 1, classes: [3] }); // creates the wasm session
  const x = Float32Array.from({ length: meta.channels * meta.height * meta.width }, (_, i) => Math.sin(1.7 * i));
  const out = [];
  for (const t of ts) {
    const feeds = () => ({
      x: new ort.Tensor('float32', x.slice(), [1, meta.channels, meta.height, meta.width]),
      t: new ort.Tensor('float32', new Float32Array([t]), [1]),
      class: new ort.Tensor('int64', new BigInt64Array([3n]), [1]),
    });
    const g = (await session.run(feeds()))[session.outputNames[0]];
    const a = await g.getData(true);
    const c = (await wasmSession.run(feeds()))[wasmSession.outputNames[0]].data;
    let d = 0;
    for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - c[i]));
    out.push({ t, maxAbsDiff: d });
  }
  return out;
}
