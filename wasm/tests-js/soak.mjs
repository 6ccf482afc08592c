// Soak test (issue 15): many consecutive generations and many Samplers created and freed in
// one instance, with the wasm memory and the process RSS recorded after a warm-up and at the
// end. wasm memory never shrinks, so any leak shows as growth of `memory.buffer.byteLength`.
//
//   node wasm/tests-js/soak.mjs [generations=1000] [samplers=10000] [model=fuzz/seeds/tiny_unet.onnx] [steps=4] [batch=1]
//
// prints one JSON line; `soak.test.mjs` runs a short version in the test command.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL, fileURLToPath } from 'node:url';
import { PKG, ROOT } from './load.mjs';

export async function soak({ generations = 1000, samplers = 10000, model = 'fuzz/seeds/tiny_unet.onnx', steps = 4, batch = 1 } = {}) {
  // A fresh instance of its own, so its memory is this run's alone.
  const mod = await import(`${pathToFileURL(path.join(PKG, 'dpm_solver.js')).href}?soak=${Date.now()}`);
  const wasm = await mod.default({ module_or_path: await readFile(path.join(PKG, 'dpm_solver_bg.wasm')) });
  const mem = () => wasm.memory.buffer.byteLength;
  const bytes = new Uint8Array(await readFile(path.resolve(ROOT, model)));
  const m = new mod.Model(bytes);
  const conditional = m.metadata.numClasses > 0;
  const gen = (i) => {
    const g = m.generate({ batch, steps, seed: i, ...(conditional ? { class: i % m.metadata.numClasses, guidance: 2 } : {}) });
    if (!g.images.every(Number.isFinite)) throw new Error(`generation ${i}: non-finite images`);
  };
  const sampler = (i) => {
    const x = mod.gaussianNoise(i, 64);
    const s = new mod.Sampler({ steps: 3, order: (i % 3) + 1 }, x);
    let r;
    while ((r = s.ask())) s.tell(r.x.map((v) => 0.1 * v));
    if (!s.x.every(Number.isFinite)) throw new Error(`sampler ${i}: non-finite x`);
    s.free();
  };
  // Warm-up: plans built, allocator grown to its working size.
  const warm = Math.max(1, Math.floor(Math.min(generations, 50) / 5));
  for (let i = 0; i < warm; i++) gen(i);
  for (let i = 0; i < Math.max(1, Math.floor(Math.min(samplers, 500) / 5)); i++) sampler(i);
  globalThis.gc?.();
  const before = { wasmBytes: mem(), rss: process.memoryUsage().rss };
  const t0 = Date.now();
  for (let i = 0; i < generations; i++) gen(i);
  for (let i = 0; i < samplers; i++) sampler(i);
  globalThis.gc?.();
  const after = { wasmBytes: mem(), rss: process.memoryUsage().rss };
  m.free();
  return {
    model, steps, batch, generations, samplers, seconds: (Date.now() - t0) / 1000,
    before, after, wasmGrowth: after.wasmBytes - before.wasmBytes, rssGrowth: after.rss - before.rss,
    poisoned: mod.instancePoisoned(),
  };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const [g, s, model, steps, batch] = process.argv.slice(2);
  const r = await soak({
    generations: g ? Number(g) : undefined, samplers: s ? Number(s) : undefined, model,
    steps: steps ? Number(steps) : undefined, batch: batch ? Number(batch) : undefined,
  });
  console.log(JSON.stringify(r));
}
