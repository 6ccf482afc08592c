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
//! Modules: [`cli`] (the command line), [`presets`] (the solver rows), [`score`] (the figures
//! of one cell), [`report`] (the Markdown tables), [`plot`] (the SVG figure); the Frechet
//! distance is the library's `pipeline::metrics`. This file runs the cells.

mod cli;
mod plot;
mod presets;
mod report;
mod score;

use std::time::Instant;

use dpm_solver_wasm::pipeline::metrics::{frechet, mean_cov};
use dpm_solver_wasm::pipeline::*;
use presets::{Row, Solver};
use score::{Acc, Cell};

/// Image `k` of the evaluation starts from noise stream `k` of this seed.
const EVAL_SEED: u64 = 2022;
/// The preset the headline compares against (the paper: DDIM at 100 NFE).
const DDIM: &str = "ddim";
/// DDIM's NFE that the headline compares against (the paper: DDIM at 100 NFE).
const DDIM_TARGET_NFE: usize = 100;

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run() -> std::result::Result<(), Box<dyn std::error::Error>> {
    let raw: Vec<String> = std::env::args().skip(1).collect();
    let Some(args) = cli::parse(&raw)? else {
        print!("{}", cli::HELP);
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
    let digits = score::load_digits(&args.data)?;
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
    let mut cells: Vec<Cell> = Vec::new();
    for s in solvers.iter().filter(|s| s.row == Row::Grid) {
        for &n in &args.nfes {
            cells.push(Cell::new(s, Some(n)));
        }
    }
    if let Some(ddim) = ddim.filter(|_| !args.nfes.contains(&DDIM_TARGET_NFE)) {
        cells.push(Cell::new(ddim, Some(DDIM_TARGET_NFE)));
    }
    for s in solvers.iter().filter(|s| s.row == Row::Adaptive) {
        cells.push(Cell::new(s, None));
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
        ref_acc.add(&reference, &reference.images, &labels, &mut clf)?;
        let (check, dt) = timed(&mut pipe, &ref_opts_for(check_solver, &labels))?;
        t_eval += dt;
        evals += check.network_images;
        ref_check.add(&check, &reference.images, &labels, &mut clf)?;
        for c in cells.iter_mut() {
            let (g, dt) = timed(&mut pipe, &opts_for(&c.solver, c.nfe, &labels))?;
            t_eval += dt;
            evals += g.network_images;
            c.acc.add(&g, &reference.images, &labels, &mut clf)?;
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
    for c in cells.iter_mut() {
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
        &cells,
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
    let svg = plot::svg(&args, &solvers, &cells, fid_floor, ref_check.rmse());
    std::fs::write(&args.plot, svg).map_err(|e| format!("{}: {e}", args.plot))?;
    println!("{md}");
    eprintln!("wrote {} and {} in {total:.0} s", args.md, args.plot);
    Ok(())
}
