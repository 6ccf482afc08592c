// Shared by the package's entry modules (index.js, sampler.js and their node variants):
// init() guards, yielding to the event loop, abort errors and reading model bytes.

/** Wraps a wasm-bindgen glue module's init functions; `ensure()` throws until one finished. */
export function guarded(glue, name) {
  let ready = false;
  const init = async (input) => {
    try {
      const out = await glue.default(input);
      ready = true;
      return out;
    } catch (e) {
      throw new Error(`${name}: could not load the WebAssembly module: ${message(e)}` +
        (/magic word|expected magic/i.test(message(e))
          ? ' (the .wasm URL returned something else, e.g. an HTML page: check where the file is served)'
          : ''), { cause: e });
    }
  };
  const initSync = (input) => {
    const out = glue.initSync(input);
    ready = true;
    return out;
  };
  const ensure = () => {
    if (!ready) {
      throw new Error(`${name}: call \`await init()\` first (the WebAssembly module is not loaded yet)`);
    }
  };
  /** A function of the glue that checks `ensure()` first. */
  const fn = (f) => function (...args) { ensure(); return f.apply(this, args); };
  return { init, initSync, ensure, fn, isReady: () => ready };
}

export function message(e) {
  return String((e && e.message) || e);
}

/**
 * Resolves in a new task of the event loop (not a microtask): messages, timers and abort
 * events queued meanwhile run first. setImmediate in Node, a MessageChannel in browsers and
 * workers (setTimeout(0) is clamped to 4 ms when nested).
 */
export const nextTask = (() => {
  if (typeof setImmediate === 'function') return () => new Promise((r) => setImmediate(r));
  if (typeof MessageChannel === 'function') {
    const ch = new MessageChannel();
    const queue = [];
    ch.port1.onmessage = () => queue.shift()();
    return () => new Promise((r) => { queue.push(r); ch.port2.postMessage(0); });
  }
  return () => new Promise((r) => setTimeout(r, 0));
})();

/** The Error `generate` throws when cancelled (name "AbortError", as the sync generate). */
export function abortError(nfe, reason) {
  const e = new Error(`dpm-solver: generation cancelled after ${nfe} network evaluations`,
    reason === undefined ? undefined : { cause: reason });
  e.name = 'AbortError';
  return e;
}

function isResponse(v) {
  return typeof Response === 'function' && v instanceof Response;
}

/** Model bytes from what a user may pass: Uint8Array, ArrayBuffer or another typed-array view. */
export function toBytes(input, name) {
  if (input instanceof Uint8Array) return input;
  if (input instanceof ArrayBuffer ||
      (typeof SharedArrayBuffer === 'function' && input instanceof SharedArrayBuffer)) {
    return new Uint8Array(input);
  }
  if (ArrayBuffer.isView(input)) return new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
  if (isResponse(input)) {
    throw new TypeError(`${name}: a Response must be read first: use \`await Model.fromResponse(response)\` or \`await Model.fromUrl(url)\``);
  }
  if (typeof input === 'string' || input instanceof URL) {
    throw new TypeError(`${name}: new Model takes the file's bytes; to load from a URL use \`await Model.fromUrl(url)\``);
  }
  if (typeof Blob === 'function' && input instanceof Blob) {
    throw new TypeError(`${name}: a Blob/File must be read first: \`new Model(new Uint8Array(await file.arrayBuffer()))\``);
  }
  throw new TypeError(`${name}: new Model takes a Uint8Array or ArrayBuffer with the ONNX file, got ${describe(input)}`);
}

function describe(v) {
  if (v === null) return 'null';
  if (typeof v !== 'object') return typeof v;
  return (v.constructor && v.constructor.name) || 'an object';
}

/**
 * The body of a fetch Response as bytes, with download progress and cancellation:
 * `onProgress({ loaded, total })` (total null when the server sends no Content-Length).
 * A non-2xx status or an HTML/JSON page where a model was expected is an Error naming the URL.
 */
export async function readResponse(response, { onProgress, signal } = {}, name = 'dpm-solver') {
  if (!isResponse(response)) throw new TypeError(`${name}: expected a fetch Response, got ${describe(response)}`);
  const url = response.url || 'the response';
  if (!response.ok) {
    throw new Error(`${name}: could not download the model: HTTP ${response.status} ${response.statusText} for ${url}`);
  }
  if (response.bodyUsed) throw new Error(`${name}: the Response body was already read`);
  const type = (response.headers.get('content-type') || '').toLowerCase();
  if (type.startsWith('text/html')) {
    throw new Error(`${name}: cannot load the ONNX model: got an HTML page (content-type ${type}) from ${url}: check the URL (a dev server's index.html fallback answers missing files)`);
  }
  const len = Number(response.headers.get('content-length'));
  const total = Number.isFinite(len) && len > 0 && !response.headers.get('content-encoding') ? len : null;
  if (!response.body || typeof response.body.getReader !== 'function') {
    const bytes = new Uint8Array(await response.arrayBuffer());
    onProgress && onProgress({ loaded: bytes.length, total: bytes.length });
    return bytes;
  }
  const reader = response.body.getReader();
  const chunks = [];
  let loaded = 0;
  const onAbort = () => reader.cancel().catch(() => {});
  signal && signal.addEventListener('abort', onAbort, { once: true });
  try {
    onProgress && onProgress({ loaded: 0, total });
    for (;;) {
      if (signal && signal.aborted) throw abortLoad(signal);
      const { done, value } = await reader.read();
      if (signal && signal.aborted) throw abortLoad(signal);
      if (done) break;
      chunks.push(value);
      loaded += value.length;
      onProgress && onProgress({ loaded, total });
    }
  } finally {
    signal && signal.removeEventListener('abort', onAbort);
  }
  const bytes = new Uint8Array(loaded);
  let at = 0;
  for (const c of chunks) { bytes.set(c, at); at += c.length; }
  return bytes;
}

function abortLoad(signal) {
  const e = new Error('dpm-solver: model download aborted', { cause: signal.reason });
  e.name = 'AbortError';
  return e;
}

/** fetch(url) then readResponse, aborting the request with `signal`. */
export async function fetchBytes(url, options = {}, name = 'dpm-solver') {
  if (options.signal && options.signal.aborted) throw abortLoad(options.signal);
  let response;
  try {
    response = await fetch(url, { signal: options.signal });
  } catch (e) {
    if (e && e.name === 'AbortError') throw abortLoad(options.signal);
    throw new Error(`${name}: could not fetch the model from ${url}: ${message(e)}`, { cause: e });
  }
  return readResponse(response, options, name);
}

/**
 * Whether this engine runs WebAssembly relaxed SIMD: validates a 41-byte module whose one
 * function is an `f32x4.relaxed_madd` (Chrome 114+, Firefox 145+, Node 22; not Safari, not
 * Node 20 without --experimental-wasm-relaxed-simd). Picks the package's relaxed build.
 */
export function relaxedSimdSupported() {
  try {
    return WebAssembly.validate(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123,
      3, 2, 1, 0, 10, 19, 1, 17, 0, 65, 0, 253, 17, 65, 0, 253, 17, 65, 0, 253, 17, 253, 133, 2, 11]));
  } catch {
    return false;
  }
}
