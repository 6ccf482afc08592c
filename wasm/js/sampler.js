// "dpm-solver/sampler": the sampler-only build, without tract (the core solver, diffusers'
// schedulers, seeded noise, grid drawing and readOnnxInfo), for callers that run the network
// with their own runtime. The same Sampler API and types as the full package; its own small
// .wasm (sampler/dpm_solver_sampler_bg.wasm).
import * as glue from './sampler/dpm_solver_sampler.js';
import { guarded } from './common.js';

export * from './sampler/dpm_solver_sampler.js';

const g = guarded(glue, 'dpm-solver/sampler');
export default g.init;
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

export const gaussianNoise = g.fn(glue.gaussianNoise);
export const gridRgba = g.fn(glue.gridRgba);
export const draw = g.fn(glue.draw);
export const readOnnxInfo = g.fn(glue.readOnnxInfo);
export const version = g.fn(glue.version);
export const simdEnabled = g.fn(glue.simdEnabled);
