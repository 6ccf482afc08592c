//! `UniPCMultistepScheduler`: UniPC (Zhao et al. 2023), the multistep predictor UniP with the
//! corrector UniC applied to each new model output, `B(h)` of type bh1 or bh2.
//!
//! Scratch: `(solver_order + 1) * x.len()` (the ring of converted outputs; one slot more than
//! the order because the corrector still reads the oldest one when the new output arrives),
//! `x.len()` (the last sample, for the corrector) and, with `thresholding`, one row
//! `x.len() / batch`.

use super::flow::{unipc_flow_sigmas, FlowOptions};
use super::kernel::{combine, convert, exm1, tc, Asl, Noise};
use super::threshold::ThresholdKeys;
use super::timesteps::StepTable;
use super::train::{TrainConfig, TrainSchedule};
use super::{FinalSigmasType, PredictionType, Request, TimestepSpacing, UniPCSolverType};
use crate::error::{check_buffers, check_input, Buffer, Error, Result};
use crate::history::History;
use crate::math::Real;
use core::marker::PhantomData;

/// The highest `solver_order` supported.
pub const UNIPC_MAX_ORDER: usize = 4;

/// `UniPCMultistepScheduler`'s configuration, by diffusers' names (defaults: diffusers').
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct UniPCMultistepConfig<'b> {
    /// `num_train_timesteps`, `beta_start`, `beta_end`, `beta_schedule`, `trained_betas`,
    /// `rescale_betas_zero_snr`.
    pub train: TrainConfig<'b>,
    /// `solver_order`: 1 to [`UNIPC_MAX_ORDER`] (default 2).
    pub solver_order: usize,
    /// `prediction_type` (default epsilon).
    pub prediction_type: PredictionType,
    /// `thresholding` (default false; only with `predict_x0`).
    pub thresholding: bool,
    /// `dynamic_thresholding_ratio` (default 0.995).
    pub dynamic_thresholding_ratio: f64,
    /// `sample_max_value` (default 1.0).
    pub sample_max_value: f64,
    /// `predict_x0` (default true): UniPC on the data prediction, else on the noise.
    pub predict_x0: bool,
    /// `solver_type`: bh1 or bh2 (default).
    pub solver_type: UniPCSolverType,
    /// `lower_order_final` (default true; at any step count).
    pub lower_order_final: bool,
    /// `disable_corrector`: step indices whose output is not corrected (default none).
    pub disable_corrector: &'b [usize],
    /// `use_karras_sigmas` (default false).
    pub use_karras_sigmas: bool,
    /// `timestep_spacing` (default linspace).
    pub timestep_spacing: TimestepSpacing,
    /// `steps_offset` (default 0).
    pub steps_offset: i64,
    /// `final_sigmas_type` (default zero).
    pub final_sigmas_type: FinalSigmasType,
    /// `use_flow_sigmas`, `flow_shift`, `use_dynamic_shifting`, `time_shift_type`, `shift_terminal` and
    /// `set_timesteps`' `mu` (flow-matching models).
    pub flow: FlowOptions,
    /// Not a diffusers option: the number of samples in `x` (rows for thresholding; default 1).
    pub batch: usize,
}

impl Default for UniPCMultistepConfig<'_> {
    fn default() -> Self {
        UniPCMultistepConfig {
            train: TrainConfig::default(),
            solver_order: 2,
            prediction_type: PredictionType::Epsilon,
            thresholding: false,
            dynamic_thresholding_ratio: 0.995,
            sample_max_value: 1.0,
            predict_x0: true,
            solver_type: UniPCSolverType::Bh2,
            lower_order_final: true,
            disable_corrector: &[],
            use_karras_sigmas: false,
            timestep_spacing: TimestepSpacing::Linspace,
            steps_offset: 0,
            final_sigmas_type: FinalSigmasType::Zero,
            flow: FlowOptions::default(),
            batch: 1,
        }
    }
}

