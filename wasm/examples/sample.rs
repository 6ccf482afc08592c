//! Draws a batch with the tract pipeline and writes a PNG grid (`--help` lists the options).
//!
//! ```sh
//! cargo run --release -p dpm-solver-wasm --example sample -- --solver dpmsolver++ --order 2 \
//!     --steps 10 --class 7 --guidance 3 --seed 0 --batch 16 --out samples.png
//! # a diffusers UNet exported without metadata, with its scheduler_config.json:
//! cargo run --release -p dpm-solver-wasm --example sample -- --model unet.onnx \
//!     --scheduler scheduler_config.json --steps 20 --out samples.png
//! ```

use std::io::BufWriter;
use std::time::Instant;

use dpm_solver_wasm::pipeline::*;
// `Value` alone is also lexopt's free argument in `run`.
use dpm_solver_wasm::pipeline::Value as OptionValue;

const HELP: &str = "\
Draws a batch of images from an ONNX diffusion model with DPM-Solver (tract) and writes a PNG grid.

usage: sample [options]

Model (what a model must be: MODEL.md)
  --model FILE              ONNX model [www/models/unet.onnx]; a side file of external data
                            (model.onnx.data) is read from the same folder
  --meta KEY=VALUE          a metadata fact the file lacks or gets wrong (repeatable), e.g.
                            --meta prediction_type=epsilon --meta image_height=32
                            (keys: see MODEL.md)
  --scheduler-config FILE   a diffusers scheduler_config.json: the model's prediction type and
                            training schedule (Python's JSON with -Infinity/NaN is fine)
Sampler (any option of the core's options module, dpm_solver::options, as --NAME VALUE;
names and values ignore case, '_' and '-'; a group entry as --group.entry VALUE)
  --algorithm NAME          dpmsolver | dpmsolver++ [dpmsolver++] (also --solver)
  --method NAME             multistep | singlestep | singlestep_fixed | adaptive [multistep]
  --order K                 1..3 [2]
  --steps N                 network evaluations (diffusers: num_inference_steps) [10]
  --spacing NAME            logSNR | time_uniform | time_quadratic | karras, or times
                            t_start,...,t_end [logSNR]
  --spacing.karras RHO      Karras spacing with this rho (also --spacing.flow-shift S,
                            --spacing.mu MU)
  --thresholding            dynamic thresholding (ratio 0.995, max 1), DPM-Solver++ only
                            (--thresholding.ratio R, --thresholding.max-val M)
  --lower-order-final BOOL, --denoise-to-zero BOOL, --multistep-variant NAME,
  --solver-type NAME, --t-start T, --t-end T, --adaptive.atol X, ...
  --scheduler FILE          sample with the diffusers scheduler this scheduler_config.json
                            configures (its _class_name: DPMSolverMultistepScheduler,
                            DPMSolverSinglestepScheduler, UniPCMultistepScheduler,
                            DDIMScheduler) instead of the options above; also gives the model's
                            facts as --scheduler-config does
Images
  --class C                 a class index, none (unconditional) or all (image i gets class
                            i mod num_classes) [all for a class-conditional model, else none]
  --guidance S              classifier-free guidance scale [3 if the model has a null class,
                            else 1]
  --seed N                  noise seed [0]
  --batch N                 images [16]
  --cols N                  grid columns [0: near-square; num_classes with --class all]
  --scale N                 pixel scale of the grid [2]
  --out FILE                PNG to write [samples.png]
  --quiet                   no per-step lines
  -h, --help                this text
";

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

/// A command-line value for the options module: a comma-separated list of times (kept for
/// the run), or a single word.
fn option_value(text: &str) -> std::result::Result<Value<'_, 'static, f32>, String> {
    if !text.contains(',') {
        return Ok(Value::word(text));
    }
    let times = text
        .split(',')
        .map(|t| t.trim().parse::<f32>())
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|_| format!("{text} is not a list of numbers"))?;
    Ok(Value::Numbers(Box::leak(times.into_boxed_slice())))
}

/// An option error as this command's message (`--steps must be ...`).
fn cli_error(e: OptionError<'_>) -> String {
    if e.is_unknown() && e.group.is_none() {
        format!("{e} (see --help)")
    } else {
        format!("--{e}")
    }
}

