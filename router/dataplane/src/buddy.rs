//! A buddy allocator over the indexes of a FIB array, for builders that
//! rebuild a piece of their structure beside the live one and then switch
//! one entry over to it: runs are powers of two, so a freed run merges back
//! with its buddy and the array does not fragment for good.

use std::collections::BTreeSet;

/// A run of entries: where it starts, and its order (2^order entries).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Run {
    pub at: u32,
    pub order: u32,
}

impl Run {
    pub fn len(self) -> u32 {
        1 << self.order
    }
}

/// The smallest order whose run holds `n` entries.
pub(crate) fn order_for(n: u32) -> u32 {
    n.max(1).next_power_of_two().trailing_zeros()
}

#[derive(Debug, Clone)]
pub(crate) struct Buddy {
    /// Free runs' starts, by order.
    free: Vec<BTreeSet<u32>>,
    capacity: u32,
    max_order: u32,
}

impl Buddy {
    /// `capacity` entries (rounded down to whole runs of `max_order`).
    pub fn new(capacity: u32, max_order: u32) -> Buddy {
        let mut free = vec![BTreeSet::new(); max_order as usize + 1];
        let top = 1u32 << max_order;
        for at in (0..capacity / top).map(|i| i * top) {
            free[max_order as usize].insert(at);
        }
        Buddy {
            free,
            capacity: capacity / top * top,
            max_order,
        }
    }

    pub fn capacity(&self) -> u32 {
        self.capacity
    }

    /// A free run of `order`, the lowest available.
    pub fn alloc(&mut self, order: u32) -> Option<u32> {
        let from = (order..=self.max_order).find(|&o| !self.free[o as usize].is_empty())?;
        let at = self.free[from as usize].pop_first()?;
        // Split down, keeping the lower half each time.
        for o in (order..from).rev() {
            self.free[o as usize].insert(at + (1 << o));
        }
        Some(at)
    }

    /// Takes `run` out of the free space (it is in use by a structure the
    /// builder did not make, e.g. maps adopted from a previous run).
    /// False when part of it is not free or it is not aligned.
    pub fn reserve(&mut self, run: Run) -> bool {
        if run.order > self.max_order || !run.at.is_multiple_of(run.len()) {
            return false;
        }
        let Some(from) = (run.order..=self.max_order).find(|&o| {
            let block = run.at & !((1u32 << o) - 1);
            self.free[o as usize].contains(&block)
        }) else {
            return false;
        };
        let block = run.at & !((1u32 << from) - 1);
        self.free[from as usize].remove(&block);
        // Split down towards the run, freeing the halves beside it.
        for o in (run.order..from).rev() {
            let beside = (run.at & !((1u32 << o) - 1)) ^ (1 << o);
            self.free[o as usize].insert(beside);
        }
        true
    }

    pub fn release(&mut self, run: Run) {
        let (mut at, mut order) = (run.at, run.order);
        while order < self.max_order {
            let buddy = at ^ (1 << order);
            if !self.free[order as usize].remove(&buddy) {
                break;
            }
            at = at.min(buddy);
            order += 1;
        }
        self.free[order as usize].insert(at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserve_splits_around_the_run_and_release_merges_back() {
        let mut b = Buddy::new(64, 4);
        let r = Run { at: 20, order: 2 };
        assert!(b.reserve(r));
        assert!(!b.reserve(r), "already taken");
        assert!(!b.reserve(Run { at: 18, order: 2 }), "unaligned");
        // Everything else is still allocatable: 64 - 4 entries.
        let mut got = 0;
        while let Some(at) = b.alloc(0) {
            assert!(!(20..24).contains(&at), "{at} is reserved");
            got += 1;
        }
        assert_eq!(got, 60);
        for at in (0..64).filter(|a| !(20..24).contains(a)) {
            b.release(Run { at, order: 0 });
        }
        b.release(r);
        assert_eq!(b.alloc(4), Some(0));
        assert_eq!(b.alloc(4), Some(16));
        assert_eq!(b.alloc(4), Some(32));
        assert_eq!(b.alloc(4), Some(48));
        assert_eq!(b.alloc(0), None);
    }

    #[test]
    fn order_for_rounds_up() {
        assert_eq!(order_for(0), 0);
        assert_eq!(order_for(1), 0);
        assert_eq!(order_for(3), 2);
        assert_eq!(order_for(4), 2);
        assert_eq!(order_for(5), 3);
    }
}
