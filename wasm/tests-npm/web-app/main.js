// The page of the Vite and webpack test apps: dpm-solver/worker's createWorker runs the Model
// in a Web Worker; the page draws its previews and exposes window.app for the browser test.
import { createWorker } from 'dpm-solver/worker';

const canvas = document.getElementById('digits');
const ctx = canvas.getContext('2d');
const status = document.getElementById('status');
const app = { ready: false, meta: null, errors: [] };
/**
 * A pool of two workers from the model's bytes instead of its URL (the page compiles the bundled
 * .wasm once for both); resolves with its metadata.
 */
app.fromBytes = async () => {
  const bytes = await (await fetch(new URL('unet.onnx', document.baseURI))).arrayBuffer();
  const w = createWorker({ model: bytes, workers: 2 });
  try {
    const meta = await w.ready;
    const gen = await w.generate({ steps: 2, class: 3 });
    return { nullClass: meta.nullClass, nfe: gen.nfe, length: bytes.byteLength };
  } finally {
    w.terminate();
  }
};
window.app = app;

const dpm = createWorker({ model: new URL('unet.onnx', document.baseURI) });
dpm.ready.then(
  (meta) => { app.meta = meta; app.ready = true; status.textContent = 'ready'; },
  (e) => { app.errors.push(String(e.message || e)); status.textContent = String(e.message || e); },
);

/** One generation; `abortAtNfe` aborts the signal when that evaluation's progress arrives. */
app.generate = async (options, abortAtNfe) => {
  const ac = new AbortController();
  const progress = [];
  let previews = 0;
  const t0 = performance.now();
  let abortedAt = null;
  try {
    const gen = await dpm.generate(options, {
      signal: ac.signal,
      preview: { scale: 2, gap: 1 },
      onProgress: (p) => {
        progress.push(p.nfe);
        if (abortAtNfe && p.nfe >= abortAtNfe && !ac.signal.aborted) {
          abortedAt = performance.now();
          ac.abort();
        }
      },
      onPreview: (img) => {
        previews++;
        canvas.width = img.width;
        canvas.height = img.height;
        ctx.putImageData(new ImageData(img.data, img.width, img.height), 0, 0);
      },
    });
    let sum = 0;
    for (const v of gen.images) sum += v;
    status.textContent = `done: ${gen.nfe} NFE`;
    return { ok: true, nfe: gen.nfe, sum, labels: gen.labels, progress, previews, ms: performance.now() - t0 };
  } catch (e) {
    return { ok: false, name: e.name, message: e.message, progress, previews,
      stopMs: abortedAt === null ? null : performance.now() - abortedAt, ms: performance.now() - t0 };
  }
};
