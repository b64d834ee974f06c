//! The system calls aya 0.14 does not offer: `BPF_PROG_TEST_RUN` with
//! `repeat` and `BPF_F_TEST_XDP_LIVE_FRAMES`, an `LPM_TRIE` created (and
//! filled with `sluice_dataplane::batch`), and pinning the calling thread to a
//! CPU; and aya's `Pod` for the sender's map values. The only module of the
//! crate with `unsafe` code.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use crate::traffic::{GenConfig, GenConfig6, GenState};

// SAFETY: repr(C), plain integers and byte arrays, no padding (28 bytes:
// checked below), so every bit pattern is a valid value.
unsafe impl aya::Pod for GenConfig {}
// SAFETY: as above (16 bytes).
unsafe impl aya::Pod for GenState {}
// SAFETY: as above (40 bytes).
unsafe impl aya::Pod for GenConfig6 {}

const _: () = assert!(
    size_of::<GenConfig>() == 28 && size_of::<GenState>() == 16 && size_of::<GenConfig6>() == 40
);

const BPF_MAP_CREATE: libc::c_long = 0;
const BPF_PROG_TEST_RUN: libc::c_long = 10;
const BPF_MAP_TYPE_LPM_TRIE: u32 = 11;
const BPF_F_NO_PREALLOC: u32 = 1;
/// Frames are sent for real (redirects and `XDP_TX` happen), from a page
/// pool that recycles them without copying `data_in` again.
const BPF_F_TEST_XDP_LIVE_FRAMES: u32 = 1 << 1;

/// `union bpf_attr` for `BPF_PROG_TEST_RUN` (its `test` member).
#[repr(C)]
#[derive(Default)]
struct TestAttr {
    prog_fd: u32,
    retval: u32,
    data_size_in: u32,
    data_size_out: u32,
    data_in: u64,
    data_out: u64,
    repeat: u32,
    duration: u32,
    ctx_size_in: u32,
    ctx_size_out: u32,
    ctx_in: u64,
    ctx_out: u64,
    flags: u32,
    cpu: u32,
    batch_size: u32,
    _pad: u32,
}

/// `struct xdp_md` as the test run's context.
#[repr(C)]
#[derive(Default)]
struct XdpMd {
    data: u32,
    data_end: u32,
    data_meta: u32,
    ingress_ifindex: u32,
    rx_queue_index: u32,
    egress_ifindex: u32,
}

/// `union bpf_attr` for `BPF_MAP_CREATE` (the fields used here).
#[repr(C)]
#[derive(Default)]
struct MapCreateAttr {
    map_type: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    map_flags: u32,
    _rest: [u32; 27],
}

fn bpf<T>(cmd: libc::c_long, attr: &mut T) -> io::Result<libc::c_long> {
    // SAFETY: `attr` is a live, exclusively borrowed `#[repr(C)]` prefix of
    // `union bpf_attr` for `cmd`, and its size is passed with it; pointers
    // inside it are set by the callers to buffers that outlive the call and
    // have the lengths written next to them. The kernel writes only within
    // `attr` and the output buffers named in it.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            (attr as *mut T).cast::<libc::c_void>(),
            size_of::<T>() as libc::c_uint,
        )
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// What one `BPF_PROG_TEST_RUN` returned.
#[derive(Debug, Clone, Copy)]
pub struct RunResult {
    pub retval: u32,
    /// Mean nanoseconds per run, as measured by the kernel around its loop.
    pub duration_ns: u32,
}

/// Runs the XDP program `prog` `repeat` times on `frame` as if it had
/// arrived on `ifindex` (of the calling thread's network namespace; what
/// `bpf_fib_lookup` takes as the ingress device). The kernel re-runs on the
/// same buffer, so a program that rewrites the packet sees its own output
/// from the second run on.
pub fn test_run(
    prog: BorrowedFd<'_>,
    frame: &[u8],
    ifindex: u32,
    repeat: u32,
) -> io::Result<RunResult> {
    let ctx = XdpMd {
        data_end: frame.len() as u32,
        ingress_ifindex: ifindex,
        ..XdpMd::default()
    };
    let mut attr = TestAttr {
        prog_fd: prog.as_raw_fd() as u32,
        data_size_in: frame.len() as u32,
        data_in: frame.as_ptr() as u64,
        repeat,
        ctx_size_in: size_of::<XdpMd>() as u32,
        ctx_in: (&ctx as *const XdpMd) as u64,
        ..TestAttr::default()
    };
    bpf(BPF_PROG_TEST_RUN, &mut attr)?;
    Ok(RunResult {
        retval: attr.retval,
        duration_ns: attr.duration,
    })
}

