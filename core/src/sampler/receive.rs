//! The receive path every method shares: a network output (plain, classifier-free or
//! classifier guided) checked against the pending request before any state moves, converted
//! into the solver's parameterisation in the slot the method reads it from (guidance folded in
//! by `convert`'s loops), thresholded, counted, then handed to the method's `advance`; and the
//! `checked` feature's test that the step made nothing non-finite itself.

use super::convert::{convert_in_place, convert_into, Output};
use super::{Loc, Machine, Phase};
use crate::error::{check_input, check_len, Buffer, Error, Result};
use crate::guidance::Guidance;
use crate::math::Real;
use crate::model::{conversion, Target};
use crate::sampler::{Stats, StepReport};
use crate::threshold::dynamic_threshold;
use crate::update::Algorithm;

impl<T: Real> Machine<'_, T> {
    pub(super) fn tell(&mut self, output: &[T]) -> Result<Option<StepReport<T>>> {
        match self.cfg.guidance {
            Guidance::None => self.receive(Output::Plain(output)),
            g => Err(Error::GuidanceMismatch {
                configured: g.name(),
                called: "tell",
            }),
        }
    }

    /// An output with its guidance combined by the caller (see `Sampler::tell_combined`).
    #[cfg(all(feature = "alloc", feature = "rng", feature = "flow"))]
    pub(super) fn tell_combined(&mut self, output: &[T]) -> Result<Option<StepReport<T>>> {
        self.receive(Output::Plain(output))
    }

    pub(super) fn tell_cfg(&mut self, cond: &[T], uncond: &[T]) -> Result<Option<StepReport<T>>> {
        match self.cfg.guidance {
            Guidance::ClassifierFree { scale } => self.receive(Output::Cfg {
                cond,
                uncond,
                scale,
            }),
            g => Err(Error::GuidanceMismatch {
                configured: g.name(),
                called: "tell_cfg",
            }),
        }
    }

    pub(super) fn tell_classifier(
        &mut self,
        output: &[T],
        grad: &[T],
    ) -> Result<Option<StepReport<T>>> {
        match self.cfg.guidance {
            Guidance::Classifier { scale } => self.receive(Output::Classifier {
                out: output,
                grad,
                scale,
            }),
            g => Err(Error::GuidanceMismatch {
                configured: g.name(),
                called: "tell_classifier",
            }),
        }
    }

    pub(super) fn sample(
        &mut self,
        out: &mut [T],
        mut model: impl FnMut(&[T], T, &mut [T]),
    ) -> Result<Stats> {
        check_len(Buffer::Output, self.n, out.len())?;
        while let Some(req) = self.st.request(&self.sched, self.x, self.scratch) {
            model(req.x, req.t_model, out);
            self.tell(out)?;
        }
        Ok(self.stats)
    }

    /// Slot that receives the converted output of the pending request.
    pub(super) fn destination(&self) -> usize {
        match self.phase {
            Phase::Multistep {
                midpoint: false, ..
            } => self.past.newest(),
            Phase::Multistep { midpoint: true, .. } => self.midpoint_slot(),
            // The model values at `s` (slot 0), at the first intermediate point of a
            // third-order step (slot 1), and at the last one (in place of its sample).
            Phase::Singlestep { stage, .. } | Phase::Adaptive { stage } => match stage {
                0 => 0,
                1 if self.plan.order == 3 => 1,
                _ => self.stage_slot(),
            },
            Phase::Denoise | Phase::Done => 0,
            #[cfg(feature = "plan")]
            Phase::AwaitError => 0,
        }
    }

    pub(super) fn receive(&mut self, output: Output<'_, T>) -> Result<Option<StepReport<T>>> {
        let (loc, p) = self.pending().ok_or(Error::Finished)?;
        let n = self.n;
        // Validate every input before touching any state.
        let (main, second, second_buf) = match output {
            Output::Plain(o) => (o, None, Buffer::ModelOutput),
            Output::Cfg { cond, uncond, .. } => (cond, Some(uncond), Buffer::Unconditional),
            Output::Classifier { out, grad, .. } => (out, Some(grad), Buffer::Gradient),
        };
        check_input(Buffer::ModelOutput, n, main)?;
        if let Some(s) = second {
            check_input(second_buf, n, s)?;
        }

        let target = match (self.phase, self.cfg.algorithm) {
            (Phase::Denoise, _) | (_, Algorithm::DpmSolverPp) => Target::Data,
            (_, Algorithm::DpmSolver) => Target::Noise,
        };
        let alpha = p.alpha();
        let (a, b) = conversion(self.cfg.prediction, target, alpha, p.sigma);
        let dst = self.destination();
        #[cfg(feature = "plan")]
        self.record_conversion(loc, dst, output, a, b, target, alpha, p.sigma);
        {
            let (x, scratch) = (&*self.x, &mut *self.scratch);
            match loc {
                Loc::X => convert_into(
                    &mut scratch[dst * n..(dst + 1) * n],
                    x,
                    output,
                    a,
                    b,
                    target,
                    alpha,
                    p.sigma,
                ),
                Loc::Slot(e) if e == dst => convert_in_place(
                    &mut scratch[e * n..(e + 1) * n],
                    output,
                    a,
                    b,
                    target,
                    alpha,
                    p.sigma,
                ),
                Loc::Slot(e) => {
                    let (lo, hi) = scratch.split_at_mut(dst.max(e) * n);
                    let (d, src) = if dst < e {
                        (&mut lo[dst * n..(dst + 1) * n], &hi[..n])
                    } else {
                        (&mut hi[..n], &lo[e * n..(e + 1) * n])
                    };
                    convert_into(d, src, output, a, b, target, alpha, p.sigma);
                }
            }
        }
        if let (Target::Data, Some(th)) = (target, self.cfg.thresholding) {
            let (slots, dim) = (self.cfg.slots(), self.dim);
            let (buf, work) = self.scratch.split_at_mut(slots * n);
            let work = &mut work[..dim];
            for sample in buf[dst * n..(dst + 1) * n].chunks_exact_mut(dim) {
                dynamic_threshold(sample, &th, work);
            }
            #[cfg(feature = "plan")]
            {
                self.log.nonlinear = true;
            }
        }
        self.stats.nfe += 1;
        #[cfg(feature = "checked")]
        if !T::all_finite(&self.scratch[dst * n..(dst + 1) * n]) {
            return Err(self.diverged("the model output's conversion overflowed"));
        }
        let report = self.advance()?;
        #[cfg(feature = "checked")]
        self.check_pending()?;
        Ok(report)
    }

    /// Ends the run with [`Error::Diverged`] at the evaluation just told.
    #[cfg(feature = "checked")]
    pub(super) fn diverged(&mut self, cause: &'static str) -> Error {
        self.phase = Phase::Done;
        Error::Diverged {
            evaluation: self.stats.nfe,
            cause,
        }
    }

    /// After a step: the next evaluation point (or the result) must be finite, and so must its
    /// time; the model's outputs were, so a non-finite value here was made by the solver.
    #[cfg(feature = "checked")]
    pub(super) fn check_pending(&mut self) -> Result<()> {
        let n = self.n;
        let (buf, time_ok) = match self.pending() {
            None => (&*self.x, true),
            Some((loc, p)) => {
                let buf: &[T] = match loc {
                    Loc::X => &*self.x,
                    Loc::Slot(j) => &self.scratch[j * n..(j + 1) * n],
                };
                // In the schedule's range (with room for rounding): an extreme spacing can map
                // a grid point far outside it, where the network's time input overflows. The
                // one infinite lambda allowed is pure noise (alpha = 0: the flow schedule at
                // t = 1, which DPM-Solver++ starts from exactly).
                let pure_noise =
                    !p.log_alpha.is_finite() && p.log_alpha < T::ZERO && p.sigma == T::ONE;
                let ok = p.t > T::ZERO
                    && p.t <= T::c(2.0) * self.sched.t_max()
                    && p.sigma.is_finite()
                    && (p.lambda.is_finite() || pure_noise);
                (buf, ok)
            }
        };
        if !time_ok {
            return Err(self.diverged("the time grid left the schedule's range"));
        }
        if !T::all_finite(buf) {
            return Err(self.diverged("the update overflowed"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::guidance::{classifier_free, Guidance};
    use crate::schedule::{Betas, DiscreteVp, NoiseSchedule};
    use crate::{Buffer, Config, Error, Method, Sampler};

    const N: usize = 6;

    fn run<'a>(
        table: &'a mut [f32],
        method: Method,
        guidance: Guidance<f32>,
        x: &'a mut [f32],
        scratch: &'a mut [f32],
    ) -> Sampler<'a, f32> {
        let betas = Betas::Linear {
            start: 1e-4,
            end: 0.02,
            n: 1000,
        };
        let sched = NoiseSchedule::Discrete(DiscreteVp::from_betas(&betas, table).unwrap());
        let config = Config {
            method,
            order: 3,
            steps: 6,
            guidance,
            ..Config::default()
        };
        Sampler::new(sched, config, x, scratch).unwrap()
    }

    /// The methods compiled in (features `singlestep`, `adaptive`).
    fn methods() -> impl Iterator<Item = Method> {
        [
            Some(Method::Multistep),
            cfg!(feature = "singlestep").then_some(Method::Singlestep),
            cfg!(feature = "adaptive").then_some(Method::Adaptive),
        ]
        .into_iter()
        .flatten()
    }

    fn start() -> [f32; N] {
        [0.3, -1.2, 0.8, 0.05, -0.4, 1.7]
    }

    /// A wrong length or a non-finite value (in either output of a guided pair) is refused
    /// before any state moves: the same request is pending afterwards and the run goes on.
    #[test]
    fn an_answer_is_checked_before_anything_moves() {
        let cfg = Guidance::ClassifierFree { scale: 1.5 };
        for method in methods() {
            let (mut table, mut x, mut scratch) = (vec![0.0; 1000], start(), [0.0; 5 * N]);
            let mut s = run(&mut table, method, cfg, &mut x, &mut scratch);
            let before = s.ask().map(|r| (r.x.to_vec(), r.t_model)).unwrap();
            let good = [0.1f32; N];
            let mut bad = good;
            bad[4] = f32::INFINITY;
            assert!(matches!(
                s.tell_cfg(&good[..N - 1], &good),
                Err(Error::LengthMismatch {
                    buffer: Buffer::ModelOutput,
                    ..
                })
            ));
            assert!(matches!(
                s.tell_cfg(&bad, &good),
                Err(Error::NonFinite {
                    buffer: Buffer::ModelOutput,
                    index: 4
                })
            ));
            assert!(matches!(
                s.tell_cfg(&good, &bad),
                Err(Error::NonFinite {
                    buffer: Buffer::Unconditional,
                    index: 4
                })
            ));
            assert_eq!(s.nfe(), 0);
            let after = s.ask().map(|r| (r.x.to_vec(), r.t_model)).unwrap();
            assert_eq!(before, after, "{method:?}");
            s.tell_cfg(&good, &good).unwrap();
            assert_eq!(s.nfe(), 1);
        }
    }

    /// The call must match the configured guidance, and a finished run takes no more.
    #[test]
    fn the_call_must_match_the_guidance() {
        let out = [0.1f32; N];
        for (guidance, name) in [
            (Guidance::None, "no"),
            (Guidance::ClassifierFree { scale: 2.0 }, "classifier-free"),
            (Guidance::Classifier { scale: 2.0 }, "classifier"),
        ] {
            let (mut table, mut x, mut scratch) = (vec![0.0; 1000], start(), [0.0; 5 * N]);
            let mut s = run(
                &mut table,
                Method::Multistep,
                guidance,
                &mut x,
                &mut scratch,
            );
            let calls: [(&str, crate::Result<_>); 3] = [
                ("tell", s.tell(&out)),
                ("tell_cfg", s.tell_cfg(&out, &out)),
                ("tell_classifier", s.tell_classifier(&out, &out)),
            ];
            let mut accepted = 0;
            for (called, r) in calls {
                match r {
                    Ok(_) => accepted += 1,
                    Err(Error::GuidanceMismatch {
                        configured,
                        called: c,
                    }) => {
                        assert_eq!((configured, c), (name, called));
                    }
                    Err(e) => panic!("{name} {called}: {e}"),
                }
            }
            assert_eq!(accepted, 1, "{name}: one call of the three fits");
            while s.ask().is_some() {
                match guidance {
                    Guidance::None => s.tell(&out),
                    Guidance::ClassifierFree { .. } => s.tell_cfg(&out, &out),
                    Guidance::Classifier { .. } => s.tell_classifier(&out, &out),
                }
                .unwrap();
            }
            let last = match guidance {
                Guidance::None => s.tell(&out),
                Guidance::ClassifierFree { .. } => s.tell_cfg(&out, &out),
                Guidance::Classifier { .. } => s.tell_classifier(&out, &out),
            };
            assert!(matches!(last, Err(Error::Finished)), "{name}");
        }
    }

    /// Classifier-free guidance folded into the conversion gives the bits of the unguided path
    /// told the combined output (`uncond + s (cond - uncond)` rounded once), every method.
    #[test]
    fn classifier_free_is_the_combined_output() {
        let scale = 3.5f32;
        for method in methods() {
            let (mut t1, mut x1, mut s1) = (vec![0.0; 1000], start(), [0.0; 5 * N]);
            let (mut t2, mut x2, mut s2) = (vec![0.0; 1000], start(), [0.0; 5 * N]);
            let cfg = Guidance::ClassifierFree { scale };
            let mut guided = run(&mut t1, method, cfg, &mut x1, &mut s1);
            let mut plain = run(&mut t2, method, Guidance::None, &mut x2, &mut s2);
            let (mut c, mut u, mut o) = ([0.0f32; N], [0.0f32; N], [0.0f32; N]);
            while let Some(r) = guided.ask() {
                for i in 0..N {
                    c[i] = 0.2 * r.x[i] + 0.01 * i as f32 * r.t;
                    u[i] = -0.1 * r.x[i] + 0.3;
                    o[i] = classifier_free(c[i], u[i], scale);
                }
                let a = guided.tell_cfg(&c, &u).unwrap();
                let b = plain.tell(&o).unwrap();
                assert_eq!(a, b);
            }
            assert!(plain.is_done());
            assert_eq!(guided.x(), plain.x(), "{method:?}");
        }
    }
}
