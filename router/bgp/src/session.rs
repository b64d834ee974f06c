//! The task of one configured peer: connect (or wait to be connected),
//! exchange OPENs, resolve collisions (RFC 4271 §6.8), then carry UPDATEs
//! both ways until the session ends, and start over after the retry time.
//!
//! ```text
//!  connect / incoming ─► handshake (OPEN, KEEPALIVE) ─► established ─► Down
//!          ▲                                                            │
//!          └──────────────────── connect-retry ◄───────────────────────┘
//! ```
//!
//! Received UPDATEs are parsed here (RFC 7606 verdicts included) and sent
//! to the route owner as [`Event::Routes`]; what to send comes back as
//! [`Command::Send`]. The event channel is bounded: a slow route owner
//! slows the reading of the socket, and TCP slows the peer.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use sluice_wire::iana::err;
use sluice_wire::update::{Attrs, Ctx, Problem, Verdict};
use sluice_wire::{Afi, Message, Notify, Prefix, encode, nlri};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep, sleep_until, timeout};

use crate::conn::{Conn, ReadError};
use crate::jitter::jittered;
use crate::limits::{Limits, LogBudget};
use crate::negotiate::{Local, Negotiated};
use crate::sockopt;
use crate::writer::{self, Out, Writer};

pub const PORT: u16 = 179;

/// UPDATEs per batch sent to the route owner: bounds the latency of the
/// first routes and the memory a batch holds.
const MAX_BATCH: usize = 256;

impl Settings {
    /// Whether `other` describes the same session (a reload need not restart it).
    pub fn same_session(&self, other: &Settings) -> bool {
        (
            self.address,
            self.port,
            &self.local,
            self.ebgp,
            self.passive,
            &self.md5,
            self.ttl,
            self.min_ttl,
        ) == (
            other.address,
            other.port,
            &other.local,
            other.ebgp,
            other.passive,
            &other.md5,
            other.ttl,
            other.min_ttl,
        )
    }
}

/// How to reach and talk to one peer.
#[derive(Clone, Debug)]
pub struct Settings {
    pub name: String,
    pub address: IpAddr,
    pub port: u16,
    pub local: Local,
    pub ebgp: bool,
    pub passive: bool,
    pub md5: Option<Vec<u8>>,
    /// TTL of our packets.
    pub ttl: u8,
    /// GTSM: the lowest TTL accepted.
    pub min_ttl: Option<u8>,
    pub connect_retry: Duration,
    /// The send hold time (RFC 9687); None: the RFC's default. Never
    /// below twice the negotiated hold time.
    pub send_hold: Option<Duration>,
    /// Paths over these are treated as withdrawn.
    pub limits: Limits,
}

/// Routes of one UPDATE for one family, with the attributes as received.
#[derive(Clone, Debug, Default)]
pub struct Routes {
    pub afi: Option<Afi>,
    pub announce: Vec<Prefix>,
    pub withdraw: Vec<Prefix>,
    /// The whole UPDATE, for the route owner to build attributes from.
    pub update: Vec<u8>,
    pub problems: Vec<Problem>,
}

#[derive(Debug)]
pub enum Event {
    Up {
        negotiated: Negotiated,
        local: IpAddr,
    },
    /// The routes of consecutive UPDATEs, in order (one event per read, not per UPDATE).
    Routes(Vec<Routes>),
    EndOfRib(Afi),
    RouteRefresh(Afi),
    /// `graceful`: the session ended without a NOTIFICATION either way, so a
    /// graceful-restart helper keeps the peer's routes (RFC 4724 §4.2).
    Down {
        reason: String,
        graceful: bool,
    },
}

#[derive(Debug)]
pub enum Command {
    Send(Vec<Vec<u8>>),
    /// Close the session: with a Cease NOTIFICATION carrying an RFC 9003
    /// message, or silently (`None`) so that the peer keeps our routes.
    Stop(Option<String>),
    /// Close with this NOTIFICATION and stay down for `hold_off` (max-prefix).
    Reset {
        code: u8,
        subcode: u8,
        hold_off: Duration,
    },
}

