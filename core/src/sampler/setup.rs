//! Setting a sampler up: `config` validated against the schedule and the buffers, the time
//! range and grid resolved, and the first evaluation planned (the adaptive method copies `x`
//! into its scratch).

use super::*;

impl<T: Real> State<T> {
    /// Validates `config` against `schedule` and the buffers (see [`Sampler::new`]) and sets
    /// up the first evaluation (the adaptive method copies `x` into its scratch).
    pub(super) fn new<'a>(
        schedule: NoiseSchedule<'a, T>,
        config: Config<'a, T>,
        x: &mut [T],
        scratch: &mut [T],
    ) -> Result<(Self, Grid<'a, T>)> {
        let cfg = config;
        let n = x.len();
        if n == 0 {
            return Err(Error::InvalidConfig("x is empty"));
        }
        if cfg.batch == 0 || n % cfg.batch != 0 {
            return Err(Error::InvalidConfig(
                "batch must be >= 1 and divide x.len()",
            ));
        }
        if let Some(i) = x.iter().position(|v| !v.is_finite()) {
            return Err(Error::NonFinite {
                buffer: Buffer::X,
                index: i,
            });
        }
        validate(&cfg)?;
        let need = cfg.scratch_len(n);
        if scratch.len() < need {
            return Err(Error::LengthMismatch {
                buffer: Buffer::Scratch,
                expected: need,
                found: scratch.len(),
            });
        }
        let invert = cfg.direction == Direction::Invert;
        let (def_start, def_end) = if invert {
            (schedule.default_t_end(), schedule.t_max())
        } else {
            (schedule.t_max(), schedule.default_t_end())
        };
        let t_start = cfg.t_start.unwrap_or(def_start);
        let t_end = cfg.t_end.unwrap_or(def_end);
        check_time(
            &schedule,
            t_start,
            "t_start must be finite and in (0, T] (discrete: [1/N, T])",
        )?;
        check_time(
            &schedule,
            t_end,
            "t_end must be finite and in (0, T] (discrete: [1/N, T])",
        )?;
        if !invert && !(t_end < t_start) {
            return Err(Error::InvalidConfig(
                "t_end must be smaller than t_start when sampling",
            ));
        }
        if invert && !(t_start < t_end) {
            return Err(Error::InvalidConfig(
                "t_end must be larger than t_start when inverting",
            ));
        }

        let steps = cfg.steps;
        let order = cfg.order;
        // Singlestep outer steps K: DPM-Solver-fast's split or steps / order.
        let outer = match cfg.method {
            Method::Singlestep => match order {
                3 => steps / 3 + 1,
                2 => steps / 2 + steps % 2,
                _ => steps,
            },
            Method::SinglestepFixed => steps / order,
            _ => 0,
        };
        let grid_n = match cfg.method {
            Method::Multistep => steps,
            Method::Singlestep if matches!(cfg.spacing, Spacing::LogSnr) => outer,
            Method::Singlestep => steps,
            Method::SinglestepFixed => outer,
            Method::Adaptive => 1,
        };
        if let Spacing::Custom(times) = cfg.spacing {
            if cfg.method == Method::Adaptive {
                return Err(Error::InvalidConfig(
                    "custom times do not apply to the adaptive method",
                ));
            }
            check_custom(&schedule, times, grid_n + 1, !invert)?;
        }
        if let Spacing::Karras { rho } = cfg.spacing {
            if !(rho > T::ZERO && rho.is_finite()) {
                return Err(Error::InvalidConfig(
                    "Karras rho must be positive and finite",
                ));
            }
        }
        #[cfg(feature = "flow")]
        if let Spacing::FlowShift { shift } = cfg.spacing {
            if !(shift > T::ZERO && shift.is_finite()) {
                return Err(Error::InvalidConfig(
                    "the flow shift must be positive and finite",
                ));
            }
        }
        #[cfg(feature = "flow")]
        check_pure_noise(&schedule, &cfg, t_start, t_end)?;
        let grid = Grid::new(cfg.spacing, &schedule, t_start, t_end, grid_n);
        let p0 = Point::at(&schedule, t_start);
        let mut st = State {
            order,
            n,
            dim: n / cfg.batch,
            t_start,
            t_end,
            outer,
            phase: Phase::Done,
            plan: Plan {
                order: 1,
                s: p0,
                t: p0,
                s1: p0,
                s2: p0,
                r1: T::ZERO,
                r2: T::ZERO,
                h: T::ZERO,
            },
            ad: AdaptiveState {
                s: p0,
                lambda_end: T::ZERO,
                h: T::ZERO,
            },
            eval: p0,
            past: Past::new(cfg.order, n),
            stats: Stats::default(),
            reports: 0,
            #[cfg(feature = "plan")]
            log: crate::plan::OpLog::default(),
            #[cfg(feature = "plan")]
            defer_error: false,
        };
        let mut m = Machine {
            st: &mut st,
            cfg,
            sched: schedule,
            grid,
            x,
            scratch,
        };
        m.start();
        // The first evaluation's time comes from the grid (an extreme Karras `rho` can make it
        // NaN even though `t_start` is fine).
        #[cfg(feature = "checked")]
        if m.check_pending().is_err() {
            return Err(Error::InvalidConfig(
                "the time grid of this spacing leaves the schedule's range",
            ));
        }
        Ok((st, grid))
    }
}
