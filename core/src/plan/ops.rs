//! The recording side of a plan: the buffers ([`Buf`]), one elementwise operation ([`Op`]),
//! an adaptive trial's error norm ([`ErrorNorm`]), and the log of one evaluation's operations
//! ([`OpLog`]) that the sampler and the diffusers schedulers write as they run.

use crate::math::Real;
use crate::{AdaptiveOptions, Update};

/// Most terms an operation has (UniPC-3's corrector: base, 4 history terms; singlestep with
/// noise: base, 3 history terms, noise; CFG conversion: source, two outputs).
pub const MAX_TERMS: usize = 6;

/// Most operations one evaluation triggers.
pub const MAX_OPS: usize = 4;

/// Number of fixed buffers before the slots in [`Buf::index`].
pub const FIXED_BUFFERS: usize = 4;

/// A buffer of `n` elements an operation reads or writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Buf {
    /// The sample being integrated (`x_T` at the start, the result at the end).
    X,
    /// The network output of this evaluation (the conditional one with classifier-free
    /// guidance).
    Output,
    /// The unconditional output (classifier-free guidance) or the classifier gradient.
    Guide,
    /// This step's standard normal noise (SDE schedulers only).
    Noise,
    /// History or intermediate buffer `j` of the solver.
    Slot(u8),
}

impl Buf {
    /// A dense index: `X` 0, `Output` 1, `Guide` 2, `Noise` 3, `Slot(j)` `4 + j`.
    pub fn index(self) -> usize {
        match self {
            Buf::X => 0,
            Buf::Output => 1,
            Buf::Guide => 2,
            Buf::Noise => 3,
            Buf::Slot(j) => FIXED_BUFFERS + j as usize,
        }
    }

    /// Slot buffer `j` (`None` past 255 slots, which no method needs).
    pub(crate) fn slot(j: usize) -> Buf {
        Buf::Slot(u8::try_from(j).unwrap_or(u8::MAX))
    }
}

/// One elementwise operation `dst[i] = clamp(sum_k w_k src_k[i])`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Op<T> {
    /// The buffer written.
    pub dst: Buf,
    terms: [(Buf, T); MAX_TERMS],
    len: u8,
    /// More than [`MAX_TERMS`] terms were added (the log then refuses the step).
    overflow: bool,
    /// Clamp the result to `[-c, c]` (DDIM's `clip_sample`), or `None`.
    pub clamp: Option<T>,
}

impl<T: Real> Op<T> {
    /// An operation writing `dst` with no terms yet (it would write zeros).
    pub fn new(dst: Buf) -> Self {
        Op {
            dst,
            terms: [(Buf::X, T::ZERO); MAX_TERMS],
            len: 0,
            overflow: false,
            clamp: None,
        }
    }

    /// Adds `w src` (a term on a buffer already present adds to its weight; zero weights are
    /// kept, so the term list mirrors the update's structure). Past [`MAX_TERMS`] buffers the
    /// operation is marked as overflowing and [`OpLog::push`] refuses it.
    pub fn term(mut self, src: Buf, w: T) -> Self {
        if let Some(t) = self.terms[..self.len as usize]
            .iter_mut()
            .find(|t| t.0 == src)
        {
            t.1 += w;
        } else if (self.len as usize) < MAX_TERMS {
            self.terms[self.len as usize] = (src, w);
            self.len += 1;
        } else {
            self.overflow = true;
        }
        self
    }

    /// The `(source, weight)` terms.
    pub fn terms(&self) -> &[(Buf, T)] {
        &self.terms[..self.len as usize]
    }

    /// One element of the result from the sources' values at it.
    #[inline]
    pub fn eval(&self, mut value: impl FnMut(Buf) -> T) -> T {
        let mut v = T::ZERO;
        for &(b, w) in self.terms() {
            v += w * value(b);
        }
        match self.clamp {
            Some(c) => v.max(-c).min(c),
            None => v,
        }
    }
}

/// The error norm of an adaptive trial, computed by the executor after the operations of the
/// evaluation that completes the trial (see the module docs for the formula).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ErrorNorm<T> {
    /// The lower-order solution `x_lo`, elementwise (its `dst`, `Slot(order)`, is where an
    /// accepted trial stores it; the norm only reads the sum).
    pub lower: Op<T>,
    /// `x_hi - x_lo = sum_k w_k (src_k - base)`: `(src_k, w_k)`.
    diff: [(Buf, T); 2],
    diff_len: u8,
    /// The model value at the trial's start (`Slot(0)`).
    pub base: Buf,
    /// `x_prev` (`Slot(order)`).
    pub prev: Buf,
    /// Absolute tolerance.
    pub atol: T,
    /// Relative tolerance.
    pub rtol: T,
    /// Samples in the buffers: the root mean square is taken per sample (`n / batch`
    /// elements), `E` is the largest.
    pub batch: usize,
}

