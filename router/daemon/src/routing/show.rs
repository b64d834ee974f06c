//! `sluice show routes`: the paths of one prefix, or a page of the table.
//!
//! Answered on the route owner, so the work is bounded: a longest match
//! looks up one candidate per prefix length instead of walking the table,
//! and a page walks it once without copying it ([`Rib::page`]).

use sluice_config::Config;
use sluice_config::values::Community;
use sluice_control::{PathView, RouteView};
use sluice_rib::Rib;
use sluice_rib::fib::{self, View};
use sluice_wire::Prefix;

use crate::paging::Page;
use crate::routing::rpki::{self, Rpki};

/// The prefix `filter` itself if it has paths, else the longest one that
/// covers it.
pub fn longest_match(rib: &Rib, filter: &Prefix) -> Option<Prefix> {
    (0..=filter.prefix_len()).rev().find_map(|len| {
        let candidate = Prefix::new(filter.addr(), len).ok()?.trunc();
        (!rib.paths(&candidate).is_empty()).then_some(candidate)
    })
}

/// Every path of `filter`'s longest match, or of a page of the table (the
/// first `limit` prefixes after `after`); and the next page's cursor.
pub fn route_views(
    rib: &Rib,
    filter: Option<&Prefix>,
    after: Option<Prefix>,
    config: &Config,
    active: &[bool],
    limit: usize,
    rpki: Option<&Rpki>,
) -> (Vec<RouteView>, Option<String>) {
    let prefixes = match filter {
        Some(f) => Page {
            items: longest_match(rib, f).into_iter().collect(),
            more: false,
        },
        None => rib.page(after.as_ref(), sluice_control::capped(limit)),
    };
    let view = View { config, active };
    let routes = prefixes
        .items
        .iter()
        .map(|prefix| route_view(rib, prefix, &view, rpki))
        .collect();
    (routes, prefixes.next())
}

fn route_view(rib: &Rib, prefix: &Prefix, view: &View<'_>, rpki: Option<&Rpki>) -> RouteView {
    let asn = view.config.router.asn.value;
    let sel = fib::learned(rib, prefix, view).map(|(_, s)| s);
    let mut paths: Vec<PathView> = rib
        .paths(prefix)
        .iter()
        .map(|path| {
            let peer = rib.peer(path.peer);
            let a = rib.attrs.get(path.attrs);
            PathView {
                peer: peer.name.clone(),
                next_hop: a.next_hop.map(|n| n.to_string()).unwrap_or_default(),
                as_path: a.asns(),
                origin: ["igp", "egp", "incomplete"]
                    .get(usize::from(a.origin))
                    .unwrap_or(&"?")
                    .to_string(),
                med: a.med,
                local_pref: a.local_pref,
                communities: a
                    .communities
                    .iter()
                    .map(|c| Community(*c).to_string())
                    .collect(),
                best: sel.as_ref().is_some_and(|s| s.best == *path),
                multipath: sel.as_ref().is_some_and(|s| s.multipath.contains(path)),
                stale: path.stale,
                rpki: rpki::state_of(rpki, rib, prefix, path.attrs, asn),
            }
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
