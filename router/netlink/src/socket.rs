//! The request socket: request/ack, single get, dump, and pipelined
//! batches. The thin I/O edge over [`crate::sys`] and [`crate::codec`].
//!
//! Batches: the kernel handles a `sendmsg` to a NETLINK_ROUTE socket
//! synchronously, message by message, and queues one NLMSG_ERROR per failed
//! message (and per message with NLM_F_ACK) on our receive queue before
//! `sendmsg` returns. A batch is therefore cut into rounds of at most
//! `round_limit` messages (sized from the receive buffer), written in `sendmsg` calls of at most
//! [`SEND_CHUNK`] bytes; only a round's last message asks for an ack, so a
//! round costs one ack plus one error per failure, and the round ends when
//! that ack (or that message's error) arrives. The round limit keeps the
//! worst case — every message failing — inside the receive buffer, which
//! would otherwise overflow and lose errors (ENOBUFS).

use std::io;
use std::os::fd::OwnedFd;
use std::time::Duration;

use crate::codec::{
    self, DecodeError, Message, NLM_F_DUMP_INTR, NLMSG_DONE, NLMSG_ERROR, NLMSG_NOOP,
    NLMSG_OVERRUN, messages,
};
use crate::sys;

/// Receive buffer for one datagram. Dump datagrams are at most 32 KiB
/// (the kernel sizes them by the largest read, capped at 32 KiB).
const RX_BUF: usize = 1 << 16;
/// Bytes per `sendmsg` of a batch.
pub(crate) const SEND_CHUNK: usize = 256 * 1024;
/// Requested socket buffers; root may exceed rmem_max/wmem_max (…FORCE).
const WANT_RCVBUF: libc::c_int = 32 << 20;
const WANT_SNDBUF: libc::c_int = 4 << 20;
/// Budget per outstanding error message in the receive queue: the skb's
/// true size with an extended-ack text is well under this.
const ERROR_TRUESIZE: usize = 2048;
/// Blocking receives give up after this (the kernel answers at once; this
/// only turns a lost answer into an error instead of a hang).
const RECV_TIMEOUT: Duration = Duration::from_secs(60);
/// Restarts of a dump the kernel marked inconsistent (NLM_F_DUMP_INTR).
const DUMP_RETRIES: usize = 5;

/// A blocking NETLINK_ROUTE socket for requests.
#[derive(Debug)]
pub(crate) struct Socket {
    fd: OwnedFd,
    seq: u32,
    rx: Vec<u8>,
    round_limit: usize,
    send_chunk: usize,
}

impl Socket {
    pub(crate) fn open() -> io::Result<Socket> {
        let fd = sys::route_socket(false)?;
        for opt in [
            sys::NETLINK_EXT_ACK,
            sys::NETLINK_CAP_ACK,
            sys::NETLINK_GET_STRICT_CHK,
        ] {
            sys::set_int(&fd, sys::SOL_NETLINK, opt, 1)?;
        }
        let rcvbuf = grow_buffer(&fd, libc::SO_RCVBUFFORCE, libc::SO_RCVBUF, WANT_RCVBUF)?;
        let sndbuf = grow_buffer(&fd, libc::SO_SNDBUFFORCE, libc::SO_SNDBUF, WANT_SNDBUF)?;
        sys::set_recv_timeout(&fd, RECV_TIMEOUT)?;
        Ok(Socket {
            fd,
            seq: 0,
            rx: vec![0; RX_BUF],
            // Half the buffer for errors, the rest for slack.
            round_limit: (rcvbuf / 2 / ERROR_TRUESIZE).clamp(16, 8192),
            send_chunk: SEND_CHUNK.min(sndbuf / 2),
        })
    }

    fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }

    /// Receives one datagram into `self.rx`; returns its length.
    fn recv(&mut self) -> io::Result<usize> {
        let n = sys::recv(&self.fd, &mut self.rx, false)?;
        if n > self.rx.len() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "netlink datagram of {n} bytes truncated to {}",
                    self.rx.len()
                ),
            ));
        }
        Ok(n)
    }

    /// Sends one request (its encoder sets NLM_F_ACK) and waits for the ack.
    pub(crate) fn request(&mut self, encode: impl FnOnce(&mut Vec<u8>, u32)) -> io::Result<()> {
        self.get(encode).map(drop)
    }

    /// Sends one request and waits for its answer: `Some(payload)` of a
    /// reply message, `None` for a plain ack, or the kernel's error.
    pub(crate) fn get(
        &mut self,
        encode: impl FnOnce(&mut Vec<u8>, u32),
    ) -> io::Result<Option<(u16, Vec<u8>)>> {
        let seq = self.next_seq();
        let mut buf = Vec::with_capacity(128);
        encode(&mut buf, seq);
        sys::send(&self.fd, &buf)?;
        loop {
            let n = self.recv()?;
            for msg in messages(&self.rx[..n]) {
                let msg = msg?;
                if msg.seq != seq {
                    continue; // a late answer to an earlier, abandoned request
                }
                return match msg.kind {
                    NLMSG_ERROR => match codec::parse_ack(&msg)? {
                        Ok(()) => Ok(None),
                        Err(e) => Err(e.into()),
                    },
                    kind => Ok(Some((kind, msg.payload.to_vec()))),
                };
            }
        }
    }

    /// Dumps and parses every reply message with `parse` (`None` skips a
    /// message). Restarts the dump if the kernel marks it interrupted.
    pub(crate) fn dump<T>(
        &mut self,
        encode: impl Fn(&mut Vec<u8>, u32),
        mut parse: impl FnMut(&Message<'_>) -> Result<Option<T>, DecodeError>,
    ) -> io::Result<Vec<T>> {
        for _ in 0..DUMP_RETRIES {
            let seq = self.next_seq();
            let mut buf = Vec::with_capacity(64);
            encode(&mut buf, seq);
            sys::send(&self.fd, &buf)?;
            let mut out = Vec::new();
            let mut interrupted = false;
            'dump: loop {
                let n = self.recv()?;
                for msg in messages(&self.rx[..n]) {
                    let msg = msg?;
                    if msg.seq != seq {
                        continue;
                    }
                    interrupted |= msg.flags & NLM_F_DUMP_INTR != 0;
                    match msg.kind {
                        NLMSG_DONE => {
                            done_status(&msg)?;
                            break 'dump;
                        }
                        NLMSG_ERROR => {
                            if let Err(e) = codec::parse_ack(&msg)? {
                                return Err(e.into());
                            }
                            break 'dump;
                        }
                        NLMSG_NOOP | NLMSG_OVERRUN => {}
                        _ => out.extend(parse(&msg)?),
                    }
                }
            }
            if !interrupted {
                return Ok(out);
            }
        }
        Err(io::Error::new(
            io::ErrorKind::Interrupted,
            format!("netlink dump changed underneath {DUMP_RETRIES} times in a row"),
        ))
    }

    /// Sends `count` messages in pipelined rounds (module doc).
    /// `encode(buf, i, seq, ack)` appends message `i` with sequence number
    /// `seq`, asking for an ack on success if `ack`; `on_error(i, e)` gets
    /// each message the kernel refused. An `Err` means the socket failed:
    /// messages of earlier rounds are applied, the current round's outcome
    /// is unknown.
    pub(crate) fn batch(
        &mut self,
        count: usize,
        mut encode: impl FnMut(&mut Vec<u8>, usize, u32, bool),
        mut on_error: impl FnMut(usize, io::Error),
    ) -> io::Result<()> {
        let mut buf = Vec::with_capacity(self.send_chunk + 4096);
        let mut start = 0;
        while start < count {
            let end = count.min(start + self.round_limit);
            let first = self.seq.wrapping_add(1);
            for i in start..end {
                let seq = self.next_seq();
                encode(&mut buf, i, seq, i + 1 == end);
                if buf.len() >= self.send_chunk.saturating_sub(1024) {
                    sys::send(&self.fd, &buf)?;
                    buf.clear();
                }
            }
            if !buf.is_empty() {
                sys::send(&self.fd, &buf)?;
                buf.clear();
            }
            let last = self.seq;
            let mut done = false;
            while !done {
                let n = self.recv()?;
                for msg in messages(&self.rx[..n]) {
                    let msg = msg?;
                    let offset = msg.seq.wrapping_sub(first) as usize;
                    if msg.kind != NLMSG_ERROR || offset >= end - start {
                        continue;
                    }
                    if let Err(e) = codec::parse_ack(&msg)? {
                        on_error(start + offset, e.into());
                    }
                    done |= msg.seq == last;
                }
            }
            start = end;
        }
        Ok(())
    }
}

/// A dump's NLMSG_DONE carries an int: negative if the dump failed.
fn done_status(msg: &Message<'_>) -> io::Result<()> {
    let Some(status) = msg.payload.get(..4) else {
        return Ok(());
    };
    let status = i32::from_ne_bytes(status.try_into().expect("4 bytes"));
    if status < 0 {
        return Err(io::Error::from_raw_os_error(-status));
    }
    Ok(())
}

/// Raises a socket buffer to `want` (FORCE needs CAP_NET_ADMIN; without it
/// the plain option, capped at rmem_max/wmem_max) and returns the size the
/// kernel granted (it reports double what was asked, its bookkeeping share
/// included; half of that is what we count on).
fn grow_buffer(
    fd: &OwnedFd,
    force: libc::c_int,
    plain: libc::c_int,
    want: libc::c_int,
) -> io::Result<usize> {
    if sys::set_int(fd, libc::SOL_SOCKET, force, want).is_err() {
        sys::set_int(fd, libc::SOL_SOCKET, plain, want)?;
    }
    let granted = sys::get_int(fd, libc::SOL_SOCKET, plain)?;
    Ok(usize::try_from(granted).unwrap_or(0) / 2)
}

/// A non-blocking socket subscribed to multicast groups, for events.
pub(crate) fn event_socket(groups: &[libc::c_int]) -> io::Result<OwnedFd> {
    let fd = sys::route_socket(true)?;
    for &group in groups {
        sys::set_int(&fd, sys::SOL_NETLINK, sys::NETLINK_ADD_MEMBERSHIP, group)?;
    }
    grow_buffer(&fd, libc::SO_RCVBUFFORCE, libc::SO_RCVBUF, 8 << 20)?;
    Ok(fd)
}

/// Receives one datagram without waiting; `Ok(None)` if none is queued.
pub(crate) fn try_recv(fd: &OwnedFd, rx: &mut [u8]) -> io::Result<Option<usize>> {
    match sys::recv(fd, rx, true) {
        Ok(n) if n > rx.len() => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("netlink datagram of {n} bytes truncated to {}", rx.len()),
        )),
        Ok(n) => Ok(Some(n)),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
        Err(e) => Err(e),
    }
}

/// The receive buffer size for event sockets.
pub(crate) const EVENT_RX_BUF: usize = RX_BUF;
