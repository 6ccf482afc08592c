// dpm-solver/webgpu: the solver step on the GPU. `Sampler.plan()` compiles a run into
// elementwise operations `dst = sum w * src` over a few latent-sized buffers; PlanExecutor
// applies them with one WGSL compute dispatch per network evaluation, on GPU buffers that a
// WebGPU model runtime (onnxruntime-web's WebGPU execution provider) reads and writes
// directly, so no latent leaves the GPU until the end. sampleWithOrt() is that loop for an
// onnxruntime-web InferenceSession (bring your own `ort`; this package does not depend on it).
// The adaptive method has no plan ahead of time: `new StepPlan(options)` plans it one
// evaluation at a time, StepPlanExecutor applies each evaluation's operations and computes the
// error norm of each trial with a WGSL reduction (4 bytes read back per trial), and
// sampleStepsWithOrt() is its onnxruntime-web loop.

/** The plan interpreter: one invocation per element, the step's operations in order. */
export const PLAN_WGSL = /* wgsl */ `
struct Step { first_op: u32, num_ops: u32, n: u32, noise_offset: u32 };
@group(0) @binding(0) var<storage, read_write> bufs: array<f32>;
@group(0) @binding(1) var<storage, read> prog: array<u32>;
@group(0) @binding(2) var<storage, read> noise: array<f32>;
@group(0) @binding(3) var<uniform> st: Step;

fn load(b: u32, i: u32) -> f32 {
  if (b == 3u) { return noise[st.noise_offset + i]; }
  return bufs[b * st.n + i];
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 64u;
  if (i >= st.n) { return; }
  for (var j = 0u; j < st.num_ops; j++) {
    let o = (st.first_op + j) * 4u;
    let dst = prog[o];
    let t0 = prog[o + 1u];
    let tn = prog[o + 2u];
    let c = bitcast<f32>(prog[o + 3u]);
    var v = 0.0;
    for (var t = 0u; t < tn; t++) {
      let p = t0 + 2u * t;
      v = v + bitcast<f32>(prog[p + 1u]) * load(prog[p], i);
    }
    if (c > 0.0) { v = clamp(v, -c, c); }
    bufs[dst * st.n + i] = v;
  }
}
`;

/**
 * The adaptive error norm (`PlanNorm`): `sums` writes each sample's sum of `(d / delta)^2` (one
 * workgroup per sample), `finish` the largest `sqrt(sum / dim)` into `result[0]`. Parameter
 * words: 0 terms of x_lo, 1..4 their buffers, 5..8 their weights, 9 diff terms, 10..11 their
 * buffers, 12..13 their weights, 14 base, 15 prev, 16 atol, 17 rtol, 18 dim, 19 batch, 20 n.
 */
export const NORM_WGSL = /* wgsl */ `
@group(0) @binding(0) var<storage, read> bufs: array<f32>;
@group(0) @binding(1) var<storage, read> p: array<u32>;
@group(0) @binding(2) var<storage, read_write> sums: array<f32>;
@group(0) @binding(3) var<storage, read_write> result: array<f32>;
var<workgroup> part: array<f32, 256>;

fn val(b: u32, i: u32) -> f32 { return bufs[b * p[20] + i]; }
fn w(k: u32) -> f32 { return bitcast<f32>(p[k]); }

fn square(i: u32) -> f32 {
  var lo = 0.0;
  for (var k = 0u; k < p[0]; k++) { lo = lo + w(5u + k) * val(p[1u + k], i); }
  let base = val(p[14], i);
  var d = 0.0;
  for (var k = 0u; k < p[9]; k++) { d = d + w(12u + k) * (val(p[10u + k], i) - base); }
  let big = max(abs(lo), abs(val(p[15], i)));
  let delta = max(w(16u), w(17u) * big);
  let e = d / delta;
  return e * e;
}

@compute @workgroup_size(256)
fn sums_main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let dim = p[18];
  let start = wid.x * dim;
  var acc = 0.0;
  for (var j = lid.x; j < dim; j += 256u) { acc = acc + square(start + j); }
  part[lid.x] = acc;
  workgroupBarrier();
  for (var s = 128u; s > 0u; s = s >> 1u) {
    if (lid.x < s) { part[lid.x] = part[lid.x] + part[lid.x + s]; }
    workgroupBarrier();
  }
  if (lid.x == 0u) { sums[wid.x] = part[0]; }
}

@compute @workgroup_size(1)
fn finish_main() {
  var worst = 0.0;
  for (var b = 0u; b < p[19]; b++) {
    let norm = sqrt(sums[b] / f32(p[18]));
    if (!(norm <= worst)) { worst = norm; }
  }
  result[0] = worst;
}
`;

