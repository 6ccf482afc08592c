// Browser test of the demo in headless Debian Chromium (playwright-core): load, a 10-NFE
// generation for one class, samples differ between seeds, compare mode, the error-vs-NFE chart,
// cancel, and the in-page messages for a missing wasm, a broken model and no wasm SIMD.
// Any console error on the main page fails the test. Writes target/www-demo.png and prints timings.
import test from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, mkdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '../..');
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const TIMEOUT = 240_000;

let server, base, browser, profile;

test.before(async () => {
  server = spawn(process.execPath, [path.join(ROOT, 'www/serve.mjs'), '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  base = await new Promise((resolve, reject) => {
    server.stdout.on('data', (d) => { const m = /http:\/\/127\.0\.0\.1:\d+\//.exec(String(d)); if (m) resolve(m[0]); });
    server.on('exit', (c) => reject(new Error(`server exited ${c}`)));
  });
  profile = await mkdtemp(path.join(os.tmpdir(), 'dpm-chromium-'));
  // A fresh profile (--user-data-dir) per run, passed the way playwright wants it.
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
});

test.after(async () => {
  await browser?.close();
  server?.kill();
  if (profile) await rm(profile, { recursive: true, force: true });
});

async function canvasStats(page, id) {
  return page.evaluate((id) => {
    const c = document.getElementById(id);
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let bright = 0, sum = 0, sum2 = 0; const n = d.length / 4;
    for (let i = 0; i < d.length; i += 4) { const v = d[i]; sum += v; sum2 += v * v; if (v > 128) bright++; }
    let h = 0; for (let i = 0; i < d.length; i += 4) h = (h * 31 + d[i]) >>> 0;
    return { w: c.width, h: c.height, bright: bright / n, std: Math.sqrt(sum2 / n - (sum / n) ** 2), hash: h };
  }, id);
}

async function generate(page, { seed, compare = false }) {
  const before = await page.evaluate(() => window.demo.runs.length);
  await page.fill('#seed', String(seed));
  await page.setChecked('#compare', compare);
  const t0 = Date.now();
  await page.click('#generate');
  const want = before + (compare ? 2 : 1);
  await page.waitForFunction((n) => window.demo.runs.length >= n && !window.demo.busy, want, { timeout: TIMEOUT });
  return { ms: Date.now() - t0, runs: await page.evaluate((b) => window.demo.runs.slice(b), before) };
}

test('demo: generate, seeds, compare, chart, cancel, screenshot', { timeout: 900_000 }, async () => {
  const page = await browser.newPage();
  await page.setViewportSize({ width: 1150, height: 1250 });
  const errors = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(String(e)));

  const tLoad = Date.now();
  await page.goto(base);
  await page.waitForFunction(() => window.demo.ready || window.demo.errors.length, null, { timeout: TIMEOUT });
  assert.deepEqual(await page.evaluate(() => window.demo.errors), []);
  const loadMs = Date.now() - tLoad;

  // 10-NFE DPM-Solver++(2M) batch of 16 for class 7.
  await page.selectOption('#solver', 'pp2m');
  await page.selectOption('#class', '7');
  await page.fill('#steps', '10');
  await page.fill('#batch', '16');
  await page.fill('#guidance', '2');
  const first = await generate(page, { seed: 1 });
  const firstBatchMs = Date.now() - tLoad;
  assert.equal(first.runs[0].nfe, 10);
  const s1 = await canvasStats(page, 'canvasA');
  assert.ok(s1.w > 100 && s1.h > 100, `canvas size ${s1.w}x${s1.h}`);
  assert.ok(s1.std > 30 && s1.bright > 0.03 && s1.bright < 0.6, `canvas looks blank: ${JSON.stringify(s1)}`);
  assert.match(await page.textContent('#captionA'), /10 NFE/);

  const times = [];
  const second = await generate(page, { seed: 2 });
  times.push(second.ms);
  const s2 = await canvasStats(page, 'canvasA');
  assert.notEqual(s2.hash, s1.hash, 'seed 2 draws the same samples as seed 1');
  assert.notEqual(second.runs[0].checksum, first.runs[0].checksum);
  const again = await generate(page, { seed: 1 });
  times.push(again.ms);
  assert.equal(again.runs[0].checksum, first.runs[0].checksum, 'same seed, same samples');

  // Compare mode: DPM-Solver++(2M) vs DDIM, same seed and NFE.
  await page.selectOption('#solver2', 'ddim');
  const cmp = await generate(page, { seed: 3, compare: true });
  assert.deepEqual(cmp.runs.map((r) => [r.panel, r.solver, r.nfe]), [['A', 'pp2m', 10], ['B', 'ddim', 10]]);
  const a = await canvasStats(page, 'canvasA'), b = await canvasStats(page, 'canvasB');
  assert.ok(b.std > 30 && b.bright > 0.03, `compare canvas blank: ${JSON.stringify(b)}`);
  assert.notEqual(a.hash, b.hash);
  assert.ok(await page.isVisible('#canvasB'));
  assert.equal(await page.isDisabled('#spacing'), false);

  // diffusers' schedulers through the Sampler's `scheduler` option: UniPC vs 2M SDE, 8 NFE.
  await page.selectOption('#solver', 'unipc');
  await page.selectOption('#solver2', 'pp2m_sde');
  await page.fill('#steps', '8');
  const dif = await generate(page, { seed: 3, compare: true });
  assert.deepEqual(dif.runs.map((r) => [r.panel, r.solver, r.nfe]), [['A', 'unipc', 8], ['B', 'pp2m_sde', 8]]);
  for (const c of ['canvasA', 'canvasB']) {
    const st = await canvasStats(page, c);
    assert.ok(st.std > 30 && st.bright > 0.03 && st.bright < 0.6, `${c} (diffusers) looks blank: ${JSON.stringify(st)}`);
  }
  assert.equal(await page.isDisabled('#spacing'), true, "spacing does not apply to diffusers' schedulers");
  assert.match(await page.textContent('#captionA'), /UniPC.*8 NFE/);
  await page.selectOption('#solver', 'pp2m');
  await page.fill('#steps', '10');

  // Error-vs-NFE chart, small: 3 solvers x 2 NFE, batch 2.
  await page.fill('#chartNfe', '4,8');
  await page.fill('#chartBatch', '2');
  await page.$$eval('#chartSolvers input', (els) => els.forEach((e) => { e.checked = ['ddim', 'pp2m', 'unipc'].includes(e.value); }));
  await page.click('#chartRun');
  await page.waitForFunction(() => window.demo.chart.length >= 6 && !window.demo.busy, null, { timeout: TIMEOUT });
  const chart = await page.evaluate(() => window.demo.chart.map((p) => [p.solver, p.nfe, p.err]));
  for (const [, , err] of chart) assert.ok(err > 0 && err <= 2, `chart: ${JSON.stringify(chart)}`);
  const err = Object.fromEntries(chart.map(([s, n, e]) => [`${s}@${n}`, e]));
  assert.ok(err['pp2m@8'] < err['ddim@8'], `DPM-Solver++ should beat DDIM at 8 NFE: ${JSON.stringify(err)}`);
  assert.ok(err['unipc@8'] < err['ddim@8'], `UniPC should beat DDIM at 8 NFE: ${JSON.stringify(err)}`);
  assert.equal(await page.locator('#chart polyline').count(), 3);

  await mkdir(path.join(ROOT, 'target'), { recursive: true });
  const shot = path.join(ROOT, 'target/www-demo.png');
  await page.screenshot({ path: shot, fullPage: true });

  // Cancel a 50-step run after its first steps.
  await page.setChecked('#compare', false);
  await page.fill('#steps', '50');
  await page.click('#generate');
  await page.waitForFunction(() => document.getElementById('status').textContent.includes('NFE'), null, { timeout: TIMEOUT });
  await page.click('#cancel');
  await page.waitForFunction(() => !window.demo.busy, null, { timeout: 30_000 });
  assert.match(await page.textContent('#status'), /cancelled/);
  assert.equal(await page.isDisabled('#generate'), false);

  assert.deepEqual(errors, [], 'console errors');
  const median = (v) => { const s = [...v].sort((x, y) => x - y), m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
  console.log(`# page load to ready: ${loadMs} ms; page load to first finished batch (10 NFE, batch 16, guided): ${firstBatchMs} ms`);
  console.log(`# generation (10 NFE, batch 16, guided = 32 images per evaluation): ${times.join(', ')} ms, median ${median(times)} ms`);
  console.log(`# chart: ${JSON.stringify(chart)}`);
  console.log(`# screenshot: ${shot}`);
  await page.close();
});

async function messageFor(setup, query = '') {
  const page = await browser.newPage();
  await setup(page);
  await page.goto(base + query);
  await page.waitForFunction(() => !document.getElementById('message').hidden, null, { timeout: TIMEOUT });
  const text = await page.textContent('#message');
  await page.close();
  return text;
}

test('in-page messages: broken model, missing wasm, no wasm SIMD', { timeout: 600_000 }, async () => {
  const broken = await messageFor((p) => p.route('**/models/unet.onnx', (r) => r.fulfill({ body: Buffer.from('not an onnx model') })));
  assert.match(broken, /model could not be loaded: .*ONNX/);
  const nowasm = await messageFor((p) => p.route('**/*.wasm', (r) => r.fulfill({ status: 404, body: 'gone' })));
  assert.match(nowasm, /WebAssembly module could not be loaded/);
  const nosimd = await messageFor((p) => p.addInitScript(() => { WebAssembly.validate = () => false; }));
  assert.match(nosimd, /does not support WebAssembly SIMD/);
});

test('your own model: file input, ?model=URL, and a clear message for one that does not fit', { timeout: 600_000 }, async () => {
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(base);
  await page.waitForFunction(() => window.demo.ready, null, { timeout: TIMEOUT });
  const models = path.join(ROOT, 'wasm/tests/models');

  // A diffusers-style export without metadata, with its scheduler_config.json (Python's JSON).
  await page.setInputFiles('#modelFile', [path.join(models, 'diffusers_style.onnx'), path.join(models, 'diffusers_style.scheduler_config.json')]);
  await page.waitForFunction(() => window.demo.ready && window.demo.modelName === 'diffusers_style.onnx', null, { timeout: TIMEOUT });
  const m = await page.evaluate(() => window.demo.metadata);
  assert.deepEqual([m.channels, m.height, m.width, m.numClasses, m.inputNames], [1, 8, 8, 0, ['sample', 'timestep']]);
  assert.deepEqual(await page.$$eval('#class option', (o) => o.map((x) => x.value)), ['uncond']);
  assert.equal(await page.isDisabled('#guidance'), true, 'guidance is disabled for an unconditional model');
  assert.match(await page.textContent('#title'), /diffusers_style\.onnx/);
  await page.selectOption('#solver', 'pp2m');
  await page.fill('#steps', '5');
  await page.fill('#batch', '4');
  const own = await generate(page, { seed: 1 });
  assert.equal(own.runs[0].nfe, 5);
  const st = await canvasStats(page, 'canvasA');
  assert.ok(st.w >= 16 && st.w < 60, `a 2x2 grid of 8x8 images: ${st.w}`);

  // One that does not fit: a clear message, and the previous model stays usable.
  await page.setInputFiles('#modelFile', path.join(models, 'bad_output.onnx'));
  await page.waitForFunction(() => !document.getElementById('message').hidden, null, { timeout: TIMEOUT });
  assert.match(await page.textContent('#message'), /model could not be loaded: .*"eps" has shape .*shape of the input image/);
  await page.waitForFunction(() => window.demo.ready && !window.demo.busy, null, { timeout: TIMEOUT });
  assert.equal(await page.evaluate(() => window.demo.modelName), 'diffusers_style.onnx');
  await generate(page, { seed: 2 });
  // Missing facts are named.
  await page.setInputFiles('#modelFile', path.join(models, 'diffusers_style.onnx'));
  await page.waitForFunction(() => /prediction_type/.test(document.getElementById('message').textContent), null, { timeout: TIMEOUT });
  assert.match(await page.textContent('#message'), /does not say prediction_type.*MODEL\.md/);
  await page.close();

  // ?model=URL: the second committed model (class-conditional, 4 named classes).
  const p2 = await browser.newPage();
  p2.on('pageerror', (e) => errors.push(String(e)));
  await p2.goto(base + '?model=models/tiny.onnx');
  await p2.waitForFunction(() => window.demo.ready || window.demo.errors.length, null, { timeout: TIMEOUT });
  assert.deepEqual(await p2.evaluate(() => window.demo.errors), []);
  assert.deepEqual(await p2.$$eval('#class option', (o) => o.map((x) => x.textContent)), ['mixed (all 4)', 'north', 'east', 'south', 'west', 'unconditional']);
  assert.equal(await p2.textContent('#title'), 'Tiny random-weight test net (1x8x8, 4 classes)');
  assert.match(await p2.textContent('#description'), /loader tests only/);
  assert.equal(await p2.isDisabled('#guidance'), false);
  await p2.fill('#steps', '4');
  await p2.fill('#batch', '2');
  assert.equal((await generate(p2, { seed: 1 })).runs[0].nfe, 4);
  await p2.close();

  const missing = await messageFor(() => {}, '?model=models/nope.onnx');
  assert.match(missing, /model could not be loaded: could not fetch the model: HTTP 404/);
  assert.deepEqual(errors, []);
});

test('draw() paints into a canvas, a 2d context and an OffscreenCanvas', { timeout: 120_000 }, async () => {
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(base + 'index.html?nodraw');
  const r = await page.evaluate(async () => {
    const m = await import('./pkg/dpm_solver.js');
    await m.default();
    const imgs = new Float32Array(5 * 784).map((_, i) => ((i % 784) < 392 ? 1 : -1));
    const lit = (ctx, w, h) => { const d = ctx.getImageData(0, 0, w, h).data; let n = 0; for (let i = 0; i < d.length; i += 4) n += d[i] > 128; return n; };
    const c = document.createElement('canvas');
    const size = m.draw(c, imgs, { height: 28, width: 28, gap: 1, scale: 2 });
    const c2 = document.createElement('canvas'); c2.width = 100; c2.height = 100;
    m.draw(c2.getContext('2d'), imgs.subarray(0, 784), { height: 28, width: 28, x: 10, y: 10 });
    const oc = new OffscreenCanvas(1, 1);
    m.draw(oc, imgs, { height: 28, width: 28, columns: 5 });
    let bad = '';
    try { m.draw(c, imgs, { height: 28 }); } catch (e) { bad = `${e instanceof Error}: ${e.message}`; }
    return { size, canvas: [c.width, c.height, lit(c.getContext('2d'), c.width, c.height)],
      ctx: lit(c2.getContext('2d'), 100, 100), offscreen: [oc.width, oc.height, lit(oc.getContext('2d'), oc.width, oc.height)], bad };
  });
  assert.deepEqual(r.size, { width: 3 * 56 + 4, height: 2 * 56 + 3 });
  assert.deepEqual(r.canvas, [172, 115, 5 * 392 * 4]);
  assert.equal(r.ctx, 392);
  assert.deepEqual(r.offscreen, [140, 28, 5 * 392]);
  assert.match(r.bad, /^true: dpm-solver: invalid option: layout.width is required/);
  assert.deepEqual(errors, []);
  await page.close();
});

test('the flow-matching demo model: ?demo=flow, its presets, and the model choice', { timeout: 600_000 }, async () => {
  const page = await browser.newPage();
  const errors = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(base + '?demo=flow');
  await page.waitForFunction(() => window.demo.ready || window.demo.errors.length, null, { timeout: TIMEOUT });
  assert.deepEqual(await page.evaluate(() => window.demo.errors), []);
  const m = await page.evaluate(() => window.demo.metadata);
  assert.deepEqual([m.prediction, m.schedule.type, m.numClasses], ['flow', 'flow', 10]);
  assert.equal(await page.inputValue('#demoModel'), 'flow');
  assert.match(await page.textContent('#title'), /rectified flow/);
  assert.equal(await page.isHidden('#resetModel'), true);
  // FlowMatchEuler is offered for the flow model (and not for the DDPM one, below).
  assert.equal(await page.$eval('#solver option[value="euler_flow"]', (o) => o.disabled), false);
  assert.equal(await page.isVisible('#chartSolvers input[value="euler_flow"]'), true);

  await page.selectOption('#class', '7');
  await page.fill('#steps', '10');
  await page.fill('#batch', '8');
  await page.fill('#guidance', '2');
  for (const solver of ['euler_flow', 'pp2m', 'unipc']) {
    await page.selectOption('#solver', solver);
    const g = await generate(page, { seed: 1 });
    assert.deepEqual([g.runs[0].solver, g.runs[0].nfe], [solver, 10]);
    const st = await canvasStats(page, 'canvasA');
    // Digits: a dark background with some bright strokes (noise would be ~50 % bright).
    assert.ok(st.std > 30 && st.bright > 0.03 && st.bright < 0.35, `${solver}: not digits: ${JSON.stringify(st)}`);
  }

  // Back to the DDPM demo model through the model choice: its presets only.
  await page.selectOption('#demoModel', 'default');
  await page.waitForFunction(() => window.demo.ready && window.demo.modelName === 'default', null, { timeout: TIMEOUT });
  assert.equal(await page.evaluate(() => window.demo.metadata.prediction), 'noise');
  assert.equal(await page.$eval('#solver option[value="euler_flow"]', (o) => o.disabled), true);
  assert.equal(await page.isVisible('#chartSolvers input[value="euler_flow"]'), false, 'the flow-only preset is offered in the chart');
  assert.notEqual(await page.inputValue('#solver'), 'euler_flow');
  await page.fill('#steps', '5');
  assert.equal((await generate(page, { seed: 1 })).runs[0].nfe, 5);
  assert.deepEqual(errors, []);
  await page.close();
});

test('worker pool: the same images for 1, 2 and 3 workers; one abort stops every shard', { timeout: 600_000 }, async () => {
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(base);
  await page.waitForFunction(() => window.demo.ready, null, { timeout: TIMEOUT });
  const r = await page.evaluate(async () => {
    const { createWorker } = await import('./pkg/worker.js');
    const model = new Uint8Array(await (await fetch('./models/unet.onnx')).arrayBuffer());
    const runs = [
      { batch: 5, class: [0, 1, 2, 3, 4], guidance: 2, steps: 4, seed: 3 },
      { batch: 4, class: 7, steps: 3, seed: 9, scheduler: 'DPMSolverMultistepScheduler', schedulerConfig: { algorithm_type: 'sde-dpmsolver++' } },
      { batch: 3, steps: 3, seed: 1, firstImage: 5, scheduler: 'UniPCMultistepScheduler', schedulerConfig: {} },
    ];
    const hash = (a) => { let h = 0; const u = new Uint32Array(a.buffer, a.byteOffset, a.length); for (const v of u) h = (Math.imul(h, 31) + v) >>> 0; return h; };
    const out = {};
    for (const workers of [1, 2, 3]) {
      const w = createWorker({ model, workers });
      await w.ready;
      out[workers] = [];
      for (const o of runs) {
        let preview = null; const steps = [];
        const g = await w.generate(o, { preview: { columns: 3, gap: 1, scale: 2 }, onPreview: (p) => { preview = p; }, onProgress: (p) => steps.push(p.nfe) });
        out[workers].push({ images: hash(g.images), n: g.images.length, labels: g.labels, nfe: g.nfe, batch: g.batch,
          preview: [preview.width, preview.height, hash(new Uint32Array(preview.data.buffer))], steps });
      }
      // Abort after the first evaluation: every shard stops, the promise rejects with AbortError.
      const ac = new AbortController();
      const t0 = performance.now();
      let settled = false, late = 0;
      const p = w.generate({ batch: 6, steps: 50, class: 1, guidance: 2 }, {
        signal: ac.signal, onProgress: () => { if (settled) late++; ac.abort(); },
      });
      const err = await p.then(() => null, (e) => e);
      settled = true;
      const ms = performance.now() - t0;
      // Progress still in flight from the other shards must not be reported after the rejection.
      await new Promise((r) => setTimeout(r, 500));
      out[workers].push({ abort: err?.name, ms, late });
      // The pool still works after an abort.
      const again = await w.generate(runs[0]);
      out[workers].push({ again: hash(again.images) === out[workers][0].images });
      w.terminate();
    }
    // The image i of a 5-image batch equals the single image generated with firstImage i.
    const w = createWorker({ model });
    const whole = await w.generate({ batch: 5, class: 2, steps: 3, seed: 4 });
    const third = await w.generate({ batch: 1, class: 2, steps: 3, seed: 4, firstImage: 2 });
    const L = third.images.length;
    const same = whole.images.slice(2 * L, 3 * L).every((v, i) => v === third.images[i]);
    w.terminate();
    return { out, same };
  });
  for (const k of ['2', '3']) {
    for (let i = 0; i < 3; i++) assert.deepEqual(r.out[k][i], r.out['1'][i], `${k} workers, run ${i}: not the images/preview of one worker`);
    assert.equal(r.out[k][3].abort, 'AbortError');
    assert.equal(r.out[k][3].late, 0, `${k} workers: progress reported after the abort's rejection`);
    assert.deepEqual(r.out[k][4], { again: true });
  }
  assert.equal(r.out['1'][3].abort, 'AbortError');
  assert.equal(r.out['1'][3].late, 0, '1 worker: progress reported after the abort\'s rejection');
  assert.ok(r.same, 'firstImage 2 does not reproduce image 2 of the batch');
  console.log(`pool abort after one evaluation (ms): ${[1, 2, 3].map((k) => r.out[k][3].ms.toFixed(0)).join(', ')}`);
  assert.deepEqual(errors, []);
  await page.close();
});
