//! The pieces every diffusers scheduler step shares: `alpha_t, sigma_t, lambda_t` from a
//! diffusers sigma, the noise source of the SDE variants, the model-output conversion, and
//! the one elementwise pass `x <- c_x base + sum_j c_j m_j + c_n noise` each update reduces to.

use super::PredictionType;
use crate::error::{check_input, Buffer, Result};
use crate::math::{cmath, Real};
use crate::model::{conversion, Prediction, Target};
#[cfg(feature = "rng")]
use crate::rng::NoiseRng;

/// `_sigma_to_alpha_sigma_t` plus `lambda = log(alpha) - log(sigma)`, in float32 (the precision
/// of diffusers' 0-dimensional step tensors).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Asl {
    pub alpha: f32,
    pub sigma: f32,
    pub lambda: f32,
}

impl Asl {
    /// From a diffusers sigma `sqrt((1 - a) / a)` (`0` gives `alpha 1, sigma 0, lambda inf`):
    /// `alpha = 1 / (sigma**2 + 1) ** 0.5`, `sigma_t = sigma * alpha`.
    pub fn of(s: f32) -> Self {
        let alpha = 1.0 / cmath::sqrtf(s * s + 1.0);
        let sigma = s * alpha;
        Asl {
            alpha,
            sigma,
            lambda: ln(alpha) - ln(sigma),
        }
    }

    /// From a flow sigma (`use_flow_sigmas`): `alpha = 1 - s`, `sigma_t = s` (`s = 1` gives
    /// `alpha 0, lambda -inf`).
    pub fn flow(s: f32) -> Self {
        let alpha = 1.0 - s;
        Asl {
            alpha,
            sigma: s,
            lambda: ln(alpha) - ln(s),
        }
    }
}

/// float32 `exp` (libm; diffusers' 0-dimensional `torch.exp`).
#[inline]
pub(crate) fn ex(x: f32) -> f32 {
    cmath::expf(x)
}

/// float32 `expm1` (libm; `torch.expm1`).
#[inline]
pub(crate) fn exm1(x: f32) -> f32 {
    cmath::expm1f(x)
}

/// float32 `log` (libm; `torch.log`). Where a configuration is ill-conditioned in float32
/// (cosine schedule, `dpmsolver`, first step from `t = 999`: `exp(h) - 1` near 1500) one ulp of
/// `lambda` moves the final sample by 0.2; libm's `logf` reproduces diffusers' results there,
/// a correctly rounded `log` does not.
#[inline]
pub(crate) fn ln(x: f32) -> f32 {
    cmath::logf(x)
}

/// An `f32` coefficient (diffusers computes every step scalar in float32) in `T`.
#[inline]
pub(crate) fn tc<T: Real>(v: f32) -> T {
    T::c(v as f64)
}

/// Where the SDE variants' Gaussian noise comes from.
pub(crate) enum Noise<'n, T> {
    /// No noise (ODE solvers).
    None,
    /// Caller-given standard normals, one per element of `x`.
    Slice(&'n [T]),
    /// The crate's seeded generator.
    #[cfg(feature = "rng")]
    Rng(&'n mut NoiseRng),
}

impl<T: Real> Noise<'_, T> {
    pub fn check(&self, n: usize) -> Result<()> {
        match self {
            Noise::Slice(s) => check_input(Buffer::Output, n, s),
            _ => Ok(()),
        }
    }

    pub fn is_some(&self) -> bool {
        !matches!(self, Noise::None)
    }

    #[inline]
    pub fn at(&mut self, i: usize) -> T {
        match self {
            Noise::None => T::ZERO,
            Noise::Slice(s) => s.get(i).copied().unwrap_or(T::ZERO),
            #[cfg(feature = "rng")]
            Noise::Rng(r) => T::c(r.gaussian() as f64),
        }
    }
}

/// `out[i] = cx * base[i] + sum_j c_j m_j[i] + cn * noise_i` (`base` `None`: `out` itself).
/// All slices have `out.len()` elements (checked by the callers at construction).
pub(crate) fn combine<T: Real>(
    out: &mut [T],
    base: Option<&[T]>,
    cx: T,
    terms: &[(T, &[T])],
    cn: T,
    noise: &mut Noise<'_, T>,
) {
    let with_noise = noise.is_some();
    for (i, o) in out.iter_mut().enumerate() {
        let b = match base {
            Some(b) => b.get(i).copied().unwrap_or(T::ZERO),
            None => *o,
        };
        let mut v = cx * b;
        for (c, m) in terms {
            v += *c * m.get(i).copied().unwrap_or(T::ZERO);
        }
        if with_noise {
            v += cn * noise.at(i);
        }
        *o = v;
    }
}

/// The core's name of a diffusers `prediction_type`, where the core's conversion is the one
/// diffusers computes (`None`: `flow_prediction`, which diffusers converts with the
/// scheduler's own sigma, see [`convert_one`]).
#[cfg(feature = "plan")]
fn core_prediction(prediction: PredictionType) -> Option<Prediction> {
    match prediction {
        PredictionType::Epsilon => Some(Prediction::Noise),
        PredictionType::Sample => Some(Prediction::Data),
        PredictionType::VPrediction => Some(Prediction::V),
        PredictionType::FlowPrediction => None,
    }
}

