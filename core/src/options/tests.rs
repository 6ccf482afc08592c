//! The options module's unit tests: names, aliases, groups, defaults and errors.

use super::*;
use crate::sampler::MAX_STEPS;
use crate::schedule::{Betas, ScheduleTable};
use crate::threshold::Thresholding;
use crate::Sampler;

type V<'a> = Value<'a, 'a, f32>;

fn opts(pairs: &[(&'static str, V<'static>)]) -> Result<Config<'static, f32>, String> {
    let mut o = Options::<f32>::new();
    for (k, v) in pairs {
        o.set(k, *v).map_err(|e| e.to_string())?;
    }
    o.config().map_err(|e| e.to_string())
}

#[test]
fn names_ignore_case_underscores_and_dashes() {
    assert!(same_name("lowerOrderFinal", "lowerorderfinal"));
    assert!(same_name("lower-order_final", "lowerorderfinal"));
    assert!(same_name("DPM-Solver++", "dpmsolver++"));
    assert!(!same_name("dpmsolver", "dpmsolver++"));
    assert!(!same_name("step", "steps"));
    let a = opts(&[
        ("solver_order", V::Number(3.0)),
        ("Spacing", V::Str("LOG_SNR")),
    ])
    .unwrap();
    assert_eq!((a.order, a.spacing), (3, Spacing::LogSnr));
    let b = opts(&[("order", V::Number(3.0)), ("skip_type", V::Str("logSNR"))]).unwrap();
    assert_eq!(a, b);
}

#[test]
fn groups_resolve_with_their_entries() {
    let k = opts(&[("spacing", V::Group), ("spacing.karras", V::Number(5.0))]).unwrap();
    assert_eq!(k.spacing, Spacing::Karras { rho: 5.0 });
    assert_eq!(
        opts(&[("spacing", V::Str("karras"))]).unwrap().spacing,
        Spacing::Karras { rho: 7.0 }
    );
    assert_eq!(
        opts(&[("use_karras_sigmas", V::Bool(true))])
            .unwrap()
            .spacing,
        Spacing::Karras { rho: 7.0 }
    );
    let g = opts(&[
        ("guidance.type", V::Str("Classifier-Free")),
        ("guidance.scale", V::Number(3.0)),
    ])
    .unwrap();
    assert_eq!(g.guidance, Guidance::ClassifierFree { scale: 3.0 });
    let t = opts(&[
        ("thresholding", V::Group),
        ("thresholding.maxVal", V::Number(2.0)),
    ])
    .unwrap();
    assert_eq!(
        t.thresholding,
        Some(Thresholding {
            ratio: 0.995,
            max_val: 2.0
        })
    );
    assert_eq!(
        opts(&[("thresholding", V::Bool(true)), ("thresholding", V::Null)])
            .unwrap()
            .thresholding,
        None
    );
    let a = opts(&[("adaptive.maxNfe", V::Number(50.0))]).unwrap();
    assert_eq!(a.adaptive.max_nfe, 50);
    static TIMES: [f32; 3] = [1.0, 0.5, 0.001];
    assert_eq!(
        opts(&[("spacing", V::Numbers(&TIMES))]).unwrap().spacing,
        Spacing::Custom(&TIMES)
    );
}

#[test]
fn errors_name_the_option() {
    let e = |p: &[(&'static str, V<'static>)]| opts(p).unwrap_err();
    assert_eq!(
        e(&[("method", V::Str("rk4"))]),
        "method is 'rk4', expected one of: multistep, singlestep, singlestep_fixed, adaptive"
    );
    assert_eq!(
        e(&[("steps", V::Number(2.5))]),
        "steps must be an integer in 0..=1048576, got 2.5"
    );
    assert_eq!(
        e(&[("steps", V::Str("ten"))]),
        "steps must be a finite number"
    );
    assert!(e(&[("stpes", V::Number(1.0))])
        .starts_with("unknown key 'stpes' (expected one of: algorithm, method,"));
    assert!(e(&[("spacing.rho", V::Number(1.0))])
        .starts_with("unknown key 'rho' in spacing (expected one of: karras,"));
    assert_eq!(
        e(&[("spacing", V::Group)]),
        "spacing must be a name, a list of times, or {karras (rho), flow_shift or mu}"
    );
    assert_eq!(
        e(&[("guidance.scale", V::Number(2.0))]),
        "guidance.type must be given ('classifier-free' or 'classifier')"
    );
    assert_eq!(
        e(&[("lower_order_final", V::Number(1.0))]),
        "lower_order_final must be a boolean"
    );
}

#[test]
fn integer_limits_as_text() {
    assert_eq!(MAX_STEPS.to_string(), "1048576");
    assert_eq!(MAX_ADAPTIVE_NFE.to_string(), "16777216");
}

#[test]
fn profiles() {
    let r = Options::<f32>::new().config().unwrap();
    assert_eq!(r, Config::default());
    let g = Options::<f32>::generate().config().unwrap();
    assert_eq!((g.steps, g.spacing), (10, Spacing::LogSnr));
    assert_eq!(
        Config {
            steps: 20,
            spacing: Spacing::TimeUniform,
            ..g
        },
        r
    );
}

/// `expected_nfe` against the sampler's count at the end of a run, for every method.
#[test]
fn expected_nfe_is_the_sampler_count() {
    let mut table = ScheduleTable::<f32, 1000>::new();
    let schedule = table
        .from_betas(&Betas::Linear {
            start: 1e-4,
            end: 0.02,
            n: 1000,
        })
        .unwrap();
    let mut runs = 0;
    for method in ["multistep", "singlestep", "singlestep_fixed"] {
        for order in 1..=3 {
            for steps in [3usize, 7, 10] {
                for (variant, dtz) in [("reference", false), ("full_order", true)] {
                    let cfg = opts(&[
                        ("method", V::Str(method)),
                        ("order", V::Number(order as f64)),
                        ("steps", V::Number(steps as f64)),
                        ("multistep_variant", V::Str(variant)),
                        ("denoise_to_zero", V::Bool(dtz)),
                    ])
                    .unwrap();
                    let mut x = [0.5f32, -1.0];
                    let mut scratch = [0.0f32; 16];
                    let Ok(mut s) = Sampler::new(schedule, cfg, &mut x, &mut scratch) else {
                        continue;
                    };
                    while let Some(r) = s.ask() {
                        let out = [0.1 * r.x[0], 0.1 * r.x[1]];
                        s.tell(&out).unwrap();
                    }
                    assert_eq!(
                        Some(s.nfe()),
                        cfg.expected_nfe(),
                        "{method} {order} {steps} {variant}"
                    );
                    runs += 1;
                }
            }
        }
    }
    // Refused: singlestep-fixed with fewer steps than its order, and the singlestep
    // methods in a build without them (multistep's 18 runs remain).
    let min = if cfg!(feature = "singlestep") { 50 } else { 18 };
    assert!(runs >= min, "{runs} runs");
    assert_eq!(
        opts(&[("method", V::Str("adaptive"))])
            .unwrap()
            .expected_nfe(),
        None
    );
}
