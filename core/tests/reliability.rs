//! Issue 15, the core's share: every configuration either is refused with a clear error or
//! samples to a finite result, and no public helper overflows on caller input. Run in a debug
//! (overflow-checked) build by `.ci/test-core.sh` as well as in release.
#![cfg(feature = "rng")]

use dpm_solver::diffusers::{
    ConfigValue as V, Scheduler, SchedulerClass, SchedulerConfig, UniPCMultistepConfig,
    UniPCMultistepScheduler,
};
use dpm_solver::math::linspace_at;
use dpm_solver::*;

/// Runs a sampler to the end with `eps = 0.1 x` (a moderate, finite model).
fn run(sampler: &mut Sampler<'_, f32>) -> Result<()> {
    let mut out = vec![0.0f32; sampler.x().len()];
    while let Some(req) = sampler.ask() {
        assert!(
            req.t.is_finite()
                && req.t_model.is_finite()
                && req.sigma.is_finite()
                && req.x.iter().all(|v| v.is_finite()),
            "a request at a non-finite point"
        );
        for (o, &x) in out.iter_mut().zip(req.x) {
            *o = 0.1 * x;
        }
        sampler.tell(&out)?;
    }
    Ok(())
}

/// `Ok` only with a finite result.
#[cfg(feature = "checked")]
fn finite_or_error(result: Result<()>, x: &[f32], what: &str) {
    if result.is_ok() {
        assert!(
            x.iter().all(|v| v.is_finite()),
            "{what}: Ok with a non-finite x"
        );
    }
}

#[test]
fn scratch_len_never_overflows() {
    let cfg = Config::<f32> {
        order: usize::MAX,
        method: Method::Adaptive,
        ..Config::default()
    };
    assert_eq!(cfg.scratch_len(1 << 20), usize::MAX);
    assert!(matches!(
        cfg.checked_scratch_len(4),
        Err(Error::InvalidConfig(_))
    ));
    let cfg = Config::<f32> {
        order: 3,
        multistep_variant: MultistepVariant::FullOrder,
        ..Config::default()
    };
    assert_eq!(cfg.checked_scratch_len(10), Ok(40));
    assert!(cfg.checked_scratch_len(usize::MAX / 2).is_err());
    // The diffusers configs saturate too (solver_order is validated by `new`).
    for class in [
        "DPMSolverMultistepScheduler",
        "DPMSolverSinglestepScheduler",
        "UniPCMultistepScheduler",
        "DDIMScheduler",
    ] {
        let mut c = SchedulerConfig::new(SchedulerClass::from_name(class).unwrap());
        let _ = c.set("solver_order", V::Number(1e8));
        let _ = c.scratch_len(usize::MAX / 3);
    }
}

#[test]
fn linspace_grid_and_betas_past_the_end_give_the_end() {
    assert_eq!(linspace_at(0.0f64, 1.0, 5, 7), 1.0);
    assert_eq!(linspace_at(0.0f64, 1.0, 5, usize::MAX), 1.0);
    let b = Betas::Linear {
        start: 1e-4f32,
        end: 0.02,
        n: 1000,
    };
    assert_eq!(b.beta(1000), 0.02);
    assert_eq!(b.beta(usize::MAX), 0.02);
    let s = NoiseSchedule::linear_vp(0.1f64, 20.0).unwrap();
    let g = Grid::new(Spacing::TimeUniform, &s, 1.0, 1e-3, 10);
    assert_eq!(g.at(&s, 11), 1e-3);
}

#[test]
fn discrete_times_below_one_over_n_are_refused() {
    let mut table = ScheduleTable::<f32, 1000>::new();
    let schedule = table
        .from_betas(&Betas::Linear {
            start: 1e-4,
            end: 0.02,
            n: 1000,
        })
        .unwrap();
    for (t_start, t_end) in [(None, Some(1e-4f32)), (None, Some(0.0009))] {
        let mut x = [0.5f32; 4];
        let mut scratch = [0.0f32; 8];
        let cfg = Config {
            t_start,
            t_end,
            steps: 10,
            ..Config::default()
        };
        let err = Sampler::new(schedule, cfg, &mut x, &mut scratch).err();
        assert!(
            matches!(err, Some(Error::InvalidConfig(m)) if m.contains("1/N")),
            "{err:?}"
        );
    }
    // 1/N itself (the default) is accepted, and gives a finite result.
    let mut x = [0.5f32; 4];
    let mut scratch = [0.0f32; 8];
    let cfg = Config {
        t_end: Some(1e-3),
        steps: 10,
        ..Config::default()
    };
    let mut s = Sampler::new(schedule, cfg, &mut x, &mut scratch).unwrap();
    run(&mut s).unwrap();
    assert!(s.x().iter().all(|v| v.is_finite()));
    // Inversion starts at 1/N: below is refused too.
    let mut x = [0.5f32; 4];
    let mut scratch = [0.0f32; 8];
    let cfg = Config {
        t_start: Some(1e-5),
        direction: Direction::Invert,
        ..Config::default()
    };
    assert!(Sampler::new(schedule, cfg, &mut x, &mut scratch).is_err());
}

