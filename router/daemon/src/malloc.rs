//! How the daemon asks glibc's malloc to give memory back, and where it
//! lets threads allocate.
//!
//! By default glibc raises its mmap threshold to the largest block freed
//! (up to 32 MiB), so the tables that grow while a full table loads (RIB
//! buckets, the backlog, the FIB builders) come from the heap, and their
//! freed predecessors stay resident beside them. The threshold is kept at
//! its initial 128 KiB (docs/benchmarks.md: that and the arenas below cost
//! a full-table load's peak RSS 20-40 MiB).
//!
//! Arenas: glibc gives each allocating thread an arena of its own, up to
//! eight per CPU. One for all made the threads that allocate at once
//! during a load (the route owner decoding attributes, the two session
//! workers parsing UPDATEs, the FIB writer) queue on its lock: a fifth of
//! the route owner's time went to waiting on it. [`ARENAS`] gives each of
//! them one, for 2 MiB more at the peak.
#![allow(unsafe_code)]

/// Blocks from this size on are mapped on their own and unmapped when
/// freed (glibc's initial threshold, kept fixed).
const MMAP_THRESHOLD: i32 = 128 * 1024;

/// The route owner, two session workers and the FIB writer.
const ARENAS: i32 = 4;

/// Sets the parameters; call it before any other thread starts.
pub fn tune() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters, and no other thread
    // allocates yet.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
        libc::mallopt(libc::M_ARENA_MAX, ARENAS);
    }
}
