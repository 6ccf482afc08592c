//! The tract pipeline on the committed models (`www/models/unet.onnx`,
//! `www/models/classifier.onnx`). Run them with `--release`: tract in a debug build is ~30x
//! slower, so the three tests that sample are ignored in debug builds (release: ~15 s here).
//!
//! The thresholds are measured on the committed UNet (partially trained: `training_steps` in
//! its metadata) and set below the measurement with a margin; re-measure them when the model
//! file changes (`cargo test --release -p dpm-solver-wasm --test pipeline -- --nocapture`
//! prints the figures).

use std::ops::ControlFlow;

use dpm_solver_wasm::pipeline::*;

/// Fraction of guided samples (scale [`GUIDANCE`], 10 NFE DPM-Solver++(2M)) that the
/// classifier assigns to the requested class (`class_accuracy_measured` in the test output).
/// Measured on the committed UNet at 8,500 and at 4,000 training steps: 1.00 (20/20); earlier
/// exports: 0.80 at 2,500 steps, 0.20 at 250. The bound allows 4 misses in 20; re-measure with the final
/// model.
const MIN_CLASS_ACCURACY: f64 = 0.8;
/// Guidance scale of the accuracy test.
const GUIDANCE: f32 = 3.0;
/// Images in the accuracy test (two per class).
const ACCURACY_BATCH: usize = 20;
/// Largest |difference| between the same image drawn in batches of different sizes (tract's
/// kernels may sum in another order for another batch size).
const BATCH_INVARIANCE_TOL: f32 = 1e-3;
/// Largest |value| of an unclipped 10-NFE result. Measured on the committed UNet at 8,500
/// training steps: 1.08 (4,000: 1.18; 2,500 steps: 1.58; 250 steps: 46.8, when the barely trained network's
/// ODE left [-1, 1] far behind).
const UNCLIPPED_BOUND: f32 = 3.0;

fn models_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../www/models")
}

/// `www/models/unet.onnx`, or the file named by `DPM_SOLVER_UNET` (to measure another export).
fn unet_bytes() -> Vec<u8> {
    let path = std::env::var_os("DPM_SOLVER_UNET")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| models_dir().join("unet.onnx"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn classifier_bytes() -> Vec<u8> {
    std::fs::read(models_dir().join("classifier.onnx")).expect("www/models/classifier.onnx")
}

/// The fraction of `gen`'s images the classifier assigns to their requested class, and its
/// predictions.
fn class_accuracy(clf: &mut Classifier, gen: &Generation) -> (f64, Vec<usize>) {
    let cls = clf.classify(&gen.images).unwrap();
    assert_eq!(cls.features.len(), gen.batch * clf.info().feature_dim);
    let pred = cls.predicted();
    let hits = pred
        .iter()
        .zip(&gen.labels)
        .filter(|(p, l)| **p as i64 == **l)
        .count();
    (hits as f64 / gen.batch as f64, pred)
}

fn opts(seed: u64, batch: usize) -> GenerateOptions<'static> {
    GenerateOptions {
        seed,
        batch,
        conditioning: Conditioning::PerImage((0..batch).map(|i| i % 10).collect()),
        guidance_scale: GUIDANCE,
        solver: Config {
            steps: 10,
            ..generate_profile()
        },
        ..GenerateOptions::default()
    }
}

#[test]
fn metadata_is_read() {
    let pipe = Pipeline::from_bytes(&unet_bytes()).unwrap();
    let info = pipe.info();
    assert_eq!(
        info.shape,
        ImageShape {
            channels: 1,
            height: 28,
            width: 28
        }
    );
    assert_eq!(info.prediction, dpm_solver::Prediction::Noise);
    assert_eq!(
        info.schedule,
        ScheduleInfo::Linear {
            beta_start: 1e-4,
            beta_end: 0.02,
            n: 1000
        }
    );
    assert_eq!(info.value_range, (-1.0, 1.0));
    assert_eq!(info.num_classes, 10);
    assert_eq!(info.null_class, Some(10));
    assert!(info.supports_guidance());
}

#[test]
#[cfg_attr(
    debug_assertions,
    ignore = "runs the UNet ~100 times: use --release (tract is ~30x slower in debug)"
)]
fn ten_nfe_generation_is_finite_and_in_range() {
    let mut pipe = Pipeline::from_bytes(&unet_bytes()).unwrap();
    let mut o = opts(1, 4);
    let mut steps = 0;
    let gen = pipe
        .generate(&o, |p| {
            steps += 1;
            assert_eq!(p.x0.len(), 4 * 784);
            assert!(p.x0.iter().all(|v| v.is_finite()));
            ControlFlow::Continue(())
        })
        .unwrap();
    assert_eq!(gen.nfe(), 10);
    assert_eq!(steps, 10);
    assert_eq!(gen.images.len(), 4 * 784);
    assert_eq!(
        gen.network_images,
        10 * 8,
        "guided: one batch of 2B per evaluation"
    );
    assert!(gen
        .images
        .iter()
        .all(|v| v.is_finite() && (-1.0..=1.0).contains(v)));

    o.clip = false;
    o.conditioning = Conditioning::Unconditional;
    let gen = pipe.generate(&o, no_progress).unwrap();
    let max = gen.images.iter().fold(0f32, |m, v| m.max(v.abs()));
    println!("unclipped unconditional max |x| = {max:.3}");
    assert!(gen.images.iter().all(|v| v.is_finite()));
    assert!(max < UNCLIPPED_BOUND, "max |x| = {max}");
    assert_eq!(gen.network_images, 10 * 4);
}

