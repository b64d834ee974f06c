//! Import and export policy: the built-ins (`full-table`, `default-only`,
//! `announce`), the config's route policies, RFC 8212 default deny, the
//! bogon filter on uplinks, and AS-path loop detection.

use std::collections::HashMap;

use ipnet::IpNet;
use regex::Regex;
use rustc_hash::FxHashMap;
use sluice_config::model::{Action, Config, Match, RpkiState, Term};
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
    /// Every `as_path` pattern of the route policies, compiled.
    as_paths: HashMap<String, Regex>,
    /// The route policies that match on the RPKI state.
    by_rpki: std::collections::HashSet<String>,
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
        let mut as_paths = HashMap::new();
        let mut by_rpki = std::collections::HashSet::new();
        for (name, terms) in &config.policies.route_policies {
            for t in terms.iter() {
                compile_as_paths(&t.matches, &mut as_paths);
                if uses_rpki(&t.matches) {
                    by_rpki.insert(name.clone());
                }
            }
        }
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
            as_paths,
            by_rpki,
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
        self.import_validated(policy, ebgp, from_uplink, prefix, attrs, None)
    }

    /// [`Policies::import_prefix`] for a route whose RPKI state is `rpki`
    /// (`None`: unknown), for policies that match on it.
    pub fn import_validated(
        &self,
        policy: Option<&PolicyRef>,
        ebgp: bool,
        from_uplink: bool,
        prefix: &Prefix,
        attrs: &mut PathAttrs,
        rpki: Option<RpkiState>,
    ) -> bool {
        if from_uplink && self.is_bogon(prefix) {
            return false;
        }
        match policy {
            None => !ebgp,
            Some(PolicyRef::FullTable) => true,
            Some(PolicyRef::DefaultOnly) => prefix.prefix_len() == 0,
            Some(PolicyRef::Announce) => false,
            Some(PolicyRef::Named(name)) => self.run(name, prefix, attrs, rpki),
        }
    }

    /// Whether `policy` matches on the RPKI state: its routes are then
    /// decided again when VRPs change.
    pub fn uses_rpki(&self, policy: Option<&PolicyRef>) -> bool {
        matches!(policy, Some(PolicyRef::Named(n)) if self.by_rpki.contains(n))
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
            PolicyRef::Named(name) => self.run(name, prefix, attrs, None),
        }
    }

    /// The first matching term that accepts or rejects decides (a `next`
    /// term applies its `set` and goes on); no such term rejects.
    fn run(
        &self,
        name: &str,
        prefix: &Prefix,
        attrs: &mut PathAttrs,
        rpki: Option<RpkiState>,
    ) -> bool {
        let Some(terms) = self.routes.get(name) else {
            return false;
        };
        for term in terms {
            if !self.matches(&term.matches, prefix, attrs, rpki) {
                continue;
            }
            if term.action.value == Action::Reject {
                return false;
            }
            self.apply(term, attrs);
            if term.action.value == Action::Accept {
                return true;
            }
        }
        false
    }

    fn apply(&self, term: &Term, attrs: &mut PathAttrs) {
        let set = &term.set;
        if let Some(lp) = set.local_pref {
            attrs.local_pref = Some(lp);
        }
        if let Some(med) = set.med {
            attrs.med = Some(med);
        }
        if !set.delete_communities.is_empty() {
            attrs
                .communities
                .retain(|c| !set.delete_communities.iter().any(|p| p.matches(*c)));
        }
        for c in &set.communities {
            attrs.communities.push(c.value.0);
        }
        attrs.communities.sort_unstable();
        attrs.communities.dedup();
        if !set.delete_large_communities.is_empty() || !set.large_communities.is_empty() {
            attrs.rare.edit(|rare| {
                let large = &mut rare.large_communities;
                large.retain(|c| !set.delete_large_communities.iter().any(|p| p.matches(*c)));
                large.extend(
                    set.large_communities
                        .iter()
                        .map(|c| (c.value.0, c.value.1, c.value.2)),
                );
                large.sort_unstable();
                large.dedup();
            });
        }
        for c in &set.extended_communities {
            attrs.add_extended_community(c.value.0);
        }
        if let Some(n) = &set.prepend {
            attrs.prepend(self.asn, usize::from(n.value));
        }
    }

    /// Every key given holds (within a list: any entry); `all` and `any`
    /// nest.
    fn matches(
        &self,
        m: &Match,
        prefix: &Prefix,
        attrs: &PathAttrs,
        rpki: Option<RpkiState>,
    ) -> bool {
        let list_ok = m.prefix_list.as_ref().is_none_or(|name| {
            self.lists
                .get(name.as_str())
                .is_some_and(|l| l.matches(prefix))
        });
        let any_of = |empty: bool, hit: &dyn Fn() -> bool| empty || hit();
        list_ok
            && any_of(m.communities.is_empty(), &|| {
                attrs
                    .communities
                    .iter()
                    .any(|c| m.communities.iter().any(|p| p.matches(*c)))
            })
            && any_of(m.large_communities.is_empty(), &|| {
                attrs
                    .rare
                    .large_communities
                    .iter()
                    .any(|c| m.large_communities.iter().any(|p| p.matches(*c)))
            })
            && any_of(m.extended_communities.is_empty(), &|| {
                // Patterns compare without the transitive bit of the type.
                attrs
                    .extended_communities()
                    .any(|c| m.extended_communities.iter().any(|p| p.matches(c)))
            })
            && any_of(m.origin_as.is_empty(), &|| {
                attrs
                    .origin_as(self.asn)
                    .is_some_and(|o| m.origin_as.iter().any(|a| a.value == o))
            })
            && m.as_path_length
                .as_ref()
                .is_none_or(|r| r.contains(attrs.as_path_len()))
            && any_of(m.next_hop.is_empty(), &|| {
                attrs
                    .next_hop
                    .is_some_and(|nh| m.next_hop.iter().any(|n| n.value.0.contains(&nh)))
            })
            && m.as_path.as_ref().is_none_or(|p| {
                self.as_paths
                    .get(p.as_str())
                    .is_some_and(|re| re.is_match(&attrs.as_path_text()))
            })
            && m.rpki
                .as_ref()
                .is_none_or(|want| rpki.unwrap_or(RpkiState::Unknown) == want.value)
            && m.all.iter().all(|n| self.matches(n, prefix, attrs, rpki))
            && (m.any.is_empty() || m.any.iter().any(|n| self.matches(n, prefix, attrs, rpki)))
    }
}

