//! [`Scheduler`]: any of the five schedulers behind one type, chosen at run time from a
//! [`SchedulerConfig`] (a `scheduler_config.json`'s `_class_name`), for callers such as the
//! wasm bindings and the demo pipeline that take the scheduler as data.

use super::config::SchedulerConfig;
use super::{
    DDIMScheduler, DPMSolverMultistepScheduler, DPMSolverSinglestepScheduler,
    FlowMatchEulerDiscreteScheduler, Request, UniPCMultistepScheduler,
};
use crate::error::Result;
use crate::math::Real;
#[cfg(feature = "rng")]
use crate::rng::NoiseRng;

/// One of the five diffusers schedulers.
///
/// `A` is the storage of the `alphas_cumprod` table, `B` that of `x` and the scratch buffer:
/// borrowed slices by default ([`new`](Self::new): no allocation), or owners of them such as
/// `Vec` ([`with_buffers`](Self::with_buffers); the result comes back by
/// [`into_x`](Self::into_x)). No variant keeps a borrow of the configuration, so with owned `A`
/// and `B` the scheduler borrows nothing (`Scheduler<'static, f32, N, Vec<f32>, Vec<f32>>`
/// from a short-lived [`SchedulerConfig`]).
#[derive(Debug)]
pub enum Scheduler<'a, T, const MAX_STEPS: usize, A = &'a mut [f32], B = &'a mut [T]> {
    /// `DPMSolverMultistepScheduler`.
    DPMSolverMultistep(DPMSolverMultistepScheduler<'a, T, MAX_STEPS, A, B>),
    /// `DPMSolverSinglestepScheduler`.
    DPMSolverSinglestep(DPMSolverSinglestepScheduler<'a, T, MAX_STEPS, A, B>),
    /// `UniPCMultistepScheduler`.
    UniPCMultistep(UniPCMultistepScheduler<'a, T, MAX_STEPS, A, B>),
    /// `DDIMScheduler`.
    DDIM(DDIMScheduler<'a, T, MAX_STEPS, A, B>),
    /// `FlowMatchEulerDiscreteScheduler` (no table and no scratch: those buffers are dropped
    /// at construction).
    FlowMatchEulerDiscrete(FlowMatchEulerDiscreteScheduler<'a, T, MAX_STEPS, B>),
}

/// Forwards `$call` to whichever scheduler `$s` holds.
macro_rules! each {
    ($s:expr, $v:ident => $call:expr) => {
        match $s {
            Scheduler::DPMSolverMultistep($v) => $call,
            Scheduler::DPMSolverSinglestep($v) => $call,
            Scheduler::UniPCMultistep($v) => $call,
            Scheduler::DDIM($v) => $call,
            Scheduler::FlowMatchEulerDiscrete($v) => $call,
        }
    };
}

impl<'a, T: Real, const M: usize> Scheduler<'a, T, M> {
    /// Builds the configured scheduler with `num_inference_steps` steps; buffers as for the
    /// individual types (`table`: `num_train_timesteps` elements, `scratch`:
    /// [`SchedulerConfig::scratch_len`]).
    pub fn new(
        config: &SchedulerConfig<'a>,
        num_inference_steps: usize,
        table: &'a mut [f32],
        x: &'a mut [T],
        scratch: &'a mut [T],
    ) -> Result<Self> {
        Self::with_buffers(config, num_inference_steps, table, x, scratch)
    }
}

impl<'a, T, const M: usize, A, B> Scheduler<'a, T, M, A, B>
where
    T: Real,
    A: AsRef<[f32]> + AsMut<[f32]>,
    B: AsRef<[T]> + AsMut<[T]>,
{
    /// [`new`](Scheduler::new) over buffers of any storage (`Vec`, boxed slices, arrays...),
    /// which the scheduler keeps; the configuration (its lists included) is read here only.
    pub fn with_buffers(
        config: &SchedulerConfig<'_>,
        num_inference_steps: usize,
        table: A,
        x: B,
        scratch: B,
    ) -> Result<Self> {
        let n = num_inference_steps;
        Ok(match config {
            SchedulerConfig::DPMSolverMultistep(c) => Scheduler::DPMSolverMultistep(
                DPMSolverMultistepScheduler::with_buffers(c, n, table, x, scratch)?,
            ),
            SchedulerConfig::DPMSolverSinglestep(c) => Scheduler::DPMSolverSinglestep(
                DPMSolverSinglestepScheduler::with_buffers(c, n, table, x, scratch)?,
            ),
            SchedulerConfig::UniPCMultistep(c) => Scheduler::UniPCMultistep(
                UniPCMultistepScheduler::with_buffers(c, n, table, x, scratch)?,
            ),
            SchedulerConfig::DDIM(c) => {
                Scheduler::DDIM(DDIMScheduler::with_buffers(c, n, table, x, scratch)?)
            }
            SchedulerConfig::FlowMatchEulerDiscrete(c) => {
                let _ = (table, scratch); // no alphas_cumprod, no history
                Scheduler::FlowMatchEulerDiscrete(FlowMatchEulerDiscreteScheduler::with_buffers(
                    c, n, x,
                )?)
            }
        })
    }

    /// Ends the scheduler and hands back `x` (the result once [`ask`](Self::ask) returns
    /// `None`).
    pub fn into_x(self) -> B {
        each!(self, s => s.into_x())
    }

    /// The next evaluation, or `None` when sampling is done.
    pub fn ask(&self) -> Option<Request<'_, T>> {
        each!(self, s => s.ask())
    }

    /// Advances one step with the network's output (the SDE variants refuse: they need
    /// [`tell_noise`](Self::tell_noise) or `tell_rng`).
    pub fn tell(&mut self, model_output: &[T]) -> Result<()> {
        each!(self, s => s.tell(model_output))
    }

    /// As [`tell`](Self::tell), with one standard normal per element of `x` for the SDE
    /// variants (ignored by the deterministic schedulers).
    pub fn tell_noise(&mut self, model_output: &[T], noise: &[T]) -> Result<()> {
        match self {
            Scheduler::DPMSolverMultistep(s) => s.tell_noise(model_output, noise),
            Scheduler::DPMSolverSinglestep(s) => s.tell_noise(model_output, noise),
            Scheduler::UniPCMultistep(s) => s.tell(model_output),
            Scheduler::DDIM(s) => s.tell(model_output),
            Scheduler::FlowMatchEulerDiscrete(s) => s.tell_noise(model_output, noise),
        }
    }

    /// As [`tell`](Self::tell), drawing the SDE variants' noise from `rng`.
    #[cfg(feature = "rng")]
    pub fn tell_rng(&mut self, model_output: &[T], rng: &mut NoiseRng) -> Result<()> {
        match self {
            Scheduler::DPMSolverMultistep(s) => s.tell_rng(model_output, rng),
            Scheduler::DPMSolverSinglestep(s) => s.tell_rng(model_output, rng),
            Scheduler::UniPCMultistep(s) => s.tell(model_output),
            Scheduler::DDIM(s) => s.tell(model_output),
            Scheduler::FlowMatchEulerDiscrete(s) => s.tell_rng(model_output, rng),
        }
    }

    /// What the last `tell` did to the buffers, as coefficients (see [`crate::plan`]).
    #[cfg(feature = "plan")]
    pub fn last_ops(&self) -> &crate::plan::OpLog<T> {
        each!(self, s => s.last_ops())
    }

    /// The current sample (the result once [`ask`](Self::ask) returns `None`).
    pub fn x(&self) -> &[T] {
        each!(self, s => s.x())
    }

    /// The integer timesteps (`scheduler.timesteps`).
    pub fn timesteps(&self) -> &[i64] {
        each!(self, s => s.timesteps())
    }

    /// `alphas_cumprod` (float32, as diffusers holds it; empty for FlowMatchEuler).
    pub fn alphas_cumprod(&self) -> &[f32] {
        each!(self, s => s.alphas_cumprod())
    }

    /// The timesteps as the network receives them (floats; FlowMatchEuler's are not integers).
    pub fn times(&self) -> &[f32] {
        each!(self, s => s.times())
    }

    /// diffusers' whole `sigmas` array, the final sigma included (float32).
    pub fn sigmas_with_final(&self) -> impl Iterator<Item = f32> + '_ {
        (0..=self.times().len()).map(move |i| self.sigma_at(i))
    }

    /// diffusers' `sigmas[i]` (`i` = number of steps: the final sigma).
    pub fn sigma_at(&self, i: usize) -> f32 {
        each!(self, s => s.sigma_at(i))
    }

    /// Whether the scheduler runs on flow sigmas (`alpha = 1 - sigma`).
    pub fn is_flow(&self) -> bool {
        each!(self, s => s.is_flow())
    }

    /// `(alpha_t, sigma_t)` at step `i` as the scheduler's update uses them: from the flow
    /// sigma (`1 - s`, `s`) or the VP one (`(1, s) / sqrt(1 + s^2)`).
    pub fn alpha_sigma_at(&self, i: usize) -> (f32, f32) {
        each!(self, s => s.alpha_sigma_at(i))
    }

    /// Steps taken so far (one model evaluation each).
    pub fn step_index(&self) -> usize {
        each!(self, s => s.step_index())
    }

    /// The order of the last update (0 before the first; DDIM: 1).
    pub fn last_order(&self) -> usize {
        let i = self.step_index();
        match self {
            Scheduler::DPMSolverMultistep(s) => s.last_order(),
            Scheduler::DPMSolverSinglestep(s) => i.checked_sub(1).map_or(0, |j| s.order_at(j)),
            Scheduler::UniPCMultistep(s) => s.last_order(),
            Scheduler::DDIM(_) | Scheduler::FlowMatchEulerDiscrete(_) => usize::from(i > 0),
        }
    }

    /// `(alpha_t, sigma_t)` of an integer timestep: `sqrt(alphas_cumprod[t])` and
    /// `sqrt(1 - alphas_cumprod[t])`, as float32 tensors give them.
    pub fn alpha_sigma(&self, timestep: i64) -> Option<(f32, f32)> {
        let a = *self.alphas_cumprod().get(usize::try_from(timestep).ok()?)?;
        Some((Real::sqrt(a), Real::sqrt(1.0 - a)))
    }
}
