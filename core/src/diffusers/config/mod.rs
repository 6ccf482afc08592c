//! A diffusers `scheduler_config.json`, key by key: [`SchedulerConfig::set`] takes each key
//! with its JSON value under diffusers' own name and applies it to the matching config type,
//! so a binding (JavaScript objects, serde JSON, a hand-written table on a device) needs no
//! knowledge of the options beyond turning its values into [`ConfigValue`]s.
//!
//! As diffusers' `from_config` does, keys the chosen class does not take are ignored (reported
//! as [`KeyUse::Ignored`], so a caller can list them): a `PNDMScheduler` config can be loaded
//! into `DPMSolverMultistepScheduler` for its training schedule. Options these ports do not
//! implement (`use_exponential_sigmas`, `use_lu_lambdas`, `use_beta_sigmas`, ...) are
//! accepted only at their inactive defaults, so a config never silently runs a different
//! solver than diffusers would. `null` sets a key to its default (JSON has no `-inf`, the
//! default of `lambda_min_clipped`).
//!
//! ```
//! use dpm_solver::diffusers::{ConfigValue as V, KeyUse, Scheduler, SchedulerClass, SchedulerConfig};
//!
//! // A Stable Diffusion scheduler_config.json (a PNDMScheduler's), loaded into UniPC.
//! let json = [
//!     ("_class_name", V::Str("PNDMScheduler")),
//!     ("beta_schedule", V::Str("scaled_linear")),
//!     ("beta_start", V::Number(0.00085)),
//!     ("beta_end", V::Number(0.012)),
//!     ("skip_prk_steps", V::Bool(true)),
//!     ("steps_offset", V::Number(1.0)),
//!     ("trained_betas", V::Null),
//! ];
//! let class = SchedulerClass::from_name("UniPCMultistepScheduler").unwrap();
//! let mut cfg = SchedulerConfig::new(class);
//! let mut ignored = 0;
//! for (key, value) in json {
//!     if cfg.set(key, value)? == KeyUse::Ignored {
//!         ignored += 1; // _class_name, skip_prk_steps: not UniPC options
//!     }
//! }
//! assert_eq!(ignored, 2);
//! assert!(cfg.set("use_lu_lambdas", V::Bool(true)).is_err()); // not implemented here
//!
//! let (mut table, mut x, mut scratch) = ([0f32; 1000], [0.3f32; 8], [0f32; 32]);
//! assert!(scratch.len() >= cfg.scratch_len(x.len()));
//! let mut s = Scheduler::<f32, 64>::new(&cfg, 10, &mut table, &mut x, &mut scratch)?;
//! while let Some(req) = s.ask() {
//!     let eps: Vec<f32> = req.x.iter().map(|v| 0.1 * v).collect(); // your UNet here
//!     s.tell(&eps)?;
//! }
//! assert_eq!(s.timesteps()[0], 999);
//! # Ok::<(), dpm_solver::Error>(())
//! ```
//!
//! The reading of one value as what its key takes is in `values.rs`, the flow-matching keys
//! in `flow_keys.rs`.

mod flow_keys;
#[cfg(feature = "alloc")]
mod owned;
mod values;

use super::{
    BetaSchedule, DDIMConfig, DPMSolverMultistepConfig, DPMSolverSinglestepConfig,
    FlowMatchEulerDiscreteConfig, PredictionType, TrainConfig, UniPCMultistepConfig,
    UniPCSolverType,
};
use crate::error::{Error, Result};
use flow_keys::set_flow_key;
#[cfg(feature = "alloc")]
pub use owned::OwnedSchedulerConfig;
use values::{
    algorithm_type, beta_schedule, boolean, count, dpm_solver_type, final_sigmas_type, indices,
    integer, number, prediction_type, timestep_spacing, unipc_solver_type,
};

