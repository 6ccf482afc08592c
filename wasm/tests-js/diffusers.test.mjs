// The wasm Sampler's `scheduler` option: diffusers' schedulers configured by a
// scheduler_config.json passed as-is. Every public diffusers case runs from JavaScript with
// the Gaussian-mixture oracle; timesteps must equal diffusers' exactly and x_0 the native
// float32 path's (which tests/tests/diffusers_parity.rs holds to diffusers), written by
// `cargo run --release -p dpm-solver-tests --example diffusers_f32 -- --out target/diffusers-f32.json`
// (.ci/test-wasm.sh runs it first; DPM_DIFFUSERS_F32 names another file).
import test from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { load, ROOT } from './load.mjs';
import { output } from './oracle.mjs';

const dpm = await load();
const fx = JSON.parse(await readFile(path.join(ROOT, 'tests/fixtures/diffusers_public.json'), 'utf8'));
const nativePath = process.env.DPM_DIFFUSERS_F32 ?? path.join(ROOT, 'target/diffusers-f32.json');
let native;
try {
  native = new Map(JSON.parse(await readFile(nativePath, 'utf8')).cases.map((c) => [c.name, c]));
} catch (e) {
  throw new Error(`cannot read ${nativePath} (${e.message}): run cargo run --release -p dpm-solver-tests --example diffusers_f32 -- --out ${nativePath}`);
}

/** Runs a diffusers case through `Sampler({ scheduler })`; returns the sampler after the run. */
function runDiffusersCase(c, options = {}) {
  const batch = c.x_T.length, dim = c.x_T[0].length;
  const s = new dpm.Sampler({ scheduler: c.scheduler, schedulerConfig: c.config, steps: c.num_inference_steps, batch, ...options },
    Float32Array.from(c.x_T.flat()));
  const out = new Float32Array(batch * dim);
  let req, k = 0;
  while ((req = s.ask())) {
    assert.equal(req.timestep, s.timesteps[k]);
    assert.equal(req.index, k++);
    for (let b = 0; b < batch; b++) {
      const row = Array.from(req.x.subarray(b * dim, (b + 1) * dim));
      out.set(output(c.model, row, req.alpha, req.sigma), b * dim);
    }
    s.tell(out);
  }
  return s;
}

const maxAbs = (a) => a.reduce((m, v) => Math.max(m, Math.abs(v)), 0);

test('diffusers parity from JS: timesteps exact, x_0 equal to the native float32 run', async (t) => {
  let passed = 0, worst = 0, withinTol = 0;
  for (const c of fx.cases) {
    await t.test(c.name, () => {
      const s = runDiffusersCase(c);
      assert.deepEqual(s.timesteps, c.expected.timesteps, 'timesteps');
      assert.equal(s.nfe, c.expected.timesteps.length);
      assert.ok(s.done);
      const nat = native.get(c.name);
      assert.ok(nat, `${c.name} missing from ${nativePath}`);
      const x = s.x, want = c.expected.x_0.flat();
      const scale = 1 + maxAbs(nat.x);
      let dev = 0, devRef = 0;
      for (let i = 0; i < x.length; i++) {
        dev = Math.max(dev, Math.abs(x[i] - nat.x[i]));
        devRef = Math.max(devRef, Math.abs(x[i] - want[i]));
      }
      if (devRef <= 1e-4 * (1 + maxAbs(want))) withinTol++;
      worst = Math.max(worst, dev / scale);
      assert.ok(dev <= 1e-5 * scale, `max |x_js - x_native_f32| = ${dev}`);
      passed++;
    });
  }
  t.diagnostic(`${passed}/${fx.cases.length} equal to native f32 (worst ${worst.toExponential(2)} relative); ${withinTol} within 1e-4 (1 + max|x_0|) of diffusers`);
  assert.equal(passed, fx.cases.length);
});

test('a scheduler_config.json passed straight in, foreign keys ignored and listed', () => {
  const c = fx.cases.find((c) => c.scheduler === 'UniPCMultistepScheduler');
  const asIs = { _class_name: c.scheduler, _diffusers_version: '0.42.1', ...c.config, skip_prk_steps: true, set_alpha_to_one: false };
  const a = runDiffusersCase(c), dim = c.x_T.flat().length;
  const s = new dpm.Sampler({ scheduler: asIs, steps: c.num_inference_steps, batch: c.x_T.length }, Float32Array.from(c.x_T.flat()));
  assert.equal(s.scheduler, 'UniPCMultistepScheduler');
  assert.deepEqual(s.ignoredKeys.sort(), ['_class_name', '_diffusers_version', 'set_alpha_to_one', 'skip_prk_steps']);
  assert.deepEqual(s.timesteps, a.timesteps);
  assert.equal(dim, a.x.length);
  // A Stable Diffusion PNDM config loaded into DPMSolverMultistepScheduler (from_config).
  const pndm = { _class_name: 'PNDMScheduler', beta_end: 0.012, beta_schedule: 'scaled_linear', beta_start: 0.00085,
    num_train_timesteps: 1000, set_alpha_to_one: false, skip_prk_steps: true, steps_offset: 1, trained_betas: null, clip_sample: false };
  const p = new dpm.Sampler({ scheduler: 'DPMSolverMultistepScheduler', schedulerConfig: pndm, steps: 25 }, new Float32Array(4));
  assert.equal(p.timesteps.length, 25);
  assert.equal(p.timesteps[0], 999);
  const req = p.ask();
  // alphas_cumprod[999] of scaled_linear(0.00085, 0.012) is about 0.0047: sigma close to 1.
  assert.ok(req.sigma > 0.99 && req.alpha > 0.05 && req.alpha < 0.08, `alpha ${req.alpha}`);
  assert.equal(req.tModel, 999);
  assert.equal(p.scheduler, 'DPMSolverMultistepScheduler');
});

