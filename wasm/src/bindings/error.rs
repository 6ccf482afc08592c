//! The one error type of the bindings: every failure reaches JavaScript as a thrown `Error`
//! whose `message` says what went wrong.

use core::fmt;
use wasm_bindgen::JsValue;

/// Everything the bindings can fail with.
#[derive(Debug)]
pub enum Error {
    /// The solver core rejected a configuration or a buffer.
    Solver(dpm_solver::Error),
    /// An option object or argument from JavaScript is malformed.
    Option(String),
    /// The ONNX pipeline failed (parse, shape, run).
    Pipeline(String),
    /// A JavaScript call made by the bindings threw (a callback, a canvas call).
    Js(String),
    /// A generation was cancelled (thrown as an `Error` named "AbortError").
    Cancelled(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Solver(e) => write!(f, "dpm-solver: {e}"),
            Error::Option(m) => write!(f, "dpm-solver: invalid option: {m}"),
            Error::Pipeline(m) | Error::Js(m) | Error::Cancelled(m) => write!(f, "dpm-solver: {m}"),
        }
    }
}

impl From<dpm_solver::Error> for Error {
    fn from(e: dpm_solver::Error) -> Self {
        Error::Solver(e)
    }
}

impl From<Error> for JsValue {
    fn from(e: Error) -> Self {
        let err = js_sys::Error::new(&e.to_string());
        if matches!(e, Error::Cancelled(_)) {
            err.set_name("AbortError");
        }
        err.into()
    }
}

/// A message for a thrown JavaScript value (an `Error`'s message, or its string form).
pub(crate) fn js_message(v: &JsValue) -> String {
    if let Some(s) = v.as_string() {
        return s;
    }
    match js_sys::Reflect::get(v, &JsValue::from_str("message")) {
        Ok(m) if m.is_string() => m.as_string().unwrap_or_default(),
        _ => format!("{v:?}"),
    }
}

/// Shorthand for the bindings' internal results. The error is boxed: one pointer to pass on
/// at each `?` instead of the whole `Error` (a copy per call site that made up kilobytes of
/// the sampler-only wasm); the exported functions return `Error` itself.
pub type Result<T> = core::result::Result<T, Box<Error>>;

impl From<dpm_solver::Error> for Box<Error> {
    fn from(e: dpm_solver::Error) -> Self {
        Box::new(Error::Solver(e))
    }
}

impl From<Box<Error>> for Error {
    fn from(e: Box<Error>) -> Self {
        *e
    }
}

/// Shorthand for an option error, as a [`Result`] or (in the exported functions) as `Error`.
pub(crate) fn opt_err<T, E: From<Box<Error>>>(
    msg: impl Into<String>,
) -> core::result::Result<T, E> {
    Err(option(msg.into()).into())
}

// The one copy of the boxing (`opt_err` is generic over the result's types).
#[inline(never)]
fn option(msg: String) -> Box<Error> {
    Box::new(Error::Option(msg))
}
