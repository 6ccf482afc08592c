// Browser test of the WebGPU path: headless Chromium with WebGPU on SwiftShader (Vulkan on the
// CPU), the page served on 127.0.0.1. The demo UNet runs on onnxruntime-web's WebGPU EP with
// the solver step as the package's WGSL plan executor, and must draw the images of the
// package's CPU paths from the same x_T, for DPM-Solver++(2M), UniPC and DDIM (clip_sample on:
// the clamp op), unguided and with classifier-free guidance as one batch: within 1e-4 of the
// ask/tell Sampler on the CPU driving the same WebGPU network, and within 1e-3 of tract in wasm
// (DPM-Solver++: 2e-3, the network's own WebGPU-vs-CPU gap; see TRACT_TOL). Before that, the executor
// alone against the ask/tell Sampler on nine configurations (stand-in network). Prints the
// measured CPU time per step and bytes moved per step.
// SwiftShader's speed means nothing: no timing is asserted.
import test from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { serve } from './serve.mjs';

const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const STEPS = Number(process.env.WEBGPU_TEST_STEPS ?? 5);
const TOL = 1e-3;

let server, browser, page, profile;
const errors = [];

test.before(async () => {
  server = await serve(0);
  profile = await mkdtemp(path.join(os.tmpdir(), 'dpm-webgpu-'));
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-background-networking', '--enable-unsafe-webgpu',
      '--enable-features=Vulkan', '--use-vulkan=swiftshader', '--use-webgpu-adapter=swiftshader',
      '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  page = await browser.newPage();
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(`http://127.0.0.1:${server.address().port}/index.html`);
  await page.waitForFunction(() => document.getElementById('log').textContent !== 'loading...', null, { timeout: 120_000 });
});

test.after(async () => {
  await browser?.close();
  server?.close();
  if (profile) await rm(profile, { recursive: true, force: true });
});

test('SwiftShader exposes a WebGPU adapter and the page loads the model on it', async () => {
  assert.equal(await page.textContent('#log'), 'ready', `page says: ${await page.textContent('#log')}`);
});

test('the plan executor reproduces the ask/tell Sampler (stand-in network, nine configurations)', { timeout: 300_000 }, async () => {
  const rows = await page.evaluate(async () => (await import('./executor-check.js')).checkExecutor());
  for (const r of rows) {
    console.log(`executor ${r.name}: ${r.nfe} NFE, max |gpu - sampler| = ${r.maxDiff.toExponential(2)} (max |x| ${r.scale.toFixed(2)})`);
    assert.equal(r.nfe, r.cpuNfe, r.name);
    assert.ok(r.maxDiff <= 1e-5 * (1 + r.scale), `${r.name}: ${r.maxDiff}`);
  }
  assert.equal(rows.length, 9);
});

test('the step plan executor (adaptive error norm on the GPU) reproduces the ask/tell Sampler (stand-in network)', { timeout: 300_000 }, async () => {
  const rows = await page.evaluate(async () => (await import('./executor-check.js')).checkStepExecutor());
  for (const r of rows) {
    console.log(`step executor ${r.name}: ${r.nfe} NFE, (accepted, rejected) ${r.trials} vs the Sampler's ${r.cpuTrials}, ` +
      `max |gpu - sampler| = ${r.maxDiff.toExponential(2)} (max |x| ${r.scale.toFixed(2)}), max relative |E_gpu - E_cpu| = ${r.maxNormDiff.toExponential(2)}`);
    assert.equal(r.nfe, r.cpuNfe, r.name);
    assert.deepEqual(r.trials, r.cpuTrials, `${r.name}: the same accepted and rejected steps`);
    assert.equal(r.norms, r.cpuNorms, r.name);
    assert.ok(r.maxDiff <= 1e-5 * (1 + r.scale), `${r.name}: ${r.maxDiff}`);
    assert.ok(r.maxNormDiff <= 1e-4, `${r.name}: E differs by ${r.maxNormDiff} (relative)`);
  }
  assert.equal(rows.length, 4);
  assert.ok(rows.some((r) => r.trials[1] > 0), 'a configuration rejects steps');
});

const log = (kind, r) => console.log(`webgpu ${kind}: ${r.nfe} NFE, max |gpu - cpu(tract)| = ${r.maxDiff.toExponential(2)}` +
  (r.planVsRoundTrip === null ? '' : `, |plan - WebGPU model with CPU sampler| = ${r.planVsRoundTrip.toExponential(2)}, |that - tract| = ${r.roundTripVsCpu.toExponential(2)}`) +
  `; our CPU time ${r.cpuMsPerStepMedian.toFixed(3)} ms/step (median; mean ${r.cpuMsPerStep.toFixed(3)}); bytes per step up ${r.bytesUpPerStep} ` +
  `(int64 class labels), down ${r.bytesDownPerStep}; once: up ${r.bytesUpOnce}, down ${r.bytesDownOnce}; ` +
  `SwiftShader ${r.gpuMs.toFixed(0)} ms vs tract ${r.cpuMs.toFixed(0)} ms (not a benchmark)`);

const run = (args) => page.evaluate(async (args) => {
  const m = await import('./main.js');
  const r = await m.compare(args);
  return { ...r, gpu: undefined, cpu: undefined, spread: Math.max(...r.cpu) - Math.min(...r.cpu) };
}, args);

