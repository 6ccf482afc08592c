//! Multistep DPM-Solver(++) (`Method::Multistep`): one evaluation per grid point, each update
//! from the newest model value and the one or two before it, lower orders while the history
//! fills (and, with `lower_order_final`, at the end of short runs).
//!
//! Scratch slots: the model values of the last `order` grid points in a [`History`] ring
//! (slots `0..order`); with [`MultistepVariant::FullOrder`] and `order >= 2`, slot `order`
//! holds the warm-up's midpoint sample.

use super::{Machine, Phase, State, StepKind, StepReport};
use crate::flow::ENABLED as FLOW;
use crate::history::History;
use crate::math::Real;
use crate::sampler::MultistepVariant;
use crate::update::{Point, Update};

/// The model values and `lambda`s of the last `order` grid points, newest first.
#[derive(Clone, Copy, Debug)]
pub(super) struct Past<T> {
    ring: History,
    /// `lambda` of the grid point whose model value is in the same slot.
    lambda: [T; 3],
}

impl<T: Real> Past<T> {
    /// An empty history of `order` (1 to 3) grid points of `n` elements each.
    pub(super) fn new(order: usize, n: usize) -> Self {
        Past {
            ring: History::new(order.min(3), n),
            lambda: [T::ZERO; 3],
        }
    }

    /// Starts grid point `lambda`: the slot its model value will go to (the oldest's).
    fn push(&mut self, lambda: T) -> usize {
        let slot = self.ring.push();
        // `min`: the ring has at most 3 slots; it lets the compiler drop the bounds check.
        self.lambda[slot.min(2)] = lambda;
        slot
    }

    /// Slot of the newest grid point's model value (the pending evaluation's destination).
    pub(super) fn newest(&self) -> usize {
        self.ring.last()
    }

    /// Slot of the model value `back` grid points before the newest.
    fn model(&self, back: usize) -> usize {
        self.ring.prev(back)
    }

    /// `lambda` of the grid point `back` points before the newest.
    fn lambda(&self, back: usize) -> T {
        self.lambda[self.ring.prev(back).min(2)]
    }
}

impl<T: Real> State<T> {
    /// Slot of the [`MultistepVariant::FullOrder`] warm-up's midpoint sample.
    pub(super) fn midpoint_slot(&self) -> usize {
        self.order
    }
}

