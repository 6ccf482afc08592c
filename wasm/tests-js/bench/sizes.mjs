// Download sizes of the built npm package (target/pkg/web, or the folder given): each .wasm
// and JS entry raw, gzip -9 and brotli (quality 11), and the packed tarball. Prints a
// markdown table (wasm/BENCHMARKS.md "Package sizes"). Usage:
//   bash wasm/tests-js/build-package.sh && node wasm/tests-js/bench/sizes.mjs
import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const PKG = path.resolve(process.argv[2] ?? path.join(ROOT, 'target/pkg/web'));

function sizes(files) {
  const b = Buffer.concat(files.map((f) => readFileSync(path.join(PKG, f))));
  return {
    raw: b.length,
    gzip: gzipSync(b, { level: 9 }).length,
    brotli: brotliCompressSync(b, { params: { [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_SIZE_HINT]: b.length } }).length,
  };
}

const fmt = (n) => `${n.toLocaleString('en-US')} B (${n >= 1e6 ? `${(n / 1e6).toFixed(2)} MB` : `${(n / 1e3).toFixed(1)} kB`})`;
const rows = [
  ['`dpm-solver` (Model + Sampler): `dpm_solver_bg.wasm` (simd128)', ['dpm_solver_bg.wasm']],
  ['`dpm-solver` (Model + Sampler): `dpm_solver_relaxed_bg.wasm` (relaxed SIMD; a page loads one of the two)', ['dpm_solver_relaxed_bg.wasm']],
  ['`dpm-solver/sampler` (no tract): `sampler/dpm_solver_sampler_bg.wasm`', ['sampler/dpm_solver_sampler_bg.wasm']],
  ['`dpm-solver` JS: index.js + common.js + dpm_solver.js', ['index.js', 'common.js', 'dpm_solver.js']],
  ['`dpm-solver/sampler` JS: sampler.js + common.js + sampler/dpm_solver_sampler.js', ['sampler.js', 'common.js', 'sampler/dpm_solver_sampler.js']],
  ['`dpm-solver/worker` page side: worker.js', ['worker.js']],
];
console.log('| what a page downloads | raw | gzip -9 | brotli 11 |');
console.log('| --- | ---: | ---: | ---: |');
for (const [label, files] of rows) {
  if (!files.every((f) => { try { return statSync(path.join(PKG, f)).isFile(); } catch { return false; } })) continue;
  const s = sizes(files);
  console.log(`| ${label} | ${fmt(s.raw)} | ${fmt(s.gzip)} | ${fmt(s.brotli)} |`);
}
const tmp = execFileSync('mktemp', ['-d']).toString().trim();
const tgz = execFileSync('npm', ['pack', '--silent', '--pack-destination', tmp], { cwd: PKG }).toString().trim().split('\n').pop();
console.log(`\nnpm tarball (\`npm pack\`): ${fmt(statSync(path.join(tmp, tgz)).size)}; ` +
  `${readdirSync(PKG).length} entries in the package folder.`);
