//! The pipeline's option parsing: model metadata (`ModelInfo::from_metadata`), the option
//! names (`parse_algorithm`, `parse_method`, `parse_spacing`), the core's options module
//! (`Options::set` on key/value pairs) and `GenerateOptions` (every field, a diffusers scheduler
//! included) run on the tiny seed model.

use std::cell::RefCell;

use arbitrary::{Result, Unstructured};
use dpm_solver_wasm::pipeline::*;

use crate::{any_f32, finite, moderate};

const KEYS: [&str; 20] = [
    "prediction_type",
    "schedule",
    "time_input",
    "beta_schedule",
    "beta_start",
    "beta_end",
    "num_train_timesteps",
    "image_channels",
    "image_height",
    "image_width",
    "num_classes",
    "null_class",
    "class_labels",
    "input_names",
    "output_names",
    "value_range",
    "training_steps",
    "description",
    "sigma_data",
    "other",
];
const VALUES: [&str; 24] = [
    "epsilon",
    "sample",
    "v_prediction",
    "discrete",
    "linear",
    "scaled_linear",
    "squaredcos_cap_v2",
    "0.0001",
    "0.02",
    "1000",
    "1",
    "4",
    "4096",
    "1000000000",
    "-1",
    "18446744073709551617",
    "0",
    "a,b,c",
    "x,t,class",
    "eps",
    "-1,1",
    "1,-1",
    "nan",
    "",
];
const OPTION_KEYS: [&str; 16] = [
    "algorithm",
    "algorithm_type",
    "method",
    "order",
    "solver_order",
    "steps",
    "num_inference_steps",
    "spacing",
    "spacing.rho",
    "skip_type",
    "use_karras_sigmas",
    "thresholding",
    "thresholding.ratio",
    "adaptive.atol",
    "t_start",
    "lower_order_final",
];
/// Custom times (the generate options keep `'static` ones): decreasing, increasing, empty,
/// out of range, not finite.
const TIMES: [&[f32]; 5] = [
    &[1.0, 0.5, 1e-3],
    &[0.1, 0.5],
    &[],
    &[2.0, -1.0],
    &[f32::NAN, 0.5],
];
const NAMES: [&str; 14] = [
    "dpmsolver",
    "dpmsolver++",
    "DPM-Solver++",
    "multistep",
    "singlestep",
    "adaptive",
    "singlestep_fixed",
    "logSNR",
    "time_uniform",
    "time_quadratic",
    "karras",
    "exponential",
    "",
    "??",
];

thread_local! {
    // Leaked: tract's plans touch their own thread-locals when dropped, which fails while the
    // thread's locals are being destroyed at exit.
    static PIPE: &'static RefCell<Pipeline> = Box::leak(Box::new(RefCell::new(
        Pipeline::from_bytes(crate::onnx::SEED).expect("the seed model loads"),
    )));
}

fn text(u: &mut Unstructured<'_>, pool: &[&str]) -> Result<String> {
    Ok(if u.int_in_range(0..=7u8)? == 0 {
        String::from_utf8_lossy(crate::bytes(u, 0..=12usize)?).into_owned()
    } else {
        pool[u.choose_index(pool.len())?].to_string()
    })
}

pub fn run(data: &[u8]) {
    let _ = go(&mut Unstructured::new(data));
}

