// eval(B=16) of the opt-level 3 and opt-level "s" packages, interleaved in one process.
// Build target/pkg-opts first: OPT_S=1 in run.sh, then: node --no-liftoff wasm/tests-js/bench/opt-levels.mjs
import { load, ROOT } from '../load.mjs';
import { readFile } from 'node:fs/promises';
const onnx = new Uint8Array(await readFile(ROOT + '/www/models/unet.onnx'));
const med = (v) => { const s = [...v].sort((a, b) => a - b), m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const mods = {};
for (const [k, p] of [['opt3', ROOT + '/target/pkg/web'], ['opts', ROOT + '/target/pkg-opts/web']]) {
  const dpm = await load(p); const m = new dpm.Model(onnx); const x = dpm.gaussianNoise(0, 16 * 784);
  const cls = Int32Array.from({ length: 16 }, (_, i) => i % 10); m.run(x, 500, cls); m.run(x, 500, cls);
  mods[k] = { run: () => m.run(x, 500, cls), t: [] };
}
for (let i = 0; i < 10; i++) for (const k of Object.keys(mods)) { const t0 = performance.now(); mods[k].run(); mods[k].t.push(performance.now() - t0); }
for (const [k, v] of Object.entries(mods)) console.log(k, 'eval(B=16) median', med(v.t).toFixed(0), 'ms', v.t.map((x) => x.toFixed(0)).join(' '));
