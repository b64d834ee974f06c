//! Run-time settings of the program: the FIB mode (Sluice's maps or the
//! kernel's FIB through `bpf_fib_lookup`), the flow hash seed, the
//! interfaces and VLANs it routes on, BCP 38 anti-spoofing (RFC 2827 /
//! RFC 3704 strict-by-prefix) and martian sources on uplinks.
//!
//! # Interfaces
//!
//! A frame is routed only if its port — the ifindex it arrived on and its
//! VLAN id, 0 when untagged — has an entry ([`Dataplane::set_interface`])
//! and, when unicast, is addressed to that entry's MAC. Everything else
//! goes to the kernel as `pass_not_routed` / `pass_not_for_us`: a VLAN
//! Sluice is not configured for, unknown unicast a switch floods, frames
//! seen in promiscuous mode.
//!
//! # Anti-spoofing semantics
//!
//! A packet arriving on an interface with [`IF_F_ANTISPOOF`] whose source
//! address is not covered by one of the [`Dataplane::add_source_prefix`]
//! prefixes is dropped and counted as [`Verdict::DropSpoofed`]. The check
//! comes right after the header checks (and, for IPv6, the ND punt), before
//! every other punt: spoofed packets to the router's own addresses, with
//! IPv4 options or to multicast groups are dropped too, as rp_filter would.
//! ARP and ND always reach the kernel, and so do packets whose source is
//! unspecified or link-local (IPv4 0/8 — DHCP — and 169.254/16; IPv6 `::`
//! — DAD — and fe80::/10); everything else needs a covering prefix, so the
//! connected subnets of a flagged interface must be in the list too.
//! Interfaces without the flag (uplinks) are not checked.
//!
//! # Martian sources
//!
//! On a port with [`IF_F_MARTIAN`] (an uplink), a packet whose source the
//! port's longest `martian4` / `martian6` match marks 1 is dropped as
//! [`Verdict::DropMartian`]; an entry marked 0 exempts (the uplink's
//! connected subnet). The check comes after local delivery: BGP, probes
//! and anything else to the router's own addresses is never touched.
//!
//! [`Verdict::DropSpoofed`]: crate::layout::Verdict::DropSpoofed
//! [`Verdict::DropMartian`]: crate::layout::Verdict::DropMartian
//! [`IF_F_ANTISPOOF`]: crate::layout::IF_F_ANTISPOOF
//! [`IF_F_MARTIAN`]: crate::layout::IF_F_MARTIAN

use std::net::IpAddr;

use aya::maps::lpm_trie::Key;

use crate::layout::{self, FibMode, IF_F_ALL, IfKey, Iface};
use crate::loader::{Dataplane, Error, absent_ok, check_range, map_err};

/// An IP prefix as the program stores it (host bits cleared).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IpPrefix {
    /// The network address.
    pub addr: IpAddr,
    /// The prefix length.
    pub len: u8,
}

impl std::fmt::Display for IpPrefix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

impl IpPrefix {
    /// `addr/len` with the host bits cleared; fails if `len` is too long for
    /// the family.
    pub fn new(addr: IpAddr, len: u8) -> Result<Self, Error> {
        let addr = match addr {
            IpAddr::V4(a) => {
                check_range("IPv4 prefix length", len.into(), 0, 33)?;
                let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
                IpAddr::V4((u32::from(a) & mask).into())
            }
            IpAddr::V6(a) => {
                check_range("IPv6 prefix length", len.into(), 0, 129)?;
                let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
                IpAddr::V6((u128::from(a) & mask).into())
            }
        };
        Ok(Self { addr, len })
    }
}

impl Dataplane {
    // ---- FIB mode ------------------------------------------------------------

    /// Switches where the program looks routes up; takes effect with the
    /// next packet. In [`FibMode::Kernel`] the kernel FIB and neighbour
    /// table of the ingress interface's namespace decide (forwarding must
    /// be enabled on the ingress interfaces, else packets are punted as
    /// `pass_fwd_disabled`); `tx_ports` must still list the egress ports.
    pub fn set_fib_mode(&mut self, mode: FibMode) -> Result<(), Error> {
        if mode == FibMode::Dxr && !self.has_dxr() {
            return Err(Error::Missing(
                "DXR maps (FibMode::Dxr needs the DXR build)",
            ));
        }
        if mode == FibMode::Pop4 && !self.has_pop4() {
            return Err(Error::Missing(
                "pop4 maps (FibMode::Pop4 needs the DXR build)",
            ));
        }
        if mode == FibMode::Trie6 && !self.has_trie6() {
            return Err(Error::Missing(
                "fib6_trie (FibMode::Trie6 needs the DXR build)",
            ));
        }
        let mut s = self.raw_settings()?;
        s[0] = mode as u32;
        self.write_settings(s)
    }

