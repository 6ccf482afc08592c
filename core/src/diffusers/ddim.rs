//! `DDIMScheduler` with `eta = 0` (deterministic DDIM), as diffusers steps it: the previous
//! timestep is always `t - num_train_timesteps // num_inference_steps` (whatever the spacing),
//! and `final_alpha_cumprod` is 1 (`set_alpha_to_one`) or `alphas_cumprod[0]`.
//!
//! Scratch: `x.len()` (the clipped or thresholded `x_0`) plus, with `thresholding`, one row
//! `x.len() / batch`.

use super::kernel::{convert, convert_one};
use super::threshold::ThresholdKeys;
use super::timesteps::StepTable;
use super::train::{TrainConfig, TrainSchedule};
use super::{PredictionType, Request, TimestepSpacing};
use crate::error::{check_buffers, check_input, Buffer, Error, Result};
use crate::math::{cmath, Real};
use core::marker::PhantomData;

/// `DDIMScheduler`'s configuration, by diffusers' names (defaults: diffusers').
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DDIMConfig<'b> {
    /// `num_train_timesteps`, `beta_start`, `beta_end`, `beta_schedule`, `trained_betas`,
    /// `rescale_betas_zero_snr`.
    pub train: TrainConfig<'b>,
    /// `clip_sample` (default **true**): clamp `x_0` to `[-clip_sample_range, clip_sample_range]`.
    pub clip_sample: bool,
    /// `clip_sample_range` (default 1.0).
    pub clip_sample_range: f64,
    /// `set_alpha_to_one` (default true).
    pub set_alpha_to_one: bool,
    /// `steps_offset` (default 0).
    pub steps_offset: i64,
    /// `prediction_type` (default epsilon).
    pub prediction_type: PredictionType,
    /// `thresholding` (default false; takes precedence over `clip_sample`).
    pub thresholding: bool,
    /// `dynamic_thresholding_ratio` (default 0.995).
    pub dynamic_thresholding_ratio: f64,
    /// `sample_max_value` (default 1.0).
    pub sample_max_value: f64,
    /// `timestep_spacing` (default **leading** for DDIM).
    pub timestep_spacing: TimestepSpacing,
    /// Not a diffusers option: the number of samples in `x` (rows for thresholding; default 1).
    pub batch: usize,
}

impl Default for DDIMConfig<'_> {
    fn default() -> Self {
        DDIMConfig {
            train: TrainConfig::default(),
            clip_sample: true,
            clip_sample_range: 1.0,
            set_alpha_to_one: true,
            steps_offset: 0,
            prediction_type: PredictionType::Epsilon,
            thresholding: false,
            dynamic_thresholding_ratio: 0.995,
            sample_max_value: 1.0,
            timestep_spacing: TimestepSpacing::Leading,
            batch: 1,
        }
    }
}

impl DDIMConfig<'_> {
    /// This configuration without `trained_betas` (in the table once built): what the
    /// scheduler stores.
    pub(crate) fn detached(&self) -> DDIMConfig<'static> {
        DDIMConfig {
            train: self.train.detached(),
            clip_sample: self.clip_sample,
            clip_sample_range: self.clip_sample_range,
            set_alpha_to_one: self.set_alpha_to_one,
            steps_offset: self.steps_offset,
            prediction_type: self.prediction_type,
            thresholding: self.thresholding,
            dynamic_thresholding_ratio: self.dynamic_thresholding_ratio,
            sample_max_value: self.sample_max_value,
            timestep_spacing: self.timestep_spacing,
            batch: self.batch,
        }
    }

    /// Scratch elements needed for a sample of `n` elements (the thresholding row only with
    /// `thresholding`).
    pub fn scratch_len(&self, n: usize) -> usize {
        n.saturating_add(self.threshold().scratch_len(n))
    }

    /// The thresholding keys (taking precedence over `clip_sample`).
    pub(crate) fn threshold(&self) -> ThresholdKeys {
        ThresholdKeys {
            on: self.thresholding,
            ratio: self.dynamic_thresholding_ratio,
            max: self.sample_max_value,
            batch: self.batch,
        }
    }
}

