//! Step-size control of the adaptive DPM-Solver-12 and -23 (paper, section 3.3 and
//! Appendix C; the controller follows Jolicoeur-Martineau et al. 2021).
//!
//! A step from `s` to `t = lambda^-1(lambda_s + h)` is taken with a lower- and a higher-order
//! singlestep update; their scaled difference `E` decides acceptance (`E <= 1`) and the next
//! `h = min(theta h E^(-1/order), lambda_0 - lambda_s)`.

use crate::math::Real;
use crate::update::Update;

/// Error estimates below this many ulp of `T` are treated as zero by [`StepController::next_h`].
pub const E_FLOOR_ULPS: f64 = 16.0;

/// Tolerances and limits of the adaptive solver (the reference's defaults).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdaptiveOptions<T> {
    /// Absolute tolerance (0.0078, about one grey level of an 8-bit image in `[-1, 1]`).
    pub atol: T,
    /// Relative tolerance (0.05).
    pub rtol: T,
    /// Safety factor for the next step (0.9).
    pub theta: T,
    /// Stop when `|s - t_end| <= t_err` (1e-5).
    pub t_err: T,
    /// First step size in `lambda` (0.05).
    pub h_init: T,
    /// Evaluation budget; exceeding it is [`Error::StepLimit`](crate::Error::StepLimit).
    pub max_nfe: usize,
    /// After a rejected step, reuse the model value at `s` (unchanged `x`, unchanged `s`)
    /// instead of evaluating it again. Saves one evaluation per rejection; off by default
    /// because the reference re-evaluates (and its NFE counts include that).
    pub reuse_rejected_eval: bool,
}

impl<T: Real> Default for AdaptiveOptions<T> {
    fn default() -> Self {
        AdaptiveOptions {
            atol: T::c(0.0078),
            rtol: T::c(0.05),
            theta: T::c(0.9),
            t_err: T::c(1e-5),
            h_init: T::c(0.05),
            max_nfe: 10_000,
            reuse_rejected_eval: false,
        }
    }
}

/// The step-size controller: error norm and next step, testable on its own.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepController<T> {
    /// Absolute tolerance.
    pub atol: T,
    /// Relative tolerance.
    pub rtol: T,
    /// Safety factor.
    pub theta: T,
    /// The higher order (2 or 3): the exponent of the step-size update is `-1/order`.
    pub order: usize,
}

impl<T: Real> StepController<T> {
    /// `E = max_b sqrt(mean_d ((x_high - x_low) / delta)^2)` with
    /// `delta = max(atol, rtol max(|x_low|, |x_prev|))`, computed on the fly from `x` and the
    /// model values `ms` by `lower` and `higher`.
    ///
    /// Both updates share `cx` and reproduce a constant model exactly (their `cm` sum to the
    /// same value), so `x_high - x_low = sum_{j>=1} (ch_j - cl_j)(m_j - m_0)`. Computing the
    /// difference in that form, rather than subtracting two nearly equal solutions, keeps `E`
    /// meaningful in `f32` on small steps, where it decides the next step size.
    #[allow(clippy::too_many_arguments)]
    pub fn error(
        &self,
        lower: &Update<T>,
        higher: &Update<T>,
        x: &[T],
        x_prev: &[T],
        ms: [&[T]; 3],
        batch: usize,
    ) -> T {
        let dim = x.len() / batch.max(1);
        let dc1 = higher.cm[1] - lower.cm[1];
        let dc2 = higher.cm[2] - lower.cm[2];
        let mut worst = T::ZERO;
        for b in 0..batch {
            let r = b * dim..(b + 1) * dim;
            let (x, xp) = (&x[r.clone()], &x_prev[r.clone()]);
            let (m0, m1, m2) = (&ms[0][r.clone()], &ms[1][r.clone()], &ms[2][r]);
            // Eight independent partial sums, so the loop vectorises (a single float
            // accumulator is a serial dependency chain).
            let term = |i: usize| {
                let lo = lower.at(x[i], m0[i], m1[i], m2[i]);
                let diff = dc1 * (m1[i] - m0[i]) + dc2 * (m2[i] - m0[i]);
                let (alo, axp) = (lo.abs(), xp[i].abs());
                let big = if alo > axp { alo } else { axp };
                let rel = self.rtol * big;
                let delta = if rel > self.atol { rel } else { self.atol };
                let e = diff / delta;
                e * e
            };
            let mut acc = [T::ZERO; 8];
            let chunks = dim / 8 * 8;
            for base in (0..chunks).step_by(8) {
                for (j, a) in acc.iter_mut().enumerate() {
                    *a += term(base + j);
                }
            }
            for i in chunks..dim {
                acc[0] += term(i);
            }
            let sum = acc.iter().fold(T::ZERO, |s, &v| s + v);
            let norm = (sum / T::from_usize(dim)).sqrt();
            // NaN-propagating max: a NaN error must reject, never accept.
            if !(norm <= worst) {
                worst = norm;
            }
        }
        worst
    }

