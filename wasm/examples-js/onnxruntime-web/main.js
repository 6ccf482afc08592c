// The browser side: WebGPU where the browser has an adapter, else onnxruntime-web's wasm
// execution provider (`?ep=wasm` forces it); the result is drawn with dpm-solver's draw().
import * as ort from 'onnxruntime-web/webgpu';
import init, * as dpm from 'dpm-solver/sampler';
import { generate } from './sample.js';

const status = document.getElementById('status');
async function main() {
  ort.env.wasm.numThreads = 1;
  const wanted = new URLSearchParams(location.search).get('ep');
  const gpu = wanted !== 'wasm' && navigator.gpu && (await navigator.gpu.requestAdapter().catch(() => null));
  const executionProviders = gpu ? ['webgpu', 'wasm'] : ['wasm'];
  await init();
  const bytes = new Uint8Array(await (await fetch('./unet.onnx')).arrayBuffer());
  status.textContent = `sampling with ${executionProviders[0]}…`;
  const t0 = performance.now();
  const r = await generate(ort, dpm, bytes, { seed: 1, batch: 4, cls: 7, guidance: 2, steps: 10, executionProviders });
  dpm.draw(document.getElementById('digits'), r.images, { height: r.meta.height, width: r.meta.width, scale: 3, gap: 1 });
  status.textContent = `${r.nfe} NFE with ${executionProviders[0]} in ${Math.round(performance.now() - t0)} ms`;
  window.result = { ep: executionProviders[0], nfe: r.nfe, images: Array.from(r.images) };
}
main().catch((e) => { status.textContent = String(e.message || e); window.result = { error: String(e.message || e) }; });
