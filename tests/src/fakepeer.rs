//! A hand-driven BGP speaker for end-to-end tests: a blocking TCP
//! connection made inside a test node's namespace, over which a test sends
//! exactly the bytes it wants (malformed ones included) and sees exactly
//! what the other side sends back.
//!
//! [`FakePeer::connect`] opens the connection, exchanges OPENs and
//! KEEPALIVEs, then starts two threads: one records every message received
//! (and how the connection ended), one sends a KEEPALIVE every few seconds
//! so that the session outlives the test's pauses. [`FakePeer::stop_reading`]
//! makes it a peer whose TCP window stays shut.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use sluice_wire::iana::{AFI_IPV4, AFI_IPV6, SAFI_UNICAST, attr};
use sluice_wire::open::{Capabilities, Open};
use sluice_wire::{Message, Prefix, encode, frame, nlri};

/// Read buffer size: the largest message (extended messages, RFC 8654).
const MAX: usize = sluice_wire::iana::MAX_EXTENDED_MESSAGE;

/// The OPEN of a plain speaker: 4-octet ASN, IPv4 and IPv6 unicast.
pub fn open(asn: u32, router_id: Ipv4Addr, hold_time: u16) -> Open {
    Open {
        asn,
        hold_time,
        router_id,
        caps: Capabilities {
            multiprotocol: vec![(AFI_IPV4, SAFI_UNICAST), (AFI_IPV6, SAFI_UNICAST)],
            four_octet_as: Some(asn),
            ..Capabilities::default()
        },
    }
}

/// Path attributes from `(flags, type, value)`, in this order, as given
/// (repeats and wrong lengths included).
pub fn attrs(list: &[(u8, u8, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (flags, code, value) in list {
        encode::attribute(&mut out, *flags, *code, value);
    }
    out
}

/// The NLRI encoding of `prefixes` ("198.51.100.0/24", "2001:db8::/32").
pub fn nlri(prefixes: &[&str]) -> Vec<u8> {
    let mut out = Vec::new();
    for p in prefixes {
        let p: Prefix = p.parse().unwrap_or_else(|e| panic!("{p}: {e}"));
        nlri::encode(&p, &mut out);
    }
    out
}

/// An MP_REACH_NLRI attribute (RFC 4760 §3) for unicast: AFI, next hop, NLRI.
pub fn mp_reach(afi: u16, next_hop: &[u8], nlri: &[u8]) -> Vec<u8> {
    let mut value = afi.to_be_bytes().to_vec();
    value.push(SAFI_UNICAST);
    value.push(next_hop.len() as u8);
    value.extend(next_hop);
    value.push(0);
    value.extend(nlri);
    let mut out = Vec::new();
    encode::attribute(&mut out, attr::FLAG_OPTIONAL, attr::MP_REACH, &value);
    out
}

/// A received NOTIFICATION, owned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notification {
    pub code: u8,
    pub subcode: u8,
    pub data: Vec<u8>,
}

#[derive(Debug, Default)]
struct Inbox {
    /// Whole messages received after the handshake, in order.
    messages: Vec<Vec<u8>>,
    /// How the connection ended, once it has.
    ended: Option<String>,
}

/// One established session, driven by hand.
#[derive(Debug)]
pub struct FakePeer {
    writer: Arc<Mutex<TcpStream>>,
    inbox: Arc<Mutex<Inbox>>,
    stop: Arc<AtomicBool>,
    /// The reader takes nothing more off the socket.
    deaf: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    /// The OPEN the other side sent.
    pub their_open: Open,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Reads one whole message (header included) into a new vector.
fn read_message(stream: &mut TcpStream, buf: &mut Vec<u8>) -> io::Result<Vec<u8>> {
    loop {
        match frame(buf, MAX) {
            Ok(Some(len)) => return Ok(buf.drain(..len).collect()),
            Ok(None) => {}
            Err(n) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("bad message header: {n} ({n:?})"),
                ));
            }
        }
        let mut chunk = [0u8; 4096];
        let got = stream.read(&mut chunk)?;
        if got == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..got]);
    }
}

