//! Route changes not yet placed in the data plane.
//!
//! Placing a prefix (its entry, group and map writes) costs several times
//! what learning it does, so while UPDATEs queue up the route owner only
//! learns them and collects the prefixes they touched; the data plane
//! takes them in chunks whenever the session queue is empty, and a chunk
//! twice as big as each new batch (at most [`OVERDUE_MAX`]) once the
//! oldest change has waited [`MAX_WAIT`]. A full table then reaches the
//! RIB at learning speed, a prefix that changes again in the meantime is
//! placed once, a single change in a quiet moment is placed at once, as
//! before, and no chunk holds up control requests for long. Neighbours hear of a change only
//! once it is placed (suppress until programmed), so the wait delays them
//! too. Zebra's meta-queue batches between its RIB and the kernel alike.
//!
//! A chunk is [`STRIPES`] runs of neighbouring prefixes from across the
//! backlog, not one run from its end: each run keeps the DIR-24-8's writes
//! on a few pages, and the kernel FIB, which takes a full table at its own
//! pace a few chunks behind, gets its routes spread over the address space.
//! Its trie took a quarter longer (a second more of CPU for a million
//! routes) when they came in address order, rebuilding nodes as runs
//! filled them.

use std::ops::Range;
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

/// The most placed at once when changes are overdue (about 0.1 s of work).
pub const OVERDUE_MAX: usize = 16 * CHUNK;

/// Runs a chunk is taken from.
const STRIPES: usize = 16;

/// While a full table loads, the backlog holds all of it: its keys are
/// packed ([`packed`]) and sort in `IpNet` order.
#[derive(Debug, Default)]
pub struct Backlog {
    /// `addr << 8 | len`.
    v4: Striped<u64>,
    /// The address's octets, then the length.
    v6: Striped<[u8; 17]>,
    since: Option<Instant>,
    /// What a take unpacks from, kept: a chunk's buffers are past malloc's
    /// mmap threshold, so each fresh one faulted its pages in again.
    taken4: Vec<u64>,
    taken6: Vec<[u8; 17]>,
}

/// Keys that are sorted, cut into [`STRIPES`] runs and taken from the end
/// of every run in turn.
#[derive(Debug)]
struct Striped<T> {
    keys: Vec<T>,
    /// What is left of each run of `keys[..sorted]`: a take shortens them
    /// from the end.
    runs: Vec<Range<usize>>,
    /// `keys[..sorted]` is cut into `runs`; the rest came since, unsorted
    /// (so duplicates may exist).
    sorted: usize,
}

impl<T> Default for Striped<T> {
    fn default() -> Self {
        Striped {
            keys: Vec::new(),
            runs: Vec::new(),
            sorted: 0,
        }
    }
}

/// A packed key, and how a backlog of them sorts.
trait Key: Ord + Copy {
    fn sort(keys: &mut [Self]) {
        keys.sort_unstable();
    }
}

impl Key for u64 {}

impl Key for [u8; 17] {
    /// By the address as one number: the same order as octet by octet,
    /// without a `memcmp` per comparison (a full IPv6 table's sort took
    /// half as long again).
    fn sort(keys: &mut [Self]) {
        keys.sort_unstable_by_key(|k| {
            let (addr, len) = k.split_at(16);
            (
                u128::from_be_bytes(addr.try_into().expect("16 octets")),
                len[0],
            )
        });
    }
}

impl<T: Key> Striped<T> {
    fn push(&mut self, key: T) {
        self.keys.push(key);
    }

    fn len(&self) -> usize {
        self.in_runs() + self.keys.len() - self.sorted
    }

    /// Keys left in the runs.
    fn in_runs(&self) -> usize {
        self.runs.iter().map(ExactSizeIterator::len).sum()
    }

    /// Up to `n` keys, in order: the last ones of every run in turn.
    fn take(&mut self, n: usize, out: &mut Vec<T>) {
        if self.sorted < self.keys.len() {
            self.close_up();
            T::sort(&mut self.keys);
            self.keys.dedup();
            self.cut();
        }
        // Shares as even as the runs' lengths allow, then taken in order.
        let mut left = n.min(self.in_runs());
        let mut shares = vec![0; self.runs.len()];
        while left > 0 {
            let open = self.runs.iter().zip(&shares).filter(|(r, s)| r.len() > **s);
            let per = left.div_ceil(open.count());
            for (run, share) in self.runs.iter().zip(&mut shares) {
                let t = per.min(run.len() - *share).min(left);
                *share += t;
                left -= t;
            }
        }
        for (run, share) in self.runs.iter_mut().zip(shares) {
            out.extend_from_slice(&self.keys[run.end - share..run.end]);
            run.end -= share;
        }
        self.runs.retain(|r| !r.is_empty());
        // A full table's worth of capacity is not kept around: it shrinks
        // as the data plane takes it, so the FIB that grows meanwhile can
        // have the memory (the peak RSS of a full-table load was the whole
        // backlog and the whole FIB at once). While the kernel FIB paces
        // the data plane, the backlog drains over seconds, not one.
        if self.len() == 0 {
            *self = Striped::default();
        } else if self.keys.capacity() >= self.len() + 4 * CHUNK {
            // The buffer of a table is mapped on its own (`crate::malloc`):
            // a shrink unmaps its tail and copies nothing. Nothing came
            // since the sort above, so what is left is still in order.
            self.close_up();
            self.keys.shrink_to_fit();
            self.cut();
        }
    }

