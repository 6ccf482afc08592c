// The plan executor alone against the ask/tell Sampler, with a cheap stand-in network computed
// on the CPU (so any difference is the executor's): the same x_T, the same outputs, the WGSL
// plan on one side and the package's Sampler in wasm on the other. Used by webgpu.test.mjs.
import init, { Sampler, StepPlan } from './pkg/dpm_solver.js';
import { PlanExecutor, StepPlanExecutor } from './pkg/webgpu.js';

/** A smooth nonlinear stand-in for the network (conditional and unconditional outputs). */
function net(x, k, cond) {
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = 0.4 * Math.tanh(x[i]) + (cond ? 0.1 : -0.05) * Math.sin(0.37 * i + k);
  return out;
}

const SCHEDULE = { type: 'discrete', betas: { kind: 'linear', start: 1e-4, end: 0.02, n: 1000 } };
const TRAIN = { num_train_timesteps: 1000, beta_schedule: 'linear', beta_start: 1e-4, beta_end: 0.02 };

/** The configurations checked: every fixed-step method family, both guidance modes. */
export const CONFIGS = [
  { name: 'DPM-Solver++(2M)', o: { algorithm: 'dpmsolver++', method: 'multistep', order: 2, steps: 8, schedule: SCHEDULE } },
  { name: 'DPM-Solver++(3M) CFG', o: { algorithm: 'dpmsolver++', method: 'multistep', order: 3, steps: 8, schedule: SCHEDULE, guidance: { type: 'classifier-free', scale: 3 } } },
  { name: 'DPM-Solver-3 singlestep, v-prediction', o: { algorithm: 'dpmsolver', method: 'singlestep', order: 3, steps: 9, schedule: SCHEDULE, prediction: 'v' } },
  { name: 'DPM-Solver-2 singlestep_fixed, denoise_to_zero', o: { algorithm: 'dpmsolver++', method: 'singlestep_fixed', order: 2, steps: 6, schedule: SCHEDULE, denoiseToZero: true } },
  { name: 'DPM-Solver++(3M) full_order', o: { algorithm: 'dpmsolver++', method: 'multistep', order: 3, steps: 7, schedule: SCHEDULE, multistepVariant: 'full_order' } },
  { name: 'UniPC bh2 order 3 CFG', o: { scheduler: 'UniPCMultistepScheduler', schedulerConfig: { ...TRAIN, solver_order: 3 }, steps: 8, guidance: { type: 'classifier-free', scale: 2 } } },
  { name: 'DDIM clip_sample', o: { scheduler: 'DDIMScheduler', schedulerConfig: { ...TRAIN, clip_sample: true }, steps: 8 } },
  { name: 'DPMSolverSinglestep order 3', o: { scheduler: 'DPMSolverSinglestepScheduler', schedulerConfig: { ...TRAIN, solver_order: 3 }, steps: 8 } },
  { name: 'DPMSolverMultistep karras', o: { scheduler: 'DPMSolverMultistepScheduler', schedulerConfig: { ...TRAIN, use_karras_sigmas: true }, steps: 8 } },
];

/** Runs every config: `{ name, nfe, maxDiff, scale }` each (`scale`: max |x| of the result). */
export async function checkExecutor(batch = 2, len = 300) {
  await init();
  const adapter = await navigator.gpu.requestAdapter();
  const device = await adapter.requestDevice();
  const results = [];
  for (const { name, o } of CONFIGS) {
    const n = batch * len;
    const xT = new Float32Array(n);
    for (let i = 0; i < n; i++) xT[i] = Math.sin(1.3 * i) * 1.5;
    const opts = { ...o, batch };
    const guided = !!o.guidance;
    // CPU: the ask/tell sampler.
    const s = new Sampler(opts, xT);
    let k = 0;
    for (let req = s.ask(); req; req = s.ask(), k++) {
      if (guided) s.tellCfg(net(req.x, k, true), net(req.x, k, false));
      else s.tell(net(req.x, k, true));
    }
    const want = s.x;
    // GPU: the plan; the stand-in network reads the input buffer back (a test-only transfer).
    const plan = new Sampler(opts, xT).plan();
    const exec = new PlanExecutor(device, plan, n);
    exec.writeX(xT);
    const G = globalThis.GPUBufferUsage;
    const outBuf = device.createBuffer({ size: (guided ? 2 : 1) * n * 4, usage: G.STORAGE | G.COPY_SRC | G.COPY_DST });
    for (let j = 0; j < plan.nfe; j++) {
      const xin = await exec.read(plan.inputs[j]);
      const out = guided ? new Float32Array([...net(xin, j, true), ...net(xin, j, false)]) : net(xin, j, true);
      device.queue.writeBuffer(outBuf, 0, out);
      const enc = device.createCommandEncoder();
      exec.encodeStep(enc, j, outBuf);
      device.queue.submit([enc.finish()]);
    }
    const got = await exec.read(0);
    exec.destroy();
    outBuf.destroy();
    let maxDiff = 0;
    let scale = 0;
    for (let i = 0; i < n; i++) {
      maxDiff = Math.max(maxDiff, Number.isFinite(got[i]) ? Math.abs(got[i] - want[i]) : Infinity);
      scale = Math.max(scale, Math.abs(want[i]));
    }
    results.push({ name, nfe: plan.nfe, cpuNfe: s.nfe, maxDiff, scale });
  }
  return results;
}

