//! Inference timesteps and sigmas as diffusers' `set_timesteps` computes them: numpy float64
//! `linspace`/`arange` element by element, `np.round` (half to even), `astype(int64)`
//! (truncation), Karras sigmas with `_sigma_to_t`, and the float32 sigma table.

use super::train::TrainSchedule;
use super::{FinalSigmasType, TimestepSpacing};
use crate::error::{Error, Result};
use crate::math::cmath;

/// `np.round`: round half to even.
pub fn round_half_even(v: f64) -> f64 {
    let f = cmath::floor(v);
    let d = v - f;
    // `f` is an integer here (d = 0.5 is finite), so it is odd iff `f / 2` is not one; exact
    // for every f64 (above 2^53 all are even), and without libm's `fmod` (2 kB of wasm).
    let up = d > 0.5 || (d == 0.5 && cmath::floor(f * 0.5) != f * 0.5);
    if up {
        f + 1.0
    } else {
        f
    }
}

/// Element `i` of `np.linspace(start, stop, num)`: `i * step + start`, the last one `stop`.
pub(crate) fn np_linspace(start: f64, stop: f64, num: usize, i: usize) -> f64 {
    if num <= 1 {
        return start;
    }
    if i == num - 1 {
        return stop;
    }
    let step = (stop - start) / (num - 1) as f64;
    i as f64 * step + start
}

/// Element `i` of `np.linspace(0, stop, num)`.
fn np_linspace0(stop: f64, num: usize, i: usize) -> f64 {
    if num <= 1 {
        return 0.0;
    }
    if i == num - 1 {
        return stop;
    }
    let step = stop / (num - 1) as f64;
    i as f64 * step
}

/// The timesteps and the sigmas (`sigmas[0..len]` plus the final sigma) of one sampling run,
/// stored inline for at most `MAX_STEPS` steps.
#[derive(Clone, Debug)]
pub struct StepTable<const MAX_STEPS: usize> {
    timesteps: [i64; MAX_STEPS],
    /// The timesteps as floats (FlowMatchEuler's are not integers).
    times: [f32; MAX_STEPS],
    sigmas: [f32; MAX_STEPS],
    sigma_last: f32,
    len: usize,
    /// Whether the sigmas are flow sigmas (`alpha = 1 - sigma`) rather than VP ones.
    flow: bool,
}

impl<const M: usize> StepTable<M> {
    pub(crate) fn empty() -> Self {
        StepTable {
            timesteps: [0; M],
            times: [0.0; M],
            sigmas: [0.0; M],
            sigma_last: 0.0,
            len: 0,
            flow: false,
        }
    }

    /// The integer timesteps.
    pub fn timesteps(&self) -> &[i64] {
        &self.timesteps[..self.len]
    }

    /// The timesteps as floats (the network's time input).
    pub fn times(&self) -> &[f32] {
        &self.times[..self.len]
    }

    /// Whether the sigmas are flow-matching sigmas (`alpha_t = 1 - sigma`, `sigma_t = sigma`).
    pub fn is_flow(&self) -> bool {
        self.flow
    }

    pub(crate) fn set_flow(&mut self, flow: bool) {
        self.flow = flow;
    }

    /// `alpha_t, sigma_t, lambda_t` of `sigma(i)` as the updates use them (float32).
    pub(crate) fn asl(&self, i: usize) -> super::kernel::Asl {
        if self.flow {
            super::kernel::Asl::flow(self.sigma(i))
        } else {
            super::kernel::Asl::of(self.sigma(i))
        }
    }

    /// Appends one step with its float sigma, integer timestep and float timestep.
    pub(crate) fn push_step(&mut self, sigma: f32, timestep: i64, time: f32) -> Result<()> {
        self.push(timestep)?;
        self.sigmas[self.len - 1] = sigma;
        self.times[self.len - 1] = time;
        Ok(())
    }

    pub(crate) fn clear(&mut self) {
        self.len = 0;
    }

    /// The sigmas of the timesteps (without the final one).
    pub fn sigmas(&self) -> &[f32] {
        &self.sigmas[..self.len]
    }

