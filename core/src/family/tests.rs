//! The family's tests: each kind against the solver it wraps, bit for bit; the answer's checks;
//! that a solver borrows nothing.

use super::*;
use crate::diffusers::{ConfigValue, SchedulerClass};
use crate::sampler::Method;
use crate::schedule::{Betas, DiscreteVp};
use crate::spacing::Spacing;

const N: usize = 8;

/// A network whose output depends on `x` and `t`, two calls apart in value.
fn net(x: &[f32], t: f32, shift: f32, out: &mut [f32]) {
    for (i, (o, &v)) in out.iter_mut().zip(x).enumerate() {
        *o = 0.3 * v + 0.05 * (i as f32 + shift) * (1.0 + t);
    }
}

fn noise() -> Vec<f32> {
    let mut x = vec![0.0f32; N];
    NoiseRng::new(7).fill_gaussian(&mut x);
    x
}

fn ddpm(table: &mut [f32]) -> NoiseSchedule<'_, f32> {
    let betas = Betas::Linear {
        start: 1e-4,
        end: 0.02,
        n: 1000,
    };
    NoiseSchedule::Discrete(DiscreteVp::from_betas(&betas, table).unwrap())
}

/// The family over the DPM-Solver sampler gives the sampler's own bits, guided or not,
/// for each method; its preview is the data prediction of the combined output.
#[test]
fn dpm_matches_the_sampler_bit_for_bit() {
    let custom = [1.0f32, 0.7, 0.4, 0.2, 0.05, 1e-3];
    let methods = [
        Some(Method::Multistep),
        cfg!(feature = "singlestep").then_some(Method::Singlestep),
        cfg!(feature = "adaptive").then_some(Method::Adaptive),
    ];
    for method in methods.into_iter().flatten() {
        for scale in [None, Some(2.5f32)] {
            for spacing in [Spacing::LogSnr, Spacing::Custom(&custom)] {
                if method == Method::Adaptive && matches!(spacing, Spacing::Custom(_)) {
                    continue;
                }
                let config = Config {
                    method,
                    order: 2,
                    steps: 5,
                    spacing,
                    batch: 2,
                    guidance: scale
                        .map_or(Guidance::None, |s| Guidance::ClassifierFree { scale: s }),
                    ..Config::default()
                };
                let mut t1 = vec![0.0f32; 1000];
                let mut family = {
                    // The family keeps copies: the table and times may go.
                    let mut t2 = vec![0.0f32; 1000];
                    let times = custom.to_vec();
                    let c = Config {
                        spacing: match spacing {
                            Spacing::Custom(_) => Spacing::Custom(&times),
                            s => s,
                        },
                        ..config
                    };
                    Solver::dpm(ddpm(&mut t2), c, noise()).unwrap()
                };
                family.set_preview(true);
                let (mut x, mut scratch) = (noise(), vec![0.0; config.scratch_len(N)]);
                let mut s = Sampler::new(ddpm(&mut t1), config, &mut x, &mut scratch).unwrap();
                let (mut c, mut u) = ([0.0f32; N], [0.0f32; N]);
                while let Some(r) = s.ask() {
                    let f = family.ask().unwrap();
                    assert_eq!((f.x, f.t_model, f.index), (r.x, r.t_model, r.index));
                    assert_eq!(f.timestep, None);
                    net(r.x, r.t, 0.0, &mut c);
                    net(r.x, r.t, 1.0, &mut u);
                    let (a, b) = conversion(Prediction::Noise, Target::Data, r.alpha, r.sigma);
                    let want: Vec<f32> = match scale {
                        Some(g) => (0..N)
                            .map(|i| a * r.x[i] + b * classifier_free(c[i], u[i], g))
                            .collect(),
                        None => (0..N).map(|i| a * r.x[i] + b * c[i]).collect(),
                    };
                    let (got, expect) = match scale {
                        Some(_) => (family.tell_cfg(&c, &u), s.tell_cfg(&c, &u)),
                        None => (family.tell(&c), s.tell(&c)),
                    };
                    assert_eq!(got.unwrap(), expect.unwrap());
                    assert_eq!(family.preview().unwrap(), &want[..]);
                }
                assert!(family.is_done());
                assert_eq!(family.stats(), s.stats());
                assert_eq!(family.sampler().unwrap().config().guidance, config.guidance);
                let x_s = s.x().to_vec();
                assert_eq!(family.into_x(), x_s, "{method:?} {scale:?}");
            }
        }
    }
}

