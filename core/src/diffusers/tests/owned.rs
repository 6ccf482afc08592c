//! The owned forms: a scheduler built by `with_buffers` over `Vec`s from a configuration whose
//! lists are gone runs bit for bit as the borrowed one, and `OwnedSchedulerConfig` (feature
//! `alloc`) sets every key as `SchedulerConfig` does.

use super::*;
use std::vec;
use std::vec::Vec;

const MAX: usize = 64;

/// A stand-in network: a fixed function of the sample and the (float) timestep.
fn model(x: &[f32], time: f32, out: &mut [f32]) {
    for (j, (o, v)) in out.iter_mut().zip(x).enumerate() {
        *o = 0.3 * v - 0.05 * (j as f32) + 1e-4 * time;
    }
}

/// Deterministic "Gaussian" noise of step `i`.
fn noise(i: usize, out: &mut [f32]) {
    for (j, o) in out.iter_mut().enumerate() {
        *o = libm::sinf((7 * i + 3 * j) as f32 + 0.5) * 1.3;
    }
}

/// Everything a run exposes: timesteps, times, sigmas, alphas_cumprod, then the sample and
/// the order after every step (as bits, so the comparison is bit for bit).
#[derive(Debug, PartialEq)]
struct Trace {
    timesteps: Vec<i64>,
    times: Vec<u32>,
    sigmas: Vec<u32>,
    alphas: Vec<u32>,
    steps: Vec<(usize, Vec<u32>)>,
}

fn bits(v: impl IntoIterator<Item = f32>) -> Vec<u32> {
    v.into_iter().map(f32::to_bits).collect()
}

fn run<A, B>(s: &mut Scheduler<'_, f32, MAX, A, B>) -> Trace
where
    A: AsRef<[f32]> + AsMut<[f32]>,
    B: AsRef<[f32]> + AsMut<[f32]>,
{
    let mut t = Trace {
        timesteps: s.timesteps().to_vec(),
        times: bits(s.times().iter().copied()),
        sigmas: bits(s.sigmas_with_final()),
        alphas: bits(s.alphas_cumprod().iter().copied()),
        steps: Vec::new(),
    };
    let n = s.x().len();
    let (mut out, mut z) = (vec![0.0; n], vec![0.0; n]);
    while let Some(r) = s.ask() {
        model(r.x, r.time, &mut out);
        noise(r.step_index, &mut z);
        s.tell_noise(&out, &z).unwrap();
        t.steps.push((s.last_order(), bits(s.x().iter().copied())));
    }
    t
}

/// Compile-time check: `S` holds no borrow.
fn owns<S: 'static>(_: &S) {}

/// One configuration of `class` from `keys`; `betas`/`skip` are the lists a key may name.
fn config<'b>(
    class: SchedulerClass,
    keys: &[(&str, ConfigValue<'_, 'b>)],
    batch: usize,
) -> SchedulerConfig<'b> {
    let mut c = SchedulerConfig::new(class);
    for (k, v) in keys {
        assert_eq!(c.set(k, *v), Ok(KeyUse::Applied), "{k}");
    }
    c.set_batch(batch);
    c
}

/// The owned scheduler (`mu` for `set_timesteps`) from copies of the lists, dropped before it
/// runs: its trace and its final `x` (`into_x`).
fn owned_trace(
    class: SchedulerClass,
    keys: &[(&str, ConfigValue<'_, '_>)],
    batch: usize,
    mu: Option<f64>,
    x0: &[f32],
    steps: usize,
) -> (Trace, Vec<f32>) {
    let mut s = {
        // Private copies of the lists, dropped at the end of this block.
        let lists: Vec<(Vec<f32>, Vec<usize>)> = keys
            .iter()
            .map(|(_, v)| match v {
                ConfigValue::Floats(b) => (b.to_vec(), Vec::new()),
                ConfigValue::Indices(i) => (Vec::new(), i.to_vec()),
                _ => (Vec::new(), Vec::new()),
            })
            .collect();
        let keys: Vec<(&str, ConfigValue<'_, '_>)> = keys
            .iter()
            .zip(&lists)
            .map(|((k, v), (b, i))| {
                let v = match v {
                    ConfigValue::Floats(_) => ConfigValue::Floats(b),
                    ConfigValue::Indices(_) => ConfigValue::Indices(i),
                    v => *v,
                };
                (*k, v)
            })
            .collect();
        let mut cfg = config(class, &keys, batch);
        cfg.set_mu(mu);
        let scratch = vec![0.0f32; cfg.scratch_len(x0.len())];
        let table = vec![0.0f32; cfg.train().num_train_timesteps];
        Scheduler::<'static, f32, MAX, Vec<f32>, Vec<f32>>::with_buffers(
            &cfg,
            steps,
            table,
            x0.to_vec(),
            scratch,
        )
        .unwrap()
    };
    owns(&s);
    let trace = run(&mut s);
    (trace, s.into_x())
}

