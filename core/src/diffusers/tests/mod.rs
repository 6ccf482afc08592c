//! Unit tests of the diffusers layer (the parity suite is `tests/tests/diffusers_parity.rs`);
//! the statistical test of `sde-dpmsolver++` (feature `rng`) is in `sde.rs`, the mixture model
//! it and the convergence test sample in `mixture.rs`.

#![allow(clippy::needless_range_loop)] // index arithmetic over tiny fixed arrays reads clearer

extern crate std;

mod mixture;
mod owned;
#[cfg(feature = "rng")]
mod sde;

use super::*;
use crate::{Buffer, Error};
use mixture::Mixture;
use std::vec;
use std::vec::Vec;

/// diffusers' `get_order_list`, transcribed literally for comparison.
fn order_list_reference(order: usize, steps: usize, lower: bool, zero: bool) -> Vec<usize> {
    let rep = |p: &[usize], k: usize| -> Vec<usize> {
        p.iter().copied().cycle().take(p.len() * k).collect()
    };
    let mut o: Vec<usize> = if lower {
        match order {
            3 => match steps % 3 {
                0 => [rep(&[1, 2, 3], steps / 3 - 1), vec![1, 2, 1]].concat(),
                1 => [rep(&[1, 2, 3], steps / 3), vec![1]].concat(),
                _ => [rep(&[1, 2, 3], steps / 3), vec![1, 2]].concat(),
            },
            2 => match steps % 2 {
                0 => [rep(&[1, 2], steps / 2 - 1), vec![1, 1]].concat(),
                _ => [rep(&[1, 2], steps / 2), vec![1]].concat(),
            },
            _ => vec![1; steps],
        }
    } else {
        match order {
            3 => rep(&[1, 2, 3], steps / 3),
            2 => rep(&[1, 2], steps / 2),
            _ => vec![1; steps],
        }
    };
    if zero {
        if let Some(l) = o.last_mut() {
            *l = 1;
        }
    }
    o
}

#[test]
fn singlestep_order_list_matches_diffusers() {
    for order in 1..=3 {
        for steps in 3..40 {
            for (lower, zero) in [(false, false), (true, false), (true, true), (false, true)] {
                let c = DPMSolverSinglestepConfig {
                    solver_order: order,
                    lower_order_final: lower,
                    final_sigmas_type: if zero {
                        FinalSigmasType::Zero
                    } else {
                        FinalSigmasType::SigmaMin
                    },
                    ..Default::default()
                };
                let (mut table, mut x, mut scratch) =
                    (vec![0f32; 1000], vec![0.1f64; 2], vec![0f64; 16]);
                let s = DPMSolverSinglestepScheduler::<f64, 64>::new(
                    &c,
                    steps,
                    &mut table,
                    &mut x,
                    &mut scratch,
                )
                .unwrap();
                // diffusers forces lower_order_final where steps % order != 0 or zero final.
                let forced = lower || steps % order != 0 || zero;
                let want = order_list_reference(order, steps, forced, zero);
                let got: Vec<usize> = (0..steps).map(|i| s.order_at(i)).collect();
                assert_eq!(
                    got, want,
                    "order {order} steps {steps} lower {lower} zero {zero}"
                );
            }
        }
    }
}

#[test]
fn numpy_rounding_and_spacings() {
    assert_eq!(round_half_even(2.5), 2.0);
    assert_eq!(round_half_even(3.5), 4.0);
    assert_eq!(round_half_even(-0.5), -0.0);
    assert_eq!(round_half_even(1.4999999), 1.0);
    assert_eq!(round_half_even(-1.5), -2.0);
    assert_eq!(round_half_even(-2.5), -2.0);
    assert_eq!(
        round_half_even(2_251_799_813_685_248.5),
        2_251_799_813_685_248.0
    );
    assert_eq!(
        round_half_even(2_251_799_813_685_249.5),
        2_251_799_813_685_250.0
    );
    assert_eq!(
        round_half_even(9_007_199_254_740_993.0),
        9_007_199_254_740_992.0
    );
    assert!(round_half_even(f64::NAN).is_nan());
    assert_eq!(round_half_even(f64::INFINITY), f64::INFINITY);
    let c = DDIMConfig {
        timestep_spacing: TimestepSpacing::Leading,
        steps_offset: 1,
        ..Default::default()
    };
    let (mut table, mut x, mut scratch) = (vec![0f32; 1000], vec![0.0f32; 4], vec![0f32; 8]);
    let s = DDIMScheduler::<f32, 64>::new(&c, 50, &mut table, &mut x, &mut scratch).unwrap();
    assert_eq!(s.timesteps()[0], 981);
    assert_eq!(s.timesteps()[49], 1);
}

