//! `Leaked`: lists a `'static` solver configuration borrows (a diffusers scheduler's config
//! lists and buffers; `Model.generate`'s and `Model.begin`'s custom times), kept alive by the
//! JS object that owns the solver and freed after it. Its own module so that the bindings that
//! need it (`sampler`, `diffusers`, `model`, `run`) do not import each other for it. The
//! DPM-Solver `Sampler` is not here: the core sampler owns its `x`, scratch, schedule table and
//! custom times (`OwnedSampler`), and `StepPlan`'s planner holds its own.

/// The buffers a sampler borrows, leaked for the sampler's lifetime and freed after it.
#[derive(Default)]
pub(crate) struct Leaked {
    floats: Vec<*mut [f32]>,
    indices: Vec<*mut [usize]>,
}

impl Leaked {
    /// Moves `v` to the heap and hands out a `'static` borrow of it; freed when `self` drops.
    pub(crate) fn keep(&mut self, v: Vec<f32>) -> &'static mut [f32] {
        let p = Box::into_raw(v.into_boxed_slice());
        self.floats.push(p);
        // SAFETY: `p` comes from `Box::into_raw` and is freed only in `Drop`, which runs after
        // the sampler holding this borrow is dropped (field order of `Sampler`).
        unsafe { &mut *p }
    }

    /// As [`keep`](Self::keep), for a list of indices.
    pub(crate) fn keep_indices(&mut self, v: Vec<usize>) -> &'static [usize] {
        let p = Box::into_raw(v.into_boxed_slice());
        self.indices.push(p);
        // SAFETY: as in `keep`.
        unsafe { &*p }
    }
}

impl Drop for Leaked {
    fn drop(&mut self) {
        for p in self.floats.drain(..) {
            // SAFETY: each pointer came from `Box::into_raw` and is freed exactly once; no
            // borrow of it is alive (the sampler was dropped first, or never built).
            unsafe { drop(Box::from_raw(p)) };
        }
        for p in self.indices.drain(..) {
            // SAFETY: as above.
            unsafe { drop(Box::from_raw(p)) };
        }
    }
}
