use std::net::{IpAddr, Ipv4Addr};

use sluice_config::{Source, parse};
use sluice_rib::fib::Local;
use sluice_rib::{PathAttrs, PeerInfo, Rib};
use sluice_wire::update::AS_SEQUENCE;

use super::*;

const CONFIG: &str = "\
router: { id: 192.0.2.1, asn: 64500, ecmp: 1 }
interfaces:
  - { name: eth1, addresses: [203.0.113.2/30] }
  - { name: eth2, addresses: [203.0.113.6/30] }
  - { name: eth3, addresses: [10.0.0.1/24] }
uplinks:
  - { name: iap-a, interface: eth1, local_pref: 200, peer: { address: 203.0.113.1, asn: 65001 } }
  - { name: iap-b, interface: eth2, peer: { address: 203.0.113.5, asn: 65002 } }
announce: [198.51.100.0/24]
static_routes:
  - { prefix: 172.16.0.0/12, via: 10.0.0.254 }
";

const A: IpAddr = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 1));
const B: IpAddr = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 5));

fn config() -> Config {
    parse(&Source::new("t.yaml", CONFIG)).unwrap()
}

fn port(ifindex: u32, up: bool) -> Port {
    Port {
        ifindex,
        mac: [2, 0, 0, 0, 0, ifindex as u8],
        mtu: 1500,
        up,
    }
}

/// A RIB where both uplinks offer `n` /24s (iap-a preferred by local-pref).
fn rib(n: u32) -> Rib {
    let mut rib = Rib::default();
    for (i, (addr, asn)) in [(A, 65001), (B, 65002)].into_iter().enumerate() {
        let peer = rib.add_peer(PeerInfo {
            name: format!("iap-{i}"),
            address: addr,
            asn,
            router_id: Ipv4Addr::new(10, 9, 9, i as u8 + 1),
            ebgp: true,
            uplink: Some(i),
        });
        let mut as_path = vec![AS_SEQUENCE, 1];
        as_path.extend(u32::to_be_bytes(asn));
        let attrs = PathAttrs {
            as_path,
            local_pref: Some(if i == 0 { 200 } else { 100 }),
            next_hop: Some(addr),
            ..Default::default()
        };
        for k in 0..n {
            let prefix = format!("20.{}.{}.0/24", k >> 8, k & 0xff).parse().unwrap();
            rib.announce_attrs(peer, prefix, attrs.clone());
        }
    }
    rib
}

fn programmed(n: u32) -> (Programmer, Rib) {
    let config = config();
    let rib = rib(n);
    let local = Local::new(&config);
    let mut p = Programmer::new(&config);
    p.set_port("eth1", Some(port(11, true)));
    p.set_port("eth2", Some(port(12, true)));
    p.set_active(&[true, true]);
    for (prefix, _) in rib.iter() {
        p.set_route(prefix, local.entry(&rib, &prefix).as_ref())
            .unwrap();
    }
    (p, rib)
}

fn only_member(g: &Group) -> u16 {
    let first = g.buckets.buckets[0];
    assert!(g.buckets.buckets.iter().all(|&b| b == first), "{g:?}");
    first
}

#[test]
fn prefixes_with_the_same_ways_share_one_group_and_a_drain_is_one_write() {
    let (mut p, _) = programmed(1000);
    let c = p.take();
    assert_eq!(c.routes.len(), 1000);
    assert_eq!((c.groups.len(), c.hops.len()), (1, 2), "{c:?}");
    let (&gid, group) = c.groups.iter().next().unwrap();
    let to_a = only_member(group.as_ref().unwrap());
    assert_eq!(p.hop(to_a).unwrap().addr, A);
    assert_eq!(p.fib4.lookup(u32::from(Ipv4Addr::new(20, 3, 7, 9))), gid);
    p.fib4.take_dirty();

    // Draining iap-a: one group rewritten, no route touched.
    p.set_active(&[false, true]);
    let c = p.take();
    assert!(c.routes.is_empty() && c.hops.is_empty(), "{c:?}");
    assert!(p.fib4.take_dirty().is_empty());
    let to_b = only_member(c.groups[&gid].as_ref().unwrap());
    assert_eq!(p.hop(to_b).unwrap().addr, B);

    // Back: the same group, the same write.
    p.set_active(&[true, true]);
    let c = p.take();
    assert_eq!(only_member(c.groups[&gid].as_ref().unwrap()), to_a);
}