#[test]
fn diffusers_config_adjustments_and_errors() {
    let mut table = vec![0f32; 1000];
    let mut x = vec![0.5f32; 4];
    let mut scratch = vec![0f32; 64];
    // final_sigmas_type zero is rejected for dpmsolver.
    let c = DPMSolverMultistepConfig {
        algorithm_type: AlgorithmType::DpmSolver,
        final_sigmas_type: FinalSigmasType::Zero,
        ..Default::default()
    };
    let e = DPMSolverMultistepScheduler::<f32, 64>::new(&c, 10, &mut table, &mut x, &mut scratch);
    assert!(matches!(e, Err(Error::InvalidConfig(_))));
    // Too small a scratch buffer.
    let c = DPMSolverMultistepConfig::default();
    let mut small = vec![0f32; 3];
    let e = DPMSolverMultistepScheduler::<f32, 64>::new(&c, 10, &mut table, &mut x, &mut small);
    assert!(matches!(
        e,
        Err(Error::LengthMismatch {
            buffer: Buffer::Scratch,
            ..
        })
    ));
    // More steps than MAX_STEPS.
    let e = DPMSolverMultistepScheduler::<f32, 8>::new(&c, 10, &mut table, &mut x, &mut scratch);
    assert!(matches!(e, Err(Error::InvalidConfig(_))));
    // Non-finite output, wrong length, telling after the end.
    let mut s =
        DPMSolverMultistepScheduler::<f32, 64>::new(&c, 2, &mut table, &mut x, &mut scratch)
            .unwrap();
    assert!(matches!(
        s.tell(&[0.0, f32::NAN, 0.0, 0.0]),
        Err(Error::NonFinite {
            buffer: Buffer::ModelOutput,
            index: 1
        })
    ));
    assert!(matches!(
        s.tell(&[0.0; 3]),
        Err(Error::LengthMismatch { .. })
    ));
    s.tell(&[0.1; 4]).unwrap();
    s.tell(&[0.1; 4]).unwrap();
    assert!(s.ask().is_none());
    assert_eq!(s.tell(&[0.1; 4]), Err(Error::Finished));
    // The SDE variant refuses a noiseless tell.
    let c = DPMSolverMultistepConfig {
        algorithm_type: AlgorithmType::SdeDpmSolverPlusPlus,
        ..Default::default()
    };
    let mut s =
        DPMSolverMultistepScheduler::<f32, 64>::new(&c, 4, &mut table, &mut x, &mut scratch)
            .unwrap();
    assert!(matches!(s.tell(&[0.1; 4]), Err(Error::InvalidConfig(_))));
    // Trained betas of the wrong length.
    let betas = [0.01f32; 10];
    let c = UniPCMultistepConfig {
        train: TrainConfig {
            beta_schedule: BetaSchedule::Trained(&betas),
            ..Default::default()
        },
        ..Default::default()
    };
    let e = UniPCMultistepScheduler::<f32, 64>::new(&c, 4, &mut table, &mut x, &mut scratch);
    assert!(matches!(
        e,
        Err(Error::LengthMismatch {
            buffer: Buffer::Table,
            ..
        })
    ));
}

#[test]
fn zero_snr_rescale_ends_at_zero() {
    let mut st = vec![0f32; 1000];
    let c = TrainConfig {
        beta_schedule: BetaSchedule::ScaledLinear,
        beta_start: 0.00085,
        beta_end: 0.012,
        rescale_betas_zero_snr: true,
        ..Default::default()
    };
    let t = TrainSchedule::new(&c, false, &mut st).unwrap();
    assert_eq!(t.alphas_cumprod()[999], 0.0);
    let t = TrainSchedule::new(&c, true, &mut st).unwrap();
    assert_eq!(t.alphas_cumprod()[999], 1.0 / 16_777_216.0);
}

