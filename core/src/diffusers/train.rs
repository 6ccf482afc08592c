//! The training schedule as diffusers builds it in `__init__`: `betas` (float32), optionally
//! rescaled to zero terminal SNR, and `alphas_cumprod = cumprod(1 - betas)` (float32 values,
//! accumulated in float64 as torch's CPU `cumprod` does).

use crate::error::{Buffer, Error, Result};
use crate::math::{cmath, linspace_at};

/// diffusers' `beta_schedule` (with `trained_betas` as its own variant).
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub enum BetaSchedule<'b> {
    /// `"linear"`: `torch.linspace(beta_start, beta_end, N, dtype=float32)`.
    #[default]
    Linear,
    /// `"scaled_linear"`: `torch.linspace(beta_start**0.5, beta_end**0.5, N) ** 2` (float32).
    ScaledLinear,
    /// `"squaredcos_cap_v2"`: `betas_for_alpha_bar` with the cosine `alpha_bar`, capped at 0.999.
    SquaredcosCapV2,
    /// `trained_betas`: the model's own betas (converted to float32 as diffusers does; their
    /// number must equal `num_train_timesteps`).
    Trained(&'b [f32]),
}

/// The beta part of every diffusers scheduler config.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TrainConfig<'b> {
    /// `num_train_timesteps` (default 1000).
    pub num_train_timesteps: usize,
    /// `beta_start` (default 0.0001).
    pub beta_start: f64,
    /// `beta_end` (default 0.02).
    pub beta_end: f64,
    /// `beta_schedule` / `trained_betas` (default linear).
    pub beta_schedule: BetaSchedule<'b>,
    /// `rescale_betas_zero_snr` (default false).
    pub rescale_betas_zero_snr: bool,
}

impl Default for TrainConfig<'_> {
    fn default() -> Self {
        TrainConfig {
            num_train_timesteps: 1000,
            beta_start: 0.0001,
            beta_end: 0.02,
            beta_schedule: BetaSchedule::Linear,
            rescale_betas_zero_snr: false,
        }
    }
}

impl TrainConfig<'_> {
    /// This configuration without the `trained_betas` list (an empty `Trained` list marks that
    /// there was one): what a scheduler keeps once the betas are in its table, so that it
    /// borrows nothing from the configuration.
    pub(crate) fn detached(&self) -> TrainConfig<'static> {
        TrainConfig {
            beta_schedule: match self.beta_schedule {
                BetaSchedule::Linear => BetaSchedule::Linear,
                BetaSchedule::ScaledLinear => BetaSchedule::ScaledLinear,
                BetaSchedule::SquaredcosCapV2 => BetaSchedule::SquaredcosCapV2,
                BetaSchedule::Trained(_) => BetaSchedule::Trained(&[]),
            },
            num_train_timesteps: self.num_train_timesteps,
            beta_start: self.beta_start,
            beta_end: self.beta_end,
            rescale_betas_zero_snr: self.rescale_betas_zero_snr,
        }
    }
}

/// `alphas_cumprod` in caller storage, exactly as diffusers holds it (float32).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TrainSchedule<'a> {
    alphas_cumprod: &'a [f32],
}

impl<'a> TrainSchedule<'a> {
    /// Computes `alphas_cumprod` into `storage` (at least `num_train_timesteps` elements).
    ///
    /// `clamp_terminal` reproduces the DPM-Solver and UniPC schedulers' `alphas_cumprod[-1] =
    /// 2**-24` under `rescale_betas_zero_snr` (DDIM keeps the exact 0).
    pub fn new(
        config: &TrainConfig<'_>,
        clamp_terminal: bool,
        storage: &'a mut [f32],
    ) -> Result<Self> {
        let n = config.num_train_timesteps;
        if !(2..=1 << 24).contains(&n) {
            return Err(Error::InvalidConfig(
                "num_train_timesteps must lie in [2, 2^24]",
            ));
        }
        if storage.len() < n {
            return Err(Error::LengthMismatch {
                buffer: Buffer::Table,
                expected: n,
                found: storage.len(),
            });
        }
        let out = &mut storage[..n];
        match config.beta_schedule {
            BetaSchedule::Linear | BetaSchedule::ScaledLinear => {
                let (s, e) = (config.beta_start, config.beta_end);
                if !(s.is_finite() && e.is_finite() && s >= 0.0 && e >= 0.0 && s <= 1.0 && e <= 1.0)
                {
                    return Err(Error::InvalidConfig(
                        "beta_start and beta_end must lie in [0, 1]",
                    ));
                }
                let scaled = config.beta_schedule == BetaSchedule::ScaledLinear;
                let (a, b) = if scaled {
                    (cmath::sqrt(s) as f32, cmath::sqrt(e) as f32)
                } else {
                    (s as f32, e as f32)
                };
                for (i, o) in out.iter_mut().enumerate() {
                    let v = linspace_at(a, b, n, i);
                    *o = if scaled { v * v } else { v };
                }
            }
            BetaSchedule::SquaredcosCapV2 => {
                let f = |t: f64| {
                    let c = cmath::cos((t + 0.008) / 1.008 * core::f64::consts::PI / 2.0);
                    c * c
                };
                for (i, o) in out.iter_mut().enumerate() {
                    let t1 = i as f64 / n as f64;
                    let t2 = (i + 1) as f64 / n as f64;
                    let b = 1.0 - f(t2) / f(t1);
                    *o = (if b < 0.999 { b } else { 0.999 }) as f32;
                }
            }
            BetaSchedule::Trained(betas) => {
                if betas.len() != n {
                    return Err(Error::LengthMismatch {
                        buffer: Buffer::Table,
                        expected: n,
                        found: betas.len(),
                    });
                }
                out.copy_from_slice(betas);
            }
        }
        for &b in out.iter() {
            if !(0.0..=1.0).contains(&b) {
                return Err(Error::InvalidConfig("every beta must lie in [0, 1]"));
            }
        }
        if config.rescale_betas_zero_snr {
            rescale_zero_terminal_snr(out)?;
        }
        // alphas_cumprod = cumprod(1 - betas): float32 factors, float64 accumulator.
        let mut acc = 1.0f64;
        for o in out.iter_mut() {
            acc *= (1.0f32 - *o) as f64;
            *o = acc as f32;
        }
        if config.rescale_betas_zero_snr && clamp_terminal {
            out[n - 1] = 1.0 / 16_777_216.0;
        }
        if !(out[0] > 0.0) || !out.iter().all(|a| a.is_finite() && *a >= 0.0 && *a <= 1.0) {
            return Err(Error::InvalidConfig(
                "alphas_cumprod must lie in [0, 1] with alphas_cumprod[0] > 0",
            ));
        }
        Ok(TrainSchedule {
            alphas_cumprod: &storage[..n],
        })
    }

