//! `DPMSolverMultistepScheduler`: multistep DPM-Solver / DPM-Solver++ (orders 1-3) and their
//! SDE variants, step for step as diffusers runs them.
//!
//! Scratch: `solver_order * x.len()` (the ring of past converted outputs) plus, with
//! `thresholding`, one sample row `x.len() / batch` (the quantile's work space).

use super::flow::{dpm_flow_sigmas, FlowOptions};
use super::kernel::{combine, convert, ex, tc, Asl, Noise};
use super::threshold::ThresholdKeys;
use super::timesteps::{last_timestep, StepTable};
use super::train::{BetaSchedule, TrainConfig, TrainSchedule};
use super::{AlgorithmType, FinalSigmasType, PredictionType, Request, SolverType, TimestepSpacing};
use crate::error::{check_buffers, check_input, Buffer, Error, Result};
use crate::history::History;
use crate::math::Real;
#[cfg(feature = "rng")]
use crate::rng::NoiseRng;
use core::marker::PhantomData;

/// `DPMSolverMultistepScheduler`'s configuration, by diffusers' names (defaults: diffusers').
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DPMSolverMultistepConfig<'b> {
    /// `num_train_timesteps`, `beta_start`, `beta_end`, `beta_schedule`, `trained_betas`,
    /// `rescale_betas_zero_snr`.
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
    /// `algorithm_type` (default dpmsolver++).
    pub algorithm_type: AlgorithmType,
    /// `solver_type` (default midpoint).
    pub solver_type: SolverType,
    /// `lower_order_final` (default true; applies below 15 steps).
    pub lower_order_final: bool,
    /// `euler_at_final` (default false).
    pub euler_at_final: bool,
    /// `use_karras_sigmas` (default false).
    pub use_karras_sigmas: bool,
    /// `final_sigmas_type` (default zero).
    pub final_sigmas_type: FinalSigmasType,
    /// `lambda_min_clipped` (default `-inf`).
    pub lambda_min_clipped: f64,
    /// `timestep_spacing` (default linspace).
    pub timestep_spacing: TimestepSpacing,
    /// `steps_offset` (default 0; used by leading spacing).
    pub steps_offset: i64,
    /// `use_flow_sigmas`, `flow_shift`, `use_dynamic_shifting`, `time_shift_type` and
    /// `set_timesteps`' `mu` (flow-matching models).
    pub flow: FlowOptions,
    /// Not a diffusers option: the number of samples in `x` (rows for thresholding; default 1).
    pub batch: usize,
}

impl Default for DPMSolverMultistepConfig<'_> {
    fn default() -> Self {
        DPMSolverMultistepConfig {
            train: TrainConfig::default(),
            solver_order: 2,
            prediction_type: PredictionType::Epsilon,
            thresholding: false,
            dynamic_thresholding_ratio: 0.995,
            sample_max_value: 1.0,
            algorithm_type: AlgorithmType::DpmSolverPlusPlus,
            solver_type: SolverType::Midpoint,
            lower_order_final: true,
            euler_at_final: false,
            use_karras_sigmas: false,
            final_sigmas_type: FinalSigmasType::Zero,
            lambda_min_clipped: f64::NEG_INFINITY,
            timestep_spacing: TimestepSpacing::Linspace,
            steps_offset: 0,
            flow: FlowOptions::default(),
            batch: 1,
        }
    }
}

