//! The two ends of `sluice lab traffic`, run inside nodes as hidden
//! `sluice lab agent send|recv` commands: a paced UDP sender and a counting
//! receiver, each printing one JSON line with its count.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

/// Payload size of each datagram.
pub const PAYLOAD: usize = 64;

/// Sends `rate` datagrams a second to `dst` for `duration`; returns how
/// many were sent (a datagram the kernel refused, e.g. with no route, is
/// not counted).
pub fn send(dst: SocketAddr, rate: u32, duration: Duration) -> std::io::Result<u64> {
    let bind: SocketAddr = if dst.is_ipv4() {
        "0.0.0.0:0".parse().map_err(std::io::Error::other)?
    } else {
        "[::]:0".parse().map_err(std::io::Error::other)?
    };
    let socket = UdpSocket::bind(bind)?;
    let rate = u64::from(rate.max(1));
    let total = rate * duration.as_millis() as u64 / 1000;
    let start = Instant::now();
    let mut sent = 0;
    let mut buf = [0u8; PAYLOAD];
    for i in 0..total {
        let due = start + Duration::from_micros(i * 1_000_000 / rate);
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        buf[..8].copy_from_slice(&i.to_be_bytes());
        if socket.send_to(&buf, dst).is_ok() {
            sent += 1;
        }
    }
    Ok(sent)
}

/// Counts datagrams arriving on `port` until `duration` has passed;
/// calls `bound` once the socket listens.
pub fn recv(port: u16, v6: bool, duration: Duration, bound: impl FnOnce()) -> std::io::Result<u64> {
    let bind = if v6 { "[::]" } else { "0.0.0.0" };
    let socket = UdpSocket::bind(format!("{bind}:{port}"))?;
    bound();
    let deadline = Instant::now() + duration;
    let mut received = 0;
    let mut buf = [0u8; 2048];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(received);
        }
        socket.set_read_timeout(Some(left.min(Duration::from_millis(200))))?;
        if socket.recv_from(&mut buf).is_ok() {
            received += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_stream_is_counted() {
        let port = {
            let probe = UdpSocket::bind("127.0.0.1:0").unwrap();
            probe.local_addr().unwrap().port()
        };
        let rx = std::thread::spawn(move || recv(port, false, Duration::from_millis(900), || {}));
        std::thread::sleep(Duration::from_millis(100));
        let dst: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let sent = send(dst, 200, Duration::from_millis(500)).unwrap();
        assert_eq!(sent, 100);
        assert_eq!(rx.join().unwrap().unwrap(), 100);
    }
}
