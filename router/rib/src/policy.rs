//! Import and export policy: the built-ins (`full-table`, `default-only`,
//! `announce`), the config's route policies, RFC 8212 default deny, the
//! bogon filter on uplinks, and AS-path loop detection.

use std::collections::HashMap;

use ipnet::IpNet;
use rustc_hash::FxHashMap;
use sluice_config::model::{Action, Config, Term};
use sluice_config::prefix_list::PrefixListEntry;
use sluice_config::values::PolicyRef;
use sluice_wire::Prefix;

use crate::attrs::PathAttrs;

/// Prefixes no upstream should send: RFC 6890 special-purpose space.
/// Routes inside them, and IPv4 longer than /24 or IPv6 longer than /48,
/// are dropped on import from uplinks unless `policies.bogons` overrides.
pub const BOGONS: &[&str] = &[
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.0.2.0/24",
    "192.168.0.0/16",
    "198.18.0.0/15",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "224.0.0.0/4",
    "240.0.0.0/4",
    "::/8",
    "100::/64",
    "2001:2::/48",
    "2001:10::/28",
    "2001:db8::/32",
    "3ffe::/16",
    "fc00::/7",
    "fe80::/10",
    "fec0::/10",
    "ff00::/8",
];

/// Where a route under export came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// This router's `announce` or its default toward neighbours.
    Local,
    /// Learned from a peer.
    Learned,
}

/// A prefix list indexed by entry prefix: a candidate is checked against
/// the entries whose prefix covers it, found with one lookup per distinct
/// entry length, however long the list (a list of a customer cone can
/// hold a hundred thousand entries).
#[derive(Debug, Default)]
struct PrefixList {
    by_prefix: FxHashMap<IpNet, Vec<(u8, u8)>>,
    /// The entries' prefix lengths, each once.
    lengths: Vec<u8>,
}

impl PrefixList {
    fn new(entries: impl IntoIterator<Item = PrefixListEntry>) -> PrefixList {
        let mut list = PrefixList::default();
        for e in entries {
            list.by_prefix
                .entry(e.prefix)
                .or_default()
                .push((e.min_len, e.max_len));
            list.lengths.push(e.prefix.prefix_len());
        }
        list.lengths.sort_unstable();
        list.lengths.dedup();
        list
    }

    fn matches(&self, candidate: &Prefix) -> bool {
        let len = candidate.prefix_len();
        self.lengths.iter().take_while(|l| **l <= len).any(|&l| {
            IpNet::new(candidate.addr(), l)
                .map(|p| p.trunc())
                .ok()
                .and_then(|p| self.by_prefix.get(&p))
                .is_some_and(|ranges| ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&len)))
        })
    }
}

/// The config's policies, compiled once per config.
#[derive(Debug, Default)]
pub struct Policies {
    lists: HashMap<String, PrefixList>,
    routes: HashMap<String, Vec<Term>>,
    bogons: Vec<IpNet>,
    /// Whether `bogons` came from the config (then length limits do not apply).
    custom_bogons: bool,
    asn: u32,
}

impl Policies {
    pub fn new(config: &Config) -> Policies {
        let lists = config
            .policies
            .prefix_lists
            .iter()
            // The validator has already refused malformed entries.
            .map(|(name, entries)| {
                (
                    name.clone(),
                    PrefixList::new(entries.iter().filter_map(|e| e.parse().ok())),
                )
            })
            .collect();
        let routes = config
            .policies
            .route_policies
            .iter()
            .map(|(n, terms)| (n.clone(), terms.iter().map(|t| t.value.clone()).collect()))
            .collect();
        let (bogons, custom_bogons) = match &config.policies.bogons {
            Some(list) => (list.iter().map(|p| p.value.0).collect(), true),
            None => (
                BOGONS
                    .iter()
                    .map(|b| b.parse().expect("built-in bogons parse"))
                    .collect(),
                false,
            ),
        };
        Policies {
            lists,
            routes,
            bogons,
            custom_bogons,
            asn: config.router.asn.value,
        }
    }

    /// Whether an uplink may send `prefix` at all.
    pub fn is_bogon(&self, prefix: &Prefix) -> bool {
        let too_long = !self.custom_bogons
            && match prefix {
                IpNet::V4(p) => p.prefix_len() > 24,
                IpNet::V6(p) => p.prefix_len() > 48,
            };
        too_long || self.bogons.iter().any(|b| b.contains(prefix))
    }

    /// Import: `policy` of the session (None = RFC 8212 deny for eBGP,
    /// accept for iBGP). May rewrite `attrs`; false rejects the route.
    pub fn import(
        &self,
        policy: Option<&PolicyRef>,
        ebgp: bool,
        from_uplink: bool,
        prefix: &Prefix,
        attrs: &mut PathAttrs,
    ) -> bool {
        !self.looped(attrs) && self.import_prefix(policy, ebgp, from_uplink, prefix, attrs)
    }

