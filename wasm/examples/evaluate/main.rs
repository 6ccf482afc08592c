//! The paper's result on the demo model: sample quality against the number of function
//! evaluations (NFE) for DDIM, DPM-Solver and DPM-Solver++, on a fixed set of seeds.
//!
//! ```sh
//! cargo run --release -p dpm-solver-wasm --example evaluate            # full run -> wasm/QUALITY.md, wasm/quality.svg
//! cargo run --release -p dpm-solver-wasm --example evaluate -- --quick # smoke run (a minute or two)
//! ```
//!
//! For every solver and NFE, from the same starting noise (image `k` of seed 2022 is
//! `NoiseRng::with_stream(2022, k)`, class `k mod 10`):
//! - pixel RMSE (in `[-1, 1]` units, unclipped) to the converged ODE solution of the same noise
//!   (singlestep DPM-Solver-3 at `--ref-nfe`; its distance to DPM-Solver++(3M) at the same NFE
//!   is reported as the reference's own error);
//! - the Frechet distance in the classifier's 128-d feature space against the 10,000 training
//!   digits (FID in the classifier's feature space, as the MNIST literature uses it), on the
//!   clipped samples; with few samples it is biased upwards, so the same distance for as many
//!   real training digits is reported as the floor;
//! - the fraction of samples the classifier assigns to the requested class.
//!
//! The solvers are the demo's presets (`www/solvers.json`) that apply to the model's schedule
//! (DDPM or flow matching), or those `--rows` names. Options: `--help`.
//!
//! The flow-matching demo model (`www/models/flow.onnx`) is evaluated with
//! ```sh
//! cargo run --release -p dpm-solver-wasm --example evaluate -- --flow
//! ```
//! (`--flow` is shorthand for its model, rows, reference and report paths; see `--help`).
//!
//! Modules: [`presets`] (the solver rows), [`report`] (the Markdown tables), [`plot`] (the SVG
//! figure); the Frechet distance is the library's `pipeline::metrics`.

mod plot;
mod presets;
mod report;

use std::time::Instant;

use dpm_solver_wasm::pipeline::metrics::{frechet, mean_cov};
use dpm_solver_wasm::pipeline::*;
use presets::{Row, Solver};

const EVAL_SEED: u64 = 2022;

/// The preset whose run at `--ref-nfe` is the converged solution.
const REFERENCE: &str = "dpm3";
/// The preset whose distance to the reference at `--ref-nfe` is the reference's own error.
const REFERENCE_CHECK: &str = "pp3m";
/// The preset the headline compares against (the paper: DDIM at 100 NFE).
const DDIM: &str = "ddim";
/// DDIM's NFE that the headline compares against (the paper: DDIM at 100 NFE).
const DDIM_TARGET_NFE: usize = 100;
/// Samples of the full run. The cost is ~3,440 image evaluations of the UNet per sample
/// (every row and NFE, guided: two per NFE), ~5 ms each with per-image tract evaluation on
/// this 2-core machine: 704 s measured for 40 samples, so 80 fit in about 25 minutes.
const FULL_SAMPLES: usize = 80;
/// Images per batch of the full run (the network sees twice as many under guidance).
const FULL_BATCH: usize = 20;
/// NFE of the converged references (full run).
const FULL_REF_NFE: usize = 200;
/// Samples of `--flow` (fewer: the flow run comes on top of the main one).
pub const FLOW_SAMPLES: usize = 40;
/// Samples of `--quick` (one batch).
const QUICK_SAMPLES: usize = 4;
/// NFE of the references in `--quick`.
const QUICK_REF_NFE: usize = 60;

/// The command line (`--help`).
pub struct Args {
    pub quick: bool,
    pub samples: usize,
    pub batch: usize,
    pub guidance: f32,
    pub spacing: String,
    pub ref_nfe: usize,
    pub nfes: Vec<usize>,
    pub model: String,
    /// Preset keys of the grid and adaptive rows (empty: every preset for the model).
    pub rows: Vec<String>,
    /// Preset of the converged reference, and of its check.
    pub reference: String,
    pub reference_check: String,
    /// Spacing of the reference (its check runs at `spacing`).
    pub reference_spacing: String,
    pub classifier: String,
    pub data: String,
    pub md: String,
    pub plot: String,
    /// The command as run, for the report.
    pub command: String,
}

