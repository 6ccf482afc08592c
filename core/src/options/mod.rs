//! Every option of a run by name: the one parser behind the JavaScript `Sampler` and
//! `Model.generate`, the native pipeline and command lines, the tests' fixture reader and the
//! firmware's build script.
//!
//! [`Options::set`] takes one `(key, value)` pair at a time, so any front end (a JS object's
//! keys, command-line flags, a JSON fixture) walks its own input and hands each pair over;
//! [`Options::config`] then gives the core's [`Config`]. Nothing here allocates.
//!
//! # Names
//!
//! Keys and string values compare ignoring ASCII case, `_` and `-`: `lowerOrderFinal`,
//! `lower_order_final` and `lower-order-final` are one key, `logSNR` and `log_snr` one value.
//! Each option has its name from the paper's reference implementation (`dpm_solver_pytorch`)
//! and, where diffusers has one, diffusers' name as an alias:
//!
//! | option | aliases | value |
//! |---|---|---|
//! | `algorithm` | `algorithm_type` | `dpmsolver`, `dpmsolver++` (= `dpmsolverpp`) |
//! | `method` | | `multistep`, `singlestep`, `singlestep_fixed`, `adaptive` |
//! | `order` | `solver_order` | 1..=3 |
//! | `steps` | `num_inference_steps` | NFE, 0..=[`MAX_STEPS`] |
//! | `spacing` | `skip_type` | `logSNR` (= `exponential`), `time_uniform` (= `uniform`), `time_quadratic` (= `quadratic`), `karras` (rho 7), a list of times, or a group: `spacing.karras` (rho), `spacing.flow_shift`, `spacing.mu` with `spacing.time_shift_type` (`exponential`, `linear`) |
//! | `use_karras_sigmas` | | `true`: `spacing` Karras with rho 7 |
//! | `t_start`, `t_end` | | a time, or null for the default |
//! | `lower_order_final`, `denoise_to_zero` | | true / false |
//! | `solver_type` | | `dpmsolver` (= diffusers' `midpoint`), `taylor` (= `heun`) |
//! | `prediction` | `prediction_type`, `model_type` | `noise` (= `epsilon`), `x_start` (= `sample`, `data`), `v` (= `v_prediction`), `score`, `flow` (= `flow_prediction`) |
//! | `guidance` | | null, or a group: `guidance.type` (`classifier-free`, `classifier`, `none`), `guidance.scale` (default 1) |
//! | `thresholding` | | null / false, true (ratio 0.995, max 1), or a group: `thresholding.ratio` (= `dynamic_thresholding_ratio`), `thresholding.max_val` (= `sample_max_value`) |
//! | `adaptive` | | a group: `atol`, `rtol`, `theta`, `t_err`, `h_init`, `max_nfe`, `reuse_rejected_eval` |
//! | `multistep_variant` | | `reference`, `full_order` |
//! | `batch` | | samples in `x` |
//! | `direction` | | `sample`, `invert` |
//!
//! A group is given as [`Value::Group`] under its name (which resets it) followed by its
//! entries under [`Options::set_in`] (or `set("group.entry", ..)`). [`Value::Null`] gives any
//! option its default.
//!
//! # Defaults
//!
//! [`Options::new`] starts from [`Config::default`], the reference's `sample()` defaults
//! (DPM-Solver++(2M), 20 steps, time-uniform). [`Options::generate`] is the image pipeline's
//! profile (`Model.generate`, the native `sample` command): the same but 10 steps on the logSNR
//! grid, the paper's choice for few steps at low resolutions.
//!
//! The schedule (which carries a table) and an entry's own options (the pipeline's seed, class
//! and guidance scale) are not options here.

mod error;

pub use error::{OptionError, Problem};

use crate::adaptive::AdaptiveOptions;
use crate::flow::TimeShift;
use crate::guidance::Guidance;
use crate::math::Real;
use crate::model::Prediction;
use crate::sampler::{Config, Direction, Method, MultistepVariant, MAX_STEPS};
use crate::spacing::Spacing;
use crate::threshold::Thresholding;
use crate::update::{Algorithm, SolverType};