// The gap to tract is the network's: ORT's WebGPU EP on SwiftShader computes eps ~1e-4 away
// from its wasm EP on the same input (printed by the next test), which DPM-Solver++'s data
// prediction amplifies by sigma/alpha (~150 at t = T). So each run is also checked against the CPU sampler driven by the same
// WebGPU network (the round trip users do today): the solver step itself must agree to 1e-4,
// and the distance to tract must be the round trip's own.
test('the network alone: eps of the WebGPU EP vs the wasm EP on the same input', { timeout: 300_000 }, async () => {
  const gaps = await page.evaluate(async () => (await import('./main.js')).epsGap());
  console.log(`network gap |eps_webgpu - eps_wasm| by t: ${gaps.map((g) => `${g.t}: ${g.maxAbsDiff.toExponential(2)}`).join(', ')}`);
  for (const g of gaps) assert.ok(g.maxAbsDiff < 1e-2, `t = ${g.t}: ${g.maxAbsDiff}`);
});

const TRACT_TOL = { 'dpm++2m': 2e-3, unipc: TOL, ddim: TOL };

for (const kind of ['dpm++2m', 'unipc', 'ddim']) {
  test(`${kind}: the demo UNet on WebGPU with the plan matches the CPU paths`, { timeout: 300_000 }, async () => {
    const r = await run({ kind, steps: STEPS, classes: [3], guidance: 1, seed: 5, roundTrip: true });
    log(kind, r);
    assert.equal(r.nfe, STEPS);
    assert.ok(r.spread > 0.5, 'the CPU image is not blank');
    assert.ok(r.planVsRoundTrip <= 1e-4, `|plan - CPU sampler on the same network| = ${r.planVsRoundTrip}`);
    assert.ok(r.maxDiff <= TRACT_TOL[kind], `max |gpu - tract| = ${r.maxDiff}`);
    assert.ok(Math.abs(r.maxDiff - r.roundTripVsCpu) <= 1e-4, 'the gap to tract is the network\'s, not the plan\'s');
    assert.equal(r.bytesDownPerStep, 0, 'no latent read back during sampling');
    assert.equal(r.bytesDownOnce, 4 * 784, 'only the result is read back');
  });
}

// Classifier-free guidance as one batch [cond, uncond]: the scale amplifies the network's gap.
test('dpm++2m with CFG as one batch: the plan equals the CPU sampler on the same WebGPU network', { timeout: 300_000 }, async () => {
  const r = await run({ kind: 'dpm++2m', steps: STEPS, classes: [3], guidance: 2, seed: 5, roundTrip: true });
  log('dpm++2m CFG s=2', r);
  assert.ok(r.planVsRoundTrip <= 1e-4, `|plan - CPU sampler| = ${r.planVsRoundTrip}`);
  assert.ok(r.maxDiff <= 5e-3, `|gpu - tract| = ${r.maxDiff}`);
  assert.ok(Math.abs(r.maxDiff - r.roundTripVsCpu) <= 1e-4, 'the gap to tract is the network\'s, not the plan\'s');
  assert.equal(r.bytesDownPerStep, 0);
});

test('the demo offers the WebGPU runtime here and draws with it', { timeout: 300_000 }, async () => {
  const demo = await browser.newPage();
  const demoErrors = [];
  demo.on('console', (m) => { if (m.type() === 'error') demoErrors.push(m.text()); });
  demo.on('pageerror', (e) => demoErrors.push(String(e)));
  await demo.goto(`http://127.0.0.1:${server.address().port}/www/index.html`);
  await demo.waitForFunction(() => window.demo?.ready && window.demo.webgpu !== undefined, null, { timeout: 120_000 });
  assert.equal(await demo.evaluate(() => window.demo.webgpu), true, 'WebGPU runtime offered');
  assert.equal(await demo.isVisible('#runtimeLabel'), true);
  await demo.selectOption('#runtime', 'webgpu');
  await demo.selectOption('#solver', 'unipc');
  await demo.fill('#steps', '3');
  await demo.fill('#batch', '2');
  await demo.click('#generate');
  await demo.waitForFunction(() => window.demo.runs.length >= 1 && !window.demo.busy, null, { timeout: 240_000 });
  const run = await demo.evaluate(() => window.demo.runs[0]);
  assert.equal(run.nfe, 3);
  assert.ok(Number.isFinite(run.checksum));
  assert.deepEqual(demoErrors, []);
  await demo.close();
});

test('plans the executor refuses are refused with a clear error', async () => {
  const msgs = await page.evaluate(async () => {
    const { Sampler } = await import('./pkg/dpm_solver.js');
    const x = new Float32Array(4);
    const out = [];
    for (const o of [{ method: 'adaptive', order: 2 }, { thresholding: { ratio: 0.995, maxVal: 1 } }]) {
      try { new Sampler(o, x).plan(); out.push('no error'); } catch (e) { out.push(String(e.message ?? e)); }
    }
    return out;
  });
  assert.match(msgs[0], /adaptive/);
  assert.match(msgs[1], /thresholding/);
});

test('no console errors', () => {
  if (errors.length) console.log(errors);
  assert.deepEqual(errors.filter((e) => !/favicon/.test(e)), []);
});
