//! What the bindings accept from JavaScript before they allocate: integers read as integers in
//! range (never truncated by an `as u32`), lengths and allocation sizes checked against the
//! maxima below, arrays checked before they are copied into wasm memory, and a missing
//! argument named in a clear `Error` instead of a glue-code `TypeError`.
//!
//! It also detects a poisoned instance. In wasm a panic or an out-of-memory abort is a trap:
//! the method never returns, wasm-bindgen leaves the object it was called on borrowed, and the
//! allocator may be mid-update. Every guarded entry point counts itself in and out
//! ([`enter`]); one that finds a call still "in" (and not a JavaScript callback it made) knows
//! an earlier call trapped, and refuses with [`POISONED`] rather than run on a damaged heap.

use std::cell::Cell;

use js_sys::{Array, ArrayBuffer, Float32Array, Float64Array, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};

use super::error::{opt_err, Error, Result};

/// Most elements of one sample `x` (all images of a batch): 2^26, 256 MiB of `f32`.
pub const MAX_SAMPLE_ELEMENTS: usize = 1 << 26;
/// Most bytes one `Sampler` may allocate (`x`, scratch and schedule table): 1 GiB.
pub const MAX_SAMPLER_BYTES: usize = 1 << 30;
/// Most values of one `gaussianNoise` call (2^26).
pub const MAX_NOISE_LENGTH: usize = 1 << 26;

/// The message of the error a poisoned instance answers with.
pub const POISONED: &str = "this WebAssembly instance is unusable: an earlier call trapped \
    (out of memory, or a bug) inside the module and never returned. Its objects cannot be \
    used or freed; drop them and instantiate the module again (a fresh `init()` with a new \
    WebAssembly.Instance, or reload the page / worker)";

thread_local! {
    /// Guarded calls entered and not yet returned.
    static DEPTH: Cell<usize> = const { Cell::new(0) };
    /// JavaScript callbacks in progress (a guarded call may legitimately run inside one).
    static CALLBACKS: Cell<usize> = const { Cell::new(0) };
    /// Set once a trap has been detected.
    static POISON: Cell<bool> = const { Cell::new(false) };
}

/// A guarded call in progress; leaving it (drop) counts it out. A trap skips the drop.
pub(crate) struct Guard(());

impl Drop for Guard {
    fn drop(&mut self) {
        DEPTH.with(|d| d.set(d.get().saturating_sub(1)));
    }
}

/// Enters a guarded call; an error if the instance is poisoned.
pub(crate) fn enter() -> Result<Guard> {
    let depth = DEPTH.with(Cell::get);
    let callbacks = CALLBACKS.with(Cell::get);
    if depth > callbacks {
        POISON.with(|p| p.set(true));
    }
    if POISON.with(Cell::get) {
        return Err(Error::Js(POISONED.into()).into());
    }
    DEPTH.with(|d| d.set(depth + 1));
    Ok(Guard(()))
}

/// Whether an earlier call trapped (exposed to JavaScript as `instancePoisoned()`).
pub(crate) fn poisoned() -> bool {
    POISON.with(Cell::get) || DEPTH.with(Cell::get) > CALLBACKS.with(Cell::get)
}

/// Runs a call out to JavaScript (which may call back into guarded methods).
#[cfg_attr(not(feature = "pipeline"), allow(dead_code))]
pub(crate) fn callback<T>(f: impl FnOnce() -> T) -> T {
    CALLBACKS.with(|c| c.set(c.get() + 1));
    let r = f();
    CALLBACKS.with(|c| c.set(c.get().saturating_sub(1)));
    r
}

/// A number argument taken as a `JsValue` (not `f64`, which wasm-bindgen converts with
/// JavaScript's `ToNumber`: a `TypeError` for a Symbol or a BigInt); anything but a number is
/// NaN, which the checks below refuse.
pub(crate) fn number(v: &JsValue) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}

/// An integer argument in `0..=max` (a JS number: `undefined`/NaN, fractions and values out
/// of range are errors naming `what`).
pub(crate) fn count(v: f64, what: &str, max: usize) -> Result<usize> {
    if v.is_nan() {
        return opt_err(format!("{what} is required (an integer in 0..={max})"));
    }
    if !(v >= 0.0 && v.fract() == 0.0 && v <= max as f64) {
        return opt_err(format!(
            "{what} must be an integer in 0..={max}, got {}",
            crate::decimal::f64_text(v)
        ));
    }
    Ok(v as usize)
}

