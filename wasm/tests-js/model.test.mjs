// The wasm Model (tract pipeline) with the committed www/models/unet.onnx: metadata, one
// evaluation, generation with progress and cancellation, agreement with a JS ask/tell loop,
// the grid helper, and errors thrown as Error objects with messages.
import test from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { load, ROOT } from './load.mjs';

const dpm = await load();
const bytes = new Uint8Array(await readFile(path.join(ROOT, 'www/models/unet.onnx')));
const model = new dpm.Model(bytes);
const meta = model.metadata;

function throwsMsg(fn, re, name = 'Error') {
  assert.throws(fn, (e) => {
    assert.ok(e instanceof Error, `thrown value is an Error (got ${e})`);
    assert.equal(e.name, name);
    assert.match(e.message, re);
    return true;
  });
}

test('metadata of the demo UNet', () => {
  assert.equal(meta.prediction, 'noise');
  assert.deepEqual(meta.schedule, { type: 'discrete', betas: { kind: 'linear', start: 1e-4, end: 0.02, n: 1000 } });
  assert.equal(meta.numTrainTimesteps, 1000);
  assert.deepEqual([meta.channels, meta.height, meta.width], [1, 28, 28]);
  assert.deepEqual(meta.valueRange, [-1, 1]);
  assert.equal(meta.numClasses, 10);
  assert.equal(meta.nullClass, 10);
  assert.equal(meta.classLabels.length, 10);
  assert.equal(meta.props.prediction_type, 'epsilon');
  assert.equal(model.imageLength, 784);
});

test('one evaluation: shapes, determinism, class and time matter', () => {
  const x = dpm.gaussianNoise(3, 2 * 784);
  const a = model.run(x, 500, Int32Array.of(3, 7));
  assert.ok(a instanceof Float32Array && a.length === 2 * 784 && a.every(Number.isFinite));
  assert.deepEqual(model.run(x, Float32Array.of(500, 500), [3, 7]), a);
  assert.notDeepEqual(model.run(x, 500, [7, 3]), a);
  assert.notDeepEqual(model.run(x, 100, [3, 7]), a);
  // At t = 999 the noise prediction of pure noise is close to the noise itself.
  const e = model.run(x, 999, 10);
  let se = 0; for (let i = 0; i < x.length; i++) se += (e[i] - x[i]) ** 2;
  assert.ok(Math.sqrt(se / x.length) < 0.2, `rms(eps - x) at t=999: ${Math.sqrt(se / x.length)}`);
});