#[test]
#[cfg_attr(
    debug_assertions,
    ignore = "runs the UNet ~100 times: use --release (tract is ~30x slower in debug)"
)]
fn same_seed_same_images_other_seed_other_images() {
    let mut pipe = Pipeline::from_bytes(&unet_bytes()).unwrap();
    let a = pipe.generate(&opts(7, 2), no_progress).unwrap();
    let b = pipe.generate(&opts(7, 2), no_progress).unwrap();
    let c = pipe.generate(&opts(8, 2), no_progress).unwrap();
    assert_eq!(a.images, b.images, "same seed, same images (bit for bit)");
    let diff = a
        .images
        .iter()
        .zip(&c.images)
        .map(|(x, y)| (x - y).abs())
        .fold(0f32, f32::max);
    assert!(diff > 0.5, "other seed, other images (max diff {diff})");
    // Image i depends on (seed, i) only, not on the batch it is drawn in.
    let one = pipe.generate(&opts(7, 1), no_progress).unwrap();
    let d = one
        .image(0)
        .iter()
        .zip(a.image(0))
        .map(|(x, y)| (x - y).abs())
        .fold(0f32, f32::max);
    println!("batch 1 vs batch 2, image 0: max diff {d:e}");
    assert!(d <= BATCH_INVARIANCE_TOL, "max diff {d}");
}

#[test]
fn noise_is_seeded_and_standard() {
    let a = initial_noise(3, 0, 4, 784);
    assert_eq!(a, initial_noise(3, 0, 4, 784));
    assert_eq!(
        &a[784..],
        &initial_noise(3, 1, 3, 784)[..],
        "image i is stream i"
    );
    let mean = a.iter().sum::<f32>() / a.len() as f32;
    let var = a.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / a.len() as f32;
    assert!(
        mean.abs() < 0.06 && (var - 1.0).abs() < 0.08,
        "mean {mean} var {var}"
    );
}