/// The running task of a peer.
#[derive(Debug)]
pub struct Handle {
    /// Messages to send ([`Command::Send`]): bounded, so a peer that
    /// reads slowly fills it (see [`Handle::send`]).
    pub commands: mpsc::Sender<Command>,
    /// Stop and Reset: never held up behind messages.
    pub control: mpsc::Sender<Command>,
    pub incoming: mpsc::Sender<TcpStream>,
    pub task: JoinHandle<()>,
}

impl Handle {
    /// Queues messages; false if the queue is full (the caller keeps what
    /// it owes the peer and tries again once [`Handle::has_room`]).
    pub fn send(&self, msgs: Vec<Vec<u8>>) -> bool {
        self.commands.try_send(Command::Send(msgs)).is_ok()
    }

    pub fn has_room(&self) -> bool {
        self.commands.capacity() > 0
    }

    /// Stop or Reset. The control queue is only ever a few deep; a full
    /// one already holds a stop, which ends the session anyway.
    pub fn control(&self, command: Command) {
        if let Err(e) = self.control.try_send(command) {
            tracing::warn!("session control queue: {e}");
        }
    }
}

/// Starts the peer task. Events carry `id` so one channel serves all peers.
pub fn spawn(id: usize, settings: Settings, events: mpsc::Sender<(usize, Event)>) -> Handle {
    let (commands, cmd_rx) = mpsc::channel(64);
    let (control, control_rx) = mpsc::channel(8);
    let (incoming, in_rx) = mpsc::channel(4);
    let task = tokio::spawn(run(id, settings, events, cmd_rx, control_rx, in_rx));
    Handle {
        commands,
        control,
        incoming,
        task,
    }
}

struct Peer {
    /// Routes of UPDATEs read but not yet sent to the route owner.
    batch: Vec<Routes>,
    /// Logging about bad input from this peer, rate-limited.
    log_budget: LogBudget,
    id: usize,
    s: Settings,
    events: mpsc::Sender<(usize, Event)>,
    commands: mpsc::Receiver<Command>,
    control: mpsc::Receiver<Command>,
    incoming: mpsc::Receiver<TcpStream>,
}

/// How a session (or an attempt) ended.
enum End {
    /// Stop command: the task ends.
    Stopped,
    /// Try again after the retry time.
    Retry,
    /// Try again after this long.
    HoldOff(Duration),
}

async fn run(
    id: usize,
    s: Settings,
    events: mpsc::Sender<(usize, Event)>,
    commands: mpsc::Receiver<Command>,
    control: mpsc::Receiver<Command>,
    incoming: mpsc::Receiver<TcpStream>,
) {
    let mut peer = Peer {
        batch: Vec::new(),
        log_budget: LogBudget::default(),
        id,
        s,
        events,
        commands,
        control,
        incoming,
    };
    // A short first delay lets a peer that connects at once win without a collision.
    let mut next_connect = Instant::now() + Duration::from_millis(500);
    loop {
        // (the connection, whether we opened it)
        let conn = tokio::select! {
            Some(stream) = peer.incoming.recv() => Some((stream, false)),
            _ = sleep_until(next_connect), if !peer.s.passive => match peer.connect().await {
                Ok(stream) => Some((stream, true)),
                Err(e) => {
                    tracing::debug!(peer = %peer.s.name, error = %e, "connect failed");
                    None
                }
            },
            cmd = peer.control.recv() => match cmd {
                None | Some(Command::Stop(_)) => return,
                Some(Command::Send(_) | Command::Reset { .. }) => None,
            },
            // Nothing to send to while down.
            Some(_) = peer.commands.recv() => None,
        };
        let mut wait = jittered(peer.s.connect_retry);
        if let Some((stream, outgoing)) = conn {
            match peer.session(stream, outgoing).await {
                End::Stopped => return,
                End::Retry => {}
                End::HoldOff(d) => wait = d,
            }
        }
        next_connect = Instant::now() + wait;
    }
}

impl Peer {
    async fn connect(&self) -> std::io::Result<TcpStream> {
        let addr = SocketAddr::new(self.s.address, self.s.port);
        let socket = if addr.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        self.prepare(&socket)?;
        timeout(Duration::from_secs(5), socket.connect(addr))
            .await
            .map_err(|_| std::io::ErrorKind::TimedOut)?
    }

