//! Generation: options, seeded noise, the ask/tell loop over the network, progress and
//! cancellation.

use core::ops::ControlFlow;

use dpm_solver::diffusers::{ConfigValue, SchedulerClass, SchedulerConfig};
use dpm_solver::family::Solver;
use dpm_solver::options::{generate_profile, Options, Value};
use dpm_solver::{
    Algorithm, Config, DiscreteVp, Guidance, Method, NoiseSchedule, Prediction, Spacing, Stats,
    StepReport,
};

use super::error::{PipelineError, Result};
use super::info::{ImageShape, ModelInfo};
use super::net::DiffusionModel;
use super::noise::{initial_noise, sde_seed};

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

/// Everything that configures one [`Pipeline::generate`] call. `Default` is the core's
/// [`generate_profile`] (DPM-Solver++(2M), 10 NFE, logSNR spacing), batch 1,
/// unconditional, seed 0. `'a`: the lists the options borrow (a custom spacing's times, a
/// scheduler config's `trained_betas` and `disable_corrector`); a [`Run`] keeps copies.
#[derive(Clone, Debug, PartialEq)]
pub struct GenerateOptions<'a> {
    /// Noise seed: image `i` starts from `NoiseRng::with_stream(seed, first_image + i)`, so an
    /// image does not depend on the batch size it is drawn in.
    pub seed: u64,
    /// Index of this batch's first image in a larger batch (default 0): image `i` draws its
    /// starting noise (and an SDE's step noise) from stream `first_image + i`, so a batch
    /// split into parts (the worker pool's shards) gives the same images as the whole.
    pub first_image: usize,
    /// Images per call.
    pub batch: usize,
    /// Classes.
    pub conditioning: Conditioning,
    /// Classifier-free guidance scale `s` (`uncond + s (cond - uncond)`); 1 runs the
    /// conditional model alone (one pass), anything else runs the conditional and
    /// unconditional passes as one batch of `2 batch`. Not 1 on an unconditional model is an
    /// error; ignored when a conditional model samples unconditionally.
    pub guidance_scale: f32,
    /// The DPM-Solver options, the core's configuration as its options module parses it
    /// ([`Options::set`]; default [`generate_profile`]). The run takes `prediction` from the
    /// model and `guidance` and `batch` from the fields above (whatever is set here); a
    /// `t_start` left unset starts a flow model's logSNR and Karras grids at `1 - 1/N`.
    /// `steps` is also a diffusers scheduler's `num_inference_steps`.
    pub solver: Config<'a, f32>,
    /// Clamp the result to the model's value range.
    pub clip: bool,
    /// A diffusers scheduler (UniPC, diffusers' DPM-Solver++ and its SDE variant, DDIM)
    /// instead of the DPM-Solver options (only `solver.steps` is then used, as
    /// `num_inference_steps`). Its training schedule and `prediction_type` are set from the
    /// model; the SDE variants draw image `i`'s step noise from stream `i` of
    /// `sde_seed(seed)`.
    pub scheduler: Option<SchedulerConfig<'a>>,
}

impl Default for GenerateOptions<'_> {
    fn default() -> Self {
        GenerateOptions {
            seed: 0,
            first_image: 0,
            batch: 1,
            conditioning: Conditioning::Unconditional,
            guidance_scale: 1.0,
            solver: generate_profile(),
            clip: true,
            scheduler: None,
        }
    }
}

impl GenerateOptions<'_> {
    /// Network evaluations the run will make (`None` for the adaptive method, which decides
    /// as it goes; the core's [`Config::expected_nfe`]). A guided pair counts once, as in the
    /// paper.
    pub fn expected_nfe(&self) -> Option<usize> {
        if self.scheduler.is_some() {
            return Some(self.solver.steps);
        }
        self.solver.expected_nfe()
    }

    /// Whether the run uses classifier-free guidance (two passes per evaluation).
    pub fn is_guided(&self) -> bool {
        self.conditioning != Conditioning::Unconditional && self.guidance_scale != 1.0
    }
}

