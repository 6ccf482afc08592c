//! Flow sigmas in the DPM-Solver and UniPC schedulers (`use_flow_sigmas`, `flow_shift`,
//! `use_dynamic_shifting` with `mu`, UniPC's `shift_terminal`), computed as diffusers 0.42.1
//! does in `set_timesteps`: numpy float64 expressions, timesteps `astype(int64)` (truncation),
//! the sigmas then stored in float32. The step updates then use `alpha_t = 1 - sigma`,
//! `sigma_t = sigma` (`_sigma_to_alpha_sigma_t` on flow sigmas).

use super::timesteps::{np_linspace, StepTable};
use super::train::TrainSchedule;
use super::{FinalSigmasType, PredictionType};
use crate::error::{Error, Result};
use crate::math::cmath;

/// diffusers' `time_shift_type` of dynamic shifting.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum TimeShiftType {
    /// `"exponential"`: `e^mu / (e^mu + 1/t - 1)`.
    #[default]
    Exponential,
    /// `"linear"`: `mu / (mu + 1/t - 1)`.
    Linear,
}

/// The flow-matching options of `DPMSolverMultistepScheduler`, `DPMSolverSinglestepScheduler`
/// and `UniPCMultistepScheduler` (defaults: diffusers', all off), and `set_timesteps`' `mu`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FlowOptions {
    /// `use_flow_sigmas`: the sigmas of flow matching (`alpha = 1 - sigma`), shifted.
    pub use_flow_sigmas: bool,
    /// `flow_shift` (default 1.0): the static shift `s u / (1 + (s - 1) u)`.
    pub flow_shift: f64,
    /// `use_dynamic_shifting` (default false): the shift from `mu` (UniPC requires `mu`; the
    /// DPM-Solver schedulers use `flow_shift = e^mu` when `mu` is given).
    pub use_dynamic_shifting: bool,
    /// `time_shift_type` (default exponential; the DPM-Solver schedulers accept `mu` only with
    /// exponential, as diffusers asserts).
    pub time_shift_type: TimeShiftType,
    /// UniPC's `shift_terminal` (default `None`): stretch the sigmas to end at this value.
    pub shift_terminal: Option<f64>,
    /// `set_timesteps(mu=...)`: not a config key, the resolution-dependent shift exponent a
    /// pipeline computes (`None`: not passed).
    pub mu: Option<f64>,
}

impl Default for FlowOptions {
    fn default() -> Self {
        FlowOptions {
            use_flow_sigmas: false,
            flow_shift: 1.0,
            use_dynamic_shifting: false,
            time_shift_type: TimeShiftType::Exponential,
            shift_terminal: None,
            mu: None,
        }
    }
}

impl FlowOptions {
    /// The checks diffusers makes (and the ones that keep the sigmas finite): `mu` only with
    /// dynamic shifting, `flow_prediction` only on the data prediction.
    pub(crate) fn validate(
        &self,
        unipc: bool,
        predicts_data: bool,
        pred: PredictionType,
    ) -> Result<()> {
        if pred == PredictionType::FlowPrediction && !predicts_data {
            return Err(Error::InvalidConfig(
                "prediction_type flow_prediction needs the data prediction (dpmsolver++ / \
                 sde-dpmsolver++, UniPC predict_x0), as in diffusers",
            ));
        }
        if !(self.flow_shift.is_finite() && self.flow_shift > 0.0) {
            return Err(Error::InvalidConfig(
                "flow_shift must be positive and finite",
            ));
        }
        if let Some(mu) = self.mu {
            if !mu.is_finite() {
                return Err(Error::InvalidConfig("mu must be finite"));
            }
            let exponential = self.time_shift_type == TimeShiftType::Exponential;
            if !unipc && (!self.use_dynamic_shifting || !exponential) {
                return Err(Error::InvalidConfig(
                    "mu needs use_dynamic_shifting with time_shift_type exponential",
                ));
            }
        }
        if unipc {
            if self.use_dynamic_shifting && self.use_flow_sigmas && self.mu.is_none() {
                return Err(Error::InvalidConfig(
                    "use_dynamic_shifting needs mu (set_timesteps' argument)",
                ));
            }
            if self.shift_terminal.is_some() && !self.use_flow_sigmas {
                return Err(Error::InvalidConfig(
                    "shift_terminal is only supported with use_flow_sigmas",
                ));
            }
            if let Some(st) = self.shift_terminal {
                if !(st.is_finite() && st < 1.0) {
                    return Err(Error::InvalidConfig(
                        "shift_terminal must be finite and below 1",
                    ));
                }
            }
        }
        Ok(())
    }
}

