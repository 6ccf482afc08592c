//! Writes the core's float32 result of every diffusers parity case as JSON
//! (`{"cases": [{"name", "timesteps", "x"}]}`), for the wasm package's test: the JavaScript
//! `Sampler({ scheduler })` must reproduce the native float32 path, which the parity test
//! holds to diffusers.
//!
//! `cargo run --release -p dpm-solver-tests --example diffusers_f32 -- OUT.json`
//! (fixtures: `DPM_SOLVER_DIFFUSERS_FIXTURES` or `tests/fixtures/diffusers_public.json`).

use dpm_solver_tests::diffusers::{load_diffusers, run_diffusers_case};
use dpm_solver_tests::fixture_path;
use serde_json::json;

fn main() -> Result<(), String> {
    let out = std::env::args()
        .nth(1)
        .ok_or("usage: diffusers_f32 OUT.json")?;
    let path = fixture_path("DPM_SOLVER_DIFFUSERS_FIXTURES", "diffusers_public.json");
    let fixtures = load_diffusers(&path)?;
    let mut cases = Vec::new();
    for case in &fixtures.cases {
        let r = run_diffusers_case::<f32>(case).map_err(|e| format!("{}: {e}", case.name))?;
        let x: Vec<f64> = r.x.into_iter().flatten().collect();
        cases.push(json!({ "name": case.name, "timesteps": r.timesteps, "x": x }));
    }
    let text = serde_json::to_string(&json!({ "cases": cases })).map_err(|e| e.to_string())?;
    std::fs::write(&out, text).map_err(|e| format!("cannot write {out}: {e}"))?;
    println!("wrote {} cases to {out}", fixtures.cases.len());
    Ok(())
}