    /// The schedule [`new`](Self::new) computed into `storage` earlier: its first `n` values
    /// (fewer if `storage` is shorter).
    pub(crate) fn stored(storage: &'a [f32], n: usize) -> Self {
        TrainSchedule {
            alphas_cumprod: &storage[..n.min(storage.len())],
        }
    }

    /// `alphas_cumprod` (float32, `num_train_timesteps` values).
    pub fn alphas_cumprod(&self) -> &'a [f32] {
        self.alphas_cumprod
    }

    /// `num_train_timesteps`.
    pub fn len(&self) -> usize {
        self.alphas_cumprod.len()
    }

    /// Never true for a constructed schedule.
    pub fn is_empty(&self) -> bool {
        self.alphas_cumprod.is_empty()
    }

    /// `(sqrt(alphas_cumprod[t]), sqrt(1 - alphas_cumprod[t]))` in `f64` (how a network trained
    /// on this schedule sees timestep `t`); `None` outside `0..N`.
    pub fn alpha_sigma(&self, t: i64) -> Option<(f64, f64)> {
        let a = *self.alphas_cumprod.get(usize::try_from(t).ok()?)? as f64;
        Some((cmath::sqrt(a), cmath::sqrt(1.0 - a)))
    }

    /// diffusers' training sigma `((1 - alphas_cumprod[i]) / alphas_cumprod[i]) ** 0.5` (float32),
    /// with `numpy.interp`'s clamping outside `0..N`.
    pub(crate) fn sigma(&self, t: i64) -> f32 {
        let n = self.alphas_cumprod.len();
        let i = if t < 0 {
            0
        } else {
            (t as u64).min(n as u64 - 1) as usize
        };
        let a = self.alphas_cumprod[i];
        cmath::sqrtf((1.0 - a) / a)
    }

    /// `lambda_t = log(sqrt(a)) - log(sqrt(1 - a))` in float32, as diffusers' `self.lambda_t`.
    pub(crate) fn lambda(&self, i: usize) -> f32 {
        let a = self.alphas_cumprod[i];
        cmath::logf(cmath::sqrtf(a)) - cmath::logf(cmath::sqrtf(1.0 - a))
    }
}

/// Rescales betas to zero terminal SNR (Lin et al. 2023, Algorithm 1) in float32, in place.
fn rescale_zero_terminal_snr(betas: &mut [f32]) -> Result<()> {
    let n = betas.len();
    // sqrt(alphas_cumprod), cumprod accumulated in f64 as torch does.
    let mut acc = 1.0f64;
    for b in betas.iter_mut() {
        acc *= (1.0f32 - *b) as f64;
        *b = cmath::sqrtf(acc as f32);
    }
    let s0 = betas[0];
    let st = betas[n - 1];
    if !(s0 > st) {
        return Err(Error::InvalidConfig(
            "rescale_betas_zero_snr needs a decreasing alphas_cumprod",
        ));
    }
    let scale = s0 / (s0 - st);
    for v in betas.iter_mut() {
        let w = (*v - st) * scale;
        *v = w * w;
    }
    // alphas = ab[1:] / ab[:-1], alphas[0] = ab[0]; betas = 1 - alphas (back to front).
    for i in (1..n).rev() {
        betas[i] = 1.0 - betas[i] / betas[i - 1];
    }
    betas[0] = 1.0 - betas[0];
    Ok(())
}
