//! A diffusers-compatible scheduling layer: `DPMSolverMultistepScheduler`,
//! `DPMSolverSinglestepScheduler`, `UniPCMultistepScheduler`, `DDIMScheduler` (eta 0) and, for
//! flow-matching models, `FlowMatchEulerDiscreteScheduler` (the first three take flow sigmas
//! and `flow_prediction` too, see [`FlowOptions`]) with
//! diffusers' configuration names and diffusers' own arithmetic, in the crate's ask/tell shape.
//!
//! Each scheduler mirrors diffusers 0.42.1 closely: the training tables (`betas`,
//! `alphas_cumprod`, the sigmas) are computed in `f32` as torch does, the integer timesteps
//! through the same float64 `numpy` expressions (round half to even included), and the
//! per-step update formulas are diffusers' (`exp(h) - 1`, not the reference's series forms), in
//! the caller's [`Real`](crate::Real) type. The configuration adjustments diffusers makes on its own are
//! reproduced (lower-order final steps forced for `final_sigmas_type = zero`, the singlestep
//! order list, `final_sigmas_type = zero` rejected for `dpmsolver`).
//!
//! ```
//! use dpm_solver::diffusers::{DPMSolverMultistepConfig, DPMSolverMultistepScheduler};
//!
//! let config = DPMSolverMultistepConfig::default(); // diffusers' defaults
//! let mut table = [0.0f32; 1000];                   // num_train_timesteps
//! let mut x = [0.5f32, -1.0, 0.25, 2.0];            // x_T
//! let mut scratch = [0.0f32; 8];                    // config.scratch_len(4)
//! let mut out = [0.0f32; 4];
//! let mut s = DPMSolverMultistepScheduler::<f32, 64>::new(
//!     &config, 10, &mut table, &mut x, &mut scratch,
//! )?;
//! while let Some(req) = s.ask() {
//!     // unet(req.x, req.timestep): here a stand-in predicting eps = 0.1 x.
//!     for (o, xi) in out.iter_mut().zip(req.x) {
//!         *o = 0.1 * xi;
//!     }
//!     s.tell(&out)?;
//! }
//! assert_eq!(s.timesteps()[0], 999);
//! # Ok::<(), dpm_solver::Error>(())
//! ```
//!
//! Storage: the caller provides `table` (`num_train_timesteps` `f32`s for `alphas_cumprod`),
//! the sample `x` and a scratch buffer of `config.scratch_len(x.len())` elements; the per-step
//! timesteps and sigmas live inline in a `MAX_STEPS`-sized array (const generic). Nothing
//! allocates. See `core/DIFFUSERS.md` for how a `scheduler_config.json` maps onto these types.
//!
//! Owned or borrowed: each scheduler (and [`Scheduler`]) is generic over the storage of its
//! table (`A`) and of `x` and the scratch (`B`), borrowed `&mut` slices by default (`new`).
//! `with_buffers` takes any owner of a slice (`Vec`, `Box<[_]>`, arrays) and `into_buffers` /
//! `into_x` hand it back. A scheduler keeps no borrow of its configuration (`trained_betas`
//! is read into the table, UniPC's `disable_corrector` kept as a mask over the steps), so one
//! over owned buffers borrows nothing: `Scheduler<'static, f32, N, Vec<f32>, Vec<f32>>` from a
//! configuration whose lists are dropped afterwards. A caller that keeps a configuration
//! itself can hold an `OwnedSchedulerConfig` (feature `alloc`), which owns its lists.
//!
//! What is this layer's own: the float32 step kernels (one file per scheduler, their shared
//! pieces in `kernel.rs`), the training tables (`train.rs`) and the timestep rules
//! (`timesteps.rs`, `flow.rs`), which match diffusers' float32 arithmetic, and the config
//! keys (`config/`). From the core: the error type and the buffer checks
//! ([`crate::error`]), the model-output conversion where it is diffusers' arithmetic
//! ([`crate::model::conversion`]: v-prediction and the plans' coefficients), the history ring
//! ([`crate::history`]) and the quantile of the thresholding ([`crate::threshold`]), whose
//! front end every scheduler shares (`threshold.rs`).

