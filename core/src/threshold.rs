//! Dynamic thresholding (Imagen, Saharia et al. 2022) of the data prediction, as the reference
//! applies it: per sample, `s = max(quantile(|x_0|, ratio), max_val)`, then
//! `x_0 <- clamp(x_0, -s, s) / s`.
//!
//! diffusers' `thresholding` differs: it clamps `s` to `[1, sample_max_value]` instead of taking
//! `max(s, max_val)`, and applies to every scheduler's data prediction.

use crate::math::Real;

/// Dynamic thresholding parameters (the reference's `dynamic_thresholding_ratio` and
/// `thresholding_max_val`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Thresholding<T> {
    /// Quantile of `|x_0|` per sample, in `(0, 1]` (reference default 0.995).
    pub ratio: T,
    /// Lower bound of the threshold (reference default 1.0).
    pub max_val: T,
}

impl<T: Real> Default for Thresholding<T> {
    /// The reference's defaults: ratio 0.995, `max_val` 1.
    fn default() -> Self {
        Thresholding {
            ratio: T::c(0.995),
            max_val: T::ONE,
        }
    }
}

/// `torch.quantile(values, p)` with linear interpolation. Reorders `values`; `p` in `[0, 1]`,
/// `values` non-empty and finite (otherwise the result is unspecified but nothing panics).
pub fn quantile<T: Real>(values: &mut [T], p: T) -> T {
    let n = values.len();
    if n == 0 {
        return T::ZERO;
    }
    let rank = p * T::from_usize(n - 1);
    let lo = rank.floor().to_usize().min(n - 1);
    let weight = rank - T::from_usize(lo);
    // A max-heap, then the n - 1 - lo largest values popped to the end: `values[0]` is the
    // lo-th smallest and the values after `lo` the rest (`select_nth_unstable` would do, but
    // its introselect is 3 kB of wasm for one call; few pops for a ratio near 1).
    for i in (0..n / 2).rev() {
        sift_down(values, i, n);
    }
    for end in (lo + 1..n).rev() {
        values.swap(0, end);
        sift_down(values, 0, end);
    }
    let below = values[0];
    let above = values[lo + 1..]
        .iter()
        .copied()
        .fold(None, |m: Option<T>, v| match m {
            Some(m) if m <= v => Some(m),
            _ => Some(v),
        });
    let above = above.unwrap_or(below);
    // torch.lerp: start + w (end - start) for w < 1/2, end - (end - start)(1 - w) otherwise.
    if weight < T::c(0.5) {
        below + weight * (above - below)
    } else {
        above - (above - below) * (T::ONE - weight)
    }
}

/// Restores the max-heap order (by `total_cmp`) of `v[..n]` below `i`.
fn sift_down<T: Real>(v: &mut [T], mut i: usize, n: usize) {
    loop {
        let mut c = 2 * i + 1;
        if c >= n {
            return;
        }
        if c + 1 < n && v[c].total_cmp(&v[c + 1]).is_lt() {
            c += 1;
        }
        if v[i].total_cmp(&v[c]).is_ge() {
            return;
        }
        v.swap(i, c);
        i = c;
    }
}

/// Thresholds one sample's `x_0` in place; `work` needs `x0.len()` elements.
pub fn dynamic_threshold<T: Real>(x0: &mut [T], params: &Thresholding<T>, work: &mut [T]) {
    let s = abs_quantile(x0, params.ratio, work).max(params.max_val);
    clamp_scale(x0, s);
}

/// `quantile(|x0|, p)` of one sample, computed in `work` (up to `x0.len()` elements of it are
/// used; `x0` is left as is). The first half of both dynamic thresholdings: this module's and
/// diffusers' ([`crate::diffusers::threshold_sample`]), which bound the result differently.
pub(crate) fn abs_quantile<T: Real>(x0: &[T], p: T, work: &mut [T]) -> T {
    let len = x0.len().min(work.len());
    let work = &mut work[..len];
    for (w, &v) in work.iter_mut().zip(x0.iter()) {
        *w = v.abs();
    }
    quantile(work, p)
}

/// `x0 <- clamp(x0, -s, s) / s`: the second half of both dynamic thresholdings.
pub(crate) fn clamp_scale<T: Real>(x0: &mut [T], s: T) {
    for v in x0.iter_mut() {
        *v = v.max(-s).min(s) / s;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantile_matches_torch_linear() {
        // torch.quantile(torch.tensor([3., 1., 4., 1., 5., 9., 2., 6.]), q) for these q.
        let base = [3.0f64, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0];
        for (q, want) in [
            (0.0, 1.0),
            (0.5, 3.5),
            (0.995, 8.895),
            (1.0, 9.0),
            (0.3, 2.1),
        ] {
            let mut v = base;
            let got = quantile(&mut v, q);
            assert!((got - want).abs() < 1e-12, "q={q}: {got} vs {want}");
        }
    }

    #[test]
    fn quantile_matches_select_nth() {
        // Pseudo-random values with repeats, every length 1..60 and several ratios: the heap
        // selection gives the value `select_nth_unstable` gives.
        let mut state = 987654321u32;
        for n in 1..60usize {
            let v: Vec<f32> = (0..n)
                .map(|_| {
                    state = state.wrapping_mul(1664525).wrapping_add(1013904223);
                    (state >> 27) as f32 * 0.25
                })
                .collect();
            for p in [0.0f32, 0.1, 0.5, 0.9, 0.995, 1.0] {
                let rank = p * (n - 1) as f32;
                let lo = (rank.floor() as usize).min(n - 1);
                let w = rank - lo as f32;
                let mut r = v.clone();
                let (_, &mut below, rest) = r.select_nth_unstable_by(lo, |a, b| a.total_cmp(b));
                let above = rest.iter().copied().reduce(f32::min).unwrap_or(below);
                let want = if w < 0.5 {
                    below + w * (above - below)
                } else {
                    above - (above - below) * (1.0 - w)
                };
                let mut h = v.clone();
                let got = quantile(&mut h, p);
                assert_eq!(got.to_bits(), want.to_bits(), "n={n} p={p}");
            }
        }
    }

    #[test]
    fn threshold_scales_into_unit_range() {
        let mut x0 = [0.5f32, -3.0, 2.0, 0.1];
        let mut work = [0.0f32; 4];
        dynamic_threshold(
            &mut x0,
            &Thresholding {
                ratio: 1.0,
                max_val: 1.0,
            },
            &mut work,
        );
        assert_eq!(x0, [0.5 / 3.0, -1.0, 2.0 / 3.0, 0.1 / 3.0]);
        // Below max_val nothing but the division by max_val happens.
        let mut y = [0.2f32, -0.4];
        dynamic_threshold(
            &mut y,
            &Thresholding {
                ratio: 0.995,
                max_val: 1.0,
            },
            &mut work,
        );
        assert_eq!(y, [0.2, -0.4]);
    }
}