impl UniPCMultistepConfig<'_> {
    /// This configuration without its lists (`trained_betas`, in the table once built, and
    /// `disable_corrector`, kept by the scheduler as a mask): what the scheduler stores.
    pub(crate) fn detached(&self) -> UniPCMultistepConfig<'static> {
        UniPCMultistepConfig {
            train: self.train.detached(),
            solver_order: self.solver_order,
            prediction_type: self.prediction_type,
            thresholding: self.thresholding,
            dynamic_thresholding_ratio: self.dynamic_thresholding_ratio,
            sample_max_value: self.sample_max_value,
            predict_x0: self.predict_x0,
            solver_type: self.solver_type,
            lower_order_final: self.lower_order_final,
            disable_corrector: &[],
            use_karras_sigmas: self.use_karras_sigmas,
            timestep_spacing: self.timestep_spacing,
            steps_offset: self.steps_offset,
            final_sigmas_type: self.final_sigmas_type,
            flow: self.flow,
            batch: self.batch,
        }
    }

    /// Scratch elements needed for a sample of `n` elements (the thresholding row only with
    /// `thresholding`).
    pub fn scratch_len(&self, n: usize) -> usize {
        (self.solver_order.max(1).saturating_add(2))
            .saturating_mul(n)
            .saturating_add(self.threshold().scratch_len(n))
    }

    /// The thresholding keys (applied with `predict_x0` only, as diffusers does).
    pub(crate) fn threshold(&self) -> ThresholdKeys {
        ThresholdKeys {
            on: self.thresholding,
            ratio: self.dynamic_thresholding_ratio,
            max: self.sample_max_value,
            batch: self.batch,
        }
    }
}

/// diffusers' `UniPCMultistepScheduler` over caller buffers; `MAX_STEPS` bounds the number of
/// inference steps.
///
/// Storage `A` (the table) and `B` (`x`, scratch): borrowed slices by default
/// ([`new`](Self::new)) or owners of them ([`with_buffers`](Self::with_buffers), handed back by
/// [`into_buffers`](Self::into_buffers)), as for
/// [`DPMSolverMultistepScheduler`](super::DPMSolverMultistepScheduler); it keeps no borrow of
/// its configuration.
#[derive(Debug)]
pub struct UniPCMultistepScheduler<
    'a,
    T,
    const MAX_STEPS: usize,
    A = &'a mut [f32],
    B = &'a mut [T],
