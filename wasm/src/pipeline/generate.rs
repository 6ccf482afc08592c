//! Generation: options, seeded noise, the ask/tell loop over the network, progress and
//! cancellation.

use core::ops::ControlFlow;

use dpm_solver::diffusers::{ConfigValue, SchedulerClass, SchedulerConfig};
use dpm_solver::model::{conversion, convert};
use dpm_solver::rng::NoiseRng;
use dpm_solver::{
    AdaptiveOptions, Algorithm, Config, DiscreteVp, Guidance, Method, MultistepVariant,
    NoiseSchedule, Prediction, Sampler, Spacing, Stats, StepReport, Target, Thresholding,
};

use super::error::{PipelineError, Result};
use super::info::{ImageShape, ModelInfo};
use super::net::DiffusionModel;
use super::solver::{sde_seed, DiffusersRun, Solver};

/// Which class each image is drawn for.
#[derive(Clone, Debug, PartialEq, Default)]
pub enum Conditioning {
    /// No class: the model's null class (or an unconditional model); no guidance.
    #[default]
    Unconditional,
    /// The same class for every image.
    Class(usize),
    /// One class per image (`batch` entries).
    PerImage(Vec<usize>),
}

/// Everything that configures one [`Pipeline::generate`] call. `Default` is DPM-Solver++(2M),
/// 10 NFE, logSNR spacing, batch 1, unconditional, seed 0.
#[derive(Clone, Debug, PartialEq)]
pub struct GenerateOptions {
    /// Noise seed: image `i` starts from `NoiseRng::with_stream(seed, i)`, so an image does
    /// not depend on the batch size it is drawn in.
    pub seed: u64,
    /// Images per call.
    pub batch: usize,
    /// Classes.
    pub conditioning: Conditioning,
    /// Classifier-free guidance scale `s` (`uncond + s (cond - uncond)`); 1 runs the
    /// conditional model alone (one pass), anything else runs the conditional and
    /// unconditional passes as one batch of `2 batch`. Ignored when unconditional.
    pub guidance_scale: f32,
    /// DPM-Solver or DPM-Solver++.
    pub algorithm: Algorithm,
    /// Singlestep, multistep, singlestep-fixed or adaptive.
    pub method: Method,
    /// Solver order 1..3 (adaptive: 2 or 3).
    pub order: usize,
    /// Steps: network evaluations for multistep / singlestep (ignored by adaptive).
    pub steps: usize,
    /// Time-step spacing (logSNR is the paper's choice at low resolutions).
    pub spacing: Spacing<'static, f32>,
    /// Dynamic thresholding of the data prediction (DPM-Solver++ only).
    pub thresholding: Option<Thresholding<f32>>,
    /// Lower orders at the last steps of short multistep runs.
    pub lower_order_final: bool,
    /// One more evaluation at the end that returns the data prediction.
    pub denoise_to_zero: bool,
    /// Multistep-3 as the reference, or at full third order.
    pub multistep_variant: MultistepVariant,
    /// Tolerances of the adaptive method.
    pub adaptive: AdaptiveOptions<f32>,
    /// Clamp the result to the model's value range.
    pub clip: bool,
    /// A diffusers scheduler (UniPC, diffusers' DPM-Solver++ and its SDE variant, DDIM)
    /// instead of the DPM-Solver options above (`algorithm` to `adaptive` are then unused;
    /// `steps` is `num_inference_steps`). Its training schedule and `prediction_type` are
    /// set from the model; the SDE variants draw image `i`'s step noise from stream `i` of
    /// `sde_seed(seed)`.
    pub scheduler: Option<SchedulerConfig<'static>>,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        GenerateOptions {
            seed: 0,
            batch: 1,
            conditioning: Conditioning::Unconditional,
            guidance_scale: 1.0,
            algorithm: Algorithm::DpmSolverPp,
            method: Method::Multistep,
            order: 2,
            steps: 10,
            spacing: Spacing::LogSnr,
            thresholding: None,
            lower_order_final: true,
            denoise_to_zero: false,
            multistep_variant: MultistepVariant::Reference,
            adaptive: AdaptiveOptions::default(),
            clip: true,
            scheduler: None,
        }
    }
}

