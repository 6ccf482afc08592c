//! The diffusers parity fixtures (`diffusers-conformance/1`, see
//! `/work/shared/conformance/README.md`, section `diffusers_public.json`): reading them, mapping
//! a diffusers config onto the core's `dpm_solver::diffusers` types, and running one case with
//! the exact Gaussian-mixture oracle in `f32` or `f64`.

use crate::{Gmm, Oracle};
use dpm_solver::diffusers::{
    ConfigValue, KeyUse, Request, Scheduler, SchedulerClass, SchedulerConfig,
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
    crate::read_json(path)
}

/// The result of one run.
#[derive(Debug, Clone)]
pub struct DiffusersRun {
    /// The scheduler's timesteps.
    pub timesteps: Vec<i64>,
    /// Final sample, [B][D].
    pub x: Vec<Vec<f64>>,
}

/// A diffusers config (JSON object) applied key by key through the core's
/// [`SchedulerConfig::set`], the same path the wasm bindings take. `trained` and `disable`
/// receive the `trained_betas` and `disable_corrector` lists the config borrows. Returns the
/// config and the keys the class ignored (other schedulers' options).
pub fn scheduler_config<'b>(
    class: &str,
    v: &Value,
    trained: &'b mut Vec<f32>,
    disable: &'b mut Vec<usize>,
    batch: usize,
) -> Result<(SchedulerConfig<'b>, Vec<String>), String> {
    let class = SchedulerClass::from_name(class).ok_or(format!("unsupported scheduler {class}"))?;
    let map = v.as_object().ok_or("config is not an object")?;
    let numbers = |key: &str, list: &Vec<Value>| -> Result<Vec<f64>, String> {
        list.iter()
            .map(|e| e.as_f64().ok_or(format!("{key}: not a number: {e}")))
            .collect()
    };
    if let Some(Value::Array(list)) = map.get("trained_betas") {
        *trained = numbers("trained_betas", list)?
            .iter()
            .map(|&b| b as f32)
            .collect();
    }
    if let Some(Value::Array(list)) = map.get("disable_corrector") {
        *disable = list
            .iter()
            .map(|e| {
                e.as_u64()
                    .map(|u| u as usize)
                    .ok_or(format!("disable_corrector: {e}"))
            })
            .collect::<Result<_, _>>()?;
    }
    let (trained, disable): (&'b [f32], &'b [usize]) = (trained, disable);
    let mut cfg = SchedulerConfig::new(class);
    cfg.set_batch(batch);
    let mut ignored = Vec::new();
    for (key, value) in map {
        let cv = match (key.as_str(), value) {
            (_, Value::Null) => ConfigValue::Null,
            (_, Value::Bool(b)) => ConfigValue::Bool(*b),
            (_, Value::Number(n)) => ConfigValue::Number(n.as_f64().unwrap_or(f64::NAN)),
            (_, Value::String(s)) => ConfigValue::Str(s),
            ("trained_betas", Value::Array(_)) => ConfigValue::Floats(trained),
            ("disable_corrector", Value::Array(_)) => ConfigValue::Indices(disable),
            (_, Value::Array(_)) | (_, Value::Object(_)) => ConfigValue::Other,
        };
        match cfg.set(key, cv) {
            Ok(KeyUse::Applied) => {}
            Ok(KeyUse::Ignored) => ignored.push(key.clone()),
            Err(e) => return Err(format!("{key} = {value}: {e}")),
        }
    }
    Ok((cfg, ignored))
}

/// The oracle's output for the whole batch at integer timestep `t`:
/// `alpha = sqrt(alphas_cumprod[t])`, `sigma = sqrt(1 - alphas_cumprod[t])`.
pub fn oracle_output<T: Real>(
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
    let (cfg, _ignored) = scheduler_config(
        &case.scheduler,
        &case.config,
        &mut trained,
        &mut disable,
        batch,
    )?;
    let mut table = vec![0.0f32; cfg.train().num_train_timesteps];
    let mut scratch = vec![T::ZERO; cfg.scratch_len(n)];
    let mut s = Scheduler::<T, MAX_STEPS>::new(
        &cfg,
        case.num_inference_steps,
        &mut table,
        &mut x,
        &mut scratch,
    )
    .map_err(|e| e.to_string())?;
    let ac: Vec<f32> = s.alphas_cumprod().to_vec();
    let timesteps = s.timesteps().to_vec();
    while let Some(req) = s.ask() {
        oracle_output(&oracle, &ac, &req, &mut out, round_outputs)?;
        s.tell(&out).map_err(|e| e.to_string())?;
    }
    Ok(DiffusersRun {
        timesteps,
        x: x.chunks(dim)
            .map(|c| c.iter().map(|v| v.to_f64()).collect())
            .collect(),
    })
}
