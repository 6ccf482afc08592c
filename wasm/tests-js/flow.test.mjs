// Flow matching from JavaScript: the wasm Sampler's `scheduler` option on the flow parity
// cases (tests/fixtures/diffusers_flow_public.json, DPM_SOLVER_FLOW_FIXTURES names another
// file): DPM-Solver(++) and UniPC with flow sigmas, static and dynamic shift (`mu`), and
// FlowMatchEulerDiscreteScheduler, each case's scheduler_config passed as-is. Timesteps and
// sigmas must equal diffusers' float32 values and x_0 be within 1e-4 (1 + max|x_0|) of
// diffusers'; the network is the exact velocity of the case's Gaussian mixture. Also the
// DPM-Solver options on the flow schedule (from pure noise at t = 1).
import test from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { load, ROOT } from './load.mjs';

const dpm = await load();
const file = process.env.DPM_SOLVER_FLOW_FIXTURES || path.join(ROOT, 'tests/fixtures/diffusers_flow_public.json');
const fx = JSON.parse(await readFile(file, 'utf8'));

/** E[x_0 | x_s] of the mixture on the path x_s = (1 - s) x_0 + s eps (finite at s = 1). */
function posteriorMean(m, x, s) {
  const a = 1 - s, K = m.weights.length, D = x.length;
  const logr = new Float64Array(K);
  for (let k = 0; k < K; k++) {
    let l = Math.log(m.weights[k]);
    for (let i = 0; i < D; i++) {
      const c = a * a * m.variances[k][i] + s * s, d = x[i] - a * m.means[k][i];
      l -= 0.5 * (Math.log(2 * Math.PI * c) + (d * d) / c);
    }
    logr[k] = l;
  }
  const mx = Math.max(...logr);
  let z = 0;
  for (let k = 0; k < K; k++) z += Math.exp(logr[k] - mx);
  const x0 = new Float64Array(D);
  for (let k = 0; k < K; k++) {
    const r = Math.exp(logr[k] - mx) / z;
    for (let i = 0; i < D; i++) {
      const c = a * a * m.variances[k][i] + s * s;
      x0[i] += r * (m.means[k][i] + (a * m.variances[k][i] / c) * (x[i] - a * m.means[k][i]));
    }
  }
  return x0;
}

/** The exact network output at flow time s, in the model's prediction. */
function flowOutput(m, x, s) {
  const a = 1 - s, x0 = posteriorMean(m, x, s);
  return Array.from(x, (xi, i) => {
    const eps = (xi - a * x0[i]) / s;
    switch (m.prediction) {
      case 'flow': return eps - x0[i];
      case 'noise': return eps;
      case 'x_start': return x0[i];
      case 'v': return a * eps - s * x0[i];
      default: throw new Error(`unknown prediction ${m.prediction}`);
    }
  });
}

const f32 = (v) => Math.fround(v);
const maxAbs = (a) => a.reduce((m, v) => Math.max(m, Math.abs(v)), 0);

function runCase(c) {
  const batch = c.x_T.length, dim = c.x_T[0].length;
  const asIs = { _class_name: c.scheduler, _diffusers_version: '0.42.1', ...c.config };
  const s = new dpm.Sampler({ scheduler: asIs, steps: c.num_inference_steps, batch, ...(c.set_timesteps ?? {}) },
    Float32Array.from(c.x_T.flat()));
  const sigmas = s.sigmas;
  const out = new Float32Array(batch * dim);
  let req, k = 0;
  while ((req = s.ask())) {
    assert.equal(req.timestep, s.timesteps[k]);
    assert.equal(req.index, k);
    const sigma = sigmas[k++];
    for (let b = 0; b < batch; b++) {
      out.set(flowOutput(c.model, Array.from(req.x.subarray(b * dim, (b + 1) * dim)), sigma), b * dim);
    }
    s.tell(out);
  }
  return s;
}