const HELP: &str = "\
Sample quality against NFE on the demo model (writes a Markdown report and an SVG plot).

usage: cargo run --release -p dpm-solver-wasm --example evaluate -- [options]

  --quick            smoke run: 4 samples, NFE 5,10,20, references at 60 NFE
  --samples N        samples (default 80; a multiple of --batch)
  --batch B          images per generation (default 20)
  --guidance S       classifier-free guidance scale (default 2; 1 = conditional, unguided)
  --spacing NAME     time steps of the DPM-Solver rows: logSNR (default), time_uniform,
                     time_quadratic, karras
  --ref-nfe N        NFE of the converged reference (default 200)
  --nfe A,B,...      the NFE grid (default 5,6,8,10,12,15,20,50)
  --model PATH       the UNet (default www/models/unet.onnx)
  --rows K,K,...     the presets (www/solvers.json keys) to evaluate (default: all that
                     apply to the model's schedule)
  --reference K      the converged reference's preset (default dpm3)
  --reference-check K  the preset whose distance to the reference at --ref-nfe is reported
                     as the reference's own error (default pp3m)
  --reference-spacing NAME  the reference's spacing (default: --spacing; its check runs at
                     --spacing)
  --flow             the flow-matching demo model: --model www/models/flow.onnx --samples 40
                     --nfe 4,5,6,8,10,12,15,20 --rows euler_flow,pp2m,pp2m_diffusers,unipc,pp3m
                     --reference pp2m --reference-spacing time_uniform --reference-check pp3m
                     --md wasm/QUALITY-flow.md --plot wasm/quality-flow.svg (later options win)
  --classifier PATH  the classifier (default www/models/classifier.onnx)
  --data DIR         the training digits (default train/data; `bash train/fetch_data.sh`)
  --md PATH          the report (default wasm/QUALITY.md)
  --plot PATH        the SVG plot (default wasm/quality.svg)
  -h, --help         this text
";

fn parse_args() -> std::result::Result<Option<Args>, Box<dyn std::error::Error>> {
    use lexopt::prelude::*;
    let raw: Vec<String> = std::env::args().skip(1).collect();
    let quick = raw.iter().any(|a| a == "--quick");
    let flow = raw.iter().any(|a| a == "--flow");
    let mut a = Args {
        quick,
        samples: if quick { QUICK_SAMPLES } else { FULL_SAMPLES },
        batch: if quick { QUICK_SAMPLES } else { FULL_BATCH },
        guidance: 2.0,
        spacing: "logSNR".into(),
        ref_nfe: if quick { QUICK_REF_NFE } else { FULL_REF_NFE },
        nfes: if quick {
            vec![5, 10, 20]
        } else {
            vec![5, 6, 8, 10, 12, 15, 20, 50]
        },
        model: "www/models/unet.onnx".into(),
        rows: Vec::new(),
        reference: REFERENCE.into(),
        reference_check: REFERENCE_CHECK.into(),
        reference_spacing: String::new(),
        classifier: "www/models/classifier.onnx".into(),
        data: "train/data".into(),
        md: "wasm/QUALITY.md".into(),
        plot: "wasm/quality.svg".into(),
        command: String::new(),
    };
    if flow {
        a.model = "www/models/flow.onnx".into();
        if !quick {
            a.samples = FLOW_SAMPLES;
            a.nfes = vec![4, 5, 6, 8, 10, 12, 15, 20];
        }
        a.rows = ["euler_flow", "pp2m", "pp2m_diffusers", "unipc", "pp3m"]
            .map(String::from)
            .to_vec();
        // The reference from t = 1 (pure noise, as Euler starts): DPM-Solver++(2M) uniform in
        // t; its check (and the core's rows) at logSNR, which starts at t = 1 - 1/N.
        a.reference = "pp2m".into();
        a.reference_check = "pp3m".into();
        a.reference_spacing = "time_uniform".into();
        a.md = "wasm/QUALITY-flow.md".into();
        a.plot = "wasm/quality-flow.svg".into();
    }
    let mut p = lexopt::Parser::from_args(raw.iter());
    while let Some(arg) = p.next()? {
        match arg {
            Long("quick") | Long("flow") => {}
            Long("samples") => a.samples = p.value()?.parse()?,
            Long("batch") => a.batch = p.value()?.parse()?,
            Long("guidance") => a.guidance = p.value()?.parse()?,
            Long("spacing") => a.spacing = p.value()?.string()?,
            Long("ref-nfe") => a.ref_nfe = p.value()?.parse()?,
            Long("nfe") => {
                a.nfes = p
                    .value()?
                    .string()?
                    .split(',')
                    .map(|s| s.trim().parse())
                    .collect::<std::result::Result<_, _>>()?
            }
            Long("model") => a.model = p.value()?.string()?,
            Long("rows") => {
                a.rows = p
                    .value()?
                    .string()?
                    .split(',')
                    .map(|s| s.trim().to_string())
                    .collect()
            }
            Long("reference") => a.reference = p.value()?.string()?,
            Long("reference-check") => a.reference_check = p.value()?.string()?,
            Long("reference-spacing") => a.reference_spacing = p.value()?.string()?,
            Long("classifier") => a.classifier = p.value()?.string()?,
            Long("data") => a.data = p.value()?.string()?,
            Long("md") => a.md = p.value()?.string()?,
            Long("plot") => a.plot = p.value()?.string()?,
            Short('h') | Long("help") => return Ok(None),
            _ => return Err(format!("{} (see --help)", arg.unexpected()).into()),
        }
    }
    if a.reference_spacing.is_empty() {
        a.reference_spacing = a.spacing.clone();
    }
    #[allow(clippy::manual_is_multiple_of)] // is_multiple_of needs Rust 1.87, the MSRV is 1.80
    if a.batch == 0 || a.samples == 0 || a.samples % a.batch != 0 {
        return Err("--samples must be a positive multiple of --batch".into());
    }
    let shown: Vec<&str> = raw.iter().map(String::as_str).collect();
    a.command = format!(
        "cargo run --release -p dpm-solver-wasm --example evaluate{}{}",
        if shown.is_empty() { "" } else { " -- " },
        shown.join(" ")
    );
    Ok(Some(a))
}

