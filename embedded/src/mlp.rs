//! The tiny class-conditional v-prediction MLP of `train/tiny_denoiser.py` (int8 weights with
//! one f32 scale per output row, f32 activations), over 14x14 images in [-1, 1]:
//!
//! ```text
//! cond = [sin(t f_0..15) | cos(t f_0..15) | one-hot class],  f_i = 10000^(-i/16)
//! h1 = silu(L1 [x | cond]);  h2 = h1 + silu(L2 [h1 | cond]);  h3 = h2 + silu(L3 [h2 | cond])
//! v  = L4 h3                 (v = alpha eps - sigma x0)
//! ```

use crate::tiny_weights::{
    B1, B2, B3, B4, COND, D, HID, NCLS, S1, S2, S3, S4, TEMB, W1, W2, W3, W4,
};

/// Activations (caller-owned, so nothing of it is on the stack): each buffer holds a layer's
/// input followed by the condition.
pub struct Act {
    pub a: [f32; HID + COND],
    pub b: [f32; HID + COND],
}

impl Act {
    pub const fn new() -> Self {
        Act {
            a: [0.0; HID + COND],
            b: [0.0; HID + COND],
        }
    }
}

#[inline(always)]
fn silu(v: f32) -> f32 {
    v / (1.0 + libm::expf(-v))
}

/// `y = (q * s) x + b`, then `y = silu(y)` (+ `y` if `residual`), for int8 rows `q` of
/// `x.len()` columns.
#[inline(never)]
fn dense(q: &[i8], s: &[f32], b: &[f32], x: &[f32], y: &mut [f32], act: bool, residual: &[f32]) {
    let cols = x.len();
    for (r, yr) in y.iter_mut().enumerate() {
        let row = &q[r * cols..(r + 1) * cols];
        let mut acc = 0.0f32;
        for (w, v) in row.iter().zip(x) {
            acc += *w as f32 * v;
        }
        let v = acc * s[r] + b[r];
        *yr = if act { silu(v) } else { v } + residual.get(r).copied().unwrap_or(0.0);
    }
}

/// `v(x, t_model, class)` into `out`.
pub fn v(x: &[f32], t_model: f32, class: usize, act: &mut Act, out: &mut [f32]) {
    // The condition, after the first D entries of `a` and the first HID entries of `b`.
    let mut cond = [0.0f32; COND];
    let half = TEMB / 2;
    for i in 0..half {
        let f = libm::expf(-libm::logf(10000.0) * i as f32 / half as f32);
        let (s, c) = libm::sincosf(t_model * f);
        cond[i] = s;
        cond[half + i] = c;
    }
    for c in 0..NCLS {
        cond[TEMB + c] = if c == class { 1.0 } else { 0.0 };
    }
    act.a[..D].copy_from_slice(&x[..D]);
    act.a[D..D + COND].copy_from_slice(&cond);
    act.b[HID..].copy_from_slice(&cond);
    // h1 = silu(L1 [x | cond]) -> b
    dense(
        &W1,
        &S1,
        &B1,
        &act.a[..D + COND],
        &mut act.b[..HID],
        true,
        &[],
    );
    // h2 = h1 + silu(L2 [h1 | cond]) -> a
    act.a[HID..].copy_from_slice(&cond);
    dense(
        &W2,
        &S2,
        &B2,
        &act.b,
        &mut act.a[..HID],
        true,
        &act.b[..HID],
    );
    // h3 = h2 + silu(L3 [h2 | cond]) -> b
    let (a, b) = (&act.a, &mut act.b);
    dense(&W3, &S3, &B3, a, &mut b[..HID], true, &a[..HID]);
    // v = L4 h3
    dense(&W4, &S4, &B4, &act.b[..HID], &mut out[..D], false, &[]);
}
