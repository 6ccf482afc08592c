//! [`OwnedSchedulerConfig`]: a scheduler configuration that owns its lists (feature `alloc`),
//! for callers that keep one around (a binding's options, a pipeline's plan) instead of
//! lending a [`SchedulerConfig`] for the length of one construction.

use alloc::vec::Vec;

use super::{ConfigValue, KeyUse, SchedulerClass, SchedulerConfig};
use crate::diffusers::{BetaSchedule, TrainConfig};
use crate::error::Result;

/// A [`SchedulerConfig`] that owns its lists: `trained_betas` as a `Vec<f32>` and
/// `disable_corrector` as a `Vec<usize>` (feature `alloc`).
///
/// It is set key by key as [`SchedulerConfig::set`] sets one, with the same results (a list
/// value is copied, so the caller's list may be dropped afterwards), and lent as the borrowed
/// form by [`view`](Self::view) to build a scheduler:
///
/// ```
/// use dpm_solver::diffusers::{ConfigValue as V, OwnedSchedulerConfig, Scheduler, SchedulerClass};
///
/// let mut cfg = OwnedSchedulerConfig::new(SchedulerClass::UniPCMultistep);
/// {
///     let skip = vec![0usize, 1]; // a list that does not outlive this block
///     cfg.set("disable_corrector", V::Indices(&skip))?;
/// }
/// cfg.set("beta_schedule", V::Str("scaled_linear"))?;
/// let x = vec![0.3f32; 8];
/// let scratch = vec![0.0f32; cfg.view().scratch_len(x.len())];
/// let s = Scheduler::<'static, f32, 64, Vec<f32>, Vec<f32>>::with_buffers(
///     &cfg.view(), 10, vec![0.0; 1000], x, scratch,
/// )?;
/// assert_eq!(s.timesteps()[0], 999);
/// # Ok::<(), dpm_solver::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct OwnedSchedulerConfig {
    /// Every option but the lists: an empty `Trained` list marks that `trained_betas` is set
    /// (its values are in `trained_betas`), UniPC's `disable_corrector` is left empty.
    config: SchedulerConfig<'static>,
    /// `trained_betas` while `beta_schedule` is `Trained`, empty otherwise.
    trained_betas: Vec<f32>,
    /// UniPC's `disable_corrector` (empty for the other classes).
    disable_corrector: Vec<usize>,
}

impl OwnedSchedulerConfig {
    /// diffusers' defaults for `class` ([`SchedulerConfig::new`]).
    pub fn new(class: SchedulerClass) -> Self {
        OwnedSchedulerConfig {
            config: SchedulerConfig::new(class),
            trained_betas: Vec::new(),
            disable_corrector: Vec::new(),
        }
    }

    /// A copy of `config`, its lists included.
    pub fn from_config(config: &SchedulerConfig<'_>) -> Self {
        let (config, betas, indices) = detach(config);
        OwnedSchedulerConfig {
            config,
            trained_betas: betas.to_vec(),
            disable_corrector: indices.to_vec(),
        }
    }

    /// The configuration in its borrowed form, lending this one's lists (to build a
    /// scheduler, or to read any option).
    pub fn view(&self) -> SchedulerConfig<'_> {
        let mut c: SchedulerConfig<'_> = self.config;
        let train = c.train_mut();
        if let BetaSchedule::Trained(_) = train.beta_schedule {
            train.beta_schedule = BetaSchedule::Trained(&self.trained_betas);
        }
        if let SchedulerConfig::UniPCMultistep(u) = &mut c {
            u.disable_corrector = &self.disable_corrector;
        }
        c
    }

    /// The class this configures.
    pub fn class(&self) -> SchedulerClass {
        self.config.class()
    }

    /// Applies one config key under its diffusers name, as [`SchedulerConfig::set`] does
    /// (same result, same errors; on an error nothing changes), copying a list value.
    pub fn set(&mut self, key: &str, value: ConfigValue<'_, '_>) -> Result<KeyUse> {
        let mut view = self.view();
        let used = view.set(key, value)?;
        let (config, betas, indices) = detach(&view);
        // Copy only a list the key replaced (the view's own lists are this config's).
        let betas = (!same(betas, &self.trained_betas)).then(|| betas.to_vec());
        let indices = (!same(indices, &self.disable_corrector)).then(|| indices.to_vec());
        self.config = config;
        if let Some(b) = betas {
            self.trained_betas = b;
        }
        if let Some(i) = indices {
            self.disable_corrector = i;
        }
        Ok(used)
    }

    /// Replaces the training-schedule part (`num_train_timesteps`, betas; e.g. from a model's
    /// own metadata), copying `trained_betas`: the owned form of
    /// `*config.train_mut() = *train`.
    pub fn set_train(&mut self, train: &TrainConfig<'_>) {
        self.trained_betas = match train.beta_schedule {
            BetaSchedule::Trained(b) => b.to_vec(),
            _ => Vec::new(),
        };
        *self.config.train_mut() = train.detached();
    }

    /// Sets the number of samples in `x` ([`SchedulerConfig::set_batch`]).
    pub fn set_batch(&mut self, batch: usize) {
        self.config.set_batch(batch);
    }

    /// `set_timesteps(mu=...)` ([`SchedulerConfig::set_mu`]).
    pub fn set_mu(&mut self, mu: Option<f64>) {
        self.config.set_mu(mu);
    }
}

impl From<&SchedulerConfig<'_>> for OwnedSchedulerConfig {
    fn from(config: &SchedulerConfig<'_>) -> Self {
        Self::from_config(config)
    }
}

/// `config` without its lists (as [`OwnedSchedulerConfig`] stores it), and the lists
/// (`trained_betas` if set, UniPC's `disable_corrector`; empty otherwise).
fn detach<'c>(config: &SchedulerConfig<'c>) -> (SchedulerConfig<'static>, &'c [f32], &'c [usize]) {
    let betas = match config.train().beta_schedule {
        BetaSchedule::Trained(b) => b,
        _ => &[],
    };
    let (stored, indices) = match config {
        SchedulerConfig::DPMSolverMultistep(c) => {
            (SchedulerConfig::DPMSolverMultistep(c.detached()), &[][..])
        }
        SchedulerConfig::DPMSolverSinglestep(c) => {
            (SchedulerConfig::DPMSolverSinglestep(c.detached()), &[][..])
        }
        SchedulerConfig::UniPCMultistep(c) => (
            SchedulerConfig::UniPCMultistep(c.detached()),
            c.disable_corrector,
        ),
        SchedulerConfig::DDIM(c) => (SchedulerConfig::DDIM(c.detached()), &[][..]),
        SchedulerConfig::FlowMatchEulerDiscrete(c) => (
            SchedulerConfig::FlowMatchEulerDiscrete(c.detached()),
            &[][..],
        ),
    };
    (stored, betas, indices)
}

/// Whether `a` is the list `b` itself (or both are empty): nothing to copy.
fn same<V>(a: &[V], b: &[V]) -> bool {
    a.len() == b.len() && (a.is_empty() || core::ptr::eq(a.as_ptr(), b.as_ptr()))
}
