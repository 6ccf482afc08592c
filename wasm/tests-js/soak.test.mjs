// Short soak (issue 15): 100 generations and 1,000 Samplers in one instance without growth
// of the wasm memory. The long run (1,000 / 10,000) is `node wasm/tests-js/soak.mjs`, its
// figures in RELIABILITY.md.
import test from 'node:test';
import assert from 'node:assert/strict';
import { soak } from './soak.mjs';

test('100 generations and 1,000 Samplers: no wasm memory growth', async (t) => {
  const r = await soak({ generations: 100, samplers: 1000 });
  t.diagnostic(JSON.stringify(r));
  assert.equal(r.poisoned, false);
  assert.equal(r.wasmGrowth, 0, `wasm memory grew by ${r.wasmGrowth} bytes`);
  // RSS includes V8's heap, which the collector sizes as it likes: only a gross leak counts.
  assert.ok(r.rssGrowth < 64 * 2 ** 20, `RSS grew by ${r.rssGrowth} bytes`);
});