/// One option value, as a JSON value, a JS value or a command-line word gives it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Value<'s, 'b, T> {
    /// `null` / absent: the option's default.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// A number (integers included).
    Number(f64),
    /// A string (a name, compared ignoring case, `_` and `-`).
    Str(&'s str),
    /// A list of numbers (the times of a caller-given spacing), borrowed by the configuration.
    Numbers(&'b [T]),
    /// The start of a group (an object); its entries follow through [`Options::set_in`].
    Group,
    /// Anything else (a function, a nested list): refused with the option's expected type.
    Other,
}

impl<'s, T> Value<'s, '_, T> {
    /// A command-line word: `true` / `false`, `null`, a number, or else a string (a list of
    /// times needs storage: the caller parses it into [`Value::Numbers`]).
    pub fn word(text: &'s str) -> Self {
        match text.trim() {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            "null" => Value::Null,
            t => match t.parse::<f64>() {
                Ok(x) => Value::Number(x),
                Err(_) => Value::Str(t),
            },
        }
    }
}

/// The image pipeline's defaults (`Model.generate`, the native `sample` command):
/// [`Config::default`] with 10 steps on the logSNR grid, the paper's choice for few steps at
/// low resolutions.
pub fn generate_profile<'b, T: Real>() -> Config<'b, T> {
    Config {
        steps: 10,
        spacing: Spacing::LogSnr,
        ..Config::default()
    }
}

/// The spacing group as given, resolved by [`Options::config`].
#[derive(Clone, Copy, Debug, PartialEq, Default)]
struct SpacingGroup {
    karras: Option<f64>,
    flow_shift: Option<f64>,
    mu: Option<f64>,
    linear: bool,
}

/// The options of one run, set by name; [`config`](Self::config) gives the core's [`Config`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Options<'b, T> {
    config: Config<'b, T>,
    spacing_group: Option<SpacingGroup>,
    /// `guidance.type` (index into its names) and `guidance.scale` of a guidance group.
    guidance_group: Option<(Option<usize>, T)>,
}

impl<T: Real> Default for Options<'_, T> {
    fn default() -> Self {
        Options::new()
    }
}

impl<'b, T: Real> Options<'b, T> {
    /// The reference's defaults ([`Config::default`]).
    pub fn new() -> Self {
        Options::from_config(Config::default())
    }

    /// The image pipeline's defaults ([`generate_profile`]).
    pub fn generate() -> Self {
        Options::from_config(generate_profile())
    }

    /// Starts from `config` (options set afterwards change it).
    pub fn from_config(config: Config<'b, T>) -> Self {
        Options {
            config,
            spacing_group: None,
            guidance_group: None,
        }
    }

    /// Sets one option; `key` may name a group entry as `group.entry`.
    pub fn set<'a>(
        &mut self,
        key: &'a str,
        value: Value<'a, 'b, T>,
    ) -> Result<(), OptionError<'a>> {
        match key.split_once('.') {
            Some((g, k)) => self.set_in(g, k, value),
            None => self.set_top(key, value),
        }
    }

    /// The configuration the options give (the groups resolved; a group missing its required
    /// entry is an error naming it). Ranges the sampler checks ([`Sampler::new`](crate::Sampler::new))
    /// are left to it.
    pub fn config(&self) -> Result<Config<'b, T>, OptionError<'static>> {
        let mut c = self.config;
        if let Some(sg) = self.spacing_group {
            c.spacing = match (sg.flow_shift, sg.mu, sg.karras) {
                (Some(s), _, _) => flow_spacing(TimeShift::Static(T::c(s)))?,
                (None, Some(mu), _) => {
                    let mu = T::c(mu);
                    flow_spacing(if sg.linear {
                        TimeShift::Linear { mu }
                    } else {
                        TimeShift::Exponential { mu }
                    })?
                }
                (None, None, Some(rho)) => Spacing::Karras { rho: T::c(rho) },
                (None, None, None) => {
                    return Err(OptionError {
                        group: None,
                        key: "spacing",
                        problem: Problem::Must(
                            "a name, a list of times, or {karras (rho), flow_shift or mu}",
                        ),
                    })
                }
            };
        }
        if let Some((ty, scale)) = self.guidance_group {
            c.guidance = match ty {
                Some(0) => Guidance::ClassifierFree { scale },
                Some(1) => Guidance::Classifier { scale },
                Some(_) => Guidance::None,
                None => {
                    return Err(OptionError {
                        group: Some("guidance"),
                        key: "type",
                        problem: Problem::Must("given ('classifier-free' or 'classifier')"),
                    })
                }
            };
        }
        Ok(c)
    }
}

