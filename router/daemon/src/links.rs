//! Link state of interfaces, read from sysfs in the daemon's network namespace.

use std::fs;

use crate::uplinks::Link;

/// Up when the kernel says so, or when the driver reports no operstate but
/// has carrier (as loopback-like devices do).
pub fn link(interface: &str) -> Link {
    let base = format!("/sys/class/net/{interface}");
    let read = |f: &str| fs::read_to_string(format!("{base}/{f}")).map(|s| s.trim().to_string());
    match read("operstate") {
        Err(_) => Link::Missing,
        Ok(s) if s == "up" => Link::Up,
        Ok(s) if s == "unknown" && read("carrier").is_ok_and(|c| c == "1") => Link::Up,
        Ok(_) => Link::Down,
    }
}

/// Packets the interface has received, from its sysfs statistics.
pub fn rx_packets(interface: &str) -> Option<u64> {
    fs::read_to_string(format!("/sys/class/net/{interface}/statistics/rx_packets"))
        .ok()?
        .trim()
        .parse()
        .ok()
}
