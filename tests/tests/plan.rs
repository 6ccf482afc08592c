//! The step as coefficients (`dpm_solver::plan`), proven against the references: every
//! conformance and diffusers parity case is planned ahead of time, the plan is applied with
//! plain `f32` loops (as the WGSL executor applies it) with the exact oracle as the network, and
//! the result must match the fixture's `x_0` at the `f32` tolerance and the ask/tell sampler's
//! own `f32` result closely. The adaptive cases are planned step by step (`StepPlanner`): the
//! error norm of each trial is computed by a plain loop from its `ErrorNorm` and handed back,
//! and the run must take the reference's number of evaluations and the ask/tell sampler's
//! accepted and rejected steps. Cases the plan path refuses (dynamic thresholding) are listed
//! with the reason, and must be refused with exactly that reason.
//!
//! `DPM_SOLVER_REFERENCE_FIXTURES` / `DPM_SOLVER_DIFFUSERS_FIXTURES` / `DPM_SOLVER_FLOW_FIXTURES`
//! select other files.

use dpm_solver::plan::{
    sampler_plan, scheduler_plan, Buf, ErrorNorm, Op, PlanInfo, StepPlanner, FIXED_BUFFERS,
};
use dpm_solver_tests::diffusers::{
    load_diffusers, oracle_output, run_diffusers_case, run_diffusers_case_with, scheduler_config,
    DiffusersCase, MAX_STEPS,
};
use dpm_solver_tests::flow::{flow_output, load_flow, FlowCase};
use dpm_solver_tests::{
    fixture_path, load, max_abs_diff, parse_guidance, prediction, reference_config,
    run_reference_case, Case, Oracle, ScheduleSpec,
};

/// An owned copy of one evaluation of a plan.
struct OwnedStep {
    input: Buf,
    t_model: f32,
    ops: Vec<Op<f32>>,
}

/// The buffers of a plan executor: `FIXED_BUFFERS + slots` arrays of `n` floats.
struct Buffers {
    n: usize,
    data: Vec<Vec<f32>>,
}

impl Buffers {
    fn new(info: &PlanInfo, x_t: &[f32]) -> Self {
        Self::with_count(FIXED_BUFFERS + info.slots, x_t)
    }

    fn with_count(count: usize, x_t: &[f32]) -> Self {
        let n = x_t.len();
        let mut data = vec![vec![0.0f32; n]; count];
        data[Buf::X.index()].copy_from_slice(x_t);
        Buffers { n, data }
    }

    /// The error norm `E` by a plain loop: each sample's sum of squares in element order, then
    /// the largest root mean square (as a GPU reduction does, up to the summation order).
    fn norm(&self, norm: &ErrorNorm<f32>) -> f32 {
        let dim = self.n / norm.batch;
        let sums = (0..norm.batch).map(|b| {
            (b * dim..(b + 1) * dim)
                .map(|i| norm.square(|buf| self.data[buf.index()][i]))
                .fold(0.0f32, |s, v| s + v)
        });
        norm.reduce(sums, dim)
    }

    /// `dst = sum w src` elementwise, in order, as the WGSL kernel does.
    fn apply(&mut self, ops: &[Op<f32>]) {
        for op in ops {
            let mut out = vec![0.0f32; self.n];
            for (i, o) in out.iter_mut().enumerate() {
                *o = op.eval(|b| self.data[b.index()][i]);
            }
            self.data[op.dst.index()] = out;
        }
    }
}

/// Whether a refusal is one the plan module documents (and only those cases may be refused).
fn expected_refusal(solver: &serde_json::Value) -> Option<&'static str> {
    if solver.get("thresholding").is_some_and(|t| !t.is_null()) {
        Some("thresholding")
    } else {
        None
    }
}

/// A reference case's plan applied with plain loops: the result and, for the adaptive method,
/// the accepted and rejected steps.
struct PlanRun {
    x: Vec<Vec<f64>>,
    trials: Option<(usize, usize)>,
}

