//! The training noise schedule a model declares, and its forms for the core sampler (betas)
//! and the diffusers schedulers (a training config).

use dpm_solver::diffusers::{BetaSchedule, TrainConfig};
use dpm_solver::Betas;

/// The training noise schedule (`beta_schedule`, `beta_start`, `beta_end`,
/// `num_train_timesteps`, `schedule = discrete`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ScheduleInfo {
    /// DDPM linear betas.
    Linear {
        /// First beta.
        beta_start: f32,
        /// Last beta.
        beta_end: f32,
        /// Number of training steps `N`.
        n: usize,
    },
    /// Stable Diffusion's `scaled_linear` betas.
    ScaledLinear {
        /// First beta.
        beta_start: f32,
        /// Last beta.
        beta_end: f32,
        /// Number of training steps `N`.
        n: usize,
    },
    /// Improved DDPM's `squaredcos_cap_v2`.
    Cosine {
        /// Number of training steps `N`.
        n: usize,
    },
    /// Flow matching (`schedule = flow`): `x_t = (1 - t) x_0 + t eps`, the network's time
    /// input `N t` (diffusers' `sigma * num_train_timesteps`).
    Flow {
        /// `num_train_timesteps` `N`.
        n: usize,
    },
}

impl ScheduleInfo {
    /// The core's beta formula.
    pub fn betas(&self) -> Betas<f32> {
        match *self {
            ScheduleInfo::Linear {
                beta_start,
                beta_end,
                n,
            } => Betas::Linear {
                start: beta_start,
                end: beta_end,
                n,
            },
            ScheduleInfo::ScaledLinear {
                beta_start,
                beta_end,
                n,
            } => Betas::ScaledLinear {
                start: beta_start,
                end: beta_end,
                n,
            },
            ScheduleInfo::Cosine { n } => Betas::Cosine { n },
            // No betas: diffusers' defaults, read only for the DPM-Solver schedulers'
            // `final_sigmas_type = sigma_min` (as diffusers does on flow sigmas).
            ScheduleInfo::Flow { n } => Betas::Linear {
                start: 1e-4,
                end: 0.02,
                n,
            },
        }
    }

    /// Whether this is the flow-matching schedule.
    pub fn is_flow(&self) -> bool {
        matches!(self, ScheduleInfo::Flow { .. })
    }

    /// The same schedule as diffusers' `beta_schedule`, `beta_start`, `beta_end`,
    /// `num_train_timesteps`.
    pub fn train_config(&self) -> TrainConfig<'static> {
        let (beta_schedule, beta_start, beta_end) = match *self {
            ScheduleInfo::Linear {
                beta_start,
                beta_end,
                ..
            } => (BetaSchedule::Linear, beta_start, beta_end),
            ScheduleInfo::ScaledLinear {
                beta_start,
                beta_end,
                ..
            } => (BetaSchedule::ScaledLinear, beta_start, beta_end),
            ScheduleInfo::Cosine { .. } => (BetaSchedule::SquaredcosCapV2, 1e-4, 0.02),
            ScheduleInfo::Flow { .. } => (BetaSchedule::Linear, 1e-4, 0.02),
        };
        TrainConfig {
            num_train_timesteps: self.num_train_timesteps(),
            beta_start: beta_start as f64,
            beta_end: beta_end as f64,
            beta_schedule,
            rescale_betas_zero_snr: false,
        }
    }

    /// Number of training steps `N`.
    pub fn num_train_timesteps(&self) -> usize {
        match *self {
            ScheduleInfo::Linear { n, .. }
            | ScheduleInfo::ScaledLinear { n, .. }
            | ScheduleInfo::Cosine { n }
            | ScheduleInfo::Flow { n } => n,
        }
    }
}
