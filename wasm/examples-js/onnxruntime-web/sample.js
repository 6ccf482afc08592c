// Bring your own runtime: onnxruntime-web runs the network, dpm-solver's Sampler (the small
// sampler-only build, "dpm-solver/sampler") decides where to evaluate it. Everything about the
// model comes from the file itself through readOnnxInfo: the input names and types (the demo
// UNet takes x float32, t float32, class int64), its schedule and prediction type, and the
// null class that classifier-free guidance feeds as the unconditional half.

/** ORT tensor data for `values` in an ONNX input's element type. */
function typed(dtype, values) {
  if (dtype === 'int64') return BigInt64Array.from(values, (v) => BigInt(Math.round(v)));
  if (dtype === 'int32') return Int32Array.from(values, Math.round);
  if (dtype === 'float32') return Float32Array.from(values);
  throw new Error(`unsupported input type ${dtype}`);
}

/**
 * Draws `batch` images of class `cls` (null: unconditional) with DPM-Solver++(2M), `steps`
 * network evaluations, guidance scale `guidance`. `ort` is onnxruntime-web's module, `dpm` the
 * initialised dpm-solver (or dpm-solver/sampler) module, `bytes` the ONNX file.
 */
export async function generate(ort, dpm, bytes, { seed = 0, batch = 4, cls = null, guidance = 1, steps = 10,
  executionProviders = ['wasm'] } = {}) {
  const info = dpm.readOnnxInfo(bytes);
  const meta = info.metadata;
  if (!meta) throw new Error(`the model's metadata_props do not describe a diffusion model: ${info.metadataError}`);
  // Inputs by the names the exporter recorded (input_names), else in graph order: x, t, class.
  const order = (info.props.input_names || '').split(',').filter(Boolean);
  const byName = (name, i) => info.inputs.find((inp) => inp.name === name) || info.inputs[i];
  const [xIn, tIn, classIn] = [0, 1, 2].map((i) => byName(order[i], i));
  const session = await ort.InferenceSession.create(bytes, { executionProviders });

  const per = meta.channels * meta.height * meta.width;
  const x = new Float32Array(batch * per);
  for (let i = 0; i < batch; i++) x.set(dpm.gaussianNoise(seed, per, i), i * per);
  const guided = cls !== null && guidance !== 1;
  const sampler = new dpm.Sampler({
    schedule: meta.schedule, prediction: meta.prediction,
    algorithm: 'dpmsolver++', method: 'multistep', order: 2, steps, spacing: 'logSNR', batch,
    ...(guided ? { guidance: { type: 'classifier-free', scale: guidance } } : {}),
  }, x);
  // Class labels: the wanted class, and the null class for the unconditional half / no class.
  const labels = new Array(batch).fill(cls === null ? meta.nullClass : cls);
  if (guided) labels.push(...new Array(batch).fill(meta.nullClass));
  const b = labels.length;
  const n = batch * per;
  let req;
  try {
    while ((req = sampler.ask())) {
      const xs = guided ? new Float32Array(2 * n) : req.x;
      if (guided) { xs.set(req.x); xs.set(req.x, n); }
      // The network's time: a discrete timestep 0..N-1 (the Sampler's tModel is on 0..1000).
      const t = (req.tModel * meta.numTrainTimesteps) / 1000;
      const feeds = {
        [xIn.name]: new ort.Tensor('float32', xs, [b, meta.channels, meta.height, meta.width]),
        [tIn.name]: new ort.Tensor(tIn.dtype, typed(tIn.dtype, new Array(b).fill(t)), [b]),
      };
      if (classIn && meta.numClasses > 0) {
        feeds[classIn.name] = new ort.Tensor(classIn.dtype, typed(classIn.dtype, labels), [b]);
      }
      const results = await session.run(feeds);
      const out = results[info.outputs[0].name].data;
      if (guided) sampler.tellCfg(out.subarray(0, n), out.subarray(n));
      else sampler.tell(out);
    }
    const images = sampler.x;
    const [lo, hi] = meta.valueRange;
    for (let i = 0; i < images.length; i++) images[i] = Math.min(hi, Math.max(lo, images[i]));
    return { images, nfe: sampler.nfe, meta, inputs: info.inputs.map((i) => `${i.name}: ${i.dtype}`) };
  } finally {
    sampler.free();
    await session.release();
  }
}