impl DPMSolverMultistepConfig<'_> {
    /// This configuration without `trained_betas` (in the table once built): what the
    /// scheduler stores.
    pub(crate) fn detached(&self) -> DPMSolverMultistepConfig<'static> {
        DPMSolverMultistepConfig {
            train: self.train.detached(),
            solver_order: self.solver_order,
            prediction_type: self.prediction_type,
            thresholding: self.thresholding,
            dynamic_thresholding_ratio: self.dynamic_thresholding_ratio,
            sample_max_value: self.sample_max_value,
            algorithm_type: self.algorithm_type,
            solver_type: self.solver_type,
            lower_order_final: self.lower_order_final,
            euler_at_final: self.euler_at_final,
            use_karras_sigmas: self.use_karras_sigmas,
            final_sigmas_type: self.final_sigmas_type,
            lambda_min_clipped: self.lambda_min_clipped,
            timestep_spacing: self.timestep_spacing,
            steps_offset: self.steps_offset,
            flow: self.flow,
            batch: self.batch,
        }
    }

    /// Scratch elements needed for a sample of `n` elements (the thresholding row only with
    /// `thresholding`).
    pub fn scratch_len(&self, n: usize) -> usize {
        self.solver_order
            .max(1)
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

    pub(crate) fn validate(&self) -> Result<()> {
        if !(1..=3).contains(&self.solver_order) {
            return Err(Error::InvalidConfig("solver_order must be 1, 2 or 3"));
        }
        if !self.algorithm_type.predicts_data() && self.final_sigmas_type == FinalSigmasType::Zero {
            return Err(Error::InvalidConfig(
                "final_sigmas_type zero is not supported for algorithm_type dpmsolver or \
                 sde-dpmsolver: choose sigma_min",
            ));
        }
        if self.algorithm_type == AlgorithmType::SdeDpmSolver && self.solver_order == 3 {
            return Err(Error::InvalidConfig(
                "diffusers has no third-order sde-dpmsolver update: use solver_order <= 2",
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

/// diffusers' `DPMSolverMultistepScheduler` over caller buffers; `MAX_STEPS` bounds the number
/// of inference steps.
///
/// `A` is the storage of the `alphas_cumprod` table, `B` that of `x` and the scratch buffer:
/// borrowed slices by default ([`new`](Self::new): no allocation), or owners of them such as
/// `Vec` ([`with_buffers`](Self::with_buffers)), handed back by
/// [`into_buffers`](Self::into_buffers). The scheduler keeps no borrow of its configuration,
/// so with owned `A` and `B` it borrows nothing.
#[derive(Debug)]
pub struct DPMSolverMultistepScheduler<
    'a,
    T,
    const MAX_STEPS: usize,
    A = &'a mut [f32],
    B = &'a mut [T],
> {
    config: DPMSolverMultistepConfig<'static>,
    alphas: A,
    n_train: usize,
    table: StepTable<MAX_STEPS>,
    x: B,
    scratch: B,
    ring: History,
    step: usize,
    lower_order_nums: usize,
    last_order: usize,
    /// The operations of the last `tell`, as coefficients (see [`crate::plan`]).
    #[cfg(feature = "plan")]
    log: crate::plan::OpLog<T>,
    /// The borrow of the default storage, and `T` where no field holds one (without `plan`).
    borrow: PhantomData<(&'a (), T)>,
}

impl<'a, T: Real, const M: usize> DPMSolverMultistepScheduler<'a, T, M> {
    /// `__init__` plus `set_timesteps(num_inference_steps)`: `table` receives `alphas_cumprod`
    /// (`num_train_timesteps` elements), `x` holds `x_T` and is sampled in place, `scratch`
    /// needs [`DPMSolverMultistepConfig::scratch_len`] elements.
    pub fn new(
        config: &DPMSolverMultistepConfig<'a>,
        num_inference_steps: usize,
        table: &'a mut [f32],
        x: &'a mut [T],
        scratch: &'a mut [T],
    ) -> Result<Self> {
        Self::with_buffers(config, num_inference_steps, table, x, scratch)
    }
}

impl<'a, T, const M: usize, A, B> DPMSolverMultistepScheduler<'a, T, M, A, B>
where
    T: Real,
    A: AsRef<[f32]> + AsMut<[f32]>,
    B: AsRef<[T]> + AsMut<[T]>,
{
    /// [`new`](DPMSolverMultistepScheduler::new) over buffers of any storage (`Vec`, boxed
    /// slices, arrays...), which the scheduler keeps until
    /// [`into_buffers`](Self::into_buffers). The configuration's lists are read here only.
    pub fn with_buffers(
        config: &DPMSolverMultistepConfig<'_>,
        num_inference_steps: usize,
        mut table: A,
        x: B,
        scratch: B,
    ) -> Result<Self> {
        config.validate()?;
        if num_inference_steps == 0 {
            return Err(Error::InvalidConfig(
                "num_inference_steps must be at least 1",
            ));
        }
        let len = x.as_ref().len();
        check_buffers(
            x.as_ref(),
            scratch.as_ref(),
            config.batch,
            config.scratch_len(len),
        )?;
        let train = TrainSchedule::new(&config.train, true, table.as_mut())?;
        let mut steps = StepTable::empty();
        let last = last_timestep(&train, config.lambda_min_clipped);
        if last == 0 {
            return Err(Error::InvalidConfig(
                "lambda_min_clipped leaves no training timestep",
            ));
        }
        if config.use_karras_sigmas {
            let round = config.train.beta_schedule != BetaSchedule::SquaredcosCapV2;
            steps.karras(&train, num_inference_steps, round)?;
        } else if config.flow.use_flow_sigmas {
            let (f, n) = (&config.flow, num_inference_steps);
            dpm_flow_sigmas(&mut steps, f, n, &train, config.final_sigmas_type)?;
        } else {
            steps.spaced(
                config.timestep_spacing,
                num_inference_steps,
                train.len(),
                last,
                config.steps_offset,
            )?;
            steps.interp_sigmas(&train);
        }
        steps.set_last(StepTable::<M>::final_sigma(
            &train,
            config.final_sigmas_type,
        ));
        // `_sigma_to_alpha_sigma_t` follows use_flow_sigmas whatever made the sigmas.
        steps.set_flow(config.flow.use_flow_sigmas);
        if steps.is_empty() {
            return Err(Error::InvalidConfig("the spacing produced no timesteps"));
        }
        steps.check_range(train.len())?;
        let n_train = train.len();
        let ring = History::new(config.solver_order, len);
        Ok(DPMSolverMultistepScheduler {
            config: config.detached(),
            alphas: table,
            n_train,
            table: steps,
            x,
            scratch,
            ring,
            step: 0,
            lower_order_nums: 0,
            last_order: 0,
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
        let lower_final = i == len - 1
            && (c.euler_at_final
                || (c.lower_order_final && len < 15)
                || c.final_sigmas_type == FinalSigmasType::Zero);
        let lower_second = i + 2 == len && c.lower_order_final && len < 15;

        // convert_model_output into the newest ring slot.
        let s0 = self.table.asl(i);
        let (alpha0, sigma0) = (tc::<T>(s0.alpha), tc::<T>(s0.sigma));
        self.ring.push();
        let slot = self.ring.range(0);
        #[cfg(feature = "plan")]
        let names = super::kernel::Names::of(x, scratch);
        let (hist, work) = scratch.split_at_mut(self.ring.elements());
        let data = c.algorithm_type.predicts_data();
        {
            let dst = &mut hist[slot];
            #[cfg(feature = "plan")]
            {
                self.log.clear();
                let op = names.convert(c.prediction_type, data, alpha0, sigma0, dst);
                self.log.push(op);
            }
            convert(
                c.prediction_type,
                data,
                alpha0,
                sigma0,
                tc::<T>(self.table.sigma(i)),
                x,
                model_output,
                dst,
            );
            if c.threshold().output(dst, data, x, alpha0, sigma0, work) {
                #[cfg(feature = "plan")]
                {
                    self.log.nonlinear = true;
                }
            }
        }

        let order = if c.solver_order == 1 || self.lower_order_nums < 1 || lower_final {
            1
        } else if c.solver_order == 2 || self.lower_order_nums < 2 || lower_second {
            2
        } else {
            3
        };
        // diffusers steps `sample.to(torch.float32)` (the conversion above saw the original).
        for v in x.iter_mut() {
            *v = T::c(v.to_f64() as f32 as f64);
        }
        let t = self.table.asl(i + 1);
        let hist: &[T] = hist;
        let m0 = &hist[self.ring.range(0)];
        let (cx, cn, terms): (T, T, [(T, &[T]); 3]) = match order {
            1 => {
                let (cx, a, cn) = first_order(c.algorithm_type, t, s0);
                (tc(cx), tc(cn), [(tc(a), m0), (T::ZERO, m0), (T::ZERO, m0)])
            }
            2 => {
                let s1 = self.table.asl(i - 1);
                let (cx, cn, k) = second_order::<T>(c.algorithm_type, c.solver_type, t, s0, s1);
                let m1 = &hist[self.ring.range(1)];
                (cx, cn, [(k[0], m0), (k[1], m1), (T::ZERO, m0)])
            }
            _ => {
                let s1 = self.table.asl(i - 1);
                let s2 = self.table.asl(i - 2);
                let (cx, cn, k) = third_order::<T>(c.algorithm_type, t, s0, s1, s2);
                let m1 = &hist[self.ring.range(1)];
                let m2 = &hist[self.ring.range(2)];
                (cx, cn, [(k[0], m0), (k[1], m1), (k[2], m2)])
            }
        };
        let terms = &terms[..order.min(3)];
        #[cfg(feature = "plan")]
        self.log
            .push(names.combine(None, cx, terms, cn, noise.is_some()));
        combine(x, None, cx, terms, cn, &mut noise);
        if self.lower_order_nums < c.solver_order {
            self.lower_order_nums += 1;
        }
        self.last_order = order;
        self.step += 1;
        Ok(())
    }

    /// The sigmas of the timesteps, without the final one (`scheduler.sigmas[:-1]`).
    pub fn sigmas(&self) -> &[f32] {
        self.table.sigmas()
    }

    /// The order of the last update (0 before the first).
    pub fn last_order(&self) -> usize {
        self.last_order
    }

    /// What the last `tell` did to the buffers, as coefficients (see [`crate::plan`]).
    #[cfg(feature = "plan")]
    pub fn last_ops(&self) -> &crate::plan::OpLog<T> {
        &self.log
    }
}

/// First-order update `x_t = cx x + a m + cn noise` (DDIM-equivalent); like every step
/// scalar here, computed in float32 with diffusers' formulas.
pub(crate) fn first_order(alg: AlgorithmType, t: Asl, s: Asl) -> (f32, f32, f32) {
    let h = t.lambda - s.lambda;
    let two = 2.0f32;
    match alg {
        AlgorithmType::DpmSolverPlusPlus => (t.sigma / s.sigma, -(t.alpha * (ex(-h) - 1.0)), 0.0),
        AlgorithmType::DpmSolver => (t.alpha / s.alpha, -(t.sigma * (ex(h) - 1.0)), 0.0),
        AlgorithmType::SdeDpmSolverPlusPlus => (
            t.sigma / s.sigma * ex(-h),
            t.alpha * (1.0 - ex(-two * h)),
            t.sigma * (1.0 - ex(-two * h)).sqrt(),
        ),
        AlgorithmType::SdeDpmSolver => (
            t.alpha / s.alpha,
            -two * (t.sigma * (ex(h) - 1.0)),
            t.sigma * (ex(two * h) - 1.0).sqrt(),
        ),
    }
}

/// The `(cx, A, cn)` of the first-order part shared by the higher orders, and the `D1`
/// coefficient `B` of the second-order term for `solver_type`.
fn second_coeffs(
    alg: AlgorithmType,
    st: SolverType,
    t: Asl,
    s: Asl,
    h: f32,
) -> (f32, f32, f32, f32) {
    let (cx, a, cn) = first_order(alg, t, s);
    let two = 2.0f32;
    let half = 0.5f32;
    let b = match (alg, st) {
        (AlgorithmType::DpmSolverPlusPlus, SolverType::Midpoint)
        | (AlgorithmType::DpmSolver, SolverType::Midpoint)
        | (AlgorithmType::SdeDpmSolverPlusPlus, SolverType::Midpoint)
        | (AlgorithmType::SdeDpmSolver, SolverType::Midpoint) => half * a,
        (AlgorithmType::DpmSolverPlusPlus, SolverType::Heun) => {
            t.alpha * ((ex(-h) - 1.0) / h + 1.0)
        }
        (AlgorithmType::DpmSolver, SolverType::Heun) => -(t.sigma * ((ex(h) - 1.0) / h - 1.0)),
        (AlgorithmType::SdeDpmSolverPlusPlus, SolverType::Heun) => {
            t.alpha * ((1.0 - ex(-two * h)) / (-two * h) + 1.0)
        }
        (AlgorithmType::SdeDpmSolver, SolverType::Heun) => {
            -two * (t.sigma * ((ex(h) - 1.0) / h - 1.0))
        }
    };
    (cx, a, cn, b)
}

/// The third-order `D1` and `D2` coefficients (diffusers' heun-form third-order terms).
pub(crate) fn third_coeffs(alg: AlgorithmType, t: Asl, h: f32) -> (f32, f32) {
    let two = 2.0f32;
    let half = 0.5f32;
    match alg {
        AlgorithmType::DpmSolverPlusPlus => (
            t.alpha * ((ex(-h) - 1.0) / h + 1.0),
            -(t.alpha * ((ex(-h) - 1.0 + h) / (h * h) - half)),
        ),
        AlgorithmType::DpmSolver | AlgorithmType::SdeDpmSolver => (
            -(t.sigma * ((ex(h) - 1.0) / h - 1.0)),
            -(t.sigma * ((ex(h) - 1.0 - h) / (h * h) - half)),
        ),
        AlgorithmType::SdeDpmSolverPlusPlus => (
            t.alpha * ((1.0 - ex(-two * h)) / (-two * h) + 1.0),
            t.alpha * ((1.0 - ex(-two * h) - two * h) / ((two * h) * (two * h)) - half),
        ),
    }
}

/// Multistep second order: `x = cx x + A m0 + B D1 + cn noise`, `D1 = (1/r0) (m0 - m1)`, with
/// diffusers' float32 atoms `cx, A, B, 1/r0` combined in `T`.
fn second_order<T: Real>(
    alg: AlgorithmType,
    st: SolverType,
    t: Asl,
    s0: Asl,
    s1: Asl,
) -> (T, T, [T; 2]) {
    let h = t.lambda - s0.lambda;
    let r0 = (s0.lambda - s1.lambda) / h;
    let (cx, a, cn, b) = second_coeffs(alg, st, t, s0, h);
    let k = tc::<T>(b) * tc::<T>(1.0 / r0);
    (tc(cx), tc(cn), [tc::<T>(a) + k, -k])
}

/// Multistep third order: `x = cx x + A D0 + B D1 + C D2 + cn noise` with diffusers'
/// `D1_0 = (1/r0)(m0 - m1)`, `D1_1 = (1/r1)(m1 - m2)`, `D1 = D1_0 + r0/(r0 + r1) (D1_0 - D1_1)`,
/// `D2 = 1/(r0 + r1) (D1_0 - D1_1)`, expanded in `m0, m1, m2` (float32 atoms, `T` combination).
fn third_order<T: Real>(alg: AlgorithmType, t: Asl, s0: Asl, s1: Asl, s2: Asl) -> (T, T, [T; 3]) {
    let h = t.lambda - s0.lambda;
    let r0 = (s0.lambda - s1.lambda) / h;
    let r1 = (s1.lambda - s2.lambda) / h;
    let (cx, a, cn) = first_order(alg, t, s0);
    let (b, cc) = third_coeffs(alg, t, h);
    let (b, cc, a) = (tc::<T>(b), tc::<T>(cc), tc::<T>(a));
    let k = tc::<T>(r0 / (r0 + r1));
    let inv = tc::<T>(1.0 / (r0 + r1));
    let (i0, i1) = (tc::<T>(1.0 / r0), tc::<T>(1.0 / r1));
    // D1_0 carries B + e, D1_1 carries -e.
    let e = b * k + cc * inv;
    (
        tc(cx),
        tc(cn),
        [a + (b + e) * i0, -((b + e) * i0) - e * i1, e * i1],
    )
}