/// Runs a reference case through its plan; `Ok(Err(reason))`: refused.
fn run_reference_plan(case: &Case) -> Result<Result<PlanRun, String>, String> {
    let guidance = parse_guidance(&case.guidance)?;
    let pred = prediction(&case.model.prediction)?;
    let config = reference_config::<f32>(&case.solver, guidance, pred, case.x_t.len())?;
    let mut spec = ScheduleSpec::<f32>::parse(&case.schedule)?;
    let sched = spec.build()?;
    let oracle = Oracle::new(&case.model)?;
    let dim = oracle.dim();
    let mut spec64 = ScheduleSpec::<f64>::parse(&case.schedule)?;
    let truth = spec64.build()?;
    let x_t: Vec<f32> = case.x_t.iter().flatten().map(|&v| v as f32).collect();
    // The network: the exact oracle at the time the model input encodes, into Output (Guide).
    let network = |bufs: &mut Buffers, input: Buf, t_model: f32| {
        let t = truth.time_from_model_time(t_model as f64);
        let (alpha, sigma) = (truth.alpha(t), truth.sigma(t));
        for b in 0..case.x_t.len() {
            let rows = b * dim..(b + 1) * dim;
            let row: Vec<f64> = bufs.data[input.index()][rows.clone()]
                .iter()
                .map(|&v| v as f64)
                .collect();
            let (o, g) = oracle.guided(guidance, &row, alpha, sigma);
            for (d, v) in bufs.data[Buf::Output.index()][rows.clone()]
                .iter_mut()
                .zip(o)
            {
                *d = v as f32;
            }
            if let Some(g) = g {
                for (d, v) in bufs.data[Buf::Guide.index()][rows].iter_mut().zip(g) {
                    *d = v as f32;
                }
            }
        }
    };
    let result = |bufs: &Buffers| -> Vec<Vec<f64>> {
        bufs.data[Buf::X.index()]
            .chunks(dim)
            .map(|c| c.iter().map(|&v| v as f64).collect())
            .collect()
    };
    let check_nfe = |nfe: usize| -> Result<(), String> {
        match case.expected["nfe"].as_u64() {
            Some(want) if want as usize != nfe => {
                Err(format!("plan has {nfe} evaluations, reference {want}"))
            }
            _ => Ok(()),
        }
    };
    if config.method == dpm_solver::Method::Adaptive {
        // Step by step: the norm of each trial by a plain loop, the decision from the core.
        let mut planner = match StepPlanner::new(sched, config) {
            Ok(p) => p,
            Err(e) => return Ok(Err(e.to_string())),
        };
        let mut bufs = Buffers::with_count(planner.buffers(), &x_t);
        let (mut accepted, mut rejected) = (0, 0);
        loop {
            let (input, t_model, ops, norm) = match planner.next() {
                Ok(Some(s)) => (
                    s.step.input,
                    s.step.t_model,
                    s.step.ops.to_vec(),
                    s.norm.copied(),
                ),
                Ok(None) => break,
                Err(e) => return Ok(Err(e.to_string())),
            };
            network(&mut bufs, input, t_model);
            bufs.apply(&ops);
            if let Some(norm) = norm {
                let e = bufs.norm(&norm);
                let d = planner.tell_error(e).map_err(|e| e.to_string())?;
                if d.report.accepted {
                    accepted += 1;
                } else {
                    rejected += 1;
                }
                let ops = d.ops.to_vec();
                bufs.apply(&ops);
            }
        }
        check_nfe(planner.nfe())?;
        return Ok(Ok(PlanRun {
            x: result(&bufs),
            trials: Some((accepted, rejected)),
        }));
    }
    let mut steps = Vec::new();
    let info = match sampler_plan(sched, config, |s| {
        steps.push(OwnedStep {
            input: s.input,
            t_model: s.t_model,
            ops: s.ops.to_vec(),
        })
    }) {
        Ok(i) => i,
        Err(e) => return Ok(Err(e.to_string())),
    };
    check_nfe(info.nfe)?;
    let mut bufs = Buffers::new(&info, &x_t);
    for step in &steps {
        network(&mut bufs, step.input, step.t_model);
        bufs.apply(&step.ops);
    }
    Ok(Ok(PlanRun {
        x: result(&bufs),
        trials: None,
    }))
}

