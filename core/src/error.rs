//! The crate's one error type. Every fallible call returns it; nothing reachable from caller
//! input panics. Also the checks of caller buffers (length, finiteness, the sample and its
//! scratch) that return it.

use crate::math::Real;
use core::fmt;

/// Which caller buffer an error is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Buffer {
    /// The sample `x` the sampler integrates.
    X,
    /// The scratch space the sampler works in.
    Scratch,
    /// A model output handed to `tell`.
    ModelOutput,
    /// The unconditional output handed to `tell_cfg`.
    Unconditional,
    /// A classifier gradient handed to `tell_classifier`.
    Gradient,
    /// A schedule table (betas, `alphas_cumprod`, `log_alpha`) or its storage.
    Table,
    /// Caller-given time steps.
    Times,
    /// An output buffer for a helper function.
    Output,
}

/// Errors returned by the solver. `Display` gives a one-line message fit for end users.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Error {
    /// A configuration value is out of range; the message says which and why.
    InvalidConfig(&'static str),
    /// A buffer has the wrong number of elements.
    LengthMismatch {
        /// Which buffer.
        buffer: Buffer,
        /// Elements needed (for scratch: at least this many).
        expected: usize,
        /// Elements given.
        found: usize,
    },
    /// A caller buffer holds NaN or an infinity (for model outputs: the network diverged).
    NonFinite {
        /// Which buffer.
        buffer: Buffer,
        /// Index of the first offending element.
        index: usize,
    },
    /// `tell_*` was called with the wrong kind of output for the configured guidance.
    GuidanceMismatch {
        /// The guidance the sampler was configured with.
        configured: &'static str,
        /// The `tell` variant that was called.
        called: &'static str,
    },
    /// `tell` was called after sampling finished.
    Finished,
    /// The solver itself produced a non-finite value from finite model outputs (the
    /// configuration's coefficients overflow at this step); the run is over. Checked by the
    /// `Sampler` with the default feature `checked`, by the diffusers schedulers always.
    Diverged {
        /// 1-based index of the model evaluation after which it happened.
        evaluation: usize,
        /// What overflowed.
        cause: &'static str,
    },
    /// The adaptive solver exceeded its evaluation budget (`max_nfe`) before reaching `t_end`.
    StepLimit {
        /// The evaluations made.
        nfe: usize,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidConfig(msg) => write!(f, "invalid configuration: {msg}"),
            Error::LengthMismatch {
                buffer,
                expected,
                found,
            } => match buffer {
                Buffer::Scratch => write!(
                    f,
                    "scratch buffer too small: need at least {expected} elements, got {found}"
                ),
                _ => write!(
                    f,
                    "{buffer:?} buffer has {found} elements, expected {expected}"
                ),
            },
            Error::NonFinite { buffer, index } => {
                write!(
                    f,
                    "{buffer:?} buffer holds a non-finite value (NaN or infinity) at index {index}"
                )
            }
            Error::GuidanceMismatch { configured, called } => write!(
                f,
                "sampler is configured for {configured} guidance but {called} was called"
            ),
            Error::Finished => write!(f, "sampling already finished: no evaluation is pending"),
            Error::Diverged { evaluation, cause } => {
                write!(f, "{cause} at evaluation {evaluation} (solver-made NaN)")
            }
            Error::StepLimit { nfe } => write!(
                f,
                "adaptive solver stopped after {nfe} model evaluations without reaching t_end \
                 (raise max_nfe or loosen atol/rtol)"
            ),
        }
    }
}

/// Shorthand for this crate's results.
pub type Result<T> = core::result::Result<T, Error>;

/// Checks a buffer length.
#[inline]
pub(crate) fn check_len(buffer: Buffer, expected: usize, found: usize) -> Result<()> {
    if expected == found {
        Ok(())
    } else {
        Err(Error::LengthMismatch {
            buffer,
            expected,
            found,
        })
    }
}

/// Checks that a caller buffer holds only finite values: the branch-free scan of
/// [`Real::all_finite`] first, the offending index looked up only on failure.
#[inline]
pub(crate) fn check_finite<T: Real>(buffer: Buffer, v: &[T]) -> Result<()> {
    if T::all_finite(v) {
        return Ok(());
    }
    let index = v.iter().position(|e| !e.is_finite()).unwrap_or(0);
    Err(Error::NonFinite { buffer, index })
}

/// Checks a model output (or any per-element input of a step): `n` elements, all finite.
pub(crate) fn check_input<T: Real>(buffer: Buffer, n: usize, v: &[T]) -> Result<()> {
    check_len(buffer, n, v.len())?;
    check_finite(buffer, v)
}

/// Checks the sample and scratch a run is set up with: `x` non-empty, finite and split into
/// `batch` rows, `scratch` at least `need` elements.
pub(crate) fn check_buffers<T: Real>(
    x: &[T],
    scratch: &[T],
    batch: usize,
    need: usize,
) -> Result<()> {
    if x.is_empty() {
        return Err(Error::InvalidConfig("x is empty"));
    }
    if batch == 0 || x.len() % batch != 0 {
        return Err(Error::InvalidConfig(
            "batch must be >= 1 and divide x.len()",
        ));
    }
    check_finite(Buffer::X, x)?;
    if scratch.len() < need {
        return Err(Error::LengthMismatch {
            buffer: Buffer::Scratch,
            expected: need,
            found: scratch.len(),
        });
    }
    Ok(())
}
