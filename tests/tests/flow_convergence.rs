//! Order of convergence of the DPM-Solver(++) family on flow matching, against an exact
//! oracle and an independent high-accuracy ODE solution, in `f64`.
//!
//! The model is exact: a Gaussian mixture under the linear path `x_t = (1 - t) x_0 + t eps`
//! has the closed-form velocity `v = E[eps - x_0 | x_t]` ([`flow_output`]). The reference
//! solution integrates `dx/dt = v(x, t)` from `t_start` to `t_end` with classical RK4 in `t`
//! (`2^15` and `2^16` steps; their difference, printed, bounds its error far below the
//! solvers'). Per case the order is the mean of `log2(err(N) / err(2N))` for
//! N = 24, 48, 96 (to 192 NFE); the table reports the mean over the cases.
//!
//! Two starts: from `t = 1` (pure noise, `alpha = 0`: `lambda = -inf`, the first step is
//! first order by necessity, so no method can exceed global order 2 there) on the
//! time-uniform and flow-shifted (shift 3) grids, and from `t = 1 - 1e-3` on a logSNR grid,
//! where the higher orders show.

// `!(x >= min)` on purpose: a NaN order must fail.
#![allow(clippy::neg_cmp_op_on_partial_ord)]

use dpm_solver::{
    Algorithm, Config, Method, MultistepVariant, NoiseSchedule, Prediction, Sampler, Spacing,
};
use dpm_solver_tests::flow::flow_output;
use dpm_solver_tests::{max_abs_diff, Gmm};

const NFES: [usize; 4] = [24, 48, 96, 192];
const T_END: f64 = 1e-3;

