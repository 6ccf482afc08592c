//! The ask/tell sampler: every DPM-Solver method as a state machine that never calls the network.
//!
//! [`Sampler::ask`] says where the model must be evaluated (which `x`, which time);
//! [`Sampler::tell`] (or [`tell_cfg`](Sampler::tell_cfg), [`tell_classifier`](Sampler::tell_classifier))
//! hands back the output and advances. The caller owns `x` (integrated in place) and a scratch
//! buffer of [`Config::scratch_len`] elements; nothing is allocated.
//!
//! | method | scratch (elements, `n = x.len()`) |
//! |---|---|
//! | `Multistep`, order `k` | `k n` (`+ n` with [`MultistepVariant::FullOrder`] and `k >= 2`) |
//! | `Singlestep` / `SinglestepFixed`, order `k` | `k n` |
//! | `Adaptive`, order 2 / 3 | `3 n` / `4 n` |
//! | dynamic thresholding | `+ n / batch` |
//!
//! In bytes: that count times `size_of::<T>()` (4 for `f32`).

use crate::adaptive::{AdaptiveOptions, StepController};
use crate::error::{check_len, Buffer, Error, Result};
use crate::flow::ENABLED as FLOW;
use crate::guidance::{self, Guidance};
use crate::math::Real;
use crate::model::{conversion, Prediction, Target};
use crate::schedule::{check_time, NoiseSchedule};
use crate::spacing::{check_custom, Grid, Spacing};
use crate::threshold::{dynamic_threshold, Thresholding};
use crate::update::{Algorithm, Point, SolverType, Update};

/// Largest `steps` accepted (keeps every index computation far from overflow).
pub const MAX_STEPS: usize = 1 << 20;

/// The sampling method (the reference's `method`).
///
/// `Singlestep` and `SinglestepFixed` need the crate feature `singlestep`, `Adaptive` the
/// feature `adaptive` (both default); without it [`Sampler::new`] refuses the method with
/// [`Error::InvalidConfig`], and the optimizer leaves its code out.
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
/// `O(h^3)` at every step, see [`Update::multistep_third`]).
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
    /// range, which [`Sampler::new`] refuses, never overflows).
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
    /// [`Sampler::new`] does (order, steps, tolerances...), so a caller that allocates the
    /// scratch never sizes it from an order out of range; `None`-like overflow is an error.
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

/// Where the pending evaluation is.
#[derive(Clone, Copy, Debug)]
pub struct Request<'s, T> {
    /// The point to evaluate the network at.
    pub x: &'s [T],
    /// The network's time input (`1000 (t - 1/N)` for discrete schedules, `t` otherwise).
    pub t_model: T,
    /// Solver time `t`.
    pub t: T,
    /// `alpha_t`.
    pub alpha: T,
    /// `sigma_t`.
    pub sigma: T,
    /// 0-based index of this evaluation.
    pub index: usize,
}

/// What a completed step was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepKind {
    /// A solver step (possibly rejected, for the adaptive method).
    Solver,
    /// The final `denoise_to_zero` evaluation.
    DenoiseToZero,
}

/// Report of one completed (or rejected) step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepReport<T> {
    /// 1-based count of reports so far.
    pub step: usize,
    /// Kind of step.
    pub kind: StepKind,
    /// Start time.
    pub t_from: T,
    /// End time (for a rejected step: the one that was tried).
    pub t_to: T,
    /// Step in `lambda`.
    pub h: T,
    /// Order of the update.
    pub order: usize,
    /// Accepted (always, except rejected adaptive steps).
    pub accepted: bool,
    /// The adaptive error estimate `E`.
    pub error: Option<T>,
    /// Evaluations so far.
    pub nfe: usize,
}

/// Counts after (or during) a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Stats {
    /// Network evaluations (a classifier-free guided pair counts once, as in the paper).
    pub nfe: usize,
    /// Accepted steps.
    pub n_accept: usize,
    /// Rejected steps (adaptive only).
    pub n_reject: usize,
}

/// One network output, possibly guided.
#[derive(Clone, Copy)]
enum Output<'o, T> {
    Plain(&'o [T]),
    Cfg {
        cond: &'o [T],
        uncond: &'o [T],
        scale: T,
    },
    Classifier {
        out: &'o [T],
        grad: &'o [T],
        scale: T,
    },
}

/// Which buffer holds an evaluation point or a model value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Loc {
    X,
    Slot(usize),
}

/// Times of the current step.
#[derive(Clone, Copy, Debug)]
struct Plan<T> {
    order: usize,
    s: Point<T>,
    t: Point<T>,
    s1: Point<T>,
    s2: Point<T>,
    r1: T,
    r2: T,
    h: T,
}

#[derive(Clone, Copy, Debug)]
enum Phase {
    /// Waiting for the model at grid point `i`; `midpoint`: at the warm-up's `s1`.
    Multistep { i: usize, midpoint: bool },
    /// Outer step `k` whose start is NFE-grid index `pos`; stage 0..order-1.
    Singlestep { k: usize, pos: usize, stage: usize },
    /// Adaptive trial, stage 0..order-1.
    Adaptive { stage: usize },
    /// The `denoise_to_zero` evaluation.
    Denoise,
    /// An adaptive trial's two solutions are planned; waiting for its error norm from the
    /// executor ([`crate::plan::StepPlanner`] only).
    #[cfg(feature = "plan")]
    AwaitError,
    /// Finished.
    Done,
}

/// Adaptive solver state between trials.
#[derive(Clone, Copy, Debug)]
struct AdaptiveState<T> {
    s: Point<T>,
    lambda_end: T,
    h: T,
}

/// The DPM-Solver sampler over caller-owned buffers. See the [crate docs](crate) for a loop.
pub struct Sampler<'a, T: Real = f32> {
    cfg: Config<'a, T>,
    sched: NoiseSchedule<'a, T>,
    x: &'a mut [T],
    scratch: &'a mut [T],
    n: usize,
    dim: usize,
    t_start: T,
    t_end: T,
    grid: Grid<'a, T>,
    /// Singlestep: number of outer steps and the order pattern.
    outer: usize,
    phase: Phase,
    plan: Plan<T>,
    ad: AdaptiveState<T>,
    /// The point of the pending evaluation (computed once, when the phase is entered).
    eval: Point<T>,
    /// `lambda` at the last three multistep grid points (index `i % 3`).
    lambda_hist: [T; 3],
    stats: Stats,
    reports: usize,
    /// The operations of the last evaluation, as coefficients (see [`crate::plan`]).
    #[cfg(feature = "plan")]
    log: crate::plan::OpLog<T>,
    /// Adaptive trials stop at [`Phase::AwaitError`] for an error norm computed elsewhere
    /// (set by [`crate::plan::StepPlanner`]).
    #[cfg(feature = "plan")]
    defer_error: bool,
}