/// diffusers' `DDIMScheduler` (eta 0) over caller buffers; `MAX_STEPS` bounds the number of
/// inference steps.
///
/// Storage `A` (the table) and `B` (`x`, scratch): borrowed slices by default
/// ([`new`](Self::new)) or owners of them ([`with_buffers`](Self::with_buffers), handed back by
/// [`into_buffers`](Self::into_buffers)), as for
/// [`DPMSolverMultistepScheduler`](super::DPMSolverMultistepScheduler); it keeps no borrow of
/// its configuration.
#[derive(Debug)]
pub struct DDIMScheduler<'a, T, const MAX_STEPS: usize, A = &'a mut [f32], B = &'a mut [T]> {
    config: DDIMConfig<'static>,
    alphas: A,
    n_train: usize,
    table: StepTable<MAX_STEPS>,
    x: B,
    scratch: B,
    num_inference_steps: usize,
    step: usize,
    /// The operations of the last `tell`, as coefficients (see [`crate::plan`]).
    #[cfg(feature = "plan")]
    log: crate::plan::OpLog<T>,
    /// The borrow of the default storage, and `T` where no field holds one (without `plan`).
    borrow: PhantomData<(&'a (), T)>,
}

impl<'a, T: Real, const M: usize> DDIMScheduler<'a, T, M> {
    /// `__init__` plus `set_timesteps(num_inference_steps)`: `table` receives `alphas_cumprod`,
    /// `x` holds `x_T`, `scratch` needs [`DDIMConfig::scratch_len`] elements.
    pub fn new(
        config: &DDIMConfig<'a>,
        num_inference_steps: usize,
        table: &'a mut [f32],
        x: &'a mut [T],
        scratch: &'a mut [T],
    ) -> Result<Self> {
        Self::with_buffers(config, num_inference_steps, table, x, scratch)
    }
}

