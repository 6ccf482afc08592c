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

use core::fmt;

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

/// What was wrong with an option: the key as the caller wrote it (and its group), the value
/// where it helps, and what was expected. `Display` writes `key is 'value', expected ...` or
/// `key must be ...`; [`OptionError::write`] lets a caller format the numbers itself.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OptionError<'a> {
    /// The group (`spacing`, `adaptive`, ...) of a group entry.
    pub group: Option<&'a str>,
    /// The key as given.
    pub key: &'a str,
    /// What was wrong.
    pub problem: Problem<'a>,
}

/// The kinds of [`OptionError`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Problem<'a> {
    /// No option has this name (in this group); lists the names.
    Unknown(&'static [&'static str]),
    /// A name that is not one of the listed choices.
    Choice {
        /// The name given.
        got: &'a str,
        /// The accepted names.
        expected: &'static str,
    },
    /// A number outside `0..=max` or not an integer.
    Integer {
        /// The number given.
        got: f64,
        /// The largest accepted.
        max: usize,
    },
    /// A value of the wrong type or out of range; says what it must be.
    Must(&'static str),
}

impl OptionError<'_> {
    /// Writes the message, numbers through `number` (the JS bindings format them as
    /// JavaScript does, without Rust's float formatting).
    pub fn write(
        &self,
        w: &mut dyn fmt::Write,
        number: &dyn Fn(&mut dyn fmt::Write, f64) -> fmt::Result,
    ) -> fmt::Result {
        let key = |w: &mut dyn fmt::Write| -> fmt::Result {
            if let Some(g) = self.group {
                w.write_str(g)?;
                w.write_str(".")?;
            }
            w.write_str(self.key)
        };
        match self.problem {
            Problem::Unknown(names) => {
                w.write_str("unknown key '")?;
                key(w)?;
                w.write_str("' (expected one of: ")?;
                for (i, n) in names.iter().enumerate() {
                    if i > 0 {
                        w.write_str(", ")?;
                    }
                    w.write_str(n)?;
                }
                w.write_str(")")
            }
            Problem::Choice { got, expected } => {
                key(w)?;
                w.write_str(" is '")?;
                w.write_str(got)?;
                w.write_str("', expected one of: ")?;
                w.write_str(expected)
            }
            Problem::Integer { got, max } => {
                key(w)?;
                w.write_str(" must be an integer in 0..=")?;
                write!(w, "{max}")?;
                w.write_str(", got ")?;
                number(w, got)
            }
            Problem::Must(what) => {
                key(w)?;
                w.write_str(" must be ")?;
                w.write_str(what)
            }
        }
    }

    /// Whether the key is unknown (an entry with options of its own may try them next).
    pub fn is_unknown(&self) -> bool {
        matches!(self.problem, Problem::Unknown(_))
    }
}

impl fmt::Display for OptionError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write(f, &|w, x| write!(w, "{x}"))
    }
}

/// The options' names, as listed in unknown-key errors.
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

const SPACING_NAMES: &[&str] = &["karras", "flow_shift", "mu", "time_shift_type"];
const GUIDANCE_NAMES: &[&str] = &["type", "scale"];
const THRESHOLDING_NAMES: &[&str] = &["ratio", "max_val"];
const ADAPTIVE_NAMES: &[&str] = &[
    "atol",
    "rtol",
    "theta",
    "t_err",
    "h_init",
    "max_nfe",
    "reuse_rejected_eval",
];

/// Largest adaptive `max_nfe` accepted.
pub const MAX_ADAPTIVE_NFE: usize = 1 << 24;

/// Whether `name` equals `canonical` (lower case, no `_` or `-`) ignoring ASCII case, `_`
/// and `-`.
pub fn same_name(name: &str, canonical: &str) -> bool {
    let mut a = name
        .bytes()
        .filter(|b| *b != b'_' && *b != b'-')
        .map(|b| b.to_ascii_lowercase());
    let mut b = canonical.bytes();
    loop {
        match (a.next(), b.next()) {
            (None, None) => return true,
            (Some(x), Some(y)) if x == y => {}
            _ => return false,
        }
    }
}

