//! The tract-onnx diffusion pipeline (native and wasm32): ONNX bytes in, images out.
//!
//! - [`DiffusionModel`]: loads an ONNX UNet from bytes, reads its `metadata_props` into a
//!   [`ModelInfo`] (prediction type, schedule, image shape, value range, classes), checks the
//!   graph against it, and evaluates batches (one optimised tract plan per batch size).
//! - [`Pipeline`]: [`GenerateOptions`] in, [`Generation`] out, with the core's ask/tell
//!   [`Sampler`](dpm_solver::Sampler): seeded portable noise ([`initial_noise`]),
//!   classifier-free guidance as one batch of `2 B` (`tell_cfg`), a per-step [`Progress`]
//!   callback with the `x_0` preview that can cancel.
//! - [`Classifier`]: scores images (logits and features), e.g. for accuracy and Frechet
//!   distances.
//! - [`to_rgba`], [`grid_rgba`], [`GridLayout`]: bytes for a canvas or a PNG.
//!
//! Nothing here touches a file system, threads or clocks: callers pass bytes and time the
//! calls themselves.
//!
//! ```no_run
//! use dpm_solver_wasm::pipeline::*;
//! let bytes = std::fs::read("www/models/unet.onnx").unwrap();
//! let mut pipe = Pipeline::from_bytes(&bytes)?;
//! let opts = GenerateOptions {
//!     batch: 16,
//!     conditioning: Conditioning::Class(7),
//!     guidance_scale: 3.0,
//!     steps: 10,
//!     ..GenerateOptions::default()
//! };
//! let gen = pipe.generate(&opts, no_progress)?;
//! let layout = GridLayout::new(gen.batch, 0, gen.shape, 2, 1);
//! let rgba = grid_rgba(&gen.images, gen.shape, gen.value_range, &layout, [0, 0, 0, 255]);
//! # Ok::<(), PipelineError>(())
//! ```

mod error;
mod generate;
mod image;
mod info;
mod net;
// Native builds always; wasm ones with the cargo feature `profile` (not in the shipped package).
#[cfg(any(feature = "profile", not(target_arch = "wasm32")))]
mod profile;
pub(crate) mod solver;
pub mod validate;

pub use core::ops::ControlFlow;
pub use dpm_solver::diffusers::{ConfigValue, SchedulerClass, SchedulerConfig};
pub use dpm_solver::{
    AdaptiveOptions, Algorithm, Method, MultistepVariant, Spacing, Stats, StepReport, Thresholding,
};
pub use error::{PipelineError, Result};
pub use generate::{
    initial_noise, no_progress, parse_algorithm, parse_method, parse_spacing, Conditioning,
    GenerateOptions, Generation, Pipeline, Progress,
};
pub use image::{grid_rgba, to_byte, to_rgba, GridLayout};
pub use info::{ImageShape, ModelInfo, ScheduleInfo};
pub use net::{
    Classification, Classifier, ClassifierInfo, DiffusionModel, CLASSIFIER_CHUNK, PLAN_BATCH,
};
#[cfg(any(feature = "profile", not(target_arch = "wasm32")))]
pub use profile::{median, NodeTime, OpTime, Profile};
