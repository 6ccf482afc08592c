// Benchmark of the WebGPU path for a machine with a real GPU: per-image and per-step times of
// the demo UNet with
//   plan       onnxruntime-web WebGPU EP + the package's WGSL plan executor (latents on the GPU)
//   roundtrip  the same WebGPU session driven by the CPU ask/tell Sampler (download + upload
//              of the latents every step: what users do without the plan)
//   wasm-ep    onnxruntime-web's wasm EP + the CPU Sampler (the CPU baseline of the same runtime)
//   tract      the package's own CPU pipeline (Model.generate)
// plus the CPU time per step spent in webgpu.js and the bytes it moves per step.
//
//   cd wasm/examples-js/webgpu && npm ci && node bench.mjs [--steps 10] [--batch 4] [--repeats 3]
//      [--solver dpm++2m|unipc|ddim|adaptive|adaptive3] [--guidance 2] [--swiftshader] [--headed]
// (adaptive: DPM-Solver++-12/23 planned step by step, `--steps` ignored; times per evaluation
// use the evaluations the run took)
// Needs target/pkg/web (bash wasm/tests-js/build-package.sh). Chromium from $CHROMIUM
// (default /usr/bin/chromium) with --enable-unsafe-webgpu; --swiftshader forces the CPU Vulkan
// adapter (correctness only: its timings mean nothing). Prints one JSON object.
import { chromium } from 'playwright-core';
import { serve } from './serve.mjs';

const arg = (name, d) => {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? d : process.argv[i + 1];
};
const flag = (name) => process.argv.includes(`--${name}`);
const steps = Number(arg('steps', 10));
const batch = Number(arg('batch', 4));
const repeats = Number(arg('repeats', 3));
const kind = arg('solver', 'dpm++2m');
const guidance = Number(arg('guidance', 2));

const args = ['--no-sandbox', '--disable-background-networking', '--enable-unsafe-webgpu'];
if (flag('swiftshader')) args.push('--enable-features=Vulkan', '--use-vulkan=swiftshader', '--use-webgpu-adapter=swiftshader');
else args.push('--enable-features=Vulkan');
const server = await serve(0);
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', headless: !flag('headed'), args });
try {
  const page = await browser.newPage();
  await page.goto(`http://127.0.0.1:${server.address().port}/index.html`);
  await page.waitForFunction(() => document.getElementById('log').textContent !== 'loading...', null, { timeout: 300_000 });
  const status = await page.textContent('#log');
  if (status !== 'ready') throw new Error(`page: ${status}`);
  const result = await page.evaluate(async ({ kind, steps, batch, repeats, guidance }) => {
    const m = await import('./main.js');
    const info = await (await navigator.gpu.requestAdapter()).info;
    const classes = Array.from({ length: batch }, (_, i) => i % 10);
    const a = { kind, steps, classes, guidance, seed: 1 };
    const med = (v) => [...v].sort((x, y) => x - y)[v.length >> 1];
    const runs = { plan: [], roundtrip: [], 'wasm-ep': [], tract: [] };
    let planStats = null;
    // One warm-up of each (shader and kernel compilation), then `repeats` timed runs.
    for (let r = 0; r <= repeats; r++) {
      const p = await m.runGpu(a);
      const rt = await m.runGpuRoundTrip(a);
      const w = await m.runWasmEp(a);
      const t = m.runCpu(a);
      if (r === 0) continue;
      runs.plan.push(p.ms); runs.roundtrip.push(rt.ms); runs['wasm-ep'].push(w.ms); runs.tract.push(t.ms);
      planStats = p;
    }
    const out = {};
    const nfe = planStats.nfe;
    for (const [k, v] of Object.entries(runs)) {
      out[k] = { msPerImage: med(v) / batch, msPerStep: med(v) / nfe, runsMs: v.map((x) => Math.round(x)) };
    }
    return {
      adapter: { vendor: info.vendor, architecture: info.architecture, description: info.description },
      solver: kind, steps, nfe, batch, guidance, repeats, times: out,
      planOurCpuMsPerStep: { median: planStats.cpuMsPerStepMedian, mean: planStats.cpuMsPerStep },
      planBytesPerStep: { up: planStats.bytesUpPerStep, down: planStats.bytesDownPerStep },
      planBytesOnce: { up: planStats.bytesUpOnce, down: planStats.bytesDownOnce },
    };
  }, { kind, steps, batch, repeats, guidance });
  console.log(JSON.stringify(result, null, 1));
} finally {
  await browser.close();
  server.close();
}
