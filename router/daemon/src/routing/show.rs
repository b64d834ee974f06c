//! `sluice show routes`: the paths of one prefix, or a page of the table.
//!
//! Answered on the route owner, so the work is bounded: a longest match
//! looks up one candidate per prefix length instead of walking the table,
//! and a page walks it once without copying it ([`Rib::page`]).

use std::net::Ipv4Addr;

use sluice_config::Config;
use sluice_config::values::{Community, ExtCommunity};
use sluice_control::{PathView, RouteView, UnknownAttribute};
use sluice_rib::attrs::PathAttrs;
use sluice_rib::decision::DEFAULT_LOCAL_PREF;
use sluice_rib::fib::{self, View};
use sluice_rib::{Path, Rib};
use sluice_wire::Prefix;
use sluice_wire::iana::attr;

use crate::paging::Page;
use crate::routing::filter::Filter;
use crate::routing::rpki::{self, Rpki};

/// The prefix `filter` itself if it has paths, else the longest one that
/// covers it.
pub fn longest_match(rib: &Rib, filter: &Prefix) -> Option<Prefix> {
    (0..=filter.prefix_len()).rev().find_map(|len| {
        let candidate = Prefix::new(filter.addr(), len).ok()?.trunc();
        (!rib.paths(&candidate).is_empty()).then_some(candidate)
    })
}

/// What a `show routes` asks for.
#[derive(Debug, Default)]
pub struct Query<'a> {
    /// One prefix (its longest match), else a page of the table.
    pub prefix: Option<Prefix>,
    /// The page after this prefix.
    pub after: Option<Prefix>,
    pub limit: usize,
    /// Only the paths it accepts.
    pub paths: Option<Filter<'a>>,
}

/// Every path of the query's prefix's longest match, or of a page of the
/// table (the first `limit` prefixes after `after` with a path the filter
/// accepts, found in one walk); and the next page's cursor.
pub fn route_views(
    rib: &Rib,
    config: &Config,
    active: &[bool],
    rpki: Option<&Rpki>,
    mut query: Query<'_>,
) -> (Vec<RouteView>, Option<String>) {
    let limit = sluice_control::capped(query.limit);
    let prefixes = match (query.prefix, query.paths.as_mut()) {
        (Some(f), _) => Page {
            items: longest_match(rib, &f).into_iter().collect(),
            more: false,
        },
        (None, None) => rib.page(query.after.as_ref(), limit),
        (None, Some(keep)) => rib.page_where(query.after.as_ref(), limit, |p, path| {
            keep.matches(rib, p, path)
        }),
    };
    let view = View { config, active };
    let routes = prefixes
        .items
        .iter()
        .map(|prefix| route_view(rib, prefix, &view, rpki, query.paths.as_mut()))
        .filter(|r| !r.paths.is_empty())
        .collect();
    (routes, prefixes.next())
}

fn route_view(
    rib: &Rib,
    prefix: &Prefix,
    view: &View<'_>,
    rpki: Option<&Rpki>,
    mut filter: Option<&mut Filter<'_>>,
) -> RouteView {
    let asn = view.config.router.asn.value;
    let sel = fib::learned(rib, prefix, view).map(|(_, s)| s);
    let mut paths: Vec<PathView> = rib
        .paths(prefix)
        .iter()
        .filter(|path| filter.as_mut().is_none_or(|f| f.matches(rib, prefix, path)))
        .map(|path| {
            let mut v = path_view(rib, path);
            v.best = sel.as_ref().is_some_and(|s| s.best == *path);
            v.multipath = sel.as_ref().is_some_and(|s| s.multipath.contains(path));
            v.rpki = rpki::state_of(rpki, rib, prefix, path.attrs, asn);
            v
        })
        .collect();
    paths.sort_by_key(|p| (!p.best, !p.multipath));
    RouteView {
        prefix: prefix.to_string(),
        reason: sel
            .map(|s| s.reason.describe().to_string())
            .unwrap_or_else(|| "no usable path".into()),
        paths,
    }
}

/// Every attribute of a path, as best-path selection sees local_pref and
/// MED.
fn path_view(rib: &Rib, path: &Path) -> PathView {
    let a = rib.attrs.get(path.attrs);
    PathView {
        peer: rib.peer(path.peer).name.clone(),
        next_hop: a.next_hop.map(|n| n.to_string()).unwrap_or_default(),
        as_path: a.asns(),
        origin: ["igp", "egp", "incomplete"]
            .get(usize::from(a.origin))
            .unwrap_or(&"?")
            .to_string(),
        med: Some(a.med.unwrap_or(0)),
        local_pref: Some(a.local_pref.unwrap_or(DEFAULT_LOCAL_PREF)),
        communities: a
            .communities
            .iter()
            .map(|c| Community(*c).to_string())
            .collect(),
        large_communities: a
            .rare
            .large_communities
            .iter()
            .map(|(g, l1, l2)| format!("{g}:{l1}:{l2}"))
            .collect(),
        extended_communities: extended_communities(a),
        aggregator: a.rare.aggregator.as_deref().and_then(aggregator),
        atomic_aggregate: a.atomic_aggregate,
        originator_id: a
            .rare
            .reflected
            .as_ref()
            .and_then(|r| r.originator_id)
            .map(|o| o.to_string()),
        cluster_list: a
            .rare
            .reflected
            .iter()
            .flat_map(|r| &r.cluster_list)
            .map(|c| Ipv4Addr::from(*c).to_string())
            .collect(),
        unknown_attributes: a
            .rare
            .unknown
            .iter()
            .filter_map(|u| {
                let (&flags, &code) = (u.first()?, u.get(1)?);
                let header = if flags & attr::FLAG_EXTENDED != 0 {
                    4
                } else {
                    3
                };
                (code != attr::EXTENDED_COMMUNITIES).then(|| UnknownAttribute {
                    code,
                    flags,
                    length: u.len().saturating_sub(header),
                })
            })
            .collect(),
        best: false,
        multipath: false,
        stale: path.stale,
        rpki: None,
    }
}