const F32 = 4;
const UNIFORM_STRIDE = 256; // minUniformBufferOffsetAlignment's guaranteed maximum
const NORM_WORDS = 21;
const MAX_BATCH = 65535; // one workgroup per sample

function checkPlan(plan) {
  const need = ['nfe', 'numBuffers', 'inputs', 'tModel', 'stepOps', 'opDst', 'opClamp', 'opTerms', 'termBuf', 'termWeight'];
  for (const k of need) {
    if (plan?.[k] === undefined) throw new Error(`not a SamplerPlan (no '${k}'): pass sampler.plan()`);
  }
  if (plan.stepOps.length !== plan.nfe + 1) throw new Error('SamplerPlan.stepOps must have nfe + 1 entries');
}

/**
 * The sample's buffers on the GPU, shared by both executors: one arena of `numBuffers`
 * buffers of `n` floats (buffer `i` at `i * n` floats), its upload, copies and read-back, and
 * the byte counts.
 */
class Arena {
  constructor(device, n, numBuffers, label) {
    this.device = device;
    this.n = n;
    const G = globalThis.GPUBufferUsage;
    this.arena = device.createBuffer({ label, size: numBuffers * n * F32, usage: G.STORAGE | G.COPY_SRC | G.COPY_DST });
    const groups = Math.ceil(n / 64);
    this.dispatch = groups <= 65535 ? [groups, 1] : [65535, Math.ceil(groups / 65535)];
    /** Bytes moved CPU to GPU and GPU to CPU so far. */
    this.bytesUp = 0;
    this.bytesDown = 0;
  }

  /** Byte offset of buffer `index` in {@link arena}. */
  offset(index) {
    return index * this.n * F32;
  }

  /** Uploads the start `x_T` (the one upload of a run's sample). */
  writeX(xT) {
    if (!(xT instanceof Float32Array) || xT.length !== this.n) throw new Error(`xT must be a Float32Array of ${this.n} elements`);
    this.device.queue.writeBuffer(this.arena, 0, xT.buffer, xT.byteOffset, xT.byteLength);
    this.bytesUp += xT.byteLength;
  }

  /** Encodes the copy of buffer `index` into `dst`, `copies` times back to back. */
  copyOut(encoder, index, dst, dstOffset, copies) {
    for (let c = 0; c < copies; c++) {
      encoder.copyBufferToBuffer(this.arena, this.offset(index), dst, dstOffset + c * this.n * F32, this.n * F32);
    }
  }

  /** Reads buffer `index` (default: `x`, the result) back to the CPU. */
  async read(index = 0) {
    const size = this.n * F32;
    const staging = this.device.createBuffer({ size, usage: globalThis.GPUBufferUsage.MAP_READ | globalThis.GPUBufferUsage.COPY_DST });
    const enc = this.device.createCommandEncoder();
    enc.copyBufferToBuffer(this.arena, this.offset(index), staging, 0, size);
    this.device.queue.submit([enc.finish()]);
    await staging.mapAsync(globalThis.GPUMapMode.READ);
    const out = new Float32Array(staging.getMappedRange().slice(0));
    staging.unmap();
    staging.destroy();
    this.bytesDown += size;
    return out;
  }
}

/**
 * The GPU side of a plan: an arena of `plan.numBuffers` buffers of `n` floats (the sample `x`
 * is buffer 0, the network output buffer 1, the unconditional output buffer 2, the solver's
 * slots from 4), the program uploaded once, and one bind group per evaluation.
 */
