//! The sampler-only build's memory allocator (`dpm-solver/sampler`, no tract): std's dlmalloc
//! is 7 kB of that module, this one under 1 kB (3.4 kB less gzip, wasm/BENCHMARKS.md "Package
//! sizes"), for a program that allocates a few buffers per sampler and short-lived strings. The full build keeps
//! dlmalloc (tract allocates much more, and more varied).
//!
//! Small blocks (up to 32 KiB) come in power-of-two sizes, each size with a free list, carved
//! from whole pages; larger blocks are runs of 64 KiB pages kept in an address-ordered free
//! list, split on allocation (first fit) and merged with their free neighbours when freed, so
//! freed memory is reused whatever the sizes. New pages come from `memory.grow`. Single-threaded
//! (wasm32 without atomics, as the package is built).
//!
//! The bookkeeping is [`Heap`], which takes its pages from a `grow` function, so the native
//! unit tests run it on an ordinary buffer.

/// Bytes of a page (wasm's).
pub const PAGE: usize = 65536;
/// Small blocks are `MIN << k` bytes for `k < CLASSES` (16 B to 32 KiB).
const MIN: usize = 16;
const CLASSES: usize = 12;

/// Allocator state. Free blocks hold the list links: a small one its successor's address, a
/// run of pages its successor's address and its length in pages. Address 0 ends a list (no
/// block lives there: `grow` never hands out address 0).
pub struct Heap<G> {
    small: [usize; CLASSES],
    runs: usize,
    /// The unused part of the current page for small blocks: its address and length.
    bump: usize,
    left: usize,
    /// Adds `pages` pages, returning the address of the first, or `None`.
    grow: G,
}

impl<G: FnMut(usize) -> Option<usize>> Heap<G> {
    pub const fn new(grow: G) -> Self {
        Heap {
            small: [0; CLASSES],
            runs: 0,
            bump: 0,
            left: 0,
            grow,
        }
    }

    /// The small class of a request (`None`: a run of pages).
    fn class(size: usize, align: usize) -> Option<usize> {
        let s = size.max(align);
        (s <= MIN << (CLASSES - 1))
            .then(|| (s.max(MIN).next_power_of_two() / MIN).trailing_zeros() as usize)
    }

    /// The pages of a block that is not small.
    fn pages(size: usize) -> usize {
        size.div_ceil(PAGE).max(1)
    }

    /// A block of `size` bytes aligned to `align` (a power of two), or 0.
    ///
    /// # Safety
    /// The addresses `grow` returns must be free for the heap's use.
    pub unsafe fn alloc(&mut self, size: usize, align: usize) -> usize {
        match Self::class(size, align) {
            Some(k) => {
                let head = self.small[k];
                if head != 0 {
                    self.small[k] = unsafe { *(head as *const usize) };
                    return head;
                }
                let s = MIN << k;
                // Blocks of a size at multiples of it: aligned to it, and so to `align`.
                let mut pad = self.bump.wrapping_neg() & (s - 1);
                if self.bump == 0 || self.left < pad + s {
                    self.bump = unsafe { self.alloc_pages(1) };
                    if self.bump == 0 {
                        return 0;
                    }
                    (pad, self.left) = (0, PAGE);
                }
                let p = self.bump + pad;
                // Wraps to 0 at the end of a 4 GiB memory: a new page next time.
                self.bump = p.wrapping_add(s);
                self.left -= pad + s;
                p
            }
            None if align <= PAGE => unsafe { self.alloc_pages(Self::pages(size)) },
            None => 0,
        }
    }

    /// Frees a block that `alloc(size, align)` returned.
    ///
    /// # Safety
    /// `p` came from `alloc` with these `size` and `align` and is not used any more.
    pub unsafe fn free(&mut self, p: usize, size: usize, align: usize) {
        match Self::class(size, align) {
            Some(k) => {
                unsafe { *(p as *mut usize) = self.small[k] };
                self.small[k] = p;
            }
            None => unsafe { self.free_pages(p, Self::pages(size)) },
        }
    }

    unsafe fn alloc_pages(&mut self, pages: usize) -> usize {
        let mut link: *mut usize = &mut self.runs;
        unsafe {
            while *link != 0 {
                let run = *link;
                let (next, len) = (*(run as *const usize), *(run as *const usize).add(1));
                if len > pages {
                    // The run's tail: the run keeps its place in the list.
                    *(run as *mut usize).add(1) = len - pages;
                    return run + (len - pages) * PAGE;
                }
                if len == pages {
                    *link = next;
                    return run;
                }
                link = run as *mut usize;
            }
        }
        (self.grow)(pages).unwrap_or(0)
    }

    unsafe fn free_pages(&mut self, p: usize, pages: usize) {
        // The free runs before and after `p`.
        let mut prev = 0;
        let mut next = self.runs;
        unsafe {
            while next != 0 && next < p {
                prev = next;
                next = *(next as *const usize);
            }
            let (mut start, mut len) = (p, pages);
            if next != 0 && p.wrapping_add(pages * PAGE) == next {
                len += *(next as *const usize).add(1);
                next = *(next as *const usize);
            }
            if prev != 0 && prev + *(prev as *const usize).add(1) * PAGE == p {
                start = prev;
                len += *(prev as *const usize).add(1);
            } else if prev != 0 {
                *(prev as *mut usize) = p;
            } else {
                self.runs = p;
            }
            *(start as *mut usize) = next;
            *(start as *mut usize).add(1) = len;
        }
    }
}

