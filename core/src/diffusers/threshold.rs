//! diffusers' `_threshold_sample` (dynamic thresholding, Imagen) and the thresholding front end
//! every scheduler shares: its three config keys checked, its scratch row sized, and the
//! converted model output thresholded (noise predictions through `x_0` and back).
//!
//! Per sample (row of `x0`): `s = quantile(|x0|, dynamic_thresholding_ratio)`, then
//! `s = clamp(s, min=1, max=sample_max_value)` and `x0 = clamp(x0, -s, s) / s`.
//! The reference DPM-Solver instead takes `s = max(s, max_val)` with no upper bound
//! ([`crate::threshold`]): diffusers never lets `s` exceed `sample_max_value`, so with the
//! default `sample_max_value = 1` it is plain clipping to `[-1, 1]`.

use crate::error::{Error, Result};
use crate::math::Real;
use crate::threshold::{abs_quantile, clamp_scale};

/// Thresholds each of the `batch` rows of `x0` in place; `work` needs `x0.len() / batch`
/// elements (a shorter `work` or a `batch` that does not divide the length leaves `x0` as is).
pub fn threshold_sample<T: Real>(
    x0: &mut [T],
    batch: usize,
    ratio: T,
    sample_max_value: T,
    work: &mut [T],
) {
    if batch == 0 || x0.len() % batch != 0 {
        return;
    }
    let dim = x0.len() / batch;
    if dim == 0 || work.len() < dim {
        return;
    }
    for row in x0.chunks_exact_mut(dim) {
        let q = abs_quantile(row, ratio, work);
        // torch.clamp(s, min=1, max=sample_max_value): the upper bound wins if below 1.
        let s = q.max(T::ONE).min(sample_max_value);
        clamp_scale(row, s);
    }
}

/// One scheduler's thresholding keys (`thresholding`, `dynamic_thresholding_ratio`,
/// `sample_max_value`) with its `batch`, as each config hands them over (`threshold()`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct ThresholdKeys {
    /// `thresholding`.
    pub on: bool,
    /// `dynamic_thresholding_ratio`.
    pub ratio: f64,
    /// `sample_max_value`.
    pub max: f64,
    /// Samples in `x` (the rows thresholded one by one).
    pub batch: usize,
}

impl ThresholdKeys {
    /// Validates the parameters (when thresholding is on).
    pub fn check(self) -> Result<()> {
        let (ratio, max) = (self.ratio, self.max);
        if self.on && !((0.0..=1.0).contains(&ratio) && max > 0.0 && max.is_finite()) {
            return Err(Error::InvalidConfig(
                "dynamic_thresholding_ratio must lie in [0, 1] and sample_max_value be positive",
            ));
        }
        Ok(())
    }

    /// Scratch elements the quantile needs for a sample of `n` elements: one row
    /// `n / batch` with thresholding, none without.
    pub fn scratch_len(self, n: usize) -> usize {
        if self.on {
            n / self.batch.max(1)
        } else {
            0
        }
    }

    /// Thresholds a data prediction `x0` in place (`work`: [`scratch_len`](Self::scratch_len)
    /// elements); returns whether thresholding is on (the step is then not affine).
    pub fn data<T: Real>(self, x0: &mut [T], work: &mut [T]) -> bool {
        if self.on {
            let (r, m) = (T::c(self.ratio), T::c(self.max));
            threshold_sample(x0, self.batch, r, m, work);
        }
        self.on
    }

    /// Thresholds a converted model output in place: the data prediction itself
    /// (`to_data`), or a noise prediction `eps` at `x` through its `x_0` (to `x_0`,
    /// threshold, back to `eps`, as diffusers' `convert_model_output` does). Returns whether
    /// thresholding is on.
    pub fn output<T: Real>(
        self,
        out: &mut [T],
        to_data: bool,
        x: &[T],
        alpha: T,
        sigma: T,
        work: &mut [T],
    ) -> bool {
        if !self.on || to_data {
            return self.data(out, work);
        }
        for (e, &x) in out.iter_mut().zip(x) {
            *e = (x - sigma * *e) / alpha;
        }
        self.data(out, work);
        for (e, &x) in out.iter_mut().zip(x) {
            *e = (x - alpha * *e) / sigma;
        }
        true
    }
}