    /// Makes the measuring build's program return `XDP_DROP` after
    /// `stage` (`None`: forward as usual). Refused by the daemon's build,
    /// which has no stop points.
    pub fn set_stop(&mut self, stage: Option<layout::Stage>) -> Result<(), Error> {
        if !self.has_dxr() {
            return Err(Error::Missing(
                "stop points (Stage needs the measuring build)",
            ));
        }
        let mut s = self.raw_settings()?;
        s[1] = stage.map_or(0, |st| st as u32);
        self.write_settings(s)
    }

    /// `struct settings` as [fib_mode, flags, hash_seed, _pad].
    fn raw_settings(&self) -> Result<[u32; 4], Error> {
        self.settings
            .get(&0, 0)
            .map_err(map_err(layout::map::SETTINGS))
    }

    fn write_settings(&mut self, value: [u32; 4]) -> Result<(), Error> {
        self.settings
            .set(0, value, 0)
            .map_err(map_err(layout::map::SETTINGS))
    }

    /// The FIB mode the program uses (an unknown value reads as an error).
    pub fn fib_mode(&self) -> Result<FibMode, Error> {
        let [mode, ..] = self.raw_settings()?;
        FibMode::from_u32(mode).ok_or(Error::OutOfRange {
            what: "settings.fib_mode",
            value: mode.into(),
            allowed: "0..2".into(),
        })
    }

    // ---- flow hash seed --------------------------------------------------------

    /// The seed of the flow hash that spreads flows over a group's buckets.
    pub fn hash_seed(&self) -> Result<u32, Error> {
        Ok(self.raw_settings()?[2])
    }

    /// Sets the flow hash seed. Changing it moves flows between ECMP
    /// members: done once per start, never on an adopted data plane.
    pub fn set_hash_seed(&mut self, seed: u32) -> Result<(), Error> {
        let mut s = self.raw_settings()?;
        s[2] = seed;
        self.write_settings(s)
    }

    /// Gives the flow hash a random seed unless it has one (maps adopted
    /// from a previous run keep theirs, so flows do not move), so ECMP
    /// placement cannot be predicted from outside. Returns the seed.
    pub fn seed_flow_hash(&mut self) -> Result<u32, Error> {
        let seed = self.hash_seed()?;
        if seed != 0 {
            return Ok(seed);
        }
        let seed = loop {
            let s = random_u32().map_err(|source| Error::Random { source })?;
            if s != 0 {
                break s;
            }
        };
        self.set_hash_seed(seed)?;
        Ok(seed)
    }

    // ---- interfaces -------------------------------------------------------------

    /// Routes frames arriving on `port` (an attached interface, untagged,
    /// or one VLAN of it) addressed to `iface.mac`, with `iface.flags`
    /// ([`IF_F_ANTISPOOF`], [`IF_F_MARTIAN`]). Any other port's frames
    /// are passed to the kernel.
    pub fn set_interface(&mut self, port: IfKey, iface: &Iface) -> Result<(), Error> {
        check_range(
            "ingress ifindex",
            port.ifindex.into(),
            1,
            u64::from(u32::MAX) + 1,
        )?;
        check_range("VLAN id", port.vlan.into(), 0, 4095)?;
        check_range(
            "interface flags",
            iface.flags.into(),
            0,
            u64::from(IF_F_ALL) + 1,
        )?;
        self.ifaces
            .insert(port.to_bytes(), iface.to_bytes(), 0)
            .map_err(map_err(layout::map::IFACES))
    }

    /// Stops routing frames from `port` (absent is not an error).
    pub fn remove_interface(&mut self, port: IfKey) -> Result<(), Error> {
        absent_ok(layout::map::IFACES, self.ifaces.remove(&port.to_bytes()))
    }

    /// The interface entry of `port`, if any.
    pub fn interface(&self, port: IfKey) -> Result<Option<Iface>, Error> {
        match self.ifaces.get(&port.to_bytes(), 0) {
            Ok(b) => Ok(Some(Iface::from_bytes(&b))),
            Err(aya::maps::MapError::KeyNotFound) => Ok(None),
            Err(e) => Err(map_err(layout::map::IFACES)(e)),
        }
    }

    /// Every interface entry, sorted by port.
    pub fn interfaces(&self) -> Result<Vec<(IfKey, Iface)>, Error> {
        let mut all = Vec::new();
        for entry in self.ifaces.iter() {
            let (k, v) = entry.map_err(map_err(layout::map::IFACES))?;
            all.push((IfKey::from_bytes(k), Iface::from_bytes(&v)));
        }
        all.sort_by_key(|(k, _)| *k);
        Ok(all)
    }

    // ---- martian sources ----------------------------------------------------------

    /// Marks sources in `prefix` arriving on `port` as martian (`drop`) or
    /// exempt (`!drop`, e.g. the uplink's connected subnet inside a bogon
    /// range: the longest match decides). Only ports whose interface entry
    /// has [`IF_F_MARTIAN`] are checked.
    pub fn set_martian(&mut self, port: IfKey, prefix: IpPrefix, drop: bool) -> Result<(), Error> {
        let len = u32::from(prefix.len) + 64;
        let value = u8::from(drop);
        match prefix.addr {
            IpAddr::V4(a) => self
                .martian4
                .insert(&Key::new(len, martian_key(port, a.octets())), value, 0)
                .map_err(map_err(layout::map::MARTIAN4)),
            IpAddr::V6(a) => self
                .martian6
                .insert(&Key::new(len, martian_key(port, a.octets())), value, 0)
                .map_err(map_err(layout::map::MARTIAN6)),
        }
    }

