//! `DPMSolverSinglestepScheduler`: singlestep DPM-Solver / DPM-Solver++ (orders 1-3) with
//! diffusers' order list, its intermediate model evaluations, and its config adjustments.
//!
//! Scratch: `solver_order * x.len()` (the outputs of the current singlestep), `x.len()` (the
//! sample the singlestep started from) and, with `thresholding`, one row `x.len() / batch`.

use super::dpm_multistep::{first_order, third_coeffs};
use super::flow::{dpm_flow_sigmas, FlowOptions};
use super::kernel::{combine, convert, tc, Noise};
use super::threshold::ThresholdKeys;
use super::timesteps::{last_timestep, StepTable};
use super::train::{TrainConfig, TrainSchedule};
use super::{AlgorithmType, FinalSigmasType, PredictionType, Request, SolverType, TimestepSpacing};
use crate::error::{check_buffers, check_input, Buffer, Error, Result};
use crate::history::History;
use crate::math::Real;
#[cfg(feature = "rng")]
use crate::rng::NoiseRng;
use core::marker::PhantomData;

/// `DPMSolverSinglestepScheduler`'s configuration, by diffusers' names (defaults: diffusers').
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DPMSolverSinglestepConfig<'b> {
    /// `num_train_timesteps`, `beta_start`, `beta_end`, `beta_schedule`, `trained_betas`.
    /// (`rescale_betas_zero_snr` is not an option of this scheduler: keep it false.)
    pub train: TrainConfig<'b>,
    /// `solver_order`: 1, 2 (default) or 3.
    pub solver_order: usize,
    /// `prediction_type` (default epsilon).
    pub prediction_type: PredictionType,
    /// `thresholding` (default false).
    pub thresholding: bool,
    /// `dynamic_thresholding_ratio` (default 0.995).
    pub dynamic_thresholding_ratio: f64,
    /// `sample_max_value` (default 1.0).
    pub sample_max_value: f64,
    /// `algorithm_type`: dpmsolver, dpmsolver++ (default) or sde-dpmsolver++.
    pub algorithm_type: AlgorithmType,
    /// `solver_type` (default midpoint).
    pub solver_type: SolverType,
    /// `lower_order_final` (default false; diffusers forces it on where the step count is not
    /// a multiple of `solver_order` or `final_sigmas_type` is zero).
    pub lower_order_final: bool,
    /// `use_karras_sigmas` (default false).
    pub use_karras_sigmas: bool,
    /// `final_sigmas_type` (default zero).
    pub final_sigmas_type: FinalSigmasType,
    /// `lambda_min_clipped` (default `-inf`).
    pub lambda_min_clipped: f64,
    /// `use_flow_sigmas`, `flow_shift`, `use_dynamic_shifting`, `time_shift_type` and
    /// `set_timesteps`' `mu` (flow-matching models).
    pub flow: FlowOptions,
    /// Not a diffusers option: the number of samples in `x` (rows for thresholding; default 1).
    pub batch: usize,
}

impl Default for DPMSolverSinglestepConfig<'_> {
    fn default() -> Self {
        DPMSolverSinglestepConfig {
            train: TrainConfig::default(),
            solver_order: 2,
            prediction_type: PredictionType::Epsilon,
            thresholding: false,
            dynamic_thresholding_ratio: 0.995,
            sample_max_value: 1.0,
            algorithm_type: AlgorithmType::DpmSolverPlusPlus,
            solver_type: SolverType::Midpoint,
            lower_order_final: false,
            use_karras_sigmas: false,
            final_sigmas_type: FinalSigmasType::Zero,
            lambda_min_clipped: f64::NEG_INFINITY,
            flow: FlowOptions::default(),
            batch: 1,
        }
    }
}

