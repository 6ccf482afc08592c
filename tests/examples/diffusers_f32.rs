//! Writes the core's float32 result of every diffusers parity case as JSON
//! (`{"cases": [{"name", "timesteps", "x"}]}`), for the wasm package's test: the JavaScript
//! `Sampler({ scheduler })` must reproduce the native float32 path, which the parity test
//! holds to diffusers.
//!
//! ```sh
//! cargo run --release -p dpm-solver-tests --example diffusers_f32 -- --out target/diffusers-f32.json
//! ```
//!
//! `--fixtures FILE` reads other cases (default: `DPM_SOLVER_DIFFUSERS_FIXTURES`, or
//! `tests/fixtures/diffusers_public.json`).

use std::path::PathBuf;

use dpm_solver_tests::diffusers::{load_diffusers, run_diffusers_case};
use dpm_solver_tests::fixture_path;
use serde_json::json;

const USAGE: &str = "usage: diffusers_f32 --out FILE [--fixtures FILE]";

/// The command line: where to write, and which fixtures to run.
struct Args {
    out: PathBuf,
    fixtures: PathBuf,
}

fn parse_args() -> Result<Args, lexopt::Error> {
    use lexopt::prelude::*;
    let (mut out, mut fixtures) = (None, None);
    let mut args = lexopt::Parser::from_env();
    while let Some(arg) = args.next()? {
        match arg {
            Long("out") => out = Some(PathBuf::from(args.value()?)),
            Long("fixtures") => fixtures = Some(PathBuf::from(args.value()?)),
            Short('h') | Long("help") => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            _ => return Err(arg.unexpected()),
        }
    }
    Ok(Args {
        out: out.ok_or(USAGE)?,
        fixtures: fixtures.unwrap_or_else(|| {
            fixture_path("DPM_SOLVER_DIFFUSERS_FIXTURES", "diffusers_public.json")
        }),
    })
}

fn main() {
    let args = parse_args().unwrap_or_else(|e| {
        eprintln!("diffusers_f32: {e}\n{USAGE}");
        std::process::exit(2)
    });
    if let Err(e) = run(&args) {
        eprintln!("diffusers_f32: {e}");
        std::process::exit(1)
    }
}

/// Runs every case and writes the results.
fn run(args: &Args) -> Result<(), String> {
    let fixtures = load_diffusers(&args.fixtures)?;
    let mut cases = Vec::new();
    for case in &fixtures.cases {
        let r = run_diffusers_case::<f32>(case).map_err(|e| format!("{}: {e}", case.name))?;
        let x: Vec<f64> = r.x.into_iter().flatten().collect();
        cases.push(json!({ "name": case.name, "timesteps": r.timesteps, "x": x }));
    }
    let text = serde_json::to_string(&json!({ "cases": cases })).map_err(|e| e.to_string())?;
    let out = args.out.display();
    std::fs::write(&args.out, text).map_err(|e| format!("cannot write {out}: {e}"))?;
    println!("wrote {} cases to {out}", fixtures.cases.len());
    Ok(())
}
