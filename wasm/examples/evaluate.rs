//! The paper's result on the demo model: sample quality against the number of function
//! evaluations (NFE) for DDIM, DPM-Solver and DPM-Solver++, on a fixed set of seeds.
//!
//! ```sh
//! cargo run --release -p dpm-solver-wasm --example evaluate            # full run -> wasm/QUALITY.md, wasm/quality.png
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
//! Options: `--quick`, `--samples N`, `--batch B`, `--guidance S` (classifier-free scale; 1 =
//! conditional without guidance), `--spacing NAME`, `--ref-nfe N`, `--nfe 5,6,8,...`,
//! `--model`, `--classifier`, `--data` (train/data), `--md`, `--png` (outputs; quick mode
//! default wasm/QUALITY.md and wasm/quality.png, also in quick mode).

use std::fmt::Write as _;
use std::time::Instant;

use dpm_solver_wasm::pipeline::*;

const EVAL_SEED: u64 = 2022;

#[derive(Clone, Copy)]
struct Solver {
    name: &'static str,
    algorithm: Algorithm,
    method: Method,
    order: usize,
    /// A diffusers scheduler (class and config keys by diffusers' names) instead of the
    /// DPM-Solver options above; it runs on diffusers' own timesteps (linspace), not `--spacing`.
    diffusers: Option<(
        SchedulerClass,
        &'static [(&'static str, ConfigValue<'static, 'static>)],
    )>,
}

impl Solver {
    /// Whether the solver draws noise each step (its distance to the ODE solution is no error).
    fn stochastic(&self) -> bool {
        self.scheduler().is_some_and(|c| c.is_sde())
    }

    /// The diffusers scheduler's configuration, for a diffusers row.
    fn scheduler(&self) -> Option<SchedulerConfig<'static>> {
        self.diffusers.map(|(class, keys)| {
            let mut c = SchedulerConfig::new(class);
            for (k, v) in keys {
                c.set(k, *v).expect("valid evaluation scheduler config");
            }
            c
        })
    }

    /// Generation options for this solver at `steps`.
    fn options(&self, steps: usize, base: &GenerateOptions) -> GenerateOptions {
        let scheduler = self.scheduler();
        GenerateOptions {
            algorithm: self.algorithm,
            method: self.method,
            order: self.order,
            steps,
            scheduler,
            ..base.clone()
        }
    }
}

/// Shorthand for a diffusers row (the DPM-Solver fields are unused).
const fn diffusers(
    name: &'static str,
    class: SchedulerClass,
    keys: &'static [(&'static str, ConfigValue<'static, 'static>)],
) -> Solver {
    Solver {
        name,
        algorithm: Algorithm::DpmSolverPp,
        method: Method::Multistep,
        order: 2,
        diffusers: Some((class, keys)),
    }
}

const SOLVERS: [Solver; 9] = [
    Solver {
        name: "DDIM (DPM-Solver-1)",
        algorithm: Algorithm::DpmSolver,
        method: Method::Multistep,
        order: 1,
        diffusers: None,
    },
    Solver {
        name: "DPM-Solver-2 (singlestep)",
        algorithm: Algorithm::DpmSolver,
        method: Method::Singlestep,
        order: 2,
        diffusers: None,
    },
    Solver {
        name: "DPM-Solver-3 (singlestep)",
        algorithm: Algorithm::DpmSolver,
        method: Method::Singlestep,
        order: 3,
        diffusers: None,
    },
    Solver {
        name: "DPM-Solver++(2M)",
        algorithm: Algorithm::DpmSolverPp,
        method: Method::Multistep,
        order: 2,
        diffusers: None,
    },
    Solver {
        name: "DPM-Solver++(3M)",
        algorithm: Algorithm::DpmSolverPp,
        method: Method::Multistep,
        order: 3,
        diffusers: None,
    },
    diffusers(
        "UniPC bh2 (diffusers)",
        SchedulerClass::UniPCMultistep,
        &[("solver_type", ConfigValue::Str("bh2"))],
    ),
    diffusers(
        "UniPC bh1 (diffusers)",
        SchedulerClass::UniPCMultistep,
        &[("solver_type", ConfigValue::Str("bh1"))],
    ),
    diffusers(
        "DPM-Solver++(2M) (diffusers)",
        SchedulerClass::DPMSolverMultistep,
        &[],
    ),
    diffusers(
        "DPM-Solver++(2M) SDE (diffusers)",
        SchedulerClass::DPMSolverMultistep,
        &[("algorithm_type", ConfigValue::Str("sde-dpmsolver++"))],
    ),
];
const ADAPTIVE: [Solver; 2] = [
    Solver {
        name: "DPM-Solver-12 (adaptive)",
        algorithm: Algorithm::DpmSolver,
        method: Method::Adaptive,
        order: 2,
        diffusers: None,
    },
    Solver {
        name: "DPM-Solver-23 (adaptive)",
        algorithm: Algorithm::DpmSolver,
        method: Method::Adaptive,
        order: 3,
        diffusers: None,
    },
];
const REFERENCE: Solver = SOLVERS[2];
const REFERENCE_CHECK: Solver = SOLVERS[4];
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
/// Samples of `--quick` (one batch).
const QUICK_SAMPLES: usize = 4;
/// NFE of the references in `--quick`.
const QUICK_REF_NFE: usize = 60;

