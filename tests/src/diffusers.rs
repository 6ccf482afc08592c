//! The diffusers parity fixtures (`diffusers-conformance/1`, see
//! `/work/shared/conformance/README.md`, section `diffusers_public.json`): reading them, mapping
//! a diffusers config onto the core's `dpm_solver::diffusers` types, and running one case with
//! the exact Gaussian-mixture oracle in `f32` or `f64`.

use crate::{Gmm, Oracle};
use dpm_solver::diffusers::{
    AlgorithmType, BetaSchedule, DDIMConfig, DDIMScheduler, DPMSolverMultistepConfig,
    DPMSolverMultistepScheduler, DPMSolverSinglestepConfig, DPMSolverSinglestepScheduler,
    FinalSigmasType, PredictionType, Request, SolverType, TimestepSpacing, TrainConfig,
    UniPCMultistepConfig, UniPCMultistepScheduler, UniPCSolverType,
};
use dpm_solver::Real;
use serde::Deserialize;
use serde_json::Value;
use std::path::Path;

/// Inline capacity for the timesteps of one run.
pub const MAX_STEPS: usize = 1024;

/// A diffusers fixture file.
#[derive(Deserialize, Debug)]
pub struct DiffusersFixtures {
    /// `diffusers-conformance/1`.
    pub format: String,
    /// The cases.
    pub cases: Vec<DiffusersCase>,
}

/// One case: a scheduler, its config, a step count, the oracle and the start.
#[derive(Deserialize, Debug, Clone)]
pub struct DiffusersCase {
    /// Name.
    pub name: String,
    /// diffusers class name.
    pub scheduler: String,
    /// Constructor arguments by diffusers' names (`null` stands for `-inf`).
    pub config: Value,
    /// `set_timesteps(num_inference_steps)`.
    pub num_inference_steps: usize,
    /// Oracle model.
    pub model: Gmm,
    /// Start, [B][D].
    #[serde(rename = "x_T")]
    pub x_t: Vec<Vec<f64>>,
    /// `timesteps` and `x_0`.
    pub expected: DiffusersExpected,
}

/// What diffusers produced.
#[derive(Deserialize, Debug, Clone)]
pub struct DiffusersExpected {
    /// `scheduler.timesteps`.
    pub timesteps: Vec<i64>,
    /// The final sample, [B][D].
    pub x_0: Vec<Vec<f64>>,
}

/// Reads a diffusers fixture file.
pub fn load_diffusers(path: &Path) -> Result<DiffusersFixtures, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("cannot parse {}: {e}", path.display()))
}

/// The result of one run.
#[derive(Debug, Clone)]
pub struct DiffusersRun {
    /// The scheduler's timesteps.
    pub timesteps: Vec<i64>,
    /// Final sample, [B][D].
    pub x: Vec<Vec<f64>>,
}

/// A config accessor that records which keys were used.
struct Cfg<'v> {
    v: &'v serde_json::Map<String, Value>,
}

impl<'v> Cfg<'v> {
    fn get(&self, k: &str) -> Option<&'v Value> {
        self.v.get(k)
    }
    fn f64_or(&self, k: &str, d: f64) -> Result<f64, String> {
        match self.get(k) {
            None => Ok(d),
            Some(Value::Null) => Ok(f64::NEG_INFINITY),
            Some(v) => v.as_f64().ok_or(format!("{k}: not a number")),
        }
    }
    fn bool_or(&self, k: &str, d: bool) -> Result<bool, String> {
        match self.get(k) {
            None | Some(Value::Null) => Ok(d),
            Some(v) => v.as_bool().ok_or(format!("{k}: not a bool")),
        }
    }
    fn usize_or(&self, k: &str, d: usize) -> Result<usize, String> {
        match self.get(k) {
            None | Some(Value::Null) => Ok(d),
            Some(v) => v
                .as_u64()
                .map(|u| u as usize)
                .ok_or(format!("{k}: not a count")),
        }
    }
    fn i64_or(&self, k: &str, d: i64) -> Result<i64, String> {
        match self.get(k) {
            None | Some(Value::Null) => Ok(d),
            Some(v) => v.as_i64().ok_or(format!("{k}: not an integer")),
        }
    }
    fn str_or(&self, k: &str, d: &'v str) -> Result<&'v str, String> {
        match self.get(k) {
            None | Some(Value::Null) => Ok(d),
            Some(v) => v.as_str().ok_or(format!("{k}: not a string")),
        }
    }
}

