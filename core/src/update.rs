//! The DPM-Solver and DPM-Solver++ updates (paper: Algorithms 1-2 and eq. 3.7; DPM-Solver++:
//! Algorithms 1-2 of Lu et al. 2022b), each reduced to a linear combination
//! `x_new = cx * x + cm[0] * m_0 + cm[1] * m_1 + cm[2] * m_2` over the caller's buffers.
//!
//! The scalar coefficients are computed once per step from the schedule (`expm1` for `phi_1`,
//! [`psi2`]/[`psi3`] for `phi_2`, `phi_3`, so small steps keep their digits in `f32`); the
//! element loops in [`Update::apply_in_place`] and [`Update::apply_into`] are plain fused
//! multiply-adds that the compiler vectorises.
//!
//! `m_j` are model values in the algorithm's parameterisation: noise `eps` for
//! [`Algorithm::DpmSolver`], data `x_0` for [`Algorithm::DpmSolverPp`].

use crate::math::{psi2, psi3, Real};
use crate::schedule::NoiseSchedule;

/// DPM-Solver (noise prediction) or DPM-Solver++ (data prediction).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Algorithm {
    /// DPM-Solver: integrates the ODE in the noise prediction `eps_theta`.
    DpmSolver,
    /// DPM-Solver++: integrates in the data prediction `x_theta`; better for guided sampling.
    #[default]
    DpmSolverPp,
}

/// How the higher-order updates approximate the derivatives (the reference's `solver_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SolverType {
    /// The paper's DPM-Solver form (recommended).
    #[default]
    DpmSolver,
    /// Plain Taylor expansion of the derivatives.
    Taylor,
}

/// `t` with the schedule's quantities at it, computed once.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Point<T> {
    /// Solver time.
    pub t: T,
    /// `log alpha_t`.
    pub log_alpha: T,
    /// `sigma_t`.
    pub sigma: T,
    /// `lambda_t`.
    pub lambda: T,
}

impl<T: Real> Point<T> {
    /// Evaluates the schedule at `t`.
    #[inline]
    pub fn at(schedule: &NoiseSchedule<'_, T>, t: T) -> Self {
        Point {
            t,
            log_alpha: schedule.log_alpha(t),
            sigma: schedule.sigma(t),
            lambda: schedule.lambda(t),
        }
    }

    /// `alpha_t`.
    #[inline]
    pub fn alpha(&self) -> T {
        self.log_alpha.exp()
    }
}

/// One update as coefficients: `x_new = cx x + sum_j cm[j] m_j`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Update<T> {
    /// Coefficient of the current `x`.
    pub cx: T,
    /// Coefficients of the model values `m_0, m_1, m_2` (unused ones are zero).
    pub cm: [T; 3],
}

/// The common part of every update from `s` to `t`: `x_t = a x_s - b m_s + ...`.
/// For DPM-Solver++ `a = sigma_t / sigma_s`, `b = alpha_t phi_1`, `phi_1 = expm1(-h)`;
/// for DPM-Solver `a = alpha_t / alpha_s`, `b = sigma_t phi_1`, `phi_1 = expm1(h)`.
/// Returns `(a, b, g)` with `g` the factor that multiplies the `phi_2`/`phi_3` terms and
/// the sign convention folded in (`+alpha_t` for ++, `-sigma_t` for DPM-Solver).
///
/// Where `alpha` is 0 at one end (the flow schedule at `t = 1`, `h` infinite) the `phi_1` form
/// is `0 * inf`; `b` then takes its exact value `sigma_t alpha_s / sigma_s - alpha_t` (++) or
/// `alpha_t sigma_s / alpha_s - sigma_t` (DPM-Solver), finite at that end.
#[inline]
fn base<T: Real>(alg: Algorithm, s: &Point<T>, t: &Point<T>, h: T) -> (T, T, T) {
    let r = match alg {
        Algorithm::DpmSolverPp => {
            let alpha_t = t.alpha();
            (t.sigma / s.sigma, alpha_t * (-h).exp_m1(), alpha_t)
        }
        Algorithm::DpmSolver => (
            (t.log_alpha - s.log_alpha).exp(),
            t.sigma * h.exp_m1(),
            -t.sigma,
        ),
    };
    #[cfg(feature = "flow")]
    if !r.1.is_finite() {
        let b = match alg {
            Algorithm::DpmSolverPp => t.sigma * s.alpha() / s.sigma - t.alpha(),
            Algorithm::DpmSolver => t.alpha() * s.sigma / s.alpha() - t.sigma,
        };
        return (r.0, b, r.2);
    }
    r
}

