//! `BPF_MAP_UPDATE_BATCH`: many map entries in one bpf(2) call. aya 0.14
//! has no batch API; a full IPv6 table written one call per prefix spent
//! most of its time entering and leaving the kernel. The benchmarks fill
//! their tries with it too. The one module with `unsafe`: a plain syscall
//! on a descriptor the caller owns, with buffers that outlive it.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::RawFd;

const BPF_MAP_UPDATE_BATCH: libc::c_long = 26;

/// The `batch` member of `union bpf_attr` (linux/bpf.h).
#[repr(C)]
#[derive(Default)]
struct BatchAttr {
    in_batch: u64,
    out_batch: u64,
    keys: u64,
    values: u64,
    count: u32,
    map_fd: u32,
    elem_flags: u64,
    flags: u64,
}

/// Writes `count` entries into map `fd`, keys and values packed back to
/// back with the map's key and value sizes. On an error, how many entries
/// the kernel wrote before the one that failed, and why.
pub fn update(
    fd: RawFd,
    keys: &[u8],
    values: &[u8],
    count: usize,
) -> Result<(), (usize, io::Error)> {
    let mut attr = BatchAttr {
        keys: keys.as_ptr() as u64,
        values: values.as_ptr() as u64,
        count: u32::try_from(count).map_err(|_| (0, io::ErrorKind::InvalidInput.into()))?,
        map_fd: u32::try_from(fd).map_err(|_| (0, io::ErrorKind::InvalidInput.into()))?,
        ..Default::default()
    };
    // SAFETY: `attr` is a live, initialised prefix of bpf_attr of the size
    // passed; `keys` and `values` hold `count` entries of the map's sizes
    // (the caller's contract) and outlive the call; the kernel writes back
    // only `attr.count`.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_MAP_UPDATE_BATCH,
            std::ptr::from_mut(&mut attr),
            std::mem::size_of::<BatchAttr>(),
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err((attr.count as usize, io::Error::last_os_error()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attr_layout_matches_the_kernel_uapi() {
        assert_eq!(std::mem::size_of::<BatchAttr>(), 56);
        assert_eq!(std::mem::offset_of!(BatchAttr, count), 32);
        assert_eq!(std::mem::offset_of!(BatchAttr, map_fd), 36);
    }
}
