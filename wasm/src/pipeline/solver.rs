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
    /// noise from `NoiseRng::with_stream(seed, i)`.
    pub fn new(
        config: &SchedulerConfig<'a>,
        steps: usize,
        table: &'a mut [f32],
        x: &'a mut [f32],
        scratch: &'a mut [f32],
        seed: u64,
        batch: usize,
    ) -> Result<Self> {
        let n = x.len();
        let rngs = if config.is_sde() {
            (0..batch.max(1))
                .map(|i| NoiseRng::with_stream(seed, i as u64))
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

    /// The pending evaluation with diffusers' integer timestep.
    pub fn ask(&self) -> Option<(Pending<'_>, i64)> {
        let r = self.scheduler.ask()?;
        let (alpha, sigma) = self.scheduler.alpha_sigma(r.timestep)?;
        let p = Pending {
            x: r.x,
            t_model: r.timestep as f32 * 1000.0 / self.n_train as f32,
            t: self.t_of(r.timestep),
            alpha,
            sigma,
        };
        Some((p, r.timestep))
    }

    /// `[t of the first timestep, 0]`.
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))] // read by the wasm bindings
    pub fn time_range(&self) -> (f32, f32) {
        let first = self.scheduler.timesteps().first().copied().unwrap_or(0);
        (self.t_of(first), 0.0)
    }
    /// Advances with the network output (`cond`, and `uncond` with classifier-free guidance
    /// at `scale`, combined as diffusers' pipelines do before `scheduler.step`).
    pub fn tell(&mut self, cond: &[f32], uncond: Option<(&[f32], f32)>) -> Result<StepReport<f32>> {
        let i = self.scheduler.step_index();
        let from = self.scheduler.timesteps().get(i).copied();
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
        let to = self.scheduler.timesteps().get(i + 1).copied();
        let t_of = |ts: Option<i64>| ts.map_or(0.0, |ts| self.t_of(ts));
        let lambda = |ts: Option<i64>| match ts.and_then(|ts| self.scheduler.alpha_sigma(ts)) {
            Some((a, s)) => (a / s).ln(),
            None => f32::INFINITY,
        };
        Ok(StepReport {
            step: i + 1,
            kind: StepKind::Solver,
            t_from: t_of(from),
            t_to: t_of(to),
            h: lambda(to) - lambda(from),
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
