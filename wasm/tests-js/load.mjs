// Loads the built web package (ES module + .wasm) in node, as a browser would but from bytes.
// DPM_PKG overrides the package folder (default: target/pkg/web at the repository root).
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const PKG = path.resolve(process.env.DPM_PKG ?? path.join(ROOT, 'target/pkg/web'));

let cached;
export async function load(pkg = PKG) {
  if (pkg === PKG && cached) return cached;
  const mod = await import(pathToFileURL(path.join(pkg, 'dpm_solver.js')).href);
  await mod.default({ module_or_path: await readFile(path.join(pkg, 'dpm_solver_bg.wasm')) });
  if (pkg === PKG) cached = mod;
  return mod;
}

export async function fixtures() {
  return JSON.parse(await readFile(path.join(ROOT, 'tests/fixtures/reference_public.json'), 'utf8'));
}