    /// Whether a step with error `e` is accepted.
    pub fn accept(&self, e: T) -> bool {
        e <= T::ONE
    }

    /// The next step `theta h e^(-1/order)`, capped at `remaining = lambda_0 - lambda_s`
    /// (signed: both negative when integrating towards noise).
    ///
    /// An `e` below [`E_FLOOR_ULPS`] ulp of `T` is rounding noise, not an error estimate (on
    /// the tiny first step the two solutions agree to working precision), and counts as 0:
    /// the step grows to the cap, as it does in exact arithmetic. In `f64` the floor (3.6e-15)
    /// never binds in practice; in `f32` (1.9e-6) it keeps noise from choosing the path.
    pub fn next_h(&self, h: T, e: T, remaining: T) -> T {
        let e = if e < T::c(E_FLOOR_ULPS) * T::EPSILON {
            T::ZERO
        } else {
            e
        };
        let proposed = self.theta * h.abs() * e.powf(-T::ONE / T::from_usize(self.order));
        let cap = remaining.abs();
        // A NaN or infinite proposal (e = 0 gives +inf) falls back to the cap.
        let mag = if proposed < cap { proposed } else { cap };
        if remaining < T::ZERO {
            -mag
        } else {
            mag
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_h_grows_on_small_error_and_is_capped() {
        let c = StepController {
            atol: 0.0078f64,
            rtol: 0.05,
            theta: 0.9,
            order: 2,
        };
        assert!((c.next_h(0.1, 0.25, 10.0) - 0.9 * 0.1 * 2.0).abs() < 1e-15);
        assert_eq!(c.next_h(0.1, 0.0, 0.3), 0.3);
        assert_eq!(c.next_h(0.1, 1e-12, 0.3), 0.3);
        // Below the rounding floor: treated as exact, the step grows to the cap.
        let c32 = StepController {
            atol: 0.0078f32,
            rtol: 0.05,
            theta: 0.9,
            order: 3,
        };
        assert_eq!(c32.next_h(0.05, 4e-7, 10.0), 10.0);
        assert!(c32.next_h(0.05, 1e-5, 10.0) < 10.0);
        assert!((c.next_h(-0.1, 4.0, -10.0) + 0.9 * 0.1 * 0.5).abs() < 1e-15);
        assert!(c.accept(1.0) && !c.accept(1.0001) && !c.accept(f64::NAN));
    }

    #[test]
    fn error_is_scaled_rms_per_sample_max() {
        let c = StepController {
            atol: 0.5f64,
            rtol: 0.0,
            theta: 0.9,
            order: 2,
        };
        // lower = x + m0, higher = x + m1: difference m1 - m0, scaled by atol.
        let lower = Update {
            cx: 1.0,
            cm: [1.0, 0.0, 0.0],
        };
        let higher = Update {
            cx: 1.0,
            cm: [0.0, 1.0, 0.0],
        };
        let x = [0.0; 4];
        let z = [0.0; 4];
        let m1 = [0.5, 0.5, 1.0, 1.0];
        let e = c.error(&lower, &higher, &x, &x, [&z, &m1, &z], 2);
        assert!((e - 2.0).abs() < 1e-15); // second sample: rms(1/0.5) = 2
    }
}