/// `ask`, the accessors and the finiteness check every scheduler shares (fields `step`,
/// `table`, `x` of storage `B`); with no argument also `alphas_cumprod` and `into_buffers`
/// (fields `alphas` of storage `A`, `n_train`, `scratch`), which
/// `FlowMatchEulerDiscreteScheduler` (no betas, no scratch) leaves out.
macro_rules! scheduler_front {
    () => {
        scheduler_front!(no_train);

        /// `alphas_cumprod` (float32, as diffusers holds it).
        pub fn alphas_cumprod(&self) -> &[f32] {
            self.train().alphas_cumprod()
        }

        /// The training schedule computed into the table at construction.
        fn train(&self) -> TrainSchedule<'_> {
            TrainSchedule::stored(self.alphas.as_ref(), self.n_train)
        }

        /// Ends the scheduler and hands back its buffers `(table, x, scratch)`: `table` holds
        /// `alphas_cumprod`, `x` the sample (the result once [`ask`](Self::ask) returns
        /// `None`).
        pub fn into_buffers(self) -> (A, B, B) {
            (self.alphas, self.x, self.scratch)
        }

        /// Ends the scheduler and hands back `x` (the result once [`ask`](Self::ask) returns
        /// `None`).
        pub fn into_x(self) -> B {
            self.x
        }
    };
    (no_train) => {
        /// The next evaluation, or `None` when sampling is done.
        pub fn ask(&self) -> Option<Request<'_, T>> {
            (self.step < self.table.len()).then(|| Request {
                x: self.x.as_ref(),
                timestep: self.table.timesteps()[self.step],
                time: self.table.times()[self.step],
                step_index: self.step,
            })
        }

        /// The current sample (the result once [`ask`](Self::ask) returns `None`).
        pub fn x(&self) -> &[T] {
            self.x.as_ref()
        }

        /// The integer timesteps (`scheduler.timesteps`).
        pub fn timesteps(&self) -> &[i64] {
            self.table.timesteps()
        }

        /// The timesteps as the network receives them (floats: equal to
        /// [`timesteps`](Self::timesteps) except for `FlowMatchEulerDiscreteScheduler`).
        pub fn times(&self) -> &[f32] {
            self.table.times()
        }

        /// The whole `sigmas` array of diffusers, the final sigma included (float32).
        pub fn sigmas_with_final(&self) -> impl Iterator<Item = f32> + '_ {
            (0..=self.table.len()).map(|i| self.table.sigma(i))
        }

        /// diffusers' `sigmas[i]` (`i` = number of steps: the final sigma).
        pub fn sigma_at(&self, i: usize) -> f32 {
            self.table.sigma(i)
        }

        /// Whether the sigmas are flow sigmas (`alpha_t = 1 - sigma`).
        pub fn is_flow(&self) -> bool {
            self.table.is_flow()
        }

        /// `(alpha_t, sigma_t)` of step `i` as the update uses them: `(1 - s, s)` on flow
        /// sigmas, `(1, s) / sqrt(1 + s^2)` on the VP ones (`s` the diffusers sigma).
        pub fn alpha_sigma_at(&self, i: usize) -> (f32, f32) {
            let a = self.table.asl(i);
            (a.alpha, a.sigma)
        }

        /// Steps taken so far (one model evaluation each).
        pub fn step_index(&self) -> usize {
            self.step
        }

        /// After a step from finite model outputs: a non-finite `x` is the scheduler's own
        /// overflow, reported as [`Error::Diverged`](crate::Error::Diverged); the run ends.
        fn check_step(&mut self) -> Result<()> {
            if T::all_finite(self.x.as_ref()) {
                return Ok(());
            }
            let evaluation = self.step;
            self.step = self.table.len();
            Err(Error::Diverged {
                evaluation,
                cause: "the scheduler's update overflowed (its coefficients at this step are \
                        not finite for this configuration)",
            })
        }
    };
}

/// `tell`, `tell_noise` and `tell_rng` of the DPM-Solver schedulers, over their `advance`.
macro_rules! sde_tell_front {
    () => {
        /// Advances one step with the network's output at the asked `(x, timestep)`. The SDE
        /// variants need noise: use [`tell_noise`](Self::tell_noise) or `tell_rng`.
        pub fn tell(&mut self, model_output: &[T]) -> Result<()> {
            if self.config.algorithm_type.is_sde() {
                return Err(Error::InvalidConfig(
                    "sde algorithm types need noise: call tell_noise or tell_rng",
                ));
            }
            self.advance(model_output, Noise::None)?;
            self.check_step()
        }

        /// As [`tell`](Self::tell), with one standard normal per element of `x` for the SDE
        /// variants (ignored by the ODE ones).
        pub fn tell_noise(&mut self, model_output: &[T], noise: &[T]) -> Result<()> {
            let noise = if self.config.algorithm_type.is_sde() {
                Noise::Slice(noise)
            } else {
                Noise::None
            };
            self.advance(model_output, noise)?;
            self.check_step()
        }

        /// As [`tell`](Self::tell), drawing the SDE variants' noise from `rng`.
        #[cfg(feature = "rng")]
        pub fn tell_rng(&mut self, model_output: &[T], rng: &mut NoiseRng) -> Result<()> {
            let noise = if self.config.algorithm_type.is_sde() {
                Noise::Rng(rng)
            } else {
                Noise::None
            };
            self.advance(model_output, noise)?;
            self.check_step()
        }
    };
}

