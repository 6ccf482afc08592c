// dpm-solver/webgpu: the solver step on the GPU. `Sampler.plan()` compiles a run into
// elementwise operations `dst = sum w * src` over a few latent-sized buffers; PlanExecutor
// applies them with one WGSL compute dispatch per network evaluation, on GPU buffers that a
// WebGPU model runtime (onnxruntime-web's WebGPU execution provider) reads and writes
// directly, so no latent leaves the GPU until the end. sampleWithOrt() is that loop for an
// onnxruntime-web InferenceSession (bring your own `ort`; this package does not depend on it).

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

const F32 = 4;
const UNIFORM_STRIDE = 256; // minUniformBufferOffsetAlignment's guaranteed maximum

function checkPlan(plan) {
  const need = ['nfe', 'numBuffers', 'inputs', 'tModel', 'stepOps', 'opDst', 'opClamp', 'opTerms', 'termBuf', 'termWeight'];
  for (const k of need) {
    if (plan?.[k] === undefined) throw new Error(`not a SamplerPlan (no '${k}'): pass sampler.plan()`);
  }
  if (plan.stepOps.length !== plan.nfe + 1) throw new Error('SamplerPlan.stepOps must have nfe + 1 entries');
}

/**
 * The GPU side of a plan: an arena of `plan.numBuffers` buffers of `n` floats (the sample `x`
 * is buffer 0, the network output buffer 1, the unconditional output buffer 2, the solver's
 * slots from 4), the program uploaded once, and one bind group per evaluation.
 */
export class PlanExecutor {
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
    this.device = device;
    this.plan = plan;
    this.n = n;
    this.nfe = plan.nfe;
    this.guided = !!plan.guide;
    const G = globalThis.GPUBufferUsage;
    this.arena = device.createBuffer({
      label: 'dpm-solver plan buffers',
      size: plan.numBuffers * n * F32,
      usage: G.STORAGE | G.COPY_SRC | G.COPY_DST,
    });
    // Program: 4 words per op (dst, first term word, term count, clamp bits), then 2 per term.
    const nOps = plan.opDst.length;
    const nTerms = plan.termBuf.length;
    const prog = new Uint32Array(Math.max(4 * nOps + 2 * nTerms, 4));
    const f = new Float32Array(1);
    const bits = new Uint32Array(f.buffer);
    for (let j = 0; j < nOps; j++) {
      prog[4 * j] = plan.opDst[j];
      prog[4 * j + 1] = 4 * nOps + 2 * plan.opTerms[j];
      prog[4 * j + 2] = plan.opTerms[j + 1] - plan.opTerms[j];
      f[0] = plan.opClamp[j];
      prog[4 * j + 3] = bits[0];
    }
    for (let t = 0; t < nTerms; t++) {
      const b = plan.termBuf[t];
      if (b >= plan.numBuffers) throw new Error(`plan term reads buffer ${b} of ${plan.numBuffers}`);
      prog[4 * nOps + 2 * t] = b;
      f[0] = plan.termWeight[t];
      prog[4 * nOps + 2 * t + 1] = bits[0];
    }
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
    const groups = Math.ceil(n / 64);
    this.dispatch = groups <= 65535 ? [groups, 1] : [65535, Math.ceil(groups / 65535)];
    /** Bytes this executor moved between CPU and GPU (uploads at creation and `writeX`, reads). */
    this.bytesUp = prog.byteLength + uni.byteLength + (plan.noise ? options.noise.byteLength : 4);
    this.bytesDown = 0;
  }

  #upload(data, usage, label) {
    const buf = this.device.createBuffer({ label, size: Math.max(data.byteLength, 16), usage: usage | globalThis.GPUBufferUsage.COPY_DST });
    this.device.queue.writeBuffer(buf, 0, data.buffer, data.byteOffset, data.byteLength);
    return buf;
  }

  /** Byte offset of buffer `index` in {@link arena}. */
  offset(index) {
    return index * this.n * F32;
  }

  /** Uploads the start `x_T` (the one upload of a run). */
  writeX(xT) {
    if (!(xT instanceof Float32Array) || xT.length !== this.n) throw new Error(`xT must be a Float32Array of ${this.n} elements`);
    this.device.queue.writeBuffer(this.arena, 0, xT.buffer, xT.byteOffset, xT.byteLength);
    this.bytesUp += xT.byteLength;
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
    const src = this.offset(this.plan.inputs[k]);
    for (let c = 0; c < copies; c++) {
      encoder.copyBufferToBuffer(this.arena, src, dst, dstOffset + c * this.n * F32, this.n * F32);
    }
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