fn go(u: &mut Unstructured<'_>) -> Result<()> {
    // Metadata: the seed's entries with some replaced or added.
    let mut meta: Vec<(String, String)> = vec![
        ("prediction_type", "epsilon"),
        ("beta_schedule", "linear"),
        ("beta_start", "0.0001"),
        ("beta_end", "0.02"),
        ("num_train_timesteps", "1000"),
        ("image_channels", "1"),
        ("image_height", "4"),
        ("image_width", "4"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for _ in 0..u.int_in_range(0..=6usize)? {
        meta.push((text(u, &KEYS)?, text(u, &VALUES)?));
    }
    if let Ok(info) = ModelInfo::from_metadata(&meta) {
        let _ = info.image_len();
    }
    let _ = parse_algorithm(&text(u, &NAMES)?);
    let _ = parse_method(&text(u, &NAMES)?);
    let spacing = parse_spacing(&text(u, &NAMES)?);

    // The solver's options through the core's options module (every entry's parser): keys and
    // values from pools or arbitrary text, then fields set directly.
    let mut parser = Options::<f32>::generate();
    for _ in 0..u.int_in_range(0..=5usize)? {
        let key = text(u, &OPTION_KEYS)?;
        let word = text(u, &NAMES)?;
        let value = match u.int_in_range(0..=5u8)? {
            0 => Value::Null,
            1 => Value::Bool(u.arbitrary()?),
            2 => Value::Number(any_f32(u)? as f64),
            3 => Value::Numbers(TIMES[u.choose_index(TIMES.len())?]),
            4 => Value::Group,
            _ => Value::word(&word),
        };
        if let Err(e) = parser.set(&key, value) {
            let mut msg = String::new();
            let _ = e.write(&mut msg, Some("options"), &[]);
        }
    }
    let mut solver = parser.config().unwrap_or_else(|_| *parser.partial());
    solver.order = u.int_in_range(0..=4usize)?;
    solver.steps = u.int_in_range(0..=25usize)?;
    solver.lower_order_final = u.arbitrary()?;
    solver.denoise_to_zero = u.arbitrary()?;
    let mut opts = GenerateOptions {
        seed: u.arbitrary()?,
        batch: u.int_in_range(0..=5usize)?,
        guidance_scale: any_f32(u)?,
        solver,
        clip: u.arbitrary()?,
        ..GenerateOptions::default()
    };
    opts.conditioning = match u.int_in_range(0..=2u8)? {
        0 => Conditioning::Unconditional,
        1 => Conditioning::Class(u.int_in_range(0..=12usize)?),
        _ => Conditioning::PerImage(
            (0..u.int_in_range(0..=5usize)?)
                .map(|_| u.int_in_range(0..=11usize))
                .collect::<Result<_>>()?,
        ),
    };
    if let Ok(a) = parse_algorithm(&text(u, &NAMES)?) {
        opts.solver.algorithm = a;
    }
    if let Ok(m) = parse_method(&text(u, &NAMES)?) {
        opts.solver.method = m;
    }
    if let Ok(s) = spacing {
        opts.solver.spacing = s;
    }
    if u.int_in_range(0..=3u8)? == 0 {
        opts.solver.spacing = Spacing::Karras { rho: any_f32(u)? };
    }
    if u.int_in_range(0..=3u8)? == 0 {
        opts.solver.thresholding = Some(Thresholding {
            ratio: any_f32(u)?,
            max_val: any_f32(u)?,
        });
    }
    opts.solver.adaptive.atol = any_f32(u)?;
    opts.solver.adaptive.max_nfe = u.int_in_range(0..=60usize)?;
    if u.int_in_range(0..=2u8)? == 0 {
        let class = SchedulerClass::NAMES[u.int_in_range(0..=3usize)?];
        let mut sc = SchedulerConfig::new(SchedulerClass::from_name(class).unwrap());
        for _ in 0..u.int_in_range(0..=4usize)? {
            let key = [
                "solver_order",
                "timestep_spacing",
                "steps_offset",
                "final_sigmas_type",
                "lower_order_final",
                "predict_x0",
                "algorithm_type",
                "use_karras_sigmas",
                "thresholding",
                "eta",
            ][u.int_in_range(0..=9usize)?];
            let s = text(
                u,
                &[
                    "leading",
                    "trailing",
                    "linspace",
                    "zero",
                    "sigma_min",
                    "sde-dpmsolver++",
                    "dpmsolver",
                ],
            )?;
            let v = match u.int_in_range(0..=2u8)? {
                0 => ConfigValue::Number(any_f32(u)? as f64),
                1 => ConfigValue::Bool(u.arbitrary()?),
                _ => ConfigValue::Str(&s),
            };
            let _ = sc.set(key, v);
        }
        opts.scheduler = Some(sc);
    }
    let noise = if u.int_in_range(0..=3u8)? == 0 {
        Some(
            (0..u.int_in_range(0..=40usize)?)
                .map(|_| moderate(u))
                .collect::<Result<Vec<f32>>>()?,
        )
    } else {
        None
    };
    let cancel_at = u.int_in_range(0..=40usize)?;
    PIPE.with(|p| {
        let mut p = p.borrow_mut();
        let progress = |pr: &Progress<'_>| {
            if pr.nfe >= cancel_at {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        };
        let r = match noise {
            Some(n) => p.generate_from_noise(n, &opts, progress),
            None => p.generate(&opts, progress),
        };
        match r {
            Ok(g) => {
                assert!(finite(&g.images), "Ok with non-finite images");
                assert_eq!(g.images.len(), g.batch * g.shape.len());
                let _ = g.image(g.batch + 3);
            }
            // The seed model is well-formed: no tract panic is acceptable here.
            Err(e) => {
                let msg = e.to_string();
                assert!(!msg.contains("tract panicked"), "would trap in wasm: {msg}");
            }
        }
    });
    Ok(())
}
