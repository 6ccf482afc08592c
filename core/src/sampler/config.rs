//! What configures a run ([`Config`] and its enums) and the checks
//! [`Sampler::new`](crate::Sampler::new) makes on it before touching any buffer.

use crate::adaptive::AdaptiveOptions;
use crate::error::{Error, Result};
use crate::guidance::Guidance;
use crate::math::Real;
use crate::model::Prediction;
#[cfg(feature = "flow")]
use crate::schedule::NoiseSchedule;
use crate::spacing::Spacing;
use crate::threshold::Thresholding;
use crate::update::{Algorithm, SolverType};

/// Largest `steps` accepted (keeps every index computation far from overflow).
pub const MAX_STEPS: usize = 1 << 20;

/// The sampling method (the reference's `method`).
///
/// `Singlestep` and `SinglestepFixed` need the crate feature `singlestep`, `Adaptive` the
/// feature `adaptive` (both default); without it [`Sampler::new`](crate::Sampler::new) refuses
/// the method with [`Error::InvalidConfig`], and the optimizer leaves its code out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Method {
    /// "DPM-Solver-fast": singlestep updates of order <= `order` that use exactly `steps` NFE.
    Singlestep,
    /// Multistep DPM-Solver(++) of order `order`, `steps` NFE, lower-order warm-up.
    #[default]
    Multistep,
    /// Singlestep DPM-Solver-`order` throughout: `(steps / order) * order` NFE.
    SinglestepFixed,
    /// Adaptive step size: DPM-Solver-12 (`order` 2) or -23 (`order` 3); `steps` is ignored.
    Adaptive,
}

/// Which multistep DPM-Solver-3 to run.
///
/// The reference's multistep-3 converges with order 2 only (measured: 2.0-2.3 on the exact-ODE
/// fixtures), for two reasons: its first step is first order (local error `O(h^2)`), and its
/// `D2` term carries half the second derivative the exponential integrator needs (local error
/// `O(h^3)` at every step, see [`Update::multistep_third`](crate::Update::multistep_third)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum MultistepVariant {
    /// Exactly the reference (and diffusers): lower-order warm-up, its `D2`.
    #[default]
    Reference,
    /// Third order throughout: the first step is a singlestep DPM-Solver-2 (one extra
    /// evaluation, `NFE = steps + 1`), the second a multistep-2, then multistep-3 with the
    /// exact `D2`. Measured order 3 (see `tests/tests/convergence.rs`). Affects order 2 only
    /// through the warm-up step, and order 1 not at all.
    FullOrder,
}

/// Sampling (noise to data, `t_start > t_end`) or inversion (data to noise, the reference's
/// `inverse`, `t_start < t_end`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Direction {
    /// From noise at `t_start` (default `T`) to data at `t_end` (default `1/N`).
    #[default]
    Sample,
    /// From data at `t_start` (default `1/N`) to noise at `t_end` (default `T`).
    Invert,
}

/// Everything that configures a run; `Config::default()` is the reference's `sample()`
/// defaults (DPM-Solver++, multistep, order 2, 20 steps, time-uniform).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Config<'a, T> {
    /// DPM-Solver or DPM-Solver++.
    pub algorithm: Algorithm,
    /// Singlestep, multistep, singlestep-fixed or adaptive.
    pub method: Method,
    /// Solver order: 1 to 3 (adaptive: 2 or 3).
    pub order: usize,
    /// Number of function evaluations (singlestep, multistep) or steps budget (fixed).
    pub steps: usize,
    /// Time-step spacing.
    pub spacing: Spacing<'a, T>,
    /// Start time (default: `T` for sampling, `1/N` for inversion).
    pub t_start: Option<T>,
    /// End time (default: `1/N` for sampling, `T` for inversion).
    pub t_end: Option<T>,
    /// Lower orders at the last steps of multistep runs with fewer than 10 steps.
    pub lower_order_final: bool,
    /// One extra evaluation at `t_end` that returns the data prediction.
    pub denoise_to_zero: bool,
    /// `dpmsolver` or `taylor` derivative approximation.
    pub solver_type: SolverType,
    /// What the network predicts.
    pub prediction: Prediction,
    /// Guidance and its scale.
    pub guidance: Guidance<T>,
    /// Dynamic thresholding of data predictions (DPM-Solver++ and `denoise_to_zero`).
    pub thresholding: Option<Thresholding<T>>,
    /// Tolerances of the adaptive method.
    pub adaptive: AdaptiveOptions<T>,
    /// Multistep-3 as the reference runs it, or at full third order.
    pub multistep_variant: MultistepVariant,
    /// Number of samples in `x` (per-sample thresholding and adaptive error norm).
    pub batch: usize,
    /// Sampling or inversion.
    pub direction: Direction,
}