#[test]
#[cfg_attr(
    debug_assertions,
    ignore = "runs the UNet ~100 times: use --release (tract is ~30x slower in debug)"
)]
fn requested_classes_are_recognised() {
    let mut pipe = Pipeline::from_bytes(&unet_bytes()).unwrap();
    let mut clf = Classifier::from_bytes(&classifier_bytes()).unwrap();
    assert_eq!(clf.info().num_classes, 10);
    assert_eq!(clf.info().feature_dim, 128);
    let o = opts(100, ACCURACY_BATCH);
    let gen = pipe.generate(&o, no_progress).unwrap();
    let (acc, pred) = class_accuracy(&mut clf, &gen);
    println!("class_accuracy_measured = {acc:.3}, predicted {pred:?}");
    assert!(
        acc >= MIN_CLASS_ACCURACY,
        "accuracy {acc} < {MIN_CLASS_ACCURACY}"
    );
}

#[test]
fn progress_can_cancel() {
    let mut pipe = Pipeline::from_bytes(&unet_bytes()).unwrap();
    let r = pipe.generate(&opts(0, 1), |p| {
        if p.nfe >= 3 {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    });
    assert_eq!(r.unwrap_err(), PipelineError::Cancelled { nfe: 3 });
}

#[test]
fn malformed_onnx_is_an_error() {
    let bytes = unet_bytes();
    for (what, b) in [
        ("empty", Vec::new()),
        ("garbage", b"this is not an onnx file at all".to_vec()),
        ("truncated", bytes[..bytes.len() / 2].to_vec()),
    ] {
        match DiffusionModel::from_bytes(&b) {
            Err(e @ PipelineError::Onnx(_)) => println!("{what}: {e}"),
            Err(e) => panic!("{what}: unexpected error {e:?}"),
            Ok(_) => panic!("{what}: loaded"),
        }
    }
}

#[test]
fn wrong_model_and_wrong_inputs_are_errors() {
    // The classifier has no diffusion metadata.
    match DiffusionModel::from_bytes(&classifier_bytes()) {
        Err(PipelineError::MissingMetadata(k)) => {
            assert!(k[0].starts_with("prediction_type"), "{k:?}")
        }
        Err(e) => panic!("unexpected {e:?}"),
        Ok(_) => panic!("loaded"),
    }
    // ... and with metadata, its inputs do not fit.
    let meta = [
        ("prediction_type", "epsilon"),
        ("beta_schedule", "linear"),
        ("beta_start", "0.0001"),
        ("beta_end", "0.02"),
        ("num_train_timesteps", "1000"),
        ("image_channels", "1"),
        ("image_height", "28"),
        ("image_width", "28"),
        ("num_classes", "10"),
        ("null_class", "10"),
        ("input_names", "x,t,class"),
        ("output_names", "eps"),
    ];
    let e = DiffusionModel::from_bytes_with_metadata(&classifier_bytes(), &meta)
        .err()
        .unwrap();
    assert!(matches!(e, PipelineError::Interface(_)), "{e:?}");
    println!("{e}");
    // Metadata that disagrees with the graph's shapes.
    let unet = unet_bytes();
    let e = DiffusionModel::from_bytes_with_metadata(&unet, &[("image_height", "32")])
        .err()
        .unwrap();
    assert!(matches!(e, PipelineError::Interface(_)), "{e:?}");
    println!("{e}");
    let e = DiffusionModel::from_bytes_with_metadata(&unet, &[("prediction_type", "banana")])
        .err()
        .unwrap();
    assert!(matches!(e, PipelineError::InvalidMetadata { .. }), "{e:?}");
    println!("{e}");

    let mut model = DiffusionModel::from_bytes(&unet).unwrap();
    let x = vec![0.0f32; 2 * 784];
    assert!(model.eval(&x, &[10.0, 10.0], &[1, 2]).is_ok());
    for (what, r) in [
        ("short x", model.eval(&x[..700], &[10.0, 10.0], &[1, 2])),
        ("missing class", model.eval(&x, &[10.0, 10.0], &[1])),
        (
            "class out of range",
            model.eval(&x, &[10.0, 10.0], &[1, 11]),
        ),
        ("NaN time", model.eval(&x, &[f32::NAN, 10.0], &[1, 2])),
        ("empty batch", model.eval(&[], &[], &[])),
    ] {
        let e = r.err().unwrap_or_else(|| panic!("{what}: accepted"));
        assert!(matches!(e, PipelineError::InvalidInput(_)), "{what}: {e:?}");
    }

    let mut pipe = Pipeline::new(model);
    for (what, o) in [
        (
            "batch 0",
            GenerateOptions {
                batch: 0,
                ..GenerateOptions::default()
            },
        ),
        (
            "class 10",
            GenerateOptions {
                conditioning: Conditioning::Class(10),
                ..GenerateOptions::default()
            },
        ),
        (
            "classes for another batch",
            GenerateOptions {
                conditioning: Conditioning::PerImage(vec![1, 2]),
                ..GenerateOptions::default()
            },
        ),
        (
            "order 4",
            GenerateOptions {
                solver: Config {
                    order: 4,
                    ..generate_profile()
                },
                ..GenerateOptions::default()
            },
        ),
        (
            "NaN guidance",
            GenerateOptions {
                conditioning: Conditioning::Class(1),
                guidance_scale: f32::NAN,
                ..GenerateOptions::default()
            },
        ),
    ] {
        let e = pipe
            .generate(&o, no_progress)
            .err()
            .unwrap_or_else(|| panic!("{what}: accepted"));
        println!("{what}: {e}");
    }

    let mut clf = Classifier::from_bytes(&classifier_bytes()).unwrap();
    assert!(matches!(
        clf.classify(&x[..100]),
        Err(PipelineError::InvalidInput(_))
    ));
    assert!(matches!(
        Classifier::from_bytes(b"nope"),
        Err(PipelineError::Onnx(_))
    ));
}

#[test]
fn grid_layout_and_rgba() {
    let shape = ImageShape {
        channels: 1,
        height: 2,
        width: 3,
    };
    let img: Vec<f32> = vec![-1.0, 0.0, 1.0, 2.0, -2.0, f32::NAN];
    let rgba = to_rgba(&img, shape, (-1.0, 1.0));
    assert_eq!(rgba.len(), 4 * 6);
    assert_eq!(
        &rgba[..12],
        &[0, 0, 0, 255, 128, 128, 128, 255, 255, 255, 255, 255]
    );
    assert_eq!(
        &rgba[12..],
        &[255, 255, 255, 255, 0, 0, 0, 255, 0, 0, 0, 255]
    );
    let layout = GridLayout::new(5, 0, shape, 1, 2);
    assert_eq!((layout.cols, layout.rows), (3, 2));
    assert_eq!(layout.width, 3 * 6 + 4);
    assert_eq!(layout.height, 2 * 4 + 3);
    assert_eq!(layout.origin(4), (1 + 7, 1 + 5));
    assert_eq!(layout.cell_at(8, 6), Some(4));
    assert_eq!(layout.cell_at(0, 0), None);
    let imgs: Vec<f32> = img.iter().cycle().take(5 * 6).copied().collect();
    let grid = grid_rgba(&imgs, shape, (-1.0, 1.0), &layout, [9, 9, 9, 255]);
    assert_eq!(grid.len(), 4 * layout.width * layout.height);
    assert_eq!(&grid[..4], &[9, 9, 9, 255]);
    let (ox, oy) = layout.origin(1);
    let o = 4 * (oy * layout.width + ox);
    assert_eq!(&grid[o..o + 8], &[0, 0, 0, 255, 0, 0, 0, 255], "scaled x2");
}

/// A diffusers scheduler config from `(key, value)` pairs by diffusers' names.
fn scheduler(
    class: SchedulerClass,
    keys: &[(&str, ConfigValue<'_, 'static>)],
) -> SchedulerConfig<'static> {
    let mut c = SchedulerConfig::new(class);
    for (k, v) in keys {
        c.set(k, *v).unwrap();
    }
    c
}

