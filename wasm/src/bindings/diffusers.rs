//! The `scheduler` option of `Sampler`: one of the core's diffusers-compatible schedulers,
//! configured from a diffusers `scheduler_config.json` object passed as-is. This module only
//! turns JS values into the core's `ConfigValue`s and keeps the buffers; the key names, their
//! defaults and the maths are the core's (`dpm_solver::diffusers`).

use super::error::{opt_err, Error, Result};
use super::js::{numbers, Opts};
use super::leaked::Leaked;
use super::limits;
use crate::pipeline::solver::{DiffusersRun, Pending, MAX_DIFFUSERS_STEPS as MAX_STEPS};
use crate::pipeline::PipelineError;
use dpm_solver::diffusers::{ConfigValue, KeyUse, PredictionType, SchedulerClass, SchedulerConfig};
use dpm_solver::{Prediction, StepReport};
use js_sys::{Array, Object};
use wasm_bindgen::{JsCast, JsValue};

/// The keys `Sampler` options may hold together with `scheduler`; the DPM-Solver options
/// (`method`, `order`, ...) have their diffusers names inside the scheduler config instead.
pub(crate) const KEYS: &[&str] = &[
    "scheduler",
    "schedulerConfig",
    "steps",
    "batch",
    "guidance",
    "seed",
    "mu",
];

/// A pending evaluation of either solver: the pipeline's request, its index, and diffusers'
/// timestep (`None` for the DPM-Solver sampler's requests; a float for FlowMatchEuler).
pub(crate) struct Ask<'s> {
    pub req: Pending<'s>,
    pub timestep: Option<f64>,
    pub index: usize,
}

/// A diffusers scheduler run (the pipeline's, shared) over buffers owned by the `Sampler`.
pub(crate) struct DiffusersSampler {
    run: DiffusersRun<'static>,
    class: SchedulerClass,
    prediction: Prediction,
    cfg_scale: Option<f32>,
    ignored: Vec<String>,
    /// The configuration and step count, for [`plan`](Self::plan).
    config: SchedulerConfig<'static>,
    steps: usize,
}

/// `scheduler` (a class name or a whole config with `_class_name`) and `schedulerConfig`.
fn class_and_config(o: &Opts) -> Result<(SchedulerClass, Option<JsValue>)> {
    let Some(mut v) = o.get("scheduler")? else {
        return opt_err("options.scheduler is required");
    };
    let mut cfg = o.get("schedulerConfig")?;
    // A scheduler_config.json's text, as Python wrote it (-Infinity, NaN): the same object.
    if let Some(text) = v.as_string().filter(|s| s.trim_start().starts_with('{')) {
        v = super::load::config_object_from_text(&text)?;
    }
    if let Some(text) = cfg.as_ref().and_then(|c| c.as_string()) {
        cfg = Some(super::load::config_object_from_text(&text)?);
    }
    let name = if let Some(s) = v.as_string() {
        s
    } else if v.is_object() && !Array::is_array(&v) {
        if cfg.is_some() {
            return opt_err(
                "give the config either as options.scheduler or as options.schedulerConfig, not both",
            );
        }
        let n = js_sys::Reflect::get(&v, &JsValue::from_str("_class_name")).unwrap_or_default();
        match n.as_string() {
            Some(n) => n,
            None => return opt_err(
                "options.scheduler is a config object without '_class_name': pass the class as \
                 options.scheduler and the config as options.schedulerConfig",
            ),
        }
    } else {
        return opt_err(
            "options.scheduler must be a diffusers class name or a scheduler_config.json object",
        );
    };
    let Some(class) = SchedulerClass::from_name(&name) else {
        return opt_err(format!(
            "scheduler '{name}' is not available (expected one of: {}); to use another class's \
             config, name one of these as options.scheduler and pass the config as \
             options.schedulerConfig",
            crate::text::join(&SchedulerClass::NAMES, ", ")
        ));
    };
    let cfg = if v.is_object() { Some(v) } else { cfg };
    Ok((class, cfg))
}

