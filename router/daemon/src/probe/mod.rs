//! Health probes: ICMP echo requests out of each uplink's own interface,
//! addressed to its next hop's MAC and sent from the interface's address,
//! so a probe tests that access point and no other whatever the FIB says
//! (an AF_PACKET socket bypasses it). Replies come back on raw ICMP
//! sockets, on whichever interface, and are matched by id and sequence.
//!
//! The core keeps the [`Spec`]s current (interfaces and neighbours come
//! and go); this task only sends, listens and reports each probe's
//! [`Outcome`]. What an outcome means for the uplink is the state
//! machine's business (`crate::uplinks`).

mod packet;
mod sys;

use std::collections::HashMap;
use std::io::Read;
use std::net::{IpAddr, Ipv6Addr};
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::unix::AsyncFd;
use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, sleep_until};

use packet::Echo;
use sys::PacketSocket;

/// One probe as it can be sent now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Spec {
    pub uplink: usize,
    pub probe: usize,
    pub target: IpAddr,
    pub interval: Duration,
    /// The uplink's interface and its MAC, once the kernel reported it.
    pub port: Option<(u32, [u8; 6])>,
    /// The interface's address of the target's family.
    pub src: Option<IpAddr>,
    /// The uplink's next hop's MAC, once resolved.
    pub dst_mac: Option<[u8; 6]>,
}

/// A probe answered after `rtt_us`, or (None) was lost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub uplink: usize,
    pub probe: usize,
    pub rtt_us: Option<u32>,
}

/// Starts the probe task; the core sends it the probes to run.
pub fn spawn(outcomes: mpsc::Sender<Outcome>) -> watch::Sender<Vec<Spec>> {
    let (tx, rx) = watch::channel(Vec::new());
    tokio::spawn(run(rx, outcomes));
    tx
}

/// A probe's schedule and the request in flight.
#[derive(Debug)]
struct Running {
    spec: Spec,
    id: u16,
    seq: u16,
    next: Instant,
    /// Sequence, sent at, lost at.
    pending: Option<(u16, Instant, Instant)>,
}

/// Raw sockets that see every echo reply of one family.
#[derive(Debug)]
struct Listeners {
    v4: Option<AsyncFd<Socket>>,
    v6: Option<AsyncFd<Socket>>,
}

fn listener(domain: Domain, protocol: Protocol) -> Option<AsyncFd<Socket>> {
    let s = Socket::new(domain, Type::RAW, Some(protocol)).ok()?;
    s.set_nonblocking(true).ok()?;
    // `new` is deprecated for fds that might close while registered; this
    // one is owned by the AsyncFd itself (`register` would need unsafe).
    #[allow(deprecated)]
    AsyncFd::new(s).ok()
}

async fn readable(fd: &Option<AsyncFd<Socket>>) -> Option<&AsyncFd<Socket>> {
    match fd {
        Some(fd) => {
            let mut guard = fd.readable().await.ok()?;
            guard.clear_ready();
            Some(fd)
        }
        None => std::future::pending().await,
    }
}

