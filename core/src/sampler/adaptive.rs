//! The adaptive method (`Method::Adaptive`, DPM-Solver-12 and -23): each trial step from `s`
//! evaluates the model at `s` and one or two intermediate points, computes a lower- and a
//! higher-order solution, and accepts or rejects the trial on their difference
//! ([`StepController`]), which also sizes the next trial.
//!
//! Scratch slots (`order + 1`): slot 0 holds the model value at `s`, slot 1 the one at the
//! first intermediate point (order 3), the [`stage_slot`](State::stage_slot) the last
//! intermediate sample and then its model value, and [`x_prev_slot`](State::x_prev_slot) the
//! lower-order solution of the last accepted trial (the start before the first).

use super::{Machine, Phase, State, StepKind, StepReport};
use crate::adaptive::StepController;
use crate::error::{Error, Result};
use crate::math::Real;
use crate::update::Update;

impl<T: Real> State<T> {
    /// Slot of the last accepted trial's lower-order solution, `x_prev` (after the model
    /// slots).
    pub(super) fn x_prev_slot(&self) -> usize {
        self.order
    }
}

impl<T: Real> Machine<'_, T> {
    /// Plans the next trial from `ad.s` with `ad.h`; `reuse`: the model value at `s` in slot 0
    /// is still valid (after a rejection), so go straight to the intermediate evaluation.
    pub(super) fn plan_adaptive(&mut self, reuse: bool) {
        let order = self.cfg.order;
        let s = self.ad.s;
        let t = self.point(self.sched.inverse_lambda(s.lambda + self.ad.h));
        let (r1, r2) = if order == 2 {
            (T::c(0.5), T::ZERO)
        } else {
            (T::ONE / T::c(3.0), T::c(2.0) / T::c(3.0))
        };
        self.plan = self.make_plan(order, s, t, r1, r2);
        if reuse {
            self.adaptive_intermediate();
        } else {
            self.set_phase(Phase::Adaptive { stage: 0 }, s);
        }
    }

    fn adaptive_intermediate(&mut self) {
        let p = self.plan;
        let u = Update::intermediate(self.cfg.algorithm, &p.s, &p.s1, p.r1, p.h);
        self.update_into(self.stage_slot(), &u, &[0]);
        self.set_phase(Phase::Adaptive { stage: 1 }, p.s1);
    }

    pub(super) fn advance_adaptive(&mut self, stage: usize) -> Result<Option<StepReport<T>>> {
        let (alg, order) = (self.cfg.algorithm, self.cfg.order);
        let p = self.plan;
        if stage == 0 {
            self.adaptive_intermediate();
            return Ok(None);
        }
        if order == 3 && stage == 1 {
            let u = Update::third_intermediate(alg, &p.s, &p.s2, p.r1, p.r2, p.h);
            self.update_into(2, &u, &[0, 1]);
            self.set_phase(Phase::Adaptive { stage: 2 }, p.s2);
            return Ok(None);
        }
        // Both solutions are available: estimate the error, then accept or reject.
        #[cfg(feature = "plan")]
        if self.defer_error {
            // The executor computes the norm (see `crate::plan::ErrorNorm`) and hands it to
            // `tell_error`, which takes the decision below.
            let (lower, higher) = self.adaptive_pair();
            let norm = crate::plan::ErrorNorm::new(
                &lower,
                &higher,
                order,
                &self.cfg.adaptive,
                self.cfg.batch,
            );
            self.log.set_norm(norm);
            self.phase = Phase::AwaitError;
            return Ok(None);
        }
        // Here the decision is taken on the data (no plan op describes it).
        #[cfg(feature = "plan")]
        {
            self.log.nonlinear = true;
        }
        let e = self.adaptive_error();
        self.adaptive_decide(e).map(Some)
    }

    /// The lower- and higher-order updates of the planned trial.
    fn adaptive_pair(&self) -> (Update<T>, Update<T>) {
        let (alg, ty, p) = (self.cfg.algorithm, self.cfg.solver_type, self.plan);
        if self.cfg.order == 2 {
            (
                Update::first_order(alg, &p.s, &p.t),
                Update::singlestep_second(alg, ty, &p.s, &p.t, p.r1),
            )
        } else {
            (
                Update::singlestep_second(alg, ty, &p.s, &p.t, p.r1),
                Update::singlestep_third(alg, ty, &p.s, &p.t, p.r1, p.r2),
            )
        }
    }

    fn controller(&self) -> StepController<T> {
        let opts = self.cfg.adaptive;
        StepController {
            atol: opts.atol,
            rtol: opts.rtol,
            theta: opts.theta,
            order: self.cfg.order,
        }
    }

    /// The error norm `E` of the planned trial, from the buffers.
    fn adaptive_error(&self) -> T {
        let (lower, higher) = self.adaptive_pair();
        let (n, order) = (self.n, self.cfg.order);
        let scratch = &*self.scratch;
        let m = |j: usize| &scratch[j * n..(j + 1) * n];
        let x_prev = m(self.x_prev_slot());
        // Order 2 leaves m2 unused: m1 again keeps the fused loop in bounds.
        let m2 = if order == 2 { m(1) } else { m(2) };
        self.controller().error(
            &lower,
            &higher,
            &*self.x,
            x_prev,
            [m(0), m(1), m2],
            self.cfg.batch,
        )
    }

    /// Accepts (`x_prev` and `x` become the lower- and higher-order solutions) or rejects the
    /// planned trial on its error `e`, sizes the next step and plans it (or finishes).
    pub(super) fn adaptive_decide(&mut self, e: T) -> Result<StepReport<T>> {
        let order = self.cfg.order;
        let p = self.plan;
        let (lower, higher) = self.adaptive_pair();
        let ctl = self.controller();
        let opts = self.cfg.adaptive;
        let accepted = ctl.accept(e);
        if accepted {
            let n = self.n;
            #[cfg(feature = "plan")]
            {
                let ms: &[usize] = if order == 2 { &[0, 1] } else { &[0, 1, 2] };
                self.record_update(crate::plan::Buf::slot(self.x_prev_slot()), &lower, ms);
                self.record_update(crate::plan::Buf::X, &higher, ms);
            }
            // The model slots lie before `x_prev`'s.
            let x_prev_slot = self.x_prev_slot();
            let (models, rest) = self.scratch.split_at_mut(x_prev_slot * n);
            let x_prev = &mut rest[..n];
            let m = |j: usize| &models[j * n..(j + 1) * n];
            let (m0, m1) = (m(0), m(1));
            let m2 = if order == 2 { m1 } else { m(2) };
            // Zipped, not indexed: every slice has `n` elements, no bounds checks.
            let ms = m0.iter().zip(m1).zip(m2);
            for ((x, xp), ((&a, &b), &c)) in self.x.iter_mut().zip(x_prev).zip(ms) {
                let v = *x;
                *xp = lower.at(v, a, b, c);
                *x = higher.at(v, a, b, c);
            }
            self.ad.s = p.t;
        }
        self.ad.h = ctl.next_h(self.ad.h, e, self.ad.lambda_end - self.ad.s.lambda);
        let r = self.report(
            StepKind::Solver,
            p.s.t,
            p.t.t,
            p.h,
            order,
            accepted,
            Some(e),
        );
        if (self.ad.s.t - self.t_end).abs() > opts.t_err {
            let reuse = opts.reuse_rejected_eval && !accepted;
            let next = if reuse { order - 1 } else { order };
            if self.stats.nfe + next > opts.max_nfe {
                self.phase = Phase::Done;
                return Err(Error::StepLimit {
                    nfe: self.stats.nfe,
                });
            }
            self.plan_adaptive(reuse);
        } else {
            self.finish();
        }
        Ok(r)
    }
}

