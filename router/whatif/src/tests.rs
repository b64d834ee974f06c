//! The drain pre-check on small RIBs: the incident itself, and one case
//! per rule.

use std::net::{IpAddr, Ipv4Addr};

use sluice_config::{Config, Source, parse};
use sluice_rib::{PathAttrs, PeerInfo, Rib};
use sluice_wire::update::AS_SEQUENCE;

use crate::drain_plan;

/// The site: iap-a preferred with a table, iap-b default only, and a
/// static route through iap-a's upstream router.
const SITE: &str = "\
router: { id: 192.0.2.1, asn: 64500 }
interfaces:
  - { name: eth1, addresses: [203.0.113.2/30] }
  - { name: eth2, addresses: [203.0.113.6/30] }
  - { name: eth3, addresses: [10.0.0.1/24] }
uplinks:
  - { name: iap-a, interface: eth1, peer: { address: 203.0.113.1, asn: 65001 }, import: full-table, local_pref: 200 }
  - { name: iap-b, interface: eth2, peer: { address: 203.0.113.5, asn: 65002 }, import: default-only }
announce: [198.51.100.0/24]
static_routes:
  - { prefix: 198.18.0.0/24, via: 203.0.113.1 }
  - { prefix: 172.16.0.0/12, via: 10.0.0.254 }
";

fn config(extra: &str) -> Config {
    parse(&Source::new("site.yaml", format!("{SITE}{extra}"))).unwrap()
}

/// iap-a sends `a`, iap-b sends `b`.
fn rib(a: &[&str], b: &[&str]) -> Rib {
    let mut rib = Rib::default();
    for (i, (prefixes, addr, asn)) in [(a, [203, 0, 113, 1], 65001), (b, [203, 0, 113, 5], 65002)]
        .into_iter()
        .enumerate()
    {
        let peer = rib.add_peer(PeerInfo {
            name: format!("p{i}"),
            address: IpAddr::from(addr),
            asn,
            router_id: Ipv4Addr::from(addr),
            ebgp: true,
            uplink: Some(i),
        });
        let mut as_path = vec![AS_SEQUENCE, 1];
        as_path.extend(u32::to_be_bytes(asn));
        let attrs = PathAttrs {
            as_path,
            local_pref: Some(if i == 0 { 200 } else { 100 }),
            next_hop: Some(IpAddr::from(addr)),
            ..Default::default()
        };
        for p in prefixes {
            rib.announce_attrs(peer, p.parse().unwrap(), attrs.clone());
        }
    }
    rib
}

fn rules(plan: &crate::DrainPlan) -> Vec<(&str, u32)> {
    plan.findings.iter().map(|f| (f.rule, f.pos.line)).collect()
}

#[test]
fn the_incident_is_refused_naming_the_static_routes_line() {
    let config = config("");
    let rib = rib(&["20.0.0.0/8", "20.1.0.0/16"], &["0.0.0.0/0"]);
    let plan = drain_plan(&config, &rib, &[true, true], &[0], false);
    assert!(plan.blocked());
    assert_eq!(
        rules(&plan),
        [("FALLBACK-TO-COVERING", 7), ("PINNED-TO-INACTIVE", 11)]
    );
    assert_eq!(
        plan.findings[1].message,
        "static route 198.18.0.0/24 via 203.0.113.1 is bound to uplink iap-a: draining iap-a, it is overridden and its traffic follows 0.0.0.0/0"
    );
    // The table falls back to iap-b's default; nothing is stranded.
    let fallbacks: Vec<String> = plan
        .comparison
        .fallbacks
        .iter()
        .map(|f| format!("{} {} {:?}", f.prefix, f.to, f.via))
        .collect();
    assert_eq!(
        fallbacks,
        [
            "20.0.0.0/8 0.0.0.0/0 [\"iap-b\"]",
            "20.1.0.0/16 0.0.0.0/0 [\"iap-b\"]",
            "198.18.0.0/24 0.0.0.0/0 [\"iap-b\"]"
        ]
    );
    assert!(plan.comparison.stranded.is_empty());
    assert_eq!(plan.comparison.moved, 3);
    // Draining iap-b moves nothing and finds nothing.
    let plan = drain_plan(&config, &rib, &[true, true], &[1], false);
    assert_eq!(rules(&plan), []);
    assert_eq!(plan.comparison.moved, 0);
}

