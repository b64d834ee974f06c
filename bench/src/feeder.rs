//! The feeder: a minimal BGP speaker that connects to the receiver, agrees
//! on a session, writes a pre-encoded table as fast as the socket takes it,
//! ends it with End-of-RIB and then only keeps the session up.
//!
//! It runs as `fulltable feed ...` inside its own namespace and reports on
//! stdout, one line per milestone, with wall-clock times the orchestrator
//! (outside the namespace, same clock) compares with its own:
//!
//! ```text
//! established unix_ns=<t>      OPEN and KEEPALIVE exchanged both ways
//! sent unix_ns=<t> bytes=<n>   every UPDATE and End-of-RIB handed to the kernel
//! withdrawing unix_ns=<t>      (with --then) the flag file appeared
//! withdrawn unix_ns=<t>        (with --then) the second stream handed to the kernel
//! ```

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sluice_wire::iana::{AFI_IPV4, AFI_IPV6, MAX_MESSAGE, SAFI_UNICAST};
use sluice_wire::open::{Capabilities, Open};
use sluice_wire::{Afi, Message, encode, frame};

/// Hold time we offer; receivers pick the smaller of theirs and this.
const HOLD_TIME: u16 = 180;
/// KEEPALIVE interval once the table is sent (below a third of any hold time a receiver may pick).
const KEEPALIVE_EVERY: Duration = Duration::from_secs(10);

#[derive(Debug)]
pub struct FeedArgs {
    pub stream: std::path::PathBuf,
    pub connect: IpAddr,
    pub asn: u32,
    pub router_id: Ipv4Addr,
    /// Once this flag file exists, send the second stream (the table's
    /// withdrawal).
    pub then: Option<(std::path::PathBuf, std::path::PathBuf)>,
}

pub fn unix_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

pub fn run(args: &FeedArgs) -> Result<(), String> {
    let updates = std::fs::read(&args.stream)
        .map_err(|e| format!("cannot read {}: {e}", args.stream.display()))?;
    let mut sock = connect(SocketAddr::new(args.connect, 179))?;
    let open = Open {
        asn: args.asn,
        hold_time: HOLD_TIME,
        router_id: args.router_id,
        caps: Capabilities {
            multiprotocol: vec![(AFI_IPV4, SAFI_UNICAST), (AFI_IPV6, SAFI_UNICAST)],
            route_refresh: true,
            four_octet_as: Some(args.asn),
            // No extended messages: every UPDATE fits 4096 octets, which all receivers take.
            extended_message: false,
            ..Capabilities::default()
        },
    };
    let io = |e: std::io::Error| format!("session: {e}");
    sock.write_all(&encode::open(&open)).map_err(io)?;
    let mut reader = Reader {
        sock: sock.try_clone().map_err(io)?,
        buf: Vec::new(),
    };
    match reader.next()? {
        Got::Open(peer) => println!(
            "peer OPEN: AS{} id {} hold {} families {:?}",
            peer.asn, peer.router_id, peer.hold_time, peer.caps.multiprotocol
        ),
        other => return Err(format!("expected OPEN, got {other:?}")),
    }
    sock.write_all(&encode::keepalive()).map_err(io)?;
    loop {
        match reader.next()? {
            Got::Keepalive => break,
            Got::Other(kind) => println!("ignoring message type {kind} before KEEPALIVE"),
            other => return Err(format!("expected KEEPALIVE, got {other:?}")),
        }
    }
    println!("established unix_ns={}", unix_ns());
    // From here the receiver's messages (KEEPALIVEs, its End-of-RIB) are
    // read and dropped on a thread; a NOTIFICATION or a close ends the feeder.
    std::thread::spawn(move || {
        loop {
            match reader.next() {
                Ok(Got::Notification(code, sub)) => {
                    println!("received NOTIFICATION {code}/{sub}");
                    std::process::exit(3);
                }
                Ok(_) => {}
                Err(e) => {
                    println!("{e}");
                    std::process::exit(3);
                }
            }
        }
    });
    let started = Instant::now();
    sock.write_all(&updates).map_err(io)?;
    for afi in [Afi::Ipv4, Afi::Ipv6] {
        sock.write_all(&encode::end_of_rib(afi)).map_err(io)?;
    }
    println!(
        "sent unix_ns={} bytes={} write_seconds={:.3}",
        unix_ns(),
        updates.len(),
        started.elapsed().as_secs_f64()
    );
    drop(updates);
    if let Some((flag, stream)) = &args.then {
        let next =
            std::fs::read(stream).map_err(|e| format!("cannot read {}: {e}", stream.display()))?;
        while !flag.exists() {
            std::thread::sleep(Duration::from_millis(5));
        }
        println!("withdrawing unix_ns={}", unix_ns());
        sock.write_all(&next).map_err(io)?;
        println!("withdrawn unix_ns={} bytes={}", unix_ns(), next.len());
    }
    loop {
        std::thread::sleep(KEEPALIVE_EVERY);
        sock.write_all(&encode::keepalive()).map_err(io)?;
    }
}

/// Connects, retrying for a while: the receiver may still be binding its port.
fn connect(addr: SocketAddr) -> Result<TcpStream, String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match TcpStream::connect_timeout(&addr, Duration::from_secs(3)) {
            Ok(s) => return Ok(s),
            Err(e) if Instant::now() >= deadline => return Err(format!("connect {addr}: {e}")),
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

#[derive(Debug)]
enum Got {
    Open(Open),
    Keepalive,
    Notification(u8, u8),
    Other(u8),
}

struct Reader {
    sock: TcpStream,
    buf: Vec<u8>,
}

impl Reader {
    fn next(&mut self) -> Result<Got, String> {
        loop {
            let len = frame(&self.buf, MAX_MESSAGE).map_err(|n| format!("bad message: {n}"))?;
            if let Some(len) = len {
                let msg: Vec<u8> = self.buf.drain(..len).collect();
                return Ok(match Message::decode(&msg) {
                    Ok(Message::Open(o)) => Got::Open(o),
                    Ok(Message::Keepalive) => Got::Keepalive,
                    Ok(Message::Notification(_)) => Got::Notification(msg[19], msg[20]),
                    _ => Got::Other(msg[18]),
                });
            }
            let mut chunk = [0u8; 8192];
            let n = self
                .sock
                .read(&mut chunk)
                .map_err(|e| format!("reading: {e}"))?;
            if n == 0 {
                return Err("connection closed by the receiver".into());
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}
