// The package's two wasm builds (build-package.sh): dpm_solver_bg.wasm (simd128) and
// dpm_solver_relaxed_bg.wasm (relaxed SIMD: fused multiply-adds in tract's matrix products).
// init() without an argument picks by WebAssembly.validate of a relaxed-SIMD instruction: the
// simd128 build in this Node 20 (no relaxed SIMD without a flag), the relaxed one in a child
// Node started with --experimental-wasm-relaxed-simd. The two agree within float tolerance
// (not bit for bit: a fused multiply-add rounds once).
import test from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { pathToFileURL } from 'node:url';
import { PKG, ROOT } from './load.mjs';

const NODE_JS = pathToFileURL(path.join(PKG, 'node.js')).href;
const UNET = path.join(ROOT, 'www/models/unet.onnx');

// One evaluation (3 images, t = 500) and a 4-NFE guided generation through the package's Node
// entry; prints which build init() chose and the outputs.
const SCRIPT = `
const dpm = await import(${JSON.stringify(NODE_JS)});
await dpm.default();
const { readFile } = await import('node:fs/promises');
const model = new dpm.Model(new Uint8Array(await readFile(${JSON.stringify(UNET)})));
const eps = model.run(dpm.gaussianNoise(5, 3 * 784), 500, Int32Array.of(1, 4, 9));
const gen = model.generate({ seed: 2, batch: 2, class: 3, guidance: 2, steps: 4 });
console.log(JSON.stringify({ supported: dpm.relaxedSimdSupported(), relaxed: dpm.relaxedSimdEnabled(),
  simd: dpm.simdEnabled(), eps: Array.from(eps), gen: Array.from(gen.images) }));
`;

async function runNode(flags) {
  const { stdout } = await promisify(execFile)(process.execPath, [...flags, '--input-type=module', '-e', SCRIPT],
    { maxBuffer: 64 << 20 });
  return JSON.parse(stdout);
}

function maxAbsDiff(a, b) {
  assert.equal(a.length, b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
}

test('the package ships both builds', async () => {
  for (const f of ['dpm_solver_bg.wasm', 'dpm_solver_relaxed_bg.wasm']) {
    assert.ok((await stat(path.join(PKG, f))).size > 1e6, f);
  }
  const relaxed = await readFile(path.join(PKG, 'dpm_solver_relaxed_bg.wasm'));
  assert.equal(WebAssembly.validate(await readFile(path.join(PKG, 'dpm_solver_bg.wasm'))), true);
  // Without relaxed SIMD (this Node 20), the relaxed build does not even validate: why init()
  // must choose before it fetches.
  assert.equal(WebAssembly.validate(relaxed), false);
});

test('init() picks the simd128 build without relaxed SIMD and the relaxed build with it; they agree within 1e-4', async () => {
  const plain = await runNode([]);
  assert.deepEqual([plain.supported, plain.relaxed, plain.simd], [false, false, true]);
  const relaxed = await runNode(['--experimental-wasm-relaxed-simd']);
  assert.deepEqual([relaxed.supported, relaxed.relaxed, relaxed.simd], [true, true, true]);
  assert.ok(plain.eps.every(Number.isFinite) && relaxed.eps.every(Number.isFinite));
  // eps is O(1); the two differ by float rounding (a fused multiply-add rounds once).
  const dEps = maxAbsDiff(plain.eps, relaxed.eps);
  assert.ok(dEps <= 1e-4, `eps differs by ${dEps}`);
  const dGen = maxAbsDiff(plain.gen, relaxed.gen);
  assert.ok(dGen <= 1e-3, `generated images differ by ${dGen}`);
});
