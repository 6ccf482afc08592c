//! `FlowMatchEulerDiscreteScheduler`: the Euler method on the flow-matching ODE
//! `dx/dsigma = v`, the default scheduler of flow models (SD3, Flux, Sana, ...), with diffusers
//! 0.42.1's sigmas: the training sigmas shifted once in `__init__` (float32, static shift), the
//! inference ones spaced between their ends and shifted again in float64 (static `shift`, or
//! `time_shift` of `mu` with `use_dynamic_shifting`), stretched to `shift_terminal`, optionally
//! Karras or exponential, stored in float32; the timesteps are `sigma * num_train_timesteps` as
//! float32 (not integers). `stochastic_sampling` draws noise each step (`tell_noise`).
//!
//! Scratch: none. The `table` argument of the constructors is not used (no `alphas_cumprod`).

use super::flow::{stretch, time_shift, TimeShiftType};
use super::kernel::Noise;
use super::timesteps::{np_linspace, StepTable};
use super::train::TrainConfig;
use super::Request;
use crate::error::{check_buffers, check_input, Buffer, Error, Result};
use crate::math::{cmath, Real};
#[cfg(feature = "rng")]
use crate::rng::NoiseRng;
use core::marker::PhantomData;

/// `FlowMatchEulerDiscreteScheduler`'s configuration, by diffusers' names (defaults:
/// diffusers').
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FlowMatchEulerDiscreteConfig<'b> {
    /// `num_train_timesteps` (default 1000); the beta fields are not used (diffusers' class
    /// has no betas: its config keys are ignored).
    pub train: TrainConfig<'b>,
    /// `shift` (default 1.0).
    pub shift: f64,
    /// `use_dynamic_shifting` (default false): shift with `mu` (required) instead.
    pub use_dynamic_shifting: bool,
    /// `time_shift_type` (default exponential).
    pub time_shift_type: TimeShiftType,
    /// `shift_terminal` (default `None`).
    pub shift_terminal: Option<f64>,
    /// `invert_sigmas` (default false; Mochi): sigmas `1 - sigma`, ending at 1.
    pub invert_sigmas: bool,
    /// `use_karras_sigmas` (default false).
    pub use_karras_sigmas: bool,
    /// `use_exponential_sigmas` (default false).
    pub use_exponential_sigmas: bool,
    /// `stochastic_sampling` (default false): `x = (1 - s') x_0 + s' noise` each step.
    pub stochastic_sampling: bool,
    /// `base_shift` (default 0.5), `max_shift` (1.15), `base_image_seq_len` (256),
    /// `max_image_seq_len` (4096): what pipelines compute `mu` from
    /// ([`mu_for`](Self::mu_for)); the scheduler itself does not use them.
    pub base_shift: f64,
    /// See `base_shift`.
    pub max_shift: f64,
    /// See `base_shift`.
    pub base_image_seq_len: f64,
    /// See `base_shift`.
    pub max_image_seq_len: f64,
    /// `set_timesteps(mu=...)` (not a config key).
    pub mu: Option<f64>,
}

impl Default for FlowMatchEulerDiscreteConfig<'_> {
    fn default() -> Self {
        FlowMatchEulerDiscreteConfig {
            train: TrainConfig::default(),
            shift: 1.0,
            use_dynamic_shifting: false,
            time_shift_type: TimeShiftType::Exponential,
            shift_terminal: None,
            invert_sigmas: false,
            use_karras_sigmas: false,
            use_exponential_sigmas: false,
            stochastic_sampling: false,
            base_shift: 0.5,
            max_shift: 1.15,
            base_image_seq_len: 256.0,
            max_image_seq_len: 4096.0,
            mu: None,
        }
    }
}

