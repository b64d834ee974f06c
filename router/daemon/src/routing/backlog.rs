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

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use sluice_wire::Prefix;

use crate::packed;

/// The longest a change waits for the queue to empty: under a sustained
/// flood the data plane still follows within about this.
pub const MAX_WAIT: Duration = Duration::from_millis(500);

/// Prefixes placed at a time when the queue is empty (a few milliseconds
/// of work).
pub const CHUNK: usize = 8192;

/// While a full table loads, the backlog holds all of it: its keys are
/// packed ([`packed`]) and sort in `IpNet` order.
#[derive(Debug, Default)]
pub struct Backlog {
    /// `addr << 8 | len`.
    v4: Vec<u64>,
    /// The address's octets, then the length.
    v6: Vec<[u8; 17]>,
    /// Since the last sort, prefixes were added (so duplicates may exist).
    unsorted: bool,
    since: Option<Instant>,
}

fn prefix4(k: u64) -> Prefix {
    let (addr, len) = packed::unkey4(k);
    IpNet::V4(Ipv4Net::new(addr, len).expect("a length the key was made from"))
}

fn prefix6(k: [u8; 17]) -> Prefix {
    let (addr, len) = packed::unkey6(&k);
    IpNet::V6(Ipv6Net::new(addr, len).expect("a length the key was made from"))
}

impl Backlog {
    /// Adds changed prefixes; true if the oldest waited too long.
    pub fn push(&mut self, touched: &[Prefix], now: Instant) -> bool {
        if touched.is_empty() {
            return false;
        }
        for p in touched {
            match p {
                IpNet::V4(net) => self.v4.push(packed::key4(net.network(), net.prefix_len())),
                IpNet::V6(net) => self.v6.push(packed::key6(net.network(), net.prefix_len())),
            }
        }
        self.unsorted = true;
        let since = *self.since.get_or_insert(now);
        now.duration_since(since) >= MAX_WAIT
    }

    pub fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.v6.is_empty()
    }

    /// Up to `max` prefixes, each prefix once however often it changed.
    /// What stays counts as waiting from `now`.
    pub fn take(&mut self, max: usize, now: Instant) -> Vec<Prefix> {
        if self.unsorted {
            self.v4.sort_unstable();
            self.v4.dedup();
            self.v6.sort_unstable();
            self.v6.dedup();
            self.unsorted = false;
        }
        // From the end, as `IpNet` order has it: IPv6 after IPv4.
        let from6 = self.v6.len().min(max);
        let from4 = self.v4.len().min(max - from6);
        let mut chunk = Vec::with_capacity(from4 + from6);
        chunk.extend(self.v4.drain(self.v4.len() - from4..).map(prefix4));
        chunk.extend(self.v6.drain(self.v6.len() - from6..).map(prefix6));
        self.since = (!self.is_empty()).then_some(now);
        // A full table's worth of capacity is not kept around: it shrinks
        // as the data plane takes it, so the FIB that grows meanwhile can
        // have the memory (the peak RSS of a full-table load was the whole
        // backlog and the whole FIB at once).
        shrink(&mut self.v4);
        shrink(&mut self.v6);
        chunk
    }
}

/// Gives back capacity once at most half of it is in use (releasing it
/// all when empty); a shrink is a realloc, one per few chunks.
fn shrink<T>(v: &mut Vec<T>) {
    if v.is_empty() {
        *v = Vec::new();
    } else if v.capacity() >= 2 * v.len() + CHUNK {
        v.shrink_to(v.len() + v.len() / 4);
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

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

    #[test]
    fn chunks_come_in_ipnet_order_each_prefix_once() {
        let t0 = Instant::now();
        let mut b = Backlog::default();
        let mut all = Vec::new();
        // A deterministic mix of both families, lengths and duplicates.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for i in 0..5000u32 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let p: Prefix = if i % 3 == 0 {
                let addr = Ipv6Addr::from(u128::from(x) << 64 | u128::from(x % 7));
                IpNet::V6(Ipv6Net::new(addr, (x % 129) as u8).unwrap().trunc())
            } else {
                let addr = Ipv4Addr::from((x >> 32) as u32 & 0xff0f_ff00);
                IpNet::V4(Ipv4Net::new(addr, (x % 33) as u8).unwrap().trunc())
            };
            all.push(p);
            if i % 10 == 0 {
                all.push(p);
            }
        }
        for batch in all.chunks(333) {
            b.push(batch, t0);
        }
        let mut taken = Vec::new();
        while !b.is_empty() {
            let chunk = b.take(1000, t0);
            assert!(chunk.len() <= 1000);
            assert!(chunk.is_sorted(), "a chunk is in order");
            // Each chunk comes from the end: before everything taken so far.
            chunk.iter().rev().for_each(|p| taken.push(*p));
        }
        taken.reverse();
        all.sort_unstable();
        all.dedup();
        assert_eq!(taken, all);
    }

    #[test]
    fn capacity_follows_the_backlog_down() {
        let t0 = Instant::now();
        let mut b = Backlog::default();
        let table: Vec<Prefix> = (0..200_000u32)
            .map(|i| IpNet::V4(Ipv4Net::new(Ipv4Addr::from(i << 8), 24).unwrap()))
            .collect();
        for batch in table.chunks(1000) {
            b.push(batch, t0);
        }
        assert!(b.v4.capacity() >= 200_000);
        while !b.is_empty() {
            b.take(CHUNK, t0);
            // Never much more than what is left.
            let (len, cap) = (b.v4.len(), b.v4.capacity());
            assert!(
                cap < 2 * len + CHUNK,
                "{cap} of capacity for {len} prefixes"
            );
        }
        assert_eq!(b.v4.capacity(), 0, "an empty backlog holds nothing");
    }
}