    /// `sigmas[i]` for `i <= len` (`i == len` is the final sigma).
    pub fn sigma(&self, i: usize) -> f32 {
        if i < self.len {
            self.sigmas[i]
        } else {
            self.sigma_last
        }
    }

    /// Number of steps.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are no steps.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn push(&mut self, t: i64) -> Result<()> {
        if self.len >= M {
            return Err(Error::InvalidConfig(
                "more inference steps than the MAX_STEPS capacity",
            ));
        }
        self.timesteps[self.len] = t;
        self.times[self.len] = t as f32;
        self.len += 1;
        Ok(())
    }

    /// Refuses a table that would run nothing or ask the network at a timestep it was not
    /// trained on: at least one step, every timestep in `0..num_train` (a large `steps_offset`
    /// pushes `leading` timesteps past the end), every sigma finite.
    pub(crate) fn check_range(&self, num_train: usize) -> Result<()> {
        if self.len == 0 {
            return Err(Error::InvalidConfig(
                "the timestep spacing produced no steps",
            ));
        }
        if self
            .timesteps()
            .iter()
            .any(|&t| t < 0 || t >= num_train as i64)
        {
            return Err(Error::InvalidConfig(
                "a timestep falls outside 0..num_train_timesteps (check steps_offset)",
            ));
        }
        if !(self.sigmas().iter().all(|s| s.is_finite()) && self.sigma_last.is_finite()) {
            return Err(Error::InvalidConfig(
                "the training schedule gives a non-finite sigma at an inference timestep \
                 (betas too close to 1?)",
            ));
        }
        Ok(())
    }

    /// The DPM-Solver/UniPC spacing (`n + 1` points, the last dropped) up to `last_timestep`
    /// (`num_train_timesteps` minus the `lambda_min_clipped` cut).
    pub(crate) fn spaced(
        &mut self,
        spacing: TimestepSpacing,
        n: usize,
        num_train: usize,
        last_timestep: usize,
        steps_offset: i64,
    ) -> Result<()> {
        self.len = 0;
        if n > M && spacing != TimestepSpacing::Trailing {
            return Err(Error::InvalidConfig(
                "more inference steps than the MAX_STEPS capacity",
            ));
        }
        match spacing {
            TimestepSpacing::Linspace => {
                let stop = last_timestep as f64 - 1.0;
                for i in 0..n {
                    self.push(round_half_even(np_linspace0(stop, n + 1, n - i)) as i64)?;
                }
            }
            TimestepSpacing::Leading => {
                let ratio = (last_timestep / (n + 1)) as i64;
                for i in 0..n {
                    self.push(((n - i) as i64 * ratio).saturating_add(steps_offset))?;
                }
            }
            TimestepSpacing::Trailing => {
                self.trailing(last_timestep as f64, num_train as f64 / n as f64)?;
            }
        }
        Ok(())
    }

    /// DDIM's spacing (`n` points).
    pub(crate) fn spaced_ddim(
        &mut self,
        spacing: TimestepSpacing,
        n: usize,
        num_train: usize,
        steps_offset: i64,
    ) -> Result<()> {
        self.len = 0;
        match spacing {
            TimestepSpacing::Linspace => {
                let stop = num_train as f64 - 1.0;
                for i in 0..n {
                    self.push(round_half_even(np_linspace0(stop, n, n - 1 - i)) as i64)?;
                }
            }
            TimestepSpacing::Leading => {
                let ratio = (num_train / n) as i64;
                for i in 0..n {
                    self.push(((n - 1 - i) as i64 * ratio).saturating_add(steps_offset))?;
                }
            }
            TimestepSpacing::Trailing => {
                self.trailing(num_train as f64, num_train as f64 / n as f64)?;
            }
        }
        Ok(())
    }

    /// `np.round(np.arange(start, 0, -ratio)) - 1` (numpy fills `start + i * delta` with
    /// `delta = (start - ratio) - start`, the second element computed directly).
    fn trailing(&mut self, start: f64, ratio: f64) -> Result<()> {
        let count = cmath::ceil(start / ratio);
        if !(count >= 0.0) || count > M as f64 {
            return Err(Error::InvalidConfig(
                "more inference steps than the MAX_STEPS capacity",
            ));
        }
        let count = count as usize;
        let second = start + -ratio;
        let delta = second - start;
        for i in 0..count {
            let v = match i {
                0 => start,
                1 => second,
                _ => start + i as f64 * delta,
            };
            self.push((round_half_even(v) as i64).saturating_sub(1))?;
        }
        Ok(())
    }

    /// Sigmas interpolated at the integer timesteps (`np.interp` on the training sigmas).
    pub(crate) fn interp_sigmas(&mut self, train: &TrainSchedule<'_>) {
        for i in 0..self.len {
            self.sigmas[i] = train.sigma(self.timesteps[i]);
        }
    }

    /// Karras sigmas (rho 7) between the training schedule's extreme sigmas, and the timesteps
    /// `_sigma_to_t` gives them (rounded when `round`, then truncated to integers).
    pub(crate) fn karras(
        &mut self,
        train: &TrainSchedule<'_>,
        n: usize,
        round: bool,
    ) -> Result<()> {
        if n > M {
            return Err(Error::InvalidConfig(
                "more inference steps than the MAX_STEPS capacity",
            ));
        }
        let last = train.len() as i64 - 1;
        let sigma_min = train.sigma(0) as f64;
        let sigma_max = train.sigma(last) as f64;
        let rho = 7.0f64;
        let min_inv = cmath::pow(sigma_min, 1.0 / rho);
        let max_inv = cmath::pow(sigma_max, 1.0 / rho);
        self.len = 0;
        for i in 0..n {
            let ramp = np_linspace0(1.0, n, i);
            let s = cmath::pow(max_inv + ramp * (min_inv - max_inv), rho);
            let t = sigma_to_t(s, train);
            let t = if round { round_half_even(t) } else { t };
            self.push(t as i64)?;
            self.sigmas[i] = s as f32;
        }
        Ok(())
    }

    /// Sets the final sigma.
    pub(crate) fn set_last(&mut self, sigma_last: f32) {
        self.sigma_last = sigma_last;
    }

    /// diffusers' default final sigma for `final_sigmas_type`.
    pub(crate) fn final_sigma(train: &TrainSchedule<'_>, kind: FinalSigmasType) -> f32 {
        match kind {
            FinalSigmasType::SigmaMin => train.sigma(0),
            FinalSigmasType::Zero => 0.0,
        }
    }
}