#[test]
fn diffusers_thresholding_clamps_s_to_sample_max_value() {
    // Row 1: quantile 3 > sample_max_value 2 -> s = 2; row 2: quantile < 1 -> s = 1.
    let mut x0 = [3.0f64, -3.0, 1.0, 0.5, 0.2, -0.4];
    let mut work = [0.0f64; 3];
    threshold_sample(&mut x0, 2, 1.0, 2.0, &mut work);
    assert_eq!(x0, [1.0, -1.0, 0.5, 0.5, 0.2, -0.4]);
}

/// The ODE schedulers all integrate the same probability-flow ODE: at `final_sigmas_type =
/// sigma_min` every configuration converges to one endpoint. Measured on an exact mixture
/// score against a 999-step third-order run, the error ratio between `n` and `2n` steps gives
/// the empirical order. The integer timesteps make the grids pre-asymptotic (DDIM shows 0.95,
/// second-order solvers 1.3-1.9, third-order ones 1.6-2.5), so the bounds only separate the
/// higher-order methods from first order: a wrong higher-order coefficient drops them to ~1.
#[test]
fn ode_schedulers_converge_at_their_order() {
    const MIX: Mixture = Mixture {
        w: [0.4, 0.6],
        mu: [[-0.7, 0.5], [0.6, -0.3]],
        var: [[0.3, 0.4], [0.35, 0.25]],
    };
    let train = TrainConfig {
        beta_schedule: BetaSchedule::ScaledLinear,
        beta_start: 0.00085,
        beta_end: 0.012,
        ..Default::default()
    };
    let x_t = [0.3f64, -1.1, 1.4, 0.2, -0.6, 0.9];
    let mut ts_table = vec![0f32; 1000];
    let ts = TrainSchedule::new(&train, true, &mut ts_table).unwrap();
    macro_rules! run {
        ($ty:ident, $cfg:expr, $steps:expr) => {{
            let cfg = $cfg;
            let mut table = vec![0f32; 1000];
            let mut x = x_t.to_vec();
            let mut scratch = vec![0f64; cfg.scratch_len(x.len())];
            let mut out = vec![0f64; x.len()];
            let mut s =
                $ty::<f64, 1024>::new(&cfg, $steps, &mut table, &mut x, &mut scratch).unwrap();
            while let Some(req) = s.ask() {
                let (a, sg) = ts.alpha_sigma(req.timestep).unwrap();
                for (xi, oi) in req.x.chunks(2).zip(out.chunks_mut(2)) {
                    MIX.eps(xi, a, sg, oi);
                }
                s.tell(&out).unwrap();
            }
            x
        }};
    }
    let ms = |order: usize, alg: AlgorithmType, st: SolverType| DPMSolverMultistepConfig {
        train,
        solver_order: order,
        algorithm_type: alg,
        solver_type: st,
        final_sigmas_type: FinalSigmasType::SigmaMin,
        lower_order_final: false,
        ..Default::default()
    };
    let reference = run!(
        DPMSolverMultistepScheduler,
        ms(3, AlgorithmType::DpmSolverPlusPlus, SolverType::Midpoint),
        999
    );
    let err = |x: &[f64]| {
        x.iter()
            .zip(&reference)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max)
    };
    let report = |name: &str, e20: f64, e40: f64, min_order: f64| {
        let p = libm::log2(e20 / e40);
        std::println!("{name}: err(n) {e20:.2e}, err(2n) {e40:.2e}, order {p:.2}");
        assert!(
            p > min_order,
            "{name}: empirical order {p:.2} < {min_order}"
        );
    };
    let uni = |order: usize, st: UniPCSolverType, x0: bool| UniPCMultistepConfig {
        train,
        solver_order: order,
        solver_type: st,
        predict_x0: x0,
        final_sigmas_type: FinalSigmasType::SigmaMin,
        lower_order_final: false,
        ..Default::default()
    };
    use AlgorithmType::{DpmSolver as D, DpmSolverPlusPlus as Dpp};
    use SolverType::{Heun, Midpoint};
    for (order, alg, st, min) in [
        (2, Dpp, Midpoint, 1.25),
        (2, Dpp, Heun, 1.25),
        (2, D, Midpoint, 1.25),
        (2, D, Heun, 1.25),
        (3, Dpp, Heun, 1.5),
        (3, D, Heun, 1.5),
    ] {
        let e = |n| err(&run!(DPMSolverMultistepScheduler, ms(order, alg, st), n));
        report(
            &std::format!("multistep {order} {alg:?} {st:?}"),
            e(100),
            e(200),
            min,
        );
    }
    let ss = |order: usize, alg: AlgorithmType, st: SolverType| DPMSolverSinglestepConfig {
        train,
        solver_order: order,
        algorithm_type: alg,
        solver_type: st,
        final_sigmas_type: FinalSigmasType::SigmaMin,
        ..Default::default()
    };
    for (order, alg, st, min) in [
        (2, Dpp, Midpoint, 1.25),
        (2, D, Heun, 1.25),
        (3, Dpp, Heun, 1.5),
        (3, D, Midpoint, 1.25),
        (3, Dpp, Midpoint, 1.25),
    ] {
        // 21 and 42 steps: whole singlesteps of 3 (and the second a multiple of 2).
        let e = |n| err(&run!(DPMSolverSinglestepScheduler, ss(order, alg, st), n));
        report(
            &std::format!("singlestep {order} {alg:?} {st:?}"),
            e(102),
            e(204),
            min,
        );
    }
    for (order, st, x0, min) in [
        (1, UniPCSolverType::Bh2, true, 1.25),
        (2, UniPCSolverType::Bh1, true, 1.25),
        (2, UniPCSolverType::Bh2, true, 1.25),
        (2, UniPCSolverType::Bh2, false, 1.25),
        (3, UniPCSolverType::Bh2, true, 1.5),
        (3, UniPCSolverType::Bh1, false, 1.5),
    ] {
        let e = |n| err(&run!(UniPCMultistepScheduler, uni(order, st, x0), n));
        report(
            &std::format!("unipc {order} {st:?} predict_x0 {x0}"),
            e(100),
            e(200),
            min,
        );
    }
    let ddim = DDIMConfig {
        train,
        clip_sample: false,
        set_alpha_to_one: false,
        timestep_spacing: TimestepSpacing::Linspace,
        ..Default::default()
    };
    let e = |n| err(&run!(DDIMScheduler, ddim, n));
    report("ddim", e(100), e(200), 0.7);
}

