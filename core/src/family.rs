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
use crate::sampler::{Config, OwnedSampler, Sampler, Stats, StepKind, StepReport};
use crate::schedule::NoiseSchedule;

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

/// A diffusers scheduler with its SDE noise generators.
struct DiffusersRun<T: Real> {
    scheduler: OwnedScheduler<T>,
    n_train: usize,
    /// One generator per image (stream `first + i`), so an SDE image does not depend on its
    /// batch.
    rngs: Vec<NoiseRng>,
    noise: Vec<T>,
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

    fn ask(&self) -> Option<Request<'_, T>> {
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

    fn time_range(&self) -> (T, T) {
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
    fn tell(&mut self, out: &[T]) -> Result<StepReport<T>> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diffusers::{ConfigValue, SchedulerClass};
    use crate::sampler::Method;
    use crate::schedule::{Betas, DiscreteVp};
    use crate::spacing::Spacing;

    const N: usize = 8;

    /// A network whose output depends on `x` and `t`, two calls apart in value.
    fn net(x: &[f32], t: f32, shift: f32, out: &mut [f32]) {
        for (i, (o, &v)) in out.iter_mut().zip(x).enumerate() {
            *o = 0.3 * v + 0.05 * (i as f32 + shift) * (1.0 + t);
        }
    }

    fn noise() -> Vec<f32> {
        let mut x = vec![0.0f32; N];
        NoiseRng::new(7).fill_gaussian(&mut x);
        x
    }

    fn ddpm(table: &mut [f32]) -> NoiseSchedule<'_, f32> {
        let betas = Betas::Linear {
            start: 1e-4,
            end: 0.02,
            n: 1000,
        };
        NoiseSchedule::Discrete(DiscreteVp::from_betas(&betas, table).unwrap())
    }

    /// The family over the DPM-Solver sampler gives the sampler's own bits, guided or not,
    /// for each method; its preview is the data prediction of the combined output.
    #[test]
    fn dpm_matches_the_sampler_bit_for_bit() {
        let custom = [1.0f32, 0.7, 0.4, 0.2, 0.05, 1e-3];
        let methods = [
            Some(Method::Multistep),
            cfg!(feature = "singlestep").then_some(Method::Singlestep),
            cfg!(feature = "adaptive").then_some(Method::Adaptive),
        ];
        for method in methods.into_iter().flatten() {
            for scale in [None, Some(2.5f32)] {
                for spacing in [Spacing::LogSnr, Spacing::Custom(&custom)] {
                    if method == Method::Adaptive && matches!(spacing, Spacing::Custom(_)) {
                        continue;
                    }
                    let config = Config {
                        method,
                        order: 2,
                        steps: 5,
                        spacing,
                        batch: 2,
                        guidance: scale
                            .map_or(Guidance::None, |s| Guidance::ClassifierFree { scale: s }),
                        ..Config::default()
                    };
                    let mut t1 = vec![0.0f32; 1000];
                    let mut family = {
                        // The family keeps copies: the table and times may go.
                        let mut t2 = vec![0.0f32; 1000];
                        let times = custom.to_vec();
                        let c = Config {
                            spacing: match spacing {
                                Spacing::Custom(_) => Spacing::Custom(&times),
                                s => s,
                            },
                            ..config
                        };
                        Solver::dpm(ddpm(&mut t2), c, noise()).unwrap()
                    };
                    family.set_preview(true);
                    let (mut x, mut scratch) = (noise(), vec![0.0; config.scratch_len(N)]);
                    let mut s = Sampler::new(ddpm(&mut t1), config, &mut x, &mut scratch).unwrap();
                    let (mut c, mut u) = ([0.0f32; N], [0.0f32; N]);
                    while let Some(r) = s.ask() {
                        let f = family.ask().unwrap();
                        assert_eq!((f.x, f.t_model, f.index), (r.x, r.t_model, r.index));
                        assert_eq!(f.timestep, None);
                        net(r.x, r.t, 0.0, &mut c);
                        net(r.x, r.t, 1.0, &mut u);
                        let (a, b) = conversion(Prediction::Noise, Target::Data, r.alpha, r.sigma);
                        let want: Vec<f32> = match scale {
                            Some(g) => (0..N)
                                .map(|i| a * r.x[i] + b * classifier_free(c[i], u[i], g))
                                .collect(),
                            None => (0..N).map(|i| a * r.x[i] + b * c[i]).collect(),
                        };
                        let (got, expect) = match scale {
                            Some(_) => (family.tell_cfg(&c, &u), s.tell_cfg(&c, &u)),
                            None => (family.tell(&c), s.tell(&c)),
                        };
                        assert_eq!(got.unwrap(), expect.unwrap());
                        assert_eq!(family.preview().unwrap(), &want[..]);
                    }
                    assert!(family.is_done());
                    assert_eq!(family.stats(), s.stats());
                    assert_eq!(family.sampler().unwrap().config().guidance, config.guidance);
                    let x_s = s.x().to_vec();
                    assert_eq!(family.into_x(), x_s, "{method:?} {scale:?}");
                }
            }
        }
    }