/// Running totals of one (solver, NFE) configuration.
#[derive(Default, Clone)]
pub struct Acc {
    sq: f64,
    px: usize,
    features: Vec<f32>,
    correct: usize,
    n: usize,
    nfe_sum: usize,
    runs: usize,
    secs: f64,
}

impl Acc {
    /// Pixel RMSE to the reference images.
    pub fn rmse(&self) -> f64 {
        (self.sq / self.px.max(1) as f64).sqrt()
    }
    /// Fraction of samples classified as their requested class.
    pub fn accuracy(&self) -> f64 {
        self.correct as f64 / self.n.max(1) as f64
    }
    /// Mean NFE per generation.
    pub fn mean_nfe(&self) -> f64 {
        self.nfe_sum as f64 / self.runs.max(1) as f64
    }
}

/// One (solver, NFE) cell of the evaluation and its figures.
pub struct Config {
    pub solver: Solver,
    /// Steps asked for (`None`: adaptive).
    pub nfe: Option<usize>,
    pub acc: Acc,
    pub fid: f64,
}

impl Config {
    fn new(solver: &Solver, nfe: Option<usize>) -> Self {
        Config {
            solver: solver.clone(),
            nfe,
            acc: Acc::default(),
            fid: 0.0,
        }
    }
}

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run() -> std::result::Result<(), Box<dyn std::error::Error>> {
    let Some(args) = parse_args()? else {
        print!("{HELP}");
        return Ok(());
    };
    let all = presets::load()?;
    let preset = |key: &str| {
        all.iter()
            .find(|s| s.key == key)
            .ok_or_else(|| format!("www/solvers.json has no preset \"{key}\""))
    };
    let (reference_solver, check_solver) =
        (preset(&args.reference)?, preset(&args.reference_check)?);
    let spacing = parse_spacing(&args.spacing)?;
    let reference_spacing = parse_spacing(&args.reference_spacing)?;
    let t_start = Instant::now();
    let mut pipe = Pipeline::from_bytes(
        &std::fs::read(&args.model).map_err(|e| format!("{}: {e}", args.model))?,
    )?;
    // The rows: those named, or every preset for the model's schedule, in the file's order.
    let flow = pipe.info().schedule.is_flow();
    let solvers: Vec<Solver> = if args.rows.is_empty() {
        all.iter().filter(|s| s.applies_to(flow)).cloned().collect()
    } else {
        args.rows
            .iter()
            .map(|k| preset(k).cloned())
            .collect::<std::result::Result<_, _>>()?
    };
    if let Some(s) = solvers.iter().find(|s| !s.applies_to(flow)) {
        return Err(format!("preset {} does not apply to {}", s.key, args.model).into());
    }
    let ddim = solvers.iter().find(|s| s.key == DDIM);
    let mut clf = Classifier::from_bytes(
        &std::fs::read(&args.classifier).map_err(|e| format!("{}: {e}", args.classifier))?,
    )?;
    let info = pipe.info().clone();
    let dim = info.image_len();

    // Reference statistics: the classifier's features of the training digits.
    let (digits, _digit_labels) = load_digits(&args.data)?;
    let n_data = digits.len() / dim;
    let data_feat = clf.classify(&digits)?.features;
    let fdim = clf.info().feature_dim;
    let (data_mu, data_cov) = mean_cov(&data_feat, fdim);
    // Floor: as many real digits as samples (a fixed stride through the set).
    let stride = (n_data / args.samples).max(1);
    let floor_idx: Vec<usize> = (0..args.samples.min(n_data))
        .map(|i| (i * stride + stride / 2) % n_data)
        .collect();
    let floor_feat: Vec<f32> = floor_idx
        .iter()
        .flat_map(|&i| data_feat[i * fdim..(i + 1) * fdim].to_vec())
        .collect();
    let fid_floor = frechet(&floor_feat, fdim, &data_mu, &data_cov);
    eprintln!(
        "{n_data} training digits; feature FID floor for {} real digits: {fid_floor:.3}",
        args.samples
    );

    // The grid rows at every NFE, DDIM at its target NFE, then the adaptive rows once each.
    let mut configs: Vec<Config> = Vec::new();
    for s in solvers.iter().filter(|s| s.row == Row::Grid) {
        for &n in &args.nfes {
            configs.push(Config::new(s, Some(n)));
        }
    }
    if let Some(ddim) = ddim.filter(|_| !args.nfes.contains(&DDIM_TARGET_NFE)) {
        configs.push(Config::new(ddim, Some(DDIM_TARGET_NFE)));
    }
    for s in solvers.iter().filter(|s| s.row == Row::Adaptive) {
        configs.push(Config::new(s, None));
    }
    let mut ref_acc = Acc::default();
    let mut ref_check = Acc::default();

    let base = GenerateOptions {
        guidance_scale: args.guidance,
        solver: dpm_solver::Config {
            spacing,
            ..generate_profile()
        },
        clip: false,
        ..GenerateOptions::default()
    };
    let opts_for = |s: &Solver, nfe: Option<usize>, labels: &[usize]| {
        let b = GenerateOptions {
            batch: labels.len(),
            conditioning: Conditioning::PerImage(labels.to_vec()),
            ..base.clone()
        };
        s.options(nfe.unwrap_or(10), &b)
    };
    let ref_opts_for = |s: &Solver, labels: &[usize]| {
        let o = opts_for(s, Some(args.ref_nfe), labels);
        GenerateOptions {
            solver: dpm_solver::Config {
                spacing: reference_spacing,
                ..o.solver
            },
            ..o
        }
    };
    let n_batches = args.samples / args.batch;
    let mut evals = 0usize; // network images evaluated
    let t_loop = Instant::now();
    let mut t_eval = 0.0f64;
    for bi in 0..n_batches {
        let first = bi * args.batch;
        let labels: Vec<usize> = (first..first + args.batch).map(|k| k % 10).collect();
        let noise = initial_noise(EVAL_SEED, first, args.batch, dim);
        let timed = |pipe: &mut Pipeline,
                     o: &GenerateOptions|
         -> std::result::Result<(Generation, f64), PipelineError> {
            let t = Instant::now();
            let g = pipe.generate_from_noise(noise.clone(), o, no_progress)?;
            let dt = t.elapsed().as_secs_f64();
            Ok((g, dt))
        };
        let (reference, dt) = timed(&mut pipe, &ref_opts_for(reference_solver, &labels))?;
        t_eval += dt;
        evals += reference.network_images;
        score(
            &mut ref_acc,
            &reference,
            &reference.images,
            &labels,
            &mut clf,
            dt,
        )?;
        let (check, dt) = timed(&mut pipe, &ref_opts_for(check_solver, &labels))?;
        t_eval += dt;
        evals += check.network_images;
        score(
            &mut ref_check,
            &check,
            &reference.images,
            &labels,
            &mut clf,
            dt,
        )?;
        for c in configs.iter_mut() {
            let (g, dt) = timed(&mut pipe, &opts_for(&c.solver, c.nfe, &labels))?;
            t_eval += dt;
            evals += g.network_images;
            score(&mut c.acc, &g, &reference.images, &labels, &mut clf, dt)?;
        }
        let el = t_loop.elapsed().as_secs_f64();
        eprintln!(
            "batch {}/{n_batches}: {:.0} s elapsed, ~{:.0} s left, {:.2} ms per image evaluation",
            bi + 1,
            el,
            el / (bi + 1) as f64 * (n_batches - bi - 1) as f64,
            1000.0 * t_eval / evals as f64
        );
    }
    for c in configs.iter_mut() {
        c.fid = frechet(&c.acc.features, fdim, &data_mu, &data_cov);
    }
    let ref_fid = frechet(&ref_acc.features, fdim, &data_mu, &data_cov);
    let ms_per_image = 1000.0 * t_eval / evals as f64;
    let total = t_start.elapsed().as_secs_f64();

    let md = report::markdown(
        &args,
        &solvers,
        (reference_solver, check_solver),
        &info,
        &configs,
        &ref_acc,
        &ref_check,
        ref_fid,
        fid_floor,
        ms_per_image,
        evals,
        total,
    );
    if let Some(dir) = std::path::Path::new(&args.md).parent() {
        std::fs::create_dir_all(dir).ok();
    }
    std::fs::write(&args.md, &md)?;
    if let Some(dir) = std::path::Path::new(&args.plot).parent() {
        std::fs::create_dir_all(dir).ok();
    }
    let svg = plot::svg(&args, &solvers, &configs, fid_floor, ref_check.rmse());
    std::fs::write(&args.plot, svg).map_err(|e| format!("{}: {e}", args.plot))?;
    println!("{md}");
    eprintln!("wrote {} and {} in {total:.0} s", args.md, args.plot);
    Ok(())
}

