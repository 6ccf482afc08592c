//! Cost of the solver per model evaluation (one `tell`: output conversion + update), in ns per
//! element, next to a plain copy of a buffer of the same size measured in the same run; and the
//! fixed cost per evaluation (scalar coefficients, state machine) at 1 element.
//!
//! `cargo bench -p dpm-solver --bench step` (prints a Markdown table; `-- --quick` for a smoke run)

use dpm_solver::{
    Algorithm, Betas, Config, Method, NoiseSchedule, Sampler, ScheduleTable, Spacing,
};
use std::hint::black_box;
use std::time::Instant;

const SIZES: [(&str, usize); 3] = [("784", 784), ("16x784", 16 * 784), ("4x64x64", 4 * 64 * 64)];

struct Case {
    name: &'static str,
    algorithm: Algorithm,
    method: Method,
    order: usize,
}

const CASES: [Case; 8] = [
    Case {
        name: "DPM-Solver++ multistep-1 (DDIM)",
        algorithm: Algorithm::DpmSolverPp,
        method: Method::Multistep,
        order: 1,
    },
    Case {
        name: "DPM-Solver++ multistep-2 (2M)",
        algorithm: Algorithm::DpmSolverPp,
        method: Method::Multistep,
        order: 2,
    },
    Case {
        name: "DPM-Solver++ multistep-3 (3M)",
        algorithm: Algorithm::DpmSolverPp,
        method: Method::Multistep,
        order: 3,
    },
    Case {
        name: "DPM-Solver multistep-3",
        algorithm: Algorithm::DpmSolver,
        method: Method::Multistep,
        order: 3,
    },
    Case {
        name: "DPM-Solver singlestep-2",
        algorithm: Algorithm::DpmSolver,
        method: Method::Singlestep,
        order: 2,
    },
    Case {
        name: "DPM-Solver singlestep-3",
        algorithm: Algorithm::DpmSolver,
        method: Method::Singlestep,
        order: 3,
    },
    Case {
        name: "DPM-Solver++ adaptive-12",
        algorithm: Algorithm::DpmSolverPp,
        method: Method::Adaptive,
        order: 2,
    },
    Case {
        name: "DPM-Solver++ adaptive-23",
        algorithm: Algorithm::DpmSolverPp,
        method: Method::Adaptive,
        order: 3,
    },
];

/// Runs whole solves until at least `min_tells` evaluations; returns ns per evaluation.
fn time_solver(
    schedule: NoiseSchedule<'_, f32>,
    case: &Case,
    n: usize,
    min_tells: usize,
    bufs: &mut Bufs,
) -> f64 {
    let config = Config {
        algorithm: case.algorithm,
        method: case.method,
        order: case.order,
        steps: 240,
        spacing: Spacing::TimeUniform,
        ..Config::default()
    };
    let (x, scratch, out) = (
        &mut bufs.x[..n],
        &mut bufs.scratch[..config.scratch_len(n)],
        &bufs.out[..n],
    );
    let mut tells = 0usize;
    let start = Instant::now();
    while tells < min_tells {
        x.copy_from_slice(&bufs.x0[..n]);
        let mut s = Sampler::new(schedule, config, x, scratch).expect("valid config");
        while s.ask().is_some() {
            s.tell(black_box(out)).expect("finite output");
            tells += 1;
        }
    }
    start.elapsed().as_nanos() as f64 / tells as f64
}

fn time_copy(n: usize, reps: usize, bufs: &mut Bufs) -> f64 {
    let (dst, src) = (&mut bufs.scratch[..n], &bufs.out[..n]);
    let start = Instant::now();
    for _ in 0..reps {
        dst.copy_from_slice(black_box(src));
        black_box(&mut *dst);
    }
    start.elapsed().as_nanos() as f64 / reps as f64
}

struct Bufs {
    x0: Vec<f32>,
    x: Vec<f32>,
    scratch: Vec<f32>,
    out: Vec<f32>,
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let samples = if quick { 3 } else { 21 };
    let mut table = ScheduleTable::<f32, 1000>::new();
    let schedule = table
        .from_betas(&Betas::Linear {
            start: 1e-4,
            end: 0.02,
            n: 1000,
        })
        .unwrap();
    let max = SIZES.iter().map(|s| s.1).max().unwrap();
    // Deterministic pseudo-noise start and a fixed "model output" (no network in this benchmark).
    let x0: Vec<f32> = (0..max)
        .map(|i| ((i * 7919 % 1000) as f32 / 500.0) - 1.0)
        .collect();
    let out: Vec<f32> = x0.iter().map(|v| 0.5 * v).collect();
    let mut bufs = Bufs {
        x0,
        x: vec![0.0; max],
        scratch: vec![0.0; 5 * max],
        out,
    };

    println!(
        "| method | fixed cost (ns per evaluation, 1 element) | {} |",
        SIZES
            .map(|s| format!("{} ns/elem (copy ns/elem, ratio)", s.0))
            .join(" | ")
    );
    println!("|---|---|{}", "---|".repeat(SIZES.len()));
    for case in CASES.iter() {
        // Fixed cost: 1 element.
        let mut fixed: Vec<f64> = (0..samples)
            .map(|_| time_solver(schedule, case, 1, 2000, &mut bufs))
            .collect();
        let mut cells = vec![format!("{:.0}", median(&mut fixed))];
        for &(_, n) in SIZES.iter() {
            let min_tells = (4_000_000 / n).max(240);
            let (mut solver, mut copy) = (Vec::new(), Vec::new());
            for _ in 0..samples {
                // Interleaved, so both see the same machine state.
                solver.push(time_solver(schedule, case, n, min_tells, &mut bufs) / n as f64);
                copy.push(time_copy(n, min_tells, &mut bufs) / n as f64);
            }
            let (s, c) = (median(&mut solver), median(&mut copy));
            cells.push(format!("{s:.3} ({c:.3}, {:.1}x)", s / c));
        }
        println!("| {} | {} |", case.name, cells.join(" | "));
    }
}