export class PlanExecutor extends Arena {
  /**
   * @param {GPUDevice} device the device the model runtime uses (onnxruntime-web:
   *   `await ort.env.webgpu.device` after creating the session)
   * @param {import('./dpm_solver.js').SamplerPlan} plan `sampler.plan()`
   * @param {number} n elements of the sample (all images of the batch)
   * @param {{ noise?: Float32Array }} [options] SDE plans: `nfe * n` standard normals,
   *   evaluation `k`'s at `k * n` (uploaded once)
   */
  constructor(device, plan, n, options = {}) {
    checkPlan(plan);
    if (!(Number.isInteger(n) && n > 0)) throw new Error(`n must be a positive integer, got ${n}`);
    if (plan.noise && !(options.noise instanceof Float32Array && options.noise.length === plan.nfe * n)) {
      throw new Error(`this plan (an SDE scheduler) needs options.noise: ${plan.nfe} x ${n} standard normals`);
    }
    super(device, n, plan.numBuffers, 'dpm-solver plan buffers');
    this.plan = plan;
    this.nfe = plan.nfe;
    this.guided = !!plan.guide;
    const G = globalThis.GPUBufferUsage;
    // The whole run's operations as one program (each evaluation's bind group selects its range).
    const { prog } = opsProgram(plan, plan.numBuffers);
    this.prog = this.#upload(prog, G.STORAGE, 'dpm-solver plan program');
    this.noise = this.#upload(plan.noise ? options.noise : new Float32Array(1), G.STORAGE, 'dpm-solver plan noise');
    const uni = new Uint32Array((UNIFORM_STRIDE / 4) * Math.max(plan.nfe, 1));
    for (let k = 0; k < plan.nfe; k++) {
      const u = (UNIFORM_STRIDE / 4) * k;
      uni[u] = plan.stepOps[k];
      uni[u + 1] = plan.stepOps[k + 1] - plan.stepOps[k];
      uni[u + 2] = n;
      uni[u + 3] = plan.noise ? k * n : 0;
    }
    this.uniforms = this.#upload(uni, G.UNIFORM, 'dpm-solver plan steps');
    const module = device.createShaderModule({ label: 'dpm-solver plan', code: PLAN_WGSL });
    this.pipeline = device.createComputePipeline({ label: 'dpm-solver plan', layout: 'auto', compute: { module, entryPoint: 'main' } });
    const layout = this.pipeline.getBindGroupLayout(0);
    this.groups = [];
    for (let k = 0; k < plan.nfe; k++) {
      this.groups.push(device.createBindGroup({
        layout,
        entries: [
          { binding: 0, resource: { buffer: this.arena } },
          { binding: 1, resource: { buffer: this.prog } },
          { binding: 2, resource: { buffer: this.noise } },
          { binding: 3, resource: { buffer: this.uniforms, offset: k * UNIFORM_STRIDE, size: 16 } },
        ],
      }));
    }
    // The uploads at creation (`writeX` and reads add to the counts).
    this.bytesUp = prog.byteLength + uni.byteLength + (plan.noise ? options.noise.byteLength : 4);
  }

  #upload(data, usage, label) {
    const buf = this.device.createBuffer({ label, size: Math.max(data.byteLength, 16), usage: usage | globalThis.GPUBufferUsage.COPY_DST });
    this.device.queue.writeBuffer(buf, 0, data.buffer, data.byteOffset, data.byteLength);
    return buf;
  }

  /** Starts from `x_T` already on the GPU (`n` floats at `offset` of `buffer`). */
  copyX(encoder, buffer, offset = 0) {
    encoder.copyBufferToBuffer(buffer, offset, this.arena, 0, this.n * F32);
  }

  /**
   * Encodes the copy of evaluation `k`'s input into the model's input buffer: `copies` times
   * back to back (2 for classifier-free guidance as one batch `[x, x]`).
   */
  encodeInput(encoder, k, dst, dstOffset = 0, copies = this.guided ? 2 : 1) {
    this.copyOut(encoder, this.plan.inputs[k], dst, dstOffset, copies);
  }

  /**
   * Encodes evaluation `k`'s update: copies the network output (`n` floats, or `2n` as
   * `[cond, uncond]` with guidance) from `output` into buffers 1 (and 2), then dispatches the
   * step's operations.
   */
  encodeStep(encoder, k, output, outputOffset = 0) {
    if (!(k >= 0 && k < this.nfe)) throw new Error(`step ${k} outside the plan's ${this.nfe} evaluations`);
    const len = (this.guided ? 2 : 1) * this.n * F32;
    encoder.copyBufferToBuffer(output, outputOffset, this.arena, this.offset(1), len);
    const pass = encoder.beginComputePass({ label: `dpm-solver step ${k}` });
    pass.setPipeline(this.pipeline);
    pass.setBindGroup(0, this.groups[k]);
    pass.dispatchWorkgroups(this.dispatch[0], this.dispatch[1]);
    pass.end();
  }

  /** Frees the GPU buffers. */
  destroy() {
    for (const b of [this.arena, this.prog, this.noise, this.uniforms]) b.destroy();
  }
}

