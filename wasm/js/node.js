// The package's entry under Node ("dpm-solver" with the "node" condition): as index.js, and
// init() with no argument reads dpm_solver_bg.wasm from this package (Node's fetch cannot
// read file: URLs).
import init from './index.js';
import { nodeInput } from './common-node.js';

export * from './index.js';
export default async function initNode(input) {
  return init(input === undefined ? await nodeInput(new URL('./dpm_solver_bg.wasm', import.meta.url)) : input);
}