/// The ask/tell `f32` sampler's accepted and rejected steps on a reference case.
fn sampler_trials(case: &Case) -> Result<(usize, usize), String> {
    let guidance = parse_guidance(&case.guidance)?;
    let pred = prediction(&case.model.prediction)?;
    let config = reference_config::<f32>(&case.solver, guidance, pred, case.x_t.len())?;
    let mut spec = ScheduleSpec::<f32>::parse(&case.schedule)?;
    let sched = spec.build()?;
    let oracle = Oracle::new(&case.model)?;
    let dim = oracle.dim();
    let mut spec64 = ScheduleSpec::<f64>::parse(&case.schedule)?;
    let truth = spec64.build()?;
    let mut x: Vec<f32> = case.x_t.iter().flatten().map(|&v| v as f32).collect();
    let n = x.len();
    let mut scratch = vec![0f32; config.scratch_len(n)];
    let mut s =
        dpm_solver::Sampler::new(sched, config, &mut x, &mut scratch).map_err(|e| e.to_string())?;
    let (mut out, mut guide) = (vec![0f32; n], vec![0f32; n]);
    while let Some(req) = s.ask() {
        let t = truth.time_from_model_time(req.t_model as f64);
        let (alpha, sigma) = (truth.alpha(t), truth.sigma(t));
        for (b, row) in req.x.chunks(dim).enumerate() {
            let row: Vec<f64> = row.iter().map(|&v| v as f64).collect();
            let (o, g) = oracle.guided(guidance, &row, alpha, sigma);
            for (i, v) in o.into_iter().enumerate() {
                out[b * dim + i] = v as f32;
            }
            for (i, v) in g.into_iter().flatten().enumerate() {
                guide[b * dim + i] = v as f32;
            }
        }
        match config.guidance {
            dpm_solver::Guidance::None => s.tell(&out),
            dpm_solver::Guidance::ClassifierFree { .. } => s.tell_cfg(&out, &guide),
            dpm_solver::Guidance::Classifier { .. } => s.tell_classifier(&out, &guide),
        }
        .map_err(|e| e.to_string())?;
    }
    let st = s.stats();
    Ok((st.n_accept, st.n_reject))
}

