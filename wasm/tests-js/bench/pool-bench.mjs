// Every core: 16 guided MNIST digits at 10 NFE (DPM-Solver++(2M), logSNR) in headless Chromium,
// ours through the package's worker pool (createWorker({ workers })) at 1, 2 and 4 workers, against
// onnxruntime-web's wasm backend at numThreads 1 and 2 driving the package's Sampler (the page is
// served with COOP/COEP, so crossOriginIsolated and ORT's threads are on; ours need neither).
// Also the time from a cold page to the pool's first finished batch (COLD=n cold pages, medians),
// and where one cold load's time goes, step by step on one thread (COLD_ONLY=1: only these two).
// Needs target/pkg/web built, `npm ci` here and in www/tests (playwright-core), /usr/bin/chromium.
// Usage (repository root): [PKG=target/pkg/web] [COLD=n] [COLD_ONLY=1] node wasm/tests-js/bench/pool-bench.mjs [repeats]
import http from 'node:http';
import os from 'node:os';
import { createReadStream, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const require = createRequire(path.join(ROOT, 'www/tests/package.json'));
const { chromium } = require('playwright-core');
const REPEATS = Number(process.argv[2] ?? 5);
// PKG: the package folder, relative to the repository root (another build, for a before/after run).
const PKG = process.env.PKG ?? 'target/pkg/web';
const TYPES = { '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm', '.html': 'text/html' };

const PAGE = `<!doctype html><meta charset="utf-8"><script type="module">
import init, * as dpm from '/${PKG}/index.js';
import { createWorker } from '/${PKG}/worker.js';
import * as ort from '/wasm/tests-js/bench/node_modules/onnxruntime-web/dist/ort.wasm.min.mjs';
const B = 16, N = 784, OPTS = { seed: 0, batch: B, class: 7, guidance: 2, steps: 10, spacing: 'logSNR' };
const med = (v) => { const s = [...v].sort((a, b) => a - b), m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const time = async (fn, warm, reps) => { for (let i = 0; i < warm; i++) await fn(); const t = []; for (let i = 0; i < reps; i++) { const t0 = performance.now(); await fn(); t.push(performance.now() - t0); } return t; };
window.firstBatch = async (workers) => {
  const t0 = performance.now();
  const w = createWorker({ model: '/www/models/unet.onnx', workers });
  await w.ready;
  const ready = performance.now() - t0;
  await w.generate(OPTS);
  const done = performance.now() - t0;
  w.terminate();
  return { ready, done };
};
// Where a cold load's time goes, one step after the other on the page's thread (what each pool
// worker does, plus the page's own share): fetch and compile the .wasm, instantiate it, fetch the
// model, new Model (parse the ONNX, type it and optimise the batch-1 plan), then the same 16
// guided digits twice (the first includes V8's tier-up of the hot functions).
window.loadSteps = async () => {
  const steps = {};
  let t = performance.now();
  const lap = (k) => { const n = performance.now(); steps[k] = n - t; t = n; };
  const wasmBytes = await (await fetch('/${PKG}/dpm_solver_bg.wasm')).arrayBuffer(); lap('fetch wasm');
  const module = await WebAssembly.compile(wasmBytes); lap('compile wasm');
  await init({ module_or_path: module }); lap('instantiate');
  const onnx = new Uint8Array(await (await fetch('/www/models/unet.onnx')).arrayBuffer()); lap('fetch model');
  const m = new dpm.Model(onnx); lap('new Model (parse + optimise)');
  m.generate(OPTS); lap('first generation, 1 thread');
  m.generate(OPTS); lap('second generation, 1 thread');
  m.free();
  return steps;
};
// onnxruntime-web (wasm EP, \`threads\` threads; one setting per page) driving the package's Sampler.
window.ortGen = async (threads, REPEATS) => {
  const onnx = new Uint8Array(await (await fetch('/www/models/unet.onnx')).arrayBuffer());
  await init();
  const meta = new dpm.Model(onnx).metadata;
  ort.env.wasm.numThreads = threads;
  ort.env.wasm.wasmPaths = '/wasm/tests-js/bench/node_modules/onnxruntime-web/dist/';
  const s = await ort.InferenceSession.create(onnx, { executionProviders: ['wasm'] });
  const orun = async (xx, t, c) => (await s.run({ x: new ort.Tensor('float32', xx, [t.length, 1, 28, 28]), t: new ort.Tensor('float32', t, [t.length]),
    class: new ort.Tensor('int64', BigInt64Array.from(c, BigInt), [t.length]) })).eps.data;
  const t = await time(async () => {
    const xT = new Float32Array(B * N); for (let i = 0; i < B; i++) xT.set(dpm.gaussianNoise(0, N, i), i * N);
    const sm = new dpm.Sampler({ schedule: meta.schedule, steps: 10, spacing: 'logSNR', batch: B, guidance: { type: 'classifier-free', scale: 2 } }, xT);
    const c = [...new Array(B).fill(7), ...new Array(B).fill(10)], xin = new Float32Array(2 * B * N);
    let r; while ((r = sm.ask())) { xin.set(r.x); xin.set(r.x, B * N); const o = await orun(xin, new Float32Array(2 * B).fill(r.tModel), c); sm.tellCfg(o.subarray(0, B * N), o.subarray(B * N)); }
    sm.free();
  }, 1, REPEATS);
  return { median: med(t), runs: t.map((v) => Math.round(v)) };
};
// Ours: the package's worker pool.
window.poolGen = async (workers, REPEATS) => {
  const onnx = new Uint8Array(await (await fetch('/www/models/unet.onnx')).arrayBuffer());
  const w = createWorker({ model: onnx, workers });
  await w.ready;
  const t = await time(() => w.generate(OPTS), 1, REPEATS);
  w.terminate();
  return { median: med(t), runs: t.map((v) => Math.round(v)) };
};
window.ready = true;
</script>`;

const server = http.createServer((req, res) => {
  const p = decodeURIComponent(new URL(req.url, 'http://x').pathname);
  const iso = { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' };
  if (p === '/') { res.writeHead(200, { 'content-type': 'text/html', ...iso }); return res.end(PAGE); }
  const f = path.join(ROOT, path.normalize(p));
  try { const st = statSync(f); res.writeHead(200, { 'content-type': TYPES[path.extname(f)] ?? 'application/octet-stream', 'content-length': st.size, ...iso }); createReadStream(f).pipe(res); }
  catch { res.writeHead(404); res.end(); }
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const profile = await mkdtemp(path.join(os.tmpdir(), 'dpm-bench-'));
const ctx = await chromium.launchPersistentContext(profile, { executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'] });
const url = `http://127.0.0.1:${server.address().port}`;
try {
  const open = async (p) => { const page = await ctx.newPage(); page.on('console', (m) => m.type() === 'error' && console.error('console:', m.text())); await page.goto(url + p); await page.waitForFunction(() => window.ready); return page; };
  // COLD=n: n cold page loads (medians reported); COLD_ONLY=1: only those and the load steps.
  const colds = [];
  let page;
  for (let i = 0; i < Number(process.env.COLD ?? 1); i++) {
    page = await open('/');
    colds.push(await page.evaluate(() => window.firstBatch(Math.min(navigator.hardwareConcurrency, 4))));
    await page.close();
  }
  const median = (v) => { const s = [...v].sort((a, b) => a - b), m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
  const cold = { ready: median(colds.map((c) => c.ready)), done: median(colds.map((c) => c.done)) };
  page = await open('/');
  const steps = await page.evaluate(() => window.loadSteps());
  await page.close();
  // Each configuration on a fresh page, interleaved: ours x1, ORT 1 thread, ours x2, ORT 2 threads, ours x4.
  const r = {};
  if (process.env.COLD_ONLY !== '1') for (const [name, fn, arg] of [['ours x1', 'poolGen', 1], ['ort threads 1', 'ortGen', 1], ['ours x2', 'poolGen', 2],
    ['ort threads 2', 'ortGen', 2], ['ours x4', 'poolGen', 4]]) {
    page = await open('/');
    r.crossOriginIsolated = await page.evaluate(() => crossOriginIsolated);
    r[name] = await page.evaluate(([f, a, n]) => window[f](a, n), [fn, arg, REPEATS]);
    await page.close();
  }
  console.log(`Chromium ${ctx.browser()?.version() ?? ''}, ${os.cpus()[0].model}, ${os.cpus().length} cores, crossOriginIsolated ${r.crossOriginIsolated}`);
  console.log(`16 guided digits at 10 NFE (DPM-Solver++(2M)), median of ${REPEATS} after one warm-up:`);
  for (const [k, v] of Object.entries(r)) if (v.median) console.log(`${k.padEnd(14)} median ${v.median.toFixed(0)} ms  [${v.runs.join(' ')}]`);
  console.log(`load steps on one thread (fresh page): ${Object.entries(steps).map(([k, v]) => `${k} ${v.toFixed(0)} ms`).join(', ')}`);
  console.log(`cold page -> pool ready ${cold.ready.toFixed(0)} ms, first 16 digits ${cold.done.toFixed(0)} ms (workers = min(cores, 4); median of ${colds.length}: ready ${colds.map((c) => c.ready.toFixed(0)).join(' ')}, done ${colds.map((c) => c.done.toFixed(0)).join(' ')})`);
} finally {
  await ctx.close();
  server.close();
  await rm(profile, { recursive: true, force: true });
}
