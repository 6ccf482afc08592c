//! The ask/tell sampler: every DPM-Solver method as a state machine that never calls the network.
//!
//! [`Sampler::ask`] says where the model must be evaluated (which `x`, which time);
//! [`Sampler::tell`] (or [`tell_cfg`](Sampler::tell_cfg), [`tell_classifier`](Sampler::tell_classifier))
//! hands back the output and advances. `x` (integrated in place) and a scratch buffer of
//! [`Config::scratch_len`] elements are the caller's, lent as `&mut [T]` ([`Sampler::new`]) or
//! handed over as owned buffers ([`Sampler::with_buffers`], e.g. `Vec<T>`); the sampler itself
//! never allocates, except for the copies of the schedule's table and the custom times that
//! [`Sampler::into_owned_lists`] keeps (feature `alloc`; see `lists`).
//!
//! | method | scratch (elements, `n = x.len()`) |
//! |---|---|
//! | `Multistep`, order `k` | `k n` (`+ n` with [`MultistepVariant::FullOrder`] and `k >= 2`) |
//! | `Singlestep` / `SinglestepFixed`, order `k` | `k n` |
//! | `Adaptive`, order 2 / 3 | `3 n` / `4 n` |
//! | dynamic thresholding | `+ n / batch` |
//!
//! In bytes: that count times `size_of::<T>()` (4 for `f32`).
//!
//! This module holds what every method shares: the types, the request and the buffer updates;
//! the setup (validation, time range and grid, the first evaluation) is in `setup`, and the
//! receive path every method shares (checks, conversion of the output into a scratch slot,
//! thresholding) in `receive`. Each method's planning and updates are in its own file
//! (`multistep`, `singlestep`, `adaptive`), the configuration and its validation in `config`,
//! the conversion loops in `convert`, where a sampler's lists live (the caller's or copies) in
//! `lists`, and the operation log of the step planner (feature `plan`) in `planner`. The work runs on a
//! private `Machine` (the state with `x` and the scratch lent as slices), which the methods'
//! files extend; the generic [`Sampler`] only forwards to it, so its code is compiled once
//! whatever the buffers' storage.

mod adaptive;
mod config;
mod convert;
mod lists;
mod multistep;
#[cfg(feature = "plan")]
mod planner;
mod receive;
mod setup;
mod singlestep;

pub use config::{Config, Direction, Method, MultistepVariant, MAX_STEPS};

use crate::error::{Buffer, Error, Result};
use crate::math::Real;
use crate::schedule::{check_time, NoiseSchedule};
use crate::spacing::{check_custom, Grid, Spacing};
use crate::update::{Point, Update};
#[cfg(feature = "flow")]
use config::check_pure_noise;
use config::validate;
use lists::{Lists, View};
use multistep::Past;

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

/// The DPM-Solver sampler. See the [crate docs](crate) for a loop.
///
/// Its storage comes in owned and view forms, in the manner of heapless' types:
/// - `B` holds `x` and the scratch buffer: borrowed `&mut [T]` slices by default
///   ([`Sampler::new`]: no_std, no allocation, what a firmware uses), or any owner of a slice
///   such as `Vec<T>` ([`Sampler::with_buffers`]), which the sampler keeps and
///   [`into_buffers`](Sampler::into_buffers) hands back;
/// - the lists the schedule and the configuration borrow (a discrete schedule's table, a
///   custom spacing's times) are the caller's, for `'a` ([`Sampler::new`],
///   [`Sampler::with_buffers`]), or copies of the sampler's own
///   ([`Sampler::into_owned_lists`], feature `alloc`).
///
/// [`OwnedSampler`] owns both, so it borrows nothing.
pub struct Sampler<'a, T: Real = f32, B = &'a mut [T]> {
    st: State<T>,
    lists: Lists<'a, T>,
    x: B,
    scratch: B,
}

