// Types of dpm-solver/webgpu: the plan executor (WGSL) and its onnxruntime-web loop.
import type { SamplerPlan, StepPlan, PlanOps, PlanNorm, StepReport } from './dpm_solver.js';

/** The WGSL source of the plan interpreter. */
export const PLAN_WGSL: string;
/** The WGSL source of the adaptive error norm (per-sample sums, then the largest RMS). */
export const NORM_WGSL: string;

/** A plan's buffers, program and per-evaluation bind groups on one GPUDevice. */
export class PlanExecutor {
  constructor(device: GPUDevice, plan: SamplerPlan, n: number, options?: { noise?: Float32Array });
  readonly device: GPUDevice;
  readonly plan: SamplerPlan;
  /** Elements of the sample (all images). */
  readonly n: number;
  readonly nfe: number;
  /** Classifier-free guidance: outputs come as one batch [cond, uncond]. */
  readonly guided: boolean;
  /** `plan.numBuffers` buffers of `n` floats: 0 is x, 1 the output, 2 the unconditional output. */
  readonly arena: GPUBuffer;
  /** Bytes moved CPU to GPU (program, steps, noise, x_T) and GPU to CPU (reads) so far. */
  bytesUp: number;
  bytesDown: number;
  /** Byte offset of buffer `index` in `arena`. */
  offset(index: number): number;
  /** Uploads x_T. */
  writeX(xT: Float32Array): void;
  /** Starts from x_T already on the GPU. */
  copyX(encoder: GPUCommandEncoder, buffer: GPUBuffer, offset?: number): void;
  /** Copies evaluation k's input into `dst` (twice, back to back, for guided plans). */
  encodeInput(encoder: GPUCommandEncoder, k: number, dst: GPUBuffer, dstOffset?: number, copies?: number): void;
  /** Copies the network output into the arena and dispatches evaluation k's operations. */
  encodeStep(encoder: GPUCommandEncoder, k: number, output: GPUBuffer, outputOffset?: number): void;
  /** Reads buffer `index` (default 0: x, the result) back. */
  read(index?: number): Promise<Float32Array>;
  destroy(): void;
}

export interface SampleWithOrtOptions {
  /** The onnxruntime-web module (import * as ort from 'onnxruntime-web/webgpu'). */
  ort: any;
  /** Created with executionProviders ['webgpu'] and preferredOutputLocation 'gpu-buffer'. */
  session: any;
  plan: SamplerPlan;
  xT: Float32Array;
  /** One image's [channels, height, width]. */
  shape: number[];
  numTrainTimesteps: number;
  inputNames?: string[];
  classes?: ArrayLike<number>;
  nullClass?: number | null;
  timeType?: 'float32' | 'int64';
  /** SDE plans: nfe * n standard normals. */
  noise?: Float32Array;
  onStep?: (k: number, exec: PlanExecutor) => void | Promise<void>;
}

export interface SampleWithOrtResult {
  x: Float32Array;
  nfe: number;
  /** CPU time per evaluation spent in this module (encoding and submitting; not session.run). */
  cpuMsPerStep: number;
  /** Its median over the evaluations (the first one includes the pipeline's compilation). */
  cpuMsPerStepMedian: number;
  /** Bytes per evaluation handed from the CPU (the int64 class labels, if any). */
  bytesUpPerStep: number;
  /** Bytes per evaluation read back (previews read in onStep; 0 without). */
  bytesDownPerStep: number;
  /** Bytes uploaded once (program, time inputs, noise, x_T) and read once (the result). */
  bytesUpOnce: number;
  bytesDownOnce: number;
}

/** Runs a plan with an onnxruntime-web WebGPU session, latents kept on the GPU. */
export function sampleWithOrt(options: SampleWithOrtOptions): Promise<SampleWithOrtResult>;

/** A step-by-step plan (`new StepPlan(options)`) on one GPUDevice: the adaptive method's path. */
export class StepPlanExecutor {
  constructor(device: GPUDevice, plan: StepPlan, n: number);
  readonly device: GPUDevice;
  readonly plan: StepPlan;
  readonly n: number;
  readonly batch: number;
  readonly numBuffers: number;
  /** `numBuffers` buffers of `n` floats: 0 is x, 1 the output, 2 the unconditional output. */
  readonly arena: GPUBuffer;
  bytesUp: number;
  bytesDown: number;
  offset(index: number): number;
  writeX(xT: Float32Array): void;
  /** Copies buffer `input` into `dst`, `copies` times back to back. */
  encodeInput(encoder: GPUCommandEncoder, input: number, dst: GPUBuffer, dstOffset?: number, copies?: number): void;
  /** Copies the network output (`2n` floats as [cond, uncond] when guided) into buffers 1 (and 2). */
  encodeOutput(encoder: GPUCommandEncoder, output: GPUBuffer, outputOffset?: number, guided?: boolean): void;
  /** Uploads the operations and submits `encoder` (default: a new one) with their dispatch. */
  applyOps(ops: PlanOps, encoder?: GPUCommandEncoder): void;
  /** The adaptive error norm E on the GPU: two dispatches and a 4-byte read. */
  norm(norm: PlanNorm): Promise<number>;
  read(index?: number): Promise<Float32Array>;
  destroy(): void;
}

export interface SampleStepsWithOrtOptions extends Omit<SampleWithOrtOptions, 'plan' | 'noise' | 'onStep'> {
  /** `new StepPlan(options)`; with classifier-free guidance the network runs [cond, uncond] as one batch. */
  plan: StepPlan;
  onStep?: (ev: { index: number; input: number; tModel: number }, exec: StepPlanExecutor) => void | Promise<void>;
}

export interface SampleStepsWithOrtResult extends SampleWithOrtResult {
  /** The adaptive trials' reports (accepted and rejected). */
  reports: StepReport[];
}

/** Runs a step-by-step plan (the adaptive method) with an onnxruntime-web WebGPU session. */
export function sampleStepsWithOrt(options: SampleStepsWithOrtOptions): Promise<SampleStepsWithOrtResult>;
