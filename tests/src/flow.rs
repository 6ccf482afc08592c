//! Flow matching in the tests: the exact velocity of a Gaussian mixture under the linear path
//! `x_s = (1 - s) x_0 + s eps`, and the diffusers flow parity fixtures
//! (`diffusers-flow-conformance/1`, see `/work/shared/conformance/README.md`, section
//! `diffusers_flow_public.json`): reading them and running one case through the core's
//! diffusers layer (`SchedulerConfig::set` key by key, the `Scheduler` enum).

use crate::diffusers::{scheduler_config, MAX_STEPS};
use crate::Gmm;
use dpm_solver::diffusers::Scheduler;
use dpm_solver::Real;
use serde::Deserialize;
use serde_json::Value;
use std::path::Path;

/// A flow fixture file.
#[derive(Deserialize, Debug)]
pub struct FlowFixtures {
    /// `diffusers-flow-conformance/1`.
    pub format: String,
    /// The cases.
    pub cases: Vec<FlowCase>,
}

/// One case: a scheduler, its config, `set_timesteps`' arguments, the oracle and the start.
#[derive(Deserialize, Debug, Clone)]
pub struct FlowCase {
    /// Name.
    pub name: String,
    /// diffusers class name.
    pub scheduler: String,
    /// Constructor arguments by diffusers' names.
    pub config: Value,
    /// Extra `set_timesteps` keyword arguments (`mu`).
    #[serde(default)]
    pub set_timesteps: Value,
    /// `set_timesteps(num_inference_steps)`.
    pub num_inference_steps: usize,
    /// Oracle model (`path: "flow"`).
    pub model: FlowModel,
    /// Start, [B][D].
    #[serde(rename = "x_T")]
    pub x_t: Vec<Vec<f64>>,
    /// What diffusers produced.
    pub expected: FlowExpected,
}

/// The oracle of a flow case: a Gaussian mixture and its path and output.
#[derive(Deserialize, Debug, Clone)]
pub struct FlowModel {
    /// `"flow"`: `x_s = (1 - s) x_0 + s eps`.
    #[serde(default)]
    pub path: Option<String>,
    /// The mixture (and `prediction`: `flow`, `noise`, `x_start`, `v`).
    #[serde(flatten)]
    pub gmm: Gmm,
}

/// What diffusers produced.
#[derive(Deserialize, Debug, Clone)]
pub struct FlowExpected {
    /// `scheduler.timesteps` (floats).
    pub timesteps: Vec<f64>,
    /// `scheduler.sigmas`, the final sigma included.
    pub sigmas: Vec<f64>,
    /// The final sample, [B][D].
    pub x_0: Vec<Vec<f64>>,
}

/// Reads a flow fixture file.
pub fn load_flow(path: &Path) -> Result<FlowFixtures, String> {
    crate::read_json(path)
}

/// `E[x_0 | x_s]` of the mixture under the path `x_s = alpha x_0 + sigma eps`, computed
/// directly (finite at `alpha = 0`, where it is the mixture's mean).
pub fn posterior_mean(g: &Gmm, x: &[f64], alpha: f64, sigma: f64) -> Vec<f64> {
    let d = x.len();
    let k = g.weights.len();
    let mut logr = vec![0.0; k];
    for (j, l) in logr.iter_mut().enumerate() {
        *l = g.weights[j].ln();
        for i in 0..d {
            let c = alpha * alpha * g.variances[j][i] + sigma * sigma;
            let diff = x[i] - alpha * g.means[j][i];
            *l -= 0.5 * ((2.0 * std::f64::consts::PI * c).ln() + diff * diff / c);
        }
    }
    let m = logr.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let z: f64 = logr.iter().map(|l| (l - m).exp()).sum();
    let mut x0 = vec![0.0; d];
    for j in 0..k {
        let r = (logr[j] - m).exp() / z;
        for i in 0..d {
            let (mu, var) = (g.means[j][i], g.variances[j][i]);
            let c = alpha * alpha * var + sigma * sigma;
            x0[i] += r * (mu + alpha * var / c * (x[i] - alpha * mu));
        }
    }
    x0
}

