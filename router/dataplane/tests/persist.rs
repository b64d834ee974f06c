//! The data plane outlives the process (DESIGN principle 4), with real
//! packets through the topology of tests/forwarding.rs (kernel forwarding
//! off in `r`, so every answered ping went through the XDP program):
//! attach through pinned links, start a ping flood, drop the [`Dataplane`]
//! as a daemon exit would, check that forwarding goes on with nobody
//! holding the program, then open again from the pins and re-attach
//! through the pinned links (an atomic program swap) while the flood runs:
//! no ping is lost. Finally the clean stop detaches and unpins.
//! Needs root (network namespaces, BPF, mount).

use std::path::Path;
use std::time::Duration;

use sluice_dataplane::attach::{XdpMode, in_netns};
use sluice_dataplane::layout::{NhStats, Verdict, map};
use sluice_dataplane::loader::Dataplane;
use sluice_dataplane::pin::{Adopted, PinnedAttachment};
use sluice_testns::Lab;

mod common;
mod topo;
use common::bpffs::Bpffs;
use topo::*;

/// The id of the XDP program attached to `ifname` in `r`, from
/// `ip -d link` (`prog/xdp id N`); `None` if there is none.
fn xdp_prog_id(topo: &Topology<'_>, ifname: &str) -> Option<u32> {
    let out = link_details(&topo.r, ifname);
    let rest = out.split("prog/xdp id ").nth(1)?;
    rest.split_whitespace().next()?.parse().ok()
}

/// Lets `dp` forward between the two interfaces (index, name): egress
/// ports, and frames routed for their MACs. In their namespace.
fn forward_between(dp: &mut Dataplane, ports: [(u32, &str); 2]) {
    for (ifindex, name) in ports {
        dp.add_tx_port(ifindex).unwrap();
        route_on_port(dp, ifindex, name);
    }
}

/// Opens the data plane pinned in `dir` inside namespace `r`, attaches it
/// to eth1 and eth2 through pinned links, and lets it forward between them.
fn open_and_attach(r: &str, dir: &Path) -> (Dataplane, Adopted, [PinnedAttachment; 2]) {
    in_netns(r, || {
        let (mut dp, adopted) = Dataplane::open(dir).expect("open");
        let a1 = dp.attach_pinned("eth1", XdpMode::Driver, dir).unwrap();
        let a2 = dp.attach_pinned("eth2", XdpMode::Driver, dir).unwrap();
        forward_between(&mut dp, [(a1.ifindex, "eth1"), (a2.ifindex, "eth2")]);
        (dp, adopted, [a1, a2])
    })
    .unwrap()
}

fn forwarded(dp: &Dataplane) -> (u64, NhStats) {
    (
        dp.verdict_count(Verdict::Forwarded).unwrap(),
        dp.nh_stats(NH_TO_DST).unwrap(),
    )
}

const FLOOD: u32 = 1000; // 10 ms apart: 10 s

