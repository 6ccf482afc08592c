// The wasm matrix-product tiles against each other, in headless Chromium, one page, one run:
// for every package build in PKGS (built with FEATURES=profile, which exports setTractKnob and
// profileUnet) and every f32 GEMM kernel in KERNELS (tract-linalg's knob TRACT_WASM_F32_GEMM,
// vendor/tract-linalg), the per-image evaluation time of the demo UNet and the GFLOP/s of its
// matrix products; onnxruntime-web (wasm EP, 1 thread) on the same page for scale.
// Any other tract knob the same way: KNOB=name VALUES=a,b (e.g. KNOB=TRACT_LAZY_IM2COL_FOLD_PAD
// VALUES=false,true); a build that does not know the knob gets one row, "(no knob)". The Silu,
// Pad and LazyIm2col columns: those op types' time in the batch-1 profile.
//
// Per image evaluation: `Model.run` of a batch of 16 (the pipeline runs it image by image through
// the batch-1 plan), divided by 16; onnxruntime-web: its batch-16 run divided by 16. The configs
// are timed in interleaved rounds (each round times every config `reps` times), so drift of the
// machine hits them alike. GFLOP/s: `profileUnet` at batch 1 (medians of 10), OptMatMul nodes.
//
// Usage (repository root; needs npm ci here and in www/tests, /usr/bin/chromium):
//   FEATURES=profile SAMPLER=0 RELAXED=0 PKG_OUT=target/pkg-k-simd bash wasm/tests-js/build-package.sh
//   SIMD=relaxed FEATURES=profile SAMPLER=0 PKG_OUT=target/pkg-k-relaxed CARGO_TARGET_DIR=<another> bash wasm/tests-js/build-package.sh
//   PKGS=target/pkg-k-simd/web,target/pkg-k-relaxed/web node wasm/tests-js/bench/kernel-bench.mjs [rounds] [reps]
import http from 'node:http';
import { createReadStream, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const require = createRequire(path.join(ROOT, 'www/tests/package.json'));
const { chromium } = require('playwright-core');
const ROUNDS = Number(process.argv[2] ?? 5);
const REPS = Number(process.argv[3] ?? 3);
const PKGS = (process.env.PKGS ?? 'target/pkg-k-simd/web,target/pkg-k-relaxed/web').split(',');
const KNOB = process.env.KNOB ?? 'TRACT_WASM_F32_GEMM';
const KERNELS = (process.env.VALUES ?? process.env.KERNELS ?? 'wasm_f32_8x8,wasm_f32_4x8,wasm_f32_2x16,wasm_f32_4x16').split(',');
const TYPES = { '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm', '.html': 'text/html' };

const PAGE = `<!doctype html><meta charset="utf-8"><script type="module">
import * as ort from '/wasm/tests-js/bench/node_modules/onnxruntime-web/dist/ort.wasm.min.mjs';
window.run = async ({ PKGS, KNOB, KERNELS, ROUNDS, REPS }) => {
  const onnx = new Uint8Array(await (await fetch('/www/models/unet.onnx')).arrayBuffer());
  const B = 16, N = 784, med = (v) => { const s = [...v].sort((a, b) => a - b), m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
  const configs = [];
  let x, cls;
  for (const pkg of PKGS) {
    const dpm = await import('/' + pkg + '/dpm_solver.js');
    await dpm.default({ module_or_path: '/' + pkg + '/dpm_solver_bg.wasm' });
    x ??= dpm.gaussianNoise(0, B * N); cls ??= Int32Array.from({ length: B }, (_, i) => i % 10);
    for (const k of KERNELS) {
      const known = dpm.setTractKnob(KNOB, k);
      if (!known && k !== KERNELS[0]) continue;
      const p = dpm.profileUnet(onnx, 1, 10, 0);
      const mm = p.ops.find((o) => o.op === 'OptMatMul');
      const opMs = (name) => p.ops.find((o) => o.op === name)?.ms ?? 0;
      const model = new dpm.Model(onnx);
      for (let i = 0; i < 2; i++) model.run(x, 500, cls);
      configs.push({ name: pkg.split('/').slice(-2, -1)[0] + ' ' + (known ? k : '(no knob)'), silu: opMs('Silu'), pad: opMs('Pad'), lazy: opMs('LazyIm2col'), relaxed: dpm.relaxedSimdEnabled ? dpm.relaxedSimdEnabled() : null,
        run: () => model.run(x, 500, cls), times: [], matmulMs: mm.ms, gflops: 2 * mm.fma / mm.ms / 1e6, nodesMs: p.nodesMs, out: model.run(x, 500, cls) });
    }
  }
  ort.env.wasm.numThreads = 1;
  ort.env.wasm.wasmPaths = '/wasm/tests-js/bench/node_modules/onnxruntime-web/dist/';
  const s = await ort.InferenceSession.create(onnx, { executionProviders: ['wasm'] });
  const feeds = { x: new ort.Tensor('float32', x, [B, 1, 28, 28]), t: new ort.Tensor('float32', new Float32Array(B).fill(500), [B]),
    class: new ort.Tensor('int64', BigInt64Array.from(cls, BigInt), [B]) };
  for (let i = 0; i < 2; i++) await s.run(feeds);
  const ortOut = (await s.run(feeds)).eps.data;
  configs.push({ name: 'onnxruntime-web 1 thread', run: () => s.run(feeds), times: [], out: ortOut });
  for (let r = 0; r < ROUNDS; r++) {
    for (const c of configs) {
      for (let i = 0; i < REPS; i++) { const t0 = performance.now(); await c.run(); c.times.push(performance.now() - t0); }
    }
  }
  const ref = configs[0].out;
  return configs.map((c) => {
    let d = 0; for (let i = 0; i < ref.length; i++) d = Math.max(d, Math.abs(c.out[i] - ref[i]));
    return { name: c.name, relaxed: c.relaxed, perImage: med(c.times) / B, runs: c.times.map((v) => Math.round(v)),
      matmulMs: c.matmulMs, gflops: c.gflops, nodesMs: c.nodesMs, silu: c.silu, pad: c.pad, lazy: c.lazy, maxDiff: d };
  });
};
window.ready = true;
</script>`;

const server = http.createServer((req, res) => {
  const p = decodeURIComponent(new URL(req.url, 'http://x').pathname);
  if (p === '/') { res.writeHead(200, { 'content-type': 'text/html' }); return res.end(PAGE); }
  const f = path.join(ROOT, path.normalize(p));
  try { const st = statSync(f); res.writeHead(200, { 'content-type': TYPES[path.extname(f)] ?? 'application/octet-stream', 'content-length': st.size }); createReadStream(f).pipe(res); }
  catch { res.writeHead(404); res.end(); }
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const profile = await mkdtemp(path.join(os.tmpdir(), 'dpm-bench-'));
const ctx = await chromium.launchPersistentContext(profile, { executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'] });
try {
  const page = await ctx.newPage();
  page.on('console', (m) => m.type() === 'error' && console.error('console:', m.text()));
  await page.goto(`http://127.0.0.1:${server.address().port}/`);
  await page.waitForFunction(() => window.ready);
  const rows = await page.evaluate((a) => window.run(a), { PKGS, KNOB, KERNELS, ROUNDS, REPS });
  const ortRow = rows[rows.length - 1];
  console.log(`Chromium ${ctx.browser()?.version() ?? ''}; ${ROUNDS} rounds x ${REPS} runs of a 16-image evaluation per config`);
  console.log(`knob ${KNOB}`);
  console.log('| build, knob value | per image (median) | vs onnxruntime-web | matmul ms, batch 1 | matmul GFLOP/s | Silu ms | Pad ms | LazyIm2col ms | nodes ms, batch 1 | max abs diff vs first row |');
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  const f = (v, d = 2) => v?.toFixed(d) ?? '-';
  for (const r of rows) {
    console.log(`| ${r.name} | ${r.perImage.toFixed(2)} ms | ${(r.perImage / ortRow.perImage).toFixed(2)}x | ${f(r.matmulMs)} | ${f(r.gflops, 1)} | ${f(r.silu)} | ${f(r.pad)} | ${f(r.lazy)} | ${f(r.nodesMs)} | ${r.maxDiff.toExponential(1)} |`);
  }
  for (const r of rows) console.log(`${r.name}: runs (16 images, ms) [${r.runs.join(' ')}]`);
} finally {
  await ctx.close();
  server.close();
  await rm(profile, { recursive: true, force: true });
}
