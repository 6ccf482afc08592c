// Property test over the JS bindings (issue 15): random options, lengths and values, including
// wrong types, missing arguments and extreme numbers. Every call either returns or throws an
// Error (never a WebAssembly trap or a glue TypeError); a run that completes has a finite
// sample; and the module stays healthy, so a plain run works after every case.
// DPM_PROPERTY_N sets the number of cases (default 1500), DPM_PROPERTY_SEED the seed.
import test from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { load, ROOT } from './load.mjs';

const dpm = await load();
const N = Number(process.env.DPM_PROPERTY_N ?? 1500);
const SEED = Number(process.env.DPM_PROPERTY_SEED ?? 15);
const tiny = new dpm.Model(new Uint8Array(await readFile(path.join(ROOT, 'fuzz/seeds/tiny_unet.onnx'))));

function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const R = rng(SEED);
const stats = { calls: 0, errors: 0, samplers: 0, finished: 0, generations: 0 };
const int = (lo, hi) => lo + Math.floor(R() * (hi - lo + 1));
const pick = (a) => a[int(0, a.length - 1)];
const SPECIAL = [0, -0, 1, -1, 0.5, 2, 3, 7, 10, 1e-45, 1e-7, 1e4, 3e38, -3e38, 1e300, Infinity, -Infinity, NaN,
  2 ** 32, 2 ** 32 + 2, 4294968296, -1, 1.5, 999, 1000, 5000, 1e8, Number.MAX_SAFE_INTEGER];
const STRINGS = ['dpmsolver', 'dpmsolver++', 'multistep', 'singlestep', 'singlestep_fixed', 'adaptive', 'logSNR',
  'time_uniform', 'time_quadratic', 'karras', 'noise', 'data', 'v', 'score', 'taylor', 'sample', 'invert',
  'reference', 'full_order', 'classifier-free', 'classifier', 'none', 'discrete', 'linear', 'cosine',
  'leading', 'trailing', 'linspace', 'zero', 'sigma_min', 'sde-dpmsolver++', 'bh1', 'bh2', '', 'garbage'];
function value(depth = 0) {
  switch (int(0, 9)) {
    case 0: return undefined;
    case 1: return null;
    case 2: return R() < 0.5;
    case 3: case 4: return pick(SPECIAL);
    case 5: return int(0, 12);
    case 6: case 7: return pick(STRINGS);
    case 8: return depth < 2 ? object(depth + 1) : [];
    default: return Array.from({ length: int(0, 5) }, () => pick(SPECIAL));
  }
}
const KEYS = ['schedule', 'algorithm', 'method', 'order', 'steps', 'spacing', 'tStart', 'tEnd', 'lowerOrderFinal',
  'denoiseToZero', 'solverType', 'prediction', 'guidance', 'thresholding', 'adaptive', 'multistepVariant',
  'batch', 'direction', 'type', 'scale', 'betas', 'kind', 'start', 'end', 'n', 'beta0', 'beta1', 'karras',
  'ratio', 'maxVal', 'atol', 'rtol', 'seed', 'class', 'clip', 'noise'];
const CONFIG_KEYS = ['solver_order', 'timestep_spacing', 'steps_offset', 'final_sigmas_type', 'lower_order_final',
  'predict_x0', 'algorithm_type', 'use_karras_sigmas', 'thresholding', 'num_train_timesteps', 'beta_start',
  'beta_end', 'beta_schedule', 'prediction_type', 'solver_type', 'lambda_min_clipped', 'eta', 'trained_betas',
  'disable_corrector', 'rescale_betas_zero_snr', 'clip_sample', 'set_alpha_to_one', '_class_name'];
function object(depth = 0, keys = KEYS) {
  const o = {};
  for (let i = int(0, 4); i > 0; i--) o[pick(keys)] = value(depth);
  return o;
}
function floats(len) {
  const kind = int(0, 19);
  if (kind === 0) return pick([undefined, null, 'x', 3, {}, [1, 2, 'a']]);
  const a = new Float32Array(len);
  for (let i = 0; i < len; i++) a[i] = kind === 1 ? pick(SPECIAL) : (R() - 0.5) * 4;
  return kind === 2 ? Array.from(a) : kind === 3 ? Float64Array.from(a) : a;
}

