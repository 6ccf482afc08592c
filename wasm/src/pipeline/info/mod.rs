//! What an ONNX diffusion model says about itself in its `metadata_props`, with the caller's
//! [`LoadOptions`] applied and checked against the graph: [`ModelInfo`]. The metadata entries
//! (`entries`), the schedule (`schedule`) and the graph's names (`graph`) have modules of
//! their own.

mod entries;
mod graph;
mod schedule;

pub use entries::LoadOptions;
pub use graph::{GraphSummary, CLASS_NAMES, IMAGE_NAMES, OUTPUT_NAMES, TIME_NAMES};
pub use schedule::ScheduleInfo;

use super::error::{PipelineError, Result};
use dpm_solver::Prediction;
use entries::sort_entries;
use graph::{by_convention, output_by_convention};

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

/// Everything the pipeline needs to know about a diffusion network, read from the ONNX
/// `metadata_props` and the caller's [`LoadOptions`], and checked against the graph (every
/// key: `MODEL.md`).
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

/// The metadata keys the pipeline reads (MODEL.md); used to warn about misspelt options.
pub const KEYS: &[&str] = &[
    "prediction_type",
    "schedule",
    "time_input",
    "num_train_timesteps",
    "beta_schedule",
    "beta_start",
    "beta_end",
    "image_channels",
    "image_height",
    "image_width",
    "value_range",
    "num_classes",
    "null_class",
    "class_labels",
    "input_names",
    "output_names",
    "description",
    "training_steps",
];

impl ModelInfo {
    /// Parses the metadata entries (`key`, `value`) of a diffusion model whose graph is not
    /// known (inputs `x, t[, class]`, output `eps` unless `input_names` / `output_names` say
    /// otherwise).
    pub fn from_metadata(entries: &[(String, String)]) -> Result<Self> {
        Self::from_facts(entries, None)
    }

    /// Resolves every fact the pipeline needs from the metadata `entries` (the file's
    /// `metadata_props` with the caller's options applied) and, when given, the graph: input
    /// and output names by convention ([`IMAGE_NAMES`], [`TIME_NAMES`], [`CLASS_NAMES`],
    /// [`OUTPUT_NAMES`]) unless `input_names` / `output_names` name them, the image shape from
    /// the image input's dimensions (metadata that contradicts them is an error). Every fact
    /// still missing is named in one [`PipelineError::MissingMetadata`].
    ///
    /// Inlined into each caller: where the graph is `None` (`from_metadata`, the sampler-only
    /// build's `readOnnxInfo`) the graph checks fold away (8 kB of wasm).
    #[inline(always)]
    pub fn from_facts(entries: &[(String, String)], graph: Option<&GraphSummary>) -> Result<Self> {
        let mut metadata = entries.to_vec();
        sort_entries(&mut metadata);
        metadata.dedup_by(|a, b| a.0 == b.0 && a.1 == b.1);
        let get = |k: &str| {
            entries
                .iter()
                .rev()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.trim())
                .filter(|v| !v.is_empty())
        };
        let mut missing: Vec<String> = Vec::new();

