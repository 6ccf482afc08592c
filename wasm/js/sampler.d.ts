// Types of "dpm-solver/sampler": the sampler-only build's glue (the same Sampler types as the
// full package).
export * from './sampler/dpm_solver_sampler.js';
export { default, initSync } from './sampler/dpm_solver_sampler.js';
