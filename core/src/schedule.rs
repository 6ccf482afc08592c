//! Noise schedules of the VP diffusion `x_t = alpha_t x_0 + sigma_t eps` (paper, section 2).
//!
//! [`NoiseSchedule`] gives `log_alpha(t)`, `alpha(t)`, `sigma(t)`, `lambda(t)` (the half-logSNR
//! `log alpha_t - log sigma_t`), its inverse, and the time the network expects as input.
//! Discrete-time schedules (trained on `n = 0..N-1`) follow the reference implementation: time
//! labels `t_n = (n + 1) / N`, `log alpha(t)` piecewise linear between them, and the tail where
//! `lambda < -5.1` cut off (the reference's `numerical_clip_alpha`). Their tables live in
//! caller-provided storage ([`DiscreteVp::from_betas`]) or in a [`ScheduleTable`] of fixed size.

use crate::error::{Buffer, Error, Result};
use crate::math::{linspace_at, logaddexp, Real};

/// `lambda` below which the tail of a discrete schedule is cut (reference: `clipped_lambda`).
pub const CLIPPED_LAMBDA: f64 = -5.1;

/// The reference's model input scale for discrete schedules: `t_input = 1000 (t - 1/N)`.
pub const DISCRETE_TIME_SCALE: f64 = 1000.0;

/// A beta sequence `beta_0..beta_{n-1}` given by formula, evaluated without allocating.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Betas<T> {
    /// DDPM: `linspace(start, end, n)`.
    Linear {
        /// First beta (DDPM: 1e-4).
        start: T,
        /// Last beta (DDPM: 0.02).
        end: T,
        /// Number of training steps `N`.
        n: usize,
    },
    /// Stable Diffusion: `linspace(sqrt(start), sqrt(end), n)^2`.
    ScaledLinear {
        /// First beta (SD: 0.00085).
        start: T,
        /// Last beta (SD: 0.012).
        end: T,
        /// Number of training steps `N`.
        n: usize,
    },
    /// Improved DDPM cosine schedule (`squaredcos_cap_v2`):
    /// `beta_i = min(1 - f((i+1)/n) / f(i/n), 0.999)`, `f(u) = cos((u + 0.008)/1.008 * pi/2)^2`.
    Cosine {
        /// Number of training steps `N`.
        n: usize,
    },
}

impl<T: Real> Betas<T> {
    /// Number of betas `N`.
    pub fn len(&self) -> usize {
        match *self {
            Betas::Linear { n, .. } | Betas::ScaledLinear { n, .. } | Betas::Cosine { n } => n,
        }
    }

    /// Whether the sequence is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `beta_i`. The cosine betas use `cos^2 A - cos^2 B = sin(B + A) sin(B - A)` so that the
    /// small early betas keep full relative precision in `f32`.
    pub fn beta(&self, i: usize) -> T {
        match *self {
            Betas::Linear { start, end, n } => linspace_at(start, end, n, i),
            Betas::ScaledLinear { start, end, n } => {
                let b = linspace_at(start.sqrt(), end.sqrt(), n, i);
                b * b
            }
            Betas::Cosine { n } => {
                let k = T::c(core::f64::consts::FRAC_PI_2 / 1.008);
                let nf = T::from_usize(n);
                let a = (T::from_usize(i) / nf + T::c(0.008)) * k;
                let b = (T::from_usize(i + 1) / nf + T::c(0.008)) * k;
                let ca = a.cos();
                let beta = (b + a).sin() * (b - a).sin() / (ca * ca);
                beta.min(T::c(0.999))
            }
        }
    }
}

/// A discrete-time VP schedule: `log alpha` at the labels `t_n = (n + 1) / N'`, clipped.
///
/// `N'` ([`DiscreteVp::total_n`]) is the table length after the `lambda < -5.1` tail was cut:
/// 996 instead of 1000 for the cosine schedule. It is used wherever the reference uses `N`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DiscreteVp<'a, T> {
    log_alpha: &'a [T],
}