    /// Over a diffusers scheduler: the scheduler's own bits, its timesteps in the requests,
    /// guidance combined as diffusers' pipelines do, an SDE variant's noise from image `i`'s
    /// stream.
    #[test]
    fn diffusers_matches_the_scheduler_bit_for_bit() {
        let sde = "sde-dpmsolver++";
        for (class, algorithm) in [
            (SchedulerClass::UniPCMultistep, None),
            (SchedulerClass::DPMSolverMultistep, Some(sde)),
            (SchedulerClass::DDIM, None),
        ] {
            for scale in [None, Some(3.0f32)] {
                let mut config = SchedulerConfig::new(class);
                if let Some(a) = algorithm {
                    config.set("algorithm_type", ConfigValue::Str(a)).unwrap();
                }
                config.set_batch(2);
                let mut family = Solver::diffusers(&config, 6, noise(), 2, scale, 11, 3).unwrap();
                let mut table = vec![0.0f32; 1000];
                let (mut x, mut scratch) = (noise(), vec![0.0; config.scratch_len(N)]);
                let mut s = Scheduler::<f32, MAX_SCHEDULER_STEPS>::new(
                    &config,
                    6,
                    &mut table,
                    &mut x,
                    &mut scratch,
                )
                .unwrap();
                let mut rngs = [NoiseRng::with_stream(11, 3), NoiseRng::with_stream(11, 4)];
                let (mut c, mut u, mut z) = ([0.0f32; N], [0.0f32; N], [0.0f32; N]);
                while let Some(r) = s.ask() {
                    let f = family.ask().unwrap();
                    assert_eq!(f.x, r.x);
                    assert_eq!(f.timestep, Some(r.time));
                    assert_eq!(f.index, r.step_index);
                    net(r.x, r.time, 0.0, &mut c);
                    net(r.x, r.time, 1.0, &mut u);
                    let out: Vec<f32> = match scale {
                        Some(g) => (0..N).map(|i| classifier_free(c[i], u[i], g)).collect(),
                        None => c.to_vec(),
                    };
                    let report = match scale {
                        Some(_) => family.tell_cfg(&c, &u),
                        None => family.tell(&c),
                    };
                    assert_eq!(report.unwrap().unwrap().nfe, r.step_index + 1);
                    if algorithm.is_some() {
                        for (rng, half) in rngs.iter_mut().zip(z.chunks_mut(N / 2)) {
                            rng.fill_gaussian(half);
                        }
                        s.tell_noise(&out, &z).unwrap();
                    } else {
                        s.tell(&out).unwrap();
                    }
                    assert_eq!(family.x(), s.x());
                }
                assert!(family.is_done());
                assert_eq!(family.scheduler().unwrap().timesteps(), s.timesteps());
            }
        }
    }

    /// The answer must match the guidance configured, and an input checked before anything
    /// moves; a finished run refuses more.
    #[test]
    fn refuses_a_mismatched_or_bad_answer() {
        let mut table = vec![0.0f32; 1000];
        let cfg = Config {
            steps: 2,
            guidance: Guidance::ClassifierFree { scale: 2.0 },
            ..Config::default()
        };
        let mut f = Solver::dpm(ddpm(&mut table), cfg, noise()).unwrap();
        let out = [0.1f32; N];
        assert!(matches!(
            f.tell(&out),
            Err(Error::GuidanceMismatch {
                configured: "classifier-free",
                called: "tell"
            })
        ));
        let mut bad = out;
        bad[3] = f32::NAN;
        assert!(matches!(
            f.tell_cfg(&out, &bad),
            Err(Error::NonFinite {
                buffer: Buffer::Unconditional,
                index: 3
            })
        ));
        assert!(matches!(
            f.tell_cfg(&out, &out[..4]),
            Err(Error::LengthMismatch { .. })
        ));
        f.set_preview(true);
        let mut nan = out;
        nan[0] = f32::NAN;
        let mut plain = Solver::dpm(
            ddpm(&mut table),
            Config {
                steps: 2,
                ..Config::default()
            },
            noise(),
        )
        .unwrap();
        plain.set_preview(true);
        assert!(plain.tell(&nan).is_err());
        assert!(
            plain.preview().is_none(),
            "a refused output gives no preview"
        );
        plain.tell(&out).unwrap();
        assert!(plain.preview().is_some());
        assert_eq!(f.nfe(), 0);
        while f.ask().is_some() {
            f.tell_cfg(&out, &out).unwrap();
        }
        assert!(matches!(f.tell_cfg(&out, &out), Err(Error::Finished)));
        let c = SchedulerConfig::new(SchedulerClass::DDIM);
        let mut d = Solver::diffusers(&c, 3, noise(), 1, None, 0, 0).unwrap();
        assert!(matches!(
            d.tell_classifier(&out, &out),
            Err(Error::GuidanceMismatch {
                called: "tell_classifier",
                ..
            })
        ));
        assert!(Solver::diffusers(&c, 3, noise(), 1, Some(f32::NAN), 0, 0).is_err());
    }

    /// A solver built from short-lived lists borrows nothing.
    #[test]
    fn owns_everything() {
        fn owns<S: 'static>(_: &S) {}
        let f = {
            let mut table = vec![0.0f32; 1000];
            let times = vec![1.0f32, 0.5, 1e-3];
            let c = Config {
                steps: 2,
                spacing: Spacing::Custom(&times),
                ..Config::default()
            };
            Solver::dpm(ddpm(&mut table), c, noise()).unwrap()
        };
        owns(&f);
        assert_eq!(f.time_range(), (1.0, 1e-3));
    }
}
