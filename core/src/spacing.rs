//! Time-step spacings: where the solver evaluates between `t_start` and `t_end`.
//!
//! A grid is computed element by element ([`Grid::at`]), never stored, so any number of steps
//! fits in no memory at all. The formulas are the reference's `get_time_steps`.

use crate::error::{Error, Result};
#[cfg(feature = "flow")]
use crate::flow::{shift_time, unshift_time};
use crate::math::{linspace_at, Real};
use crate::schedule::NoiseSchedule;

/// How the time steps are spaced (the reference's `skip_type`, plus k-diffusion's Karras and
/// caller-given times).
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub enum Spacing<'a, T> {
    /// Uniform in `lambda` (half-logSNR); the paper's choice for low resolutions. This is also
    /// k-diffusion's "exponential" sigma spacing (`sigma = e^{-lambda}` log-uniform).
    LogSnr,
    /// Uniform in `t`; recommended for high resolutions.
    #[default]
    TimeUniform,
    /// Uniform in `sqrt(t)` (DDIM's quadratic spacing).
    TimeQuadratic,
    /// Karras et al. (2022): uniform in `sigma^(1/rho)` with `sigma = e^{-lambda}`; `rho = 7` in
    /// the paper.
    Karras {
        /// The exponent `rho`.
        rho: T,
    },
    /// Flow matching's shifted times: uniform in `u`, `t = s u / (1 + (s - 1) u)` (see
    /// [`flow`](crate::flow); `shift` 1 is `TimeUniform`). The steps diffusers' flow
    /// schedulers take, for any schedule (meant for [`NoiseSchedule::Flow`]).
    #[cfg(feature = "flow")]
    FlowShift {
        /// The shift factor `s > 0` ([`TimeShift::factor`](crate::flow::TimeShift::factor)).
        shift: T,
    },
    /// Caller-given times, from `t_start` to `t_end` inclusive (`steps + 1` of them; for the
    /// singlestep method they are the grid of all evaluations, as `TimeUniform`'s is).
    Custom(&'a [T]),
}

#[cfg(feature = "alloc")]
impl<T: Copy> Spacing<'_, T> {
    /// The same spacing with a `Custom` spacing's times read from `times` instead (the other
    /// spacings hold no list): how an owned sampler rebuilds its view over its own copy.
    pub(crate) fn with_times<'b>(self, times: &'b [T]) -> Spacing<'b, T> {
        match self {
            Spacing::LogSnr => Spacing::LogSnr,
            Spacing::TimeUniform => Spacing::TimeUniform,
            Spacing::TimeQuadratic => Spacing::TimeQuadratic,
            Spacing::Karras { rho } => Spacing::Karras { rho },
            #[cfg(feature = "flow")]
            Spacing::FlowShift { shift } => Spacing::FlowShift { shift },
            Spacing::Custom(_) => Spacing::Custom(times),
        }
    }
}

/// A grid of `n` intervals (`n + 1` times) from `t_start` to `t_end`.
#[derive(Clone, Copy, Debug)]
pub struct Grid<'a, T> {
    spacing: Spacing<'a, T>,
    t_start: T,
    t_end: T,
    /// `lambda(t_start)`, `lambda(t_end)` (LogSnr) or `sigma^(1/rho)` at both ends (Karras).
    a: T,
    b: T,
    n: usize,
}

impl<'a, T: Real> Grid<'a, T> {
    /// The grid; `Custom` times must have `n + 1` entries (checked by the sampler).
    pub fn new(
        spacing: Spacing<'a, T>,
        schedule: &NoiseSchedule<'_, T>,
        t_start: T,
        t_end: T,
        n: usize,
    ) -> Self {
        let (a, b) = match spacing {
            Spacing::LogSnr => (schedule.lambda(t_start), schedule.lambda(t_end)),
            Spacing::Karras { rho } => {
                let inv = T::ONE / rho;
                (
                    (-schedule.lambda(t_start) * inv).exp(),
                    (-schedule.lambda(t_end) * inv).exp(),
                )
            }
            #[cfg(feature = "flow")]
            Spacing::FlowShift { shift } => {
                (unshift_time(t_start, shift), unshift_time(t_end, shift))
            }
            _ => (T::ZERO, T::ZERO),
        };
        Grid {
            spacing,
            t_start,
            t_end,
            a,
            b,
            n,
        }
    }

