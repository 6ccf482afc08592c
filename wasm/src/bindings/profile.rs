//! `profileUnet` (cargo feature `profile`, off in the shipped package): where tract's time goes
//! in one evaluation of a diffusion network, timed with `performance.now()`. The same code as
//! the native `wasm/examples/profile.rs` ([`DiffusionModel::profile`]); see wasm/PROFILE.md and
//! `wasm/tests-js/bench/profile.sh`.

use super::error::{Error, Result};
use super::js::set;
use crate::pipeline::DiffusionModel;
use js_sys::{Function, Object, Reflect, JSON};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

/// `performance.now()` of the global scope (window, worker or node).
fn performance_clock() -> Result<impl FnMut() -> f64> {
    let perf = Reflect::get(&js_sys::global(), &JsValue::from_str("performance"))
        .ok()
        .filter(|p| p.is_object())
        .ok_or_else(|| Error::Js("no global `performance`".into()))?;
    let now: Function = Reflect::get(&perf, &JsValue::from_str("now"))
        .ok()
        .and_then(|f| f.dyn_into().ok())
        .ok_or_else(|| Error::Js("no `performance.now`".into()))?;
    Ok(move || {
        now.call0(&perf)
            .ok()
            .and_then(|v| v.as_f64())
            .unwrap_or(0.0)
    })
}

/// Profiles one evaluation of the ONNX diffusion model `onnx` at `batch`: `repeats` timed
/// runs of the optimised plan after one warm-up (the plan `Model.run` uses). Returns
/// `{ batch, repeats, nodesMs, wallMs, ops: [{ op, nodes, ms, fma }], nodes: [{ name, op,
/// output, ms, fma }], table }` (medians, slowest first; `table` is the text report with the
/// `top` slowest nodes, default 10).
#[wasm_bindgen(js_name = profileUnet)]
pub fn profile_unet(
    onnx: &[u8],
    batch: usize,
    repeats: usize,
    top: Option<usize>,
) -> core::result::Result<JsValue, Error> {
    let mut net = DiffusionModel::from_bytes(onnx)?;
    net.prepare(batch)?;
    let profile = net.profile(batch, repeats, performance_clock()?)?;
    let obj: Object = JSON::parse(&profile.to_json())
        .map_err(|_| Error::Js("the profile is not valid JSON".into()))?
        .unchecked_into();
    set(&obj, "table", profile.table(top.unwrap_or(10)));
    Ok(obj.into())
}

/// Sets one of tract's knobs by name for the models built after it (`tract_data::knobs::set_str`,
/// the environment variable of a native run), e.g. `TRACT_WASM_F32_GEMM` to time one wasm
/// matrix-product tile against another (`wasm/tests-js/bench/kernel-bench.mjs`). Returns false
/// for a name tract does not declare. Benchmarks only, like `profileUnet`.
#[wasm_bindgen(js_name = setTractKnob)]
pub fn set_tract_knob(name: &str, value: &str) -> bool {
    tract_onnx::tract_core::knobs::set_str(name, value)
}