impl FlowMatchEulerDiscreteConfig<'_> {
    /// This configuration without `trained_betas` (not used: this class has no betas): what
    /// the scheduler stores.
    pub(crate) fn detached(&self) -> FlowMatchEulerDiscreteConfig<'static> {
        FlowMatchEulerDiscreteConfig {
            train: self.train.detached(),
            shift: self.shift,
            use_dynamic_shifting: self.use_dynamic_shifting,
            time_shift_type: self.time_shift_type,
            shift_terminal: self.shift_terminal,
            invert_sigmas: self.invert_sigmas,
            use_karras_sigmas: self.use_karras_sigmas,
            use_exponential_sigmas: self.use_exponential_sigmas,
            stochastic_sampling: self.stochastic_sampling,
            base_shift: self.base_shift,
            max_shift: self.max_shift,
            base_image_seq_len: self.base_image_seq_len,
            max_image_seq_len: self.max_image_seq_len,
            mu: self.mu,
        }
    }

    /// Scratch elements needed (none).
    pub fn scratch_len(&self, _n: usize) -> usize {
        0
    }

    /// The `mu` diffusers' flow pipelines (Flux, SD3 with dynamic shifting) pass for an image
    /// of `image_seq_len` latent tokens: linear between (`base_image_seq_len`, `base_shift`)
    /// and (`max_image_seq_len`, `max_shift`).
    pub fn mu_for(&self, image_seq_len: f64) -> f64 {
        let m =
            (self.max_shift - self.base_shift) / (self.max_image_seq_len - self.base_image_seq_len);
        let b = self.base_shift - m * self.base_image_seq_len;
        image_seq_len * m + b
    }

    fn validate(&self) -> Result<()> {
        if !(2..=1 << 24).contains(&self.train.num_train_timesteps) {
            return Err(Error::InvalidConfig(
                "num_train_timesteps must lie in [2, 2^24]",
            ));
        }
        if !(self.shift.is_finite() && self.shift > 0.0) {
            return Err(Error::InvalidConfig("shift must be positive and finite"));
        }
        if self.use_karras_sigmas && self.use_exponential_sigmas {
            return Err(Error::InvalidConfig(
                "only one of use_karras_sigmas and use_exponential_sigmas can be used",
            ));
        }
        match self.mu {
            None if self.use_dynamic_shifting => Err(Error::InvalidConfig(
                "use_dynamic_shifting needs mu (set_timesteps' argument)",
            )),
            Some(mu) if !mu.is_finite() => Err(Error::InvalidConfig("mu must be finite")),
            _ => match self.shift_terminal {
                Some(t) if !(t.is_finite() && t < 1.0) => Err(Error::InvalidConfig(
                    "shift_terminal must be finite and below 1",
                )),
                _ => Ok(()),
            },
        }
    }
}