    /// Number of intervals.
    pub fn len(&self) -> usize {
        self.n
    }

    /// Whether the grid has no interval.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Time `i` of the grid, `0 <= i <= n`.
    pub fn at(&self, schedule: &NoiseSchedule<'_, T>, i: usize) -> T {
        let n1 = self.n + 1;
        match self.spacing {
            Spacing::LogSnr => schedule.inverse_lambda(linspace_at(self.a, self.b, n1, i)),
            Spacing::TimeUniform => linspace_at(self.t_start, self.t_end, n1, i),
            Spacing::TimeQuadratic => {
                let v = linspace_at(self.t_start.sqrt(), self.t_end.sqrt(), n1, i);
                v * v
            }
            Spacing::Karras { rho } => {
                // sigma_i^(1/rho) linear; lambda_i = -rho log(sigma_i^(1/rho)).
                let v = linspace_at(self.a, self.b, n1, i);
                schedule.inverse_lambda(-rho * v.ln())
            }
            #[cfg(feature = "flow")]
            Spacing::FlowShift { shift } => {
                // The ends exactly as given (the round trip through u may move them an ulp).
                if i == 0 {
                    self.t_start
                } else if i >= self.n {
                    self.t_end
                } else {
                    shift_time(linspace_at(self.a, self.b, n1, i), shift)
                }
            }
            Spacing::Custom(times) => times.get(i).copied().unwrap_or(self.t_end),
        }
    }

    /// The spacing.
    pub fn spacing(&self) -> Spacing<'a, T> {
        self.spacing
    }

    /// The same grid over `spacing` (the same spacing, its list held elsewhere: see
    /// [`Spacing::with_times`]).
    #[cfg(feature = "alloc")]
    pub(crate) fn with_spacing<'b>(&self, spacing: Spacing<'b, T>) -> Grid<'b, T> {
        Grid {
            spacing,
            t_start: self.t_start,
            t_end: self.t_end,
            a: self.a,
            b: self.b,
            n: self.n,
        }
    }
}

/// Checks caller-given times: `len` entries, finite, in `(0, T]`, strictly monotone from
/// `t_start` towards `t_end`.
pub(crate) fn check_custom<T: Real>(
    schedule: &NoiseSchedule<'_, T>,
    times: &[T],
    len: usize,
    decreasing: bool,
) -> Result<()> {
    if times.len() != len {
        return Err(Error::LengthMismatch {
            buffer: crate::error::Buffer::Times,
            expected: len,
            found: times.len(),
        });
    }
    for &t in times {
        crate::schedule::check_time(
            schedule,
            t,
            "custom times must be finite and in (0, T] (discrete: [1/N, T])",
        )?;
    }
    for w in times.windows(2) {
        let ok = if decreasing { w[1] < w[0] } else { w[1] > w[0] };
        if !ok {
            return Err(Error::InvalidConfig(
                "custom times must be strictly monotone from t_start to t_end",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grids_hit_both_ends() {
        let s = NoiseSchedule::linear_vp(0.1f64, 20.0).unwrap();
        for sp in [
            Spacing::LogSnr,
            Spacing::TimeUniform,
            Spacing::TimeQuadratic,
            Spacing::Karras { rho: 7.0 },
            #[cfg(feature = "flow")]
            Spacing::FlowShift { shift: 3.0 },
        ] {
            let g = Grid::new(sp, &s, 1.0, 1e-3, 10);
            assert!((g.at(&s, 0) - 1.0).abs() < 1e-12, "{sp:?}");
            assert!((g.at(&s, 10) - 1e-3).abs() < 1e-12, "{sp:?}");
            for i in 0..10 {
                assert!(g.at(&s, i + 1) < g.at(&s, i), "{sp:?} not decreasing");
            }
        }
    }

    #[test]
    fn log_snr_grid_is_uniform_in_lambda() {
        let s = NoiseSchedule::linear_vp(0.1f64, 20.0).unwrap();
        let g = Grid::new(Spacing::LogSnr, &s, 1.0, 1e-3, 4);
        let l: [f64; 5] = core::array::from_fn(|i| s.lambda(g.at(&s, i)));
        for i in 0..3 {
            assert!(((l[i + 2] - l[i + 1]) - (l[i + 1] - l[i])).abs() < 1e-10);
        }
    }
}