#[test]
#[cfg_attr(
    debug_assertions,
    ignore = "runs the UNet ~800 times: use --release (tract is ~30x slower in debug)"
)]
fn diffusers_schedulers_draw_the_requested_digits() {
    let mut pipe = Pipeline::from_bytes(&unet_bytes()).unwrap();
    let mut clf = Classifier::from_bytes(&classifier_bytes()).unwrap();
    let unipc = scheduler(SchedulerClass::UniPCMultistep, &[]);
    let sde = scheduler(
        SchedulerClass::DPMSolverMultistep,
        &[("algorithm_type", ConfigValue::Str("sde-dpmsolver++"))],
    );
    for (name, sc, steps) in [("UniPC bh2", unipc, 10), ("DPM-Solver++(2M) SDE", sde, 20)] {
        let o = GenerateOptions {
            scheduler: Some(sc),
            solver: Config {
                steps,
                ..generate_profile()
            },
            ..opts(100, ACCURACY_BATCH)
        };
        assert_eq!(o.expected_nfe(), Some(steps));
        let mut reports = Vec::new();
        let gen = pipe
            .generate(&o, |p| {
                assert!(p.x0.iter().all(|v| v.is_finite()));
                reports.push(p.report);
                ControlFlow::Continue(())
            })
            .unwrap();
        assert_eq!(gen.nfe(), steps);
        assert_eq!(gen.network_images, steps * 2 * ACCURACY_BATCH);
        assert_eq!(reports.len(), steps);
        assert!(reports
            .windows(2)
            .all(|w| w[1].t_from == w[0].t_to && w[0].h > 0.0));
        assert_eq!(reports.last().unwrap().t_to, 0.0);
        let (acc, pred) = class_accuracy(&mut clf, &gen);
        println!("{name}, {steps} steps: class_accuracy_measured = {acc:.3}, predicted {pred:?}");
        assert!(acc >= MIN_CLASS_ACCURACY, "{name}: accuracy {acc}");
    }
}