mod config;
mod ddim;
mod dpm_multistep;
mod dpm_singlestep;
mod flow;
mod flow_euler;
mod kernel;
mod scheduler;
mod threshold;
mod timesteps;
mod train;
mod unipc;

#[cfg(test)]
mod tests;

#[cfg(feature = "alloc")]
pub use config::OwnedSchedulerConfig;
pub use config::{ConfigValue, KeyUse, SchedulerClass, SchedulerConfig};
pub use ddim::{DDIMConfig, DDIMScheduler};
pub use dpm_multistep::{DPMSolverMultistepConfig, DPMSolverMultistepScheduler};
pub use dpm_singlestep::{DPMSolverSinglestepConfig, DPMSolverSinglestepScheduler};
pub use flow::{FlowOptions, TimeShiftType};
pub use flow_euler::{FlowMatchEulerDiscreteConfig, FlowMatchEulerDiscreteScheduler};
pub use scheduler::Scheduler;
pub use threshold::threshold_sample;
pub use timesteps::{round_half_even, StepTable};
pub use train::{BetaSchedule, TrainConfig, TrainSchedule};
pub use unipc::{UniPCMultistepConfig, UniPCMultistepScheduler, UNIPC_MAX_ORDER};

/// What the network predicts (diffusers' `prediction_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum PredictionType {
    /// `"epsilon"`: the noise.
    #[default]
    Epsilon,
    /// `"sample"`: the clean data `x_0`.
    Sample,
    /// `"v_prediction"`: `v = alpha_t eps - sigma_t x_0`.
    VPrediction,
    /// `"flow_prediction"`: the flow-matching velocity `v = eps - x_0`, `x_0 = x - sigma v`
    /// (data-prediction solvers only, as in diffusers).
    FlowPrediction,
}

/// How inference timesteps are spread over the training steps (diffusers' `timestep_spacing`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum TimestepSpacing {
    /// `"linspace"`: `round(linspace(0, last - 1, n + 1))`, reversed, first dropped.
    #[default]
    Linspace,
    /// `"leading"`: multiples of `last // (n + 1)` (DDIM: `N // n`) plus `steps_offset`.
    Leading,
    /// `"trailing"`: `round(arange(last, 0, -N / n)) - 1`.
    Trailing,
}

/// The sigma after the last step (diffusers' `final_sigmas_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum FinalSigmasType {
    /// `"zero"`: end at sigma 0 (the last step returns the data prediction).
    #[default]
    Zero,
    /// `"sigma_min"`: end at the training schedule's smallest sigma.
    SigmaMin,
}

/// DPM-Solver's variant (diffusers' `algorithm_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum AlgorithmType {
    /// `"dpmsolver"`: noise-prediction DPM-Solver.
    DpmSolver,
    /// `"dpmsolver++"`: data-prediction DPM-Solver++.
    #[default]
    DpmSolverPlusPlus,
    /// `"sde-dpmsolver"`: the SDE variant of DPM-Solver (multistep only).
    SdeDpmSolver,
    /// `"sde-dpmsolver++"`: DPM-Solver++ (2M) SDE; needs Gaussian noise every step.
    SdeDpmSolverPlusPlus,
}

impl AlgorithmType {
    /// Whether the solver works on the data prediction (`dpmsolver++`, `sde-dpmsolver++`).
    pub fn predicts_data(self) -> bool {
        matches!(
            self,
            AlgorithmType::DpmSolverPlusPlus | AlgorithmType::SdeDpmSolverPlusPlus
        )
    }
    /// Whether the update draws noise.
    pub fn is_sde(self) -> bool {
        matches!(
            self,
            AlgorithmType::SdeDpmSolver | AlgorithmType::SdeDpmSolverPlusPlus
        )
    }
}

/// The second-order update form of the DPM-Solver schedulers (diffusers' `solver_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SolverType {
    /// `"midpoint"`.
    #[default]
    Midpoint,
    /// `"heun"`.
    Heun,
}

/// UniPC's `B(h)` (diffusers' `solver_type` for `UniPCMultistepScheduler`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum UniPCSolverType {
    /// `"bh1"`: `B(h) = h` (recommended below 10 steps).
    Bh1,
    /// `"bh2"`: `B(h) = e^h - 1`.
    #[default]
    Bh2,
}

/// One pending model evaluation: run the network on `x` at the integer `timestep`
/// (diffusers' `t` in `for t in scheduler.timesteps`; `scale_model_input` is the identity for
/// these schedulers).
#[derive(Debug)]
pub struct Request<'s, T> {
    /// The model input.
    pub x: &'s [T],
    /// The integer timestep the network is conditioned on.
    pub timestep: i64,
    /// The timestep as a float: `timestep` itself, except for `FlowMatchEulerDiscreteScheduler`
    /// whose timesteps are not integers (`sigma * num_train_timesteps`).
    pub time: f32,
    /// Index of this step in `timesteps()`.
    pub step_index: usize,
}