/**
 * Runs a plan with an onnxruntime-web session on its WebGPU execution provider, inputs and
 * outputs as GPU buffers: per evaluation, a GPU copy into the network input, `session.run`,
 * a GPU copy of the output and one dispatch. The time inputs (one per evaluation) and the
 * class labels are uploaded once before the loop; only the result (and the optional previews)
 * is read back.
 *
 * @param {object} o
 * @param {typeof import('onnxruntime-web')} o.ort the onnxruntime-web module
 * @param {import('onnxruntime-web').InferenceSession} o.session created with
 *   `executionProviders: ['webgpu']` and `preferredOutputLocation: 'gpu-buffer'`
 * @param {import('./dpm_solver.js').SamplerPlan} o.plan `sampler.plan()`
 * @param {Float32Array} o.xT the start, `batch` images
 * @param {number[]} o.shape one image's `[channels, height, width]`
 * @param {number} o.numTrainTimesteps the network's time unit (time input `tModel N / 1000`
 *   for DPM-Solver plans, the integer timestep for diffusers schedulers)
 * @param {string[]} [o.inputNames] image, time (and class) input names; default the session's
 * @param {ArrayLike<number>} [o.classes] one label per image (conditional models)
 * @param {number} [o.nullClass] the unconditional label (guided plans)
 * @param {'float32'|'int64'} [o.timeType] the time input's type (default float32)
 * @param {Float32Array} [o.noise] SDE plans: `nfe * n` standard normals
 * @param {(k: number, exec: PlanExecutor) => (void|Promise<void>)} [o.onStep] after each
 *   evaluation (read a preview with `exec.read(slot)` only if you want one: it costs a copy)
 * @returns {Promise<{ x: Float32Array, nfe: number, cpuMsPerStep: number, cpuMsPerStepMedian: number, bytesUpPerStep: number, bytesDownPerStep: number, bytesUpOnce: number, bytesDownOnce: number }>}
 */
export async function sampleWithOrt(o) {
  const { ort, session, plan, xT, shape } = o;
  const batch = plan.batch ?? 1;
  const n = xT.length;
  if (!Array.isArray(shape) || shape.length < 1 || shape.reduce((a, b) => a * b, 1) * batch !== n) {
    throw new Error(`shape ${JSON.stringify(shape)} x batch ${batch} does not match xT's ${n} elements`);
  }
  const device = await ort.env.webgpu.device;
  if (!device) throw new Error('onnxruntime-web has no WebGPU device: create the session with executionProviders: ["webgpu"] first');
  const exec = new PlanExecutor(device, plan, n, { noise: o.noise });
  exec.writeX(xT);
  const guided = exec.guided;
  const evalB = guided ? 2 * batch : batch;
  const names = o.inputNames ?? session.inputNames;
  const G = globalThis.GPUBufferUsage;
  const xIn = device.createBuffer({ label: 'dpm-solver model input', size: evalB * (n / batch) * F32, usage: G.STORAGE | G.COPY_SRC | G.COPY_DST });
  const xTensor = ort.Tensor.fromGpuBuffer(xIn, { dataType: 'float32', dims: [evalB, ...shape] });
  const timeType = o.timeType ?? 'float32';
  const scale = plan.scheduler ? 1 : o.numTrainTimesteps / 1000;
  let bytesUpOnce = 0;
  const tTensors = [];
  const tBuffers = [];
  for (let k = 0; k < plan.nfe; k++) {
    const v = plan.tModel[k] * scale;
    const data = timeType === 'int64' ? new BigInt64Array(evalB).fill(BigInt(Math.round(v))) : new Float32Array(evalB).fill(v);
    const buf = device.createBuffer({ size: Math.max(16, data.byteLength), usage: G.STORAGE | G.COPY_SRC | G.COPY_DST });
    device.queue.writeBuffer(buf, 0, data.buffer, 0, data.byteLength);
    bytesUpOnce += data.byteLength;
    tBuffers.push(buf);
    tTensors.push(ort.Tensor.fromGpuBuffer(buf, { dataType: timeType, dims: [evalB] }));
  }
  let classTensor = null;
  if (names.length > 2) {
    const labels = new BigInt64Array(evalB);
    for (let i = 0; i < batch; i++) labels[i] = BigInt(o.classes?.[i] ?? o.nullClass ?? 0);
    if (guided) {
      if (o.nullClass === undefined || o.nullClass === null) throw new Error('a guided plan needs nullClass');
      labels.fill(BigInt(o.nullClass), batch);
    }
    // int64 stays a CPU tensor (8 bytes a label): the WebGPU EP takes int64 inputs from the CPU.
    classTensor = new ort.Tensor('int64', labels, [evalB]);
  }
  const outName = session.outputNames[0];
  const stepMs = [];
  let bytesUpPerRun = 0;
  for (let k = 0; k < plan.nfe; k++) {
    let t0 = performance.now();
    let enc = device.createCommandEncoder();
    exec.encodeInput(enc, k, xIn);
    device.queue.submit([enc.finish()]);
    let ms = performance.now() - t0;
    const feeds = { [names[0]]: xTensor, [names[1]]: tTensors[k] };
    if (classTensor) {
      feeds[names[2]] = classTensor;
      bytesUpPerRun += classTensor.data.byteLength;
    }
    const res = await session.run(feeds);
    const out = res[outName];
    if (out.location !== 'gpu-buffer') throw new Error(`the session returned its output on '${out.location}': create it with preferredOutputLocation: 'gpu-buffer'`);
    t0 = performance.now();
    enc = device.createCommandEncoder();
    exec.encodeStep(enc, k, out.gpuBuffer);
    device.queue.submit([enc.finish()]);
    ms += performance.now() - t0;
    stepMs.push(ms);
    out.dispose();
    if (o.onStep) await o.onStep(k, exec);
  }
  const previewBytes = exec.bytesDown;
  const x = await exec.read(0);
  const bytesDownOnce = exec.bytesDown - previewBytes;
  bytesUpOnce += exec.bytesUp;
  exec.destroy();
  xIn.destroy();
  for (const b of tBuffers) b.destroy();
  return {
    x,
    nfe: plan.nfe,
    cpuMsPerStep: stepMs.reduce((a, b) => a + b, 0) / Math.max(plan.nfe, 1),
    cpuMsPerStepMedian: [...stepMs].sort((a, b) => a - b)[stepMs.length >> 1] ?? 0,
    bytesUpPerStep: bytesUpPerRun / Math.max(plan.nfe, 1),
    bytesDownPerStep: previewBytes / Math.max(plan.nfe, 1),
    bytesUpOnce,
    bytesDownOnce,
  };
}

