// The package's entry under Node ("dpm-solver" with the "node" condition): as index.js, and
// init() with no argument reads the package's .wasm for this engine (index.js's
// defaultWasmUrl) from this package (Node's fetch cannot read file: URLs).
import init, { defaultWasmUrl } from './index.js';
import { nodeInput } from './common-node.js';

export * from './index.js';
export default async function initNode(input) {
  return init(input === undefined ? await nodeInput(defaultWasmUrl()) : input);
}
