//! What an ONNX diffusion model says about itself in its `metadata_props`.

use super::error::{PipelineError, Result};
use dpm_solver::diffusers::{BetaSchedule, TrainConfig};
use dpm_solver::{Betas, Prediction};

/// Shape of one image: `channels x height x width`, stored channel-major (NCHW without N).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageShape {
    /// Channels (1: grey, 3: RGB).
    pub channels: usize,
    /// Height in pixels.
    pub height: usize,
    /// Width in pixels.
    pub width: usize,
}

impl ImageShape {
    /// Elements of one image.
    pub const fn len(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// Whether the image has no elements.
    pub const fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The training noise schedule (`beta_schedule`, `beta_start`, `beta_end`,
/// `num_train_timesteps`, `schedule = discrete`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ScheduleInfo {
    /// DDPM linear betas.
    Linear {
        /// First beta.
        beta_start: f32,
        /// Last beta.
        beta_end: f32,
        /// Number of training steps `N`.
        n: usize,
    },
    /// Stable Diffusion's `scaled_linear` betas.
    ScaledLinear {
        /// First beta.
        beta_start: f32,
        /// Last beta.
        beta_end: f32,
        /// Number of training steps `N`.
        n: usize,
    },
    /// Improved DDPM's `squaredcos_cap_v2`.
    Cosine {
        /// Number of training steps `N`.
        n: usize,
    },
    /// Flow matching (`schedule = flow`): `x_t = (1 - t) x_0 + t eps`, the network's time
    /// input `N t` (diffusers' `sigma * num_train_timesteps`).
    Flow {
        /// `num_train_timesteps` `N`.
        n: usize,
    },
}

impl ScheduleInfo {
    /// The core's beta formula.
    pub fn betas(&self) -> Betas<f32> {
        match *self {
            ScheduleInfo::Linear {
                beta_start,
                beta_end,
                n,
            } => Betas::Linear {
                start: beta_start,
                end: beta_end,
                n,
            },
            ScheduleInfo::ScaledLinear {
                beta_start,
                beta_end,
                n,
            } => Betas::ScaledLinear {
                start: beta_start,
                end: beta_end,
                n,
            },
            ScheduleInfo::Cosine { n } => Betas::Cosine { n },
            // No betas: diffusers' defaults, read only for the DPM-Solver schedulers'
            // `final_sigmas_type = sigma_min` (as diffusers does on flow sigmas).
            ScheduleInfo::Flow { n } => Betas::Linear {
                start: 1e-4,
                end: 0.02,
                n,
            },
        }
    }

    /// Whether this is the flow-matching schedule.
    pub fn is_flow(&self) -> bool {
        matches!(self, ScheduleInfo::Flow { .. })
    }

    /// Number of training steps `N`.
    /// The same schedule as diffusers' `beta_schedule`, `beta_start`, `beta_end`,
    /// `num_train_timesteps`.
    pub fn train_config(&self) -> TrainConfig<'static> {
        let (beta_schedule, beta_start, beta_end) = match *self {
            ScheduleInfo::Linear {
                beta_start,
                beta_end,
                ..
            } => (BetaSchedule::Linear, beta_start, beta_end),
            ScheduleInfo::ScaledLinear {
                beta_start,
                beta_end,
                ..
            } => (BetaSchedule::ScaledLinear, beta_start, beta_end),
            ScheduleInfo::Cosine { .. } => (BetaSchedule::SquaredcosCapV2, 1e-4, 0.02),
            ScheduleInfo::Flow { .. } => (BetaSchedule::Linear, 1e-4, 0.02),
        };
        TrainConfig {
            num_train_timesteps: self.num_train_timesteps(),
            beta_start: beta_start as f64,
            beta_end: beta_end as f64,
            beta_schedule,
            rescale_betas_zero_snr: false,
        }
    }

    /// Number of training steps `N`.
    pub fn num_train_timesteps(&self) -> usize {
        match *self {
            ScheduleInfo::Linear { n, .. }
            | ScheduleInfo::ScaledLinear { n, .. }
            | ScheduleInfo::Cosine { n }
            | ScheduleInfo::Flow { n } => n,
        }
    }
}

/// Everything the pipeline needs to know about a diffusion network, read from the ONNX
/// `metadata_props` (see `train/README.md` for the keys) and checked against the graph.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelInfo {
    /// What the network predicts (`prediction_type`: `epsilon`, `sample`, `v_prediction`).
    pub prediction: Prediction,
    /// The training noise schedule.
    pub schedule: ScheduleInfo,
    /// The image shape (`image_channels`, `image_height`, `image_width`).
    pub shape: ImageShape,
    /// Data range of the images (`value_range`, default `-1,1`).
    pub value_range: (f32, f32),
    /// Number of classes (`num_classes`; 0: unconditional model without a class input).
    pub num_classes: usize,
    /// The class index that means "no class" (`null_class`), for classifier-free guidance.
    pub null_class: Option<i64>,
    /// Human-readable class names (`class_labels`; defaults to the indices).
    pub class_labels: Vec<String>,
    /// Graph input names in the order image, time, class (`input_names`, default `x,t,class`).
    pub input_names: Vec<String>,
    /// The graph output holding the prediction (first of `output_names`, default `eps`).
    pub output_name: String,
    /// `description`, or empty.
    pub description: String,
    /// `training_steps` if present (how far the model was trained).
    pub training_steps: Option<u64>,
    /// All `metadata_props` entries, sorted by key.
    pub metadata: Vec<(String, String)>,
}

