//! A deterministic IPv4 table shaped like the default-free zone, and the
//! destinations the sender walks through.
//!
//! Lengths: ~60% /24, the rest /8–/23 in DFZ proportions, and a few
//! /25–/32 (0.4%, as leak through filters and local more-specifics do) so
//! that the DIR-24-8 tbl8 groups get used. Addresses come from unicast space
//! outside 0/8, 10/8 (the lab), 127/8, 169.254/16 and 224/3, which the XDP
//! program hands to the kernel. Overlaps (a /24 inside a /16) happen, as in
//! the real table.

use std::collections::HashSet;

/// SplitMix64: small, fast, and the same sequence everywhere.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// One of `choices`, by weight.
    pub fn weighted<T: Copy>(&mut self, choices: &[(T, u32)]) -> T {
        let total: u64 = choices.iter().map(|(_, w)| u64::from(*w)).sum();
        let mut x = self.below(total);
        for (v, w) in choices {
            if x < u64::from(*w) {
                return *v;
            }
            x -= u64::from(*w);
        }
        choices[choices.len() - 1].0
    }
}

/// Prefix lengths in thousandths of a percent (sum 100,000).
const LENGTHS: &[(u8, u32)] = &[
    (24, 60_000),
    (23, 10_000),
    (22, 8_000),
    (21, 5_000),
    (20, 5_000),
    (19, 4_600),
    (18, 3_000),
    (17, 2_000),
    (16, 1_500),
    (15, 200),
    (14, 130),
    (13, 80),
    (12, 45),
    (11, 25),
    (10, 12),
    (9, 5),
    (8, 3),
    (25, 60),
    (26, 60),
    (27, 60),
    (28, 60),
    (29, 40),
    (30, 40),
    (31, 20),
    (32, 60),
];

const _: () = {
    let mut sum = 0;
    let mut i = 0;
    while i < LENGTHS.len() {
        sum += LENGTHS[i].1;
        i += 1;
    }
    assert!(sum == 100_000);
};

/// First octets the table draws from.
fn first_octets() -> Vec<u32> {
    (1..224).filter(|o| ![10, 127, 169].contains(o)).collect()
}

/// `n` distinct prefixes `(network, length)`, host bits clear, in
/// generation order (so the list is shuffled).
pub fn generate(n: usize, seed: u64) -> Vec<(u32, u8)> {
    let mut rng = Rng::new(seed);
    let octets = first_octets();
    let total: u64 = LENGTHS.iter().map(|l| u64::from(l.1)).sum();
    let mut seen = HashSet::with_capacity(n);
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let mut x = rng.below(total);
        let mut len = 24;
        for &(l, w) in LENGTHS {
            if x < u64::from(w) {
                len = l;
                break;
            }
            x -= u64::from(w);
        }
        let first = octets[rng.below(octets.len() as u64) as usize];
        let addr = (first << 24) | (rng.next_u64() as u32 & 0x00ff_ffff);
        let net = addr & mask(len);
        if seen.insert((net, len)) {
            out.push((net, len));
        }
    }
    out
}

/// The network mask of a prefix length.
pub const fn mask(len: u8) -> u32 {
    if len == 0 { 0 } else { u32::MAX << (32 - len) }
}

/// `n` distinct destinations, each a random address inside a random
/// prefix of `table`, in random order.
pub fn destinations(table: &[(u32, u8)], n: usize, seed: u64) -> Vec<u32> {
    let mut rng = Rng::new(seed ^ 0xd5_7a71);
    let mut seen = HashSet::with_capacity(n);
    let mut out = Vec::with_capacity(n);
    let mut tries = 0usize;
    while out.len() < n && tries < n * 20 {
        tries += 1;
        let (net, len) = table[rng.below(table.len() as u64) as usize];
        let addr = net | (rng.next_u64() as u32 & !mask(len));
        if seen.insert(addr) {
            out.push(addr);
        }
    }
    out
}

/// `n` destinations drawn from a Zipf distribution with exponent `s` over
/// the prefixes of `table` in a random order (rank k has weight 1/k^s),
/// each a random address inside its prefix, in random order: real traffic
/// goes mostly to a few destinations. Repeats are kept (they are the
/// point).
pub fn zipf_destinations(table: &[(u32, u8)], n: usize, s: f64, seed: u64) -> Vec<u32> {
    let mut rng = Rng::new(seed ^ 0x21bf);
    let zipf = Zipf::new(table.len(), s, &mut rng);
    (0..n)
        .map(|_| {
            let (net, len) = table[zipf.pick(&mut rng)];
            net | (rng.next_u64() as u32 & !mask(len))
        })
        .collect()
}

/// Draws indexes `0..n` with weight 1/k^s by rank k, the ranks a random
/// permutation (so the popular items are spread over the table).
#[derive(Debug, Clone)]
pub struct Zipf {
    order: Vec<usize>,
    cumulative: Vec<f64>,
}

impl Zipf {
    /// The ranks, shuffled with `rng` (Fisher–Yates); `n` must be > 0.
    pub fn new(n: usize, s: f64, rng: &mut Rng) -> Zipf {
        let mut order: Vec<usize> = (0..n).collect();
        for i in (1..order.len()).rev() {
            order.swap(i, rng.below(i as u64 + 1) as usize);
        }
        let mut cumulative = Vec::with_capacity(n);
        let mut total = 0.0;
        for k in 1..=n {
            total += 1.0 / (k as f64).powf(s);
            cumulative.push(total);
        }
        Zipf { order, cumulative }
    }

    /// One index.
    pub fn pick(&self, rng: &mut Rng) -> usize {
        let total = self.cumulative.last().copied().unwrap_or(0.0);
        let x = rng.unit() * total;
        let k = self.cumulative.partition_point(|&c| c < x);
        self.order[k.min(self.order.len() - 1)]
    }
}

/// Share of each prefix length in `table` (IPv4 or IPv6), for the report.
pub fn length_mix<A>(table: &[(A, u8)]) -> Vec<(u8, usize)> {
    let mut counts = [0usize; 129];
    for (_, len) in table {
        counts[usize::from(*len)] += 1;
    }
    (0..=128u8)
        .filter(|&l| counts[usize::from(l)] > 0)
        .map(|l| (l, counts[usize::from(l)]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_deterministic_distinct_and_dfz_shaped() {
        let t = generate(100_000, 7);
        assert_eq!(t, generate(100_000, 7));
        assert_eq!(t.iter().collect::<HashSet<_>>().len(), t.len());
        let slash24 = t.iter().filter(|p| p.1 == 24).count();
        assert!((58_000..62_000).contains(&slash24), "{slash24}");
        let long = t.iter().filter(|p| p.1 > 24).count();
        assert!((200..800).contains(&long), "{long}");
        for &(net, len) in &t {
            assert_eq!(net & !mask(len), 0);
            assert!(![0, 10, 127, 169].contains(&(net >> 24)) && net >> 24 < 224);
        }
    }

    #[test]
    fn destinations_fall_inside_the_table() {
        let t = generate(1000, 1);
        let d = destinations(&t, 500, 1);
        assert_eq!(d.len(), 500);
        for a in d {
            assert!(t.iter().any(|&(net, len)| a & mask(len) == net));
        }
    }
}