#[test]
fn a_link_down_moves_traffic_before_any_state_change() {
    let (mut p, _) = programmed(10);
    let c = p.take();
    let gid = *c.groups.keys().next().unwrap();
    p.set_port("eth1", Some(port(11, false)));
    let c = p.take();
    let to = only_member(c.groups[&gid].as_ref().unwrap());
    assert_eq!(p.hop(to).unwrap().addr, B);
    assert!(c.routes.is_empty());
}

#[test]
fn neighbours_fill_next_hops_and_last_route_frees_everything() {
    let config = config();
    let local = Local::new(&config);
    let (mut p, rib) = programmed(3);
    let first = p.take();
    let gid = *first.groups.keys().next().unwrap();
    let hop_a = only_member(first.groups[&gid].as_ref().unwrap());
    assert_eq!(first.hops[&hop_a].as_ref().unwrap().mac, None);

    p.set_neighbour(A, Some([2, 1, 1, 1, 1, 1]));
    let c = p.take();
    assert_eq!(c.hops.len(), 1);
    let hop = c.hops[&hop_a].as_ref().unwrap();
    assert_eq!(
        (hop.mac, hop.port.map(|p| p.ifindex)),
        (Some([2, 1, 1, 1, 1, 1]), Some(11))
    );

    for (prefix, _) in rib.iter() {
        p.set_route(prefix, None).unwrap();
    }
    let c = p.take();
    assert_eq!(c.routes.len(), 3);
    assert_eq!(c.groups.get(&gid), Some(&None));
    assert!(c.hops.values().all(Option::is_none) && c.hops.len() == 2);
    assert_eq!(p.route_count(), 0);

    // Freed ids are reused once the clearing changes were taken.
    let prefix: Prefix = "20.0.0.0/24".parse().unwrap();
    p.set_route(prefix, local.entry(&rib, &prefix).as_ref())
        .unwrap();
    assert_eq!(p.route(&prefix), Some(gid));
}

/// The group `acquire` gave last is remembered until it is freed: the
/// same ways asked for again get a group of their own, and a freed id
/// reused for other ways is not handed back for the old ones.
#[test]
fn a_freed_group_is_not_remembered_for_its_old_ways() {
    let way = |addr| Way {
        next_hop: addr,
        uplink: None,
        weight: 1,
    };
    let to_a = Entry::Forward(Ways::single(way(A)));
    let to_b = Entry::Forward(Ways::single(way(B)));
    let (x, y): (Prefix, Prefix) = (
        "20.0.0.0/24".parse().unwrap(),
        "20.0.1.0/24".parse().unwrap(),
    );
    let mut p = Programmer::new(&config());
    p.set_port("eth1", Some(port(11, true)));
    p.set_port("eth2", Some(port(12, true)));
    p.set_active(&[true, true]);
    let member = |p: &Programmer, g| {
        let (_, group) = p.groups().find(|(id, _)| *id == g).unwrap();
        p.hop(only_member_of(&group.buckets)).unwrap().addr
    };
    p.set_route(x, Some(&to_a)).unwrap();
    p.set_route(x, None).unwrap();
    p.set_route(x, Some(&to_a)).unwrap();
    let ga = p.route(&x).unwrap();
    assert_eq!(member(&p, ga), A);

    p.set_route(x, None).unwrap();
    p.take();
    p.set_route(y, Some(&to_b)).unwrap();
    let gb = p.route(&y).unwrap();
    p.set_route(x, Some(&to_a)).unwrap();
    let again = p.route(&x).unwrap();
    assert_ne!(again, gb);
    assert_eq!((member(&p, again), member(&p, gb)), (A, B));
}

fn only_member_of(buckets: &NhGroup) -> u16 {
    let first = buckets.buckets[0];
    assert!(buckets.buckets.iter().all(|&b| b == first));
    first
}

