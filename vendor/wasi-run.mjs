// Cargo runner for wasm32-wasip1 test binaries under Node's WASI (no wasmtime needed): runs
// vendor/tract-linalg's own kernel tests for the wasm kernels (vendor/test-linalg-wasm.sh).
// Usage: node [--experimental-wasm-relaxed-simd] vendor/wasi-run.mjs file.wasm [args...]
import { readFile } from 'node:fs/promises';
import { WASI } from 'node:wasi';

const [file, ...args] = process.argv.slice(2);
const wasi = new WASI({ version: 'preview1', args: [file, ...args], env: process.env, preopens: { '/': '/' }, returnOnExit: true });
const instance = await WebAssembly.instantiate(await WebAssembly.compile(await readFile(file)), wasi.getImportObject());
process.exitCode = wasi.start(instance);