    /// Removes exactly `prefix` of `port` (absent is not an error).
    pub fn remove_martian(&mut self, port: IfKey, prefix: IpPrefix) -> Result<(), Error> {
        let len = u32::from(prefix.len) + 64;
        match prefix.addr {
            IpAddr::V4(a) => absent_ok(
                layout::map::MARTIAN4,
                self.martian4
                    .remove(&Key::new(len, martian_key(port, a.octets()))),
            ),
            IpAddr::V6(a) => absent_ok(
                layout::map::MARTIAN6,
                self.martian6
                    .remove(&Key::new(len, martian_key(port, a.octets()))),
            ),
        }
    }

    /// Every martian entry: port, prefix, drop (true) or exempt (false).
    pub fn martians(&self) -> Result<Vec<(IfKey, IpPrefix, bool)>, Error> {
        let mut all = Vec::new();
        for entry in self.martian4.iter() {
            let (k, v) = entry.map_err(map_err(layout::map::MARTIAN4))?;
            let (port, addr) = split_martian_key::<4>(&k.data());
            let len = (k.prefix_len() - 64) as u8;
            all.push((port, IpPrefix::new(IpAddr::from(addr), len)?, v != 0));
        }
        for entry in self.martian6.iter() {
            let (k, v) = entry.map_err(map_err(layout::map::MARTIAN6))?;
            let (port, addr) = split_martian_key::<16>(&k.data());
            let len = (k.prefix_len() - 64) as u8;
            all.push((port, IpPrefix::new(IpAddr::from(addr), len)?, v != 0));
        }
        all.sort();
        Ok(all)
    }

    /// Adds `addr/len` (host bits ignored) to the site's source space.
    pub fn add_source_prefix(&mut self, addr: IpAddr, len: u8) -> Result<(), Error> {
        match IpPrefix::new(addr, len)?.addr {
            IpAddr::V4(a) => self
                .src4
                .insert(&Key::new(len.into(), a.octets()), 1, 0)
                .map_err(map_err(layout::map::SRC4)),
            IpAddr::V6(a) => self
                .src6
                .insert(&Key::new(len.into(), a.octets()), 1, 0)
                .map_err(map_err(layout::map::SRC6)),
        }
    }

    /// Removes exactly `addr/len` from the source space (absent is not an
    /// error).
    pub fn remove_source_prefix(&mut self, addr: IpAddr, len: u8) -> Result<(), Error> {
        match IpPrefix::new(addr, len)?.addr {
            IpAddr::V4(a) => absent_ok(
                layout::map::SRC4,
                self.src4.remove(&Key::new(len.into(), a.octets())),
            ),
            IpAddr::V6(a) => absent_ok(
                layout::map::SRC6,
                self.src6.remove(&Key::new(len.into(), a.octets())),
            ),
        }
    }

    /// The source prefixes in the maps, IPv4 first, each family sorted.
    pub fn source_prefixes(&self) -> Result<Vec<IpPrefix>, Error> {
        let mut v4 = Vec::new();
        for key in self.src4.keys() {
            let key = key.map_err(map_err(layout::map::SRC4))?;
            v4.push(IpPrefix {
                addr: IpAddr::from(key.data()),
                len: key.prefix_len() as u8,
            });
        }
        let mut v6 = Vec::new();
        for key in self.src6.keys() {
            let key = key.map_err(map_err(layout::map::SRC6))?;
            v6.push(IpPrefix {
                addr: IpAddr::from(key.data()),
                len: key.prefix_len() as u8,
            });
        }
        v4.sort();
        v6.sort();
        v4.extend(v6);
        Ok(v4)
    }
}

/// `struct martian{4,6}_key` after the prefix length: the port, then the
/// address. `K` is 8 + the address length.
fn martian_key<const A: usize, const K: usize>(port: IfKey, addr: [u8; A]) -> [u8; K] {
    let mut k = [0u8; K];
    k[..8].copy_from_slice(&port.to_bytes());
    k[8..].copy_from_slice(&addr);
    k
}

fn split_martian_key<const A: usize>(k: &[u8]) -> (IfKey, [u8; A]) {
    let mut port = [0u8; 8];
    port.copy_from_slice(&k[..8]);
    let mut addr = [0u8; A];
    addr.copy_from_slice(&k[8..8 + A]);
    (IfKey::from_bytes(port), addr)
}

/// Four random bytes from the kernel.
fn random_u32() -> std::io::Result<u32> {
    use std::io::Read;
    let mut b = [0u8; 4];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut b)?;
    Ok(u32::from_ne_bytes(b))
}
