//! A config value read as what its key takes: a number, an integer, a count, a boolean, a
//! list, or one of diffusers' names for a choice (each error names what was expected).

use super::ConfigValue;
use crate::diffusers::{
    AlgorithmType, BetaSchedule, FinalSigmasType, PredictionType, SolverType, TimestepSpacing,
    UniPCSolverType,
};
use crate::error::{Error, Result};

pub(super) fn number(v: ConfigValue<'_, '_>) -> Result<f64> {
    match v {
        ConfigValue::Number(x) if !x.is_nan() => Ok(x),
        _ => Err(Error::InvalidConfig("expected a number")),
    }
}

pub(super) fn integer(v: ConfigValue<'_, '_>) -> Result<i64> {
    match v {
        ConfigValue::Number(x) if x.abs() <= 9.007_199_254_740_991e15 && x as i64 as f64 == x => {
            Ok(x as i64)
        }
        _ => Err(Error::InvalidConfig("expected an integer")),
    }
}

pub(super) fn count(v: ConfigValue<'_, '_>) -> Result<usize> {
    match integer(v) {
        // `try_from`: never truncated where `usize` is 32 bits (wasm32).
        Ok(i) if i >= 0 => usize::try_from(i)
            .map_err(|_| Error::InvalidConfig("integer too large for this platform")),
        _ => Err(Error::InvalidConfig("expected a non-negative integer")),
    }
}

pub(super) fn boolean(v: ConfigValue<'_, '_>) -> Result<bool> {
    match v {
        ConfigValue::Bool(b) => Ok(b),
        _ => Err(Error::InvalidConfig("expected true or false")),
    }
}

pub(super) fn indices<'b>(v: ConfigValue<'_, 'b>) -> Result<&'b [usize]> {
    match v {
        ConfigValue::Indices(i) => Ok(i),
        _ => Err(Error::InvalidConfig("expected a list of step indices")),
    }
}

/// Maps a string option through `(name, value)` pairs.
pub(super) fn pick<V: Copy>(
    v: ConfigValue<'_, '_>,
    table: &[(&str, V)],
    expected: &'static str,
) -> Result<V> {
    if let ConfigValue::Str(s) = v {
        if let Some((_, r)) = table.iter().find(|(n, _)| *n == s) {
            return Ok(*r);
        }
    }
    Err(Error::InvalidConfig(expected))
}

pub(super) fn beta_schedule(v: ConfigValue<'_, '_>) -> Result<BetaSchedule<'static>> {
    pick(
        v,
        &[
            ("linear", BetaSchedule::Linear),
            ("scaled_linear", BetaSchedule::ScaledLinear),
            ("squaredcos_cap_v2", BetaSchedule::SquaredcosCapV2),
        ],
        "expected \"linear\", \"scaled_linear\" or \"squaredcos_cap_v2\"",
    )
}

pub(super) fn prediction_type(v: ConfigValue<'_, '_>) -> Result<PredictionType> {
    pick(
        v,
        &[
            ("epsilon", PredictionType::Epsilon),
            ("sample", PredictionType::Sample),
            ("v_prediction", PredictionType::VPrediction),
            ("flow_prediction", PredictionType::FlowPrediction),
        ],
        "expected \"epsilon\", \"sample\", \"v_prediction\" or \"flow_prediction\"",
    )
}

pub(super) fn algorithm_type(v: ConfigValue<'_, '_>) -> Result<AlgorithmType> {
    pick(
        v,
        &[
            ("dpmsolver", AlgorithmType::DpmSolver),
            ("dpmsolver++", AlgorithmType::DpmSolverPlusPlus),
            ("sde-dpmsolver", AlgorithmType::SdeDpmSolver),
            ("sde-dpmsolver++", AlgorithmType::SdeDpmSolverPlusPlus),
            // diffusers maps the unimplemented "deis" to dpmsolver++.
            ("deis", AlgorithmType::DpmSolverPlusPlus),
        ],
        "expected \"dpmsolver\", \"dpmsolver++\", \"sde-dpmsolver\" or \"sde-dpmsolver++\"",
    )
}

/// diffusers maps UniPC's and DEIS's names onto the DPM-Solver forms (midpoint).
pub(super) fn dpm_solver_type(v: ConfigValue<'_, '_>) -> Result<SolverType> {
    pick(
        v,
        &[
            ("midpoint", SolverType::Midpoint),
            ("heun", SolverType::Heun),
            ("logrho", SolverType::Midpoint),
            ("bh1", SolverType::Midpoint),
            ("bh2", SolverType::Midpoint),
        ],
        "expected \"midpoint\" or \"heun\"",
    )
}

/// diffusers maps the DPM-Solver names onto bh2.
pub(super) fn unipc_solver_type(v: ConfigValue<'_, '_>) -> Result<UniPCSolverType> {
    pick(
        v,
        &[
            ("bh1", UniPCSolverType::Bh1),
            ("bh2", UniPCSolverType::Bh2),
            ("midpoint", UniPCSolverType::Bh2),
            ("heun", UniPCSolverType::Bh2),
            ("logrho", UniPCSolverType::Bh2),
        ],
        "expected \"bh1\" or \"bh2\"",
    )
}

pub(super) fn final_sigmas_type(v: ConfigValue<'_, '_>) -> Result<FinalSigmasType> {
    pick(
        v,
        &[
            ("zero", FinalSigmasType::Zero),
            ("sigma_min", FinalSigmasType::SigmaMin),
        ],
        "expected \"zero\" or \"sigma_min\"",
    )
}

pub(super) fn timestep_spacing(v: ConfigValue<'_, '_>) -> Result<TimestepSpacing> {
    pick(
        v,
        &[
            ("linspace", TimestepSpacing::Linspace),
            ("leading", TimestepSpacing::Leading),
            ("trailing", TimestepSpacing::Trailing),
        ],
        "expected \"linspace\", \"leading\" or \"trailing\"",
    )
}

pub(super) fn number_or(v: ConfigValue<'_, '_>, default: f64) -> Result<f64> {
    match v {
        ConfigValue::Null => Ok(default),
        v => number(v),
    }
}

pub(super) fn bool_or(v: ConfigValue<'_, '_>, default: bool) -> Result<bool> {
    match v {
        ConfigValue::Null => Ok(default),
        v => boolean(v),
    }
}
