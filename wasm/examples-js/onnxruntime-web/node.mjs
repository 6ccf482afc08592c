// onnxruntime-web (wasm execution provider) in Node driving dpm-solver's Sampler on the demo
// UNet; prints what it did as JSON. Usage: node node.mjs [MODEL] (default: ./unet.onnx)
import * as ort from 'onnxruntime-web';
import init, * as dpm from 'dpm-solver/sampler';
import { readFile } from 'node:fs/promises';
import { generate } from './sample.js';

ort.env.wasm.numThreads = 1;
await init();
const bytes = new Uint8Array(await readFile(process.argv[2] || new URL('./unet.onnx', import.meta.url)));
const t0 = performance.now();
const r = await generate(ort, dpm, bytes, { seed: 1, batch: 4, cls: 7, guidance: 2, steps: 10 });
console.log(JSON.stringify({ nfe: r.nfe, inputs: r.inputs, ms: Math.round(performance.now() - t0),
  images: Array.from(r.images) }));