/// A seed-like integer: a JS number that is a non-negative safe integer (`0..=2^53 - 1`).
pub(crate) fn safe_integer(v: f64, what: &str) -> Result<u64> {
    if v >= 0.0 && v.fract() == 0.0 && v <= 9_007_199_254_740_991.0 {
        Ok(v as u64)
    } else {
        opt_err(format!(
            "{what} must be a non-negative safe integer, got {}",
            crate::decimal::f64_text(v)
        ))
    }
}

/// A `Float32Array`, `Float64Array` or array of numbers argument as `f32`s, its length checked
/// against `max` before anything is copied; `undefined`/`null` is an error naming `what`.
pub(crate) fn floats(v: &JsValue, what: &str, max: usize) -> Result<Vec<f32>> {
    length(v, what, max)?;
    super::js::numbers(v, what)
}

/// The length of a [`floats`] argument, checked as there, without copying it.
pub(crate) fn length(v: &JsValue, what: &str, max: usize) -> Result<usize> {
    if v.is_undefined() || v.is_null() {
        return opt_err(format!("{what} is required (a Float32Array)"));
    }
    let len = if let Some(a) = v.dyn_ref::<Float32Array>() {
        a.length() as usize
    } else if let Some(a) = v.dyn_ref::<Float64Array>() {
        a.length() as usize
    } else if Array::is_array(v) {
        v.unchecked_ref::<Array>().length() as usize
    } else {
        return opt_err(format!(
            "{what} must be a Float32Array, Float64Array or array of numbers"
        ));
    };
    if len > max {
        return opt_err(format!(
            "{what} has {len} elements, at most {max} are accepted"
        ));
    }
    Ok(len)
}

/// A file's bytes argument (`Uint8Array`, `ArrayBuffer`, another typed-array view of its
/// bytes, or an array of numbers read as `Uint8Array.from` would), copied into wasm memory;
/// anything else, `undefined` and `null` included, is an error naming `what` (wasm-bindgen's
/// own `&[u8]` conversion would throw a bare `TypeError` from its glue).
pub(crate) fn bytes(v: &JsValue, what: &str) -> Result<Vec<u8>> {
    if let Some(a) = v.dyn_ref::<Uint8Array>() {
        return Ok(a.to_vec());
    }
    if v.is_instance_of::<ArrayBuffer>() || Array::is_array(v) {
        return Ok(Uint8Array::new(v).to_vec());
    }
    if ArrayBuffer::is_view(v) {
        // Any view (DataView, Int8Array, ...): its bytes, read through the view's own getters.
        let get = |k: &str| js_sys::Reflect::get(v, &JsValue::from_str(k)).unwrap_or_default();
        let offset = get("byteOffset").as_f64().unwrap_or(0.0) as u32;
        let len = get("byteLength").as_f64().unwrap_or(0.0) as u32;
        return Ok(
            Uint8Array::new_with_byte_offset_and_length(&get("buffer"), offset, len).to_vec(),
        );
    }
    let got = if v.is_undefined() {
        "undefined".to_string()
    } else if v.is_null() {
        "null".to_string()
    } else {
        v.js_typeof().as_string().unwrap_or_default()
    };
    opt_err(format!(
        "{what} must be a Uint8Array or ArrayBuffer with the ONNX file's bytes, got {got}"
    ))
}

/// Bytes of `elements` `f32`s, refused above [`MAX_SAMPLER_BYTES`] in total with `what` named.
pub(crate) fn check_bytes(elements: &[usize], what: &str) -> Result<()> {
    let total = elements
        .iter()
        .try_fold(0usize, |a, &e| a.checked_add(e))
        .and_then(|e| e.checked_mul(4));
    match total {
        Some(b) if b <= MAX_SAMPLER_BYTES => Ok(()),
        _ => opt_err(format!(
            "{what} would need more than {} MiB of buffers (sample x solver slots); use a \
             smaller xT or a lower order",
            MAX_SAMPLER_BYTES >> 20
        )),
    }
}

/// Whether an earlier call into this instance trapped (out of memory, or a bug): then every
/// object of it is unusable and the module must be instantiated again.
#[wasm_bindgen::prelude::wasm_bindgen(js_name = instancePoisoned)]
pub fn instance_poisoned() -> bool {
    poisoned()
}

/// Test hook (not part of the API): traps inside a guarded call, as an out-of-memory abort
/// would, so the tests can check that the instance then reports itself poisoned.
#[doc(hidden)]
#[wasm_bindgen::prelude::wasm_bindgen(js_name = __trapForTest, skip_typescript)]
pub fn trap_for_test() {
    let _guard = enter();
    core::arch::wasm32::unreachable()
}