#[test]
fn statics_and_discards() {
    let config = config();
    let local = Local::new(&config);
    let rib = Rib::default();
    let mut p = Programmer::new(&config);
    for prefix in local.prefixes().collect::<Vec<_>>() {
        p.set_route(prefix, local.entry(&rib, &prefix).as_ref())
            .unwrap();
    }
    let agg: Prefix = "198.51.100.0/24".parse().unwrap();
    assert_eq!(p.route(&agg), Some(GROUP_DISCARD));
    // A connected subnet goes to the kernel, which resolves the host.
    assert_eq!(
        p.fib4.lookup(u32::from(Ipv4Addr::new(10, 0, 0, 5))),
        GROUP_LOCAL
    );
    assert_eq!(
        p.fib4.lookup(u32::from(Ipv4Addr::new(198, 51, 100, 7))),
        GROUP_DISCARD
    );
    let c = p.take();
    assert_eq!(c.groups.len(), 1, "only the static route's group");
    let g = c.groups.values().next().unwrap().as_ref().unwrap();
    assert!(
        g.members.is_empty(),
        "eth3 not reported yet: nothing forwards"
    );
    p.set_port("eth3", Some(port(13, true)));
    let c = p.take();
    let g = c.groups.values().next().unwrap().as_ref().unwrap();
    assert_eq!(g.members.len(), 1);
    let hop = c.hops.values().next().unwrap().as_ref().unwrap();
    assert_eq!(hop.port.unwrap().ifindex, 13);
}

#[test]
fn adopted_routes_forward_until_replaced_or_swept() {
    let config = config();
    let local = Local::new(&config);
    let rib = rib(2);
    let mut p = Programmer::new(&config);
    let old: Prefix = "20.0.0.0/24".parse().unwrap();
    let gone: Prefix = "30.0.0.0/8".parse().unwrap();
    let gone6: Prefix = "2001:db8::/32".parse().unwrap();
    // A previous run used group 1 and next hops 1 and 2.
    p.adopt([(old, 1), (gone, 1), (gone6, 1)], [1], [1, 2]);
    assert_eq!(p.stale_count(), 3);
    assert_eq!(p.fib4.lookup(u32::from(Ipv4Addr::new(30, 1, 2, 3))), 1);

    p.set_port("eth1", Some(port(11, true)));
    p.set_port("eth2", Some(port(12, true)));
    p.set_active(&[true, true]);
    for (prefix, _) in rib.iter() {
        p.set_route(prefix, local.entry(&rib, &prefix).as_ref())
            .unwrap();
    }
    let c = p.take();
    let (&gid, _) = c.groups.iter().next().unwrap();
    assert_ne!(gid, 1, "adopted ids are not reused");
    assert!(c.hops.keys().all(|&h| h > 2), "{:?}", c.hops.keys());
    assert_eq!(p.stale_count(), 2, "20.0.0.0/24 was taken over");
    assert_eq!(p.fib4.lookup(u32::from(Ipv4Addr::new(20, 0, 0, 1))), gid);

    p.sweep_stale();
    let c = p.take();
    assert_eq!(p.stale_count(), 0);
    assert_eq!(p.fib4.lookup(u32::from(Ipv4Addr::new(30, 1, 2, 3))), 0);
    assert!(c.routes.contains(&(gone, None)) && c.routes.contains(&(gone6, None)));
    assert_eq!(c.groups.get(&1), Some(&None));
    assert_eq!((c.hops.get(&1), c.hops.get(&2)), (Some(&None), Some(&None)));
}

/// The IPv6 builder handed over with pinned maps already holds their
/// routes: adoption marks them stale, and they leave or are replaced as
/// when they were written by `adopt` itself.
#[test]
fn adopted_ipv6_routes_in_a_handed_over_builder_are_stale_until_replaced() {
    let config = config();
    let mut p = Programmer::new(&config);
    let gone6: Prefix = "2001:db8::/32".parse().unwrap();
    let kept6: Prefix = "2001:db8:1::/48".parse().unwrap();
    let key = |q: &Prefix| match q {
        Prefix::V6(n) => (u128::from(n.network()), n.prefix_len()),
        Prefix::V4(_) => unreachable!(),
    };
    for q in [gone6, kept6] {
        let (a, l) = key(&q);
        p.fib6.insert(a, l, 1).unwrap();
    }
    p.fib6.take_dirty();
    p.adopt([(gone6, 1), (kept6, 1)], [1], [1]);
    assert_eq!(p.stale_count(), 2);
    assert_eq!(p.route(&gone6), None, "not ours");
    assert_eq!(p.route_count(), 0);
    assert_eq!(p.routes().count(), 0);
    assert_eq!(p.prefixes6().count(), 2, "the FIB holds both");

    assert_eq!(p.set_route(kept6, Some(&Entry::Discard)), Ok(true));
    assert_eq!(p.route(&kept6), Some(GROUP_DISCARD));
    assert_eq!(p.stale_count(), 1);
    p.sweep_stale();
    let c = p.take();
    assert!(c.routes.contains(&(gone6, None)));
    let (a, l) = key(&gone6);
    assert_eq!(p.fib6.get(a, l), None, "swept from the record");
    assert_eq!(p.route_count(), 1);
}

