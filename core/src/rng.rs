//! A seeded, portable Gaussian noise generator for callers without an RNG (feature `rng`).
//!
//! PCG-XSH-RR 64/32 (O'Neill 2014) gives uniform integers; the Box-Muller transform turns pairs
//! of them into standard normals. The same seed gives bit-identical noise on every target
//! (integer arithmetic plus IEEE `f32` operations only; Rust never contracts them into FMAs).
//!
//! The transform uses libm, not micromath's approximations: measured over 2^20 draws
//! (`cargo run --release -p dpm-solver --features rng --example noise_stats`, figures in
//! `BENCHMARKS.md`), micromath's `ln` and `sin_cos` give a variance of 1.08, an excess kurtosis
//! of -0.21 and a Kolmogorov-Smirnov distance of 0.026 (libm: 1.002, -0.003, 0.0006) at no
//! speed gain, which is not a harmless approximation for the noise a sampler starts from.

use crate::math::{cmath, Real};

const TWO_PI: f32 = core::f32::consts::TAU;

/// Seeded PCG32 generator with a Box-Muller Gaussian on top.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoiseRng {
    state: u64,
    inc: u64,
    spare: Option<u32>,
}

impl NoiseRng {
    /// A generator for `seed` (stream 0).
    pub fn new(seed: u64) -> Self {
        Self::with_stream(seed, 0)
    }

    /// A generator for `seed` on an independent `stream` (e.g. one per image of a batch).
    pub fn with_stream(seed: u64, stream: u64) -> Self {
        let mut r = NoiseRng {
            state: 0,
            inc: (stream << 1) | 1,
            spare: None,
        };
        r.next_u32();
        r.state = r.state.wrapping_add(seed);
        r.next_u32();
        r
    }

    /// The next uniform 32-bit integer.
    pub fn next_u32(&mut self) -> u32 {
        let old = self.state;
        self.state = old.wrapping_mul(6364136223846793005).wrapping_add(self.inc);
        let xorshifted = (((old >> 18) ^ old) >> 27) as u32;
        let rot = (old >> 59) as u32;
        xorshifted.rotate_right(rot)
    }

    /// Uniform in `(0, 1]` with 24 random bits.
    pub fn uniform_open0(&mut self) -> f32 {
        ((self.next_u32() >> 8) + 1) as f32 * (1.0 / 16_777_216.0)
    }

    /// Uniform in `[0, 1)` with 24 random bits.
    pub fn uniform(&mut self) -> f32 {
        (self.next_u32() >> 8) as f32 * (1.0 / 16_777_216.0)
    }

    /// A standard normal sample (Box-Muller with libm's correctly rounded `logf`, `sincosf`,
    /// `sqrtf`; the second value of each pair is kept for the next call).
    pub fn gaussian(&mut self) -> f32 {
        if let Some(bits) = self.spare.take() {
            return f32::from_bits(bits);
        }
        let (u1, u2) = (self.uniform_open0(), self.uniform());
        let r = cmath::sqrtf(-2.0 * cmath::logf(u1));
        let (s, c) = cmath::sincosf(TWO_PI * u2);
        self.spare = Some((r * s).to_bits());
        r * c
    }

    /// Fills `out` with standard normals ([`gaussian`](Self::gaussian)).
    pub fn fill_gaussian<T: Real>(&mut self, out: &mut [T]) {
        for v in out.iter_mut() {
            *v = T::c(self.gaussian() as f64);
        }
    }
}

/// Moments and distances of a sample from the standard normal, for measuring generators.
#[derive(Clone, Copy, Debug, Default)]
pub struct NormalStats {
    /// Mean (0).
    pub mean: f64,
    /// Variance (1).
    pub var: f64,
    /// Skewness (0).
    pub skew: f64,
    /// Excess kurtosis (0).
    pub kurt: f64,
    /// Fraction with `|z| > 3` (0.0026998).
    pub tail3: f64,
    /// Kolmogorov-Smirnov distance to `Phi` over a 1/64 grid on `[-5, 5]`.
    pub ks: f64,
}

/// Measures `n` draws of `draw` (n <= 2^20, so the histogram fits on the stack).
pub fn normal_stats(n: usize, mut draw: impl FnMut() -> f32) -> NormalStats {
    const BINS: usize = 640;
    let mut hist = [0u32; BINS + 2];
    let (mut s1, mut s2, mut s3, mut s4, mut tail) = (0f64, 0f64, 0f64, 0f64, 0usize);
    for _ in 0..n {
        let z = draw() as f64;
        s1 += z;
        s2 += z * z;
        s3 += z * z * z;
        s4 += z * z * z * z;
        if cmath::fabs(z) > 3.0 {
            tail += 1;
        }
        let b = cmath::floor((z + 5.0) * 64.0);
        let idx = if b < 0.0 {
            0
        } else if b >= BINS as f64 {
            BINS + 1
        } else {
            b as usize + 1
        };
        hist[idx] += 1;
    }
    let nf = n as f64;
    let mean = s1 / nf;
    let var = s2 / nf - mean * mean;
    let m3 = s3 / nf - 3.0 * mean * s2 / nf + 2.0 * mean * mean * mean;
    let m4 = s4 / nf - 4.0 * mean * s3 / nf + 6.0 * mean * mean * s2 / nf
        - 3.0 * mean * mean * mean * mean;
    let mut cum = hist[0] as f64;
    let mut ks = 0f64;
    for (b, &count) in hist[1..=BINS].iter().enumerate() {
        cum += count as f64;
        let z = -5.0 + (b + 1) as f64 / 64.0;
        let phi = 0.5 * cmath::erfc(-z / core::f64::consts::SQRT_2);
        ks = ks.max(cmath::fabs(cum / nf - phi));
    }
    NormalStats {
        mean,
        var,
        skew: m3 / cmath::pow(var, 1.5),
        kurt: m4 / (var * var) - 3.0,
        tail3: tail as f64 / nf,
        ks,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream() {
        let (mut a, mut b) = (NoiseRng::new(42), NoiseRng::new(42));
        for _ in 0..1000 {
            assert_eq!(a.gaussian().to_bits(), b.gaussian().to_bits());
        }
        let mut c = NoiseRng::with_stream(42, 1);
        assert_ne!(NoiseRng::new(42).next_u32(), c.next_u32());
    }

    #[test]
    fn pcg32_reference_vector() {
        // PCG32 demo (pcg32-global-demo): seed 42, sequence 54 -> 0xa15c02b7, 0x7b47f409, ...
        let mut r = NoiseRng::with_stream(42, 54);
        assert_eq!(r.next_u32(), 0xa15c02b7);
        assert_eq!(r.next_u32(), 0x7b47f409);
        assert_eq!(r.next_u32(), 0xba1d3330);
    }

    #[test]
    fn gaussian_statistics_hold() {
        // 2^20 draws: the standard errors are ~0.001 (mean), ~0.0014 (var), ~0.005 (kurt).
        let mut r = NoiseRng::new(7);
        let s = normal_stats(1 << 20, || r.gaussian());
        assert!(s.mean.abs() < 0.005, "{s:?}");
        assert!((s.var - 1.0).abs() < 0.01, "{s:?}");
        assert!(s.skew.abs() < 0.01, "{s:?}");
        assert!(s.kurt.abs() < 0.03, "{s:?}");
        assert!((s.tail3 - 0.0026998).abs() < 0.0003, "{s:?}");
        assert!(s.ks < 0.003, "{s:?}");
    }
}