#[cfg(all(test, feature = "adaptive"))]
mod tests {
    use crate::adaptive::AdaptiveOptions;
    use crate::model::Prediction;
    use crate::sampler::{Config, Method, Sampler, StepReport};
    use crate::schedule::NoiseSchedule;

    fn schedule() -> NoiseSchedule<'static, f64> {
        NoiseSchedule::linear_vp(0.1, 20.0).unwrap()
    }

    /// Runs the adaptive method on `model` (a data prediction) and returns every report and
    /// the sample.
    fn run(
        order: usize,
        adaptive: AdaptiveOptions<f64>,
        model: impl Fn(&[f64], f64) -> Vec<f64>,
    ) -> (Vec<StepReport<f64>>, [f64; 2], usize) {
        let cfg = Config {
            method: Method::Adaptive,
            order,
            prediction: Prediction::Data,
            adaptive,
            ..Config::default()
        };
        let mut x = [0.8f64, -0.3];
        let mut scratch = vec![0.0; cfg.scratch_len(2)];
        let mut s = Sampler::new(schedule(), cfg, &mut x, &mut scratch).unwrap();
        let mut reports = Vec::new();
        while let Some(req) = s.ask() {
            let out = model(req.x, req.t);
            if let Some(r) = s.tell(&out).expect("the run completes") {
                reports.push(r);
            }
        }
        let nfe = s.nfe();
        (reports, x, nfe)
    }

    #[test]
    fn a_constant_data_prediction_is_integrated_exactly_and_always_accepted() {
        let c = [0.25, -0.5];
        for order in [2, 3] {
            let (reports, x, _) = run(order, AdaptiveOptions::default(), |_, _| c.to_vec());
            assert!(reports.iter().all(|r| r.accepted), "order {order}");
            // The exact flow of a constant x0: x_t = sigma_t / sigma_s x_s + (alpha_t -
            // sigma_t alpha_s / sigma_s) x0, from t = 1 to 1e-3.
            let sched = schedule();
            let (t0, t1) = (1.0, 1e-3);
            let ratio = sched.sigma(t1) / sched.sigma(t0);
            for j in 0..2 {
                let x_start = [0.8, -0.3][j];
                let want = ratio * x_start + (sched.alpha(t1) - ratio * sched.alpha(t0)) * c[j];
                assert!(
                    (x[j] - want).abs() < 1e-9,
                    "order {order}: {} vs {want}",
                    x[j]
                );
            }
            let last = reports.last().unwrap();
            assert!((last.t_to - t1).abs() <= AdaptiveOptions::<f64>::default().t_err);
        }
    }

    #[test]
    fn a_step_too_large_is_rejected_and_retried_smaller() {
        let wiggly = |x: &[f64], t: f64| x.iter().map(|&v| 0.5 * v + (5.0 * t).sin()).collect();
        let opts = AdaptiveOptions {
            atol: 1e-4,
            rtol: 1e-4,
            h_init: 4.0,
            ..AdaptiveOptions::default()
        };
        for order in [2, 3] {
            let (reports, _, nfe) = run(order, opts, wiggly);
            let first = reports[0];
            assert!(
                !first.accepted,
                "order {order}: a 4.0 step in lambda passes 1e-4"
            );
            assert!(first.error.unwrap() > 1.0);
            // The retry starts from the same point with a smaller step.
            assert_eq!(reports[1].t_from, first.t_from);
            assert!(reports[1].h.abs() < first.h.abs());
            assert!(reports.iter().any(|r| r.accepted));
            // Every trial costs `order` evaluations (the rejected ones re-evaluate at `s`).
            assert_eq!(nfe, order * reports.len());
            // With reuse, a trial after a rejection needs one evaluation fewer.
            let reuse = AdaptiveOptions {
                reuse_rejected_eval: true,
                ..opts
            };
            let (reports, _, nfe) = run(order, reuse, wiggly);
            let rejected = reports.iter().filter(|r| !r.accepted).count();
            assert!(rejected > 0);
            assert_eq!(nfe, order * reports.len() - rejected);
        }
    }
}