struct Args {
    quick: bool,
    samples: usize,
    batch: usize,
    guidance: f32,
    spacing: String,
    ref_nfe: usize,
    nfes: Vec<usize>,
    model: String,
    classifier: String,
    data: String,
    md: String,
    png: String,
    command: String,
}

fn parse_args() -> std::result::Result<Args, Box<dyn std::error::Error>> {
    let raw: Vec<String> = std::env::args().skip(1).collect();
    let quick = raw.iter().any(|a| a == "--quick");
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
        classifier: "www/models/classifier.onnx".into(),
        data: "train/data".into(),
        md: "wasm/QUALITY.md".into(),
        png: "wasm/quality.png".into(),
        command: String::new(),
    };
    let mut it = raw.iter();
    while let Some(k) = it.next() {
        let mut v = || {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{k} needs a value"))
        };
        match k.as_str() {
            "--quick" => {}
            "--samples" => a.samples = v()?.parse()?,
            "--batch" => a.batch = v()?.parse()?,
            "--guidance" => a.guidance = v()?.parse()?,
            "--spacing" => a.spacing = v()?,
            "--ref-nfe" => a.ref_nfe = v()?.parse()?,
            "--nfe" => {
                a.nfes = v()?
                    .split(',')
                    .map(|s| s.trim().parse())
                    .collect::<std::result::Result<_, _>>()?
            }
            "--model" => a.model = v()?,
            "--classifier" => a.classifier = v()?,
            "--data" => a.data = v()?,
            "--md" => a.md = v()?,
            "--png" => a.png = v()?,
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    if a.batch == 0 || a.samples == 0 || a.samples / a.batch * a.batch != a.samples {
        return Err("--samples must be a positive multiple of --batch".into());
    }
    let shown: Vec<&str> = raw.iter().map(String::as_str).collect();
    a.command = format!(
        "cargo run --release -p dpm-solver-wasm --example evaluate{}{}",
        if shown.is_empty() { "" } else { " -- " },
        shown.join(" ")
    );
    Ok(a)
}

/// Running totals of one (solver, NFE) configuration.
#[derive(Default, Clone)]
struct Acc {
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
    fn rmse(&self) -> f64 {
        (self.sq / self.px.max(1) as f64).sqrt()
    }
    fn accuracy(&self) -> f64 {
        self.correct as f64 / self.n.max(1) as f64
    }
    fn mean_nfe(&self) -> f64 {
        self.nfe_sum as f64 / self.runs.max(1) as f64
    }
}

struct Config {
    solver: Solver,
    /// Steps asked for (`None`: adaptive).
    nfe: Option<usize>,
    acc: Acc,
    fid: f64,
}

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run() -> std::result::Result<(), Box<dyn std::error::Error>> {
    let args = parse_args()?;
    let spacing = parse_spacing(&args.spacing)?;
    let t_start = Instant::now();
    let mut pipe = Pipeline::from_bytes(
        &std::fs::read(&args.model).map_err(|e| format!("{}: {e}", args.model))?,
    )?;
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

    let mut configs: Vec<Config> = Vec::new();
    for s in SOLVERS {
        for &n in &args.nfes {
            configs.push(Config {
                solver: s,
                nfe: Some(n),
                acc: Acc::default(),
                fid: 0.0,
            });
        }
    }
    if !args.nfes.contains(&DDIM_TARGET_NFE) {
        configs.push(Config {
            solver: SOLVERS[0],
            nfe: Some(DDIM_TARGET_NFE),
            acc: Acc::default(),
            fid: 0.0,
        });
    }
    for s in ADAPTIVE {
        configs.push(Config {
            solver: s,
            nfe: None,
            acc: Acc::default(),
            fid: 0.0,
        });
    }
    let mut ref_acc = Acc::default();
    let mut ref_check = Acc::default();

    let base = GenerateOptions {
        guidance_scale: args.guidance,
        spacing,
        clip: false,
        ..GenerateOptions::default()
    };
    let opts_for = |s: Solver, nfe: Option<usize>, labels: &[usize]| {
        let b = GenerateOptions {
            batch: labels.len(),
            conditioning: Conditioning::PerImage(labels.to_vec()),
            ..base.clone()
        };
        s.options(nfe.unwrap_or(10), &b)
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
        let (reference, dt) = timed(&mut pipe, &opts_for(REFERENCE, Some(args.ref_nfe), &labels))?;
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
        let (check, dt) = timed(
            &mut pipe,
            &opts_for(REFERENCE_CHECK, Some(args.ref_nfe), &labels),
        )?;
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
            let (g, dt) = timed(&mut pipe, &opts_for(c.solver, c.nfe, &labels))?;
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

    let md = report(
        &args,
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
    plot(&args, &configs, fid_floor, ref_check.rmse(), &args.png)?;
    println!("{md}");
    eprintln!("wrote {} and {} in {total:.0} s", args.md, args.png);
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

// ----- Frechet distance -----

fn mean_cov(x: &[f32], d: usize) -> (Vec<f64>, Vec<f64>) {
    let n = x.len() / d;
    let mut mu = vec![0.0f64; d];
    for row in x.chunks(d) {
        for (m, &v) in mu.iter_mut().zip(row) {
            *m += v as f64;
        }
    }
    for m in mu.iter_mut() {
        *m /= n as f64;
    }
    let mut cov = vec![0.0f64; d * d];
    let mut c = vec![0.0f64; d];
    for row in x.chunks(d) {
        for i in 0..d {
            c[i] = row[i] as f64 - mu[i];
        }
        for i in 0..d {
            let ci = c[i];
            if ci == 0.0 {
                continue;
            }
            for j in i..d {
                cov[i * d + j] += ci * c[j];
            }
        }
    }
    let denom = (n.max(2) - 1) as f64;
    for i in 0..d {
        for j in i..d {
            let v = cov[i * d + j] / denom;
            cov[i * d + j] = v;
            cov[j * d + i] = v;
        }
    }
    (mu, cov)
}

/// Eigenvalues and eigenvectors (columns of `v`) of a symmetric matrix, cyclic Jacobi.
fn sym_eigen(a: &[f64], n: usize) -> (Vec<f64>, Vec<f64>) {
    let mut a = a.to_vec();
    let mut v = vec![0.0f64; n * n];
    for i in 0..n {
        v[i * n + i] = 1.0;
    }
    for _sweep in 0..60 {
        let mut off = 0.0;
        let mut diag = 0.0;
        for i in 0..n {
            diag += a[i * n + i] * a[i * n + i];
            for j in i + 1..n {
                off += a[i * n + j] * a[i * n + j];
            }
        }
        if off <= 1e-30 * diag.max(1e-300) {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                let apq = a[p * n + q];
                if apq.abs() < 1e-300 {
                    continue;
                }
                let theta = (a[q * n + q] - a[p * n + p]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..n {
                    let akp = a[k * n + p];
                    let akq = a[k * n + q];
                    a[k * n + p] = c * akp - s * akq;
                    a[k * n + q] = s * akp + c * akq;
                }
                for k in 0..n {
                    let apk = a[p * n + k];
                    let aqk = a[q * n + k];
                    a[p * n + k] = c * apk - s * aqk;
                    a[q * n + k] = s * apk + c * aqk;
                }
                for k in 0..n {
                    let vkp = v[k * n + p];
                    let vkq = v[k * n + q];
                    v[k * n + p] = c * vkp - s * vkq;
                    v[k * n + q] = s * vkp + c * vkq;
                }
            }
        }
    }
    ((0..n).map(|i| a[i * n + i]).collect(), v)
}

/// `|mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1^1/2 S2 S1^1/2)^1/2)`.
fn frechet(x: &[f32], d: usize, mu2: &[f64], s2: &[f64]) -> f64 {
    if d == 0 || x.len() < 2 * d {
        return f64::NAN;
    }
    let (mu1, s1) = mean_cov(x, d);
    let (w, v) = sym_eigen(&s1, d);
    // sqrt(S1) = V diag(sqrt w) V^T
    let mut r = vec![0.0f64; d * d];
    for i in 0..d {
        for j in 0..d {
            let mut acc = 0.0;
            for k in 0..d {
                acc += v[i * d + k] * w[k].max(0.0).sqrt() * v[j * d + k];
            }
            r[i * d + j] = acc;
        }
    }
    let m = matmul(&matmul(&r, s2, d), &r, d);
    let mut msym = m.clone();
    for i in 0..d {
        for j in 0..d {
            msym[i * d + j] = 0.5 * (m[i * d + j] + m[j * d + i]);
        }
    }
    let (wm, _) = sym_eigen(&msym, d);
    let tr_sqrt: f64 = wm.iter().map(|&e| e.max(0.0).sqrt()).sum();
    let dmu: f64 = mu1.iter().zip(mu2).map(|(a, b)| (a - b) * (a - b)).sum();
    let tr1: f64 = (0..d).map(|i| s1[i * d + i]).sum();
    let tr2: f64 = (0..d).map(|i| s2[i * d + i]).sum();
    dmu + tr1 + tr2 - 2.0 * tr_sqrt
}

fn matmul(a: &[f64], b: &[f64], n: usize) -> Vec<f64> {
    let mut c = vec![0.0f64; n * n];
    for i in 0..n {
        for k in 0..n {
            let aik = a[i * n + k];
            if aik == 0.0 {
                continue;
            }
            for j in 0..n {
                c[i * n + j] += aik * b[k * n + j];
            }
        }
    }
    c
}

// ----- report -----

/// One figure of a configuration.
type Metric<'a> = &'a dyn Fn(&Config) -> f64;

/// RMSE to the converged ODE solution; not an error measure for a stochastic sampler (NaN).
fn ode_rmse(c: &Config) -> f64 {
    if c.solver.stochastic() {
        f64::NAN
    } else {
        c.acc.rmse()
    }
}

fn fmt_cell(c: &Config, f: &dyn Fn(&Config) -> f64, digits: usize) -> String {
    let v = f(c);
    if v.is_finite() {
        format!("{v:.digits$}")
    } else {
        "-".into()
    }
}

#[allow(clippy::too_many_arguments)]
fn report(
    args: &Args,
    info: &ModelInfo,
    configs: &[Config],
    ref_acc: &Acc,
    ref_check: &Acc,
    ref_fid: f64,
    fid_floor: f64,
    ms_per_image: f64,
    evals: usize,
    total: f64,
) -> String {
    let mut s = String::new();
    let trained = info
        .training_steps
        .map_or("unknown".to_string(), |t| t.to_string());
    let _ = writeln!(s, "# Sample quality against NFE on the demo model\n");
    if args.quick {
        let _ = writeln!(
            s,
            "**Quick (smoke) run: too few samples for conclusions.** The full run is one command, \
             `cargo run --release -p dpm-solver-wasm --example evaluate` ({FULL_SAMPLES} samples, NFE 5-50, references at \
             {FULL_REF_NFE} NFE; ~25 minutes on this 2-core machine), and rewrites this file and the plot.\n"
        );
    }
    let _ = writeln!(
        s,
        "Command (from the repository root):\n\n```sh\n{}\n```\n",
        args.command
    );
    let _ = writeln!(
        s,
        "Model `{}` (`training_steps` = {trained}), {} samples (image `k`: seed {EVAL_SEED} stream `k`, class `k mod 10`), \
         classifier-free guidance scale {}, {} spacing, native tract on the CPU: {:.2} ms per image evaluation \
         ({} image evaluations, {:.0} s in all).\n",
        args.model, args.samples, args.guidance, args.spacing, ms_per_image, evals, total
    );
    if args.samples < 1000 {
        let _ = writeln!(
            s,
            "{} samples, not 1,000: every sample costs ~{} UNet image evaluations here (all solvers and NFEs, the DDIM-{DDIM_TARGET_NFE} \
             run, the adaptive runs and two references, doubled by guidance), and the run has to fit in ~30 minutes on 2 busy cores. \
             RMSE and accuracy are stable at this size; the FID is not (see its floor).\n",
            args.samples,
            evals / args.samples.max(1)
        );
    }
    let _ = writeln!(
        s,
        "- **RMSE**: pixel RMSE (values in [-1, 1], before clipping) to the converged ODE solution of the same noise: \
         singlestep DPM-Solver-3 at {} NFE. Its distance to DPM-Solver++(3M) at {} NFE is **{:.2e}** \
         (the reference's own error is about this size or smaller).",
        args.ref_nfe, args.ref_nfe, ref_check.rmse()
    );
    let _ = writeln!(
        s,
        "- **FID**: Frechet distance in the classifier's 128-d feature space (FID in the classifier's feature space, \
         as the MNIST literature uses it) against the 10,000 training digits, on clipped samples. With {} samples it \
         is biased upwards: {} real training digits score **{:.3}** (the floor); the converged reference scores {:.3}.",
        args.samples, args.samples, fid_floor, ref_fid
    );
    let _ = writeln!(
        s,
        "- **diffusers rows**: the schedulers of `dpm_solver::diffusers` with diffusers' defaults (`timestep_spacing` linspace, \
         `final_sigmas_type` zero, `lower_order_final`) on the model's schedule, so they run on diffusers' integer timesteps \
         rather than the {} spacing above; DPM-Solver++(2M) appears both ways. The 2M SDE row draws fresh noise every step \
         (image `k`'s from its own seeded stream): it converges to another sample of the same class, so its RMSE to the ODE \
         solution is no error and is left out (\"-\"); compare it by FID and accuracy.",
        args.spacing
    );
    let _ = writeln!(
        s,
        "- **Accuracy**: fraction of samples the classifier (`www/models/classifier.onnx`) assigns to the requested class \
         (the reference: {:.3}).\n",
        ref_acc.accuracy()
    );

    let fixed: Vec<&Config> = configs.iter().filter(|c| c.nfe.is_some()).collect();
    let ddim100 = fixed
        .iter()
        .find(|c| c.solver.order == 1 && c.nfe == Some(DDIM_TARGET_NFE));
    let metrics: [(&str, Metric, usize); 3] = [
        ("RMSE to the converged solution", &ode_rmse, 4),
        ("FID (classifier features)", &|c: &Config| c.fid, 3),
        ("Class accuracy", &|c: &Config| c.acc.accuracy(), 3),
    ];
    for (title, f, digits) in metrics {
        let _ = writeln!(s, "## {title}\n");
        let mut head = "| solver |".to_string();
        let mut rule = "|---|".to_string();
        for n in &args.nfes {
            let _ = write!(head, " {n} |");
            rule.push_str("---:|");
        }
        let _ = writeln!(s, "{head}\n{rule}");
        for sv in SOLVERS {
            let mut row = format!("| {} |", sv.name);
            for n in &args.nfes {
                let c = fixed
                    .iter()
                    .find(|c| c.solver.name == sv.name && c.nfe == Some(*n))
                    .unwrap();
                let _ = write!(row, " {} |", fmt_cell(c, f, digits));
            }
            let _ = writeln!(s, "{row}");
        }
        let _ = writeln!(s);
        let mut extra = Vec::new();
        if let Some(c) = ddim100.filter(|_| !args.nfes.contains(&DDIM_TARGET_NFE)) {
            extra.push(format!(
                "DDIM at {DDIM_TARGET_NFE} NFE: {}",
                fmt_cell(c, f, digits)
            ));
        }
        for c in configs.iter().filter(|c| c.nfe.is_none()) {
            extra.push(format!(
                "{} at {:.1} NFE (mean): {}",
                c.solver.name,
                c.acc.mean_nfe(),
                fmt_cell(c, f, digits)
            ));
        }
        let _ = writeln!(s, "{}\n", extra.join("; "));
    }

    let _ = writeln!(
        s,
        "## Headline: the NFE at which DPM-Solver matches DDIM at {DDIM_TARGET_NFE} NFE\n"
    );
    match ddim100 {
        None => {
            let _ = writeln!(s, "(DDIM at {DDIM_TARGET_NFE} NFE was not run.)\n");
        }
        Some(d) => {
            let _ = writeln!(
                s,
                "DDIM at {DDIM_TARGET_NFE} NFE: RMSE {:.4}, FID {:.3}. Smallest NFE of the grid at which each solver is at least as good \
                 (\"> max\" if none), and in brackets the crossing interpolated log-log between grid points. \
                 RMSE is the robust criterion; FID from this few samples is noisy and not monotone in NFE.\n",
                d.acc.rmse(),
                d.fid
            );
            let _ = writeln!(s, "| solver | NFE for RMSE <= DDIM-{DDIM_TARGET_NFE} | NFE for FID <= DDIM-{DDIM_TARGET_NFE} |\n|---|---:|---:|");
            for sv in SOLVERS.iter().skip(1) {
                // The first grid NFE at which the solver is as good, and the crossing
                // interpolated log-log between it and the grid point before.
                let find = |f: &dyn Fn(&Config) -> f64, target: f64| -> String {
                    let mut nfes = args.nfes.clone();
                    nfes.sort_unstable();
                    let vals: Vec<f64> = nfes
                        .iter()
                        .map(|&n| {
                            let c = fixed
                                .iter()
                                .find(|c| c.solver.name == sv.name && c.nfe == Some(n))
                                .unwrap();
                            f(c)
                        })
                        .collect();
                    match vals.iter().position(|&v| v <= target) {
                        None => format!("> {}", nfes.last().unwrap()),
                        Some(0) => format!("<= {}", nfes[0]),
                        Some(i) => {
                            let (n0, n1) = (nfes[i - 1] as f64, nfes[i] as f64);
                            let (m0, m1) = (vals[i - 1], vals[i]);
                            let est = if m0 > 0.0 && m1 > 0.0 && m0 != m1 {
                                (n0.ln()
                                    + (target.ln() - m0.ln()) * (n1.ln() - n0.ln())
                                        / (m1.ln() - m0.ln()))
                                .exp()
                            } else {
                                n1
                            };
                            format!("{} (~{:.0})", nfes[i], est.clamp(n0, n1))
                        }
                    }
                };
                let rmse = if sv.stochastic() {
                    "n/a (SDE)".to_string()
                } else {
                    find(&|c: &Config| c.acc.rmse(), d.acc.rmse())
                };
                let _ = writeln!(
                    s,
                    "| {} | {} | {} |",
                    sv.name,
                    rmse,
                    find(&|c: &Config| c.fid, d.fid)
                );
            }
            let _ = writeln!(s);
        }
    }
    let _ = writeln!(s, "Plot: `{}` (RMSE and FID against NFE, log-log; dashed: DDIM at {DDIM_TARGET_NFE} NFE; dotted: the reference's own error (RMSE) and the FID floor).", args.png);
    s
}

// ----- plot (drawn by hand into a PNG; no plotting dependency) -----

/// One colour per solver row, then one per adaptive solver.
const COLORS: [[u8; 3]; 11] = [
    [0, 0, 0],
    [31, 119, 180],
    [44, 160, 44],
    [214, 39, 40],
    [148, 103, 189],
    [23, 190, 207],
    [188, 189, 34],
    [227, 119, 194],
    [127, 127, 127],
    [255, 127, 14],
    [140, 86, 75],
];

struct Canvas {
    w: usize,
    h: usize,
    px: Vec<u8>,
}

impl Canvas {
    fn new(w: usize, h: usize) -> Self {
        Canvas {
            w,
            h,
            px: vec![255; w * h * 3],
        }
    }
    fn set(&mut self, x: i64, y: i64, c: [u8; 3]) {
        if x >= 0 && y >= 0 && (x as usize) < self.w && (y as usize) < self.h {
            let o = 3 * (y as usize * self.w + x as usize);
            self.px[o..o + 3].copy_from_slice(&c);
        }
    }
    fn dot(&mut self, x: i64, y: i64, r: i64, c: [u8; 3]) {
        for dy in -r..=r {
            for dx in -r..=r {
                if dx * dx + dy * dy <= r * r {
                    self.set(x + dx, y + dy, c);
                }
            }
        }
    }
    /// A line of width ~2; `dash`: on/off pattern length in pixels (0 = solid).
    fn line(&mut self, x0: f64, y0: f64, x1: f64, y1: f64, c: [u8; 3], dash: usize) {
        let n = ((x1 - x0).abs().max((y1 - y0).abs()).ceil() as usize).max(1);
        for i in 0..=n {
            if dash > 0 && (i / dash) % 2 == 1 {
                continue;
            }
            let t = i as f64 / n as f64;
            let (x, y) = (x0 + t * (x1 - x0), y0 + t * (y1 - y0));
            self.set(x.round() as i64, y.round() as i64, c);
            self.set(x.round() as i64 + 1, y.round() as i64, c);
            self.set(x.round() as i64, y.round() as i64 + 1, c);
        }
    }
    fn text(&mut self, x: i64, y: i64, s: &str, c: [u8; 3]) {
        let mut cx = x;
        for ch in s.chars() {
            let g = glyph(ch.to_ascii_uppercase());
            for (row, bits) in g.iter().enumerate() {
                for col in 0..5 {
                    if bits & (0x10 >> col) != 0 {
                        self.set(cx + col, y + row as i64, c);
                    }
                }
            }
            cx += 6;
        }
    }
}

/// A 5x7 pixel font (upper case, digits, a little punctuation).
fn glyph(c: char) -> [u8; 7] {
    match c {
        '0' => [0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E],
        '1' => [0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E],
        '2' => [0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F],
        '3' => [0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E],
        '4' => [0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02],
        '5' => [0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E],
        '6' => [0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E],
        '7' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
        '8' => [0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E],
        '9' => [0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C],
        'A' => [0x0E, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11],
        'B' => [0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E],
        'C' => [0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E],
        'D' => [0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C],
        'E' => [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F],
        'F' => [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10],
        'G' => [0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F],
        'H' => [0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11],
        'I' => [0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E],
        'J' => [0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C],
        'K' => [0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11],
        'L' => [0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F],
        'M' => [0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11],
        'N' => [0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11],
        'O' => [0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E],
        'P' => [0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10],
        'Q' => [0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D],
        'R' => [0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11],
        'S' => [0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E],
        'T' => [0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04],
        'U' => [0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E],
        'V' => [0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04],
        'W' => [0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A],
        'X' => [0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11],
        'Y' => [0x11, 0x11, 0x11, 0x0A, 0x04, 0x04, 0x04],
        'Z' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F],
        '.' => [0, 0, 0, 0, 0, 0x0C, 0x0C],
        ',' => [0, 0, 0, 0, 0x0C, 0x04, 0x08],
        '-' => [0, 0, 0, 0x1F, 0, 0, 0],
        '+' => [0, 0x04, 0x04, 0x1F, 0x04, 0x04, 0],
        '(' => [0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02],
        ')' => [0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08],
        '=' => [0, 0, 0x1F, 0, 0x1F, 0, 0],
        '/' => [0, 0x01, 0x02, 0x04, 0x08, 0x10, 0],
        ':' => [0, 0x0C, 0x0C, 0, 0x0C, 0x0C, 0],
        '<' => [0x02, 0x04, 0x08, 0x10, 0x08, 0x04, 0x02],
        _ => [0; 7],
    }
}

struct Axes {
    x0: f64,
    y0: f64,
    w: f64,
    h: f64,
    xmin: f64,
    xmax: f64,
    ymin: f64,
    ymax: f64,
}

impl Axes {
    fn px(&self, x: f64, y: f64) -> (f64, f64) {
        let u = (x.ln() - self.xmin.ln()) / (self.xmax.ln() - self.xmin.ln());
        let v = (y.ln() - self.ymin.ln()) / (self.ymax.ln() - self.ymin.ln());
        (self.x0 + u * self.w, self.y0 + self.h - v * self.h)
    }
}

fn nice_range(vals: &[f64]) -> (f64, f64) {
    let pos: Vec<f64> = vals
        .iter()
        .copied()
        .filter(|v| v.is_finite() && *v > 0.0)
        .collect();
    if pos.is_empty() {
        return (0.1, 10.0);
    }
    let lo = pos.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = pos.iter().copied().fold(0.0, f64::max);
    let lo = 10f64.powf((lo.log10() - 0.05).floor());
    let hi = 10f64.powf((hi.log10() + 0.05).ceil());
    (lo, if hi > lo { hi } else { lo * 10.0 })
}

fn fmt_tick(v: f64) -> String {
    if v >= 1.0 {
        format!("{v:.0}")
    } else {
        let d = (-v.log10()).ceil() as usize;
        format!("{v:.d$}")
    }
}

fn plot(
    args: &Args,
    configs: &[Config],
    fid_floor: f64,
    ref_err: f64,
    path: &str,
) -> std::result::Result<(), Box<dyn std::error::Error>> {
    let (w, h) = (1200usize, 590usize);
    let mut cv = Canvas::new(w, h);
    let panels: [(&str, Metric); 2] = [
        ("RMSE TO CONVERGED ODE SOLUTION", &ode_rmse),
        ("FID (CLASSIFIER FEATURES)", &|c: &Config| c.fid),
    ];
    let xmax_nfe = args
        .nfes
        .iter()
        .copied()
        .max()
        .unwrap_or(50)
        .max(DDIM_TARGET_NFE) as f64;
    for (pi, (title, f)) in panels.iter().enumerate() {
        let mut vals: Vec<f64> = configs.iter().map(f).collect();
        vals.push(if pi == 1 { fid_floor } else { ref_err });
        let (ymin, ymax) = nice_range(&vals);
        let ax = Axes {
            x0: 70.0 + pi as f64 * 590.0,
            y0: 40.0,
            w: 480.0,
            h: 380.0,
            xmin: (args.nfes.iter().copied().min().unwrap_or(5) as f64 * 0.8).max(1.0),
            xmax: xmax_nfe * 1.2,
            ymin,
            ymax,
        };
        let grey = [200, 200, 200];
        // grid and ticks
        let mut dec = ymin;
        while dec <= ymax * 1.0001 {
            for m in [1.0, 2.0, 5.0] {
                let y = dec * m;
                if y < ymin * 0.999 || y > ymax * 1.001 {
                    continue;
                }
                let (_, py) = ax.px(ax.xmin, y);
                cv.line(
                    ax.x0,
                    py,
                    ax.x0 + ax.w,
                    py,
                    grey,
                    if m == 1.0 { 0 } else { 3 },
                );
                let label = fmt_tick(y);
                cv.text(
                    ax.x0 as i64 - 8 - 6 * label.len() as i64,
                    py as i64 - 3,
                    &label,
                    [0, 0, 0],
                );
            }
            dec *= 10.0;
        }
        let mut xt: Vec<usize> = args.nfes.clone();
        xt.push(DDIM_TARGET_NFE);
        for n in xt {
            let (px, _) = ax.px(n as f64, ymin);
            cv.line(px, ax.y0, px, ax.y0 + ax.h, grey, 3);
            let label = n.to_string();
            cv.text(
                px as i64 - 3 * label.len() as i64,
                (ax.y0 + ax.h) as i64 + 8,
                &label,
                [0, 0, 0],
            );
        }
        cv.line(
            ax.x0,
            ax.y0 + ax.h,
            ax.x0 + ax.w,
            ax.y0 + ax.h,
            [0, 0, 0],
            0,
        );
        cv.line(ax.x0, ax.y0, ax.x0, ax.y0 + ax.h, [0, 0, 0], 0);
        cv.text(ax.x0 as i64, 18, title, [0, 0, 0]);
        cv.text(
            (ax.x0 + ax.w / 2.0) as i64 - 9,
            (ax.y0 + ax.h) as i64 + 24,
            "NFE",
            [0, 0, 0],
        );
        let floor = if pi == 1 { fid_floor } else { ref_err };
        if floor.is_finite() && floor > 0.0 {
            let (x0, y) = ax.px(ax.xmin, floor.clamp(ymin, ymax));
            cv.line(x0, y, ax.x0 + ax.w, y, [120, 120, 120], 2);
        }
        // DDIM-100 level
        if let Some(d) = configs
            .iter()
            .find(|c| c.solver.order == 1 && c.nfe == Some(DDIM_TARGET_NFE))
        {
            let v = f(d);
            if v.is_finite() && v > 0.0 {
                let (x0, y) = ax.px(ax.xmin, v.clamp(ymin, ymax));
                let (x1, _) = ax.px(ax.xmax, v);
                cv.line(x0, y, x1, y, COLORS[0], 8);
                let (px, py) = ax.px(DDIM_TARGET_NFE as f64, v.clamp(ymin, ymax));
                cv.dot(px as i64, py as i64, 4, COLORS[0]);
            }
        }
        for (si, sv) in SOLVERS.iter().enumerate() {
            let col = COLORS[si];
            let pts: Vec<(f64, f64)> = args
                .nfes
                .iter()
                .filter_map(|&n| {
                    configs
                        .iter()
                        .find(|c| c.solver.name == sv.name && c.nfe == Some(n))
                })
                .map(|c| (c.nfe.unwrap() as f64, f(c)))
                .filter(|p| p.1.is_finite() && p.1 > 0.0)
                .map(|(x, y)| ax.px(x, y.clamp(ymin, ymax)))
                .collect();
            for p in pts.windows(2) {
                cv.line(p[0].0, p[0].1, p[1].0, p[1].1, col, 0);
            }
            for p in &pts {
                cv.dot(p.0 as i64, p.1 as i64, 3, col);
            }
        }
        for (ai, c) in configs.iter().filter(|c| c.nfe.is_none()).enumerate() {
            let v = f(c);
            if v.is_finite() && v > 0.0 {
                let (px, py) = ax.px(
                    c.acc.mean_nfe().clamp(ax.xmin, ax.xmax),
                    v.clamp(ymin, ymax),
                );
                let col = COLORS[SOLVERS.len() + ai];
                for d in -6i64..=6 {
                    cv.set(px as i64 + d, py as i64 + d, col);
                    cv.set(px as i64 + d, py as i64 - d, col);
                    cv.set(px as i64 + d + 1, py as i64 + d, col);
                    cv.set(px as i64 + d + 1, py as i64 - d, col);
                }
            }
        }
    }
    // legend
    let mut ly = 470i64;
    let mut lx = 70i64;
    for (si, sv) in SOLVERS.iter().enumerate() {
        cv.line(
            lx as f64,
            ly as f64 + 3.0,
            lx as f64 + 20.0,
            ly as f64 + 3.0,
            COLORS[si],
            0,
        );
        cv.dot(lx + 10, ly + 3, 3, COLORS[si]);
        cv.text(lx + 28, ly, sv.name, [0, 0, 0]);
        lx += 28 + 6 * sv.name.len() as i64 + 24;
        if lx > 900 {
            lx = 70;
            ly += 18;
        }
    }
    ly += 18;
    lx = 70;
    for (ai, sv) in ADAPTIVE.iter().enumerate() {
        let col = COLORS[SOLVERS.len() + ai];
        for d in -4i64..=4 {
            cv.set(lx + 10 + d, ly + 3 + d, col);
            cv.set(lx + 10 + d, ly + 3 - d, col);
        }
        cv.text(lx + 28, ly, sv.name, [0, 0, 0]);
        lx += 28 + 6 * sv.name.len() as i64 + 24;
    }
    cv.line(
        lx as f64,
        ly as f64 + 3.0,
        lx as f64 + 20.0,
        ly as f64 + 3.0,
        COLORS[0],
        8,
    );
    cv.text(
        lx + 28,
        ly,
        &format!("DDIM AT {DDIM_TARGET_NFE} NFE"),
        [0, 0, 0],
    );
    lx += 28 + 6 * 16 + 24;
    cv.line(
        lx as f64,
        ly as f64 + 3.0,
        lx as f64 + 20.0,
        ly as f64 + 3.0,
        [120, 120, 120],
        2,
    );
    cv.text(lx + 28, ly, "REFERENCE ERROR / FID FLOOR", [0, 0, 0]);
    let note = format!(
        "{} SAMPLES, GUIDANCE {}, {} SPACING{}",
        args.samples,
        args.guidance,
        args.spacing,
        if args.quick { " (QUICK RUN)" } else { "" }
    );
    cv.text(70, ly + 24, &note, [90, 90, 90]);

    if let Some(dir) = std::path::Path::new(path).parent() {
        std::fs::create_dir_all(dir).ok();
    }
    let file = std::fs::File::create(path).map_err(|e| format!("{path}: {e}"))?;
    let mut enc = png::Encoder::new(std::io::BufWriter::new(file), w as u32, h as u32);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    enc.write_header()?.write_image_data(&cv.px)?;
    Ok(())
}