/// A sampler apart from its buffers and lists. Every method's work is written once, on
/// [`Machine`] (this state with the buffers lent as plain slices and the lists' [`View`]),
/// whatever the storage of the [`Sampler`] around it: `Sampler<B>` only forwards, so borrowed
/// and owned samplers in one program share one copy of the state machine.
struct State<T: Real> {
    /// The solver order (`Config::order`), which the slot numbers depend on.
    order: usize,
    n: usize,
    dim: usize,
    t_start: T,
    t_end: T,
    /// Singlestep: number of outer steps and the order pattern.
    outer: usize,
    phase: Phase,
    plan: Plan<T>,
    ad: AdaptiveState<T>,
    /// The point of the pending evaluation (computed once, when the phase is entered).
    eval: Point<T>,
    /// Multistep: the model values and `lambda`s of the last `order` grid points.
    past: Past<T>,
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

/// A [`State`] with `x` and the scratch buffer lent and the schedule, configuration and grid
/// of the sampler's [`View`] copied in: where the state machine runs (the methods' files
/// extend it). Reads and writes of the state go through `Deref`.
struct Machine<'s, T: Real> {
    st: &'s mut State<T>,
    cfg: Config<'s, T>,
    sched: NoiseSchedule<'s, T>,
    grid: Grid<'s, T>,
    x: &'s mut [T],
    scratch: &'s mut [T],
}

impl<T: Real> core::ops::Deref for Machine<'_, T> {
    type Target = State<T>;
    fn deref(&self) -> &State<T> {
        self.st
    }
}

impl<T: Real> core::ops::DerefMut for Machine<'_, T> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        self.st
    }
}

/// A sampler that owns its `x` and scratch as `Vec<T>` and borrows nothing else: its schedule
/// table and custom times are copies of its own ([`Sampler::into_owned_lists`]) or `'static`
/// (feature `alloc`).
#[cfg(feature = "alloc")]
pub type OwnedSampler<T = f32> = Sampler<'static, T, alloc::vec::Vec<T>>;

impl<'a, T: Real> Sampler<'a, T> {
    /// Validates `config` against `schedule` and the buffers and sets up the first evaluation.
    /// `x` holds the start (noise at `t_start`); it is integrated in place.
    pub fn new(
        schedule: NoiseSchedule<'a, T>,
        config: Config<'a, T>,
        x: &'a mut [T],
        scratch: &'a mut [T],
    ) -> Result<Self> {
        Self::with_buffers(schedule, config, x, scratch)
    }
}

impl<'a, T: Real, B: AsRef<[T]> + AsMut<[T]>> Sampler<'a, T, B> {
    /// [`new`](Sampler::new) over buffers of any storage `B` (owned `Vec<T>`, boxed slices,
    /// arrays...), which the sampler keeps until [`into_buffers`](Self::into_buffers).
    pub fn with_buffers(
        schedule: NoiseSchedule<'a, T>,
        config: Config<'a, T>,
        mut x: B,
        mut scratch: B,
    ) -> Result<Self> {
        let (st, grid) = State::new(schedule, config, x.as_mut(), scratch.as_mut())?;
        Ok(Sampler {
            st,
            lists: Lists::Borrowed(View {
                cfg: config,
                sched: schedule,
                grid,
            }),
            x,
            scratch,
        })
    }
}