/**
 * Words of a program in PLAN_WGSL's format: 4 per op (dst, first term word, term count, clamp
 * bits), then 2 per term (buffer, weight bits). `ops`: a `PlanOps` or a whole `SamplerPlan`.
 */
function opsProgram(ops, numBuffers) {
  const nOps = ops.opDst.length;
  const nTerms = ops.termBuf.length;
  const prog = new Uint32Array(Math.max(4 * nOps + 2 * nTerms, 4));
  const f = new Float32Array(1);
  const bits = new Uint32Array(f.buffer);
  for (let j = 0; j < nOps; j++) {
    prog[4 * j] = ops.opDst[j];
    prog[4 * j + 1] = 4 * nOps + 2 * ops.opTerms[j];
    prog[4 * j + 2] = ops.opTerms[j + 1] - ops.opTerms[j];
    f[0] = ops.opClamp[j];
    prog[4 * j + 3] = bits[0];
  }
  for (let j = 0; j < nOps; j++) {
    if (ops.opDst[j] >= numBuffers) throw new Error(`plan op writes buffer ${ops.opDst[j]} of ${numBuffers}`);
  }
  for (let t = 0; t < nTerms; t++) {
    const b = ops.termBuf[t];
    if (b >= numBuffers) throw new Error(`plan term reads buffer ${b} of ${numBuffers}`);
    prog[4 * nOps + 2 * t] = b;
    f[0] = ops.termWeight[t];
    prog[4 * nOps + 2 * t + 1] = bits[0];
  }
  return { prog, nOps };
}

/**
 * The GPU side of a step-by-step plan (`new StepPlan(options)`, any DPM-Solver method; needed
 * for the adaptive one): the same arena as PlanExecutor (`plan.numBuffers` buffers of `n`
 * floats), each evaluation's operations uploaded as it comes (a few hundred bytes), and the
 * adaptive error norm as a WGSL reduction whose one scalar is the only value read back during
 * sampling. WGSL lets an implementation assume no NaN: a NaN latent may not reject as it does
 * on the CPU.
 */