/// A class, its keys and its batch.
type Case<'b> = (
    SchedulerClass,
    Vec<(&'static str, ConfigValue<'static, 'b>)>,
    usize,
);

/// The cases: every class, with trained betas, disable_corrector, an SDE variant (noise),
/// thresholding, Karras and flow sigmas.
fn cases<'b>(betas: &'b [f32], skip: &'b [usize]) -> Vec<Case<'b>> {
    use ConfigValue::{Bool, Floats, Indices, Number, Str};
    use SchedulerClass::*;
    vec![
        (DPMSolverMultistep, vec![], 1),
        (
            DPMSolverMultistep,
            vec![
                ("solver_order", Number(3.0)),
                ("trained_betas", Floats(betas)),
                ("thresholding", Bool(true)),
                ("dynamic_thresholding_ratio", Number(0.9)),
                ("sample_max_value", Number(1.2)),
            ],
            2,
        ),
        (
            DPMSolverMultistep,
            vec![
                ("algorithm_type", Str("sde-dpmsolver++")),
                ("use_karras_sigmas", Bool(true)),
                ("beta_schedule", Str("scaled_linear")),
            ],
            1,
        ),
        (
            DPMSolverMultistep,
            vec![
                ("use_flow_sigmas", Bool(true)),
                ("prediction_type", Str("flow_prediction")),
                ("flow_shift", Number(3.0)),
            ],
            1,
        ),
        (
            DPMSolverSinglestep,
            vec![
                ("solver_order", Number(3.0)),
                ("trained_betas", Floats(betas)),
                ("prediction_type", Str("v_prediction")),
            ],
            1,
        ),
        (
            DPMSolverSinglestep,
            vec![("algorithm_type", Str("sde-dpmsolver++"))],
            1,
        ),
        (
            UniPCMultistep,
            vec![
                ("solver_order", Number(3.0)),
                ("solver_type", Str("bh1")),
                ("disable_corrector", Indices(skip)),
                ("trained_betas", Floats(betas)),
            ],
            1,
        ),
        (
            UniPCMultistep,
            vec![
                ("use_flow_sigmas", Bool(true)),
                ("prediction_type", Str("flow_prediction")),
                ("flow_shift", Number(2.0)),
                ("thresholding", Bool(true)),
            ],
            2,
        ),
        (DDIM, vec![], 1),
        (
            DDIM,
            vec![
                ("trained_betas", Floats(betas)),
                ("thresholding", Bool(true)),
                ("prediction_type", Str("v_prediction")),
                ("rescale_betas_zero_snr", Bool(true)),
                ("timestep_spacing", Str("trailing")),
            ],
            2,
        ),
        (FlowMatchEulerDiscrete, vec![("shift", Number(3.0))], 1),
        (
            FlowMatchEulerDiscrete,
            vec![
                ("stochastic_sampling", Bool(true)),
                ("use_dynamic_shifting", Bool(true)),
                ("time_shift_type", Str("linear")),
            ],
            1,
        ),
    ]
}

