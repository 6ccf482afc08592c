// "dpm-solver/worker": the Model in a Web Worker behind a promise-based API, so the page
// never blocks (a single worker loads the .wasm itself; a pool compiles it once on the page):
//   const w = createWorker({ model: '/unet.onnx' });
//   const meta = await w.ready;
//   const gen = await w.generate({ class: 7, steps: 10 }, { onProgress, onPreview, signal });
// The worker runs Model.generateAsync, so `signal` stops a run before its next evaluation.
// `createWorker({ model, workers: n })` starts a pool of n workers (one tract instance each,
// no SharedArrayBuffer needed) that splits a batch image by image (`firstImage`), so every
// core works on one generation and the images are the same for any n.
import { fetchBytes, relaxedSimdSupported } from './common.js';

// Bundlers (Vite with `worker: { format: 'es' }`, webpack 5) bundle worker-script.js from the
// `new Worker(new URL(...), { type: 'module' })` below.

function abortError(nfe, cause) {
  const e = new Error(`dpm-solver: generation cancelled after ${nfe} network evaluations`, { cause });
  e.name = 'AbortError';
  return e;
}

function toError(m) {
  const e = new Error(m.message);
  if (m.name) e.name = m.name;
  if (m.stage) e.stage = m.stage; // loading: 'wasm' or 'model'
  return e;
}

/**
 * Starts a worker that loads the wasm module and `options.model` (a URL, resolved against the
 * page, or the file's bytes as an ArrayBuffer / Uint8Array, transferred to the worker), with
 * `options.load` for what the file does not say (Model's load options: `metadata`,
 * `schedulerConfig`, `externalData`; MODEL.md). `options.onLoadProgress({ loaded, total })` reports the model download;
 * `options.worker` is a Worker you created from "dpm-solver/worker-script" yourself.
 * `options.workers` (default 1) starts a pool of that many workers instead (see `pool`).
 */
export function createWorker(options = {}) {
  if (!options || options.model == null) {
    throw new TypeError('dpm-solver/worker: createWorker({ model }) needs the model URL');
  }
  const n = options.workers ?? 1;
  if (!Number.isInteger(n) || n < 1 || n > 64) {
    throw new TypeError(`dpm-solver/worker: workers must be an integer in 1..=64, got ${n}`);
  }
  if (n > 1 && options.worker) {
    throw new TypeError('dpm-solver/worker: pass either worker (your own) or workers > 1 (a pool the package starts), not both');
  }
  return n === 1 ? single(options) : pool(options, n);
}

/** Whole-batch RGBA grid from per-shard strips (one row of tiles each, no gap), as gridRgba lays it out. */
function composeGrid(strips, shards, meta, layout, batch) {
  const scale = Math.max(1, layout.scale ?? 1), gap = layout.gap ?? 0;
  const cw = meta.width * scale, ch = meta.height * scale;
  let cols = layout.columns || 0;
  if (!cols) { cols = 1; while (cols * cols < batch) cols++; }
  cols = Math.min(cols, batch);
  const rows = Math.ceil(batch / cols);
  const width = cols * cw + (cols + 1) * gap, height = rows * ch + (rows + 1) * gap;
  const data = new Uint8ClampedArray(width * height * 4);
  for (let i = 3; i < data.length; i += 4) data[i] = 255; // gridRgba's opaque black background
  shards.forEach(({ start, len }, j) => {
    const strip = strips[j];
    if (!strip) return;
    for (let k = 0; k < len; k++) {
      const cell = start + k, ox = gap + (cell % cols) * (cw + gap), oy = gap + Math.floor(cell / cols) * (ch + gap);
      for (let y = 0; y < ch; y++) {
        const src = (y * strip.width + k * cw) * 4;
        data.set(strip.data.subarray(src, src + cw * 4), ((oy + y) * width + ox) * 4);
      }
    }
  });
  return { data, width, height };
}

/**
 * A pool of `n` workers behind the same API. A batch of B images is split into min(n, B)
 * contiguous shards; shard [a, b) runs as its own generation with `firstImage: a` (its own
 * noise streams: image i's noise does not depend on the split) and the classes / noise of its
 * images. The network sees each image alone (PLAN_BATCH 1), so the images equal those of one
 * worker bit for bit. Progress reports the slowest shard; previews are composed into one grid;
 * an abort or an error in one shard stops all. An adaptive run (its step sizes depend on the
 * whole batch) goes to one worker whole.
 */