impl GenerateOptions {
    /// Network evaluations the run will make (`None` for the adaptive method, which decides
    /// as it goes). A guided pair counts once, as in the paper.
    pub fn expected_nfe(&self) -> Option<usize> {
        if self.scheduler.is_some() {
            return Some(self.steps);
        }
        let extra = usize::from(self.denoise_to_zero);
        match self.method {
            Method::Adaptive => None,
            Method::SinglestepFixed => Some((self.steps / self.order.max(1)) * self.order + extra),
            Method::Multistep
                if self.multistep_variant == MultistepVariant::FullOrder && self.order >= 2 =>
            {
                Some(self.steps + 1 + extra)
            }
            _ => Some(self.steps + extra),
        }
    }

    /// Whether the run uses classifier-free guidance (two passes per evaluation).
    pub fn is_guided(&self) -> bool {
        self.conditioning != Conditioning::Unconditional && self.guidance_scale != 1.0
    }
}

/// Parses a solver name: `dpmsolver` / `dpm-solver` / `dpm_solver` or `dpmsolver++` /
/// `dpm-solver++` / `dpmsolverpp`.
pub fn parse_algorithm(name: &str) -> Result<Algorithm> {
    match name
        .trim()
        .to_ascii_lowercase()
        .replace(['-', '_'], "")
        .as_str()
    {
        "dpmsolver" => Ok(Algorithm::DpmSolver),
        "dpmsolver++" | "dpmsolverpp" => Ok(Algorithm::DpmSolverPp),
        _ => Err(PipelineError::InvalidInput(format!(
            "unknown solver \"{name}\" (expected dpmsolver or dpmsolver++)"
        ))),
    }
}

/// Parses a method name: `multistep`, `singlestep`, `singlestep_fixed`, `adaptive`.
pub fn parse_method(name: &str) -> Result<Method> {
    match name.trim().to_ascii_lowercase().replace('-', "_").as_str() {
        "multistep" => Ok(Method::Multistep),
        "singlestep" => Ok(Method::Singlestep),
        "singlestep_fixed" => Ok(Method::SinglestepFixed),
        "adaptive" => Ok(Method::Adaptive),
        _ => Err(PipelineError::InvalidInput(format!(
            "unknown method \"{name}\" (expected multistep, singlestep, singlestep_fixed or adaptive)"
        ))),
    }
}

/// Parses a spacing name: `logSNR` (k-diffusion's `exponential`), `time_uniform`,
/// `time_quadratic`, `karras` (rho 7).
pub fn parse_spacing(name: &str) -> Result<Spacing<'static, f32>> {
    match name.trim().to_ascii_lowercase().replace('-', "_").as_str() {
        "logsnr" | "log_snr" | "exponential" => Ok(Spacing::LogSnr),
        "time_uniform" | "uniform" => Ok(Spacing::TimeUniform),
        "time_quadratic" | "quadratic" => Ok(Spacing::TimeQuadratic),
        "karras" => Ok(Spacing::Karras { rho: 7.0 }),
        _ => Err(PipelineError::InvalidInput(format!(
            "unknown spacing \"{name}\" (expected logSNR, time_uniform, time_quadratic or karras)"
        ))),
    }
}

/// Seeded starting noise for images `first .. first + count`: image `i` is
/// `NoiseRng::with_stream(seed, i)` filled with `image_len` standard normals, bit-identical on
/// every target.
pub fn initial_noise(seed: u64, first: usize, count: usize, image_len: usize) -> Vec<f32> {
    let mut x = vec![0.0f32; count * image_len];
    for (k, chunk) in x.chunks_mut(image_len.max(1)).enumerate() {
        NoiseRng::with_stream(seed, (first + k) as u64).fill_gaussian(chunk);
    }
    x
}

/// What the progress callback sees after each completed solver step.
#[derive(Clone, Copy, Debug)]
pub struct Progress<'a> {
    /// The core's report of the step.
    pub report: StepReport<f32>,
    /// Network evaluations so far (a guided pair counts once).
    pub nfe: usize,
    /// Evaluations the run will make (`None` for the adaptive method).
    pub expected_nfe: Option<usize>,
    /// Solver time of the step's last evaluation.
    pub t: f32,
    /// The `x_0` estimate from the step's last evaluation (guided if guidance is on), all
    /// images, not clipped.
    pub x0: &'a [f32],
    /// Images in `x0`.
    pub batch: usize,
    /// Shape of each image.
    pub shape: ImageShape,
}

/// A progress callback that never stops the run.
pub fn no_progress(_: &Progress<'_>) -> ControlFlow<()> {
    ControlFlow::Continue(())
}

