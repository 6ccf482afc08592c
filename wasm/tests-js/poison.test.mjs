// A trap inside the module (what an out-of-memory abort is in wasm) cannot be prevented in
// every case; the package then says so: `instancePoisoned()` is true and every guarded call
// throws an Error that explains what to do, instead of failing in unrelated ways. Its own
// file (node runs each test file in its own process): it poisons its instance on purpose.
import test from 'node:test';
import assert from 'node:assert/strict';
import { load, PKG } from './load.mjs';

test('a trap is detected and reported by the next call', async () => {
  const dpm = await load();
  assert.equal(dpm.instancePoisoned(), false);
  const s = new dpm.Sampler({ steps: 3 }, Float32Array.of(0.5, -1));
  assert.throws(() => dpm.__trapForTest(), WebAssembly.RuntimeError);
  assert.equal(dpm.instancePoisoned(), true);
  for (const call of [() => dpm.gaussianNoise(0, 4), () => new dpm.Sampler({}, Float32Array.of(1)), () => s.tell(Float32Array.of(0, 0))]) {
    assert.throws(call, (e) => {
      assert.ok(e instanceof Error && !(e instanceof WebAssembly.RuntimeError), String(e));
      assert.match(e.message, /instance is unusable: an earlier call trapped/);
      assert.match(e.message, /instantiate the module again/);
      return true;
    });
  }
  // A fresh instance of the same package works.
  const fresh = await import(`${new URL(`file://${PKG}/dpm_solver.js`).href}?fresh=1`);
  const { readFile } = await import('node:fs/promises');
  await fresh.default({ module_or_path: await readFile(`${PKG}/dpm_solver_bg.wasm`) });
  assert.equal(fresh.instancePoisoned(), false);
  assert.equal(fresh.gaussianNoise(0, 4).length, 4);
});
