//! Where a destination's traffic goes under some uplink states: the data
//! plane's own placement rule (`Local::placement_in`, the rule
//! `sluice_rib::fib::route` states and a property test holds them to)
//! walked up to the longest match, its next hops resolved by
//! `sluice_rib::fib::resolve`. Nothing here decides forwarding itself.
//!
//! Entries do not depend on uplink states: an evaluator of many states
//! computes them once ([`Evaluator::cached`]); one that looks at a few
//! prefixes of a big RIB computes them as asked ([`Evaluator::live`]).

use rustc_hash::FxHashMap;
use sluice_config::Config;
use sluice_rib::Rib;
use sluice_rib::fib::{self, Entries, Entry, FibRoute, Live, Local, NextHop, View};
use sluice_wire::Prefix;

/// Where a destination's traffic goes in one state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fate {
    /// Its own entry forwards through these next hops.
    Own(Vec<NextHop>),
    /// Longest match falls to this shorter entry (its own routes yielded,
    /// or it has none).
    Covered {
        by: Prefix,
        next_hops: Vec<NextHop>,
    },
    Discarded,
    Connected,
    /// No entry covers it.
    Unrouted,
}

impl Fate {
    pub fn next_hops(&self) -> &[NextHop] {
        match self {
            Fate::Own(n) | Fate::Covered { next_hops: n, .. } => n,
            _ => &[],
        }
    }

    /// Whether it leaves through an active uplink or an internal next hop.
    pub fn served(&self, config: &Config, active: &[bool]) -> bool {
        match self {
            Fate::Connected => true,
            Fate::Discarded | Fate::Unrouted => false,
            Fate::Own(n) | Fate::Covered { next_hops: n, .. } => {
                n.iter().any(|h| usable(config, h, active))
            }
        }
    }

    /// Whether it leaves through uplink `name` (no allocation: the
    /// simulation asks this of every destination in every state).
    pub fn through(&self, name: &str) -> bool {
        self.next_hops()
            .iter()
            .any(|h| h.uplink.as_deref() == Some(name))
    }

    /// The uplinks it leaves through.
    pub fn uplinks(&self) -> Vec<String> {
        let mut u: Vec<String> = self
            .next_hops()
            .iter()
            .filter_map(|h| h.uplink.clone())
            .collect();
        u.sort();
        u.dedup();
        u
    }

    /// Where it goes, in a few words: "through iap-b (0.0.0.0/0)".
    pub fn describe(&self) -> String {
        let through = || {
            let u = self.uplinks();
            if u.is_empty() {
                let hops: Vec<String> = self
                    .next_hops()
                    .iter()
                    .map(|h| h.address.to_string())
                    .collect();
                format!("through {}", hops.join(", "))
            } else {
                format!("through {}", u.join(", "))
            }
        };
        match self {
            Fate::Own(_) => through(),
            Fate::Covered { by, .. } => format!("{} ({by})", through()),
            Fate::Discarded => "discarded".into(),
            Fate::Connected => "connected".into(),
            Fate::Unrouted => "no route".into(),
        }
    }
}

fn usable(config: &Config, hop: &NextHop, active: &[bool]) -> bool {
    match &hop.uplink {
        None => true,
        Some(name) => config
            .uplinks
            .iter()
            .position(|u| u.name.value == *name)
            .is_some_and(|i| active.get(i).copied().unwrap_or(false)),
    }
}

/// The evaluator of one config and one RIB.
#[derive(Debug)]
pub struct Evaluator<'a, E> {
    pub config: &'a Config,
    pub local: &'a Local,
    entries: E,
}

/// Entries computed from the RIB as asked.
pub type LiveEvaluator<'a> = Evaluator<'a, Live<'a>>;

impl<'a> Evaluator<'a, Live<'a>> {
    pub fn live(config: &'a Config, local: &'a Local, rib: &'a Rib) -> Self {
        Evaluator {
            config,
            local,
            entries: Live { local, rib },
        }
    }
}

impl<'a> Evaluator<'a, FxHashMap<Prefix, Entry>> {
    /// Computes the entry of every prefix of `rib` and of the config once.
    pub fn cached(config: &'a Config, local: &'a Local, rib: &Rib) -> Self {
        let prefixes: Vec<Prefix> = rib.iter().map(|(p, _)| p).chain(local.prefixes()).collect();
        let entries = crate::par_map(&prefixes, |p| local.entry(rib, p).map(|e| (*p, e)))
            .into_iter()
            .flatten()
            .collect();
        Evaluator {
            config,
            local,
            entries,
        }
    }
}

impl<E: Entries> Evaluator<'_, E> {
    /// Where traffic to `dest` goes under uplink states `active`.
    pub fn fate(&self, dest: &Prefix, active: &[bool]) -> Fate {
        let view = View {
            config: self.config,
            active,
        };
        for len in (0..=dest.prefix_len()).rev() {
            let Ok(q) = Prefix::new(dest.addr(), len).map(|q| q.trunc()) else {
                continue;
            };
            let (Some(entry), _) = self.local.placement_in(&self.entries, &q, active) else {
                continue;
            };
            return match fib::resolve(&entry, &view) {
                FibRoute::Forward { next_hops } if q == *dest => Fate::Own(next_hops),
                FibRoute::Forward { next_hops } => Fate::Covered { by: q, next_hops },
                FibRoute::Discard => Fate::Discarded,
                FibRoute::Connected => Fate::Connected,
            };
        }
        Fate::Unrouted
    }
}
