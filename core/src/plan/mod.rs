//! The step as coefficients: every evaluation of a fixed-step run described as an ordered list
//! of elementwise operations `dst = sum_i w_i src_i` over named buffers, so that another
//! executor (a WGSL compute shader next to onnxruntime-web's WebGPU buffers, for one) can run
//! the solver without copying the latents back to the CPU.
//!
//! The weights are not derived a second time here: [`Sampler`](crate::Sampler) and the
//! diffusers schedulers record the coefficients of the very updates they apply (the
//! [`Update`](crate::Update) of each step, the prediction-type conversion, the guidance
//! combination, the diffusers `combine` terms) into an [`OpLog`] as they run. A plan is made by
//! driving the real state machine over one-element dummy buffers ([`sampler_plan`],
//! [`scheduler_plan`], [`StepPlanner`]); the tests crate applies the plans with plain loops and
//! checks them against the reference and diffusers fixtures.
//!
//! # Buffers
//!
//! Every buffer has the sample's `n` elements: [`Buf::X`] the sample being integrated,
//! [`Buf::Output`] the network output of this evaluation (for classifier-free guidance the
//! conditional one), [`Buf::Guide`] the second guidance output (the unconditional output, or
//! the classifier gradient), [`Buf::Noise`] this step's standard normals (SDE variants only) and
//! [`Buf::Slot`] `j` the solver's history and intermediate buffers.
//!
//! # An evaluation
//!
//! 1. Run the network at the [`Step::input`] buffer and time [`Step::t_model`] (for the
//!    diffusers schedulers: the integer timestep); with classifier-free guidance, as one batch
//!    of `[cond, uncond]` into `Output` and `Guide`.
//! 2. Apply [`Step::ops`] in order; each reads its sources elementwise and writes `dst` (a
//!    source may be `dst` itself: each element is read before it is written).
//!
//! After the last step the result is in `X`.
//!
//! # The adaptive method: planned step by step
//!
//! DPM-Solver-12/23 picks its next step from the error norm of the step just tried, so it has
//! no plan ahead of time ([`sampler_plan`] refuses it); [`StepPlanner`] plans it one
//! evaluation at a time. Each trial is the singlestep operations of its order (the model
//! values into `Slot(0..order)`, the intermediate points into `Slot(order - 1)`); the
//! evaluation that completes a trial also carries an [`ErrorNorm`], which the executor
//! computes after the step's operations:
//!
//! `E = max_b sqrt(mean_i (d_i / delta_i)^2)` over each sample `b` (`n / batch` elements),
//! with `d = x_hi - x_lo = sum_k w_k (Slot(k) - Slot(0))` (the difference form the CPU uses:
//! no cancellation of two nearly equal solutions), `x_lo` = [`ErrorNorm::lower`] and
//! `delta = max(atol, rtol max(|x_lo|, |x_prev|))`, `x_prev` = `Slot(order)` (`x_T` before the
//! first accepted step). That is [`StepController::error`](crate::StepController::error)
//! term for term; [`ErrorNorm::square`] and [`ErrorNorm::reduce`] are its two halves for an
//! executor to mirror. The executor reads back the one scalar `E` (4 bytes) and hands it to
//! [`StepPlanner::tell_error`], which accepts (`E <= 1`) or rejects and sizes the next step
//! with the CPU sampler's own arithmetic, and returns the decision's operations (accepted:
//! `Slot(order) = x_lo`, then `X = x_hi`; rejected: none, or the reused evaluation's
//! intermediate point with `reuse_rejected_eval`). The first evaluation's operations start
//! with `Slot(order) = X` (`x_prev = x_T`).
//!
//! # What has no plan
//!
//! Dynamic thresholding needs a per-sample quantile of `|x_0|` (a sort or selection per
//! step): refused here with [`Error::InvalidConfig`]. An executor that wants it must run the
//! quantile itself; DDIM's `clip_sample` (a plain clamp) is supported through [`Op::clamp`].
//!
//! # Files
//!
//! The recorded operations ([`Buf`], [`Op`], [`ErrorNorm`], [`OpLog`]) are in `ops.rs`; this
//! file drives the sampler and the schedulers to make plans of them.

