//! A deterministic, full-table-like set of routes, and the UPDATE stream
//! that announces it.
//!
//! Prefixes come from public-looking space (IPv4 first octets outside the
//! RFC 6890 blocks, IPv6 from the five RIR /12s), with the length mix of
//! today's default-free zone. Attribute sets are AS paths of 1-8 4-octet
//! ASNs starting with the feeder's, an origin, an optional MED and 0-4
//! communities. Prefixes are given sets in runs, so that neighbours in
//! address order often share a set, and popular sets cover many runs.

use std::collections::HashSet;
use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use sluice_wire::iana::{MAX_MESSAGE, attr};
use sluice_wire::{Afi, encode};

pub use sluice_bench::table::Rng;

/// IPv4 prefix lengths, in thousandths of a percent (sum 100,000).
const V4_LENGTHS: &[(u8, u32)] = &[
    (24, 60_000),
    (23, 10_000),
    (22, 8_000),
    (21, 5_000),
    (20, 5_000),
    (19, 5_000),
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
];

/// IPv6 prefix lengths, in hundredths of a percent (sum 10,000).
const V6_LENGTHS: &[(u8, u32)] = &[
    (48, 5_500),
    (32, 1_300),
    (44, 900),
    (40, 800),
    (36, 400),
    (46, 300),
    (29, 200),
    (47, 200),
    (45, 150),
    (42, 150),
    (33, 50),
    (34, 50),
];

/// First octets of IPv4 unicast space, minus every /8 holding an RFC 6890
/// block or an address the lab uses (0, 10, 100, 127, 169, 172, 192, 198, 203).
fn v4_first_octets() -> Vec<u8> {
    (1..=223)
        .filter(|o| ![10, 100, 127, 169, 172, 192, 198, 203].contains(o))
        .collect()
}

/// The RIR /12s of 2000::/3 (APNIC, ARIN, LACNIC, RIPE, AFRINIC): never
/// 2001:db8::/32, which the lab's link uses.
const V6_TOP12: &[u128] = &[0x240, 0x260, 0x280, 0x2a0, 0x2c0];

/// ASNs that show up second in many paths, like large transit networks.
const TRANSITS: &[u32] = &[
    174, 209, 286, 701, 1239, 1299, 2828, 2914, 3257, 3320, 3356, 3491, 5511, 6453, 6461, 6762,
    6830, 6939, 7018, 12956, 1273, 4637, 9002, 31133, 20485, 3549, 4134, 4809, 9498, 37100,
];

/// One attribute set: what an UPDATE carries besides NLRI and next hop.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AttrSet {
    pub as_path: Vec<u32>,
    pub origin: u8,
    pub med: Option<u32>,
    pub communities: Vec<u32>,
}

impl AttrSet {
    /// The path attributes on the wire (4-octet AS session), ordered by
    /// type code; `next_hop` adds NEXT_HOP (IPv4 only: for IPv6 the next
    /// hop goes in MP_REACH_NLRI, which the encoder appends).
    pub fn encode(&self, next_hop: Option<Ipv4Addr>) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        let wk = attr::FLAG_TRANSITIVE;
        encode::attribute(&mut out, wk, attr::ORIGIN, &[self.origin]);
        let mut path = vec![2, self.as_path.len() as u8]; // one AS_SEQUENCE
        for asn in &self.as_path {
            path.extend(asn.to_be_bytes());
        }
        encode::attribute(&mut out, wk, attr::AS_PATH, &path);
        if let Some(nh) = next_hop {
            encode::attribute(&mut out, wk, attr::NEXT_HOP, &nh.octets());
        }
        if let Some(med) = self.med {
            encode::attribute(&mut out, attr::FLAG_OPTIONAL, attr::MED, &med.to_be_bytes());
        }
        if !self.communities.is_empty() {
            let value: Vec<u8> = self
                .communities
                .iter()
                .flat_map(|c| c.to_be_bytes())
                .collect();
            encode::attribute(
                &mut out,
                attr::FLAG_OPTIONAL | attr::FLAG_TRANSITIVE,
                attr::COMMUNITIES,
                &value,
            );
        }
        out
    }
}

/// What to generate.
#[derive(Clone, Copy, Debug)]
pub struct Spec {
    pub v4: usize,
    pub v6: usize,
    /// Distinct attribute sets to aim for (fewer if there are fewer runs).
    pub sets: usize,
    pub seed: u64,
    pub feeder_asn: u32,
}

/// The generated routes: prefixes in address order, each with the index of
/// its attribute set.
#[derive(Debug)]
pub struct Table {
    pub v4: Vec<(Ipv4Net, u32)>,
    pub v6: Vec<(Ipv6Net, u32)>,
    pub sets: Vec<AttrSet>,
}

