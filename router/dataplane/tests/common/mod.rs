//! Shared by the BPF_PROG_TEST_RUN test files: crafted frames, checksums,
//! and a fixture with next hops and groups loaded. Each test file uses a
//! different subset.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use sluice_dataplane::dir24::{Dir24, Prefix};
use sluice_dataplane::layout::{
    FIB4_TBL8_GROUPS, IfKey, Iface, NextHop, NhGroup, Verdict, XdpAction,
};
use sluice_dataplane::loader::{Dataplane, TestOutcome};

pub mod bpffs;

// ---- root ---------------------------------------------------------------------

pub fn require_root() {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    let euid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .expect("Uid line in /proc/self/status");
    if euid != "0" {
        panic!("this test needs root (BPF); run it as root via scripts/test.sh");
    }
}

// ---- frames -------------------------------------------------------------------

pub const ROUTER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
pub const SENDER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x99];
pub const EGRESS_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0xee];
pub const ETH_IP: u16 = 0x0800;
pub const ETH_IP6: u16 = 0x86dd;
pub const ETH_ARP: u16 = 0x0806;
pub const ETH_VLAN: u16 = 0x8100;
pub const UDP: u8 = 17;
pub const TCP: u8 = 6;
pub const ICMP6: u8 = 58;

/// The MAC of next hop `id` in these tests.
pub fn nh_mac(id: u16) -> [u8; 6] {
    [0x02, 0xaa, 0, 0, (id >> 8) as u8, id as u8]
}

