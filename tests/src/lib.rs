//! Shared pieces of the cross-crate tests: the conformance fixture format
//! (`dpm-solver-conformance/1`, see `tests/fixtures/README.md`), the exact Gaussian-mixture
//! oracle, and a driver that runs one fixture case through the core's ask/tell loop in `f32` or
//! `f64`.

#![allow(clippy::needless_range_loop)]

use dpm_solver::{
    Betas, Config, DiscreteVp, Guidance, NoiseSchedule, Options, Prediction, Real, Sampler,
};
pub mod diffusers;
pub mod flow;
pub mod options;

use serde::Deserialize;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// A fixture file.
#[derive(Deserialize, Debug)]
pub struct Fixtures {
    /// `dpm-solver-conformance/1`.
    pub format: String,
    /// The cases.
    pub cases: Vec<Case>,
    /// Independent ODE solutions (reference files only).
    #[serde(default)]
    pub exact_ode: Vec<ExactOde>,
}

/// One reference case.
#[derive(Deserialize, Debug, Clone)]
pub struct Case {
    /// Name.
    pub name: String,
    /// Schedule spec (see [`ScheduleSpec`]).
    pub schedule: Value,
    /// Oracle model.
    pub model: Gmm,
    /// Guidance spec or null.
    #[serde(default)]
    pub guidance: Value,
    /// The reference's `sample()` arguments.
    #[serde(default)]
    pub solver: Value,
    /// Start, [B][D].
    #[serde(rename = "x_T")]
    pub x_t: Vec<Vec<f64>>,
    /// Expected results.
    pub expected: Value,
}

/// One exact ODE solution.
#[derive(Deserialize, Debug, Clone)]
pub struct ExactOde {
    /// Name.
    pub name: String,
    /// Schedule spec.
    pub schedule: Value,
    /// Oracle model.
    pub model: Gmm,
    /// Start time.
    pub t_start: f64,
    /// End time.
    pub t_end: f64,
    /// Start, [B][D].
    #[serde(rename = "x_T")]
    pub x_t: Vec<Vec<f64>>,
    /// Solution at `t_end`, [B][D].
    pub x_exact: Vec<Vec<f64>>,
}

/// The Gaussian-mixture data distribution and what the oracle network predicts.
#[derive(Deserialize, Debug, Clone)]
pub struct Gmm {
    /// `noise`, `x_start`, `v` or `score`.
    pub prediction: String,
    /// Mixture weights [K].
    pub weights: Vec<f64>,
    /// Means [K][D].
    pub means: Vec<Vec<f64>>,
    /// Per-dimension variances [K][D].
    pub variances: Vec<Vec<f64>>,
}

/// Reads a fixture file.
pub fn load(path: &Path) -> Result<Fixtures, String> {
    read_json(path)
}

/// Reads and parses a JSON file, the path in the error.
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("cannot parse {}: {e}", path.display()))
}

/// `$var` if set, else `tests/fixtures/<default>`.
pub fn fixture_path(var: &str, default: &str) -> PathBuf {
    match std::env::var_os(var) {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures")
            .join(default),
    }
}

/// Prediction name to the core's enum (reference and diffusers names).
pub fn prediction(name: &str) -> Result<Prediction, String> {
    Ok(match name {
        "noise" | "epsilon" => Prediction::Noise,
        "x_start" | "sample" => Prediction::Data,
        "v" | "v_prediction" => Prediction::V,
        "score" => Prediction::Score,
        "flow" | "flow_prediction" => Prediction::Flow,
        other => return Err(format!("unknown prediction {other}")),
    })
}

// ---------------------------------------------------------------------------------------------
// Schedules

/// A schedule spec from a fixture, with owned table storage.
pub struct ScheduleSpec<T> {
    storage: Vec<T>,
    kind: SpecKind<T>,
}

enum SpecKind<T> {
    Betas(Betas<T>),
    BetaTable,
    AlphasCumprod,
    Linear(T, T),
}