#[test]
fn plan_conformance() {
    let path = fixture_path("DPM_SOLVER_REFERENCE_FIXTURES", "reference_public.json");
    let fx = load(&path).unwrap_or_else(|e| panic!("{e}"));
    let (mut passed, mut supported, mut worst, mut worst_vs_sampler) = (0, 0, 0f64, 0f64);
    let (mut adaptive, mut adaptive_passed) = (0, 0);
    let (mut failures, mut refused) = (Vec::new(), Vec::new());
    for case in &fx.cases {
        let tol = case.expected["tol_f32"].as_f64().unwrap_or(1e-3);
        let want: Vec<Vec<f64>> = serde_json::from_value(case.expected["x_0"].clone()).unwrap();
        match run_reference_plan(case) {
            Err(e) => failures.push(format!("{}: {e}", case.name)),
            Ok(Err(reason)) => {
                let why = expected_refusal(&case.solver);
                if why.is_some_and(|w| reason.contains(w)) {
                    refused.push(format!("{}: {reason}", case.name));
                } else {
                    failures.push(format!("{}: refused unexpectedly: {reason}", case.name));
                }
            }
            Ok(Ok(PlanRun { x, trials })) => {
                supported += 1;
                if let Some(got) = trials {
                    adaptive += 1;
                    match sampler_trials(case) {
                        Ok(want) if want == got => {}
                        Ok(want) => {
                            failures.push(format!(
                                "{}: plan (accepted, rejected) {got:?}, sampler {want:?}",
                                case.name
                            ));
                            continue;
                        }
                        Err(e) => {
                            failures.push(format!("{}: sampler: {e}", case.name));
                            continue;
                        }
                    }
                }
                let err = max_abs_diff(&x, &want);
                let sampler = run_reference_case::<f32>(case).map(|r| r.x);
                let vs = sampler
                    .map(|s| max_abs_diff(&x, &s))
                    .unwrap_or(f64::INFINITY);
                // The plan folds the conversion and the guidance into one sum: the same f32
                // arithmetic up to rounding, so it must sit well inside the tolerance.
                #[allow(clippy::neg_cmp_op_on_partial_ord)]
                if !(err <= tol) || !(vs <= tol / 4.0) {
                    failures.push(format!(
                        "{}: |x - x_ref| = {err:.3e} (tol {tol:.1e}), |x - sampler| = {vs:.3e}",
                        case.name
                    ));
                } else {
                    passed += 1;
                    adaptive_passed += usize::from(trials.is_some());
                    worst = worst.max(err / tol);
                    worst_vs_sampler = worst_vs_sampler.max(vs / tol);
                }
            }
        }
    }
    println!(
        "plan conformance, adaptive (step by step, norm by plain loop): {adaptive_passed}/{adaptive} passed"
    );
    report(
        "plan conformance",
        (passed, supported, fx.cases.len()),
        &refused,
        &failures,
        &format!("{worst:.3} of tol vs reference, {worst_vs_sampler:.3} of tol vs the sampler"),
    );
    assert!(adaptive > 0, "no adaptive case ran");
}

/// Plans a diffusers scheduler ahead of time: its info, its steps and the `alphas_cumprod`
/// table it filled, or `Err(reason)` if refused.
fn plan_steps(
    cfg: &dpm_solver::diffusers::SchedulerConfig<'_>,
    num_inference_steps: usize,
) -> Result<(PlanInfo, Vec<OwnedStep>, Vec<f32>), String> {
    let mut table = vec![0.0f32; cfg.train().num_train_timesteps];
    let mut steps = Vec::new();
    let info = scheduler_plan::<f32, MAX_STEPS>(cfg, num_inference_steps, &mut table, None, |s| {
        steps.push(OwnedStep {
            input: s.input,
            t_model: s.t_model,
            ops: s.ops.to_vec(),
        })
    })
    .map_err(|e| e.to_string())?;
    Ok((info, steps, table))
}

/// Prints the refused and failed cases and the summary line; fails on any failure.
fn report(
    title: &str,
    tally: (usize, usize, usize),
    refused: &[String],
    failures: &[String],
    worst: &str,
) {
    let (passed, supported, total) = tally;
    for r in refused {
        println!("refused {r}");
    }
    for f in failures {
        println!("FAILED {f}");
    }
    println!(
        "{title}: {passed}/{supported} supported cases passed ({} refused, {total} total; worst {worst})",
        refused.len()
    );
    assert!(failures.is_empty(), "{} plan failures", failures.len());
    assert!(supported > 0);
}