test('generate: 10 NFE, guided, progress with x0 each step, deterministic by seed', () => {
  const seen = [];
  const g = model.generate({ seed: 5, batch: 4, class: 3, guidance: 2, steps: 10 }, (p) => {
    assert.equal(p.x0.length, 4 * 784);
    seen.push(p.nfe);
  });
  assert.deepEqual(seen, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  assert.equal(g.nfe, 10);
  assert.equal(g.networkImages, 80);
  assert.deepEqual(g.labels, [3, 3, 3, 3]);
  assert.ok(g.images.every((v) => v >= -1 && v <= 1));
  const again = model.generate({ seed: 5, batch: 4, class: 3, guidance: 2, steps: 10 });
  assert.deepEqual(again.images, g.images);
  const other = model.generate({ seed: 6, batch: 4, class: 3, guidance: 2, steps: 10 });
  assert.notDeepEqual(other.images, g.images);
  // Not blank: digits have dark background and bright strokes.
  const bright = g.images.filter((v) => v > 0.5).length / g.images.length;
  assert.ok(bright > 0.03 && bright < 0.5, `fraction of bright pixels ${bright}`);
});

test('Model.generate equals a JS ask/tell loop over Model.run with the same noise', () => {
  const opts = { seed: 9, batch: 2, class: [1, 8], guidance: 1, steps: 6, spacing: 'logSNR', clip: false };
  const g = model.generate(opts);
  const x = new Float32Array(2 * 784);
  for (let i = 0; i < 2; i++) x.set(dpm.gaussianNoise(9, 784, i), i * 784);
  const s = new dpm.Sampler({ schedule: meta.schedule, prediction: meta.prediction, steps: 6, spacing: 'logSNR', batch: 2 }, x);
  let r;
  while ((r = s.ask())) s.tell(model.run(r.x, (r.tModel * meta.numTrainTimesteps) / 1000, [1, 8]));
  const y = s.x;
  let d = 0; for (let i = 0; i < y.length; i++) d = Math.max(d, Math.abs(y[i] - g.images[i]));
  assert.ok(d < 1e-5, `max difference ${d}`);
  s.free();
});

test('Model.generate with a diffusers scheduler equals Sampler({ scheduler }) over Model.run', () => {
  const cfg = { solver_type: 'bh1', beta_schedule: 'scaled_linear' }; // the model's own schedule wins
  const steps = [];
  const g = model.generate({ seed: 9, batch: 2, class: [1, 8], guidance: 1, steps: 6, clip: false,
    scheduler: 'UniPCMultistepScheduler', schedulerConfig: cfg }, (p) => { steps.push(p.nfe); });
  assert.deepEqual(steps, [1, 2, 3, 4, 5, 6]);
  const x = new Float32Array(2 * 784);
  for (let i = 0; i < 2; i++) x.set(dpm.gaussianNoise(9, 784, i), i * 784);
  const s = new dpm.Sampler({ scheduler: 'UniPCMultistepScheduler', steps: 6, batch: 2,
    schedulerConfig: { solver_type: 'bh1', beta_start: 1e-4, beta_end: 0.02, beta_schedule: 'linear' } }, x);
  let r;
  while ((r = s.ask())) s.tell(model.run(r.x, r.timestep, [1, 8]));
  const y = s.x;
  let d = 0; for (let i = 0; i < y.length; i++) d = Math.max(d, Math.abs(y[i] - g.images[i]));
  assert.ok(d < 1e-5, `max difference ${d}`);
  s.free();
  // Guided, and the stochastic 2M SDE: seeded.
  const sde = { seed: 4, batch: 2, class: 3, guidance: 2, steps: 8, scheduler: { _class_name: 'DPMSolverMultistepScheduler', algorithm_type: 'sde-dpmsolver++' } };
  const a = model.generate(sde), b = model.generate(sde);
  assert.equal(a.nfe, 8);
  assert.deepEqual(Array.from(a.images), Array.from(b.images));
  assert.ok(a.images.every((v) => Number.isFinite(v) && v >= -1 && v <= 1));
  throwsMsg(() => model.generate({ scheduler: 'UniPCMultistepScheduler', order: 3 }), /order do not apply with options.scheduler/);
  throwsMsg(() => model.generate({ scheduler: 'EulerDiscreteScheduler' }), /EulerDiscreteScheduler.*not available/);
});

test('planBatch: image by image by default, same outputs through a batched plan', () => {
  assert.equal(model.planBatch, 1);
  const x = dpm.gaussianNoise(5, 3 * 784), cls = Int32Array.of(0, 4, 9);
  const a = model.run(x, 300, cls);
  model.planBatch = 3;
  const b = model.run(x, 300, cls);
  model.planBatch = 1;
  let d = 0; for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  assert.ok(d < 1e-4, `max difference ${d}`);
  throwsMsg(() => { model.planBatch = 0; }, /planBatch must be an integer/);
  throwsMsg(() => { model.planBatch = 1.5; }, /planBatch must be an integer/);
  assert.equal(model.planBatch, 1);
});

test('cancellation: callback returning false, and an AbortSignal', () => {
  let calls = 0;
  throwsMsg(() => model.generate({ steps: 10, batch: 1 }, () => ++calls < 3), /cancelled after 3/, 'AbortError');
  assert.equal(calls, 3);
  const ac = new AbortController();
  let n = 0;
  throwsMsg(() => model.generate({ steps: 10, signal: ac.signal }, () => { if (++n === 2) ac.abort(); }), /cancelled/, 'AbortError');
  throwsMsg(() => model.generate({ steps: 10 }, () => { throw new Error('boom'); }), /progress callback threw: boom/);
});

test('adaptive and other solvers through generate', () => {
  const a = model.generate({ batch: 2, class: 4, guidance: 1.5, method: 'adaptive', order: 2, algorithm: 'dpmsolver' });
  assert.ok(a.stats.nAccept > 0 && a.nfe >= 3);
  const f = model.generate({ batch: 2, steps: 7, method: 'singlestep', order: 3, algorithm: 'dpmsolver', spacing: 'time_uniform' });
  assert.equal(f.nfe, 7);
});

test('gridRgba lays out a batch', () => {
  const imgs = dpm.gaussianNoise(1, 5 * 784);
  const g = dpm.gridRgba(imgs, { height: 28, width: 28, gap: 1, scale: 2 });
  assert.equal(g.width, 3 * 56 + 4);
  assert.equal(g.height, 2 * 56 + 3);
  assert.equal(g.data.length, g.width * g.height * 4);
  throwsMsg(() => dpm.gridRgba(imgs.subarray(1), { height: 28, width: 28 }), /images has 3919 values/);
  throwsMsg(() => dpm.draw({}, imgs, { height: 28, width: 28 }), /draw target must be/);
});

test('errors: malformed ONNX, wrong lengths, invalid options', () => {
  throwsMsg(() => new dpm.Model(new Uint8Array([1, 2, 3, 4, 5])), /ONNX/);
  throwsMsg(() => new dpm.Model(bytes.subarray(0, bytes.length >> 1)), /ONNX/);
  throwsMsg(() => new dpm.Model(new Uint8Array(0)), /./);
  throwsMsg(() => model.run(new Float32Array(783), 10, 1), /not a whole number of 784-element images/);
  throwsMsg(() => model.run(new Float32Array(784), [1, 2], 1), /t has 2 entries for a batch of 1/);
  throwsMsg(() => model.run(new Float32Array(784), 5, 11), /class 11 out of range/);
  throwsMsg(() => model.generate({ steps: 10, sampler: 'x' }), /unknown key 'sampler'/);
  throwsMsg(() => model.generate({ class: 12 }), /class 12 out of range/);
  throwsMsg(() => model.generate({ method: 'euler' }), /options.method is 'euler', expected one of: multistep/);
  throwsMsg(() => model.generate({ batch: 0 }), /batch/);
  throwsMsg(() => model.generate({ noise: new Float32Array(5) }), /noise/);
});
