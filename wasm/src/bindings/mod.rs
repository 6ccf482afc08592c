//! wasm-bindgen bindings: thin newtypes over the core sampler and the ONNX pipeline.
//!
//! - [`Sampler`](sampler::Sampler): the ask/tell solver for callers that run the network
//!   themselves.
//! - `Model`: the tract pipeline (load bytes, metadata, generate with progress and cancel).
//! - `draw`: samples into a canvas' `ImageData`.
//!
//! Every error is thrown as a JavaScript `Error` with a message ([`error::Error`]); a panic
//! (a bug) is reported on `console.error` by the hook installed at start-up.
//!
//! Compiled for `wasm32` only: natively the crate is the plain-Rust [`crate::pipeline`].
#![cfg(target_arch = "wasm32")]

mod diffusers;
pub mod draw;
pub mod error;
mod js;
// Model's load options (pipeline only) and scheduler configs as text (also the Sampler's).
pub mod limits;
#[cfg_attr(not(feature = "pipeline"), allow(dead_code))]
mod load;
mod metadata;
#[cfg(feature = "pipeline")]
pub mod model;
mod onnx;
mod plan;
mod plan_arrays;
#[cfg(feature = "profile")]
mod profile;
#[cfg(feature = "pipeline")]
mod run;
pub mod sampler;

use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = console, js_name = error)]
    fn console_error(s: &str);
}

/// Installs the panic hook (runs when the module is instantiated).
#[wasm_bindgen(start)]
pub fn start() {
    std::panic::set_hook(Box::new(|info| {
        console_error(&format!("dpm-solver (wasm) panicked: {info}"));
    }));
}

/// The package version.
#[wasm_bindgen]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}

/// Whether the module was compiled with WebAssembly SIMD (128-bit) enabled.
#[wasm_bindgen(js_name = simdEnabled)]
pub fn simd_enabled() -> bool {
    cfg!(target_feature = "simd128")
}

/// Whether the module was compiled with relaxed SIMD as well (`dpm_solver_relaxed_bg.wasm`, the
/// build `init()` picks where the engine validates relaxed SIMD; its matrix products use fused
/// multiply-adds, so its results may differ from the simd128 build's in the last bits).
#[wasm_bindgen(js_name = relaxedSimdEnabled)]
pub fn relaxed_simd_enabled() -> bool {
    cfg!(target_feature = "relaxed-simd")
}