#[test]
fn owned_schedulers_match_the_borrowed_ones_bit_for_bit() {
    let betas: Vec<f32> = (0..1000).map(|i| 1e-4 + 2e-5 * i as f32).collect();
    let skip = [0usize, 2, 5, 1000];
    let x0: Vec<f32> = (0..8).map(|j| libm::sinf(j as f32) * 1.5).collect();
    let mut seen = [false; 5];
    for (class, keys, batch) in cases(&betas, &skip) {
        let mut cfg = config(class, &keys, batch);
        // `set_timesteps(mu=...)` where dynamic shifting asks for it.
        let dynamic = keys.iter().any(|(k, _)| *k == "use_dynamic_shifting");
        let mu = dynamic.then_some(0.8);
        cfg.set_mu(mu);
        for steps in [1, 7, 12] {
            let mut table = vec![0.0f32; 1000];
            let mut x = x0.clone();
            let mut scratch = vec![0.0f32; cfg.scratch_len(x.len())];
            let mut b =
                Scheduler::<f32, MAX>::new(&cfg, steps, &mut table, &mut x, &mut scratch).unwrap();
            let borrowed = run(&mut b);
            let (owned, x_owned) = owned_trace(class, &keys, batch, mu, &x0, steps);
            let what = format!("{} {keys:?} steps {steps}", class.name());
            assert_eq!(borrowed.steps.len(), steps, "{what}");
            assert_eq!(borrowed, owned, "{what}");
            assert_eq!(bits(x_owned), bits(x.iter().copied()), "{what}");
            seen[class as usize] = true;
        }
    }
    assert_eq!(seen, [true; 5]);
}

#[test]
fn direct_types_take_any_storage_and_hand_it_back() {
    let x0 = [0.7f32, -1.2, 0.3, 2.1, -0.4, 0.05, 1.0, -0.6];
    let c = UniPCMultistepConfig {
        solver_order: 3,
        disable_corrector: &[1],
        ..Default::default()
    };
    let (mut table, mut x) = ([0.0f32; 1000], x0);
    let mut scratch = vec![0.0f32; c.scratch_len(8)];
    let mut b =
        UniPCMultistepScheduler::<f32, MAX>::new(&c, 6, &mut table, &mut x, &mut scratch).unwrap();
    let mut out = [0.0f32; 8];
    while let Some(r) = b.ask() {
        model(r.x, r.time, &mut out);
        b.tell(&out).unwrap();
    }
    let alphas = b.alphas_cumprod().to_vec();
    // Arrays for the sample, a boxed slice for the table, a Vec for the scratch: B is one type
    // for x and scratch, so the scratch is an array too here.
    let o = UniPCMultistepScheduler::<f32, MAX, std::boxed::Box<[f32]>, [f32; 40]>::with_buffers(
        &c,
        6,
        vec![0.0f32; 1000].into_boxed_slice(),
        {
            let mut a = [0.0f32; 40];
            a[..8].copy_from_slice(&x0);
            a
        },
        [0.0f32; 40],
    );
    // x is the whole array: 40 elements, so the scratch (40) is too short for 5 * 40.
    assert!(matches!(
        o,
        Err(Error::LengthMismatch {
            buffer: Buffer::Scratch,
            ..
        })
    ));
    let mut o = UniPCMultistepScheduler::<f32, MAX, Vec<f32>, Vec<f32>>::with_buffers(
        &c,
        6,
        vec![0.0; 1000],
        x0.to_vec(),
        vec![0.0; c.scratch_len(8)],
    )
    .unwrap();
    owns(&o);
    while let Some(r) = o.ask() {
        model(r.x, r.time, &mut out);
        o.tell(&out).unwrap();
    }
    let (t, xo, s) = o.into_buffers();
    assert_eq!(bits(t), bits(alphas));
    assert_eq!(bits(xo), bits(x));
    assert_eq!(s.len(), c.scratch_len(8));

    // FlowMatchEuler: no table, no scratch; `into_x`.
    let fc = FlowMatchEulerDiscreteConfig {
        shift: 3.0,
        ..Default::default()
    };
    let mut xb = x0;
    let mut fb = FlowMatchEulerDiscreteScheduler::<f32, MAX>::new(&fc, 5, &mut xb).unwrap();
    let mut fo =
        FlowMatchEulerDiscreteScheduler::<f32, MAX, [f32; 8]>::with_buffers(&fc, 5, x0).unwrap();
    owns(&fo);
    while let Some(r) = fb.ask() {
        model(r.x, r.time, &mut out);
        fb.tell(&out).unwrap();
        let r = fo.ask().unwrap();
        model(r.x, r.time, &mut out);
        fo.tell(&out).unwrap();
    }
    assert!(fo.ask().is_none());
    assert_eq!(bits(fo.into_x()), bits(xb));
}

