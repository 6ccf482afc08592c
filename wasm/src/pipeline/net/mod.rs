//! tract-onnx networks: ONNX bytes read into a tract model (`onnx`), its inputs and outputs
//! checked and one optimised plan per batch size (`runner`), and the two networks built on
//! them: the diffusion model (`diffusion`) and the image classifier (`classifier`).

mod classifier;
mod diffusion;
mod onnx;
mod runner;

pub use classifier::{Classification, Classifier, ClassifierInfo, CLASSIFIER_CHUNK};
pub use diffusion::{DiffusionModel, PLAN_BATCH};
pub use onnx::external_data_locations;
#[cfg(not(target_arch = "wasm32"))]
pub use onnx::read_external_data;
