//! diffusers configs: `SchedulerConfig::set` with any key (the classes' own, another class's,
//! unknown) and any JSON-like value, then `Scheduler::new` and a run with moderate outputs.

use arbitrary::{Result, Unstructured};
use dpm_solver::diffusers::{ConfigValue as V, Scheduler, SchedulerClass, SchedulerConfig};
use dpm_solver::rng::NoiseRng;

use crate::{any_f32, finite, moderate};

const KEYS: [&str; 30] = [
    "algorithm_type",
    "beta_end",
    "beta_schedule",
    "beta_start",
    "clip_sample",
    "clip_sample_range",
    "disable_corrector",
    "dynamic_thresholding_ratio",
    "eta",
    "euler_at_final",
    "final_sigmas_type",
    "lambda_min_clipped",
    "lower_order_final",
    "num_train_timesteps",
    "prediction_type",
    "rescale_betas_zero_snr",
    "sample_max_value",
    "set_alpha_to_one",
    "solver_order",
    "solver_type",
    "steps_offset",
    "thresholding",
    "timestep_spacing",
    "trained_betas",
    "use_karras_sigmas",
    "predict_x0",
    "use_lu_lambdas",
    "variance_type",
    "_class_name",
    "timestep_type",
];

const STRINGS: [&str; 22] = [
    "linear",
    "scaled_linear",
    "squaredcos_cap_v2",
    "leading",
    "trailing",
    "linspace",
    "zero",
    "sigma_min",
    "dpmsolver",
    "dpmsolver++",
    "sde-dpmsolver",
    "sde-dpmsolver++",
    "midpoint",
    "heun",
    "bh1",
    "bh2",
    "epsilon",
    "sample",
    "v_prediction",
    "",
    "logistic",
    "fixed_small",
];

fn number(u: &mut Unstructured<'_>) -> Result<f64> {
    Ok(match u.int_in_range(0..=4u8)? {
        0 => f64::from_bits(u.arbitrary()?),
        1 => [
            4294967298.0,
            4294968296.0,
            1e8,
            5000.0,
            -1.0,
            0.5,
            1e300,
            9.1e15,
        ][u.int_in_range(0..=7usize)?],
        2 => any_f32(u)? as f64,
        _ => u.int_in_range(0..=12i32)? as f64,
    })
}

pub fn run(data: &[u8]) {
    let _ = go(&mut Unstructured::new(data));
}

fn go(u: &mut Unstructured<'_>) -> Result<()> {
    let class =
        SchedulerClass::from_name(SchedulerClass::NAMES[u.int_in_range(0..=3usize)?]).unwrap();
    let floats: Vec<f32> = (0..u.int_in_range(0..=1100usize)?)
        .map(|_| Ok(any_f32(u)?.abs().min(1.0)))
        .collect::<Result<_>>()?;
    let indices: Vec<usize> = (0..u.int_in_range(0..=4usize)?)
        .map(|_| u.int_in_range(0..=30usize))
        .collect::<Result<_>>()?;
    let mut cfg = SchedulerConfig::new(class);
    for _ in 0..u.int_in_range(0..=12usize)? {
        let random_key;
        let key = if u.int_in_range(0..=15u8)? == 0 {
            random_key = String::from_utf8_lossy(crate::bytes(u, 0..=8usize)?).into_owned();
            random_key.as_str()
        } else {
            KEYS[u.int_in_range(0..=KEYS.len() - 1)?]
        };
        let s;
        let value = match u.int_in_range(0..=7u8)? {
            0 => V::Null,
            1 => V::Bool(u.arbitrary()?),
            2 | 3 => V::Number(number(u)?),
            4 => V::Str(STRINGS[u.int_in_range(0..=STRINGS.len() - 1)?]),
            5 => V::Floats(&floats),
            6 => V::Indices(&indices),
            _ => {
                s = String::from_utf8_lossy(crate::bytes(u, 0..=6usize)?).into_owned();
                V::Str(&s)
            }
        };
        let _ = cfg.set(key, value);
    }
    cfg.set_batch(u.int_in_range(0..=3usize)?);
    let n_train = cfg.train().num_train_timesteps;
    if n_train > 1 << 13 {
        return Ok(()); // a valid but slow table: not what this target is for
    }
    let steps = u.int_in_range(0..=300usize)?;
    let n = u.int_in_range(1..=6usize)?;
    let _ = cfg.scratch_len(usize::MAX);
    let Ok(need) = cfg.checked_scratch_len(n) else {
        return Ok(());
    };
    let mut table = vec![0.0f32; n_train];
    let mut x: Vec<f32> = (0..n).map(|_| moderate(u)).collect::<Result<_>>()?;
    let mut scratch = vec![0.0f32; need];
    let Ok(mut s) = Scheduler::<f32, 256>::new(&cfg, steps, &mut table, &mut x, &mut scratch)
    else {
        return Ok(());
    };
    let (a, b) = (moderate(u)? / 4.0, moderate(u)? / 4.0);
    let mut rng = NoiseRng::new(u.arbitrary()?);
    let mut out = vec![0.0f32; n];
    let mut asked = 0usize;
    while let Some(req) = s.ask() {
        assert!(finite(req.x), "a request with a non-finite x");
        assert!(
            (0..n_train as i64).contains(&req.timestep),
            "timestep {} outside 0..{n_train}",
            req.timestep
        );
        for (o, &xv) in out.iter_mut().zip(req.x) {
            *o = a * xv + b;
        }
        asked += 1;
        if let Err(e) = s.tell_rng(&out, &mut rng) {
            assert!(
                !matches!(e, dpm_solver::Error::NonFinite { .. }),
                "finite outputs blamed: {e}"
            );
            let _ = s.ask();
            let _ = s.tell_rng(&out, &mut rng);
            return Ok(());
        }
    }
    assert!(asked >= 1, "a scheduler that runs no step was accepted");
    assert!(finite(s.x()), "Ok with a non-finite sample");
    Ok(())
}