/// The configuration with the last option set (groups unresolved) for reading single fields.
impl<'b, T> Options<'b, T> {
    /// The configuration as set so far, groups (spacing, guidance) not yet resolved: for
    /// reading fields the groups do not touch.
    pub fn partial(&self) -> &Config<'b, T> {
        &self.config
    }
}

#[cfg(feature = "flow")]
fn flow_spacing<'b, T: Real>(shift: TimeShift<T>) -> Result<Spacing<'b, T>, OptionError<'static>> {
    match shift.factor() {
        Ok(shift) => Ok(Spacing::FlowShift { shift }),
        Err(_) => Err(OptionError {
            group: None,
            key: "spacing",
            problem: Problem::Must("a positive, finite flow shift (flow_shift, e^mu or mu)"),
        }),
    }
}

#[cfg(not(feature = "flow"))]
fn flow_spacing<'b, T: Real>(_: TimeShift<T>) -> Result<Spacing<'b, T>, OptionError<'static>> {
    Err(OptionError {
        group: None,
        key: "spacing",
        problem: Problem::Must(
            "without flow_shift or mu: this build has no flow matching (feature `flow`)",
        ),
    })
}

/// Each option (the table [`KEYS`] names them).
#[derive(Clone, Copy, PartialEq)]
enum Opt {
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
const KEYS: &[(&str, Opt)] = &[
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
const GROUP_KEYS: &[(Opt, &str, Opt)] = &[
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
const ALGORITHMS: &[&str] = &["dpmsolver", "dpmsolver++", "dpmsolverpp"];
const METHODS: &[&str] = &["multistep", "singlestep", "singlestep_fixed", "adaptive"];
const SPACINGS: &[&str] = &[
    "logSNR",
    "exponential",
    "time_uniform",
    "uniform",
    "time_quadratic",
    "quadratic",
    "karras",
];
const SOLVER_TYPES: &[&str] = &["dpmsolver", "midpoint", "taylor", "heun"];
const PREDICTIONS: &[&str] = &[
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
const GUIDANCE_TYPES: &[&str] = &["classifier-free", "classifier", "none"];
const TIME_SHIFT_TYPES: &[&str] = &["exponential", "linear"];
const VARIANTS: &[&str] = &["reference", "full_order"];
const DIRECTIONS: &[&str] = &["sample", "invert"];

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

/// The type-checked value of one option (not generic: one copy of the checks).
enum Parsed {
    Null,
    Index(usize),
    Int(usize),
    Bool(bool),
    Num(f64),
}

/// What an option takes.
#[derive(Clone, Copy)]
enum Kind {
    Choice(&'static [&'static str]),
    /// At most this (also as text, for the message).
    Int(usize, &'static str),
    Bool,
    Num,
}

/// A value without its list (a list is a type error except for `spacing`, read before).
#[derive(Clone, Copy)]
enum Plain<'a> {
    Null,
    Bool(bool),
    Number(f64),
    Str(&'a str),
    Other,
}

fn parse<'a>(
    group: Option<&'a str>,
    key: &'a str,
    kind: Kind,
    v: Plain<'a>,
) -> Result<Parsed, OptionError<'a>> {
    let problem = match (kind, v) {
        (_, Plain::Null) => return Ok(Parsed::Null),
        (Kind::Choice(names), Plain::Str(s)) => match names.iter().position(|n| same_name(s, n)) {
            Some(i) => return Ok(Parsed::Index(i)),
            None => Problem::Choice {
                got: s,
                expected: names,
            },
        },
        (Kind::Choice(_), _) => Problem::Must("a string"),
        (Kind::Bool, Plain::Bool(b)) => return Ok(Parsed::Bool(b)),
        (Kind::Bool, _) => Problem::Must("a boolean"),
        (Kind::Int(max, text), Plain::Number(x)) if x.is_finite() => {
            // `max` is far below 2^53 (exact in f64); the comparison also rejects negatives
            // and fractions.
            if x >= 0.0 && x <= max as f64 && x as usize as f64 == x {
                return Ok(Parsed::Int(x as usize));
            }
            Problem::Integer { got: x, max: text }
        }
        (Kind::Num, Plain::Number(x)) if x.is_finite() => return Ok(Parsed::Num(x)),
        (Kind::Num | Kind::Int(..), _) => Problem::Must("a finite number"),
    };
    Err(OptionError {
        group,
        key,
        problem,
    })
}

impl<'s, T> Value<'s, '_, T> {
    fn plain(&self) -> Plain<'s> {
        match *self {
            Value::Null => Plain::Null,
            Value::Bool(b) => Plain::Bool(b),
            Value::Number(x) => Plain::Number(x),
            Value::Str(s) => Plain::Str(s),
            _ => Plain::Other,
        }
    }
}

