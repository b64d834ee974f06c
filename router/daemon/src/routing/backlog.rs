//! Route changes not yet placed in the data plane.
//!
//! Placing a prefix (its entry, group and map writes) costs several times
//! what learning it does, so while UPDATEs queue up the route owner only
//! learns them and collects the prefixes they touched; the data plane
//! takes them in chunks whenever the session queue is empty, and a chunk
//! at least as big as each new batch once the oldest change has waited
//! [`MAX_WAIT`]. A full table then reaches the RIB at learning speed, a
//! prefix that changes again in the meantime is placed once, a single
//! change in a quiet moment is placed at once, as before, and no chunk
//! holds up control requests for long. Neighbours hear of a change only
//! once it is placed (suppress until programmed), so the wait delays them
//! too. Zebra's meta-queue batches between its RIB and the kernel alike.

use std::time::{Duration, Instant};

use sluice_wire::Prefix;

/// The longest a change waits for the queue to empty: under a sustained
/// flood the data plane still follows within about this.
pub const MAX_WAIT: Duration = Duration::from_millis(500);

/// Prefixes placed at a time when the queue is empty (a few milliseconds
/// of work).
pub const CHUNK: usize = 8192;

#[derive(Debug, Default)]
pub struct Backlog {
    prefixes: Vec<Prefix>,
    /// Since the last sort, prefixes were added (so duplicates may exist).
    unsorted: bool,
    since: Option<Instant>,
}

impl Backlog {
    /// Adds changed prefixes; true if the oldest waited too long.
    pub fn push(&mut self, touched: &[Prefix], now: Instant) -> bool {
        if touched.is_empty() {
            return false;
        }
        self.prefixes.extend_from_slice(touched);
        self.unsorted = true;
        let since = *self.since.get_or_insert(now);
        now.duration_since(since) >= MAX_WAIT
    }

    pub fn is_empty(&self) -> bool {
        self.prefixes.is_empty()
    }

    /// Up to `max` prefixes, each prefix once however often it changed.
    /// What stays counts as waiting from `now`.
    pub fn take(&mut self, max: usize, now: Instant) -> Vec<Prefix> {
        if self.unsorted {
            self.prefixes.sort_unstable();
            self.prefixes.dedup();
            self.unsorted = false;
        }
        let rest = self.prefixes.len().saturating_sub(max);
        let chunk = self.prefixes.split_off(rest);
        self.since = (!self.prefixes.is_empty()).then_some(now);
        if self.prefixes.is_empty() {
            // A full table's worth of capacity is not kept around.
            self.prefixes = Vec::new();
        }
        chunk
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Prefix {
        s.parse().unwrap()
    }

    #[test]
    fn waits_until_taken_or_too_old() {
        let t0 = Instant::now();
        let mut b = Backlog::default();
        assert!(!b.push(&[], t0));
        assert!(b.is_empty());
        assert!(!b.push(&[p("10.0.0.0/8")], t0));
        assert!(!b.push(&[p("10.0.0.0/8"), p("2001:db8::/32")], t0 + MAX_WAIT / 2));
        assert!(b.push(&[p("192.0.2.0/24")], t0 + MAX_WAIT));
        let mut taken = b.take(2, t0 + MAX_WAIT);
        assert_eq!(taken.len(), 2);
        assert!(!b.is_empty());
        // What stayed waits anew from the take.
        assert!(!b.push(&[p("10.0.0.0/8")], t0 + MAX_WAIT * 3 / 2));
        taken.extend(b.take(CHUNK, t0 + MAX_WAIT * 2));
        taken.sort_unstable();
        let want: Vec<Prefix> = ["10.0.0.0/8", "192.0.2.0/24", "2001:db8::/32"]
            .map(p)
            .to_vec();
        assert_eq!(taken, want, "each prefix once");
        assert!(b.is_empty());
        assert!(!b.push(&[p("10.0.0.0/8")], t0 + MAX_WAIT * 9));
    }
}
