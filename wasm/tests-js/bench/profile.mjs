// Where tract's time goes in one UNet evaluation, in wasm (SIMD) under node: the package built
// with the cargo feature `profile` (wasm/tests-js/bench/profile.sh) exports profileUnet, the
// same per-node profiler as the native wasm/examples/profile.rs (DiffusionModel::profile).
// Usage: node --no-liftoff profile.mjs [batches=16,1] [repeats=10] [top=10]
//   DPM_PKG      the package folder (default target/pkg-profile/web)
//   NATIVE_JSON  the native example's --json output: adds a native vs wasm table per batch
//   ORT=1        also time onnxruntime-web's wasm EP (1 thread) on the same batch, for scale
//                (needs `npm ci` in this folder, as run.sh does)
// Also times Model.run on the whole batch against the same images as batch-1 runs.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { load, ROOT } from '../load.mjs';

const BATCHES = (process.argv[2] ?? '16,1').split(',').map(Number);
const REPEATS = Number(process.argv[3] ?? 10);
const TOP = Number(process.argv[4] ?? 10);
const PKG = path.resolve(process.env.DPM_PKG ?? path.join(ROOT, 'target/pkg-profile/web'));
const dpm = await load(PKG);
if (typeof dpm.profileUnet !== 'function') {
  throw new Error(`${PKG} has no profileUnet: build it with the cargo feature "profile" (profile.sh)`);
}
const onnx = new Uint8Array(await readFile(path.join(ROOT, 'www/models/unet.onnx')));
const native = process.env.NATIVE_JSON ? JSON.parse(await readFile(process.env.NATIVE_JSON, 'utf8')) : [];
const median = (v) => { const s = [...v].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const pct = (x, total) => `${(100 * x / total).toFixed(1)} %`;

function compare(nat, w) {
  const ops = new Map();
  for (const o of nat.ops) ops.set(o.op, { n: o, w: null });
  for (const o of w.ops) ops.set(o.op, { ...(ops.get(o.op) ?? { n: null }), w: o });
  const rows = [...ops.entries()].sort((a, b) => (b[1].w?.ms ?? 0) - (a[1].w?.ms ?? 0));
  console.log(`native vs wasm, batch ${w.batch}: nodes ${nat.nodesMs.toFixed(1)} vs ${w.nodesMs.toFixed(1)} ms (x${(w.nodesMs / nat.nodesMs).toFixed(2)})`);
  console.log('| op type | nodes (native / wasm) | native ms | wasm ms | wasm / native | native share | wasm share | wasm - native ms |');
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|');
  for (const [op, { n, w: o }] of rows) {
    const nm = n?.ms ?? 0, wm = o?.ms ?? 0;
    console.log(`| ${op} | ${n?.nodes ?? 0} / ${o?.nodes ?? 0} | ${nm.toFixed(2)} | ${wm.toFixed(2)} | ` +
      `${n && o && nm > 0 ? `x${(wm / nm).toFixed(1)}` : '-'} | ${pct(nm, nat.nodesMs)} | ${pct(wm, w.nodesMs)} | ${(wm - nm).toFixed(2)} |`);
  }
  console.log('');
}

async function splitCheck(batch) {
  const model = new dpm.Model(onnx);
  const N = 784;
  const x = new Float32Array(batch * N);
  for (let i = 0; i < batch; i++) x.set(dpm.gaussianNoise(0, N, i), i * N);
  const classes = Int32Array.from({ length: batch }, (_, i) => i % 10);
  const whole = [], split = [];
  let diff = 0;
  const shipped = model.planBatch;
  for (let r = 0; r <= REPEATS; r++) {
    // The whole batch through the plan for `batch`, then image by image (the shipped default).
    model.planBatch = batch;
    let t0 = performance.now();
    const a = model.run(x, 500, classes);
    const ta = performance.now() - t0;
    model.planBatch = shipped;
    t0 = performance.now();
    const b = new Float32Array(batch * N);
    for (let i = 0; i < batch; i++) b.set(model.run(x.subarray(i * N, (i + 1) * N), 500, classes.subarray(i, i + 1)), i * N);
    const tb = performance.now() - t0;
    if (r > 0) { whole.push(ta); split.push(tb); }
    for (let i = 0; i < a.length; i++) diff = Math.max(diff, Math.abs(a[i] - b[i]));
  }
  model.free();
  if (process.env.ORT === '1') {
    const ort = await import('onnxruntime-web');
    ort.env.wasm.numThreads = 1;
    const session = await ort.InferenceSession.create(onnx, { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
    const feeds = {
      x: new ort.Tensor('float32', x, [batch, 1, 28, 28]),
      t: new ort.Tensor('float32', new Float32Array(batch).fill(500), [batch]),
      class: new ort.Tensor('int64', BigInt64Array.from(classes, (c) => BigInt(c)), [batch]),
    };
    const times = [];
    for (let r = 0; r <= REPEATS + 1; r++) {
      const t0 = performance.now();
      await session.run(feeds);
      if (r > 1) times.push(performance.now() - t0);
    }
    console.log(`onnxruntime-web ${ort.env.versions?.web ?? ''} wasm EP, 1 thread, batch ${batch}: ` +
      `${median(times).toFixed(1)} ms [${times.map((v) => v.toFixed(0)).join(' ')}]`);
  }
  console.log(`split check, batch ${batch}: Model.run of the batch ${median(whole).toFixed(1)} ms [${whole.map((v) => v.toFixed(0)).join(' ')}], ` +
    `as ${batch} batch-1 runs ${median(split).toFixed(1)} ms [${split.map((v) => v.toFixed(0)).join(' ')}] ` +
    `(medians of ${REPEATS}; max |difference| ${diff.toExponential(1)})\n`);
}

console.log(`## wasm tract, node ${process.version} (V8 ${process.versions.v8}), ${process.execArgv.join(' ')}, simd ${dpm.simdEnabled()}, ${PKG}`);
for (const batch of BATCHES) {
  dpm.profileUnet(onnx, batch, 1); // warm-up: compiles every path the plan takes
  const p = dpm.profileUnet(onnx, batch, REPEATS, TOP);
  console.log(`## wasm, batch ${batch}`);
  console.log(p.table);
  const nat = native.find((n) => n.batch === batch);
  if (nat) compare(nat, p);
  if (batch > 1) await splitCheck(batch);
}