impl<T: Real, B: AsRef<[T]> + AsMut<[T]>> Sampler<'_, T, B> {
    /// The same sampler keeping copies of the lists its schedule and configuration borrow (a
    /// discrete schedule's table, a custom spacing's times), so that it borrows nothing but
    /// what `B` does: `Sampler::with_buffers(schedule, config, x_vec, scratch_vec)?
    /// .into_owned_lists()` is an [`OwnedSampler`] (feature `alloc`).
    #[cfg(feature = "alloc")]
    pub fn into_owned_lists(self) -> Sampler<'static, T, B>
    where
        T: 'static,
    {
        Sampler {
            lists: Lists::owned(self.lists.view()),
            st: self.st,
            x: self.x,
            scratch: self.scratch,
        }
    }

    /// The state machine with this sampler's buffers lent to it and its lists' view.
    fn machine(&mut self) -> Machine<'_, T> {
        let v = self.lists.view();
        Machine {
            st: &mut self.st,
            cfg: v.cfg,
            sched: v.sched,
            grid: v.grid,
            x: self.x.as_mut(),
            scratch: self.scratch.as_mut(),
        }
    }

    /// The pending evaluation, or `None` when sampling is finished (the result is in `x`).
    pub fn ask(&self) -> Option<Request<'_, T>> {
        let sched = self.lists.view().sched;
        self.st
            .request(&sched, self.x.as_ref(), self.scratch.as_ref())
    }

    /// Hands back the network output for the pending request (unguided sampling). Returns the
    /// report of the step this evaluation completed, if it completed one.
    pub fn tell(&mut self, output: &[T]) -> Result<Option<StepReport<T>>> {
        self.machine().tell(output)
    }

    /// Hands back the conditional and unconditional outputs (classifier-free guidance).
    pub fn tell_cfg(&mut self, cond: &[T], uncond: &[T]) -> Result<Option<StepReport<T>>> {
        self.machine().tell_cfg(cond, uncond)
    }

    /// Hands back an output whose guidance the caller has combined already: the solver
    /// family ([`crate::family::Solver`]) combines classifier-free guidance once, for this
    /// sampler and for its preview (the same bits as [`tell_cfg`](Self::tell_cfg)).
    #[cfg(all(feature = "alloc", feature = "rng", feature = "flow"))]
    pub(crate) fn tell_combined(&mut self, output: &[T]) -> Result<Option<StepReport<T>>> {
        self.machine().tell_combined(output)
    }

    /// Hands back the output and `grad_x log p(class | x_t)` (classifier guidance).
    pub fn tell_classifier(&mut self, output: &[T], grad: &[T]) -> Result<Option<StepReport<T>>> {
        self.machine().tell_classifier(output, grad)
    }

    /// Runs the whole loop with a model closure `model(x, t_model, out)` (unguided), using
    /// `out` (`x.len()` elements) for the network output.
    pub fn sample(&mut self, out: &mut [T], model: impl FnMut(&[T], T, &mut [T])) -> Result<Stats> {
        self.machine().sample(out, model)
    }

    /// The sample: the start before the run, the result after it.
    pub fn x(&self) -> &[T] {
        self.x.as_ref()
    }

    /// Ends the sampler and hands back its buffers `(x, scratch)`; `x` holds the sample
    /// (the result once [`is_done`](Self::is_done)).
    pub fn into_buffers(self) -> (B, B) {
        (self.x, self.scratch)
    }

    /// Counts so far.
    pub fn stats(&self) -> Stats {
        self.st.stats
    }

    /// Network evaluations so far.
    pub fn nfe(&self) -> usize {
        self.st.stats.nfe
    }

    /// Whether sampling is finished.
    pub fn is_done(&self) -> bool {
        matches!(self.st.phase, Phase::Done)
    }

    /// The start and end times in use (defaults resolved).
    pub fn time_range(&self) -> (T, T) {
        (self.st.t_start, self.st.t_end)
    }

    /// The schedule (over the sampler's lists).
    pub fn schedule(&self) -> NoiseSchedule<'_, T> {
        self.lists.view().sched
    }

    /// The configuration (over the sampler's lists).
    pub fn config(&self) -> Config<'_, T> {
        self.lists.view().cfg
    }
}

impl<T: Real> State<T> {
    /// [`Sampler::ask`] over the buffers `x` and `scratch`, with the model time of `sched`.
    fn request<'s>(
        &self,
        sched: &NoiseSchedule<'_, T>,
        x: &'s [T],
        scratch: &'s [T],
    ) -> Option<Request<'s, T>> {
        let (loc, p) = self.pending()?;
        let x: &[T] = match loc {
            Loc::X => x,
            Loc::Slot(j) => &scratch[j * self.n..(j + 1) * self.n],
        };
        Some(Request {
            x,
            t_model: sched.model_time(p.t),
            t: p.t,
            alpha: p.alpha(),
            sigma: p.sigma,
            index: self.stats.nfe,
        })
    }

    /// The evaluation point and time of the pending request.
    fn pending(&self) -> Option<(Loc, Point<T>)> {
        let loc = match self.phase {
            Phase::Multistep {
                midpoint: false, ..
            }
            | Phase::Denoise => Loc::X,
            Phase::Multistep { midpoint: true, .. } => Loc::Slot(self.midpoint_slot()),
            Phase::Singlestep { stage: 0, .. } | Phase::Adaptive { stage: 0 } => Loc::X,
            Phase::Singlestep { .. } | Phase::Adaptive { .. } => Loc::Slot(self.stage_slot()),
            #[cfg(feature = "plan")]
            Phase::AwaitError => return None,
            Phase::Done => return None,
        };
        Some((loc, self.eval))
    }
}

