//! The core's `Config` / `Sampler::new` / ask / tell loop over every method, schedule, spacing
//! and option, with moderate model outputs (or, when the input says so, a non-finite one).

use arbitrary::{Result, Unstructured};
use dpm_solver::*;

use crate::{any_f32, finite, moderate};

pub fn run(data: &[u8]) {
    let _ = go(&mut Unstructured::new(data));
}

fn go(u: &mut Unstructured<'_>) -> Result<()> {
    let mut storage = vec![0.0f32; 1200];
    let n_train = u.int_in_range(0..=1200usize)?;
    let schedule = match u.int_in_range(0..=3u8)? {
        0 => NoiseSchedule::linear_vp(any_f32(u)?, any_f32(u)?),
        1 => DiscreteVp::from_betas(
            &Betas::Linear {
                start: any_f32(u)?,
                end: any_f32(u)?,
                n: n_train,
            },
            &mut storage[..n_train],
        )
        .map(NoiseSchedule::Discrete),
        2 => DiscreteVp::from_betas(
            &Betas::ScaledLinear {
                start: any_f32(u)?,
                end: any_f32(u)?,
                n: n_train,
            },
            &mut storage[..n_train],
        )
        .map(NoiseSchedule::Discrete),
        _ => DiscreteVp::from_betas(&Betas::Cosine { n: n_train }, &mut storage[..n_train])
            .map(NoiseSchedule::Discrete),
    };
    let Ok(schedule) = schedule else {
        return Ok(());
    };
    let steps = u.int_in_range(0..=40usize)?;
    let times: Vec<f32> = (0..u.int_in_range(0..=42usize)?)
        .map(|_| any_f32(u))
        .collect::<Result<_>>()?;
    let spacing = match u.int_in_range(0..=5u8)? {
        0 => Spacing::LogSnr,
        1 => Spacing::TimeUniform,
        2 => Spacing::TimeQuadratic,
        3 => Spacing::Karras { rho: any_f32(u)? },
        4 => Spacing::Custom(&times),
        _ => Spacing::LogSnr,
    };
    let opt = |u: &mut Unstructured<'_>| -> Result<Option<f32>> {
        Ok(if u.arbitrary()? {
            Some(any_f32(u)?)
        } else {
            None
        })
    };
    let guidance = match u.int_in_range(0..=2u8)? {
        0 => Guidance::None,
        1 => Guidance::ClassifierFree { scale: any_f32(u)? },
        _ => Guidance::Classifier { scale: any_f32(u)? },
    };
    let batch = u.int_in_range(0..=4usize)?;
    let cfg = Config {
        algorithm: if u.arbitrary()? {
            Algorithm::DpmSolver
        } else {
            Algorithm::DpmSolverPp
        },
        method: [
            Method::Multistep,
            Method::Singlestep,
            Method::SinglestepFixed,
            Method::Adaptive,
        ][u.int_in_range(0..=3usize)?],
        order: u.int_in_range(0..=4usize)?,
        steps,
        spacing,
        t_start: opt(u)?,
        t_end: opt(u)?,
        lower_order_final: u.arbitrary()?,
        denoise_to_zero: u.arbitrary()?,
        solver_type: if u.arbitrary()? {
            SolverType::DpmSolver
        } else {
            SolverType::Taylor
        },
        prediction: [
            Prediction::Noise,
            Prediction::Data,
            Prediction::V,
            Prediction::Score,
        ][u.int_in_range(0..=3usize)?],
        guidance,
        thresholding: if u.arbitrary()? {
            Some(Thresholding {
                ratio: any_f32(u)?,
                max_val: any_f32(u)?,
            })
        } else {
            None
        },
        adaptive: AdaptiveOptions {
            atol: any_f32(u)?,
            rtol: any_f32(u)?,
            theta: any_f32(u)?,
            t_err: any_f32(u)?,
            h_init: any_f32(u)?,
            max_nfe: u.int_in_range(0..=200usize)?,
            reuse_rejected_eval: u.arbitrary()?,
        },
        multistep_variant: if u.arbitrary()? {
            MultistepVariant::Reference
        } else {
            MultistepVariant::FullOrder
        },
        batch,
        direction: if u.int_in_range(0..=3u8)? == 0 {
            Direction::Invert
        } else {
            Direction::Sample
        },
    };
    let n = batch.max(1) * u.int_in_range(1..=4usize)?;
    let mut x: Vec<f32> = (0..n).map(|_| moderate(u)).collect::<Result<_>>()?;
    // Neither sizing helper may panic, whatever the configuration.
    let _ = cfg.scratch_len(usize::MAX);
    let need = match cfg.checked_scratch_len(n) {
        Ok(k) => k,
        Err(_) => {
            let mut scratch = vec![0.0f32; 64];
            assert!(Sampler::new(schedule, cfg, &mut x, &mut scratch).is_err());
            return Ok(());
        }
    };
    let mut scratch = vec![0.0f32; need + u.int_in_range(0..=2usize)?];
    let Ok(mut s) = Sampler::new(schedule, cfg, &mut x, &mut scratch) else {
        return Ok(());
    };
    // The model: out = a x + b (a moderate linear model), NaN at one evaluation if asked.
    let (a, b) = (moderate(u)? / 4.0, moderate(u)? / 4.0);
    let poison_at = if u.int_in_range(0..=7u8)? == 0 {
        Some(u.int_in_range(0..=50usize)?)
    } else {
        None
    };
    let mut out = vec![0.0f32; n];
    let mut grad = vec![0.0f32; n];
    for _ in 0..5000 {
        let Some(req) = s.ask() else { break };
        assert!(finite(req.x), "a request with a non-finite x");
        assert!(
            req.t.is_finite()
                && req.t_model.is_finite()
                && req.alpha.is_finite()
                && req.sigma.is_finite(),
            "a request at a non-finite time: t {} t_model {} alpha {} sigma {} (index {}) {:?}",
            req.t,
            req.t_model,
            req.alpha,
            req.sigma,
            req.index,
            cfg
        );
        let idx = req.index;
        for (o, &xv) in out.iter_mut().zip(req.x) {
            *o = a * xv + b;
        }
        for g in grad.iter_mut() {
            *g = b;
        }
        let poisoned = poison_at == Some(idx);
        if poisoned {
            out[0] = f32::NAN;
        }
        let r = match cfg.guidance {
            Guidance::None => s.tell(&out),
            Guidance::ClassifierFree { .. } => s.tell_cfg(&out, &grad),
            Guidance::Classifier { .. } => s.tell_classifier(&out, &grad),
        };
        if let Err(e) = r {
            if !poisoned {
                assert!(
                    !matches!(e, Error::NonFinite { .. }),
                    "finite outputs blamed: {e}"
                );
            }
            // Still usable: no panic, and sampling does not silently continue.
            let _ = s.ask();
            let _ = s.tell(&out);
            return Ok(());
        }
    }
    if s.ask().is_none() {
        assert!(finite(s.x()), "Ok with a non-finite sample");
    }
    Ok(())
}