/// Options this layer does not implement: accepted only at their inactive defaults.
fn reject_unsupported(cfg: &Cfg<'_>) -> Result<(), String> {
    for key in [
        "use_exponential_sigmas",
        "use_beta_sigmas",
        "use_lu_lambdas",
        "use_flow_sigmas",
        "use_dynamic_shifting",
        "shift_terminal",
        "solver_p",
    ] {
        match cfg.get(key) {
            None | Some(Value::Null) | Some(Value::Bool(false)) => {}
            Some(v) => return Err(format!("unsupported diffusers option {key} = {v}")),
        }
    }
    if let Some(v) = cfg.get("variance_type") {
        if !v.is_null() {
            return Err(format!("unsupported diffusers option variance_type = {v}"));
        }
    }
    if let Some(v) = cfg.get("flow_shift") {
        if v.as_f64() != Some(1.0) {
            return Err(format!("unsupported diffusers option flow_shift = {v}"));
        }
    }
    Ok(())
}

fn prediction_type(s: &str) -> Result<PredictionType, String> {
    Ok(match s {
        "epsilon" => PredictionType::Epsilon,
        "sample" => PredictionType::Sample,
        "v_prediction" => PredictionType::VPrediction,
        o => return Err(format!("unsupported prediction_type {o}")),
    })
}

fn spacing(s: &str) -> Result<TimestepSpacing, String> {
    Ok(match s {
        "linspace" => TimestepSpacing::Linspace,
        "leading" => TimestepSpacing::Leading,
        "trailing" => TimestepSpacing::Trailing,
        o => return Err(format!("unsupported timestep_spacing {o}")),
    })
}

fn final_sigmas(s: &str) -> Result<FinalSigmasType, String> {
    Ok(match s {
        "zero" => FinalSigmasType::Zero,
        "sigma_min" => FinalSigmasType::SigmaMin,
        o => return Err(format!("unsupported final_sigmas_type {o}")),
    })
}

fn algorithm(s: &str) -> Result<AlgorithmType, String> {
    Ok(match s {
        "dpmsolver" => AlgorithmType::DpmSolver,
        // diffusers maps the unimplemented "deis" to dpmsolver++.
        "dpmsolver++" | "deis" => AlgorithmType::DpmSolverPlusPlus,
        "sde-dpmsolver" => AlgorithmType::SdeDpmSolver,
        "sde-dpmsolver++" => AlgorithmType::SdeDpmSolverPlusPlus,
        o => return Err(format!("unsupported algorithm_type {o}")),
    })
}

fn dpm_solver_type(s: &str) -> Result<SolverType, String> {
    Ok(match s {
        "midpoint" | "logrho" | "bh1" | "bh2" => SolverType::Midpoint,
        "heun" => SolverType::Heun,
        o => return Err(format!("unsupported solver_type {o}")),
    })
}

fn unipc_solver_type(s: &str) -> Result<UniPCSolverType, String> {
    Ok(match s {
        "bh1" => UniPCSolverType::Bh1,
        "bh2" | "midpoint" | "heun" | "logrho" => UniPCSolverType::Bh2,
        o => return Err(format!("unsupported solver_type {o}")),
    })
}

/// The train part of a config; `trained` receives `trained_betas` (float32) if given.
fn train_config<'b>(cfg: &Cfg<'_>, trained: &'b mut Vec<f32>) -> Result<TrainConfig<'b>, String> {
    let d = TrainConfig::default();
    let schedule = match cfg.get("trained_betas") {
        Some(Value::Array(list)) => {
            *trained = list
                .iter()
                .map(|v| {
                    v.as_f64()
                        .map(|f| f as f32)
                        .ok_or("trained_betas: not a number")
                })
                .collect::<Result<_, _>>()?;
            BetaSchedule::Trained(trained.as_slice())
        }
        Some(Value::Null) | None => match cfg.str_or("beta_schedule", "linear")? {
            "linear" => BetaSchedule::Linear,
            "scaled_linear" => BetaSchedule::ScaledLinear,
            "squaredcos_cap_v2" => BetaSchedule::SquaredcosCapV2,
            o => return Err(format!("unsupported beta_schedule {o}")),
        },
        Some(v) => return Err(format!("trained_betas: not a list: {v}")),
    };
    Ok(TrainConfig {
        num_train_timesteps: cfg.usize_or("num_train_timesteps", d.num_train_timesteps)?,
        beta_start: cfg.f64_or("beta_start", d.beta_start)?,
        beta_end: cfg.f64_or("beta_end", d.beta_end)?,
        beta_schedule: schedule,
        rescale_betas_zero_snr: cfg.bool_or("rescale_betas_zero_snr", false)?,
    })
}

