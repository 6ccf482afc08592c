//! The exact network of a Gaussian mixture (the conformance fixtures' oracle), in `f32`.
//!
//! Same formulas as `Oracle` in `tests/src/lib.rs` (which runs in `f64` on the host): the score
//! of `p_t = sum_k w_k N(alpha mu_k, alpha^2 var_k + sigma^2)` (diagonal), through a
//! max-shifted softmax of the log-responsibilities, then converted to the requested output.

// Indexed loops mirror the formulas (and the host oracle) term by term.
#![allow(clippy::needless_range_loop)]

use dpm_solver::Prediction;

/// Largest mixture and dimension the fixed-size locals hold.
pub const MAX_K: usize = 8;
/// Largest dimension.
pub const MAX_D: usize = 16;

const LN_2PI: f32 = 1.837_877_1;

/// A mixture: `k` components in `d` dimensions, row-major `[k][d]` means and variances.
pub struct Gmm {
    pub k: usize,
    pub d: usize,
    pub weights: &'static [f32],
    pub means: &'static [f32],
    pub variances: &'static [f32],
    pub pred: Prediction,
}

impl Gmm {
    /// `grad log p_t(x)` of the mixture, or of component `only` alone, into `score`.
    pub fn score(&self, x: &[f32], alpha: f32, sigma: f32, only: Option<usize>, score: &mut [f32]) {
        let d = self.d;
        let (first, count) = match only {
            Some(c) => (c, 1),
            None => (0, self.k),
        };
        let mut logr = [0.0f32; MAX_K];
        let (a2, s2) = (alpha * alpha, sigma * sigma);
        for j in 0..count {
            let k = first + j;
            let mut l = if only.is_some() {
                0.0
            } else {
                libm::logf(self.weights[k])
            };
            for i in 0..d {
                let c = a2 * self.variances[k * d + i] + s2;
                let diff = x[i] - alpha * self.means[k * d + i];
                l -= 0.5 * ((LN_2PI + libm::logf(c)) + diff * diff / c);
            }
            logr[j] = l;
        }
        let m = logr[..count]
            .iter()
            .copied()
            .fold(f32::NEG_INFINITY, f32::max);
        let mut z = 0.0f32;
        for l in &logr[..count] {
            z += libm::expf(l - m);
        }
        score[..d].iter_mut().for_each(|s| *s = 0.0);
        for j in 0..count {
            let k = first + j;
            let r = libm::expf(logr[j] - m) / z;
            for i in 0..d {
                let c = a2 * self.variances[k * d + i] + s2;
                score[i] += r * (-(x[i] - alpha * self.means[k * d + i]) / c);
            }
        }
    }

    /// The network output for one sample row, in this mixture's prediction type.
    pub fn output(&self, x: &[f32], alpha: f32, sigma: f32, only: Option<usize>, out: &mut [f32]) {
        self.score(x, alpha, sigma, only, out);
        if self.pred == Prediction::Score {
            return;
        }
        for i in 0..self.d {
            let eps = -sigma * out[i];
            out[i] = match self.pred {
                Prediction::Noise => eps,
                Prediction::Data => (x[i] - sigma * eps) / alpha,
                Prediction::V => {
                    let x0 = (x[i] - sigma * eps) / alpha;
                    alpha * eps - sigma * x0
                }
                // Score returned above; Flow (feature "flow") is not built into the firmware.
                #[allow(unreachable_patterns)]
                _ => unreachable!(),
            };
        }
    }

    /// `grad_x log p_t(class c | x)`: the score of component `c` minus the mixture's.
    pub fn class_grad(&self, x: &[f32], alpha: f32, sigma: f32, c: usize, out: &mut [f32]) {
        let mut all = [0.0f32; MAX_D];
        self.score(x, alpha, sigma, Some(c), out);
        self.score(x, alpha, sigma, None, &mut all);
        for i in 0..self.d {
            out[i] -= all[i];
        }
    }
}