/// The index of the first of `names` (canonical form) that `name` is.
fn find(name: &str, names: &[&str]) -> Option<usize> {
    names.iter().position(|c| same_name(name, c))
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

    /// The image pipeline's defaults: [`new`](Self::new) with 10 steps on the logSNR grid.
    pub fn generate() -> Self {
        Options::from_config(Config {
            steps: 10,
            spacing: Spacing::LogSnr,
            ..Config::default()
        })
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

    fn set_top<'a>(&mut self, key: &'a str, v: Value<'a, 'b, T>) -> Result<(), OptionError<'a>> {
        let e = |problem| OptionError {
            group: None,
            key,
            problem,
        };
        let Some(i) = find(key, &CANONICAL) else {
            return Err(e(Problem::Unknown(NAMES)));
        };
        let d = Config::<T>::default();
        let c = &mut self.config;
        let null = v == Value::Null;
        match CANONICAL_OPTION[i] {
            Opt::Algorithm => {
                c.algorithm = if null {
                    d.algorithm
                } else {
                    [
                        Algorithm::DpmSolver,
                        Algorithm::DpmSolverPp,
                        Algorithm::DpmSolverPp,
                    ][choice(
                        key,
                        None,
                        v,
                        &["dpmsolver", "dpmsolver++", "dpmsolverpp"],
                        "dpmsolver, dpmsolver++",
                    )?]
                }
            }
            Opt::Method => {
                c.method = if null {
                    d.method
                } else {
                    [
                        Method::Multistep,
                        Method::Singlestep,
                        Method::SinglestepFixed,
                        Method::Adaptive,
                    ][choice(
                        key,
                        None,
                        v,
                        &["multistep", "singlestep", "singlestepfixed", "adaptive"],
                        "multistep, singlestep, singlestep_fixed, adaptive",
                    )?]
                }
            }
            Opt::Order => {
                c.order = if null {
                    d.order
                } else {
                    integer(key, None, v, 3)?
                }
            }
            Opt::Steps => {
                c.steps = if null {
                    d.steps
                } else {
                    integer(key, None, v, MAX_STEPS)?
                }
            }
            Opt::Spacing => {
                self.spacing_group = None;
                c.spacing = match v {
                    Value::Null => d.spacing,
                    Value::Numbers(times) => Spacing::Custom(times),
                    Value::Group => {
                        self.spacing_group = Some(SpacingGroup::default());
                        d.spacing
                    }
                    v => [
                        Spacing::LogSnr,
                        Spacing::LogSnr,
                        Spacing::TimeUniform,
                        Spacing::TimeUniform,
                        Spacing::TimeQuadratic,
                        Spacing::TimeQuadratic,
                        Spacing::Karras { rho: T::c(7.0) },
                    ][choice(
                        key,
                        None,
                        v,
                        &[
                            "logsnr",
                            "exponential",
                            "timeuniform",
                            "uniform",
                            "timequadratic",
                            "quadratic",
                            "karras",
                        ],
                        "logSNR (= exponential), time_uniform, time_quadratic, karras, {karras: rho}, {flow_shift}, {mu}, or a list of times",
                    )?],
                }
            }
            Opt::UseKarras => {
                let on = !null && boolean(key, None, v)?;
                let is = matches!(c.spacing, Spacing::Karras { .. });
                if on && !is {
                    self.spacing_group = None;
                    c.spacing = Spacing::Karras { rho: T::c(7.0) };
                } else if !on && is {
                    c.spacing = d.spacing;
                }
            }
            Opt::TStart => c.t_start = time(key, v)?,
            Opt::TEnd => c.t_end = time(key, v)?,
            Opt::LowerOrderFinal => {
                c.lower_order_final = if null {
                    d.lower_order_final
                } else {
                    boolean(key, None, v)?
                }
            }
            Opt::DenoiseToZero => {
                c.denoise_to_zero = if null {
                    d.denoise_to_zero
                } else {
                    boolean(key, None, v)?
                }
            }
            Opt::SolverType => {
                c.solver_type = if null {
                    d.solver_type
                } else {
                    [
                        SolverType::DpmSolver,
                        SolverType::DpmSolver,
                        SolverType::Taylor,
                        SolverType::Taylor,
                    ][choice(
                        key,
                        None,
                        v,
                        &["dpmsolver", "midpoint", "taylor", "heun"],
                        "dpmsolver (= midpoint), taylor (= heun)",
                    )?]
                }
            }
            Opt::Prediction => {
                use Prediction::*;
                c.prediction = if null {
                    d.prediction
                } else {
                    match choice(
                        key,
                        None,
                        v,
                        &[
                            "noise",
                            "epsilon",
                            "xstart",
                            "sample",
                            "data",
                            "v",
                            "vprediction",
                            "score",
                            "flow",
                            "flowprediction",
                        ],
                        "noise (= epsilon), x_start (= sample, data), v (= v_prediction), score, flow (= flow_prediction)",
                    )? {
                        0 | 1 => Noise,
                        2..=4 => Data,
                        5 | 6 => V,
                        7 => Score,
                        #[cfg(feature = "flow")]
                        _ => Flow,
                        #[cfg(not(feature = "flow"))]
                        _ => {
                            return Err(e(Problem::Must(
                                "not flow: this build has no flow matching (feature `flow`)",
                            )))
                        }
                    }
                }
            }
            Opt::Guidance => {
                self.guidance_group = None;
                c.guidance = match v {
                    Value::Null => Guidance::None,
                    Value::Group => {
                        self.guidance_group = Some((None, T::ONE));
                        Guidance::None
                    }
                    _ => return Err(e(Problem::Must("null or {type, scale}"))),
                };
            }
            Opt::Thresholding => {
                c.thresholding = match v {
                    Value::Null | Value::Bool(false) => None,
                    Value::Bool(true) | Value::Group => Some(Thresholding::default()),
                    _ => return Err(e(Problem::Must("null, a boolean or {ratio, max_val}"))),
                };
            }
            Opt::Adaptive => {
                c.adaptive = match v {
                    Value::Null | Value::Group => d.adaptive,
                    _ => {
                        return Err(e(Problem::Must(
                            "{atol, rtol, theta, t_err, h_init, max_nfe, reuse_rejected_eval}",
                        )))
                    }
                };
            }
            Opt::MultistepVariant => {
                c.multistep_variant = if null {
                    d.multistep_variant
                } else {
                    [MultistepVariant::Reference, MultistepVariant::FullOrder][choice(
                        key,
                        None,
                        v,
                        &["reference", "fullorder"],
                        "reference, full_order",
                    )?]
                }
            }
            Opt::Batch => {
                c.batch = if null {
                    d.batch
                } else {
                    integer(key, None, v, MAX_STEPS)?
                }
            }
            Opt::Direction => {
                c.direction = if null {
                    d.direction
                } else {
                    [Direction::Sample, Direction::Invert]
                        [choice(key, None, v, &["sample", "invert"], "sample, invert")?]
                }
            }
        }
        Ok(())
    }

    /// Sets the entry `key` of the group `group` (`spacing`, `guidance`, `thresholding`,
    /// `adaptive`); a group not started with [`Value::Group`] is started here.
    pub fn set_in<'a>(
        &mut self,
        group: &'a str,
        key: &'a str,
        v: Value<'a, 'b, T>,
    ) -> Result<(), OptionError<'a>> {
        let e = |problem| OptionError {
            group: Some(group),
            key,
            problem,
        };
        let Some(gi) = find(group, &CANONICAL) else {
            return Err(OptionError {
                group: None,
                key: group,
                problem: Problem::Unknown(NAMES),
            });
        };
        let g = Some(group);
        let null = v == Value::Null;
        match CANONICAL_OPTION[gi] {
            Opt::Spacing => {
                let names = SPACING_NAMES;
                let i = find_alias(
                    key,
                    &["karras", "flowshift", "mu", "timeshifttype", "shift"],
                )
                .ok_or(e(Problem::Unknown(names)))?;
                let sg = match &mut self.spacing_group {
                    Some(s) => s,
                    s => {
                        self.config.spacing = Spacing::TimeUniform;
                        s.insert(SpacingGroup::default())
                    }
                };
                let num = |v| {
                    if null {
                        Ok(None)
                    } else {
                        finite(key, g, v).map(Some)
                    }
                };
                match i {
                    0 => sg.karras = num(v)?,
                    1 | 4 => sg.flow_shift = num(v)?,
                    2 => sg.mu = num(v)?,
                    _ => {
                        sg.linear = !null
                            && choice(key, g, v, &["exponential", "linear"], "exponential, linear")?
                                == 1
                    }
                }
            }
            Opt::Guidance => {
                let i = find(key, &["type", "scale"]).ok_or(e(Problem::Unknown(GUIDANCE_NAMES)))?;
                let gg = self.guidance_group.get_or_insert((None, T::ONE));
                if i == 0 {
                    gg.0 = if null {
                        None
                    } else {
                        Some(choice(
                            key,
                            g,
                            v,
                            &["classifierfree", "classifier", "none"],
                            "classifier-free, classifier, none",
                        )?)
                    };
                } else {
                    gg.1 = if null {
                        T::ONE
                    } else {
                        T::c(finite(key, g, v)?)
                    };
                }
            }
            Opt::Thresholding => {
                let i = find_alias(
                    key,
                    &[
                        "ratio",
                        "maxval",
                        "dynamicthresholdingratio",
                        "samplemaxvalue",
                    ],
                )
                .ok_or(e(Problem::Unknown(THRESHOLDING_NAMES)))?;
                let d = Thresholding::<T>::default();
                let t = self.config.thresholding.get_or_insert(d);
                if i % 2 == 0 {
                    t.ratio = if null {
                        d.ratio
                    } else {
                        T::c(finite(key, g, v)?)
                    };
                } else {
                    t.max_val = if null {
                        d.max_val
                    } else {
                        T::c(finite(key, g, v)?)
                    };
                }
            }
            Opt::Adaptive => {
                let i = find(
                    key,
                    &[
                        "atol",
                        "rtol",
                        "theta",
                        "terr",
                        "hinit",
                        "maxnfe",
                        "reuserejectedeval",
                    ],
                )
                .ok_or(e(Problem::Unknown(ADAPTIVE_NAMES)))?;
                let d = AdaptiveOptions::<T>::default();
                let a = &mut self.config.adaptive;
                let f = |dv: T| -> Result<T, OptionError<'a>> {
                    if null {
                        Ok(dv)
                    } else {
                        finite(key, g, v).map(T::c)
                    }
                };
                match i {
                    0 => a.atol = f(d.atol)?,
                    1 => a.rtol = f(d.rtol)?,
                    2 => a.theta = f(d.theta)?,
                    3 => a.t_err = f(d.t_err)?,
                    4 => a.h_init = f(d.h_init)?,
                    5 => {
                        a.max_nfe = if null {
                            d.max_nfe
                        } else {
                            integer(key, g, v, MAX_ADAPTIVE_NFE)?
                        }
                    }
                    _ => {
                        a.reuse_rejected_eval = if null {
                            d.reuse_rejected_eval
                        } else {
                            boolean(key, g, v)?
                        }
                    }
                }
            }
            _ => {
                return Err(OptionError {
                    group: None,
                    key: group,
                    problem: Problem::Must("a value, not an object"),
                })
            }
        }
        Ok(())
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
                        problem: Problem::Must("a name, a list of times, or an object with karras (rho, e.g. 7), flow_shift or mu"),
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

