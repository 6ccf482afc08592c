// The demo UNet on onnxruntime-web's WebGPU execution provider, sampled with dpm-solver's plan
// executor (latents stay on the GPU), next to the package's CPU path (tract in wasm) drawing
// the same images from the same x_T. Used by index.html and by webgpu.test.mjs.
import init, { Model, Sampler, StepPlan, gaussianNoise } from './pkg/dpm_solver.js';
import { PlanExecutor, StepPlanExecutor, sampleStepsWithOrt, sampleWithOrt } from './pkg/webgpu.js';
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

/**
 * The adaptive solvers offered: DPM-Solver++-12 and -23 with tolerances loose enough for a
 * 28x28 demo (16 and 18 evaluations from seed 5; the defaults take 26 and 33).
 */
const ADAPTIVE = {
  adaptive: { order: 2, adaptive: { atol: 0.05, rtol: 0.1 } },
  adaptive3: { order: 3, adaptive: { atol: 0.05, rtol: 0.1 } },
};

/** `Sampler` options and the matching `Model.generate` options for a solver `kind`. */
export function options(kind, steps, classes, guidance) {
  const batch = classes.length;
  const g = guidance !== 1 ? { type: 'classifier-free', scale: guidance } : undefined;
  if (ADAPTIVE[kind]) {
    const common = { algorithm: 'dpmsolver++', method: 'adaptive', ...ADAPTIVE[kind] };
    return {
      sampler: { ...common, schedule: meta.schedule, prediction: meta.prediction, guidance: g, batch },
      generate: { ...common, class: classes, guidance, batch, clip: false },
    };
  }
  if (kind === 'dpm++2m') {
    const common = { algorithm: 'dpmsolver++', method: 'multistep', order: 2, steps, spacing: 'logSNR' };
    return {
      sampler: { ...common, schedule: meta.schedule, prediction: meta.prediction, guidance: g, batch },
      generate: { ...common, class: classes, guidance, batch, clip: false },
    };
  }
  const scheduler = SCHEDULERS[kind];
  if (!scheduler) throw new Error(`unknown solver ${kind}: one of dpm++2m, ${[...Object.keys(ADAPTIVE), ...Object.keys(SCHEDULERS)].join(', ')}`);
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

/**
 * Copies buffer `index` of an executor's arena to the CPU with a staging buffer of its own:
 * the test's instrumentation, outside the executor's byte counters.
 */
async function peek(exec, index, count = 1) {
  const device = exec.device;
  const size = count * exec.n * 4;
  const staging = device.createBuffer({ size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const enc = device.createCommandEncoder();
  enc.copyBufferToBuffer(exec.arena, exec.offset(index), staging, 0, size);
  device.queue.submit([enc.finish()]);
  await staging.mapAsync(GPUMapMode.READ);
  const out = new Float32Array(staging.getMappedRange().slice(0));
  staging.unmap();
  staging.destroy();
  return out;
}

/**
 * Samples on WebGPU: the plan of `kind` applied by the package's executor (a step-by-step
 * plan for the adaptive solvers). `record`: also return each evaluation's network output(s)
 * as the executor received them (read by the test, not counted in the transfers).
 */
export async function runGpu({ kind, steps, classes, guidance = 1, seed = 0, xT = startNoise(seed, classes.length), record = false }) {
  const o = options(kind, steps, classes, guidance);
  const adaptive = o.sampler.method === 'adaptive';
  const plan = adaptive ? new StepPlan(o.sampler) : new Sampler(o.sampler, xT).plan();
  const outputs = [];
  const onStep = record ? async (_k, exec) => { outputs.push(await peek(exec, 1, guidance !== 1 ? 2 : 1)); } : undefined;
  const t0 = performance.now();
  const r = await (adaptive ? sampleStepsWithOrt : sampleWithOrt)({
    ort,
    session,
    plan,
    xT,
    shape: [meta.channels, meta.height, meta.width],
    numTrainTimesteps: meta.numTrainTimesteps,
    classes,
    nullClass: meta.nullClass,
    onStep,
  });
  return { ...r, ms: performance.now() - t0, outputs };
}

/**
 * The ask/tell Sampler on the CPU told the very outputs a GPU run recorded: any difference to
 * that run is the solver step's placement (WGSL plan vs the Sampler in wasm), not the network.
 */
export function replay({ kind, steps, classes, guidance = 1, xT, outputs }) {
  const o = options(kind, steps, classes, guidance);
  const s = new Sampler(o.sampler, xT);
  const n = xT.length;
  let k = 0;
  for (let req = s.ask(); req; req = s.ask(), k++) {
    if (k >= outputs.length) throw new Error(`the Sampler asks for evaluation ${k + 1}, the GPU run made ${outputs.length}`);
    const out = outputs[k];
    if (guidance !== 1) s.tellCfg(out.subarray(0, n), out.subarray(n, 2 * n));
    else s.tell(out);
  }
  return { images: s.x, nfe: s.nfe };
}

/**
 * The package's plan executor on WebGPU with tract's network (in wasm) as the model: each
 * evaluation's input read back, run by tract, its output uploaded. Against tract's own
 * generate from the same x_T this isolates the plan from the network runtime.
 */
export async function runPlanWithTract({ kind, steps, classes, guidance = 1, xT }) {
  const o = options(kind, steps, classes, guidance);
  const device = await ort.env.webgpu.device;
  const n = xT.length;
  const guided = guidance !== 1;
  const labels = guided ? [...classes, ...classes.map(() => meta.nullClass)] : classes;
  const outBuf = device.createBuffer({ size: (guided ? 2 : 1) * n * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
  // `t`: the network's time input (a DPM-Solver plan's tModel N / 1000, a scheduler's timestep).
  const net = async (exec, input, t) => {
    const x = await peek(exec, input);
    const xin = guided ? new Float32Array([...x, ...x]) : x;
    const out = cpuModel.run(xin, t, labels);
    device.queue.writeBuffer(outBuf, 0, out);
  };
  let x;
  let nfe;
  if (o.sampler.method === 'adaptive') {
    const plan = new StepPlan(o.sampler);
    const exec = new StepPlanExecutor(device, plan, n);
    exec.writeX(xT);
    for (let ev = plan.next(); ev; ev = plan.next()) {
      await net(exec, ev.input, ev.tModel * meta.numTrainTimesteps / 1000);
      const enc = device.createCommandEncoder();
      exec.encodeOutput(enc, outBuf, 0, guided);
      exec.applyOps(ev.ops, enc);
      if (ev.norm) exec.applyOps(plan.tellError(await exec.norm(ev.norm)).ops);
    }
    x = await exec.read(0);
    nfe = plan.nfe;
    exec.destroy();
  } else {
    const plan = new Sampler(o.sampler, xT).plan();
    const exec = new PlanExecutor(device, plan, n);
    exec.writeX(xT);
    for (let k = 0; k < plan.nfe; k++) {
      const t = plan.scheduler ? plan.tModel[k] : plan.tModel[k] * meta.numTrainTimesteps / 1000;
      await net(exec, plan.inputs[k], t);
      const enc = device.createCommandEncoder();
      exec.encodeStep(enc, k, outBuf);
      device.queue.submit([enc.finish()]);
    }
    x = await exec.read(0);
    nfe = plan.nfe;
    exec.destroy();
  }
  outBuf.destroy();
  return { images: x, nfe };
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

/** max |a - b| (Infinity where `b` is not finite). */
function diff(a, b) {
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Number.isFinite(b[i]) ? Math.abs(a[i] - b[i]) : Infinity);
  return d;
}

/** The demo's pixel value in [0, 1] of a latent value (the model's value range, clamped). */
function pixel(v) {
  const [lo, hi] = meta.valueRange;
  return Math.min(1, Math.max(0, (v - lo) / (hi - lo)));
}

/** max |pixel(a) - pixel(b)| in [0, 1], and the largest difference of the drawn 8-bit values. */
function pixelDiff(a, b) {
  let d = 0;
  let bytes = 0;
  for (let i = 0; i < a.length; i++) {
    const pa = pixel(a[i]);
    const pb = Number.isFinite(b[i]) ? pixel(b[i]) : Infinity;
    d = Math.max(d, Math.abs(pa - pb));
    bytes = Math.max(bytes, Math.abs(((pa * 255 + 0.5) | 0) - ((pb * 255 + 0.5) | 0)));
  }
  return { d, bytes };
}

/**
 * Both paths from the same x_T: `maxDiff` is the largest elementwise difference in latent
 * space (the model's [-1, 1]), `pixelDiff` in the demo's pixel space [0, 1] (`byteDiff` of the
 * drawn 8-bit values). `replay`: the CPU Sampler told the GPU run's own network outputs
 * (`planVsReplay`); `withTract`: the plan executor driven by tract's network vs tract's
 * generate (`planTractVsTract`); `roundTrip`: the WebGPU network driven by the CPU Sampler;
 * `wasmEp`: onnxruntime-web's wasm EP driven by the CPU Sampler (`wasmEpVsTract`).
 */
export async function compare(args) {
  const xT = startNoise(args.seed ?? 0, args.classes.length);
  const gpu = await runGpu({ ...args, xT, record: !!args.replay });
  const cpu = runCpu({ ...args, xT });
  const maxDiff = diff(cpu.images, gpu.x);
  const px = pixelDiff(cpu.images, gpu.x);
  const rep = args.replay ? replay({ ...args, xT, outputs: gpu.outputs }) : null;
  const tr = args.withTract ? await runPlanWithTract({ ...args, xT }) : null;
  // Optionally the same WebGPU network driven by the CPU sampler: isolates the solver step.
  const rt = args.roundTrip ? await runGpuRoundTrip({ ...args, xT }) : null;
  // Optionally onnxruntime-web's wasm EP driven by the CPU sampler: a second CPU runtime.
  const we = args.wasmEp ? await runWasmEp({ ...args, xT }) : null;
  return {
    planVsReplay: rep ? diff(rep.images, gpu.x) : null,
    replayNfe: rep?.nfe ?? null,
    planTractVsTract: tr ? diff(cpu.images, tr.images) : null,
    planTractNfe: tr?.nfe ?? null,
    planVsRoundTrip: rt ? diff(rt.images, gpu.x) : null,
    roundTripVsCpu: rt ? diff(cpu.images, rt.images) : null,
    roundTripMs: rt?.ms ?? null,
    wasmEpVsTract: we ? diff(cpu.images, we.images) : null,
    wasmEpVsGpu: we ? diff(we.images, gpu.x) : null,
    kind: args.kind,
    steps: args.steps,
    nfe: gpu.nfe,
    cpuNfe: cpu.nfe,
    accepted: gpu.reports ? gpu.reports.filter((r) => r.accepted).length : null,
    rejected: gpu.reports ? gpu.reports.filter((r) => !r.accepted).length : null,
    maxDiff,
    pixelDiff: px.d,
    byteDiff: px.bytes,
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
 * input, at each time of `ts` (what the sampled images inherit, whatever the solver), and
 * each against tract's eps (`wasmVsTract`, `webgpuVsTract`).
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
    const tr = cpuModel.run(x.slice(), t, [3]);
    out.push({ t, maxAbsDiff: diff(a, c), wasmVsTract: diff(c, tr), webgpuVsTract: diff(a, tr) });
  }
  return out;
}