    fn prepare(
        &self,
        socket: &(impl std::os::fd::AsRawFd + std::os::fd::AsFd),
    ) -> std::io::Result<()> {
        if let Some(key) = &self.s.md5 {
            sockopt::set_md5(socket, self.s.address, key)?;
        }
        sockopt::set_ttl(socket, self.s.address, self.s.ttl)?;
        if let Some(min) = self.s.min_ttl {
            sockopt::set_min_ttl(socket, self.s.address, min)?;
        }
        Ok(())
    }

    async fn emit(&mut self, event: Event) {
        self.flush().await;
        let _ = self.events.send((self.id, event)).await;
    }

    /// Sends the routes read so far.
    async fn flush(&mut self) {
        if !self.batch.is_empty() {
            let batch = std::mem::take(&mut self.batch);
            let _ = self.events.send((self.id, Event::Routes(batch))).await;
        }
    }

    /// Runs one connection from OPEN to its end.
    async fn session(&mut self, stream: TcpStream, outgoing: bool) -> End {
        let _ = self.prepare(&stream);
        let local = stream
            .local_addr()
            .map(|a| a.ip())
            .unwrap_or(IpAddr::from([0, 0, 0, 0]));
        let mut conn = Conn::new(stream);
        let negotiated = match self.handshake(&mut conn, outgoing).await {
            Ok(n) => n,
            Err(reason) => {
                self.emit(Event::Down {
                    reason,
                    graceful: false,
                })
                .await;
                return End::Retry;
            }
        };
        conn.max_message = negotiated.max_message();
        tracing::info!(peer = %self.s.name, asn = negotiated.peer_asn, hold = negotiated.hold_time, "session established");
        self.emit(Event::Up {
            negotiated: negotiated.clone(),
            local: canonical(local),
        })
        .await;
        let (end, reason, graceful) = self.established(conn, &negotiated).await;
        tracing::info!(peer = %self.s.name, %reason, "session down");
        self.emit(Event::Down { reason, graceful }).await;
        end
    }

    /// OpenSent and OpenConfirm: our OPEN, theirs, checks, KEEPALIVEs.
    /// `outgoing`: we opened `conn`.
    async fn handshake(&mut self, conn: &mut Conn, outgoing: bool) -> Result<Negotiated, String> {
        let open = encode::open(&self.s.local.open());
        conn.send(&open)
            .await
            .map_err(|e| format!("sending OPEN: {e}"))?;
        // RFC 4271 §8.2.2: a large hold time while waiting for the OPEN.
        let deadline = Instant::now() + Duration::from_secs(30);
        let first = loop {
            tokio::select! {
                r = conn.read_owned() => break r,
                // The peer connected too, and may be waiting for our OPEN
                // on its connection as we wait for its OPEN on ours: left
                // queued, both would wait out the 30 s, and again after
                // retrying in step. Its OPEN on the new connection names
                // its id, and RFC 4271 §6.8 decides now: the connection
                // opened by the higher id survives.
                Some(other) = self.incoming.recv(), if outgoing => {
                    if let Some(theirs) = self.collide_in_open_sent(conn, other, &open).await {
                        break Ok(theirs);
                    }
                }
                _ = sleep_until(deadline) => return Err("no OPEN within 30 s".into()),
            }
        };
        let negotiated = match first {
            Ok(m) => match Message::decode(&m) {
                Ok(Message::Open(o)) => self.s.local.accept(&o),
                Ok(Message::Notification(n)) => return Err(format!("received NOTIFICATION: {n}")),
                Ok(_) => Err(Notify::new(err::FSM, 1, [])),
                Err(n) => Err(n),
            },
            Err(e) => return Err(read_error(e)),
        };
        let negotiated = match negotiated {
            Ok(n) => n,
            Err(n) => {
                conn.notify_and_close(&n).await;
                return Err(format!("sent NOTIFICATION: {n}"));
            }
        };
        conn.send(&encode::keepalive())
            .await
            .map_err(|e| format!("sending KEEPALIVE: {e}"))?;
        // OpenConfirm: a KEEPALIVE confirms; meanwhile a second connection may collide.
        let hold = negotiated.hold().unwrap_or(Duration::from_secs(240));
        let deadline = Instant::now() + hold;
        loop {
            tokio::select! {
                r = conn.read_owned() => {
                    let m = r.map_err(read_error)?;
                    match Message::decode(&m) {
                        Ok(Message::Keepalive) => return Ok(negotiated),
                        Ok(Message::Notification(n)) => return Err(format!("received NOTIFICATION: {n}")),
                        _ => return Err("unexpected message in OpenConfirm".into()),
                    }
                }
                Some(other) = self.incoming.recv() => {
                    if self.ours_survives(negotiated.peer_router_id) {
                        Conn::new(other).notify_and_close(&collision()).await;
                    } else {
                        let mut old = std::mem::replace(conn, Conn::new(other));
                        old.notify_and_close(&collision()).await;
                        let _ = self.prepare(&conn.stream);
                        return Box::pin(self.handshake(conn, false)).await;
                    }
                }
                _ = sleep_until(deadline) => return Err("hold timer expired in OpenConfirm".into()),
            }
        }
    }