#[test]
fn destinations_left_only_to_the_drained_uplink_are_unreachable() {
    let config = config("");
    // iap-b's session is up but sends no default.
    let rib = rib(&["20.0.0.0/8"], &[]);
    let plan = drain_plan(&config, &rib, &[true, true], &[0], false);
    assert_eq!(
        rules(&plan),
        [("UNREACHABLE-IN-STATE", 7), ("PINNED-TO-INACTIVE", 11)]
    );
    assert!(
        plan.findings[0]
            .message
            .contains("leaves 1 destination(s) served now reachable only through non-active uplinks: 20.0.0.0/8 (still through iap-a)"),
        "{}",
        plan.findings[0].message
    );
    assert!(
        plan.findings[1]
            .message
            .ends_with("no active uplink covers 198.18.0.0/24, so it keeps traffic on iap-a")
    );
}

#[test]
fn the_floor_and_the_announcements_are_checked() {
    let config = config(
        "maintenance: { min_active_uplinks: 2 }
policies:
  route_policies:
    nothing: [{ action: reject }]
",
    );
    let rib = rib(&[], &["0.0.0.0/0"]);
    let plan = drain_plan(&config, &rib, &[true, true], &[1], false);
    assert_eq!(rules(&plan), [("BELOW-MIN-ACTIVE", 13)]);

    // iap-a exports nothing: draining iap-b leaves no way in.
    let text = SITE.replace(
        "import: full-table, local_pref: 200",
        "import: full-table, local_pref: 200, export: nothing",
    );
    let config = parse(&Source::new(
        "site.yaml",
        format!("{text}policies:\n  route_policies:\n    nothing: [{{ action: reject }}]\n"),
    ))
    .unwrap();
    let plan = drain_plan(&config, &rib, &[true, true], &[1], false);
    assert_eq!(rules(&plan), [("ANNOUNCE-UNEXPORTED", 9)]);
}

#[test]
fn drain_all_passes_the_floor_only_with_a_partner() {
    let config = config("");
    let mut rib = rib(&[], &["0.0.0.0/0"]);
    let plan = drain_plan(&config, &rib, &[true, true], &[0, 1], true);
    let found = rules(&plan);
    assert!(found.contains(&("BELOW-MIN-ACTIVE", 7)), "{found:?}");
    assert!(found.contains(&("ANNOUNCE-UNEXPORTED", 9)), "{found:?}");
    // A partner edge router (iBGP) offers a default, and announces the
    // site's prefix too: inbound comes in through it.
    let partner = rib.add_peer(PeerInfo {
        name: "r2".into(),
        address: IpAddr::from([10, 0, 0, 2]),
        asn: 64500,
        router_id: Ipv4Addr::new(10, 0, 0, 2),
        ebgp: false,
        uplink: None,
    });
    for prefix in ["0.0.0.0/0", "198.51.100.0/24"] {
        rib.announce_attrs(
            partner,
            prefix.parse().unwrap(),
            PathAttrs {
                local_pref: Some(100),
                next_hop: Some(IpAddr::from([10, 0, 0, 2])),
                ..Default::default()
            },
        );
    }
    let plan = drain_plan(&config, &rib, &[true, true], &[0, 1], true);
    let found = rules(&plan);
    assert!(
        !found
            .iter()
            .any(|(r, _)| *r == "BELOW-MIN-ACTIVE" || *r == "ANNOUNCE-UNEXPORTED"),
        "{found:?}"
    );
    assert!(
        plan.comparison.stranded.is_empty(),
        "{:?}",
        plan.comparison.stranded
    );
}

