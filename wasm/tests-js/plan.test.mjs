// Sampler.plan(): the run as coefficients, applied here with plain Float32Array loops (the
// semantics webgpu.js implements in WGSL) against the ask/tell Sampler with the same stand-in
// network, for DPM-Solver and diffusers configurations; StepPlan (the adaptive method step by
// step, its error norm computed here by a plain loop); refusals; and webgpu.js's shape.
import test from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { load, PKG } from './load.mjs';

const { Sampler, StepPlan } = await load();

const net = (x, k, cond) => Float32Array.from(x, (v, i) => 0.4 * Math.tanh(v) + (cond ? 0.1 : -0.05) * Math.sin(0.37 * i + k));
const SCHEDULE = { type: 'discrete', betas: { kind: 'linear', start: 1e-4, end: 0.02, n: 1000 } };
const TRAIN = { num_train_timesteps: 1000, beta_schedule: 'linear', beta_start: 1e-4, beta_end: 0.02 };

/** Applies a plan with plain loops; returns x. */
function applyPlan(plan, xT, guided) {
  const n = xT.length;
  const bufs = Array.from({ length: plan.numBuffers }, () => new Float32Array(n));
  bufs[0].set(xT);
  for (let k = 0; k < plan.nfe; k++) {
    const xin = bufs[plan.inputs[k]];
    bufs[1] = net(xin, k, true);
    if (guided) bufs[2] = net(xin, k, false);
    for (let j = plan.stepOps[k]; j < plan.stepOps[k + 1]; j++) {
      const out = new Float32Array(n);
      const c = plan.opClamp[j];
      for (let i = 0; i < n; i++) {
        let v = 0;
        for (let t = plan.opTerms[j]; t < plan.opTerms[j + 1]; t++) v += plan.termWeight[t] * bufs[plan.termBuf[t]][i];
        out[i] = c > 0 ? Math.min(c, Math.max(-c, v)) : v;
      }
      bufs[plan.opDst[j]] = out;
    }
  }
  return bufs[0];
}

const CONFIGS = [
  ['DPM-Solver++(2M)', { algorithm: 'dpmsolver++', method: 'multistep', order: 2, steps: 8, schedule: SCHEDULE }],
  ['DPM-Solver++(3M) CFG', { algorithm: 'dpmsolver++', method: 'multistep', order: 3, steps: 8, schedule: SCHEDULE, guidance: { type: 'classifier-free', scale: 3 } }],
  ['DPM-Solver-3 singlestep v', { algorithm: 'dpmsolver', method: 'singlestep', order: 3, steps: 9, schedule: SCHEDULE, prediction: 'v' }],
  ['DPM-Solver-2 fixed + denoise', { algorithm: 'dpmsolver++', method: 'singlestep_fixed', order: 2, steps: 6, schedule: SCHEDULE, denoiseToZero: true }],
  ['UniPC order 3 CFG', { scheduler: 'UniPCMultistepScheduler', schedulerConfig: { ...TRAIN, solver_order: 3 }, steps: 8, guidance: { type: 'classifier-free', scale: 2 } }],
  ['DDIM clip_sample', { scheduler: 'DDIMScheduler', schedulerConfig: { ...TRAIN, clip_sample: true }, steps: 8 }],
  ['DPMSolverSinglestep order 3', { scheduler: 'DPMSolverSinglestepScheduler', schedulerConfig: { ...TRAIN, solver_order: 3 }, steps: 8 }],
];

for (const [name, o] of CONFIGS) {
  test(`plan of ${name} applied with plain loops equals ask/tell`, () => {
    const batch = 2;
    const xT = Float32Array.from({ length: 2 * 50 }, (_, i) => 1.5 * Math.sin(1.3 * i));
    const opts = { ...o, batch };
    const guided = !!o.guidance;
    const s = new Sampler(opts, xT);
    let k = 0;
    for (let req = s.ask(); req; req = s.ask(), k++) {
      if (guided) s.tellCfg(net(req.x, k, true), net(req.x, k, false));
      else s.tell(net(req.x, k, true));
    }
    const plan = new Sampler(opts, xT).plan();
    assert.equal(plan.nfe, s.nfe);
    assert.equal(plan.guide, guided);
    assert.equal(plan.batch, batch);
    const got = applyPlan(plan, xT, guided);
    const scale = Math.max(...s.x.map(Math.abs));
    const err = Math.max(...got.map((v, i) => Math.abs(v - s.x[i])));
    assert.ok(err <= 1e-5 * (1 + scale), `${name}: max |plan - sampler| = ${err}`);
  });
}

/** Applies `PlanOps` to `bufs` with plain loops (in order, each element read before written). */
function applyOps(ops, bufs) {
  const n = bufs[0].length;
  for (let j = 0; j < ops.opDst.length; j++) {
    const out = new Float32Array(n);
    const c = ops.opClamp[j];
    for (let i = 0; i < n; i++) {
      let v = 0;
      for (let t = ops.opTerms[j]; t < ops.opTerms[j + 1]; t++) v = Math.fround(v + Math.fround(ops.termWeight[t] * bufs[ops.termBuf[t]][i]));
      out[i] = c > 0 ? Math.min(c, Math.max(-c, v)) : v;
    }
    bufs[ops.opDst[j]] = out;
  }
}

