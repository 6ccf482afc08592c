//! DPM-Solver for JavaScript callers and a self-contained ONNX diffusion pipeline.
//!
//! - [`pipeline`]: plain Rust (native and wasm32): load an ONNX UNet from bytes with tract,
//!   read its metadata, generate a batch with the core's ask/tell sampler.
//! - `bindings` (wasm-bindgen): thin newtypes over the core `Sampler` and the pipeline for JS.
//!
//! `unsafe` is refused everywhere but in the one module that allows it by name: the
//! sampler-only build's allocator (`heap`). The solvers own their buffers and lists (the
//! core's `family::Solver`), so the bindings hold no raw pointers.
#![deny(unsafe_code)]

pub mod decimal;
// The sampler-only build's allocator (unused by the full build, which keeps std's).
#[cfg_attr(feature = "pipeline", allow(dead_code))]
#[allow(unsafe_code)]
mod heap;
pub mod onnx_info;
pub mod pipeline;
mod text;

pub mod bindings;
