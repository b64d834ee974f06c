//! The forwarder's cost per packet from `BPF_PROG_TEST_RUN`, net of the
//! harness floor (the same runs of a program that only returns XDP_PASS).
//!
//! * cold: one run per call, each on a fresh frame to the next of the
//!   random destinations, so every lookup lands somewhere else in the FIB
//!   (the kernel re-runs `repeat` times on the *same* buffer, which would
//!   look up one destination over and over, and after 254 runs measure the
//!   TTL punt path);
//! * warm: `repeat` = 200 on one frame (below the TTL limit), cycling over
//!   a few destinations: the same lookups with the FIB's lines in cache.
//!
//! Both programs must be attached somewhere while they are test-run, or
//! every call pays for two `synchronize_rcu()` in the XDP dispatcher.

use std::net::Ipv4Addr;
use std::os::fd::BorrowedFd;

use crate::sys;
use crate::traffic;

/// XDP_REDIRECT: what the forwarder returns for a forwarded packet.
const XDP_REDIRECT: u32 = 4;

/// Nanoseconds per packet.
#[derive(Debug, Clone, Copy)]
pub struct Cost {
    pub cold_ns: f64,
    pub cold_floor_ns: f64,
    pub warm_ns: f64,
    pub warm_floor_ns: f64,
    /// Calls (cold) whose program result was not a redirect.
    pub not_redirected: u64,
    pub calls: usize,
}

impl Cost {
    pub fn cold_net(&self) -> f64 {
        self.cold_ns - self.cold_floor_ns
    }

    pub fn warm_net(&self) -> f64 {
        self.warm_ns - self.warm_floor_ns
    }
}

/// Frames of the benchmark's shape to each of `dsts`.
pub fn frames(dmac: [u8; 6], smac: [u8; 6], dsts: &[u32]) -> Vec<Vec<u8>> {
    let src: Ipv4Addr = crate::lab::SRC.parse().unwrap();
    dsts.iter()
        .map(|&d| traffic::udp_frame(dmac, smac, src, Ipv4Addr::from(d)))
        .collect()
}

fn mean_ns(
    prog: BorrowedFd<'_>,
    frames: &[Vec<u8>],
    ifindex: u32,
    repeat: u32,
) -> Result<(f64, u64), String> {
    let mut total = 0u64;
    let mut other = 0u64;
    for f in frames {
        let r = sys::test_run(prog, f, ifindex, repeat)
            .map_err(|e| format!("BPF_PROG_TEST_RUN: {e}"))?;
        total += u64::from(r.duration_ns);
        if r.retval != XDP_REDIRECT {
            other += 1;
        }
    }
    Ok((total as f64 / frames.len().max(1) as f64, other))
}

/// Measures `prog` against `floor` on `frames` arriving on `ifindex`, from
/// the calling thread (which must be in that interface's namespace).
pub fn measure(
    prog: BorrowedFd<'_>,
    floor: BorrowedFd<'_>,
    frames: &[Vec<u8>],
    ifindex: u32,
) -> Result<Cost, String> {
    // One pass first so that neither program pays for first-touch faults.
    let warmup = &frames[..frames.len().min(1000)];
    mean_ns(prog, warmup, ifindex, 1)?;
    mean_ns(floor, warmup, ifindex, 1)?;
    let (cold_ns, not_redirected) = mean_ns(prog, frames, ifindex, 1)?;
    let (cold_floor_ns, _) = mean_ns(floor, frames, ifindex, 1)?;
    let few = &frames[..frames.len().min(200)];
    let (warm_ns, _) = mean_ns(prog, few, ifindex, 200)?;
    let (warm_floor_ns, _) = mean_ns(floor, few, ifindex, 200)?;
    Ok(Cost {
        cold_ns,
        cold_floor_ns,
        warm_ns,
        warm_floor_ns,
        not_redirected,
        calls: frames.len(),
    })
}