impl<'a, T: Real> Sampler<'a, T> {
    /// Validates `config` against `schedule` and the buffers and sets up the first evaluation.
    /// `x` holds the start (noise at `t_start`); it is integrated in place.
    pub fn new(
        schedule: NoiseSchedule<'a, T>,
        config: Config<'a, T>,
        x: &'a mut [T],
        scratch: &'a mut [T],
    ) -> Result<Self> {
        let cfg = config;
        let n = x.len();
        if n == 0 {
            return Err(Error::InvalidConfig("x is empty"));
        }
        if cfg.batch == 0 || n % cfg.batch != 0 {
            return Err(Error::InvalidConfig(
                "batch must be >= 1 and divide x.len()",
            ));
        }
        if let Some(i) = x.iter().position(|v| !v.is_finite()) {
            return Err(Error::NonFinite {
                buffer: Buffer::X,
                index: i,
            });
        }
        validate(&cfg)?;
        let need = cfg.scratch_len(n);
        if scratch.len() < need {
            return Err(Error::LengthMismatch {
                buffer: Buffer::Scratch,
                expected: need,
                found: scratch.len(),
            });
        }
        let invert = cfg.direction == Direction::Invert;
        let (def_start, def_end) = if invert {
            (schedule.default_t_end(), schedule.t_max())
        } else {
            (schedule.t_max(), schedule.default_t_end())
        };
        let t_start = cfg.t_start.unwrap_or(def_start);
        let t_end = cfg.t_end.unwrap_or(def_end);
        check_time(
            &schedule,
            t_start,
            "t_start must be finite and in (0, T] (discrete: [1/N, T])",
        )?;
        check_time(
            &schedule,
            t_end,
            "t_end must be finite and in (0, T] (discrete: [1/N, T])",
        )?;
        if !invert && !(t_end < t_start) {
            return Err(Error::InvalidConfig(
                "t_end must be smaller than t_start when sampling",
            ));
        }
        if invert && !(t_start < t_end) {
            return Err(Error::InvalidConfig(
                "t_end must be larger than t_start when inverting",
            ));
        }

        let steps = cfg.steps;
        let order = cfg.order;
        // Singlestep outer steps K: DPM-Solver-fast's split or steps / order.
        let outer = match cfg.method {
            Method::Singlestep => match order {
                3 => steps / 3 + 1,
                2 => steps / 2 + steps % 2,
                _ => steps,
            },
            Method::SinglestepFixed => steps / order,
            _ => 0,
        };
        let grid_n = match cfg.method {
            Method::Multistep => steps,
            Method::Singlestep if matches!(cfg.spacing, Spacing::LogSnr) => outer,
            Method::Singlestep => steps,
            Method::SinglestepFixed => outer,
            Method::Adaptive => 1,
        };
        if let Spacing::Custom(times) = cfg.spacing {
            if cfg.method == Method::Adaptive {
                return Err(Error::InvalidConfig(
                    "custom times do not apply to the adaptive method",
                ));
            }
            check_custom(&schedule, times, grid_n + 1, !invert)?;
        }
        if let Spacing::Karras { rho } = cfg.spacing {
            if !(rho > T::ZERO && rho.is_finite()) {
                return Err(Error::InvalidConfig(
                    "Karras rho must be positive and finite",
                ));
            }
        }
        #[cfg(feature = "flow")]
        if let Spacing::FlowShift { shift } = cfg.spacing {
            if !(shift > T::ZERO && shift.is_finite()) {
                return Err(Error::InvalidConfig(
                    "the flow shift must be positive and finite",
                ));
            }
        }
        #[cfg(feature = "flow")]
        check_pure_noise(&schedule, &cfg, t_start, t_end)?;
        let grid = Grid::new(cfg.spacing, &schedule, t_start, t_end, grid_n);
        let p0 = Point::at(&schedule, t_start);
        let mut sampler = Sampler {
            cfg,
            sched: schedule,
            x,
            scratch,
            n,
            dim: n / cfg.batch,
            t_start,
            t_end,
            grid,
            outer,
            phase: Phase::Done,
            plan: Plan {
                order: 1,
                s: p0,
                t: p0,
                s1: p0,
                s2: p0,
                r1: T::ZERO,
                r2: T::ZERO,
                h: T::ZERO,
            },
            ad: AdaptiveState {
                s: p0,
                lambda_end: T::ZERO,
                h: T::ZERO,
            },
            eval: p0,
            lambda_hist: [T::ZERO; 3],
            stats: Stats::default(),
            reports: 0,
            #[cfg(feature = "plan")]
            log: crate::plan::OpLog::default(),
            #[cfg(feature = "plan")]
            defer_error: false,
        };
        sampler.start();
        // The first evaluation's time comes from the grid (an extreme Karras `rho` can make it
        // NaN even though `t_start` is fine).
        #[cfg(feature = "checked")]
        if sampler.check_pending().is_err() {
            return Err(Error::InvalidConfig(
                "the time grid of this spacing leaves the schedule's range",
            ));
        }
        Ok(sampler)
    }