#[test]
fn with_a_late_writer_freed_ids_wait_until_it_caught_up() {
    let config = config();
    let local = Local::new(&config);
    let (mut p, rib) = programmed(2);
    let first = p.take_late(true);
    let gid = *first.groups.keys().next().unwrap();
    for (prefix, _) in rib.iter() {
        p.set_route(prefix, None).unwrap();
    }
    p.take_late(true); // the round that freed the group
    let prefix: Prefix = "20.0.0.0/24".parse().unwrap();
    p.set_route(prefix, local.entry(&rib, &prefix).as_ref())
        .unwrap();
    let g2 = p.route(&prefix).unwrap();
    assert_ne!(g2, gid, "the kernel may still route through it");
    p.set_route(prefix, None).unwrap();
    p.take_late(false); // the kernel is still busy
    p.take_late(true); // now it has caught up with the round that freed it
    p.set_route(prefix, local.entry(&rib, &prefix).as_ref())
        .unwrap();
    let reused = p.route(&prefix).unwrap();
    assert!(
        reused == gid || reused == g2,
        "{reused} is neither {gid} nor {g2}"
    );
}

#[test]
fn a_static_route_through_an_uplink_moves_with_it_in_one_write() {
    let config = parse(&Source::new(
        "t.yaml",
        format!("{CONFIG}  - {{ prefix: 20.0.5.0/24, via: 203.0.113.1 }}\n"),
    ))
    .unwrap();
    let local = Local::new(&config);
    let rib = rib(10);
    let mut p = Programmer::new(&config);
    p.set_port("eth1", Some(port(11, true)));
    p.set_port("eth2", Some(port(12, true)));
    p.set_active(&[true, true]);
    for (prefix, _) in rib.iter() {
        p.set_route(prefix, local.entry(&rib, &prefix).as_ref())
            .unwrap();
    }
    let fixed: Prefix = "20.0.5.0/24".parse().unwrap();
    let c = p.take();
    let gid = p.route(&fixed).unwrap();
    assert_ne!(Some(gid), p.route(&"20.0.4.0/24".parse().unwrap()));
    assert_eq!(
        p.hop(only_member(c.groups[&gid].as_ref().unwrap()))
            .unwrap()
            .addr,
        A
    );

    // iap-a drained: iap-b's path to the same prefix takes over, in the
    // static route's own group; no prefix is rewritten.
    p.set_active(&[false, true]);
    let c = p.take();
    assert!(c.routes.is_empty(), "{c:?}");
    assert_eq!(
        p.hop(only_member(c.groups[&gid].as_ref().unwrap()))
            .unwrap()
            .addr,
        B
    );
}

/// `show fib` pages: every programmed prefix once, in prefix order; what
/// a previous run left is not ours, but the FIB holds it (`--maps`).
#[test]
fn pages_of_programmed_prefixes() {
    let (mut p, rib) = programmed(300);
    // Other lengths among the /24s (which the IPv4 FIB pages apart).
    let local = Local::new(&config());
    let entry = local.entry(&rib, &"20.0.0.0/24".parse().unwrap());
    for q in ["20.0.0.0/16", "20.0.1.0/25", "20.0.5.128/25", "20.1.0.0/23"] {
        p.set_route(q.parse().unwrap(), entry.as_ref()).unwrap();
    }
    let v6: Prefix = "2001:db8::/32".parse().unwrap();
    p.adopt([(v6, 1), ("21.0.0.0/24".parse().unwrap(), 1)], [1], []);
    let mut want: Vec<Prefix> = p.routes().map(|(q, _)| q).collect();
    want.sort();
    assert_eq!(want.len(), 304);
    assert_eq!(p.prefixes6().collect::<Vec<_>>(), [v6]);
    for limit in [1, 7, 300, 301, 1000] {
        let mut got: Vec<Prefix> = Vec::new();
        let mut after = None;
        loop {
            let page = p.page(after, limit);
            assert!(page.items.len() <= limit);
            got.extend(&page.items);
            if !page.more {
                break;
            }
            after = page.items.last().copied();
        }
        assert_eq!(got, want, "pages of {limit}");
    }
}
