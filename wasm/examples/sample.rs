//! Draws a batch with the tract pipeline and writes a PNG grid.
//!
//! ```sh
//! cargo run --release -p dpm-solver-wasm --example sample -- --solver dpmsolver++ --order 2 \
//!     --steps 10 --class 7 --guidance 3 --seed 0 --batch 16 --out samples.png
//! ```
//!
//! Options (defaults in brackets): `--model` [www/models/unet.onnx], `--solver`
//! dpmsolver|dpmsolver++ [dpmsolver++], `--method` multistep|singlestep|singlestep_fixed|adaptive
//! [multistep], `--order` [2], `--steps` [10], `--spacing` logSNR|time_uniform|time_quadratic|karras
//! [logSNR], `--class` 0..9|none|all [all: image i gets class i mod 10], `--guidance` [3],
//! `--seed` [0], `--batch` [16], `--cols` [0: near-square; 10 with --class all], `--scale` [2],
//! `--thresholding` (ratio 0.995, max 1), `--out` [samples.png], `--quiet`.

use std::io::BufWriter;
use std::time::Instant;

use dpm_solver_wasm::pipeline::*;

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run() -> std::result::Result<(), Box<dyn std::error::Error>> {
    let mut model = "www/models/unet.onnx".to_string();
    let mut out = "samples.png".to_string();
    let mut opts = GenerateOptions {
        batch: 16,
        guidance_scale: 3.0,
        ..GenerateOptions::default()
    };
    let mut class = "all".to_string();
    let (mut cols, mut scale, mut quiet) = (None, 2usize, false);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--model" => model = val()?,
            "--out" => out = val()?,
            "--solver" => opts.algorithm = parse_algorithm(&val()?)?,
            "--method" => opts.method = parse_method(&val()?)?,
            "--order" => opts.order = val()?.parse()?,
            "--steps" => opts.steps = val()?.parse()?,
            "--spacing" => opts.spacing = parse_spacing(&val()?)?,
            "--class" => class = val()?,
            "--guidance" => opts.guidance_scale = val()?.parse()?,
            "--seed" => opts.seed = val()?.parse()?,
            "--batch" => opts.batch = val()?.parse()?,
            "--cols" => cols = Some(val()?.parse()?),
            "--scale" => scale = val()?.parse()?,
            "--thresholding" => {
                opts.thresholding = Some(Thresholding {
                    ratio: 0.995,
                    max_val: 1.0,
                })
            }
            "--quiet" => quiet = true,
            "-h" | "--help" => {
                println!("see the header of wasm/examples/sample.rs for the options");
                return Ok(());
            }
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    opts.conditioning = match class.as_str() {
        "none" | "uncond" | "unconditional" => Conditioning::Unconditional,
        "all" => Conditioning::PerImage((0..opts.batch).map(|i| i % 10).collect()),
        c => Conditioning::Class(c.parse()?),
    };
    let cols = cols.unwrap_or(if class == "all" { 10 } else { 0 });

    let bytes = std::fs::read(&model).map_err(|e| format!("reading {model}: {e}"))?;
    let t0 = Instant::now();
    let mut pipe = Pipeline::from_bytes(&bytes)?;
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