impl<'a, T: Real> DiscreteVp<'a, T> {
    /// From formula betas, writing `log alpha_n = 1/2 sum_{k<=n} log(1 - beta_k)` into
    /// `storage` (at least `betas.len()` elements).
    pub fn from_betas(betas: &Betas<T>, storage: &'a mut [T]) -> Result<Self> {
        validate_betas(betas)?;
        let n = betas.len();
        if storage.len() < n {
            return Err(Error::LengthMismatch {
                buffer: Buffer::Table,
                expected: n,
                found: storage.len(),
            });
        }
        let out = &mut storage[..n];
        cumulative_log_alpha(out, |i| betas.beta(i))?;
        Self::from_log_alpha(out)
    }

    /// From a table of betas (e.g. a model's own), computed into `storage`.
    pub fn from_beta_table(betas: &[T], storage: &'a mut [T]) -> Result<Self> {
        if storage.len() < betas.len() {
            return Err(Error::LengthMismatch {
                buffer: Buffer::Table,
                expected: betas.len(),
                found: storage.len(),
            });
        }
        let out = &mut storage[..betas.len()];
        cumulative_log_alpha(out, |i| betas[i])?;
        Self::from_log_alpha(out)
    }

    /// From DDPM's `alphas_cumprod` (`alpha_bar_n`, so `log alpha_n = 1/2 log alpha_bar_n`),
    /// computed into `storage`.
    pub fn from_alphas_cumprod(alphas_cumprod: &[T], storage: &'a mut [T]) -> Result<Self> {
        if storage.len() < alphas_cumprod.len() {
            return Err(Error::LengthMismatch {
                buffer: Buffer::Table,
                expected: alphas_cumprod.len(),
                found: storage.len(),
            });
        }
        for (dst, &a) in storage.iter_mut().zip(alphas_cumprod) {
            if !(a > T::ZERO && a <= T::ONE) {
                return Err(Error::InvalidConfig(
                    "every alphas_cumprod value must lie in (0, 1]",
                ));
            }
            *dst = T::c(0.5) * a.ln();
        }
        Self::from_log_alpha(&storage[..alphas_cumprod.len()])
    }

    /// From a caller's table of `log alpha_n` (strictly decreasing, negative). The tail where
    /// `lambda < -5.1` is left out, as the reference does; the table itself is not modified.
    pub fn from_log_alpha(log_alpha: &'a [T]) -> Result<Self> {
        for w in log_alpha.windows(2) {
            if !(w[1] < w[0]) {
                return Err(Error::InvalidConfig(
                    "log_alpha must be strictly decreasing in n",
                ));
            }
        }
        for &la in log_alpha {
            if !(la < T::ZERO) || !la.is_finite() {
                return Err(Error::InvalidConfig(
                    "log_alpha values must be finite and negative",
                ));
            }
        }
        // Count the entries whose lambda is below the clip (the tail, lambda being decreasing).
        let clip = T::c(CLIPPED_LAMBDA);
        let cut = log_alpha
            .iter()
            .filter(|&&la| lambda_of_log_alpha(la) < clip)
            .count();
        let keep = log_alpha.len() - cut;
        if keep < 2 {
            return Err(Error::InvalidConfig(
                "a discrete schedule needs at least 2 steps with lambda >= -5.1",
            ));
        }
        Ok(DiscreteVp {
            log_alpha: &log_alpha[..keep],
        })
    }

    /// `N'`: the number of discrete steps after clipping.
    pub fn total_n(&self) -> usize {
        self.log_alpha.len()
    }

    /// The clipped `log alpha_n` table.
    pub fn log_alpha_table(&self) -> &'a [T] {
        self.log_alpha
    }

    /// Time label `t_n = (n + 1) / N'` (torch's `linspace(0, 1, N' + 1)[n + 1]`).
    #[inline]
    fn t_label(&self, n: usize) -> T {
        let len = self.log_alpha.len();
        linspace_at(T::ZERO, T::ONE, len + 1, n + 1)
    }

    /// Piecewise-linear `log alpha(t)`, extrapolated linearly beyond the ends.
    fn log_alpha(&self, t: T) -> T {
        let len = self.log_alpha.len();
        // Segment i covers [t_i, t_{i+1}], t_i = (i + 1)/N'.
        let pos = t * T::from_usize(len) - T::ONE;
        let i = if pos < T::ONE {
            0
        } else {
            pos.floor().to_usize().min(len - 2)
        };
        let (x0, x1) = (self.t_label(i), self.t_label(i + 1));
        let (y0, y1) = (self.log_alpha[i], self.log_alpha[i + 1]);
        y0 + (t - x0) * (y1 - y0) / (x1 - x0)
    }

    /// Inverse of `lambda(t)` through the table (the reference interpolates `t` against
    /// `log alpha = -1/2 logaddexp(0, -2 lambda)`).
    fn inverse_lambda(&self, lambda: T) -> T {
        let la = -T::c(0.5) * logaddexp(T::ZERO, -T::c(2.0) * lambda);
        let len = self.log_alpha.len();
        // Entries >= la come first (the table decreases); segment i is [n = i, n = i + 1].
        let k = self.log_alpha.partition_point(|&v| v >= la);
        let i = k.saturating_sub(1).min(len - 2);
        // As the reference: interpolate on the flipped (increasing) arrays.
        let (x0, x1) = (self.log_alpha[i + 1], self.log_alpha[i]);
        let (y0, y1) = (self.t_label(i + 1), self.t_label(i));
        y0 + (la - x0) * (y1 - y0) / (x1 - x0)
    }
}

