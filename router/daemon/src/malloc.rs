//! How the daemon asks glibc's malloc to give memory back.
//!
//! By default glibc raises its mmap threshold to the largest block freed
//! (up to 32 MiB), so the tables that grow while a full table loads (RIB
//! buckets, the backlog, the FIB builders) come from the heap, and their
//! freed predecessors stay resident beside them; and each thread that
//! allocates gets an arena of its own. Together they cost a full-table
//! load's peak RSS 20-40 MiB (docs/benchmarks.md), and buy no speed here:
//! the daemon's few threads rarely allocate at once.
#![allow(unsafe_code)]

/// Blocks from this size on are mapped on their own and unmapped when
/// freed (glibc's initial threshold, kept fixed).
const MMAP_THRESHOLD: i32 = 128 * 1024;

/// Sets the parameters; call it before any other thread starts.
pub fn tune() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters, and no other thread
    // allocates yet.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}
