// Models as users export them (wasm/tests/models/, from train/make_test_models.py and
// train/make_diffusers_unet.py), from node: every export form loads (external data as an
// option) and samples the same x_0; a model without metadata loads from options or its
// scheduler_config.json text (Python's -Infinity included); what does not fit throws a clear
// Error before any evaluation; and a diffusers UNet2DModel sampled through `Model` matches
// diffusers' own loops (timesteps exactly, x_0 within 1e-3 (1 + max|x_0|)).
import test from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { load, ROOT } from './load.mjs';

const dpm = await load();
const DIR = path.join(ROOT, 'wasm/tests/models');
const bytes = async (f) => new Uint8Array(await readFile(path.join(DIR, f)));
const text = (f) => readFile(path.join(DIR, f), 'utf8');

const FORMS = ['legacy17', 'legacy13', 'dynamo', 'dynamo_ext', 'dynamo20', 'int64_time', 'int32_time', 'f64_scalar_time'];
const schedText = await text('diffusers_style.scheduler_config.json');

async function open(form) {
  const opts = {};
  if (form === 'dynamo_ext') opts.externalData = await bytes('dynamo_ext.onnx.data');
  if (form === 'diffusers_style') opts.schedulerConfig = schedText;
  return new dpm.Model(await bytes(`${form}.onnx`), opts);
}

const maxAbs = (a) => a.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
const maxDiff = (a, b) => { assert.equal(a.length, b.length); let d = 0; for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i])); return d; };

function throwsMsg(fn, re) {
  assert.throws(fn, (e) => { assert.ok(e instanceof Error); assert.match(e.message, re); return true; });
}

test('every export form samples the same x_0 (diffusers DPM-Solver++ from the config text)', async () => {
  const noise = dpm.gaussianNoise(7, 3 * 64);
  let ref;
  for (const form of FORMS) {
    const m = await open(form);
    assert.deepEqual([m.metadata.channels, m.metadata.height, m.metadata.width], [1, 8, 8], form);
    const g = m.generate({ scheduler: schedText, steps: 8, batch: 3, class: 2, noise, clip: false });
    if (!ref) { ref = g.images; continue; }
    const d = maxDiff(ref, g.images), tol = 1e-5 * (1 + maxAbs(ref));
    assert.ok(d <= tol, `${form}: ${d} > ${tol}`);
  }
  // The diffusers-style export is the same net at the null class.
  const a = (await open('legacy17')).generate({ scheduler: schedText, steps: 8, batch: 3, noise, clip: false }).images;
  const b = (await open('diffusers_style')).generate({ scheduler: schedText, steps: 8, batch: 3, noise, clip: false }).images;
  assert.ok(maxDiff(a, b) <= 1e-5 * (1 + maxAbs(a)));
});

test('time and class inputs of any integer or float type', async () => {
  assert.equal((await open('int64_time')).metadata.timeInput, 'int64 [B]');
  assert.equal((await open('int32_time')).metadata.timeInput, 'int32 [B]');
  assert.equal((await open('f64_scalar_time')).metadata.timeInput, 'float64 (one for the batch)');
  const m = await open('diffusers_style');
  assert.deepEqual(m.metadata.inputNames, ['sample', 'timestep']);
  assert.equal(m.metadata.outputName, 'out_sample');
  assert.equal(m.metadata.numClasses, 0);
});