#[test]
fn a_rib_dump_reads_back_as_the_same_routes() {
    let config = config("");
    let rib = rib(
        &["20.0.0.0/8", "20.1.0.0/16"],
        &["0.0.0.0/0", "20.1.0.0/16"],
    );
    let names = |u: usize| config.uplinks.get(u).map(|x| x.name.value.clone());
    let text: String = crate::dump::encode(&rib, names).map(|l| l + "\n").collect();
    assert!(text.starts_with("{\"sluice_rib_dump\":1,"), "{text}");
    let back = crate::dump::decode(&config, text.as_bytes()).unwrap();
    let routes = |r: &Rib| {
        let mut v: Vec<String> = r
            .iter()
            .flat_map(|(p, paths)| {
                paths.iter().map(move |x| {
                    let peer = r.peer(x.peer);
                    let a = r.attrs.get(x.attrs);
                    format!(
                        "{p} {} {:?} {:?} {:?}",
                        peer.name,
                        peer.uplink,
                        a.local_pref,
                        a.asns()
                    )
                })
            })
            .collect();
        v.sort();
        v
    };
    assert_eq!(routes(&back), routes(&rib));
    // The plan on the dump is the plan on the RIB.
    let a = drain_plan(&config, &rib, &[true, true], &[0], false);
    let b = drain_plan(&config, &back, &[true, true], &[0], false);
    assert_eq!(a.findings, b.findings);
    let err = crate::dump::decode(&config, "{\"nope\":1}\n".as_bytes()).unwrap_err();
    assert!(err.to_string().contains("not a sluice RIB dump"), "{err}");
}

/// A dump written part by part while the RIB changes: the attribute id
/// of withdrawn routes is reused for new ones, and the dump says so
/// before their first route, so no route reads back with another's
/// attributes.
#[test]
fn a_dump_in_parts_follows_a_reused_attribute_id() {
    let config = config("");
    let old: Vec<String> = (0..200).map(|i| format!("10.0.{i}.0/24")).collect();
    let old: Vec<&str> = old.iter().map(String::as_str).collect();
    let mut rib = rib(&old, &[]);
    let peer = rib.peers().next().unwrap().0;
    let names = |u: usize| config.uplinks.get(u).map(|x| x.name.value.clone());
    let (mut dumper, header) = crate::dump::Dumper::new(&rib, names);
    let mut lines = vec![header];
    // Up to the first part with routes in it.
    while !lines.iter().any(|l| l.contains("\"prefix\"")) {
        lines.extend(dumper.next_part(&rib).unwrap());
    }
    let before = rib.iter().next().unwrap().1[0].attrs;
    for p in &old {
        rib.withdraw(peer, &p.parse().unwrap());
    }
    let new_attrs = PathAttrs {
        local_pref: Some(7),
        next_hop: Some(IpAddr::from([203, 0, 113, 1])),
        ..Default::default()
    };
    for i in 0..200 {
        let p = format!("11.0.{i}.0/24").parse().unwrap();
        rib.announce_attrs(peer, p, new_attrs.clone());
    }
    assert_eq!(rib.iter().next().unwrap().1[0].attrs, before, "id reused");
    while let Some(part) = dumper.next_part(&rib) {
        lines.extend(part);
    }
    let text: String = lines.into_iter().map(|l| l + "\n").collect();
    let back = crate::dump::decode(&config, text.as_bytes()).unwrap();
    let (mut olds, mut news) = (0, 0);
    for (p, paths) in back.iter() {
        let lp = back.attrs.get(paths[0].attrs).local_pref;
        if p.to_string().starts_with("10.") {
            assert_eq!(lp, Some(200), "{p}");
            olds += 1;
        } else {
            assert_eq!(lp, Some(7), "{p}");
            news += 1;
        }
    }
    assert!(olds > 0 && news > 0, "{olds} old, {news} new");
    assert!(olds + news <= 400);
}
