//! Run-time settings of the program: the FIB mode (Sluice's maps or the
//! kernel's FIB through `bpf_fib_lookup`) and BCP 38 anti-spoofing (RFC 2827
//! / RFC 3704 strict-by-prefix): per-interface flags and the site's source
//! prefixes.
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
//! [`Verdict::DropSpoofed`]: crate::layout::Verdict::DropSpoofed

use std::net::IpAddr;

use aya::maps::lpm_trie::Key;

use crate::layout::{self, FibMode, IF_F_ANTISPOOF, SETTINGS_F_ANTISPOOF, TX_PORTS_MAX};
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
        let [_, flags] = self.raw_settings()?;
        self.write_settings([mode as u32, flags])
    }

    /// `struct settings` as [fib_mode, flags].
    fn raw_settings(&self) -> Result<[u32; 2], Error> {
        self.settings
            .get(&0, 0)
            .map_err(map_err(layout::map::SETTINGS))
    }

    fn write_settings(&mut self, value: [u32; 2]) -> Result<(), Error> {
        self.settings
            .set(0, value, 0)
            .map_err(map_err(layout::map::SETTINGS))
    }

    /// The FIB mode the program uses (an unknown value reads as an error).
    pub fn fib_mode(&self) -> Result<FibMode, Error> {
        let [mode, _] = self.raw_settings()?;
        FibMode::from_u32(mode).ok_or(Error::OutOfRange {
            what: "settings.fib_mode",
            value: mode.into(),
            allowed: "0..2".into(),
        })
    }

    // ---- anti-spoofing ---------------------------------------------------------

    /// Sets the flags of ingress interface `ifindex` (1..256), e.g.
    /// [`IF_F_ANTISPOOF`]; 0 clears them. Also keeps
    /// [`SETTINGS_F_ANTISPOOF`] (some interface is flagged) up to date, which
    /// spares the program the per-interface lookup while no interface is.
    pub fn set_interface_flags(&mut self, ifindex: u32, flags: u32) -> Result<(), Error> {
        check_range("ingress ifindex", ifindex.into(), 1, TX_PORTS_MAX.into())?;
        check_range(
            "interface flags",
            flags.into(),
            0,
            u64::from(IF_F_ANTISPOOF) + 1,
        )?;
        // Global flag first when setting, last when clearing: the program
        // never skips a flagged interface.
        let [mode, global] = self.raw_settings()?;
        if flags & IF_F_ANTISPOOF != 0 {
            self.write_settings([mode, global | SETTINGS_F_ANTISPOOF])?;
        }
        self.if_settings
            .set(ifindex, flags, 0)
            .map_err(map_err(layout::map::IF_SETTINGS))?;
        let mut any = false;
        for i in 1..TX_PORTS_MAX {
            any |= self.interface_flags(i)? & IF_F_ANTISPOOF != 0;
        }
        let global = if any {
            global | SETTINGS_F_ANTISPOOF
        } else {
            global & !SETTINGS_F_ANTISPOOF
        };
        self.write_settings([mode, global])
    }

    /// Whether some interface has [`IF_F_ANTISPOOF`] (`settings.flags`).
    pub fn antispoof_enabled(&self) -> Result<bool, Error> {
        Ok(self.raw_settings()?[1] & SETTINGS_F_ANTISPOOF != 0)
    }

    /// The flags of ingress interface `ifindex`.
    pub fn interface_flags(&self, ifindex: u32) -> Result<u32, Error> {
        check_range("ingress ifindex", ifindex.into(), 1, TX_PORTS_MAX.into())?;
        self.if_settings
            .get(&ifindex, 0)
            .map_err(map_err(layout::map::IF_SETTINGS))
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
