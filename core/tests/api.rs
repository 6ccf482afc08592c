//! The sampler's contract: every bad input is an error value (never a panic), the state machine
//! cannot be driven out of order, and the options do what their docs say.

use dpm_solver::*;

fn schedule() -> NoiseSchedule<'static, f64> {
    NoiseSchedule::linear_vp(0.1, 20.0).unwrap()
}

/// Whether the crate features compile `method` in (`singlestep`, `adaptive`).
fn compiled_in(method: Method) -> bool {
    match method {
        Method::Multistep => true,
        Method::Singlestep | Method::SinglestepFixed => cfg!(feature = "singlestep"),
        Method::Adaptive => cfg!(feature = "adaptive"),
    }
}

/// eps of a standard-normal data distribution (x_t ~ N(0, 1) for all t): eps = sigma x.
fn gaussian_eps(req: &Request<'_, f64>, out: &mut [f64]) {
    for (o, &x) in out.iter_mut().zip(req.x) {
        *o = req.sigma * x;
    }
}

#[test]
fn invalid_configurations_are_errors() {
    let bad: Vec<Config<'static, f64>> = vec![
        Config {
            order: 0,
            ..Config::default()
        },
        Config {
            order: 4,
            ..Config::default()
        },
        Config {
            steps: 0,
            ..Config::default()
        },
        Config {
            steps: 2,
            order: 3,
            ..Config::default()
        },
        Config {
            method: Method::Adaptive,
            order: 1,
            ..Config::default()
        },
        Config {
            t_start: Some(0.5),
            t_end: Some(0.6),
            ..Config::default()
        },
        Config {
            t_end: Some(0.0),
            ..Config::default()
        },
        Config {
            t_start: Some(f64::NAN),
            ..Config::default()
        },
        Config {
            t_start: Some(1.5),
            ..Config::default()
        },
        Config {
            batch: 3,
            ..Config::default()
        },
        Config {
            batch: 0,
            ..Config::default()
        },
        Config {
            thresholding: Some(Thresholding {
                ratio: 1.5,
                max_val: 1.0,
            }),
            ..Config::default()
        },
        Config {
            guidance: Guidance::ClassifierFree {
                scale: f64::INFINITY,
            },
            ..Config::default()
        },
        Config {
            method: Method::Adaptive,
            adaptive: AdaptiveOptions {
                atol: -1.0,
                ..Default::default()
            },
            ..Config::default()
        },
        Config {
            spacing: Spacing::Custom(&[1.0, 0.5]),
            steps: 3,
            ..Config::default()
        },
        Config {
            spacing: Spacing::Custom(&[1.0, 0.5, 0.7, 0.1]),
            steps: 3,
            ..Config::default()
        },
        Config {
            spacing: Spacing::Karras { rho: 0.0 },
            ..Config::default()
        },
        Config {
            direction: Direction::Invert,
            ..Config::default()
        }
        .with_times(0.9, 0.1),
    ];
    for c in bad {
        let mut x = vec![0.1; 4];
        let mut scratch = vec![0.0; 64];
        let r = Sampler::new(schedule(), c, &mut x, &mut scratch);
        let e = r.err().unwrap_or_else(|| panic!("accepted {c:?}"));
        assert!(!e.to_string().is_empty());
    }
}

trait WithTimes {
    fn with_times(self, a: f64, b: f64) -> Self;
}
impl WithTimes for Config<'static, f64> {
    fn with_times(mut self, a: f64, b: f64) -> Self {
        self.t_start = Some(a);
        self.t_end = Some(b);
        self
    }
}

#[test]
fn buffer_errors_name_the_buffer() {
    let c = Config::<f64>::default();
    let mut x = vec![0.1; 4];
    let mut small = vec![0.0; 3];
    match Sampler::new(schedule(), c, &mut x, &mut small) {
        Err(Error::LengthMismatch {
            buffer: Buffer::Scratch,
            expected: 8,
            found: 3,
        }) => {}
        other => panic!("{:?}", other.err()),
    }
    let mut x = vec![0.1, f64::NAN];
    let mut scratch = vec![0.0; 8];
    assert!(matches!(
        Sampler::new(schedule(), c, &mut x, &mut scratch),
        Err(Error::NonFinite {
            buffer: Buffer::X,
            index: 1
        })
    ));
    let mut x = vec![0.1; 4];
    let mut s = Sampler::new(schedule(), c, &mut x, &mut scratch).unwrap();
    assert!(matches!(
        s.tell(&[0.0; 3]),
        Err(Error::LengthMismatch {
            buffer: Buffer::ModelOutput,
            expected: 4,
            found: 3
        })
    ));
    assert!(matches!(
        s.tell(&[0.0, f64::NAN, 0.0, 0.0]),
        Err(Error::NonFinite {
            buffer: Buffer::ModelOutput,
            index: 1
        })
    ));
    assert!(matches!(
        s.tell_cfg(&[0.0; 4], &[0.0; 4]),
        Err(Error::GuidanceMismatch { .. })
    ));
    // After the errors nothing has moved: the same request is pending and a good output works.
    assert_eq!(s.nfe(), 0);
    assert!(s.tell(&[0.0; 4]).is_ok());
    assert_eq!(s.nfe(), 1);
}