        let prediction = match get("prediction_type") {
            None => {
                missing.push(
                    "prediction_type (epsilon | sample | v_prediction | flow_prediction)".into(),
                );
                Prediction::Noise
            }
            Some(p) => parse_prediction(p)?,
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
        let n: usize = match get("num_train_timesteps") {
            None => {
                missing.push("num_train_timesteps (e.g. 1000)".into());
                1000
            }
            Some(v) => {
                let n: usize = parse(v, "num_train_timesteps")?;
                if !(2..=100_000).contains(&n) {
                    return Err(invalid(
                        "num_train_timesteps",
                        &n.to_string(),
                        "expected 2..=100000",
                    ));
                }
                n
            }
        };
        let mut beta = |k: &str| -> Result<f32> {
            let Some(v) = get(k) else {
                missing.push(format!(
                    "{k} (e.g. {})",
                    if k == "beta_start" { "0.0001" } else { "0.02" }
                ));
                return Ok(0.5);
            };
            let v = crate::decimal::parse_f32(v.trim())
                .ok_or_else(|| invalid(k, v, "not a number of the expected kind"))?;
            if !(v > 0.0 && v < 1.0) {
                return Err(invalid(
                    k,
                    &crate::decimal::f32_text(v),
                    "a beta must lie in (0, 1)",
                ));
            }
            Ok(v)
        };
        let schedule = match get("beta_schedule") {
            // A flow-matching model (`schedule = flow`) has no betas.
            _ if flow => ScheduleInfo::Flow { n },
            None => {
                missing.push("beta_schedule (linear | scaled_linear | squaredcos_cap_v2)".into());
                ScheduleInfo::Cosine { n }
            }
            Some("linear") => ScheduleInfo::Linear {
                beta_start: beta("beta_start")?,
                beta_end: beta("beta_end")?,
                n,
            },
            Some("scaled_linear") => ScheduleInfo::ScaledLinear {
                beta_start: beta("beta_start")?,
                beta_end: beta("beta_end")?,
                n,
            },
            Some("squaredcos_cap_v2" | "cosine") => ScheduleInfo::Cosine { n },
            Some(other) => {
                return Err(invalid(
                    "beta_schedule",
                    other,
                    "expected linear, scaled_linear or squaredcos_cap_v2 (cosine)",
                ))
            }
        };

        // Names: given, or found by convention among the graph's inputs.
        let given_inputs: Option<Vec<String>> = get("input_names").map(|s| {
            s.split(',')
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
                .collect()
        });
        let num_classes_given: Option<usize> = match get("num_classes") {
            None => None,
            Some(s) => Some(super::validate::num_classes(parse(s, "num_classes")?)?),
        };
        let input_names: Vec<String> = match (&given_inputs, graph) {
            (Some(names), _) => {
                if !(2..=3).contains(&names.len()) && !missing.is_empty() {
                    // Say everything at once: the names are wrong too.
                    missing.push(format!(
                        "input_names (\"{}\" is not image,time[,class])",
                        crate::text::join(&names, ",")
                    ));
                    return Err(PipelineError::MissingMetadata(missing));
                }
                if !(2..=3).contains(&names.len()) {
                    return Err(invalid(
                        "input_names",
                        &crate::text::join(&names, ","),
                        "expected 2 or 3 names: image, time[, class]",
                    ));
                }
                names.clone()
            }
            (None, None) => {
                if num_classes_given.unwrap_or(0) > 0 {
                    vec!["x".into(), "t".into(), "class".into()]
                } else {
                    vec!["x".into(), "t".into()]
                }
            }
            (None, Some(g)) => match by_convention(g) {
                Ok(names) => names,
                Err(why) => {
                    // The other facts hang on the inputs: report what is known missing now.
                    missing.push(why);
                    return Err(PipelineError::MissingMetadata(missing));
                }
            },
        };
        if let Some(g) = graph {
            let names: Vec<&str> = g.inputs.iter().map(|(n, _)| n.as_str()).collect();
            for n in &input_names {
                if !names.contains(&n.as_str()) {
                    return Err(PipelineError::Interface(format!(
                        "no graph input named \"{n}\" (inputs: {}); name the image, time and \
                         class inputs with input_names",
                        crate::text::join(&names, ", ")
                    )));
                }
            }
            if names.len() != input_names.len() {
                return Err(PipelineError::Interface(format!(
                    "the graph has {} inputs ({}), the pipeline feeds {} ({})",
                    names.len(),
                    crate::text::join(&names, ", "),
                    input_names.len(),
                    crate::text::join(&input_names, ", ")
                )));
            }
        }
        let conditional = input_names.len() == 3;
        let num_classes = match (conditional, num_classes_given) {
            (true, Some(0)) | (true, None) => {
                // class_labels alone tell the count.
                match get("class_labels") {
                    Some(l) if num_classes_given.is_none() => l.split(',').count(),
                    _ => {
                        missing.push(format!(
                            "num_classes (the graph has a class input \"{}\")",
                            input_names[2]
                        ));
                        0
                    }
                }
            }
            (true, Some(k)) => k,
            (false, Some(k)) if k > 0 && graph.is_some() => {
                return Err(PipelineError::Interface(format!(
                    "num_classes = {k} but the graph has no class input (inputs: {}); name it \
                     with input_names",
                    crate::text::join(&input_names, ", ")
                )))
            }
            (false, _) => 0,
        };

        // Image shape: metadata and graph must agree; either may give it.
        let graph_dims: Option<Vec<Option<usize>>> = graph.and_then(|g| {
            g.inputs
                .iter()
                .find(|(n, _)| *n == input_names[0])
                .and_then(|(_, d)| d.clone())
        });
        if let Some(d) = &graph_dims {
            if d.len() != 4 {
                return Err(PipelineError::Interface(format!(
                    "the image input \"{}\" has {} dimensions, expected 4 ([batch, channels, \
                     height, width])",
                    input_names[0],
                    d.len()
                )));
            }
        }
        let mut dim = |k: &str, axis: usize| -> Result<usize> {
            let from_graph = graph_dims.as_ref().and_then(|d| d[axis]);
            let from_meta = match get(k) {
                None => None,
                Some(s) => {
                    let v: usize = parse(s, k)?;
                    if !(1..=4096).contains(&v) {
                        return Err(invalid(k, &v.to_string(), "expected 1..=4096"));
                    }
                    Some(v)
                }
            };
            match (from_meta, from_graph) {
                (Some(m), Some(g)) if m != g => Err(PipelineError::Interface(format!(
                    "{k} = {m} but the graph's image input \"{}\" has {g} there",
                    input_names[0]
                ))),
                (Some(v), _) | (None, Some(v)) => Ok(v),
                (None, None) => {
                    missing.push(format!("{k} (the graph's image input does not fix it)"));
                    Ok(1)
                }
            }
        };
        let shape = ImageShape {
            channels: dim("image_channels", 1)?,
            height: dim("image_height", 2)?,
            width: dim("image_width", 3)?,
        };
        if !missing.is_empty() {
            return Err(PipelineError::MissingMetadata(missing));
        }
        super::validate::image_elements(shape.channels, shape.height, shape.width)?;

        let value_range = match get("value_range") {
            None => (-1.0, 1.0),
            Some(s) => {
                let parts: Vec<&str> = s.split(',').map(str::trim).collect();
                let bad = || invalid("value_range", s, "expected \"low,high\" with low < high");
                if parts.len() != 2 {
                    return Err(bad());
                }
                let lo = crate::decimal::parse_f32(parts[0]).ok_or_else(bad)?;
                let hi = crate::decimal::parse_f32(parts[1]).ok_or_else(bad)?;
                if !(lo < hi && lo.is_finite() && hi.is_finite()) {
                    return Err(bad());
                }
                (lo, hi)
            }
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
            if num_classes == 0 {
                return Err(invalid(
                    "null_class",
                    &nc.to_string(),
                    "the model has no class input",
                ));
            }
        }
        let class_labels: Vec<String> = match get("class_labels") {
            Some(s) if num_classes > 0 => s.split(',').map(|v| v.trim().to_string()).collect(),
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
        let output_name = match (get("output_names"), graph) {
            (Some(s), _) => s.split(',').next().unwrap_or("").trim().to_string(),
            (None, None) => "eps".into(),
            (None, Some(g)) => output_by_convention(g)?,
        };
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

/// `prediction_type` in every spelling MODEL.md lists.
pub fn parse_prediction(p: &str) -> Result<Prediction> {
    Ok(match p.trim().to_ascii_lowercase().as_str() {
        "epsilon" | "eps" | "noise" => Prediction::Noise,
        "sample" | "x0" | "x_0" | "x_start" | "data" => Prediction::Data,
        "v_prediction" | "v" => Prediction::V,
        "flow_prediction" | "flow" | "velocity" => Prediction::Flow,
        _ => {
            return Err(invalid(
                "prediction_type",
                p,
                "expected epsilon, sample, v_prediction or flow_prediction",
            ))
        }
    })
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
