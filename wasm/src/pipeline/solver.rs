//! The solver behind a generation: the core's DPM-Solver [`Sampler`], or one of its
//! diffusers-compatible schedulers (UniPC, diffusers' DPM-Solver++ and its SDE variant, DDIM),
//! behind one ask/tell surface for [`Pipeline::generate`](super::Pipeline::generate).

use dpm_solver::diffusers::{Scheduler, SchedulerConfig};
use dpm_solver::rng::NoiseRng;
use dpm_solver::{Sampler, Stats, StepKind, StepReport};

use super::error::Result;

/// Inline capacity of a diffusers run's timesteps.
pub(crate) const MAX_DIFFUSERS_STEPS: usize = 1000;

/// One pending network evaluation.
pub(crate) struct Pending<'s> {
    pub x: &'s [f32],
    /// The core's model time `1000 (t - 1/N)`.
    pub t_model: f32,
    pub t: f32,
    pub alpha: f32,
    pub sigma: f32,
}

/// A diffusers scheduler run: the scheduler, per-image SDE noise and classifier-free guidance,
/// in the core sampler's units (`t_model`, `t`, step reports). Shared by the pipeline and the
/// wasm `Sampler`'s `scheduler` option.
pub(crate) struct DiffusersRun<'a> {
    scheduler: Scheduler<'a, f32, MAX_DIFFUSERS_STEPS>,
    n_train: usize,
    /// One generator per image (stream `i`), so an SDE image does not depend on its batch.
    rngs: Vec<NoiseRng>,
    noise: Vec<f32>,
    guided: Vec<f32>,
}