/// Mean number of consecutive prefixes sharing a set.
const MEAN_RUN: f64 = 3.0;
const MAX_RUN: usize = 64;

pub fn generate(spec: &Spec) -> Table {
    let mut rng = Rng::new(spec.seed);
    let v4 = v4_prefixes(&mut rng, spec.v4);
    let v6 = v6_prefixes(&mut rng, spec.v6);
    let mut sets = Sets {
        rng: Rng::new(spec.seed ^ 0x5e75),
        spec: *spec,
        sets: Vec::new(),
        seen: HashSet::new(),
        prefixes_left: spec.v4 + spec.v6,
    };
    let v4_sets = sets.assign(v4.len());
    let v6_sets = sets.assign(v6.len());
    Table {
        v4: v4.into_iter().zip(v4_sets).collect(),
        v6: v6.into_iter().zip(v6_sets).collect(),
        sets: sets.sets,
    }
}

/// How many prefixes of each length: the mix applied to `n`, rounding
/// down, with the remainder (and anything the space cannot hold) on the
/// most common length.
fn per_length(n: usize, mix: &[(u8, u32)], capacity: impl Fn(u8) -> u128) -> Vec<(u8, usize)> {
    let total: u64 = mix.iter().map(|(_, w)| u64::from(*w)).sum();
    let mut counts: Vec<(u8, usize)> = mix
        .iter()
        .map(|&(len, w)| {
            let want = (n as u128 * u128::from(w) / u128::from(total)) as usize;
            // At most half of what exists, so random draws stay quick.
            (len, want.min((capacity(len) / 2) as usize))
        })
        .collect();
    let assigned: usize = counts.iter().map(|(_, c)| c).sum();
    counts[0].1 += n - assigned;
    counts
}

fn v4_prefixes(rng: &mut Rng, n: usize) -> Vec<Ipv4Net> {
    let octets = v4_first_octets();
    let capacity = |len: u8| octets.len() as u128 * (1u128 << (len - 8));
    let mut seen = HashSet::with_capacity(n);
    let mut out = Vec::with_capacity(n);
    for (len, count) in per_length(n, V4_LENGTHS, capacity) {
        let mask = u32::MAX << (32 - len);
        let mut made = 0;
        while made < count {
            let first = u32::from(octets[rng.below(octets.len() as u64) as usize]);
            let addr = ((first << 24) | (rng.next_u64() as u32 & 0x00ff_ffff)) & mask;
            if seen.insert((addr, len)) {
                out.push(Ipv4Net::new_assert(Ipv4Addr::from(addr), len));
                made += 1;
            }
        }
    }
    out.sort_unstable();
    out
}

fn v6_prefixes(rng: &mut Rng, n: usize) -> Vec<Ipv6Net> {
    let capacity = |len: u8| V6_TOP12.len() as u128 * (1u128 << (len - 12).min(100));
    let mut seen = HashSet::with_capacity(n);
    let mut out = Vec::with_capacity(n);
    for (len, count) in per_length(n, V6_LENGTHS, capacity) {
        let mask = u128::MAX << (128 - len);
        let mut made = 0;
        while made < count {
            let top = V6_TOP12[rng.below(V6_TOP12.len() as u64) as usize];
            let low = (u128::from(rng.next_u64()) << 64 | u128::from(rng.next_u64())) >> 12;
            let addr = ((top << 116) | low) & mask;
            if seen.insert((addr, len)) {
                out.push(Ipv6Net::new_assert(Ipv6Addr::from(addr), len));
                made += 1;
            }
        }
    }
    out.sort_unstable();
    out
}

/// Hands out attribute sets to runs of prefixes: a new set with the
/// probability that spreads the remaining new sets evenly over the
/// remaining runs, else an existing one, skewed towards the oldest (the
/// popular paths of a real table).
struct Sets {
    rng: Rng,
    spec: Spec,
    sets: Vec<AttrSet>,
    seen: HashSet<AttrSet>,
    prefixes_left: usize,
}

impl Sets {
    fn assign(&mut self, n: usize) -> Vec<u32> {
        let mut out = Vec::with_capacity(n);
        let stop = 1.0 - 1.0 / MEAN_RUN;
        while out.len() < n {
            let u = self.rng.unit().max(f64::MIN_POSITIVE);
            let run = (1 + (u.ln() / stop.ln()) as usize)
                .min(MAX_RUN)
                .min(n - out.len());
            let runs_left = (self.prefixes_left as f64 / MEAN_RUN).max(1.0);
            let new_left = self.spec.sets.saturating_sub(self.sets.len());
            let fresh = self.sets.is_empty()
                || (new_left > 0 && self.rng.unit() < new_left as f64 / runs_left);
            let set = if fresh {
                self.new_set()
            } else {
                let u = self.rng.unit();
                ((self.sets.len() as f64 * u * u) as usize).min(self.sets.len() - 1)
            };
            out.extend(std::iter::repeat_n(set as u32, run));
            self.prefixes_left -= run;
        }
        out
    }

