// The package's JS entry modules (wasm/js), as a user imports them from target/pkg/web:
// init() in Node without an argument, the "call init() first" error, Model from an
// ArrayBuffer / Response / URL (with progress) and the errors for what is not ONNX,
// generateAsync (same result as generate, cancellable between evaluations, a pre-aborted signal
// runs nothing), GenerationRun, readOnnxInfo, and the sampler-only build "dpm-solver/sampler"
// (no tract, same Sampler results; its own allocator under varied sizes, without leaks).
import test from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { PKG, ROOT } from './load.mjs';

const imp = (f) => import(pathToFileURL(path.join(PKG, f)).href);
const dpm = await imp('node.js');
const sam = await imp('sampler-node.js');
const bytes = new Uint8Array(await readFile(path.join(ROOT, 'www/models/unet.onnx')));

async function rejects(p, re, name = 'Error') {
  await assert.rejects(p, (e) => {
    assert.ok(e instanceof Error, `rejects with an Error (got ${e})`);
    assert.equal(e.name, name);
    assert.match(e.message, re);
    return true;
  });
}

test('calls before init() say so; init() in Node needs no argument and may repeat', async () => {
  const first = /call `await init\(\)` first/;
  assert.throws(() => new dpm.Sampler({ steps: 2 }, new Float32Array(4)), first);
  assert.throws(() => dpm.gaussianNoise(0, 4), first);
  assert.throws(() => new dpm.Model(bytes), first);
  await rejects(dpm.Model.fromUrl('http://127.0.0.1:9/x.onnx'), first);
  assert.throws(() => sam.gaussianNoise(0, 4), first);
  await dpm.default();
  await dpm.default();
  await sam.default();
  assert.equal(dpm.gaussianNoise(1, 8).length, 8);
});

test('new Model takes Uint8Array, ArrayBuffer and typed-array views; a Response needs fromResponse', async () => {
  await dpm.default();
  const copy = bytes.slice();
  for (const input of [copy, copy.buffer, new DataView(copy.buffer)]) {
    const m = new dpm.Model(input);
    assert.equal(m.metadata.nullClass, 10);
    m.free();
  }
  assert.throws(() => new dpm.Model(new Response(bytes)), (e) => e instanceof TypeError && /fromResponse/.test(e.message));
  assert.throws(() => new dpm.Model('models/unet.onnx'), /fromUrl/);
  assert.throws(() => new dpm.Model(42), /Uint8Array or ArrayBuffer/);
});

test('bytes that are not ONNX say what they look like', async () => {
  await dpm.default();
  const enc = (s) => new TextEncoder().encode(s);
  assert.throws(() => new dpm.Model(new Uint8Array()), /empty/);
  assert.throws(() => new dpm.Model(enc('<!doctype html><html><head><title>Vite')), /got an HTML page.*check the URL/);
  assert.throws(() => new dpm.Model(enc('{"error":"not found"}')), /got JSON/);
  assert.throws(() => new dpm.Model(bytes.subarray(0, 5000)), /cannot load the ONNX model/);
  assert.throws(() => dpm.readOnnxInfo(enc('<html>')), /HTML page/);
});