pub fn ether(dst: [u8; 6], vlan: Option<u16>, ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(18 + payload.len());
    f.extend_from_slice(&dst);
    f.extend_from_slice(&SENDER_MAC);
    if let Some(vid) = vlan {
        f.extend_from_slice(&ETH_VLAN.to_be_bytes());
        f.extend_from_slice(&vid.to_be_bytes());
    }
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// One's complement sum of 16-bit big-endian words, folded.
pub fn ones_sum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = bytes
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

/// The IPv4 header checksum computed from scratch.
pub fn ip_checksum(header: &[u8]) -> u16 {
    let mut h = header.to_vec();
    h[10] = 0;
    h[11] = 0;
    !ones_sum(&h)
}

pub fn l4_ports(sport: u16, dport: u16, len: usize) -> Vec<u8> {
    let mut l4 = vec![0u8; len.max(4)];
    l4[0..2].copy_from_slice(&sport.to_be_bytes());
    l4[2..4].copy_from_slice(&dport.to_be_bytes());
    l4
}

#[derive(Clone, Copy)]
pub struct V4 {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub ttl: u8,
    pub proto: u8,
    pub id: u16,
    pub frag: u16,
}

impl V4 {
    pub fn udp(src: [u8; 4], dst: [u8; 4]) -> Self {
        Self {
            src: src.into(),
            dst: dst.into(),
            ttl: 64,
            proto: UDP,
            id: 0x1234,
            frag: 0x4000, // DF
        }
    }

    pub fn packet(&self, l4: &[u8]) -> Vec<u8> {
        let mut p = vec![0u8; 20];
        p[0] = 0x45;
        p[2..4].copy_from_slice(&((20 + l4.len()) as u16).to_be_bytes());
        p[4..6].copy_from_slice(&self.id.to_be_bytes());
        p[6..8].copy_from_slice(&self.frag.to_be_bytes());
        p[8] = self.ttl;
        p[9] = self.proto;
        p[12..16].copy_from_slice(&self.src.octets());
        p[16..20].copy_from_slice(&self.dst.octets());
        let c = ip_checksum(&p);
        p[10..12].copy_from_slice(&c.to_be_bytes());
        p.extend_from_slice(l4);
        p
    }

    pub fn frame(&self, sport: u16, dport: u16) -> Vec<u8> {
        ether(
            ROUTER_MAC,
            None,
            ETH_IP,
            &self.packet(&l4_ports(sport, dport, 8)),
        )
    }
}

pub fn v6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

pub fn ipv6_packet(src: Ipv6Addr, dst: Ipv6Addr, hop: u8, next: u8, l4: &[u8]) -> Vec<u8> {
    let mut p = vec![0u8; 40];
    p[0] = 0x60;
    p[4..6].copy_from_slice(&(l4.len() as u16).to_be_bytes());
    p[6] = next;
    p[7] = hop;
    p[8..24].copy_from_slice(&src.octets());
    p[24..40].copy_from_slice(&dst.octets());
    p.extend_from_slice(l4);
    p
}

pub fn v6_udp_frame(src: &str, dst: &str, hop: u8, sport: u16) -> Vec<u8> {
    ether(
        ROUTER_MAC,
        None,
        ETH_IP6,
        &ipv6_packet(v6(src), v6(dst), hop, UDP, &l4_ports(sport, 53, 8)),
    )
}

// ---- the fixture ------------------------------------------------------------------

/// The loopback device exists in every namespace, so the DEVMAP accepts it.
pub const EGRESS_IFINDEX: u32 = 1;
pub const MTU: u16 = 1500;

/// The loopback, where `BPF_PROG_TEST_RUN` frames arrive by default.
pub const LO: u32 = 1;

/// Lets the program route frames arriving on `ifindex` (tagged `vlan`, 0
/// untagged) addressed to [`ROUTER_MAC`], with `flags` (`IF_F_*`).
pub fn route_on(dp: &mut Dataplane, ifindex: u32, vlan: u32, flags: u32) {
    dp.set_interface(
        IfKey { ifindex, vlan },
        &Iface {
            flags,
            ifindex,
            mac: ROUTER_MAC,
        },
    )
    .expect("set interface");
}

/// A loaded program routing on the loopback, with next hops 1..=4 (resolved, on the loopback),
/// group g = {next hop g} for g in 1..=4, group 5 = {1, 2} at 1:1.
pub struct Fixture {
    pub dp: Dataplane,
    pub fib: Dir24,
}

impl Fixture {
    pub fn new() -> Self {
        Self::with(Dataplane::load)
    }

    /// The fixture on the DXR build of the program.
    pub fn new_dxr() -> Self {
        Self::with(Dataplane::load_dxr)
    }

    fn with(load: fn() -> Result<Dataplane, sluice_dataplane::loader::Error>) -> Self {
        require_root();
        let mut dp = load().expect("load the XDP program");
        route_on(&mut dp, LO, 0, 0);
        dp.add_tx_port(EGRESS_IFINDEX).unwrap();
        for id in 1..=4u16 {
            dp.set_next_hop(
                id,
                &NextHop::resolved(EGRESS_IFINDEX, nh_mac(id), EGRESS_MAC, MTU),
            )
            .unwrap();
            dp.set_group(id, &NhGroup::with_members(&[(id, 1)]).unwrap())
                .unwrap();
        }
        dp.set_group(5, &NhGroup::with_members(&[(1, 1), (2, 1)]).unwrap())
            .unwrap();
        Self {
            dp,
            fib: Dir24::new(FIB4_TBL8_GROUPS as u32),
        }
    }

    /// Adds an IPv4 route through the DIR-24-8 builder and writes the words
    /// it changed.
    pub fn route4(&mut self, prefix: [u8; 4], len: u8, group: u16) {
        let prefix = Prefix::from_ipv4(prefix.into(), len).unwrap();
        self.fib.insert(prefix, group).unwrap();
        self.write_fib4();
    }

    pub fn unroute4(&mut self, prefix: [u8; 4], len: u8) {
        assert!(
            self.fib
                .remove(Prefix::from_ipv4(prefix.into(), len).unwrap())
        );
        self.write_fib4();
    }

    pub fn write_fib4(&mut self) {
        let dirty = self.fib.take_dirty();
        self.dp.write_fib4_dirty(&self.fib, &dirty).unwrap();
    }

    pub fn counts(&self) -> BTreeMap<Verdict, u64> {
        self.dp.verdict_counts().unwrap().into_iter().collect()
    }

    pub fn run(&self, frame: &[u8]) -> TestOutcome {
        self.dp.test_run(frame).expect("BPF_PROG_TEST_RUN")
    }

    /// Runs `frame`, checks the action and that exactly `verdict`'s counter
    /// moved (by one); returns the outcome.
    pub fn expect(&self, frame: &[u8], verdict: Verdict) -> TestOutcome {
        let before = self.counts();
        let out = self.run(frame);
        let after = self.counts();
        let moved: Vec<(Verdict, u64)> = after
            .iter()
            .filter(|(v, n)| before[v] != **n)
            .map(|(v, n)| (*v, n - before[v]))
            .collect();
        assert_eq!(moved, vec![(verdict, 1)], "verdict counters that moved");
        assert_eq!(out.action, verdict.action(), "action for {verdict}");
        if verdict.action() != XdpAction::Redirect {
            assert_eq!(out.frame, frame, "a {verdict} frame must not be modified");
        }
        out
    }

    /// `expect` with a forwarding verdict, returning the next hop chosen
    /// (from the rewritten destination MAC).
    pub fn forwarded_to(&self, frame: &[u8]) -> u16 {
        let out = self.expect(frame, Verdict::Forwarded);
        assert_eq!(&out.frame[6..12], &EGRESS_MAC, "source MAC rewritten");
        let dmac = &out.frame[0..6];
        let id = u16::from_be_bytes([dmac[4], dmac[5]]);
        assert_eq!(dmac, nh_mac(id), "destination MAC is a next hop's");
        id
    }
}

/// Checks a forwarded IPv4 frame against its input: MACs, TTL - 1, the
/// header checksum equal to one computed from scratch, nothing else changed.
pub fn check_forwarded_v4(input: &[u8], out: &[u8], l3: usize, nh: u16) {
    assert_eq!(out.len(), input.len());
    assert_eq!(&out[0..6], &nh_mac(nh));
    assert_eq!(&out[6..12], &EGRESS_MAC);
    assert_eq!(&out[12..l3], &input[12..l3], "ether type / tag kept");
    let (ih, oh) = (&input[l3..l3 + 20], &out[l3..l3 + 20]);
    assert_eq!(oh[8], ih[8] - 1, "TTL decremented");
    let check = u16::from_be_bytes([oh[10], oh[11]]);
    assert_eq!(check, ip_checksum(oh), "incremental checksum == recomputed");
    assert_eq!(ones_sum(oh), 0xffff, "header verifies");
    for i in (0..20).filter(|i| ![8, 10, 11].contains(i)) {
        assert_eq!(oh[i], ih[i], "header byte {i}");
    }
    assert_eq!(&out[l3 + 20..], &input[l3 + 20..], "payload unchanged");
}