#[cfg(feature = "checked")]
#[test]
fn extreme_schedules_and_spacings_are_refused_or_finite() {
    // A huge continuous beta_1, a tiny Karras rho, every method.
    let methods = [
        (Method::Multistep, 1),
        (Method::Multistep, 2),
        (Method::Multistep, 3),
        (Method::Singlestep, 3),
        (Method::SinglestepFixed, 2),
        (Method::Adaptive, 3),
    ];
    let schedules = [
        NoiseSchedule::linear_vp(0.1f32, 1e30).unwrap(),
        NoiseSchedule::linear_vp(0.0f32, 3e38).unwrap(),
        NoiseSchedule::linear_vp(0.1f32, 20.0).unwrap(),
    ];
    let spacings = [
        Spacing::Karras { rho: 1e-45 },
        Spacing::Karras { rho: 1e-3 },
        Spacing::Karras { rho: 1e-20 },
        Spacing::Karras { rho: 1e30 },
        Spacing::Karras { rho: 3.4e38 },
        Spacing::LogSnr,
        Spacing::TimeUniform,
        Spacing::TimeQuadratic,
    ];
    for schedule in schedules {
        for (method, order) in methods {
            for spacing in spacings {
                for (algorithm, direction) in [
                    (Algorithm::DpmSolver, Direction::Sample),
                    (Algorithm::DpmSolverPp, Direction::Sample),
                    (Algorithm::DpmSolverPp, Direction::Invert),
                ] {
                    let mut x = [0.5f32, -1.0, 0.25, 2.0];
                    let mut scratch = [0.0f32; 16];
                    let cfg = Config {
                        method,
                        order,
                        algorithm,
                        spacing,
                        steps: 6,
                        direction,
                        ..Config::default()
                    };
                    let what = format!(
                        "{schedule:?} {method:?} {order} {spacing:?} {algorithm:?} {direction:?}"
                    );
                    let Ok(mut s) = Sampler::new(schedule, cfg, &mut x, &mut scratch) else {
                        continue;
                    };
                    let r = run(&mut s);
                    finite_or_error(r, s.x(), &what);
                    if let Err(e) = r {
                        assert!(
                            matches!(e, Error::Diverged { .. } | Error::StepLimit { .. }),
                            "{what}: {e}"
                        );
                        // Still usable: asking is None, telling says finished.
                        assert!(s.ask().is_none());
                        assert_eq!(s.tell(&[0.0; 4]), Err(Error::Finished));
                    }
                }
            }
        }
    }
}

#[cfg(feature = "checked")]
#[test]
fn betas_close_to_one_are_refused_or_finite() {
    let mut table = ScheduleTable::<f32, 1000>::new();
    let Ok(schedule) = table.from_betas(&Betas::Linear {
        start: 0.999,
        end: 0.9999999,
        n: 1000,
    }) else {
        return;
    };
    let mut x = [0.5f32; 4];
    let mut scratch = [0.0f32; 8];
    if let Ok(mut s) = Sampler::new(schedule, Config::default(), &mut x, &mut scratch) {
        let r = run(&mut s);
        finite_or_error(r, s.x(), "betas near 1");
    }
}

/// The error blames the solver (with the evaluation), not the model, when the model's output
/// was finite.
#[cfg(feature = "checked")]
#[test]
fn solver_made_nan_is_reported_as_diverged() {
    let schedule = NoiseSchedule::linear_vp(0.1f32, 20.0).unwrap();
    let mut x = [1e30f32; 4];
    let mut scratch = [0.0f32; 8];
    let cfg = Config {
        algorithm: Algorithm::DpmSolver,
        steps: 4,
        t_end: Some(1e-6),
        ..Config::default()
    };
    let mut s = Sampler::new(schedule, cfg, &mut x, &mut scratch).unwrap();
    let out = [3e38f32; 4];
    let mut last = Ok(None);
    while s.ask().is_some() {
        last = s.tell(&out);
        if last.is_err() {
            break;
        }
    }
    match last {
        Err(Error::Diverged { evaluation, cause }) => {
            assert!(evaluation >= 1 && !cause.is_empty());
            let msg = Error::Diverged { evaluation, cause }.to_string();
            assert!(msg.contains("solver-made NaN"), "{msg}");
        }
        other => assert!(s.x().iter().all(|v| v.is_finite()), "{other:?}"),
    }
}

