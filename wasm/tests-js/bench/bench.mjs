// Speed of one UNet evaluation (batch 16) and one full generation (DPM-Solver++(2M), 10 NFE,
// batch 16, class 7, classifier-free guidance 2: 32 images per evaluation) in node:
//   ours-simd    the dpm-solver package (tract in wasm, SIMD build): Model.run / Model.generate
//   ours-nosimd  the same package built without SIMD (DPM_PKG_NOSIMD)
//   ort-wasm     onnxruntime-web's wasm backend (1 thread), driven by our Sampler (ask/tell)
// Usage: node --no-liftoff bench.mjs [repeats]   (see wasm/BENCHMARKS.md)
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { load, ROOT, PKG } from '../load.mjs';

const REPEATS = Number(process.argv[2] ?? 7);
const EVALS = 10;
const onnx = new Uint8Array(await readFile(path.join(ROOT, 'www/models/unet.onnx')));
const median = (v) => { const s = [...v].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const B = 16, N = 784, STEPS = 10, CLASS = 7, SCALE = 2;

function timeIt(fn, warm, reps) {
  for (let i = 0; i < warm; i++) fn();
  const t = [];
  for (let i = 0; i < reps; i++) { const t0 = performance.now(); fn(); t.push(performance.now() - t0); }
  return t;
}
async function timeItAsync(fn, warm, reps) {
  for (let i = 0; i < warm; i++) await fn();
  const t = [];
  for (let i = 0; i < reps; i++) { const t0 = performance.now(); await fn(); t.push(performance.now() - t0); }
  return t;
}

const results = [];
function report(name, evalMs, genMs, extra = '') {
  results.push({ name, eval: median(evalMs), gen: median(genMs) });
  console.log(`${name.padEnd(12)} eval(B=16) median ${median(evalMs).toFixed(1)} ms [${evalMs.map((v) => v.toFixed(0)).join(' ')}]` +
    `   generation(10 NFE, B=16, CFG) median ${median(genMs).toFixed(0)} ms [${genMs.map((v) => v.toFixed(0)).join(' ')}] ${extra}`);
}

async function ours(name, pkg) {
  const dpm = await load(pkg);
  const t0 = performance.now();
  const model = new dpm.Model(onnx);
  const loadMs = performance.now() - t0;
  const x = dpm.gaussianNoise(0, B * N);
  const classes = Int32Array.from({ length: B }, (_, i) => i % 10);
  const evalMs = timeIt(() => model.run(x, 500, classes), 2, EVALS);
  const opts = { seed: 0, batch: B, class: CLASS, guidance: SCALE, steps: STEPS, algorithm: 'dpmsolver++', method: 'multistep', order: 2, spacing: 'logSNR' };
  let nfe = 0;
  const genMs = timeIt(() => { nfe = model.generate(opts).nfe; }, 1, REPEATS);
  report(name, evalMs, genMs, `(nfe ${nfe}, simd ${dpm.simdEnabled()}, load+parse ${loadMs.toFixed(0)} ms)`);
  model.free();
  return dpm;
}

const dpm = await ours('ours-simd', PKG);
if (process.env.DPM_PKG_NOSIMD) await ours('ours-nosimd', path.resolve(process.env.DPM_PKG_NOSIMD));

// onnxruntime-web, wasm execution provider, single thread (tract in wasm is single-threaded too).
const ort = await import('onnxruntime-web');
ort.env.wasm.numThreads = 1;
const t0 = performance.now();
const session = await ort.InferenceSession.create(onnx, { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
const loadMs = performance.now() - t0;
async function ortRun(x, t, cls) {
  const b = t.length;
  const out = await session.run({
    x: new ort.Tensor('float32', x, [b, 1, 28, 28]),
    t: new ort.Tensor('float32', t, [b]),
    class: new ort.Tensor('int64', BigInt64Array.from(cls, (c) => BigInt(c)), [b]),
  });
  return out.eps.data;
}
{
  const x = dpm.gaussianNoise(0, B * N);
  const classes = Array.from({ length: B }, (_, i) => i % 10);
  const evalMs = await timeItAsync(() => ortRun(x, new Float32Array(B).fill(500), classes), 2, EVALS);
  const schedule = { type: 'discrete', betas: { kind: 'linear', start: 1e-4, end: 0.02, n: 1000 } };
  let nfe = 0, last;
  const gen = async () => {
    const xT = new Float32Array(B * N);
    for (let i = 0; i < B; i++) xT.set(dpm.gaussianNoise(0, N, i), i * N);
    const s = new dpm.Sampler({ schedule, prediction: 'noise', algorithm: 'dpmsolver++', method: 'multistep', order: 2,
      steps: STEPS, spacing: 'logSNR', batch: B, guidance: { type: 'classifier-free', scale: SCALE } }, xT);
    const cls = [...new Array(B).fill(CLASS), ...new Array(B).fill(10)];
    const xin = new Float32Array(2 * B * N);
    let r;
    while ((r = s.ask())) {
      xin.set(r.x); xin.set(r.x, B * N);
      const out = await ortRun(xin, new Float32Array(2 * B).fill(r.tModel), cls);
      s.tellCfg(out.subarray(0, B * N), out.subarray(B * N));
    }
    nfe = s.nfe; last = s.x; s.free();
  };
  const genMs = await timeItAsync(gen, 1, REPEATS);
  report('ort-wasm', evalMs, genMs, `(nfe ${nfe}, onnxruntime-web ${ort.env.versions?.web ?? ''}, 1 thread, create ${loadMs.toFixed(0)} ms)`);
  // Same samples as ours (same noise, solver and network up to float rounding)?
  const model = new dpm.Model(onnx);
  const g = model.generate({ seed: 0, batch: B, class: CLASS, guidance: SCALE, steps: STEPS, spacing: 'logSNR', clip: false });
  let d = 0; for (let i = 0; i < last.length; i++) d = Math.max(d, Math.abs(last[i] - g.images[i]));
  console.log(`ort-wasm vs ours-simd samples: max |difference| ${d.toExponential(2)}`);
}
console.log(JSON.stringify(results));