mod ops;

pub use ops::{Buf, ErrorNorm, Op, OpLog, FIXED_BUFFERS, MAX_OPS, MAX_TERMS};

use crate::error::{Error, Result};
use crate::math::Real;
use crate::StepReport;

/// One evaluation of a plan.
#[derive(Clone, Copy, Debug)]
pub struct Step<'s, T> {
    /// 0-based evaluation index.
    pub index: usize,
    /// The buffer the network reads.
    pub input: Buf,
    /// The network's time input: the sampler's `t_model`, or the diffusers integer timestep.
    pub t_model: T,
    /// What to do with the output(s).
    pub ops: &'s [Op<T>],
}

/// What a plan needs beyond the buffers it names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct PlanInfo {
    /// Network evaluations.
    pub nfe: usize,
    /// Slot buffers (`Slot(0)` to `Slot(slots - 1)`).
    pub slots: usize,
    /// Whether `Guide` is read (guidance).
    pub guide: bool,
    /// Whether `Noise` is read (SDE): `n` new standard normals per evaluation.
    pub noise: bool,
}

impl PlanInfo {
    fn see(&mut self, op: &Op<impl Real>) {
        for b in core::iter::once(op.dst).chain(op.terms().iter().map(|t| t.0)) {
            match b {
                Buf::Slot(j) => self.slots = self.slots.max(j as usize + 1),
                Buf::Guide => self.guide = true,
                Buf::Noise => self.noise = true,
                _ => {}
            }
        }
    }
}

const NONLINEAR: Error =
    Error::InvalidConfig("dynamic thresholding has no plan (it needs a per-sample quantile)");

/// Floats a [`StepPlanner`] holds inline to run its sampler over (one element per buffer).
pub const PLANNER_STORAGE: usize = 9;

/// A [`StepPlanner`]'s sampler buffer: the first `len` of [`PLANNER_STORAGE`] floats held
/// inline (`x` is one element, the scratch the rest). With the feature `alloc`, a `Vec`: the
/// buffer type of an [`OwnedSampler`](crate::OwnedSampler), so that a program with both
/// compiles the sampler's code for one buffer type.
#[cfg(feature = "alloc")]
type Inline<T> = alloc::vec::Vec<T>;

/// `len` zeros.
#[cfg(feature = "alloc")]
fn zeros<T: Real>(len: usize) -> Inline<T> {
    alloc::vec![T::ZERO; len]
}

/// `len` zeros.
#[cfg(not(feature = "alloc"))]
fn zeros<T: Real>(len: usize) -> Inline<T> {
    Inline {
        buf: [T::ZERO; PLANNER_STORAGE],
        len,
    }
}

#[cfg(not(feature = "alloc"))]
struct Inline<T> {
    buf: [T; PLANNER_STORAGE],
    len: usize,
}

#[cfg(not(feature = "alloc"))]
impl<T> AsRef<[T]> for Inline<T> {
    fn as_ref(&self) -> &[T] {
        &self.buf[..self.len]
    }
}

#[cfg(not(feature = "alloc"))]
impl<T> AsMut<[T]> for Inline<T> {
    fn as_mut(&mut self) -> &mut [T] {
        &mut self.buf[..self.len]
    }
}

/// One evaluation of a step-by-step plan.
#[derive(Clone, Copy, Debug)]
pub struct PlanStep<'s, T> {
    /// The network input and time and the operations to apply to its output.
    pub step: Step<'s, T>,
    /// This evaluation completes an adaptive trial: after `step.ops`, compute this norm and
    /// hand it to [`StepPlanner::tell_error`].
    pub norm: Option<&'s ErrorNorm<T>>,
}

