//! Measures the seeded Gaussian generator against the standard normal: the shipped libm
//! Box-Muller, and the same transform on micromath's approximations (with and without its 5%
//! `sqrt`), to decide which one the crate ships.
//!
//! `cargo run --release -p dpm-solver --features rng --example noise_stats`

use dpm_solver::rng::{normal_stats, NoiseRng};
use micromath::F32Ext;
use std::time::Instant;

/// Box-Muller on micromath's `ln` and `sin_cos` (`own_sqrt`: its `sqrt` too), pairs cached as
/// `NoiseRng::gaussian` does, so the timings compare like with like.
struct Micromath {
    rng: NoiseRng,
    spare: Option<f32>,
    own_sqrt: bool,
}

impl Micromath {
    fn draw(&mut self) -> f32 {
        if let Some(v) = self.spare.take() {
            return v;
        }
        let (u1, u2) = (self.rng.uniform_open0(), self.rng.uniform());
        let l = -2.0 * F32Ext::ln(u1);
        let r = if self.own_sqrt {
            F32Ext::sqrt(l)
        } else {
            libm::sqrtf(l)
        };
        let (s, c) = F32Ext::sin_cos(core::f32::consts::TAU * u2);
        self.spare = Some(r * s);
        r * c
    }
}

fn measure(name: &str, mut make: impl FnMut(u64) -> Box<dyn FnMut() -> f32>, n: usize) {
    let s = normal_stats(n, make(1));
    // Timing: median of 9 runs of n draws.
    let mut times: Vec<f64> = (0..9)
        .map(|_| {
            let mut draw = make(2);
            let t = Instant::now();
            let mut acc = 0f32;
            for _ in 0..n {
                acc += draw();
            }
            std::hint::black_box(acc);
            t.elapsed().as_nanos() as f64 / n as f64
        })
        .collect();
    times.sort_by(|a, b| a.total_cmp(b));
    println!(
        "| {name} | {:+.5} | {:.5} | {:+.5} | {:+.5} | {:.5} | {:.5} | {:.1} |",
        s.mean, s.var, s.skew, s.kurt, s.tail3, s.ks, times[4]
    );
}

fn main() {
    let n = 1usize << 20;
    println!("| generator ({n} draws, seed 1) | mean | variance | skewness | excess kurtosis | P(|z|>3) (0.00270) | KS distance | ns/draw |");
    println!("|---|---|---|---|---|---|---|---|");
    measure(
        "libm logf, sincosf, sqrtf (shipped: `NoiseRng::gaussian`)",
        |seed| {
            let mut r = NoiseRng::new(seed);
            Box::new(move || r.gaussian())
        },
        n,
    );
    for (name, own_sqrt) in [
        ("micromath ln, sin_cos + exact sqrt", false),
        ("micromath ln, sin_cos, sqrt", true),
    ] {
        measure(
            name,
            |seed| {
                let mut m = Micromath {
                    rng: NoiseRng::new(seed),
                    spare: None,
                    own_sqrt,
                };
                Box::new(move || m.draw())
            },
            n,
        );
    }
}