export class StepPlanExecutor extends Arena {
  /**
   * @param {GPUDevice} device
   * @param {import('./dpm_solver.js').StepPlan} plan `new StepPlan(options)`
   * @param {number} n elements of the sample (all `plan.batch` images)
   */
  constructor(device, plan, n) {
    if (!(Number.isInteger(n) && n > 0)) throw new Error(`n must be a positive integer, got ${n}`);
    if (!(plan?.numBuffers > 0 && typeof plan.next === 'function' && typeof plan.tellError === 'function')) {
      throw new Error('not a StepPlan: pass new StepPlan(options)');
    }
    const batch = plan.batch;
    if (n % batch !== 0 || batch > MAX_BATCH) throw new Error(`n = ${n} is not ${batch} samples`);
    super(device, n, plan.numBuffers, 'dpm-solver step plan buffers');
    this.plan = plan;
    this.batch = batch;
    this.numBuffers = plan.numBuffers;
    const G = globalThis.GPUBufferUsage;
    // The largest evaluation: MAX_OPS (4) operations of MAX_TERMS (6) terms, with margin.
    this.prog = device.createBuffer({ label: 'dpm-solver step program', size: 4 * 256, usage: G.STORAGE | G.COPY_DST });
    this.uniform = device.createBuffer({ label: 'dpm-solver step', size: 16, usage: G.UNIFORM | G.COPY_DST });
    this.noise = device.createBuffer({ label: 'dpm-solver no noise', size: 16, usage: G.STORAGE });
    const module = device.createShaderModule({ label: 'dpm-solver plan', code: PLAN_WGSL });
    this.pipeline = device.createComputePipeline({ label: 'dpm-solver plan', layout: 'auto', compute: { module, entryPoint: 'main' } });
    this.group = device.createBindGroup({
      layout: this.pipeline.getBindGroupLayout(0),
      entries: [
        { binding: 0, resource: { buffer: this.arena } },
        { binding: 1, resource: { buffer: this.prog } },
        { binding: 2, resource: { buffer: this.noise } },
        { binding: 3, resource: { buffer: this.uniform } },
      ],
    });
    // The norm: parameters, per-sample sums, the result and its staging buffer.
    this.normParams = device.createBuffer({ label: 'dpm-solver norm parameters', size: 4 * 32, usage: G.STORAGE | G.COPY_DST });
    this.sums = device.createBuffer({ label: 'dpm-solver norm sums', size: Math.max(16, 4 * batch), usage: G.STORAGE });
    this.result = device.createBuffer({ label: 'dpm-solver norm', size: 16, usage: G.STORAGE | G.COPY_SRC });
    this.staging = device.createBuffer({ label: 'dpm-solver norm readback', size: 16, usage: G.MAP_READ | G.COPY_DST });
    const nmod = device.createShaderModule({ label: 'dpm-solver norm', code: NORM_WGSL });
    const layout = device.createBindGroupLayout({
      entries: [
        { binding: 0, visibility: globalThis.GPUShaderStage.COMPUTE, buffer: { type: 'read-only-storage' } },
        { binding: 1, visibility: globalThis.GPUShaderStage.COMPUTE, buffer: { type: 'read-only-storage' } },
        { binding: 2, visibility: globalThis.GPUShaderStage.COMPUTE, buffer: { type: 'storage' } },
        { binding: 3, visibility: globalThis.GPUShaderStage.COMPUTE, buffer: { type: 'storage' } },
      ],
    });
    const pl = device.createPipelineLayout({ bindGroupLayouts: [layout] });
    this.sumsPipeline = device.createComputePipeline({ label: 'dpm-solver norm sums', layout: pl, compute: { module: nmod, entryPoint: 'sums_main' } });
    this.finishPipeline = device.createComputePipeline({ label: 'dpm-solver norm finish', layout: pl, compute: { module: nmod, entryPoint: 'finish_main' } });
    this.normGroup = device.createBindGroup({
      layout,
      entries: [
        { binding: 0, resource: { buffer: this.arena } },
        { binding: 1, resource: { buffer: this.normParams } },
        { binding: 2, resource: { buffer: this.sums } },
        { binding: 3, resource: { buffer: this.result } },
      ],
    });
  }

  /** Encodes the copy of buffer `input` (a `PlanEval`'s) into `dst`, `copies` times back to back. */
  encodeInput(encoder, input, dst, dstOffset = 0, copies = 1) {
    this.copyOut(encoder, input, dst, dstOffset, copies);
  }

  /** Encodes the copy of the network output (`n` floats, `2n` as [cond, uncond] when `guided`) into buffers 1 (and 2). */
  encodeOutput(encoder, output, outputOffset = 0, guided = false) {
    encoder.copyBufferToBuffer(output, outputOffset, this.arena, this.offset(1), (guided ? 2 : 1) * this.n * F32);
  }