/// diffusers' `_sigma_to_t`: the fractional timestep whose log-sigma (float32 table) brackets
/// `log(sigma)`, linearly interpolated.
fn sigma_to_t(sigma: f64, train: &TrainSchedule<'_>) -> f64 {
    let n = train.len();
    let log_sigma = cmath::log(if sigma > 1e-10 { sigma } else { 1e-10 });
    let log_sigma_at = |i: usize| cmath::logf(train.sigma(i as i64)) as f64;
    // argmax(cumsum(dists >= 0)): the last index with log_sigmas[i] <= log_sigma, else 0.
    let mut low = 0usize;
    for i in 0..n {
        if log_sigma - log_sigma_at(i) >= 0.0 {
            low = i;
        }
    }
    let low = low.min(n - 2);
    let high = low + 1;
    let (lo, hi) = (log_sigma_at(low), log_sigma_at(high));
    // np.clip(w, 0, 1) (NaN stays NaN).
    let w = ((lo - log_sigma) / (lo - hi)).clamp(0.0, 1.0);
    (1.0 - w) * low as f64 + w * high as f64
}

/// `num_train_timesteps - searchsorted(flip(lambda_t), lambda_min_clipped)`: the timesteps left
/// after clipping `lambda` below `lambda_min_clipped` (`-inf`: all of them).
pub(crate) fn last_timestep(train: &TrainSchedule<'_>, lambda_min_clipped: f64) -> usize {
    let n = train.len();
    // flip(lambda_t) ascends; searchsorted (left) counts the entries below the value.
    let below = (0..n)
        .filter(|&i| (train.lambda(n - 1 - i) as f64) < lambda_min_clipped)
        .count();
    n - below
}
