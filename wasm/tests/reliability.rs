//! Issue 15, the pipeline's share (native): malformed ONNX files are errors and never reach a
//! panic inside tract (which would be a trap in wasm), metadata and options that would
//! allocate without bound are refused, and the image helpers never index out of bounds.
//! The models are `fuzz/seeds/*.onnx` (written by `fuzz/make_seeds.py`).

use std::path::PathBuf;

use dpm_solver_wasm::pipeline::*;

fn seed(name: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/seeds")
        .join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn malformed_onnx_files_are_errors_before_tract_panics() {
    for (name, expect) in [
        ("bad_output_name.onnx", "graph output \"ghost\""),
        ("bad_raw_data.onnx", "bytes of raw data"),
        ("bad_dims.onnx", "dims [1099511627776, 1099511627776, -3]"),
        ("bad_raw_string.onnx", "raw data of type String"),
        ("bad_num_classes.onnx", "num_classes"),
        ("bad_image_dims.onnx", "image_channels"),
    ] {
        let err = match DiffusionModel::from_bytes(&seed(name)) {
            Ok(_) => panic!("{name} loaded"),
            Err(e) => e.to_string(),
        };
        assert!(err.contains(expect), "{name}: {err}");
        assert!(
            !err.contains("tract panicked"),
            "{name} reached a panic in tract: {err}"
        );
    }
    // The good seed loads and generates.
    let mut p = Pipeline::from_bytes(&seed("tiny_unet.onnx")).unwrap();
    let g = p
        .generate(
            &GenerateOptions {
                batch: 2,
                solver: Config {
                    steps: 3,
                    ..generate_profile()
                },
                ..Default::default()
            },
            no_progress,
        )
        .unwrap();
    assert!(g.images.iter().all(|v| v.is_finite()));
}

#[test]
fn metadata_sizes_are_capped() {
    let tiny = seed("tiny_unet.onnx");
    for (k, v) in [("num_classes", "1000000000"), ("image_height", "4096")] {
        let overrides: &[(&str, &str)] = if k == "image_height" {
            &[
                ("image_height", v),
                ("image_width", "4096"),
                ("image_channels", "4096"),
            ]
        } else {
            &[(k, v)]
        };
        // With the graph: refused before anything is allocated (for the image dims the graph's
        // fixed input shape already contradicts the metadata).
        let err = DiffusionModel::from_bytes_with_metadata(&tiny, overrides).err();
        assert!(
            matches!(
                err,
                Some(PipelineError::InvalidMetadata { .. } | PipelineError::Interface(_))
            ),
            "{k}={v}: {err:?}"
        );
        // The metadata alone (as for a graph with free image dims): the size cap itself.
        let mut entries = DiffusionModel::from_bytes(&tiny)
            .unwrap()
            .info()
            .metadata
            .clone();
        entries.retain(|(key, _)| !overrides.iter().any(|(o, _)| o == key));
        entries.extend(
            overrides
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string())),
        );
        let err = ModelInfo::from_metadata(&entries).err();
        assert!(
            matches!(err, Some(PipelineError::InvalidMetadata { .. })),
            "{k}={v} (metadata only): {err:?}"
        );
    }
}

