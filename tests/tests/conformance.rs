//! Conformance with the DPM-Solver authors' reference implementation (`dpm_solver_pytorch.py`)
//! on the exact Gaussian-mixture oracle: every case in `f64` within `tol_f64` and in `f32`
//! within `tol_f32`, with the reference's NFE.
//!
//! `DPM_SOLVER_REFERENCE_FIXTURES=path.json` runs another file of the same format.

use dpm_solver_tests::{fixture_path, load, max_abs_diff, run_reference_case, Case, RunResult};

fn check(case: &Case, r: Result<RunResult, String>, tol: f64) -> Result<f64, String> {
    let r = r?;
    let want: Vec<Vec<f64>> =
        serde_json::from_value(case.expected["x_0"].clone()).map_err(|e| e.to_string())?;
    if want.len() != r.x.len() || want.iter().zip(&r.x).any(|(a, b)| a.len() != b.len()) {
        return Err("result shape differs from expected.x_0".into());
    }
    let err = max_abs_diff(&r.x, &want);
    if let Some(nfe) = case.expected["nfe"].as_u64() {
        if nfe as usize != r.nfe {
            return Err(format!("nfe {} but the reference made {nfe}", r.nfe));
        }
    }
    // Written so that a NaN error fails.
    #[allow(clippy::neg_cmp_op_on_partial_ord)]
    let bad = !(err <= tol);
    if bad {
        return Err(format!("max |x - x_ref| = {err:.3e} > tol {tol:.3e}"));
    }
    Ok(err / tol)
}

#[test]
fn reference_conformance() {
    let path = fixture_path("DPM_SOLVER_REFERENCE_FIXTURES", "reference_public.json");
    let fx = load(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        fx.format, "dpm-solver-conformance/1",
        "unknown fixture format"
    );
    assert!(!fx.cases.is_empty(), "no cases in {}", path.display());
    let (mut passed, mut worst64, mut worst32) = (0usize, 0f64, 0f64);
    let mut failures = Vec::new();
    for case in &fx.cases {
        let tol64 = case.expected["tol_f64"].as_f64().unwrap_or(1e-6);
        let tol32 = case.expected["tol_f32"].as_f64().unwrap_or(1e-3);
        let r64 = check(case, run_reference_case::<f64>(case), tol64);
        let r32 = check(case, run_reference_case::<f32>(case), tol32);
        match (&r64, &r32) {
            (Ok(a), Ok(b)) => {
                passed += 1;
                worst64 = worst64.max(*a);
                worst32 = worst32.max(*b);
            }
            _ => {
                if let Err(e) = &r64 {
                    failures.push(format!("{} [f64]: {e}", case.name));
                }
                if let Err(e) = &r32 {
                    failures.push(format!("{} [f32]: {e}", case.name));
                }
            }
        }
    }
    for f in &failures {
        println!("FAILED {f}");
    }
    println!(
        "reference conformance: {passed}/{} passed (f64 worst {worst64:.3} of tol, f32 worst {worst32:.3} of tol)",
        fx.cases.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {} cases failed",
        fx.cases.len() - passed,
        fx.cases.len()
    );
}
