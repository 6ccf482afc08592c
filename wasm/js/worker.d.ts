// Types of "dpm-solver/worker".
import type { DrawLayout, GenerateOptions, Generation, ModelLoadOptions, ModelMetadata } from './dpm_solver.js';
import type { LoadProgress } from './index.js';

export interface WorkerOptions {
  /** The ONNX model's URL (resolved against the page), or its bytes (copied to the worker). */
  model: string | URL | ArrayBuffer | Uint8Array;
  /** What the file does not say (Model's load options; MODEL.md), sent to the worker with it. */
  load?: ModelLoadOptions;
  /**
   * The .wasm URL, if not next to the package's module. Loaded as given: by default the page
   * (a pool compiles it once, on the page) or the worker picks dpm_solver_relaxed_bg.wasm or
   * dpm_solver_bg.wasm (`relaxedSimdSupported()`); a URL given here should name the one that
   * suits the browser.
   */
  wasm?: string | URL;
  /** A Worker started from "dpm-solver/worker-script" yourself (otherwise one is created). */
  worker?: Worker;
  /**
   * Workers in a pool (default 1, at most 64; not with `worker`): a batch is split image by
   * image across them (each shard with its own `firstImage`), so all cores work on one
   * generation and the images are the same for any number of workers. Adaptive runs go to one
   * worker whole. A good value: `Math.min(navigator.hardwareConcurrency, 4)`.
   */
  workers?: number;
  onLoadProgress?: (p: LoadProgress) => void;
}

/** Step progress as the worker posts it (the x0 estimate goes to onPreview as RGBA). */
export interface WorkerProgress {
  step: number;
  nfe: number;
  expectedNfe: number | null;
  t: number;
}

/** RGBA pixels, ready for `new ImageData(p.data, p.width, p.height)` (TypeScript 5.7+ for the generic). */
export interface PreviewImage {
  data: Uint8ClampedArray<ArrayBuffer>;
  width: number;
  height: number;
}

/** gridRgba's layout options for the previews (shape and value range come from the model). */
export type PreviewLayout = Partial<Pick<DrawLayout, 'columns' | 'scale' | 'gap'>>;

export interface WorkerGenerateOptions {
  onProgress?: (p: WorkerProgress) => void;
  onPreview?: (image: PreviewImage) => void;
  preview?: PreviewLayout;
  /** Stops the run before its next network evaluation (rejects with an Error named "AbortError"). */
  signal?: AbortSignal;
}

export interface DpmWorker {
  /** The (first) worker. */
  worker: Worker;
  /** Every worker of a pool (`workers` > 1). */
  workers?: Worker[];
  /** The model's metadata once the module and the model are loaded (rejects with an Error whose `stage` is "wasm" or "model"). */
  ready: Promise<ModelMetadata>;
  generate(options?: Omit<GenerateOptions, 'signal' | 'noise'> & { noise?: Float32Array },
    run?: WorkerGenerateOptions): Promise<Generation>;
  terminate(): void;
}

export declare function createWorker(options: WorkerOptions): DpmWorker;