/// A `scheduler_config.json` as the Hub ships it for Stable Diffusion 1.x (a PNDM config),
/// loaded key by key into other classes, as diffusers' `from_config` does.
const SD_PNDM_CONFIG: &[(&str, ConfigValue<'static, 'static>)] = &[
    ("_class_name", ConfigValue::Str("PNDMScheduler")),
    ("_diffusers_version", ConfigValue::Str("0.6.0")),
    ("beta_end", ConfigValue::Number(0.012)),
    ("beta_schedule", ConfigValue::Str("scaled_linear")),
    ("beta_start", ConfigValue::Number(0.00085)),
    ("num_train_timesteps", ConfigValue::Number(1000.0)),
    ("set_alpha_to_one", ConfigValue::Bool(false)),
    ("skip_prk_steps", ConfigValue::Bool(true)),
    ("steps_offset", ConfigValue::Number(1.0)),
    ("trained_betas", ConfigValue::Null),
    ("clip_sample", ConfigValue::Bool(false)),
];

#[test]
fn scheduler_config_applies_diffusers_keys_and_ignores_foreign_ones() {
    for class in SchedulerClass::ALL {
        assert_eq!(SchedulerClass::from_name(class.name()), Some(class));
        let mut c = SchedulerConfig::new(class);
        let mut ignored = Vec::new();
        for (k, v) in SD_PNDM_CONFIG {
            if c.set(k, *v).unwrap() == KeyUse::Ignored {
                ignored.push(*k);
            }
        }
        if class == SchedulerClass::FlowMatchEulerDiscrete {
            // No betas: every beta key is ignored, as diffusers' from_config ignores them.
            assert!(ignored.contains(&"beta_schedule") && ignored.contains(&"beta_start"));
            continue;
        }
        let t = c.train();
        assert_eq!(t.beta_schedule, BetaSchedule::ScaledLinear);
        assert_eq!((t.beta_start, t.beta_end), (0.00085, 0.012));
        assert!(ignored.contains(&"_class_name") && ignored.contains(&"skip_prk_steps"));
        match c {
            SchedulerConfig::DDIM(d) => {
                assert!(!d.clip_sample && !d.set_alpha_to_one && d.steps_offset == 1);
                assert!(!ignored.contains(&"clip_sample"));
            }
            SchedulerConfig::DPMSolverMultistep(d) => {
                assert_eq!(d.steps_offset, 1);
                assert!(ignored.contains(&"clip_sample") && ignored.contains(&"set_alpha_to_one"));
            }
            SchedulerConfig::UniPCMultistep(d) => assert_eq!(d.steps_offset, 1),
            // The singlestep scheduler has no steps_offset (diffusers ignores it there too).
            SchedulerConfig::DPMSolverSinglestep(_) => assert!(ignored.contains(&"steps_offset")),
            SchedulerConfig::FlowMatchEulerDiscrete(_) => unreachable!(),
        }
    }
    assert_eq!(SchedulerClass::from_name("PNDMScheduler"), None);
}