test('Model.fromUrl / fromResponse: download progress, HTTP and HTML errors, abort', async () => {
  await dpm.default();
  const server = createServer((req, res) => {
    if (req.url === '/unet.onnx') {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': bytes.length });
      res.end(Buffer.from(bytes));
    } else if (req.url === '/spa/unet.onnx') {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<!doctype html><html><body>app</body></html>');
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found');
    }
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${server.address().port}`;
  try {
    const seen = [];
    const m = await dpm.Model.fromUrl(`${base}/unet.onnx`, { onProgress: (p) => seen.push(p) });
    assert.ok(m instanceof dpm.Model);
    assert.equal(m.metadata.numClasses, 10);
    assert.deepEqual(seen.at(-1), { loaded: bytes.length, total: bytes.length });
    assert.ok(seen.length >= 2 && seen.every((p, i) => i === 0 || p.loaded >= seen[i - 1].loaded));
    await rejects(dpm.Model.fromUrl(`${base}/missing.onnx`), /HTTP 404.*missing\.onnx/);
    await rejects(dpm.Model.fromUrl(`${base}/spa/unet.onnx`), /got an HTML page.*check the URL/);
    const ac = new AbortController();
    ac.abort();
    await rejects(dpm.Model.fromUrl(`${base}/unet.onnx`, { signal: ac.signal }), /aborted/, 'AbortError');
    const ac2 = new AbortController();
    await rejects(dpm.Model.fromUrl(`${base}/unet.onnx`, {
      signal: ac2.signal, onProgress: (p) => { if (p.loaded > 0) ac2.abort(); },
    }), /aborted/, 'AbortError');
    let last;
    const r = await dpm.Model.fromResponse(new Response(bytes, { headers: { 'content-length': String(bytes.length) } }),
      { onProgress: (p) => { last = p; } });
    assert.equal(r.imageLength, 784);
    assert.deepEqual(last, { loaded: bytes.length, total: bytes.length });
    await rejects(dpm.Model.fromResponse(new Response('nope', { status: 500, statusText: 'Server Error' })), /HTTP 500/);
  } finally {
    server.close();
  }
});

test('generateAsync: the same images as generate; progress after every step', async () => {
  await dpm.default();
  const m = new dpm.Model(bytes);
  for (const opts of [
    { seed: 3, batch: 2, class: [1, 7], guidance: 2, steps: 4 },
    { seed: 4, batch: 1, method: 'singlestep', order: 3, steps: 6 },
    { seed: 5, batch: 1, class: 2, scheduler: 'UniPCMultistepScheduler', steps: 3 },
  ]) {
    const a = [], b = [];
    const sync = m.generate(opts, (p) => { a.push([p.nfe, p.step, p.t, p.x0.slice()]); });
    const run = await m.generateAsync(opts, (p) => { b.push([p.nfe, p.step, p.t, p.x0.slice()]); });
    assert.deepEqual(run, sync);
    assert.deepEqual(b, a);
  }
  m.free();
});

test('cancel: a pre-aborted signal runs nothing; an abort stops before the next evaluation', async () => {
  await dpm.default();
  const m = new dpm.Model(bytes);
  const ac = new AbortController();
  ac.abort();
  let calls = 0;
  await rejects(m.generateAsync({ steps: 10, signal: ac.signal }, () => { calls++; }), /after 0 network/, 'AbortError');
  assert.throws(() => m.generate({ steps: 10, signal: ac.signal }, () => { calls++; }),
    (e) => e.name === 'AbortError' && /after 0 network/.test(e.message));
  assert.equal(calls, 0);
  // Aborted from another task (as a worker's message handler would) right after evaluation 1.
  const ac2 = new AbortController();
  const steps = [];
  await rejects(m.generateAsync({ steps: 10, signal: ac2.signal }, (p) => {
    steps.push(p.nfe);
    if (p.nfe === 1) setImmediate(() => ac2.abort());
  }), /after 1 network/, 'AbortError');
  assert.deepEqual(steps, [1]);
  // A timer fires between evaluations: the event loop is given back.
  let ticks = 0;
  const timer = setInterval(() => ticks++, 0);
  await m.generateAsync({ steps: 5 });
  clearInterval(timer);
  assert.ok(ticks >= 3, `timer ticks during generateAsync: ${ticks}`);
  // Returning false from the callback cancels too; a throwing callback is reported.
  await rejects(m.generateAsync({ steps: 5 }, () => false), /after 1 network/, 'AbortError');
  await rejects(m.generateAsync({ steps: 5 }, () => { throw new Error('boom'); }), /progress callback threw: boom/);
  // The model is usable after all of these.
  assert.equal((await m.generateAsync({ steps: 2 })).nfe, 2);
  m.free();
});

test('GenerationRun: one evaluation per step, finish only when done, tied to its model', async () => {
  await dpm.default();
  const m = new dpm.Model(bytes);
  const other = new dpm.Model(bytes);
  const run = m.begin({ steps: 3, method: 'singlestep', order: 2, seed: 1 });
  assert.throws(() => run.finish(), /not done/);
  assert.throws(() => run.step(other), /another Model/);
  const kinds = [];
  let s;
  while (!(s = run.step(m)).done) kinds.push([s.nfe, s.progress ? s.progress.step : null]);
  assert.deepEqual(kinds.map((k) => k[0]), [1, 2, 3]);
  assert.ok(kinds.some((k) => k[1] === null), 'a singlestep stage reports no completed step');
  const g = run.finish();
  assert.deepEqual(g, m.generate({ steps: 3, method: 'singlestep', order: 2, seed: 1 }));
  assert.throws(() => run.finish(), /finished/);
  run.free();
  assert.throws(() => m.begin({ batch: 0 }), /batch/);
  m.free();
  other.free();
});

test('readOnnxInfo: the demo model\'s I/O and metadata without loading it (both builds)', async () => {
  await dpm.default();
  await sam.default();
  for (const lib of [dpm, sam]) {
    const info = lib.readOnnxInfo(bytes);
    assert.deepEqual(info.inputs.map((i) => [i.name, i.dtype]), [['x', 'float32'], ['t', 'float32'], ['class', 'int64']]);
    assert.deepEqual(info.inputs[0].shape, ['B', 1, 28, 28]);
    assert.deepEqual(info.outputs.map((o) => o.name), ['eps']);
    assert.equal(info.props.null_class, '10');
    assert.equal(info.metadata.nullClass, 10);
    assert.equal(info.metadataError, null);
    assert.equal(info.producer, 'pytorch');
    const m = new dpm.Model(bytes);
    // The same metadata, but for timeInput, which only the loaded graph tells.
    const { timeInput, ...fromModel } = m.metadata;
    assert.equal(timeInput, 'float32 [B]');
    assert.equal(info.metadata.timeInput, undefined);
    assert.deepEqual(info.metadata, fromModel);
    m.free();
  }
});

test('dpm-solver/sampler: no Model, the same Sampler results as the full build', async () => {
  await dpm.default();
  await sam.default();
  assert.equal(sam.Model, undefined);
  assert.deepEqual(sam.gaussianNoise(7, 100, 2), dpm.gaussianNoise(7, 100, 2));
  const net = (x, t) => x.map((v, i) => 0.3 * v + 0.01 * Math.sin(i + t / 100));
  for (const opts of [
    { steps: 7, method: 'multistep', order: 3, batch: 2 },
    { steps: 6, method: 'adaptive', order: 2, batch: 2 },
    { scheduler: 'DPMSolverMultistepScheduler', schedulerConfig: { algorithm_type: 'sde-dpmsolver++' }, steps: 5, seed: 3, batch: 2 },
  ]) {
    const xs = [dpm, sam].map((lib) => {
      const s = new lib.Sampler(opts, lib.gaussianNoise(1, 64));
      let r;
      while ((r = s.ask())) s.tell(net(r.x, r.tModel));
      const x = s.x;
      s.free();
      return x;
    });
    assert.deepEqual(xs[1], xs[0]);
  }
});

test('dpm-solver/sampler: its own allocator under Samplers of varied sizes, freed out of order: the full build\'s results, and a repeated round grows no memory', async () => {
  await dpm.default();
  const wasm = await sam.default();
  const mem = () => wasm.memory.buffer.byteLength;
  const net = (x, t) => x.map((v, i) => 0.3 * v + 0.01 * Math.sin(i + t / 100));
  // Lengths from a few floats (small blocks) to 1.2 MB buffers (runs of pages).
  const lengths = [1, 7, 64, 1000, 3000, 9000, 40000, 100000, 300000];
  const options = [
    { steps: 3, method: 'multistep', order: 2 },
    { steps: 3, method: 'singlestep', order: 3, thresholding: { ratio: 0.9 } },
    { scheduler: 'UniPCMultistepScheduler', steps: 3 },
  ];
  const round = (compare) => {
    for (let i = 0; i < 27; i += 3) {
      // Three Samplers alive at once, stepped in turn and freed in another order.
      const made = [0, 1, 2].map((j) => {
        const n = lengths[(i + 4 * j) % lengths.length];
        const opts = options[(i / 3 + j) % options.length];
        return { opts, n, s: new sam.Sampler(opts, sam.gaussianNoise(i + j, n)) };
      });
      for (const { s } of made) {
        let r;
        while ((r = s.ask())) s.tell(net(r.x, r.tModel));
      }
      for (const k of [1, 2, 0]) {
        const { opts, n, s } = made[k];
        if (compare) {
          const d = new dpm.Sampler(opts, dpm.gaussianNoise(i + k, n));
          let r;
          while ((r = d.ask())) d.tell(net(r.x, r.tModel));
          assert.deepEqual(s.x, d.x, `${JSON.stringify(opts)}, ${n} values`);
          d.free();
        }
        s.free();
      }
    }
  };
  round(true);
  const before = mem();
  round(false);
  round(false);
  assert.equal(mem(), before, 'wasm memory grew on a repeated round');
});

/** The custom sections' names of a .wasm module. */
function customSections(b) {
  let p = 8;
  const leb = () => {
    let r = 0, s = 0, x;
    do { x = b[p++]; r += (x & 0x7f) * 2 ** s; s += 7; } while (x & 0x80);
    return r;
  };
  const names = [];
  while (p < b.length) {
    const id = b[p++];
    const size = leb();
    const end = p + size;
    if (id === 0) {
      const n = leb();
      names.push(Buffer.from(b.subarray(p, p + n)).toString());
    }
    p = end;
  }
  return names;
}

test('every .wasm in the package is stripped of its debugging sections (name, producers)', async () => {
  const files = ['dpm_solver_bg.wasm', 'dpm_solver_relaxed_bg.wasm', 'sampler/dpm_solver_sampler_bg.wasm'];
  for (const f of files) {
    let b;
    try { b = await readFile(path.join(PKG, f)); } catch (e) {
      // The relaxed build is left out by RELAXED=0 (then init() uses the simd128 one everywhere).
      if (f.includes('relaxed') && e.code === 'ENOENT') continue;
      throw e;
    }
    assert.equal(b.readUInt32LE(0), 0x6d736100, `${f} is a wasm module`);
    const names = customSections(b);
    assert.ok(!names.includes('name') && !names.includes('producers'), `${f} keeps debugging sections: ${names.join(', ')}`);
  }
});