/// Runs a diffusers case through its plan; `Ok(Err(reason))`: refused.
fn run_diffusers_plan(case: &DiffusersCase) -> Result<Result<Vec<Vec<f64>>, String>, String> {
    let oracle = Oracle::new(&case.model)?;
    let dim = oracle.dim();
    let batch = case.x_t.len();
    let (mut trained, mut disable) = (Vec::new(), Vec::new());
    let (cfg, _) = scheduler_config(
        &case.scheduler,
        &case.config,
        &mut trained,
        &mut disable,
        batch,
    )?;
    let (info, steps, table) = match plan_steps(&cfg, case.num_inference_steps) {
        Ok(p) => p,
        Err(reason) => return Ok(Err(reason)),
    };
    let x_t: Vec<f32> = case.x_t.iter().flatten().map(|&v| v as f32).collect();
    let mut bufs = Buffers::new(&info, &x_t);
    let timesteps: Vec<i64> = steps.iter().map(|s| s.t_model as i64).collect();
    if timesteps != case.expected.timesteps {
        return Err(format!("plan timesteps {timesteps:?}"));
    }
    for step in &steps {
        let req = dpm_solver::diffusers::Request {
            x: &bufs.data[step.input.index()][..],
            timestep: step.t_model as i64,
            time: step.t_model,
            step_index: 0,
        };
        let mut out = vec![0.0f32; bufs.n];
        oracle_output(&oracle, &table, &req, &mut out, false)?;
        bufs.data[Buf::Output.index()] = out;
        bufs.apply(&step.ops);
    }
    Ok(Ok(bufs.data[Buf::X.index()]
        .chunks(dim)
        .map(|c| c.iter().map(|&v| v as f64).collect())
        .collect()))
}

#[test]
fn plan_diffusers_parity() {
    let path = fixture_path("DPM_SOLVER_DIFFUSERS_FIXTURES", "diffusers_public.json");
    let fx = load_diffusers(&path).unwrap_or_else(|e| panic!("{e}"));
    let (mut passed, mut supported, mut worst) = (0, 0, 0f64);
    let (mut failures, mut refused) = (Vec::new(), Vec::new());
    for case in &fx.cases {
        let thresholding = case.config.get("thresholding").and_then(|v| v.as_bool()) == Some(true);
        match run_diffusers_plan(case) {
            Err(e) => failures.push(format!("{}: {e}", case.name)),
            Ok(Err(reason)) if thresholding && reason.contains("thresholding") => {
                refused.push(format!("{}: {reason}", case.name))
            }
            Ok(Err(reason)) => failures.push(format!("{}: refused: {reason}", case.name)),
            Ok(Ok(x)) => {
                supported += 1;
                // The plan must reproduce the scheduler's own f32 run and diffusers (the same
                // f32 sums up to rounding).
                let sampler = run_diffusers_case::<f32>(case).map(|r| r.x);
                let scale = case
                    .expected
                    .x_0
                    .iter()
                    .flatten()
                    .fold(0f64, |m, v| m.max(v.abs()));
                // The parity test's f32 rule: `tol`, plus 4 times the case's float32 floor where
                // rounding the outputs to float32 alone costs more than a quarter of it.
                let mut tol = 1e-4 * (1.0 + scale);
                let floor = run_diffusers_case_with::<f64>(case, true)
                    .map(|r| max_abs_diff(&r.x, &case.expected.x_0))
                    .unwrap_or(0.0);
                if floor > tol / 4.0 {
                    tol += 4.0 * floor;
                }
                let vs = sampler
                    .map(|s| max_abs_diff(&x, &s))
                    .unwrap_or(f64::INFINITY);
                let err = max_abs_diff(&x, &case.expected.x_0);
                #[allow(clippy::neg_cmp_op_on_partial_ord)]
                if !(vs <= tol) || !(err <= tol) {
                    failures.push(format!(
                        "{}: |x - scheduler| = {vs:.3e}, |x - diffusers| = {err:.3e} > {tol:.1e}",
                        case.name
                    ));
                } else {
                    passed += 1;
                    worst = worst.max(vs / tol);
                }
            }
        }
    }
    report(
        "plan diffusers parity",
        (passed, supported, fx.cases.len()),
        &refused,
        &failures,
        &format!("{worst:.3} of tol vs the scheduler's f32 run"),
    );
}