impl DPMSolverSinglestepConfig<'_> {
    /// This configuration without `trained_betas` (in the table once built): what the
    /// scheduler stores.
    pub(crate) fn detached(&self) -> DPMSolverSinglestepConfig<'static> {
        DPMSolverSinglestepConfig {
            train: self.train.detached(),
            solver_order: self.solver_order,
            prediction_type: self.prediction_type,
            thresholding: self.thresholding,
            dynamic_thresholding_ratio: self.dynamic_thresholding_ratio,
            sample_max_value: self.sample_max_value,
            algorithm_type: self.algorithm_type,
            solver_type: self.solver_type,
            lower_order_final: self.lower_order_final,
            use_karras_sigmas: self.use_karras_sigmas,
            final_sigmas_type: self.final_sigmas_type,
            lambda_min_clipped: self.lambda_min_clipped,
            flow: self.flow,
            batch: self.batch,
        }
    }

    /// Scratch elements needed for a sample of `n` elements (the thresholding row only with
    /// `thresholding`).
    pub fn scratch_len(&self, n: usize) -> usize {
        (self.solver_order.max(1).saturating_add(1))
            .saturating_mul(n)
            .saturating_add(self.threshold().scratch_len(n))
    }

    /// The thresholding keys.
    pub(crate) fn threshold(&self) -> ThresholdKeys {
        ThresholdKeys {
            on: self.thresholding,
            ratio: self.dynamic_thresholding_ratio,
            max: self.sample_max_value,
            batch: self.batch,
        }
    }

    fn validate(&self) -> Result<()> {
        if !(1..=3).contains(&self.solver_order) {
            return Err(Error::InvalidConfig("solver_order must be 1, 2 or 3"));
        }
        if self.algorithm_type == AlgorithmType::SdeDpmSolver {
            return Err(Error::InvalidConfig(
                "sde-dpmsolver is not implemented for DPMSolverSinglestepScheduler",
            ));
        }
        if !self.algorithm_type.predicts_data() && self.final_sigmas_type == FinalSigmasType::Zero {
            return Err(Error::InvalidConfig(
                "final_sigmas_type zero is not supported for algorithm_type dpmsolver: choose \
                 sigma_min",
            ));
        }
        if self.train.rescale_betas_zero_snr {
            return Err(Error::InvalidConfig(
                "DPMSolverSinglestepScheduler has no rescale_betas_zero_snr option",
            ));
        }
        self.threshold().check()?;
        if self.lambda_min_clipped.is_nan() {
            return Err(Error::InvalidConfig("lambda_min_clipped must not be NaN"));
        }
        self.flow.validate(
            false,
            self.algorithm_type.predicts_data(),
            self.prediction_type,
        )
    }
}

/// diffusers' `get_order_list`: the order of each step (an order-`k` singlestep spans `k`
/// entries `1, 2, .., k`).
fn order_at(
    order: usize,
    steps: usize,
    lower_order_final: bool,
    zero_final: bool,
    i: usize,
) -> usize {
    if zero_final && i + 1 == steps {
        return 1;
    }
    let cycle = |i: usize| i % order + 1;
    if !lower_order_final {
        // [1..order] * (steps // order); a step beyond it cannot happen (lower_order_final is
        // forced on where steps % order != 0).
        return cycle(i);
    }
    match order {
        3 => {
            let full = match steps % 3 {
                0 => (steps / 3).saturating_sub(1) * 3,
                _ => (steps / 3) * 3,
            };
            if i < full {
                cycle(i)
            } else {
                // tail: [1, 2] + [1] (steps % 3 == 0), [1] (== 1), [1, 2] (== 2)
                match (steps % 3, i - full) {
                    (0, 0) => 1,
                    (0, 1) => 2,
                    (0, _) => 1,
                    (1, _) => 1,
                    (_, k) => k % 2 + 1,
                }
            }
        }
        2 => {
            let full = if steps % 2 == 0 {
                (steps / 2).saturating_sub(1) * 2
            } else {
                (steps / 2) * 2
            };
            if i < full {
                cycle(i)
            } else {
                1
            }
        }
        _ => 1,
    }
}

/// diffusers' `DPMSolverSinglestepScheduler` over caller buffers; `MAX_STEPS` bounds the number
/// of inference steps.
///
/// Storage `A` (the table) and `B` (`x`, scratch): borrowed slices by default
/// ([`new`](Self::new)) or owners of them ([`with_buffers`](Self::with_buffers), handed back by
/// [`into_buffers`](Self::into_buffers)), as for
/// [`DPMSolverMultistepScheduler`](super::DPMSolverMultistepScheduler); it keeps no borrow of
/// its configuration.
#[derive(Debug)]
pub struct DPMSolverSinglestepScheduler<
    'a,
    T,
    const MAX_STEPS: usize,
    A = &'a mut [f32],
    B = &'a mut [T],