/// Each option, in the order of [`CANONICAL`].
#[derive(Clone, Copy)]
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
}

/// Every name and alias (lower case, no `_`), beside the option it names in
/// [`CANONICAL_OPTION`].
const CANONICAL: [&str; 24] = [
    "algorithm",
    "algorithmtype",
    "method",
    "order",
    "solverorder",
    "steps",
    "numinferencesteps",
    "spacing",
    "skiptype",
    "usekarrassigmas",
    "tstart",
    "tend",
    "lowerorderfinal",
    "denoisetozero",
    "solvertype",
    "prediction",
    "predictiontype",
    "modeltype",
    "guidance",
    "thresholding",
    "adaptive",
    "multistepvariant",
    "batch",
    "direction",
];

const CANONICAL_OPTION: [Opt; 24] = [
    Opt::Algorithm,
    Opt::Algorithm,
    Opt::Method,
    Opt::Order,
    Opt::Order,
    Opt::Steps,
    Opt::Steps,
    Opt::Spacing,
    Opt::Spacing,
    Opt::UseKarras,
    Opt::TStart,
    Opt::TEnd,
    Opt::LowerOrderFinal,
    Opt::DenoiseToZero,
    Opt::SolverType,
    Opt::Prediction,
    Opt::Prediction,
    Opt::Prediction,
    Opt::Guidance,
    Opt::Thresholding,
    Opt::Adaptive,
    Opt::MultistepVariant,
    Opt::Batch,
    Opt::Direction,
];