/// Whether `m`, or a match it nests, asks for an RPKI state.
fn uses_rpki(m: &Match) -> bool {
    m.rpki.is_some() || m.all.iter().chain(&m.any).any(|n| uses_rpki(n))
}

/// Compiles the `as_path` patterns of `m` and of what it nests; the
/// validator has refused those that do not compile.
fn compile_as_paths(m: &Match, out: &mut HashMap<String, Regex>) {
    if let Some(p) = &m.as_path
        && let Ok(re) = sluice_config::values::as_path_regex(p)
    {
        out.insert(p.value.clone(), re);
    }
    for n in m.all.iter().chain(&m.any) {
        compile_as_paths(n, out);
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

    /// The matches and sets beyond prefix lists and communities, each
    /// shown to take effect and to hold back where it should not.
    #[test]
    fn the_richer_matches_and_sets() {
        let config = "\
router: { id: 192.0.2.1, asn: 64500 }
policies:
  route_policies:
    p:
      - { set: { delete_communities: [\"64500:*\"], delete_large_communities: [\"64500:*:*\"] }, action: next }
      - { match: { as_path: \"_64666_\" }, action: reject }
      - { match: { origin_as: [65010] }, action: accept, set: { local_pref: 10 } }
      - { match: { as_path_length: \"4-\" }, action: accept, set: { local_pref: 20 } }
      - match: { any: [{ large_communities: [\"65001:*:7\"] }, { extended_communities: [\"target:65001:10\"] }] }
        action: accept
        set: { local_pref: 30, extended_communities: [\"origin:64500:1\"] }
      - { match: { next_hop: [203.0.113.0/30], communities: [\"*:100\"] }, action: accept, set: { local_pref: 40 } }
      - { match: { extended_communities: [\"origin:*:7\", \"target:65002:*\"] }, action: accept, set: { local_pref: 50 } }
      - { action: reject }
";
        let pol = Policies::new(&parse(&File::new("t.yaml", config)).unwrap());
        let named = Some(PolicyRef::Named("p".into()));
        let path = |asns: &[u32]| {
            let mut as_path = vec![sluice_wire::update::AS_SEQUENCE, asns.len() as u8];
            for x in asns {
                as_path.extend(x.to_be_bytes());
            }
            PathAttrs {
                as_path,
                ..PathAttrs::default()
            }
        };
        let run = |mut a: PathAttrs| {
            let ok = pol.import(named.as_ref(), true, false, &p("20.0.0.0/24"), &mut a);
            ok.then_some(a)
        };
        // The `next` term's deletions apply whatever decides later.
        let mut a = path(&[65001, 65010]);
        a.communities = vec![64500 << 16 | 1, 65001 << 16 | 5];
        a.rare
            .edit(|r| r.large_communities = vec![(64500, 1, 1), (65001, 1, 1)]);
        let got = run(a).expect("origin 65010 accepted");
        assert_eq!(got.local_pref, Some(10));
        assert_eq!(got.communities, [65001 << 16 | 5]);
        assert_eq!(got.rare.large_communities, [(65001, 1, 1)]);
        assert!(
            run(path(&[65001, 64666, 65010])).is_none(),
            "as_path reject comes first"
        );
        assert!(
            run(path(&[65001, 64667, 65011])).is_none(),
            "_64666_ is a boundary match"
        );
        assert_eq!(run(path(&[65001, 1, 2, 3])).unwrap().local_pref, Some(20));
        let mut a = path(&[65001]);
        a.rare.edit(|r| r.large_communities = vec![(65001, 9, 7)]);
        let got = run(a).unwrap();
        assert_eq!(got.local_pref, Some(30));
        assert_eq!(
            got.extended_communities().collect::<Vec<_>>(),
            [[0, 3, 0xfb, 0xf4, 0, 0, 0, 1]]
        );
        let mut a = path(&[65001]);
        a.add_extended_community([0x40, 2, 0xfd, 0xe9, 0, 0, 0, 10]);
        assert_eq!(
            run(a).unwrap().local_pref,
            Some(30),
            "the transitive bit aside"
        );
        let mut a = path(&[65001]);
        a.next_hop = Some("203.0.113.1".parse().unwrap());
        a.communities = vec![65001 << 16 | 100];
        assert_eq!(run(a.clone()).unwrap().local_pref, Some(40));
        a.next_hop = Some("203.0.113.9".parse().unwrap());
        assert!(run(a).is_none(), "both keys must hold");
        // Extended-community patterns: any administrator, any value.
        let with = |ext: [u8; 8]| {
            let mut a = path(&[65001]);
            a.add_extended_community(ext);
            run(a).map(|a| a.local_pref)
        };
        assert_eq!(
            with([0x01, 3, 192, 0, 2, 1, 0, 7]),
            Some(Some(50)),
            "origin:192.0.2.1:7"
        );
        assert_eq!(
            with([0x00, 3, 0xfd, 0xe9, 0, 0, 0, 7]),
            Some(Some(50)),
            "origin:65001:7"
        );
        assert_eq!(
            with([0x01, 3, 192, 0, 2, 1, 0, 8]),
            None,
            "origin:192.0.2.1:8"
        );
        assert_eq!(
            with([0x00, 2, 0xfd, 0xea, 0, 0, 0, 99]),
            Some(Some(50)),
            "target:65002:99"
        );
        assert_eq!(
            with([0x00, 2, 0xfd, 0xeb, 0, 0, 0, 99]),
            None,
            "target:65003:99"
        );
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