> {
    config: DPMSolverSinglestepConfig<'static>,
    alphas: A,
    n_train: usize,
    table: StepTable<MAX_STEPS>,
    x: B,
    scratch: B,
    ring: History,
    step: usize,
    lower_order_final: bool,
    /// The operations of the last `tell`, as coefficients (see [`crate::plan`]).
    #[cfg(feature = "plan")]
    log: crate::plan::OpLog<T>,
    /// The borrow of the default storage, and `T` where no field holds one (without `plan`).
    borrow: PhantomData<(&'a (), T)>,
}

impl<'a, T: Real, const M: usize> DPMSolverSinglestepScheduler<'a, T, M> {
    /// `__init__` plus `set_timesteps(num_inference_steps)`; buffers as for
    /// [`DPMSolverMultistepScheduler::new`](super::DPMSolverMultistepScheduler::new), scratch
    /// [`DPMSolverSinglestepConfig::scratch_len`].
    pub fn new(
        config: &DPMSolverSinglestepConfig<'a>,
        num_inference_steps: usize,
        table: &'a mut [f32],
        x: &'a mut [T],
        scratch: &'a mut [T],
    ) -> Result<Self> {
        Self::with_buffers(config, num_inference_steps, table, x, scratch)
    }
}

impl<'a, T, const M: usize, A, B> DPMSolverSinglestepScheduler<'a, T, M, A, B>
where
    T: Real,
    A: AsRef<[f32]> + AsMut<[f32]>,
    B: AsRef<[T]> + AsMut<[T]>,
{
    /// [`new`](DPMSolverSinglestepScheduler::new) over buffers of any storage, which the
    /// scheduler keeps until [`into_buffers`](Self::into_buffers). The configuration's lists
    /// are read here only.
    pub fn with_buffers(
        config: &DPMSolverSinglestepConfig<'_>,
        num_inference_steps: usize,
        mut table: A,
        x: B,
        scratch: B,
    ) -> Result<Self> {
        let len = x.as_ref().len();
        config.validate()?;
        let n = num_inference_steps;
        if n == 0 {
            return Err(Error::InvalidConfig(
                "num_inference_steps must be at least 1",
            ));
        }
        check_buffers(
            x.as_ref(),
            scratch.as_ref(),
            config.batch,
            config.scratch_len(len),
        )?;
        let train = TrainSchedule::new(&config.train, false, table.as_mut())?;
        let n_train = train.len();
        let mut steps = StepTable::empty();
        let last = last_timestep(&train, config.lambda_min_clipped);
        if last == 0 {
            return Err(Error::InvalidConfig(
                "lambda_min_clipped leaves no training timestep",
            ));
        }
        if config.use_karras_sigmas {
            steps.karras(&train, n, true)?;
        } else if config.flow.use_flow_sigmas {
            dpm_flow_sigmas(
                &mut steps,
                &config.flow,
                n,
                &train,
                config.final_sigmas_type,
            )?;
        } else {
            steps.spaced(TimestepSpacing::Linspace, n, train.len(), last, 0)?;
            steps.interp_sigmas(&train);
        }
        steps.set_last(StepTable::<M>::final_sigma(
            &train,
            config.final_sigmas_type,
        ));
        steps.check_range(train.len())?;
        // `_sigma_to_alpha_sigma_t` follows use_flow_sigmas whatever made the sigmas.
        steps.set_flow(config.flow.use_flow_sigmas);
        // diffusers' adjustments: lower_order_final forced on.
        let lower_order_final = config.lower_order_final
            || n % config.solver_order != 0
            || config.final_sigmas_type == FinalSigmasType::Zero;
        let ring = History::new(config.solver_order, len);
        Ok(DPMSolverSinglestepScheduler {
            config: config.detached(),
            alphas: table,
            n_train,
            table: steps,
            x,
            scratch,
            ring,
            step: 0,
            lower_order_final,
            #[cfg(feature = "plan")]
            log: crate::plan::OpLog::default(),
            borrow: PhantomData,
        })
    }

    scheduler_front!();

    sde_tell_front!();

    fn advance(&mut self, model_output: &[T], mut noise: Noise<'_, T>) -> Result<()> {
        let len = self.table.len();
        let i = self.step;
        if i >= len {
            return Err(Error::Finished);
        }
        let (x, scratch) = (self.x.as_mut(), self.scratch.as_mut());
        let n = x.len();
        check_input(Buffer::ModelOutput, n, model_output)?;
        noise.check(n)?;
        let c = &self.config;
        let s_now = self.table.asl(i);
        self.ring.push();
        let slot = self.ring.range(0);
        #[cfg(feature = "plan")]
        let names = super::kernel::Names::of(x, scratch);
        let (hist, rest) = scratch.split_at_mut(self.ring.elements());
        let (start, work) = rest.split_at_mut(n);
        let data = c.algorithm_type.predicts_data();
        {
            let dst = &mut hist[slot];
            let (al, si) = (tc::<T>(s_now.alpha), tc::<T>(s_now.sigma));
            #[cfg(feature = "plan")]
            {
                self.log.clear();
                let op = names.convert(c.prediction_type, data, al, si, dst);
                self.log.push(op);
            }
            let raw = tc::<T>(self.table.sigma(i));
            convert(c.prediction_type, data, al, si, raw, x, model_output, dst);
            if c.threshold().output(dst, data, x, al, si, work) {
                #[cfg(feature = "plan")]
                {
                    self.log.nonlinear = true;
                }
            }
        }
        let zero_final = c.final_sigmas_type == FinalSigmasType::Zero;
        let mut order = order_at(c.solver_order, len, self.lower_order_final, zero_final, i);
        order = order.min(self.ring.len()).min(i + 1).max(1);
        if order == 1 {
            start.copy_from_slice(x);
            #[cfg(feature = "plan")]
            {
                use crate::plan::{Buf, Op};
                self.log
                    .push(Op::new(names.buf(start)).term(Buf::X, T::ONE));
            }
        }
        let hist: &[T] = hist;
        let start: &[T] = start;
        let t = self.table.asl(i + 1);
        let alg = c.algorithm_type;
        match order {
            1 => {
                let (cx, a, cn) = first_order(alg, t, s_now);
                let m0 = &hist[self.ring.range(0)];
                let terms = [(tc::<T>(a), m0)];
                #[cfg(feature = "plan")]
                self.log
                    .push(names.combine(Some(start), tc(cx), &terms, tc(cn), noise.is_some()));
                combine(x, Some(start), tc(cx), &terms, tc(cn), &mut noise);
            }
            2 => {
                // From s1 (the start) over h = lambda_t - lambda_s1: D0 = m1 (at s1),
                // D1 = (1/r0)(m0 - m1).
                let s1 = self.table.asl(i - 1);
                let h = t.lambda - s1.lambda;
                let r0 = (s_now.lambda - s1.lambda) / h;
                let (cx, a, cn) = first_order(alg, t, s1);
                let b = match c.solver_type {
                    SolverType::Midpoint => 0.5 * a,
                    SolverType::Heun => third_coeffs(alg, t, h).0,
                };
                let k = tc::<T>(b) * tc::<T>(1.0 / r0);
                let (m0, m1) = (&hist[self.ring.range(0)], &hist[self.ring.range(1)]);
                let terms = [(k, m0), (tc::<T>(a) - k, m1)];
                #[cfg(feature = "plan")]
                self.log
                    .push(names.combine(Some(start), tc(cx), &terms, tc(cn), noise.is_some()));
                combine(x, Some(start), tc(cx), &terms, tc(cn), &mut noise);
            }
            _ => {
                // From s2 (the start): D0 = m2, D1_0 = (1/r1)(m1 - m2), D1_1 = (1/r0)(m0 - m2).
                let s0 = s_now;
                let s1 = self.table.asl(i - 1);
                let s2 = self.table.asl(i - 2);
                let h = t.lambda - s2.lambda;
                let r0 = (s0.lambda - s2.lambda) / h;
                let r1 = (s1.lambda - s2.lambda) / h;
                let (cx, a, cn) = first_order(alg, t, s2);
                let (b, cc) = third_coeffs(alg, t, h);
                let (b, cc) = (tc::<T>(b), tc::<T>(cc));
                let (p, q) = match c.solver_type {
                    // x = .. + A D0 + B D1_1
                    SolverType::Midpoint => (T::ZERO, b),
                    // D1 = (r0 D1_0 - r1 D1_1)/(r0 - r1), D2 = 2 (D1_1 - D1_0)/(r0 - r1)
                    SolverType::Heun => {
                        let d = tc::<T>(r0 - r1);
                        let two_c = T::c(2.0) * cc;
                        ((b * tc::<T>(r0) - two_c) / d, (two_c - b * tc::<T>(r1)) / d)
                    }
                };
                let (c1, c0) = (p * tc::<T>(1.0 / r1), q * tc::<T>(1.0 / r0));
                let m0 = &hist[self.ring.range(0)];
                let m1 = &hist[self.ring.range(1)];
                let m2 = &hist[self.ring.range(2)];
                let terms = [(c0, m0), (c1, m1), (tc::<T>(a) - c0 - c1, m2)];
                #[cfg(feature = "plan")]
                self.log
                    .push(names.combine(Some(start), tc(cx), &terms, tc(cn), noise.is_some()));
                combine(x, Some(start), tc(cx), &terms, tc(cn), &mut noise);
            }
        }
        self.step += 1;
        Ok(())
    }

    /// What the last `tell` did to the buffers, as coefficients (see [`crate::plan`]).
    #[cfg(feature = "plan")]
    pub fn last_ops(&self) -> &crate::plan::OpLog<T> {
        &self.log
    }

    /// The sigmas of the timesteps, without the final one.
    pub fn sigmas(&self) -> &[f32] {
        self.table.sigmas()
    }

    /// The order of step `i` after diffusers' adjustments (`get_order_list`).
    pub fn order_at(&self, i: usize) -> usize {
        let zero = self.config.final_sigmas_type == FinalSigmasType::Zero;
        order_at(
            self.config.solver_order,
            self.table.len(),
            self.lower_order_final,
            zero,
            i,
        )
    }
}