/// Over a diffusers scheduler: the scheduler's own bits, its timesteps in the requests,
/// guidance combined as diffusers' pipelines do, an SDE variant's noise from image `i`'s
/// stream.
#[test]
fn diffusers_matches_the_scheduler_bit_for_bit() {
    let sde = "sde-dpmsolver++";
    for (class, algorithm) in [
        (SchedulerClass::UniPCMultistep, None),
        (SchedulerClass::DPMSolverMultistep, Some(sde)),
        (SchedulerClass::DDIM, None),
    ] {
        for scale in [None, Some(3.0f32)] {
            let mut config = SchedulerConfig::new(class);
            if let Some(a) = algorithm {
                config.set("algorithm_type", ConfigValue::Str(a)).unwrap();
            }
            config.set_batch(2);
            let mut family = Solver::diffusers(&config, 6, noise(), 2, scale, 11, 3).unwrap();
            let mut table = vec![0.0f32; 1000];
            let (mut x, mut scratch) = (noise(), vec![0.0; config.scratch_len(N)]);
            let mut s = Scheduler::<f32, MAX_SCHEDULER_STEPS>::new(
                &config,
                6,
                &mut table,
                &mut x,
                &mut scratch,
            )
            .unwrap();
            let mut rngs = [NoiseRng::with_stream(11, 3), NoiseRng::with_stream(11, 4)];
            let (mut c, mut u, mut z) = ([0.0f32; N], [0.0f32; N], [0.0f32; N]);
            while let Some(r) = s.ask() {
                let f = family.ask().unwrap();
                assert_eq!(f.x, r.x);
                assert_eq!(f.timestep, Some(r.time));
                assert_eq!(f.index, r.step_index);
                net(r.x, r.time, 0.0, &mut c);
                net(r.x, r.time, 1.0, &mut u);
                let out: Vec<f32> = match scale {
                    Some(g) => (0..N).map(|i| classifier_free(c[i], u[i], g)).collect(),
                    None => c.to_vec(),
                };
                let report = match scale {
                    Some(_) => family.tell_cfg(&c, &u),
                    None => family.tell(&c),
                };
                assert_eq!(report.unwrap().unwrap().nfe, r.step_index + 1);
                if algorithm.is_some() {
                    for (rng, half) in rngs.iter_mut().zip(z.chunks_mut(N / 2)) {
                        rng.fill_gaussian(half);
                    }
                    s.tell_noise(&out, &z).unwrap();
                } else {
                    s.tell(&out).unwrap();
                }
                assert_eq!(family.x(), s.x());
            }
            assert!(family.is_done());
            assert_eq!(family.scheduler().unwrap().timesteps(), s.timesteps());
        }
    }
}

/// The answer must match the guidance configured, and an input checked before anything
/// moves; a finished run refuses more.
#[test]
fn refuses_a_mismatched_or_bad_answer() {
    let mut table = vec![0.0f32; 1000];
    let cfg = Config {
        steps: 2,
        guidance: Guidance::ClassifierFree { scale: 2.0 },
        ..Config::default()
    };
    let mut f = Solver::dpm(ddpm(&mut table), cfg, noise()).unwrap();
    let out = [0.1f32; N];
    assert!(matches!(
        f.tell(&out),
        Err(Error::GuidanceMismatch {
            configured: "classifier-free",
            called: "tell"
        })
    ));
    let mut bad = out;
    bad[3] = f32::NAN;
    assert!(matches!(
        f.tell_cfg(&out, &bad),
        Err(Error::NonFinite {
            buffer: Buffer::Unconditional,
            index: 3
        })
    ));
    assert!(matches!(
        f.tell_cfg(&out, &out[..4]),
        Err(Error::LengthMismatch { .. })
    ));
    f.set_preview(true);
    let mut nan = out;
    nan[0] = f32::NAN;
    let mut plain = Solver::dpm(
        ddpm(&mut table),
        Config {
            steps: 2,
            ..Config::default()
        },
        noise(),
    )
    .unwrap();
    plain.set_preview(true);
    assert!(plain.tell(&nan).is_err());
    assert!(
        plain.preview().is_none(),
        "a refused output gives no preview"
    );
    plain.tell(&out).unwrap();
    assert!(plain.preview().is_some());
    assert_eq!(f.nfe(), 0);
    while f.ask().is_some() {
        f.tell_cfg(&out, &out).unwrap();
    }
    assert!(matches!(f.tell_cfg(&out, &out), Err(Error::Finished)));
    let c = SchedulerConfig::new(SchedulerClass::DDIM);
    let mut d = Solver::diffusers(&c, 3, noise(), 1, None, 0, 0).unwrap();
    assert!(matches!(
        d.tell_classifier(&out, &out),
        Err(Error::GuidanceMismatch {
            called: "tell_classifier",
            ..
        })
    ));
    assert!(Solver::diffusers(&c, 3, noise(), 1, Some(f32::NAN), 0, 0).is_err());
}

/// A solver built from short-lived lists borrows nothing.
#[test]
fn owns_everything() {
    fn owns<S: 'static>(_: &S) {}
    let f = {
        let mut table = vec![0.0f32; 1000];
        let times = vec![1.0f32, 0.5, 1e-3];
        let c = Config {
            steps: 2,
            spacing: Spacing::Custom(&times),
            ..Config::default()
        };
        Solver::dpm(ddpm(&mut table), c, noise()).unwrap()
    };
    owns(&f);
    assert_eq!(f.time_range(), (1.0, 1e-3));
}
