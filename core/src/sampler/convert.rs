//! The receive path's element loops: one model output (plain, classifier-free guided or
//! classifier guided, checked by `receive`) converted into the solver's parameterisation,
//! `dst = a src + b out` with the guidance folded in. Guidance is combined here, once per
//! evaluation, inside the same pass as the conversion.

use crate::guidance;
use crate::math::Real;
use crate::model::Target;

/// One network output, possibly guided.
#[derive(Clone, Copy)]
pub(super) enum Output<'o, T> {
    Plain(&'o [T]),
    Cfg {
        cond: &'o [T],
        uncond: &'o [T],
        scale: T,
    },
    Classifier {
        out: &'o [T],
        grad: &'o [T],
        scale: T,
    },
}

/// Gradient coefficient of classifier guidance in the target parameterisation:
/// noise `eps - s sigma grad`, data `x0 + s sigma^2 / alpha grad`.
#[inline]
pub(super) fn grad_coeff<T: Real>(target: Target, scale: T, alpha: T, sigma: T) -> T {
    match target {
        Target::Noise => -scale * sigma,
        Target::Data => scale * sigma * sigma / alpha,
    }
}

#[allow(clippy::too_many_arguments)]
pub(super) fn convert_into<T: Real>(
    dst: &mut [T],
    x: &[T],
    out: Output<'_, T>,
    a: T,
    b: T,
    target: Target,
    alpha: T,
    sigma: T,
) {
    match out {
        Output::Plain(o) => {
            for ((d, &x), &o) in dst.iter_mut().zip(x).zip(o) {
                *d = a * x + b * o;
            }
        }
        Output::Cfg {
            cond,
            uncond,
            scale,
        } => {
            for (((d, &x), &c), &u) in dst.iter_mut().zip(x).zip(cond).zip(uncond) {
                *d = a * x + b * guidance::classifier_free(c, u, scale);
            }
        }
        Output::Classifier { out, grad, scale } => {
            let g = grad_coeff(target, scale, alpha, sigma);
            for (((d, &x), &o), &gr) in dst.iter_mut().zip(x).zip(out).zip(grad) {
                *d = a * x + b * o + g * gr;
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
pub(super) fn convert_in_place<T: Real>(
    buf: &mut [T],
    out: Output<'_, T>,
    a: T,
    b: T,
    target: Target,
    alpha: T,
    sigma: T,
) {
    match out {
        Output::Plain(o) => {
            for (d, &o) in buf.iter_mut().zip(o) {
                *d = a * *d + b * o;
            }
        }
        Output::Cfg {
            cond,
            uncond,
            scale,
        } => {
            for ((d, &c), &u) in buf.iter_mut().zip(cond).zip(uncond) {
                *d = a * *d + b * guidance::classifier_free(c, u, scale);
            }
        }
        Output::Classifier { out, grad, scale } => {
            let g = grad_coeff(target, scale, alpha, sigma);
            for ((d, &o), &gr) in buf.iter_mut().zip(out).zip(grad) {
                *d = a * *d + b * o + g * gr;
            }
        }
    }
}