/// `AS65001 192.0.2.1` from AGGREGATOR's 4-octet (or 2-octet) form.
fn aggregator(v: &[u8]) -> Option<String> {
    let (asn, ip) = match v.len() {
        8 => (u32::from_be_bytes(v[..4].try_into().ok()?), &v[4..]),
        6 => (
            u32::from(u16::from_be_bytes(v[..2].try_into().ok()?)),
            &v[2..],
        ),
        _ => return None,
    };
    let ip: [u8; 4] = ip.try_into().ok()?;
    Some(format!("AS{asn} {}", Ipv4Addr::from(ip)))
}

/// EXTENDED_COMMUNITIES (RFC 4360), kept whole among the unknown
/// attributes: route targets and origins as `target:65001:10` and
/// `origin:192.0.2.1:7`, anything else as its 8 octets in hex.
fn extended_communities(a: &PathAttrs) -> Vec<String> {
    a.extended_communities()
        .map(|c| extended_community(&c))
        .collect()
}

fn extended_community(c: &[u8; 8]) -> String {
    match ExtCommunity::known(*c) {
        Some(e) => e.to_string(),
        None => {
            let hex: String = c.iter().map(|b| format!("{b:02x}")).collect();
            format!("0x{hex}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_rib::attrs::{Rare, RareAttrs};

    #[test]
    fn extended_communities_are_written_as_operators_know_them() {
        let attr = |values: &[[u8; 8]]| {
            let mut u = vec![
                attr::FLAG_OPTIONAL | attr::FLAG_TRANSITIVE,
                attr::EXTENDED_COMMUNITIES,
            ];
            u.push((values.len() * 8) as u8);
            for v in values {
                u.extend(v);
            }
            u
        };
        let a = PathAttrs {
            rare: Rare::new(RareAttrs {
                unknown: vec![
                    attr(&[
                        [0x00, 0x02, 0xfd, 0xe9, 0, 0, 0, 10],
                        [0x01, 0x03, 192, 0, 2, 1, 0, 7],
                        [0x02, 0x02, 0, 0x03, 0x0d, 0x40, 0, 1],
                        [0x43, 0x00, 0, 0, 0, 0, 0, 1],
                    ]),
                    vec![0xc0, 200, 1, 9],
                ],
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(
            extended_communities(&a),
            [
                "target:65001:10",
                "origin:192.0.2.1:7",
                "target:200000:1",
                "0x4300000000000001"
            ]
        );
        assert_eq!(
            aggregator(&[0, 0, 0xfd, 0xe9, 192, 0, 2, 1]).as_deref(),
            Some("AS65001 192.0.2.1")
        );
        assert_eq!(
            aggregator(&[0xfd, 0xe9, 192, 0, 2, 1]).as_deref(),
            Some("AS65001 192.0.2.1")
        );
        assert_eq!(aggregator(&[1, 2, 3]), None);
    }

    #[test]
    fn a_reflected_path_shows_its_originator_and_clusters() {
        let mut rib = Rib::default();
        let peer = rib.add_peer(sluice_rib::PeerInfo {
            name: "rr".into(),
            address: "10.0.0.1".parse().unwrap(),
            asn: 64500,
            router_id: "10.0.0.1".parse().unwrap(),
            ebgp: false,
            uplink: None,
        });
        let prefix: Prefix = "20.0.0.0/24".parse().unwrap();
        rib.announce_attrs(
            peer,
            prefix,
            PathAttrs {
                rare: Rare::new(RareAttrs {
                    reflected: Some(sluice_rib::attrs::Reflected {
                        originator_id: Some("10.0.0.7".parse().unwrap()),
                        cluster_list: vec![0x0a00_0001, 0x0a00_0002],
                    }),
                    aggregator: Some(vec![0, 0, 0xfd, 0xe9, 192, 0, 2, 1]),
                    unknown: vec![vec![0xc0, 200, 2, 9, 9]],
                    ..Default::default()
                }),
                atomic_aggregate: true,
                ..Default::default()
            },
        );
        let v = path_view(&rib, &rib.paths(&prefix)[0]);
        assert_eq!(v.originator_id.as_deref(), Some("10.0.0.7"));
        assert_eq!(v.cluster_list, ["10.0.0.1", "10.0.0.2"]);
        assert!(v.atomic_aggregate);
        assert_eq!(v.aggregator.as_deref(), Some("AS65001 192.0.2.1"));
        assert_eq!(
            v.unknown_attributes,
            [UnknownAttribute {
                code: 200,
                flags: 0xc0,
                length: 2
            }]
        );
        assert_eq!((v.local_pref, v.med), (Some(100), Some(0)));
    }
}