/// diffusers' `FlowMatchEulerDiscreteScheduler` over caller buffers; `MAX_STEPS` bounds the
/// number of inference steps.
///
/// `B` is the storage of `x`: a borrowed slice by default ([`new`](Self::new)) or an owner of
/// one ([`with_buffers`](Self::with_buffers), handed back by [`into_x`](Self::into_x)); it
/// keeps no borrow of its configuration.
#[derive(Debug)]
pub struct FlowMatchEulerDiscreteScheduler<'a, T, const MAX_STEPS: usize, B = &'a mut [T]> {
    config: FlowMatchEulerDiscreteConfig<'static>,
    table: StepTable<MAX_STEPS>,
    x: B,
    step: usize,
    /// The operations of the last `tell`, as coefficients (see [`crate::plan`]).
    #[cfg(feature = "plan")]
    log: crate::plan::OpLog<T>,
    /// The borrow of the default storage, and `T` where no field holds one (without `plan`).
    borrow: PhantomData<(&'a (), T)>,
}

impl<'a, T: Real, const M: usize> FlowMatchEulerDiscreteScheduler<'a, T, M> {
    /// `__init__` plus `set_timesteps(num_inference_steps, mu=config.mu)`; `x` holds the noise
    /// and is sampled in place. No table and no scratch.
    pub fn new(
        config: &FlowMatchEulerDiscreteConfig<'a>,
        num_inference_steps: usize,
        x: &'a mut [T],
    ) -> Result<Self> {
        Self::with_buffers(config, num_inference_steps, x)
    }
}

impl<'a, T: Real, const M: usize, B: AsRef<[T]> + AsMut<[T]>>
    FlowMatchEulerDiscreteScheduler<'a, T, M, B>
{
    /// What the last `tell` did to the buffers, as coefficients (see [`crate::plan`]).
    #[cfg(feature = "plan")]
    pub fn last_ops(&self) -> &crate::plan::OpLog<T> {
        &self.log
    }

    /// [`new`](FlowMatchEulerDiscreteScheduler::new) over an `x` of any storage, which the
    /// scheduler keeps until [`into_x`](Self::into_x).
    pub fn with_buffers(
        config: &FlowMatchEulerDiscreteConfig<'_>,
        num_inference_steps: usize,
        x: B,
    ) -> Result<Self> {
        config.validate()?;
        let n = num_inference_steps;
        if n == 0 {
            return Err(Error::InvalidConfig(
                "num_inference_steps must be at least 1",
            ));
        }
        if n > M {
            return Err(Error::InvalidConfig(
                "more inference steps than the MAX_STEPS capacity",
            ));
        }
        check_buffers(x.as_ref(), &[], 1, 0)?;
        let table = sigmas::<M>(config, n)?;
        Ok(FlowMatchEulerDiscreteScheduler {
            config: config.detached(),
            table,
            x,
            step: 0,
            #[cfg(feature = "plan")]
            log: crate::plan::OpLog::default(),
            borrow: PhantomData,
        })
    }

    /// Ends the scheduler and hands back `x` (the result once [`ask`](Self::ask) returns
    /// `None`).
    pub fn into_x(self) -> B {
        self.x
    }

    // ask (run the network at `x` with the float timestep `time`; `timestep` is its integer
    // part), x, timesteps, times, sigmas, alpha_sigma_at ((1 - s, s): flow sigmas), step_index.
    scheduler_front!(no_train);

    /// `alphas_cumprod`: none (no betas).
    pub fn alphas_cumprod(&self) -> &[f32] {
        &[]
    }

    /// Whether `tell` needs noise (`stochastic_sampling`).
    pub fn is_sde(&self) -> bool {
        self.config.stochastic_sampling
    }

    /// One Euler step with the network's velocity `v` at the asked `(x, time)`:
    /// `x <- x + (sigma_next - sigma) v` (`stochastic_sampling` needs
    /// [`tell_noise`](Self::tell_noise)).
    pub fn tell(&mut self, model_output: &[T]) -> Result<()> {
        if self.config.stochastic_sampling {
            return Err(Error::InvalidConfig(
                "stochastic_sampling needs noise: call tell_noise or tell_rng",
            ));
        }
        self.advance(model_output, Noise::None)
    }

    /// As [`tell`](Self::tell), with one standard normal per element of `x` for
    /// `stochastic_sampling` (ignored otherwise).
    pub fn tell_noise(&mut self, model_output: &[T], noise: &[T]) -> Result<()> {
        if self.config.stochastic_sampling {
            self.advance(model_output, Noise::Slice(noise))
        } else {
            self.advance(model_output, Noise::None)
        }
    }

    /// As [`tell`](Self::tell), drawing `stochastic_sampling`'s noise from `rng`.
    #[cfg(feature = "rng")]
    pub fn tell_rng(&mut self, model_output: &[T], rng: &mut NoiseRng) -> Result<()> {
        if self.config.stochastic_sampling {
            self.advance(model_output, Noise::Rng(rng))
        } else {
            self.advance(model_output, Noise::None)
        }
    }

    fn advance(&mut self, v: &[T], mut noise: Noise<'_, T>) -> Result<()> {
        let i = self.step;
        if i >= self.table.len() {
            return Err(Error::Finished);
        }
        let n = self.x.as_ref().len();
        check_input(Buffer::ModelOutput, n, v)?;
        noise.check(n)?;
        let (s, s_next) = (self.table.sigma(i), self.table.sigma(i + 1));
        // diffusers steps `sample.to(float32)`; the scalars here are float64 of the float32
        // sigmas.
        let f32r = |x: T| T::c(x.to_f64() as f32 as f64);
        #[cfg(feature = "plan")]
        {
            // Euler: x += (s' - s) v; stochastic: x = (1 - s') (x - s v) + s' noise.
            use crate::plan::{Buf, Op};
            self.log.clear();
            let (sf, sn) = (T::c(s as f64), T::c(s_next as f64));
            self.log.push(if noise.is_some() {
                Op::new(Buf::X)
                    .term(Buf::X, T::ONE - sn)
                    .term(Buf::Output, -((T::ONE - sn) * sf))
                    .term(Buf::Noise, sn)
            } else {
                Op::new(Buf::X)
                    .term(Buf::X, T::ONE)
                    .term(Buf::Output, T::c(s_next as f64 - s as f64))
            });
        }
        if noise.is_some() {
            let (s, s_next) = (T::c(s as f64), T::c(s_next as f64));
            for (j, (x, &v)) in self.x.as_mut().iter_mut().zip(v).enumerate() {
                let x0 = f32r(*x) - s * v;
                *x = (T::ONE - s_next) * x0 + s_next * noise.at(j);
            }
        } else {
            let dt = T::c(s_next as f64 - s as f64);
            for (x, &v) in self.x.as_mut().iter_mut().zip(v) {
                *x = f32r(*x) + dt * v;
            }
        }
        self.step += 1;
        self.check_step()
    }
}

/// `__init__`'s float32 shifted training sigmas' ends, then `set_timesteps`' sigmas.
fn sigmas<const M: usize>(c: &FlowMatchEulerDiscreteConfig<'_>, n: usize) -> Result<StepTable<M>> {
    let nt = c.train.num_train_timesteps;
    // __init__: sigmas = linspace(1, N, N)[::-1] / N (float32), shifted in float32 unless
    // dynamic; only the ends are kept (sigma_max, sigma_min).
    let init = |k: usize| -> f32 {
        let s = k as f32 / nt as f32;
        if c.use_dynamic_shifting {
            s
        } else {
            let sh = c.shift as f32;
            sh * s / (1.0 + (c.shift - 1.0) as f32 * s)
        }
    };
    let (sigma_max, sigma_min) = (init(nt) as f64, init(1) as f64);
    let ntf = nt as f64;
    let (t_max, t_min) = (sigma_max * ntf, sigma_min * ntf);
    let base = |i: usize| np_linspace(t_max, t_min, n, i) / ntf;
    let shifted = |i: usize| match (c.use_dynamic_shifting, c.mu) {
        (true, Some(mu)) => time_shift(c.time_shift_type, mu, base(i)),
        _ => c.shift * base(i) / (1.0 + (c.shift - 1.0) * base(i)),
    };
    let terminal = c.shift_terminal.filter(|&t| t != 0.0);
    let last = shifted(n - 1);
    let sigma = |i: usize| match terminal {
        Some(term) => stretch(shifted(i), last, term),
        None => shifted(i),
    };
    let (first, end) = (sigma(0), sigma(n - 1));
    let rho = 7.0f64;
    let converted = |i: usize| -> f64 {
        if c.use_karras_sigmas {
            let (lo, hi) = (cmath::pow(end, 1.0 / rho), cmath::pow(first, 1.0 / rho));
            let ramp = np_linspace(0.0, 1.0, n, i);
            cmath::pow(hi + ramp * (lo - hi), rho)
        } else if c.use_exponential_sigmas {
            cmath::exp(np_linspace(cmath::log(first), cmath::log(end), n, i))
        } else {
            sigma(i)
        }
    };
    let mut table = StepTable::<M>::empty();
    table.set_flow(true);
    for i in 0..n {
        let s = converted(i) as f32;
        let s = if c.invert_sigmas { 1.0 - s } else { s };
        if !(s.is_finite() && (0.0..=1.0).contains(&s)) {
            return Err(Error::InvalidConfig(
                "the flow sigmas left [0, 1] (check shift, mu and shift_terminal)",
            ));
        }
        let t = s * nt as f32;
        table.push_step(s, t as i64, t)?;
    }
    table.set_last(if c.invert_sigmas { 1.0 } else { 0.0 });
    Ok(table)
}
