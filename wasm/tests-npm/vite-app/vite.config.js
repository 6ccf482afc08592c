// The one setting dpm-solver needs in Vite: module workers (dpm-solver/worker starts one).
export default {
  worker: { format: 'es' },
};
