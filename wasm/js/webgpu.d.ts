// Types of dpm-solver/webgpu: the plan executor (WGSL) and its onnxruntime-web loop.
import type { SamplerPlan } from './dpm_solver.js';

/** The WGSL source of the plan interpreter. */
export const PLAN_WGSL: string;

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
