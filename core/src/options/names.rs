//! The options' names: every option with its aliases, each group's entries, the names of
//! each choice, and the rule by which names compare.

use super::error::Problem;
use crate::model::Prediction;

/// Each option (the table [`KEYS`] names them).
#[derive(Clone, Copy, PartialEq)]
pub(super) enum Opt {
    Algorithm,
    Method,
    Order,
    Steps,
    Spacing,
    UseKarras,
    TStart,
    TEnd,
    LowerOrderFinal,
    DenoiseToZero,
    SolverType,
    Prediction,
    Guidance,
    Thresholding,
    Adaptive,
    MultistepVariant,
    Batch,
    Direction,
    // Group entries.
    Karras,
    FlowShift,
    Mu,
    TimeShiftType,
    GuidanceType,
    GuidanceScale,
    Ratio,
    MaxVal,
    Atol,
    Rtol,
    Theta,
    TErr,
    HInit,
    MaxNfe,
    ReuseRejectedEval,
}

/// Every option name, its aliases after it, beside the option.
pub(super) const KEYS: &[(&str, Opt)] = &[
    ("algorithm", Opt::Algorithm),
    ("algorithm_type", Opt::Algorithm),
    ("method", Opt::Method),
    ("order", Opt::Order),
    ("solver_order", Opt::Order),
    ("steps", Opt::Steps),
    ("num_inference_steps", Opt::Steps),
    ("spacing", Opt::Spacing),
    ("skip_type", Opt::Spacing),
    ("use_karras_sigmas", Opt::UseKarras),
    ("t_start", Opt::TStart),
    ("t_end", Opt::TEnd),
    ("lower_order_final", Opt::LowerOrderFinal),
    ("denoise_to_zero", Opt::DenoiseToZero),
    ("solver_type", Opt::SolverType),
    ("prediction", Opt::Prediction),
    ("prediction_type", Opt::Prediction),
    ("model_type", Opt::Prediction),
    ("guidance", Opt::Guidance),
    ("thresholding", Opt::Thresholding),
    ("adaptive", Opt::Adaptive),
    ("multistep_variant", Opt::MultistepVariant),
    ("batch", Opt::Batch),
    ("direction", Opt::Direction),
];

/// The entries of each group: (group, entry name, option).
pub(super) const GROUP_KEYS: &[(Opt, &str, Opt)] = &[
    (Opt::Spacing, "karras", Opt::Karras),
    (Opt::Spacing, "flow_shift", Opt::FlowShift),
    (Opt::Spacing, "shift", Opt::FlowShift),
    (Opt::Spacing, "mu", Opt::Mu),
    (Opt::Spacing, "time_shift_type", Opt::TimeShiftType),
    (Opt::Guidance, "type", Opt::GuidanceType),
    (Opt::Guidance, "scale", Opt::GuidanceScale),
    (Opt::Thresholding, "ratio", Opt::Ratio),
    (Opt::Thresholding, "dynamic_thresholding_ratio", Opt::Ratio),
    (Opt::Thresholding, "max_val", Opt::MaxVal),
    (Opt::Thresholding, "sample_max_value", Opt::MaxVal),
    (Opt::Adaptive, "atol", Opt::Atol),
    (Opt::Adaptive, "rtol", Opt::Rtol),
    (Opt::Adaptive, "theta", Opt::Theta),
    (Opt::Adaptive, "t_err", Opt::TErr),
    (Opt::Adaptive, "h_init", Opt::HInit),
    (Opt::Adaptive, "max_nfe", Opt::MaxNfe),
    (Opt::Adaptive, "reuse_rejected_eval", Opt::ReuseRejectedEval),
];

// The names of each choice, in the order of the value tables where they are read.
pub(super) const ALGORITHMS: &[&str] = &["dpmsolver", "dpmsolver++", "dpmsolverpp"];
pub(super) const METHODS: &[&str] = &["multistep", "singlestep", "singlestep_fixed", "adaptive"];
pub(super) const SPACINGS: &[&str] = &[
    "logSNR",
    "exponential",
    "time_uniform",
    "uniform",
    "time_quadratic",
    "quadratic",
    "karras",
];
pub(super) const SOLVER_TYPES: &[&str] = &["dpmsolver", "midpoint", "taylor", "heun"];
pub(super) const PREDICTIONS: &[&str] = &[
    "noise",
    "epsilon",
    "x_start",
    "sample",
    "data",
    "v",
    "v_prediction",
    "score",
    "flow",
    "flow_prediction",
];
pub(super) const GUIDANCE_TYPES: &[&str] = &["classifier-free", "classifier", "none"];
pub(super) const TIME_SHIFT_TYPES: &[&str] = &["exponential", "linear"];
pub(super) const VARIANTS: &[&str] = &["reference", "full_order"];
pub(super) const DIRECTIONS: &[&str] = &["sample", "invert"];

/// The options' names, as an unknown-key error lists them.
pub const NAMES: &[&str] = &[
    "algorithm",
    "method",
    "order",
    "steps",
    "spacing",
    "use_karras_sigmas",
    "t_start",
    "t_end",
    "lower_order_final",
    "denoise_to_zero",
    "solver_type",
    "prediction",
    "guidance",
    "thresholding",
    "adaptive",
    "multistep_variant",
    "batch",
    "direction",
];

/// Largest adaptive `max_nfe` accepted.
pub const MAX_ADAPTIVE_NFE: usize = 1 << 24;

/// Whether two names are the same ignoring ASCII case, `_` and `-`.
pub fn same_name(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    loop {
        while i < a.len() && matches!(a[i], b'_' | b'-') {
            i += 1;
        }
        while j < b.len() && matches!(b[j], b'_' | b'-') {
            j += 1;
        }
        match (a.get(i), b.get(j)) {
            (None, None) => return true,
            (Some(x), Some(y)) if x.eq_ignore_ascii_case(y) => (i, j) = (i + 1, j + 1),
            _ => return false,
        }
    }
}

pub(super) const SPACING_KEYS: &[&str] = &["karras", "flow_shift", "mu", "time_shift_type"];
pub(super) const ADAPTIVE_KEYS: &[&str] = &[
    "atol",
    "rtol",
    "theta",
    "t_err",
    "h_init",
    "max_nfe",
    "reuse_rejected_eval",
];

/// The prediction named by `PREDICTIONS[i]`.
pub(super) fn prediction(i: usize) -> Result<Prediction, Problem<'static>> {
    use Prediction::*;
    Ok(match i {
        0 | 1 => Noise,
        2..=4 => Data,
        5 | 6 => V,
        7 => Score,
        #[cfg(feature = "flow")]
        _ => Flow,
        #[cfg(not(feature = "flow"))]
        _ => {
            return Err(Problem::Must(
                "not flow: this build has no flow matching (feature `flow`)",
            ))
        }
    })
}