/// `DPMSolverMultistepScheduler` config from diffusers' JSON.
pub fn multistep_config<'b>(
    v: &Value,
    trained: &'b mut Vec<f32>,
    batch: usize,
) -> Result<DPMSolverMultistepConfig<'b>, String> {
    let cfg = Cfg {
        v: v.as_object().ok_or("config is not an object")?,
    };
    reject_unsupported(&cfg)?;
    let d = DPMSolverMultistepConfig::default();
    Ok(DPMSolverMultistepConfig {
        solver_order: cfg.usize_or("solver_order", d.solver_order)?,
        prediction_type: prediction_type(cfg.str_or("prediction_type", "epsilon")?)?,
        thresholding: cfg.bool_or("thresholding", d.thresholding)?,
        dynamic_thresholding_ratio: cfg.f64_or("dynamic_thresholding_ratio", 0.995)?,
        sample_max_value: cfg.f64_or("sample_max_value", 1.0)?,
        algorithm_type: algorithm(cfg.str_or("algorithm_type", "dpmsolver++")?)?,
        solver_type: dpm_solver_type(cfg.str_or("solver_type", "midpoint")?)?,
        lower_order_final: cfg.bool_or("lower_order_final", d.lower_order_final)?,
        euler_at_final: cfg.bool_or("euler_at_final", d.euler_at_final)?,
        use_karras_sigmas: cfg.bool_or("use_karras_sigmas", false)?,
        final_sigmas_type: final_sigmas(cfg.str_or("final_sigmas_type", "zero")?)?,
        lambda_min_clipped: cfg.f64_or("lambda_min_clipped", f64::NEG_INFINITY)?,
        timestep_spacing: spacing(cfg.str_or("timestep_spacing", "linspace")?)?,
        steps_offset: cfg.i64_or("steps_offset", 0)?,
        batch,
        train: train_config(&cfg, trained)?,
    })
}

/// `DPMSolverSinglestepScheduler` config from diffusers' JSON.
pub fn singlestep_config<'b>(
    v: &Value,
    trained: &'b mut Vec<f32>,
    batch: usize,
) -> Result<DPMSolverSinglestepConfig<'b>, String> {
    let cfg = Cfg {
        v: v.as_object().ok_or("config is not an object")?,
    };
    reject_unsupported(&cfg)?;
    let d = DPMSolverSinglestepConfig::default();
    Ok(DPMSolverSinglestepConfig {
        solver_order: cfg.usize_or("solver_order", d.solver_order)?,
        prediction_type: prediction_type(cfg.str_or("prediction_type", "epsilon")?)?,
        thresholding: cfg.bool_or("thresholding", d.thresholding)?,
        dynamic_thresholding_ratio: cfg.f64_or("dynamic_thresholding_ratio", 0.995)?,
        sample_max_value: cfg.f64_or("sample_max_value", 1.0)?,
        algorithm_type: algorithm(cfg.str_or("algorithm_type", "dpmsolver++")?)?,
        solver_type: dpm_solver_type(cfg.str_or("solver_type", "midpoint")?)?,
        lower_order_final: cfg.bool_or("lower_order_final", d.lower_order_final)?,
        use_karras_sigmas: cfg.bool_or("use_karras_sigmas", false)?,
        final_sigmas_type: final_sigmas(cfg.str_or("final_sigmas_type", "zero")?)?,
        lambda_min_clipped: cfg.f64_or("lambda_min_clipped", f64::NEG_INFINITY)?,
        batch,
        train: train_config(&cfg, trained)?,
    })
}