test('flow parity from JS: timesteps and sigmas exact, x_0 within 1e-4 (1 + max|x_0|)', async (t) => {
  let passed = 0, worst = 0;
  for (const c of fx.cases) {
    await t.test(c.name, () => {
      const s = runCase(c);
      assert.deepEqual(s.timesteps.map(f32), c.expected.timesteps.map(f32), 'timesteps');
      assert.deepEqual(s.sigmas.map(f32), c.expected.sigmas.map(f32), 'sigmas');
      assert.ok(s.done);
      const x = s.x, want = c.expected.x_0.flat(), tol = 1e-4 * (1 + maxAbs(want));
      let dev = 0;
      for (let i = 0; i < x.length; i++) dev = Math.max(dev, Math.abs(x[i] - want[i]));
      worst = Math.max(worst, dev / tol);
      assert.ok(dev <= tol, `max |x_0 - expected| = ${dev} > ${tol}`);
      passed++;
    });
  }
  t.diagnostic(`flow parity: ${passed}/${fx.cases.length} passed (worst ${worst.toFixed(3)} of tol)`);
  assert.equal(passed, fx.cases.length);
});

test('FlowMatchEuler timesteps are floats; a flow config refused where diffusers refuses', () => {
  const c = fx.cases.find((c) => c.scheduler === 'FlowMatchEulerDiscreteScheduler');
  const s = runCase(c);
  assert.ok(s.timesteps.some((v) => !Number.isInteger(v)));
  assert.equal(s.scheduler, 'FlowMatchEulerDiscreteScheduler');
  const x = new Float32Array(4);
  // flow_prediction needs the data prediction (diffusers raises for dpmsolver).
  assert.throws(() => new dpm.Sampler({ scheduler: 'DPMSolverMultistepScheduler', schedulerConfig: {
    use_flow_sigmas: true, prediction_type: 'flow_prediction', algorithm_type: 'dpmsolver', final_sigmas_type: 'sigma_min' } }, x),
  /flow_prediction/);
  // Dynamic shifting needs mu.
  assert.throws(() => new dpm.Sampler({ scheduler: 'FlowMatchEulerDiscreteScheduler', schedulerConfig: { use_dynamic_shifting: true } }, x), /mu/);
  assert.ok(new dpm.Sampler({ scheduler: 'FlowMatchEulerDiscreteScheduler', schedulerConfig: { use_dynamic_shifting: true }, mu: 0.7 }, x));
});

test('DPM-Solver options on the flow schedule: DPM-Solver++ from pure noise, shifted grid', () => {
  const c = fx.cases[0], m = c.model, dim = c.x_T[0].length;
  const xT = Float32Array.from(c.x_T[0]);
  const run = (opts) => {
    const s = new dpm.Sampler({ schedule: { type: 'flow' }, prediction: 'flow', ...opts }, xT);
    let req;
    while ((req = s.ask())) {
      assert.ok(Math.abs(req.tModel - 1000 * req.t) < 1e-3 * Math.max(1, req.tModel));
      s.tell(Float32Array.from(flowOutput(m, Array.from(req.x), req.t)));
    }
    return s;
  };
  const fine = run({ order: 3, steps: 1000, multistepVariant: 'full_order' }).x;
  // The shifted grids put long lambda steps at the data end (sharp data here): more steps.
  for (const [spacing, steps] of [['time_uniform', 100], [{ flowShift: 3 }, 160], [{ mu: 1.1 }, 160]]) {
    const s = run({ order: 2, steps, spacing });
    assert.equal(s.timeRange[0], 1);
    assert.ok(s.x.every(Number.isFinite));
    let dev = 0;
    for (let i = 0; i < dim; i++) dev = Math.max(dev, Math.abs(s.x[i] - fine[i]));
    assert.ok(dev < 0.02, `${JSON.stringify(spacing)}: ${dev}`);
  }
  // What has no finite limit at alpha = 0 is an Error, not NaN.
  assert.throws(() => new dpm.Sampler({ schedule: { type: 'flow' }, prediction: 'noise' }, xT), /alpha = 0/);
  assert.throws(() => new dpm.Sampler({ schedule: { type: 'flow' }, prediction: 'flow', spacing: 'logSNR' }, xT), /lambda/);
});