impl<T: Real> Machine<'_, T> {
    pub(super) fn advance_multistep(&mut self, i: usize, midpoint: bool) -> Option<StepReport<T>> {
        let (alg, ty, k, steps) = (
            self.cfg.algorithm,
            self.cfg.solver_type,
            self.cfg.order,
            self.cfg.steps,
        );
        if midpoint {
            // The warm-up's second stage: its model value at the midpoint is in the midpoint
            // slot, the start's is the only entry of the history.
            let p = self.plan;
            let u = Update::singlestep_second(alg, ty, &p.s, &p.t, p.r1);
            let ms = [self.past.model(0), self.midpoint_slot()];
            self.update_x(&u, &ms);
            let r = self.report(StepKind::Solver, p.s.t, p.t.t, p.h, 2, true, None);
            self.next_multistep(1, p.t);
            return Some(r);
        }
        let j = i + 1;
        let s = self.eval;
        let t = self.point(self.grid.at(&self.sched, j));
        if j == 1
            && self.cfg.multistep_variant == MultistepVariant::FullOrder
            && k >= 2
            && (!FLOW || (t.lambda - s.lambda).is_finite())
        {
            self.plan = self.make_plan(2, s, t, T::c(0.5), T::ZERO);
            let p = self.plan;
            let u = Update::intermediate(alg, &s, &p.s1, p.r1, p.h);
            self.update_into(self.midpoint_slot(), &u, &[self.past.model(0)]);
            self.set_phase(
                Phase::Multistep {
                    i: 0,
                    midpoint: true,
                },
                p.s1,
            );
            return None;
        }
        let infinite = FLOW && !(t.lambda - s.lambda).is_finite();
        let order = if infinite {
            // From or to alpha = 0: the first-order update is the exact limit (see make_plan).
            1
        } else if j < k {
            j
        } else if self.cfg.lower_order_final && steps < 10 {
            k.min(steps + 1 - j)
        } else {
            k
        };
        let past = &self.past;
        let (newest, before, oldest) = (past.model(0), past.model(1), past.model(2));
        match order {
            1 => self.update_x(&Update::first_order(alg, &s, &t), &[newest]),
            2 => {
                let u = Update::multistep_second(alg, ty, past.lambda(1), &s, &t);
                self.update_x(&u, &[newest, before]);
            }
            _ => {
                let exact = self.cfg.multistep_variant == MultistepVariant::FullOrder;
                let u = Update::multistep_third_with(
                    alg,
                    past.lambda(2),
                    past.lambda(1),
                    &s,
                    &t,
                    exact,
                );
                self.update_x(&u, &[newest, before, oldest]);
            }
        }
        let r = self.report(
            StepKind::Solver,
            s.t,
            t.t,
            t.lambda - s.lambda,
            order,
            true,
            None,
        );
        self.next_multistep(j, t);
        Some(r)
    }

    /// Waits for the model at grid point `i` (at `p`), remembering its `lambda`.
    pub(super) fn enter_multistep(&mut self, i: usize, p: Point<T>) {
        self.past.push(p.lambda);
        self.set_phase(Phase::Multistep { i, midpoint: false }, p);
    }

    fn next_multistep(&mut self, j: usize, p: Point<T>) {
        if j < self.cfg.steps {
            self.enter_multistep(j, p);
        } else {
            self.finish();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Past;
    use crate::sampler::{Config, Method, MultistepVariant, Sampler};
    use crate::schedule::NoiseSchedule;
    use crate::update::{Algorithm, Point, Update};

    fn schedule() -> NoiseSchedule<'static, f64> {
        NoiseSchedule::linear_vp(0.1, 20.0).unwrap()
    }

    /// A model whose output depends on `x` and `t`, so every history slot matters.
    fn model(x: &[f64], t: f64, out: &mut [f64]) {
        for (j, (o, &v)) in out.iter_mut().zip(x).enumerate() {
            *o = 0.3 * v + (j as f64 + 1.0) * t.sin();
        }
    }

    #[test]
    fn history_names_the_last_grid_points() {
        let mut p = Past::<f64>::new(3, 4);
        for i in 0..7usize {
            let slot = p.push(i as f64);
            assert_eq!(slot, i % 3);
            assert_eq!(p.newest(), slot);
            assert_eq!(p.lambda(0), i as f64);
            if i >= 2 {
                assert_eq!(p.lambda(1), (i - 1) as f64);
                assert_eq!(p.lambda(2), (i - 2) as f64);
                assert_eq!(p.model(2), (i - 2) % 3);
            }
        }
    }

    /// Runs `cfg` for `tells` evaluations. Returns `x` after them, the converted model values
    /// (DPM-Solver++: data predictions) and points of the evaluations (newest first), and the
    /// end time of the last step.
    #[allow(clippy::type_complexity)]
    fn replay(
        cfg: Config<'static, f64>,
        tells: usize,
    ) -> (Vec<f64>, Vec<Vec<f64>>, Vec<Point<f64>>, f64) {
        let sched = schedule();
        let n = 3;
        let mut x = vec![0.7, -1.1, 0.4];
        let mut scratch = vec![0.0; cfg.scratch_len(n)];
        let mut s = Sampler::new(sched, cfg, &mut x, &mut scratch).unwrap();
        let mut out = vec![0.0; n];
        let (mut data, mut points, mut t_to) = (Vec::new(), Vec::new(), f64::NAN);
        for _ in 0..tells {
            let req = s.ask().unwrap();
            model(req.x, req.t_model, &mut out);
            // x0 = (x - sigma eps) / alpha.
            let x0 = req
                .x
                .iter()
                .zip(&out)
                .map(|(&x, &e)| (x - req.sigma * e) / req.alpha);
            data.insert(0, x0.collect());
            points.insert(0, Point::at(&sched, req.t));
            t_to = s.tell(&out).unwrap().unwrap().t_to;
        }
        (s.x().to_vec(), data, points, t_to)
    }

    #[test]
    fn a_third_order_step_is_the_closed_form_update_over_the_last_three_values() {
        let cfg = Config {
            algorithm: Algorithm::DpmSolverPp,
            method: Method::Multistep,
            order: 3,
            steps: 12,
            ..Config::default()
        };
        // Five evaluations (grid points 0-4) bring x to grid point 5; the sixth, at point 5,
        // takes the step 5 -> 6 from the values at 5, 4 and 3.
        let (x5, ..) = replay(cfg, 5);
        let (x6, data, points, t6) = replay(cfg, 6);
        let u = Update::multistep_third(
            Algorithm::DpmSolverPp,
            points[2].lambda,
            points[1].lambda,
            &points[0],
            &Point::at(&schedule(), t6),
        );
        for j in 0..3 {
            let want = u.at(x5[j], data[0][j], data[1][j], data[2][j]);
            assert!(
                (x6[j] - want).abs() <= 1e-12 * want.abs().max(1.0),
                "element {j}: sampler {} vs closed form {want}",
                x6[j]
            );
        }
        // The same values in another order (a wrong slot) give another result.
        let swapped = u.at(x5[0], data[1][0], data[0][0], data[2][0]);
        assert!((x6[0] - swapped).abs() > 1e-9);
    }

    #[test]
    fn full_order_warm_up_takes_one_extra_evaluation_at_the_midpoint() {
        let cfg = Config {
            method: Method::Multistep,
            order: 3,
            steps: 6,
            multistep_variant: MultistepVariant::FullOrder,
            ..Config::default()
        };
        let mut x = [0.7, -1.1, 0.4];
        let mut scratch = vec![0.0; cfg.scratch_len(3)];
        let mut s = Sampler::new(schedule(), cfg, &mut x, &mut scratch).unwrap();
        let mut out = [0.0; 3];
        let stats = s.sample(&mut out, model).unwrap();
        assert_eq!(stats.nfe, 7);
        assert_eq!(stats.n_accept, 6);
    }
}