    fn new_set(&mut self) -> usize {
        loop {
            let set = self.random_set();
            if self.seen.insert(set.clone()) {
                self.sets.push(set);
                return self.sets.len() - 1;
            }
        }
    }

    fn random_set(&mut self) -> AttrSet {
        let rng = &mut self.rng;
        let len = rng.weighted(&[
            (1, 3),
            (2, 12),
            (3, 25),
            (4, 25),
            (5, 17),
            (6, 10),
            (7, 5),
            (8, 3),
        ]);
        let mut as_path = vec![self.spec.feeder_asn];
        for i in 1..len {
            let asn = if i == 1 && rng.unit() < 0.7 {
                TRANSITS[rng.below(TRANSITS.len() as u64) as usize]
            } else {
                public_asn(rng)
            };
            as_path.push(asn);
        }
        let origin = rng.weighted(&[(0u8, 85), (2, 12), (1, 3)]);
        let med = (rng.unit() < 0.3).then(|| rng.below(1000) as u32);
        let n = rng.weighted(&[(0usize, 40), (1, 20), (2, 20), (3, 10), (4, 10)]);
        let mut communities: Vec<u32> = (0..n)
            .map(|_| {
                // ASN:value with a 2-octet ASN from the path, else the feeder's.
                let owner = as_path
                    .get(rng.below(as_path.len() as u64) as usize)
                    .copied()
                    .filter(|a| *a <= 0xffff)
                    .unwrap_or(self.spec.feeder_asn & 0xffff);
                (owner << 16) | rng.below(65536) as u32
            })
            .collect();
        communities.sort_unstable();
        communities.dedup();
        AttrSet {
            as_path,
            origin,
            med,
            communities,
        }
    }
}

/// A public-looking ASN: 2-octet or 4-octet, never AS_TRANS, private,
/// documentation or reserved.
fn public_asn(rng: &mut Rng) -> u32 {
    loop {
        let asn = if rng.unit() < 0.3 {
            131_072 + rng.below(270_000) as u32
        } else {
            1 + rng.below(64_495) as u32
        };
        if asn != 23_456 {
            return asn;
        }
    }
}

/// The UPDATEs announcing a table, packed, and what they hold.
#[derive(Debug)]
pub struct Stream {
    /// The UPDATE messages back to back (no End-of-RIB).
    pub bytes: Vec<u8>,
    pub updates: usize,
    pub prefixes: usize,
    /// Distinct attribute sets the prefixes use.
    pub sets_used: usize,
    /// The first and last prefix of each family in the order sent, with
    /// their AS paths: what a receiver's RIB is checked for.
    pub samples: Vec<(IpNet, Vec<u32>)>,
}

/// Encodes `table` as a BGP speaker without extended messages would send
/// it: all prefixes sharing a set packed into as few UPDATEs as fit 4096
/// octets, sets in order of first appearance, IPv4 first, then IPv6 in
/// MP_REACH_NLRI with a global next hop.
pub fn encode(table: &Table, v4_next_hop: Ipv4Addr, v6_next_hop: Ipv6Addr) -> Stream {
    let mut bytes = Vec::new();
    let mut updates = 0;
    let mut used = vec![false; table.sets.len()];
    let mut samples = Vec::new();
    let v4: Vec<(IpNet, u32)> = table.v4.iter().map(|(p, s)| ((*p).into(), *s)).collect();
    let v6: Vec<(IpNet, u32)> = table.v6.iter().map(|(p, s)| ((*p).into(), *s)).collect();
    for (afi, routes) in [(Afi::Ipv4, v4), (Afi::Ipv6, v6)] {
        let mut group_of: Vec<Option<usize>> = vec![None; table.sets.len()];
        let mut groups: Vec<(u32, Vec<IpNet>)> = Vec::new();
        for (prefix, set) in routes {
            used[set as usize] = true;
            let g = *group_of[set as usize].get_or_insert_with(|| {
                groups.push((set, Vec::new()));
                groups.len() - 1
            });
            groups[g].1.push(prefix);
        }
        if let (Some((first, list)), Some((last, tail))) = (groups.first(), groups.last()) {
            samples.push((list[0], table.sets[*first as usize].as_path.clone()));
            samples.push((
                tail[tail.len() - 1],
                table.sets[*last as usize].as_path.clone(),
            ));
        }
        for (set, prefixes) in groups {
            let set = &table.sets[set as usize];
            let msgs = match afi {
                Afi::Ipv4 => encode::announce(
                    afi,
                    &set.encode(Some(v4_next_hop)),
                    &[],
                    &prefixes,
                    MAX_MESSAGE,
                ),
                Afi::Ipv6 => encode::announce(
                    afi,
                    &set.encode(None),
                    &v6_next_hop.octets(),
                    &prefixes,
                    MAX_MESSAGE,
                ),
            }
            .expect("generated attribute sets are small");
            updates += msgs.len();
            for m in msgs {
                bytes.extend(m);
            }
        }
    }
    Stream {
        bytes,
        updates,
        prefixes: table.v4.len() + table.v6.len(),
        sets_used: used.iter().filter(|u| **u).count(),
        samples,
    }
}