test('a model without metadata: one error naming every missing fact; options and a config load it', async () => {
  const b = await bytes('diffusers_style.onnx');
  throwsMsg(() => new dpm.Model(b), /prediction_type.*num_train_timesteps.*beta_schedule.*metadata.*schedulerConfig.*MODEL\.md/s);
  const m = new dpm.Model(b, { metadata: { prediction_type: 'v_prediction', beta_schedule: 'linear', beta_start: 1e-4, beta_end: 0.02, num_train_timesteps: 1000, description: 'mine' } });
  assert.equal(m.metadata.prediction, 'v');
  assert.equal(m.metadata.description, 'mine');
  // The config as an object (JSON.parse of a file without -Infinity) works too.
  const obj = JSON.parse(schedText.replace('-Infinity', 'null'));
  assert.equal(new dpm.Model(b, { schedulerConfig: obj }).metadata.prediction, 'noise');
  throwsMsg(() => new dpm.Model(b, { metadata: { prediction: 'eps' } }), /unknown key 'prediction'.*MODEL\.md/);
  throwsMsg(() => new dpm.Model(b, { schedulerConfig: '{"a": ' }), /scheduler config JSON, line 1/);
  throwsMsg(() => new dpm.Model(b, { bogus: 1 }), /unknown key 'bogus'/);
});

test('external data: a missing side file is explained, the bytes as an option load it', async () => {
  const b = await bytes('dynamo_ext.onnx');
  throwsMsg(() => new dpm.Model(b), /side file "dynamo_ext\.onnx\.data".*externalData.*single file/);
  const data = await bytes('dynamo_ext.onnx.data');
  assert.ok(new dpm.Model(b, { externalData: { 'dynamo_ext.onnx.data': data } }));
  assert.ok(new dpm.Model(b, { externalData: data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) }));
});

test('what does not fit throws before any evaluation', async () => {
  throwsMsg(() => new dpm.Model(new Uint8Array(0)), /empty/);
  const bad = await bytes('bad_output.onnx');
  throwsMsg(() => new dpm.Model(bad), /"eps" has shape .*shape of the input image/);
  const l = await open('legacy17');
  throwsMsg(() => l.generate({ class: 4 }), /class 4 out of range/);
  const u = await open('diffusers_style');
  throwsMsg(() => u.generate({ guidance: 3 }), /unconditional/);
  const b = await bytes('legacy17.onnx');
  throwsMsg(() => new dpm.Model(b, { metadata: { image_channels: 3 } }), /image_channels = 3 but the graph/);
});

test('Sampler takes a scheduler_config.json as Python wrote it (-Infinity)', () => {
  const x = dpm.gaussianNoise(1, 16);
  const a = new dpm.Sampler({ scheduler: schedText, steps: 8 }, x);
  const obj = JSON.parse(schedText.replace('-Infinity', 'null'));
  const b = new dpm.Sampler({ scheduler: obj, steps: 8 }, x);
  const c = new dpm.Sampler({ scheduler: "DPMSolverMultistepScheduler", schedulerConfig: schedText, steps: 8 }, x);
  assert.deepEqual(a.timesteps, b.timesteps);
  assert.deepEqual(a.timesteps, c.timesteps);
  assert.equal(a.timesteps[0], 999);
});

test('diffusers UNet2DModel: our Model with its scheduler_config.json matches diffusers\' loops', async () => {
  const fx = JSON.parse(await text('diffusers_unet.parity.json'));
  const xT = Float32Array.from(fx.x_t);
  assert.ok(fx.cases.length >= 3);
  assert.deepEqual(fx.models, ['diffusers_unet.onnx', 'diffusers_unet_dynamo.onnx']);
  for (const file of fx.models) for (const c of fx.cases) {
    const b = await bytes(file);
    const m = new dpm.Model(b, { schedulerConfig: c.scheduler_config });
    const n = m.metadata.numTrainTimesteps;
    const ts = [];
    const g = m.generate({ scheduler: c.scheduler_config, steps: c.steps, batch: fx.batch, noise: xT, clip: false },
      (p) => { ts.push(Math.round(p.report.tFrom * n - 1)); });
    assert.deepEqual(ts, c.timesteps, `${file} ${c.name}: timesteps`);
    const d = maxDiff(g.images, c.x0), tol = 1e-3 * (1 + maxAbs(c.x0));
    assert.ok(d <= tol, `${file} ${c.name}: max |x0 - diffusers| = ${d} > ${tol}`);
  }
});