  /**
   * Uploads `ops` (a `PlanEval`'s or `PlanDecision`'s `PlanOps`) and submits their dispatch;
   * commands encoded in `encoder` (the output's copy) are submitted first.
   */
  applyOps(ops, encoder = this.device.createCommandEncoder()) {
    const { prog, nOps } = opsProgram(ops, this.numBuffers);
    if (nOps > 0) {
      if (prog.byteLength > this.prog.size) throw new Error('a step program larger than 1 kB');
      const q = this.device.queue;
      q.writeBuffer(this.prog, 0, prog);
      q.writeBuffer(this.uniform, 0, new Uint32Array([0, nOps, this.n, 0]));
      this.bytesUp += prog.byteLength + 16;
      const pass = encoder.beginComputePass({ label: 'dpm-solver step' });
      pass.setPipeline(this.pipeline);
      pass.setBindGroup(0, this.group);
      pass.dispatchWorkgroups(this.dispatch[0], this.dispatch[1]);
      pass.end();
    }
    this.device.queue.submit([encoder.finish()]);
  }

  /** The error norm `E` of a `PlanNorm` over the arena: two dispatches and a 4-byte read. */
  async norm(norm) {
    if (norm.batch !== this.batch) throw new Error(`the norm is over ${norm.batch} samples, the executor ${this.batch}`);
    const words = new Uint32Array(NORM_WORDS);
    const f = new Float32Array(words.buffer);
    if (norm.lowerBuf.length > 4 || norm.diffBuf.length > 2) throw new Error('PlanNorm has too many terms');
    words[0] = norm.lowerBuf.length;
    norm.lowerBuf.forEach((b, k) => { words[1 + k] = b; f[5 + k] = norm.lowerWeight[k]; });
    words[9] = norm.diffBuf.length;
    norm.diffBuf.forEach((b, k) => { words[10 + k] = b; f[12 + k] = norm.diffWeight[k]; });
    words[14] = norm.base;
    words[15] = norm.prev;
    f[16] = norm.atol;
    f[17] = norm.rtol;
    words[18] = this.n / this.batch;
    words[19] = this.batch;
    words[20] = this.n;
    for (const b of [...norm.lowerBuf, ...norm.diffBuf, norm.base, norm.prev]) {
      if (b >= this.numBuffers) throw new Error(`the norm reads buffer ${b} of ${this.numBuffers}`);
    }
    const q = this.device.queue;
    q.writeBuffer(this.normParams, 0, words);
    this.bytesUp += words.byteLength;
    const enc = this.device.createCommandEncoder();
    const pass = enc.beginComputePass({ label: 'dpm-solver norm' });
    pass.setBindGroup(0, this.normGroup);
    pass.setPipeline(this.sumsPipeline);
    pass.dispatchWorkgroups(this.batch);
    pass.setPipeline(this.finishPipeline);
    pass.dispatchWorkgroups(1);
    pass.end();
    enc.copyBufferToBuffer(this.result, 0, this.staging, 0, 4);
    q.submit([enc.finish()]);
    await this.staging.mapAsync(globalThis.GPUMapMode.READ);
    const e = new Float32Array(this.staging.getMappedRange(0, 4).slice(0))[0];
    this.staging.unmap();
    this.bytesDown += 4;
    return e;
  }

  /** Frees the GPU buffers. */
  destroy() {
    for (const b of [this.arena, this.prog, this.uniform, this.noise, this.normParams, this.sums, this.result, this.staging]) b.destroy();
  }
}

/**
 * Runs a step-by-step plan (`new StepPlan(options)`, the adaptive method included) with an
 * onnxruntime-web session on its WebGPU EP, as sampleWithOrt does a fixed plan: per
 * evaluation a GPU copy into the network input, `session.run` (the time input, 4 bytes an
 * image, uploaded then, since adaptive times are not known ahead), a GPU copy of the output
 * and one dispatch; per adaptive trial the norm's two dispatches and one 4-byte read.
 *
 * @param {object} o as sampleWithOrt's, with `plan` a StepPlan (`noise` unsupported: the
 *   step plans are DPM-Solver's ODE methods); a guided plan runs [cond, uncond] as one batch
 * @returns {Promise<{ x: Float32Array, nfe: number, reports: object[], cpuMsPerStep: number, cpuMsPerStepMedian: number, bytesUpPerStep: number, bytesDownPerStep: number, bytesUpOnce: number, bytesDownOnce: number }>}
 */
