//! Where a sampler's lists live: a discrete schedule's `log alpha` table and a custom
//! spacing's times, the only data the [`NoiseSchedule`] and the [`Config`] borrow.
//!
//! [`Lists::Borrowed`] keeps the caller's values as they are: no_std, no allocation, what a
//! firmware uses. [`Lists::Owned`] (feature `alloc`) holds copies of the two lists in `Vec`s of
//! its own, so a sampler built on it borrows nothing and can be kept anywhere (the wasm
//! bindings' `Sampler` and `StepPlan`). Either way the state machine reads a [`View`] rebuilt for
//! each call over the lists' storage; nothing stored refers to the sampler itself.

use crate::math::Real;
use crate::schedule::NoiseSchedule;
use crate::spacing::Grid;
#[cfg(feature = "alloc")]
use crate::spacing::Spacing;

use super::Config;

/// The schedule, configuration and time grid of a run as the state machine reads them
/// (`Copy` values over borrowed lists).
#[derive(Clone, Copy, Debug)]
pub(super) struct View<'v, T> {
    pub cfg: Config<'v, T>,
    pub sched: NoiseSchedule<'v, T>,
    pub grid: Grid<'v, T>,
}

/// A sampler's lists: the caller's, or copies of its own. One type for both, so that borrowed
/// and owned samplers share the sampler's code.
pub(super) enum Lists<'a, T> {
    /// The caller's.
    Borrowed(View<'a, T>),
    /// Copies (feature `alloc`).
    #[cfg(feature = "alloc")]
    Owned(Owned<'a, T>),
}

impl<T: Real> Lists<'_, T> {
    /// The view the state machine reads for one call.
    pub fn view(&self) -> View<'_, T> {
        match self {
            Lists::Borrowed(v) => *v,
            #[cfg(feature = "alloc")]
            Lists::Owned(o) => o.detached.over(&o.table, &o.times),
        }
    }
}

/// Copies of the lists and the view apart from them.
#[cfg(feature = "alloc")]
pub(super) struct Owned<'a, T> {
    /// The discrete schedule's clipped `log alpha` table (empty for the other schedules).
    table: alloc::vec::Vec<T>,
    /// The custom spacing's times (empty for the other spacings).
    times: alloc::vec::Vec<T>,
    /// The view with empty lists in place of `table` and `times` (`'static` in practice);
    /// [`Lists::view`] puts them back.
    detached: View<'a, T>,
}

#[cfg(feature = "alloc")]
impl<T: Real + 'static> Lists<'static, T> {
    /// Copies of the lists `view` borrows.
    pub fn owned(view: View<'_, T>) -> Self {
        let table = match view.sched {
            NoiseSchedule::Discrete(d) => d.log_alpha_table().to_vec(),
            _ => alloc::vec::Vec::new(),
        };
        let times = match view.cfg.spacing {
            Spacing::Custom(t) => t.to_vec(),
            _ => alloc::vec::Vec::new(),
        };
        Lists::Owned(Owned {
            detached: view.over(&[], &[]),
            table,
            times,
        })
    }
}

#[cfg(feature = "alloc")]
impl<T: Real> View<'_, T> {
    /// The same view with its lists read from `table` (a discrete schedule's clipped
    /// `log alpha`) and `times` (a custom spacing's), each unused where the schedule or the
    /// spacing holds no list.
    fn over<'b>(&self, table: &'b [T], times: &'b [T]) -> View<'b, T> {
        let spacing = self.cfg.spacing.with_times(times);
        View {
            cfg: self.cfg.with_spacing(spacing),
            sched: self.sched.with_table(table),
            grid: self.grid.with_spacing(spacing),
        }
    }
}

#[cfg(all(test, feature = "alloc"))]
mod tests {
    use crate::sampler::{Config, Sampler};
    use crate::schedule::NoiseSchedule;

    fn model(x: &[f32], t: f32, out: &mut [f32]) {
        for (o, &v) in out.iter_mut().zip(x) {
            *o = 0.4 * v + (3.0 * t).sin();
        }
    }

    /// A discrete schedule's table and custom times copied by the sampler: the same run, bit
    /// for bit, after the caller's lists are gone.
    #[test]
    fn owned_lists_give_the_borrowed_result_bit_for_bit() {
        use crate::schedule::{Betas, DiscreteVp};
        use crate::spacing::Spacing;
        let betas = Betas::Linear {
            start: 1e-4,
            end: 0.02,
            n: 1000,
        };
        let mut table = vec![0.0f32; 1000];
        let sched = NoiseSchedule::Discrete(DiscreteVp::from_betas(&betas, &mut table).unwrap());
        let times: Vec<f32> = (0..=6).map(|i| 1.0 - 0.15 * i as f32).collect();
        let cfg = Config {
            steps: 6,
            spacing: Spacing::Custom(&times),
            ..Config::default()
        };
        let start = [0.3f32, -1.2, 0.8, 0.1];
        let mut out = [0.0f32; 4];
        let mut x = start;
        let mut scratch = [0.0f32; 8];
        let mut borrowed = Sampler::new(sched, cfg, &mut x, &mut scratch).unwrap();
        let stats = borrowed.sample(&mut out, model).unwrap();

        let mut owned: crate::sampler::OwnedSampler =
            Sampler::with_buffers(sched, cfg, start.to_vec(), vec![0.0; 8])
                .unwrap()
                .into_owned_lists();
        let copy = times.clone();
        drop(times);
        drop(table);
        assert_eq!(owned.config().spacing, Spacing::Custom(&copy));
        assert_eq!(owned.sample(&mut out, model).unwrap(), stats);
        assert_eq!(owned.x(), x);
    }
}