/** Calls `fn`; a thrown value must be an Error with a message (not a trap, not a TypeError). */
function call(fn, what) {
  stats.calls++;
  try {
    return { ok: true, value: fn() };
  } catch (e) {
    stats.errors++;
    assert.ok(e instanceof Error, `${what}: threw a non-Error ${e}`);
    assert.ok(!(e instanceof WebAssembly.RuntimeError), `${what}: trapped: ${e.message}`);
    assert.equal(e.name === 'Error' || e.name === 'AbortError', true, `${what}: ${e.name}: ${e.message}`);
    assert.ok(e.message.length > 10, `${what}: message "${e.message}"`);
    return { ok: false, error: e };
  }
}

// Per-key pools of mostly plausible values (and a few bad ones), so that many cases reach the
// solver rather than stopping at the option checks.
const DPM = {
  schedule: () => pick([undefined, { type: 'linear' }, { type: 'linear', beta0: pick([0.1, 0, 1]), beta1: pick([20, 1e30, 3e38, 0.05]) },
    { type: 'discrete', betas: { kind: pick(['linear', 'scaled_linear', 'cosine']), start: pick([1e-4, 0.00085, 0.999]), end: pick([0.02, 0.012, 0.9999999]), n: pick([1000, 10, 2, 1, 4096]) } },
    { type: 'discrete', alphasCumprod: Array.from({ length: int(2, 50) }, (_, k, a) => 1 - (k + 1) / 52) }]),
  algorithm: () => pick(['dpmsolver', 'dpmsolver++']),
  method: () => pick(['multistep', 'singlestep', 'singlestep_fixed', 'adaptive']),
  order: () => pick([1, 2, 3, 3, 0, 4]),
  steps: () => pick([1, 2, 3, 5, 8, 10, 20, 0]),
  spacing: () => pick(['logSNR', 'time_uniform', 'time_quadratic', { karras: pick([7, 1e-45, 1e30, 0.5]) }]),
  tStart: () => pick([1, 0.5, 0.9, 1e-3]),
  tEnd: () => pick([1e-3, 1e-4, 0.01, 0.5]),
  lowerOrderFinal: () => R() < 0.5,
  denoiseToZero: () => R() < 0.5,
  solverType: () => pick(['dpmsolver', 'taylor']),
  prediction: () => pick(['noise', 'data', 'v', 'score']),
  guidance: () => pick([{ type: 'classifier-free', scale: pick([1, 3, 7.5, 3e38, 1e4]) }, { type: 'classifier', scale: pick([1, 2, 1e30]) }]),
  thresholding: () => ({ ratio: pick([0.995, 0.5, 1]), maxVal: pick([1, 2, 1e30]) }),
  adaptive: () => ({ atol: pick([0.0078, 1e-5, 1]), rtol: pick([0.05, 0]) }),
  multistepVariant: () => pick(['reference', 'full_order']),
  direction: () => pick(['sample', 'sample', 'invert']),
};
const CONFIG = {
  solver_order: () => pick([1, 2, 3, 4, 1e8, 4294967298]),
  timestep_spacing: () => pick(['leading', 'trailing', 'linspace']),
  steps_offset: () => pick([0, 1, 5000]),
  final_sigmas_type: () => pick(['zero', 'sigma_min']),
  lower_order_final: () => R() < 0.5,
  predict_x0: () => R() < 0.5,
  algorithm_type: () => pick(['dpmsolver++', 'dpmsolver', 'sde-dpmsolver++', 'sde-dpmsolver']),
  use_karras_sigmas: () => R() < 0.3,
  thresholding: () => R() < 0.3,
  num_train_timesteps: () => pick([1000, 100, 2, 4294968296]),
  beta_schedule: () => pick(['linear', 'scaled_linear', 'squaredcos_cap_v2']),
  beta_start: () => pick([0.0001, 0.00085, 0.999]),
  beta_end: () => pick([0.02, 0.012, 0.9999999]),
  prediction_type: () => pick(['epsilon', 'sample', 'v_prediction']),
  solver_type: () => pick(['midpoint', 'heun', 'bh1', 'bh2']),
  rescale_betas_zero_snr: () => R() < 0.2,
};
function plausible(pools) {
  const o = {};
  for (const [k, f] of Object.entries(pools)) if (R() < 0.3) o[k] = f();
  if (R() < 0.1) o[pick(Object.keys(pools))] = value();
  return o;
}