impl<T: Real> ScheduleSpec<T> {
    /// Parses `{"type":"discrete","betas":{...}}`, `{"type":"discrete","betas":[...]}`,
    /// `{"type":"discrete","alphas_cumprod":[...]}` or `{"type":"linear","beta_0":..,"beta_1":..}`.
    pub fn parse(v: &Value) -> Result<Self, String> {
        let ty = v["type"].as_str().ok_or("schedule without type")?;
        match ty {
            "discrete" => {
                if let Some(b) = v.get("betas") {
                    if let Some(list) = b.as_array() {
                        let storage: Vec<T> = list
                            .iter()
                            .map(|x| T::c(x.as_f64().unwrap_or(f64::NAN)))
                            .collect();
                        return Ok(ScheduleSpec {
                            storage,
                            kind: SpecKind::BetaTable,
                        });
                    }
                    let kind = b["kind"].as_str().ok_or("betas without kind")?;
                    let n = b["n"].as_u64().ok_or("betas without n")? as usize;
                    let f = |k: &str| b[k].as_f64().map(T::c).ok_or(format!("betas without {k}"));
                    let betas = match kind {
                        "linear" => Betas::Linear {
                            start: f("start")?,
                            end: f("end")?,
                            n,
                        },
                        "scaled_linear" => Betas::ScaledLinear {
                            start: f("start")?,
                            end: f("end")?,
                            n,
                        },
                        "cosine" | "squaredcos_cap_v2" => Betas::Cosine { n },
                        other => return Err(format!("unknown beta kind {other}")),
                    };
                    return Ok(ScheduleSpec {
                        storage: vec![T::ZERO; n],
                        kind: SpecKind::Betas(betas),
                    });
                }
                if let Some(list) = v.get("alphas_cumprod").and_then(|a| a.as_array()) {
                    let storage: Vec<T> = list
                        .iter()
                        .map(|x| T::c(x.as_f64().unwrap_or(f64::NAN)))
                        .collect();
                    return Ok(ScheduleSpec {
                        storage,
                        kind: SpecKind::AlphasCumprod,
                    });
                }
                Err("discrete schedule without betas or alphas_cumprod".into())
            }
            "linear" => {
                let b0 = v["beta_0"]
                    .as_f64()
                    .ok_or("linear schedule without beta_0")?;
                let b1 = v["beta_1"]
                    .as_f64()
                    .ok_or("linear schedule without beta_1")?;
                Ok(ScheduleSpec {
                    storage: vec![],
                    kind: SpecKind::Linear(T::c(b0), T::c(b1)),
                })
            }
            other => Err(format!("unknown schedule type {other}")),
        }
    }