export async function sampleStepsWithOrt(o) {
  const { ort, session, plan, xT, shape } = o;
  const batch = plan.batch;
  const n = xT.length;
  if (!Array.isArray(shape) || shape.length < 1 || shape.reduce((a, b) => a * b, 1) * batch !== n) {
    throw new Error(`shape ${JSON.stringify(shape)} x batch ${batch} does not match xT's ${n} elements`);
  }
  const device = await ort.env.webgpu.device;
  if (!device) throw new Error('onnxruntime-web has no WebGPU device: create the session with executionProviders: ["webgpu"] first');
  const exec = new StepPlanExecutor(device, plan, n);
  exec.writeX(xT);
  const bytesUpOnce = exec.bytesUp;
  const guided = plan.guide;
  const evalB = guided ? 2 * batch : batch;
  const names = o.inputNames ?? session.inputNames;
  const G = globalThis.GPUBufferUsage;
  const xIn = device.createBuffer({ label: 'dpm-solver model input', size: evalB * (n / batch) * F32, usage: G.STORAGE | G.COPY_SRC | G.COPY_DST });
  const xTensor = ort.Tensor.fromGpuBuffer(xIn, { dataType: 'float32', dims: [evalB, ...shape] });
  const tBuf = device.createBuffer({ label: 'dpm-solver time input', size: Math.max(16, evalB * 8), usage: G.STORAGE | G.COPY_SRC | G.COPY_DST });
  const timeType = o.timeType ?? 'float32';
  const tTensor = ort.Tensor.fromGpuBuffer(tBuf, { dataType: timeType, dims: [evalB] });
  let classTensor = null;
  if (names.length > 2) {
    const labels = new BigInt64Array(evalB);
    for (let i = 0; i < batch; i++) labels[i] = BigInt(o.classes?.[i] ?? o.nullClass ?? 0);
    if (guided) {
      if (o.nullClass === undefined || o.nullClass === null) throw new Error('a guided plan needs nullClass');
      labels.fill(BigInt(o.nullClass), batch);
    }
    classTensor = new ort.Tensor('int64', labels, [evalB]);
  }
  const outName = session.outputNames[0];
  const stepMs = [];
  const reports = [];
  let extraUp = 0;
  for (let ev = plan.next(); ev; ev = plan.next()) {
    let t0 = performance.now();
    let enc = device.createCommandEncoder();
    exec.encodeInput(enc, ev.input, xIn, 0, guided ? 2 : 1);
    device.queue.submit([enc.finish()]);
    const v = ev.tModel * o.numTrainTimesteps / 1000;
    const data = timeType === 'int64' ? new BigInt64Array(evalB).fill(BigInt(Math.round(v))) : new Float32Array(evalB).fill(v);
    device.queue.writeBuffer(tBuf, 0, data.buffer, 0, data.byteLength);
    extraUp += data.byteLength;
    let ms = performance.now() - t0;
    const feeds = { [names[0]]: xTensor, [names[1]]: tTensor };
    if (classTensor) {
      feeds[names[2]] = classTensor;
      extraUp += classTensor.data.byteLength;
    }
    const out = (await session.run(feeds))[outName];
    if (out.location !== 'gpu-buffer') throw new Error(`the session returned its output on '${out.location}': create it with preferredOutputLocation: 'gpu-buffer'`);
    t0 = performance.now();
    enc = device.createCommandEncoder();
    exec.encodeOutput(enc, out.gpuBuffer, 0, guided);
    exec.applyOps(ev.ops, enc);
    ms += performance.now() - t0;
    if (ev.norm) {
      // Waiting for the GPU (the network and the reduction) is not our CPU time.
      const e = await exec.norm(ev.norm);
      t0 = performance.now();
      const d = plan.tellError(e);
      exec.applyOps(d.ops);
      reports.push(d.report);
      ms += performance.now() - t0;
    }
    out.dispose();
    stepMs.push(ms);
    if (o.onStep) await o.onStep(ev, exec);
  }
  const nfe = plan.nfe;
  const stepBytesUp = exec.bytesUp - bytesUpOnce + extraUp;
  const downBefore = exec.bytesDown;
  const x = await exec.read(0);
  exec.destroy();
  xIn.destroy();
  tBuf.destroy();
  return {
    x,
    nfe,
    reports,
    cpuMsPerStep: stepMs.reduce((a, b) => a + b, 0) / Math.max(nfe, 1),
    cpuMsPerStepMedian: [...stepMs].sort((a, b) => a - b)[stepMs.length >> 1] ?? 0,
    bytesUpPerStep: stepBytesUp / Math.max(nfe, 1),
    bytesDownPerStep: downBefore / Math.max(nfe, 1),
    bytesUpOnce,
    bytesDownOnce: exec.bytesDown - downBefore,
  };
}
