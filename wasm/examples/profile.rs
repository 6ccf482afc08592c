//! Where tract's time goes in one UNet evaluation, natively: per operator type and the slowest
//! nodes of the optimised plan the pipeline runs (`DiffusionModel::profile`, wasm/PROFILE.md).
//!
//! ```sh
//! cargo run --release -p dpm-solver-wasm --example profile -- --batch 16 --repeats 10
//! ```
//!
//! Options: `--help`.
//!
//! For a batch above 1 it also times `eval` on the whole batch against the same images as that
//! many batch-1 evaluations (the same inputs as the profile), a tuning the profile suggests:
//! tract fuses the im2col of a convolution into the matrix product only at batch 1.

use std::time::Instant;

use dpm_solver_wasm::pipeline::*;

const HELP: &str = "\
Per-node tract profile of one UNet evaluation, natively (wasm/PROFILE.md).

usage: cargo run --release -p dpm-solver-wasm --example profile -- [options]

  --batch B[,B...]  batch sizes to profile (default 16)
  --repeats N       timed evaluations after one warm-up; medians (default 10)
  --top K           slowest nodes listed (default 10)
  --model PATH      the UNet (default www/models/unet.onnx)
  --json PATH       write the profiles as a JSON array (for wasm/tests-js/bench/profile.mjs)
  -h, --help        this text
";

fn main() -> std::result::Result<(), Box<dyn std::error::Error>> {
    use lexopt::prelude::*;
    let mut batches = vec![16usize];
    let mut repeats = 10usize;
    let mut top = 10usize;
    let mut model = "www/models/unet.onnx".to_string();
    let mut json: Option<String> = None;
    let mut args = lexopt::Parser::from_env();
    while let Some(arg) = args.next()? {
        match arg {
            Long("batch") => {
                batches = args
                    .value()?
                    .string()?
                    .split(',')
                    .map(|b| b.trim().parse())
                    .collect::<std::result::Result<_, _>>()?
            }
            Long("repeats") => repeats = args.value()?.parse()?,
            Long("top") => top = args.value()?.parse()?,
            Long("model") => model = args.value()?.string()?,
            Long("json") => json = Some(args.value()?.string()?),
            Short('h') | Long("help") => {
                print!("{HELP}");
                return Ok(());
            }
            _ => return Err(format!("{} (see --help)", arg.unexpected()).into()),
        }
    }
    let bytes = std::fs::read(&model).map_err(|e| format!("{model}: {e}"))?;
    let t0 = Instant::now();
    let mut net = DiffusionModel::from_bytes(&bytes)?;
    println!(
        "# {model} loaded in {:.0} ms (parse, type, optimise the batch-1 plan)",
        t0.elapsed().as_secs_f64() * 1e3
    );
    let epoch = Instant::now();
    let clock = || epoch.elapsed().as_secs_f64() * 1e3;
    let mut profiles = Vec::new();
    for &batch in &batches {
        let t0 = Instant::now();
        net.prepare(batch)?;
        println!(
            "## native tract ({}), {model}, batch {batch}: plan optimised in {:.0} ms",
            std::env::consts::ARCH,
            t0.elapsed().as_secs_f64() * 1e3
        );
        let p = net.profile(batch, repeats, clock)?;
        println!("{}", p.table(top));
        profiles.push(p.to_json());
    }
    for &batch in batches.iter().filter(|&&b| b > 1) {
        split_check(&mut net, batch, repeats)?;
    }
    if let Some(path) = json {
        std::fs::write(&path, format!("[{}]\n", profiles.join(",\n")))
            .map_err(|e| format!("{path}: {e}"))?;
        println!("wrote {path}");
    }
    Ok(())
}

/// Median ms of `eval` on the batch against the batch as `batch` single-image evaluations.
fn split_check(
    net: &mut DiffusionModel,
    batch: usize,
    repeats: usize,
) -> std::result::Result<(), Box<dyn std::error::Error>> {
    let info = net.info().clone();
    let len = info.shape.len();
    let x = initial_noise(0, 0, batch, len);
    let t = vec![(info.schedule.num_train_timesteps() / 2) as f32; batch];
    let class: Vec<i64> = (0..batch)
        .map(|i| (i % info.num_classes.max(1)) as i64)
        .collect();
    let cls = |r: std::ops::Range<usize>| {
        if info.is_conditional() {
            class[r].to_vec()
        } else {
            vec![]
        }
    };
    let mut whole_out = vec![0.0; x.len()];
    let mut split_out = vec![0.0; x.len()];
    let (mut whole, mut split) = (Vec::new(), Vec::new());
    let shipped = net.plan_batch();
    for r in 0..=repeats {
        // The whole batch through the plan for `batch`, then image by image.
        net.set_plan_batch(batch)?;
        let t0 = Instant::now();
        net.eval_into(&x, &t, &cls(0..batch), &mut whole_out)?;
        let a = t0.elapsed().as_secs_f64() * 1e3;
        net.set_plan_batch(shipped)?;
        let t0 = Instant::now();
        for i in 0..batch {
            net.eval_into(
                &x[i * len..(i + 1) * len],
                &t[i..i + 1],
                &cls(i..i + 1),
                &mut split_out[i * len..(i + 1) * len],
            )?;
        }
        let b = t0.elapsed().as_secs_f64() * 1e3;
        if r > 0 {
            whole.push(a);
            split.push(b);
        }
    }
    let diff = whole_out
        .iter()
        .zip(&split_out)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    println!(
        "split check, batch {batch}: eval of the batch {:.1} ms, as {batch} batch-1 evals {:.1} ms \
         (medians of {repeats}; max |difference| {diff:.1e})\n",
        median(&mut whole),
        median(&mut split)
    );
    Ok(())
}
