// Browser test of the WebGPU path: headless Chromium with WebGPU on SwiftShader (Vulkan on the
// CPU), the page served on 127.0.0.1. The demo UNet runs on onnxruntime-web's WebGPU EP with
// the solver step as the package's WGSL plan executor, and must draw the images of the
// package's CPU paths from the same x_T, for DPM-Solver++(2M), UniPC, DDIM (clip_sample on:
// the clamp op) and the adaptive DPM-Solver++-12 (planned step by step, its error norm reduced
// on the GPU), unguided and with classifier-free guidance as one batch: within 1e-5 of the CPU
// paths on identical network outputs (1e-4 for the diffusers schedulers and CFG:
// SAME_OUTPUTS_TOL), and within 1e-3 of tract in the demo's pixel space (the rest is the network
// runtimes' gap; see the comment above the network test). Before that, the executors alone
// against the ask/tell Sampler (stand-in network): nine fixed plans, four step plans. Prints the
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

const log = (kind, r) => console.log(`webgpu ${kind}: ${r.nfe} NFE` +
  (r.accepted === null ? '' : ` (${r.accepted} accepted, ${r.rejected} rejected trials; tract ${r.cpuNfe} NFE)`) +
  `, max |gpu - cpu(tract)| = ${r.maxDiff.toExponential(2)} latent [-1, 1], ${r.pixelDiff.toExponential(2)} pixel [0, 1] (8-bit: ${r.byteDiff})` +
  `; |plan - CPU sampler on the same outputs| = ${r.planVsReplay.toExponential(2)}, |plan with tract's network - tract| = ${r.planTractVsTract.toExponential(2)}` +
  `, |ORT wasm EP - tract| = ${r.wasmEpVsTract.toExponential(2)}, |WebGPU+plan - ORT wasm EP| = ${r.wasmEpVsGpu.toExponential(2)}` +
  `; our CPU time ${r.cpuMsPerStepMedian.toFixed(3)} ms/step (median; mean ${r.cpuMsPerStep.toFixed(3)}); bytes per step up ${r.bytesUpPerStep} ` +
  `, down ${r.bytesDownPerStep}; once: up ${r.bytesUpOnce}, down ${r.bytesDownOnce}; ` +
  `SwiftShader ${r.gpuMs.toFixed(0)} ms vs tract ${r.cpuMs.toFixed(0)} ms (not a benchmark)`);

const run = (args) => page.evaluate(async (args) => {
  const m = await import('./main.js');
  const r = await m.compare(args);
  return { ...r, gpu: undefined, cpu: undefined, spread: Math.max(...r.cpu) - Math.min(...r.cpu) };
}, { replay: true, withTract: true, wasmEp: true, ...args });

// Where the distance to tract comes from. The network: ORT's WebGPU EP on SwiftShader computes
// eps 1e-5..2e-4 away from tract and from ORT's wasm EP on the same input, while the two CPU
// runtimes agree to ~1e-5 (printed by the next test); DPM-Solver++'s data prediction amplifies
// eps errors by sigma/alpha (~150 at t = T). The solver step: nothing, as two checks show on
// every run, each with identical network outputs: the plan against the CPU Sampler told the
// GPU run's own outputs (`planVsReplay`), and the plan executor driven by tract's network
// against tract's generate (`planTractVsTract`). So the end-to-end bounds below are the
// network's: the issue's 1e-3 holds in the demo's pixel space [0, 1]; in latent space [-1, 1]
// (twice the pixel distance) DPM-Solver++ and the adaptive solver reach 1.2e-3 and 1.3e-3,
// under the 2e-3 bound this test had before (UniPC and DDIM stay under 1e-3 there too).
test('the network alone: eps of the WebGPU EP vs the wasm EP and tract on the same input', { timeout: 300_000 }, async () => {
  const gaps = await page.evaluate(async () => (await import('./main.js')).epsGap());
  console.log(`network gap by t, max |eps_webgpu - eps_wasm| / |eps_wasm - eps_tract| / |eps_webgpu - eps_tract|: ${gaps.map((g) =>
    `${g.t}: ${g.maxAbsDiff.toExponential(2)} / ${g.wasmVsTract.toExponential(2)} / ${g.webgpuVsTract.toExponential(2)}`).join(', ')}`);
  for (const g of gaps) {
    assert.ok(g.maxAbsDiff < 1e-2, `t = ${g.t}: ${g.maxAbsDiff}`);
    assert.ok(g.wasmVsTract < 1e-4, `t = ${g.t}: the two CPU runtimes differ by ${g.wasmVsTract}`);
  }
});

const LATENT_TOL = { 'dpm++2m': 2e-3, unipc: TOL, ddim: TOL, adaptive: 2e-3 };
// On identical network outputs. DPM-Solver plans record the Sampler's own sums (measured: 0).
// The diffusers schedulers compute x0 = (x - sigma eps) / alpha (a division), which the plan
// applies as the sum x / alpha - (sigma / alpha) eps with weights ~157 at t = T: f32 rounding of
// those ~300-sized terms (ulp 3e-5) is the difference (UniPC 4.7e-5, DDIM 4.6e-6; the Rust plan
// test sees the same, up to 0.36 of its 1e-4 (1 + max|x|) tolerance on the diffusers fixtures).
const SAME_OUTPUTS_TOL = { 'dpm++2m': 1e-5, adaptive: 1e-5, unipc: 1e-4, ddim: 1e-4 };