/// One value of a scheduler config, as JSON gives it: strings are read during
/// [`SchedulerConfig::set`] (lifetime `'s`), the lists are borrowed by the config (`'b`;
/// diffusers holds `trained_betas` in float32).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ConfigValue<'s, 'b> {
    /// `null`: the key's default.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// A number (integers included).
    Number(f64),
    /// A string.
    Str(&'s str),
    /// A list of numbers for `trained_betas`.
    Floats(&'b [f32]),
    /// A list of step indices for `disable_corrector`.
    Indices(&'b [usize]),
    /// Any other list or object: accepted for keys the class ignores, an error for its own.
    Other,
}

/// The scheduler classes of this layer (diffusers' `_class_name`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SchedulerClass {
    /// `DPMSolverMultistepScheduler`.
    DPMSolverMultistep,
    /// `DPMSolverSinglestepScheduler`.
    DPMSolverSinglestep,
    /// `UniPCMultistepScheduler`.
    UniPCMultistep,
    /// `DDIMScheduler` (eta 0).
    DDIM,
    /// `FlowMatchEulerDiscreteScheduler` (flow-matching models).
    FlowMatchEulerDiscrete,
}

impl SchedulerClass {
    /// Every class, in the order of [`NAMES`](Self::NAMES).
    pub const ALL: [SchedulerClass; 5] = [
        SchedulerClass::DPMSolverMultistep,
        SchedulerClass::DPMSolverSinglestep,
        SchedulerClass::UniPCMultistep,
        SchedulerClass::DDIM,
        SchedulerClass::FlowMatchEulerDiscrete,
    ];
    /// diffusers' class names, as in `_class_name`.
    pub const NAMES: [&'static str; 5] = [
        "DPMSolverMultistepScheduler",
        "DPMSolverSinglestepScheduler",
        "UniPCMultistepScheduler",
        "DDIMScheduler",
        "FlowMatchEulerDiscreteScheduler",
    ];

    /// The class of a diffusers class name, if this layer has it.
    pub fn from_name(name: &str) -> Option<Self> {
        let i = Self::NAMES.iter().position(|n| *n == name)?;
        Some(Self::ALL[i])
    }

    /// diffusers' class name.
    pub fn name(self) -> &'static str {
        Self::NAMES[self as usize]
    }
}

/// What [`SchedulerConfig::set`] did with a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyUse {
    /// The key is an option of this class and was applied.
    Applied,
    /// Not an option of this class (another scheduler's key, `_class_name`, ...): ignored,
    /// as diffusers' `from_config` ignores it.
    Ignored,
}

