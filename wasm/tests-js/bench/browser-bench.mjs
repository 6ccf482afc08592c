// The eval / generation workloads of bench.mjs inside headless Chromium (main thread of a
// blank page): ours (wasm SIMD) vs onnxruntime-web's wasm backend (1 thread).
// Needs target/pkg/web built, `npm ci` here and in www/tests (playwright-core), /usr/bin/chromium.
// Usage (repository root): node wasm/tests-js/bench/browser-bench.mjs [repeats]
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
const REPEATS = Number(process.argv[2] ?? 5);
const TYPES = { '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm', '.html': 'text/html' };

const PAGE = `<!doctype html><meta charset="utf-8"><script type="module">
import init, * as dpm from '/target/pkg/web/dpm_solver.js';
import * as ort from '/wasm/tests-js/bench/node_modules/onnxruntime-web/dist/ort.wasm.min.mjs';
window.run = async (REPEATS) => {
  await init();
  const onnx = new Uint8Array(await (await fetch('/www/models/unet.onnx')).arrayBuffer());
  const B = 16, N = 784, med = (v) => { const s = [...v].sort((a, b) => a - b), m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
  const time = async (fn, warm, reps) => { for (let i = 0; i < warm; i++) await fn(); const t = []; for (let i = 0; i < reps; i++) { const t0 = performance.now(); await fn(); t.push(performance.now() - t0); } return t; };
  const out = {};
  const model = new dpm.Model(onnx);
  const x = dpm.gaussianNoise(0, B * N), cls = Int32Array.from({ length: B }, (_, i) => i % 10);
  out.oursEval = await time(() => model.run(x, 500, cls), 2, 10);
  const opts = { seed: 0, batch: B, class: 7, guidance: 2, steps: 10, spacing: 'logSNR' };
  out.oursGen = await time(() => model.generate(opts), 1, REPEATS);
  ort.env.wasm.numThreads = 1;
  ort.env.wasm.wasmPaths = '/wasm/tests-js/bench/node_modules/onnxruntime-web/dist/';
  const s = await ort.InferenceSession.create(onnx, { executionProviders: ['wasm'] });
  const orun = async (xx, t, c) => (await s.run({ x: new ort.Tensor('float32', xx, [t.length, 1, 28, 28]), t: new ort.Tensor('float32', t, [t.length]),
    class: new ort.Tensor('int64', BigInt64Array.from(c, BigInt), [t.length]) })).eps.data;
  out.ortEval = await time(() => orun(x, new Float32Array(B).fill(500), Array.from(cls)), 2, 10);
  out.ortGen = await time(async () => {
    const xT = new Float32Array(B * N); for (let i = 0; i < B; i++) xT.set(dpm.gaussianNoise(0, N, i), i * N);
    const sm = new dpm.Sampler({ schedule: model.metadata.schedule, steps: 10, spacing: 'logSNR', batch: B, guidance: { type: 'classifier-free', scale: 2 } }, xT);
    const c = [...new Array(B).fill(7), ...new Array(B).fill(10)], xin = new Float32Array(2 * B * N);
    let r; while ((r = sm.ask())) { xin.set(r.x); xin.set(r.x, B * N); const o = await orun(xin, new Float32Array(2 * B).fill(r.tModel), c); sm.tellCfg(o.subarray(0, B * N), o.subarray(B * N)); }
    sm.free();
  }, 1, REPEATS);
  for (const k of Object.keys(out)) out[k] = { median: med(out[k]), runs: out[k].map((v) => Math.round(v)) };
  return out;
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
  const r = await page.evaluate((n) => window.run(n), REPEATS);
  console.log(`Chromium ${ctx.browser()?.version() ?? ''}`);
  for (const [k, v] of Object.entries(r)) console.log(`${k.padEnd(9)} median ${v.median.toFixed(0)} ms  [${v.runs.join(' ')}]`);
} finally {
  await ctx.close();
  server.close();
  await rm(profile, { recursive: true, force: true });
}
