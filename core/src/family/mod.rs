//! [`Solver`]: the solver family behind one type, for callers that take the solver as data
//! (the wasm bindings' `Sampler`, the demo pipeline): the DPM-Solver [`Sampler`] or one of the
//! diffusers-compatible schedulers ([`Scheduler`]), owning every buffer and list it uses, with
//! one [`Request`] that carries the model time, the solver's `(t, alpha, sigma)` and, for a
//! diffusers scheduler, its timestep. Features `alloc` and `rng` (the SDE variants' noise),
//! and the default `flow`.
//!
//! What the callers would otherwise each write is here once: classifier-free guidance is
//! combined once per evaluation (into one buffer that feeds both the solver and the preview),
//! the `x_0` preview of each evaluation comes from the same combined output
//! ([`set_preview`](Solver::set_preview)), a diffusers step is reported as a [`StepReport`] in
//! the DPM-Solver's units, and the SDE variants draw image `i`'s noise from its own stream.

use alloc::boxed::Box;
use alloc::vec;
use alloc::vec::Vec;

use crate::diffusers::{PredictionType, Scheduler, SchedulerConfig};
use crate::error::{check_input, Buffer, Error, Result};
use crate::guidance::{classifier_free, Guidance};
use crate::math::Real;
use crate::model::{conversion, Prediction, Target};
use crate::rng::NoiseRng;
use crate::sampler::{Config, OwnedSampler, Sampler, Stats, StepReport};
use crate::schedule::NoiseSchedule;
use diffusers::DiffusersRun;

mod diffusers;

/// Inline capacity of a diffusers scheduler's timesteps in a [`Solver`] (`num_inference_steps`
/// at most this).
pub const MAX_SCHEDULER_STEPS: usize = 1000;

/// A diffusers scheduler that owns its table, sample and scratch.
pub type OwnedScheduler<T> = Scheduler<'static, T, MAX_SCHEDULER_STEPS, Vec<f32>, Vec<T>>;

/// One pending network evaluation, whichever solver asks.
#[derive(Clone, Copy, Debug)]
pub struct Request<'s, T> {
    /// The point to evaluate the network at.
    pub x: &'s [T],
    /// The network's time input in the core's convention: `1000 (t - 1/N)` for discrete
    /// schedules (a diffusers scheduler: `1000 timestep / num_train_timesteps`), `t` (or
    /// `N t` for the flow schedule) otherwise.
    pub t_model: T,
    /// Solver time `t` (a diffusers scheduler: `(timestep + 1) / num_train_timesteps`, or the
    /// flow sigma).
    pub t: T,
    /// `alpha_t`.
    pub alpha: T,
    /// `sigma_t`.
    pub sigma: T,
    /// 0-based index of this evaluation.
    pub index: usize,
    /// diffusers' timestep as the network receives it (`for t in scheduler.timesteps`: an
    /// integer, except for FlowMatchEuler), or `None` for the DPM-Solver sampler.
    pub timestep: Option<f32>,
}

/// The DPM-Solver sampler or a diffusers scheduler, owning everything it uses.
pub struct Solver<T: Real = f32> {
    kind: Kind<T>,
    /// The guidance the caller answers with (the DPM-Solver sampler's own, or classifier-free
    /// for a guided diffusers run). Classifier-free guidance is combined here.
    guidance: Guidance<T>,
    prediction: Prediction,
    /// The combined classifier-free output of the last evaluation.
    guided: Vec<T>,
    /// The `x_0` preview of the last evaluation (empty when previews are off).
    preview: Vec<T>,
    previewed: bool,
}

enum Kind<T: Real> {
    Dpm(Box<OwnedSampler<T>>),
    Diffusers(Box<DiffusersRun<T>>),
}

/// One network output, as the caller answers.
#[derive(Clone, Copy)]
enum Answer<'o, T> {
    Plain(&'o [T]),
    Cfg(&'o [T], &'o [T]),
    Classifier(&'o [T], &'o [T]),
}

/// The DPM-Solver parameterisation of a diffusers `prediction_type`.
pub fn prediction_of(p: PredictionType) -> Prediction {
    match p {
        PredictionType::Epsilon => Prediction::Noise,
        PredictionType::Sample => Prediction::Data,
        PredictionType::VPrediction => Prediction::V,
        PredictionType::FlowPrediction => Prediction::Flow,
    }
}

