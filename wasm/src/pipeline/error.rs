//! The pipeline's one error type.

use core::fmt;

/// Everything that can go wrong between ONNX bytes and images. `Display` gives a one-line
/// message fit for end users (the web demo shows it as is).
#[derive(Clone, Debug, PartialEq)]
pub enum PipelineError {
    /// The bytes are not an ONNX model tract can read (truncated, not protobuf, no graph,
    /// unsupported operator, ...).
    Onnx(String),
    /// Facts the pipeline needs that neither the file's `metadata_props`, the load options
    /// nor the graph give: each entry names one (its key, with the values it takes).
    MissingMetadata(Vec<String>),
    /// A `metadata_props` value cannot be used.
    InvalidMetadata {
        /// The key.
        key: String,
        /// Its value.
        value: String,
        /// Why it is rejected.
        reason: String,
    },
    /// The graph's inputs or outputs disagree with the metadata or with what the pipeline
    /// needs (names, element types, shapes).
    Interface(String),
    /// Generation options or call arguments out of range (batch, class, buffer lengths, ...).
    InvalidInput(String),
    /// tract failed while optimising or running the network.
    Inference(String),
    /// The sampler rejected the configuration or a network output (e.g. a NaN).
    Solver(dpm_solver::Error),
    /// The progress callback asked to stop.
    Cancelled {
        /// Network evaluations done before stopping.
        nfe: usize,
    },
}

/// How to pass a missing fact, for the one error that names them all.
const HOW: &str = "store them in the file's metadata_props (train/stamp_metadata.py), pass \
them as load options (JavaScript: new Model(bytes, { metadata: { key: value } }); native \
example: --meta key=value), or pass the diffusers scheduler_config.json for the schedule and \
prediction type (JavaScript: schedulerConfig; native: --scheduler-config); see MODEL.md";

impl fmt::Display for PipelineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PipelineError::Onnx(msg) => write!(f, "cannot load the ONNX model: {msg}"),
            PipelineError::MissingMetadata(keys) => {
                write!(
                    f,
                    "the model does not say {}: {}",
                    crate::text::join(&keys, ", "),
                    HOW
                )
            }
            PipelineError::InvalidMetadata { key, value, reason } => {
                write!(
                    f,
                    "ONNX metadata \"{key}\" = \"{value}\" is invalid: {reason}"
                )
            }
            PipelineError::Interface(msg) => {
                write!(f, "the ONNX model's interface does not fit: {msg}")
            }
            PipelineError::InvalidInput(msg) => write!(f, "invalid input: {msg}"),
            PipelineError::Inference(msg) => write!(f, "network evaluation failed: {msg}"),
            PipelineError::Solver(e) => write!(f, "sampler error: {e}"),
            PipelineError::Cancelled { nfe } => {
                write!(f, "generation cancelled after {nfe} network evaluations")
            }
        }
    }
}

impl std::error::Error for PipelineError {}

impl From<dpm_solver::Error> for PipelineError {
    fn from(e: dpm_solver::Error) -> Self {
        PipelineError::Solver(e)
    }
}

/// Shorthand for the pipeline's results.
pub type Result<T> = core::result::Result<T, PipelineError>;

/// A tract error with its whole context chain on one line.
#[cfg(feature = "pipeline")]
pub(crate) fn tract_msg(e: &tract_onnx::prelude::TractError) -> String {
    format!("{e:#}")
}