#[test]
fn generation_sizes_and_guidance_are_checked() {
    let mut p = Pipeline::from_bytes(&seed("tiny_unet.onnx")).unwrap();
    for scale in [3e38f32, f32::INFINITY, f32::NAN, -2e4] {
        let o = GenerateOptions {
            batch: 1,
            solver: Config {
                steps: 2,
                ..generate_profile()
            },
            conditioning: Conditioning::Class(1),
            guidance_scale: scale,
            ..Default::default()
        };
        let e = p.generate(&o, no_progress).unwrap_err().to_string();
        assert!(e.contains("guidance scale"), "{scale}: {e}");
    }
    let o = GenerateOptions {
        batch: 5000,
        ..Default::default()
    };
    assert!(p.generate(&o, no_progress).is_err());
    // A plan batch whose activations exceed the cap is refused before tract allocates them.
    let mut unet = DiffusionModel::from_bytes(
        &std::fs::read(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../www/models/unet.onnx"))
            .unwrap(),
    )
    .unwrap();
    unet.set_plan_batch(4096).unwrap();
    let e = unet.prepare(4096).unwrap_err().to_string();
    assert!(e.contains("intermediate tensor"), "{e}");
    eprintln!("{e}");
    // Still usable.
    unet.set_plan_batch(1).unwrap();
    unet.prepare(1).unwrap();
}

#[test]
fn image_helpers_never_index_out_of_bounds() {
    let shape = ImageShape {
        channels: 3,
        height: 4,
        width: 4,
    };
    // A short image: drawn (black where values are missing), no panic.
    let rgba = to_rgba(&[0.0; 5], shape, (-1.0, 1.0));
    assert_eq!(rgba.len(), 64);
    // Sizes whose byte count overflows give an empty picture.
    let huge = ImageShape {
        channels: 1,
        height: usize::MAX / 2,
        width: 3,
    };
    assert!(to_rgba(&[], huge, (-1.0, 1.0)).is_empty());
    let layout = GridLayout::new(4, 0, huge, 1, 64);
    assert_eq!(layout.height, usize::MAX);
    assert!(grid_rgba(&[0.0; 4], huge, (-1.0, 1.0), &layout, [0; 4]).is_empty());
    // Generation::image past the batch is empty.
    let mut p = Pipeline::from_bytes(&seed("tiny_unet.onnx")).unwrap();
    let g = p
        .generate(
            &GenerateOptions {
                batch: 2,
                solver: Config {
                    steps: 2,
                    ..generate_profile()
                },
                ..Default::default()
            },
            no_progress,
        )
        .unwrap();
    assert_eq!(g.image(1).len(), 16);
    assert!(g.image(2).is_empty());
    assert!(g.image(usize::MAX).is_empty());
}

/// The inputs above are real: handed to tract-onnx 0.23.9 unchecked, these two panic inside it
/// (natively a caught unwind, in wasm a trap that poisoned the instance).
#[test]
fn unchecked_tract_panics_on_the_malformed_files() {
    use tract_onnx::prelude::*;
    for name in ["bad_output_name.onnx", "bad_raw_string.onnx"] {
        let bytes = seed(name);
        let hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        let r = std::panic::catch_unwind(|| {
            let _ = tract_onnx::onnx().model_for_read(&mut &bytes[..]);
        });
        std::panic::set_hook(hook);
        assert!(
            r.is_err(),
            "{name}: tract no longer panics (the check may be redundant)"
        );
    }
}

/// `fuzz/tract-panics/`: one mutated model per place tract-onnx 0.23.9 panicked on a malformed
/// model (`vendor/PATCHES.md`; in wasm each was a trap), with the evaluation the fuzz harness
/// ran on it when it loads. With the patched tract every one is a clear error, from loading or
/// from the evaluation, and none is a caught panic; except `expansion-outputs`, which is a
/// valid model once tract compares only the outputs the node declares.
#[test]
fn models_that_made_tract_panic_are_errors() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/tract-panics");
    let mut names: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "onnx"))
        .collect();
    names.sort();
    assert!(names.len() >= 10, "{} models", names.len());
    for path in &names {
        let name = path.file_name().unwrap().to_string_lossy();
        let err = match DiffusionModel::from_bytes(&std::fs::read(path).unwrap()) {
            Err(e) => e.to_string(),
            Ok(mut model) => {
                let json = std::fs::read_to_string(path.with_extension("json"))
                    .unwrap_or_else(|e| panic!("{name} loads but has no evaluation: {e}"));
                let v: serde_json::Value = serde_json::from_str(&json).unwrap();
                let list = |k: &str| v[k].as_array().unwrap().iter().map(|n| n.as_f64().unwrap());
                let x: Vec<f32> = list("x").map(|f| f as f32).collect();
                let t: Vec<f32> = list("t").map(|f| f as f32).collect();
                let classes: Vec<i64> = list("classes").map(|f| f as i64).collect();
                match model.eval(&x, &t, &classes) {
                    // A node declaring fewer outputs than its op makes: the declared ones are
                    // used, a valid model (the panic compared the undeclared ones too).
                    Ok(out) if name.contains("expansion-outputs") => {
                        assert!(out.iter().all(|v| v.is_finite()), "{name}");
                        continue;
                    }
                    Ok(_) => panic!("{name}: loaded and evaluated without an error"),
                    Err(e) => e.to_string(),
                }
            }
        };
        assert!(!err.contains("tract panicked"), "{name}: {err}");
    }
}