/// DPM-Solver or a diffusers scheduler.
pub(crate) enum Solver<'a> {
    Dpm(Box<Sampler<'a, f32>>),
    Diffusers(Box<DiffusersRun<'a>>),
}

impl<'a> DiffusersRun<'a> {
    /// The configured scheduler over `x` (`batch` images); the SDE variants draw image `i`'s
    /// noise from `NoiseRng::with_stream(seed, first + i)`.
    pub fn new(
        config: &SchedulerConfig<'a>,
        steps: usize,
        table: &'a mut [f32],
        x: &'a mut [f32],
        scratch: &'a mut [f32],
        seed: u64,
        first: usize,
        batch: usize,
    ) -> Result<Self> {
        let n = x.len();
        let rngs = if config.is_sde() {
            (0..batch.max(1))
                .map(|i| NoiseRng::with_stream(seed, (first + i) as u64))
                .collect()
        } else {
            Vec::new()
        };
        let scheduler = Scheduler::new(config, steps, table, x, scratch)?;
        Ok(DiffusersRun {
            n_train: config.train().num_train_timesteps,
            scheduler,
            noise: if rngs.is_empty() {
                Vec::new()
            } else {
                vec![0.0; n]
            },
            rngs,
            guided: Vec::new(),
        })
    }

    /// The scheduler (timesteps, sample, step index).
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))] // read by the wasm bindings
    pub fn scheduler(&self) -> &Scheduler<'a, f32, MAX_DIFFUSERS_STEPS> {
        &self.scheduler
    }

    fn t_of(&self, timestep: i64) -> f32 {
        (timestep + 1) as f32 / self.n_train as f32
    }

    /// Solver time and `(alpha, sigma)` of step `i`: on flow sigmas (flow-matching models)
    /// `t = sigma`, `alpha = 1 - sigma`; otherwise from `alphas_cumprod` at the timestep.
    fn point(&self, i: usize) -> Option<(f32, f32, f32)> {
        if self.scheduler.is_flow() {
            let (a, s) = self.scheduler.alpha_sigma_at(i);
            return Some((s, a, s));
        }
        match self.scheduler.timesteps().get(i) {
            Some(&ts) => {
                let (a, s) = self.scheduler.alpha_sigma(ts)?;
                Some((self.t_of(ts), a, s))
            }
            None => Some((0.0, 1.0, 0.0)),
        }
    }

    /// The pending evaluation with diffusers' timestep (a float: FlowMatchEuler's are not
    /// integers).
    pub fn ask(&self) -> Option<(Pending<'_>, f64)> {
        let r = self.scheduler.ask()?;
        let (t, alpha, sigma) = self.point(r.step_index)?;
        let p = Pending {
            x: r.x,
            t_model: r.time * 1000.0 / self.n_train as f32,
            t,
            alpha,
            sigma,
        };
        Some((p, r.time as f64))
    }

    /// `[t of the first timestep, 0]` (flow sigmas: `[first sigma, final sigma]`).
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))] // read by the wasm bindings
    pub fn time_range(&self) -> (f32, f32) {
        if self.scheduler.is_flow() {
            let n = self.scheduler.times().len();
            return (self.scheduler.sigma_at(0), self.scheduler.sigma_at(n));
        }
        let first = self.scheduler.timesteps().first().copied().unwrap_or(0);
        (self.t_of(first), 0.0)
    }
    /// Advances with the network output (`cond`, and `uncond` with classifier-free guidance
    /// at `scale`, combined as diffusers' pipelines do before `scheduler.step`).
    pub fn tell(&mut self, cond: &[f32], uncond: Option<(&[f32], f32)>) -> Result<StepReport<f32>> {
        let i = self.scheduler.step_index();
        let mut guided = core::mem::take(&mut self.guided);
        let out = match uncond {
            Some((u, scale)) => {
                guided.clear();
                guided.extend(
                    cond.iter()
                        .zip(u)
                        .map(|(&c, &u)| dpm_solver::guidance::classifier_free(c, u, scale)),
                );
                &guided[..]
            }
            None => cond,
        };
        let r = if self.rngs.is_empty() {
            self.scheduler.tell(out)
        } else {
            let per = self.noise.len() / self.rngs.len();
            for (rng, chunk) in self.rngs.iter_mut().zip(self.noise.chunks_mut(per)) {
                rng.fill_gaussian(chunk);
            }
            self.scheduler.tell_noise(out, &self.noise)
        };
        self.guided = guided;
        r?;
        let (t_from, a0, s0) = self.point(i).unwrap_or((0.0, 1.0, 0.0));
        let (t_to, a1, s1) = if self.scheduler.is_flow() {
            let s = self.scheduler.sigma_at(i + 1);
            (s, 1.0 - s, s)
        } else {
            self.point(i + 1).unwrap_or((0.0, 1.0, 0.0))
        };
        Ok(StepReport {
            step: i + 1,
            kind: StepKind::Solver,
            t_from,
            t_to,
            h: (a1 / s1).ln() - (a0 / s0).ln(),
            order: self.scheduler.last_order(),
            accepted: true,
            error: None,
            nfe: i + 1,
        })
    }
}

impl<'a> Solver<'a> {
    pub fn ask(&self) -> Option<Pending<'_>> {
        match self {
            Solver::Dpm(s) => s.ask().map(|r| Pending {
                x: r.x,
                t_model: r.t_model,
                t: r.t,
                alpha: r.alpha,
                sigma: r.sigma,
            }),
            Solver::Diffusers(d) => d.ask().map(|(p, _)| p),
        }
    }

    /// The network output (`cond`, and `uncond` with classifier-free guidance at `scale`).
    pub fn tell(
        &mut self,
        cond: &[f32],
        uncond: Option<(&[f32], f32)>,
    ) -> Result<Option<StepReport<f32>>> {
        match self {
            Solver::Dpm(s) => Ok(match uncond {
                Some((u, _)) => s.tell_cfg(cond, u)?,
                None => s.tell(cond)?,
            }),
            Solver::Diffusers(d) => d.tell(cond, uncond).map(Some),
        }
    }

    pub fn nfe(&self) -> usize {
        match self {
            Solver::Dpm(s) => s.nfe(),
            Solver::Diffusers(d) => d.scheduler.step_index(),
        }
    }

    pub fn stats(&self) -> Stats {
        match self {
            Solver::Dpm(s) => s.stats(),
            Solver::Diffusers(d) => {
                let n = d.scheduler.step_index();
                Stats {
                    nfe: n,
                    n_accept: n,
                    n_reject: 0,
                }
            }
        }
    }
}
