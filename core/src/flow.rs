//! Flow-matching time shifts: where rectified-flow samplers put their steps.
//!
//! Flow models (Stable Diffusion 3, Flux, Sana, ...) sample on the [`Flow`] schedule
//! (`alpha_t = 1 - t`, `sigma_t = t`) at times "shifted" toward noise:
//! `t = s u / (1 + (s - 1) u)` for `u` uniform, with a static shift `s` (diffusers'
//! `flow_shift` / `shift`) or a resolution-dependent one (`use_dynamic_shifting` with `mu`):
//! `s = e^mu` (`time_shift_type = "exponential"`) or `s = mu` (`"linear"`), since
//! `e^mu / (e^mu + 1/u - 1)` and `mu / (mu + 1/u - 1)` are that same map. The core takes it as
//! [`Spacing::FlowShift`](crate::Spacing::FlowShift); the diffusers layer reproduces diffusers'
//! own float64 arithmetic of the same formulas.
//!
//! [`Flow`]: crate::NoiseSchedule::Flow

use crate::error::{Error, Result};
use crate::math::Real;

/// Whether the crate feature `flow` is on: without it the core sampler refuses the flow
/// schedule, the flow prediction and the flow-shift spacing, and the optimizer leaves their
/// code out (firmware flash).
pub const ENABLED: bool = cfg!(feature = "flow");

/// How the shift factor is chosen (diffusers' `flow_shift` / `use_dynamic_shifting` +
/// `time_shift_type` + `mu`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum TimeShift<T> {
    /// A fixed shift `s` (`flow_shift`, `shift`; 1 = no shift).
    Static(T),
    /// Dynamic shifting, `time_shift_type = "exponential"`: `s = e^mu`.
    Exponential {
        /// `mu` (diffusers pipelines compute it from the image size).
        mu: T,
    },
    /// Dynamic shifting, `time_shift_type = "linear"`: `s = mu`.
    Linear {
        /// `mu`.
        mu: T,
    },
}

impl<T: Real> TimeShift<T> {
    /// The shift factor `s`, validated (positive and finite).
    pub fn factor(&self) -> Result<T> {
        let s = match *self {
            TimeShift::Static(s) => s,
            TimeShift::Exponential { mu } => mu.exp(),
            TimeShift::Linear { mu } => mu,
        };
        if s > T::ZERO && s.is_finite() {
            Ok(s)
        } else {
            Err(Error::InvalidConfig(
                "the flow shift (flow_shift, e^mu or mu) must be positive and finite",
            ))
        }
    }
}

/// `t = s u / (1 + (s - 1) u)`: the shifted time of `u` in `[0, 1]` (`s > 1` moves toward 1).
#[inline]
pub fn shift_time<T: Real>(u: T, s: T) -> T {
    s * u / (T::ONE + (s - T::ONE) * u)
}

/// The inverse of [`shift_time`]: `u = t / (s - (s - 1) t)`.
#[inline]
pub fn unshift_time<T: Real>(t: T, s: T) -> T {
    t / (s - (s - T::ONE) * t)
}

#[cfg(all(test, feature = "flow"))]
mod tests {
    use super::*;
    use crate::{
        Algorithm, Config, Direction, Method, NoiseSchedule, Prediction, Sampler, Spacing,
    };

    /// Gaussian data `N(m, v)` on the linear path: the velocity is closed-form and the ODE map
    /// affine, `x_t = (1 - t) m + sqrt(c_t / c_s) (x_s - (1 - s) m)`, `c_t = (1 - t)^2 v + t^2`.
    const M: f64 = 0.7;
    const V: f64 = 0.25;
    fn velocity(x: f64, t: f64) -> f64 {
        let a = 1.0 - t;
        let c = a * a * V + t * t;
        let x0 = M + a * V * (x - a * M) / c;
        // v = eps - x0 with eps = (x - a x0) / t, written finite at t = 1 (x0 mean) too.
        let eps = (x - a * x0) / t;
        eps - x0
    }
    fn exact(x_s: f64, s: f64, t: f64) -> f64 {
        let c = |u: f64| (1.0 - u) * (1.0 - u) * V + u * u;
        (1.0 - t) * M + (c(t) / c(s)).sqrt() * (x_s - (1.0 - s) * M)
    }
    fn run(cfg: Config<'_, f64>, x: f64) -> crate::Result<f64> {
        let sched = NoiseSchedule::flow(1000)?;
        let mut xs = [x];
        let mut scratch = [0.0; 8];
        let mut s = Sampler::new(sched, cfg, &mut xs, &mut scratch)?;
        while let Some(r) = s.ask() {
            let v = [velocity(r.x[0], r.t)];
            s.tell(&v)?;
        }
        Ok(s.x()[0])
    }

