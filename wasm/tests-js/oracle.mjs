// The Gaussian-mixture oracle of /work/shared/conformance/README.md, in float64, for driving
// the wasm `Sampler` from JavaScript exactly as tests/src/lib.rs drives the Rust core.

const CLIPPED_LAMBDA = -5.1;

function betaTable(b) {
  const n = b.n;
  const out = new Float64Array(n);
  if (b.kind === 'linear') {
    for (let i = 0; i < n; i++) out[i] = b.start + ((b.end - b.start) * i) / (n - 1);
  } else if (b.kind === 'scaled_linear') {
    const s = Math.sqrt(b.start), e = Math.sqrt(b.end);
    for (let i = 0; i < n; i++) { const v = s + ((e - s) * i) / (n - 1); out[i] = v * v; }
  } else if (b.kind === 'cosine') {
    const f = (u) => Math.cos(((u + 0.008) / 1.008) * Math.PI / 2) ** 2;
    for (let i = 0; i < n; i++) out[i] = Math.min(1 - f((i + 1) / n) / f(i / n), 0.999);
  } else throw new Error(`unknown betas kind ${b.kind}`);
  return out;
}

/** A float64 VP schedule: { alpha(t), sigma(t), timeFromModelTime(tm) }. */
export function schedule(spec) {
  if (spec.type === 'linear') {
    const b0 = spec.beta_0, b1 = spec.beta_1;
    const logAlpha = (t) => -0.25 * t * t * (b1 - b0) - 0.5 * t * b0;
    return mk(logAlpha, (tm) => tm);
  }
  const betas = betaTable(spec.betas);
  // log alpha_n = 1/2 cumsum log(1 - beta) (Kahan-compensated), then cut where lambda < -5.1.
  let la = [], sum = 0, c = 0;
  for (const b of betas) {
    const y = 0.5 * Math.log1p(-b) - c;
    const t = sum + y; c = (t - sum) - y; sum = t;
    la.push(sum);
  }
  const lambda = (l) => l - 0.5 * Math.log(-Math.expm1(2 * l));
  let cut = 0;
  for (const l of la) if (lambda(l) < CLIPPED_LAMBDA) cut++;
  la = la.slice(0, la.length - cut);
  const n = la.length;
  const ts = la.map((_, i) => (i + 1) / n);
  const logAlpha = (t) => {
    // Piecewise linear with linear extrapolation past both ends.
    let k;
    if (t <= ts[0]) k = 0;
    else if (t >= ts[n - 1]) k = n - 2;
    else { let lo = 0, hi = n - 1; while (hi - lo > 1) { const m = (lo + hi) >> 1; if (ts[m] <= t) lo = m; else hi = m; } k = lo; }
    const w = (t - ts[k]) / (ts[k + 1] - ts[k]);
    return la[k] + w * (la[k + 1] - la[k]);
  };
  return mk(logAlpha, (tm) => tm / 1000 + 1 / n);
}

function mk(logAlpha, timeFromModelTime) {
  return {
    alpha: (t) => Math.exp(logAlpha(t)),
    sigma: (t) => Math.sqrt(-Math.expm1(2 * logAlpha(t))),
    timeFromModelTime,
  };
}

/** Score of the mixture at one row (or of component `only` alone). */
export function score(g, x, alpha, sigma, only = null) {
  const d = x.length;
  const comps = only === null ? g.weights.map((_, k) => k) : [only];
  const logr = comps.map((k) => {
    let l = only === null ? Math.log(g.weights[k]) : 0;
    for (let i = 0; i < d; i++) {
      const c = alpha * alpha * g.variances[k][i] + sigma * sigma;
      const diff = x[i] - alpha * g.means[k][i];
      l -= 0.5 * (Math.log(2 * Math.PI * c) + (diff * diff) / c);
    }
    return l;
  });
  const m = Math.max(...logr);
  const z = logr.reduce((s, l) => s + Math.exp(l - m), 0);
  const out = new Float64Array(d);
  comps.forEach((k, j) => {
    const r = Math.exp(logr[j] - m) / z;
    for (let i = 0; i < d; i++) {
      const c = alpha * alpha * g.variances[k][i] + sigma * sigma;
      out[i] += r * (-(x[i] - alpha * g.means[k][i]) / c);
    }
  });
  return out;
}

