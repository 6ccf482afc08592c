//! The diffusers half of the family: a diffusers scheduler with its SDE noise generators, its
//! requests and step reports in the DPM-Solver's units (`t`, `alpha`, `sigma`, `h`), computed
//! from the float32 values the scheduler holds.

use alloc::vec::Vec;

use super::{OwnedScheduler, Request};
use crate::error::Result;
use crate::math::Real;
use crate::rng::NoiseRng;
use crate::sampler::{StepKind, StepReport};

/// A diffusers scheduler with its SDE noise generators.
pub(super) struct DiffusersRun<T: Real> {
    pub(super) scheduler: OwnedScheduler<T>,
    pub(super) n_train: usize,
    /// One generator per image (stream `first + i`), so an SDE image does not depend on its
    /// batch.
    pub(super) rngs: Vec<NoiseRng>,
    pub(super) noise: Vec<T>,
}

impl<T: Real> DiffusersRun<T> {
    fn t_of(&self, timestep: i64) -> f32 {
        (timestep + 1) as f32 / self.n_train as f32
    }

    /// Solver time and `(alpha, sigma)` of step `i` (float32, as the scheduler holds them): on
    /// flow sigmas `t = sigma`, `alpha = 1 - sigma`; otherwise from `alphas_cumprod` at the
    /// timestep; past the last step `(0, 1, 0)`.
    fn point(&self, i: usize) -> Option<(f32, f32, f32)> {
        let s = &self.scheduler;
        if s.is_flow() {
            let (a, sg) = s.alpha_sigma_at(i);
            return Some((sg, a, sg));
        }
        match s.timesteps().get(i) {
            Some(&ts) => {
                let (a, sg) = s.alpha_sigma(ts)?;
                Some((self.t_of(ts), a, sg))
            }
            None => Some((0.0, 1.0, 0.0)),
        }
    }

    pub(super) fn ask(&self) -> Option<Request<'_, T>> {
        let r = self.scheduler.ask()?;
        let (t, alpha, sigma) = self.point(r.step_index)?;
        let c = |v: f32| T::c(v as f64);
        Some(Request {
            x: r.x,
            t_model: c(r.time * 1000.0 / self.n_train as f32),
            t: c(t),
            alpha: c(alpha),
            sigma: c(sigma),
            index: r.step_index,
            timestep: Some(r.time),
        })
    }

    pub(super) fn time_range(&self) -> (T, T) {
        let s = &self.scheduler;
        let c = |v: f32| T::c(v as f64);
        if s.is_flow() {
            let n = s.times().len();
            return (c(s.sigma_at(0)), c(s.sigma_at(n)));
        }
        let first = s.timesteps().first().copied().unwrap_or(0);
        (c(self.t_of(first)), T::ZERO)
    }

    /// One `scheduler.step` with the (combined) network output, reported in the DPM-Solver's
    /// units.
    pub(super) fn tell(&mut self, out: &[T]) -> Result<StepReport<T>> {
        let i = self.scheduler.step_index();
        if self.rngs.is_empty() {
            self.scheduler.tell(out)?;
        } else {
            let per = self.noise.len() / self.rngs.len();
            for (rng, chunk) in self.rngs.iter_mut().zip(self.noise.chunks_mut(per)) {
                rng.fill_gaussian(chunk);
            }
            self.scheduler.tell_noise(out, &self.noise)?;
        }
        let (t_from, a0, s0) = self.point(i).unwrap_or((0.0, 1.0, 0.0));
        let (t_to, a1, s1) = if self.scheduler.is_flow() {
            let s = self.scheduler.sigma_at(i + 1);
            (s, 1.0 - s, s)
        } else {
            self.point(i + 1).unwrap_or((0.0, 1.0, 0.0))
        };
        let c = |v: f32| T::c(v as f64);
        Ok(StepReport {
            step: i + 1,
            kind: StepKind::Solver,
            t_from: c(t_from),
            t_to: c(t_to),
            h: c(Real::ln(a1 / s1) - Real::ln(a0 / s0)),
            order: self.scheduler.last_order(),
            accepted: true,
            error: None,
            nfe: i + 1,
        })
    }
}
