//! Socket options the kernel offers for BGP: TCP-MD5 signatures (RFC 2385),
//! the outgoing TTL for eBGP and multihop, and GTSM's minimum incoming TTL
//! (RFC 5082). The one module with `unsafe`: each setsockopt is a plain
//! syscall on a descriptor the caller owns.
#![allow(unsafe_code)]

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;

use socket2::{SockAddr, SockRef};

/// `struct tcp_md5sig` from linux/tcp.h.
#[repr(C)]
struct TcpMd5Sig {
    addr: [u8; 128],
    flags: u8,
    prefixlen: u8,
    keylen: u16,
    ifindex: u32,
    key: [u8; 80],
}

const TCP_MD5SIG_MAXKEYLEN: usize = 80;

/// Signs (and requires signatures on) segments to and from `peer` with `key`.
/// An empty key removes the signature requirement.
pub fn set_md5(socket: &impl AsRawFd, peer: IpAddr, key: &[u8]) -> io::Result<()> {
    if key.len() > TCP_MD5SIG_MAXKEYLEN {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "TCP-MD5 keys are at most 80 bytes",
        ));
    }
    let sa = SockAddr::from(SocketAddr::new(peer, 0));
    let mut sig = TcpMd5Sig {
        addr: [0; 128],
        flags: 0,
        prefixlen: 0,
        keylen: u16::try_from(key.len()).expect("checked above"),
        ifindex: 0,
        key: [0; 80],
    };
    // SAFETY: `sa` holds `sa.len()` initialised bytes of a sockaddr, at most 128 (sockaddr_storage).
    let raw = unsafe { std::slice::from_raw_parts(sa.as_ptr().cast::<u8>(), sa.len() as usize) };
    sig.addr[..raw.len()].copy_from_slice(raw);
    sig.key[..key.len()].copy_from_slice(key);
    setsockopt(socket, libc::IPPROTO_TCP, libc::TCP_MD5SIG, &sig)
}

/// The TTL (hop limit) of our packets: 1 for a directly connected eBGP
/// peer, the multihop count, or 255 with GTSM.
pub fn set_ttl(socket: &impl std::os::fd::AsFd, family: IpAddr, ttl: u8) -> io::Result<()> {
    let s = SockRef::from(socket);
    match family {
        IpAddr::V4(_) => s.set_ttl_v4(u32::from(ttl)),
        IpAddr::V6(_) => s.set_unicast_hops_v6(u32::from(ttl)),
    }
}

/// GTSM: drop packets that arrive with a TTL below `min`.
pub fn set_min_ttl(socket: &impl AsRawFd, family: IpAddr, min: u8) -> io::Result<()> {
    let value = libc::c_int::from(min);
    match family {
        IpAddr::V4(_) => setsockopt(socket, libc::IPPROTO_IP, libc::IP_MINTTL, &value),
        IpAddr::V6(_) => setsockopt(socket, libc::IPPROTO_IPV6, libc::IPV6_MINHOPCOUNT, &value),
    }
}

fn setsockopt<T>(
    socket: &impl AsRawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: &T,
) -> io::Result<()> {
    // SAFETY: `value` points to a live, initialised T of the size passed; the
    // kernel only reads it. The descriptor is owned by the caller's socket.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            level,
            name,
            (value as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn struct_layout_matches_the_kernel() {
        assert_eq!(std::mem::size_of::<TcpMd5Sig>(), 216);
    }

    #[test]
    fn options_apply_to_a_real_socket() {
        let s = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let peer: IpAddr = "127.0.0.2".parse().unwrap();
        set_md5(&s, peer, b"secret").unwrap();
        set_md5(&s, peer, b"").unwrap();
        set_ttl(&s, peer, 1).unwrap();
        set_min_ttl(&s, peer, 255).unwrap();
        assert!(set_md5(&s, peer, &[0; 81]).is_err());
    }
}
