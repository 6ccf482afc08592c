// The solver presets of the demo, as `SamplerOptions` fragments of the dpm-solver package.
export const SOLVERS = {
  ddim: { label: 'DDIM (DPM-Solver-1)', options: { algorithm: 'dpmsolver', method: 'multistep', order: 1 } },
  dpm2: { label: 'DPM-Solver-2 (singlestep)', options: { algorithm: 'dpmsolver', method: 'singlestep', order: 2 } },
  dpm3: { label: 'DPM-Solver-3 fast (singlestep)', options: { algorithm: 'dpmsolver', method: 'singlestep', order: 3 } },
  pp2m: { label: 'DPM-Solver++ 2M', options: { algorithm: 'dpmsolver++', method: 'multistep', order: 2 } },
  pp3m: { label: 'DPM-Solver++ 3M', options: { algorithm: 'dpmsolver++', method: 'multistep', order: 3 } },
  adaptive12: { label: 'DPM-Solver-12 adaptive', options: { algorithm: 'dpmsolver', method: 'adaptive', order: 2 } },
  adaptive23: { label: 'DPM-Solver-23 adaptive', options: { algorithm: 'dpmsolver', method: 'adaptive', order: 3 } },
};

/** Full `SamplerOptions` for a preset, steps, spacing and batch (the model's own schedule). */
export function samplerOptions(key, steps, spacing, batch, schedule) {
  const preset = SOLVERS[key];
  if (!preset) throw new Error(`unknown solver ${key}`);
  return {
    ...preset.options,
    schedule,
    steps,
    spacing: spacing === 'karras' ? { karras: 7 } : spacing,
    batch,
  };
}