#[cfg(feature = "alloc")]
impl<T: Copy> Config<'_, T> {
    /// The same configuration over `spacing` (the same spacing, its times held elsewhere: see
    /// [`Spacing::with_times`]).
    pub(crate) fn with_spacing<'b>(&self, spacing: Spacing<'b, T>) -> Config<'b, T> {
        Config {
            algorithm: self.algorithm,
            method: self.method,
            order: self.order,
            steps: self.steps,
            spacing,
            t_start: self.t_start,
            t_end: self.t_end,
            lower_order_final: self.lower_order_final,
            denoise_to_zero: self.denoise_to_zero,
            solver_type: self.solver_type,
            prediction: self.prediction,
            guidance: self.guidance,
            thresholding: self.thresholding,
            adaptive: self.adaptive,
            multistep_variant: self.multistep_variant,
            batch: self.batch,
            direction: self.direction,
        }
    }
}

impl<T: Real> Default for Config<'_, T> {
    fn default() -> Self {
        Config {
            algorithm: Algorithm::DpmSolverPp,
            method: Method::Multistep,
            order: 2,
            steps: 20,
            spacing: Spacing::TimeUniform,
            t_start: None,
            t_end: None,
            lower_order_final: true,
            denoise_to_zero: false,
            solver_type: SolverType::DpmSolver,
            prediction: Prediction::Noise,
            guidance: Guidance::None,
            thresholding: None,
            adaptive: AdaptiveOptions::default(),
            multistep_variant: MultistepVariant::Reference,
            batch: 1,
            direction: Direction::Sample,
        }
    }
}

impl<T: Real> Config<'_, T> {
    /// Scratch buffers of `x.len()` elements the method needs (saturating: an order out of
    /// range, which [`Sampler::new`](crate::Sampler::new) refuses, never overflows).
    pub const fn slots(&self) -> usize {
        match self.method {
            Method::Multistep => {
                if matches!(self.multistep_variant, MultistepVariant::FullOrder) && self.order >= 2
                {
                    self.order.saturating_add(1)
                } else {
                    self.order
                }
            }
            Method::Singlestep | Method::SinglestepFixed => self.order,
            Method::Adaptive => self.order.saturating_add(1),
        }
    }

    /// Scratch elements needed for a sample buffer of `n` elements (see the module table).
    /// Saturates at `usize::MAX` instead of overflowing for an unvalidated configuration; use
    /// [`checked_scratch_len`](Self::checked_scratch_len) to size an allocation.
    pub const fn scratch_len(&self, n: usize) -> usize {
        let extra = if self.thresholding.is_some() && self.batch > 0 {
            n / self.batch
        } else {
            0
        };
        self.slots().saturating_mul(n).saturating_add(extra)
    }

    /// [`scratch_len`](Self::scratch_len) after validating the configuration the way
    /// [`Sampler::new`](crate::Sampler::new) does (order, steps, tolerances...), so a caller
    /// that allocates the scratch never sizes it from an order out of range; `None`-like
    /// overflow is an error.
    pub fn checked_scratch_len(&self, n: usize) -> Result<usize> {
        validate(self)?;
        let extra = if self.thresholding.is_some() && self.batch > 0 {
            n / self.batch
        } else {
            0
        };
        self.slots()
            .checked_mul(n)
            .and_then(|v| v.checked_add(extra))
            .ok_or(Error::InvalidConfig(
                "x.len() times the scratch slots overflows usize",
            ))
    }
}