#[test]
fn scheduler_config_values_null_and_errors() {
    let mut c = SchedulerConfig::new(SchedulerClass::DPMSolverMultistep);
    let set = |c: &mut SchedulerConfig<'_>, k: &str, v| c.set(k, v);
    set(&mut c, "solver_order", ConfigValue::Number(3.0)).unwrap();
    set(
        &mut c,
        "algorithm_type",
        ConfigValue::Str("sde-dpmsolver++"),
    )
    .unwrap();
    set(&mut c, "solver_type", ConfigValue::Str("heun")).unwrap();
    set(&mut c, "lambda_min_clipped", ConfigValue::Number(-5.1)).unwrap();
    set(&mut c, "timestep_spacing", ConfigValue::Str("trailing")).unwrap();
    set(&mut c, "use_exponential_sigmas", ConfigValue::Bool(false)).unwrap();
    set(&mut c, "variance_type", ConfigValue::Null).unwrap();
    assert!(c.is_sde());
    let SchedulerConfig::DPMSolverMultistep(d) = c else {
        panic!()
    };
    assert_eq!(d.solver_order, 3);
    assert_eq!(d.solver_type, SolverType::Heun);
    assert_eq!(d.lambda_min_clipped, -5.1);
    assert_eq!(d.timestep_spacing, TimestepSpacing::Trailing);
    // null restores diffusers' default (JSON cannot write lambda_min_clipped's -inf).
    set(&mut c, "lambda_min_clipped", ConfigValue::Null).unwrap();
    set(&mut c, "solver_order", ConfigValue::Null).unwrap();
    let SchedulerConfig::DPMSolverMultistep(d) = c else {
        panic!()
    };
    assert_eq!(d.lambda_min_clipped, f64::NEG_INFINITY);
    assert_eq!(d.solver_order, 2);
    // Wrong types, unknown values, fractional counts and active unimplemented options fail.
    for (k, v) in [
        ("solver_order", ConfigValue::Number(2.5)),
        ("solver_order", ConfigValue::Number(-1.0)),
        ("solver_order", ConfigValue::Str("2")),
        ("beta_start", ConfigValue::Number(f64::NAN)),
        ("algorithm_type", ConfigValue::Str("deis++")),
        ("prediction_type", ConfigValue::Str("flow")),
        ("lower_order_final", ConfigValue::Number(1.0)),
        ("use_karras_sigmas", ConfigValue::Str("true")),
        ("use_lu_lambdas", ConfigValue::Bool(true)),
        ("use_flow_sigmas", ConfigValue::Number(1.0)),
        ("variance_type", ConfigValue::Str("learned_range")),
        ("flow_shift", ConfigValue::Str("3")),
        ("time_shift_type", ConfigValue::Str("quadratic")),
        ("use_beta_sigmas", ConfigValue::Bool(true)),
        ("trained_betas", ConfigValue::Number(0.1)),
        ("solver_order", ConfigValue::Other),
    ] {
        assert!(
            matches!(c.set(k, v), Err(Error::InvalidConfig(_))),
            "{k} = {v:?} accepted"
        );
    }
    assert_eq!(c.set("some_list", ConfigValue::Other), Ok(KeyUse::Ignored));
    // DDIM: only eta = 0 is implemented; UniPC's own solver_type names.
    let mut d = SchedulerConfig::new(SchedulerClass::DDIM);
    assert!(d.set("eta", ConfigValue::Number(0.0)).is_ok());
    assert!(d.set("eta", ConfigValue::Number(1.0)).is_err());
    let mut u = SchedulerConfig::new(SchedulerClass::UniPCMultistep);
    u.set("solver_type", ConfigValue::Str("bh1")).unwrap();
    u.set("disable_corrector", ConfigValue::Indices(&[0, 2]))
        .unwrap();
    let SchedulerConfig::UniPCMultistep(uc) = u else {
        panic!()
    };
    assert_eq!(uc.solver_type, UniPCSolverType::Bh1);
    assert_eq!(uc.disable_corrector, &[0, 2]);
    assert!(u.set("solver_type", ConfigValue::Str("heun2")).is_err());
}