    #[test]
    fn dpm_solver_pp_samples_flow_from_pure_noise() {
        let x1 = -0.8;
        let want = exact(x1, 1.0, 1e-3);
        for (method, order) in [
            (Method::Multistep, 2),
            (Method::Multistep, 3),
            (Method::Singlestep, 3),
            (Method::SinglestepFixed, 2),
        ] {
            if method != Method::Multistep && !cfg!(feature = "singlestep") {
                continue;
            }
            for spacing in [Spacing::TimeUniform, Spacing::FlowShift { shift: 3.0 }] {
                let cfg = Config {
                    method,
                    order,
                    steps: 200,
                    spacing,
                    prediction: Prediction::Flow,
                    ..Config::default()
                };
                let got = run(cfg, x1).unwrap();
                assert!(
                    got.is_finite() && (got - want).abs() < 5e-3,
                    "{method:?} {order} {spacing:?}: {got} vs {want}"
                );
            }
        }
    }

    #[test]
    fn flow_inversion_reaches_pure_noise() {
        let x0 = 0.75;
        let want = exact(x0, 1e-3, 1.0);
        for algorithm in [Algorithm::DpmSolverPp, Algorithm::DpmSolver] {
            let cfg = Config {
                algorithm,
                order: 2,
                steps: 40,
                direction: Direction::Invert,
                prediction: Prediction::Flow,
                ..Config::default()
            };
            let got = run(cfg, x0).unwrap();
            assert!((got - want).abs() < 1e-3, "{algorithm:?}: {got} vs {want}");
        }
    }

    #[test]
    fn flow_starts_without_a_finite_limit_are_refused() {
        let base = Config::<f64> {
            prediction: Prediction::Flow,
            ..Config::default()
        };
        for cfg in [
            Config {
                spacing: Spacing::LogSnr,
                ..base
            },
            Config {
                method: Method::Adaptive,
                ..base
            },
            Config {
                algorithm: Algorithm::DpmSolver,
                ..base
            },
            Config {
                prediction: Prediction::Noise,
                ..base
            },
        ] {
            assert!(run(cfg, 0.1).is_err(), "{cfg:?}");
        }
        // Below t = 1 they all run.
        let base = Config { steps: 100, ..base };
        for cfg in [
            Config {
                spacing: Spacing::LogSnr,
                t_start: Some(0.999),
                ..base
            },
            Config {
                method: Method::Adaptive,
                order: 3,
                t_start: Some(0.999),
                ..base
            },
            Config {
                algorithm: Algorithm::DpmSolver,
                t_start: Some(0.999),
                ..base
            },
        ] {
            if cfg.method == Method::Adaptive && !cfg!(feature = "adaptive") {
                continue;
            }
            let got = run(cfg, -0.8).unwrap();
            let want = exact(-0.8, 0.999, 1e-3);
            // The adaptive solver stops at its tolerance (atol 0.0078).
            assert!((got - want).abs() < 3e-2, "{cfg:?}: {got} vs {want}");
        }
    }

    #[test]
    fn dynamic_shifts_are_the_static_map() {
        let mu = 1.1046f64;
        let s = TimeShift::Exponential { mu }.factor().unwrap();
        for u in [0.001, 0.3, 0.999] {
            let exp_form = mu.exp() / (mu.exp() + (1.0 / u - 1.0));
            assert!((shift_time(u, s) - exp_form).abs() < 1e-15);
            let lin = TimeShift::Linear { mu }.factor().unwrap();
            let lin_form = mu / (mu + (1.0 / u - 1.0));
            assert!((shift_time(u, lin) - lin_form).abs() < 1e-15);
            assert!((unshift_time(shift_time(u, s), s) - u).abs() < 1e-15);
        }
        assert_eq!(shift_time(1.0f64, 3.0), 1.0);
        assert!(TimeShift::Static(0.0f32).factor().is_err());
        assert!(TimeShift::Linear { mu: f32::NAN }.factor().is_err());
    }
}