    /// The core's schedule, borrowing this spec's storage.
    pub fn build(&mut self) -> Result<NoiseSchedule<'_, T>, String> {
        let e = |e: dpm_solver::Error| e.to_string();
        Ok(match &self.kind {
            SpecKind::Betas(b) => {
                NoiseSchedule::Discrete(DiscreteVp::from_betas(b, &mut self.storage).map_err(e)?)
            }
            SpecKind::BetaTable => {
                let table = self.storage.clone();
                NoiseSchedule::Discrete(
                    DiscreteVp::from_beta_table(&table, &mut self.storage).map_err(e)?,
                )
            }
            SpecKind::AlphasCumprod => {
                let table = self.storage.clone();
                NoiseSchedule::Discrete(
                    DiscreteVp::from_alphas_cumprod(&table, &mut self.storage).map_err(e)?,
                )
            }
            SpecKind::Linear(b0, b1) => NoiseSchedule::linear_vp(*b0, *b1).map_err(e)?,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// The oracle

/// The exact network for a Gaussian mixture, evaluated in `f64`.
pub struct Oracle<'g> {
    gmm: &'g Gmm,
    pred: Prediction,
}

impl<'g> Oracle<'g> {
    /// For `gmm`, predicting `gmm.prediction`.
    pub fn new(gmm: &'g Gmm) -> Result<Self, String> {
        Ok(Oracle {
            gmm,
            pred: prediction(&gmm.prediction)?,
        })
    }

    /// The same mixture with another output parameterisation.
    pub fn with_prediction(gmm: &'g Gmm, pred: Prediction) -> Self {
        Oracle { gmm, pred }
    }

    /// Number of dimensions.
    pub fn dim(&self) -> usize {
        self.gmm.means[0].len()
    }

    /// The score `grad log p_t(x)` of the mixture (or of component `only` alone).
    pub fn score(&self, x: &[f64], alpha: f64, sigma: f64, only: Option<usize>) -> Vec<f64> {
        let g = self.gmm;
        let d = x.len();
        let comps: Vec<usize> = match only {
            Some(c) => vec![c],
            None => (0..g.weights.len()).collect(),
        };
        let mut logr = Vec::with_capacity(comps.len());
        for &k in &comps {
            let mut l = if only.is_some() {
                0.0
            } else {
                g.weights[k].ln()
            };
            for i in 0..d {
                let c = alpha * alpha * g.variances[k][i] + sigma * sigma;
                let diff = x[i] - alpha * g.means[k][i];
                l -= 0.5 * ((2.0 * std::f64::consts::PI * c).ln() + diff * diff / c);
            }
            logr.push(l);
        }
        let m = logr.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let z: f64 = logr.iter().map(|l| (l - m).exp()).sum();
        let mut score = vec![0.0; d];
        for (j, &k) in comps.iter().enumerate() {
            let r = (logr[j] - m).exp() / z;
            for i in 0..d {
                let c = alpha * alpha * g.variances[k][i] + sigma * sigma;
                score[i] += r * (-(x[i] - alpha * g.means[k][i]) / c);
            }
        }
        score
    }

    /// The network output for one sample row, in this oracle's prediction type.
    pub fn output(&self, x: &[f64], alpha: f64, sigma: f64, only: Option<usize>) -> Vec<f64> {
        let score = self.score(x, alpha, sigma, only);
        let eps: Vec<f64> = score.iter().map(|s| -sigma * s).collect();
        match self.pred {
            Prediction::Noise => eps,
            Prediction::Data => x
                .iter()
                .zip(&eps)
                .map(|(x, e)| (x - sigma * e) / alpha)
                .collect(),
            Prediction::V => x
                .iter()
                .zip(&eps)
                .map(|(x, e)| {
                    let x0 = (x - sigma * e) / alpha;
                    alpha * e - sigma * x0
                })
                .collect(),
            Prediction::Score => score,
            Prediction::Flow => x
                .iter()
                .zip(&eps)
                .map(|(x, e)| e - (x - sigma * e) / alpha)
                .collect(),
        }
    }

    /// What a guided network is evaluated to for one row: the output, and the second buffer
    /// guidance needs (the unconditional output for classifier-free guidance, the classifier
    /// gradient for classifier guidance).
    pub fn guided(
        &self,
        guidance: CaseGuidance,
        x: &[f64],
        alpha: f64,
        sigma: f64,
    ) -> (Vec<f64>, Option<Vec<f64>>) {
        match guidance {
            CaseGuidance::None => (self.output(x, alpha, sigma, None), None),
            CaseGuidance::ClassifierFree { class, .. } => (
                self.output(x, alpha, sigma, Some(class)),
                Some(self.output(x, alpha, sigma, None)),
            ),
            CaseGuidance::Classifier { class, .. } => (
                self.output(x, alpha, sigma, None),
                Some(self.class_grad(x, alpha, sigma, class)),
            ),
        }
    }

    /// `grad_x log p_t(class c | x)` = score of component `c` minus the mixture's score.
    pub fn class_grad(&self, x: &[f64], alpha: f64, sigma: f64, c: usize) -> Vec<f64> {
        let sc = self.score(x, alpha, sigma, Some(c));
        let s = self.score(x, alpha, sigma, None);
        sc.iter().zip(&s).map(|(a, b)| a - b).collect()
    }
}

// ---------------------------------------------------------------------------------------------
// The driver

/// Parsed `guidance` of a case.
#[derive(Clone, Copy, Debug)]
pub enum CaseGuidance {
    /// None.
    None,
    /// Classifier-free toward component `class`.
    ClassifierFree {
        /// Component.
        class: usize,
        /// Scale.
        scale: f64,
    },
    /// Classifier toward component `class`.
    Classifier {
        /// Component.
        class: usize,
        /// Scale.
        scale: f64,
    },
}

/// Parses a guidance spec.
pub fn parse_guidance(v: &Value) -> Result<CaseGuidance, String> {
    if v.is_null() {
        return Ok(CaseGuidance::None);
    }
    let class = v["class"].as_u64().ok_or("guidance without class")? as usize;
    let scale = v["scale"].as_f64().ok_or("guidance without scale")?;
    match v["type"].as_str() {
        Some("classifier-free") => Ok(CaseGuidance::ClassifierFree { class, scale }),
        Some("classifier") => Ok(CaseGuidance::Classifier { class, scale }),
        other => Err(format!("unknown guidance type {other:?}")),
    }
}

/// The core's config for a reference `solver` spec, read by the core's options module (the
/// spec's keys are the reference's option names; its `atol` / `rtol` are the adaptive group's).
pub fn reference_config<T: Real>(
    solver: &Value,
    guidance: CaseGuidance,
    pred: Prediction,
    batch: usize,
) -> Result<Config<'static, T>, String> {
    let mut spec = solver.clone();
    if let Some(map) = spec.as_object_mut() {
        let mut adaptive = serde_json::Map::new();
        for k in ["atol", "rtol"] {
            if let Some(v) = map.remove(k) {
                adaptive.insert(k.into(), v);
            }
        }
        if !adaptive.is_empty() {
            map.insert("adaptive".into(), Value::Object(adaptive));
        }
    }
    let mut opts = Options::<T>::new();
    options::set_json(&mut opts, &spec)?;
    let guidance = match guidance {
        CaseGuidance::None => Guidance::None,
        CaseGuidance::ClassifierFree { scale, .. } => {
            Guidance::ClassifierFree { scale: T::c(scale) }
        }
        CaseGuidance::Classifier { scale, .. } => Guidance::Classifier { scale: T::c(scale) },
    };
    Ok(Config {
        prediction: pred,
        guidance,
        batch,
        ..opts.config().map_err(|e| e.to_string())?
    })
}

/// The result of one run.
#[derive(Debug, Clone)]
pub struct RunResult {
    /// Final sample, [B][D].
    pub x: Vec<Vec<f64>>,
    /// Network evaluations.
    pub nfe: usize,
}

/// Runs `config` from `x_T` with the exact oracle of `gmm`, computing in `T`. The oracle is
/// evaluated in `f64` at the time it recovers from the model input time, through the `f64`
/// schedule, as a real network would see it.
pub fn run_case<T: Real>(
    schedule: &Value,
    gmm: &Gmm,
    guidance: CaseGuidance,
    config: Config<'_, T>,
    x_t: &[Vec<f64>],
) -> Result<RunResult, String> {
    let oracle = Oracle::new(gmm)?;
    let dim = oracle.dim();
    let batch = x_t.len();
    let mut spec_t = ScheduleSpec::<T>::parse(schedule)?;
    let sched_t = spec_t.build()?;
    let mut spec64 = ScheduleSpec::<f64>::parse(schedule)?;
    let truth = spec64.build()?;

    let mut x: Vec<T> = x_t.iter().flatten().map(|&v| T::c(v)).collect();
    let n = x.len();
    let mut scratch = vec![T::ZERO; config.scratch_len(n)];
    let mut sampler =
        Sampler::new(sched_t, config, &mut x, &mut scratch).map_err(|e| e.to_string())?;
    let mut out = vec![T::ZERO; n];
    let mut second = vec![T::ZERO; n];
    while let Some(req) = sampler.ask() {
        let t = truth.time_from_model_time(req.t_model.to_f64());
        let (alpha, sigma) = (truth.alpha(t), truth.sigma(t));
        for bi in 0..batch {
            let row: Vec<f64> = req.x[bi * dim..(bi + 1) * dim]
                .iter()
                .map(|v| v.to_f64())
                .collect();
            let (o, s) = oracle.guided(guidance, &row, alpha, sigma);
            for i in 0..dim {
                out[bi * dim + i] = T::c(o[i]);
                if let Some(s) = &s {
                    second[bi * dim + i] = T::c(s[i]);
                }
            }
        }
        let r = match guidance {
            CaseGuidance::None => sampler.tell(&out),
            CaseGuidance::ClassifierFree { .. } => sampler.tell_cfg(&out, &second),
            CaseGuidance::Classifier { .. } => sampler.tell_classifier(&out, &second),
        };
        r.map_err(|e| e.to_string())?;
    }
    let nfe = sampler.nfe();
    Ok(RunResult {
        x: x.chunks(dim)
            .map(|c| c.iter().map(|v| v.to_f64()).collect())
            .collect(),
        nfe,
    })
}

/// Runs a reference case in `T`.
pub fn run_reference_case<T: Real>(case: &Case) -> Result<RunResult, String> {
    let guidance = parse_guidance(&case.guidance)?;
    let pred = prediction(&case.model.prediction)?;
    let config = reference_config::<T>(&case.solver, guidance, pred, case.x_t.len())?;
    run_case(&case.schedule, &case.model, guidance, config, &case.x_t)
}

/// `max |a - b|` over all elements.
pub fn max_abs_diff(a: &[Vec<f64>], b: &[Vec<f64>]) -> f64 {
    a.iter()
        .flatten()
        .zip(b.iter().flatten())
        .map(|(x, y)| {
            if x.is_nan() || y.is_nan() {
                f64::INFINITY
            } else {
                (x - y).abs()
            }
        })
        .fold(0.0, f64::max)
}