impl Parsed {
    /// The index of the name chosen (`None` for null).
    fn at(&self) -> Option<usize> {
        match *self {
            Parsed::Index(i) => Some(i),
            _ => None,
        }
    }

    fn int(&self, default: usize) -> usize {
        match *self {
            Parsed::Int(n) => n,
            _ => default,
        }
    }

    fn flag(&self, default: bool) -> bool {
        match *self {
            Parsed::Bool(b) => b,
            _ => default,
        }
    }

    fn num<T: Real>(&self, default: T) -> T {
        match *self {
            Parsed::Num(x) => T::c(x),
            _ => default,
        }
    }

    fn opt_num(&self) -> Option<f64> {
        match *self {
            Parsed::Num(x) => Some(x),
            _ => None,
        }
    }
}

impl<'b, T: Real> Options<'b, T> {
    fn set_top<'a>(&mut self, key: &'a str, v: Value<'a, 'b, T>) -> Result<(), OptionError<'a>> {
        match KEYS.iter().find(|(n, _)| same_name(key, n)) {
            Some(&(_, opt)) => self.set_opt(opt, None, key, v),
            None => Err(OptionError {
                group: None,
                key,
                problem: Problem::Unknown(NAMES),
            }),
        }
    }

    /// Sets the entry `key` of the group `group` (`spacing`, `guidance`, `thresholding`,
    /// `adaptive`); a group not started with [`Value::Group`] is started here.
    pub fn set_in<'a>(
        &mut self,
        group: &'a str,
        key: &'a str,
        v: Value<'a, 'b, T>,
    ) -> Result<(), OptionError<'a>> {
        let Some(&(_, gopt)) = KEYS.iter().find(|(n, _)| same_name(group, n)) else {
            return Err(OptionError {
                group: None,
                key: group,
                problem: Problem::Unknown(NAMES),
            });
        };
        let entry = GROUP_KEYS
            .iter()
            .find(|(g, n, _)| *g == gopt && same_name(key, n));
        if let Some(&(_, _, opt)) = entry {
            return self.set_opt(opt, Some(group), key, v);
        }
        let (group, key, problem) = match gopt {
            Opt::Spacing => (Some(group), key, Problem::Unknown(SPACING_KEYS)),
            Opt::Guidance => (Some(group), key, Problem::Unknown(&["type", "scale"])),
            Opt::Thresholding => (Some(group), key, Problem::Unknown(&["ratio", "max_val"])),
            Opt::Adaptive => (Some(group), key, Problem::Unknown(ADAPTIVE_KEYS)),
            _ => (None, group, Problem::Must("a value, not an object")),
        };
        Err(OptionError {
            group,
            key,
            problem,
        })
    }

    /// Sets the option `opt` (an entry of `group`, if given) to `v`.
    fn set_opt<'a>(
        &mut self,
        opt: Opt,
        group: Option<&'a str>,
        key: &'a str,
        v: Value<'a, 'b, T>,
    ) -> Result<(), OptionError<'a>> {
        let err = |problem| OptionError {
            group,
            key,
            problem,
        };
        let c = &mut self.config;
        // The options that take more than one kind of value (groups only at the top level).
        match (opt, v) {
            (Opt::Spacing, Value::Numbers(times)) => {
                self.spacing_group = None;
                c.spacing = Spacing::Custom(times);
                return Ok(());
            }
            (Opt::Spacing, Value::Group) => {
                self.spacing_group = Some(SpacingGroup::default());
                return Ok(());
            }
            (Opt::Guidance, Value::Null | Value::Group) => {
                c.guidance = Guidance::None;
                self.guidance_group = matches!(v, Value::Group).then_some((None, T::ONE));
                return Ok(());
            }
            (Opt::Guidance, _) => return Err(err(Problem::Must("null or {type, scale}"))),
            (Opt::Thresholding, Value::Null | Value::Bool(_) | Value::Group) => {
                c.thresholding =
                    matches!(v, Value::Bool(true) | Value::Group).then(Thresholding::default);
                return Ok(());
            }
            (Opt::Thresholding, _) => {
                return Err(err(Problem::Must("null, a boolean or {ratio, max_val}")))
            }
            (Opt::Adaptive, Value::Null | Value::Group) => {
                c.adaptive = AdaptiveOptions::default();
                return Ok(());
            }
            (Opt::Adaptive, _) => return Err(err(Problem::Must("null or an object"))),
            _ => {}
        }
        let kind = match opt {
            Opt::Algorithm => Kind::Choice(ALGORITHMS),
            Opt::Method => Kind::Choice(METHODS),
            Opt::Order => Kind::Int(3, "3"),
            Opt::Steps | Opt::Batch => Kind::Int(MAX_STEPS, "1048576"),
            Opt::Spacing => Kind::Choice(SPACINGS),
            Opt::SolverType => Kind::Choice(SOLVER_TYPES),
            Opt::Prediction => Kind::Choice(PREDICTIONS),
            Opt::MultistepVariant => Kind::Choice(VARIANTS),
            Opt::Direction => Kind::Choice(DIRECTIONS),
            Opt::TimeShiftType => Kind::Choice(TIME_SHIFT_TYPES),
            Opt::GuidanceType => Kind::Choice(GUIDANCE_TYPES),
            Opt::MaxNfe => Kind::Int(MAX_ADAPTIVE_NFE, "16777216"),
            Opt::UseKarras | Opt::LowerOrderFinal | Opt::DenoiseToZero | Opt::ReuseRejectedEval => {
                Kind::Bool
            }
            _ => Kind::Num,
        };
        let p = parse(group, key, kind, v.plain())?;
        let d = Config::<T>::default();
        let (a, da) = (&mut c.adaptive, d.adaptive);
        let dt = Thresholding::<T>::default();
        match opt {
            Opt::Algorithm => {
                use Algorithm::*;
                c.algorithm = match p.at() {
                    None => d.algorithm,
                    Some(0) => DpmSolver,
                    Some(_) => DpmSolverPp,
                }
            }
            Opt::Method => {
                use Method::*;
                c.method = match p.at() {
                    None => d.method,
                    Some(0) => Multistep,
                    Some(1) => Singlestep,
                    Some(2) => SinglestepFixed,
                    Some(_) => Adaptive,
                }
            }
            Opt::Order => c.order = p.int(d.order),
            Opt::Steps => c.steps = p.int(d.steps),
            Opt::Batch => c.batch = p.int(d.batch),
            Opt::Spacing => {
                use Spacing::*;
                self.spacing_group = None;
                c.spacing = match p.at() {
                    None => d.spacing,
                    Some(0 | 1) => LogSnr,
                    Some(2 | 3) => TimeUniform,
                    Some(4 | 5) => TimeQuadratic,
                    Some(_) => Karras { rho: T::c(7.0) },
                };
            }
            Opt::UseKarras => {
                let is = matches!(c.spacing, Spacing::Karras { .. });
                if p.flag(false) && !is {
                    self.spacing_group = None;
                    c.spacing = Spacing::Karras { rho: T::c(7.0) };
                } else if !p.flag(false) && is {
                    c.spacing = d.spacing;
                }
            }
            Opt::TStart => c.t_start = p.opt_num().map(T::c),
            Opt::TEnd => c.t_end = p.opt_num().map(T::c),
            Opt::LowerOrderFinal => c.lower_order_final = p.flag(d.lower_order_final),
            Opt::DenoiseToZero => c.denoise_to_zero = p.flag(d.denoise_to_zero),
            Opt::SolverType => {
                use SolverType::*;
                c.solver_type = match p.at() {
                    None => d.solver_type,
                    Some(0 | 1) => DpmSolver,
                    Some(_) => Taylor,
                }
            }
            Opt::Prediction => {
                c.prediction = match p.at() {
                    Some(i) => prediction(i).map_err(err)?,
                    None => d.prediction,
                }
            }
            Opt::MultistepVariant => {
                use MultistepVariant::*;
                c.multistep_variant = match p.at() {
                    None => d.multistep_variant,
                    Some(0) => Reference,
                    Some(_) => FullOrder,
                }
            }
            Opt::Direction => {
                use Direction::*;
                c.direction = match p.at() {
                    None => d.direction,
                    Some(0) => Sample,
                    Some(_) => Invert,
                }
            }
            Opt::Karras | Opt::FlowShift | Opt::Mu | Opt::TimeShiftType => {
                let sg = self.spacing_group.get_or_insert_with(SpacingGroup::default);
                match opt {
                    Opt::Karras => sg.karras = p.opt_num(),
                    Opt::FlowShift => sg.flow_shift = p.opt_num(),
                    Opt::Mu => sg.mu = p.opt_num(),
                    _ => sg.linear = p.at() == Some(1),
                }
            }
            Opt::GuidanceType | Opt::GuidanceScale => {
                let gg = self.guidance_group.get_or_insert((None, T::ONE));
                match opt {
                    Opt::GuidanceType => gg.0 = p.at(),
                    _ => gg.1 = p.num(T::ONE),
                }
            }
            Opt::Ratio => c.thresholding.get_or_insert(dt).ratio = p.num(dt.ratio),
            Opt::MaxVal => c.thresholding.get_or_insert(dt).max_val = p.num(dt.max_val),
            Opt::Atol => a.atol = p.num(da.atol),
            Opt::Rtol => a.rtol = p.num(da.rtol),
            Opt::Theta => a.theta = p.num(da.theta),
            Opt::TErr => a.t_err = p.num(da.t_err),
            Opt::HInit => a.h_init = p.num(da.h_init),
            Opt::MaxNfe => a.max_nfe = p.int(da.max_nfe),
            Opt::ReuseRejectedEval => a.reuse_rejected_eval = p.flag(da.reuse_rejected_eval),
            // Handled above.
            Opt::Guidance | Opt::Thresholding | Opt::Adaptive => {}
        }
        Ok(())
    }
}

