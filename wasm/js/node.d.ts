// Types of the node entry: as index.d.ts; init() may be called without an argument.
export * from './index.js';
export { default } from './index.js';