fn find_alias(name: &str, names: &[&str]) -> Option<usize> {
    find(name, names)
}

fn choice<'a, T>(
    key: &'a str,
    group: Option<&'a str>,
    v: Value<'a, '_, T>,
    names: &[&str],
    expected: &'static str,
) -> Result<usize, OptionError<'a>> {
    let problem = match v {
        Value::Str(s) => match find(s, names) {
            Some(i) => return Ok(i),
            None => Problem::Choice { got: s, expected },
        },
        _ => Problem::Must("a string"),
    };
    Err(OptionError {
        group,
        key,
        problem,
    })
}

fn finite<'a, T>(
    key: &'a str,
    group: Option<&'a str>,
    v: Value<'a, '_, T>,
) -> Result<f64, OptionError<'a>> {
    match v {
        Value::Number(x) if x.is_finite() => Ok(x),
        _ => Err(OptionError {
            group,
            key,
            problem: Problem::Must("a finite number"),
        }),
    }
}

fn integer<'a, T>(
    key: &'a str,
    group: Option<&'a str>,
    v: Value<'a, '_, T>,
    max: usize,
) -> Result<usize, OptionError<'a>> {
    let x = finite(key, group, v)?;
    // `max` is far below 2^53 (exact in f64); the comparison rejects negatives and fractions.
    if x >= 0.0 && x <= max as f64 && x as usize as f64 == x {
        Ok(x as usize)
    } else {
        Err(OptionError {
            group,
            key,
            problem: Problem::Integer { got: x, max },
        })
    }
}

