//! Scalar maths: the one module of the core library that calls `libm`.
//!
//! Everything numerical in the solver goes through [`Real`], implemented for `f32` (the default,
//! for wasm and microcontrollers) and `f64` (reference precision). The transcendental functions
//! are `libm`'s, correctly rounded to within 1 ulp. On top of them sit the few functions the
//! DPM-Solver updates need with care:
//!
//! | function | accuracy (checked by the unit tests below) |
//! |---|---|
//! | [`Real::exp_m1`] | libm `expm1`: < 1 ulp, no cancellation for small `h` |
//! | [`psi2`] | relative error < 8 ulp of `T` for all finite `z` |
//! | [`psi3`] | relative error < 8 ulp of `T` for all finite `z` |
//! | [`logaddexp`] | < 2 ulp |
//! | [`linspace_at`] | torch's `linspace`, element by element, to the ulp |
//!
//! The diffusers layer ([`crate::diffusers`]) and the noise generator (`rng`) compute at one
//! precision whatever `T` is, so they call `libm`'s `f32` and `f64` functions by their C names,
//! through `cmath` below (re-exports: the same functions, the same bits). The diffusers layer
//! must round where torch rounds (a `float32` `sqrt`, then an `f64` product), which a function
//! generic over [`Real`] cannot say.
//! Elsewhere only the unit tests and `examples/noise_stats.rs` name `libm`, as a reference.

use core::cmp::Ordering;
use core::fmt::{Debug, Display};
use core::ops::{Add, AddAssign, Div, Mul, MulAssign, Neg, Sub, SubAssign};

/// A floating-point type the solver can compute in: `f32` or `f64`.
pub trait Real:
    Copy
    + Default
    + PartialOrd
    + Debug
    + Display
    + Send
    + Sync
    + 'static
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + AddAssign
    + SubAssign
    + MulAssign
{
    /// 0.
    const ZERO: Self;
    /// 1.
    const ONE: Self;
    /// Machine epsilon.
    const EPSILON: Self;
    /// Below this `|z|`, [`psi2`] and [`psi3`] use their Taylor series (where the closed forms
    /// lose digits to cancellation).
    const SERIES_CUTOFF: Self;

    /// Converts an `f64` constant (rounding to nearest).
    fn c(v: f64) -> Self;
    /// Widens to `f64` (exact).
    fn to_f64(self) -> f64;
    /// Converts a count.
    fn from_usize(n: usize) -> Self;

    /// `e^x`.
    fn exp(self) -> Self;
    /// `e^x - 1`, accurate for small `x` (DPM-Solver's `phi_1`).
    fn exp_m1(self) -> Self;
    /// Natural logarithm.
    fn ln(self) -> Self;
    /// `ln(1 + x)`, accurate for small `x`.
    fn ln_1p(self) -> Self;
    /// Square root.
    fn sqrt(self) -> Self;
    /// `x^y`.
    fn powf(self, y: Self) -> Self;
    /// Cosine.
    fn cos(self) -> Self;
    /// Sine.
    fn sin(self) -> Self;
    /// Largest integer not above `x`.
    fn floor(self) -> Self;
    /// Absolute value.
    fn abs(self) -> Self;
    /// Whether the value is neither infinite nor NaN.
    fn is_finite(self) -> bool;
    /// Whether the value is NaN.
    fn is_nan(self) -> bool;
    /// IEEE total order (never panics, orders NaN last).
    fn total_cmp(&self, other: &Self) -> Ordering;
    /// Truncation to an index (saturating; NaN gives 0).
    fn to_usize(self) -> usize;
    /// Whether every value of `v` is finite: a branch-free bit test that vectorises (exponent
    /// bits all ones means infinity or NaN).
    fn all_finite(v: &[Self]) -> bool;
    /// `dst[i] = a x[i] + b o[i]`, returning whether every `o[i]` was finite (one fused pass).
    fn axpby_checked(dst: &mut [Self], x: &[Self], o: &[Self], a: Self, b: Self) -> bool;

    /// The larger of two values (NaN-ignoring, like `f64::max`).
    #[inline]
    fn max(self, other: Self) -> Self {
        if self >= other || other.is_nan() {
            self
        } else {
            other
        }
    }
    /// The smaller of two values (NaN-ignoring, like `f64::min`).
    #[inline]
    fn min(self, other: Self) -> Self {
        if self <= other || other.is_nan() {
            self
        } else {
            other
        }
    }
}