    /// RFC 4271 §6.8: of two connections between us and the peer, the one
    /// opened by the speaker with the higher BGP id survives.
    fn ours_survives(&self, peer_router_id: std::net::Ipv4Addr) -> bool {
        u32::from(self.s.local.router_id) > u32::from(peer_router_id)
    }

    /// A connection from the peer while we wait in OpenSent on `ours`:
    /// reads its OPEN; if the peer's id is higher, closes `ours` (Cease,
    /// collision), makes the new one `ours`, sends it our `open` and
    /// returns the peer's OPEN; otherwise closes the new one. A new
    /// connection without an OPEN within 5 s is dropped.
    async fn collide_in_open_sent(
        &mut self,
        ours: &mut Conn,
        other: TcpStream,
        open: &[u8],
    ) -> Option<Vec<u8>> {
        let mut other = Conn::new(other);
        let _ = self.prepare(&other.stream);
        let theirs = match timeout(Duration::from_secs(5), other.read_owned()).await {
            Ok(Ok(m)) => m,
            _ => return None,
        };
        let Ok(Message::Open(o)) = Message::decode(&theirs) else {
            return None;
        };
        if self.ours_survives(o.router_id) {
            other.notify_and_close(&collision()).await;
            return None;
        }
        let mut mine = std::mem::replace(ours, other);
        mine.notify_and_close(&collision()).await;
        ours.send(open).await.ok()?;
        Some(theirs)
    }

