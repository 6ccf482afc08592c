// Types of the package's entry (index.js / node.js): the wasm-bindgen glue's, with Model's
// loading and async generation added.
import { Model as GlueModel } from './dpm_solver.js';
import type { GenerateOptions, Generation, ModelLoadOptions, ProgressCallback } from './dpm_solver.js';

export * from './dpm_solver.js';
export { default, initSync } from './dpm_solver.js';

/**
 * The .wasm `init()` loads without an argument: `dpm_solver_relaxed_bg.wasm` (relaxed SIMD:
 * fused multiply-adds, results may differ from the other build's in the last bits) where the
 * engine validates relaxed SIMD, `dpm_solver_bg.wasm` (simd128) otherwise.
 */
export function defaultWasmUrl(): URL;
/** Whether this engine validates WebAssembly relaxed SIMD (what `defaultWasmUrl` decides on). */
export function relaxedSimdSupported(): boolean;

/** Download progress: bytes so far and the total (null without a Content-Length). */
export interface LoadProgress {
  loaded: number;
  total: number | null;
}

export interface LoadOptions {
  onProgress?: (p: LoadProgress) => void;
  /** Aborts the download (rejects with an Error named "AbortError"). */
  signal?: AbortSignal;
}

export declare class Model extends GlueModel {
  /**
   * Loads an ONNX diffusion model from its bytes (throws saying what the bytes look like if they
   * are not ONNX), with what the file does not say in `options` (MODEL.md lists every key).
   */
  constructor(bytes: Uint8Array | ArrayBuffer | ArrayBufferView, options?: ModelLoadOptions);
  /** Downloads (with progress) and loads a model; the load options as the constructor's. */
  static fromUrl(url: string | URL, options?: LoadOptions & ModelLoadOptions): Promise<Model>;
  /** Loads a model from a fetch Response (with progress). */
  static fromResponse(response: Response, options?: LoadOptions & ModelLoadOptions): Promise<Model>;
  /**
   * As `generate`, giving the event loop back before every network evaluation: aborting
   * `options.signal` stops the run before its next evaluation (a pre-aborted signal runs
   * nothing); rejects with an Error named "AbortError" when cancelled.
   */
  generateAsync(options?: GenerateOptions, onProgress?: ProgressCallback): Promise<Generation>;
}
