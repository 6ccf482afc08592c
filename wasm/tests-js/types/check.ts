// Typical use of the package, type-checked against its generated .d.ts (strict): the option
// unions (DPM-Solver and diffusers scheduler options), requests, getters and Model.generate.
import init, { Sampler, Model, gaussianNoise } from '../../../target/pkg/web/dpm_solver.js';
import type { SamplerOptions, DiffusersSchedulerOptions, GenerateOptions, GenerationStep, Generation } from '../../../target/pkg/web/dpm_solver.js';
const a: SamplerOptions = { steps: 10, spacing: 'exponential', method: 'multistep' };
const b: DiffusersSchedulerOptions = { scheduler: 'UniPCMultistepScheduler', schedulerConfig: { solver_type: 'bh1' }, steps: 8 };
const c: SamplerOptions = { scheduler: { _class_name: 'DDIMScheduler', clip_sample: false } };
const g: GenerateOptions = { scheduler: 'UniPCMultistepScheduler', steps: 8, class: 3, guidance: 2 };
async function main() {
  await init();
  const s = new Sampler(b, gaussianNoise(0, 16));
  let r;
  while ((r = s.ask())) { const t: number | undefined = r.timestep; s.tell(r.x); }
  const ts: number[] | null = s.timesteps;
  const ig: string[] = s.ignoredKeys;
  const m = new Model(new Uint8Array());
  const text = '{"_class_name": "DDIMScheduler", "lambda_min_clipped": -Infinity}';
  const own = new Model(new Uint8Array(), { metadata: { prediction_type: 'epsilon', num_train_timesteps: 1000, class_labels: ['a', 'b'] }, schedulerConfig: text, externalData: new Uint8Array() });
  const names: string[] = own.metadata.inputNames;
  new Sampler({ scheduler: text, steps: 8 }, gaussianNoise(0, 16));
  own.generate({ scheduler: text, steps: 4 });
  void names;
  m.planBatch = 2;
  m.generate(g);
  // One evaluation at a time (what generateAsync runs).
  const run = m.begin({ ...g, steps: 4 });
  let st: GenerationStep;
  while (!(st = run.step(m)).done) { const e: number | null = st.expectedNfe; void e; if (st.progress) void st.progress.x0; }
  const gen: Generation = run.finish();
  void gen.images;
  run.free();
}
void a; void c; void main;
