// The packed package as a web developer uses it (run by .ci/test-npm.sh in the scratch folder
// where the tarball, vite, webpack, onnxruntime-web and playwright-core are installed and the
// apps are built): the Vite and webpack builds of web-app/ and the onnxruntime-web example,
// each served on 127.0.0.1 and driven in headless Chromium. The images must be the ones
// Node computes (same seed, same wasm), previews must be drawn, and an abort must stop a run
// within one network evaluation. Any console error fails the test.
import test from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { chromium } from 'playwright-core';
import init, { Model, relaxedSimdSupported } from 'dpm-solver';

const HERE = path.resolve('.');
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const TIMEOUT = 300_000;
const MIME = { '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript',
  '.wasm': 'application/wasm', '.onnx': 'application/octet-stream', '.json': 'application/json' };

/** A static file server on 127.0.0.1 for `root`. */
async function serve(root) {
  const server = createServer(async (req, res) => {
    const rel = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    let file = path.join(root, rel);
    if (!file.startsWith(root)) { res.writeHead(403).end(); return; }
    try {
      if ((await stat(file)).isDirectory()) file = path.join(file, 'index.html');
      const body = await readFile(file);
      res.writeHead(200, { 'content-type': MIME[path.extname(file)] ?? 'application/octet-stream',
        'content-length': body.length });
      res.end(body);
    } catch {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
    }
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { server, url: `http://127.0.0.1:${server.address().port}/` };
}

let browser;
const servers = [];
const OPTS = { seed: 1, batch: 4, class: 7, guidance: 2, steps: 10 };
let expected;

test.before(async () => {
  await init();
  const model = new Model(await readFile(path.join(HERE, 'unet.onnx')));
  const g = model.generate(OPTS);
  expected = { sum: g.images.reduce((s, v) => s + v, 0), images: g.images };
  model.free();
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
});

test.after(async () => {
  await browser?.close();
  for (const s of servers) s.server.close();
});

async function open(root, page = '') {
  const s = await serve(path.join(HERE, root));
  servers.push(s);
  const p = await browser.newPage();
  const errors = [];
  p.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  p.on('pageerror', (e) => errors.push(String(e)));
  await p.goto(s.url + page);
  return { p, errors };
}

async function canvasStats(p) {
  return p.evaluate(() => {
    const c = document.getElementById('digits');
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let bright = 0, sum = 0, sum2 = 0;
    const n = d.length / 4;
    for (let i = 0; i < d.length; i += 4) { sum += d[i]; sum2 += d[i] * d[i]; if (d[i] > 128) bright++; }
    return { w: c.width, h: c.height, bright: bright / n, std: Math.sqrt(sum2 / n - (sum / n) ** 2) };
  });
}

for (const app of ['vite-app', 'webpack-app']) {
  test(`${app}: digits from dpm-solver/worker, previews, cancel within one evaluation`, { timeout: TIMEOUT }, async () => {
    const { p, errors } = await open(path.join(app, 'dist'));
    await p.waitForFunction(() => window.app && (window.app.ready || window.app.errors.length), null, { timeout: TIMEOUT });
    assert.deepEqual(await p.evaluate(() => window.app.errors), []);
    assert.equal(await p.evaluate(() => window.app.meta.nullClass), 10);

    const r = await p.evaluate((o) => window.app.generate(o), OPTS);
    assert.equal(r.ok, true, r.message);
    assert.equal(r.nfe, 10);
    assert.deepEqual(r.progress, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    assert.equal(r.previews, 11, 'a preview per step and the final grid');
    assert.deepEqual(r.labels, [7, 7, 7, 7]);
    // Chromium loads the package's relaxed-SIMD build where this Node 20 loads the simd128 one
    // (wasm/README.md): then the images agree up to float rounding; with the same build, bit
    // for bit. relaxedSimdSupported is self-contained, so it runs in the page as it is.
    if ((await p.evaluate(relaxedSimdSupported)) === relaxedSimdSupported()) {
      assert.equal(r.sum, expected.sum, 'the same images as Node');
    } else {
      assert.ok(Math.abs(r.sum - expected.sum) < 1e-2, `the same images as Node up to rounding: sum ${r.sum} vs ${expected.sum}`);
    }
    const c = await canvasStats(p);
    assert.deepEqual([c.w, c.h], [2 * 2 * 28 + 3, 2 * 2 * 28 + 3]); // scale 2, gap 1
    assert.ok(c.bright > 0.04 && c.bright < 0.5 && c.std > 40, `digits drawn: ${JSON.stringify(c)}`);

    // Abort when evaluation 1 reports: the worker stops before evaluation 3 at the latest
    // (evaluation 2 may have started when the message arrives).
    const a = await p.evaluate((o) => window.app.generate(o, 1), { ...OPTS, steps: 20 });
    assert.equal(a.ok, false);
    assert.equal(a.name, 'AbortError', a.message);
    const stopped = Number(/after (\d+) network/.exec(a.message)?.[1]);
    assert.ok(stopped >= 1 && stopped <= 2, `stopped after ${stopped} evaluations: ${a.message}`);
    assert.ok(a.progress.length <= 2, `progress after the abort: ${a.progress}`);
    console.log(`${app}: 10 NFE in ${Math.round(r.ms)} ms; abort took effect ${Math.round(a.stopMs)} ms later, after ${stopped} evaluations`);
    // A pool of two workers from the model's bytes (copied, so the page's buffer stays usable).
    const modelLength = (await readFile(path.join(HERE, 'unet.onnx'))).length;
    assert.deepEqual(await p.evaluate(() => window.app.fromBytes()), { nullClass: 10, nfe: 2, length: modelLength });
    // The worker is usable after a cancel.
    const again = await p.evaluate((o) => window.app.generate(o), { ...OPTS, steps: 2 });
    assert.equal(again.ok, true, again.message);
    assert.deepEqual(errors, []);
    await p.close();
  });
}

test('onnxruntime-web example: Sampler from dpm-solver/sampler drives ORT (wasm EP) in Chromium', { timeout: TIMEOUT }, async () => {
  const { p, errors } = await open('ort', 'index.html?ep=wasm');
  await p.waitForFunction(() => window.result, null, { timeout: TIMEOUT });
  const r = await p.evaluate(() => window.result);
  assert.equal(r.error, undefined);
  assert.equal(r.ep, 'wasm');
  assert.equal(r.nfe, 10);
  let se = 0;
  for (let i = 0; i < r.images.length; i++) se += (r.images[i] - expected.images[i]) ** 2;
  const rms = Math.sqrt(se / r.images.length);
  assert.ok(rms < 0.02, `ORT vs tract images: rms ${rms}`);
  const c = await canvasStats(p);
  assert.ok(c.bright > 0.04 && c.std > 40, `digits drawn: ${JSON.stringify(c)}`);
  assert.deepEqual(errors.filter((e) => !/SharedArrayBuffer|numThreads/.test(e)), []);
  console.log(`onnxruntime-web in Chromium: rms vs dpm-solver's Model ${rms.toExponential(2)}`);
  await p.close();
});