#[test]
#[cfg(feature = "singlestep")]
fn a_nan_output_leaves_the_state_untouched() {
    // Singlestep-3 converts its last evaluation in place: a rejected output must not corrupt it.
    let c = Config {
        method: Method::Singlestep,
        order: 3,
        steps: 6,
        ..Config::<f64>::default()
    };
    let run_with = |poison: bool| {
        let mut x = vec![0.3, -0.2, 1.1, 0.5];
        let mut scratch = vec![0.0; c.scratch_len(4)];
        let mut out = vec![0.0; 4];
        let mut s = Sampler::new(schedule(), c, &mut x, &mut scratch).unwrap();
        while let Some(req) = s.ask() {
            gaussian_eps(&req, &mut out);
            if poison {
                assert!(s.tell(&[f64::NAN; 4]).is_err());
            }
            s.tell(&out).unwrap();
        }
        x
    };
    assert_eq!(run_with(false), run_with(true));
}

#[test]
fn methods_left_out_by_features_are_refused() {
    for method in [
        Method::Multistep,
        Method::Singlestep,
        Method::SinglestepFixed,
        Method::Adaptive,
    ] {
        let c = Config {
            method,
            ..Config::<f64>::default()
        };
        let mut x = vec![0.1; 2];
        let mut scratch = vec![0.0; c.scratch_len(2)];
        let err = Sampler::new(schedule(), c, &mut x, &mut scratch).err();
        if compiled_in(method) {
            assert_eq!(err, None, "{method:?}");
        } else {
            assert!(
                matches!(err, Some(Error::InvalidConfig(m)) if m.contains("the dpm-solver feature")),
                "{method:?}: {err:?}"
            );
        }
    }
}

#[test]
fn finished_sampler_refuses_more() {
    let c = Config {
        steps: 3,
        order: 1,
        ..Config::<f64>::default()
    };
    let mut x = vec![0.1; 2];
    let mut scratch = vec![0.0; c.scratch_len(2)];
    let mut s = Sampler::new(schedule(), c, &mut x, &mut scratch).unwrap();
    let mut out = [0.0; 2];
    let mut reports = 0;
    while let Some(req) = s.ask() {
        gaussian_eps(&req, &mut out);
        if s.tell(&out).unwrap().is_some() {
            reports += 1;
        }
    }
    assert_eq!(reports, 3);
    assert!(s.is_done());
    assert_eq!(s.tell(&out), Err(Error::Finished));
}

