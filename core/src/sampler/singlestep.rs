//! Singlestep DPM-Solver(++) (`Method::Singlestep`, "DPM-Solver-fast", and
//! `Method::SinglestepFixed`): outer steps of order 1 to 3, each evaluating the model at its
//! start and at one or two intermediate points between its ends.
//!
//! Scratch slots (`order` of them): slot 0 holds the model value at the step's start, slot 1
//! the one at the first intermediate point of a third-order step; the last slot,
//! [`stage_slot`](State::stage_slot), first receives the intermediate sample the model is
//! evaluated at and then, converted in place, its model value.

use super::{Machine, Phase, State, StepKind, StepReport};
use crate::math::Real;
use crate::sampler::Method;
use crate::spacing::{Grid, Spacing};
use crate::update::Update;

impl<T: Real> State<T> {
    /// Slot of a step's intermediate sample and then of the model value there.
    pub(super) fn stage_slot(&self) -> usize {
        self.order.saturating_sub(1)
    }
}

impl<T: Real> Machine<'_, T> {
    /// Order of outer step `k` (the reference's `get_orders_and_timesteps_for_singlestep_solver`).
    pub(super) fn singlestep_order(&self, k: usize) -> usize {
        let (order, steps, outer) = (self.cfg.order, self.cfg.steps, self.outer);
        if self.cfg.method == Method::SinglestepFixed {
            return order;
        }
        match order {
            3 => {
                let last = outer - 1;
                match steps % 3 {
                    0 if k + 2 == outer => 2,
                    0 if k == last => 1,
                    1 if k == last => 1,
                    2 if k == last => 2,
                    _ => 3,
                }
            }
            2 => {
                if steps % 2 == 1 && k + 1 == outer {
                    1
                } else {
                    2
                }
            }
            _ => 1,
        }
    }
    /// Plans outer step `k` starting at NFE-grid position `pos`.
    pub(super) fn plan_singlestep(&mut self, k: usize, pos: usize) {
        let order = self.singlestep_order(k);
        let by_nfe =
            self.cfg.method == Method::Singlestep && !matches!(self.cfg.spacing, Spacing::LogSnr);
        let (a, b) = if by_nfe {
            (pos, pos + order)
        } else {
            (k, k + 1)
        };
        let s = self.point(self.grid.at(&self.sched, a));
        let t = self.point(self.grid.at(&self.sched, b));
        // r1, r2 from the inner grid between s and t, as the reference computes them.
        let inner_spacing = match self.cfg.spacing {
            Spacing::TimeUniform => Spacing::TimeUniform,
            Spacing::TimeQuadratic => Spacing::TimeQuadratic,
            #[cfg(feature = "flow")]
            Spacing::FlowShift { shift } => Spacing::FlowShift { shift },
            _ => Spacing::LogSnr,
        };
        let inner = Grid::new(inner_spacing, &self.sched, s.t, t.t, order);
        let lam = |i: usize| self.sched.lambda(inner.at(&self.sched, i));
        let (l0, lend) = (lam(0), lam(order));
        let hi = lend - l0;
        let (r1, r2) = match order {
            1 => (T::ZERO, T::ZERO),
            2 => ((lam(1) - l0) / hi, T::ZERO),
            _ => ((lam(1) - l0) / hi, (lam(2) - l0) / hi),
        };
        self.plan = self.make_plan(order, s, t, r1, r2);
        self.set_phase(Phase::Singlestep { k, pos, stage: 0 }, s);
    }

    pub(super) fn advance_singlestep(
        &mut self,
        k: usize,
        pos: usize,
        stage: usize,
    ) -> Option<StepReport<T>> {
        let (alg, ty) = (self.cfg.algorithm, self.cfg.solver_type);
        let p = self.plan;
        let xe = self.stage_slot();
        match (p.order, stage) {
            (1, _) => {
                let u = Update::first_order(alg, &p.s, &p.t);
                self.update_x(&u, &[0]);
            }
            (_, 0) => {
                let u = Update::intermediate(alg, &p.s, &p.s1, p.r1, p.h);
                self.update_into(xe, &u, &[0]);
                self.set_phase(Phase::Singlestep { k, pos, stage: 1 }, p.s1);
                return None;
            }
            (2, _) => {
                let u = Update::singlestep_second(alg, ty, &p.s, &p.t, p.r1);
                self.update_x(&u, &[0, xe]);
            }
            (_, 1) => {
                let u = Update::third_intermediate(alg, &p.s, &p.s2, p.r1, p.r2, p.h);
                self.update_into(xe, &u, &[0, 1]);
                self.set_phase(Phase::Singlestep { k, pos, stage: 2 }, p.s2);
                return None;
            }
            _ => {
                let u = Update::singlestep_third(alg, ty, &p.s, &p.t, p.r1, p.r2);
                self.update_x(&u, &[0, 1, xe]);
            }
        }
        let r = self.report(StepKind::Solver, p.s.t, p.t.t, p.h, p.order, true, None);
        if k + 1 < self.outer {
            // The planned order, not `p.order`: a step from `alpha = 0` is taken at first order
            // over the same span of the grid.
            self.plan_singlestep(k + 1, pos + self.singlestep_order(k));
        } else {
            self.finish();
        }
        Some(r)
    }
}