function samplerCase(i) {
  const diffusers = R() < 0.35;
  const garbage = R() < 0.15;
  const opts = diffusers
    ? { scheduler: pick(['DPMSolverMultistepScheduler', 'DPMSolverSinglestepScheduler', 'UniPCMultistepScheduler', 'DDIMScheduler', 'Nope']),
        schedulerConfig: garbage ? object(0, CONFIG_KEYS) : plausible(CONFIG), steps: pick([1, 2, 5, 10, 20, 0, 1e8, -1, 2.5]) }
    : garbage ? object() : plausible(DPM);
  if (R() < 0.1) opts.batch = int(0, 3);
  const len = pick([0, 1, 2, 3, 4, 4, 6, 8, 16]);
  const what = `case ${i} ${JSON.stringify(opts)} len ${len}`;
  const made = call(() => new dpm.Sampler(opts, floats(len)), what);
  if (!made.ok) return;
  stats.samplers++;
  const s = made.value;
  let lastOk = true;
  for (let k = 0; k < 300; k++) {
    const req = call(() => s.ask(), what);
    assert.ok(req.ok, `${what}: ask threw`);
    if (!req.value) break;
    assert.ok(req.value.x.every(Number.isFinite), `${what}: a request with a non-finite x`);
    const n = req.value.x.length;
    const bad = R() < 0.03;
    const out = bad ? floats(pick([n, n + 1, 0])) : req.value.x.map((v) => 0.1 * v + 0.01);
    const r = call(() => (R() < 0.05 ? s.tellCfg(out, out) : s.tell(out)), what);
    lastOk = r.ok;
    if (!r.ok && !bad) break;
  }
  const done = call(() => s.done, what);
  if (done.ok && done.value && lastOk) {
    stats.finished++;
    assert.ok(s.x.every(Number.isFinite), `${what}: finished with a non-finite x`);
  }
  call(() => s.stats, what);
  s.free();
}

function modelCase(i) {
  const opts = R() < 0.2
    ? object(0, ['batch', 'steps', 'order', 'method', 'spacing', 'guidance', 'class', 'seed', 'algorithm',
      'thresholding', 'denoiseToZero', 'lowerOrderFinal', 'scheduler', 'schedulerConfig', 'clip', 'noise', 'adaptive'])
    : { ...plausible({ order: DPM.order, method: DPM.method, spacing: DPM.spacing, algorithm: DPM.algorithm,
        denoiseToZero: DPM.denoiseToZero, lowerOrderFinal: DPM.lowerOrderFinal, thresholding: DPM.thresholding }),
        class: pick([undefined, 0, 3, 9, 10, [1, 2]]), guidance: pick([undefined, 1, 2, 7.5, 3e38]), seed: int(0, 99) };
  if (R() < 0.2) Object.assign(opts, { scheduler: pick(['UniPCMultistepScheduler', 'DDIMScheduler', 'DPMSolverMultistepScheduler']), schedulerConfig: plausible(CONFIG) });
  if (typeof opts.batch !== 'number' || opts.batch > 8) opts.batch = int(1, 3);
  if (typeof opts.steps !== 'number' || opts.steps > 30) opts.steps = int(1, 8);
  const what = `model case ${i} ${JSON.stringify(opts)}`;
  const r = call(() => tiny.generate(opts), what);
  if (r.ok) {
    stats.generations++;
    assert.ok(r.value.images.every(Number.isFinite), `${what}: non-finite images`);
  }
}

