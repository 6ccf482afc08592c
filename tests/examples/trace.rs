//! Traces one reference case step by step in f64 and f32, or (`--all`) prints the f32 error
//! ratio of every case whose name contains NAME: `trace NAME [--all]`.
use dpm_solver::*;
use dpm_solver_tests::*;
fn main() -> std::result::Result<(), lexopt::Error> {
    use lexopt::prelude::*;
    let (mut name, mut all) = (None, false);
    let mut args = lexopt::Parser::from_env();
    while let Some(arg) = args.next()? {
        match arg {
            Long("all") => all = true,
            Value(v) if name.is_none() => name = Some(v.string()?),
            _ => return Err(arg.unexpected()),
        }
    }
    let name = name.ok_or("usage: trace NAME [--all]")?;
    let fx = load(&fixture_path("X", "reference_public.json")).unwrap();
    let case = fx.cases.iter().find(|c| c.name.contains(&name)).unwrap();
    if all {
        for c in fx.cases.iter().filter(|c| c.name.contains(&name)) {
            let r = run_reference_case::<f32>(c).unwrap();
            let want: Vec<Vec<f64>> = serde_json::from_value(c.expected["x_0"].clone()).unwrap();
            println!(
                "{} f32 err {:.3e} tol {:.3e} ratio {:.3} nfe {} ref {}",
                c.name,
                max_abs_diff(&r.x, &want),
                c.expected["tol_f32"].as_f64().unwrap(),
                max_abs_diff(&r.x, &want) / c.expected["tol_f32"].as_f64().unwrap(),
                r.nfe,
                c.expected["nfe"]
            );
        }
        return Ok(());
    }
    trace::<f64>(case);
    trace::<f32>(case);
    Ok(())
}
fn trace<T: Real>(case: &Case) {
    let g = parse_guidance(&case.guidance).unwrap();
    let pred = prediction(&case.model.prediction).unwrap();
    let cfg = reference_config::<T>(&case.solver, g, pred, case.x_t.len()).unwrap();
    let mut spec = ScheduleSpec::<T>::parse(&case.schedule).unwrap();
    let sched = spec.build().unwrap();
    let mut spec64 = ScheduleSpec::<f64>::parse(&case.schedule).unwrap();
    let truth = spec64.build().unwrap();
    let oracle = Oracle::new(&case.model).unwrap();
    let dim = oracle.dim();
    let mut x: Vec<T> = case.x_t.iter().flatten().map(|&v| T::c(v)).collect();
    let n = x.len();
    let mut scratch = vec![T::ZERO; cfg.scratch_len(n)];
    let mut s = Sampler::new(sched, cfg, &mut x, &mut scratch).unwrap();
    let mut out = vec![T::ZERO; n];
    while let Some(req) = s.ask() {
        let t = truth.time_from_model_time(req.t_model.to_f64());
        for b in 0..n / dim {
            let row: Vec<f64> = req.x[b * dim..(b + 1) * dim]
                .iter()
                .map(|v| v.to_f64())
                .collect();
            let o = oracle.output(&row, truth.alpha(t), truth.sigma(t), None);
            for i in 0..dim {
                out[b * dim + i] = T::c(o[i]);
            }
        }
        if let Some(r) = s.tell(&out).unwrap() {
            println!("{:?}", r);
        }
    }
    println!("nfe {}", s.nfe());
}
#[allow(dead_code)]
fn unused() {}