    /// Moves every key left to the front, in order: the gaps the runs'
    /// taken tails left close up, and what came since follows them.
    fn close_up(&mut self) {
        let mut to = 0;
        for run in std::mem::take(&mut self.runs) {
            let n = run.len();
            self.keys.copy_within(run, to);
            to += n;
        }
        let since = self.sorted..self.keys.len();
        let n = since.len();
        self.keys.copy_within(since, to);
        self.keys.truncate(to + n);
        self.sorted = 0;
    }

    /// Cuts the keys, sorted, into runs.
    fn cut(&mut self) {
        let len = self.keys.len();
        self.runs = (0..STRIPES)
            .map(|i| i * len / STRIPES..(i + 1) * len / STRIPES)
            .filter(|r| !r.is_empty())
            .collect();
        self.sorted = len;
    }
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
        let since = *self.since.get_or_insert(now);
        now.duration_since(since) >= MAX_WAIT
    }

    /// Prefixes waiting (a prefix pushed again before a take counts twice).
    pub fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// [`Self::take_into`] a new vector.
    #[cfg(test)]
    pub fn take(&mut self, max: usize, now: Instant) -> Vec<Prefix> {
        let mut chunk = Vec::new();
        self.take_into(max, now, &mut chunk);
        chunk
    }

    /// Up to `max` prefixes into `chunk` (emptied first), each prefix once
    /// however often it changed, in `IpNet` order (IPv6 taken first). What
    /// stays counts as waiting from `now`.
    pub fn take_into(&mut self, max: usize, now: Instant, chunk: &mut Vec<Prefix>) {
        let (v4, v6) = (&mut self.taken4, &mut self.taken6);
        v4.clear();
        v6.clear();
        self.v6.take(max, v6);
        self.v4.take(max - v6.len(), v4);
        chunk.clear();
        chunk.reserve(v4.len() + v6.len());
        chunk.extend(v4.iter().copied().map(prefix4));
        chunk.extend(v6.iter().copied().map(prefix6));
        self.since = (!self.is_empty()).then_some(now);
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
        let want: Vec<Prefix> = ["10.0.0.0/8", "192.0.2.0/24", "2001:db8::/32"]
            .map(p)
            .to_vec();
        let waiting = *want.iter().find(|p| !taken.contains(p)).unwrap();
        // What stayed waits anew from the take, and changing again
        // does not make it twice.
        assert!(!b.push(&[waiting], t0 + MAX_WAIT * 3 / 2));
        taken.extend(b.take(CHUNK, t0 + MAX_WAIT * 2));
        taken.sort_unstable();
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
            taken.extend(chunk);
        }
        taken.sort_unstable();
        all.sort_unstable();
        all.dedup();
        assert_eq!(taken, all);
    }

    /// The `i`th /24 from 0.0.0.0 up.
    fn slash24(i: u32) -> Prefix {
        IpNet::V4(Ipv4Net::new(Ipv4Addr::from(i << 8), 24).unwrap())
    }

    #[test]
    fn a_chunk_spans_the_backlog_in_runs() {
        let t0 = Instant::now();
        let mut b = Backlog::default();
        let table: Vec<Prefix> = (0..100_000).map(slash24).collect();
        b.push(&table, t0);
        let chunk = b.take(1600, t0);
        assert_eq!(chunk.len(), 1600);
        // The last 100 of each sixteenth: the kernel FIB gets them spread
        // over the table, the DIR-24-8 in 16 runs of neighbours.
        let runs: Vec<&[Prefix]> = chunk.chunks(100).collect();
        for (i, run) in runs.iter().enumerate() {
            let end = (i as u32 + 1) * 100_000 / 16;
            let want: Vec<Prefix> = (end - 100..end).map(slash24).collect();
            assert_eq!(run.to_vec(), want, "run {i}");
        }
        // What comes in meanwhile is sorted in with what is left; a
        // prefix taken already is taken again, one still waiting once.
        b.push(&[slash24(6249), slash24(0), slash24(0)], t0);
        let mut rest = Vec::new();
        while !b.is_empty() {
            rest.extend(b.take(CHUNK, t0));
        }
        assert_eq!(rest.len(), 100_000 - 1600 + 1);
        rest.sort_unstable();
        rest.dedup();
        assert_eq!(rest.len(), 100_000 - 1600 + 1, "each prefix once");
        assert!(rest.contains(&slash24(6249)), "taken, changed, taken again");
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
        assert!(b.v4.keys.capacity() >= 200_000);
        while !b.is_empty() {
            b.take(CHUNK, t0);
            // Never more than a few chunks over what is left.
            let (len, cap) = (b.v4.len(), b.v4.keys.capacity());
            assert!(
                cap < len + 4 * CHUNK,
                "{cap} of capacity for {len} prefixes"
            );
        }
        assert_eq!(b.v4.keys.capacity(), 0, "an empty backlog holds nothing");
    }

    /// IPv6 keys sort as numbers in the order their octets give.
    #[test]
    fn ipv6_keys_sort_as_their_octets() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut keys: Vec<[u8; 17]> = (0..5000)
            .map(|i| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let mut k = [0; 17];
                // Few distinct first octets: ties go on to later ones.
                k[0] = (x % 3) as u8;
                k[7..15].copy_from_slice(&x.to_be_bytes());
                k[16] = (i % 5) as u8 * 16;
                k
            })
            .collect();
        keys.extend_from_within(..100);
        let mut by_octets = keys.clone();
        by_octets.sort_unstable();
        Key::sort(&mut keys);
        assert_eq!(keys, by_octets);
    }
}
