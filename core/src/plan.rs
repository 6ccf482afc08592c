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
//! [`scheduler_plan`]); the tests crate applies the plans with plain loops and checks them
//! against the reference and diffusers fixtures.
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
//! # What has no plan
//!
//! - Dynamic thresholding needs a per-sample quantile of `|x_0|` (a sort or selection per
//!   step): refused here with [`Error::InvalidConfig`]. An
//!   executor that wants it must run the quantile itself; DDIM's `clip_sample` (a plain clamp)
//!   is supported through [`Op::clamp`].
//! - The adaptive method picks its next step from the error norm of the step just tried, so no
//!   plan exists ahead of time. Step by step it maps as follows: each trial is the singlestep
//!   ops of its order (`Slot` intermediates, then the lower- and higher-order solutions), then
//!   one reduction `E = max_b sqrt(mean_i ((x_hi - x_lo) / max(atol, rtol max(|x_hi|,
//!   |x_prev|)))^2)` over each sample `b` (see [`StepController`](crate::StepController)),
//!   read back as one scalar per trial to accept or reject and to size the next step. That
//!   reduction is not provided here; [`sampler_plan`] refuses the method.

use crate::error::{Error, Result};
use crate::math::Real;

/// Most terms an operation has (UniPC-3's corrector: base, 4 history terms; singlestep with
/// noise: base, 3 history terms, noise; CFG conversion: source, two outputs).
pub const MAX_TERMS: usize = 6;

/// Most operations one evaluation triggers.
pub const MAX_OPS: usize = 4;

/// Number of fixed buffers before the slots in [`Buf::index`].
pub const FIXED_BUFFERS: usize = 4;

/// A buffer of `n` elements an operation reads or writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Buf {
    /// The sample being integrated (`x_T` at the start, the result at the end).
    X,
    /// The network output of this evaluation (the conditional one with classifier-free
    /// guidance).
    Output,
    /// The unconditional output (classifier-free guidance) or the classifier gradient.
    Guide,
    /// This step's standard normal noise (SDE schedulers only).
    Noise,
    /// History or intermediate buffer `j` of the solver.
    Slot(u8),
}

impl Buf {
    /// A dense index: `X` 0, `Output` 1, `Guide` 2, `Noise` 3, `Slot(j)` `4 + j`.
    pub fn index(self) -> usize {
        match self {
            Buf::X => 0,
            Buf::Output => 1,
            Buf::Guide => 2,
            Buf::Noise => 3,
            Buf::Slot(j) => FIXED_BUFFERS + j as usize,
        }
    }

    /// Slot buffer `j` (`None` past 255 slots, which no method needs).
    pub(crate) fn slot(j: usize) -> Buf {
        Buf::Slot(u8::try_from(j).unwrap_or(u8::MAX))
    }
}

/// One elementwise operation `dst[i] = clamp(sum_k w_k src_k[i])`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Op<T> {
    /// The buffer written.
    pub dst: Buf,
    terms: [(Buf, T); MAX_TERMS],
    len: u8,
    /// More than [`MAX_TERMS`] terms were added (the log then refuses the step).
    overflow: bool,
    /// Clamp the result to `[-c, c]` (DDIM's `clip_sample`), or `None`.
    pub clamp: Option<T>,
}

impl<T: Real> Op<T> {
    /// An operation writing `dst` with no terms yet (it would write zeros).
    pub fn new(dst: Buf) -> Self {
        Op {
            dst,
            terms: [(Buf::X, T::ZERO); MAX_TERMS],
            len: 0,
            overflow: false,
            clamp: None,
        }
    }

    /// Adds `w src` (a term on a buffer already present adds to its weight; zero weights are
    /// kept, so the term list mirrors the update's structure). Past [`MAX_TERMS`] buffers the
    /// operation is marked as overflowing and [`OpLog::push`] refuses it.
    pub fn term(mut self, src: Buf, w: T) -> Self {
        if let Some(t) = self.terms[..self.len as usize]
            .iter_mut()
            .find(|t| t.0 == src)
        {
            t.1 += w;
        } else if (self.len as usize) < MAX_TERMS {
            self.terms[self.len as usize] = (src, w);
            self.len += 1;
        } else {
            self.overflow = true;
        }
        self
    }

    /// The `(source, weight)` terms.
    pub fn terms(&self) -> &[(Buf, T)] {
        &self.terms[..self.len as usize]
    }

    /// One element of the result from the sources' values at it.
    #[inline]
    pub fn eval(&self, mut value: impl FnMut(Buf) -> T) -> T {
        let mut v = T::ZERO;
        for &(b, w) in self.terms() {
            v += w * value(b);
        }
        match self.clamp {
            Some(c) => v.max(-c).min(c),
            None => v,
        }
    }
}

/// The operations of one evaluation, as a sampler recorded them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OpLog<T> {
    ops: [Op<T>; MAX_OPS],
    len: usize,
    /// A step did something no [`Op`] describes (dynamic thresholding).
    pub nonlinear: bool,
}

