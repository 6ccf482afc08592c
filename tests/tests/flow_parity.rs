//! Parity with diffusers 0.42.1 on flow-matching sampling: every case of the fixture file
//! named by `DPM_SOLVER_FLOW_FIXTURES` (default `tests/fixtures/diffusers_flow_public.json`;
//! DPM-Solver(++) multistep/singlestep and UniPC on flow sigmas with static and dynamic shift,
//! and FlowMatchEulerDiscreteScheduler). The timesteps and the whole sigma array must equal
//! diffusers' exactly (as the float32 values diffusers holds), and the final sample must satisfy
//! `max |x_0 - expected| <= 1e-4 (1 + max |expected|)`, computing in `f64` and in `f32`.

use dpm_solver_tests::flow::{load_flow, run_flow_case, FlowCase};
use dpm_solver_tests::{fixture_path, max_abs_diff};

/// `1e-4 (1 + max |expected|)`.
fn tolerance(case: &FlowCase) -> f64 {
    let scale = case
        .expected
        .x_0
        .iter()
        .flatten()
        .fold(0.0f64, |m, v| m.max(v.abs()));
    1e-4 * (1.0 + scale)
}

fn error<T: dpm_solver::Real>(case: &FlowCase) -> Result<f64, String> {
    let run = run_flow_case::<T>(case)?;
    // Both are float32 tensors in diffusers: compared as float32 values (the fixture may
    // print a float64 product such as `sigma * 1000` that rounds to the same float32).
    let as32 = |v: &[f64]| v.iter().map(|&s| s as f32).collect::<Vec<_>>();
    if as32(&run.timesteps) != as32(&case.expected.timesteps) {
        return Err(format!(
            "timesteps {:?} != expected {:?}",
            run.timesteps, case.expected.timesteps
        ));
    }
    if as32(&run.sigmas) != as32(&case.expected.sigmas) {
        return Err(format!(
            "sigmas {:?} != expected {:?}",
            run.sigmas, case.expected.sigmas
        ));
    }
    if run.x.len() != case.expected.x_0.len() {
        return Err("batch size differs from expected".into());
    }
    Ok(max_abs_diff(&run.x, &case.expected.x_0))
}

fn check(case: &FlowCase) -> Result<f64, String> {
    let tol = tolerance(case);
    let e64 = error::<f64>(case)?;
    if e64.is_nan() || e64 > tol {
        return Err(format!(
            "f64: max |x_0 - expected| = {e64:.3e} > tol {tol:.3e}"
        ));
    }
    let e32 = error::<f32>(case)?;
    if e32.is_nan() || e32 > tol {
        return Err(format!(
            "f32: max |x_0 - expected| = {e32:.3e} > tol {tol:.3e}"
        ));
    }
    Ok((e64 / tol).max(e32 / tol))
}

/// Runs every case of `path`; returns (passed, total, worst ratio).
fn run_file(path: &std::path::Path) -> (usize, usize, f64) {
    let fixtures = load_flow(path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        fixtures.format, "diffusers-flow-conformance/1",
        "unknown format"
    );
    let total = fixtures.cases.len();
    let (mut passed, mut worst) = (0usize, 0.0f64);
    for case in &fixtures.cases {
        match check(case) {
            Ok(r) => {
                passed += 1;
                worst = worst.max(r);
            }
            Err(e) => println!("FAIL {}: {e}", case.name),
        }
    }
    assert!(total > 0, "no cases in {}", path.display());
    (passed, total, worst)
}

#[test]
fn flow_parity() {
    let path = fixture_path("DPM_SOLVER_FLOW_FIXTURES", "diffusers_flow_public.json");
    let (passed, total, worst) = run_file(&path);
    println!("flow parity: {passed}/{total} passed (worst {worst:.3} of tol)");
    assert_eq!(passed, total, "{} case(s) failed", total - passed);
}

/// The project's own wider cases (`tests/fixtures/gen_flow_extra.py`, diffusers 0.42.1): other
/// step counts and train sizes, UniPC `shift_terminal` and linear time shift, FlowMatchEuler's
/// Karras/exponential sigmas, singlestep order 3, epsilon/sample/v on flow sigmas.
#[test]
fn flow_parity_extra() {
    let path = fixture_path(
        "DPM_SOLVER_FLOW_EXTRA_FIXTURES",
        "diffusers_flow_extra.json",
    );
    let (passed, total, worst) = run_file(&path);
    println!("flow parity (extra cases): {passed}/{total} passed (worst {worst:.3} of tol)");
    assert_eq!(passed, total, "{} case(s) failed", total - passed);
}