#[test]
#[ignore = "needs root: network namespaces, BPF and mount"]
fn forwarding_survives_the_process_and_a_pinned_reattach_loses_nothing() {
    require_root();
    let lab = Lab::new("xdp-pinned");
    let topo = Topology::new(&lab);
    // Declared after the lab, so unmounted (dropping every pin) first.
    let fs = Bpffs::mount("persist");
    let dir = fs.path().join("sluice/r");
    let r = topo.r.name().to_owned();

    // The first "daemon": fresh maps, new pinned links.
    let (mut dp, adopted, [a1, a2]) = open_and_attach(&r, &dir);
    assert!(!adopted.any(), "{adopted:?}");
    assert!(!a1.replaced && !a2.replaced);
    assert!(a1.path.exists() && a2.path.exists());
    let (eth1, eth2) = (a1.ifindex, a2.ifindex);
    program_routes(&topo, &mut dp, eth1, eth2);
    assert_eq!(ping(&topo.src, DST4, 5), 5);
    assert_eq!(ping(&topo.src, DST6, 5), 5);
    let first_prog = xdp_prog_id(&topo, "eth1").expect("XDP on eth1");

    let flood = topo.src.spawn([
        "ping",
        "-n",
        "-i",
        "0.01",
        "-c",
        &FLOOD.to_string(),
        "-W",
        "2",
        DST4,
    ]);
    std::thread::sleep(Duration::from_millis(800));
    let c0 = forwarded(&dp);
    assert!(c0.1.packets > 20, "flood forwarded before the exit: {c0:?}");

    // The daemon exits: nothing of this process holds the program or maps.
    drop(dp);
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(xdp_prog_id(&topo, "eth1"), Some(first_prog));
    assert_eq!(xdp_prog_id(&topo, "eth2"), Some(first_prog));

    // The second "daemon" adopts the maps: counters kept rising meanwhile.
    let (mut dp, adopted) = Dataplane::open(&dir).expect("reopen");
    assert_eq!(adopted.reused, map::ALL.to_vec());
    // (Holding the maps again does not hold the attached program: that is
    // still the first one, kept only by the link pins.) Waits rather than
    // expecting a rate: a loaded machine slows the flood.
    // Both counters: the replies come back through another next hop, so
    // the verdict count need not have its 200 the moment the requests
    // have their 100.
    let mut c1 = c0;
    let rose = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        sluice_testns::wait_until(
            Duration::from_secs(10),
            "forwarding with no process holding the program",
            || {
                c1 = forwarded(&dp);
                c1.1.packets >= c0.1.packets + 100 && c1.0 >= c0.0 + 200
            },
        )
    }));
    assert!(rose.is_ok(), "{c0:?} -> {c1:?}");
    assert_eq!(xdp_prog_id(&topo, "eth1"), Some(first_prog));

    // Re-attach through the pinned links: the same links, a new program.
    in_netns(&r, || {
        for ifname in ["eth1", "eth2"] {
            let a = dp.attach_pinned(ifname, XdpMode::Driver, &dir).unwrap();
            assert!(a.replaced, "{ifname}: {a:?}");
        }
    })
    .unwrap();
    let second_prog = xdp_prog_id(&topo, "eth1").expect("XDP on eth1");
    assert_ne!(second_prog, first_prog, "program replaced");
    assert_eq!(xdp_prog_id(&topo, "eth2"), Some(second_prog));
    sluice_testns::wait_until(
        Duration::from_secs(10),
        "forwarding by the new program",
        || forwarded(&dp).1.packets >= c1.1.packets + 30,
    );
    assert!(flood.is_running(), "the flood spans the exit and the swap");

    sluice_testns::wait_until(Duration::from_secs(60), "the ping flood to end", || {
        !flood.is_running()
    });
    let log = flood.log();
    assert_eq!(received(&log), Some(FLOOD), "no ping lost:\n{log}");

    // The clean stop: links detached, pins gone, r's kernel does not
    // forward.
    let removed = dp.detach_and_unpin(&dir).unwrap();
    assert_eq!(removed.len(), map::ALL.len() + 2, "{removed:?}");
    assert_eq!(xdp_prog_id(&topo, "eth1"), None);
    assert_eq!(xdp_prog_id(&topo, "eth2"), None);
    assert!(!dir.exists());
    assert_eq!(ping(&topo.src, DST4, 3), 0);
}

#[test]
#[ignore = "needs root: network namespaces, BPF and mount"]
fn a_pinned_link_of_a_vanished_interface_is_replaced() {
    require_root();
    let lab = Lab::new("xdp-relink");
    let (a, b) = (lab.node("a"), lab.node("b"));
    lab.link(&a, "eth0", &b, "eth0");
    let fs = Bpffs::mount("relink");
    let dir = fs.path().join("p");
    let ns = a.name().to_owned();

    let mut dp = in_netns(&ns, || {
        let (mut dp, _) = Dataplane::open(&dir).unwrap();
        let first = dp.attach_pinned("eth0", XdpMode::Skb, &dir).unwrap();
        assert!(!first.replaced);
        // Again in the same process: the same link, program swapped.
        let again = dp.attach_pinned("eth0", XdpMode::Skb, &dir).unwrap();
        assert!(again.replaced);
        dp
    })
    .unwrap();
    assert!(a.ip(["-d", "link", "show", "eth0"]).contains("xdpgeneric"));

    // The interface goes away and comes back under its name: the pinned
    // link is defunct, so a new one replaces its pin.
    a.ip(["link", "del", "eth0"]);
    lab.link(&a, "eth0", &b, "eth0");
    let fresh = a.ip(["-d", "link", "show", "eth0"]);
    assert!(!fresh.contains("prog/xdp"), "{fresh}");
    in_netns(&ns, || {
        let next = dp.attach_pinned("eth0", XdpMode::Skb, &dir).unwrap();
        assert!(!next.replaced, "{next:?}");
        assert!(next.path.exists());
    })
    .unwrap();
    assert!(a.ip(["-d", "link", "show", "eth0"]).contains("xdpgeneric"));
    dp.detach_and_unpin(&dir).unwrap();
    assert!(!a.ip(["-d", "link", "show", "eth0"]).contains("prog/xdp"));
}

