//! Guidance: how conditional and unconditional outputs (or a classifier gradient) combine into
//! the one output the solver integrates.

use crate::math::Real;

/// Guided sampling, as the reference's `model_wrapper` offers it.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub enum Guidance<T> {
    /// Plain (unconditional or simply conditional) sampling: `tell(output)`.
    #[default]
    None,
    /// Classifier-free guidance (Ho & Salimans 2022): `uncond + scale (cond - uncond)`,
    /// combined on the raw network outputs; `tell_cfg(cond, uncond)`.
    ClassifierFree {
        /// Guidance scale `s` (1 = conditional model alone).
        scale: T,
    },
    /// Classifier guidance (Dhariwal & Nichol 2021): `eps - scale sigma_t grad_x log p(c | x_t)`;
    /// `tell_classifier(output, grad)`.
    Classifier {
        /// Guidance scale `s`.
        scale: T,
    },
}

impl<T: Real> Guidance<T> {
    /// A name for messages.
    pub fn name(&self) -> &'static str {
        match self {
            Guidance::None => "no",
            Guidance::ClassifierFree { .. } => "classifier-free",
            Guidance::Classifier { .. } => "classifier",
        }
    }
}

/// Classifier-free combination of one element: `uncond + scale (cond - uncond)`.
#[inline(always)]
pub fn classifier_free<T: Real>(cond: T, uncond: T, scale: T) -> T {
    uncond + scale * (cond - uncond)
}

/// Classifier guidance of one noise element: `eps - scale sigma grad`.
#[inline(always)]
pub fn classifier<T: Real>(eps: T, grad: T, scale: T, sigma: T) -> T {
    eps - scale * sigma * grad
}
