//! The Markdown report: the three metric tables, the headline (the NFE at which each solver
//! matches DDIM at 100 NFE) and the notes that say how the figures were made.

use std::fmt::Write as _;

use dpm_solver_wasm::pipeline::ModelInfo;

use crate::cli::{Args, FLOW_SAMPLES, FULL_REF_NFE, FULL_SAMPLES};
use crate::presets::{Row, Solver};
use crate::score::{Acc, Cell};
use crate::{DDIM, DDIM_TARGET_NFE, EVAL_SEED};

/// One figure of a configuration.
pub type Metric<'a> = &'a dyn Fn(&Cell) -> f64;

/// RMSE to the converged ODE solution; not an error measure for a stochastic sampler (NaN).
pub fn ode_rmse(c: &Cell) -> f64 {
    if c.solver.stochastic() {
        f64::NAN
    } else {
        c.acc.rmse()
    }
}

fn fmt_cell(c: &Cell, f: &dyn Fn(&Cell) -> f64, digits: usize) -> String {
    let v = f(c);
    if v.is_finite() {
        format!("{v:.digits$}")
    } else {
        "-".into()
    }
}

/// The whole report.
#[allow(clippy::too_many_arguments)]
pub fn markdown(
    args: &Args,
    solvers: &[Solver],
    (reference, check): (&Solver, &Solver),
    info: &ModelInfo,
    cells: &[Cell],
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
    let kind = if info.schedule.is_flow() {
        "the flow-matching demo model"
    } else {
        "the demo model"
    };
    let _ = writeln!(s, "# Sample quality against NFE on {kind}\n");
    if args.quick {
        let _ = writeln!(
            s,
            "**Quick (smoke) run: too few samples for conclusions.** The full run is one command, \
             `cargo run --release -p dpm-solver-wasm --example evaluate{}` ({} samples, NFE {}, references at \
             {FULL_REF_NFE} NFE), and rewrites this file and the plot.\n",
            if info.schedule.is_flow() { " -- --flow" } else { "" },
            if info.schedule.is_flow() { FLOW_SAMPLES } else { FULL_SAMPLES },
            if info.schedule.is_flow() { "4-20" } else { "5-50" },
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
            "{} samples, not 1,000: every sample costs ~{} UNet image evaluations here (all solvers and NFEs, {}two \
             references, doubled by guidance), and the run has to fit in ~30 minutes on 2 busy cores. \
             RMSE and accuracy are stable at this size; the FID is not (see its floor).\n",
            args.samples,
            evals / args.samples.max(1),
            if cells.iter().any(|c| c.nfe.is_none() || c.nfe == Some(DDIM_TARGET_NFE)) {
                format!("the DDIM-{DDIM_TARGET_NFE} run, the adaptive runs and ")
            } else {
                String::new()
            }
        );
    }
    let _ = writeln!(
        s,
        "- **RMSE**: pixel RMSE (values in [-1, 1], before clipping) to the converged ODE solution of the same noise: \
         {} at {} NFE, {} spacing. Its distance to {} at {} NFE ({} spacing) is **{:.2e}** \
         (the reference's own error is about this size or smaller).",
        reference.name, args.ref_nfe, args.reference_spacing, check.name, args.ref_nfe, args.spacing, ref_check.rmse()
    );
    let _ = writeln!(
        s,
        "- **FID**: Frechet distance in the classifier's 128-d feature space (FID in the classifier's feature space, \
         as the MNIST literature uses it) against the 10,000 training digits, on clipped samples. With {} samples it \
         is biased upwards: {} real training digits score **{:.3}** (the floor); the converged reference scores {:.3}.",
        args.samples, args.samples, fid_floor, ref_fid
    );
    if info.schedule.is_flow() {
        let _ = writeln!(
            s,
            "- **Rows**: the model predicts the velocity `v = eps - x_0` on the path `x_s = (1 - s) x_0 + s eps`. \
             Euler is diffusers' `FlowMatchEulerDiscreteScheduler` (the default scheduler of flow-matching models: \
             Euler steps on `v` over sigmas `linspace(1, 1/N)`, shift 1); the other diffusers rows are \
             `DPMSolverMultistepScheduler` and `UniPCMultistepScheduler` with `use_flow_sigmas` (shift 1, diffusers' \
             defaults otherwise). The DPM-Solver++ rows without \"diffusers\" are this library's core on the flow \
             schedule (`alpha = 1 - t`, `sigma = t`) at {} spacing ({}).",
            args.spacing,
            if matches!(args.spacing.as_str(), "logSNR" | "karras") {
                "which starts at t = 1 - 1/N, where lambda is finite"
            } else {
                "from t = 1, pure noise"
            }
        );
    } else {
        let _ = writeln!(
            s,
            "- **diffusers rows**: the schedulers of `dpm_solver::diffusers` with diffusers' defaults (`timestep_spacing` linspace, \
             `final_sigmas_type` zero, `lower_order_final`) on the model's schedule, so they run on diffusers' integer timesteps \
             rather than the {} spacing above; DPM-Solver++(2M) appears both ways. The 2M SDE row draws fresh noise every step \
             (image `k`'s from its own seeded stream): it converges to another sample of the same class, so its RMSE to the ODE \
             solution is no error and is left out (\"-\"); compare it by FID and accuracy.",
            args.spacing
        );
    }
    let _ = writeln!(
        s,
        "- **Accuracy**: fraction of samples the classifier (`www/models/classifier.onnx`) assigns to the requested class \
         (the reference: {:.3}).\n",
        ref_acc.accuracy()
    );

    let fixed: Vec<&Cell> = cells.iter().filter(|c| c.nfe.is_some()).collect();
    let ddim100 = fixed
        .iter()
        .find(|c| c.solver.key == DDIM && c.nfe == Some(DDIM_TARGET_NFE));
    let metrics: [(&str, Metric, usize); 3] = [
        ("RMSE to the converged solution", &ode_rmse, 4),
        ("FID (classifier features)", &|c: &Cell| c.fid, 3),
        ("Class accuracy", &|c: &Cell| c.acc.accuracy(), 3),
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
        for sv in solvers.iter().filter(|s| s.row == Row::Grid) {
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
        for c in cells.iter().filter(|c| c.nfe.is_none()) {
            extra.push(format!(
                "{} at {:.1} NFE (mean): {}",
                c.solver.name,
                c.acc.mean_nfe(),
                fmt_cell(c, f, digits)
            ));
        }
        let _ = writeln!(s, "{}\n", extra.join("; "));
    }

    if let Some(d) = ddim100 {
        let _ = writeln!(
            s,
            "## Headline: the NFE at which DPM-Solver matches DDIM at {DDIM_TARGET_NFE} NFE\n"
        );
        {
            let _ = writeln!(
                s,
                "DDIM at {DDIM_TARGET_NFE} NFE: RMSE {:.4}, FID {:.3}. Smallest NFE of the grid at which each solver is at least as good \
                 (\"> max\" if none), and in brackets the crossing interpolated log-log between grid points. \
                 RMSE is the robust criterion; FID from this few samples is noisy and not monotone in NFE.\n",
                d.acc.rmse(),
                d.fid
            );
            let _ = writeln!(s, "| solver | NFE for RMSE <= DDIM-{DDIM_TARGET_NFE} | NFE for FID <= DDIM-{DDIM_TARGET_NFE} |\n|---|---:|---:|");
            for sv in solvers
                .iter()
                .filter(|s| s.row == Row::Grid && s.key != DDIM)
            {
                // The first grid NFE at which the solver is as good, and the crossing
                // interpolated log-log between it and the grid point before.
                let find = |f: &dyn Fn(&Cell) -> f64, target: f64| -> String {
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
                    find(&|c: &Cell| c.acc.rmse(), d.acc.rmse())
                };
                let _ = writeln!(
                    s,
                    "| {} | {} | {} |",
                    sv.name,
                    rmse,
                    find(&|c: &Cell| c.fid, d.fid)
                );
            }
            let _ = writeln!(s);
        }
    }
    let _ = writeln!(
        s,
        "Plot: `{}` (RMSE and FID against NFE, log-log; {}dotted: the reference's own error (RMSE) and the FID floor).",
        args.plot,
        if ddim100.is_some() {
            format!("dashed: DDIM at {DDIM_TARGET_NFE} NFE; ")
        } else {
            String::new()
        }
    );
    s
}