/// One element of a model output `o` at `x` converted into the data prediction `x_0`
/// (`to_data`) or the noise `eps`, at a state with `alpha`, `sigma`.
///
/// The v-prediction is the core's [`conversion`] (`a x + b o`: the same float operations as
/// diffusers' `alpha_t * sample - sigma_t * model_output`); an output already in the target
/// form is returned as it is; diffusers *divides* where the core multiplies by a reciprocal
/// (`(x - sigma o) / alpha` for `eps` to `x_0`, `(x - alpha o) / sigma` for `x_0` to `eps`),
/// so those two keep diffusers' form; and `flow_prediction` is `x - s o` with the scheduler's
/// own sigma `s` (`raw_sigma`: `sigmas[step]`, equal to `sigma` on flow sigmas; it has no noise
/// form and is refused by the configs that would need one, as diffusers does).
#[inline]
pub(crate) fn convert_one<T: Real>(
    prediction: PredictionType,
    to_data: bool,
    alpha: T,
    sigma: T,
    raw_sigma: T,
    x: T,
    o: T,
) -> T {
    use PredictionType as P;
    match (prediction, to_data) {
        (P::FlowPrediction, _) => x - raw_sigma * o,
        (P::Epsilon, true) => (x - sigma * o) / alpha,
        (P::Sample, false) => (x - alpha * o) / sigma,
        (P::Epsilon, false) | (P::Sample, true) => o,
        (P::VPrediction, _) => {
            let target = if to_data { Target::Data } else { Target::Noise };
            let (a, b) = conversion(Prediction::V, target, alpha, sigma);
            a * x + b * o
        }
    }
}

/// [`convert_one`] over a whole sample: `dst[i] = convert(x[i], output[i])`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn convert<T: Real>(
    prediction: PredictionType,
    to_data: bool,
    alpha: T,
    sigma: T,
    raw_sigma: T,
    x: &[T],
    output: &[T],
    dst: &mut [T],
) {
    for ((d, &x), &o) in dst.iter_mut().zip(x).zip(output) {
        *d = convert_one(prediction, to_data, alpha, sigma, raw_sigma, x, o);
    }
}

/// Records the schedulers' buffer operations as [`crate::plan`] coefficients: slices are named
/// by where they lie (`x`, or slot `offset / n` of the scratch buffer), so the terms recorded
/// are the very `(coefficient, slice)` pairs handed to [`combine`] and [`convert`].
#[cfg(feature = "plan")]
#[derive(Clone, Copy)]
pub(crate) struct Names {
    pub x: usize,
    pub scratch: usize,
    pub n: usize,
}

#[cfg(feature = "plan")]
impl Names {
    pub fn of<T>(x: &[T], scratch: &[T]) -> Self {
        Names {
            x: x.as_ptr() as usize,
            scratch: scratch.as_ptr() as usize,
            n: x.len().max(1),
        }
    }

    /// The plan buffer a slice of `x` or of the scratch buffer is.
    pub fn buf<T>(&self, s: &[T]) -> crate::plan::Buf {
        let p = s.as_ptr() as usize;
        if p == self.x {
            crate::plan::Buf::X
        } else {
            let size = core::mem::size_of::<T>().max(1);
            crate::plan::Buf::slot(p.wrapping_sub(self.scratch) / size / self.n)
        }
    }

    /// The operation [`combine`] performs into `x` (`base` `None`: `x` itself).
    pub fn combine<T: Real>(
        &self,
        base: Option<&[T]>,
        cx: T,
        terms: &[(T, &[T])],
        cn: T,
        noisy: bool,
    ) -> crate::plan::Op<T> {
        use crate::plan::{Buf, Op};
        let mut op = Op::new(Buf::X).term(base.map_or(Buf::X, |b| self.buf(b)), cx);
        for (c, m) in terms {
            op = op.term(self.buf(m), *c);
        }
        if noisy {
            op = op.term(Buf::Noise, cn);
        }
        op
    }

    /// The operation [`convert`] performs: `dst = a x + b output`.
    pub fn convert<T: Real>(
        &self,
        prediction: PredictionType,
        to_data: bool,
        alpha: T,
        sigma: T,
        dst: &[T],
    ) -> crate::plan::Op<T> {
        use crate::plan::{Buf, Op};
        let (a, b) = conversion_coeffs(prediction, to_data, alpha, sigma);
        Op::new(self.buf(dst)).term(Buf::X, a).term(Buf::Output, b)
    }
}

/// [`convert`] as `(a, b)` with `dst = a x + b output`: the core's [`conversion`] table, and
/// diffusers' flow form on flow sigmas (`alpha = 1 - sigma`: `x_0 = x - sigma v`,
/// `eps = x + alpha v`).
#[cfg(feature = "plan")]
pub(crate) fn conversion_coeffs<T: Real>(
    prediction: PredictionType,
    to_data: bool,
    alpha: T,
    sigma: T,
) -> (T, T) {
    match core_prediction(prediction) {
        Some(p) => {
            let target = if to_data { Target::Data } else { Target::Noise };
            conversion(p, target, alpha, sigma)
        }
        None if to_data => (T::ONE, -sigma),
        None => (T::ONE, alpha),
    }
}