/// `UniPCMultistepScheduler` config from diffusers' JSON (`disable` receives
/// `disable_corrector`).
pub fn unipc_config<'b>(
    v: &Value,
    trained: &'b mut Vec<f32>,
    disable: &'b mut Vec<usize>,
    batch: usize,
) -> Result<UniPCMultistepConfig<'b>, String> {
    let cfg = Cfg {
        v: v.as_object().ok_or("config is not an object")?,
    };
    reject_unsupported(&cfg)?;
    let d = UniPCMultistepConfig::default();
    if let Some(Value::Array(list)) = cfg.get("disable_corrector") {
        *disable = list
            .iter()
            .map(|v| {
                v.as_u64()
                    .map(|u| u as usize)
                    .ok_or("disable_corrector: not a count")
            })
            .collect::<Result<_, _>>()?;
    }
    Ok(UniPCMultistepConfig {
        solver_order: cfg.usize_or("solver_order", d.solver_order)?,
        prediction_type: prediction_type(cfg.str_or("prediction_type", "epsilon")?)?,
        thresholding: cfg.bool_or("thresholding", d.thresholding)?,
        dynamic_thresholding_ratio: cfg.f64_or("dynamic_thresholding_ratio", 0.995)?,
        sample_max_value: cfg.f64_or("sample_max_value", 1.0)?,
        predict_x0: cfg.bool_or("predict_x0", true)?,
        solver_type: unipc_solver_type(cfg.str_or("solver_type", "bh2")?)?,
        lower_order_final: cfg.bool_or("lower_order_final", d.lower_order_final)?,
        disable_corrector: disable.as_slice(),
        use_karras_sigmas: cfg.bool_or("use_karras_sigmas", false)?,
        timestep_spacing: spacing(cfg.str_or("timestep_spacing", "linspace")?)?,
        steps_offset: cfg.i64_or("steps_offset", 0)?,
        final_sigmas_type: final_sigmas(cfg.str_or("final_sigmas_type", "zero")?)?,
        batch,
        train: train_config(&cfg, trained)?,
    })
}

/// `DDIMScheduler` config from diffusers' JSON.
pub fn ddim_config<'b>(
    v: &Value,
    trained: &'b mut Vec<f32>,
    batch: usize,
) -> Result<DDIMConfig<'b>, String> {
    let cfg = Cfg {
        v: v.as_object().ok_or("config is not an object")?,
    };
    reject_unsupported(&cfg)?;
    let d = DDIMConfig::default();
    Ok(DDIMConfig {
        clip_sample: cfg.bool_or("clip_sample", d.clip_sample)?,
        clip_sample_range: cfg.f64_or("clip_sample_range", d.clip_sample_range)?,
        set_alpha_to_one: cfg.bool_or("set_alpha_to_one", d.set_alpha_to_one)?,
        steps_offset: cfg.i64_or("steps_offset", 0)?,
        prediction_type: prediction_type(cfg.str_or("prediction_type", "epsilon")?)?,
        thresholding: cfg.bool_or("thresholding", d.thresholding)?,
        dynamic_thresholding_ratio: cfg.f64_or("dynamic_thresholding_ratio", 0.995)?,
        sample_max_value: cfg.f64_or("sample_max_value", 1.0)?,
        timestep_spacing: spacing(cfg.str_or("timestep_spacing", "leading")?)?,
        batch,
        train: train_config(&cfg, trained)?,
    })
}

/// The oracle's output for the whole batch at integer timestep `t`:
/// `alpha = sqrt(alphas_cumprod[t])`, `sigma = sqrt(1 - alphas_cumprod[t])`.
fn oracle_output<T: Real>(
    oracle: &Oracle<'_>,
    alphas_cumprod: &[f32],
    req: &Request<'_, T>,
    out: &mut [T],
    round_outputs: bool,
) -> Result<(), String> {
    let a = usize::try_from(req.timestep)
        .ok()
        .and_then(|t| alphas_cumprod.get(t))
        .ok_or(format!("timestep {} outside the schedule", req.timestep))?;
    let a = *a;
    // torch takes the square roots of the float32 tensor in float32: the ill-conditioned
    // fixtures (e.g. cosine + dpmsolver from t = 999) resolve that rounding.
    let (alpha, sigma) = (a.sqrt() as f64, (1.0f32 - a).sqrt() as f64);
    let dim = oracle.dim();
    for (row, dst) in req.x.chunks(dim).zip(out.chunks_mut(dim)) {
        let xr: Vec<f64> = row.iter().map(|v| v.to_f64()).collect();
        for (d, o) in dst.iter_mut().zip(oracle.output(&xr, alpha, sigma, None)) {
            *d = if round_outputs {
                T::c((o as f32) as f64)
            } else {
                T::c(o)
            };
        }
    }
    Ok(())
}

macro_rules! drive {
    ($s:expr, $oracle:expr, $out:expr, $round:expr) => {{
        let mut s = $s.map_err(|e| e.to_string())?;
        let ac: Vec<f32> = s.alphas_cumprod().to_vec();
        let timesteps = s.timesteps().to_vec();
        while let Some(req) = s.ask() {
            oracle_output($oracle, &ac, &req, $out, $round)?;
            s.tell($out).map_err(|e| e.to_string())?;
        }
        timesteps
    }};
}