async fn run(mut specs: watch::Receiver<Vec<Spec>>, outcomes: mpsc::Sender<Outcome>) {
    let sender = match PacketSocket::new() {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!("probes cannot be sent (AF_PACKET: {e}); every probe counts as lost");
            None
        }
    };
    let mut listen = Listeners { v4: None, v6: None };
    // Ids distinguish our probes from anyone else's pings.
    let base = (std::process::id() as u16).wrapping_mul(0x9e37);
    let mut running: HashMap<(usize, usize), Running> = HashMap::new();
    let mut buf = vec![0u8; 2048];
    loop {
        let wake = running
            .values()
            .map(|r| r.pending.map_or(r.next, |(_, _, lost)| lost.min(r.next)))
            .min()
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
        tokio::select! {
            changed = specs.changed() => {
                if changed.is_err() {
                    return;
                }
                let now = Instant::now();
                let new = specs.borrow_and_update().clone();
                running.retain(|k, _| new.iter().any(|s| (s.uplink, s.probe) == *k));
                for spec in new {
                    let key = (spec.uplink, spec.probe);
                    let id = base.wrapping_add((spec.uplink as u16) << 4 | spec.probe as u16);
                    running
                        .entry(key)
                        .and_modify(|r| r.spec = spec.clone())
                        .or_insert(Running { spec, id, seq: 0, next: now, pending: None });
                }
                if listen.v4.is_none() && running.values().any(|r| r.spec.target.is_ipv4()) {
                    listen.v4 = listener(Domain::IPV4, Protocol::ICMPV4);
                }
                if listen.v6.is_none() && running.values().any(|r| r.spec.target.is_ipv6()) {
                    listen.v6 = listener(Domain::IPV6, Protocol::ICMPV6);
                }
            }
            Some(fd) = readable(&listen.v4) => {
                while let Ok(n) = fd.get_ref().read(&mut buf) {
                    if let Some((src, id, seq)) = packet::reply_v4(&buf[..n]) {
                        answered(&mut running, IpAddr::V4(src), id, seq, &outcomes).await;
                    }
                }
            }
            Some(fd) = readable(&listen.v6) => {
                while let Ok(n) = fd.get_ref().read(&mut buf) {
                    if let Some((id, seq)) = packet::reply_v6(&buf[..n]) {
                        answered(&mut running, IpAddr::V6(Ipv6Addr::UNSPECIFIED), id, seq, &outcomes).await;
                    }
                }
            }
            _ = sleep_until(wake) => {
                let now = Instant::now();
                for r in running.values_mut() {
                    if let Some((_, _, lost)) = r.pending
                        && lost <= now
                    {
                        r.pending = None;
                        report(&outcomes, &r.spec, None).await;
                    }
                    if r.next <= now {
                        r.next = now + r.spec.interval;
                        r.seq = r.seq.wrapping_add(1);
                        let sent = send(sender.as_ref(), r);
                        match sent {
                            Ok(()) => r.pending = Some((r.seq, now, now + r.spec.interval)),
                            Err(why) => {
                                tracing::debug!(uplink = r.spec.uplink, target = %r.spec.target, "probe not sent: {why}");
                                report(&outcomes, &r.spec, None).await;
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Sends `r`'s next request, or says why it cannot.
fn send(sender: Option<&PacketSocket>, r: &Running) -> Result<(), String> {
    let sender = sender.ok_or("no AF_PACKET socket")?;
    let (ifindex, src_mac) = r.spec.port.ok_or("the interface does not exist")?;
    let src = r
        .spec
        .src
        .ok_or("the interface has no address of the target's family")?;
    let dst_mac = r.spec.dst_mac.ok_or("the next hop's MAC is not known")?;
    let frame = packet::frame(&Echo {
        src_mac,
        dst_mac,
        src,
        dst: r.spec.target,
        id: r.id,
        seq: r.seq,
    })
    .ok_or("address families differ")?;
    sender.send(ifindex, &frame).map_err(|e| e.to_string())
}

/// A reply: the probe with that id whose request has that sequence (and,
/// for IPv4, came from its target) was answered.
async fn answered(
    running: &mut HashMap<(usize, usize), Running>,
    src: IpAddr,
    id: u16,
    seq: u16,
    outcomes: &mpsc::Sender<Outcome>,
) {
    let Some(r) = running.values_mut().find(|r| {
        r.id == id
            && r.pending.is_some_and(|(s, _, _)| s == seq)
            && (src.is_unspecified() || src == r.spec.target)
    }) else {
        return;
    };
    let (_, sent, _) = r.pending.take().expect("matched on it");
    let rtt = u32::try_from(sent.elapsed().as_micros()).unwrap_or(u32::MAX);
    report(outcomes, &r.spec, Some(rtt)).await;
}

async fn report(outcomes: &mpsc::Sender<Outcome>, spec: &Spec, rtt_us: Option<u32>) {
    let _ = outcomes
        .send(Outcome {
            uplink: spec.uplink,
            probe: spec.probe,
            rtt_us,
        })
        .await;
}
