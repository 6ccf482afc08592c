//! Parity with diffusers 0.42.1's schedulers on every case of the fixture file named by
//! `DPM_SOLVER_DIFFUSERS_FIXTURES` (default `tests/fixtures/diffusers_public.json`): the
//! timesteps must equal diffusers' exactly and the final sample must satisfy
//! `max |x_0 - expected| <= 1e-4 (1 + max |expected|)`, computing in `f64` and in `f32`.

use dpm_solver_tests::diffusers::{load_diffusers, run_diffusers_case, DiffusersCase};
use dpm_solver_tests::{fixture_path, max_abs_diff};

/// The relative parity bound (float32-level: diffusers keeps its tables in float32).
const REL_TOL: f64 = 1e-4;

/// Checks one case in one precision; `Ok(ratio)` is the error over the tolerance.
fn check<T: dpm_solver::Real>(case: &DiffusersCase) -> Result<f64, String> {
    let run = run_diffusers_case::<T>(case)?;
    if run.timesteps != case.expected.timesteps {
        return Err(format!(
            "timesteps {:?} != expected {:?}",
            run.timesteps, case.expected.timesteps
        ));
    }
    let scale = case
        .expected
        .x_0
        .iter()
        .flatten()
        .fold(0.0f64, |m, v| m.max(v.abs()));
    let tol = REL_TOL * (1.0 + scale);
    let err = max_abs_diff(&run.x, &case.expected.x_0);
    if run.x.len() != case.expected.x_0.len() || !(err <= tol) {
        return Err(format!("max |x_0 - expected| = {err:.3e} > tol {tol:.3e}"));
    }
    Ok(err / tol)
}

#[test]
fn diffusers_parity() {
    let path = fixture_path("DPM_SOLVER_DIFFUSERS_FIXTURES", "diffusers_public.json");
    let fixtures = load_diffusers(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(fixtures.format, "diffusers-conformance/1", "unknown format");
    let total = fixtures.cases.len();
    let (mut passed, mut worst) = (0usize, 0.0f64);
    for case in &fixtures.cases {
        let r64 = check::<f64>(case);
        let r32 = check::<f32>(case);
        match (r64, r32) {
            (Ok(a), Ok(b)) => {
                passed += 1;
                worst = worst.max(a).max(b);
            }
            (a, b) => {
                if let Err(e) = a {
                    println!("FAIL {} (f64): {e}", case.name);
                }
                if let Err(e) = b {
                    println!("FAIL {} (f32): {e}", case.name);
                }
            }
        }
    }
    println!("diffusers parity: {passed}/{total} passed (worst {worst:.3} of tol)");
    assert!(total > 0, "no cases in {}", path.display());
    assert_eq!(passed, total, "{} case(s) failed", total - passed);
}