/// The SDE variants' noise term: with the same standard normals (the plan's `Noise` buffer at
/// evaluation `k` = the noise handed to `tell_noise` at step `k`), plan and scheduler agree.
#[test]
fn plan_sde_noise_term() {
    use dpm_solver::diffusers::Scheduler;
    let path = fixture_path("DPM_SOLVER_DIFFUSERS_FIXTURES", "diffusers_public.json");
    let fx = load_diffusers(&path).unwrap_or_else(|e| panic!("{e}"));
    let mut checked = 0;
    for (class, order) in [
        ("DPMSolverMultistepScheduler", 2),
        ("DPMSolverMultistepScheduler", 3),
        ("DPMSolverSinglestepScheduler", 2),
    ] {
        for alg in ["sde-dpmsolver++", "sde-dpmsolver"] {
            if alg == "sde-dpmsolver" && (order == 3 || class == "DPMSolverSinglestepScheduler") {
                continue; // diffusers has no such sde-dpmsolver update
            }
            let case = fx
                .cases
                .iter()
                .find(|c| c.model.prediction == "noise")
                .expect("an epsilon case");
            let oracle = Oracle::new(&case.model).unwrap();
            let json = serde_json::json!({
                "algorithm_type": alg,
                "solver_order": order,
                "final_sigmas_type": "sigma_min",
            });
            let (mut trained, mut disable) = (Vec::new(), Vec::new());
            let batch = case.x_t.len();
            let (cfg, _) =
                scheduler_config(class, &json, &mut trained, &mut disable, batch).unwrap();
            let steps = 7;
            let x_t: Vec<f32> = case.x_t.iter().flatten().map(|&v| v as f32).collect();
            let n = x_t.len();
            let noise_at = |k: usize| -> Vec<f32> {
                (0..n).map(|i| (1.7 * (i + 3 * k) as f32).sin()).collect()
            };
            // The scheduler with tell_noise.
            let mut table = vec![0.0f32; cfg.train().num_train_timesteps];
            let mut x = x_t.clone();
            let mut scratch = vec![0.0f32; cfg.scratch_len(n)];
            let mut s =
                Scheduler::<f32, MAX_STEPS>::new(&cfg, steps, &mut table, &mut x, &mut scratch)
                    .unwrap();
            let ac: Vec<f32> = s.alphas_cumprod().to_vec();
            let mut out = vec![0.0f32; n];
            let mut k = 0;
            while let Some(req) = s.ask() {
                oracle_output(&oracle, &ac, &req, &mut out, false).unwrap();
                s.tell_noise(&out, &noise_at(k)).unwrap();
                k += 1;
            }
            // The plan.
            let mut table = vec![0.0f32; cfg.train().num_train_timesteps];
            let mut plan = Vec::new();
            let info = scheduler_plan::<f32, MAX_STEPS>(&cfg, steps, &mut table, None, |st| {
                plan.push((st.t_model as i64, st.ops.to_vec()))
            })
            .unwrap();
            assert!(info.noise, "{class} {alg}: the plan reads noise");
            let mut bufs = Buffers::new(&info, &x_t);
            for (k, (ts, ops)) in plan.iter().enumerate() {
                let req = dpm_solver::diffusers::Request {
                    x: &bufs.data[Buf::X.index()][..],
                    timestep: *ts,
                    time: *ts as f32,
                    step_index: k,
                };
                let mut o = vec![0.0f32; n];
                oracle_output(&oracle, &ac, &req, &mut o, false).unwrap();
                bufs.data[Buf::Output.index()] = o;
                bufs.data[Buf::Noise.index()] = noise_at(k);
                bufs.apply(ops);
            }
            let got = &bufs.data[Buf::X.index()];
            let err = got
                .iter()
                .zip(&x)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            let scale = x.iter().fold(0f32, |m, v| m.max(v.abs()));
            println!("plan sde {class} {alg} order {order}: max |plan - scheduler| = {err:.2e}");
            assert!(err <= 1e-5 * (1.0 + scale), "{class} {alg}: {err}");
            checked += 1;
        }
    }
    assert_eq!(checked, 4);
}

