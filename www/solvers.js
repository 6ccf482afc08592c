// The solver presets of the demo, from `solvers.json` (the one list of presets: the quality
// evaluation, `wasm/examples/evaluate`, reads the same file). Each is a `SamplerOptions` fragment
// of the dpm-solver package: either the DPM-Solver `options` or (`diffusers`) one of diffusers'
// schedulers by its config names.
const PRESETS = await (await fetch(new URL('./solvers.json', import.meta.url))).json();
export const SOLVERS = Object.fromEntries(PRESETS.map(({ key, ...preset }) => [key, preset]));

/** Whether a preset is a diffusers scheduler (it uses diffusers' own timesteps, not the spacing). */
export const isDiffusers = (key) => Boolean(SOLVERS[key]?.diffusers);

const DIFFUSERS_PREDICTION = { noise: 'epsilon', x_start: 'sample', v: 'v_prediction' };

/** diffusers' config keys for the model's training schedule and prediction (its metadata). */
export function diffusersModelConfig(meta) {
  const b = meta.schedule.betas;
  const prediction_type = DIFFUSERS_PREDICTION[meta.prediction];
  if (!prediction_type) throw new Error(`diffusers schedulers cannot run a ${meta.prediction}-prediction model`);
  return b.kind === 'cosine'
    ? { num_train_timesteps: b.n, beta_schedule: 'squaredcos_cap_v2', prediction_type }
    : { num_train_timesteps: b.n, beta_schedule: b.kind, beta_start: b.start, beta_end: b.end, prediction_type };
}

/** Full `SamplerOptions` for a preset, steps, spacing, batch and seed on the model `meta`. */
export function samplerOptions(key, steps, spacing, batch, meta, seed = 0) {
  const preset = SOLVERS[key];
  if (!preset) throw new Error(`unknown solver ${key}`);
  if (preset.diffusers) {
    const d = preset.diffusers;
    return { scheduler: d.scheduler, schedulerConfig: { ...diffusersModelConfig(meta), ...d.config }, steps, batch, seed };
  }
  return {
    ...preset.options,
    schedule: meta.schedule,
    prediction: meta.prediction,
    steps,
    spacing: spacing === 'karras' ? { karras: 7 } : spacing,
    batch,
  };
}

/** The class option of Model.generate: 'mixed' cycles 0..9, 'uncond' is none (the null class). */
function classOption(cls, batch, meta) {
  if (cls === 'uncond') return undefined;
  return Array.from({ length: batch }, (_, i) => (cls === 'mixed' ? i % meta.numClasses : Number(cls)));
}

/** `Model.generate` options (dpm-solver/worker) for a preset and the form's settings. */
export function generateOptions({ solver, steps, spacing, batch, seed, cls, guidance }, meta) {
  const preset = SOLVERS[solver];
  if (!preset) throw new Error(`unknown solver ${solver}`);
  const classes = classOption(cls, batch, meta);
  // clip: false, so the chart measures the solver's own result (it clamps as drawn itself).
  const common = { steps, batch, seed, class: classes, guidance: classes ? guidance : 1, clip: false };
  if (preset.diffusers) {
    return { ...common, scheduler: preset.diffusers.scheduler, schedulerConfig: { ...preset.diffusers.config } };
  }
  return { ...common, ...preset.options, spacing: spacing === 'karras' ? { karras: 7 } : spacing };
}