/// One DPM-Solver option by name through the core's options module (see
/// [`dpm_solver::options`] for the names).
fn one<T>(key: &str, name: &str, pick: impl Fn(&Config<'static, f32>) -> T) -> Result<T> {
    let mut o = Options::<f32>::new();
    o.set(key, Value::Str(name))
        .map_err(|e| PipelineError::InvalidInput(e.to_string()))?;
    let c = o
        .config()
        .map_err(|e| PipelineError::InvalidInput(e.to_string()))?;
    Ok(pick(&c))
}

/// Parses a solver name (the core's `algorithm` option): `dpmsolver` or `dpmsolver++`
/// (= `dpmsolverpp`), ignoring case, `_` and `-`.
pub fn parse_algorithm(name: &str) -> Result<Algorithm> {
    one("algorithm", name.trim(), |c| c.algorithm)
}

/// Parses a method name (the core's `method` option): `multistep`, `singlestep`,
/// `singlestep_fixed`, `adaptive`.
pub fn parse_method(name: &str) -> Result<Method> {
    one("method", name.trim(), |c| c.method)
}

/// Parses a spacing name (the core's `spacing` option): `logSNR` (k-diffusion's
/// `exponential`), `time_uniform`, `time_quadratic`, `karras` (rho 7).
pub fn parse_spacing(name: &str) -> Result<Spacing<'static, f32>> {
    one("spacing", name.trim(), |c| c.spacing)
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
    /// Image `i` (an empty slice if `i >= batch`).
    pub fn image(&self, i: usize) -> &[f32] {
        let n = self.shape.len();
        // Empty past the batch (never an index panic).
        i.checked_mul(n)
            .and_then(|a| self.images.get(a..a.checked_add(n)?))
            .unwrap_or(&[])
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

    /// Draws `opts.batch` images from the seeded noise of [`initial_noise`]`(opts.seed,
    /// opts.first_image, batch, ..)`. `progress` runs after every completed step; `ControlFlow::Break` stops
    /// the run with [`PipelineError::Cancelled`].
    pub fn generate(
        &mut self,
        opts: &GenerateOptions,
        progress: impl FnMut(&Progress<'_>) -> ControlFlow<()>,
    ) -> Result<Generation> {
        self.labels(opts)?;
        super::validate::batch_elements(opts.batch, self.info().image_len(), opts.is_guided())?;
        let noise = self.seeded_noise(opts);
        self.generate_from_noise(noise, opts, progress)
    }

    /// The starting noise of [`generate`](Self::generate): image `i` from stream
    /// `opts.first_image + i` of `opts.seed` (the one place that derives it).
    pub fn seeded_noise(&self, opts: &GenerateOptions) -> Vec<f32> {
        initial_noise(
            opts.seed,
            opts.first_image,
            opts.batch,
            self.info().image_len(),
        )
    }

    /// As [`generate`](Self::generate) from caller-given `x_T` (`opts.batch` images; the
    /// seed is not used).
    pub fn generate_from_noise(
        &mut self,
        noise: Vec<f32>,
        opts: &GenerateOptions,
        mut progress: impl FnMut(&Progress<'_>) -> ControlFlow<()>,
    ) -> Result<Generation> {
        let mut run = self.start(noise, opts)?;
        loop {
            match run.step(&mut self.model)? {
                Step::Done => break,
                Step::Evaluated => {}
                Step::Completed(p) => {
                    if progress(&p).is_break() {
                        return Err(PipelineError::Cancelled { nfe: p.nfe });
                    }
                }
            }
        }
        run.finish()
    }

    /// Starts a generation from `noise` (`opts.batch` images of `x_T`) and prepares the
    /// network for it; [`Run::step`] then makes one network evaluation at a time, so a caller
    /// can yield between evaluations (an event loop, a cancel button). The run owns what it
    /// uses: it borrows neither `opts` nor the pipeline.
    pub fn start(&mut self, noise: Vec<f32>, opts: &GenerateOptions) -> Result<Run> {
        let labels = self.labels(opts)?;
        let info = self.model.info().clone();
        let shape = info.shape;
        let dim = shape.len();
        let b = opts.batch;
        let len = super::validate::batch_elements(b, dim, opts.is_guided())?;
        if noise.len() != len {
            return Err(PipelineError::InvalidInput(format!(
                "noise for {b} images needs {len} elements, got {}",
                noise.len()
            )));
        }
        // Written `!(a <= b)` so that NaN is refused too.
        #[allow(clippy::neg_cmp_op_on_partial_ord)]
        if !(opts.guidance_scale.abs() <= super::validate::MAX_GUIDANCE) {
            return Err(PipelineError::InvalidInput(format!(
                "the guidance scale must be finite and at most {:e} in magnitude, got {}",
                super::validate::MAX_GUIDANCE,
                opts.guidance_scale
            )));
        }
        if opts.scheduler.is_none()
            && opts.solver.thresholding.is_some()
            && opts.solver.algorithm != Algorithm::DpmSolverPp
        {
            return Err(PipelineError::InvalidInput(
                "thresholding applies to DPM-Solver++ (data prediction) only".into(),
            ));
        }
        let guided = opts.is_guided();
        let sched_n = info.schedule.num_train_timesteps();
        let mut sampler = match &opts.scheduler {
            Some(sc) => {
                let sc = diffusers_config(sc, &info)?;
                Solver::diffusers(
                    &sc,
                    opts.solver.steps,
                    noise,
                    b,
                    guided.then_some(opts.guidance_scale),
                    sde_seed(opts.seed),
                    opts.first_image,
                )?
            }
            None => {
                let mut table = Vec::new();
                let schedule = if info.schedule.is_flow() {
                    NoiseSchedule::flow(sched_n)?
                } else {
                    table.resize(sched_n, 0.0f32);
                    NoiseSchedule::Discrete(DiscreteVp::from_betas(
                        &info.schedule.betas(),
                        &mut table,
                    )?)
                };
                // logSNR and Karras grids need a finite lambda at both ends: on a flow model they
                // start at t = 1 - 1/N (diffusers' first flow sigma at shift 1), the others at
                // t = 1, pure noise.
                let t_start = opts.solver.t_start.or_else(|| {
                    (info.schedule.is_flow()
                        && matches!(
                            opts.solver.spacing,
                            Spacing::LogSnr | Spacing::Karras { .. }
                        ))
                    .then(|| 1.0 - 1.0 / sched_n as f32)
                });
                let config = Config {
                    prediction: info.prediction,
                    guidance: if guided {
                        Guidance::ClassifierFree {
                            scale: opts.guidance_scale,
                        }
                    } else {
                        Guidance::None
                    },
                    batch: b,
                    t_start,
                    ..opts.solver
                };
                Solver::dpm(schedule, config, noise)?
            }
        };
        // The progress reports' x_0, from the solver's own (guided) output.
        sampler.set_preview(true);
        let eval_b = if guided { 2 * b } else { b };
        let mut class_in = labels.clone();
        if guided {
            let null = info.null_class.expect("checked by labels()");
            class_in.resize(2 * b, null);
        }
        let x_in = vec![0.0f32; eval_b * dim];
        let t_in = vec![0.0f32; eval_b];
        let out = vec![0.0f32; eval_b * dim];
        let expected_nfe = opts.expected_nfe();
        self.model.prepare(eval_b)?;
        // The DPM-Solver sampler's model time is 1000 (t - 1/N) and the network takes
        // (t - 1/N) N; a flow model's time is N t, the core's model time for the flow schedule
        // already. (A diffusers run hands the network its timestep as it is.)
        let t_scale = if info.schedule.is_flow() {
            1.0
        } else {
            sched_n as f32 / 1000.0
        };
        Ok(Run {
            sampler,
            info,
            guided,
            clip: opts.clip,
            len,
            t_scale,
            labels,
            class_in,
            x_in,
            t_in,
            out,
            expected_nfe,
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
        if opts.guidance_scale != 1.0 && !info.is_conditional() {
            return Err(PipelineError::InvalidInput(format!(
                "guidance {} asked of an unconditional model (it has no class input): \
                 classifier-free guidance needs a class-conditional model with a null class; \
                 use guidance 1",
                opts.guidance_scale
            )));
        }
        if opts.is_guided() && !info.supports_guidance() {
            return Err(PipelineError::InvalidInput(
                "classifier-free guidance needs a model with a null class".into(),
            ));
        }
        Ok(labels)
    }
}

/// A diffusers scheduler config as the model needs it: its training schedule and
/// `prediction_type` from the model's metadata, flow sigmas for a flow-matching model.
fn diffusers_config<'c>(sc: &SchedulerConfig<'c>, info: &ModelInfo) -> Result<SchedulerConfig<'c>> {
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
    // A flow-matching model samples on flow sigmas (diffusers' configs of such models say
    // use_flow_sigmas; set it for a config written for another model).
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
    Ok(sc)
}

/// What one [`Run::step`] did.
#[derive(Debug)]
pub enum Step<'r> {
    /// One network evaluation inside a solver step (a singlestep or adaptive stage).
    Evaluated,
    /// One network evaluation that completed a solver step.
    Completed(Progress<'r>),
    /// The run is over (no evaluation was made): call [`Run::finish`].
    Done,
}

/// A generation in progress ([`Pipeline::start`]): the solver (which owns `x` and its
/// buffers) and the network's input and output batches.
pub struct Run {
    sampler: Solver<f32>,
    info: ModelInfo,
    guided: bool,
    clip: bool,
    len: usize,
    t_scale: f32,
    labels: Vec<i64>,
    class_in: Vec<i64>,
    x_in: Vec<f32>,
    t_in: Vec<f32>,
    out: Vec<f32>,
    expected_nfe: Option<usize>,
}

impl Run {
    /// Network evaluations so far (a guided pair counts once).
    pub fn nfe(&self) -> usize {
        self.sampler.nfe()
    }

    /// Evaluations the run will make (`None` for the adaptive method).
    pub fn expected_nfe(&self) -> Option<usize> {
        self.expected_nfe
    }

    /// Whether the solver needs no more evaluations.
    pub fn is_done(&self) -> bool {
        self.sampler.is_done()
    }

    /// Makes the next network evaluation on `model` (the one the run was started on) and
    /// tells the solver; an evaluation that completes a step comes with its `x_0` preview.
    pub fn step(&mut self, model: &mut DiffusionModel) -> Result<Step<'_>> {
        let len = self.len;
        let t = match self.sampler.ask() {
            None => return Ok(Step::Done),
            Some(req) => {
                self.x_in[..len].copy_from_slice(req.x);
                if self.guided {
                    self.x_in[len..].copy_from_slice(req.x);
                }
                // A diffusers scheduler's own timestep, as diffusers feeds it; the DPM-Solver
                // sampler's model time in the network's units.
                let t_net = req.timestep.unwrap_or(req.t_model * self.t_scale);
                self.t_in.fill(t_net);
                req.t
            }
        };
        model.eval_into(&self.x_in, &self.t_in, &self.class_in, &mut self.out)?;
        let report = if self.guided {
            let (cond, uncond) = self.out.split_at(len);
            self.sampler.tell_cfg(cond, uncond)?
        } else {
            self.sampler.tell(&self.out)?
        };
        let Some(report) = report else {
            return Ok(Step::Evaluated);
        };
        Ok(Step::Completed(Progress {
            report,
            nfe: self.sampler.nfe(),
            expected_nfe: self.expected_nfe,
            t,
            x0: self.sampler.preview().unwrap_or(&[]),
            batch: self.labels.len(),
            shape: self.info.shape,
        }))
    }

    /// Ends the run: `x`, checked finite, clamped to the value range if asked.
    pub fn finish(self) -> Result<Generation> {
        let b = self.labels.len();
        let stats = self.sampler.stats();
        let mut x = self.sampler.into_x();
        if let Some(i) = x.iter().position(|v| !v.is_finite()) {
            return Err(PipelineError::Solver(dpm_solver::Error::NonFinite {
                buffer: dpm_solver::Buffer::X,
                index: i,
            }));
        }
        if self.clip {
            let (lo, hi) = self.info.value_range;
            for v in x.iter_mut() {
                *v = v.clamp(lo, hi);
            }
        }
        Ok(Generation {
            images: x,
            batch: b,
            shape: self.info.shape,
            value_range: self.info.value_range,
            labels: self.labels,
            stats,
            network_images: stats.nfe * if self.guided { 2 * b } else { b },
        })
    }
}