/// A [`DiscreteVp`] table stored inline, for callers without other storage (`N` = capacity).
#[derive(Clone, Debug)]
pub struct ScheduleTable<T, const N: usize> {
    buf: [T; N],
}

impl<T: Real, const N: usize> Default for ScheduleTable<T, N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Real, const N: usize> ScheduleTable<T, N> {
    /// An empty table of capacity `N`.
    pub fn new() -> Self {
        ScheduleTable { buf: [T::ZERO; N] }
    }

    /// A discrete schedule from formula betas (at most `N` of them).
    pub fn from_betas(&mut self, betas: &Betas<T>) -> Result<NoiseSchedule<'_, T>> {
        Ok(NoiseSchedule::Discrete(DiscreteVp::from_betas(
            betas,
            &mut self.buf,
        )?))
    }

    /// A discrete schedule from `alphas_cumprod` (at most `N` values).
    pub fn from_alphas_cumprod(&mut self, alphas_cumprod: &[T]) -> Result<NoiseSchedule<'_, T>> {
        Ok(NoiseSchedule::Discrete(DiscreteVp::from_alphas_cumprod(
            alphas_cumprod,
            &mut self.buf,
        )?))
    }
}

/// A VP noise schedule: the marginal `q(x_t | x_0) = N(alpha_t x_0, sigma_t^2 I)`, `t` in `(0, 1]`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum NoiseSchedule<'a, T> {
    /// Discrete-time (DDPM-style) schedule, piecewise linear in `log alpha`.
    Discrete(DiscreteVp<'a, T>),
    /// Continuous-time linear VP-SDE (score SDE):
    /// `log alpha(t) = -1/4 t^2 (beta_1 - beta_0) - 1/2 t beta_0`, `N = 1000`.
    LinearVp {
        /// `beta(0)` (score SDE: 0.1).
        beta_0: T,
        /// `beta(1)` (score SDE: 20).
        beta_1: T,
    },
    /// Flow matching (rectified flow): the linear path `x_t = (1 - t) x_0 + t eps`, so
    /// `alpha_t = 1 - t`, `sigma_t = t`, `lambda_t = log((1 - t) / t)`. Not variance
    /// preserving, but DPM-Solver only needs `alpha`, `sigma` and `lambda`. At `t = 1`
    /// (`alpha = 0`, `lambda = -inf`) the sample is pure noise; DPM-Solver++ starts there
    /// exactly (see [`Sampler`](crate::Sampler)). Crate feature `flow` (default).
    #[cfg(feature = "flow")]
    Flow {
        /// `N` (`num_train_timesteps`): the network's time input is `N t` (diffusers'
        /// `timestep = sigma * num_train_timesteps`), and `1/N` the default end time.
        n: usize,
    },
}

#[cfg(feature = "alloc")]
impl<T: Copy> NoiseSchedule<'_, T> {
    /// The same schedule with a discrete schedule's clipped `log alpha` table read from
    /// `table` (a copy of [`DiscreteVp::log_alpha_table`]; the other schedules hold no list):
    /// how an owned sampler rebuilds its view over its own copy.
    pub(crate) fn with_table<'b>(self, table: &'b [T]) -> NoiseSchedule<'b, T> {
        match self {
            NoiseSchedule::Discrete(_) => NoiseSchedule::Discrete(DiscreteVp { log_alpha: table }),
            NoiseSchedule::LinearVp { beta_0, beta_1 } => {
                NoiseSchedule::LinearVp { beta_0, beta_1 }
            }
            #[cfg(feature = "flow")]
            NoiseSchedule::Flow { n } => NoiseSchedule::Flow { n },
        }
    }
}