fn run() -> std::result::Result<(), Box<dyn std::error::Error>> {
    use lexopt::prelude::*;
    let mut model = "www/models/unet.onnx".to_string();
    let mut out = "samples.png".to_string();
    let mut opts = GenerateOptions {
        batch: 16,
        ..GenerateOptions::default()
    };
    let mut solver = Options::from_config(opts.solver);
    let mut load = LoadOptions::default();
    let mut scheduler: Option<String> = None;
    let mut class: Option<String> = None;
    let mut guidance: Option<f32> = None;
    let (mut cols, mut scale, mut quiet) = (None, 2usize, false);
    let read_text =
        |p: String| std::fs::read_to_string(&p).map_err(|e| format!("reading {p}: {e}"));
    let mut args = lexopt::Parser::from_env();
    while let Some(arg) = args.next()? {
        match arg {
            Long("model") => model = args.value()?.string()?,
            Long("meta") => {
                let kv = args.value()?.string()?;
                let (k, v) = kv
                    .split_once('=')
                    .ok_or_else(|| format!("--meta takes KEY=VALUE, got {kv}"))?;
                if !KEYS.contains(&k.trim()) {
                    return Err(format!(
                        "--meta: unknown key {k} (expected one of: {}; see MODEL.md)",
                        KEYS.join(", ")
                    )
                    .into());
                }
                load.metadata
                    .push((k.trim().to_string(), v.trim().to_string()));
            }
            Long("scheduler-config") => {
                load.scheduler_config = Some(read_text(args.value()?.string()?)?)
            }
            Long("scheduler") => scheduler = Some(read_text(args.value()?.string()?)?),
            Long("out") => out = args.value()?.string()?,
            Long("class") => class = Some(args.value()?.string()?),
            Long("guidance") => guidance = Some(args.value()?.parse()?),
            Long("seed") => opts.seed = args.value()?.parse()?,
            Long("batch") => opts.batch = args.value()?.parse()?,
            Long("cols") => cols = Some(args.value()?.parse()?),
            Long("scale") => scale = args.value()?.parse()?,
            Long("quiet") => quiet = true,
            Short('h') | Long("help") => {
                print!("{HELP}");
                return Ok(());
            }
            // A flag: dynamic thresholding at its defaults.
            Long("thresholding") => solver
                .set("thresholding", OptionValue::Bool(true))
                .map_err(cli_error)?,
            // Every other long option is a DPM-Solver option by name (`--solver` is the old
            // name of `--algorithm`).
            Long(name) => {
                let key = if name == "solver" { "algorithm" } else { name }.to_string();
                // The model decides what it predicts; images are drawn from noise (as
                // `Model.generate` refuses them).
                if ["prediction", "direction"]
                    .iter()
                    .any(|n| dpm_solver::options::same_name(&key, n))
                {
                    return Err(format!("--{key} does not apply to drawing images").into());
                }
                let text = args.value()?.string()?;
                solver.set(&key, option_value(&text)?).map_err(cli_error)?;
            }
            _ => return Err(format!("{} (see --help)", arg.unexpected()).into()),
        }
    }
    opts.solver = solver.config().map_err(cli_error)?;
    // The scheduler's config also states the model's facts (the file's metadata and --meta
    // still win where they speak).
    if let Some(text) = &scheduler {
        if load.scheduler_config.is_none() {
            load.scheduler_config = Some(text.clone());
        }
        // The options borrow the config for the whole run.
        let sj: &'static SchedulerJson = Box::leak(Box::new(SchedulerJson::parse(text)?));
        let (cfg, ignored) = sj.config(None)?;
        if !quiet && !ignored.is_empty() {
            eprintln!(
                "scheduler: keys {} do not apply to {}",
                ignored.join(", "),
                cfg.class().name()
            );
        }
        opts.scheduler = Some(cfg);
    }

    let bytes = std::fs::read(&model).map_err(|e| format!("reading {model}: {e}"))?;
    load.external_data = read_external_data(std::path::Path::new(&model), &bytes)?;
    let t0 = Instant::now();
    let mut pipe = Pipeline::new(DiffusionModel::load(&bytes, &load)?);
    let info = pipe.info().clone();
    let k = info.num_classes;
    let class = class.unwrap_or_else(|| if k > 0 { "all" } else { "none" }.to_string());
    opts.conditioning = match class.as_str() {
        "none" | "uncond" | "unconditional" => Conditioning::Unconditional,
        "all" if k > 0 => Conditioning::PerImage((0..opts.batch).map(|i| i % k).collect()),
        "all" => Conditioning::Unconditional,
        c => Conditioning::Class(
            c.parse()
                .map_err(|_| format!("--class takes an index, none or all, got {c}"))?,
        ),
    };
    opts.guidance_scale = guidance.unwrap_or(if info.supports_guidance() { 3.0 } else { 1.0 });
    let cols = cols.unwrap_or(if class == "all" { k } else { 0 });
    if !quiet {
        eprintln!(
            "{model}: {}x{}x{}, {} classes, prediction {:?}, inputs {}, output {}{}",
            info.shape.channels,
            info.shape.height,
            info.shape.width,
            k,
            info.prediction,
            info.input_names.join(", "),
            info.output_name,
            if info.description.is_empty() {
                String::new()
            } else {
                format!(" - {}", info.description)
            }
        );
    }
    pipe.prepare(&opts)?;
    let load = t0.elapsed();
    let t1 = Instant::now();
    let gen = pipe.generate(&opts, |p| {
        if !quiet {
            eprintln!(
                "step {:>3}  nfe {:>3}/{}  t = {:.4}  order {}",
                p.report.step,
                p.nfe,
                p.expected_nfe.map_or("?".to_string(), |n| n.to_string()),
                p.t,
                p.report.order
            );
        }
        ControlFlow::Continue(())
    })?;
    let dt = t1.elapsed().as_secs_f64();
    let layout = GridLayout::new(gen.batch, cols, gen.shape, 2, scale);
    let rgba = grid_rgba(
        &gen.images,
        gen.shape,
        gen.value_range,
        &layout,
        [40, 40, 40, 255],
    );
    let file = std::fs::File::create(&out).map_err(|e| format!("creating {out}: {e}"))?;
    let mut enc = png::Encoder::new(
        BufWriter::new(file),
        layout.width as u32,
        layout.height as u32,
    );
    enc.set_color(png::ColorType::Rgba);
    enc.set_depth(png::BitDepth::Eight);
    enc.write_header()?.write_image_data(&rgba)?;
    let guided = if opts.is_guided() {
        " (guided: 2 x batch per evaluation)"
    } else {
        ""
    };
    println!(
        "{} images, NFE {}{guided}, load + optimise {:.2} s, sampling {:.2} s ({:.1} ms per evaluation of {} images), wrote {out}",
        gen.batch,
        gen.nfe(),
        load.as_secs_f64(),
        dt,
        1000.0 * dt / gen.nfe().max(1) as f64,
        if opts.is_guided() { 2 * gen.batch } else { gen.batch },
    );
    Ok(())
}
