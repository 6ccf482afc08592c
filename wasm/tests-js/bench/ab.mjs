// Two builds of the package side by side in one process, interleaved (a before/after check):
// `new Model` (parse the ONNX, type it, optimise the batch-1 plan) and one evaluation of a batch
// of 16 (x = gaussianNoise(0), t = 500, classes 0..9,0..5), medians; and the largest difference
// between the two builds' outputs.
// Usage (repository root): node --no-liftoff wasm/tests-js/bench/ab.mjs PKG_A PKG_B [rounds]
//   e.g. node --no-liftoff wasm/tests-js/bench/ab.mjs target/pkg-before/web target/pkg/web 10
import { load, ROOT } from '../load.mjs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';

const [a, b, rounds = '10'] = process.argv.slice(2);
if (!a || !b) throw new Error('usage: ab.mjs PKG_A PKG_B [rounds]');
const onnx = new Uint8Array(await readFile(ROOT + '/www/models/unet.onnx'));
const med = (v) => { const s = [...v].sort((p, q) => p - q), m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const builds = [];
for (const p of [a, b]) {
  const dpm = await load(path.resolve(ROOT, p));
  const x = dpm.gaussianNoise(0, 16 * 784);
  const cls = Int32Array.from({ length: 16 }, (_, i) => i % 10);
  const m = new dpm.Model(onnx);
  m.run(x, 500, cls);
  builds.push({ name: p, dpm, x, cls, m, load: [], evalMs: [], out: m.run(x, 500, cls) });
}
for (let i = 0; i < Number(rounds); i++) {
  for (const k of builds) {
    let t0 = performance.now();
    new k.dpm.Model(onnx).free();
    k.load.push(performance.now() - t0);
    t0 = performance.now();
    k.m.run(k.x, 500, k.cls);
    k.evalMs.push(performance.now() - t0);
  }
}
for (const k of builds) {
  console.log(`${k.name}: new Model median ${med(k.load).toFixed(0)} ms [${k.load.map((v) => v.toFixed(0)).join(' ')}]; ` +
    `eval(B=16) median ${med(k.evalMs).toFixed(1)} ms [${k.evalMs.map((v) => v.toFixed(0)).join(' ')}]`);
}
let diff = 0, mag = 0;
for (let i = 0; i < builds[0].out.length; i++) {
  diff = Math.max(diff, Math.abs(builds[0].out[i] - builds[1].out[i]));
  mag = Math.max(mag, Math.abs(builds[0].out[i]));
}
console.log(`max |A - B| over the 16 outputs: ${diff} (max |A| ${mag.toFixed(3)})`);
