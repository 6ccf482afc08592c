//! DPM-Solver and DPM-Solver++ (Lu et al., 2022: "DPM-Solver: A Fast ODE Solver for Diffusion
//! Probabilistic Model Sampling in Around 10 Steps", and "DPM-Solver++") for `no_std`, without
//! allocation, over caller-owned buffers.
//!
//! The sampler never calls the network. It *asks* for an evaluation (which `x`, which model time)
//! and is *told* the output, so the same core drives tract, a JavaScript runtime or a
//! microcontroller's own inference:
//!
//! ```
//! use dpm_solver::{Algorithm, Betas, Config, Method, Sampler, ScheduleTable, Spacing};
//!
//! // DDPM's linear schedule, stored inline (no allocation).
//! let mut table = ScheduleTable::<f32, 1000>::new();
//! let schedule = table.from_betas(&Betas::Linear { start: 1e-4, end: 0.02, n: 1000 })?;
//!
//! let config = Config {
//!     algorithm: Algorithm::DpmSolverPp,
//!     method: Method::Multistep,
//!     order: 2,
//!     steps: 10,
//!     spacing: Spacing::TimeUniform,
//!     ..Config::default()
//! };
//! let mut x = [0.5f32, -1.0, 0.25, 2.0]; // x_T: noise from your generator
//! let mut scratch = [0.0f32; 8];          // config.scratch_len(4) elements
//! let mut out = [0.0f32; 4];              // the network's output
//! let mut sampler = Sampler::new(schedule, config, &mut x, &mut scratch)?;
//! while let Some(req) = sampler.ask() {
//!     // Run the network at (req.x, req.t_model); here a stand-in that predicts eps = 0.1 x.
//!     for (o, xi) in out.iter_mut().zip(req.x) {
//!         *o = 0.1 * xi;
//!     }
//!     sampler.tell(&out)?;
//! }
//! assert_eq!(sampler.nfe(), 10);
//! assert!(sampler.x().iter().all(|v| v.is_finite()));
//! # Ok::<(), dpm_solver::Error>(())
//! ```
//!
//! Modules, one concern each: [`math`] (the scalar functions and their accuracy), [`schedule`]
//! (noise schedules, flow matching's included), [`spacing`] (time steps), [`flow`] (flow
//! matching's time shifts), [`model`] (parameterisations), [`guidance`],
//! [`threshold`] (dynamic thresholding), [`update`] (the DPM-Solver formulas), [`adaptive`]
//! (step-size control), [`sampler`] (the ask/tell state machine), [`diffusers`] (diffusers'
//! schedulers in their own float32 arithmetic) and, with `alloc` and `rng`, `family` (either
//! of the two behind one owned type).
//!
//! # Cargo features
//!
//! - `singlestep` (default): [`Method::Singlestep`] and [`Method::SinglestepFixed`].
//! - `adaptive` (default): [`Method::Adaptive`].
//! - `flow` (default): flow matching in the core sampler ([`NoiseSchedule::Flow`],
//!   [`Prediction::Flow`], [`Spacing::FlowShift`]); refused by [`Sampler::new`] without it.
//! - `alloc`: [`OwnedSampler`], a [`Sampler`] that owns its buffers as `Vec`s and copies of the
//!   lists its schedule and configuration borrow ([`Sampler::into_owned_lists`]), so it borrows
//!   nothing; [`plan::StepPlanner::into_owned_lists`] likewise (any owner of a slice works
//!   through [`Sampler::with_buffers`] without it).
//! - `rng`: the `rng` module, a seeded, portable Gaussian noise generator.
//! - `alloc` and `rng` together (with the default `flow`): the `family` module, [`family::Solver`]: the DPM-Solver
//!   sampler or a diffusers scheduler behind one owned type with one request (the wasm
//!   bindings and the demo pipeline drive it).
//! - `plan`: the `plan` module, every fixed-step run as elementwise coefficient operations for
//!   executors outside this crate (a WebGPU compute shader), and the adaptive method step by
//!   step with its error norm; off by default so firmware keeps the recording out of flash.
//! - `checked` (default): after every step the sampler checks that it did not itself make a
//!   value non-finite (a configuration whose coefficients overflow) and reports it as
//!   [`Error::Diverged`] instead of returning a NaN sample. A firmware may leave it out
//!   (`default-features = false`, ~400 bytes of flash), as the measured one does.
//!
//! Multistep DPM-Solver(++) is always compiled in. With `default-features = false`, an
//! application that samples only with it keeps the other methods' code out of its binary (the
//! flash this saves on a Cortex-M4F is measured in `embedded/BENCHMARKS.md`); a method left out
//! is refused by [`Sampler::new`] with [`Error::InvalidConfig`], never a panic.
#![cfg_attr(not(test), no_std)]
#![deny(missing_docs)]
#![forbid(unsafe_code)]
// Validation is written `!(x > 0)` on purpose: NaN fails every comparison and must be rejected.
#![allow(clippy::neg_cmp_op_on_partial_ord)]

#[cfg(feature = "alloc")]
extern crate alloc;

pub mod adaptive;
pub mod diffusers;
pub mod error;
#[cfg(all(feature = "alloc", feature = "rng", feature = "flow"))]
pub mod family;
pub mod flow;
pub mod guidance;
pub mod history;
pub mod math;
pub mod model;
pub mod options;
#[cfg(feature = "plan")]
pub mod plan;
#[cfg(feature = "rng")]
pub mod rng;
pub mod sampler;
pub mod schedule;
pub mod spacing;
pub mod threshold;
pub mod update;

pub use adaptive::{AdaptiveOptions, StepController};
pub use diffusers::{
    DDIMScheduler, DPMSolverMultistepScheduler, DPMSolverSinglestepScheduler,
    UniPCMultistepScheduler,
};
pub use error::{Buffer, Error, Result};
pub use flow::TimeShift;
pub use guidance::Guidance;
pub use math::Real;
pub use model::{Prediction, Target};
pub use options::{OptionError, Options, Value};
#[cfg(feature = "alloc")]
pub use sampler::OwnedSampler;
pub use sampler::{
    Config, Direction, Method, MultistepVariant, Request, Sampler, Stats, StepKind, StepReport,
};
pub use schedule::{Betas, DiscreteVp, NoiseSchedule, ScheduleTable};
pub use spacing::{Grid, Spacing};
pub use threshold::Thresholding;
pub use update::{Algorithm, Point, SolverType, Update};
