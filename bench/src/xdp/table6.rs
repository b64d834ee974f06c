//! A deterministic IPv6 table shaped like today's default-free zone, and
//! frames to destinations inside it, for the program's IPv6 test-run cost
//! (its FIB is a `BPF_MAP_TYPE_LPM_TRIE`).
//!
//! Lengths in DFZ proportions (about half /48, then /32, /44, /40, /36,
//! /29…); prefixes under the RIRs' blocks of 2000::/3 (2001::/16,
//! 2400::/12, 2600::/12, 2800::/12, 2a00::/12, 2c00::/12), weighted the
//! way the table is, so prefixes crowd together as they do.

use std::collections::HashSet;

use crate::table::{Rng, Zipf};

/// Prefix lengths in thousandths of a percent (sum 100,000).
const LENGTHS: &[(u8, u32)] = &[
    (48, 48_000),
    (32, 12_000),
    (44, 9_000),
    (40, 8_000),
    (36, 3_500),
    (29, 3_000),
    (47, 2_500),
    (46, 2_000),
    (33, 1_500),
    (34, 1_500),
    (35, 1_000),
    (42, 1_500),
    (41, 1_000),
    (43, 1_000),
    (45, 1_500),
    (30, 500),
    (31, 500),
    (37, 500),
    (38, 500),
    (39, 500),
    (28, 300),
    (27, 200),
    (64, 100),
    (56, 100),
];

/// (top bits, their length, weight): the RIR blocks prefixes fall under.
const BLOCKS: &[(u16, u8, u32)] = &[
    (0x2001, 16, 15),
    (0x2400, 12, 20),
    (0x2600, 12, 25),
    (0x2800, 12, 10),
    (0x2a00, 12, 28),
    (0x2c00, 12, 2),
];

/// The network mask of an IPv6 prefix length.
pub const fn mask6(len: u8) -> u128 {
    if len == 0 {
        0
    } else {
        u128::MAX << (128 - len)
    }
}

/// `n` distinct prefixes `(network, length)`, host bits clear.
pub fn generate6(n: usize, seed: u64) -> Vec<(u128, u8)> {
    let mut rng = Rng::new(seed ^ 0x6666);
    let blocks: Vec<((u16, u8), u32)> = BLOCKS.iter().map(|&(b, l, w)| ((b, l), w)).collect();
    let mut seen = HashSet::with_capacity(n);
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let len = rng.weighted(LENGTHS);
        let (top, top_len) = rng.weighted(&blocks);
        let random = u128::from(rng.next_u64()) << 64 | u128::from(rng.next_u64());
        let addr = (u128::from(top) << 112) | (random & !mask6(top_len));
        let net = addr & mask6(len);
        if seen.insert((net, len)) {
            out.push((net, len));
        }
    }
    out
}

/// `n` destinations, each a random address inside a prefix of `table`
/// drawn uniformly, or (`zipf` > 0) with weight 1/k^zipf by a random rank
/// ([`Zipf`]); none for an empty table.
pub fn destinations6(table: &[(u128, u8)], n: usize, zipf: f64, seed: u64) -> Vec<u128> {
    if table.is_empty() {
        return Vec::new(); // --prefixes6 0
    }
    let mut rng = Rng::new(seed ^ 0x6d57);
    let ranks = (zipf > 0.0).then(|| Zipf::new(table.len(), zipf, &mut rng));
    (0..n)
        .map(|_| {
            let i = match &ranks {
                Some(z) => z.pick(&mut rng),
                None => rng.below(table.len() as u64) as usize,
            };
            let (net, len) = table[i];
            let random = u128::from(rng.next_u64()) << 64 | u128::from(rng.next_u64());
            net | (random & !mask6(len))
        })
        .collect()
}

/// A 78-byte UDP frame over IPv6 (the smallest that carries the UDP
/// header), hop limit 255.
pub fn udp_frame6(dmac: [u8; 6], smac: [u8; 6], src: u128, dst: u128) -> Vec<u8> {
    let mut f = vec![0u8; 14 + 40 + 24];
    f[0..6].copy_from_slice(&dmac);
    f[6..12].copy_from_slice(&smac);
    f[12..14].copy_from_slice(&0x86ddu16.to_be_bytes());
    let ip = &mut f[14..54];
    ip[0] = 0x60;
    ip[4..6].copy_from_slice(&24u16.to_be_bytes());
    ip[6] = 17;
    ip[7] = 255;
    ip[8..24].copy_from_slice(&src.to_be_bytes());
    ip[24..40].copy_from_slice(&dst.to_be_bytes());
    f[54..56].copy_from_slice(&4000u16.to_be_bytes());
    f[56..58].copy_from_slice(&crate::traffic::PORT.to_be_bytes());
    f[58..60].copy_from_slice(&24u16.to_be_bytes());
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_distinct_clean_and_inside_2000_3() {
        let t = generate6(20_000, 1);
        assert_eq!(t.len(), 20_000);
        let set: HashSet<_> = t.iter().collect();
        assert_eq!(set.len(), t.len());
        for &(net, len) in &t {
            assert_eq!(net & !mask6(len), 0, "host bits");
            assert_eq!(net >> 125, 1, "2000::/3");
        }
        let mix = crate::table::length_mix(&t);
        let share = |l: u8| mix.iter().find(|m| m.0 == l).map_or(0, |m| m.1) as f64 / 20_000.0;
        assert!((0.45..0.51).contains(&share(48)), "{mix:?}");
        let d = destinations6(&t, 1000, 0.0, 1);
        assert!(d.iter().all(|a| t.iter().any(|&(n, l)| a & mask6(l) == n)));
        let z = destinations6(&t, 1000, 1.0, 1);
        let distinct: HashSet<_> = z.iter().map(|a| a >> 64).collect();
        assert!(distinct.len() < 1000, "Zipf repeats the popular prefixes");
    }
}