/** The oracle's network output (in the model's prediction type) at one row. */
export function output(g, x, alpha, sigma, only = null) {
  const s = score(g, x, alpha, sigma, only);
  const eps = s.map((v) => -sigma * v);
  switch (g.prediction) {
    case 'noise': return eps;
    case 'x_start': return eps.map((e, i) => (x[i] - sigma * e) / alpha);
    case 'v': return eps.map((e, i) => alpha * e - sigma * ((x[i] - sigma * e) / alpha));
    case 'score': return s;
    default: throw new Error(`unknown prediction ${g.prediction}`);
  }
}

/** The `SamplerOptions` of a reference case (the reference's `sample()` argument names mapped). */
export function samplerOptions(c) {
  const s = c.solver;
  const sch = c.schedule.type === 'linear'
    ? { type: 'linear', beta0: c.schedule.beta_0, beta1: c.schedule.beta_1 }
    : { type: 'discrete', betas: c.schedule.betas };
  const o = {
    schedule: sch,
    algorithm: s.algorithm,
    method: s.method,
    order: s.order,
    steps: s.steps,
    spacing: s.skip_type,
    prediction: c.model.prediction,
    batch: c.x_T.length,
  };
  if (s.t_start != null) o.tStart = s.t_start;
  if (s.t_end != null) o.tEnd = s.t_end;
  if (s.lower_order_final != null) o.lowerOrderFinal = s.lower_order_final;
  if (s.denoise_to_zero != null) o.denoiseToZero = s.denoise_to_zero;
  if (s.solver_type != null) o.solverType = s.solver_type;
  if (s.atol != null || s.rtol != null) o.adaptive = { ...(s.atol != null && { atol: s.atol }), ...(s.rtol != null && { rtol: s.rtol }) };
  if (s.thresholding) o.thresholding = { ratio: s.thresholding.ratio, maxVal: s.thresholding.max_val };
  if (c.guidance) o.guidance = { type: c.guidance.type, scale: c.guidance.scale };
  return o;
}

/** Runs a reference case through `Sampler` (the wasm class) with the oracle; returns { x, nfe }. */
export function runCase(Sampler, c) {
  const g = c.model;
  const sched = schedule(c.schedule);
  const batch = c.x_T.length, dim = c.x_T[0].length;
  const sampler = new Sampler(samplerOptions(c), Float32Array.from(c.x_T.flat()));
  try {
    const out = new Float32Array(batch * dim), second = new Float32Array(batch * dim);
    let req;
    while ((req = sampler.ask())) {
      const t = sched.timeFromModelTime(req.tModel);
      const alpha = sched.alpha(t), sigma = sched.sigma(t);
      for (let b = 0; b < batch; b++) {
        const row = Array.from(req.x.subarray(b * dim, (b + 1) * dim));
        let o, s = null;
        if (!c.guidance) o = output(g, row, alpha, sigma);
        else if (c.guidance.type === 'classifier-free') {
          o = output(g, row, alpha, sigma, c.guidance.class);
          s = output(g, row, alpha, sigma);
        } else {
          o = output(g, row, alpha, sigma);
          const sc = score(g, row, alpha, sigma, c.guidance.class), sm = score(g, row, alpha, sigma);
          s = sc.map((v, i) => v - sm[i]);
        }
        out.set(o, b * dim);
        if (s) second.set(s, b * dim);
      }
      if (!c.guidance) sampler.tell(out);
      else if (c.guidance.type === 'classifier-free') sampler.tellCfg(out, second);
      else sampler.tellClassifier(out, second);
    }
    return { x: sampler.x, nfe: sampler.nfe, reports: sampler.reports };
  } finally {
    sampler.free();
  }
}