/// A small deterministic generator (the cases must not depend on a crate's RNG).
struct Lcg(u64);
impl Lcg {
    fn uniform(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
    fn normal(&mut self) -> f64 {
        let (u, v) = (self.uniform().max(1e-300), self.uniform());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
}

/// Mixture `k` of the test set and its start (2 rows): 1 to 3 components in 4 or 6 dims,
/// variances 0.005 to 0.05 (image-like: sharp data, smooth noise end).
fn case(k: u64) -> (Gmm, Vec<Vec<f64>>) {
    let mut r = Lcg(0x9E37_79B9 + 17 * k);
    let comps = 1 + (k % 3) as usize;
    let d = if k.is_multiple_of(2) { 4 } else { 6 };
    let gmm = Gmm {
        prediction: "flow".into(),
        weights: vec![1.0 / comps as f64; comps],
        means: (0..comps)
            .map(|_| (0..d).map(|_| 1.4 * r.uniform() - 0.7).collect())
            .collect(),
        variances: (0..comps)
            .map(|_| (0..d).map(|_| 0.005 + 0.045 * r.uniform()).collect())
            .collect(),
    };
    let x = (0..2)
        .map(|_| (0..d).map(|_| r.normal()).collect())
        .collect();
    (gmm, x)
}

fn velocity(g: &Gmm, x: &[f64], t: f64) -> Vec<f64> {
    flow_output(g, "flow", x, t).expect("flow oracle")
}

/// RK4 in `t` with `n` steps from `t0` to `t1`.
fn rk4(g: &Gmm, x: &[f64], t0: f64, t1: f64, n: usize) -> Vec<f64> {
    let h = (t1 - t0) / n as f64;
    let mut x = x.to_vec();
    let axpy = |x: &[f64], a: f64, k: &[f64]| -> Vec<f64> {
        x.iter().zip(k).map(|(x, k)| x + a * k).collect()
    };
    for i in 0..n {
        let t = t0 + i as f64 * h;
        let k1 = velocity(g, &x, t);
        let k2 = velocity(g, &axpy(&x, 0.5 * h, &k1), t + 0.5 * h);
        let k3 = velocity(g, &axpy(&x, 0.5 * h, &k2), t + 0.5 * h);
        let k4 = velocity(g, &axpy(&x, h, &k3), t + h);
        for j in 0..x.len() {
            x[j] += h / 6.0 * (k1[j] + 2.0 * k2[j] + 2.0 * k3[j] + k4[j]);
        }
    }
    x
}

/// The exact solution (RK4 with 2^16 steps) and its estimated error (vs 2^15 steps).
fn exact(g: &Gmm, xs: &[Vec<f64>], t0: f64) -> (Vec<Vec<f64>>, f64) {
    let fine: Vec<Vec<f64>> = xs.iter().map(|x| rk4(g, x, t0, T_END, 1 << 16)).collect();
    let coarse: Vec<Vec<f64>> = xs.iter().map(|x| rk4(g, x, t0, T_END, 1 << 15)).collect();
    let err = max_abs_diff(&fine, &coarse);
    (fine, err)
}

fn solve(g: &Gmm, xs: &[Vec<f64>], cfg: Config<'_, f64>) -> Vec<Vec<f64>> {
    let d = xs[0].len();
    let mut x: Vec<f64> = xs.iter().flatten().copied().collect();
    let mut scratch = vec![0.0; cfg.scratch_len(x.len())];
    let cfg = Config {
        batch: xs.len(),
        ..cfg
    };
    let sched = NoiseSchedule::flow(1000).unwrap();
    let mut s = Sampler::new(sched, cfg, &mut x, &mut scratch).unwrap();
    let mut out = vec![0.0; xs.len() * d];
    while let Some(req) = s.ask() {
        for (row, o) in req.x.chunks(d).zip(out.chunks_mut(d)) {
            o.copy_from_slice(&velocity(g, row, req.t));
        }
        s.tell(&out).unwrap();
    }
    x.chunks(d).map(|c| c.to_vec()).collect()
}

struct Measured {
    order: f64,
    errors: Vec<f64>,
}

/// A mixture, its start rows and the exact solution from them.
type Case = (Gmm, Vec<Vec<f64>>, Vec<Vec<f64>>);

fn measure(cases: &[Case], base: Config<'static, f64>) -> Measured {
    let mut slopes = Vec::new();
    let mut errors = vec![0.0; NFES.len()];
    for (g, xs, exact) in cases {
        let errs: Vec<f64> = NFES
            .iter()
            .map(|&steps| max_abs_diff(&solve(g, xs, Config { steps, ..base }), exact))
            .collect();
        for (m, e) in errors.iter_mut().zip(&errs) {
            *m += e / cases.len() as f64;
        }
        slopes.push(
            errs.windows(2).map(|w| (w[0] / w[1]).log2()).sum::<f64>() / (errs.len() - 1) as f64,
        );
    }
    Measured {
        order: slopes.iter().sum::<f64>() / slopes.len() as f64,
        errors,
    }
}

#[test]
fn flow_convergence_orders() {
    // name, method, order, variant, minimum measured order on the three grids below
    // (the shifted grid's last steps are long in lambda: its estimates are pre-asymptotic).
    type Row = (&'static str, Method, usize, MultistepVariant, [f64; 3]);
    let methods: [Row; 6] = [
        (
            "multistep-1",
            Method::Multistep,
            1,
            MultistepVariant::Reference,
            [0.9, 0.9, 0.9],
        ),
        (
            "multistep-2",
            Method::Multistep,
            2,
            MultistepVariant::Reference,
            [1.6, 1.0, 1.8],
        ),
        (
            "multistep-3",
            Method::Multistep,
            3,
            MultistepVariant::Reference,
            [1.8, 1.4, 2.2],
        ),
        (
            "multistep-3 FullOrder",
            Method::Multistep,
            3,
            MultistepVariant::FullOrder,
            [1.8, 1.3, 3.2],
        ),
        (
            "singlestep_fixed-2",
            Method::SinglestepFixed,
            2,
            MultistepVariant::Reference,
            [1.8, 1.8, 1.7],
        ),
        (
            "singlestep_fixed-3",
            Method::SinglestepFixed,
            3,
            MultistepVariant::Reference,
            [1.8, 1.2, 2.6],
        ),
    ];
    let starts: [(&str, f64, Spacing<'static, f64>); 3] = [
        ("t=1, time-uniform", 1.0, Spacing::TimeUniform),
        ("t=1, flow shift 3", 1.0, Spacing::FlowShift { shift: 3.0 }),
        ("t=0.999, logSNR", 1.0 - 1e-3, Spacing::LogSnr),
    ];
    let mut failures = Vec::new();
    println!("| start, grid | method | order | mean max-error at NFE {NFES:?} |");
    println!("|---|---|---|---|");
    for (g_i, (label, t0, spacing)) in starts.into_iter().enumerate() {
        let mut worst_ref = 0.0f64;
        let cases: Vec<_> = (0..4)
            .map(|k| {
                let (g, xs) = case(k);
                let (ex, err) = exact(&g, &xs, t0);
                worst_ref = worst_ref.max(err);
                (g, xs, ex)
            })
            .collect();
        for &(name, method, order, variant, mins) in &methods {
            let base = Config {
                algorithm: Algorithm::DpmSolverPp,
                method,
                order,
                spacing,
                t_start: Some(t0),
                t_end: Some(T_END),
                prediction: Prediction::Flow,
                multistep_variant: variant,
                ..Config::default()
            };
            let m = measure(&cases, base);
            let errs: Vec<String> = m.errors.iter().map(|e| format!("{e:.2e}")).collect();
            println!(
                "| {label} | {name} | {:.2} | {} |",
                m.order,
                errs.join(", ")
            );
            let min = mins[g_i];
            if !(m.order >= min) {
                failures.push(format!("{label} {name}: order {:.2} < {min}", m.order));
            }
            // The reference solution must be far more accurate than the best solver.
            let best = m.errors.iter().cloned().fold(f64::INFINITY, f64::min);
            if !(worst_ref < 0.01 * best) {
                failures.push(format!(
                    "{label}: RK4 error {worst_ref:.1e} vs solver {best:.1e}"
                ));
            }
        }
        println!("| {label} | (RK4 reference, 2^16 vs 2^15 steps) | | {worst_ref:.1e} |");
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
