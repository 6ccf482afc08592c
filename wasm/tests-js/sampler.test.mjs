// The wasm Sampler driven from JavaScript: conformance with the reference (every public case,
// Gaussian-mixture oracle in float64, tolerance tol_f32), and its errors.
import test from 'node:test';
import assert from 'node:assert/strict';
import { load, fixtures } from './load.mjs';
import { runCase } from './oracle.mjs';

const dpm = await load();
const fx = await fixtures();

test('module reports its build', () => {
  assert.match(dpm.version(), /^\d+\.\d+\.\d+/);
  assert.equal(typeof dpm.simdEnabled(), 'boolean');
});

test('conformance: every reference_public case within tol_f32 and with the reference NFE', async (t) => {
  let passed = 0, worst = 0;
  for (const c of fx.cases) {
    await t.test(c.name, () => {
      const r = runCase(dpm.Sampler, c);
      const want = c.expected.x_0.flat();
      let dev = 0;
      for (let i = 0; i < want.length; i++) dev = Math.max(dev, Math.abs(r.x[i] - want[i]));
      const tol = c.expected.tol_f32 ?? 1e-3;
      worst = Math.max(worst, dev / tol);
      assert.ok(dev <= tol, `max |x - expected| = ${dev} > tol_f32 ${tol}`);
      assert.equal(r.nfe, c.expected.nfe, 'nfe');
      assert.ok(r.reports.length > 0 && r.reports.at(-1).nfe === r.nfe, 'reports end at the final nfe');
      passed++;
    });
  }
  t.diagnostic(`${passed}/${fx.cases.length} cases within tol_f32 (worst ${worst.toFixed(3)} of tol)`);
  assert.equal(passed, fx.cases.length);
});

test('ask/tell loop: request fields, reports, stats, predictX0', () => {
  const n = 8;
  const s = new dpm.Sampler({ steps: 5, order: 2, method: 'multistep', spacing: 'logSNR', batch: 2 }, dpm.gaussianNoise(1, n));
  let req, asks = 0;
  while ((req = s.ask())) {
    assert.ok(req.x instanceof Float32Array && req.x.length === n);
    assert.ok(req.tModel >= 0 && req.tModel <= 1000 && req.t > 0 && req.t <= 1);
    assert.ok(Math.abs(req.alpha ** 2 + req.sigma ** 2 - 1) < 1e-5);
    assert.equal(req.index, asks);
    const eps = req.x.map((v) => 0.1 * v);
    const x0 = s.predictX0(eps);
    assert.ok(Math.abs(x0[0] - (req.x[0] - req.sigma * eps[0]) / req.alpha) < 1e-4);
    const rep = s.tell(eps);
    assert.ok(rep && rep.kind === 'solver' && rep.accepted && rep.nfe === asks + 1);
    asks++;
  }
  assert.equal(asks, 5);
  assert.equal(s.nfe, 5);
  assert.ok(s.done);
  assert.deepEqual(s.stats, { nfe: 5, nAccept: 5, nReject: 0 });
  assert.equal(s.reports.length, 5);
  assert.equal(s.batch, 2);
  const [t0, t1] = s.timeRange;
  assert.ok(t0 === 1 && t1 > 0 && t1 < 0.01);
  assert.ok(s.x.every(Number.isFinite));
  s.free();
});

test('gaussianNoise is seeded and standard normal', () => {
  const a = dpm.gaussianNoise(42, 20000), b = dpm.gaussianNoise(42, 20000), c = dpm.gaussianNoise(43, 20000);
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
  assert.notDeepEqual(a, dpm.gaussianNoise(42, 20000, 1));
  const mean = a.reduce((s, v) => s + v, 0) / a.length;
  const v = a.reduce((s, x) => s + (x - mean) ** 2, 0) / a.length;
  assert.ok(Math.abs(mean) < 0.03 && Math.abs(v - 1) < 0.05, `mean ${mean} var ${v}`);
});

function throwsMsg(fn, re) {
  assert.throws(fn, (e) => {
    assert.ok(e instanceof Error, `thrown value is an Error (got ${e})`);
    assert.match(e.message, re);
    return true;
  });
}