/// `shift * s / (1 + (shift - 1) * s)` in numpy's float64 order.
fn static_shift(shift: f64, s: f64) -> f64 {
    shift * s / (1.0 + (shift - 1.0) * s)
}

/// `time_shift(mu, 1.0, t)` of diffusers (float64).
pub(crate) fn time_shift(kind: TimeShiftType, mu: f64, t: f64) -> f64 {
    match kind {
        TimeShiftType::Exponential => {
            let e = cmath::exp(mu);
            e / (e + (1.0 / t - 1.0))
        }
        TimeShiftType::Linear => mu / (mu + (1.0 / t - 1.0)),
    }
}

/// `stretch_shift_to_terminal`: `1 - (1 - t) / ((1 - t_last) / (1 - terminal))`.
pub(crate) fn stretch(t: f64, t_last: f64, terminal: f64) -> f64 {
    let scale = (1.0 - t_last) / (1.0 - terminal);
    1.0 - (1.0 - t) / scale
}

/// Checks and stores one flow step (`sigma` float64 before the float32 cast).
fn push<const M: usize>(table: &mut StepTable<M>, sigma: f64, n_train: usize) -> Result<()> {
    if !(sigma.is_finite() && (0.0..=1.0).contains(&sigma)) {
        return Err(Error::InvalidConfig(
            "the flow sigmas left [0, 1] (check flow_shift, mu and shift_terminal)",
        ));
    }
    let t = sigma * n_train as f64;
    table.push_step(sigma as f32, t as i64, (t as i64) as f32)
}

/// The DPM-Solver schedulers' flow sigmas: `1 - linspace(1, 1/N, n + 1)` shifted by
/// `flow_shift` (`e^mu` when `mu` is given), flipped, the last (zero) dropped; final sigma
/// from `final_sigmas_type` on the training schedule, as diffusers does.
pub(crate) fn dpm_flow_sigmas<const M: usize>(
    table: &mut StepTable<M>,
    opts: &FlowOptions,
    n: usize,
    train: &TrainSchedule<'_>,
    final_type: FinalSigmasType,
) -> Result<()> {
    if n > M {
        return Err(Error::InvalidConfig(
            "more inference steps than the MAX_STEPS capacity",
        ));
    }
    let nt = train.len();
    let shift = match opts.mu {
        Some(mu) => cmath::exp(mu),
        None => opts.flow_shift,
    };
    table.clear();
    table.set_flow(true);
    for i in 0..n {
        let alpha = np_linspace(1.0, 1.0 / nt as f64, n + 1, n - i);
        push(table, static_shift(shift, 1.0 - alpha), nt)?;
    }
    table.set_last(StepTable::<M>::final_sigma(train, final_type));
    Ok(())
}