/// Runs the XDP program `prog` `repeat` times in live-frame mode, `batch`
/// frames at a time, as if `frame` had arrived on `ifindex` (of the calling
/// thread's network namespace): `XDP_TX` sends the frame out of that
/// interface. Returns once all runs are done or a signal is pending.
pub fn test_run_live(
    prog: BorrowedFd<'_>,
    frame: &[u8],
    ifindex: u32,
    repeat: u32,
    batch: u32,
) -> io::Result<()> {
    let ctx = XdpMd {
        data_end: frame.len() as u32,
        ingress_ifindex: ifindex,
        ..XdpMd::default()
    };
    let mut attr = TestAttr {
        prog_fd: prog.as_raw_fd() as u32,
        data_size_in: frame.len() as u32,
        data_in: frame.as_ptr() as u64,
        repeat,
        ctx_size_in: size_of::<XdpMd>() as u32,
        ctx_in: (&ctx as *const XdpMd) as u64,
        flags: BPF_F_TEST_XDP_LIVE_FRAMES,
        batch_size: batch,
        ..TestAttr::default()
    };
    bpf(BPF_PROG_TEST_RUN, &mut attr)?;
    Ok(())
}

/// An IPv4 `LPM_TRIE` (key: prefix length + 4 address bytes; value: u32).
#[derive(Debug)]
pub struct LpmTrie4 {
    fd: OwnedFd,
}

impl LpmTrie4 {
    pub fn new(max_entries: u32) -> io::Result<Self> {
        let mut attr = MapCreateAttr {
            map_type: BPF_MAP_TYPE_LPM_TRIE,
            key_size: 8,
            value_size: 4,
            max_entries,
            map_flags: BPF_F_NO_PREALLOC,
            ..MapCreateAttr::default()
        };
        let fd = bpf(BPF_MAP_CREATE, &mut attr)?;
        // SAFETY: BPF_MAP_CREATE returned a new descriptor that nothing else
        // owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        Ok(Self { fd })
    }

    /// Inserts `(addr, len) -> value` triples with `BPF_MAP_UPDATE_BATCH`,
    /// `chunk` elements per call.
    pub fn update_batch(&self, routes: &[(u32, u8, u32)], chunk: usize) -> io::Result<()> {
        for part in routes.chunks(chunk.max(1)) {
            let keys: Vec<u8> = part
                .iter()
                .flat_map(|&(addr, len, _)| {
                    let mut k = [0u8; 8];
                    k[..4].copy_from_slice(&u32::from(len).to_ne_bytes());
                    k[4..].copy_from_slice(&addr.to_be_bytes());
                    k
                })
                .collect();
            let values: Vec<u8> = part.iter().flat_map(|r| r.2.to_ne_bytes()).collect();
            sluice_dataplane::batch::update(self.fd.as_raw_fd(), &keys, &values, part.len())
                .map_err(|(_, e)| e)?;
        }
        Ok(())
    }
}

/// Pins the calling thread to `cpu`.
pub fn pin_current_thread(cpu: usize) -> io::Result<()> {
    // SAFETY: cpu_set_t is plain data, valid when zeroed; CPU_SET only
    // writes inside it (and ignores CPUs beyond its size); sched_setaffinity
    // reads `size_of` bytes of it.
    let rc = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set)
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Gives the calling thread `SCHED_FIFO` priority `prio` (0: back to
/// `SCHED_OTHER`).
pub fn set_current_fifo(prio: i32) -> io::Result<()> {
    let policy = if prio > 0 {
        libc::SCHED_FIFO
    } else {
        libc::SCHED_OTHER
    };
    let param = libc::sched_param {
        sched_priority: prio,
    };
    // SAFETY: sched_setscheduler(0, ...) changes the calling thread only and
    // reads `param`, which lives across the call.
    let rc = unsafe { libc::sched_setscheduler(0, policy, &param) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// SIGINT, SIGTERM and SIGHUP, blocked in the calling thread (and so in
/// every thread it starts afterwards) so that only [`wait_for_signal`]
/// sees them.
#[derive(Debug, Clone, Copy)]
pub struct TerminationSignals(libc::sigset_t);

/// Blocks the termination signals in the calling thread; call it before
/// starting any other thread.
pub fn block_termination_signals() -> io::Result<TerminationSignals> {
    // SAFETY: sigset_t is plain data that sigemptyset initialises;
    // sigaddset and pthread_sigmask only read and write that set and the
    // calling thread's mask.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            libc::sigaddset(&mut set, sig);
        }
        let rc = libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        if rc != 0 {
            return Err(io::Error::from_raw_os_error(rc));
        }
        Ok(TerminationSignals(set))
    }
}

/// Waits until one of `signals` arrives; returns its number.
pub fn wait_for_signal(signals: &TerminationSignals) -> i32 {
    let mut sig = 0;
    // SAFETY: sigwait reads the initialised set and writes one int.
    let rc = unsafe { libc::sigwait(&signals.0, &mut sig) };
    if rc == 0 { sig } else { libc::SIGTERM }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attr_layouts_match_the_kernel_uapi() {
        assert_eq!(size_of::<TestAttr>(), 80);
        assert_eq!(std::mem::offset_of!(TestAttr, repeat), 32);
        assert_eq!(std::mem::offset_of!(TestAttr, flags), 64);
        assert_eq!(std::mem::offset_of!(TestAttr, batch_size), 72);
        assert_eq!(size_of::<XdpMd>(), 24);
    }
}