impl ModelInfo {
    /// Parses the metadata entries (`key`, `value`) of a diffusion model.
    pub fn from_metadata(entries: &[(String, String)]) -> Result<Self> {
        let mut metadata = entries.to_vec();
        metadata.sort();
        let get = |k: &str| {
            entries
                .iter()
                .rev()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.trim())
        };
        let need = |k: &str| get(k).ok_or_else(|| PipelineError::MissingMetadata(k.to_string()));

        let prediction = match need("prediction_type")? {
            "epsilon" | "eps" | "noise" => Prediction::Noise,
            "sample" | "x0" | "x_start" | "data" => Prediction::Data,
            "v_prediction" | "v" => Prediction::V,
            "flow_prediction" | "flow" | "velocity" => Prediction::Flow,
            other => {
                return Err(invalid(
                    "prediction_type",
                    other,
                    "expected epsilon, sample, v_prediction or flow_prediction",
                ))
            }
        };
        let flow =
            match get("schedule") {
                None | Some("discrete") => false,
                Some("flow") | Some("flow_matching") | Some("rectified_flow") => true,
                Some(s) => return Err(invalid(
                    "schedule",
                    s,
                    "only discrete-time (DDPM) and flow-matching (flow) schedules are supported",
                )),
            };
        if let Some(s) = get("time_input") {
            if s != "discrete" {
                return Err(invalid(
                    "time_input",
                    s,
                    "only discrete timesteps (0..N-1) are supported",
                ));
            }
        }
        let n: usize = parse(need("num_train_timesteps")?, "num_train_timesteps")?;
        if !(2..=100_000).contains(&n) {
            return Err(invalid(
                "num_train_timesteps",
                &n.to_string(),
                "expected 2..=100000",
            ));
        }
        let beta = |k: &str| -> Result<f32> {
            let v: f32 = parse(need(k)?, k)?;
            if !(v > 0.0 && v < 1.0) {
                return Err(invalid(k, &v.to_string(), "a beta must lie in (0, 1)"));
            }
            Ok(v)
        };
        let schedule = match if flow { "flow" } else { need("beta_schedule")? } {
            "flow" => ScheduleInfo::Flow { n },
            "linear" => ScheduleInfo::Linear {
                beta_start: beta("beta_start")?,
                beta_end: beta("beta_end")?,
                n,
            },
            "scaled_linear" => ScheduleInfo::ScaledLinear {
                beta_start: beta("beta_start")?,
                beta_end: beta("beta_end")?,
                n,
            },
            "squaredcos_cap_v2" | "cosine" => ScheduleInfo::Cosine { n },
            other => {
                return Err(invalid(
                    "beta_schedule",
                    other,
                    "expected linear, scaled_linear or squaredcos_cap_v2",
                ))
            }
        };
        let dim = |k: &str| -> Result<usize> {
            let v: usize = parse(need(k)?, k)?;
            if !(1..=4096).contains(&v) {
                return Err(invalid(k, &v.to_string(), "expected 1..=4096"));
            }
            Ok(v)
        };
        let shape = ImageShape {
            channels: dim("image_channels")?,
            height: dim("image_height")?,
            width: dim("image_width")?,
        };
        let value_range = match get("value_range") {
            None => (-1.0, 1.0),
            Some(s) => {
                let parts: Vec<&str> = s.split(',').map(str::trim).collect();
                let bad = || invalid("value_range", s, "expected \"low,high\" with low < high");
                if parts.len() != 2 {
                    return Err(bad());
                }
                let lo: f32 = parts[0].parse().map_err(|_| bad())?;
                let hi: f32 = parts[1].parse().map_err(|_| bad())?;
                if !(lo < hi && lo.is_finite() && hi.is_finite()) {
                    return Err(bad());
                }
                (lo, hi)
            }
        };
        let num_classes: usize = match get("num_classes") {
            None => 0,
            Some(s) => parse(s, "num_classes")?,
        };
        let null_class: Option<i64> = match get("null_class") {
            None => None,
            Some(s) => Some(parse(s, "null_class")?),
        };
        if let Some(nc) = null_class {
            if nc >= 0 && (nc as u64) < num_classes as u64 {
                return Err(invalid(
                    "null_class",
                    &nc.to_string(),
                    "collides with a real class index",
                ));
            }
        }
        let class_labels: Vec<String> = match get("class_labels") {
            Some(s) if !s.is_empty() => s.split(',').map(|v| v.trim().to_string()).collect(),
            _ => (0..num_classes).map(|i| i.to_string()).collect(),
        };
        if class_labels.len() != num_classes {
            return Err(invalid(
                "class_labels",
                get("class_labels").unwrap_or(""),
                &format!(
                    "has {} labels for num_classes = {num_classes}",
                    class_labels.len()
                ),
            ));
        }
        let default_inputs = if num_classes > 0 { "x,t,class" } else { "x,t" };
        let input_names: Vec<String> = get("input_names")
            .unwrap_or(default_inputs)
            .split(',')
            .map(|v| v.trim().to_string())
            .collect();
        let want = if num_classes > 0 { 3 } else { 2 };
        if input_names.len() != want {
            return Err(invalid(
                "input_names",
                &input_names.join(","),
                &format!(
                    "expected {want} names (image, time{})",
                    if want == 3 { ", class" } else { "" }
                ),
            ));
        }
        let output_name = get("output_names")
            .unwrap_or("eps")
            .split(',')
            .next()
            .unwrap_or("eps")
            .trim()
            .to_string();
        let training_steps = get("training_steps").and_then(|s| s.parse().ok());
        Ok(ModelInfo {
            prediction,
            schedule,
            shape,
            value_range,
            num_classes,
            null_class,
            class_labels,
            input_names,
            output_name,
            description: get("description").unwrap_or("").to_string(),
            training_steps,
            metadata,
        })
    }

    /// Elements of one image.
    pub fn image_len(&self) -> usize {
        self.shape.len()
    }

    /// Whether the network takes a class input.
    pub fn is_conditional(&self) -> bool {
        self.num_classes > 0
    }

    /// Whether classifier-free guidance is possible (a class input and a null class).
    pub fn supports_guidance(&self) -> bool {
        self.is_conditional() && self.null_class.is_some()
    }
}

fn invalid(key: &str, value: &str, reason: &str) -> PipelineError {
    PipelineError::InvalidMetadata {
        key: key.to_string(),
        value: value.to_string(),
        reason: reason.to_string(),
    }
}

fn parse<V: core::str::FromStr>(s: &str, key: &str) -> Result<V> {
    s.trim()
        .parse()
        .map_err(|_| invalid(key, s, "not a number of the expected kind"))
}
