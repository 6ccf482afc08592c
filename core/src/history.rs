//! A named history ring: which of `capacity` equal slots of a buffer holds each of the last
//! `capacity` entries, newest first.
//!
//! The multistep solvers keep their past model outputs this way (the core's multistep
//! DPM-Solver and the diffusers schedulers alike): a new evaluation overwrites the oldest slot,
//! and an update reads "the newest" and "the one before" by name instead of by slot arithmetic
//! (`i % k`). The ring only does the bookkeeping; the slots themselves are `n` elements each at
//! the front of the caller's scratch buffer (see [`range`](History::range)), in the manner of
//! heapless' `HistoryBuf` over a buffer it does not own.

use core::ops::Range;

/// Bookkeeping of a ring of `capacity` slots of `n` elements each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct History {
    capacity: usize,
    n: usize,
    /// Slot of the newest entry (meaningless while `len == 0`).
    head: usize,
    len: usize,
}

impl History {
    /// An empty ring of `capacity` slots (at least 1) of `n` elements each.
    pub const fn new(capacity: usize, n: usize) -> Self {
        History {
            capacity: if capacity == 0 { 1 } else { capacity },
            n,
            head: 0,
            len: 0,
        }
    }

    /// Makes room for a new entry, dropping the oldest when the ring is full, and returns the
    /// slot it goes to (the first entry goes to slot 0, then 1, ... wrapping around).
    pub fn push(&mut self) -> usize {
        if self.len > 0 {
            self.head = if self.head + 1 < self.capacity {
                self.head + 1
            } else {
                0
            };
        }
        if self.len < self.capacity {
            self.len += 1;
        }
        self.head
    }

    /// Slot of the newest entry (`prev(0)`).
    pub fn last(&self) -> usize {
        self.head
    }

    /// Slot of the entry `k` pushes before the newest (`k = 0`: the newest). Meaningful for
    /// `k < len()`; further back it names some slot of the ring, never one out of range.
    pub fn prev(&self, k: usize) -> usize {
        // No division: the firmware's multistep loop inlines this for k = 0, 1, 2.
        if k <= self.head {
            self.head - k
        } else {
            (self.head + self.capacity).saturating_sub(k)
        }
    }

    /// Entries held (at most [`capacity`](Self::capacity)).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing was pushed yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of slots.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Elements the ring's slots occupy at the front of a buffer (`capacity * n`).
    pub fn elements(&self) -> usize {
        self.capacity * self.n
    }

    /// The element range of the entry `k` pushes before the newest.
    pub fn range(&self, k: usize) -> Range<usize> {
        let p = self.prev(k);
        p * self.n..(p + 1) * self.n
    }
}

#[cfg(test)]
mod tests {
    use super::History;

    #[test]
    fn slots_follow_the_push_count_modulo_the_capacity() {
        for cap in 1..=4 {
            let mut h = History::new(cap, 5);
            assert!(h.is_empty());
            for i in 0..10 {
                assert_eq!(h.push(), i % cap);
                assert_eq!(h.last(), i % cap);
                assert_eq!(h.len(), (i + 1).min(cap));
                // The entry pushed `k` times ago is in slot (i - k) % cap.
                for k in 0..=i.min(cap - 1) {
                    assert_eq!(h.prev(k), (i - k) % cap, "cap {cap}, push {i}, back {k}");
                    assert_eq!(h.range(k), h.prev(k) * 5..h.prev(k) * 5 + 5);
                }
            }
        }
    }

    #[test]
    fn a_full_ring_overwrites_its_oldest_entry() {
        let mut h = History::new(3, 2);
        let mut buf = [0u32; 6];
        for v in 1..=5u32 {
            let r = {
                h.push();
                h.range(0)
            };
            buf[r].fill(v);
        }
        // Holds 5, 4, 3 newest first; 1 and 2 were overwritten.
        assert_eq!(h.len(), 3);
        let got: [u32; 3] = core::array::from_fn(|k| buf[h.range(k)][0]);
        assert_eq!(got, [5, 4, 3]);
        assert_eq!(h.elements(), 6);
    }

    #[test]
    fn zero_capacity_is_one_slot() {
        let mut h = History::new(0, 4);
        assert_eq!(h.capacity(), 1);
        assert_eq!(h.push(), 0);
        assert_eq!(h.push(), 0);
        assert_eq!(h.prev(7), 0);
        assert_eq!(h.len(), 1);
        // Asking further back than the ring holds stays in range.
        let mut h = History::new(3, 1);
        for _ in 0..4 {
            h.push();
        }
        assert!((0..50).all(|k| h.prev(k) < 3));
    }
}
