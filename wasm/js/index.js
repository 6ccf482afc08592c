// The package's entry for browsers and bundlers ("dpm-solver"): the wasm-bindgen glue
// (dpm_solver.js) with
// - init() as the glue's (fetches dpm_solver_relaxed_bg.wasm next to this file where the engine
//   has relaxed SIMD, dpm_solver_bg.wasm otherwise; bundlers follow the
//   `new URL(..., import.meta.url)`) and a clear Error for calls made before it;
// - Model from a Uint8Array or ArrayBuffer, Model.fromUrl / fromResponse with download
//   progress, and Model.generateAsync, which gives the event loop back between network
//   evaluations so AbortSignal, progress messages and the page stay live.
import * as glue from './dpm_solver.js';
import { abortError, fetchBytes, guarded, message, nextTask, readResponse, relaxedSimdSupported, toBytes } from './common.js';

export * from './dpm_solver.js';

const g = guarded(glue, 'dpm-solver');

/**
 * The package's .wasm for this engine: the relaxed-SIMD build (fused multiply-adds in the
 * matrix products) where the engine validates relaxed SIMD, the simd128 build otherwise. Both
 * URLs are written out for bundlers, which copy the files `new URL(..., import.meta.url)` names.
 */
export function defaultWasmUrl() {
  return relaxedSimdSupported()
    ? new URL('./dpm_solver_relaxed_bg.wasm', import.meta.url)
    : new URL('./dpm_solver_bg.wasm', import.meta.url);
}

/** init(): without an argument, loads `defaultWasmUrl()`; otherwise as wasm-bindgen's init. */
export default function init(input) {
  return g.init(input === undefined ? { module_or_path: defaultWasmUrl() } : input);
}
export const initSync = g.initSync;

export class Sampler extends glue.Sampler {
  constructor(options, x) {
    g.ensure();
    super(options, x);
  }
}

export class StepPlan extends glue.StepPlan {
  constructor(options) {
    g.ensure();
    super(options);
  }
}

export class Model extends glue.Model {
  /**
   * From the ONNX file's bytes (Uint8Array, ArrayBuffer or another typed-array view), with what
   * the file does not say in `options` (`metadata`, `schedulerConfig`, `externalData`: MODEL.md).
   */
  constructor(bytes, options) {
    g.ensure();
    super(toBytes(bytes, 'dpm-solver'), options);
  }

  /**
   * Downloads and loads a model: `onProgress({ loaded, total })`, `signal` cancels; the other
   * options are the constructor's load options.
   */
  static async fromUrl(url, options = {}) {
    g.ensure();
    const { onProgress, signal, ...load } = options || {};
    return new this(await fetchBytes(url, { onProgress, signal }), load);
  }

  /** Loads a model from a fetch Response (with download progress), as `fromUrl`. */
  static async fromResponse(response, options = {}) {
    g.ensure();
    const { onProgress, signal, ...load } = options || {};
    return new this(await readResponse(response, { onProgress, signal }), load);
  }

  /**
   * `generate` that yields to the event loop before every network evaluation: an aborted
   * `options.signal` stops it before the next evaluation (a pre-aborted one runs nothing);
   * `onProgress` runs after every solver step (return false to cancel). Rejects with an
   * Error named "AbortError" when cancelled.
   */
  async generateAsync(options = {}, onProgress) {
    const signal = options == null ? undefined : options.signal;
    if (signal && signal.aborted) throw abortError(0, signal.reason);
    const run = this.begin(options);
    try {
      for (;;) {
        await nextTask();
        if (signal && signal.aborted) throw abortError(run.nfe, signal.reason);
        const s = run.step(this);
        if (s.done) return run.finish();
        if (s.progress && onProgress) {
          let r;
          try {
            r = onProgress(s.progress);
          } catch (e) {
            throw new Error(`dpm-solver: the progress callback threw: ${message(e)}`, { cause: e });
          }
          if (r === false) throw abortError(s.nfe);
        }
      }
    } finally {
      run.free();
    }
  }
}

export const gaussianNoise = g.fn(glue.gaussianNoise);
export const gridRgba = g.fn(glue.gridRgba);
export const draw = g.fn(glue.draw);
export const readOnnxInfo = g.fn(glue.readOnnxInfo);
export const version = g.fn(glue.version);
export const simdEnabled = g.fn(glue.simdEnabled);
export const relaxedSimdEnabled = g.fn(glue.relaxedSimdEnabled);
export { relaxedSimdSupported };