/** The adaptive method (planned step by step, error norm on the GPU) and one fixed method. */
export const STEP_CONFIGS = [
  { name: 'DPM-Solver++-12 adaptive', o: { algorithm: 'dpmsolver++', method: 'adaptive', order: 2, schedule: SCHEDULE } },
  { name: 'DPM-Solver++-23 adaptive CFG, h_init 2 (rejections)', o: { algorithm: 'dpmsolver++', method: 'adaptive', order: 3, schedule: SCHEDULE, guidance: { type: 'classifier-free', scale: 2 }, adaptive: { hInit: 2 } } },
  { name: 'DPM-Solver-23 adaptive (DPM-Solver), rtol 0.01, reuse_rejected_eval', o: { algorithm: 'dpmsolver', method: 'adaptive', order: 3, schedule: SCHEDULE, adaptive: { rtol: 0.01, hInit: 1, reuseRejectedEval: true } } },
  { name: 'DPM-Solver++(2M) step by step', o: { algorithm: 'dpmsolver++', method: 'multistep', order: 2, steps: 8, schedule: SCHEDULE } },
];

/**
 * Step plans against the ask/tell Sampler: `{ name, nfe, cpuNfe, trials, cpuTrials, maxDiff,
 * scale, maxNormDiff }` each (`trials`: `[accepted, rejected]`; `maxNormDiff`: the largest
 * relative difference between the GPU's error norm and the Sampler's for the same trial).
 */
export async function checkStepExecutor(batch = 2, len = 300) {
  await init();
  const adapter = await navigator.gpu.requestAdapter();
  const device = await adapter.requestDevice();
  const results = [];
  for (const { name, o } of STEP_CONFIGS) {
    const n = batch * len;
    const xT = new Float32Array(n);
    for (let i = 0; i < n; i++) xT[i] = Math.sin(1.3 * i) * 1.5;
    const opts = { ...o, batch };
    const guided = !!o.guidance;
    const s = new Sampler(opts, xT);
    const cpuErrors = [];
    let k = 0;
    for (let req = s.ask(); req; req = s.ask(), k++) {
      const r = guided ? s.tellCfg(net(req.x, k, true), net(req.x, k, false)) : s.tell(net(req.x, k, true));
      if (r && r.error !== null) cpuErrors.push(r.error);
    }
    const want = s.x;
    const plan = new StepPlan(opts);
    const exec = new StepPlanExecutor(device, plan, n);
    exec.writeX(xT);
    const G = globalThis.GPUBufferUsage;
    const outBuf = device.createBuffer({ size: (guided ? 2 : 1) * n * 4, usage: G.STORAGE | G.COPY_SRC | G.COPY_DST });
    const gpuErrors = [];
    let accepted = 0;
    let rejected = 0;
    for (let ev = plan.next(); ev; ev = plan.next()) {
      const xin = await exec.read(ev.input);
      const j = ev.index;
      const out = guided ? new Float32Array([...net(xin, j, true), ...net(xin, j, false)]) : net(xin, j, true);
      device.queue.writeBuffer(outBuf, 0, out);
      const enc = device.createCommandEncoder();
      exec.encodeOutput(enc, outBuf, 0, guided);
      exec.applyOps(ev.ops, enc);
      if (ev.norm) {
        const e = await exec.norm(ev.norm);
        gpuErrors.push(e);
        const d = plan.tellError(e);
        if (d.report.accepted) accepted++; else rejected++;
        exec.applyOps(d.ops);
      }
    }
    const got = await exec.read(0);
    exec.destroy();
    outBuf.destroy();
    let maxDiff = 0;
    let scale = 0;
    for (let i = 0; i < n; i++) {
      maxDiff = Math.max(maxDiff, Number.isFinite(got[i]) ? Math.abs(got[i] - want[i]) : Infinity);
      scale = Math.max(scale, Math.abs(want[i]));
    }
    let maxNormDiff = 0;
    for (let i = 0; i < Math.min(gpuErrors.length, cpuErrors.length); i++) {
      maxNormDiff = Math.max(maxNormDiff, Math.abs(gpuErrors[i] - cpuErrors[i]) / Math.max(cpuErrors[i], 1e-30));
    }
    const st = s.stats;
    results.push({
      name, nfe: plan.nfe, cpuNfe: s.nfe, maxDiff, scale, maxNormDiff,
      adaptive: o.method === 'adaptive',
      trials: [accepted, rejected], cpuTrials: o.method === 'adaptive' ? [st.nAccept, st.nReject] : [0, 0],
      norms: gpuErrors.length, cpuNorms: cpuErrors.length,
    });
  }
  return results;
}