/// The decision on an adaptive trial.
#[derive(Clone, Copy, Debug)]
pub struct Decision<'s, T> {
    /// Operations to apply now (an accepted trial: `x_prev`, then `x`).
    pub ops: &'s [Op<T>],
    /// The step's report, as [`Sampler::tell`](crate::Sampler::tell) gives it.
    pub report: StepReport<T>,
}

/// A [`Sampler`](crate::Sampler) run planned one evaluation at a time, for any method
/// including the adaptive one (see the module docs): [`next`](Self::next) gives each
/// evaluation's plan, and after one that carries an [`ErrorNorm`],
/// [`tell_error`](Self::tell_error) takes the executor's `E`.
pub struct StepPlanner<'a, T: Real> {
    sampler: crate::Sampler<'a, T, Inline<T>>,
    batch: usize,
    buffers: usize,
}

impl<'a, T: Real> StepPlanner<'a, T> {
    /// Validates `config` as [`Sampler::new`](crate::Sampler::new) does; refuses dynamic
    /// thresholding. The planner holds its sampler's buffers itself ([`PLANNER_STORAGE`]
    /// floats): the operations do not depend on the data, so its sampler runs on one element
    /// per buffer.
    pub fn new(
        schedule: crate::NoiseSchedule<'a, T>,
        config: crate::Config<'a, T>,
    ) -> Result<Self> {
        if config.thresholding.is_some() {
            return Err(NONLINEAR);
        }
        if config.batch == 0 {
            return Err(Error::InvalidConfig(
                "batch must be >= 1 and divide x.len()",
            ));
        }
        let batch = config.batch;
        let config = crate::Config { batch: 1, ..config };
        let (x, scratch) = (zeros(1), zeros(PLANNER_STORAGE - 1));
        let mut sampler = crate::Sampler::with_buffers(schedule, config, x, scratch)?;
        sampler.defer_error();
        Ok(StepPlanner {
            sampler,
            batch,
            buffers: FIXED_BUFFERS + config.slots(),
        })
    }
}

impl<T: Real> StepPlanner<'_, T> {
    /// The same planner keeping copies of the lists its schedule and configuration borrow (a
    /// discrete schedule's table, a custom spacing's times), so that it borrows nothing
    /// (feature `alloc`).
    #[cfg(feature = "alloc")]
    pub fn into_owned_lists(self) -> StepPlanner<'static, T>
    where
        T: 'static,
    {
        StepPlanner {
            sampler: self.sampler.into_owned_lists(),
            batch: self.batch,
            buffers: self.buffers,
        }
    }

    /// Buffers the plan may name (`FIXED_BUFFERS` plus the method's slots).
    pub fn buffers(&self) -> usize {
        self.buffers
    }

    /// Evaluations planned so far.
    pub fn nfe(&self) -> usize {
        self.sampler.nfe()
    }

    /// Whether the run is finished (the result is in `X`).
    pub fn is_done(&self) -> bool {
        self.sampler.is_done()
    }

    /// The next evaluation, or `None` when the run is finished. Refused while a trial waits
    /// for its error norm.
    // Not `Iterator::next`: the step borrows the planner, and the norm must come in between.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<Option<PlanStep<'_, T>>> {
        use crate::Guidance;
        if self.sampler.awaits_error() {
            return Err(Error::InvalidConfig(
                "the last evaluation completed an adaptive trial: its error norm must be told first",
            ));
        }
        let Some(req) = self.sampler.ask() else {
            return Ok(None);
        };
        let (index, t_model) = (req.index, req.t_model);
        let input = self.sampler.pending_buffer().unwrap_or(Buf::X);
        let zero = [T::ZERO; 1];
        match self.sampler.config().guidance {
            Guidance::None => self.sampler.tell(&zero)?,
            Guidance::ClassifierFree { .. } => self.sampler.tell_cfg(&zero, &zero)?,
            Guidance::Classifier { .. } => self.sampler.tell_classifier(&zero, &zero)?,
        };
        let log = self.sampler.log_mut();
        if log.nonlinear {
            return Err(NONLINEAR);
        }
        log.set_norm_batch(self.batch);
        Ok(Some(PlanStep {
            step: Step {
                index,
                input,
                t_model,
                ops: log.ops(),
            },
            norm: log.norm(),
        }))
    }

    /// The executor's error norm `E` of the trial the last evaluation completed: the
    /// decision (accept when `E <= 1`; a NaN rejects) and the next step size follow with the
    /// CPU sampler's arithmetic. Errors as `tell` does ([`Error::StepLimit`] past `max_nfe`).
    pub fn tell_error(&mut self, e: T) -> Result<Decision<'_, T>> {
        let report = self.sampler.tell_error(e)?;
        Ok(Decision {
            ops: self.sampler.last_ops().ops(),
            report,
        })
    }
}