fn run_scheduler(cfg: &SchedulerConfig<'_>, steps: usize) -> core::result::Result<Vec<f32>, Error> {
    let mut table = vec![0.0f32; cfg.train().num_train_timesteps.min(1 << 16)];
    let mut x = vec![0.5f32, -1.0, 0.25, 2.0];
    let mut scratch = vec![0.0f32; cfg.scratch_len(4).min(1 << 16)];
    let mut s = Scheduler::<f32, 256>::new(cfg, steps, &mut table, &mut x, &mut scratch)?;
    let mut out = [0.0f32; 4];
    let mut noise_rng = dpm_solver::rng::NoiseRng::new(1);
    let mut asked = 0;
    while let Some(req) = s.ask() {
        for (o, &v) in out.iter_mut().zip(req.x) {
            *o = 0.1 * v;
        }
        s.tell_rng(&out, &mut noise_rng)?;
        asked += 1;
    }
    assert!(asked >= 1, "a scheduler that ran no step reported success");
    let x = s.x().to_vec();
    assert!(x.iter().all(|v| v.is_finite()), "Ok with a non-finite x");
    Ok(x)
}

const CLASSES: [&str; 4] = [
    "DPMSolverMultistepScheduler",
    "DPMSolverSinglestepScheduler",
    "UniPCMultistepScheduler",
    "DDIMScheduler",
];

#[test]
fn diffusers_steps_offset_past_the_end_is_refused_for_every_scheduler() {
    for class in CLASSES {
        for spacing in ["leading", "linspace", "trailing"] {
            let mut c = SchedulerConfig::new(SchedulerClass::from_name(class).unwrap());
            c.set("timestep_spacing", V::Str(spacing)).unwrap();
            c.set("steps_offset", V::Number(5000.0)).unwrap();
            // linspace/trailing ignore steps_offset in diffusers: they must still run.
            let r = run_scheduler(&c, 10);
            // DPMSolverSinglestepScheduler always spaces by linspace (as diffusers does).
            if spacing == "leading" && class != "DPMSolverSinglestepScheduler" {
                let e = r.unwrap_err();
                assert!(e.to_string().contains("steps_offset"), "{class}: {e}");
            } else {
                r.unwrap_or_else(|e| panic!("{class} {spacing}: {e}"));
            }
        }
    }
}

#[test]
fn unipc_combinations_are_refused_or_finite() {
    for (lower, x0, order, fin) in [
        (false, true, 2, "zero"),
        (false, true, 3, "zero"),
        (true, false, 2, "zero"),
        (false, false, 2, "zero"),
        (false, true, 2, "sigma_min"),
        (true, false, 2, "sigma_min"),
        (false, false, 3, "sigma_min"),
    ] {
        for steps in [1, 2, 3, 5, 10, 20] {
            let mut c = SchedulerConfig::new(SchedulerClass::UniPCMultistep);
            c.set("lower_order_final", V::Bool(lower)).unwrap();
            c.set("predict_x0", V::Bool(x0)).unwrap();
            c.set("solver_order", V::Number(order as f64)).unwrap();
            c.set("final_sigmas_type", V::Str(fin)).unwrap();
            match run_scheduler(&c, steps) {
                Ok(_) => {}
                Err(Error::InvalidConfig(m)) => assert!(!m.is_empty()),
                Err(e) => panic!("lower {lower} x0 {x0} order {order} {fin} {steps}: {e}"),
            }
        }
    }
    // The default (lower_order_final, predict_x0, zero) keeps working.
    let cfg = UniPCMultistepConfig::default();
    let mut table = [0.0f32; 1000];
    let mut x = [0.5f32; 4];
    let mut scratch = [0.0f32; 16];
    let mut s = UniPCMultistepScheduler::<f32, 64>::new(&cfg, 10, &mut table, &mut x, &mut scratch)
        .unwrap();
    while let Some(req) = s.ask() {
        let out: Vec<f32> = req.x.iter().map(|v| 0.1 * v).collect();
        s.tell(&out).unwrap();
    }
    assert!(s.x().iter().all(|v| v.is_finite()));
}

#[test]
fn diffusers_extreme_betas_are_refused_or_finite() {
    for class in CLASSES {
        for (start, end) in [(0.999, 0.9999999), (1e-4, 0.9999999), (0.5, 0.99)] {
            for schedule in ["linear", "scaled_linear"] {
                let mut c = SchedulerConfig::new(SchedulerClass::from_name(class).unwrap());
                c.set("beta_start", V::Number(start)).unwrap();
                c.set("beta_end", V::Number(end)).unwrap();
                c.set("beta_schedule", V::Str(schedule)).unwrap();
                let _ = run_scheduler(&c, 10); // asserts finite on Ok
            }
        }
    }
}