impl<'a, T: Real> NoiseSchedule<'a, T> {
    /// The continuous linear VP schedule, validated (`0 <= beta_0 < beta_1`, finite).
    pub fn linear_vp(beta_0: T, beta_1: T) -> Result<Self> {
        if !(beta_0 >= T::ZERO && beta_1 > beta_0 && beta_1.is_finite()) {
            return Err(Error::InvalidConfig(
                "linear VP schedule needs 0 <= beta_0 < beta_1, finite",
            ));
        }
        Ok(NoiseSchedule::LinearVp { beta_0, beta_1 })
    }

    #[cfg(feature = "flow")]
    /// The flow-matching schedule with `n` training timesteps (diffusers' default 1000),
    /// validated (`2 <= n <= 2^24`).
    pub fn flow(n: usize) -> Result<Self> {
        if !(2..=1 << 24).contains(&n) {
            return Err(Error::InvalidConfig(
                "the flow schedule needs 2 <= num_train_timesteps <= 2^24",
            ));
        }
        Ok(NoiseSchedule::Flow { n })
    }

    /// Whether this is the flow-matching schedule (`alpha + sigma = 1`; never without the
    /// feature `flow`).
    pub fn is_flow(&self) -> bool {
        #[cfg(feature = "flow")]
        if let NoiseSchedule::Flow { .. } = self {
            return true;
        }
        false
    }

    /// The end time `T` of the forward process (1 for both kinds).
    pub fn t_max(&self) -> T {
        T::ONE
    }

    /// `N` as the reference uses it: `N'` for discrete schedules, 1000 for continuous ones.
    pub fn total_n(&self) -> usize {
        match self {
            NoiseSchedule::Discrete(d) => d.total_n(),
            NoiseSchedule::LinearVp { .. } => 1000,
            #[cfg(feature = "flow")]
            NoiseSchedule::Flow { n } => *n,
        }
    }

    /// The default end time of sampling, `1 / N`.
    pub fn default_t_end(&self) -> T {
        T::ONE / T::from_usize(self.total_n())
    }

    /// `log alpha_t`.
    #[inline]
    pub fn log_alpha(&self, t: T) -> T {
        match self {
            NoiseSchedule::Discrete(d) => d.log_alpha(t),
            NoiseSchedule::LinearVp { beta_0, beta_1 } => {
                -T::c(0.25) * t * t * (*beta_1 - *beta_0) - T::c(0.5) * t * *beta_0
            }
            // log(1 - t); -inf at t = 1.
            #[cfg(feature = "flow")]
            NoiseSchedule::Flow { .. } => (-t).ln_1p(),
        }
    }

    /// `alpha_t`.
    #[inline]
    pub fn alpha(&self, t: T) -> T {
        match self {
            #[cfg(feature = "flow")]
            NoiseSchedule::Flow { .. } => T::ONE - t,
            _ => self.log_alpha(t).exp(),
        }
    }

    /// `sigma_t = sqrt(1 - alpha_t^2)` for the VP schedules, computed as
    /// `sqrt(-expm1(2 log alpha_t))` so that it keeps its digits near `t = 0` in `f32`; `t` for
    /// the flow schedule.
    #[inline]
    pub fn sigma(&self, t: T) -> T {
        match self {
            #[cfg(feature = "flow")]
            NoiseSchedule::Flow { .. } => t,
            _ => (-(T::c(2.0) * self.log_alpha(t)).exp_m1()).sqrt(),
        }
    }

    /// The half-logSNR `lambda_t = log alpha_t - log sigma_t`.
    #[inline]
    pub fn lambda(&self, t: T) -> T {
        match self {
            #[cfg(feature = "flow")]
            NoiseSchedule::Flow { .. } => (-t).ln_1p() - t.ln(),
            _ => lambda_of_log_alpha(self.log_alpha(t)),
        }
    }