#[cfg(all(test, feature = "singlestep"))]
mod tests {
    use crate::sampler::{Config, Method, Sampler};
    use crate::schedule::NoiseSchedule;
    use crate::spacing::Spacing;
    use crate::update::{Algorithm, Point, SolverType, Update};

    fn schedule() -> NoiseSchedule<'static, f64> {
        NoiseSchedule::linear_vp(0.1, 20.0).unwrap()
    }

    fn orders(method: Method, order: usize, steps: usize) -> Vec<usize> {
        let cfg = Config {
            method,
            order,
            steps,
            ..Config::default()
        };
        let mut x = [0.5f64; 2];
        let mut scratch = vec![0.0; cfg.scratch_len(2)];
        let mut s = Sampler::new(schedule(), cfg, &mut x, &mut scratch).unwrap();
        let m = s.machine();
        (0..m.outer).map(|k| m.singlestep_order(k)).collect()
    }

    #[test]
    fn orders_follow_the_reference_split() {
        // `get_orders_and_timesteps_for_singlestep_solver` of the reference.
        assert_eq!(orders(Method::Singlestep, 3, 10), [3, 3, 3, 1]);
        assert_eq!(orders(Method::Singlestep, 3, 11), [3, 3, 3, 2]);
        assert_eq!(orders(Method::Singlestep, 3, 12), [3, 3, 3, 2, 1]);
        assert_eq!(orders(Method::Singlestep, 2, 7), [2, 2, 2, 1]);
        assert_eq!(orders(Method::Singlestep, 2, 8), [2, 2, 2, 2]);
        assert_eq!(orders(Method::Singlestep, 1, 3), [1, 1, 1]);
        assert_eq!(orders(Method::SinglestepFixed, 3, 10), [3, 3, 3]);
        for steps in 1..40 {
            for order in 1..=3 {
                let sum: usize = orders(Method::Singlestep, order, steps).iter().sum();
                assert_eq!(
                    sum, steps,
                    "DPM-Solver-fast uses exactly `steps` evaluations"
                );
            }
        }
    }

    #[test]
    fn a_second_order_step_is_the_closed_form_update() {
        let cfg = Config {
            algorithm: Algorithm::DpmSolver,
            method: Method::SinglestepFixed,
            order: 2,
            steps: 4,
            spacing: Spacing::LogSnr,
            ..Config::default()
        };
        let sched = schedule();
        let x0 = [0.7f64, -1.1, 0.4];
        let mut x = x0;
        let mut scratch = vec![0.0; cfg.scratch_len(3)];
        let mut s = Sampler::new(sched, cfg, &mut x, &mut scratch).unwrap();
        let eps =
            |x: &[f64], t: f64| -> Vec<f64> { x.iter().map(|&v| 0.3 * v + t.cos()).collect() };
        // Stage 0 at the start s, stage 1 at the intermediate point s1 (whose sample the
        // sampler computed with the first-order update).
        let r0 = s.ask().unwrap();
        assert_eq!(r0.x, x0);
        let (t_s, m0) = (r0.t, eps(r0.x, r0.t_model));
        assert!(s.tell(&m0).unwrap().is_none());
        let r1 = s.ask().unwrap();
        let (t_s1, x1, m1) = (r1.t, r1.x.to_vec(), eps(r1.x, r1.t_model));
        let report = s.tell(&m1).unwrap().unwrap();
        assert_eq!(report.order, 2);
        let (p_s, p_s1, p_t) = (
            Point::at(&sched, t_s),
            Point::at(&sched, t_s1),
            Point::at(&sched, report.t_to),
        );
        let h = p_t.lambda - p_s.lambda;
        let r = (p_s1.lambda - p_s.lambda) / h;
        // logSNR spacing puts the intermediate point halfway in lambda.
        assert!((r - 0.5).abs() < 1e-9);
        let mid = Update::intermediate(Algorithm::DpmSolver, &p_s, &p_s1, r, h);
        let u =
            Update::singlestep_second(Algorithm::DpmSolver, SolverType::DpmSolver, &p_s, &p_t, r);
        for j in 0..3 {
            assert!((x1[j] - mid.at(x0[j], m0[j], 0.0, 0.0)).abs() < 1e-12);
            let want = u.at(x0[j], m0[j], m1[j], 0.0);
            assert!(
                (s.x()[j] - want).abs() <= 1e-12,
                "element {j}: {} vs {want}",
                s.x()[j]
            );
        }
    }
}