impl<T: Real + 'static> Solver<T> {
    /// The DPM-Solver sampler over `schedule` and `config`, starting from `x` (`x_T`); it keeps
    /// copies of the lists the two borrow and allocates its scratch.
    pub fn dpm(schedule: NoiseSchedule<'_, T>, config: Config<'_, T>, x: Vec<T>) -> Result<Self> {
        let scratch = vec![T::ZERO; config.checked_scratch_len(x.len())?];
        let s = Sampler::with_buffers(schedule, config, x, scratch)?.into_owned_lists();
        Ok(Solver::new(
            Kind::Dpm(Box::new(s)),
            config.guidance,
            config.prediction,
        ))
    }

    /// The diffusers scheduler `config` with `steps` inference steps, starting from `x`
    /// (`batch` images; `config`'s own `batch` is set to it); with `cfg_scale` the caller
    /// answers with [`tell_cfg`](Self::tell_cfg), combined as diffusers' pipelines do. The
    /// SDE variants draw image `i`'s noise from `NoiseRng::with_stream(seed, first + i)`.
    pub fn diffusers(
        config: &SchedulerConfig<'_>,
        steps: usize,
        x: Vec<T>,
        batch: usize,
        cfg_scale: Option<T>,
        seed: u64,
        first: usize,
    ) -> Result<Self> {
        let mut config = *config;
        config.set_batch(batch);
        let n = x.len();
        let scratch = vec![T::ZERO; config.checked_scratch_len(n)?];
        let n_train = config.train().num_train_timesteps;
        let table = vec![0.0f32; n_train];
        let rngs: Vec<NoiseRng> = if config.is_sde() {
            (0..batch.max(1))
                .map(|i| NoiseRng::with_stream(seed, (first + i) as u64))
                .collect()
        } else {
            Vec::new()
        };
        let scheduler = Scheduler::with_buffers(&config, steps, table, x, scratch)?;
        let run = DiffusersRun {
            scheduler,
            n_train,
            noise: if rngs.is_empty() {
                Vec::new()
            } else {
                vec![T::ZERO; n]
            },
            rngs,
        };
        let guidance = match cfg_scale {
            Some(scale) if !scale.is_finite() => {
                return Err(Error::InvalidConfig("guidance scale must be finite"))
            }
            Some(scale) => Guidance::ClassifierFree { scale },
            None => Guidance::None,
        };
        let prediction = prediction_of(config.prediction_type());
        Ok(Solver::new(
            Kind::Diffusers(Box::new(run)),
            guidance,
            prediction,
        ))
    }

    fn new(kind: Kind<T>, guidance: Guidance<T>, prediction: Prediction) -> Self {
        Solver {
            kind,
            guidance,
            prediction,
            guided: Vec::new(),
            preview: Vec::new(),
            previewed: false,
        }
    }
}

impl<T: Real> Solver<T> {
    /// Turns the `x_0` preview of each evaluation on or off (off by default: it costs one
    /// pass over `x` per evaluation).
    pub fn set_preview(&mut self, on: bool) {
        self.preview = if on {
            vec![T::ZERO; self.x().len()]
        } else {
            Vec::new()
        };
        self.previewed = false;
    }

    /// The data prediction `x_0` of the last evaluation told (guidance combined as the solver
    /// received it), when previews are on ([`set_preview`](Self::set_preview)).
    pub fn preview(&self) -> Option<&[T]> {
        (self.previewed && !self.preview.is_empty()).then_some(&self.preview[..])
    }

