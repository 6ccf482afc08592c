// "dpm-solver/worker": the Model in a Web Worker behind a promise-based API, so the page
// never blocks and never loads the .wasm itself:
//   const w = createWorker({ model: '/unet.onnx' });
//   const meta = await w.ready;
//   const gen = await w.generate({ class: 7, steps: 10 }, { onProgress, onPreview, signal });
// The worker runs Model.generateAsync, so `signal` stops a run before its next evaluation.
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
 */
export function createWorker(options = {}) {
  if (!options || options.model == null) {
    throw new TypeError('dpm-solver/worker: createWorker({ model }) needs the model URL');
  }
  const base = typeof location !== 'undefined' ? location.href : undefined;
  const bytes = options.model instanceof ArrayBuffer ? new Uint8Array(options.model)
    : ArrayBuffer.isView(options.model) ? new Uint8Array(options.model.buffer, options.model.byteOffset, options.model.byteLength)
      : null;
  const model = bytes ? null : String(new URL(String(options.model), base));
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
  const wasm = options.wasm == null ? undefined : String(new URL(String(options.wasm), base));
  const load = options.load;
  if (bytes) {
    const copy = bytes.slice();
    worker.postMessage({ type: 'load', bytes: copy, wasm, load }, [copy.buffer]);
  } else {
    worker.postMessage({ type: 'load', model, wasm, load });
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
        pending.set(id, { resolve, reject, onProgress, onPreview, cleanup });
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