    /// `t` with `lambda(t) = lambda` (closed form for the linear VP, table inverse otherwise).
    pub fn inverse_lambda(&self, lambda: T) -> T {
        match self {
            NoiseSchedule::Discrete(d) => d.inverse_lambda(lambda),
            NoiseSchedule::LinearVp { beta_0, beta_1 } => {
                let (b0, db) = (*beta_0, *beta_1 - *beta_0);
                let tmp = T::c(2.0) * db * logaddexp(-T::c(2.0) * lambda, T::ZERO);
                let delta = b0 * b0 + tmp;
                tmp / (delta.sqrt() + b0) / db
            }
            // t = 1 / (1 + e^lambda), written so that neither end overflows (-inf gives 1).
            #[cfg(feature = "flow")]
            NoiseSchedule::Flow { .. } => {
                if lambda > T::ZERO {
                    let e = (-lambda).exp();
                    e / (T::ONE + e)
                } else {
                    T::ONE / (T::ONE + lambda.exp())
                }
            }
        }
    }

    /// The time the network takes as input: `1000 (t - 1/N')` for discrete schedules (so
    /// `t = 1/N'..1` maps to `0..999` for `N' = 1000`), `t` itself for continuous ones, `N t`
    /// for the flow schedule (diffusers' flow timestep `sigma * num_train_timesteps`).
    #[inline]
    pub fn model_time(&self, t: T) -> T {
        match self {
            NoiseSchedule::Discrete(d) => {
                (t - T::ONE / T::from_usize(d.total_n())) * T::c(DISCRETE_TIME_SCALE)
            }
            NoiseSchedule::LinearVp { .. } => t,
            #[cfg(feature = "flow")]
            NoiseSchedule::Flow { n } => t * T::from_usize(*n),
        }
    }

    /// Inverse of [`model_time`](Self::model_time).
    #[inline]
    pub fn time_from_model_time(&self, t_model: T) -> T {
        match self {
            NoiseSchedule::Discrete(d) => {
                t_model / T::c(DISCRETE_TIME_SCALE) + T::ONE / T::from_usize(d.total_n())
            }
            NoiseSchedule::LinearVp { .. } => t_model,
            #[cfg(feature = "flow")]
            NoiseSchedule::Flow { n } => t_model / T::from_usize(*n),
        }
    }
}

/// `lambda = log alpha - 1/2 log(1 - alpha^2)`.
#[inline]
pub(crate) fn lambda_of_log_alpha<T: Real>(la: T) -> T {
    la - T::c(0.5) * (-(T::c(2.0) * la).exp_m1()).ln()
}

fn validate_betas<T: Real>(betas: &Betas<T>) -> Result<()> {
    let n = betas.len();
    if n < 2 {
        return Err(Error::InvalidConfig(
            "a beta schedule needs at least 2 steps",
        ));
    }
    if n > 1 << 24 {
        return Err(Error::InvalidConfig(
            "a beta schedule may have at most 2^24 steps",
        ));
    }
    match *betas {
        Betas::Linear { start, end, .. } | Betas::ScaledLinear { start, end, .. } => {
            if !(start > T::ZERO && end > T::ZERO && start < T::ONE && end < T::ONE) {
                return Err(Error::InvalidConfig(
                    "beta start and end must lie in (0, 1)",
                ));
            }
        }
        Betas::Cosine { .. } => {}
    }
    Ok(())
}

/// `out[n] = 1/2 sum_{k<=n} log(1 - beta_k)`, summed with Kahan compensation (f32 keeps ~1 ulp
/// over 1000 terms) and `log1p(-beta)` (no loss for tiny betas).
fn cumulative_log_alpha<T: Real>(out: &mut [T], beta: impl Fn(usize) -> T) -> Result<()> {
    let (mut sum, mut comp) = (T::ZERO, T::ZERO);
    for (i, dst) in out.iter_mut().enumerate() {
        let b = beta(i);
        if !(b > T::ZERO && b < T::ONE) {
            return Err(Error::InvalidConfig("every beta must lie in (0, 1)"));
        }
        let y = (-b).ln_1p() - comp;
        let s = sum + y;
        comp = (s - sum) - y;
        sum = s;
        *dst = T::c(0.5) * sum;
    }
    Ok(())
}

