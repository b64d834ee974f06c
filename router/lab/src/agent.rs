//! The two ends of `sluice lab traffic`, run inside nodes as hidden
//! `sluice lab agent send|recv` commands: a paced UDP sender and a counting
//! receiver, each printing one JSON line with its count.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

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

/// What a receiver saw: every sequence number, as runs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Received {
    pub received: u64,
    /// Maximal runs `[first, last]` of sequence numbers received.
    pub runs: Vec<(u64, u64)>,
    pub duplicates: u64,
}

impl Received {
    /// The sequence numbers below `sent` never received, as runs.
    pub fn missing(&self, sent: u64) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        let mut next = 0;
        for &(a, b) in &self.runs {
            if a > next && next < sent {
                out.push((next, a.min(sent) - 1));
            }
            next = next.max(b + 1);
        }
        if next < sent {
            out.push((next, sent - 1));
        }
        out
    }
}

/// Receives datagrams on `port` until `duration` has passed, noting each
/// one's sequence number; calls `bound` once the socket listens.
pub fn recv(
    port: u16,
    v6: bool,
    duration: Duration,
    bound: impl FnOnce(),
) -> std::io::Result<Received> {
    let bind = if v6 { "[::]" } else { "0.0.0.0" };
    let socket = UdpSocket::bind(format!("{bind}:{port}"))?;
    bound();
    let deadline = Instant::now() + duration;
    let mut seen: Vec<u64> = Vec::new(); // a bitmap of sequence numbers
    let mut out = Received::default();
    let mut buf = [0u8; 2048];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        socket.set_read_timeout(Some(left.min(Duration::from_millis(200))))?;
        let Ok(n) = socket.recv(&mut buf) else {
            continue;
        };
        out.received += 1;
        let Some(seq) = buf
            .get(..8)
            .filter(|_| n >= 8)
            .map(|b| u64::from_be_bytes(b.try_into().expect("8 bytes")))
        else {
            continue;
        };
        let (word, bit) = ((seq / 64) as usize, seq % 64);
        if word >= MAX_WORDS {
            continue;
        }
        if word >= seen.len() {
            seen.resize(word + 1, 0);
        }
        if seen[word] & (1 << bit) != 0 {
            out.duplicates += 1;
        }
        seen[word] |= 1 << bit;
    }
    let mut run: Option<(u64, u64)> = None;
    for (w, bits) in seen.iter().enumerate() {
        for bit in 0..64 {
            let seq = w as u64 * 64 + bit;
            if bits & (1 << bit) == 0 {
                out.runs.extend(run.take());
            } else {
                run = Some(run.map_or((seq, seq), |(a, _)| (a, seq)));
            }
        }
    }
    out.runs.extend(run);
    Ok(out)
}

/// Sequence numbers beyond this (64 M) are counted, not tracked.
const MAX_WORDS: usize = 1 << 20;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_sequence_numbers_are_the_gaps_between_runs() {
        let r = Received {
            received: 7,
            runs: vec![(2, 4), (7, 8), (10, 11)],
            duplicates: 0,
        };
        assert_eq!(r.missing(14), [(0, 1), (5, 6), (9, 9), (12, 13)]);
        assert_eq!(r.missing(11), [(0, 1), (5, 6), (9, 9)]);
    }

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
        let got = rx.join().unwrap().unwrap();
        assert_eq!(got.received, 100);
        assert_eq!(got.runs, [(0, 99)]);
        assert_eq!(got.missing(100), []);
    }
}