> {
    config: UniPCMultistepConfig<'static>,
    /// `disable_corrector` as a mask over the steps (an index past them never applies).
    corrector_off: [bool; MAX_STEPS],
    alphas: A,
    n_train: usize,
    table: StepTable<MAX_STEPS>,
    x: B,
    scratch: B,
    ring: History,
    step: usize,
    lower_order_nums: usize,
    this_order: usize,
    has_last: bool,
    /// The operations of the last `tell`, as coefficients (see [`crate::plan`]).
    #[cfg(feature = "plan")]
    log: crate::plan::OpLog<T>,
    /// The borrow of the default storage, and `T` where no field holds one (without `plan`).
    borrow: PhantomData<(&'a (), T)>,
}

impl<'a, T: Real, const M: usize> UniPCMultistepScheduler<'a, T, M> {
    /// `__init__` plus `set_timesteps(num_inference_steps)`; buffers as for
    /// [`DPMSolverMultistepScheduler::new`](super::DPMSolverMultistepScheduler::new), scratch
    /// [`UniPCMultistepConfig::scratch_len`].
    pub fn new(
        config: &UniPCMultistepConfig<'a>,
        num_inference_steps: usize,
        table: &'a mut [f32],
        x: &'a mut [T],
        scratch: &'a mut [T],
    ) -> Result<Self> {
        Self::with_buffers(config, num_inference_steps, table, x, scratch)
    }
}

impl<'a, T, const M: usize, A, B> UniPCMultistepScheduler<'a, T, M, A, B>
where
    T: Real,
    A: AsRef<[f32]> + AsMut<[f32]>,
    B: AsRef<[T]> + AsMut<[T]>,
{
    /// [`new`](UniPCMultistepScheduler::new) over buffers of any storage, which the
    /// scheduler keeps until [`into_buffers`](Self::into_buffers). The configuration's lists
    /// are read here only.
    pub fn with_buffers(
        config: &UniPCMultistepConfig<'_>,
        num_inference_steps: usize,
        mut table: A,
        x: B,
        scratch: B,
    ) -> Result<Self> {
        let len = x.as_ref().len();
        if !(1..=UNIPC_MAX_ORDER).contains(&config.solver_order) {
            return Err(Error::InvalidConfig("UniPC solver_order must lie in 1..=4"));
        }
        config.threshold().check()?;
        config
            .flow
            .validate(true, config.predict_x0, config.prediction_type)?;
        if config.flow.use_flow_sigmas && config.use_karras_sigmas {
            return Err(Error::InvalidConfig(
                "use_karras_sigmas with use_flow_sigmas is not implemented here",
            ));
        }
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
        check_final_step(config, n)?;
        let train = TrainSchedule::new(&config.train, true, table.as_mut())?;
        let n_train = train.len();
        let mut steps = StepTable::empty();
        if config.use_karras_sigmas {
            steps.karras(&train, n, true)?;
            // UniPC ends Karras sigmas on their own last value for sigma_min.
            let last = match config.final_sigmas_type {
                FinalSigmasType::SigmaMin => steps.sigmas().last().copied().unwrap_or(0.0),
                FinalSigmasType::Zero => 0.0,
            };
            steps.set_last(last);
        } else if config.flow.use_flow_sigmas {
            let (f, nt) = (&config.flow, train.len());
            unipc_flow_sigmas(&mut steps, f, n, nt, config.final_sigmas_type)?;
        } else {
            let nt = train.len();
            steps.spaced(config.timestep_spacing, n, nt, nt, config.steps_offset)?;
            steps.interp_sigmas(&train);
            steps.set_last(StepTable::<M>::final_sigma(
                &train,
                config.final_sigmas_type,
            ));
        }
        steps.check_range(train.len())?;
        let ring = History::new(config.solver_order + 1, len);
        let mut corrector_off = [false; M];
        for &i in config.disable_corrector {
            if let Some(off) = corrector_off.get_mut(i) {
                *off = true;
            }
        }
        Ok(UniPCMultistepScheduler {
            config: config.detached(),
            corrector_off,
            alphas: table,
            n_train,
            table: steps,
            x,
            scratch,
            ring,
            step: 0,
            lower_order_nums: 0,
            this_order: 1,
            has_last: false,
            #[cfg(feature = "plan")]
            log: crate::plan::OpLog::default(),
            borrow: PhantomData,
        })
    }

    scheduler_front!();

    /// Corrects the current sample with the network's output at it (UniC), then predicts the
    /// next one (UniP).
    pub fn tell(&mut self, model_output: &[T]) -> Result<()> {
        let len = self.table.len();
        let i = self.step;
        if i >= len {
            return Err(Error::Finished);
        }
        let n = self.x.as_ref().len();
        check_input(Buffer::ModelOutput, n, model_output)?;
        let c = self.config;
        let use_corrector = i > 0 && !self.corrector_off[i - 1] && self.has_last;
        let s_now = self.table.asl(i);
        // Everything that can fail comes before the first change of state, so a call that
        // returns an error leaves the scheduler as it was (a retry cannot see a half-made step,
        // whose predictor order would exceed the corrector's history).
        let corrector = if use_corrector {
            let s0 = self.table.asl(i - 1);
            Some(UniStep::new(
                &c,
                &self.table,
                s_now,
                s0,
                i - 1,
                self.this_order,
                true,
            )?)
        } else {
            None
        };
        let this_order = if c.lower_order_final {
            c.solver_order.min(len - i)
        } else {
            c.solver_order
        };
        let this_order = this_order.min(self.lower_order_nums + 1).max(1);
        let predictor = UniStep::new(
            &c,
            &self.table,
            self.table.asl(i + 1),
            s_now,
            i,
            this_order,
            false,
        )?;
        self.ring.push();
        let slot = self.ring.range(0);
        let (x, scratch) = (self.x.as_mut(), self.scratch.as_mut());
        #[cfg(feature = "plan")]
        let names = super::kernel::Names::of(x, scratch);
        let (hist, rest) = scratch.split_at_mut(self.ring.elements());
        let (last, work) = rest.split_at_mut(n);
        {
            let dst = &mut hist[slot];
            let (al, si) = (tc::<T>(s_now.alpha), tc::<T>(s_now.sigma));
            #[cfg(feature = "plan")]
            {
                self.log.clear();
                let op = names.convert(c.prediction_type, c.predict_x0, al, si, dst);
                self.log.push(op);
            }
            convert(
                c.prediction_type,
                c.predict_x0,
                al,
                si,
                tc::<T>(self.table.sigma(i)),
                x,
                model_output,
                dst,
            );
            if c.predict_x0 && c.threshold().data(dst, work) {
                #[cfg(feature = "plan")]
                {
                    self.log.nonlinear = true;
                }
            }
        }
        let hist: &[T] = hist;
        let mut none = Noise::None;
        if let Some(st) = corrector {
            // UniC from the last sample at sigma[i-1] to sigma[i]: history entry 0 is this
            // output (model_t), entries 1.. the outputs before it (m0 at sigma[i-1], ...).
            let order = self.this_order;
            let m0 = &hist[self.ring.range(1)];
            let mt = &hist[self.ring.range(0)];
            let f = tc::<T>(st.f);
            let rho_last = tc::<T>(st.rhos[order - 1]);
            let mut terms: [(T, &[T]); UNIPC_MAX_ORDER + 1] = [(T::ZERO, m0); UNIPC_MAX_ORDER + 1];
            let mut c_m0 = -tc::<T>(st.scale_h_phi_1) + f * rho_last;
            for k in 1..order {
                let ck = -(f * (tc::<T>(st.rhos[k - 1]) / tc::<T>(st.rks[k - 1])));
                terms[k] = (ck, &hist[self.ring.range(k + 1)]);
                c_m0 -= ck;
            }
            terms[0] = (c_m0, m0);
            terms[order] = (-(f * rho_last), mt);
            let terms = &terms[..order + 1];
            #[cfg(feature = "plan")]
            self.log
                .push(names.combine(Some(&*last), tc(st.cx), terms, T::ZERO, false));
            combine(x, Some(&*last), tc(st.cx), terms, T::ZERO, &mut none);
        }
        self.this_order = this_order;
        last.copy_from_slice(x);
        #[cfg(feature = "plan")]
        {
            use crate::plan::{Buf, Op};
            self.log.push(Op::new(names.buf(last)).term(Buf::X, T::ONE));
        }
        self.has_last = true;

        // UniP from sigma[i] to sigma[i+1]; history entry 0 is this step's output.
        let order = self.this_order;
        let st = predictor;
        let m0 = &hist[self.ring.range(0)];
        let f = tc::<T>(st.f);
        let mut terms: [(T, &[T]); UNIPC_MAX_ORDER + 1] = [(T::ZERO, m0); UNIPC_MAX_ORDER + 1];
        let mut c_m0 = -tc::<T>(st.scale_h_phi_1);
        for k in 1..order {
            let ck = -(f * (tc::<T>(st.rhos[k - 1]) / tc::<T>(st.rks[k - 1])));
            terms[k] = (ck, &hist[self.ring.range(k)]);
            c_m0 -= ck;
        }
        terms[0] = (c_m0, m0);
        #[cfg(feature = "plan")]
        self.log
            .push(names.combine(None, tc(st.cx), &terms[..order], T::ZERO, false));
        combine(x, None, tc(st.cx), &terms[..order], T::ZERO, &mut none);

        if self.lower_order_nums < c.solver_order {
            self.lower_order_nums += 1;
        }
        self.step += 1;
        self.check_step()
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

    /// The order of the last predictor update (0 before the first).
    pub fn last_order(&self) -> usize {
        if self.step == 0 {
            0
        } else {
            self.this_order
        }
    }
}

/// Refuses the combinations whose last step to `final_sigmas_type = zero` cannot be finite
/// (diffusers computes NaN for them too): there `sigma = 0`, so `lambda = inf` and `h = inf`.
/// With `predict_x0 = false` the update multiplies `sigma_t = 0` by `expm1(h) = inf`; with
/// `lower_order_final = false` a last step of order >= 2 divides by `r_k = h_k / h = 0`.
fn check_final_step(c: &UniPCMultistepConfig<'_>, steps: usize) -> Result<()> {
    if c.final_sigmas_type != FinalSigmasType::Zero {
        return Ok(());
    }
    if !c.predict_x0 {
        return Err(Error::InvalidConfig(
            "UniPC predict_x0 = false cannot step to final_sigmas_type zero (0 * inf, NaN in \
             diffusers too): use final_sigmas_type sigma_min",
        ));
    }
    if !c.lower_order_final && c.solver_order >= 2 && steps >= 2 {
        return Err(Error::InvalidConfig(
            "UniPC lower_order_final = false with solver_order >= 2 cannot step to \
             final_sigmas_type zero (its last multistep update divides by zero, NaN in diffusers \
             too): set lower_order_final true or final_sigmas_type sigma_min",
        ));
    }
    Ok(())
}

/// The float32 scalars of one UniP or UniC update from `s0` (step `i0`) to `t`:
/// `x_t = cx x - scale h_phi_1 m0 - f sum_k rho_k D_k` with `f = scale B(h)`,
/// `D_k = (m_k - m0) / r_k` (and for UniC a last term `rho_last (model_t - m0)`).
struct UniStep {
    cx: f32,
    scale_h_phi_1: f32,
    f: f32,
    rks: [f32; UNIPC_MAX_ORDER + 1],
    rhos: [f32; UNIPC_MAX_ORDER + 1],
}

impl UniStep {
    fn new<const M: usize>(
        c: &UniPCMultistepConfig<'_>,
        table: &StepTable<M>,
        t: Asl,
        s0: Asl,
        i0: usize,
        order: usize,
        corrector: bool,
    ) -> Result<Self> {
        let h = t.lambda - s0.lambda;
        let mut rks = [0.0f32; UNIPC_MAX_ORDER + 1];
        for k in 1..order {
            let sk = table.asl(i0 - k);
            rks[k - 1] = (sk.lambda - s0.lambda) / h;
        }
        rks[order - 1] = 1.0;
        let hh = if c.predict_x0 { -h } else { h };
        let h_phi_1 = exm1(hh);
        let mut h_phi_k = h_phi_1 / hh - 1.0;
        let b_h = match c.solver_type {
            UniPCSolverType::Bh1 => hh,
            UniPCSolverType::Bh2 => exm1(hh),
        };
        let mut b = [0.0f32; UNIPC_MAX_ORDER + 1];
        let mut factorial = 1.0f64;
        for (i, bi) in b.iter_mut().enumerate().take(order) {
            *bi = h_phi_k * factorial as f32 / b_h;
            factorial *= (i + 2) as f64;
            h_phi_k = h_phi_k / hh - (1.0 / factorial) as f32;
        }
        let mut rhos = [0.0f32; UNIPC_MAX_ORDER + 1];
        if corrector {
            if order == 1 {
                rhos[0] = 0.5;
            } else {
                solve(&rks[..order], &b[..order], &mut rhos[..order])?;
            }
        } else if order == 2 {
            rhos[0] = 0.5;
        } else if order > 2 {
            solve(&rks[..order - 1], &b[..order - 1], &mut rhos[..order - 1])?;
        }
        let (cx, scale) = if c.predict_x0 {
            (t.sigma / s0.sigma, t.alpha)
        } else {
            (t.alpha / s0.alpha, t.sigma)
        };
        Ok(UniStep {
            cx,
            scale_h_phi_1: scale * h_phi_1,
            f: scale * b_h,
            rks,
            rhos,
        })
    }
}

/// Solves `R rho = b` with `R[i][k] = r_k^i` (a Vandermonde system, `k = rks.len() <= 5`) by
/// Gaussian elimination with partial pivoting.
fn solve<T: Real>(rks: &[T], b: &[T], out: &mut [T]) -> Result<()> {
    const N: usize = UNIPC_MAX_ORDER + 1;
    let k = rks.len();
    let mut a = [[T::ZERO; N + 1]; N];
    for i in 0..k {
        for (j, &r) in rks.iter().enumerate() {
            let mut p = T::ONE;
            for _ in 0..i {
                p *= r;
            }
            a[i][j] = p;
        }
        a[i][k] = b[i];
    }
    for col in 0..k {
        let mut piv = col;
        for row in col + 1..k {
            if a[row][col].abs() > a[piv][col].abs() {
                piv = row;
            }
        }
        if !(a[piv][col].abs() > T::ZERO) {
            return Err(Error::InvalidConfig(
                "UniPC order conditions are singular (repeated timesteps?)",
            ));
        }
        a.swap(col, piv);
        for row in col + 1..k {
            let f = a[row][col] / a[col][col];
            let pivot_row = a[col];
            for (dst, &v) in a[row]
                .iter_mut()
                .zip(pivot_row.iter())
                .skip(col)
                .take(k + 1 - col)
            {
                *dst -= f * v;
            }
        }
    }
    for i in (0..k).rev() {
        let mut s = a[i][k];
        for j in i + 1..k {
            s -= a[i][j] * out[j];
        }
        out[i] = s / a[i][i];
    }
    Ok(())
}