/// The `disable_corrector` mask acts exactly on the listed steps: an index past the steps
/// changes nothing, one inside them changes the result.
#[test]
fn disable_corrector_mask_applies_inside_the_steps_only() {
    let x0 = [0.7f32, -1.2, 0.3, 2.1];
    let final_x = |skip: &[usize]| {
        let c = UniPCMultistepConfig {
            disable_corrector: skip,
            ..Default::default()
        };
        let mut s = UniPCMultistepScheduler::<f32, 8, Vec<f32>, Vec<f32>>::with_buffers(
            &c,
            8,
            vec![0.0; 1000],
            x0.to_vec(),
            vec![0.0; c.scratch_len(4)],
        )
        .unwrap();
        let mut out = [0.0f32; 4];
        while let Some(r) = s.ask() {
            model(r.x, r.time, &mut out);
            s.tell(&out).unwrap();
        }
        bits(s.into_x())
    };
    let none = final_x(&[]);
    assert_eq!(final_x(&[8, 9, usize::MAX]), none);
    // Step 7 is the last: its output is never corrected (no step after it). Step 6's output
    // is corrected at step 7, whose update to sigma 0 (`final_sigmas_type` zero) keeps
    // `sigma_t / sigma_s = 0` times the corrected sample: no effect either.
    assert_eq!(final_x(&[7]), none);
    assert_eq!(final_x(&[6]), none);
    for i in 0..6 {
        assert_ne!(final_x(&[i]), none, "disable_corrector [{i}]");
    }
}

#[cfg(feature = "alloc")]
mod config {
    use super::super::*;
    use std::vec;
    use std::vec::Vec;

