//! Model parameterisations and the conversion of a network output into what a solver needs.
//!
//! The solver sees one convention per algorithm: the noise `eps` for DPM-Solver, the data `x_0`
//! for DPM-Solver++ (and for `denoise_to_zero`). Networks trained on another target are
//! converted once, at the boundary, by an affine map `target = a x + b output` (with `a`, `b`
//! from `alpha_t`, `sigma_t`), so no update branches on the parameterisation.

use crate::error::{check_len, Buffer, Result};
use crate::math::Real;

/// What the network predicts (the reference's `model_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Prediction {
    /// The noise `eps` (DDPM; "epsilon" in diffusers).
    #[default]
    Noise,
    /// The data `x_0` ("x_start"; "sample" in diffusers).
    Data,
    /// The velocity `v = alpha_t eps - sigma_t x_0` ("v_prediction" in diffusers).
    V,
    /// The marginal score `grad log p_t(x) = -eps / sigma_t`.
    Score,
    /// The flow-matching velocity `v = eps - x_0` (`d x_t / d t` on the linear path
    /// `x_t = (1 - t) x_0 + t eps`; diffusers' `"flow_prediction"`, where `x_0 = x - sigma v`).
    /// Converted with `x_0 = (x - sigma v) / (alpha + sigma)`, `eps = (x + alpha v) / (alpha +
    /// sigma)`, exact for any schedule and `x - sigma v` on the flow one; finite at
    /// `alpha = 0`. Crate feature `flow` (default).
    #[cfg(feature = "flow")]
    Flow,
}

/// The parameterisation a solver consumes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// Noise prediction `eps_theta(x_t, t)`.
    Noise,
    /// Data prediction `x_theta(x_t, t) = (x_t - sigma_t eps_theta) / alpha_t`.
    Data,
}

/// Coefficients `(a, b)` with `target = a x + b output` at a time with `alpha`, `sigma`.
///
/// | prediction | to noise | to data |
/// |---|---|---|
/// | noise | `(0, 1)` | `(1/alpha, -sigma/alpha)` |
/// | data | `(1/sigma, -alpha/sigma)` | `(0, 1)` |
/// | v | `(sigma, alpha)` | `(alpha, -sigma)` |
/// | score | `(0, -sigma)` | `(1/alpha, sigma^2/alpha)` |
/// | flow | `(1/(alpha+sigma), alpha/(alpha+sigma))` | `(1/(alpha+sigma), -sigma/(alpha+sigma))` |
#[inline]
pub fn conversion<T: Real>(prediction: Prediction, target: Target, alpha: T, sigma: T) -> (T, T) {
    match (prediction, target) {
        (Prediction::Noise, Target::Noise) => (T::ZERO, T::ONE),
        (Prediction::Data, Target::Noise) => (T::ONE / sigma, -alpha / sigma),
        (Prediction::V, Target::Noise) => (sigma, alpha),
        (Prediction::Score, Target::Noise) => (T::ZERO, -sigma),
        (Prediction::Noise, Target::Data) => (T::ONE / alpha, -sigma / alpha),
        (Prediction::Data, Target::Data) => (T::ZERO, T::ONE),
        (Prediction::V, Target::Data) => (alpha, -sigma),
        (Prediction::Score, Target::Data) => (T::ONE / alpha, sigma * sigma / alpha),
        #[cfg(feature = "flow")]
        (Prediction::Flow, target) => {
            let inv = T::ONE / (alpha + sigma);
            match target {
                Target::Noise => (inv, alpha * inv),
                Target::Data => (inv, -sigma * inv),
            }
        }
    }
}

/// Writes `dst = a x + b output`: a network output in `prediction` converted to `target`.
/// Useful for previews (the `x_0` estimate of a step) outside the sampler.
pub fn convert<T: Real>(
    prediction: Prediction,
    target: Target,
    alpha: T,
    sigma: T,
    x: &[T],
    output: &[T],
    dst: &mut [T],
) -> Result<()> {
    check_len(Buffer::ModelOutput, x.len(), output.len())?;
    check_len(Buffer::Output, x.len(), dst.len())?;
    let (a, b) = conversion(prediction, target, alpha, sigma);
    for ((d, &x), &o) in dst.iter_mut().zip(x).zip(output) {
        *d = a * x + b * o;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_agree_on_a_consistent_state() {
        let (alpha, sigma) = (0.8f64, 0.6f64);
        let (x0, eps) = (0.3f64, -1.2f64);
        let x = alpha * x0 + sigma * eps;
        let outputs = [
            (Prediction::Noise, eps),
            (Prediction::Data, x0),
            (Prediction::V, alpha * eps - sigma * x0),
            (Prediction::Score, -eps / sigma),
            #[cfg(feature = "flow")]
            (Prediction::Flow, eps - x0),
        ];
        for (p, out) in outputs {
            let (a, b) = conversion(p, Target::Noise, alpha, sigma);
            assert!((a * x + b * out - eps).abs() < 1e-15, "{p:?} to noise");
            let (a, b) = conversion(p, Target::Data, alpha, sigma);
            assert!((a * x + b * out - x0).abs() < 1e-15, "{p:?} to data");
        }
    }

    #[cfg(feature = "flow")]
    #[test]
    fn flow_velocity_is_finite_at_pure_noise() {
        // alpha = 0, sigma = 1: x = eps, x0 = x - v.
        let (x0, eps) = (0.3f64, -1.2f64);
        let v = eps - x0;
        let (a, b) = conversion(Prediction::Flow, Target::Data, 0.0, 1.0);
        assert!((a * eps + b * v - x0).abs() < 1e-15);
        let (a, b) = conversion(Prediction::Flow, Target::Noise, 0.0, 1.0);
        assert!((a * eps + b * v - eps).abs() < 1e-15);
    }
}