impl<T: Real> ErrorNorm<T> {
    /// The norm of a trial of `order` (2 or 3) between `lower` and `higher`, whose model values
    /// are in slots `0..order` and `x_prev` in slot `order`.
    pub(crate) fn new(
        lower: &Update<T>,
        higher: &Update<T>,
        order: usize,
        opts: &AdaptiveOptions<T>,
        batch: usize,
    ) -> Self {
        let models = if order == 2 { 2 } else { 3 };
        let mut op = Op::new(Buf::slot(order)).term(Buf::X, lower.cx);
        let mut diff = [(Buf::slot(1), T::ZERO); 2];
        for j in 0..models {
            op = op.term(Buf::slot(j), lower.cm[j]);
            if j >= 1 {
                diff[j - 1] = (Buf::slot(j), higher.cm[j] - lower.cm[j]);
            }
        }
        ErrorNorm {
            lower: op,
            diff,
            diff_len: (models - 1) as u8,
            base: Buf::slot(0),
            prev: Buf::slot(order),
            atol: opts.atol,
            rtol: opts.rtol,
            batch,
        }
    }

    /// The `(src_k, w_k)` of `x_hi - x_lo = sum_k w_k (src_k - base)`.
    pub fn diff_terms(&self) -> &[(Buf, T)] {
        &self.diff[..self.diff_len as usize]
    }

    /// One element's `(d / delta)^2` from the buffers' values at it (the CPU's arithmetic).
    #[inline]
    pub fn square(&self, mut value: impl FnMut(Buf) -> T) -> T {
        let lo = self.lower.eval(&mut value);
        let base = value(self.base);
        let mut d = T::ZERO;
        for &(b, w) in self.diff_terms() {
            d += w * (value(b) - base);
        }
        let (alo, axp) = (lo.abs(), value(self.prev).abs());
        let big = if alo > axp { alo } else { axp };
        let rel = self.rtol * big;
        let delta = if rel > self.atol { rel } else { self.atol };
        let e = d / delta;
        e * e
    }

    /// `E` from each sample's sum of [`square`](Self::square) over its `dim` elements: the
    /// largest `sqrt(sum / dim)`, NaN-propagating (a NaN must reject, never accept).
    pub fn reduce(&self, sums: impl IntoIterator<Item = T>, dim: usize) -> T {
        let mut worst = T::ZERO;
        for sum in sums {
            let norm = (sum / T::from_usize(dim)).sqrt();
            if !(norm <= worst) {
                worst = norm;
            }
        }
        worst
    }
}

/// The operations of one evaluation, as a sampler recorded them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OpLog<T> {
    ops: [Op<T>; MAX_OPS],
    len: usize,
    norm: Option<ErrorNorm<T>>,
    /// A step did something no [`Op`] describes (dynamic thresholding, or an adaptive trial
    /// decided on the data outside a [`StepPlanner`](super::StepPlanner)).
    pub nonlinear: bool,
}

impl<T: Real> Default for OpLog<T> {
    fn default() -> Self {
        OpLog {
            ops: [Op::new(Buf::X); MAX_OPS],
            len: 0,
            norm: None,
            nonlinear: false,
        }
    }
}

impl<T: Real> OpLog<T> {
    /// Forgets the previous evaluation's operations.
    pub fn clear(&mut self) {
        self.len = 0;
        self.norm = None;
        self.nonlinear = false;
    }

    /// The error norm to compute after the operations (the evaluation completed an adaptive
    /// trial under a [`StepPlanner`](super::StepPlanner)).
    pub fn norm(&self) -> Option<&ErrorNorm<T>> {
        self.norm.as_ref()
    }

    pub(crate) fn set_norm(&mut self, norm: ErrorNorm<T>) {
        self.norm = Some(norm);
    }

    /// Sets the samples of the recorded norm (a [`StepPlanner`]'s sampler runs on one).
    pub(super) fn set_norm_batch(&mut self, batch: usize) {
        if let Some(n) = &mut self.norm {
            n.batch = batch;
        }
    }

    /// Appends an operation (past [`MAX_OPS`] operations or [`MAX_TERMS`] terms the log is
    /// marked non-linear, so no plan is made: never the case for the methods in this crate).
    pub fn push(&mut self, op: Op<T>) {
        if op.overflow {
            self.nonlinear = true;
        }
        if self.len < MAX_OPS {
            self.ops[self.len] = op;
            self.len += 1;
        } else {
            self.nonlinear = true;
        }
    }

    /// The operations in order.
    pub fn ops(&self) -> &[Op<T>] {
        &self.ops[..self.len]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_merge_and_clamp() {
        let op = Op::<f64>::new(Buf::X)
            .term(Buf::X, 0.5)
            .term(Buf::Slot(1), 2.0)
            .term(Buf::X, 0.25);
        assert_eq!(op.terms(), &[(Buf::X, 0.75), (Buf::Slot(1), 2.0)]);
        let v = |b: Buf| if b == Buf::X { 4.0 } else { 1.0 };
        assert_eq!(op.eval(v), 5.0);
        let op = Op {
            clamp: Some(1.0),
            ..op
        };
        assert_eq!(op.eval(v), 1.0);
        assert_eq!(Buf::Slot(2).index(), 6);
    }

    #[test]
    fn too_many_terms_refuse_the_step() {
        let mut op = Op::<f32>::new(Buf::X);
        for j in 0..=MAX_TERMS as u8 {
            op = op.term(Buf::Slot(j), 1.0);
        }
        let mut log = OpLog::default();
        log.push(op);
        assert!(log.nonlinear);
    }
}
