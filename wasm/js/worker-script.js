// The worker side of "dpm-solver/worker" (createWorker starts it as a module worker): loads
// the wasm module and the model, then runs Model.generateAsync per request, posting progress,
// RGBA previews and the result; an 'abort' message stops a run before its next evaluation.
import init, { Model, gridRgba } from './index.js';

let loaded = null;
const runs = new Map(); // id -> AbortController
const post = (m, transfer) => self.postMessage(m, transfer || []);
const errorMessage = (e) => ({ message: String((e && e.message) || e), name: e && e.name, stage: e && e.stage });

/** Runs `f`; an error it throws is tagged with the loading stage ('wasm' or 'model'). */
async function stage(name, f) {
  try {
    return await f();
  } catch (e) {
    const err = e instanceof Error ? e : new Error(String(e));
    err.stage = name;
    throw err;
  }
}

async function load(m) {
  await stage('wasm', () => init(m.wasm === undefined ? undefined : { module_or_path: m.wasm }));
  const model = await stage('model', async () => (m.bytes ? new Model(m.bytes, m.load) : Model.fromUrl(m.model, {
    ...m.load,
    onProgress: (progress) => post({ type: 'loadProgress', progress }),
  })));
  post({ type: 'ready', metadata: model.metadata });
  return model;
}

function grid(model, x, layout) {
  const meta = model.metadata;
  const batch = x.length / (meta.channels * meta.height * meta.width);
  const g = gridRgba(x, { height: meta.height, width: meta.width, channels: meta.channels,
    valueRange: meta.valueRange, batch, columns: Math.ceil(Math.sqrt(batch)), ...layout });
  return { data: g.data, width: g.width, height: g.height };
}

async function generate(m, ac) {
  const model = await loaded;
  try {
    const gen = await model.generateAsync({ ...m.options, signal: ac.signal }, (p) => {
      const progress = { step: p.step, nfe: p.nfe, expectedNfe: p.expectedNfe, t: p.t };
      const preview = m.preview ? grid(model, p.x0, m.preview) : null;
      post({ type: 'progress', id: m.id, progress, preview }, preview ? [preview.data.buffer] : []);
    });
    const preview = m.preview ? grid(model, gen.images, m.preview) : null;
    post({ type: 'done', id: m.id, generation: gen, preview },
      [gen.images.buffer, ...(preview ? [preview.data.buffer] : [])]);
  } finally {
    runs.delete(m.id);
  }
}

// Set at once (not after an await), so no message sent before the module is loaded is lost.
self.onmessage = (e) => {
  const m = e.data;
  if (m.type === 'load') {
    loaded = load(m);
    loaded.catch((err) => post({ type: 'loadError', ...errorMessage(err) }));
  } else if (m.type === 'generate') {
    if (!loaded) return post({ type: 'error', id: m.id, message: 'dpm-solver/worker: no model loaded' });
    // Registered now, so an abort that arrives while the model still loads is not lost.
    const ac = new AbortController();
    runs.set(m.id, ac);
    generate(m, ac).catch((err) => post({ type: 'error', id: m.id, ...errorMessage(err) }));
  } else if (m.type === 'abort') {
    const ac = runs.get(m.id);
    if (ac) ac.abort();
  }
};