/// Applies every key of a config object through `SchedulerConfig::set`.
fn apply(
    cfg: &mut SchedulerConfig<'static>,
    obj: &JsValue,
    bufs: &mut Leaked,
) -> Result<Vec<String>> {
    if !obj.is_object() || Array::is_array(obj) {
        return opt_err("the scheduler config must be an object (a parsed scheduler_config.json)");
    }
    let mut ignored = Vec::new();
    let entries = Object::entries(obj.unchecked_ref::<Object>());
    for e in entries.iter() {
        let e: Array = e.unchecked_into();
        let key = e.get(0).as_string().unwrap_or_default();
        let v = e.get(1);
        let what = format!("scheduler config '{key}'");
        let s;
        let value = if v.is_null() || v.is_undefined() {
            ConfigValue::Null
        } else if let Some(b) = v.as_bool() {
            ConfigValue::Bool(b)
        } else if let Some(x) = v.as_f64() {
            ConfigValue::Number(x)
        } else if let Some(t) = v.as_string() {
            s = t;
            ConfigValue::Str(&s)
        } else if key == "trained_betas" {
            ConfigValue::Floats(bufs.keep(numbers(&v, &what)?))
        } else if key == "disable_corrector" {
            let list = numbers(&v, &what)?;
            if let Some(bad) = list.iter().find(|i| !(**i >= 0.0 && i.fract() == 0.0)) {
                return opt_err(format!(
                    "{what} holds {}: expected step indices",
                    crate::decimal::f32_text(*bad)
                ));
            }
            let idx: Vec<usize> = list.iter().map(|&i| i as usize).collect();
            ConfigValue::Indices(bufs.keep_indices(idx))
        } else {
            ConfigValue::Other
        };
        match cfg.set(&key, value) {
            Ok(KeyUse::Applied) => {}
            Ok(KeyUse::Ignored) => ignored.push(key),
            Err(dpm_solver::Error::InvalidConfig(m)) => {
                return opt_err(format!("{what} = {}: {m}", show(&v)))
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(ignored)
}

/// A short rendering of a JS value for messages.
fn show(v: &JsValue) -> String {
    match js_sys::JSON::stringify(v) {
        Ok(s) => {
            // Longer than 60 characters: the first 57 and "..." (cut at a character boundary
            // found by one walk, instead of collecting the characters into a new string).
            let mut s: String = s.into();
            let (mut n, mut cut) = (0, s.len());
            for (i, _) in s.char_indices() {
                if n == 57 {
                    cut = i;
                }
                n += 1;
            }
            if n > 60 {
                s.truncate(cut);
                s.push_str("...");
            }
            s
        }
        Err(_) => format!("{v:?}"),
    }
}

/// The scheduler config of `options.scheduler` / `options.schedulerConfig` (`None` without
/// `scheduler`), with the keys its class ignored; lists it borrows live in `bufs`.
pub(crate) fn scheduler_config(
    o: &Opts,
    bufs: &mut Leaked,
) -> Result<Option<(SchedulerConfig<'static>, Vec<String>)>> {
    if o.get("scheduler")?.is_none() {
        return Ok(None);
    }
    let (class, obj) = class_and_config(o)?;
    let mut cfg = SchedulerConfig::new(class);
    let ignored = match &obj {
        Some(obj) => apply(&mut cfg, obj, bufs)?,
        None => Vec::new(),
    };
    Ok(Some((cfg, ignored)))
}

impl DiffusersSampler {
    /// Builds the scheduler from validated `Sampler` options and `x_T`.
    pub fn new(o: &Opts, x_t: &[f32], batch: usize, bufs: &mut Leaked) -> Result<Self> {
        let Some((mut cfg, ignored)) = scheduler_config(o, bufs)? else {
            return opt_err("options.scheduler is required");
        };
        let class = cfg.class();
        cfg.set_batch(batch);
        if let Some(mu) = o.num("mu")? {
            // set_timesteps(mu=...): dynamic shifting of flow-matching schedulers.
            cfg.set_mu(Some(mu));
        }
        let steps = o.uint("steps", MAX_STEPS)?.unwrap_or(20);
        let cfg_scale =
            match o.get("guidance")? {
                None => None,
                Some(g) => {
                    let go = Opts::new(&g, "guidance", &["type", "scale"])?;
                    match go.pick("type", &["classifier-free", "none"])? {
                        Some(0) => Some(go.num("scale")?.unwrap_or(1.0) as f32),
                        Some(_) => None,
                        None => return opt_err(
                            "guidance.type is required ('classifier-free'; classifier guidance \
                             needs the DPM-Solver options, not a diffusers scheduler)",
                        ),
                    }
                }
            };
        let seed = limits::safe_integer(o.num("seed")?.unwrap_or(0.0), "options.seed")?;
        if batch == 0 || !x_t.len().is_multiple_of(batch) {
            return opt_err(format!(
                "options.batch = {batch} does not divide xT's length {}",
                x_t.len()
            ));
        }
        let n_train = cfg.train().num_train_timesteps;
        if let dpm_solver::diffusers::BetaSchedule::Trained(b) = cfg.train().beta_schedule {
            if b.len() != n_train {
                return opt_err(format!(
                    "scheduler config trained_betas has {} values but num_train_timesteps is \
                     {n_train}",
                    b.len()
                ));
            }
        }
        if !(2..=1 << 24).contains(&n_train) {
            return Err(dpm_solver::Error::InvalidConfig(
                "num_train_timesteps must lie in [2, 2^24]",
            )
            .into());
        }
        let need = cfg.checked_scratch_len(x_t.len())?;
        super::limits::check_bytes(&[n_train, x_t.len(), need], "new Sampler")?;
        let table = bufs.keep(vec![0.0; n_train]);
        let scratch = bufs.keep(vec![0.0; need]);
        let x = bufs.keep(x_t.to_vec());
        let prediction = match cfg.prediction_type() {
            PredictionType::Epsilon => Prediction::Noise,
            PredictionType::Sample => Prediction::Data,
            PredictionType::VPrediction => Prediction::V,
            PredictionType::FlowPrediction => Prediction::Flow,
        };
        let run = DiffusersRun::new(&cfg, steps, table, x, scratch, seed, 0, batch).map_err(
            |e| match e {
                PipelineError::Solver(e) => Error::Solver(e),
                e => Error::Pipeline(e.to_string()),
            },
        )?;
        Ok(DiffusersSampler {
            run,
            class,
            prediction,
            cfg_scale,
            ignored,
            config: cfg,
            steps,
        })
    }

    /// The run's plan (see `dpm_solver::plan::scheduler_plan`), guidance folded in.
    pub fn plan(
        &self,
        emit: impl FnMut(&dpm_solver::plan::Step<'_, f32>),
    ) -> Result<dpm_solver::plan::PlanInfo> {
        let mut table = vec![0.0f32; self.config.train().num_train_timesteps];
        Ok(dpm_solver::plan::scheduler_plan::<f32, MAX_STEPS>(
            &self.config,
            self.steps,
            &mut table,
            self.cfg_scale,
            emit,
        )?)
    }

    pub fn ask(&self) -> Option<Ask<'_>> {
        let (req, timestep) = self.run.ask()?;
        Some(Ask {
            req,
            timestep: Some(timestep),
            index: self.nfe(),
        })
    }

    fn advance(&mut self, cond: &[f32], uncond: Option<(&[f32], f32)>) -> Result<StepReport<f32>> {
        Ok(self.run.tell(cond, uncond).map_err(|e| match e {
            PipelineError::Solver(e) => Error::Solver(e),
            e => Error::Pipeline(e.to_string()),
        })?)
    }

    pub fn tell(&mut self, output: &[f32]) -> Result<StepReport<f32>> {
        if self.cfg_scale.is_some() {
            return Err(dpm_solver::Error::GuidanceMismatch {
                configured: "classifier-free",
                called: "tell",
            }
            .into());
        }
        self.advance(output, None)
    }

    /// Classifier-free guidance, `uncond + scale (cond - uncond)` as diffusers' pipelines
    /// combine it before `scheduler.step`.
    pub fn tell_cfg(&mut self, cond: &[f32], uncond: &[f32]) -> Result<StepReport<f32>> {
        let Some(scale) = self.cfg_scale else {
            return Err(dpm_solver::Error::GuidanceMismatch {
                configured: "none",
                called: "tellCfg",
            }
            .into());
        };
        let n = self.x().len();
        if uncond.len() != n {
            return Err(dpm_solver::Error::LengthMismatch {
                buffer: dpm_solver::Buffer::Unconditional,
                expected: n,
                found: uncond.len(),
            }
            .into());
        }
        self.advance(cond, Some((uncond, scale)))
    }

    pub fn x(&self) -> &[f32] {
        self.run.scheduler().x()
    }

    pub fn nfe(&self) -> usize {
        self.run.scheduler().step_index()
    }

    pub fn is_done(&self) -> bool {
        self.run.scheduler().ask().is_none()
    }

    pub fn prediction(&self) -> Prediction {
        self.prediction
    }

    pub fn class_name(&self) -> &'static str {
        self.class.name()
    }

    /// diffusers' `timesteps` (floats: FlowMatchEuler's are not integers).
    pub fn timesteps(&self) -> &[f32] {
        self.run.scheduler().times()
    }

    /// diffusers' whole `sigmas` array, the final sigma included.
    pub fn sigmas(&self) -> Vec<f32> {
        self.run.scheduler().sigmas_with_final().collect()
    }

    pub fn ignored_keys(&self) -> &[String] {
        &self.ignored
    }

    /// `[t of the first timestep, 0]`.
    pub fn time_range(&self) -> (f32, f32) {
        self.run.time_range()
    }
}
