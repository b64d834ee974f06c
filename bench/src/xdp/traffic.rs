//! The benchmark's own XDP programs (bench/ebpf/xdpgen.c): the
//! live-frame sender, the counting sink and the test-run floor, loaded
//! from one object with aya.

use std::net::Ipv4Addr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};

use aya::maps::{Array, MapData, PerCpuArray};
use aya::programs::{Xdp, XdpMode};
use aya::{Ebpf, EbpfLoader, include_bytes_aligned};

use crate::sys;

static OBJECT: &[u8] = include_bytes_aligned!(concat!(env!("OUT_DIR"), "/xdpgen.o"));

/// `struct gen_config`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct GenConfig {
    pub dmac: [u8; 6],
    pub smac: [u8; 6],
    /// Network order.
    pub saddr: u32,
    pub ndst: u32,
    /// Network order.
    pub sport: u16,
    /// Network order.
    pub dport: u16,
    pub frame_len: u16,
    pub pad: u16,
}

/// `struct gen_config6`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct GenConfig6 {
    pub dmac: [u8; 6],
    pub smac: [u8; 6],
    pub saddr: [u8; 16],
    pub ndst: u32,
    /// Network order.
    pub sport: u16,
    /// Network order.
    pub dport: u16,
    pub frame_len: u16,
    pub pad: u16,
}

/// `struct gen_state`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct GenState {
    pos: u32,
    pad: u32,
    sent: u64,
}

pub const SENDER: &str = "xdpgen_tx";
pub const SENDER6: &str = "xdpgen_tx6";
pub const SINK: &str = "xdpgen_sink";
pub const PASS: &str = "xdpgen_pass";
/// `GEN_DSTS_MAX`.
pub const MAX_DESTINATIONS: usize = 1 << 20;
/// `GEN_DSTS6_MAX`.
pub const MAX_DESTINATIONS6: usize = 1 << 18;
/// `SINK_SLOTS`.
const SINK_SLOTS: u32 = 64;
/// The UDP port the sender writes and the sink counts.
pub const PORT: u16 = 9;
/// Frame length from the Ethernet header on: 64-byte frames (60 bytes and
/// the FCS a wire would add are the classic minimum; veth has no FCS, so
/// the frame carries 64 bytes itself).
pub const FRAME_LEN: u16 = 64;

/// The loaded object.
#[derive(Debug)]
pub struct Traffic {
    ebpf: Ebpf,
    /// The sender last configured ([`SENDER`] or [`SENDER6`]).
    sender: &'static str,
}

impl Traffic {
    pub fn load() -> Result<Self, String> {
        let mut ebpf = EbpfLoader::new()
            .load(OBJECT)
            .map_err(|e| format!("loading xdpgen.o: {e}"))?;
        for name in [SENDER, SENDER6, SINK, PASS] {
            let prog: &mut Xdp = ebpf
                .program_mut(name)
                .ok_or_else(|| format!("xdpgen.o has no program {name}"))?
                .try_into()
                .map_err(|e| format!("{name}: {e}"))?;
            prog.load().map_err(|e| format!("verifying {name}: {e}"))?;
        }
        let mut tg = Self {
            ebpf,
            sender: SENDER,
        };
        let mut port: Array<&mut MapData, u16> = tg.map_mut("sink_port")?;
        port.set(0, PORT.to_be(), 0)
            .map_err(|e| format!("sink_port: {e}"))?;
        Ok(tg)
    }