/// `phi_2` and `phi_3` signed so that, with `g` from [`base`], every update reads
/// `x_t = a x - b m_0 + g phi_2 D_1 + g phi_3 D_2`. For ++ the reference's `phi_2 = phi_1/h + 1
/// = -psi2(-h)` and `phi_3 = phi_2/h - 1/2 = psi3(-h)` enters with a minus sign; for DPM-Solver
/// `phi_2 = psi2(h)`, `phi_3 = psi3(h)` (both terms already carry `-sigma_t`).
#[inline]
fn phi23<T: Real>(alg: Algorithm, h: T) -> (T, T) {
    match alg {
        Algorithm::DpmSolverPp => (-psi2(-h), -psi3(-h)),
        Algorithm::DpmSolver => (psi2(h), psi3(h)),
    }
}

impl<T: Real> Update<T> {
    /// DPM-Solver-1 (DDIM) from `s` to `t` over `[m_s]` (paper eq. 3.7, ++ eq. 5).
    pub fn first_order(alg: Algorithm, s: &Point<T>, t: &Point<T>) -> Self {
        let h = t.lambda - s.lambda;
        let (a, b, _) = base(alg, s, t, h);
        Update {
            cx: a,
            cm: [-b, T::ZERO, T::ZERO],
        }
    }

    /// The intermediate point `x_{s_i}` of a singlestep update, over `[m_s]`: a first-order
    /// step of size `r h` (the reference's `phi_11`, `phi_12` with `expm1(+-r h)`).
    pub fn intermediate(alg: Algorithm, s: &Point<T>, si: &Point<T>, r: T, h: T) -> Self {
        let (a, b, _) = base(alg, s, si, r * h);
        Update {
            cx: a,
            cm: [-b, T::ZERO, T::ZERO],
        }
    }

    /// Singlestep DPM-Solver-2 from `s` to `t` over `[m_s, m_s1]`, `s1` at `lambda_s + r1 h`.
    pub fn singlestep_second(
        alg: Algorithm,
        ty: SolverType,
        s: &Point<T>,
        t: &Point<T>,
        r1: T,
    ) -> Self {
        let h = t.lambda - s.lambda;
        let (a, b, g) = base(alg, s, t, h);
        // Coefficient k of (m_s1 - m_s).
        let k = match ty {
            SolverType::DpmSolver => -(T::c(0.5) / r1) * b,
            SolverType::Taylor => g * phi23(alg, h).0 / r1,
        };
        Update {
            cx: a,
            cm: [-b - k, k, T::ZERO],
        }
    }

    /// The second intermediate `x_{s2}` of singlestep DPM-Solver-3, over `[m_s, m_s1]`.
    pub fn third_intermediate(
        alg: Algorithm,
        s: &Point<T>,
        s2: &Point<T>,
        r1: T,
        r2: T,
        h: T,
    ) -> Self {
        let (a, b, g) = base(alg, s, s2, r2 * h);
        // phi_22 in the sign convention of `base`.
        let phi22 = phi23(alg, r2 * h).0;
        let k = (r2 / r1) * g * phi22;
        Update {
            cx: a,
            cm: [-b - k, k, T::ZERO],
        }
    }

