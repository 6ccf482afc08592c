//! What the step planner ([`crate::plan::StepPlanner`]) needs from the sampler (feature
//! `plan`): the buffer of the pending request, the log of the operations each `tell` made as
//! coefficients, and the adaptive trials' error norm computed by the executor.

use super::convert::{grad_coeff, Output};
use super::{Loc, Machine, Phase, Sampler, StepReport};
use crate::error::{Error, Result};
use crate::math::Real;
use crate::model::Target;
use crate::update::Update;

impl<T: Real, B: AsRef<[T]> + AsMut<[T]>> Sampler<'_, T, B> {
    /// The buffer the pending request's `x` is, in the terms of [`crate::plan`].
    pub fn pending_buffer(&self) -> Option<crate::plan::Buf> {
        Some(match self.st.pending()?.0 {
            Loc::X => crate::plan::Buf::X,
            Loc::Slot(j) => crate::plan::Buf::slot(j),
        })
    }

    /// What the last `tell` did to the buffers, as coefficients (see [`crate::plan`]).
    pub fn last_ops(&self) -> &crate::plan::OpLog<T> {
        &self.st.log
    }

    /// The log of the last `tell` ([`crate::plan::StepPlanner`] completes its norm).
    pub(crate) fn log_mut(&mut self) -> &mut crate::plan::OpLog<T> {
        &mut self.st.log
    }

    /// From now on an adaptive trial stops after its last evaluation, with the error norm
    /// described in [`last_ops`](Self::last_ops), until [`tell_error`](Self::tell_error).
    pub(crate) fn defer_error(&mut self) {
        self.st.defer_error = true;
    }

    /// Whether the sampler waits for [`tell_error`](Self::tell_error).
    pub(crate) fn awaits_error(&self) -> bool {
        matches!(self.st.phase, Phase::AwaitError)
    }

    /// The error norm of the pending adaptive trial, computed by the executor from the
    /// [`ErrorNorm`](crate::plan::ErrorNorm) of the last evaluation: accepts or rejects the
    /// trial and sizes the next one exactly as [`tell`](Self::tell) does with its own norm.
    /// The operations of the decision (an accepted trial's `x_prev` and `x`) are then in
    /// [`last_ops`](Self::last_ops).
    pub(crate) fn tell_error(&mut self, e: T) -> Result<StepReport<T>> {
        self.machine().tell_error(e)
    }
}

impl<T: Real> Machine<'_, T> {
    /// [`Sampler::tell_error`] on the lent buffers.
    fn tell_error(&mut self, e: T) -> Result<StepReport<T>> {
        if !matches!(self.phase, Phase::AwaitError) {
            return Err(Error::InvalidConfig(
                "no adaptive trial waits for an error norm",
            ));
        }
        self.log.clear();
        let report = self.adaptive_decide(e)?;
        #[cfg(feature = "checked")]
        self.check_pending()?;
        Ok(report)
    }

    /// Records `dst = cx x + sum_j cm[j] slot(ms[j])`.
    pub(super) fn record_update(&mut self, dst: crate::plan::Buf, u: &Update<T>, ms: &[usize]) {
        use crate::plan::{Buf, Op};
        let mut op = Op::new(dst).term(Buf::X, u.cx);
        for (&j, &c) in ms.iter().zip(&u.cm) {
            op = op.term(Buf::slot(j), c);
        }
        self.log.push(op);
    }

    /// Records the conversion of the output into slot `dst`: `a src + b out`, with the guidance
    /// combination folded in (CFG: `b s cond + b (1 - s) uncond`).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn record_conversion(
        &mut self,
        loc: Loc,
        dst: usize,
        out: Output<'_, T>,
        a: T,
        b: T,
        target: Target,
        alpha: T,
        sigma: T,
    ) {
        use crate::plan::{Buf, Op};
        // The first evaluation's log starts with what `start` recorded (the adaptive
        // method's `x_prev = x_T`).
        if self.stats.nfe > 0 {
            self.log.clear();
        }
        let src = match loc {
            Loc::X => Buf::X,
            Loc::Slot(e) => Buf::slot(e),
        };
        let op = Op::new(Buf::slot(dst)).term(src, a);
        let op = match out {
            Output::Plain(_) => op.term(Buf::Output, b),
            Output::Cfg { scale, .. } => op
                .term(Buf::Output, b * scale)
                .term(Buf::Guide, b * (T::ONE - scale)),
            Output::Classifier { scale, .. } => op
                .term(Buf::Output, b)
                .term(Buf::Guide, grad_coeff(target, scale, alpha, sigma)),
        };
        self.log.push(op);
    }
}