test('errors are Error objects with messages', () => {
  const x = new Float32Array(4);
  throwsMsg(() => new dpm.Sampler({ stpes: 10 }, x), /unknown key 'stpes'/);
  throwsMsg(() => new dpm.Sampler({ method: 'rk4' }, x), /method is 'rk4', expected one of/);
  throwsMsg(() => new dpm.Sampler({ order: 4 }, x), /order/);
  throwsMsg(() => new dpm.Sampler({ steps: -1 }, x), /steps must be an integer/);
  throwsMsg(() => new dpm.Sampler({ steps: 'ten' }, x), /steps must be a finite number/);
  throwsMsg(() => new dpm.Sampler({ batch: 3 }, x), /batch/);
  throwsMsg(() => new dpm.Sampler({ method: 'adaptive', order: 1 }, x), /invalid configuration/);
  throwsMsg(() => new dpm.Sampler({ schedule: { type: 'discrete' } }, x), /needs 'betas' or 'alphasCumprod'/);
  throwsMsg(() => new dpm.Sampler({ schedule: {} }, x), /schedule.type is required/);
  throwsMsg(() => new dpm.Sampler({ schedule: { betas: { kind: 'linear' } } }, x), /schedule.type is required/);
  throwsMsg(() => new dpm.Sampler({ schedule: { type: 'linear', beta0: 5, beta1: 1 } }, x), /beta_0 < beta_1/);
  throwsMsg(() => new dpm.Sampler({ spacing: [1, 0.5] , steps: 3 }, x), /./);
  throwsMsg(() => new dpm.Sampler({}, new Float32Array(0)), /x is empty/);
  throwsMsg(() => new dpm.Sampler({}, Float32Array.of(0, NaN)), /non-finite/);
  throwsMsg(() => new dpm.Sampler(42, x), /options must be an object/);

  const s = new dpm.Sampler({ steps: 2 }, x);
  throwsMsg(() => s.tell(new Float32Array(3)), /ModelOutput buffer has 3 elements, expected 4/);
  throwsMsg(() => s.tell(Float32Array.of(0, 0, Infinity, 0)), /non-finite/);
  throwsMsg(() => s.tellCfg(x, x), /configured for no guidance but tell_cfg was called/);
  s.tell(x); s.tell(x);
  assert.equal(s.ask(), null);
  throwsMsg(() => s.tell(x), /already finished/);
  throwsMsg(() => s.predictX0(x), /already finished/);
  s.free();
  throwsMsg(() => dpm.gaussianNoise(-1, 4), /seed must be a non-negative/);
});

test('schedules: formula, table, alphasCumprod, continuous, custom times, Karras', () => {
  const x = dpm.gaussianNoise(7, 6);
  const betas = Array.from({ length: 1000 }, (_, i) => 1e-4 + (0.02 - 1e-4) * i / 999);
  let ac = 1; const acs = betas.map((b) => (ac *= 1 - b));
  const run = (o) => { const s = new dpm.Sampler(o, x); let r; while ((r = s.ask())) s.tell(r.x.map((v) => 0.3 * v)); const y = s.x; s.free(); return y; };
  const a = run({ steps: 6 });
  const b = run({ steps: 6, schedule: { type: 'discrete', betas } });
  const c = run({ steps: 6, schedule: { type: 'discrete', alphasCumprod: acs } });
  for (let i = 0; i < a.length; i++) { assert.ok(Math.abs(a[i] - b[i]) < 1e-4); assert.ok(Math.abs(a[i] - c[i]) < 1e-4); }
  // No schedule is DDPM's linear formula, bit for bit.
  const formula = { type: 'discrete', betas: { kind: 'linear', start: 1e-4, end: 0.02, n: 1000 } };
  assert.deepEqual(Array.from(a), Array.from(run({ steps: 6, schedule: formula })));
  assert.deepEqual(Array.from(a), Array.from(run({ steps: 6, schedule: { type: 'discrete', betas: {} } })));
  assert.ok(run({ steps: 6, schedule: { type: 'linear' } }).every(Number.isFinite));
  assert.ok(run({ steps: 6, schedule: { type: 'discrete', betas: { kind: 'cosine', n: 1000 } } }).every(Number.isFinite));
  assert.ok(run({ steps: 6, spacing: { karras: 7 } }).every(Number.isFinite));
  // k-diffusion's "exponential" sigma spacing is the logSNR grid.
  assert.deepEqual(Array.from(run({ steps: 6, spacing: 'exponential' })), Array.from(run({ steps: 6, spacing: 'logSNR' })));
  assert.ok(run({ steps: 3, spacing: [1, 0.5, 0.1, 0.001] }).every(Number.isFinite));
  assert.ok(run({ steps: 4, thresholding: { ratio: 0.99 }, prediction: 'epsilon', method: 'singlestep', order: 3 }).every(Number.isFinite));
});