/// The exact network output at flow time `s` (`alpha = 1 - s`, `sigma = s`) for one row, in
/// the prediction `pred` (`flow`: `v = eps - x_0`; `noise`, `x_start`, `v`).
pub fn flow_output(g: &Gmm, pred: &str, x: &[f64], s: f64) -> Result<Vec<f64>, String> {
    let a = 1.0 - s;
    let x0 = posterior_mean(g, x, a, s);
    let eps = |i: usize| (x[i] - a * x0[i]) / s;
    (0..x.len())
        .map(|i| match pred {
            "flow" | "flow_prediction" => Ok(eps(i) - x0[i]),
            "noise" | "epsilon" => Ok(eps(i)),
            "x_start" | "sample" => Ok(x0[i]),
            "v" | "v_prediction" => Ok(a * eps(i) - s * x0[i]),
            o => Err(format!("unknown prediction {o}")),
        })
        .collect()
}

/// The result of one run.
#[derive(Debug, Clone)]
pub struct FlowRun {
    /// The scheduler's timesteps as the network receives them.
    pub timesteps: Vec<f64>,
    /// The whole sigma array, the final one included.
    pub sigmas: Vec<f64>,
    /// Final sample, [B][D].
    pub x: Vec<Vec<f64>>,
}

/// Runs a flow case computing in `T`; step `i` evaluates the oracle at the scheduler's own
/// `sigmas[i]`.
pub fn run_flow_case<T: Real>(case: &FlowCase) -> Result<FlowRun, String> {
    if let Some(p) = &case.model.path {
        if p != "flow" {
            return Err(format!("model.path {p} is not flow"));
        }
    }
    let g = &case.model.gmm;
    let dim = g.means.first().map_or(0, |m| m.len());
    let batch = case.x_t.len();
    let mut x: Vec<T> = case.x_t.iter().flatten().map(|&v| T::c(v)).collect();
    if dim == 0 || x.len() != batch * dim {
        return Err("x_T rows do not match the model's dimension".into());
    }
    let n = x.len();
    let (mut trained, mut disable) = (Vec::new(), Vec::new());
    let (mut cfg, _ignored) = scheduler_config(
        &case.scheduler,
        &case.config,
        &mut trained,
        &mut disable,
        batch,
    )?;
    match &case.set_timesteps {
        Value::Null => {}
        Value::Object(m) => {
            for (k, v) in m {
                match (k.as_str(), v) {
                    ("mu", Value::Null) => cfg.set_mu(None),
                    ("mu", v) => cfg.set_mu(Some(v.as_f64().ok_or("mu is not a number")?)),
                    (k, _) => return Err(format!("unsupported set_timesteps argument {k}")),
                }
            }
        }
        v => return Err(format!("set_timesteps is not an object: {v}")),
    }
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
    let timesteps: Vec<f64> = s.times().iter().map(|&t| t as f64).collect();
    let sigmas: Vec<f64> = s.sigmas_with_final().map(|v| v as f64).collect();
    let mut out = vec![T::ZERO; n];
    while let Some(req) = s.ask() {
        let sigma = sigmas[req.step_index];
        for (row, dst) in req.x.chunks(dim).zip(out.chunks_mut(dim)) {
            let xr: Vec<f64> = row.iter().map(|v| v.to_f64()).collect();
            for (d, o) in dst
                .iter_mut()
                .zip(flow_output(g, &g.prediction, &xr, sigma)?)
            {
                *d = T::c(o);
            }
        }
        s.tell(&out).map_err(|e| e.to_string())?;
    }
    Ok(FlowRun {
        timesteps,
        sigmas,
        x: x.chunks(dim)
            .map(|c| c.iter().map(|v| v.to_f64()).collect())
            .collect(),
    })
}