    /// Singlestep DPM-Solver-3 from `s` to `t` over `[m_s, m_s1, m_s2]`.
    pub fn singlestep_third(
        alg: Algorithm,
        ty: SolverType,
        s: &Point<T>,
        t: &Point<T>,
        r1: T,
        r2: T,
    ) -> Self {
        let h = t.lambda - s.lambda;
        let (a, b, g) = base(alg, s, t, h);
        let (phi2, phi3) = phi23(alg, h);
        match ty {
            SolverType::DpmSolver => {
                // (1/r2) g phi_2 (m_s2 - m_s)
                let k = g * phi2 / r2;
                Update {
                    cx: a,
                    cm: [-b - k, T::ZERO, k],
                }
            }
            SolverType::Taylor => {
                // D1_0 = (m1 - m0)/r1, D1_1 = (m2 - m0)/r2,
                // D1 = (r2 D1_0 - r1 D1_1)/(r2 - r1), D2 = 2 (D1_1 - D1_0)/(r2 - r1);
                // x_t = a x - b m0 + g phi2 D1 + g phi3 D2 (signs folded into g and phi3).
                let d = r2 - r1;
                let d1 = [(r1 / r2 - r2 / r1) / d, r2 / (r1 * d), -r1 / (r2 * d)];
                let d2 = [
                    T::c(2.0) * (T::ONE / r1 - T::ONE / r2) / d,
                    -T::c(2.0) / (r1 * d),
                    T::c(2.0) / (r2 * d),
                ];
                let (p, q) = (g * phi2, g * phi3);
                Update {
                    cx: a,
                    cm: [
                        -b + p * d1[0] + q * d2[0],
                        p * d1[1] + q * d2[1],
                        p * d1[2] + q * d2[2],
                    ],
                }
            }
        }
    }

    /// Multistep DPM-Solver-2 from `t_prev_0` to `t` over `[m_prev_0, m_prev_1]` (newest first).
    pub fn multistep_second(
        alg: Algorithm,
        ty: SolverType,
        lambda_prev_1: T,
        p0: &Point<T>,
        t: &Point<T>,
    ) -> Self {
        let h0 = p0.lambda - lambda_prev_1;
        let h = t.lambda - p0.lambda;
        let r0 = h0 / h;
        let (a, b, g) = base(alg, p0, t, h);
        // Coefficient k of D1_0 = (m0 - m1) / r0.
        let k = match ty {
            SolverType::DpmSolver => -T::c(0.5) * b,
            SolverType::Taylor => g * phi23(alg, h).0,
        };
        Update {
            cx: a,
            cm: [-b + k / r0, -k / r0, T::ZERO],
        }
    }

    /// Multistep DPM-Solver-3 from `t_prev_0` to `t` over `[m_prev_0, m_prev_1, m_prev_2]`, as
    /// the reference computes it.
    ///
    /// Its `D2 = (D1_0 - D1_1)/(r0 + r1)` estimates `h^2 m''/2`, while the exponential
    /// integrator's third term needs `h^2 m''` (singlestep DPM-Solver-3's Taylor form has the
    /// factor 2): the local error stays `O(h^3)` and the method is second order. `exact_d2`
    /// applies the factor (see [`MultistepVariant::FullOrder`](crate::MultistepVariant)).
    pub fn multistep_third(
        alg: Algorithm,
        lambda_prev_2: T,
        lambda_prev_1: T,
        p0: &Point<T>,
        t: &Point<T>,
    ) -> Self {
        Self::multistep_third_with(alg, lambda_prev_2, lambda_prev_1, p0, t, false)
    }

    /// [`multistep_third`](Self::multistep_third), optionally with the exact `D2` factor.
    pub fn multistep_third_with(
        alg: Algorithm,
        lambda_prev_2: T,
        lambda_prev_1: T,
        p0: &Point<T>,
        t: &Point<T>,
        exact_d2: bool,
    ) -> Self {
        let h1 = lambda_prev_1 - lambda_prev_2;
        let h0 = p0.lambda - lambda_prev_1;
        let h = t.lambda - p0.lambda;
        let (r0, r1) = (h0 / h, h1 / h);
        let (a, b, g) = base(alg, p0, t, h);
        let (phi2, phi3) = phi23(alg, h);
        // D1_0 = (m0 - m1)/r0, D1_1 = (m1 - m2)/r1,
        // D1 = D1_0 + r0/(r0 + r1) (D1_0 - D1_1), D2 = (D1_0 - D1_1)/(r0 + r1).
        let d10 = [T::ONE / r0, -T::ONE / r0, T::ZERO];
        let d11 = [T::ZERO, T::ONE / r1, -T::ONE / r1];
        let w = r0 / (r0 + r1);
        let inv = if exact_d2 { T::c(2.0) } else { T::ONE } / (r0 + r1);
        let (p, q) = (g * phi2, g * phi3);
        let mut cm = [T::ZERO; 3];
        for j in 0..3 {
            let d1 = d10[j] + w * (d10[j] - d11[j]);
            let d2 = inv * (d10[j] - d11[j]);
            cm[j] = p * d1 + q * d2;
        }
        cm[0] -= b;
        Update { cx: a, cm }
    }