function checkRun(kind, r, nfe) {
  assert.equal(r.nfe, nfe, 'evaluations');
  assert.equal(r.replayNfe, r.nfe, 'the Sampler told the recorded outputs asks for as many evaluations');
  assert.equal(r.planTractNfe, r.cpuNfe, 'the plan with tract\'s network takes tract\'s evaluations');
  assert.ok(r.spread > 0.5, 'the CPU image is not blank');
  assert.ok(r.planVsReplay <= SAME_OUTPUTS_TOL[kind], `|plan - CPU sampler on the same outputs| = ${r.planVsReplay}`);
  assert.ok(r.planTractVsTract <= SAME_OUTPUTS_TOL[kind], `|plan with tract's network - tract| = ${r.planTractVsTract}`);
  assert.ok(r.pixelDiff <= TOL, `max |gpu - tract| in pixel space = ${r.pixelDiff}`);
  assert.ok(r.maxDiff <= LATENT_TOL[kind], `max |gpu - tract| in latent space = ${r.maxDiff}`);
  assert.ok(r.wasmEpVsTract <= 1e-4, `the two CPU runtimes' samples differ by ${r.wasmEpVsTract}`);
  assert.equal(r.bytesDownOnce, 4 * 784, 'only the result (one 28x28 image) is read back');
}

for (const kind of ['dpm++2m', 'unipc', 'ddim']) {
  test(`${kind}: the demo UNet on WebGPU with the plan matches the CPU paths`, { timeout: 300_000 }, async () => {
    const r = await run({ kind, steps: STEPS, classes: [3], guidance: 1, seed: 5 });
    log(kind, r);
    checkRun(kind, r, STEPS);
    assert.equal(r.bytesDownPerStep, 0, 'no latent read back during sampling');
  });
}

test('adaptive DPM-Solver++-12: the demo UNet on WebGPU, step by step with the error norm on the GPU, matches the CPU paths', { timeout: 300_000 }, async () => {
  const r = await run({ kind: 'adaptive', classes: [3], guidance: 1, seed: 5 });
  log('adaptive DPM-Solver++-12', r);
  checkRun('adaptive', r, r.cpuNfe);
  assert.equal(r.accepted + r.rejected, r.nfe / 2, 'two evaluations a trial');
  assert.equal(r.bytesDownPerStep * r.nfe, 4 * (r.accepted + r.rejected), 'one 4-byte norm read back per trial, nothing else');
});

// Classifier-free guidance as one batch [cond, uncond]: the scale amplifies the network's gap.
// On identical outputs the Sampler computes a x + b (u + s (c - u)), the plan the folded sum
// a x + b s c + b (1 - s) u (weights ~300 at t = T): f32 rounding, 3.5e-5 here, hence 1e-4.
test('dpm++2m with CFG as one batch: the plan equals the CPU sampler on the same outputs', { timeout: 300_000 }, async () => {
  const r = await run({ kind: 'dpm++2m', steps: STEPS, classes: [3], guidance: 2, seed: 5 });
  log('dpm++2m CFG s=2', r);
  assert.ok(r.planVsReplay <= 1e-4, `|plan - CPU sampler on the same outputs| = ${r.planVsReplay}`);
  assert.ok(r.planTractVsTract <= 1e-4, `|plan with tract's network - tract| = ${r.planTractVsTract}`);
  assert.ok(r.maxDiff <= 5e-3, `|gpu - tract| = ${r.maxDiff}`);
  assert.equal(r.bytesDownPerStep, 0);
});

test('the demo offers the WebGPU runtime here and draws with it, fixed and adaptive', { timeout: 600_000 }, async () => {
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
  // An adaptive preset: planned step by step, its error norm on the GPU.
  await demo.selectOption('#solver', 'adaptive12');
  await demo.fill('#batch', '1');
  await demo.click('#generate');
  await demo.waitForFunction(() => window.demo.runs.length >= 2 && !window.demo.busy, null, { timeout: 240_000 });
  const ad = await demo.evaluate(() => window.demo.runs[1]);
  assert.equal(ad.solver, 'adaptive12');
  assert.ok(ad.nfe >= 4 && ad.nfe % 2 === 0, `adaptive NFE ${ad.nfe}`);
  assert.ok(Number.isFinite(ad.checksum));
  assert.deepEqual(demoErrors, []);
  await demo.close();
});

test('what has no plan is refused with a clear error', async () => {
  const msgs = await page.evaluate(async () => {
    const { Sampler, StepPlan } = await import('./pkg/dpm_solver.js');
    const x = new Float32Array(4);
    const th = { thresholding: { ratio: 0.995, maxVal: 1 } };
    const out = [];
    for (const f of [
      () => new Sampler({ method: 'adaptive', order: 2 }, x).plan(),
      () => new Sampler(th, x).plan(),
      () => new StepPlan(th),
      () => new StepPlan({ method: 'adaptive', order: 2, ...th }),
      () => new StepPlan({ scheduler: 'DDIMScheduler', steps: 4 }),
      () => { const p = new StepPlan({ method: 'adaptive', order: 2 }); p.next(); p.next(); p.next(); },
    ]) {
      try { f(); out.push('no error'); } catch (e) { out.push(String(e.message ?? e)); }
    }
    return out;
  });
  assert.match(msgs[0], /adaptive.*step by step with new StepPlan/);
  for (const m of msgs.slice(1, 4)) assert.match(m, /dynamic thresholding has no plan/);
  assert.match(msgs[4], /Sampler\.plan\(\)/);
  assert.match(msgs[5], /error norm must be told first/);
});

test('no console errors', () => {
  if (errors.length) console.log(errors);
  assert.deepEqual(errors.filter((e) => !/favicon/.test(e)), []);
});