    /// [`Policies::import`] without the AS-path loop check, which depends
    /// only on the attributes and so is done once per UPDATE by the caller.
    pub fn import_prefix(
        &self,
        policy: Option<&PolicyRef>,
        ebgp: bool,
        from_uplink: bool,
        prefix: &Prefix,
        attrs: &mut PathAttrs,
    ) -> bool {
        if from_uplink && self.is_bogon(prefix) {
            return false;
        }
        match policy {
            None => !ebgp,
            Some(PolicyRef::FullTable) => true,
            Some(PolicyRef::DefaultOnly) => prefix.prefix_len() == 0,
            Some(PolicyRef::Announce) => false,
            Some(PolicyRef::Named(name)) => self.run(name, prefix, attrs),
        }
    }

    /// Whether `policy` may rewrite attributes, so that each route needs
    /// its own copy; the built-ins only accept or reject.
    pub fn rewrites(policy: Option<&PolicyRef>) -> bool {
        matches!(policy, Some(PolicyRef::Named(_)))
    }

    /// The path already holds our ASN (RFC 4271 §9.1.2).
    pub fn looped(&self, attrs: &PathAttrs) -> bool {
        attrs.contains_asn(self.asn)
    }

    /// Export: whether `prefix` goes to a session with `policy`; may rewrite `attrs`.
    pub fn export(
        &self,
        policy: &PolicyRef,
        source: Source,
        prefix: &Prefix,
        attrs: &mut PathAttrs,
    ) -> bool {
        match policy {
            PolicyRef::FullTable => true,
            PolicyRef::DefaultOnly => source == Source::Local && prefix.prefix_len() == 0,
            PolicyRef::Announce => source == Source::Local && prefix.prefix_len() != 0,
            PolicyRef::Named(name) => self.run(name, prefix, attrs),
        }
    }

    /// First matching term decides; no match rejects.
    fn run(&self, name: &str, prefix: &Prefix, attrs: &mut PathAttrs) -> bool {
        let Some(terms) = self.routes.get(name) else {
            return false;
        };
        for term in terms {
            if !self.matches(term, prefix, attrs) {
                continue;
            }
            if term.action.value == Action::Reject {
                return false;
            }
            let set = &term.set;
            if let Some(lp) = set.local_pref {
                attrs.local_pref = Some(lp);
            }
            if let Some(med) = set.med {
                attrs.med = Some(med);
            }
            for c in &set.communities {
                attrs.communities.push(c.value.0);
            }
            attrs.communities.sort_unstable();
            attrs.communities.dedup();
            for c in &set.large_communities {
                attrs
                    .large_communities
                    .push((c.value.0, c.value.1, c.value.2));
            }
            attrs.large_communities.sort_unstable();
            attrs.large_communities.dedup();
            if let Some(n) = &set.prepend {
                attrs.prepend(self.asn, usize::from(n.value));
            }
            return true;
        }
        false
    }

    fn matches(&self, term: &Term, prefix: &Prefix, attrs: &PathAttrs) -> bool {
        let m = &term.matches;
        let list_ok = m.prefix_list.as_ref().is_none_or(|name| {
            self.lists
                .get(name.as_str())
                .is_some_and(|l| l.matches(prefix))
        });
        let comm_ok = m.communities.is_empty()
            || m.communities
                .iter()
                .any(|c| attrs.communities.binary_search(&c.value.0).is_ok());
        list_ok && comm_ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// The index answers as the entries one by one would.
        #[test]
        fn an_indexed_prefix_list_matches_like_its_entries(
            entries in proptest::collection::vec((0u32..8, 8u8..26, 0u8..8, 0u8..8), 1..12),
            candidates in proptest::collection::vec((0u32..0x4000, 0u8..33), 1..40),
        ) {
            let entries: Vec<PrefixListEntry> = entries
                .into_iter()
                .map(|(net, len, ge, le)| {
                    let prefix = IpNet::new(std::net::Ipv4Addr::from(0x1400_0000 + (net << 18)).into(), len)
                        .unwrap()
                        .trunc();
                    let lo = (len + ge).min(32);
                    let hi = (lo + le).min(32);
                    PrefixListEntry { prefix, min_len: lo, max_len: hi }
                })
                .collect();
            let list = PrefixList::new(entries.iter().copied());
            for (addr, len) in candidates {
                let c: Prefix = IpNet::new(std::net::Ipv4Addr::from(0x1400_0000 + (addr << 14)).into(), len)
                    .unwrap()
                    .trunc();
                proptest::prop_assert_eq!(list.matches(&c), entries.iter().any(|e| e.matches(&c)), "{}", c);
            }
        }
    }
    use sluice_config::{Source as File, parse};

