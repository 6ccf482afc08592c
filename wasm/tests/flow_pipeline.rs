//! The pipeline on a flow-matching model: `wasm/tests/models/flow_gaussian.onnx` (made by
//! `make_flow_gaussian.py`) is the exact velocity of Gaussian data on the path
//! `x_s = (1 - s) x_0 + s eps`, with `schedule = flow` and `prediction_type =
//! flow_prediction` in its metadata. Its probability-flow ODE is affine, so every generation is
//! checked against the exact sample from the same noise: DPM-Solver++ from pure noise (t = 1),
//! the logSNR default (from t = 1 - 1/N), and diffusers' flow schedulers.

use std::ops::ControlFlow;

use dpm_solver::diffusers::{ConfigValue as V, SchedulerClass, SchedulerConfig};
use dpm_solver::{Prediction, Spacing};
use dpm_solver_wasm::pipeline::*;

const MU: [f32; 4] = [0.6, -0.4, 0.1, -0.8];
const VAR: [f32; 4] = [0.04, 0.09, 0.02, 0.06];

fn model() -> Pipeline {
    let p =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/models/flow_gaussian.onnx");
    Pipeline::from_bytes(&std::fs::read(p).expect("flow_gaussian.onnx")).unwrap()
}

/// The exact ODE solution from `x` at flow time `s` to `t`.
fn exact(x: &[f32], s: f64, t: f64) -> Vec<f64> {
    (0..4)
        .map(|i| {
            let (mu, var) = (MU[i] as f64, VAR[i] as f64);
            let c = |u: f64| (1.0 - u) * (1.0 - u) * var + u * u;
            (1.0 - t) * mu + (c(t) / c(s)).sqrt() * (x[i] as f64 - (1.0 - s) * mu)
        })
        .collect()
}

fn run(pipe: &mut Pipeline, noise: &[f32], opts: GenerateOptions) -> Vec<f32> {
    let opts = GenerateOptions {
        clip: false,
        ..opts
    };
    let g = pipe
        .generate_from_noise(noise.to_vec(), &opts, |_| ControlFlow::Continue(()))
        .unwrap();
    assert_eq!(g.batch, 1);
    g.images
}

fn max_dev(a: &[f32], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(a, b)| (*a as f64 - b).abs())
        .fold(0.0, f64::max)
}

fn scheduler(class: &str, keys: &[(&str, V<'static, 'static>)]) -> SchedulerConfig<'static> {
    let mut c = SchedulerConfig::new(SchedulerClass::from_name(class).unwrap());
    for (k, v) in keys {
        c.set(k, *v).unwrap();
    }
    c
}

#[test]
fn flow_metadata_is_read() {
    let pipe = model();
    let info = pipe.info();
    assert_eq!(info.prediction, Prediction::Flow);
    assert_eq!(info.schedule, ScheduleInfo::Flow { n: 1000 });
    assert!(info.schedule.is_flow());
}

#[test]
fn flow_model_generations_match_the_exact_ode_solution() {
    let mut pipe = model();
    let noise = [0.9f32, -1.3, 0.2, 1.7];
    let n_end = 1e-3;
    // DPM-Solver++ from pure noise at t = 1, time-uniform and flow-shifted grids.
    // (Sharp data: the grids' last steps are long in lambda, hence 100 steps; the error halves
    // about 4x per doubling, second order.)
    for spacing in [Spacing::TimeUniform, Spacing::FlowShift { shift: 3.0 }] {
        let mut dev = |steps| {
            let x = run(
                &mut pipe,
                &noise,
                GenerateOptions {
                    solver: Config {
                        steps,
                        spacing,
                        ..generate_profile()
                    },
                    ..GenerateOptions::default()
                },
            );
            max_dev(&x, &exact(&noise, 1.0, n_end))
        };
        let (d50, d100) = (dev(50), dev(100));
        eprintln!("{spacing:?}: {d50:.2e} at 50 steps, {d100:.2e} at 100");
        assert!(d100 < 5e-2 && d100 < 0.5 * d50, "{spacing:?}: {d50} {d100}");
    }
    // The default (logSNR) starts at t = 1 - 1/N on a flow model.
    let x = run(&mut pipe, &noise, GenerateOptions::default());
    let dev = max_dev(&x, &exact(&noise, 0.999, n_end));
    eprintln!("logSNR, 10 steps: {dev:.2e}");
    assert!(dev < 2e-2, "logSNR: {dev}");
    // diffusers' flow schedulers: FlowMatchEuler (ends at sigma 0), UniPC and DPM-Solver++ on
    // flow sigmas (use_flow_sigmas set for the flow model by the pipeline itself).
    for (cfg, s0, t1, tol) in [
        (
            scheduler(
                "FlowMatchEulerDiscreteScheduler",
                &[("shift", V::Number(3.0))],
            ),
            1.0,
            0.0,
            0.2, // Euler: first order (its match to diffusers is flow_parity's)
        ),
        (
            scheduler("UniPCMultistepScheduler", &[("flow_shift", V::Number(3.0))]),
            1.0,
            0.0,
            0.15, // shift 3 on sharp data: long last steps in lambda at 20 steps
        ),
        (
            scheduler(
                "DPMSolverMultistepScheduler",
                &[
                    ("use_flow_sigmas", V::Bool(true)),
                    ("flow_shift", V::Number(1.0)),
                ],
            ),
            0.999,
            0.0,
            0.15,
        ),
    ] {
        let name = cfg.class().name();
        let x = run(
            &mut pipe,
            &noise,
            GenerateOptions {
                solver: Config {
                    steps: 20,
                    ..generate_profile()
                },
                scheduler: Some(cfg),
                ..GenerateOptions::default()
            },
        );
        let dev = max_dev(&x, &exact(&noise, s0, t1));
        eprintln!("{name}, 20 steps: {dev:.2e}");
        assert!(dev < tol, "{name}: {dev}");
    }
    // A DDIM config cannot sample it: an error, not an image.
    let ddim = scheduler("DDIMScheduler", &[]);
    let err = pipe.generate_from_noise(
        noise.to_vec(),
        &GenerateOptions {
            scheduler: Some(ddim),
            ..GenerateOptions::default()
        },
        |_| ControlFlow::Continue(()),
    );
    assert!(err.is_err());
}
