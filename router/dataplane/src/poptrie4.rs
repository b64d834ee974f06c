//! IPv4 in the IPv6 FIB's poptrie layout, for measuring it against
//! DIR-24-8 (the measuring build's `FIB_MODE_POP4`; docs/benchmarks.md).
//!
//! DIR-24-8's top level is 32 MiB, so a random destination costs a TLB and
//! a cache miss; a poptrie of a full IPv4 table is a few MiB. Rather than a
//! second builder, the address goes into bits 6..37 of a 128-bit key
//! (`addr << 90`, the length plus six), and the IPv6 [`Poptrie`] does the
//! rest unchanged: its direct entry then covers a /10, its fan entry a /18,
//! and its nodes decide on bits 18..23 (where a /24, 60% of a full table,
//! ends), 24..29 and 30..31. That is Poptrie's own IPv4 shape (an 18-bit
//! direct index, six-bit strides), with the /18 index in two small steps
//! (1,024 fans of 1 KiB).

use crate::dir24::Prefix;
use crate::poptrie::{Capacity, Dirty6, Poptrie, PoptrieError};

/// Where the address starts in the key: bit 6 from the top.
pub const SHIFT: u32 = 90;
/// Key bits before the address.
pub const LEADING: u8 = 6;
/// Every /10 may have a fan; /18 slots with longer prefixes each have a
/// run of nodes (a full table: about 200k) and of leaves.
pub const CAPACITY: Capacity = Capacity {
    fans: 1 << 10,
    nodes: 1 << 20,
    leaves: 1 << 23,
};
/// Node levels a walk can take (/18, /24, /30).
pub const LEVELS: u32 = 3;

/// The key of an IPv4 address.
pub const fn key(addr: u32) -> u128 {
    (addr as u128) << SHIFT
}

/// An IPv4 FIB in poptrie layout.
#[derive(Clone, Debug)]
pub struct Poptrie4 {
    trie: Poptrie,
}

impl Default for Poptrie4 {
    fn default() -> Self {
        Poptrie4 {
            trie: Poptrie::new(CAPACITY),
        }
    }
}

impl Poptrie4 {
    /// Builds from a whole table (later entries of a prefix win); the
    /// arrays are complete on return.
    pub fn from_routes<I>(routes: I) -> Result<Poptrie4, PoptrieError>
    where
        I: IntoIterator<Item = (Prefix, u16)>,
    {
        let mut p = Poptrie4::default();
        for (prefix, group) in routes {
            p.insert(prefix, group);
        }
        match p.take_dirty().full {
            Some(e) => Err(e),
            None => Ok(p),
        }
    }

    /// Adds or replaces a route; returns the group it had.
    pub fn insert(&mut self, prefix: Prefix, group: u16) -> Option<u16> {
        let len = prefix.prefix_len() + LEADING;
        self.trie
            .insert(key(prefix.addr()), len, group)
            .expect("an IPv4 length plus six is at most 38")
    }

    /// Removes a route; returns its group.
    pub fn remove(&mut self, prefix: Prefix) -> Option<u16> {
        self.trie
            .remove(key(prefix.addr()), prefix.prefix_len() + LEADING)
    }

    /// Rebuilds what changed; the words to write ([`Poptrie::take_dirty`]).
    pub fn take_dirty(&mut self) -> Dirty6 {
        self.trie.take_dirty()
    }

    /// The group the arrays give for `addr` (the program's lookup).
    pub fn lookup(&self, addr: u32) -> u16 {
        self.trie.lookup(key(addr))
    }

    /// The group of the longest prefix covering `addr`, from the routes.
    pub fn longest_match(&self, addr: u32) -> u16 {
        self.trie.longest_match(key(addr), 32 + LEADING)
    }

    /// The arrays.
    pub fn trie(&self) -> &Poptrie {
        &self.trie
    }

    pub fn len(&self) -> usize {
        self.trie.len()
    }

    pub fn is_empty(&self) -> bool {
        self.trie.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Prefix {
        s.parse().unwrap()
    }

    fn a(s: &str) -> u32 {
        u32::from(s.parse::<std::net::Ipv4Addr>().unwrap())
    }

    #[test]
    fn the_arrays_answer_the_longest_match_at_every_depth() {
        let routes = [
            ("0.0.0.0/0", 9),
            ("10.0.0.0/8", 1),
            ("10.64.0.0/10", 5),
            ("10.0.0.0/18", 6),
            ("10.0.0.0/24", 2),
            ("10.0.0.128/25", 3),
            ("10.0.0.200/32", 1),
            ("10.0.0.201/32", 4),
            ("198.51.100.0/22", 2),
            ("255.255.255.255/32", 7),
        ];
        let mut fib = Poptrie4::from_routes(routes.iter().map(|&(s, g)| (p(s), g))).unwrap();
        let probes = [
            ("10.0.0.1", 2),
            ("10.0.0.128", 3),
            ("10.0.0.199", 3),
            ("10.0.0.200", 1),
            ("10.0.0.201", 4),
            ("10.0.0.202", 3),
            ("10.0.1.0", 6),
            ("10.0.64.0", 1),
            ("10.64.0.1", 5),
            ("10.128.0.1", 1),
            ("11.0.0.1", 9),
            ("198.51.103.255", 2),
            ("198.51.104.0", 9),
            ("255.255.255.255", 7),
            ("255.255.255.254", 9),
        ];
        for (addr, want) in probes {
            assert_eq!(fib.lookup(a(addr)), want, "{addr}");
            assert_eq!(fib.longest_match(a(addr)), want, "{addr}, routes");
        }
        fib.remove(p("10.0.0.128/25"));
        fib.remove(p("0.0.0.0/0"));
        fib.insert(p("10.0.0.0/24"), 8);
        fib.take_dirty();
        for (addr, want) in [("10.0.0.130", 8), ("10.0.0.201", 4), ("11.0.0.1", 0)] {
            assert_eq!(fib.lookup(a(addr)), want, "{addr} after changes");
        }
    }

    #[test]
    fn random_tables_agree_with_the_longest_match() {
        // A small LCG: deterministic, no dependency.
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 32) as u32
        };
        let mut routes = Vec::new();
        for _ in 0..5000 {
            let len = [8, 16, 18, 20, 22, 24, 24, 24, 25, 28, 30, 32][next() as usize % 12];
            // Clustered under 10.0.0.0/12, so prefixes nest.
            let addr = 0x0a00_0000 | (next() & 0x000f_ffff);
            routes.push((Prefix::new(addr, len).unwrap(), (next() % 4 + 1) as u16));
        }
        let fib = Poptrie4::from_routes(routes).unwrap();
        for _ in 0..20_000 {
            let addr = 0x0a00_0000 | (next() & 0x001f_ffff);
            assert_eq!(fib.lookup(addr), fib.longest_match(addr), "{addr:#x}");
        }
    }
}