    /// Every key `set` knows (and a few it ignores) with values of every kind, valid or not.
    fn values<'b>(
        betas: &'b [f32],
        other: &'b [f32],
        skip: &'b [usize],
    ) -> Vec<ConfigValue<'static, 'b>> {
        use ConfigValue::*;
        vec![
            Null,
            Bool(true),
            Bool(false),
            Number(0.0),
            Number(1.0),
            Number(3.0),
            Number(0.5),
            Number(-2.0),
            Number(1000.0),
            Str("scaled_linear"),
            Str("squaredcos_cap_v2"),
            Str("sde-dpmsolver++"),
            Str("v_prediction"),
            Str("heun"),
            Str("bh1"),
            Str("sigma_min"),
            Str("trailing"),
            Str("linear"),
            Str("nonsense"),
            Floats(betas),
            Floats(other),
            Indices(skip),
            Indices(&[]),
            Other,
        ]
    }

    const KEYS: &[&str] = &[
        "num_train_timesteps",
        "beta_start",
        "beta_end",
        "beta_schedule",
        "trained_betas",
        "rescale_betas_zero_snr",
        "solver_order",
        "prediction_type",
        "thresholding",
        "dynamic_thresholding_ratio",
        "sample_max_value",
        "algorithm_type",
        "solver_type",
        "lower_order_final",
        "euler_at_final",
        "use_karras_sigmas",
        "final_sigmas_type",
        "lambda_min_clipped",
        "timestep_spacing",
        "steps_offset",
        "predict_x0",
        "disable_corrector",
        "clip_sample",
        "clip_sample_range",
        "set_alpha_to_one",
        "eta",
        "use_exponential_sigmas",
        "use_beta_sigmas",
        "use_lu_lambdas",
        "variance_type",
        "solver_p",
        "use_flow_sigmas",
        "flow_shift",
        "use_dynamic_shifting",
        "time_shift_type",
        "shift_terminal",
        "shift",
        "invert_sigmas",
        "stochastic_sampling",
        "base_shift",
        "max_shift",
        "base_image_seq_len",
        "max_image_seq_len",
        "_class_name",
        "skip_prk_steps",
    ];

    #[test]
    fn owned_config_sets_every_key_as_the_borrowed_one() {
        let betas: Vec<f32> = (0..1000).map(|i| 1e-4 + 2e-5 * i as f32).collect();
        let other = [0.01f32; 10];
        let skip = [0usize, 3, 1000];
        let values = values(&betas, &other, &skip);
        let (mut applied, mut failed) = (0, 0);
        for class in SchedulerClass::ALL {
            let mut b = SchedulerConfig::new(class);
            let mut o = OwnedSchedulerConfig::new(class);
            assert_eq!(o.view(), b);
            // Every key with every value, in sequence (so lists set earlier meet later keys).
            for key in KEYS {
                for v in &values {
                    let rb = b.set(key, *v);
                    // The owned config gets a copy of the list, dropped right after.
                    let copy: (Vec<f32>, Vec<usize>) = match v {
                        ConfigValue::Floats(f) => (f.to_vec(), Vec::new()),
                        ConfigValue::Indices(i) => (Vec::new(), i.to_vec()),
                        _ => (Vec::new(), Vec::new()),
                    };
                    let vo = match v {
                        ConfigValue::Floats(_) => ConfigValue::Floats(&copy.0),
                        ConfigValue::Indices(_) => ConfigValue::Indices(&copy.1),
                        v => *v,
                    };
                    let ro = o.set(key, vo);
                    drop(copy);
                    assert_eq!(ro, rb, "{} {key} = {v:?}", class.name());
                    assert_eq!(o.view(), b, "{} {key} = {v:?}", class.name());
                    match rb {
                        Ok(KeyUse::Applied) => applied += 1,
                        Err(_) => failed += 1,
                        Ok(KeyUse::Ignored) => {}
                    }
                }
                // And back to the default, then the first valid value, as a JSON would.
                assert_eq!(o.set(key, ConfigValue::Null), b.set(key, ConfigValue::Null));
                assert_eq!(o.view(), b);
            }
            // From a borrowed config; the setters that are not keys.
            assert_eq!(OwnedSchedulerConfig::from_config(&b).view(), b);
            assert_eq!(
                OwnedSchedulerConfig::from(&b),
                OwnedSchedulerConfig::from_config(&b)
            );
            assert_eq!(o.class(), class);
            o.set_batch(4);
            b.set_batch(4);
            o.set_mu(Some(0.7));
            b.set_mu(Some(0.7));
            assert_eq!(o.view(), b);
            let train = TrainConfig {
                num_train_timesteps: 10,
                beta_schedule: BetaSchedule::Trained(&other),
                ..Default::default()
            };
            o.set_train(&train);
            *b.train_mut() = train;
            assert_eq!(o.view(), b);
            let train = TrainConfig::default();
            o.set_train(&train);
            *b.train_mut() = train;
            assert_eq!(o.view(), b);
        }
        // The sequence exercised both outcomes (and the owned config's own lists).
        assert!(
            applied > 200 && failed > 100,
            "{applied} applied, {failed} failed"
        );
    }

    #[test]
    fn owned_config_keeps_its_lists() {
        let mut o = OwnedSchedulerConfig::new(SchedulerClass::UniPCMultistep);
        {
            let betas = vec![0.02f32; 1000];
            let skip = vec![1usize, 4];
            o.set("trained_betas", ConfigValue::Floats(&betas)).unwrap();
            o.set("disable_corrector", ConfigValue::Indices(&skip))
                .unwrap();
            o.set("beta_schedule", ConfigValue::Str("linear")).unwrap();
        }
        let SchedulerConfig::UniPCMultistep(c) = o.view() else {
            panic!("class changed")
        };
        assert_eq!(c.disable_corrector, &[1, 4]);
        assert_eq!(c.train.beta_schedule, BetaSchedule::Trained(&[0.02; 1000]));
        o.set("trained_betas", ConfigValue::Null).unwrap();
        assert_eq!(o.view().train().beta_schedule, BetaSchedule::Linear);
        // A clone is equal and independent.
        let p = o.clone();
        o.set("disable_corrector", ConfigValue::Indices(&[2]))
            .unwrap();
        assert_ne!(p, o);
        assert_eq!(p, OwnedSchedulerConfig::from_config(&p.view()));
    }
}