/// The UPDATEs withdrawing every prefix of `table`, packed (IPv4 in the
/// withdrawn-routes field, IPv6 in MP_UNREACH_NLRI).
pub fn encode_withdraw(table: &Table) -> Vec<u8> {
    let v4: Vec<IpNet> = table.v4.iter().map(|(p, _)| (*p).into()).collect();
    let v6: Vec<IpNet> = table.v6.iter().map(|(p, _)| (*p).into()).collect();
    let mut bytes = Vec::new();
    for (afi, prefixes) in [(Afi::Ipv4, v4), (Afi::Ipv6, v6)] {
        for m in encode::withdraw(afi, &prefixes, MAX_MESSAGE) {
            bytes.extend(m);
        }
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_wire::update::{Attrs, Ctx, Verdict};
    use sluice_wire::{Message, frame};

    fn spec(sets: usize) -> Spec {
        Spec {
            v4: 20_000,
            v6: 4_000,
            sets,
            seed: 7,
            feeder_asn: 65001,
        }
    }

    #[test]
    fn deterministic_unique_and_mixed() {
        let a = generate(&spec(500));
        let b = generate(&spec(500));
        assert_eq!(a.v4, b.v4);
        assert_eq!(a.v6, b.v6);
        assert_eq!(a.sets, b.sets);
        assert_eq!(a.v4.len(), 20_000);
        assert_eq!(a.v6.len(), 4_000);
        let unique: HashSet<_> = a.v4.iter().map(|(p, _)| p).collect();
        assert_eq!(unique.len(), a.v4.len());
        let unique: HashSet<_> = a.v6.iter().map(|(p, _)| p).collect();
        assert_eq!(unique.len(), a.v6.len());
        let share =
            |len| a.v4.iter().filter(|(p, _)| p.prefix_len() == len).count() as f64 / 20_000.0;
        assert!((share(24) - 0.60).abs() < 0.01, "{}", share(24));
        assert!((share(23) - 0.10).abs() < 0.01);
        assert!(a.v4.iter().all(|(p, _)| (8..=24).contains(&p.prefix_len())));
        assert!(
            a.v6.iter()
                .all(|(p, _)| (29..=48).contains(&p.prefix_len()))
        );
        assert!(
            a.sets.len() <= 500 && a.sets.len() > 450,
            "{}",
            a.sets.len()
        );
        assert!(
            a.sets
                .iter()
                .all(|s| s.as_path[0] == 65001 && s.as_path.len() <= 8)
        );
    }

    #[test]
    fn stream_decodes_to_the_table() {
        let table = generate(&spec(2_000));
        let nh6: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let s = encode(&table, Ipv4Addr::new(203, 0, 113, 1), nh6);
        let mut rest = &s.bytes[..];
        let (mut v4, mut v6, mut msgs) = (0, 0, 0);
        while !rest.is_empty() {
            let len = frame(rest, MAX_MESSAGE).unwrap().unwrap();
            let Ok(Message::Update(u)) = Message::decode(&rest[..len]) else {
                panic!("not an UPDATE");
            };
            let ctx = Ctx {
                four_octet_as: true,
                ebgp: true,
            };
            let (attrs, verdict) = Attrs::parse(&u, ctx).unwrap();
            assert_eq!(verdict, Verdict::Use);
            v4 += u.announced().count();
            if let Some(r) = attrs.mp_reach {
                assert_eq!(r.next_hop, nh6.octets());
                v6 += sluice_wire::nlri::Prefixes::new(r.afi, r.nlri).count();
            }
            msgs += 1;
            rest = &rest[len..];
        }
        assert_eq!((v4, v6, msgs), (20_000, 4_000, s.updates));
        assert_eq!(s.prefixes, 24_000);
    }
}
