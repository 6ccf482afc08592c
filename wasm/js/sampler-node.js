// "dpm-solver/sampler" under Node: init() with no argument reads the sampler's .wasm file.
import init from './sampler.js';
import { nodeInput } from './common-node.js';

export * from './sampler.js';
export default async function initNode(input) {
  return init(input === undefined
    ? await nodeInput(new URL('./sampler/dpm_solver_sampler_bg.wasm', import.meta.url)) : input);
}