/// An upgrade that changes the map layout: the old program keeps
/// forwarding on its own maps while the new one is filled beside it, then
/// the pinned links swap programs atomically and the new pins replace the
/// old ones. A ping flood through the whole upgrade loses nothing.
#[test]
#[ignore = "needs root: network namespaces, BPF and mount"]
fn an_upgrade_to_another_map_layout_loses_nothing() {
    require_root();
    let lab = Lab::new("xdp-upgrade");
    let topo = Topology::new(&lab);
    let fs = Bpffs::mount("upgrade");
    let dir = fs.path().join("sluice/r");
    let r = topo.r.name().to_owned();

    // The old version: attached through pinned links, forwarding.
    let (mut old, _, [a1, a2]) = open_and_attach(&r, &dir);
    let (eth1, eth2) = (a1.ifindex, a2.ifindex);
    program_routes(&topo, &mut old, eth1, eth2);
    assert_eq!(ping(&topo.src, DST4, 5), 5);
    let old_prog = xdp_prog_id(&topo, "eth1").expect("XDP on eth1");
    // Make its pins another layout: one map of another value size, and a
    // map name the new layout lacks. The old program keeps its own maps.
    let verdicts = dir.join(map::VERDICTS);
    std::fs::remove_file(&verdicts).unwrap();
    for (path, value) in [(verdicts.clone(), "4"), (dir.join("if_settings"), "4")] {
        let out = std::process::Command::new("bpftool")
            .args(["map", "create"])
            .arg(&path)
            .args(["type", "array", "key", "4", "value", value, "entries", "1"])
            .args(["name", "old_layout"])
            .output()
            .expect("run bpftool");
        assert!(out.status.success(), "bpftool map create: {out:?}");
    }
    drop(old); // the old daemon exits; its program forwards on

    let flood = topo.src.spawn([
        "ping",
        "-n",
        "-i",
        "0.01",
        "-c",
        &FLOOD.to_string(),
        "-W",
        "2",
        DST4,
    ]);
    std::thread::sleep(Duration::from_millis(500));

    // The new version: the pins do not fit, so it builds beside them.
    let err = Dataplane::open(&dir).expect_err("another layout");
    assert!(err.to_string().contains("verdicts"), "{err}");
    let mut new = Dataplane::open_beside(&dir).expect("open beside");
    assert_eq!(
        xdp_prog_id(&topo, "eth1"),
        Some(old_prog),
        "old still forwards"
    );
    in_netns(&r, || {
        forward_between(&mut new, [(eth1, "eth1"), (eth2, "eth2")])
    })
    .unwrap();
    program_routes(&topo, &mut new, eth1, eth2);
    std::thread::sleep(Duration::from_millis(500));
    let swapped = in_netns(&r, || {
        new.finish_upgrade(&dir, &["eth1", "eth2"], XdpMode::Driver)
    })
    .unwrap()
    .expect("finish the upgrade");
    assert!(swapped.iter().all(|a| a.replaced), "{swapped:?}");
    let new_prog = xdp_prog_id(&topo, "eth1").expect("XDP on eth1");
    assert_ne!(new_prog, old_prog, "program swapped");
    sluice_testns::wait_until(
        Duration::from_secs(10),
        "forwarding by the new program",
        || forwarded(&new).1.packets >= 30,
    );
    sluice_testns::wait_until(Duration::from_secs(60), "the ping flood to end", || {
        !flood.is_running()
    });
    let log = flood.log();
    assert_eq!(received(&log), Some(FLOOD), "no ping lost:\n{log}");

    // The pins are the new layout's now: a next start adopts all of them.
    assert!(!dir.join("next").exists());
    assert!(!dir.join("if_settings").exists());
    drop(new);
    let (again, adopted) = Dataplane::open(&dir).expect("open after the upgrade");
    assert!(adopted.all(), "{adopted:?}");
    again.detach_and_unpin(&dir).unwrap();
}