    const CONFIG: &str = "\
router: { id: 192.0.2.1, asn: 64500 }
policies:
  prefix_lists:
    ours: [\"198.51.100.0/22 le 24\"]
  route_policies:
    to-transit:
      - { match: { prefix_list: ours }, action: accept, set: { communities: [\"64500:100\"], prepend: 2, med: 7 } }
      - { action: reject }
    from-transit:
      - { match: { communities: [\"65001:666\"] }, action: reject }
      - { action: accept, set: { local_pref: 50 } }
";

    fn policies() -> Policies {
        Policies::new(&parse(&File::new("t.yaml", CONFIG)).unwrap())
    }

    fn p(s: &str) -> Prefix {
        s.parse().unwrap()
    }

    #[test]
    fn named_policies_match_and_set() {
        let pol = policies();
        let named = |n: &str| PolicyRef::Named(n.into());
        let mut a = PathAttrs::default();
        assert!(pol.export(
            &named("to-transit"),
            Source::Local,
            &p("198.51.101.0/24"),
            &mut a
        ));
        assert_eq!(
            (a.communities.as_slice(), a.med, a.asns()),
            (&[64500 << 16 | 100][..], Some(7), vec![64500, 64500])
        );
        assert!(!pol.export(
            &named("to-transit"),
            Source::Local,
            &p("203.0.113.0/24"),
            &mut PathAttrs::default()
        ));
        assert!(!pol.export(
            &named("no-such"),
            Source::Local,
            &p("198.51.100.0/24"),
            &mut PathAttrs::default()
        ));

        let mut tagged = PathAttrs {
            communities: vec![65001 << 16 | 666],
            ..Default::default()
        };
        assert!(!pol.import(
            Some(&named("from-transit")),
            true,
            false,
            &p("8.8.8.0/24"),
            &mut tagged
        ));
        let mut plain = PathAttrs::default();
        assert!(pol.import(
            Some(&named("from-transit")),
            true,
            false,
            &p("8.8.8.0/24"),
            &mut plain
        ));
        assert_eq!(plain.local_pref, Some(50));
    }

    #[test]
    fn builtins_rfc8212_bogons_and_loops() {
        let pol = policies();
        let (full, default) = (Some(&PolicyRef::FullTable), Some(&PolicyRef::DefaultOnly));
        // (policy, eBGP, from an uplink, prefix, accepted, why)
        let cases = [
            (
                None,
                true,
                true,
                "8.8.8.0/24",
                false,
                "eBGP without policy: deny (RFC 8212)",
            ),
            (
                None,
                false,
                false,
                "8.8.8.0/24",
                true,
                "iBGP without policy: accept",
            ),
            (full, true, true, "8.8.8.0/24", true, "full-table"),
            (
                full,
                true,
                true,
                "10.1.0.0/16",
                false,
                "bogon from an uplink",
            ),
            (
                full,
                true,
                true,
                "8.8.8.0/25",
                false,
                "longer than /24 from an uplink",
            ),
            (
                full,
                true,
                false,
                "10.1.0.0/16",
                true,
                "neighbours are not bogon-filtered",
            ),
            (
                default,
                true,
                true,
                "0.0.0.0/0",
                true,
                "default-only: the default",
            ),
            (
                default,
                true,
                true,
                "8.8.8.0/24",
                false,
                "default-only: nothing else",
            ),
        ];
        for (policy, ebgp, uplink, prefix, accepted, why) in cases {
            assert_eq!(
                pol.import(policy, ebgp, uplink, &p(prefix), &mut PathAttrs::default()),
                accepted,
                "{why}"
            );
        }
        let mut looped = PathAttrs::default();
        looped.prepend(64500, 1);
        assert!(
            !pol.import(full, true, true, &p("8.8.8.0/24"), &mut looped),
            "our own ASN"
        );

        let mut a = PathAttrs::default();
        assert!(pol.export(
            &PolicyRef::Announce,
            Source::Local,
            &p("198.51.100.0/24"),
            &mut a
        ));
        assert!(!pol.export(
            &PolicyRef::Announce,
            Source::Learned,
            &p("8.8.8.0/24"),
            &mut a
        ));
        assert!(pol.export(
            &PolicyRef::DefaultOnly,
            Source::Local,
            &p("0.0.0.0/0"),
            &mut a
        ));
        assert!(!pol.export(
            &PolicyRef::DefaultOnly,
            Source::Learned,
            &p("0.0.0.0/0"),
            &mut a
        ));
    }

    #[test]
    fn configured_bogons_replace_the_builtin_list() {
        let config = format!("{CONFIG}  bogons: [10.0.0.0/8]\n");
        let pol = Policies::new(&parse(&File::new("t.yaml", &config)).unwrap());
        assert!(!pol.is_bogon(&p("203.0.113.0/24")));
        assert!(!pol.is_bogon(&p("8.8.8.0/25")));
        assert!(pol.is_bogon(&p("10.1.0.0/16")));
    }
}