impl<T: Real> Machine<'_, T> {
    fn point(&self, t: T) -> Point<T> {
        Point::at(&self.sched, t)
    }

    // ----- state machine -----

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
                self.scratch[xp * n..(xp + 1) * n].copy_from_slice(&*self.x);
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

    /// Applies `u` to `x` in place over the model slots `ms`.
    fn update_x(&mut self, u: &Update<T>, ms: &[usize]) {
        #[cfg(feature = "plan")]
        self.record_update(crate::plan::Buf::X, u, ms);
        let n = self.n;
        let (x, s) = (&mut *self.x, &*self.scratch);
        let slot = |j: usize| &s[j * n..(j + 1) * n];
        match *ms {
            [a] => u.apply_in_place(x, &[slot(a)]),
            [a, b] => u.apply_in_place(x, &[slot(a), slot(b)]),
            [a, b, c, ..] => u.apply_in_place(x, &[slot(a), slot(b), slot(c)]),
            [] => u.apply_in_place(x, &[]),
        }
    }

    /// Writes `u` applied to `x` over slots `ms` into slot `dst` (not among `ms`).
    fn update_into(&mut self, dst: usize, u: &Update<T>, ms: &[usize]) {
        #[cfg(feature = "plan")]
        self.record_update(crate::plan::Buf::slot(dst), u, ms);
        let n = self.n;
        let x = &*self.x;
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
            [a] => u.apply_into(d, x, &[slot(a)]),
            [a, b] => u.apply_into(d, x, &[slot(a), slot(b)]),
            [a, b, c, ..] => u.apply_into(d, x, &[slot(a), slot(b), slot(c)]),
            [] => u.apply_into(d, x, &[]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Config, Method, Sampler};
    use crate::schedule::NoiseSchedule;

    fn model(x: &[f32], t: f32, out: &mut [f32]) {
        for (o, &v) in out.iter_mut().zip(x) {
            *o = 0.4 * v + (3.0 * t).sin();
        }
    }

    #[test]
    fn owned_buffers_give_the_borrowed_result_bit_for_bit() {
        let sched = NoiseSchedule::linear_vp(0.1, 20.0).unwrap();
        for method in [Method::Multistep, Method::Singlestep, Method::Adaptive] {
            let cfg = Config {
                method,
                order: 3,
                steps: 9,
                ..Config::default()
            };
            if super::validate(&cfg).is_err() {
                continue; // a method left out by the crate features
            }
            let start = [0.3f32, -1.2, 0.8, 0.1];
            let mut x = start;
            let mut scratch = [0.0f32; 16];
            let mut out = [0.0f32; 4];
            let mut borrowed = Sampler::new(sched, cfg, &mut x, &mut scratch).unwrap();
            let stats = borrowed.sample(&mut out, model).unwrap();

            let mut owned =
                Sampler::with_buffers(sched, cfg, start.to_vec(), vec![0.0; 16]).unwrap();
            assert_eq!(owned.sample(&mut out, model).unwrap(), stats);
            let (x_owned, _) = owned.into_buffers();
            assert_eq!(x_owned, x, "{method:?}");
        }
    }

    #[test]
    fn owned_buffers_are_checked_like_borrowed_ones() {
        let sched = NoiseSchedule::linear_vp(0.1, 20.0).unwrap();
        let cfg = Config::<f32>::default();
        let short = Sampler::with_buffers(sched, cfg, vec![0.0f32; 4], vec![0.0; 3]);
        assert!(short.is_err());
        let nan = Sampler::with_buffers(sched, cfg, vec![f32::NAN; 4], vec![0.0; 8]);
        assert!(nan.is_err());
    }
}
