//! Sluice's forwarding plane: the XDP program (ebpf/sluice.c, built by
//! build.rs with clang), the Rust mirror of its map layouts ([`layout`]),
//! the pure DIR-24-8 IPv4 FIB builder ([`dir24`]) and the loader that puts
//! them into the kernel ([`loader`]).

pub mod attach;
pub mod dir24;
pub mod layout;
pub mod loader;