#[cfg(all(
    target_arch = "wasm32",
    not(target_feature = "atomics"),
    not(feature = "pipeline")
))]
mod global {
    use super::{Heap, PAGE};
    use core::alloc::{GlobalAlloc, Layout};
    use core::cell::UnsafeCell;

    fn grow(pages: usize) -> Option<usize> {
        let old = core::arch::wasm32::memory_grow(0, pages);
        (old != usize::MAX).then(|| old * PAGE)
    }

    struct Global(UnsafeCell<Heap<fn(usize) -> Option<usize>>>);

    // SAFETY: wasm32 without atomics has one thread.
    unsafe impl Sync for Global {}

    unsafe impl GlobalAlloc for Global {
        unsafe fn alloc(&self, l: Layout) -> *mut u8 {
            // SAFETY: one thread, and no allocation re-enters the allocator.
            unsafe { (*self.0.get()).alloc(l.size(), l.align()) as *mut u8 }
        }

        unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
            // SAFETY: as in `alloc`; `p` came from `alloc` with `l`.
            unsafe { (*self.0.get()).free(p as usize, l.size(), l.align()) }
        }
    }

    #[global_allocator]
    static HEAP: Global = Global(UnsafeCell::new(Heap::new(grow)));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A heap on `pages` pages of a buffer, and the buffer's page-aligned start.
    fn arena(pages: usize) -> (Vec<u8>, usize) {
        let buf = vec![0u8; (pages + 1) * PAGE];
        let start = (buf.as_ptr() as usize).div_ceil(PAGE) * PAGE;
        (buf, start)
    }

    #[test]
    fn blocks_are_aligned_disjoint_and_reused() {
        let (_buf, start) = arena(256);
        let end = start + 256 * PAGE;
        let taken = core::cell::Cell::new(0);
        let mut h = Heap::new(|n: usize| {
            let p = start + taken.get() * PAGE;
            (p + n * PAGE <= end).then(|| {
                taken.set(taken.get() + n);
                p
            })
        });
        // Pseudo-random sizes and aligns, frees in between; every live block is checked
        // against every other and filled, so overlaps show.
        let mut state = 7u32;
        let mut rnd = |m: usize| {
            state = state.wrapping_mul(1664525).wrapping_add(1013904223);
            (state >> 8) as usize % m
        };
        let mut live: Vec<(usize, usize, usize, u8)> = Vec::new();
        for i in 0..3000 {
            if !live.is_empty() && rnd(3) == 0 {
                let (p, size, align, tag) = live.swap_remove(rnd(live.len()));
                for a in p..p + size {
                    assert_eq!(unsafe { *(a as *const u8) }, tag);
                }
                unsafe { h.free(p, size, align) };
                continue;
            }
            let size = match rnd(4) {
                0 => 1 + rnd(64),
                1 => 1 + rnd(4096),
                2 => 1 + rnd(40000),
                _ => 1 + rnd(3 * PAGE),
            };
            let align = 1 << rnd(7);
            let p = unsafe { h.alloc(size, align) };
            if p == 0 {
                // Out of the arena: free everything and go on.
                for (p, size, align, _) in live.drain(..) {
                    unsafe { h.free(p, size, align) };
                }
                continue;
            }
            assert_eq!(p % align, 0);
            assert!(p >= start && p + size <= end);
            for &(q, qs, _, _) in &live {
                assert!(p + size <= q || q + qs <= p, "overlap at step {i}");
            }
            let tag = (i % 251) as u8;
            unsafe { core::ptr::write_bytes(p as *mut u8, tag, size) };
            live.push((p, size, align, tag));
        }
        for (p, size, align, _) in live.drain(..) {
            unsafe { h.free(p, size, align) };
        }
        // Everything freed: the free runs are in address order, never touch (freed
        // neighbours merged), and with the pages of small blocks make up every page taken.
        let (mut run, mut free, mut runs) = (h.runs, 0, 0);
        while run != 0 {
            let (next, len) = unsafe { (*(run as *const usize), *(run as *const usize).add(1)) };
            assert!(
                next == 0 || run + len * PAGE < next,
                "runs out of order or touching"
            );
            free += len;
            runs += 1;
            run = next;
        }
        let small_pages = taken.get() - free;
        assert!(
            runs <= small_pages + 1,
            "{runs} runs around {small_pages} small pages"
        );
        assert!(small_pages <= 64, "{small_pages} pages of small blocks");
        // The first run is taken whole by an allocation of its size.
        let first = h.runs;
        let len = unsafe { *(first as *const usize).add(1) };
        assert_eq!(unsafe { h.alloc(len * PAGE, 8) }, first);
    }

    #[test]
    fn freed_runs_merge() {
        let (_buf, start) = arena(8);
        let mut top = start;
        let end = start + 8 * PAGE;
        let mut h = Heap::new(|n: usize| {
            let p = top;
            top += n * PAGE;
            (top <= end).then_some(p)
        });
        unsafe {
            let a = h.alloc(2 * PAGE, 8);
            let b = h.alloc(3 * PAGE, 8);
            let c = h.alloc(3 * PAGE, 8);
            assert!(a != 0 && b != 0 && c != 0);
            assert_eq!(h.alloc(PAGE, 8), 0, "the arena is full");
            // Freed out of order: one run of 8 pages again.
            h.free(c, 3 * PAGE, 8);
            h.free(a, 2 * PAGE, 8);
            h.free(b, 3 * PAGE, 8);
            assert_eq!(h.alloc(8 * PAGE, 8), start);
        }
    }
}