/// The configuration of one of the four schedulers.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum SchedulerConfig<'b> {
    /// `DPMSolverMultistepScheduler`.
    DPMSolverMultistep(DPMSolverMultistepConfig<'b>),
    /// `DPMSolverSinglestepScheduler`.
    DPMSolverSinglestep(DPMSolverSinglestepConfig<'b>),
    /// `UniPCMultistepScheduler`.
    UniPCMultistep(UniPCMultistepConfig<'b>),
    /// `DDIMScheduler`.
    DDIM(DDIMConfig<'b>),
    /// `FlowMatchEulerDiscreteScheduler`.
    FlowMatchEulerDiscrete(FlowMatchEulerDiscreteConfig<'b>),
}

/// `Some(&mut config.$name)` for the listed variants, `None` for the others.
macro_rules! field {
    ($cfg:expr, $name:ident, [$($v:ident),*]) => {
        match $cfg {
            $(SchedulerConfig::$v(c) => Some(&mut c.$name),)*
            #[allow(unreachable_patterns)]
            _ => None,
        }
    };
}

/// Options diffusers has and these ports do not implement: accepted at the value given here
/// (or `null`), refused otherwise. DDIM has none of them (ignored there, as diffusers would).
const INACTIVE: &[(&str, ConfigValue<'static, 'static>)] = &[
    ("use_exponential_sigmas", ConfigValue::Bool(false)),
    ("use_beta_sigmas", ConfigValue::Bool(false)),
    ("use_lu_lambdas", ConfigValue::Bool(false)),
    ("variance_type", ConfigValue::Null),
    ("solver_p", ConfigValue::Null),
];

impl<'b> SchedulerConfig<'b> {
    /// diffusers' defaults for `class`.
    pub fn new(class: SchedulerClass) -> Self {
        match class {
            SchedulerClass::DPMSolverMultistep => {
                SchedulerConfig::DPMSolverMultistep(Default::default())
            }
            SchedulerClass::DPMSolverSinglestep => {
                SchedulerConfig::DPMSolverSinglestep(Default::default())
            }
            SchedulerClass::UniPCMultistep => SchedulerConfig::UniPCMultistep(Default::default()),
            SchedulerClass::DDIM => SchedulerConfig::DDIM(Default::default()),
            SchedulerClass::FlowMatchEulerDiscrete => {
                SchedulerConfig::FlowMatchEulerDiscrete(Default::default())
            }
        }
    }

    /// The class this configures.
    pub fn class(&self) -> SchedulerClass {
        match self {
            SchedulerConfig::DPMSolverMultistep(_) => SchedulerClass::DPMSolverMultistep,
            SchedulerConfig::DPMSolverSinglestep(_) => SchedulerClass::DPMSolverSinglestep,
            SchedulerConfig::UniPCMultistep(_) => SchedulerClass::UniPCMultistep,
            SchedulerConfig::DDIM(_) => SchedulerClass::DDIM,
            SchedulerConfig::FlowMatchEulerDiscrete(_) => SchedulerClass::FlowMatchEulerDiscrete,
        }
    }

    /// The training-schedule part (`num_train_timesteps`, betas).
    pub fn train(&self) -> &TrainConfig<'b> {
        match self {
            SchedulerConfig::DPMSolverMultistep(c) => &c.train,
            SchedulerConfig::DPMSolverSinglestep(c) => &c.train,
            SchedulerConfig::UniPCMultistep(c) => &c.train,
            SchedulerConfig::DDIM(c) => &c.train,
            SchedulerConfig::FlowMatchEulerDiscrete(c) => &c.train,
        }
    }

    /// The training-schedule part, to set it from a model's own metadata.
    pub fn train_mut(&mut self) -> &mut TrainConfig<'b> {
        match self {
            SchedulerConfig::DPMSolverMultistep(c) => &mut c.train,
            SchedulerConfig::DPMSolverSinglestep(c) => &mut c.train,
            SchedulerConfig::UniPCMultistep(c) => &mut c.train,
            SchedulerConfig::DDIM(c) => &mut c.train,
            SchedulerConfig::FlowMatchEulerDiscrete(c) => &mut c.train,
        }
    }

    /// What the network predicts.
    pub fn prediction_type(&self) -> PredictionType {
        match self {
            SchedulerConfig::DPMSolverMultistep(c) => c.prediction_type,
            SchedulerConfig::DPMSolverSinglestep(c) => c.prediction_type,
            SchedulerConfig::UniPCMultistep(c) => c.prediction_type,
            SchedulerConfig::DDIM(c) => c.prediction_type,
            SchedulerConfig::FlowMatchEulerDiscrete(_) => PredictionType::FlowPrediction,
        }
    }

    /// Whether the scheduler draws noise every step (`sde-dpmsolver`, `sde-dpmsolver++`).
    pub fn is_sde(&self) -> bool {
        match self {
            SchedulerConfig::DPMSolverMultistep(c) => c.algorithm_type.is_sde(),
            SchedulerConfig::DPMSolverSinglestep(c) => c.algorithm_type.is_sde(),
            SchedulerConfig::FlowMatchEulerDiscrete(c) => c.stochastic_sampling,
            _ => false,
        }
    }

    /// Sets the number of samples in `x` (not a diffusers key; rows for thresholding).
    pub fn set_batch(&mut self, batch: usize) {
        if let Some(b) = field!(
            self,
            batch,
            [
                DPMSolverMultistep,
                DPMSolverSinglestep,
                UniPCMultistep,
                DDIM
            ]
        ) {
            *b = batch;
        }
    }

    /// Scratch elements the scheduler needs for a sample of `n` elements.
    pub fn scratch_len(&self, n: usize) -> usize {
        match self {
            SchedulerConfig::DPMSolverMultistep(c) => c.scratch_len(n),
            SchedulerConfig::DPMSolverSinglestep(c) => c.scratch_len(n),
            SchedulerConfig::UniPCMultistep(c) => c.scratch_len(n),
            SchedulerConfig::DDIM(c) => c.scratch_len(n),
            SchedulerConfig::FlowMatchEulerDiscrete(c) => c.scratch_len(n),
        }
    }

    /// Whether the scheduler samples on flow sigmas (`use_flow_sigmas`, FlowMatchEuler): a
    /// flow-matching model's path `x = (1 - sigma) x_0 + sigma eps`.
    pub fn is_flow(&self) -> bool {
        match self {
            SchedulerConfig::DPMSolverMultistep(c) => c.flow.use_flow_sigmas,
            SchedulerConfig::DPMSolverSinglestep(c) => c.flow.use_flow_sigmas,
            SchedulerConfig::UniPCMultistep(c) => c.flow.use_flow_sigmas,
            SchedulerConfig::DDIM(_) => false,
            SchedulerConfig::FlowMatchEulerDiscrete(_) => true,
        }
    }

    /// `set_timesteps(mu=...)`: the dynamic-shifting exponent (not a config key; `None`: not
    /// passed). Ignored by DDIM.
    pub fn set_mu(&mut self, mu: Option<f64>) {
        match self {
            SchedulerConfig::DPMSolverMultistep(c) => c.flow.mu = mu,
            SchedulerConfig::DPMSolverSinglestep(c) => c.flow.mu = mu,
            SchedulerConfig::UniPCMultistep(c) => c.flow.mu = mu,
            SchedulerConfig::DDIM(_) => {}
            SchedulerConfig::FlowMatchEulerDiscrete(c) => c.mu = mu,
        }
    }

    /// [`scratch_len`](Self::scratch_len) for sizing an allocation: the solver order is
    /// checked first (the schedulers' own range) and the product may not overflow.
    pub fn checked_scratch_len(&self, n: usize) -> Result<usize> {
        let order_ok = match self {
            SchedulerConfig::DPMSolverMultistep(c) => (1..=3).contains(&c.solver_order),
            SchedulerConfig::DPMSolverSinglestep(c) => (1..=3).contains(&c.solver_order),
            SchedulerConfig::UniPCMultistep(c) => {
                (1..=super::UNIPC_MAX_ORDER).contains(&c.solver_order)
            }
            SchedulerConfig::DDIM(_) | SchedulerConfig::FlowMatchEulerDiscrete(_) => true,
        };
        if !order_ok {
            return Err(Error::InvalidConfig(
                "solver_order must be 1, 2 or 3 (UniPC: 1..=4)",
            ));
        }
        match self.scratch_len(n) {
            usize::MAX => Err(Error::InvalidConfig(
                "the sample is too large for the scratch this scheduler needs",
            )),
            len => Ok(len),
        }
    }

    /// Applies one config key under its diffusers name. Errors name what was expected; the
    /// caller knows the key and the value and should quote them.
    pub fn set(&mut self, key: &str, value: ConfigValue<'_, 'b>) -> Result<KeyUse> {
        use ConfigValue::Null;
        let d = SchedulerConfig::new(self.class());
        // Applies `$parse(value)` (or the class default for `null`) to `$name` of the listed
        // variants; other variants ignore the key.
        macro_rules! put {
            ($name:ident, [$($v:ident),*], $parse:expr) => {{
                // One match over the class for the field and its default (`d` is the same class).
                let pair = match (&mut *self, &d) {
                    $((SchedulerConfig::$v(c), SchedulerConfig::$v(def)) => {
                        Some((&mut c.$name, def.$name))
                    })*
                    #[allow(unreachable_patterns)]
                    _ => None,
                };
                return match pair {
                    Some((f, def)) => {
                        *f = if value == Null { def } else { $parse(value)? };
                        Ok(KeyUse::Applied)
                    }
                    None => Ok(KeyUse::Ignored),
                };
            }};
        }
        if let Some(r) = set_flow_key(self, key, value) {
            return r;
        }
        let train_default = *d.train();
        let not_ddim = self.class() != SchedulerClass::DDIM;
        if self.class() == SchedulerClass::FlowMatchEulerDiscrete && key != "num_train_timesteps" {
            // FlowMatchEuler's own keys are in `set_flow_key`; it has no betas.
            return Ok(KeyUse::Ignored);
        }
        match key {
            "num_train_timesteps" => {
                self.train_mut().num_train_timesteps = match value {
                    Null => train_default.num_train_timesteps,
                    v => count(v)?,
                };
            }
            "beta_start" => {
                self.train_mut().beta_start = match value {
                    Null => train_default.beta_start,
                    v => number(v)?,
                };
            }
            "beta_end" => {
                self.train_mut().beta_end = match value {
                    Null => train_default.beta_end,
                    v => number(v)?,
                };
            }
            "beta_schedule" => {
                let s = match value {
                    Null => train_default.beta_schedule,
                    v => beta_schedule(v)?,
                };
                // diffusers uses `trained_betas` whenever given, whatever `beta_schedule` says.
                let t = self.train_mut();
                if !matches!(t.beta_schedule, BetaSchedule::Trained(_)) {
                    t.beta_schedule = s;
                }
            }
            "trained_betas" => {
                let t = self.train_mut();
                match value {
                    Null => {
                        if matches!(t.beta_schedule, BetaSchedule::Trained(_)) {
                            t.beta_schedule = train_default.beta_schedule;
                        }
                    }
                    ConfigValue::Floats(b) => t.beta_schedule = BetaSchedule::Trained(b),
                    _ => return Err(Error::InvalidConfig("expected a list of numbers")),
                }
            }
            "rescale_betas_zero_snr" => {
                if self.class() == SchedulerClass::DPMSolverSinglestep {
                    return Ok(KeyUse::Ignored);
                }
                self.train_mut().rescale_betas_zero_snr = match value {
                    Null => false,
                    v => boolean(v)?,
                };
            }
            "solver_order" => put!(
                solver_order,
                [DPMSolverMultistep, DPMSolverSinglestep, UniPCMultistep],
                count
            ),
            "prediction_type" => put!(
                prediction_type,
                [
                    DPMSolverMultistep,
                    DPMSolverSinglestep,
                    UniPCMultistep,
                    DDIM
                ],
                prediction_type
            ),
            "thresholding" => put!(
                thresholding,
                [
                    DPMSolverMultistep,
                    DPMSolverSinglestep,
                    UniPCMultistep,
                    DDIM
                ],
                boolean
            ),
            "dynamic_thresholding_ratio" => put!(
                dynamic_thresholding_ratio,
                [
                    DPMSolverMultistep,
                    DPMSolverSinglestep,
                    UniPCMultistep,
                    DDIM
                ],
                number
            ),
            "sample_max_value" => put!(
                sample_max_value,
                [
                    DPMSolverMultistep,
                    DPMSolverSinglestep,
                    UniPCMultistep,
                    DDIM
                ],
                number
            ),
            "algorithm_type" => put!(
                algorithm_type,
                [DPMSolverMultistep, DPMSolverSinglestep],
                algorithm_type
            ),
            "solver_type" => {
                if let SchedulerConfig::UniPCMultistep(c) = self {
                    c.solver_type = match value {
                        Null => UniPCSolverType::default(),
                        v => unipc_solver_type(v)?,
                    };
                    return Ok(KeyUse::Applied);
                }
                put!(
                    solver_type,
                    [DPMSolverMultistep, DPMSolverSinglestep],
                    dpm_solver_type
                )
            }
            "lower_order_final" => put!(
                lower_order_final,
                [DPMSolverMultistep, DPMSolverSinglestep, UniPCMultistep],
                boolean
            ),
            "euler_at_final" => put!(euler_at_final, [DPMSolverMultistep], boolean),
            "use_karras_sigmas" => put!(
                use_karras_sigmas,
                [DPMSolverMultistep, DPMSolverSinglestep, UniPCMultistep],
                boolean
            ),
            "final_sigmas_type" => put!(
                final_sigmas_type,
                [DPMSolverMultistep, DPMSolverSinglestep, UniPCMultistep],
                final_sigmas_type
            ),
            "lambda_min_clipped" => put!(
                lambda_min_clipped,
                [DPMSolverMultistep, DPMSolverSinglestep],
                number
            ),
            "timestep_spacing" => put!(
                timestep_spacing,
                [DPMSolverMultistep, UniPCMultistep, DDIM],
                timestep_spacing
            ),
            "steps_offset" => put!(
                steps_offset,
                [DPMSolverMultistep, UniPCMultistep, DDIM],
                integer
            ),
            "predict_x0" => put!(predict_x0, [UniPCMultistep], boolean),
            "disable_corrector" => put!(disable_corrector, [UniPCMultistep], indices),
            "clip_sample" => put!(clip_sample, [DDIM], boolean),
            "clip_sample_range" => put!(clip_sample_range, [DDIM], number),
            "set_alpha_to_one" => put!(set_alpha_to_one, [DDIM], boolean),
            // A `step()` argument in diffusers, not a config key; only its deterministic
            // value is implemented, so a config that sets another one is refused.
            "eta" if !not_ddim => {
                if !(value == Null || value == ConfigValue::Number(0.0)) {
                    return Err(Error::InvalidConfig(
                        "only eta = 0 (deterministic DDIM) is implemented",
                    ));
                }
            }
            _ => {
                let inactive = INACTIVE.iter().find(|(k, _)| *k == key);
                match inactive {
                    Some((_, ok)) if not_ddim => {
                        if !(value == Null || value == *ok) {
                            return Err(Error::InvalidConfig(
                                "this diffusers option is not implemented here: only its \
                                 inactive default is accepted",
                            ));
                        }
                    }
                    _ => return Ok(KeyUse::Ignored),
                }
            }
        }
        Ok(KeyUse::Applied)
    }
}
