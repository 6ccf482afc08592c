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
//! | `steps` | `num_inference_steps` | NFE, 0..=[`MAX_STEPS`](crate::sampler::MAX_STEPS) |
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
//!
//! Files: the names and aliases (`names.rs`), the check of one value against what its option
//! takes (`parse.rs`), the setting of one option (`set.rs`), [`OptionError`] and its message
//! writer (`error.rs`); this file holds [`Options`], [`Value`] and the defaults.

mod error;
mod names;
mod parse;
mod set;

pub use error::{OptionError, Problem};
pub use names::{same_name, MAX_ADAPTIVE_NFE, NAMES};

use crate::flow::TimeShift;
use crate::guidance::Guidance;
use crate::math::Real;
use crate::sampler::{Config, Method, MultistepVariant};
use crate::spacing::Spacing;

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
