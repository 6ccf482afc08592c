// Writes the package.json of the npm package dpm-solver (called by build-package.sh with the
// package folder): name, entry points (exports map: browser / node / default, types, the
// .wasm files, the sampler-only build, the worker, the WebGPU plan executor), files. No placeholder fields.
const fs = require('fs');
const path = require('path');
const dir = process.argv[2];
const p = path.join(dir, 'package.json');
const j = JSON.parse(fs.readFileSync(p, 'utf8'));
const out = {
  name: 'dpm-solver',
  version: j.version,
  description: 'DPM-Solver / DPM-Solver++ diffusion sampling in WebAssembly: an ask/tell sampler for any model runtime and an ONNX (tract) pipeline that draws on a canvas',
  license: j.license || 'MIT OR Apache-2.0',
  keywords: ['diffusion', 'dpm-solver', 'wasm', 'onnx', 'sampler'],
  type: 'module',
  main: './index.js',
  module: './index.js',
  types: './index.d.ts',
  exports: {
    '.': { types: './index.d.ts', node: './node.js', browser: './index.js', default: './index.js' },
    './sampler': { types: './sampler.d.ts', node: './sampler-node.js', browser: './sampler.js', default: './sampler.js' },
    './worker': { types: './worker.d.ts', default: './worker.js' },
    './worker-script': './worker-script.js',
    './webgpu': { types: './webgpu.d.ts', default: './webgpu.js' },
    './webgpu.js': { types: './webgpu.d.ts', default: './webgpu.js' },
    './dpm_solver_bg.wasm': './dpm_solver_bg.wasm',
    './dpm_solver_relaxed_bg.wasm': './dpm_solver_relaxed_bg.wasm',
    './sampler/dpm_solver_sampler_bg.wasm': './sampler/dpm_solver_sampler_bg.wasm',
    './dpm_solver.js': { types: './dpm_solver.d.ts', default: './dpm_solver.js' },
    './dpm_solver.d.ts': './dpm_solver.d.ts',
    './package.json': './package.json',
  },
  files: fs.readdirSync(dir).filter((f) => f !== 'package.json' && !f.endsWith('.tgz')),
  // The worker script and wasm-bindgen's snippets run for their effects.
  sideEffects: ['./worker-script.js', './snippets/*'],
};
if (j.repository && !/example\.invalid/.test(JSON.stringify(j.repository))) out.repository = j.repository;
fs.writeFileSync(p, JSON.stringify(out, null, 2) + '\n');