#[test]
fn every_method_is_exact_for_point_mass_data() {
    // Data = a point mass at c: eps = (x - alpha c) / sigma and x0 = c are both constant along
    // the exact trajectory x_t = alpha_t c + sigma_t eps, so every order must reproduce it.
    let c = [0.3, -0.5, 0.8, 0.1];
    let x_t = [0.7, -1.3, 0.2, 2.1];
    let methods = [
        (Method::Singlestep, 1),
        (Method::Singlestep, 2),
        (Method::Singlestep, 3),
        (Method::Multistep, 1),
        (Method::Multistep, 2),
        (Method::Multistep, 3),
        (Method::SinglestepFixed, 2),
        (Method::SinglestepFixed, 3),
        (Method::Adaptive, 2),
        (Method::Adaptive, 3),
    ];
    let sched = schedule();
    let (a_t, s_t) = (sched.alpha(1.0), sched.sigma(1.0));
    let (a_e, s_e) = (sched.alpha(1e-3), sched.sigma(1e-3));
    for alg in [Algorithm::DpmSolver, Algorithm::DpmSolverPp] {
        for (method, order) in methods.into_iter().filter(|&(m, _)| compiled_in(m)) {
            for spacing in [
                Spacing::LogSnr,
                Spacing::TimeUniform,
                Spacing::TimeQuadratic,
                Spacing::Karras { rho: 7.0 },
                #[cfg(feature = "flow")]
                Spacing::FlowShift { shift: 3.0 },
            ] {
                for prediction in [
                    Prediction::Noise,
                    Prediction::Data,
                    Prediction::V,
                    Prediction::Score,
                    #[cfg(feature = "flow")]
                    Prediction::Flow,
                ] {
                    let mut x = x_t.to_vec();
                    let cfg = Config {
                        algorithm: alg,
                        method,
                        order,
                        steps: 12,
                        spacing,
                        prediction,
                        ..Config::default()
                    };
                    let mut scratch = vec![0.0; cfg.scratch_len(4)];
                    let mut out = vec![0.0; 4];
                    let mut smp = Sampler::new(sched, cfg, &mut x, &mut scratch).unwrap();
                    while let Some(r) = smp.ask() {
                        for ((o, &x), &c) in out.iter_mut().zip(r.x).zip(&c) {
                            let eps = (x - r.alpha * c) / r.sigma;
                            *o = match prediction {
                                Prediction::Noise => eps,
                                Prediction::Data => c,
                                Prediction::V => r.alpha * eps - r.sigma * c,
                                Prediction::Score => -eps / r.sigma,
                                #[cfg(feature = "flow")]
                                Prediction::Flow => eps - c,
                            };
                        }
                        smp.tell(&out).unwrap();
                    }
                    assert!(smp.nfe() > 0);
                    for i in 0..4 {
                        let eps = (x_t[i] - a_t * c[i]) / s_t;
                        let want = a_e * c[i] + s_e * eps;
                        assert!(
                            (x[i] - want).abs() < 1e-9,
                            "{alg:?} {method:?} {order} {spacing:?} {prediction:?}: {} vs {want}",
                            x[i]
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn inversion_then_sampling_returns_to_the_start() {
    // Smooth non-trivial model: data N(0, 0.25 I): eps = sigma x / (alpha^2 0.25 + sigma^2).
    let model = |req: &Request<'_, f64>, out: &mut [f64]| {
        let a = req.alpha;
        let c = a * a * 0.25 + req.sigma * req.sigma;
        for (o, &x) in out.iter_mut().zip(req.x) {
            *o = req.sigma * x / c;
        }
    };
    let steps = 50;
    let data = vec![0.3, -0.4, 0.1];
    let mut x = data.clone();
    let inv = Config {
        direction: Direction::Invert,
        method: Method::Multistep,
        order: 3,
        steps,
        spacing: Spacing::LogSnr,
        ..Config::default()
    };
    let mut scratch = vec![0.0; inv.scratch_len(3)];
    let mut out = vec![0.0; 3];
    {
        let mut s = Sampler::new(schedule(), inv, &mut x, &mut scratch).unwrap();
        while let Some(r) = s.ask() {
            model(&r, &mut out);
            s.tell(&out).unwrap();
        }
        assert_eq!(s.time_range(), (1e-3, 1.0));
    }
    let fwd = Config {
        direction: Direction::Sample,
        ..inv
    };
    let mut s = Sampler::new(schedule(), fwd, &mut x, &mut scratch).unwrap();
    while let Some(r) = s.ask() {
        model(&r, &mut out);
        s.tell(&out).unwrap();
    }
    for (a, b) in x.iter().zip(&data) {
        assert!((a - b).abs() < 1e-4, "{a} vs {b}");
    }
}

#[test]
fn custom_times_reproduce_the_built_in_grid() {
    let sched = schedule();
    let grid = Grid::new(Spacing::TimeQuadratic, &sched, 1.0, 1e-3, 10);
    let times: Vec<f64> = (0..=10).map(|i| grid.at(&sched, i)).collect();
    let (mut a, mut b) = (vec![0.5, -0.5], vec![0.5, -0.5]);
    let model_run = |c: Config<'_, f64>, x: &mut Vec<f64>| {
        let mut scratch = vec![0.0; c.scratch_len(2)];
        let mut out = vec![0.0; 2];
        let mut s = Sampler::new(sched, c, x, &mut scratch).unwrap();
        while let Some(r) = s.ask() {
            for (o, &x) in out.iter_mut().zip(r.x) {
                *o = r.sigma * x / (r.alpha * r.alpha * 0.1 + r.sigma * r.sigma);
            }
            s.tell(&out).unwrap();
        }
    };
    let base = Config {
        method: Method::Multistep,
        order: 2,
        steps: 10,
        t_end: Some(1e-3),
        ..Config::default()
    };
    model_run(
        Config {
            spacing: Spacing::TimeQuadratic,
            ..base
        },
        &mut a,
    );
    model_run(
        Config {
            spacing: Spacing::Custom(&times),
            ..base
        },
        &mut b,
    );
    assert_eq!(a, b);
}

#[test]
#[cfg(feature = "adaptive")]
fn adaptive_budget_is_enforced() {
    let mut x = vec![0.4, -0.2];
    let c = Config {
        method: Method::Adaptive,
        order: 2,
        adaptive: AdaptiveOptions {
            atol: 1e-9,
            rtol: 1e-9,
            max_nfe: 10,
            ..Default::default()
        },
        ..Config::default()
    };
    let mut scratch = vec![0.0; c.scratch_len(2)];
    let mut s = Sampler::new(schedule(), c, &mut x, &mut scratch).unwrap();
    let mut out = [0.0; 2];
    let mut result = Ok(None);
    while let Some(r) = s.ask() {
        for (o, &x) in out.iter_mut().zip(r.x) {
            *o = r.sigma * (x * x).sin();
        }
        result = s.tell(&out);
        if result.is_err() {
            break;
        }
    }
    assert!(matches!(result, Err(Error::StepLimit { .. })), "{result:?}");
    assert!(s.nfe() <= 10);
}

#[test]
#[cfg(feature = "adaptive")]
fn reuse_after_rejection_saves_evaluations_and_changes_nothing_else() {
    let runs: Vec<(Vec<f64>, Stats)> = [false, true]
        .into_iter()
        .map(|reuse| {
            let mut x = vec![1.5, -2.0, 0.3];
            let c = Config {
                method: Method::Adaptive,
                order: 3,
                adaptive: AdaptiveOptions {
                    reuse_rejected_eval: reuse,
                    ..Default::default()
                },
                ..Config::default()
            };
            let mut scratch = vec![0.0; c.scratch_len(3)];
            let mut out = vec![0.0; 3];
            let mut s = Sampler::new(schedule(), c, &mut x, &mut scratch).unwrap();
            while let Some(r) = s.ask() {
                for (o, &x) in out.iter_mut().zip(r.x) {
                    // data: two-point mixture at +-1 with small variance (a hard, stiff model).
                    let a = r.alpha;
                    let v = a * a * 0.01 + r.sigma * r.sigma;
                    let (lp, lm) = (-(x - a).powi(2) / (2.0 * v), -(x + a).powi(2) / (2.0 * v));
                    let m = lp.max(lm);
                    let (wp, wm) = ((lp - m).exp(), (lm - m).exp());
                    let mean = a * (wp - wm) / (wp + wm);
                    *o = r.sigma * (x - mean) / v;
                }
                s.tell(&out).unwrap();
            }
            let st = s.stats();
            (x, st)
        })
        .collect();
    assert!(
        runs[0].1.n_reject > 0,
        "the test model should cause rejections"
    );
    assert_eq!(runs[0].0, runs[1].0);
    assert_eq!(runs[1].1.nfe, runs[0].1.nfe - runs[0].1.n_reject);
}

#[test]
fn f32_schedule_tables_track_f64() {
    let betas32 = Betas::Cosine { n: 1000 };
    let betas64 = Betas::Cosine { n: 1000 };
    let mut t32 = ScheduleTable::<f32, 1000>::new();
    let mut t64 = ScheduleTable::<f64, 1000>::new();
    let s32 = t32.from_betas(&betas32).unwrap();
    let s64 = t64.from_betas(&betas64).unwrap();
    assert_eq!(s32.total_n(), s64.total_n());
    for i in 0..=100 {
        let t = 1e-3 + (1.0 - 1e-3) * i as f64 / 100.0;
        let (l32, l64) = (s32.lambda(t as f32) as f64, s64.lambda(t));
        assert!(
            (l32 - l64).abs() < 2e-5 * l64.abs().max(1.0),
            "t={t}: {l32} vs {l64}"
        );
        let s = s32.sigma(t as f32) as f64;
        assert!(
            (s - s64.sigma(t)).abs() < 1e-6 * s64.sigma(t).max(1e-3),
            "sigma at {t}"
        );
    }
}