/// Runs a flow-matching case (diffusers' flow schedulers) through its plan, the oracle
/// evaluated at the fixture's `sigmas[i]` for step `i`; `Ok(Err(reason))`: refused.
fn run_flow_plan(case: &FlowCase) -> Result<Result<Vec<Vec<f64>>, String>, String> {
    let g = &case.model.gmm;
    let dim = g.means.first().map_or(0, |m| m.len());
    let (mut trained, mut disable) = (Vec::new(), Vec::new());
    let (mut cfg, _) = scheduler_config(
        &case.scheduler,
        &case.config,
        &mut trained,
        &mut disable,
        case.x_t.len(),
    )?;
    if let Some(mu) = case.set_timesteps.get("mu") {
        cfg.set_mu(if mu.is_null() {
            None
        } else {
            Some(mu.as_f64().ok_or("mu is not a number")?)
        });
    }
    let (info, steps, _) = match plan_steps(&cfg, case.num_inference_steps) {
        Ok(p) => p,
        Err(reason) => return Ok(Err(reason)),
    };
    if info.noise {
        return Ok(Err("stochastic sampling reads noise".into()));
    }
    // The network's time input is the scheduler's float timestep.
    let times: Vec<f32> = steps.iter().map(|s| s.t_model).collect();
    let want: Vec<f32> = case.expected.timesteps.iter().map(|&t| t as f32).collect();
    if times != want {
        return Err(format!("plan times {times:?} != {want:?}"));
    }
    let x_t: Vec<f32> = case.x_t.iter().flatten().map(|&v| v as f32).collect();
    let mut bufs = Buffers::new(&info, &x_t);
    for (i, step) in steps.iter().enumerate() {
        let sigma = case.expected.sigmas[i];
        let mut out = Vec::with_capacity(bufs.n);
        for row in bufs.data[step.input.index()].chunks(dim) {
            let row: Vec<f64> = row.iter().map(|&v| v as f64).collect();
            out.extend(
                flow_output(g, &g.prediction, &row, sigma)?
                    .into_iter()
                    .map(|v| v as f32),
            );
        }
        bufs.data[Buf::Output.index()] = out;
        bufs.apply(&step.ops);
    }
    Ok(Ok(bufs.data[Buf::X.index()]
        .chunks(dim)
        .map(|c| c.iter().map(|&v| v as f64).collect())
        .collect()))
}

#[test]
fn plan_flow_parity() {
    let path = fixture_path("DPM_SOLVER_FLOW_FIXTURES", "diffusers_flow_public.json");
    let fx = load_flow(&path).unwrap_or_else(|e| panic!("{e}"));
    let (mut passed, mut supported, mut worst) = (0, 0, 0f64);
    let (mut failures, mut refused) = (Vec::new(), Vec::new());
    for case in &fx.cases {
        let scale = case
            .expected
            .x_0
            .iter()
            .flatten()
            .fold(0f64, |m, v| m.max(v.abs()));
        let tol = 1e-4 * (1.0 + scale);
        match run_flow_plan(case) {
            Err(e) => failures.push(format!("{}: {e}", case.name)),
            Ok(Err(reason)) if reason.contains("noise") => {
                refused.push(format!("{}: {reason}", case.name))
            }
            Ok(Err(reason)) => failures.push(format!("{}: refused: {reason}", case.name)),
            Ok(Ok(x)) => {
                supported += 1;
                let e = max_abs_diff(&x, &case.expected.x_0);
                if e.is_finite() && e <= tol {
                    passed += 1;
                    worst = worst.max(e / tol);
                } else {
                    failures.push(format!("{}: {e:.3e} > tol {tol:.3e}", case.name));
                }
            }
        }
    }
    report(
        "plan flow parity",
        (passed, supported, fx.cases.len()),
        &refused,
        &failures,
        &format!("{worst:.3} of tol vs diffusers"),
    );
}