    /// The pending evaluation, or `None` when sampling is finished (the result is in
    /// [`x`](Self::x)).
    pub fn ask(&self) -> Option<Request<'_, T>> {
        self.kind.ask()
    }

    /// The network output at the pending request (unguided). Returns the report of the step
    /// it completed (every evaluation, for a diffusers scheduler), or `None` (an intermediate
    /// stage).
    pub fn tell(&mut self, output: &[T]) -> Result<Option<StepReport<T>>> {
        self.receive(Answer::Plain(output), "tell")
    }

    /// Classifier-free guidance: the conditional and unconditional outputs, combined
    /// `uncond + scale (cond - uncond)`.
    pub fn tell_cfg(&mut self, cond: &[T], uncond: &[T]) -> Result<Option<StepReport<T>>> {
        self.receive(Answer::Cfg(cond, uncond), "tell_cfg")
    }

    /// Classifier guidance (the DPM-Solver sampler only): the output and
    /// `grad_x log p(class | x_t)`; the preview is the output's own `x_0`.
    pub fn tell_classifier(&mut self, output: &[T], grad: &[T]) -> Result<Option<StepReport<T>>> {
        self.receive(Answer::Classifier(output, grad), "tell_classifier")
    }

    fn receive(
        &mut self,
        answer: Answer<'_, T>,
        called: &'static str,
    ) -> Result<Option<StepReport<T>>> {
        let configured = match (&self.kind, self.guidance) {
            (Kind::Diffusers(_), _) if matches!(answer, Answer::Classifier(..)) => {
                "a diffusers scheduler (no classifier guidance)"
            }
            (_, g) => g.name(),
        };
        let scale = match (self.guidance, answer) {
            (Guidance::None, Answer::Plain(_))
            | (Guidance::Classifier { .. }, Answer::Classifier(..)) => None,
            (Guidance::ClassifierFree { scale }, Answer::Cfg(..)) => Some(scale),
            _ => return Err(Error::GuidanceMismatch { configured, called }),
        };
        let Solver {
            kind,
            guided,
            preview,
            previewed,
            prediction,
            ..
        } = self;
        let req = kind.ask().ok_or(Error::Finished)?;
        let n = req.x.len();
        // The output the solver receives: guidance combined once, here.
        let out: &[T] = match (answer, scale) {
            (Answer::Cfg(cond, uncond), Some(s)) => {
                check_input(Buffer::ModelOutput, n, cond)?;
                check_input(Buffer::Unconditional, n, uncond)?;
                guided.clear();
                guided.extend(
                    cond.iter()
                        .zip(uncond)
                        .map(|(&c, &u)| classifier_free(c, u, s)),
                );
                guided
            }
            (Answer::Plain(o), _) | (Answer::Classifier(o, _), _) | (Answer::Cfg(o, _), None) => o,
        };
        // The preview before the step moves `x` (the point of this evaluation); it counts
        // only if the solver takes the output.
        let previewing = !preview.is_empty() && out.len() == n;
        if previewing {
            let (a, b) = conversion(*prediction, Target::Data, req.alpha, req.sigma);
            for ((p, &x), &o) in preview.iter_mut().zip(req.x).zip(out) {
                *p = a * x + b * o;
            }
        }
        let r = match kind {
            Kind::Dpm(s) => match answer {
                Answer::Classifier(o, g) => s.tell_classifier(o, g),
                // The guidance is checked above and combined into `out`.
                _ => s.tell_combined(out),
            },
            Kind::Diffusers(d) => d.tell(out).map(Some),
        };
        *previewed = previewing && r.is_ok();
        r
    }

    /// The sample: `x_T` before the run, the result after it.
    pub fn x(&self) -> &[T] {
        match &self.kind {
            Kind::Dpm(s) => s.x(),
            Kind::Diffusers(d) => d.scheduler.x(),
        }
    }

    /// Ends the run and hands back the sample.
    pub fn into_x(self) -> Vec<T> {
        match self.kind {
            Kind::Dpm(s) => s.into_buffers().0,
            Kind::Diffusers(d) => d.scheduler.into_x(),
        }
    }

    /// Network evaluations so far (a classifier-free guided pair counts once).
    pub fn nfe(&self) -> usize {
        match &self.kind {
            Kind::Dpm(s) => s.nfe(),
            Kind::Diffusers(d) => d.scheduler.step_index(),
        }
    }

    /// Counts so far (a diffusers scheduler accepts every step).
    pub fn stats(&self) -> Stats {
        match &self.kind {
            Kind::Dpm(s) => s.stats(),
            Kind::Diffusers(d) => {
                let n = d.scheduler.step_index();
                Stats {
                    nfe: n,
                    n_accept: n,
                    n_reject: 0,
                }
            }
        }
    }

    /// Whether sampling is finished.
    pub fn is_done(&self) -> bool {
        self.ask().is_none()
    }

    /// `(t_start, t_end)` in use: a diffusers scheduler's `[t of the first timestep, 0]`
    /// (flow sigmas: `[first sigma, final sigma]`).
    pub fn time_range(&self) -> (T, T) {
        match &self.kind {
            Kind::Dpm(s) => s.time_range(),
            Kind::Diffusers(d) => d.time_range(),
        }
    }

    /// What the network predicts.
    pub fn prediction(&self) -> Prediction {
        self.prediction
    }

    /// The guidance the caller answers with.
    pub fn guidance(&self) -> Guidance<T> {
        self.guidance
    }

    /// The DPM-Solver sampler (its schedule and configuration), or `None` for a diffusers
    /// scheduler.
    pub fn sampler(&self) -> Option<&OwnedSampler<T>> {
        match &self.kind {
            Kind::Dpm(s) => Some(s),
            Kind::Diffusers(_) => None,
        }
    }

    /// The diffusers scheduler (timesteps, sigmas), or `None` for the DPM-Solver sampler.
    pub fn scheduler(&self) -> Option<&OwnedScheduler<T>> {
        match &self.kind {
            Kind::Dpm(_) => None,
            Kind::Diffusers(d) => Some(&d.scheduler),
        }
    }
}

impl<T: Real> Kind<T> {
    fn ask(&self) -> Option<Request<'_, T>> {
        match self {
            Kind::Dpm(s) => s.ask().map(|r| Request {
                x: r.x,
                t_model: r.t_model,
                t: r.t,
                alpha: r.alpha,
                sigma: r.sigma,
                index: r.index,
                timestep: None,
            }),
            Kind::Diffusers(d) => d.ask(),
        }
    }
}

#[cfg(test)]
mod tests;