#[test]
fn trained_betas_take_precedence_in_any_key_order() {
    let betas = [0.01f32; 10];
    for order in [
        ["trained_betas", "beta_schedule"],
        ["beta_schedule", "trained_betas"],
    ] {
        let mut c = SchedulerConfig::new(SchedulerClass::UniPCMultistep);
        for k in order {
            let v = if k == "trained_betas" {
                ConfigValue::Floats(&betas)
            } else {
                ConfigValue::Str("scaled_linear")
            };
            c.set(k, v).unwrap();
        }
        assert_eq!(c.train().beta_schedule, BetaSchedule::Trained(&betas));
    }
}

#[test]
fn scheduler_enum_matches_the_direct_types_bit_for_bit() {
    let x0 = [0.7f64, -1.2, 0.3, 2.1, -0.4, 0.05];
    let model = |x: &[f64], t: i64, out: &mut [f64]| {
        for (o, v) in out.iter_mut().zip(x) {
            *o = 0.3 * v + 1e-3 * t as f64;
        }
    };
    // FlowMatchEuler (no betas, flow sigmas) is tested in `flow.rs`.
    for class in SchedulerClass::ALL
        .into_iter()
        .filter(|&c| c != SchedulerClass::FlowMatchEulerDiscrete)
    {
        let mut cfg = SchedulerConfig::new(class);
        cfg.set("solver_order", ConfigValue::Number(3.0)).unwrap();
        cfg.set("beta_schedule", ConfigValue::Str("scaled_linear"))
            .unwrap();
        cfg.set("beta_start", ConfigValue::Number(0.00085)).unwrap();
        cfg.set("beta_end", ConfigValue::Number(0.012)).unwrap();
        cfg.set_batch(2);
        let (mut t1, mut t2) = ([0f32; 1000], [0f32; 1000]);
        let (mut x1, mut x2) = (x0, x0);
        let mut s1 = vec![0.0; cfg.scratch_len(6)];
        let mut s2 = s1.clone();
        let mut out = [0.0; 6];
        let mut e = Scheduler::<f64, 32>::new(&cfg, 7, &mut t1, &mut x1, &mut s1).unwrap();
        let mut nfe = 0;
        assert_eq!(e.last_order(), 0);
        while let Some(r) = e.ask() {
            model(r.x, r.timestep, &mut out);
            e.tell(&out).unwrap();
            nfe += 1;
            let k = e.last_order();
            let max = if class == SchedulerClass::DDIM { 1 } else { 3 };
            assert!((1..=max).contains(&k), "{}: order {k}", class.name());
        }
        assert_eq!(nfe, 7);
        assert_eq!(e.step_index(), 7);
        assert_eq!(e.tell(&out), Err(Error::Finished));
        let (a, s) = e.alpha_sigma(999).unwrap();
        assert!(a > 0.0 && s < 1.0 && (a * a + s * s - 1.0).abs() < 1e-6);
        assert_eq!(e.alpha_sigma(1000), None);
        let ts: Vec<i64> = e.timesteps().to_vec();
        macro_rules! direct {
            ($ty:ident, $c:expr) => {{
                let mut d = $ty::<f64, 32>::new($c, 7, &mut t2, &mut x2, &mut s2).unwrap();
                assert_eq!(d.timesteps(), &ts[..]);
                while let Some(r) = d.ask() {
                    model(r.x, r.timestep, &mut out);
                    d.tell(&out).unwrap();
                }
            }};
        }
        match &cfg {
            SchedulerConfig::DPMSolverMultistep(c) => direct!(DPMSolverMultistepScheduler, c),
            SchedulerConfig::DPMSolverSinglestep(c) => direct!(DPMSolverSinglestepScheduler, c),
            SchedulerConfig::UniPCMultistep(c) => direct!(UniPCMultistepScheduler, c),
            SchedulerConfig::DDIM(c) => direct!(DDIMScheduler, c),
            SchedulerConfig::FlowMatchEulerDiscrete(_) => unreachable!(),
        }
        assert_eq!(x1, x2, "{}", class.name());
        assert!(x1.iter().all(|v| v.is_finite()));
    }
}