macro_rules! impl_real {
    ($t:ty, $exp:path, $expm1:path, $ln:path, $ln1p:path, $sqrt:path, $pow:path, $cos:path, $sin:path,
     $floor:path, $abs:path, $cutoff:expr, $exp_mask:expr, $exp_lsb:expr, $sign:expr) => {
        impl Real for $t {
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            const EPSILON: Self = <$t>::EPSILON;
            const SERIES_CUTOFF: Self = $cutoff;
            #[inline]
            fn c(v: f64) -> Self {
                v as $t
            }
            #[inline]
            fn to_f64(self) -> f64 {
                self as f64
            }
            #[inline]
            fn from_usize(n: usize) -> Self {
                n as $t
            }
            #[inline]
            fn exp(self) -> Self {
                $exp(self)
            }
            #[inline]
            fn exp_m1(self) -> Self {
                $expm1(self)
            }
            #[inline]
            fn ln(self) -> Self {
                $ln(self)
            }
            #[inline]
            fn ln_1p(self) -> Self {
                $ln1p(self)
            }
            #[inline]
            fn sqrt(self) -> Self {
                $sqrt(self)
            }
            #[inline]
            fn powf(self, y: Self) -> Self {
                $pow(self, y)
            }
            #[inline]
            fn cos(self) -> Self {
                $cos(self)
            }
            #[inline]
            fn sin(self) -> Self {
                $sin(self)
            }
            #[inline]
            fn floor(self) -> Self {
                $floor(self)
            }
            #[inline]
            fn abs(self) -> Self {
                $abs(self)
            }
            #[inline]
            fn is_finite(self) -> bool {
                <$t>::is_finite(self)
            }
            #[inline]
            fn is_nan(self) -> bool {
                <$t>::is_nan(self)
            }
            #[inline]
            fn total_cmp(&self, other: &Self) -> Ordering {
                <$t>::total_cmp(self, other)
            }
            #[inline]
            fn to_usize(self) -> usize {
                self as usize
            }
            #[inline]
            fn all_finite(v: &[Self]) -> bool {
                // (bits & EXP) + EXP_LSB carries into the sign bit iff the exponent is all ones.
                let mut acc = 0;
                for &e in v {
                    acc |= (e.to_bits() & $exp_mask) + $exp_lsb;
                }
                acc & $sign == 0
            }
            #[inline]
            fn axpby_checked(dst: &mut [Self], x: &[Self], o: &[Self], a: Self, b: Self) -> bool {
                let mut acc = 0;
                for ((d, &x), &o) in dst.iter_mut().zip(x).zip(o) {
                    acc |= (o.to_bits() & $exp_mask) + $exp_lsb;
                    *d = a * x + b * o;
                }
                acc & $sign == 0
            }
        }
    };
}

impl_real!(
    f32,
    libm::expf,
    libm::expm1f,
    libm::logf,
    libm::log1pf,
    libm::sqrtf,
    libm::powf,
    libm::cosf,
    libm::sinf,
    libm::floorf,
    libm::fabsf,
    2.0,
    0x7f80_0000u32,
    0x0080_0000u32,
    0x8000_0000u32
);
impl_real!(
    f64,
    libm::exp,
    libm::expm1,
    libm::log,
    libm::log1p,
    libm::sqrt,
    libm::pow,
    libm::cos,
    libm::sin,
    libm::floor,
    libm::fabs,
    2.0,
    0x7ff0_0000_0000_0000u64,
    0x0010_0000_0000_0000u64,
    0x8000_0000_0000_0000u64
);

