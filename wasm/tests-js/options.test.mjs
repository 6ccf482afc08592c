// The cross-entry options table (tests/fixtures/options_table.json) through the JS Sampler and
// Model.generate, against the native results of the same rows given as command lines to the
// core's options module (tests/examples/options.rs, lexopt; written to
// target/options-native.json by .ci/test-wasm.sh): the same steps, NFE and sample bit for bit,
// or an error message with the row's text. tests/tests/options_table.rs checks the module
// against the command line.
import test from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { load, ROOT } from './load.mjs';

const dpm = await load();
const table = JSON.parse(await readFile(path.join(ROOT, 'tests/fixtures/options_table.json'), 'utf8'));
const nativePath = process.env.DPM_OPTIONS_NATIVE ?? path.join(ROOT, 'target/options-native.json');
let native;
try {
  native = new Map(JSON.parse(await readFile(nativePath, 'utf8')).map((r) => [r.name, r.result]));
} catch (e) {
  throw new Error(`cannot read ${nativePath} (${e.message}): run cargo run --release -p dpm-solver-tests --example options -- --table tests/fixtures/options_table.json > ${nativePath}`);
}

const X = [0.5, -1.0, 0.25, 2.0];
const scaled = (v, s) => Float32Array.from(v, (x) => Math.fround(s) * x);

// The table run of tests/src/options.rs: the stand-in network predicts 0.1 x (0.05 x
// unconditionally; a gradient of 0.01 x).
function samplerRun(options) {
  const s = new dpm.Sampler(options, Float32Array.from(X));
  const type = String(options.guidance?.type ?? '').toLowerCase().replace(/[-_]/g, '');
  const steps = [];
  let req;
  while ((req = s.ask())) {
    const out = scaled(req.x, 0.1);
    const r = type === 'classifierfree' ? s.tellCfg(out, scaled(out, 0.5))
      : type === 'classifier' ? s.tellClassifier(out, scaled(out, 0.1))
        : s.tell(out);
    if (r) steps.push([r.tFrom, r.tTo, r.order]);
  }
  return { steps, nfe: s.nfe, x: Array.from(s.x) };
}

function message(fn) {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof Error, `thrown value is an Error (got ${e})`);
    return e.message;
  }
  return null;
}

test('the native results cover the table', () => {
  assert.equal(native.size, table.rows.length);
  for (const row of table.rows) assert.ok(native.has(row.name), row.name);
});

test('every row: the JS Sampler gives the native run or error', () => {
  let runs = 0;
  for (const row of table.rows) {
    const n = native.get(row.name);
    if (row.error) {
      assert.ok(n.error?.includes(row.error), `${row.name}: native says ${JSON.stringify(n)}`);
      const m = message(() => samplerRun(row.options));
      assert.ok(m?.includes(row.error), `${row.name}: Sampler says ${m}, expected ${row.error}`);
      continue;
    }
    const js = samplerRun(row.options);
    assert.deepEqual(js.steps, n.steps, `${row.name}: steps`);
    assert.equal(js.nfe, n.nfe, `${row.name}: nfe`);
    assert.deepEqual(js.x, n.x, `${row.name}: x`);
    runs++;
  }
  assert.ok(runs >= 30, `${runs} runs`);
});

test('rows for Model.generate: the demo UNet takes the same steps, or the same error', async () => {
  const bytes = new Uint8Array(await readFile(path.join(ROOT, 'www/models/unet.onnx')));
  const model = new dpm.Model(bytes);
  assert.deepEqual(model.metadata.schedule, { type: 'discrete', betas: { kind: 'linear', start: 1e-4, end: 0.02, n: 1000 } });
  let runs = 0;
  for (const row of table.rows) {
    if (row.sampler_only) continue;
    const n = native.get(row.name);
    if (row.error) {
      const m = message(() => model.generate({ ...row.options, seed: 1 }));
      assert.ok(m?.includes(row.error), `${row.name}: Model.generate says ${m}, expected ${row.error}`);
      continue;
    }
    if (!row.generate) continue;
    const steps = [];
    const expected = new Set();
    const g = model.generate({ ...row.options, seed: 1 }, (p) => {
      steps.push([p.report.tFrom, p.report.tTo, p.report.order]);
      expected.add(p.expectedNfe);
    });
    assert.deepEqual(steps, n.steps, `${row.name}: steps`);
    assert.equal(g.nfe, n.nfe, `${row.name}: nfe`);
    assert.deepEqual([...expected], [n.expected_nfe], `${row.name}: expectedNfe`);
    runs++;
  }
  assert.ok(runs >= 20, `${runs} generate runs`);
});

test('the generate profile: Model.generate without options is the Sampler at 10 logSNR steps', async () => {
  const bytes = new Uint8Array(await readFile(path.join(ROOT, 'www/models/unet.onnx')));
  const model = new dpm.Model(bytes);
  const steps = [];
  model.generate({ seed: 1 }, (p) => { steps.push([p.report.tFrom, p.report.tTo, p.report.order]); });
  assert.deepEqual(steps, samplerRun({ steps: 10, spacing: 'logSNR' }).steps);
  assert.equal(samplerRun({}).nfe, 20, 'the Sampler keeps the reference defaults (20 steps)');
});