/// The result of a generation.
#[derive(Clone, Debug, PartialEq)]
pub struct Generation {
    /// `batch` images, NCHW, in the model's value range (clamped to it if `clip`).
    pub images: Vec<f32>,
    /// Number of images.
    pub batch: usize,
    /// Shape of each image.
    pub shape: ImageShape,
    /// The model's value range.
    pub value_range: (f32, f32),
    /// Label fed to the network for each image (the null class when unconditional).
    pub labels: Vec<i64>,
    /// Evaluation counts (NFE, accepted and rejected steps).
    pub stats: Stats,
    /// Network passes actually run, in images: `nfe x batch`, doubled under guidance.
    pub network_images: usize,
}

impl Generation {
    /// Image `i` (panics if `i >= batch`).
    pub fn image(&self, i: usize) -> &[f32] {
        let n = self.shape.len();
        &self.images[i * n..(i + 1) * n]
    }

    /// Network evaluations (a guided pair counts once).
    pub fn nfe(&self) -> usize {
        self.stats.nfe
    }
}

/// A diffusion model plus the DPM-Solver sampler: options in, images out.
pub struct Pipeline {
    model: DiffusionModel,
}

impl Pipeline {
    /// Loads an ONNX diffusion model (see [`DiffusionModel::from_bytes`]).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        Ok(Pipeline::new(DiffusionModel::from_bytes(bytes)?))
    }

    /// Wraps a loaded model.
    pub fn new(model: DiffusionModel) -> Self {
        Pipeline { model }
    }

    /// The model's metadata.
    pub fn info(&self) -> &ModelInfo {
        self.model.info()
    }

    /// The network.
    pub fn model(&self) -> &DiffusionModel {
        &self.model
    }

    /// The network (for direct evaluation).
    pub fn model_mut(&mut self) -> &mut DiffusionModel {
        &mut self.model
    }

    /// Checks `opts` and optimises the network for the batch they need (2 x batch under
    /// guidance), so the first step is not slower than the others.
    pub fn prepare(&mut self, opts: &GenerateOptions) -> Result<()> {
        self.labels(opts)?;
        let b = if opts.is_guided() {
            2 * opts.batch
        } else {
            opts.batch
        };
        self.model.prepare(b)
    }

    /// Draws `opts.batch` images from the seeded noise of [`initial_noise`]`(opts.seed, 0,
    /// batch, ..)`. `progress` runs after every completed step; `ControlFlow::Break` stops
    /// the run with [`PipelineError::Cancelled`].
    pub fn generate(
        &mut self,
        opts: &GenerateOptions,
        progress: impl FnMut(&Progress<'_>) -> ControlFlow<()>,
    ) -> Result<Generation> {
        let noise = initial_noise(opts.seed, 0, opts.batch, self.info().image_len());
        self.generate_from_noise(noise, opts, progress)
    }

    /// As [`generate`](Self::generate) from caller-given `x_T` (`opts.batch` images; the
    /// seed is not used).
    pub fn generate_from_noise(
        &mut self,
        noise: Vec<f32>,
        opts: &GenerateOptions,
        mut progress: impl FnMut(&Progress<'_>) -> ControlFlow<()>,
    ) -> Result<Generation> {
        let labels = self.labels(opts)?;
        let info = self.model.info().clone();
        let shape = info.shape;
        let dim = shape.len();
        let b = opts.batch;
        let len = b * dim;
        if noise.len() != len {
            return Err(PipelineError::InvalidInput(format!(
                "noise for {b} images needs {len} elements, got {}",
                noise.len()
            )));
        }
        if !opts.guidance_scale.is_finite() {
            return Err(PipelineError::InvalidInput(
                "the guidance scale must be finite".into(),
            ));
        }
        if opts.scheduler.is_none()
            && opts.thresholding.is_some()
            && opts.algorithm != Algorithm::DpmSolverPp
        {
            return Err(PipelineError::InvalidInput(
                "thresholding applies to DPM-Solver++ (data prediction) only".into(),
            ));
        }
        let guided = opts.is_guided();
        let sched_n = info.schedule.num_train_timesteps();
        let mut table = vec![0.0f32; sched_n];
        // The core's model time is 1000 (t - 1/N); the network takes (t - 1/N) N.
        let t_scale = sched_n as f32 / 1000.0;
        let mut x = noise;
        let mut scratch;
        let mut sampler = match &opts.scheduler {
            Some(sc) => {
                let mut sc = *sc;
                *sc.train_mut() = info.schedule.train_config();
                let pred = match info.prediction {
                    Prediction::Noise => "epsilon",
                    Prediction::Data => "sample",
                    Prediction::V => "v_prediction",
                    Prediction::Flow => "flow_prediction",
                    Prediction::Score => {
                        return Err(PipelineError::InvalidInput(
                            "diffusers schedulers take epsilon, sample, v_prediction or \
                             flow_prediction models"
                                .into(),
                        ))
                    }
                };
                if sc.class() != SchedulerClass::FlowMatchEulerDiscrete {
                    sc.set("prediction_type", ConfigValue::Str(pred))?;
                }
                // A flow-matching model samples on flow sigmas (diffusers' configs of such
                // models say use_flow_sigmas; set it for a config written for another model).
                if info.schedule.is_flow() && !sc.is_flow() {
                    sc.set("use_flow_sigmas", ConfigValue::Bool(true))
                        .map_err(|_| {
                            PipelineError::InvalidInput(format!(
                                "{} cannot sample a flow-matching model: use \
                             FlowMatchEulerDiscreteScheduler, UniPC or a DPM-Solver scheduler",
                                sc.class().name()
                            ))
                        })?;
                    if !sc.is_flow() {
                        return Err(PipelineError::InvalidInput(format!(
                            "{} cannot sample a flow-matching model",
                            sc.class().name()
                        )));
                    }
                }
                if !info.schedule.is_flow() && sc.is_flow() {
                    return Err(PipelineError::InvalidInput(
                        "this scheduler config is for flow-matching models (use_flow_sigmas or \
                         FlowMatchEuler) but the model has a discrete (DDPM) schedule"
                            .into(),
                    ));
                }
                sc.set_batch(b);
                scratch = vec![0.0f32; sc.scratch_len(len)];
                Solver::Diffusers(Box::new(DiffusersRun::new(
                    &sc,
                    opts.steps,
                    &mut table,
                    &mut x,
                    &mut scratch,
                    sde_seed(opts.seed),
                    b,
                )?))
            }
            None => {
                let schedule = if info.schedule.is_flow() {
                    NoiseSchedule::flow(sched_n)?
                } else {
                    NoiseSchedule::Discrete(DiscreteVp::from_betas(
                        &info.schedule.betas(),
                        &mut table,
                    )?)
                };
                // logSNR and Karras grids need a finite lambda at both ends: on a flow model they
                // start at t = 1 - 1/N (diffusers' first flow sigma at shift 1), the others at
                // t = 1, pure noise.
                let t_start = (info.schedule.is_flow()
                    && matches!(opts.spacing, Spacing::LogSnr | Spacing::Karras { .. }))
                .then(|| 1.0 - 1.0 / sched_n as f32);
                let config = Config {
                    algorithm: opts.algorithm,
                    method: opts.method,
                    order: opts.order,
                    steps: opts.steps,
                    spacing: opts.spacing,
                    lower_order_final: opts.lower_order_final,
                    denoise_to_zero: opts.denoise_to_zero,
                    prediction: info.prediction,
                    guidance: if guided {
                        Guidance::ClassifierFree {
                            scale: opts.guidance_scale,
                        }
                    } else {
                        Guidance::None
                    },
                    thresholding: opts.thresholding,
                    adaptive: opts.adaptive,
                    multistep_variant: opts.multistep_variant,
                    batch: b,
                    t_start,
                    ..Config::default()
                };
                scratch = vec![0.0f32; config.scratch_len(len)];
                Solver::Dpm(Box::new(Sampler::new(
                    schedule,
                    config,
                    &mut x,
                    &mut scratch,
                )?))
            }
        };
        let eval_b = if guided { 2 * b } else { b };
        let mut class_in = labels.clone();
        if guided {
            let null = info.null_class.expect("checked by labels()");
            class_in.resize(2 * b, null);
        }
        let mut x_in = vec![0.0f32; eval_b * dim];
        let mut t_in = vec![0.0f32; eval_b];
        let mut out = vec![0.0f32; eval_b * dim];
        let mut x0 = vec![0.0f32; len];
        let expected_nfe = opts.expected_nfe();
        self.model.prepare(eval_b)?;
        loop {
            let (alpha, sigma, t) = match sampler.ask() {
                None => break,
                Some(req) => {
                    x_in[..len].copy_from_slice(req.x);
                    if guided {
                        x_in[len..].copy_from_slice(req.x);
                    }
                    // A flow model's time is N t (the core's model time for the flow schedule;
                    // a diffusers run's t_model is already in the 1000-scale of the others).
                    let flow_dpm = info.schedule.is_flow() && opts.scheduler.is_none();
                    t_in.fill(if flow_dpm {
                        req.t_model
                    } else {
                        req.t_model * t_scale
                    });
                    (req.alpha, req.sigma, req.t)
                }
            };
            self.model.eval_into(&x_in, &t_in, &class_in, &mut out)?;
            let report = if guided {
                let (cond, uncond) = out.split_at(len);
                sampler.tell(cond, Some((uncond, opts.guidance_scale)))?
            } else {
                sampler.tell(&out, None)?
            };
            if let Some(report) = report {
                // The x_0 preview of this evaluation (guided output combined as the sampler does).
                if guided {
                    let (a, bb) = conversion(info.prediction, Target::Data, alpha, sigma);
                    let s = opts.guidance_scale;
                    let (cond, uncond) = out.split_at(len);
                    for i in 0..len {
                        let o = dpm_solver::guidance::classifier_free(cond[i], uncond[i], s);
                        x0[i] = a * x_in[i] + bb * o;
                    }
                } else {
                    convert(
                        info.prediction,
                        Target::Data,
                        alpha,
                        sigma,
                        &x_in[..len],
                        &out[..len],
                        &mut x0,
                    )?;
                }
                let p = Progress {
                    report,
                    nfe: sampler.nfe(),
                    expected_nfe,
                    t,
                    x0: &x0,
                    batch: b,
                    shape,
                };
                if progress(&p).is_break() {
                    return Err(PipelineError::Cancelled { nfe: sampler.nfe() });
                }
            }
        }
        let stats = sampler.stats();
        drop(sampler);
        if let Some(i) = x.iter().position(|v| !v.is_finite()) {
            return Err(PipelineError::Solver(dpm_solver::Error::NonFinite {
                buffer: dpm_solver::Buffer::X,
                index: i,
            }));
        }
        if opts.clip {
            let (lo, hi) = info.value_range;
            for v in x.iter_mut() {
                *v = v.clamp(lo, hi);
            }
        }
        Ok(Generation {
            images: x,
            batch: b,
            shape,
            value_range: info.value_range,
            labels,
            stats,
            network_images: stats.nfe * eval_b,
        })
    }

    /// The label of each image; checks batch, classes and guidance against the model.
    fn labels(&self, opts: &GenerateOptions) -> Result<Vec<i64>> {
        let info = self.model.info();
        let b = opts.batch;
        if b == 0 {
            return Err(PipelineError::InvalidInput(
                "batch must be at least 1".into(),
            ));
        }
        if b > 4096 {
            return Err(PipelineError::InvalidInput(
                "batch may be at most 4096".into(),
            ));
        }
        let check = |c: usize| -> Result<i64> {
            if !info.is_conditional() {
                return Err(PipelineError::InvalidInput(
                    "the model is unconditional: it takes no class".into(),
                ));
            }
            if c >= info.num_classes {
                return Err(PipelineError::InvalidInput(format!(
                    "class {c} out of range: the model has classes 0..{}",
                    info.num_classes - 1
                )));
            }
            Ok(c as i64)
        };
        let labels = match &opts.conditioning {
            Conditioning::Unconditional => {
                if info.is_conditional() {
                    let null = info.null_class.ok_or_else(|| {
                        PipelineError::InvalidInput(
                            "the model has no null class, so it cannot sample unconditionally"
                                .into(),
                        )
                    })?;
                    vec![null; b]
                } else {
                    vec![0; b]
                }
            }
            Conditioning::Class(c) => vec![check(*c)?; b],
            Conditioning::PerImage(cs) => {
                if cs.len() != b {
                    return Err(PipelineError::InvalidInput(format!(
                        "{} classes given for a batch of {b}",
                        cs.len()
                    )));
                }
                cs.iter().map(|&c| check(c)).collect::<Result<_>>()?
            }
        };
        if opts.is_guided() && !info.supports_guidance() {
            return Err(PipelineError::InvalidInput(
                "classifier-free guidance needs a model with a null class".into(),
            ));
        }
        Ok(labels)
    }
}