// Arguments of any type (undefined, null, numbers, strings, objects, arrays) to the exported
// constructors and functions, in the raw wasm-bindgen glue: a clear Error, never its TypeError.
const tinyBytes = new Uint8Array(await readFile(path.join(ROOT, 'fuzz/seeds/tiny_unet.onnx')));
const ANY = () => pick([undefined, null, 0, 1, -1, NaN, 'x', '', true, {}, [], [1, 2, 3], Symbol('s'), () => 1,
  10n, new Uint8Array(3), new ArrayBuffer(4), Float32Array.of(1, 2), value(), object()]);
function argsCase(i) {
  const what = `argument case ${i}`;
  switch (int(0, 7)) {
    case 0: {
      const r = call(() => new dpm.Model(R() < 0.1 ? tinyBytes.slice().buffer : ANY(), R() < 0.5 ? undefined : ANY()), what);
      if (r.ok) r.value.free();
      break;
    }
    case 1: call(() => dpm.readOnnxInfo(ANY()), what); break;
    case 2: {
      const r = call(() => new dpm.Sampler(ANY(), ANY()), what);
      if (r.ok) r.value.free();
      break;
    }
    case 3: call(() => dpm.gaussianNoise(ANY(), ANY(), ANY()), what); break;
    case 4: call(() => dpm.gridRgba(ANY(), ANY()), what); break;
    case 5: call(() => tiny.run(ANY(), ANY(), ANY()), what); break;
    case 6: call(() => tiny.prepare(ANY()), what); break;
    default: {
      const run = tiny.begin({ steps: 4, class: 0 });
      call(() => run.step(pick([undefined, null, {}, 3, run])), what);
      run.free();
    }
  }
}

function helperCase(i) {
  const what = `helper case ${i}`;
  switch (int(0, 2)) {
    case 0: {
      const r = call(() => dpm.gaussianNoise(pick([0, 1, 7, -1, 1.5, NaN, 2 ** 60]), pick([0, 1, 4, 100, -1, 1.5, NaN, 2 ** 32, 2 ** 27, undefined])), what);
      if (r.ok) assert.ok(r.value.every(Number.isFinite));
      break;
    }
    case 1: {
      const layout = { height: pick([1, 2, 4, 0, 16384, 2 ** 20, 1.5]), width: pick([1, 4, 3, 16384, -1]),
        channels: pick([1, 3, 2, undefined]), batch: pick([undefined, 1, 2, 2 ** 28]), scale: pick([undefined, 1, 64, 65]),
        gap: pick([undefined, 0, 3, 300]), columns: pick([undefined, 0, 1, 5]) };
      call(() => dpm.gridRgba(floats(pick([0, 4, 16, 48])), layout), what);
      break;
    }
    default:
      call(() => tiny.run(floats(pick([16, 32, 15, 0])), pick([0, 500, 999, NaN, [1, 2], undefined]), pick([undefined, 3, 11, -1, [1, 2]])), what);
  }
}

test(`${N} random cases: a clear error or a finite result, and the module still works`, (t) => {
  for (let i = 0; i < N; i++) {
    const k = R();
    if (k < 0.6) samplerCase(i);
    else if (k < 0.8) modelCase(i);
    else if (k < 0.9) helperCase(i);
    else argsCase(i);
    assert.equal(dpm.instancePoisoned(), false, `case ${i} poisoned the instance`);
    if (i % 100 === 99) {
      // A plain run still works.
      const s = new dpm.Sampler({ steps: 4 }, Float32Array.of(0.5, -1));
      let r;
      while ((r = s.ask())) s.tell(r.x.map((v) => 0.1 * v));
      assert.ok(s.x.every(Number.isFinite));
      s.free();
    }
  }
  t.diagnostic(JSON.stringify(stats));
  // The cases must reach the solver, not only the option checks.
  assert.ok(stats.finished > N / 20 && stats.generations > N / 50, JSON.stringify(stats));
});