pub(super) fn validate<T: Real>(cfg: &Config<'_, T>) -> Result<()> {
    match cfg.method {
        Method::Singlestep | Method::SinglestepFixed if !cfg!(feature = "singlestep") => {
            return Err(Error::InvalidConfig(
                "the singlestep methods need the dpm-solver feature \"singlestep\"",
            ));
        }
        Method::Adaptive if !cfg!(feature = "adaptive") => {
            return Err(Error::InvalidConfig(
                "the adaptive method needs the dpm-solver feature \"adaptive\"",
            ));
        }
        _ => {}
    }
    let adaptive = cfg.method == Method::Adaptive;
    if adaptive {
        if !(2..=3).contains(&cfg.order) {
            return Err(Error::InvalidConfig(
                "the adaptive method needs order 2 or 3",
            ));
        }
    } else {
        if !(1..=3).contains(&cfg.order) {
            return Err(Error::InvalidConfig("order must be 1, 2 or 3"));
        }
        if cfg.steps == 0 {
            return Err(Error::InvalidConfig("steps must be at least 1"));
        }
        if cfg.steps > MAX_STEPS {
            return Err(Error::InvalidConfig("steps may be at most 2^20"));
        }
        if cfg.method == Method::Multistep && cfg.steps < cfg.order {
            return Err(Error::InvalidConfig("multistep needs steps >= order"));
        }
        if cfg.method == Method::SinglestepFixed && cfg.steps < cfg.order {
            return Err(Error::InvalidConfig(
                "singlestep_fixed needs steps >= order",
            ));
        }
    }
    if cfg.direction == Direction::Invert && cfg.denoise_to_zero {
        return Err(Error::InvalidConfig(
            "denoise_to_zero does not apply to inversion",
        ));
    }
    match cfg.guidance {
        Guidance::None => {}
        Guidance::ClassifierFree { scale } | Guidance::Classifier { scale } => {
            if !scale.is_finite() {
                return Err(Error::InvalidConfig("guidance scale must be finite"));
            }
        }
    }
    if let Some(th) = cfg.thresholding {
        if !(th.ratio > T::ZERO && th.ratio <= T::ONE) {
            return Err(Error::InvalidConfig(
                "thresholding ratio must lie in (0, 1]",
            ));
        }
        if !(th.max_val > T::ZERO && th.max_val.is_finite()) {
            return Err(Error::InvalidConfig(
                "thresholding max_val must be positive and finite",
            ));
        }
    }
    if adaptive {
        let a = cfg.adaptive;
        if !(a.atol > T::ZERO && a.atol.is_finite()) {
            return Err(Error::InvalidConfig("atol must be positive and finite"));
        }
        if !(a.rtol >= T::ZERO && a.rtol.is_finite()) {
            return Err(Error::InvalidConfig("rtol must be non-negative and finite"));
        }
        if !(a.theta > T::ZERO && a.theta <= T::ONE) {
            return Err(Error::InvalidConfig("theta must lie in (0, 1]"));
        }
        if !(a.t_err > T::ZERO && a.t_err.is_finite()) {
            return Err(Error::InvalidConfig("t_err must be positive and finite"));
        }
        if !(a.h_init > T::ZERO && a.h_init.is_finite()) {
            return Err(Error::InvalidConfig("h_init must be positive and finite"));
        }
        if a.max_nfe < cfg.order {
            return Err(Error::InvalidConfig("max_nfe must allow at least one step"));
        }
    }
    Ok(())
}

/// A run that starts or ends at `alpha = 0` (the flow schedule at `t = 1`, pure noise) has an
/// infinite step in `lambda` there. DPM-Solver++ handles it exactly (its first-order update
/// from `alpha_s = 0` is `x_t = sigma_t x_s + alpha_t x_0`, the higher orders degenerate to
/// it); what has no finite limit is refused with a message instead of producing NaN.
#[cfg(feature = "flow")]
pub(super) fn check_pure_noise<T: Real>(
    schedule: &NoiseSchedule<'_, T>,
    cfg: &Config<'_, T>,
    t_start: T,
    t_end: T,
) -> Result<()> {
    let (start0, end0) = (
        !(schedule.alpha(t_start) > T::ZERO),
        !(schedule.alpha(t_end) > T::ZERO),
    );
    if !(start0 || end0) {
        return Ok(());
    }
    if matches!(cfg.spacing, Spacing::LogSnr | Spacing::Karras { .. }) {
        return Err(Error::InvalidConfig(
            "logSNR and Karras spacings need a finite lambda at both ends: alpha is 0 at t = 1 \
             of the flow schedule, so give t_start (or t_end when inverting) below 1",
        ));
    }
    if cfg.method == Method::Adaptive {
        return Err(Error::InvalidConfig(
            "the adaptive method cannot step from or to alpha = 0 (flow schedule at t = 1): \
             give t_start (or t_end when inverting) below 1",
        ));
    }
    if start0 {
        if cfg.algorithm == Algorithm::DpmSolver {
            return Err(Error::InvalidConfig(
                "DPM-Solver (noise) cannot start at alpha = 0 (flow schedule at t = 1): use \
                 DPM-Solver++ or a t_start below 1",
            ));
        }
        if matches!(cfg.prediction, Prediction::Noise | Prediction::Score)
            || matches!(cfg.guidance, Guidance::Classifier { .. })
        {
            return Err(Error::InvalidConfig(
                "at alpha = 0 (flow schedule at t = 1) a noise or score prediction (or classifier \
                 guidance) gives no x_0: use a t_start below 1",
            ));
        }
    }
    Ok(())
}