function pool(options, n) {
  const base = typeof location !== 'undefined' ? location.href : undefined;
  // One download and one compilation for the whole pool: the page compiles the .wasm once and
  // posts the WebAssembly.Module to every worker (V8 shares the compiled code, and the optimised
  // code of its tier-up, between them), and downloads a model given as a URL once (each worker
  // gets a copy of the bytes).
  // The same build a single worker's init() picks (`defaultWasmUrl`): relaxed SIMD where the
  // engine validates it. Both URLs written out, for bundlers.
  const wasmUrl = options.wasm != null ? new URL(String(options.wasm), base)
    : relaxedSimdSupported() ? new URL('./dpm_solver_relaxed_bg.wasm', import.meta.url)
      : new URL('./dpm_solver_bg.wasm', import.meta.url);
  const wasm = compileWasm(wasmUrl);
  const isBytes = options.model instanceof ArrayBuffer || ArrayBuffer.isView(options.model);
  const model = isBytes ? options.model : fetchBytes(new URL(String(options.model), base),
    { onProgress: options.onLoadProgress });
  wasm.catch(() => {});
  if (!isBytes) model.catch(() => {});
  const members = Array.from({ length: n }, () => single({ ...options, workers: 1, wasm, model }));
  const ready = Promise.all(members.map((m) => m.ready)).then((metas) => metas[0]);
  ready.catch(() => {});
  let next = 0; // round robin for the runs that are not split

  async function generate(genOptions = {}, { onProgress, onPreview, preview, signal } = {}) {
    if (signal && signal.aborted) throw abortError(0, signal.reason);
    const meta = await ready;
    const batch = genOptions.batch ?? 1;
    const k = Math.min(n, Number.isInteger(batch) && batch > 0 ? batch : 1);
    if (k === 1 || genOptions.method === 'adaptive') {
      return members[next++ % n].generate(genOptions, { onProgress, onPreview, preview, signal });
    }
    const len = meta.channels * meta.height * meta.width;
    const first = genOptions.firstImage ?? 0;
    const shards = [];
    for (let j = 0, start = 0; j < k; j++) {
      const size = Math.floor(batch / k) + (j < batch % k ? 1 : 0);
      shards.push({ start, len: size });
      start += size;
    }
    const ac = new AbortController();
    const onAbort = () => ac.abort(signal.reason);
    signal && signal.addEventListener('abort', onAbort, { once: true });
    const last = shards.map(() => null); // each shard's latest progress
    const strips = shards.map(() => null);
    let reported = -1;
    const layout = preview || {};
    const report = () => {
      if (last.some((p) => !p)) return;
      const slow = last.reduce((a, b) => (b.nfe < a.nfe ? b : a));
      if (slow.nfe <= reported) return;
      reported = slow.nfe;
      onProgress && onProgress(slow);
      if (onPreview && strips.every(Boolean)) onPreview(composeGrid(strips, shards, meta, layout, batch));
    };
    try {
      const gens = await Promise.all(shards.map(({ start, len: size }, j) => {
        const o = { ...genOptions, batch: size, firstImage: first + start };
        if (Array.isArray(genOptions.class)) o.class = genOptions.class.slice(start, start + size);
        if (genOptions.noise) o.noise = genOptions.noise.slice(start * len, (start + size) * len);
        return members[j].generate(o, {
          signal: ac.signal,
          preview: onPreview ? { ...(layout.scale ? { scale: layout.scale } : {}), columns: size, gap: 0 } : undefined,
          onProgress: (p) => { last[j] = p; report(); },
          onPreview: onPreview ? (img) => { strips[j] = img; } : undefined,
        }).catch((e) => { ac.abort(e); throw e; });
      }));
      const images = new Float32Array(batch * len);
      gens.forEach((g, j) => images.set(g.images, shards[j].start * len));
      const whole = {
        ...gens[0],
        images,
        batch,
        labels: gens.flatMap((g) => g.labels),
        networkImages: gens.reduce((a, g) => a + g.networkImages, 0),
      };
      if (onPreview) onPreview(composeGrid(strips, shards, meta, layout, batch));
      return whole;
    } catch (e) {
      // The first shard's failure (an abort reaches every shard; report it once, as one worker would).
      if (signal && signal.aborted) throw abortError(Math.max(0, reported), signal.reason);
      throw e;
    } finally {
      signal && signal.removeEventListener('abort', onAbort);
    }
  }

  return {
    worker: members[0].worker,
    /** Every worker of the pool. */
    workers: members.map((m) => m.worker),
    ready,
    generate,
    terminate() { for (const m of members) m.terminate(); },
  };
}

/** The .wasm at `url`, compiled (streaming where the server sends application/wasm). */
async function compileWasm(url) {
  try {
    const response = fetch(url);
    if (typeof WebAssembly.compileStreaming === 'function') {
      try {
        return await WebAssembly.compileStreaming(response);
      } catch (e) {
        // A wrong MIME type: compile from the bytes instead; anything else is an error.
        if (!(e instanceof TypeError)) throw e;
      }
    }
    const r = await response;
    if (!r.ok) throw new Error(`HTTP ${r.status} for ${url}`);
    return await WebAssembly.compile(await r.arrayBuffer());
  } catch (e) {
    const err = new Error(`dpm-solver: could not load the WebAssembly module: ${(e && e.message) || e}`, { cause: e });
    err.stage = 'wasm';
    throw err;
  }
}