    /// `x <- cx x + sum_j cm[j] m_j` over the first `ms.len()` model buffers (1 to 3).
    #[inline]
    pub fn apply_in_place(&self, x: &mut [T], ms: &[&[T]]) {
        let cx = self.cx;
        let [c0, c1, c2] = self.cm;
        match *ms {
            [m0] => {
                for (x, &a) in x.iter_mut().zip(m0) {
                    *x = cx * *x + c0 * a;
                }
            }
            [m0, m1] => {
                for ((x, &a), &b) in x.iter_mut().zip(m0).zip(m1) {
                    *x = cx * *x + c0 * a + c1 * b;
                }
            }
            [m0, m1, m2, ..] => {
                for (((x, &a), &b), &c) in x.iter_mut().zip(m0).zip(m1).zip(m2) {
                    *x = cx * *x + c0 * a + c1 * b + c2 * c;
                }
            }
            [] => {
                for x in x.iter_mut() {
                    *x = cx * *x;
                }
            }
        }
    }

    /// `dst <- cx x + sum_j cm[j] m_j`.
    #[inline]
    pub fn apply_into(&self, dst: &mut [T], x: &[T], ms: &[&[T]]) {
        let cx = self.cx;
        let [c0, c1, c2] = self.cm;
        match *ms {
            [m0] => {
                for ((d, &x), &a) in dst.iter_mut().zip(x).zip(m0) {
                    *d = cx * x + c0 * a;
                }
            }
            [m0, m1] => {
                for (((d, &x), &a), &b) in dst.iter_mut().zip(x).zip(m0).zip(m1) {
                    *d = cx * x + c0 * a + c1 * b;
                }
            }
            [m0, m1, m2, ..] => {
                for ((((d, &x), &a), &b), &c) in dst.iter_mut().zip(x).zip(m0).zip(m1).zip(m2) {
                    *d = cx * x + c0 * a + c1 * b + c2 * c;
                }
            }
            [] => {
                for (d, &x) in dst.iter_mut().zip(x) {
                    *d = cx * x;
                }
            }
        }
    }

    /// One element of the update (for fused loops such as the adaptive error estimate).
    #[inline(always)]
    pub fn at(&self, x: T, m0: T, m1: T, m2: T) -> T {
        self.cx * x + self.cm[0] * m0 + self.cm[1] * m1 + self.cm[2] * m2
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sched() -> NoiseSchedule<'static, f64> {
        NoiseSchedule::linear_vp(0.1, 20.0).unwrap()
    }

    /// Direct transcription of the reference's formulas (difference form), for comparison.
    fn reference_third_taylor_pp(
        s: &Point<f64>,
        t: &Point<f64>,
        r1: f64,
        r2: f64,
        m: [f64; 3],
        x: f64,
    ) -> f64 {
        let h = t.lambda - s.lambda;
        let alpha_t = t.alpha();
        let phi_1 = libm::expm1(-h);
        let phi_2 = phi_1 / h + 1.0;
        let phi_3 = phi_2 / h - 0.5;
        let d1_0 = (m[1] - m[0]) / r1;
        let d1_1 = (m[2] - m[0]) / r2;
        let d1 = (r2 * d1_0 - r1 * d1_1) / (r2 - r1);
        let d2 = 2.0 * (d1_1 - d1_0) / (r2 - r1);
        (t.sigma / s.sigma) * x - alpha_t * phi_1 * m[0] + alpha_t * phi_2 * d1
            - alpha_t * phi_3 * d2
    }