    /// Established: UPDATEs in and the hold timer here; commands out,
    /// keepalives and the send hold timer in the writer task.
    async fn established(&mut self, conn: Conn, n: &Negotiated) -> (End, String, bool) {
        let ctx = Ctx {
            four_octet_as: n.four_octet_as,
            ebgp: self.s.ebgp,
        };
        let keepalive = n
            .keepalive_interval()
            .unwrap_or(Duration::from_secs(u64::MAX / 4));
        let hold = n.hold().unwrap_or(Duration::from_secs(u64::MAX / 4));
        let send_hold = writer::send_hold_time(self.s.send_hold, n.hold().unwrap_or_default());
        let (mut conn, w) = conn.split();
        let mut writer = writer::spawn(w, keepalive, send_hold);
        // The reader's own handle on the writer's queue: the permits it
        // reserves borrow this one, not `writer`, which closing consumes.
        let to_writer = writer.tx.clone();
        let mut hold_deadline = Instant::now() + hold;
        loop {
            // Reading first: after a long wait on the route owner, what the
            // peer sent meanwhile is read before the hold timer is looked at.
            tokio::select! {
                biased;
                r = conn.next() => {
                    let len = match r {
                        Ok(len) => len,
                        Err(ReadError::Notify(nt)) => return fail(writer, nt).await,
                        Err(e) => {
                            writer.close(None).await;
                            return (End::Retry, read_error(e), true);
                        }
                    };
                    hold_deadline = Instant::now() + hold;
                    // Handle every message already buffered, then hand the
                    // route owner one batch: one wake-up per read, not per UPDATE.
                    let mut next = Some(len);
                    while let Some(len) = next {
                        let outcome = self.received(conn.message(len), ctx).await;
                        conn.consume(len);
                        match outcome {
                            Ok(()) => {}
                            Err(Received::Notify(nt)) => return fail(writer, nt).await,
                            Err(Received::Notification(text)) => {
                                writer.close(None).await;
                                return (End::Retry, text, false);
                            }
                        }
                        next = match conn.buffered() {
                            Ok(n) if self.batch.len() < MAX_BATCH => n,
                            Ok(_) => None,
                            Err(nt) => return fail(writer, nt).await,
                        };
                    }
                    self.flush().await;
                }
                ended = &mut writer.task => {
                    let ended = ended.unwrap_or_else(|e| writer::Ended {
                        why: format!("writer failed: {e}"),
                        graceful: false,
                    });
                    return (End::Retry, ended.why, ended.graceful);
                }
                cmd = self.control.recv() => match cmd {
                    Some(Command::Stop(Some(message))) => {
                        writer.close(Some(encode::shutdown(err::CEASE_ADMIN_SHUTDOWN, &message))).await;
                        return (End::Stopped, format!("administrative shutdown: \"{message}\""), false);
                    }
                    Some(Command::Stop(None)) | None => {
                        writer.close(None).await;
                        return (End::Stopped, "stopped without NOTIFICATION".into(), true);
                    }
                    Some(Command::Reset { code, subcode, hold_off }) => {
                        let (_, reason, _) = fail(writer, Notify::new(code, subcode, [])).await;
                        return (End::HoldOff(hold_off), reason, false);
                    }
                    Some(Command::Send(msgs)) => {
                        let _ = writer.tx.send(Out::Messages(msgs)).await;
                    }
                },
                // Taken only once the writer has room (a slot is reserved
                // first, and its freeing wakes this): a peer that reads
                // slowly fills this queue, and the route owner keeps what
                // it owes the peer until there is room again.
                (permit, cmd) = async {
                    let permit = to_writer.reserve().await;
                    (permit, self.commands.recv().await)
                } => match (permit, cmd) {
                    (Ok(permit), Some(Command::Send(msgs))) => permit.send(Out::Messages(msgs)),
                    (_, Some(other)) => {
                        tracing::debug!(peer = %self.s.name, ?other, "a command the writer cannot take: ignored");
                    }
                    (_, None) => {
                        writer.close(None).await;
                        return (End::Stopped, "stopped without NOTIFICATION".into(), true);
                    }
                },
                Some(other) = self.incoming.recv() => {
                    // A new connection while established: refuse it (RFC 4271 §6.8).
                    Conn::new(other).notify_and_close(&collision()).await;
                }
                _ = sleep_until(hold_deadline) => {
                    return fail(writer, Notify::new(err::HOLD_TIMER_EXPIRED, 0, [])).await;
                }
            }
        }
    }

