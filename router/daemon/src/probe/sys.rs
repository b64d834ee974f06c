//! The one syscall path probes need that the standard library and socket2
//! lack: an AF_PACKET socket that sends a whole Ethernet frame out of a
//! given interface, past the FIB. The only module of the daemon with
//! `unsafe`.
#![allow(unsafe_code)]

use std::io;
use std::mem::size_of;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// A send-only AF_PACKET socket (protocol 0: it receives nothing).
#[derive(Debug)]
pub struct PacketSocket {
    fd: OwnedFd,
}

impl PacketSocket {
    pub fn new() -> io::Result<PacketSocket> {
        // SAFETY: plain syscall with integer arguments; a non-negative
        // result is a new descriptor nothing else owns.
        let fd = unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
                0,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just returned by socket(2) and is owned by no one else.
        Ok(PacketSocket {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    /// Sends `frame` (Ethernet header included) out of interface `ifindex`.
    pub fn send(&self, ifindex: u32, frame: &[u8]) -> io::Result<()> {
        let dst: [u8; 6] = frame
            .get(..6)
            .and_then(|m| m.try_into().ok())
            .ok_or_else(|| io::Error::other("frame shorter than an Ethernet header"))?;
        let mut addr: libc::sockaddr_ll = zeroed_addr();
        addr.sll_family = libc::AF_PACKET as u16;
        addr.sll_ifindex = i32::try_from(ifindex).map_err(io::Error::other)?;
        addr.sll_halen = 6;
        addr.sll_addr[..6].copy_from_slice(&dst);
        // SAFETY: `frame` is a live slice of the length given, and `addr`
        // a fully initialised sockaddr_ll whose size is passed with it.
        let n = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                frame.as_ptr().cast(),
                frame.len(),
                0,
                (&raw const addr).cast(),
                size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

fn zeroed_addr() -> libc::sockaddr_ll {
    // SAFETY: sockaddr_ll is plain old data; all-zero is a valid value.
    unsafe { std::mem::zeroed() }
}