/// `libm`'s functions by their C names (`sqrtf` is `f32`, `sqrt` is `f64`), for code that must
/// compute at one precision whatever `T` is: the diffusers layer, which rounds where torch and
/// numpy round, and the noise generator. Re-exports, so they are exactly the functions [`Real`]
/// calls for `f32` and `f64`.
#[allow(unused_imports)] // which ones are used depends on the features
pub(crate) mod cmath {
    pub(crate) use libm::{
        ceil, cos, erfc, exp, expf, expm1f, fabs, floor, log, logf, pow, sincosf, sqrt, sqrtf,
    };
}

/// `log(e^a + e^b)` without overflow.
#[inline]
pub fn logaddexp<T: Real>(a: T, b: T) -> T {
    let m = a.max(b);
    let d = (a - b).abs();
    m + (-d).exp().ln_1p()
}

/// `1/k` for the series below (`INV[0]` unused).
const INV: [f64; 27] = {
    let mut t = [0.0; 27];
    let mut k = 1;
    while k < 27 {
        t[k] = 1.0 / k as f64;
        k += 1;
    }
    t
};

/// `psi2(z) = (e^z - 1 - z) / z`, the second exponential-integrator coefficient.
///
/// DPM-Solver writes it as `phi_1 / h - 1` (and DPM-Solver++ as `phi_1 / h + 1 = -psi2(-h)`);
/// for small `h` that difference cancels catastrophically in `f32`, so below
/// [`Real::SERIES_CUTOFF`] the Taylor series `z/2 + z^2/6 + z^3/24 + ...` is used instead.
#[inline]
pub fn psi2<T: Real>(z: T) -> T {
    if z.abs() < T::SERIES_CUTOFF {
        // sum_{k>=0} z^{k+1} / (k+2)!, Horner form, 23 terms (|z| < 2: truncation < 1e-17),
        // multiplying by constant reciprocals (no division in the loop).
        let mut acc = T::ZERO;
        for &inv in INV[2..=24].iter().rev() {
            acc = (acc + T::ONE) * z * T::c(inv);
        }
        acc
    } else if z == T::ZERO {
        T::ZERO
    } else {
        z.exp_m1() / z - T::ONE
    }
}

/// `psi3(z) = (e^z - 1 - z - z^2/2) / z^2`, the third exponential-integrator coefficient
/// (`phi_2 / h - 1/2` in the reference), with the same small-`z` series treatment as [`psi2`].
#[inline]
pub fn psi3<T: Real>(z: T) -> T {
    if z.abs() < T::SERIES_CUTOFF {
        // sum_{k>=0} z^{k+1} / (k+3)! = z/6 (1 + z/4 (1 + z/5 (...))), 23 terms.
        let mut acc = T::ZERO;
        for &inv in INV[4..=26].iter().rev() {
            acc = (acc + T::ONE) * z * T::c(inv);
        }
        (acc + T::ONE) * z * T::c(1.0 / 6.0)
    } else {
        psi2(z) / z - T::c(0.5)
    }
}

