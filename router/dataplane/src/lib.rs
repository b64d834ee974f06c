//! Sluice's forwarding plane: the XDP program (ebpf/sluice.c, built by
//! build.rs with clang), the Rust mirror of its map layouts ([`layout`]),
//! the pure FIB builders (DIR-24-8 for IPv4, [`dir24`]; a poptrie for
//! IPv6, [`poptrie`]) and the loader that puts
//! them into the kernel ([`loader`]), with run-time [`settings`] (FIB mode,
//! anti-spoofing), and pinning under a bpffs so the data plane outlives the
//! daemon ([`pin`]).
//!
//! # Pipeline
//!
//! Per packet: header checks (malformed → drop); ARP/ND → kernel;
//! anti-spoofing on interfaces flagged [`layout::IF_F_ANTISPOOF`] (a source
//! outside the site's prefixes → drop, except unspecified and link-local
//! sources, see [`settings`]); the punt rules (options, special and
//! link-local addresses, own addresses, TTL ≤ 1 → kernel); then the route
//! lookup, in Sluice's maps (DIR-24-8 / poptrie → group → next hop; a route to
//! [`layout::GROUP_DISCARD`] drops) or in the kernel FIB
//! ([`layout::FibMode::Kernel`], `bpf_fib_lookup`); MAC rewrite, TTL /
//! hop-limit decrement and redirect. ebpf/sluice.c lists every rule in
//! order.

pub mod attach;
pub mod batch;
mod buddy;
pub mod dir24;
mod dirty;
pub mod dxr;
mod fib6;
pub mod layout;
pub mod loader;
pub mod pin;
mod pop4;
pub mod poptrie;
pub mod poptrie4;
pub mod readback;
pub mod settings;

/// The build script's host questions, tested here (build scripts have no
/// test harness).
#[cfg(test)]
#[path = "../build_support.rs"]
mod build_support;