/// Checks that `t` is a usable time for `schedule`: finite, in `(0, T]`, and for a discrete
/// schedule in `[1/N, T]`, the domain the reference defines it on (`dpm_solver_pytorch.py`
/// documents "for discrete-time DPMs, it needs to be in [1 / N, 1]"; below `1/N` its linear
/// extrapolation of `log alpha` reaches `alpha >= 1`, `sigma = 0` and a NaN sample).
pub(crate) fn check_time<T: Real>(
    schedule: &NoiseSchedule<'_, T>,
    t: T,
    what: &'static str,
) -> Result<()> {
    let lowest_ok = match schedule {
        NoiseSchedule::Discrete(_) => t >= schedule.default_t_end(),
        NoiseSchedule::LinearVp { .. } => t > T::ZERO,
        #[cfg(feature = "flow")]
        NoiseSchedule::Flow { .. } => t > T::ZERO,
    };
    if lowest_ok && t <= schedule.t_max() && t.is_finite() {
        Ok(())
    } else {
        Err(Error::InvalidConfig(what))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_schedule_clips_to_996() {
        let mut table = ScheduleTable::<f64, 1000>::new();
        let s = table.from_betas(&Betas::Cosine { n: 1000 }).unwrap();
        assert_eq!(s.total_n(), 996);
    }

    #[test]
    fn linear_schedule_keeps_1000() {
        let mut storage = [0.0f32; 1000];
        let d = DiscreteVp::from_betas(
            &Betas::Linear {
                start: 1e-4,
                end: 0.02,
                n: 1000,
            },
            &mut storage,
        )
        .unwrap();
        assert_eq!(d.total_n(), 1000);
    }

    #[test]
    fn cosine_betas_match_naive_formula_in_f64() {
        let b = Betas::<f64>::Cosine { n: 1000 };
        let f = |u: f64| libm::cos((u + 0.008) / 1.008 * core::f64::consts::FRAC_PI_2).powi(2);
        for i in [0usize, 1, 10, 500, 990, 999] {
            let naive = (1.0 - f((i + 1) as f64 / 1000.0) / f(i as f64 / 1000.0)).min(0.999);
            assert!(
                (b.beta(i) - naive).abs() <= 1e-12 * naive.max(1e-3),
                "i={i}"
            );
        }
    }

    #[test]
    fn lambda_round_trips() {
        let mut table = ScheduleTable::<f64, 1000>::new();
        let s = table
            .from_betas(&Betas::Linear {
                start: 1e-4,
                end: 0.02,
                n: 1000,
            })
            .unwrap();
        let c = NoiseSchedule::linear_vp(0.1, 20.0).unwrap();
        for sched in [s, c] {
            for &t in &[1e-3, 0.0123, 0.5, 0.999, 1.0] {
                let back = sched.inverse_lambda(sched.lambda(t));
                assert!((back - t).abs() < 1e-12, "{t} -> {back}");
            }
        }
    }

    #[test]
    fn log_alpha_interpolates_table() {
        let mut storage = [0.0f64; 1000];
        let d = DiscreteVp::from_betas(
            &Betas::Linear {
                start: 1e-4,
                end: 0.02,
                n: 1000,
            },
            &mut storage,
        )
        .unwrap();
        let s = NoiseSchedule::Discrete(d);
        let tab = d.log_alpha_table();
        assert!((s.log_alpha(0.001) - tab[0]).abs() < 1e-15);
        assert!((s.log_alpha(1.0) - tab[999]).abs() < 1e-15);
        let mid = s.log_alpha(0.0015);
        assert!((mid - 0.5 * (tab[0] + tab[1])).abs() < 1e-15);
        // Linear extrapolation below the first label.
        let below = s.log_alpha(0.0005);
        assert!((below - (tab[0] - 0.5 * (tab[1] - tab[0]))).abs() < 1e-15);
    }

    #[test]
    fn invalid_tables_are_errors() {
        let mut st = [0.0f32; 4];
        assert!(DiscreteVp::from_beta_table(&[0.1, 1.5], &mut st).is_err());
        assert!(DiscreteVp::from_alphas_cumprod(&[0.9, 0.95], &mut st).is_err());
        assert!(DiscreteVp::from_log_alpha(&[-0.1f32]).is_err());
        assert!(DiscreteVp::from_betas(
            &Betas::Linear {
                start: 0.1,
                end: 0.2,
                n: 8
            },
            &mut st
        )
        .is_err());
        assert!(NoiseSchedule::<f32>::linear_vp(1.0, 0.5).is_err());
        assert!(NoiseSchedule::<f32>::linear_vp(f32::NAN, 0.5).is_err());
    }
}