/// Element `i` of `linspace(start, end, n)` exactly as torch computes it: the first half from
/// `start`, the second half from `end`, so both ends are exact. An index past the end
/// (`i >= n`) gives `end` (never an overflow).
#[inline]
pub fn linspace_at<T: Real>(start: T, end: T, n: usize, i: usize) -> T {
    if n <= 1 {
        return start;
    }
    let i = if i < n { i } else { n - 1 };
    let step = (end - start) / T::from_usize(n - 1);
    if i < n / 2 {
        start + step * T::from_usize(i)
    } else {
        end - step * T::from_usize(n - 1 - i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn psi2_ref(z: f64) -> f64 {
        // Long series in f64 (exact enough for |z| <= 2) or the closed form for larger.
        if z.abs() <= 2.0 {
            let mut term = z / 2.0;
            let mut sum = 0.0;
            for k in 2..60 {
                sum += term;
                term *= z / (k as f64 + 1.0);
            }
            sum
        } else {
            libm::expm1(z) / z - 1.0
        }
    }
    fn psi3_ref(z: f64) -> f64 {
        if z.abs() <= 2.0 {
            let mut term = z / 6.0;
            let mut sum = 0.0;
            for k in 3..60 {
                sum += term;
                term *= z / (k as f64 + 1.0);
            }
            sum
        } else {
            (libm::expm1(z) - z - 0.5 * z * z) / (z * z)
        }
    }

    const TEST_VECTORS: [f64; 20] = [
        1e-7, -1e-7, 1e-3, -1e-3, 0.05, -0.05, 0.124, -0.2499, 0.26, -0.3, 0.9, -1.0, 1.7, -1.7,
        1.999, -1.999, 2.001, -2.001, 4.0, -6.0,
    ];

    #[test]
    fn psi_f32_within_8_ulp() {
        for &z in TEST_VECTORS.iter() {
            let got2 = psi2(z as f32) as f64;
            let got3 = psi3(z as f32) as f64;
            // Compare against the exact function at the f32-rounded argument.
            let zr = (z as f32) as f64;
            let (w2, w3) = (psi2_ref(zr), psi3_ref(zr));
            assert!(
                ((got2 - w2) / w2).abs() < 8.0 * f32::EPSILON as f64,
                "psi2({z}) {got2} vs {w2}"
            );
            assert!(
                ((got3 - w3) / w3).abs() < 8.0 * f32::EPSILON as f64,
                "psi3({z}) {got3} vs {w3}"
            );
        }
    }

    #[test]
    fn psi_f64_within_8_ulp() {
        for &z in TEST_VECTORS.iter() {
            // Beyond |z| = 2 the "reference" is the same closed form, so only check small z.
            if z.abs() > 2.0 {
                continue;
            }
            let (g2, g3) = (psi2(z), psi3(z));
            let (w2, w3) = (psi2_ref(z), psi3_ref(z));
            assert!(
                ((g2 - w2) / w2).abs() < 8.0 * f64::EPSILON,
                "psi2({z}) {g2} vs {w2}"
            );
            assert!(
                ((g3 - w3) / w3).abs() < 8.0 * f64::EPSILON,
                "psi3({z}) {g3} vs {w3}"
            );
        }
    }

    #[test]
    fn finiteness_bit_test() {
        assert!(f32::all_finite(&[
            0.0,
            -1.0,
            f32::MAX,
            f32::MIN_POSITIVE,
            -0.0
        ]));
        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, -f32::NAN] {
            assert!(!f32::all_finite(&[1.0, bad, 2.0]));
            assert!(!f64::all_finite(&[1.0, bad as f64]));
        }
        assert!(f64::all_finite(&[f64::MAX, -f64::MAX, 0.0]));
        let mut d = [0.0f32; 2];
        assert!(f32::axpby_checked(
            &mut d,
            &[1.0, 2.0],
            &[3.0, 4.0],
            2.0,
            0.5
        ));
        assert_eq!(d, [3.5, 6.0]);
        assert!(!f32::axpby_checked(
            &mut d,
            &[1.0, 2.0],
            &[3.0, f32::NAN],
            2.0,
            0.5
        ));
    }

    #[test]
    fn linspace_matches_both_ends() {
        assert_eq!(linspace_at(0.1f64, 20.0, 7, 0), 0.1);
        assert_eq!(linspace_at(0.1f64, 20.0, 7, 6), 20.0);
        assert_eq!(linspace_at(3.0f32, 3.0, 1, 0), 3.0);
        let mid = linspace_at(0.0f64, 1.0, 5, 2);
        assert!((mid - 0.5).abs() < 1e-16);
    }

    #[test]
    fn logaddexp_is_stable() {
        assert!((logaddexp(0.0f64, 0.0) - core::f64::consts::LN_2).abs() < 1e-16);
        assert_eq!(logaddexp(1000.0f64, 0.0), 1000.0);
        assert!((logaddexp(-30.0f32, 0.0) - libm::expf(-30.0)).abs() < 1e-20);
    }
}
