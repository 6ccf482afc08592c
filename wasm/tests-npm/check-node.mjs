// Checks of the Node paths (run by .ci/test-npm.sh in the scratch folder): the Node ESM
// script wrote a PNG of the expected size, and the onnxruntime-web example in Node matches
// dpm-solver's own Model on the same seed.
import test from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import init, { Model } from 'dpm-solver';

test('node-app/generate.mjs wrote a 16-digit grid PNG', async () => {
  const out = JSON.parse(process.env.NODE_APP_OUT);
  assert.equal(out.nfe, 10);
  const png = await readFile('digits.png');
  assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  assert.equal(png.readUInt32BE(16), out.width);
  assert.equal(png.readUInt32BE(20), out.height);
  assert.equal(out.width, 4 * 28 + 5);
  await init();
  const m = new Model(await readFile('unet.onnx'));
  const g = m.generate({ seed: 1, batch: 16, class: 7, guidance: 2, steps: 10 });
  assert.equal(out.sum, g.images.reduce((s, v) => s + v, 0));
  m.free();
});

test('onnxruntime-web example in Node: the same digits as dpm-solver\'s Model', async () => {
  const r = JSON.parse(process.env.ORT_NODE_OUT);
  assert.equal(r.nfe, 10);
  assert.deepEqual(r.inputs, ['x: float32', 't: float32', 'class: int64']);
  await init();
  const m = new Model(await readFile('unet.onnx'));
  const g = m.generate({ seed: 1, batch: 4, class: 7, guidance: 2, steps: 10 });
  let se = 0;
  for (let i = 0; i < g.images.length; i++) se += (r.images[i] - g.images[i]) ** 2;
  const rms = Math.sqrt(se / g.images.length);
  assert.ok(rms < 0.02, `ORT vs tract: rms ${rms}`);
  console.log(`onnxruntime-web in Node: rms vs dpm-solver's Model ${rms.toExponential(2)}`);
  m.free();
});