test('classifier-free guidance, reports, predictX0', () => {
  const n = 6, xT = dpm.gaussianNoise(3, n);
  const guided = new dpm.Sampler({ scheduler: 'UniPCMultistepScheduler', steps: 6, guidance: { type: 'classifier-free', scale: 3 } }, xT);
  const plain = new dpm.Sampler({ scheduler: 'UniPCMultistepScheduler', steps: 6 }, xT);
  let req, step = 0;
  while ((req = guided.ask())) {
    const cond = req.x.map((v) => 0.2 * v + 0.1), uncond = req.x.map((v) => 0.1 * v);
    const x0 = plain.predictX0(cond);
    assert.ok(Math.abs(x0[0] - (req.x[0] - req.sigma * cond[0]) / req.alpha) < 1e-4);
    // The same combination, rounded as the sampler rounds it (float32 throughout).
    const f = Math.fround;
    const combined = uncond.map((u, i) => f(f(u) + f(3 * f(f(cond[i]) - f(u)))));
    const r1 = guided.tellCfg(cond, uncond);
    const r2 = plain.tell(combined);
    step++;
    assert.equal(r1.step, step);
    assert.equal(r1.kind, 'solver');
    assert.ok(r1.order >= 1 && r1.order <= 2 && r1.accepted && r1.nfe === step);
    assert.ok(r1.tFrom > r1.tTo && r1.h > 0);
    assert.deepEqual(r1, r2);
  }
  assert.deepEqual(Array.from(guided.x), Array.from(plain.x));
  assert.equal(guided.reports.length, 6);
  assert.deepEqual(guided.stats, { nfe: 6, nAccept: 6, nReject: 0 });
  assert.throws(() => guided.tell(new Float32Array(n)), /guid/i);
  assert.throws(() => plain.tellCfg(new Float32Array(n), new Float32Array(n)), /finished|guid/i);
});

test('sde-dpmsolver++ draws seeded noise: same seed, same sample', () => {
  const run = (seed) => {
    const s = new dpm.Sampler({ scheduler: 'DPMSolverMultistepScheduler', schedulerConfig: { algorithm_type: 'sde-dpmsolver++' }, steps: 8, seed },
      dpm.gaussianNoise(1, 16));
    let req;
    while ((req = s.ask())) s.tell(req.x.map((v) => 0.5 * v));
    return Array.from(s.x);
  };
  assert.deepEqual(run(5), run(5));
  assert.notDeepEqual(run(5), run(6));
  assert.ok(run(5).every(Number.isFinite));
});

test('bad scheduler options fail with clear messages', () => {
  const x = new Float32Array(4);
  const bad = [
    [{ scheduler: 'PNDMScheduler' }, /PNDMScheduler.*not available.*DPMSolverMultistepScheduler/],
    [{ scheduler: { beta_start: 0.1 } }, /_class_name/],
    [{ scheduler: 42 }, /class name or a scheduler_config/],
    [{ scheduler: 'DDIMScheduler', order: 2 }, /order.*do not apply with options.scheduler/],
    [{ scheduler: 'DDIMScheduler', schedulerConfig: { beta_schedule: 'cosine' } }, /beta_schedule.*"cosine".*squaredcos_cap_v2/],
    [{ scheduler: 'DPMSolverMultistepScheduler', schedulerConfig: { use_lu_lambdas: true } }, /use_lu_lambdas.*not implemented/],
    [{ scheduler: 'DPMSolverMultistepScheduler', schedulerConfig: { solver_order: 2.5 } }, /solver_order.*integer/],
    [{ scheduler: 'DPMSolverMultistepScheduler', schedulerConfig: { solver_order: 5 } }, /solver_order must be 1, 2 or 3/],
    [{ scheduler: 'DPMSolverMultistepScheduler', schedulerConfig: { algorithm_type: 'dpmsolver' } }, /final_sigmas_type zero/],
    [{ scheduler: 'DDIMScheduler', schedulerConfig: { eta: 1 } }, /eta = 0/],
    [{ scheduler: 'UniPCMultistepScheduler', steps: 0 }, /num_inference_steps/],
    [{ scheduler: 'UniPCMultistepScheduler', batch: 3 }, /batch/],
    [{ scheduler: 'UniPCMultistepScheduler', guidance: { type: 'classifier', scale: 2 } }, /guidance.type/],
    [{ scheduler: 'UniPCMultistepScheduler', seed: -1 }, /seed/],
    [{ scheduler: 'UniPCMultistepScheduler', schedulerConfig: { trained_betas: [0.1, 'a'] } }, /trained_betas/],
    [{ scheduler: 'UniPCMultistepScheduler', schedulerConfig: { trained_betas: [0.1, 0.2] } }, /trained_betas has 2 values.*num_train_timesteps is 1000/],
    // A long non-ASCII value is shortened in the message on a character boundary.
    [{ scheduler: 'UniPCMultistepScheduler', schedulerConfig: { solver_type: 'é'.repeat(80) } }, /solver_type' = "é+\.\.\.: expected "bh1" or "bh2"/],
  ];
  for (const [o, re] of bad) assert.throws(() => new dpm.Sampler(o, x), (e) => e instanceof Error && re.test(e.message), JSON.stringify(o));
  const s = new dpm.Sampler({ scheduler: 'DDIMScheduler', steps: 3 }, x);
  assert.throws(() => s.tell(new Float32Array(3)), /length|elements/);
  assert.throws(() => s.tell(Float32Array.of(0, NaN, 0, 0)), /NaN|finite/i);
  assert.throws(() => s.tellClassifier(x, x), /classifier/);
  assert.equal(s.nfe, 0);
});
