//! The tract-onnx diffusion pipeline (native and wasm32): ONNX bytes in, images out.
//!
//! - [`DiffusionModel`]: loads an ONNX UNet from bytes (and [`LoadOptions`]: facts the file
//!   lacks, a diffusers `scheduler_config.json`, external-data side files), resolves its
//!   `metadata_props`, the options and the graph into a [`ModelInfo`] (prediction type,
//!   schedule, image shape, value range, classes, input names; `MODEL.md` is the contract),
//!   checks the graph against it, and evaluates batches (one optimised tract plan per batch
//!   size), casting the time and class inputs to the graph's types.
//! - [`SchedulerJson`]: a diffusers `scheduler_config.json` as Python writes it
//!   (`-Infinity`, `NaN` accepted).
//! - [`Pipeline`]: [`GenerateOptions`] in, [`Generation`] out, with the core's solver family
//!   ([`dpm_solver::family::Solver`]: the DPM-Solver sampler or a diffusers scheduler): seeded
//!   portable noise ([`initial_noise`]), classifier-free guidance as one batch of `2 B`
//!   (`tell_cfg`), a per-step [`Progress`] callback with the solver's `x_0` preview that can
//!   cancel.
//! - [`Classifier`]: scores images (logits and features), e.g. for accuracy and Frechet
//!   distances.
//! - [`to_rgba`], [`grid_rgba`], [`GridLayout`]: bytes for a canvas or a PNG.
//! - [`metrics`]: mean, covariance and the Frechet distance of feature vectors (FID).
//!
//! Nothing here touches a file system, threads or clocks: callers pass bytes and time the
//! calls themselves.
//!
//! ```no_run
//! use dpm_solver_wasm::pipeline::*;
//! let bytes = std::fs::read("www/models/unet.onnx").unwrap();
//! let mut pipe = Pipeline::from_bytes(&bytes)?;
//! // The DPM-Solver options by name, through the core's options module.
//! let mut solver = Options::generate();
//! solver.set("steps", Value::Number(8.0)).unwrap();
//! solver.set("spacing", Value::Str("karras")).unwrap();
//! let opts = GenerateOptions {
//!     batch: 16,
//!     conditioning: Conditioning::Class(7),
//!     guidance_scale: 3.0,
//!     solver: solver.config().unwrap(),
//!     ..GenerateOptions::default()
//! };
//! let gen = pipe.generate(&opts, no_progress)?;
//! let layout = GridLayout::new(gen.batch, 0, gen.shape, 2, 1);
//! let rgba = grid_rgba(&gen.images, gen.shape, gen.value_range, &layout, [0, 0, 0, 255]);
//! # Ok::<(), PipelineError>(())
//! ```

mod error;
#[cfg(feature = "pipeline")]
mod generate;
mod image;
mod info;
mod json;
pub mod metrics;
#[cfg(feature = "pipeline")]
mod net;
mod noise;
// Native builds always; wasm ones with the cargo feature `profile` (not in the shipped package).
#[cfg(all(
    feature = "pipeline",
    any(feature = "profile", not(target_arch = "wasm32"))
))]
mod profile;
pub mod validate;

pub use core::ops::ControlFlow;
pub use dpm_solver::diffusers::{ConfigValue, SchedulerClass, SchedulerConfig};
pub use dpm_solver::options::{generate_profile, OptionError, Options, Value};
pub use dpm_solver::{
    AdaptiveOptions, Algorithm, Config, Method, MultistepVariant, Spacing, Stats, StepReport,
    Thresholding,
};
pub use error::{PipelineError, Result};
#[cfg(feature = "pipeline")]
pub use generate::{
    no_progress, parse_algorithm, parse_method, parse_spacing, Conditioning, GenerateOptions,
    Generation, Pipeline, Progress, Run, Step,
};
pub use image::{grid_rgba, to_byte, to_rgba, GridLayout};
pub use info::{
    parse_prediction, GraphSummary, ImageShape, LoadOptions, ModelInfo, ScheduleInfo, CLASS_NAMES,
    IMAGE_NAMES, KEYS, OUTPUT_NAMES, TIME_NAMES,
};
pub use json::{Json, SchedulerJson};
#[cfg(all(feature = "pipeline", not(target_arch = "wasm32")))]
pub use net::read_external_data;
#[cfg(feature = "pipeline")]
pub use net::{
    external_data_locations, Classification, Classifier, ClassifierInfo, DiffusionModel,
    CLASSIFIER_CHUNK, PLAN_BATCH,
};
pub use noise::initial_noise;
#[cfg(all(
    feature = "pipeline",
    any(feature = "profile", not(target_arch = "wasm32"))
))]
pub use profile::{median, NodeTime, OpTime, Profile};