impl<'a, T, const M: usize, A, B> DDIMScheduler<'a, T, M, A, B>
where
    T: Real,
    A: AsRef<[f32]> + AsMut<[f32]>,
    B: AsRef<[T]> + AsMut<[T]>,
{
    /// [`new`](DDIMScheduler::new) over buffers of any storage, which the
    /// scheduler keeps until [`into_buffers`](Self::into_buffers). The configuration's lists
    /// are read here only.
    pub fn with_buffers(
        config: &DDIMConfig<'_>,
        num_inference_steps: usize,
        mut table: A,
        x: B,
        scratch: B,
    ) -> Result<Self> {
        let len = x.as_ref().len();
        config.threshold().check()?;
        if config.prediction_type == PredictionType::FlowPrediction {
            return Err(Error::InvalidConfig(
                "DDIMScheduler has no flow_prediction (diffusers raises): use \
                 FlowMatchEulerDiscreteScheduler or a DPM-Solver/UniPC scheduler with \
                 use_flow_sigmas",
            ));
        }
        if config.clip_sample && !(config.clip_sample_range > 0.0) {
            return Err(Error::InvalidConfig("clip_sample_range must be positive"));
        }
        let n = num_inference_steps;
        check_buffers(
            x.as_ref(),
            scratch.as_ref(),
            config.batch,
            config.scratch_len(len),
        )?;
        let train = TrainSchedule::new(&config.train, false, table.as_mut())?;
        let n_train = train.len();
        if n == 0 || n > train.len() {
            return Err(Error::InvalidConfig(
                "num_inference_steps must lie in 1..=num_train_timesteps",
            ));
        }
        let mut steps = StepTable::empty();
        steps.spaced_ddim(config.timestep_spacing, n, train.len(), config.steps_offset)?;
        steps.check_range(train.len())?;
        Ok(DDIMScheduler {
            config: config.detached(),
            alphas: table,
            n_train,
            table: steps,
            x,
            scratch,
            num_inference_steps: n,
            step: 0,
            #[cfg(feature = "plan")]
            log: crate::plan::OpLog::default(),
            borrow: PhantomData,
        })
    }

    scheduler_front!();

    /// What the last `tell` did to the buffers, as coefficients (see [`crate::plan`]).
    #[cfg(feature = "plan")]
    pub fn last_ops(&self) -> &crate::plan::OpLog<T> {
        &self.log
    }

    /// One DDIM step (eta 0) with the network's output at the asked `(x, timestep)`.
    pub fn tell(&mut self, model_output: &[T]) -> Result<()> {
        let i = self.step;
        if i >= self.table.len() {
            return Err(Error::Finished);
        }
        let n = self.x.as_ref().len();
        check_input(Buffer::ModelOutput, n, model_output)?;
        let c = &self.config;
        let ac = TrainSchedule::stored(self.alphas.as_ref(), self.n_train).alphas_cumprod();
        let t = self.table.timesteps()[i];
        let prev = t.saturating_sub((ac.len() / self.num_inference_steps.max(1)) as i64);
        let a_t = ac.get(t as usize).copied().unwrap_or(1.0);
        let a_prev = if prev >= 0 {
            ac.get(prev as usize).copied().unwrap_or(1.0)
        } else if c.set_alpha_to_one {
            1.0
        } else {
            ac.first().copied().unwrap_or(1.0)
        };
        // diffusers: alpha_prod_t ** 0.5, beta_prod_t = 1 - alpha_prod_t (float32 scalars).
        let (sa, sb) = (cmath::sqrtf(a_t) as f64, cmath::sqrtf(1.0 - a_t) as f64);
        let (sp, bp) = (
            cmath::sqrtf(a_prev) as f64,
            cmath::sqrtf(1.0 - a_prev) as f64,
        );
        let (sa, sb, sp, bp) = (T::c(sa), T::c(sb), T::c(sp), T::c(bp));
        // The shared conversion at (sqrt(alpha_prod_t), sqrt(beta_prod_t)); flow_prediction
        // is refused in `new`. pred_epsilon comes from the unclipped output
        // (use_clipped_model_output = false).
        let p = c.prediction_type;
        #[cfg(feature = "plan")]
        {
            // Slot 0 = x_0 (clamped with clip_sample); x = sp x_0 + bp eps(x, output).
            use super::kernel::conversion_coeffs;
            use crate::plan::{Buf, Op};
            self.log.clear();
            let (a, b) = conversion_coeffs(c.prediction_type, true, sa, sb);
            let mut op = Op::new(Buf::Slot(0)).term(Buf::X, a).term(Buf::Output, b);
            if c.thresholding {
                self.log.nonlinear = true;
            } else if c.clip_sample {
                op.clamp = Some(T::c(c.clip_sample_range));
            }
            self.log.push(op);
            let (ea, eb) = conversion_coeffs(c.prediction_type, false, sa, sb);
            self.log.push(
                Op::new(Buf::X)
                    .term(Buf::Slot(0), sp)
                    .term(Buf::X, bp * ea)
                    .term(Buf::Output, bp * eb),
            );
        }
        let (x, scratch) = (self.x.as_mut(), self.scratch.as_mut());
        let (x0, work) = scratch.split_at_mut(n);
        convert(p, true, sa, sb, sb, x, model_output, x0);
        if !c.threshold().data(x0, work) && c.clip_sample {
            let r = T::c(c.clip_sample_range);
            for v in x0.iter_mut() {
                *v = v.max(-r).min(r);
            }
        }
        for ((xv, &d), &o) in x.iter_mut().zip(x0.iter()).zip(model_output) {
            *xv = sp * d + bp * convert_one(p, false, sa, sb, sb, *xv, o);
        }
        self.step += 1;
        self.check_step()
    }
}