/// The plan of a [`Sampler`](crate::Sampler) run: calls `emit` once per evaluation, in order.
/// Refuses the adaptive method (plan it with [`StepPlanner`]) and dynamic thresholding (see the
/// module docs); `config` is validated as [`Sampler::new`](crate::Sampler::new) does.
pub fn sampler_plan<T: Real>(
    schedule: crate::NoiseSchedule<'_, T>,
    config: crate::Config<'_, T>,
    mut emit: impl FnMut(&Step<'_, T>),
) -> Result<PlanInfo> {
    if config.method == crate::Method::Adaptive {
        return Err(Error::InvalidConfig(
            "the adaptive method has no plan ahead of time (its steps depend on the error norm): plan it step by step",
        ));
    }
    let mut planner = StepPlanner::new(schedule, config)?;
    let mut info = PlanInfo::default();
    while let Some(s) = planner.next()? {
        for op in s.step.ops {
            info.see(op);
        }
        info.nfe += 1;
        emit(&s.step);
    }
    Ok(info)
}

/// The plan of a diffusers [`Scheduler`](crate::diffusers::Scheduler) run with
/// `num_inference_steps`; `guidance_scale` (`Some`) prepends the classifier-free combination
/// `Output = uncond + s (cond - uncond)` to every step, as a pipeline does before `step`.
/// `t_model` is the integer timestep. Refuses thresholding. `table` receives
/// `alphas_cumprod` (`num_train_timesteps` elements); [`scheduler_plan_of`] plans a scheduler
/// built over other storage.
pub fn scheduler_plan<T: Real, const MAX_STEPS: usize>(
    config: &crate::diffusers::SchedulerConfig<'_>,
    num_inference_steps: usize,
    table: &mut [f32],
    guidance_scale: Option<T>,
    emit: impl FnMut(&Step<'_, T>),
) -> Result<PlanInfo> {
    let mut config = *config;
    config.set_batch(1);
    let mut x = [T::ZERO; 1];
    let mut scratch = [T::ZERO; 16];
    let s = crate::diffusers::Scheduler::<T, MAX_STEPS>::new(
        &config,
        num_inference_steps,
        table,
        &mut x,
        &mut scratch,
    )?;
    scheduler_plan_of(s, guidance_scale, emit)
}

/// [`scheduler_plan`] of a scheduler the caller built, over any storage (e.g. the `Vec`s of
/// [`family::OwnedScheduler`](crate::family::OwnedScheduler), so that a program using both
/// compiles the scheduler once), at batch 1 on a one-element `x`, before its first step.
pub fn scheduler_plan_of<T, const MAX_STEPS: usize, A, B>(
    mut s: crate::diffusers::Scheduler<'_, T, MAX_STEPS, A, B>,
    guidance_scale: Option<T>,
    mut emit: impl FnMut(&Step<'_, T>),
) -> Result<PlanInfo>
where
    T: Real,
    A: AsRef<[f32]> + AsMut<[f32]>,
    B: AsRef<[T]> + AsMut<[T]>,
{
    let zero = [T::ZERO; 1];
    if s.x().len() != 1 {
        return Err(Error::InvalidConfig(
            "a scheduler plan runs on a one-element x",
        ));
    }
    let mut info = PlanInfo::default();
    let mut ops = [Op::new(Buf::X); MAX_OPS + 1];
    while let Some(req) = s.ask() {
        // The network's time: the integer timestep, or FlowMatchEuler's float one.
        let (index, t_model) = (req.step_index, T::c(req.time as f64));
        s.tell_noise(&zero, &zero)?;
        let log = s.last_ops();
        if log.nonlinear {
            return Err(NONLINEAR);
        }
        let mut k = 0;
        if let Some(g) = guidance_scale {
            ops[0] = Op::new(Buf::Output)
                .term(Buf::Output, g)
                .term(Buf::Guide, T::ONE - g);
            k = 1;
        }
        for op in log.ops() {
            ops[k] = *op;
            k += 1;
        }
        for op in &ops[..k] {
            info.see(op);
        }
        info.nfe += 1;
        emit(&Step {
            index,
            input: Buf::X,
            t_model,
            ops: &ops[..k],
        });
    }
    Ok(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(feature = "adaptive")]
    fn step_planner_adaptive_protocol() {
        let sched = crate::NoiseSchedule::<f64>::linear_vp(0.1, 20.0).unwrap();
        let config = crate::Config {
            method: crate::Method::Adaptive,
            order: 3,
            batch: 2,
            ..Default::default()
        };
        let mut p = StepPlanner::new(sched, config).unwrap();
        assert_eq!(p.buffers(), FIXED_BUFFERS + 4);
        assert!(p.tell_error(0.5).is_err(), "no trial waits");
        // First evaluation: x_prev = x_T, then the model value at s into Slot(0).
        let s = p.next().unwrap().unwrap();
        assert_eq!(s.step.ops[0], Op::new(Buf::Slot(3)).term(Buf::X, 1.0));
        assert_eq!(s.step.ops[1].dst, Buf::Slot(0));
        assert!(s.norm.is_none());
        assert!(p.next().unwrap().unwrap().norm.is_none());
        let s = p.next().unwrap().unwrap();
        let norm = s.norm.expect("the third evaluation completes the trial");
        assert_eq!(
            (norm.batch, norm.base, norm.prev),
            (2, Buf::Slot(0), Buf::Slot(3))
        );
        assert_eq!(norm.diff_terms().len(), 2);
        assert!(p.next().is_err(), "the norm comes first");
        // Rejected: nothing to apply; accepted: x_prev, then x.
        let d = p.tell_error(2.0).unwrap();
        assert!(!d.report.accepted && d.ops.is_empty());
        for _ in 0..3 {
            p.next().unwrap().unwrap();
        }
        let d = p.tell_error(0.5).unwrap();
        assert!(d.report.accepted);
        assert_eq!((d.ops[0].dst, d.ops[1].dst), (Buf::Slot(3), Buf::X));
        for _ in 0..3 {
            p.next().unwrap().unwrap();
        }
        assert!(
            !p.tell_error(f64::NAN).unwrap().report.accepted,
            "NaN rejects"
        );

        // Any error value an executor hands back ends in a result or an error, never a panic.
        let config = crate::Config {
            adaptive: crate::AdaptiveOptions {
                max_nfe: 60,
                ..Default::default()
            },
            ..config
        };
        let mut p = StepPlanner::new(sched, config).unwrap();
        let es = [
            f64::INFINITY,
            -1.0,
            0.0,
            1e300,
            f64::NAN,
            0.5,
            f64::MIN_POSITIVE,
        ];
        let mut k = 0;
        let end = loop {
            match p.next() {
                Ok(Some(s)) if s.norm.is_some() => {
                    k += 1;
                    if let Err(e) = p.tell_error(es[k % es.len()]) {
                        break Err(e);
                    }
                }
                Ok(Some(_)) => {}
                Ok(None) => break Ok(()),
                Err(e) => break Err(e),
            }
        };
        assert!(
            k > 0 && p.nfe() <= 60,
            "{end:?} after {} evaluations",
            p.nfe()
        );
    }
}