const SPACING_KEYS: &[&str] = &["karras", "flow_shift", "mu", "time_shift_type"];
const ADAPTIVE_KEYS: &[&str] = &[
    "atol",
    "rtol",
    "theta",
    "t_err",
    "h_init",
    "max_nfe",
    "reuse_rejected_eval",
];

/// The prediction named by `PREDICTIONS[i]`.
fn prediction(i: usize) -> Result<Prediction, Problem<'static>> {
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

impl<T: Real> Config<'_, T> {
    /// Network evaluations a run of this configuration makes (a guided pair counts once), or
    /// `None` for the adaptive method, which decides as it goes. The sampler's own rules:
    /// `steps` for multistep and singlestep (DPM-Solver-fast splits them exactly), whole
    /// steps of `order` for singlestep-fixed, one more for the full-order multistep warm-up
    /// at order >= 2, one more for `denoise_to_zero`. For a configuration
    /// [`Sampler::new`](crate::Sampler::new) accepts, it equals [`Sampler::nfe`](crate::Sampler::nfe)
    /// at the end of the run.
    pub fn expected_nfe(&self) -> Option<usize> {
        let extra = usize::from(self.denoise_to_zero);
        let solver = match self.method {
            Method::Adaptive => return None,
            Method::SinglestepFixed => (self.steps / self.order.max(1)) * self.order,
            Method::Multistep
                if self.multistep_variant == MultistepVariant::FullOrder && self.order >= 2 =>
            {
                self.steps + 1
            }
            Method::Multistep | Method::Singlestep => self.steps,
        };
        Some(solver + extra)
    }
}

#[cfg(test)]
mod tests;
