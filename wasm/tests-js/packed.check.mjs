// Run by .ci/test-wasm.sh inside a scratch project where the `npm pack` tarball is installed:
// the package resolves by name and works from there.
import test from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';

test('the packed dpm-solver package imports by name and samples', async () => {
  const dpm = await import('dpm-solver');
  const require = createRequire(import.meta.url);
  const wasmPath = require.resolve('dpm-solver/dpm_solver_bg.wasm');
  await dpm.default({ module_or_path: await readFile(wasmPath) });
  const pkg = JSON.parse(await readFile(require.resolve('dpm-solver/package.json'), 'utf8'));
  assert.equal(pkg.name, 'dpm-solver');
  const s = new dpm.Sampler({ steps: 4 }, dpm.gaussianNoise(0, 16));
  let r;
  while ((r = s.ask())) s.tell(r.x.map((v) => 0.5 * v));
  assert.equal(s.nfe, 4);
  assert.ok(s.x.every(Number.isFinite));
  const dts = await readFile(require.resolve('dpm-solver/dpm_solver.d.ts'), 'utf8');
  assert.match(dts, /export type SamplerOptions = DpmSolverOptions \| DiffusersSchedulerOptions;/);
  assert.match(dts, /export interface DpmSolverOptions/);
  assert.match(dts, /export interface DiffusersSchedulerOptions/);
  // diffusers' scheduler from the installed package too.
  const u = new dpm.Sampler({ scheduler: 'UniPCMultistepScheduler', steps: 3 }, dpm.gaussianNoise(0, 16));
  while ((r = u.ask())) u.tell(r.x.map((v) => 0.5 * v));
  assert.deepEqual([u.nfe, u.scheduler], [3, 'UniPCMultistepScheduler']);
  assert.match(dts, /ask\(\): EvalRequest \| null/);
});

test('the packed package: exports map, Node init without argument, entries, licenses', async () => {
  const require = createRequire(import.meta.url);
  const pkg = JSON.parse(await readFile(require.resolve('dpm-solver/package.json'), 'utf8'));
  assert.equal(pkg.type, 'module');
  for (const entry of ['.', './sampler', './worker']) assert.ok(pkg.exports[entry], `exports ${entry}`);
  assert.equal(pkg.exports['.'].node, './node.js');
  assert.equal(pkg.repository, undefined, 'no placeholder repository');
  assert.ok(!JSON.stringify(pkg).includes('example.invalid'));
  const dir = require.resolve('dpm-solver/package.json').replace(/package\.json$/, '');
  for (const f of ['LICENSE-MIT', 'LICENSE-APACHE', 'README.md', 'index.d.ts', 'sampler.d.ts', 'worker.d.ts',
    'worker-script.js', 'sampler/dpm_solver_sampler_bg.wasm', 'dpm_solver_relaxed_bg.wasm']) {
    assert.ok((await readFile(dir + f)).length > 0, f);
  }
  const sampler = await import('dpm-solver/sampler');
  assert.throws(() => sampler.gaussianNoise(0, 4), /call `await init\(\)` first/);
  await sampler.default();
  const s = new sampler.Sampler({ steps: 3 }, sampler.gaussianNoise(0, 16));
  let r;
  while ((r = s.ask())) s.tell(r.x.map((v) => 0.5 * v));
  assert.equal(s.nfe, 3);
  assert.equal(sampler.Model, undefined);
  const worker = await import('dpm-solver/worker');
  assert.equal(typeof worker.createWorker, 'function');
  const dpm = await import('dpm-solver');
  await dpm.default(); // no argument in Node
  // Node 20 has no relaxed SIMD without a flag: the simd128 build (wasm/tests-js/relaxed.test.mjs).
  assert.equal(dpm.relaxedSimdEnabled(), dpm.relaxedSimdSupported());
  assert.match(String(dpm.defaultWasmUrl()), /dpm_solver(_relaxed)?_bg\.wasm$/);
  assert.ok(require.resolve('dpm-solver/dpm_solver_relaxed_bg.wasm'));
  assert.equal(typeof dpm.Model.fromUrl, 'function');
  assert.equal(typeof dpm.Model.prototype.generateAsync, 'function');
});
