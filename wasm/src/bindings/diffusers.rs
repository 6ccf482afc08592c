//! The `scheduler` option of `Sampler`: one of the core's diffusers-compatible schedulers,
//! configured from a diffusers `scheduler_config.json` object passed as-is. This module only
//! turns JS values into the core's `ConfigValue`s; the key names, their defaults, the
//! scheduler run (`dpm_solver::family::Solver`) and the maths are the core's.

use super::error::{opt_err, Result};
use super::js::{numbers, Opts};
use super::limits;
use dpm_solver::diffusers::{
    ConfigValue, KeyUse, OwnedSchedulerConfig, SchedulerClass, SchedulerConfig,
};
use dpm_solver::family::{OwnedScheduler, Solver, MAX_SCHEDULER_STEPS as MAX_STEPS};
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

/// What a `Sampler` keeps of its diffusers scheduler beside the run: the class, the keys its
/// config ignored, and the configuration for [`plan`](Self::plan).
pub(crate) struct DiffusersSampler {
    class: SchedulerClass,
    ignored: Vec<String>,
    config: OwnedSchedulerConfig,
    mu: Option<f64>,
    cfg_scale: Option<f32>,
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
fn apply<'b>(
    cfg: &mut SchedulerConfig<'b>,
    obj: &JsValue,
    lists: &'b mut ConfigLists,
) -> Result<Vec<String>> {
    if !obj.is_object() || Array::is_array(obj) {
        return opt_err("the scheduler config must be an object (a parsed scheduler_config.json)");
    }
    // Each list key comes once in an object: its slot is taken once.
    let (mut betas, mut indices) = (Some(&mut lists.betas), Some(&mut lists.indices));
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
        } else if let Some(slot) = betas.take_if(|_| key == "trained_betas") {
            ConfigValue::Floats(slot.insert(numbers(&v, &what)?))
        } else if let Some(slot) = indices.take_if(|_| key == "disable_corrector") {
            let list = numbers(&v, &what)?;
            if let Some(bad) = list.iter().find(|i| !(**i >= 0.0 && i.fract() == 0.0)) {
                return opt_err(format!(
                    "{what} holds {}: expected step indices",
                    crate::decimal::f32_text(*bad)
                ));
            }
            ConfigValue::Indices(slot.insert(list.iter().map(|&i| i as usize).collect()))
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

/// Where the lists of a scheduler config object live while the config borrows them
/// (`trained_betas`, `disable_corrector`); the solver built from it keeps what it needs.
#[derive(Default)]
pub(crate) struct ConfigLists {
    betas: Option<Vec<f32>>,
    indices: Option<Vec<usize>>,
}

/// The scheduler config of `options.scheduler` / `options.schedulerConfig` (`None` without
/// `scheduler`), its lists in `lists`, with the keys its class ignored.
pub(crate) fn scheduler_config<'b>(
    o: &Opts,
    lists: &'b mut ConfigLists,
) -> Result<Option<(SchedulerConfig<'b>, Vec<String>)>> {
    if o.get("scheduler")?.is_none() {
        return Ok(None);
    }
    let (class, obj) = class_and_config(o)?;
    let mut cfg = SchedulerConfig::new(class);
    let ignored = match &obj {
        Some(obj) => apply(&mut cfg, obj, lists)?,
        None => Vec::new(),
    };
    Ok(Some((cfg, ignored)))
}

impl DiffusersSampler {
    /// Builds the scheduler run from validated `Sampler` options and `x_T`.
    pub fn new(o: &Opts, x_t: &[f32], batch: usize) -> Result<(Solver<f32>, Self)> {
        let mut lists = ConfigLists::default();
        let Some((mut cfg, ignored)) = scheduler_config(o, &mut lists)? else {
            return opt_err("options.scheduler is required");
        };
        let class = cfg.class();
        cfg.set_batch(batch);
        // set_timesteps(mu=...): dynamic shifting of flow-matching schedulers.
        let mu = o.num("mu")?;
        if mu.is_some() {
            cfg.set_mu(mu);
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
        let run = Solver::diffusers(&cfg, steps, x_t.to_vec(), batch, cfg_scale, seed, 0)?;
        let info = DiffusersSampler {
            class,
            ignored,
            config: OwnedSchedulerConfig::from_config(&cfg),
            mu,
            cfg_scale,
            steps,
        };
        Ok((run, info))
    }

    /// The run's plan (see `dpm_solver::plan::scheduler_plan_of`), guidance folded in; the
    /// scheduler it runs is the owned one of the `Sampler`'s own run (compiled once).
    pub fn plan(
        &self,
        emit: impl FnMut(&dpm_solver::plan::Step<'_, f32>),
    ) -> Result<dpm_solver::plan::PlanInfo> {
        let mut cfg = self.config.view();
        cfg.set_batch(1);
        if self.mu.is_some() {
            cfg.set_mu(self.mu);
        }
        let table = vec![0.0f32; cfg.train().num_train_timesteps];
        let scratch = vec![0.0f32; cfg.checked_scratch_len(1)?];
        let s = OwnedScheduler::with_buffers(&cfg, self.steps, table, vec![0.0f32], scratch)?;
        Ok(dpm_solver::plan::scheduler_plan_of(
            s,
            self.cfg_scale,
            emit,
        )?)
    }

    pub fn class_name(&self) -> &'static str {
        self.class.name()
    }

    pub fn ignored_keys(&self) -> &[String] {
        &self.ignored
    }
}