    fn reference_multistep_third_noise(
        l2: f64,
        l1: f64,
        p0: &Point<f64>,
        t: &Point<f64>,
        m: [f64; 3],
        x: f64,
    ) -> f64 {
        let h1 = l1 - l2;
        let h0 = p0.lambda - l1;
        let h = t.lambda - p0.lambda;
        let (r0, r1) = (h0 / h, h1 / h);
        let d1_0 = (m[0] - m[1]) / r0;
        let d1_1 = (m[1] - m[2]) / r1;
        let d1 = d1_0 + (r0 / (r0 + r1)) * (d1_0 - d1_1);
        let d2 = (d1_0 - d1_1) / (r0 + r1);
        let phi_1 = libm::expm1(h);
        let phi_2 = phi_1 / h - 1.0;
        let phi_3 = phi_2 / h - 0.5;
        libm::exp(t.log_alpha - p0.log_alpha) * x
            - t.sigma * phi_1 * m[0]
            - t.sigma * phi_2 * d1
            - t.sigma * phi_3 * d2
    }

    #[test]
    fn expanded_coefficients_match_difference_form() {
        let sc = sched();
        let s = Point::at(&sc, 0.6);
        let t = Point::at(&sc, 0.3);
        let m = [0.3, -0.2, 0.45];
        let x = 0.7;
        let u = Update::singlestep_third(
            Algorithm::DpmSolverPp,
            SolverType::Taylor,
            &s,
            &t,
            1.0 / 3.0,
            2.0 / 3.0,
        );
        let got = u.at(x, m[0], m[1], m[2]);
        let want = reference_third_taylor_pp(&s, &t, 1.0 / 3.0, 2.0 / 3.0, m, x);
        assert!((got - want).abs() < 1e-13, "{got} vs {want}");

        let p2 = Point::at(&sc, 0.9);
        let p1 = Point::at(&sc, 0.75);
        let u = Update::multistep_third(Algorithm::DpmSolver, p2.lambda, p1.lambda, &s, &t);
        let got = u.at(x, m[0], m[1], m[2]);
        let want = reference_multistep_third_noise(p2.lambda, p1.lambda, &s, &t, m, x);
        assert!((got - want).abs() < 1e-13, "{got} vs {want}");
    }

    #[test]
    fn constant_model_is_integrated_exactly_by_every_order() {
        // With m constant the exact solution of the ++ ODE is x_t = sigma_t/sigma_s x_s + alpha_t
        // (1 - e^{-h}) m; every update must reduce to the first-order one.
        let sc = sched();
        let (s, t) = (Point::at(&sc, 0.8), Point::at(&sc, 0.5));
        let first = Update::first_order(Algorithm::DpmSolverPp, &s, &t).at(1.0, 0.4, 0.0, 0.0);
        let second =
            Update::singlestep_second(Algorithm::DpmSolverPp, SolverType::Taylor, &s, &t, 0.5);
        let third = Update::singlestep_third(
            Algorithm::DpmSolverPp,
            SolverType::DpmSolver,
            &s,
            &t,
            1.0 / 3.0,
            2.0 / 3.0,
        );
        for u in [second, third] {
            assert!((u.at(1.0, 0.4, 0.4, 0.4) - first).abs() < 1e-15);
        }
    }

    #[test]
    fn apply_matches_at() {
        let u = Update {
            cx: 0.5f32,
            cm: [1.0, -2.0, 0.25],
        };
        let mut x = [1.0f32, 2.0, 3.0];
        let (a, b, c) = ([1.0f32; 3], [0.5f32; 3], [4.0f32; 3]);
        let mut dst = [0.0f32; 3];
        u.apply_into(&mut dst, &x, &[&a, &b, &c]);
        u.apply_in_place(&mut x, &[&a, &b, &c]);
        assert_eq!(dst, x);
        assert_eq!(x[0], u.at(1.0, 1.0, 0.5, 4.0));
    }
}
