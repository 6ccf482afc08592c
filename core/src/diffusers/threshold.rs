//! diffusers' `_threshold_sample` (dynamic thresholding, Imagen).
//!
//! Per sample (row of `x0`): `s = quantile(|x0|, dynamic_thresholding_ratio)`, then
//! `s = clamp(s, min=1, max=sample_max_value)` and `x0 = clamp(x0, -s, s) / s`.
//! The reference DPM-Solver instead takes `s = max(s, max_val)` with no upper bound
//! ([`crate::threshold`]): diffusers never lets `s` exceed `sample_max_value`, so with the
//! default `sample_max_value = 1` it is plain clipping to `[-1, 1]`.

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