impl FakePeer {
    /// Connects from namespace `ns` to `to` (retrying while it refuses,
    /// up to `timeout`), sends `open`, expects an OPEN and a KEEPALIVE and
    /// answers with a KEEPALIVE: the other side is then established.
    pub fn connect(ns: &str, to: SocketAddr, open: &Open, timeout: Duration) -> FakePeer {
        let deadline = Instant::now() + timeout;
        let mut stream = crate::netns::within(ns, move || {
            loop {
                match TcpStream::connect_timeout(&to, Duration::from_secs(1)) {
                    Ok(s) => return s,
                    // Refused until the daemon listens: try again.
                    Err(_) if Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(50));
                    }
                    Err(e) => panic!("cannot connect to {to}: {e}"),
                }
            }
        });
        stream.set_nodelay(true).expect("TCP_NODELAY");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("read timeout");
        stream.write_all(&encode::open(open)).expect("send OPEN");

        let mut buf = Vec::new();
        let m = read_message(&mut stream, &mut buf).expect("an OPEN from the other side");
        let their_open = match Message::decode(&m) {
            Ok(Message::Open(o)) => o,
            other => panic!("expected an OPEN, got {other:?}"),
        };
        let m = read_message(&mut stream, &mut buf).expect("a KEEPALIVE after the OPEN");
        match Message::decode(&m) {
            Ok(Message::Keepalive) => {}
            other => panic!("expected a KEEPALIVE, got {other:?}"),
        }
        stream
            .write_all(&encode::keepalive())
            .expect("send KEEPALIVE");
        stream.set_read_timeout(None).expect("read timeout");

        let inbox = Arc::new(Mutex::new(Inbox::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let mut reader = stream.try_clone().expect("clone the stream");
        let writer = Arc::new(Mutex::new(stream));

        let rx = inbox.clone();
        let deaf = Arc::new(AtomicBool::new(false));
        let (not_reading, halt) = (deaf.clone(), stop.clone());
        let read_thread = std::thread::spawn(move || {
            let end = loop {
                while not_reading.load(Ordering::Relaxed) && !halt.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(50));
                }
                match read_message(&mut reader, &mut buf) {
                    Ok(m) => lock(&rx).messages.push(m),
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                        break "closed by the other side".to_owned();
                    }
                    Err(e) => break format!("read error: {e}"),
                }
            };
            lock(&rx).ended = Some(end);
        });

        // KEEPALIVEs at a third of the hold time, at most every 5 s.
        let every = Duration::from_secs(u64::from(open.hold_time / 3).clamp(1, 5));
        let (tx, halt) = (writer.clone(), stop.clone());
        let keepalive_thread = std::thread::spawn(move || {
            let mut next = Instant::now() + every;
            while !halt.load(Ordering::Relaxed) {
                if Instant::now() >= next {
                    if lock(&tx).write_all(&encode::keepalive()).is_err() {
                        return;
                    }
                    next = Instant::now() + every;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        });

        FakePeer {
            writer,
            inbox,
            stop,
            deaf,
            threads: vec![read_thread, keepalive_thread],
            their_open,
        }
    }

    /// Stops taking messages off the socket (after the one being read, if
    /// any): the other side's sends fill the window and then block. The
    /// peer keeps sending KEEPALIVEs.
    pub fn stop_reading(&self) {
        self.deaf.store(true, Ordering::Relaxed);
    }

    /// Takes messages off the socket again after [`Self::stop_reading`].
    pub fn resume_reading(&self) {
        self.deaf.store(false, Ordering::Relaxed);
    }

    /// The IPv4 routes the messages received so far leave this peer
    /// holding: announcements and withdrawals applied in order.
    pub fn ipv4_routes(&self) -> std::collections::BTreeSet<Prefix> {
        let mut held = std::collections::BTreeSet::new();
        for m in self.messages() {
            if let Ok(Message::Update(u)) = Message::decode(&m) {
                for p in u.withdrawn() {
                    held.remove(&p);
                }
                held.extend(u.announced());
            }
        }
        held
    }

    /// Sends raw bytes: one message, several, or a broken one.
    pub fn send(&self, bytes: &[u8]) -> io::Result<()> {
        lock(&self.writer).write_all(bytes)
    }

    /// Sends an UPDATE built from its three fields; panics if it cannot.
    pub fn update(&self, withdrawn: &[u8], attrs: &[u8], nlri: &[u8]) {
        self.send(&encode::update(withdrawn, attrs, nlri))
            .expect("send UPDATE");
    }

    /// Every message received since the handshake.
    pub fn messages(&self) -> Vec<Vec<u8>> {
        lock(&self.inbox).messages.clone()
    }

    /// The NOTIFICATIONs among them.
    pub fn notifications(&self) -> Vec<Notification> {
        self.messages()
            .iter()
            .filter_map(|m| match Message::decode(m) {
                Ok(Message::Notification(n)) => Some(Notification {
                    code: n.code,
                    subcode: n.subcode,
                    data: n.data.to_vec(),
                }),
                _ => None,
            })
            .collect()
    }

    /// How the connection ended, or `None` while it is open.
    pub fn ended(&self) -> Option<String> {
        lock(&self.inbox).ended.clone()
    }

    /// Waits for the first NOTIFICATION; panics after `timeout`.
    pub fn wait_notification(&self, timeout: Duration) -> Notification {
        let mut found = None;
        sluice_testns::wait_until(timeout, "a NOTIFICATION", || {
            found = self.notifications().into_iter().next();
            found.is_some()
        });
        found.expect("checked")
    }
}

impl Drop for FakePeer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = lock(&self.writer).shutdown(Shutdown::Both);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}