/// UniPC's flow sigmas: `linspace(1, 1/N, n + 1)[:-1]`, time-shifted (`mu`) or shifted by
/// `flow_shift`, optionally stretched to `shift_terminal`, the first moved to `1 - 1e-6` when
/// within `1e-6` of 1 (diffusers' guard against `log(alpha = 0)`); the final sigma is the last
/// one (`sigma_min`) or 0.
pub(crate) fn unipc_flow_sigmas<const M: usize>(
    table: &mut StepTable<M>,
    opts: &FlowOptions,
    n: usize,
    n_train: usize,
    final_type: FinalSigmasType,
) -> Result<()> {
    if n > M {
        return Err(Error::InvalidConfig(
            "more inference steps than the MAX_STEPS capacity",
        ));
    }
    let base = |i: usize| np_linspace(1.0, 1.0 / n_train as f64, n + 1, i);
    let shifted = |i: usize| match (opts.use_dynamic_shifting, opts.mu) {
        (true, Some(mu)) => time_shift(opts.time_shift_type, mu, base(i)),
        _ => static_shift(opts.flow_shift, base(i)),
    };
    let terminal = opts.shift_terminal.filter(|&t| t != 0.0);
    let last_shifted = shifted(n - 1);
    let sigma = |i: usize| match terminal {
        Some(term) => stretch(shifted(i), last_shifted, term),
        None => shifted(i),
    };
    table.clear();
    table.set_flow(true);
    let mut last = 0.0;
    for i in 0..n {
        let mut s = sigma(i);
        if i == 0 && cmath::fabs(s - 1.0) < 1e-6 {
            s -= 1e-6;
        }
        push(table, s, n_train)?;
        last = s;
    }
    table.set_last(match final_type {
        FinalSigmasType::SigmaMin => last as f32,
        FinalSigmasType::Zero => 0.0,
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::super::{ConfigValue as V, KeyUse, Scheduler, SchedulerClass, SchedulerConfig};
    use crate::diffusers::FlowMatchEulerDiscreteScheduler;
    use std::vec;

    fn config(class: &str, keys: &[(&str, V<'static, 'static>)]) -> SchedulerConfig<'static> {
        let mut c = SchedulerConfig::new(SchedulerClass::from_name(class).unwrap());
        for (k, v) in keys {
            assert_eq!(c.set(k, *v), Ok(KeyUse::Applied), "{k}");
        }
        c
    }

    /// The velocity of data that is all 0.2: `v = (x - 0.2) / sigma`.
    fn run(cfg: &SchedulerConfig<'static>, steps: usize) -> crate::Result<vec::Vec<f64>> {
        let mut x = vec![0.9f64, -1.1, 0.3, 1.7];
        let mut table = vec![0.0f32; 1000];
        let mut scratch = vec![0.0; cfg.scratch_len(4)];
        let mut s = Scheduler::<f64, 64>::new(cfg, steps, &mut table, &mut x, &mut scratch)?;
        let mut out = [0.0; 4];
        while let Some(r) = s.ask() {
            let sigma = s.sigma_at(r.step_index) as f64;
            for (o, v) in out.iter_mut().zip(r.x) {
                *o = (v - 0.2) / sigma;
            }
            s.tell(&out)?;
        }
        Ok(x)
    }

    #[test]
    fn flow_keys_apply_and_finite_limits_hold() {
        // diffusers' UniPC bh1 ends in NaN on final_sigmas_type zero (B(h) = -inf times 0);
        // the finite limit is the last data prediction.
        let c = config(
            "UniPCMultistepScheduler",
            &[
                ("use_flow_sigmas", V::Bool(true)),
                ("flow_shift", V::Number(3.0)),
                ("prediction_type", V::Str("flow_prediction")),
                ("solver_type", V::Str("bh1")),
                ("solver_order", V::Number(3.0)),
            ],
        );
        assert!(c.is_flow());
        for x in run(&c, 6).unwrap() {
            assert!((x - 0.2).abs() < 1e-9, "{x}");
        }
        // flow_prediction needs the data prediction; mu needs dynamic shifting (DPM).
        let mut d = config(
            "DPMSolverMultistepScheduler",
            &[
                ("use_flow_sigmas", V::Bool(true)),
                ("prediction_type", V::Str("flow_prediction")),
            ],
        );
        d.set_mu(Some(0.5));
        assert!(run(&d, 5).is_err());
        d.set("use_dynamic_shifting", V::Bool(true)).unwrap();
        assert!(run(&d, 5).is_ok());
        d.set("algorithm_type", V::Str("dpmsolver")).unwrap();
        d.set("final_sigmas_type", V::Str("sigma_min")).unwrap();
        assert!(run(&d, 5).is_err());
        // FlowMatchEuler: dynamic shifting without mu is refused, beta sigmas too.
        let mut f = config(
            "FlowMatchEulerDiscreteScheduler",
            &[("use_dynamic_shifting", V::Bool(true))],
        );
        assert!(run(&f, 4).is_err());
        f.set_mu(Some(0.8));
        assert!(run(&f, 4).is_ok());
        assert!(f.set("use_beta_sigmas", V::Bool(true)).is_err());
        assert_eq!(f.set("beta_start", V::Number(0.1)), Ok(KeyUse::Ignored));
    }

    #[test]
    fn flow_match_euler_enum_matches_direct_and_its_timesteps_are_floats() {
        let c = config(
            "FlowMatchEulerDiscreteScheduler",
            &[
                ("shift", V::Number(3.0)),
                ("shift_terminal", V::Number(0.02)),
            ],
        );
        let x_enum = run(&c, 9).unwrap();
        let SchedulerConfig::FlowMatchEulerDiscrete(fc) = c else {
            unreachable!()
        };
        let mut x = vec![0.9f64, -1.1, 0.3, 1.7];
        let mut s = FlowMatchEulerDiscreteScheduler::<f64, 64>::new(&fc, 9, &mut x).unwrap();
        assert_eq!(s.times()[0], 1000.0);
        assert!(s.times()[1].fract() != 0.0);
        assert_eq!(s.sigmas_with_final().last(), Some(0.0));
        assert!((s.sigma_at(8) - 0.02).abs() < 1e-7);
        let mut out = [0.0; 4];
        while let Some(r) = s.ask() {
            let sigma = s.sigma_at(r.step_index) as f64;
            for (o, v) in out.iter_mut().zip(r.x) {
                *o = (v - 0.2) / sigma;
            }
            s.tell(&out).unwrap();
        }
        assert_eq!(&x[..], &x_enum[..]);
        // Euler is exact for this straight path: x_0 = 0.2.
        for v in x {
            assert!((v - 0.2).abs() < 1e-6, "{v}");
        }
    }
}