    /// Handles one received message in Established.
    async fn received(&mut self, m: &[u8], ctx: Ctx) -> Result<(), Received> {
        match Message::decode(m).map_err(Received::Notify)? {
            Message::Keepalive => Ok(()),
            Message::Notification(n) => Err(Received::Notification(format!(
                "received NOTIFICATION: {n}"
            ))),
            Message::RouteRefresh { afi, .. } => {
                if let Some(afi) = Afi::from_code(afi) {
                    self.emit(Event::RouteRefresh(afi)).await;
                }
                Ok(())
            }
            Message::Open(_) => Err(Received::Notify(Notify::new(err::FSM, 3, []))),
            Message::Update(u) => {
                if u.is_end_of_rib_ipv4() {
                    self.emit(Event::EndOfRib(Afi::Ipv4)).await;
                    return Ok(());
                }
                let (attrs, mut verdict) = Attrs::parse(&u, ctx).map_err(Received::Notify)?;
                let over = (verdict == Verdict::Use)
                    .then(|| self.s.limits.exceeded(&attrs, ctx.four_octet_as))
                    .flatten();
                if over.is_some() {
                    verdict = Verdict::TreatAsWithdraw;
                }
                if (over.is_some() || !attrs.problems.is_empty())
                    && let Some(held) = self.log_budget.allow(std::time::Instant::now())
                {
                    let held = if held > 0 {
                        format!(" ({held} more since the last message were not logged)")
                    } else {
                        String::new()
                    };
                    if let Some(why) = &over {
                        tracing::warn!(peer = %self.s.name, "routes treated as withdrawn: {why}{held}");
                    }
                    for p in &attrs.problems {
                        tracing::warn!(peer = %self.s.name, attribute = p.code, discarded = p.discarded, why = p.why, "malformed attribute (RFC 7606){held}");
                    }
                }
                let use_it = verdict == Verdict::Use;
                // Classic IPv4 fields.
                let mut v4 = Routes {
                    afi: Some(Afi::Ipv4),
                    withdraw: u.withdrawn().collect(),
                    ..Default::default()
                };
                if use_it {
                    v4.announce = u.announced().collect();
                } else {
                    v4.withdraw.extend(u.announced());
                }
                // MP_REACH / MP_UNREACH, per family.
                let mut mp: Option<Routes> = None;
                if let Some(r) = attrs.mp_reach {
                    let routes = mp.get_or_insert_with(|| Routes {
                        afi: Some(r.afi),
                        ..Default::default()
                    });
                    let list = nlri::Prefixes::new(r.afi, r.nlri);
                    if use_it {
                        routes.announce.extend(list)
                    } else {
                        routes.withdraw.extend(list)
                    }
                }
                if let Some(w) = attrs.mp_unreach {
                    if w.withdrawn.is_empty()
                        && attrs.mp_reach.is_none()
                        && u.nlri.is_empty()
                        && u.withdrawn.is_empty()
                    {
                        self.emit(Event::EndOfRib(w.afi)).await;
                        return Ok(());
                    }
                    if mp.as_ref().is_some_and(|m| m.afi != Some(w.afi)) {
                        // Both families in one UPDATE: send the reach part first.
                        let reach = mp.take().expect("checked");
                        self.batch.push(Routes {
                            update: m.to_vec(),
                            problems: attrs.problems.clone(),
                            ..reach
                        });
                    }
                    let routes = mp.get_or_insert_with(|| Routes {
                        afi: Some(w.afi),
                        ..Default::default()
                    });
                    routes
                        .withdraw
                        .extend(nlri::Prefixes::new(w.afi, w.withdrawn));
                }
                for mut r in [Some(v4), mp].into_iter().flatten() {
                    if r.announce.is_empty() && r.withdraw.is_empty() {
                        continue;
                    }
                    if !r.announce.is_empty() {
                        r.update = m.to_vec();
                    }
                    r.problems.clone_from(&attrs.problems);
                    self.batch.push(r);
                }
                Ok(())
            }
        }
    }
}

enum Received {
    Notify(Notify),
    Notification(String),
}

/// Cease, connection collision resolution: what the losing connection of
/// two gets (RFC 4271 §6.8).
fn collision() -> Notify {
    Notify::new(err::CEASE, err::CEASE_COLLISION, [])
}

/// Closes an established session with NOTIFICATION `n`.
async fn fail(writer: Writer, n: Notify) -> (End, String, bool) {
    writer
        .close(Some(encode::notification(n.code, n.subcode, &n.data)))
        .await;
    (End::Retry, format!("sent NOTIFICATION: {n}"), false)
}

fn read_error(e: ReadError) -> String {
    match e {
        ReadError::Io(e) => format!("connection error: {e}"),
        ReadError::Closed => "connection closed by the peer".into(),
        ReadError::Notify(n) => format!("bad message: {n}"),
    }
}

/// IPv4-mapped IPv6 addresses as plain IPv4.
pub fn canonical(a: IpAddr) -> IpAddr {
    match a {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(a, IpAddr::V4),
        v4 => v4,
    }
}

/// Accepts BGP connections and hands each to its peer's task by address.
pub async fn listen(
    listener: std::sync::Arc<tokio::net::TcpListener>,
    route: impl Fn(IpAddr) -> Option<mpsc::Sender<TcpStream>>,
) {
    loop {
        let Ok((stream, from)) = listener.accept().await else {
            sleep(Duration::from_millis(50)).await;
            continue;
        };
        match route(canonical(from.ip())) {
            Some(tx) => {
                let _ = tx.try_send(stream);
            }
            None => {
                tracing::info!(from = %from.ip(), "refusing BGP connection from an unconfigured address")
            }
        }
    }
}

#[cfg(test)]
mod tests;