impl<T: Real> Default for OpLog<T> {
    fn default() -> Self {
        OpLog {
            ops: [Op::new(Buf::X); MAX_OPS],
            len: 0,
            nonlinear: false,
        }
    }
}

impl<T: Real> OpLog<T> {
    /// Forgets the previous evaluation's operations.
    pub fn clear(&mut self) {
        self.len = 0;
        self.nonlinear = false;
    }

    /// Appends an operation (past [`MAX_OPS`] operations or [`MAX_TERMS`] terms the log is
    /// marked non-linear, so no plan is made: never the case for the methods in this crate).
    pub fn push(&mut self, op: Op<T>) {
        if op.overflow {
            self.nonlinear = true;
        }
        if self.len < MAX_OPS {
            self.ops[self.len] = op;
            self.len += 1;
        } else {
            self.nonlinear = true;
        }
    }

    /// The operations in order.
    pub fn ops(&self) -> &[Op<T>] {
        &self.ops[..self.len]
    }
}

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

/// The plan of a [`Sampler`](crate::Sampler) run: calls `emit` once per evaluation, in order.
/// Refuses the adaptive method and dynamic thresholding (see the module docs); `config` is
/// validated as [`Sampler::new`](crate::Sampler::new) does.
pub fn sampler_plan<T: Real>(
    schedule: crate::NoiseSchedule<'_, T>,
    config: crate::Config<'_, T>,
    mut emit: impl FnMut(&Step<'_, T>),
) -> Result<PlanInfo> {
    use crate::{Guidance, Method, Sampler};
    if config.method == Method::Adaptive {
        return Err(Error::InvalidConfig(
            "the adaptive method has no plan ahead of time (its steps depend on the error norm)",
        ));
    }
    if config.thresholding.is_some() {
        return Err(NONLINEAR);
    }
    // The operations do not depend on the data: one element per sample is enough.
    let config = crate::Config { batch: 1, ..config };
    let mut x = [T::ZERO; 1];
    let mut scratch = [T::ZERO; 8];
    let zero = [T::ZERO; 1];
    let mut sampler = Sampler::new(schedule, config, &mut x, &mut scratch)?;
    let mut info = PlanInfo::default();
    while let Some(req) = sampler.ask() {
        let (index, t_model) = (req.index, req.t_model);
        let input = sampler.pending_buffer().unwrap_or(Buf::X);
        match config.guidance {
            Guidance::None => sampler.tell(&zero)?,
            Guidance::ClassifierFree { .. } => sampler.tell_cfg(&zero, &zero)?,
            Guidance::Classifier { .. } => sampler.tell_classifier(&zero, &zero)?,
        };
        let log = sampler.last_ops();
        if log.nonlinear {
            return Err(NONLINEAR);
        }
        for op in log.ops() {
            info.see(op);
        }
        info.nfe += 1;
        emit(&Step {
            index,
            input,
            t_model,
            ops: log.ops(),
        });
    }
    Ok(info)
}

/// The plan of a diffusers [`Scheduler`](crate::diffusers::Scheduler) run with
/// `num_inference_steps`; `guidance_scale` (`Some`) prepends the classifier-free combination
/// `Output = uncond + s (cond - uncond)` to every step, as a pipeline does before `step`.
/// `t_model` is the integer timestep. Refuses thresholding.
pub fn scheduler_plan<T: Real, const MAX_STEPS: usize>(
    config: &crate::diffusers::SchedulerConfig<'_>,
    num_inference_steps: usize,
    table: &mut [f32],
    guidance_scale: Option<T>,
    mut emit: impl FnMut(&Step<'_, T>),
) -> Result<PlanInfo> {
    use crate::diffusers::Scheduler;
    let mut config = *config;
    config.set_batch(1);
    let mut x = [T::ZERO; 1];
    let mut scratch = [T::ZERO; 16];
    let zero = [T::ZERO; 1];
    let mut s =
        Scheduler::<T, MAX_STEPS>::new(&config, num_inference_steps, table, &mut x, &mut scratch)?;
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
    fn terms_merge_and_clamp() {
        let op = Op::<f64>::new(Buf::X)
            .term(Buf::X, 0.5)
            .term(Buf::Slot(1), 2.0)
            .term(Buf::X, 0.25);
        assert_eq!(op.terms(), &[(Buf::X, 0.75), (Buf::Slot(1), 2.0)]);
        let v = |b: Buf| if b == Buf::X { 4.0 } else { 1.0 };
        assert_eq!(op.eval(v), 5.0);
        let op = Op {
            clamp: Some(1.0),
            ..op
        };
        assert_eq!(op.eval(v), 1.0);
        assert_eq!(Buf::Slot(2).index(), 6);
    }

    #[test]
    fn too_many_terms_refuse_the_step() {
        let mut op = Op::<f32>::new(Buf::X);
        for j in 0..=MAX_TERMS as u8 {
            op = op.term(Buf::Slot(j), 1.0);
        }
        let mut log = OpLog::default();
        log.push(op);
        assert!(log.nonlinear);
    }
}