    fn map_mut<'a, T>(&'a mut self, name: &str) -> Result<T, String>
    where
        T: TryFrom<&'a mut aya::maps::Map, Error = aya::maps::MapError>,
    {
        let map = self
            .ebpf
            .map_mut(name)
            .ok_or_else(|| format!("xdpgen.o has no map {name}"))?;
        T::try_from(map).map_err(|e| format!("map {name}: {e}"))
    }

    fn map<'a, T>(&'a self, name: &str) -> Result<T, String>
    where
        T: TryFrom<&'a aya::maps::Map, Error = aya::maps::MapError>,
    {
        let map = self
            .ebpf
            .map(name)
            .ok_or_else(|| format!("xdpgen.o has no map {name}"))?;
        T::try_from(map).map_err(|e| format!("map {name}: {e}"))
    }

    fn program(&self, name: &str) -> Result<&Xdp, String> {
        self.ebpf
            .program(name)
            .ok_or_else(|| format!("xdpgen.o has no program {name}"))?
            .try_into()
            .map_err(|e| format!("{name}: {e}"))
    }

    /// Attaches program `name` natively to `ifname` of the calling thread's
    /// network namespace; it stays attached until the `Traffic` is dropped.
    pub fn attach(&mut self, name: &str, ifname: &str) -> Result<(), String> {
        let prog: &mut Xdp = self
            .ebpf
            .program_mut(name)
            .ok_or_else(|| format!("xdpgen.o has no program {name}"))?
            .try_into()
            .map_err(|e| format!("{name}: {e}"))?;
        prog.attach(ifname, XdpMode::Driver)
            .map_err(|e| format!("attaching {name} to {ifname}: {e}"))?;
        Ok(())
    }

    /// Sets what the sender writes, and the destinations it walks
    /// (host-order addresses, at most [`MAX_DESTINATIONS`]).
    pub fn configure(&mut self, mut config: GenConfig, dsts: &[u32]) -> Result<(), String> {
        if dsts.is_empty() || dsts.len() > MAX_DESTINATIONS {
            return Err(format!(
                "{} destinations (1..={MAX_DESTINATIONS} allowed)",
                dsts.len()
            ));
        }
        config.ndst = dsts.len() as u32;
        let mut map: Array<&mut MapData, u32> = self.map_mut("gen_dsts")?;
        for (i, &d) in dsts.iter().enumerate() {
            map.set(i as u32, d.to_be(), 0)
                .map_err(|e| format!("gen_dsts: {e}"))?;
        }
        let mut map: Array<&mut MapData, GenConfig> = self.map_mut("gen_config")?;
        map.set(0, config, 0)
            .map_err(|e| format!("gen_config: {e}"))?;
        self.sender = SENDER;
        Ok(())
    }

    /// The same for IPv6 frames (addresses as host-order integers, at most
    /// [`MAX_DESTINATIONS6`]); the sender is then [`SENDER6`] until the
    /// next [`Self::configure`].
    pub fn configure6(&mut self, mut config: GenConfig6, dsts: &[u128]) -> Result<(), String> {
        if dsts.is_empty() || dsts.len() > MAX_DESTINATIONS6 {
            return Err(format!(
                "{} IPv6 destinations (1..={MAX_DESTINATIONS6} allowed)",
                dsts.len()
            ));
        }
        config.ndst = dsts.len() as u32;
        let mut map: Array<&mut MapData, [u8; 16]> = self.map_mut("gen_dsts6")?;
        for (i, &d) in dsts.iter().enumerate() {
            map.set(i as u32, d.to_be_bytes(), 0)
                .map_err(|e| format!("gen_dsts6: {e}"))?;
        }
        let mut map: Array<&mut MapData, GenConfig6> = self.map_mut("gen_config6")?;
        map.set(0, config, 0)
            .map_err(|e| format!("gen_config6: {e}"))?;
        self.sender = SENDER6;
        Ok(())
    }

    /// Frames the sender has written so far, over all CPUs.
    pub fn sent(&self) -> Result<u64, String> {
        let map: PerCpuArray<&MapData, GenState> = self.map("gen_state")?;
        let v = map.get(&0, 0).map_err(|e| format!("gen_state: {e}"))?;
        Ok(v.iter().map(|s| s.sent).sum())
    }

    /// Benchmark packets the sink has counted on interface `ifindex`.
    pub fn received(&self, ifindex: u32) -> Result<u64, String> {
        let map: PerCpuArray<&MapData, [u64; 2]> = self.map("sink_counts")?;
        let v = map
            .get(&(ifindex % SINK_SLOTS), 0)
            .map_err(|e| format!("sink_counts: {e}"))?;
        Ok(v.iter().map(|c| c[0]).sum())
    }

    /// A descriptor of the sender program, for [`send_until`] on another
    /// thread.
    pub fn sender_fd(&self) -> Result<OwnedFd, String> {
        let fd = self.program(self.sender)?.fd().map_err(|e| e.to_string())?;
        fd.as_fd()
            .try_clone_to_owned()
            .map_err(|e| format!("dup of the sender's fd: {e}"))
    }

    /// The forwarder-cost floor program's descriptor.
    pub fn pass_fd(&self) -> Result<OwnedFd, String> {
        let fd = self.program(PASS)?.fd().map_err(|e| e.to_string())?;
        fd.as_fd()
            .try_clone_to_owned()
            .map_err(|e| format!("dup of the floor program's fd: {e}"))
    }

    /// Sends exactly `count` frames (a check, not a measurement).
    pub fn send(&self, ifindex: u32, count: u32) -> Result<(), String> {
        let fd = self.program(self.sender)?.fd().map_err(|e| e.to_string())?;
        sys::test_run_live(fd.as_fd(), &template(), ifindex, count, 16)
            .map_err(|e| format!("BPF_PROG_TEST_RUN (live frames): {e}"))
    }
}

/// Sends until `stop` is set: live-frame test runs of the sender `prog` as
/// if arriving on `ifindex` (so `XDP_TX` leaves through it), from the
/// calling thread, which must be in that interface's namespace.
pub fn send_until(prog: BorrowedFd<'_>, ifindex: u32, stop: &AtomicBool) -> Result<(), String> {
    let frame = template();
    while !stop.load(Ordering::Relaxed) {
        // ~0.1 s a call at a few Mpps: stop is noticed quickly.
        sys::test_run_live(prog, &frame, ifindex, 1 << 18, 256)
            .map_err(|e| format!("BPF_PROG_TEST_RUN (live frames): {e}"))?;
    }
    Ok(())
}

/// The sender's initial frame; it rewrites every header field anyway.
fn template() -> Vec<u8> {
    vec![0u8; usize::from(FRAME_LEN)]
}

/// A 64-byte Ethernet/IPv4/UDP frame to `dst` (for test runs of the
/// forwarder), valid IPv4 checksum, TTL 255 so that up to 254 runs on
/// the same buffer forward it.
pub fn udp_frame(dmac: [u8; 6], smac: [u8; 6], src: Ipv4Addr, dst: Ipv4Addr) -> Vec<u8> {
    let mut f = vec![0u8; usize::from(FRAME_LEN)];
    f[0..6].copy_from_slice(&dmac);
    f[6..12].copy_from_slice(&smac);
    f[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
    let ip_len = FRAME_LEN - 14;
    let ip = &mut f[14..34];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&ip_len.to_be_bytes());
    ip[8] = 255;
    ip[9] = 17;
    ip[12..16].copy_from_slice(&src.octets());
    ip[16..20].copy_from_slice(&dst.octets());
    let mut sum: u32 = ip
        .chunks(2)
        .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
        .sum();
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    ip[10..12].copy_from_slice(&(!(sum as u16)).to_be_bytes());
    f[34..36].copy_from_slice(&4000u16.to_be_bytes());
    f[36..38].copy_from_slice(&PORT.to_be_bytes());
    f[38..40].copy_from_slice(&(ip_len - 20).to_be_bytes());
    f
}