#[test]
#[cfg_attr(
    debug_assertions,
    ignore = "runs the UNet ~100 times: use --release (tract is ~30x slower in debug)"
)]
fn sde_noise_is_seeded_per_image() {
    let mut pipe = Pipeline::from_bytes(&unet_bytes()).unwrap();
    let sde = scheduler(
        SchedulerClass::DPMSolverMultistep,
        &[("algorithm_type", ConfigValue::Str("sde-dpmsolver++"))],
    );
    let o = |seed, batch| GenerateOptions {
        scheduler: Some(sde),
        ..opts(seed, batch)
    };
    let a = pipe.generate(&o(7, 2), no_progress).unwrap();
    let b = pipe.generate(&o(7, 2), no_progress).unwrap();
    assert_eq!(
        a.images, b.images,
        "same seed, same SDE samples (bit for bit)"
    );
    // Same start, other step noise: the SDE samples differ, the ODE one is another again.
    let ode = pipe
        .generate(
            &GenerateOptions {
                scheduler: Some(scheduler(SchedulerClass::DPMSolverMultistep, &[])),
                ..opts(7, 2)
            },
            no_progress,
        )
        .unwrap();
    let diff = |x: &[f32], y: &[f32]| {
        x.iter()
            .zip(y)
            .map(|(p, q)| (p - q).abs())
            .fold(0f32, f32::max)
    };
    assert!(diff(&a.images, &ode.images) > 0.1, "the SDE run adds noise");
    let one = pipe.generate(&o(7, 1), no_progress).unwrap();
    let d = diff(one.image(0), a.image(0));
    println!("SDE batch 1 vs batch 2, image 0: max diff {d:e}");
    assert!(d <= BATCH_INVARIANCE_TOL, "max diff {d}");
}