const asBytes = (m) => (m instanceof ArrayBuffer ? new Uint8Array(m)
  : ArrayBuffer.isView(m) ? new Uint8Array(m.buffer, m.byteOffset, m.byteLength) : null);

/**
 * One worker (createWorker with `workers` 1). Inside a pool, `options.wasm` is a promise of the
 * compiled module and `options.model` one of the model's bytes: the load message goes out when
 * both are there (the pool's generate waits for `ready` first).
 */
function single(options) {
  const base = typeof location !== 'undefined' ? location.href : undefined;
  const shared = options.wasm instanceof Promise;
  const bytes = asBytes(options.model);
  const model = bytes || options.model instanceof Promise ? null : String(new URL(String(options.model), base));
  const worker = options.worker ||
    new Worker(new URL('./worker-script.js', import.meta.url), { type: 'module' });
  const pending = new Map();
  let nextId = 1;
  let settleReady;
  const ready = new Promise((resolve, reject) => { settleReady = { resolve, reject }; });
  ready.catch(() => {});

  worker.onmessage = (e) => {
    const m = e.data;
    if (m.type === 'ready') return settleReady.resolve(m.metadata);
    if (m.type === 'loadProgress') return options.onLoadProgress && options.onLoadProgress(m.progress);
    if (m.type === 'loadError') return settleReady.reject(toError(m));
    const job = pending.get(m.id);
    if (!job) return;
    if (m.type === 'progress') {
      // Nothing once the run is aborted: progress still in flight must not follow the abort (a
      // pool's shards share one signal, so neither can its merged progress).
      if (job.signal && job.signal.aborted) return;
      job.onProgress && job.onProgress(m.progress);
      if (m.preview && job.onPreview) job.onPreview(m.preview);
    } else if (m.type === 'done') {
      pending.delete(m.id);
      job.cleanup();
      if (m.preview && job.onPreview) job.onPreview(m.preview);
      job.resolve(m.generation);
    } else if (m.type === 'error') {
      pending.delete(m.id);
      job.cleanup();
      job.reject(toError(m));
    }
  };
  worker.onerror = (e) => {
    const err = new Error(`dpm-solver/worker: the worker failed: ${e.message || 'script error (is worker.format "es" set in your bundler?)'}`);
    settleReady.reject(err);
    for (const job of pending.values()) { job.cleanup(); job.reject(err); }
    pending.clear();
  };
  const load = options.load;
  const post = (wasm, bytes) => {
    if (bytes) {
      const copy = bytes.slice();
      worker.postMessage({ type: 'load', bytes: copy, wasm, load }, [copy.buffer]);
    } else {
      worker.postMessage({ type: 'load', model, wasm, load });
    }
  };
  if (shared) {
    Promise.all([options.wasm, options.model]).then(([module, m]) => post(module, asBytes(m)),
      (e) => {
        if (!e.stage) e.stage = 'model';
        settleReady.reject(e);
      });
  } else {
    post(options.wasm == null ? undefined : String(new URL(String(options.wasm), base)), bytes);
  }

  return {
    worker,
    /**
     * Resolves with the model's metadata once the module and the model are loaded; rejects
     * with an Error whose `stage` says what failed ('wasm' or 'model').
     */
    ready,
    /**
     * Generates with Model.generate's options (without `signal`, given here instead).
     * `onProgress(p)` after every step ({ step, nfe, expectedNfe, t }); with `preview` (a
     * gridRgba layout, e.g. `{ columns: 4, gap: 1 }`) `onPreview({ data, width, height })`
     * gets the x0 estimate as RGBA after every step and the final images at the end.
     */
    generate(genOptions = {}, { onProgress, onPreview, preview, signal } = {}) {
      if (signal && signal.aborted) return Promise.reject(abortError(0, signal.reason));
      const id = nextId++;
      return new Promise((resolve, reject) => {
        const onAbort = () => worker.postMessage({ type: 'abort', id });
        signal && signal.addEventListener('abort', onAbort, { once: true });
        const cleanup = () => signal && signal.removeEventListener('abort', onAbort);
        pending.set(id, { resolve, reject, onProgress, onPreview, cleanup, signal });
        worker.postMessage({ type: 'generate', id, options: genOptions,
          preview: onPreview ? (preview || {}) : null });
      });
    },
    /** Stops the worker; pending generations reject. */
    terminate() {
      worker.terminate();
      const err = abortError(0);
      err.message = 'dpm-solver/worker: the worker was terminated';
      for (const job of pending.values()) { job.cleanup(); job.reject(err); }
      pending.clear();
      settleReady.reject(err);
    },
  };
}