fn boolean<'a, T>(
    key: &'a str,
    group: Option<&'a str>,
    v: Value<'a, '_, T>,
) -> Result<bool, OptionError<'a>> {
    match v {
        Value::Bool(b) => Ok(b),
        _ => Err(OptionError {
            group,
            key,
            problem: Problem::Must("a boolean"),
        }),
    }
}

fn time<'a, T: Real>(key: &'a str, v: Value<'a, '_, T>) -> Result<Option<T>, OptionError<'a>> {
    match v {
        Value::Null => Ok(None),
        v => finite(key, None, v).map(|x| Some(T::c(x))),
    }
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
mod tests {
    use super::*;
    use crate::schedule::{Betas, ScheduleTable};
    use crate::Sampler;

    type V<'a> = Value<'a, 'a, f32>;

    fn opts(pairs: &[(&'static str, V<'static>)]) -> Result<Config<'static, f32>, String> {
        let mut o = Options::<f32>::new();
        for (k, v) in pairs {
            o.set(k, *v).map_err(|e| e.to_string())?;
        }
        o.config().map_err(|e| e.to_string())
    }

    #[test]
    fn names_ignore_case_underscores_and_dashes() {
        assert!(same_name("lowerOrderFinal", "lowerorderfinal"));
        assert!(same_name("lower-order_final", "lowerorderfinal"));
        assert!(same_name("DPM-Solver++", "dpmsolver++"));
        assert!(!same_name("dpmsolver", "dpmsolver++"));
        assert!(!same_name("step", "steps"));
        let a = opts(&[
            ("solver_order", V::Number(3.0)),
            ("Spacing", V::Str("LOG_SNR")),
        ])
        .unwrap();
        assert_eq!((a.order, a.spacing), (3, Spacing::LogSnr));
        let b = opts(&[("order", V::Number(3.0)), ("skip_type", V::Str("logSNR"))]).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn groups_resolve_with_their_entries() {
        let k = opts(&[("spacing", V::Group), ("spacing.karras", V::Number(5.0))]).unwrap();
        assert_eq!(k.spacing, Spacing::Karras { rho: 5.0 });
        assert_eq!(
            opts(&[("spacing", V::Str("karras"))]).unwrap().spacing,
            Spacing::Karras { rho: 7.0 }
        );
        assert_eq!(
            opts(&[("use_karras_sigmas", V::Bool(true))])
                .unwrap()
                .spacing,
            Spacing::Karras { rho: 7.0 }
        );
        let g = opts(&[
            ("guidance.type", V::Str("Classifier-Free")),
            ("guidance.scale", V::Number(3.0)),
        ])
        .unwrap();
        assert_eq!(g.guidance, Guidance::ClassifierFree { scale: 3.0 });
        let t = opts(&[
            ("thresholding", V::Group),
            ("thresholding.maxVal", V::Number(2.0)),
        ])
        .unwrap();
        assert_eq!(
            t.thresholding,
            Some(Thresholding {
                ratio: 0.995,
                max_val: 2.0
            })
        );
        assert_eq!(
            opts(&[("thresholding", V::Bool(true)), ("thresholding", V::Null)])
                .unwrap()
                .thresholding,
            None
        );
        let a = opts(&[("adaptive.maxNfe", V::Number(50.0))]).unwrap();
        assert_eq!(a.adaptive.max_nfe, 50);
        static TIMES: [f32; 3] = [1.0, 0.5, 0.001];
        assert_eq!(
            opts(&[("spacing", V::Numbers(&TIMES))]).unwrap().spacing,
            Spacing::Custom(&TIMES)
        );
    }

    #[test]
    fn errors_name_the_option() {
        let e = |p: &[(&'static str, V<'static>)]| opts(p).unwrap_err();
        assert_eq!(
            e(&[("method", V::Str("rk4"))]),
            "method is 'rk4', expected one of: multistep, singlestep, singlestep_fixed, adaptive"
        );
        assert_eq!(
            e(&[("steps", V::Number(2.5))]),
            "steps must be an integer in 0..=1048576, got 2.5"
        );
        assert_eq!(
            e(&[("steps", V::Str("ten"))]),
            "steps must be a finite number"
        );
        assert!(e(&[("stpes", V::Number(1.0))])
            .starts_with("unknown key 'stpes' (expected one of: algorithm, method,"));
        assert!(e(&[("spacing.rho", V::Number(1.0))])
            .starts_with("unknown key 'spacing.rho' (expected one of: karras,"));
        assert_eq!(e(&[("spacing", V::Group)]), "spacing must be a name, a list of times, or an object with karras (rho, e.g. 7), flow_shift or mu");
        assert_eq!(
            e(&[("guidance.scale", V::Number(2.0))]),
            "guidance.type must be given ('classifier-free' or 'classifier')"
        );
        assert_eq!(
            e(&[("lower_order_final", V::Number(1.0))]),
            "lower_order_final must be a boolean"
        );
    }

    #[test]
    fn profiles() {
        let r = Options::<f32>::new().config().unwrap();
        assert_eq!(r, Config::default());
        let g = Options::<f32>::generate().config().unwrap();
        assert_eq!((g.steps, g.spacing), (10, Spacing::LogSnr));
        assert_eq!(
            Config {
                steps: 20,
                spacing: Spacing::TimeUniform,
                ..g
            },
            r
        );
    }

    /// `expected_nfe` against the sampler's count at the end of a run, for every method.
    #[test]
    fn expected_nfe_is_the_sampler_count() {
        let mut table = ScheduleTable::<f32, 1000>::new();
        let schedule = table
            .from_betas(&Betas::Linear {
                start: 1e-4,
                end: 0.02,
                n: 1000,
            })
            .unwrap();
        let mut runs = 0;
        for method in ["multistep", "singlestep", "singlestep_fixed"] {
            for order in 1..=3 {
                for steps in [3usize, 7, 10] {
                    for (variant, dtz) in [("reference", false), ("full_order", true)] {
                        let cfg = opts(&[
                            ("method", V::Str(method)),
                            ("order", V::Number(order as f64)),
                            ("steps", V::Number(steps as f64)),
                            ("multistep_variant", V::Str(variant)),
                            ("denoise_to_zero", V::Bool(dtz)),
                        ])
                        .unwrap();
                        let mut x = [0.5f32, -1.0];
                        let mut scratch = [0.0f32; 16];
                        let Ok(mut s) = Sampler::new(schedule, cfg, &mut x, &mut scratch) else {
                            continue;
                        };
                        while let Some(r) = s.ask() {
                            let out = [0.1 * r.x[0], 0.1 * r.x[1]];
                            s.tell(&out).unwrap();
                        }
                        assert_eq!(
                            Some(s.nfe()),
                            cfg.expected_nfe(),
                            "{method} {order} {steps} {variant}"
                        );
                        runs += 1;
                    }
                }
            }
        }
        // Only singlestep-fixed with fewer steps than its order is refused.
        assert!(runs >= 50, "{runs} runs");
        assert_eq!(
            opts(&[("method", V::Str("adaptive"))])
                .unwrap()
                .expected_nfe(),
            None
        );
    }
}
