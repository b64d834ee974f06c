//! Who is at the other end of a control connection, and who we are: the
//! few calls std and tokio do not wrap.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

/// The peer's supplementary groups as they were when it connected
/// (SO_PEERGROUPS, Linux 4.13): not read from /proc later, where the pid
/// may by then belong to another process.
pub fn peer_groups(fd: BorrowedFd<'_>) -> io::Result<Vec<u32>> {
    let mut groups: Vec<libc::gid_t> = vec![0; 32];
    loop {
        let mut len = libc::socklen_t::try_from(std::mem::size_of_val(groups.as_slice()))
            .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        // SAFETY: `groups` is valid for writes of `len` bytes for the whole
        // call, and `len` is a valid socklen_t; the kernel writes at most
        // `len` bytes and stores in `len` how many it wrote (or, with
        // ERANGE, how many it needs).
        let rc = unsafe {
            libc::getsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_PEERGROUPS,
                groups.as_mut_ptr().cast(),
                &mut len,
            )
        };
        let n = len as usize / std::mem::size_of::<libc::gid_t>();
        if rc == 0 {
            groups.truncate(n);
            return Ok(groups);
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::ERANGE) || n <= groups.len() {
            return Err(e);
        }
        groups.resize(n, 0);
    }
}

/// The daemon's effective uid and gid.
pub fn own_ids() -> (u32, u32) {
    // SAFETY: geteuid and getegid take nothing, touch no memory and cannot fail.
    unsafe { (libc::geteuid(), libc::getegid()) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn a_peer_has_our_groups() {
        let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
        let groups = peer_groups(a.as_fd()).unwrap();
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let mut ours: Vec<u32> = status
            .lines()
            .find_map(|l| l.strip_prefix("Groups:"))
            .unwrap()
            .split_whitespace()
            .map(|g| g.parse().unwrap())
            .collect();
        let mut got = groups.clone();
        ours.sort_unstable();
        got.sort_unstable();
        assert_eq!(got, ours);
    }
}