/** A `PlanNorm` by plain loops: each sample's root mean square, the largest. */
function planNorm(norm, bufs) {
  const n = bufs[0].length;
  const dim = n / norm.batch;
  const f = Math.fround;
  let worst = 0;
  for (let b = 0; b < norm.batch; b++) {
    let sum = 0;
    for (let i = b * dim; i < (b + 1) * dim; i++) {
      let lo = 0;
      norm.lowerBuf.forEach((src, k) => { lo = f(lo + f(norm.lowerWeight[k] * bufs[src][i])); });
      const base = bufs[norm.base][i];
      let d = 0;
      norm.diffBuf.forEach((src, k) => { d = f(d + f(norm.diffWeight[k] * f(bufs[src][i] - base))); });
      const delta = Math.max(norm.atol, f(norm.rtol * Math.max(Math.abs(lo), Math.abs(bufs[norm.prev][i]))));
      const e = f(d / delta);
      sum = f(sum + f(e * e));
    }
    const r = Math.sqrt(sum / dim);
    if (!(r <= worst)) worst = r;
  }
  return worst;
}

for (const [name, o] of [
  ['DPM-Solver++-12 adaptive', { algorithm: 'dpmsolver++', method: 'adaptive', order: 2, schedule: SCHEDULE }],
  ['DPM-Solver-23 adaptive, CFG, hInit 2 (rejections)', { algorithm: 'dpmsolver', method: 'adaptive', order: 3, schedule: SCHEDULE, guidance: { type: 'classifier-free', scale: 2 }, adaptive: { hInit: 2 } }],
  ['DPM-Solver++(3M) step by step', { algorithm: 'dpmsolver++', method: 'multistep', order: 3, steps: 7, schedule: SCHEDULE }],
]) {
  test(`StepPlan with plain loops (norm included) equals the ask/tell Sampler: ${name}`, () => {
    const batch = 2;
    const n = batch * 40;
    const xT = Float32Array.from({ length: n }, (_, i) => Math.sin(1.3 * i) * 1.5);
    const opts = { ...o, batch };
    const guided = !!o.guidance;
    const s = new Sampler(opts, xT);
    let k = 0;
    for (let req = s.ask(); req; req = s.ask(), k++) {
      if (guided) s.tellCfg(net(req.x, k, true), net(req.x, k, false));
      else s.tell(net(req.x, k, true));
    }
    const plan = new StepPlan(opts);
    assert.equal(plan.batch, batch);
    assert.equal(plan.guide, guided);
    let bufs = Array.from({ length: plan.numBuffers }, () => new Float32Array(n));
    bufs[0].set(xT);
    const trials = [0, 0];
    for (let ev = plan.next(); ev; ev = plan.next()) {
      const xin = bufs[ev.input];
      bufs[1] = net(xin, ev.index, true);
      if (guided) bufs[2] = net(xin, ev.index, false);
      applyOps(ev.ops, bufs);
      if (ev.norm) {
        const d = plan.tellError(planNorm(ev.norm, bufs));
        trials[d.report.accepted ? 0 : 1]++;
        applyOps(d.ops, bufs);
      }
    }
    assert.equal(plan.nfe, s.nfe);
    if (o.method === 'adaptive') assert.deepEqual(trials, [s.stats.nAccept, s.stats.nReject]);
    if (o.adaptive?.hInit) assert.ok(trials[1] > 0, 'the large first step is rejected');
    const scale = Math.max(...s.x.map(Math.abs));
    const err = Math.max(...bufs[0].map((v, i) => Math.abs(v - s.x[i])));
    assert.ok(err <= 1e-5 * (1 + scale), `${name}: max |plan - sampler| = ${err}`);
    plan.free();
  });
}

test('plan() refuses what has no plan, with the reason', () => {
  const x = new Float32Array(4);
  assert.throws(() => new Sampler({ method: 'adaptive', order: 2 }, x).plan(), /adaptive.*new StepPlan/);
  assert.throws(() => new StepPlan({ thresholding: { ratio: 0.995, maxVal: 1 } }), /thresholding/);
  assert.throws(() => new StepPlan({ scheduler: 'DDIMScheduler' }), /Sampler\.plan\(\)/);
  assert.throws(() => new StepPlan({ batch: 0 }), /batch/);
  assert.throws(() => new Sampler({ thresholding: { ratio: 0.995, maxVal: 1 } }, x).plan(), /thresholding/);
  assert.throws(() => new Sampler({ scheduler: 'DDIMScheduler', schedulerConfig: { thresholding: true } }, x).plan(), /thresholding/);
});

test('the package ships webgpu.js (PlanExecutor, sampleWithOrt, the WGSL) with its types', async () => {
  const mod = await import(path.join(PKG, 'webgpu.js'));
  assert.equal(typeof mod.PlanExecutor, 'function');
  assert.equal(typeof mod.sampleWithOrt, 'function');
  assert.equal(typeof mod.StepPlanExecutor, 'function');
  assert.equal(typeof mod.sampleStepsWithOrt, 'function');
  assert.match(mod.PLAN_WGSL, /@compute/);
  assert.match(mod.NORM_WGSL, /fn sums_main/);
  const dts = await readFile(path.join(PKG, 'webgpu.d.ts'), 'utf8');
  assert.match(dts, /export class PlanExecutor/);
  assert.match(dts, /export class StepPlanExecutor/);
  const pkg = JSON.parse(await readFile(path.join(PKG, 'package.json'), 'utf8'));
  assert.ok(pkg.files.includes('webgpu.js') && pkg.files.includes('webgpu.d.ts'));
  // Bad plans are refused before any GPU call.
  assert.throws(() => new mod.PlanExecutor({}, {}, 4), /SamplerPlan/);
  assert.throws(() => new mod.StepPlanExecutor({}, {}, 4), /StepPlan/);
});