/// Runs a case computing in `T`.
pub fn run_diffusers_case<T: Real>(case: &DiffusersCase) -> Result<DiffusersRun, String> {
    run_diffusers_case_with::<T>(case, false)
}

/// Runs a case computing in `T`; with `round_outputs` the network outputs are rounded to
/// float32 first (what any float32 pipeline receives), to measure a case's float32 floor.
pub fn run_diffusers_case_with<T: Real>(
    case: &DiffusersCase,
    round_outputs: bool,
) -> Result<DiffusersRun, String> {
    let expected_pred = match case.model.prediction.as_str() {
        "noise" => "epsilon",
        "x_start" => "sample",
        "v" => "v_prediction",
        o => o,
    };
    let cfg_pred = case
        .config
        .get("prediction_type")
        .and_then(|v| v.as_str())
        .unwrap_or("epsilon");
    if cfg_pred != expected_pred {
        return Err(format!(
            "oracle predicts {} but the config says {cfg_pred}",
            case.model.prediction
        ));
    }
    let oracle = Oracle::new(&case.model)?;
    let dim = oracle.dim();
    let batch = case.x_t.len();
    let mut x: Vec<T> = case.x_t.iter().flatten().map(|&v| T::c(v)).collect();
    if x.len() != batch * dim {
        return Err("x_T rows do not match the model's dimension".into());
    }
    let n = x.len();
    let mut out = vec![T::ZERO; n];
    let mut trained = Vec::new();
    let mut disable = Vec::new();
    let steps = case.num_inference_steps;
    let timesteps = match case.scheduler.as_str() {
        "DPMSolverMultistepScheduler" => {
            let cfg = multistep_config(&case.config, &mut trained, batch)?;
            let mut table = vec![0.0f32; cfg.train.num_train_timesteps];
            let mut scratch = vec![T::ZERO; cfg.scratch_len(n)];
            drive!(
                DPMSolverMultistepScheduler::<T, MAX_STEPS>::new(
                    &cfg,
                    steps,
                    &mut table,
                    &mut x,
                    &mut scratch
                ),
                &oracle,
                &mut out,
                round_outputs
            )
        }
        "DPMSolverSinglestepScheduler" => {
            let cfg = singlestep_config(&case.config, &mut trained, batch)?;
            let mut table = vec![0.0f32; cfg.train.num_train_timesteps];
            let mut scratch = vec![T::ZERO; cfg.scratch_len(n)];
            drive!(
                DPMSolverSinglestepScheduler::<T, MAX_STEPS>::new(
                    &cfg,
                    steps,
                    &mut table,
                    &mut x,
                    &mut scratch
                ),
                &oracle,
                &mut out,
                round_outputs
            )
        }
        "UniPCMultistepScheduler" => {
            let cfg = unipc_config(&case.config, &mut trained, &mut disable, batch)?;
            let mut table = vec![0.0f32; cfg.train.num_train_timesteps];
            let mut scratch = vec![T::ZERO; cfg.scratch_len(n)];
            drive!(
                UniPCMultistepScheduler::<T, MAX_STEPS>::new(
                    &cfg,
                    steps,
                    &mut table,
                    &mut x,
                    &mut scratch
                ),
                &oracle,
                &mut out,
                round_outputs
            )
        }
        "DDIMScheduler" => {
            let cfg = ddim_config(&case.config, &mut trained, batch)?;
            if let Some(eta) = case.config.get("eta").and_then(|v| v.as_f64()) {
                if eta != 0.0 {
                    return Err("DDIM with eta > 0 is not supported".into());
                }
            }
            let mut table = vec![0.0f32; cfg.train.num_train_timesteps];
            let mut scratch = vec![T::ZERO; cfg.scratch_len(n)];
            drive!(
                DDIMScheduler::<T, MAX_STEPS>::new(&cfg, steps, &mut table, &mut x, &mut scratch),
                &oracle,
                &mut out,
                round_outputs
            )
        }
        other => return Err(format!("unsupported scheduler {other}")),
    };
    Ok(DiffusersRun {
        timesteps,
        x: x.chunks(dim)
            .map(|c| c.iter().map(|v| v.to_f64()).collect())
            .collect(),
    })
}
