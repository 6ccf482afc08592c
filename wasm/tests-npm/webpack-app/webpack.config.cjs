// webpack 5 needs no setting for dpm-solver: `new Worker(new URL(...))` and the .wasm's
// `new URL(..., import.meta.url)` are handled by default. (performance hints are off: the
// 13 MB .wasm is expected.)
const path = require('path');

module.exports = {
  mode: 'production',
  entry: './main.js',
  output: { path: path.resolve(__dirname, 'dist'), clean: true },
  performance: { hints: false },
};
