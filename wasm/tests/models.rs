//! Models as users export them (`wasm/tests/models/`, made by `train/make_test_models.py` and
//! `train/make_diffusers_unet.py`): every export form loads, evaluates as onnxruntime does,
//! and samples the same x_0 as the others; models without metadata load from options and a
//! diffusers `scheduler_config.json`; what does not fit is refused before any evaluation; and
//! a diffusers `UNet2DModel` sampled by our pipeline matches diffusers' own loops. Run with
//! `--release` (tract is ~30x slower in a debug build).

use std::path::{Path, PathBuf};

use dpm_solver_wasm::pipeline::*;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/models")
}

fn read(name: &str) -> Vec<u8> {
    let p = dir().join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn text(name: &str) -> String {
    String::from_utf8(read(name)).unwrap()
}

fn numbers(j: &Json) -> Vec<f64> {
    match j {
        Json::Array(a) => a
            .iter()
            .map(|v| match v {
                Json::Number(x) => *x,
                _ => panic!("not a number"),
            })
            .collect(),
        _ => panic!("not an array"),
    }
}

/// The test forms of one network (all but `diffusers_style` carry the metadata).
const FORMS: &[&str] = &[
    "legacy17",
    "legacy13",
    "dynamo",
    "dynamo_ext",
    "dynamo20",
    "int64_time",
    "int32_time",
    "f64_scalar_time",
];

/// Loads a test model the way the native example does: side files from its folder, the
/// scheduler config beside a model without metadata.
fn load(form: &str) -> DiffusionModel {
    let path = dir().join(format!("{form}.onnx"));
    let bytes = read(&format!("{form}.onnx"));
    let mut opts = LoadOptions {
        external_data: read_external_data(&path, &bytes).unwrap(),
        ..LoadOptions::default()
    };
    if form == "diffusers_style" {
        opts.scheduler_config = Some(text("diffusers_style.scheduler_config.json"));
    }
    DiffusionModel::load(&bytes, &opts).unwrap_or_else(|e| panic!("{form}: {e}"))
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Float tolerance between two samplings of the same function: `1e-5 (1 + max |x_0|)` (the
/// random test net's x_0 reaches ~100; float32 rounding in kernels that sum in another order
/// grows with it).
fn tol(a: &[f32]) -> f32 {
    1e-5 * (1.0 + a.iter().fold(0f32, |m, v| m.max(v.abs())))
}

#[test]
fn every_form_evaluates_as_onnxruntime_does() {
    let r = Json::parse(&text("reference.json")).unwrap();
    let x: Vec<f32> = numbers(r.get("x").unwrap())
        .into_iter()
        .map(|v| v as f32)
        .collect();
    let t: Vec<f32> = numbers(r.get("t").unwrap())
        .into_iter()
        .map(|v| v as f32)
        .collect();
    let class: Vec<i64> = numbers(r.get("class").unwrap())
        .into_iter()
        .map(|v| v as i64)
        .collect();
    let outputs = r.get("outputs").unwrap();
    for form in FORMS.iter().chain(&["diffusers_style"]) {
        let mut m = load(form);
        // One time for the batch (shape [] / [1]): the reference ran at t = 500.
        let (ty, per_image) = m.time_input();
        let tt = if per_image { t.clone() } else { vec![500.0; 3] };
        let got = m.eval(&x, &tt, &class).unwrap();
        let want: Vec<f32> = numbers(outputs.get(form).unwrap())
            .into_iter()
            .map(|v| v as f32)
            .collect();
        let d = max_abs_diff(&got, &want);
        println!(
            "{form}: time input {ty} per-image {per_image}, max |tract - onnxruntime| = {d:.2e}"
        );
        assert!(d < 1e-4, "{form}: {d}");
        let i = m.info();
        assert_eq!((i.shape.channels, i.shape.height, i.shape.width), (1, 8, 8));
    }
    // A shared time input refuses a plan run whose times differ (at plan batch 1 each image
    // runs alone, so differing times are fine).
    let mut m = load("f64_scalar_time");
    assert!(m.eval(&x, &t, &class).is_ok());
    m.set_plan_batch(3).unwrap();
    let e = m.eval(&x, &t, &class).unwrap_err();
    assert!(
        e.to_string().contains("one time for the whole batch"),
        "{e}"
    );
}

fn scheduler_opts(cfg: &SchedulerJson, batch: usize, steps: usize) -> GenerateOptions<'_> {
    // The config borrows `cfg`; the options need 'static: a test may leak it.
    let leaked: &'static SchedulerJson = Box::leak(Box::new(cfg.clone()));
    let (sc, _) = leaked.config(None).unwrap();
    GenerateOptions {
        batch,
        solver: Config {
            steps,
            ..generate_profile()
        },
        clip: false,
        scheduler: Some(sc),
        ..GenerateOptions::default()
    }
}

#[test]
fn every_form_samples_the_same_x0() {
    let n = 64;
    let batch = 3;
    let noise = initial_noise(7, 0, batch, n);
    // A diffusers scheduler (integer timesteps: exact for every time input type), class 2.
    let cfg = SchedulerJson::parse(&text("diffusers_style.scheduler_config.json")).unwrap();
    let mut reference: Option<Vec<f32>> = None;
    for form in FORMS {
        let mut p = Pipeline::new(load(form));
        let o = GenerateOptions {
            conditioning: Conditioning::Class(2),
            ..scheduler_opts(&cfg, batch, 8)
        };
        let g = p
            .generate_from_noise(noise.clone(), &o, no_progress)
            .unwrap();
        assert!(g.images.iter().all(|v| v.is_finite()));
        match &reference {
            None => reference = Some(g.images),
            Some(r) => {
                let d = max_abs_diff(r, &g.images);
                println!("{form}: max |x0 - legacy17's| = {d:.2e}, tol {:.2e} (DPM-Solver++ 2M scheduler, 8 steps)", tol(r));
                assert!(d <= tol(r), "{form}: {d}");
            }
        }
    }
    // The diffusers-style export is the net at the null class: the others sampled
    // unconditionally give the same x_0.
    let uncond = |form: &str| {
        let mut p = Pipeline::new(load(form));
        p.generate_from_noise(noise.clone(), &scheduler_opts(&cfg, batch, 8), no_progress)
            .unwrap()
            .images
    };
    let a = uncond("legacy17");
    for form in ["diffusers_style", "int64_time", "dynamo_ext"] {
        let d = max_abs_diff(&a, &uncond(form));
        println!(
            "{form}: unconditional, max |x0 - legacy17's| = {d:.2e}, tol {:.2e}",
            tol(&a)
        );
        assert!(d <= tol(&a), "{form}: {d}");
    }
    // DPM-Solver's own (fractional) times, guided: the float-time forms agree.
    let guided = GenerateOptions {
        batch,
        solver: Config {
            steps: 10,
            ..generate_profile()
        },
        conditioning: Conditioning::PerImage(vec![0, 1, 3]),
        guidance_scale: 2.0,
        clip: false,
        ..GenerateOptions::default()
    };
    let mut first: Option<Vec<f32>> = None;
    for form in ["legacy17", "legacy13", "dynamo", "dynamo_ext"] {
        let mut p = Pipeline::new(load(form));
        let g = p
            .generate_from_noise(noise.clone(), &guided, no_progress)
            .unwrap();
        match &first {
            None => first = Some(g.images),
            Some(r) => {
                let d = max_abs_diff(r, &g.images);
                println!(
                    "{form}: DPM-Solver++(2M) guided, max |x0 - legacy17's| = {d:.2e}, tol {:.2e}",
                    tol(r)
                );
                assert!(d <= tol(r), "{form}: {d}");
            }
        }
    }
}

#[test]
fn missing_facts_are_named_together() {
    let bytes = read("diffusers_style.onnx");
    let e = DiffusionModel::from_bytes(&bytes).err().unwrap();
    let PipelineError::MissingMetadata(keys) = &e else {
        panic!("{e:?}")
    };
    let msg = e.to_string();
    println!("{msg}");
    for k in ["prediction_type", "num_train_timesteps", "beta_schedule"] {
        assert!(keys.iter().any(|m| m.starts_with(k)), "{k} not in {keys:?}");
    }
    for how in [
        "metadata_props",
        "metadata:",
        "--meta",
        "scheduler_config.json",
        "MODEL.md",
    ] {
        assert!(msg.contains(how), "{how} not in {msg}");
    }
    // The same facts as options load it; the image shape comes from the graph.
    let opts = LoadOptions {
        metadata: [
            ("prediction_type", "epsilon"),
            ("beta_schedule", "linear"),
            ("beta_start", "0.0001"),
            ("beta_end", "0.02"),
            ("num_train_timesteps", "1000"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect(),
        ..LoadOptions::default()
    };
    let m = DiffusionModel::load(&bytes, &opts).unwrap();
    assert_eq!(m.info().input_names, vec!["sample", "timestep"]);
    assert_eq!(m.info().output_name, "out_sample");
    assert_eq!(m.time_input(), ("int64", false));
    // With the scheduler config, an explicit option still wins over it.
    let opts = LoadOptions {
        scheduler_config: Some(text("diffusers_style.scheduler_config.json")),
        metadata: vec![("prediction_type".into(), "v_prediction".into())],
        ..LoadOptions::default()
    };
    let m = DiffusionModel::load(&bytes, &opts).unwrap();
    assert_eq!(m.info().prediction, dpm_solver::Prediction::V);
    // Names the conventions do not know.
    let e = DiffusionModel::load(
        &bytes,
        &LoadOptions {
            metadata: vec![("input_names".into(), "img,timestep".into())],
            ..opts.clone()
        },
    )
    .err()
    .unwrap();
    assert!(
        e.to_string().contains("no graph input named \"img\""),
        "{e}"
    );
}

#[test]
fn external_data_is_required_and_explained() {
    let bytes = read("dynamo_ext.onnx");
    assert_eq!(
        external_data_locations(&bytes).unwrap(),
        vec!["dynamo_ext.onnx.data".to_string()]
    );
    let e = DiffusionModel::from_bytes(&bytes).err().unwrap();
    let msg = e.to_string();
    println!("{msg}");
    assert!(
        msg.contains("dynamo_ext.onnx.data") && msg.contains("single file"),
        "{msg}"
    );
    // Bytes under any name serve a single location (a browser's file picker renames nothing,
    // but a user may); a truncated side file is refused.
    let data = read("dynamo_ext.onnx.data");
    let ok = LoadOptions {
        external_data: vec![("weights.bin".into(), data.clone())],
        ..LoadOptions::default()
    };
    assert!(DiffusionModel::load(&bytes, &ok).is_ok());
    let short = LoadOptions {
        external_data: vec![(
            "dynamo_ext.onnx.data".into(),
            data[..data.len() / 2].to_vec(),
        )],
        ..LoadOptions::default()
    };
    let e = DiffusionModel::load(&bytes, &short).err().unwrap();
    assert!(e.to_string().contains("side file of this model"), "{e}");
}

#[test]
fn what_does_not_fit_is_refused_before_evaluation() {
    // A prediction with 2 channels for 1-channel images: refused at load.
    let e = DiffusionModel::from_bytes(&read("bad_output.onnx"))
        .err()
        .unwrap();
    println!("{e}");
    assert!(matches!(e, PipelineError::Interface(_)), "{e:?}");
    // Image shape or channels the graph contradicts.
    for (k, v) in [("image_height", "16"), ("image_channels", "3")] {
        let e = DiffusionModel::from_bytes_with_metadata(&read("legacy17.onnx"), &[(k, v)])
            .err()
            .unwrap();
        println!("{e}");
        assert!(
            matches!(e, PipelineError::Interface(_)) && e.to_string().contains(k),
            "{e:?}"
        );
    }
    // Guidance on an unconditional model, a class out of range.
    let mut p = Pipeline::new(load("diffusers_style"));
    let o = GenerateOptions {
        guidance_scale: 3.0,
        ..GenerateOptions::default()
    };
    let e = p.generate(&o, no_progress).unwrap_err();
    println!("{e}");
    assert!(e.to_string().contains("unconditional"), "{e}");
    let mut p = Pipeline::new(load("legacy17"));
    let o = GenerateOptions {
        conditioning: Conditioning::Class(4),
        ..GenerateOptions::default()
    };
    let e = p.generate(&o, no_progress).unwrap_err();
    println!("{e}");
    assert!(e.to_string().contains("out of range"), "{e}");
    // A graph exported without dynamic axes runs image by image, and says so.
    let mut fixed = load("fixed_batch1");
    let e = fixed.set_plan_batch(2).unwrap_err();
    assert!(e.to_string().contains("fixes the batch at 1"), "{e}");
    let noise = initial_noise(3, 0, 3, 64);
    let o = GenerateOptions {
        batch: 3,
        conditioning: Conditioning::Class(1),
        guidance_scale: 2.0,
        clip: false,
        ..GenerateOptions::default()
    };
    let a = Pipeline::new(fixed)
        .generate_from_noise(noise.clone(), &o, no_progress)
        .unwrap();
    let b = Pipeline::new(load("legacy17"))
        .generate_from_noise(noise, &o, no_progress)
        .unwrap();
    assert!(max_abs_diff(&a.images, &b.images) <= tol(&b.images));
    // The time and class element types found in the graph.
    assert_eq!(load("int64_time").time_input(), ("int64", true));
    assert_eq!(load("int32_time").time_input(), ("int32", true));
    assert_eq!(load("f64_scalar_time").time_input(), ("float64", false));
}

#[test]
fn plan_batch_changes_only_rounding() {
    let mut a = Pipeline::new(load("legacy17"));
    let mut b = Pipeline::new(load("legacy17"));
    b.model_mut().set_plan_batch(8).unwrap();
    let o = GenerateOptions {
        batch: 8,
        conditioning: Conditioning::Class(1),
        guidance_scale: 2.0,
        clip: false,
        ..GenerateOptions::default()
    };
    let x = a.generate(&o, no_progress).unwrap().images;
    let y = b.generate(&o, no_progress).unwrap().images;
    let d = max_abs_diff(&x, &y);
    println!(
        "plan batch 8 vs 1: max |difference| = {d:.2e}, tol {:.2e}",
        tol(&x)
    );
    assert!(d <= tol(&x), "{d}");
}

/// diffusers' loops (`set_timesteps`, `step`) on a tiny `UNet2DModel`, against our `Model`
/// loaded with the same `scheduler_config.json`: the same timesteps, x_0 within
/// `1e-3 (1 + max |x_0|)`.
#[test]
fn diffusers_unet_matches_diffusers_loops() {
    let fx = Json::parse(&text("diffusers_unet.parity.json")).unwrap();
    let Some(Json::Array(models)) = fx.get("models") else {
        panic!("models")
    };
    // The legacy and the dynamo export of the same UNet.
    for model in models {
        let Json::Str(model) = model else { panic!() };
        println!("{model}:");
        diffusers_parity(&fx, &read(model));
    }
}

fn diffusers_parity(fx: &Json, bytes: &[u8]) {
    let x_t: Vec<f32> = numbers(fx.get("x_t").unwrap())
        .into_iter()
        .map(|v| v as f32)
        .collect();
    let Some(Json::Array(cases)) = fx.get("cases") else {
        panic!("cases")
    };
    assert!(cases.len() >= 3);
    for c in cases {
        let Some(Json::Str(name)) = c.get("name") else {
            panic!()
        };
        let Some(Json::Str(cfg_text)) = c.get("scheduler_config") else {
            panic!()
        };
        let steps = numbers(&Json::Array(vec![c.get("steps").unwrap().clone()]))[0] as usize;
        let want_ts: Vec<i64> = numbers(c.get("timesteps").unwrap())
            .into_iter()
            .map(|v| v as i64)
            .collect();
        let want: Vec<f32> = numbers(c.get("x0").unwrap())
            .into_iter()
            .map(|v| v as f32)
            .collect();
        let opts = LoadOptions {
            scheduler_config: Some(cfg_text.clone()),
            ..LoadOptions::default()
        };
        let model = DiffusionModel::load(bytes, &opts).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(model.info().shape.len(), 3 * 64);
        let n_train = model.info().schedule.num_train_timesteps() as f32;
        let mut p = Pipeline::new(model);
        let cfg = SchedulerJson::parse(cfg_text).unwrap();
        let o = scheduler_opts(&cfg, 2, steps);
        let mut ts = Vec::new();
        // The timesteps the network was evaluated at, from the progress reports (the time
        // of a diffusers step is (timestep + 1) / N).
        let g = p
            .generate_from_noise(x_t.clone(), &o, |pr: &Progress<'_>| {
                ts.push((pr.report.t_from * n_train - 1.0).round() as i64);
                std::ops::ControlFlow::Continue(())
            })
            .unwrap();
        assert_eq!(ts, want_ts, "{name}: timesteps");
        let scale = want.iter().fold(0f32, |m, v| m.max(v.abs()));
        let d = max_abs_diff(&g.images, &want);
        let tol = 1e-3 * (1.0 + scale);
        println!("{name}: timesteps {ts:?} equal; max |x0 - diffusers| = {d:.2e} (tol {tol:.2e}, max |x0| {scale:.1})");
        assert!(d <= tol, "{name}: {d} > {tol}");
    }
}