/// Adds one generation's figures to `acc`.
fn score(
    acc: &mut Acc,
    g: &Generation,
    reference: &[f32],
    labels: &[usize],
    clf: &mut Classifier,
    secs: f64,
) -> std::result::Result<(), PipelineError> {
    acc.sq += g
        .images
        .iter()
        .zip(reference)
        .map(|(a, b)| ((a - b) as f64).powi(2))
        .sum::<f64>();
    acc.px += g.images.len();
    let (lo, hi) = g.value_range;
    let clipped: Vec<f32> = g.images.iter().map(|v| v.clamp(lo, hi)).collect();
    let c = clf.classify(&clipped)?;
    acc.correct += c
        .predicted()
        .iter()
        .zip(labels)
        .filter(|(p, l)| p == l)
        .count();
    acc.features.extend_from_slice(&c.features);
    acc.n += labels.len();
    acc.nfe_sum += g.nfe();
    acc.runs += 1;
    acc.secs += secs;
    Ok(())
}

/// The training digits (`data/digits/<d>.json`: `{"data": [784 floats in [0,1] per image]}`)
/// in `[-1, 1]`, and their labels.
fn load_digits(
    dir: &str,
) -> std::result::Result<(Vec<f32>, Vec<usize>), Box<dyn std::error::Error>> {
    let mut images = Vec::new();
    let mut labels = Vec::new();
    for d in 0..10 {
        let path = format!("{dir}/digits/{d}.json");
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("{path}: {e} (run `bash train/fetch_data.sh` first)"))?;
        let start = text.find('[').ok_or_else(|| format!("{path}: no array"))?;
        let end = text.rfind(']').ok_or_else(|| format!("{path}: no array"))?;
        let mut n = 0;
        for tok in text[start + 1..end].split(',') {
            let v: f64 = tok
                .trim()
                .parse()
                .map_err(|_| format!("{path}: bad number {tok:?}"))?;
            // As train/data.py: round(v * 255) is the original byte; the model range is [-1, 1].
            let byte = (v * 255.0).round().clamp(0.0, 255.0);
            images.push((byte / 127.5 - 1.0) as f32);
            n += 1;
        }
        if n % 784 != 0 {
            return Err(format!("{path}: {n} values is not a multiple of 784").into());
        }
        labels.resize(labels.len() + n / 784, d);
    }
    Ok((images, labels))
}