    /// The pending evaluation, or `None` when sampling is finished (the result is in `x`).
    pub fn ask(&self) -> Option<Request<'_, T>> {
        let (loc, p) = self.pending()?;
        let x: &[T] = match loc {
            Loc::X => self.x,
            Loc::Slot(j) => &self.scratch[j * self.n..(j + 1) * self.n],
        };
        Some(Request {
            x,
            t_model: self.sched.model_time(p.t),
            t: p.t,
            alpha: p.alpha(),
            sigma: p.sigma,
            index: self.stats.nfe,
        })
    }

    /// Hands back the network output for the pending request (unguided sampling). Returns the
    /// report of the step this evaluation completed, if it completed one.
    pub fn tell(&mut self, output: &[T]) -> Result<Option<StepReport<T>>> {
        match self.cfg.guidance {
            Guidance::None => self.receive(Output::Plain(output)),
            g => Err(Error::GuidanceMismatch {
                configured: g.name(),
                called: "tell",
            }),
        }
    }

    /// Hands back the conditional and unconditional outputs (classifier-free guidance).
    pub fn tell_cfg(&mut self, cond: &[T], uncond: &[T]) -> Result<Option<StepReport<T>>> {
        match self.cfg.guidance {
            Guidance::ClassifierFree { scale } => self.receive(Output::Cfg {
                cond,
                uncond,
                scale,
            }),
            g => Err(Error::GuidanceMismatch {
                configured: g.name(),
                called: "tell_cfg",
            }),
        }
    }

    /// Hands back the output and `grad_x log p(class | x_t)` (classifier guidance).
    pub fn tell_classifier(&mut self, output: &[T], grad: &[T]) -> Result<Option<StepReport<T>>> {
        match self.cfg.guidance {
            Guidance::Classifier { scale } => self.receive(Output::Classifier {
                out: output,
                grad,
                scale,
            }),
            g => Err(Error::GuidanceMismatch {
                configured: g.name(),
                called: "tell_classifier",
            }),
        }
    }

    /// Runs the whole loop with a model closure `model(x, t_model, out)` (unguided), using
    /// `out` (`x.len()` elements) for the network output.
    pub fn sample(
        &mut self,
        out: &mut [T],
        mut model: impl FnMut(&[T], T, &mut [T]),
    ) -> Result<Stats> {
        check_len(Buffer::Output, self.n, out.len())?;
        while let Some(req) = self.ask() {
            model(req.x, req.t_model, out);
            self.tell(out)?;
        }
        Ok(self.stats)
    }

    /// The sample: the start before the run, the result after it.
    pub fn x(&self) -> &[T] {
        self.x
    }

    /// Counts so far.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Network evaluations so far.
    pub fn nfe(&self) -> usize {
        self.stats.nfe
    }

    /// Whether sampling is finished.
    pub fn is_done(&self) -> bool {
        matches!(self.phase, Phase::Done)
    }

    /// The start and end times in use (defaults resolved).
    pub fn time_range(&self) -> (T, T) {
        (self.t_start, self.t_end)
    }

    /// The schedule.
    pub fn schedule(&self) -> &NoiseSchedule<'a, T> {
        &self.sched
    }

    /// The configuration.
    pub fn config(&self) -> &Config<'a, T> {
        &self.cfg
    }

    /// The buffer the pending request's `x` is, in the terms of [`crate::plan`].
    #[cfg(feature = "plan")]
    pub fn pending_buffer(&self) -> Option<crate::plan::Buf> {
        Some(match self.pending()?.0 {
            Loc::X => crate::plan::Buf::X,
            Loc::Slot(j) => crate::plan::Buf::slot(j),
        })
    }

    /// What the last `tell` did to the buffers, as coefficients (see [`crate::plan`]).
    #[cfg(feature = "plan")]
    pub fn last_ops(&self) -> &crate::plan::OpLog<T> {
        &self.log
    }

    /// The log of the last `tell` ([`crate::plan::StepPlanner`] completes its norm).
    #[cfg(feature = "plan")]
    pub(crate) fn log_mut(&mut self) -> &mut crate::plan::OpLog<T> {
        &mut self.log
    }

    /// From now on an adaptive trial stops after its last evaluation, with the error norm
    /// described in [`last_ops`](Self::last_ops), until [`tell_error`](Self::tell_error).
    #[cfg(feature = "plan")]
    pub(crate) fn defer_error(&mut self) {
        self.defer_error = true;
    }

    /// Whether the sampler waits for [`tell_error`](Self::tell_error).
    #[cfg(feature = "plan")]
    pub(crate) fn awaits_error(&self) -> bool {
        matches!(self.phase, Phase::AwaitError)
    }

    /// The error norm of the pending adaptive trial, computed by the executor from the
    /// [`ErrorNorm`](crate::plan::ErrorNorm) of the last evaluation: accepts or rejects the
    /// trial and sizes the next one exactly as [`tell`](Self::tell) does with its own norm.
    /// The operations of the decision (an accepted trial's `x_prev` and `x`) are then in
    /// [`last_ops`](Self::last_ops).
    #[cfg(feature = "plan")]
    pub(crate) fn tell_error(&mut self, e: T) -> Result<StepReport<T>> {
        if !self.awaits_error() {
            return Err(Error::InvalidConfig(
                "no adaptive trial waits for an error norm",
            ));
        }
        self.log.clear();
        let report = self.adaptive_decide(e)?;
        #[cfg(feature = "checked")]
        self.check_pending()?;
        Ok(report)
    }

    // ----- state machine -----

    fn point(&self, t: T) -> Point<T> {
        Point::at(&self.sched, t)
    }

    /// The intermediate point at `lambda_s + r h` and the ratio it really has: `t` is rounded to
    /// `T`, and the update must use the `lambda` of the time the model is evaluated at (exactly
    /// `r` in exact arithmetic; in `f32` near `T` of a steep schedule it differs by ~1e-4).
    fn intermediate_point(&self, s: &Point<T>, r: T, h: T) -> (Point<T>, T) {
        let p = self.point(self.sched.inverse_lambda(s.lambda + r * h));
        let r_eff = (p.lambda - s.lambda) / h;
        if r_eff.is_finite() && r_eff > T::ZERO && r_eff < T::ONE {
            (p, r_eff)
        } else {
            (p, r)
        }
    }

    /// The plan of a step from `s` to `t` of `order` with intermediate ratios `r1`, `r2`
    /// (ignored where the order does not use them).
    fn make_plan(&self, order: usize, s: Point<T>, t: Point<T>, r1: T, r2: T) -> Plan<T> {
        let h = t.lambda - s.lambda;
        // From or to `alpha = 0` (flow schedule at t = 1) the step in lambda is infinite: the
        // higher-order terms vanish in the limit and no intermediate point exists.
        #[cfg(feature = "flow")]
        let order = if h.is_finite() { order } else { 1 };
        let (s1, r1) = if order >= 2 {
            self.intermediate_point(&s, r1, h)
        } else {
            (s, r1)
        };
        let (s2, r2) = if order >= 3 {
            self.intermediate_point(&s, r2, h)
        } else {
            (s1, r2)
        };
        Plan {
            order,
            s,
            t,
            s1,
            s2,
            r1,
            r2,
            h,
        }
    }

    /// The `cfg!` guards here and in [`advance`](Self::advance) let the optimizer drop the code
    /// of a method whose feature is off (`validate` refuses such a method).
    fn start(&mut self) {
        match self.cfg.method {
            Method::Multistep => {
                let p = self.point(self.grid.at(&self.sched, 0));
                self.enter_multistep(0, p);
            }
            Method::Singlestep | Method::SinglestepFixed if cfg!(feature = "singlestep") => {
                if self.outer == 0 {
                    self.finish();
                } else {
                    self.plan_singlestep(0, 0);
                }
            }
            Method::Adaptive if cfg!(feature = "adaptive") => {
                let s = self.point(self.t_start);
                let lambda_end = self.sched.lambda(self.t_end);
                let dir = if lambda_end < s.lambda {
                    -T::ONE
                } else {
                    T::ONE
                };
                self.ad = AdaptiveState {
                    s,
                    lambda_end,
                    h: dir * self.cfg.adaptive.h_init,
                };
                let xp = self.cfg.order;
                let n = self.n;
                self.scratch[xp * n..(xp + 1) * n].copy_from_slice(self.x);
                // Kept in the log until the first evaluation's operations (see
                // `record_conversion`).
                #[cfg(feature = "plan")]
                self.log.push(
                    crate::plan::Op::new(crate::plan::Buf::slot(xp))
                        .term(crate::plan::Buf::X, T::ONE),
                );
                if (s.t - self.t_end).abs() > self.cfg.adaptive.t_err {
                    self.plan_adaptive(false);
                } else {
                    self.finish();
                }
            }
            // Compiled out: never reached (`validate` refuses the method).
            Method::Singlestep | Method::SinglestepFixed | Method::Adaptive => {
                self.phase = Phase::Done;
            }
        }
    }

    fn finish(&mut self) {
        if self.cfg.denoise_to_zero {
            self.eval = self.point(self.t_end);
            self.phase = Phase::Denoise;
        } else {
            self.phase = Phase::Done;
        }
    }

    fn set_phase(&mut self, phase: Phase, eval: Point<T>) {
        self.phase = phase;
        self.eval = eval;
    }

    /// The evaluation point and time of the pending request.
    fn pending(&self) -> Option<(Loc, Point<T>)> {
        let xe = Loc::Slot(self.cfg.order.saturating_sub(1));
        let loc = match self.phase {
            Phase::Multistep {
                midpoint: false, ..
            }
            | Phase::Denoise => Loc::X,
            Phase::Multistep { midpoint: true, .. } => Loc::Slot(self.cfg.order),
            Phase::Singlestep { stage: 0, .. } | Phase::Adaptive { stage: 0 } => Loc::X,
            Phase::Singlestep { .. } | Phase::Adaptive { .. } => xe,
            #[cfg(feature = "plan")]
            Phase::AwaitError => return None,
            Phase::Done => return None,
        };
        Some((loc, self.eval))
    }

    /// Slot that receives the converted output of the pending request.
    fn destination(&self) -> usize {
        let k = self.cfg.order;
        match self.phase {
            Phase::Multistep { i, midpoint: false } => i % k,
            Phase::Multistep { midpoint: true, .. } => k,
            Phase::Singlestep { stage, .. } | Phase::Adaptive { stage } => match stage {
                0 => 0,
                1 if self.plan.order == 3 => 1,
                _ => k - 1,
            },
            Phase::Denoise | Phase::Done => 0,
            #[cfg(feature = "plan")]
            Phase::AwaitError => 0,
        }
    }

    fn receive(&mut self, output: Output<'_, T>) -> Result<Option<StepReport<T>>> {
        let (loc, p) = self.pending().ok_or(Error::Finished)?;
        let n = self.n;
        // Validate every input before touching any state.
        let (main, second, second_buf) = match output {
            Output::Plain(o) => (o, None, Buffer::ModelOutput),
            Output::Cfg { cond, uncond, .. } => (cond, Some(uncond), Buffer::Unconditional),
            Output::Classifier { out, grad, .. } => (out, Some(grad), Buffer::Gradient),
        };
        check_len(Buffer::ModelOutput, n, main.len())?;
        check_finite(Buffer::ModelOutput, main)?;
        if let Some(s) = second {
            check_len(second_buf, n, s.len())?;
            check_finite(second_buf, s)?;
        }

        let target = match (self.phase, self.cfg.algorithm) {
            (Phase::Denoise, _) | (_, Algorithm::DpmSolverPp) => Target::Data,
            (_, Algorithm::DpmSolver) => Target::Noise,
        };
        let alpha = p.alpha();
        let (a, b) = conversion(self.cfg.prediction, target, alpha, p.sigma);
        let dst = self.destination();
        #[cfg(feature = "plan")]
        self.record_conversion(loc, dst, output, a, b, target, alpha, p.sigma);
        {
            let (x, scratch) = (&*self.x, &mut *self.scratch);
            match loc {
                Loc::X => convert_into(
                    &mut scratch[dst * n..(dst + 1) * n],
                    x,
                    output,
                    a,
                    b,
                    target,
                    alpha,
                    p.sigma,
                ),
                Loc::Slot(e) if e == dst => convert_in_place(
                    &mut scratch[e * n..(e + 1) * n],
                    output,
                    a,
                    b,
                    target,
                    alpha,
                    p.sigma,
                ),
                Loc::Slot(e) => {
                    let (lo, hi) = scratch.split_at_mut(dst.max(e) * n);
                    let (d, src) = if dst < e {
                        (&mut lo[dst * n..(dst + 1) * n], &hi[..n])
                    } else {
                        (&mut hi[..n], &lo[e * n..(e + 1) * n])
                    };
                    convert_into(d, src, output, a, b, target, alpha, p.sigma);
                }
            }
        }
        if let (Target::Data, Some(th)) = (target, self.cfg.thresholding) {
            let slots = self.cfg.slots();
            let (buf, work) = self.scratch.split_at_mut(slots * n);
            let work = &mut work[..self.dim];
            for sample in buf[dst * n..(dst + 1) * n].chunks_exact_mut(self.dim) {
                dynamic_threshold(sample, &th, work);
            }
            #[cfg(feature = "plan")]
            {
                self.log.nonlinear = true;
            }
        }
        self.stats.nfe += 1;
        #[cfg(feature = "checked")]
        if !all_finite(&self.scratch[dst * n..(dst + 1) * n]) {
            return Err(self.diverged("the model output's conversion overflowed"));
        }
        let report = self.advance()?;
        #[cfg(feature = "checked")]
        self.check_pending()?;
        Ok(report)
    }

    /// Ends the run with [`Error::Diverged`] at the evaluation just told.
    #[cfg(feature = "checked")]
    fn diverged(&mut self, cause: &'static str) -> Error {
        self.phase = Phase::Done;
        Error::Diverged {
            evaluation: self.stats.nfe,
            cause,
        }
    }

    /// After a step: the next evaluation point (or the result) must be finite, and so must its
    /// time; the model's outputs were, so a non-finite value here was made by the solver.
    #[cfg(feature = "checked")]
    fn check_pending(&mut self) -> Result<()> {
        let n = self.n;
        let (buf, time_ok) = match self.pending() {
            None => (&*self.x, true),
            Some((loc, p)) => {
                let buf: &[T] = match loc {
                    Loc::X => self.x,
                    Loc::Slot(j) => &self.scratch[j * n..(j + 1) * n],
                };
                // In the schedule's range (with room for rounding): an extreme spacing can map
                // a grid point far outside it, where the network's time input overflows. The
                // one infinite lambda allowed is pure noise (alpha = 0: the flow schedule at
                // t = 1, which DPM-Solver++ starts from exactly).
                let pure_noise =
                    !p.log_alpha.is_finite() && p.log_alpha < T::ZERO && p.sigma == T::ONE;
                let ok = p.t > T::ZERO
                    && p.t <= T::c(2.0) * self.sched.t_max()
                    && p.sigma.is_finite()
                    && (p.lambda.is_finite() || pure_noise);
                (buf, ok)
            }
        };
        if !time_ok {
            return Err(self.diverged("the time grid left the schedule's range"));
        }
        if !all_finite(buf) {
            return Err(self.diverged("the update overflowed"));
        }
        Ok(())
    }

    fn advance(&mut self) -> Result<Option<StepReport<T>>> {
        match self.phase {
            Phase::Multistep { i, midpoint } => Ok(self.advance_multistep(i, midpoint)),
            Phase::Singlestep { k, pos, stage } if cfg!(feature = "singlestep") => {
                Ok(self.advance_singlestep(k, pos, stage))
            }
            Phase::Adaptive { stage } if cfg!(feature = "adaptive") => self.advance_adaptive(stage),
            Phase::Denoise => {
                let n = self.n;
                self.x.copy_from_slice(&self.scratch[..n]);
                #[cfg(feature = "plan")]
                {
                    use crate::plan::{Buf, Op};
                    self.log.push(Op::new(Buf::X).term(Buf::slot(0), T::ONE));
                }
                self.phase = Phase::Done;
                let t = self.t_end;
                Ok(Some(self.report(
                    StepKind::DenoiseToZero,
                    t,
                    T::ZERO,
                    T::ZERO,
                    1,
                    true,
                    None,
                )))
            }
            // A compiled-out method's phase is never entered (see `start`); `AwaitError` has
            // no pending evaluation, so `receive` never gets here in it.
            Phase::Singlestep { .. } | Phase::Adaptive { .. } | Phase::Done => Err(Error::Finished),
            #[cfg(feature = "plan")]
            Phase::AwaitError => Err(Error::Finished),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn report(
        &mut self,
        kind: StepKind,
        t_from: T,
        t_to: T,
        h: T,
        order: usize,
        accepted: bool,
        error: Option<T>,
    ) -> StepReport<T> {
        self.reports += 1;
        if accepted && kind == StepKind::Solver {
            self.stats.n_accept += 1;
        } else if !accepted {
            self.stats.n_reject += 1;
        }
        StepReport {
            step: self.reports,
            kind,
            t_from,
            t_to,
            h,
            order,
            accepted,
            error,
            nfe: self.stats.nfe,
        }
    }

    /// Records `dst = cx x + sum_j cm[j] slot(ms[j])`.
    #[cfg(feature = "plan")]
    fn record_update(&mut self, dst: crate::plan::Buf, u: &Update<T>, ms: &[usize]) {
        use crate::plan::{Buf, Op};
        let mut op = Op::new(dst).term(Buf::X, u.cx);
        for (&j, &c) in ms.iter().zip(&u.cm) {
            op = op.term(Buf::slot(j), c);
        }
        self.log.push(op);
    }

    /// Records the conversion of the output into slot `dst`: `a src + b out`, with the guidance
    /// combination folded in (CFG: `b s cond + b (1 - s) uncond`).
    #[cfg(feature = "plan")]
    #[allow(clippy::too_many_arguments)]
    fn record_conversion(
        &mut self,
        loc: Loc,
        dst: usize,
        out: Output<'_, T>,
        a: T,
        b: T,
        target: Target,
        alpha: T,
        sigma: T,
    ) {
        use crate::plan::{Buf, Op};
        // The first evaluation's log starts with what `start` recorded (the adaptive
        // method's `x_prev = x_T`).
        if self.stats.nfe > 0 {
            self.log.clear();
        }
        let src = match loc {
            Loc::X => Buf::X,
            Loc::Slot(e) => Buf::slot(e),
        };
        let op = Op::new(Buf::slot(dst)).term(src, a);
        let op = match out {
            Output::Plain(_) => op.term(Buf::Output, b),
            Output::Cfg { scale, .. } => op
                .term(Buf::Output, b * scale)
                .term(Buf::Guide, b * (T::ONE - scale)),
            Output::Classifier { scale, .. } => op
                .term(Buf::Output, b)
                .term(Buf::Guide, grad_coeff(target, scale, alpha, sigma)),
        };
        self.log.push(op);
    }

    /// Applies `u` to `x` in place over the model slots `ms`.
    fn update_x(&mut self, u: &Update<T>, ms: &[usize]) {
        #[cfg(feature = "plan")]
        self.record_update(crate::plan::Buf::X, u, ms);
        let n = self.n;
        let s = &*self.scratch;
        let slot = |j: usize| &s[j * n..(j + 1) * n];
        match *ms {
            [a] => u.apply_in_place(self.x, &[slot(a)]),
            [a, b] => u.apply_in_place(self.x, &[slot(a), slot(b)]),
            [a, b, c, ..] => u.apply_in_place(self.x, &[slot(a), slot(b), slot(c)]),
            [] => u.apply_in_place(self.x, &[]),
        }
    }

    /// Writes `u` applied to `x` over slots `ms` into slot `dst` (not among `ms`).
    fn update_into(&mut self, dst: usize, u: &Update<T>, ms: &[usize]) {
        #[cfg(feature = "plan")]
        self.record_update(crate::plan::Buf::slot(dst), u, ms);
        let n = self.n;
        let (before, rest) = self.scratch.split_at_mut(dst * n);
        let (d, after) = rest.split_at_mut(n);
        let slot = |j: usize| -> &[T] {
            if j < dst {
                &before[j * n..(j + 1) * n]
            } else {
                &after[(j - dst - 1) * n..(j - dst) * n]
            }
        };
        match *ms {
            [a] => u.apply_into(d, self.x, &[slot(a)]),
            [a, b] => u.apply_into(d, self.x, &[slot(a), slot(b)]),
            [a, b, c, ..] => u.apply_into(d, self.x, &[slot(a), slot(b), slot(c)]),
            [] => u.apply_into(d, self.x, &[]),
        }
    }

    // ----- multistep -----

    fn advance_multistep(&mut self, i: usize, midpoint: bool) -> Option<StepReport<T>> {
        let (alg, ty, k, steps) = (
            self.cfg.algorithm,
            self.cfg.solver_type,
            self.cfg.order,
            self.cfg.steps,
        );
        if midpoint {
            let p = self.plan;
            let u = Update::singlestep_second(alg, ty, &p.s, &p.t, p.r1);
            self.update_x(&u, &[0, k]);
            let r = self.report(StepKind::Solver, p.s.t, p.t.t, p.h, 2, true, None);
            self.next_multistep(1, p.t);
            return Some(r);
        }
        let j = i + 1;
        let s = self.eval;
        let t = self.point(self.grid.at(&self.sched, j));
        if j == 1
            && self.cfg.multistep_variant == MultistepVariant::FullOrder
            && k >= 2
            && (!FLOW || (t.lambda - s.lambda).is_finite())
        {
            self.plan = self.make_plan(2, s, t, T::c(0.5), T::ZERO);
            let p = self.plan;
            let u = Update::intermediate(alg, &s, &p.s1, p.r1, p.h);
            self.update_into(k, &u, &[0]);
            self.set_phase(
                Phase::Multistep {
                    i: 0,
                    midpoint: true,
                },
                p.s1,
            );
            return None;
        }
        let infinite = FLOW && !(t.lambda - s.lambda).is_finite();
        let order = if infinite {
            // From or to alpha = 0: the first-order update is the exact limit (see make_plan).
            1
        } else if j < k {
            j
        } else if self.cfg.lower_order_final && steps < 10 {
            k.min(steps + 1 - j)
        } else {
            k
        };
        let slot = |back: usize| (i - back) % k;
        let lambda_back = |back: usize| self.lambda_hist[(i - back) % 3];
        match order {
            1 => self.update_x(&Update::first_order(alg, &s, &t), &[slot(0)]),
            2 => {
                let u = Update::multistep_second(alg, ty, lambda_back(1), &s, &t);
                self.update_x(&u, &[slot(0), slot(1)]);
            }
            _ => {
                let exact = self.cfg.multistep_variant == MultistepVariant::FullOrder;
                let u = Update::multistep_third_with(
                    alg,
                    lambda_back(2),
                    lambda_back(1),
                    &s,
                    &t,
                    exact,
                );
                self.update_x(&u, &[slot(0), slot(1), slot(2)]);
            }
        }
        let r = self.report(
            StepKind::Solver,
            s.t,
            t.t,
            t.lambda - s.lambda,
            order,
            true,
            None,
        );
        self.next_multistep(j, t);
        Some(r)
    }

    /// Waits for the model at grid point `i` (at `p`), remembering its `lambda`.
    fn enter_multistep(&mut self, i: usize, p: Point<T>) {
        self.lambda_hist[i % 3] = p.lambda;
        self.set_phase(Phase::Multistep { i, midpoint: false }, p);
    }

    fn next_multistep(&mut self, j: usize, p: Point<T>) {
        if j < self.cfg.steps {
            self.enter_multistep(j, p);
        } else {
            self.finish();
        }
    }

    // ----- singlestep -----

    /// Order of outer step `k` (the reference's `get_orders_and_timesteps_for_singlestep_solver`).
    fn singlestep_order(&self, k: usize) -> usize {
        let (order, steps, outer) = (self.cfg.order, self.cfg.steps, self.outer);
        if self.cfg.method == Method::SinglestepFixed {
            return order;
        }
        match order {
            3 => {
                let last = outer - 1;
                match steps % 3 {
                    0 if k + 2 == outer => 2,
                    0 if k == last => 1,
                    1 if k == last => 1,
                    2 if k == last => 2,
                    _ => 3,
                }
            }
            2 => {
                if steps % 2 == 1 && k + 1 == outer {
                    1
                } else {
                    2
                }
            }
            _ => 1,
        }
    }

    /// Plans outer step `k` starting at NFE-grid position `pos`.
    fn plan_singlestep(&mut self, k: usize, pos: usize) {
        let order = self.singlestep_order(k);
        let by_nfe =
            self.cfg.method == Method::Singlestep && !matches!(self.cfg.spacing, Spacing::LogSnr);
        let (a, b) = if by_nfe {
            (pos, pos + order)
        } else {
            (k, k + 1)
        };
        let s = self.point(self.grid.at(&self.sched, a));
        let t = self.point(self.grid.at(&self.sched, b));
        // r1, r2 from the inner grid between s and t, as the reference computes them.
        let inner_spacing = match self.cfg.spacing {
            Spacing::TimeUniform => Spacing::TimeUniform,
            Spacing::TimeQuadratic => Spacing::TimeQuadratic,
            #[cfg(feature = "flow")]
            Spacing::FlowShift { shift } => Spacing::FlowShift { shift },
            _ => Spacing::LogSnr,
        };
        let inner = Grid::new(inner_spacing, &self.sched, s.t, t.t, order);
        let lam = |i: usize| self.sched.lambda(inner.at(&self.sched, i));
        let (l0, lend) = (lam(0), lam(order));
        let hi = lend - l0;
        let (r1, r2) = match order {
            1 => (T::ZERO, T::ZERO),
            2 => ((lam(1) - l0) / hi, T::ZERO),
            _ => ((lam(1) - l0) / hi, (lam(2) - l0) / hi),
        };
        self.plan = self.make_plan(order, s, t, r1, r2);
        self.set_phase(Phase::Singlestep { k, pos, stage: 0 }, s);
    }

    fn advance_singlestep(&mut self, k: usize, pos: usize, stage: usize) -> Option<StepReport<T>> {
        let (alg, ty) = (self.cfg.algorithm, self.cfg.solver_type);
        let p = self.plan;
        let xe = self.cfg.order - 1;
        match (p.order, stage) {
            (1, _) => {
                let u = Update::first_order(alg, &p.s, &p.t);
                self.update_x(&u, &[0]);
            }
            (_, 0) => {
                let u = Update::intermediate(alg, &p.s, &p.s1, p.r1, p.h);
                self.update_into(xe, &u, &[0]);
                self.set_phase(Phase::Singlestep { k, pos, stage: 1 }, p.s1);
                return None;
            }
            (2, _) => {
                let u = Update::singlestep_second(alg, ty, &p.s, &p.t, p.r1);
                self.update_x(&u, &[0, xe]);
            }
            (_, 1) => {
                let u = Update::third_intermediate(alg, &p.s, &p.s2, p.r1, p.r2, p.h);
                self.update_into(xe, &u, &[0, 1]);
                self.set_phase(Phase::Singlestep { k, pos, stage: 2 }, p.s2);
                return None;
            }
            _ => {
                let u = Update::singlestep_third(alg, ty, &p.s, &p.t, p.r1, p.r2);
                self.update_x(&u, &[0, 1, xe]);
            }
        }
        let r = self.report(StepKind::Solver, p.s.t, p.t.t, p.h, p.order, true, None);
        if k + 1 < self.outer {
            // The planned order, not `p.order`: a step from `alpha = 0` is taken at first order
            // over the same span of the grid.
            self.plan_singlestep(k + 1, pos + self.singlestep_order(k));
        } else {
            self.finish();
        }
        Some(r)
    }

    // ----- adaptive -----

    /// Plans the next trial from `ad.s` with `ad.h`; `reuse`: the model value at `s` in slot 0
    /// is still valid (after a rejection), so go straight to the intermediate evaluation.
    fn plan_adaptive(&mut self, reuse: bool) {
        let order = self.cfg.order;
        let s = self.ad.s;
        let t = self.point(self.sched.inverse_lambda(s.lambda + self.ad.h));
        let (r1, r2) = if order == 2 {
            (T::c(0.5), T::ZERO)
        } else {
            (T::ONE / T::c(3.0), T::c(2.0) / T::c(3.0))
        };
        self.plan = self.make_plan(order, s, t, r1, r2);
        if reuse {
            self.adaptive_intermediate();
        } else {
            self.set_phase(Phase::Adaptive { stage: 0 }, s);
        }
    }

    fn adaptive_intermediate(&mut self) {
        let p = self.plan;
        let u = Update::intermediate(self.cfg.algorithm, &p.s, &p.s1, p.r1, p.h);
        self.update_into(self.cfg.order - 1, &u, &[0]);
        self.set_phase(Phase::Adaptive { stage: 1 }, p.s1);
    }

    fn advance_adaptive(&mut self, stage: usize) -> Result<Option<StepReport<T>>> {
        let (alg, order) = (self.cfg.algorithm, self.cfg.order);
        let p = self.plan;
        if stage == 0 {
            self.adaptive_intermediate();
            return Ok(None);
        }
        if order == 3 && stage == 1 {
            let u = Update::third_intermediate(alg, &p.s, &p.s2, p.r1, p.r2, p.h);
            self.update_into(2, &u, &[0, 1]);
            self.set_phase(Phase::Adaptive { stage: 2 }, p.s2);
            return Ok(None);
        }
        // Both solutions are available: estimate the error, then accept or reject.
        #[cfg(feature = "plan")]
        if self.defer_error {
            // The executor computes the norm (see `crate::plan::ErrorNorm`) and hands it to
            // `tell_error`, which takes the decision below.
            let (lower, higher) = self.adaptive_pair();
            self.log.set_norm(crate::plan::ErrorNorm::new(
                &lower,
                &higher,
                order,
                &self.cfg.adaptive,
                self.cfg.batch,
            ));
            self.phase = Phase::AwaitError;
            return Ok(None);
        }
        // Here the decision is taken on the data (no plan op describes it).
        #[cfg(feature = "plan")]
        {
            self.log.nonlinear = true;
        }
        let e = self.adaptive_error();
        self.adaptive_decide(e).map(Some)
    }

    /// The lower- and higher-order updates of the planned trial.
    fn adaptive_pair(&self) -> (Update<T>, Update<T>) {
        let (alg, ty, p) = (self.cfg.algorithm, self.cfg.solver_type, self.plan);
        if self.cfg.order == 2 {
            (
                Update::first_order(alg, &p.s, &p.t),
                Update::singlestep_second(alg, ty, &p.s, &p.t, p.r1),
            )
        } else {
            (
                Update::singlestep_second(alg, ty, &p.s, &p.t, p.r1),
                Update::singlestep_third(alg, ty, &p.s, &p.t, p.r1, p.r2),
            )
        }
    }

    fn controller(&self) -> StepController<T> {
        let opts = self.cfg.adaptive;
        StepController {
            atol: opts.atol,
            rtol: opts.rtol,
            theta: opts.theta,
            order: self.cfg.order,
        }
    }

    /// The error norm `E` of the planned trial, from the buffers.
    fn adaptive_error(&self) -> T {
        let (lower, higher) = self.adaptive_pair();
        let (n, order) = (self.n, self.cfg.order);
        // Slots: m_s = 0, (m_s1 = 1), last model = order - 1, x_prev = order.
        let m = |j: usize| &self.scratch[j * n..(j + 1) * n];
        let x_prev = m(order);
        // Order 2 leaves m2 unused: m1 again keeps the fused loop in bounds.
        let m2 = if order == 2 { m(1) } else { m(2) };
        self.controller().error(
            &lower,
            &higher,
            self.x,
            x_prev,
            [m(0), m(1), m2],
            self.cfg.batch,
        )
    }

    /// Accepts (`x_prev` and `x` become the lower- and higher-order solutions) or rejects the
    /// planned trial on its error `e`, sizes the next step and plans it (or finishes).
    fn adaptive_decide(&mut self, e: T) -> Result<StepReport<T>> {
        let order = self.cfg.order;
        let p = self.plan;
        let (lower, higher) = self.adaptive_pair();
        let ctl = self.controller();
        let opts = self.cfg.adaptive;
        let accepted = ctl.accept(e);
        if accepted {
            let n = self.n;
            #[cfg(feature = "plan")]
            {
                let ms: &[usize] = if order == 2 { &[0, 1] } else { &[0, 1, 2] };
                self.record_update(crate::plan::Buf::slot(order), &lower, ms);
                self.record_update(crate::plan::Buf::X, &higher, ms);
            }
            let (models, rest) = self.scratch.split_at_mut(order * n);
            let x_prev = &mut rest[..n];
            let m = |j: usize| &models[j * n..(j + 1) * n];
            let (m0, m1) = (m(0), m(1));
            let m2 = if order == 2 { m1 } else { m(2) };
            // Zipped, not indexed: every slice has `n` elements, no bounds checks.
            let ms = m0.iter().zip(m1).zip(m2);
            for ((x, xp), ((&a, &b), &c)) in self.x.iter_mut().zip(x_prev).zip(ms) {
                let v = *x;
                *xp = lower.at(v, a, b, c);
                *x = higher.at(v, a, b, c);
            }
            self.ad.s = p.t;
        }
        self.ad.h = ctl.next_h(self.ad.h, e, self.ad.lambda_end - self.ad.s.lambda);
        let r = self.report(
            StepKind::Solver,
            p.s.t,
            p.t.t,
            p.h,
            order,
            accepted,
            Some(e),
        );
        if (self.ad.s.t - self.t_end).abs() > opts.t_err {
            let reuse = opts.reuse_rejected_eval && !accepted;
            let next = if reuse { order - 1 } else { order };
            if self.stats.nfe + next > opts.max_nfe {
                self.phase = Phase::Done;
                return Err(Error::StepLimit {
                    nfe: self.stats.nfe,
                });
            }
            self.plan_adaptive(reuse);
        } else {
            self.finish();
        }
        Ok(r)
    }
}

fn validate<T: Real>(cfg: &Config<'_, T>) -> Result<()> {
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

/// Whether every element is finite (branch-free, vectorises).
#[cfg(feature = "checked")]
fn all_finite<T: Real>(v: &[T]) -> bool {
    let mut ok = true;
    for &e in v {
        ok &= e.is_finite();
    }
    ok
}

/// A run that starts or ends at `alpha = 0` (the flow schedule at `t = 1`, pure noise) has an
/// infinite step in `lambda` there. DPM-Solver++ handles it exactly (its first-order update
/// from `alpha_s = 0` is `x_t = sigma_t x_s + alpha_t x_0`, the higher orders degenerate to
/// it); what has no finite limit is refused with a message instead of producing NaN.
#[cfg(feature = "flow")]
fn check_pure_noise<T: Real>(
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

fn check_finite<T: Real>(buffer: Buffer, v: &[T]) -> Result<()> {
    // Branch-free scan first (vectorises); locate the culprit only on failure.
    let mut ok = true;
    for &e in v {
        ok &= e.is_finite();
    }
    if ok {
        Ok(())
    } else {
        let index = v.iter().position(|e| !e.is_finite()).unwrap_or(0);
        Err(Error::NonFinite { buffer, index })
    }
}

/// Gradient coefficient of classifier guidance in the target parameterisation:
/// noise `eps - s sigma grad`, data `x0 + s sigma^2 / alpha grad`.
#[inline]
fn grad_coeff<T: Real>(target: Target, scale: T, alpha: T, sigma: T) -> T {
    match target {
        Target::Noise => -scale * sigma,
        Target::Data => scale * sigma * sigma / alpha,
    }
}

#[allow(clippy::too_many_arguments)]
fn convert_into<T: Real>(
    dst: &mut [T],
    x: &[T],
    out: Output<'_, T>,
    a: T,
    b: T,
    target: Target,
    alpha: T,
    sigma: T,
) {
    match out {
        Output::Plain(o) => {
            for ((d, &x), &o) in dst.iter_mut().zip(x).zip(o) {
                *d = a * x + b * o;
            }
        }
        Output::Cfg {
            cond,
            uncond,
            scale,
        } => {
            for (((d, &x), &c), &u) in dst.iter_mut().zip(x).zip(cond).zip(uncond) {
                *d = a * x + b * guidance::classifier_free(c, u, scale);
            }
        }
        Output::Classifier { out, grad, scale } => {
            let g = grad_coeff(target, scale, alpha, sigma);
            for (((d, &x), &o), &gr) in dst.iter_mut().zip(x).zip(out).zip(grad) {
                *d = a * x + b * o + g * gr;
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn convert_in_place<T: Real>(
    buf: &mut [T],
    out: Output<'_, T>,
    a: T,
    b: T,
    target: Target,
    alpha: T,
    sigma: T,
) {
    match out {
        Output::Plain(o) => {
            for (d, &o) in buf.iter_mut().zip(o) {
                *d = a * *d + b * o;
            }
        }
        Output::Cfg {
            cond,
            uncond,
            scale,
        } => {
            for ((d, &c), &u) in buf.iter_mut().zip(cond).zip(uncond) {
                *d = a * *d + b * guidance::classifier_free(c, u, scale);
            }
        }
        Output::Classifier { out, grad, scale } => {
            let g = grad_coeff(target, scale, alpha, sigma);
            for ((d, &o), &gr) in buf.iter_mut().zip(out).zip(grad) {
                *d = a * *d + b * o + g * gr;
            }
        }
    }
}
