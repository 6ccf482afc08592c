//! Conformance cases of `tests/fixtures/reference_public.json`, compiled in by `build.rs`,
//! run through the core in `f32` with the `f32` Gaussian-mixture oracle.
//!
//! Output, one line per case (parsed by `tests/tests/embedded_qemu.rs`):
//! `case <name> nfe <nfe> x <8-hex-digit f32 bits> ...` (all of `x`, row-major `[batch][d]`),
//! or `case <name> error <message>`.

// The generated literals are the fixture's f64 values, rounded to f32 on purpose.
#![allow(clippy::excessive_precision)]

#[allow(unused_imports)]
use dpm_solver::{
    AdaptiveOptions, Algorithm, Betas, Config, Guidance, Method, NoiseSchedule, Prediction,
    Sampler, ScheduleTable, SolverType, Spacing, Thresholding,
};

use crate::gmm::{Gmm, MAX_D};

/// The schedule of a case.
pub enum Sched {
    Betas(Betas<f32>),
    LinearVp(f32, f32),
}

/// How the oracle's outputs are handed to the sampler.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum GuideMode {
    None,
    Cfg,
    Classifier,
}

/// One compiled-in case.
pub struct Case {
    pub name: &'static str,
    pub schedule: Sched,
    pub gmm: Gmm,
    pub guide: GuideMode,
    pub class: usize,
    pub batch: usize,
    pub x_t: &'static [f32],
    pub config: Config<'static, f32>,
}

include!(concat!(env!("OUT_DIR"), "/cases.rs"));

/// Largest `x` (batch times dimension) of the compiled cases.
pub const MAX_N: usize = 3 * MAX_D;

/// The caller-owned buffers of a run (statics: no heap, not on the stack).
pub struct Buffers {
    pub table: ScheduleTable<f32, 1000>,
    pub x: [f32; MAX_N],
    pub scratch: [f32; 5 * MAX_N],
    pub out: [f32; MAX_N],
    pub second: [f32; MAX_N],
}

impl Buffers {
    pub const fn new() -> Self {
        Buffers {
            // ScheduleTable::new() is not const; a zeroed table is what it builds.
            table: unsafe { core::mem::zeroed() },
            x: [0.0; MAX_N],
            scratch: [0.0; 5 * MAX_N],
            out: [0.0; MAX_N],
            second: [0.0; MAX_N],
        }
    }
}

/// The oracle at `(alpha, sigma)` for every row of `x`, as the case's guidance needs it.
fn evaluate(case: &Case, x: &[f32], alpha: f32, sigma: f32, out: &mut [f32], second: &mut [f32]) {
    let d = case.gmm.d;
    for b in 0..case.batch {
        let r = b * d..(b + 1) * d;
        let row = &x[r.clone()];
        match case.guide {
            GuideMode::None => case.gmm.output(row, alpha, sigma, None, &mut out[r]),
            GuideMode::Cfg => {
                case.gmm
                    .output(row, alpha, sigma, Some(case.class), &mut out[r.clone()]);
                case.gmm.output(row, alpha, sigma, None, &mut second[r]);
            }
            GuideMode::Classifier => {
                case.gmm
                    .output(row, alpha, sigma, None, &mut out[r.clone()]);
                case.gmm
                    .class_grad(row, alpha, sigma, case.class, &mut second[r]);
            }
        }
    }
}

/// Runs a case; the result is in `bufs.x[..n]`. Returns the NFE.
#[cfg(not(feature = "no-solver"))]
pub fn run(case: &Case, bufs: &mut Buffers) -> Result<usize, dpm_solver::Error> {
    let n = case.x_t.len();
    let schedule = match case.schedule {
        Sched::Betas(b) => bufs.table.from_betas(&b)?,
        Sched::LinearVp(b0, b1) => NoiseSchedule::linear_vp(b0, b1)?,
    };
    bufs.x[..n].copy_from_slice(case.x_t);
    let need = case.config.scratch_len(n);
    let (out, second) = (&mut bufs.out[..n], &mut bufs.second[..n]);
    let mut sampler = Sampler::new(
        schedule,
        case.config,
        &mut bufs.x[..n],
        &mut bufs.scratch[..need],
    )?;
    while let Some(req) = sampler.ask() {
        evaluate(case, req.x, req.alpha, req.sigma, out, second);
        match case.guide {
            GuideMode::None => sampler.tell(out)?,
            GuideMode::Cfg => sampler.tell_cfg(out, second)?,
            GuideMode::Classifier => sampler.tell_classifier(out, second)?,
        };
    }
    Ok(sampler.nfe())
}

/// Without the solver: the oracle evaluated `steps` times on the same buffers, its output fed
/// back, so that everything but the sampler stays in the image (flash measurement only).
#[cfg(feature = "no-solver")]
pub fn run(case: &Case, bufs: &mut Buffers) -> Result<usize, dpm_solver::Error> {
    let n = case.x_t.len();
    bufs.x[..n].copy_from_slice(case.x_t);
    let steps = case.config.steps;
    for i in 0..steps {
        let a = core::hint::black_box(1.0 - i as f32 / (steps as f32 + 1.0));
        let s = libm::sqrtf(1.0 - a * a);
        evaluate(
            case,
            &bufs.x[..n],
            a,
            s,
            &mut bufs.out[..n],
            &mut bufs.second[..n],
        );
        for j in 0..n {
            bufs.x[j] = bufs.out[j] + bufs.second[j];
        }
    }
    Ok(steps)
}
