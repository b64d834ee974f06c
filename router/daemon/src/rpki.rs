//! RPKI caches over RTR: the I/O around [`sluice_rpki::Client`].
//!
//! One task keeps a session with the most preferred cache that answers
//! (RFC 8210 §10: one at a time, the others tried in order when it fails)
//! and tells the route owner what changed, always as a difference to what
//! it told it before: deltas while one cache serves, the difference of
//! two whole sets when another takes over. When no cache has answered for
//! `stale_after`, it says so once ([`Report::Expired`]) and every route
//! becomes `unknown` until one answers again.

use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sluice_config::model::Rpki as RpkiConfig;
use sluice_control::RtrCacheView;
use sluice_rpki::client::Fault;
use sluice_rpki::pdu::{Frame, decode};
use sluice_rpki::{Client, Event, Vrp, VrpTable};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// How long a connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest wait before every cache is tried again, whatever the
/// cache's retry interval says: a cache that comes back is used soon.
const MAX_RETRY: Duration = Duration::from_secs(30);
const MIN_RETRY: Duration = Duration::from_secs(1);

/// What the task tells the route owner.
#[derive(Debug)]
pub enum Report {
    /// The cache's VRPs now, shared with the task; with the VRPs added
    /// and removed since the last report, unless `reset` (another cache,
    /// or the first report after a start or an expiry): then every route
    /// is validated again.
    Vrps {
        table: std::sync::Arc<VrpTable>,
        announced: Vec<Vrp>,
        withdrawn: Vec<Vrp>,
        reset: bool,
        /// The cache they come from.
        source: String,
    },
    /// No cache answered for `stale_after`: drop every VRP.
    Expired,
    /// The caches' sessions, for `show rpki`.
    Status(Vec<RtrCacheView>),
}

/// The running task; aborted when dropped (a reload that changes the
/// `rpki` section starts a new one).
#[derive(Debug)]
pub struct Rtr {
    task: JoinHandle<()>,
}

impl Drop for Rtr {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Cache {
    addr: SocketAddr,
    client: Client,
    view: RtrCacheView,
}

impl Cache {
    fn set_state(&mut self, state: &str) {
        self.view.state = state.into();
    }

    fn refresh_view(&mut self) {
        let c = &self.client;
        (self.view.vrps_v4, self.view.vrps_v6) = c.table().counts();
        self.view.version = c.version();
        self.view.session = c.session();
        self.view.serial = c.serial();
    }
}

/// Starts the task for `config`'s caches.
pub fn spawn(config: &RpkiConfig, tx: mpsc::Sender<Report>) -> Rtr {
    let mut caches: Vec<(u8, Cache)> = config
        .caches
        .iter()
        .map(|c| {
            let addr = SocketAddr::new(c.address.value, c.port.value);
            let cache = Cache {
                addr,
                client: Client::new(),
                view: RtrCacheView {
                    cache: addr.to_string(),
                    preference: c.preference.value,
                    state: "idle".into(),
                    version: sluice_rpki::pdu::VERSION,
                    ..RtrCacheView::default()
                },
            };
            (c.preference.value, cache)
        })
        .collect();
    // Stable: caches of equal preference in config order.
    caches.sort_by_key(|(p, _)| *p);
    let caches = caches.into_iter().map(|(_, c)| c).collect();
    let task = Task {
        caches,
        sent_from: None,
        fresh_until: None,
        stale_after: config.stale_after.0,
        tx,
    };
    Rtr {
        task: tokio::spawn(task.run()),
    }
}

struct Task {
    /// In preference order.
    caches: Vec<Cache>,
    /// The cache whose set the route owner holds.
    sent_from: Option<usize>,
    /// When the route owner's set goes stale, unless a cache answers.
    fresh_until: Option<Instant>,
    stale_after: Duration,
    tx: mpsc::Sender<Report>,
}

/// How a session ended.
enum End {
    /// Try the next cache (after a failure).
    Failed,
    /// The cache refused version 1: try it again at once with 0.
    Downgraded,
    /// The route owner is gone.
    Closed,
}

impl Task {
    async fn run(mut self) {
        // After a round of failures: 1 s, then twice as long each round up
        // to the caches' retry interval (at most MAX_RETRY), so a cache
        // that starts a moment after the daemon is found at once.
        let mut backoff = MIN_RETRY;
        loop {
            let synced_before = self.fresh_until;
            let mut i = 0;
            while i < self.caches.len() {
                match self.session(i).await {
                    End::Downgraded => continue,
                    End::Closed => return,
                    End::Failed => i += 1,
                }
            }
            // Every cache failed: wait, but not past the set's expiry.
            let ceiling = self
                .caches
                .iter()
                .map(|c| Duration::from_secs(u64::from(c.client.intervals().retry)))
                .min()
                .unwrap_or(MAX_RETRY)
                .clamp(MIN_RETRY, MAX_RETRY);
            if self.fresh_until != synced_before {
                // A cache answered in this round.
                backoff = MIN_RETRY;
            }
            let retry = backoff.min(ceiling);
            backoff = (backoff * 2).min(ceiling);
            for c in &mut self.caches {
                c.set_state("waiting");
            }
            if !self.status().await {
                return;
            }
            let wake = Instant::now() + retry;
            tokio::time::sleep_until(self.until_stale(wake).into()).await;
            if !self.expire_if_stale().await {
                return;
            }
        }
    }

    /// The earlier of `t` and the set's expiry.
    fn until_stale(&self, t: Instant) -> Instant {
        self.fresh_until.map_or(t, |f| f.min(t))
    }

    /// Reports an expired set; false if the route owner is gone.
    async fn expire_if_stale(&mut self) -> bool {
        if self.fresh_until.is_some_and(|f| Instant::now() >= f) {
            tracing::warn!(
                "RPKI: no cache answered for {:?}; every route is unknown until one does",
                self.stale_after
            );
            self.fresh_until = None;
            self.sent_from = None;
            return self.tx.send(Report::Expired).await.is_ok();
        }
        true
    }

    async fn status(&self) -> bool {
        let views = self.caches.iter().map(|c| c.view.clone()).collect();
        self.tx.send(Report::Status(views)).await.is_ok()
    }

    /// One connection to cache `i`, until it fails.
    async fn session(&mut self, i: usize) -> End {
        self.caches[i].set_state("connecting");
        if !self.status().await {
            return End::Closed;
        }
        let addr = self.caches[i].addr;
        let mut stream = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)).await
        {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return self.failed(i, format!("cannot connect: {e}")).await,
            Err(_) => return self.failed(i, "cannot connect: timed out".into()).await,
        };
        let query = self.caches[i].client.connected();
        if let Err(e) = stream.write_all(&query.encode()).await {
            return self.failed(i, format!("cannot send: {e}")).await;
        }
        let mut buf = Vec::with_capacity(64 * 1024);
        let mut refresh_at = Instant::now() + self.refresh_interval(i);
        loop {
            let stale_at = self.until_stale(refresh_at);
            let read = tokio::select! {
                r = stream.read_buf(&mut buf) => r,
                _ = tokio::time::sleep_until(stale_at.into()) => {
                    if !self.expire_if_stale().await {
                        return End::Closed;
                    }
                    if Instant::now() >= refresh_at {
                        refresh_at = Instant::now() + self.refresh_interval(i);
                        if let Some(q) = self.caches[i].client.refresh()
                            && let Err(e) = stream.write_all(&q.encode()).await
                        {
                            return self.failed(i, format!("cannot send: {e}")).await;
                        }
                    }
                    continue;
                }
            };
            match read {
                Ok(0) => {
                    return self
                        .failed(i, "the cache closed the connection".into())
                        .await;
                }
                Ok(_) => {}
                Err(e) => return self.failed(i, format!("read: {e}")).await,
            }
            loop {
                let frame = match decode(&buf) {
                    Ok(Some((frame, n))) => {
                        buf.drain(..n);
                        frame
                    }
                    Ok(None) => break,
                    Err(e) => {
                        let reply = Frame::new(
                            self.caches[i].client.version(),
                            sluice_rpki::pdu::Pdu::ErrorReport {
                                code: e.code(),
                                pdu: buf[..buf.len().min(sluice_rpki::pdu::HEADER)].to_vec(),
                                text: e.to_string(),
                            },
                        );
                        let _ = stream.write_all(&reply.encode()).await;
                        return self.failed(i, format!("bad PDU: {e}")).await;
                    }
                };
                let events = match self.caches[i].client.handle(frame) {
                    Ok(events) => events,
                    Err(fault) => return self.fault(i, &mut stream, fault).await,
                };
                for event in events {
                    match event {
                        Event::Send(f) => {
                            if let Err(e) = stream.write_all(&f.encode()).await {
                                return self.failed(i, format!("cannot send: {e}")).await;
                            }
                        }
                        Event::Update(u) => {
                            refresh_at = Instant::now() + self.refresh_interval(i);
                            if !self.synced(i, u).await {
                                return End::Closed;
                            }
                        }
                    }
                }
            }
        }
    }

    /// The cache's refresh interval, but at most half of `stale_after`: a
    /// session that is up asks again before its VRPs would go stale.
    /// StayRTR says 3600 s and the default `stale_after` is an hour, so
    /// without this every route went `unknown` for a moment each hour.
    fn refresh_interval(&self, i: usize) -> Duration {
        let cache = Duration::from_secs(u64::from(self.caches[i].client.intervals().refresh));
        cache.min(self.stale_after / 2).max(MIN_RETRY)
    }

    /// A response from cache `i` is complete: pass on what changed for
    /// the route owner.
    async fn synced(&mut self, i: usize, update: sluice_rpki::client::Update) -> bool {
        let same = self.sent_from == Some(i) && !update.reset;
        if self.sent_from != Some(i) {
            tracing::info!(cache = %self.caches[i].addr, "RPKI: validating with this cache's VRPs");
        }
        self.sent_from = Some(i);
        self.fresh_until = Some(Instant::now() + self.stale_after);
        let c = &mut self.caches[i];
        c.set_state("synced");
        c.refresh_view();
        c.view.last_error = None;
        c.view.synced_at = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .ok()
            .map(|d| d.as_secs());
        let report = if same {
            if update.announced.is_empty() && update.withdrawn.is_empty() {
                None
            } else {
                Some(Report::Vrps {
                    table: c.client.snapshot(),
                    announced: update.announced,
                    withdrawn: update.withdrawn,
                    reset: false,
                    source: c.view.cache.clone(),
                })
            }
        } else {
            // Another cache's set, or the first: validate everything anew.
            Some(Report::Vrps {
                table: c.client.snapshot(),
                announced: Vec::new(),
                withdrawn: Vec::new(),
                reset: true,
                source: c.view.cache.clone(),
            })
        };
        if let Some(r) = report
            && self.tx.send(r).await.is_err()
        {
            return false;
        }
        self.status().await
    }

    async fn fault(&mut self, i: usize, stream: &mut TcpStream, fault: Fault) -> End {
        if let Some(reply) = &fault.reply {
            let _ = stream.write_all(&reply.encode()).await;
        }
        if fault.downgrade {
            tracing::info!(cache = %self.caches[i].addr, "RPKI: the cache speaks RTR version 0 only");
            self.caches[i].client.disconnected();
            return End::Downgraded;
        }
        self.failed(i, fault.to_string()).await
    }

    async fn failed(&mut self, i: usize, why: String) -> End {
        let c = &mut self.caches[i];
        c.client.disconnected();
        if c.view.last_error.as_deref() != Some(why.as_str()) {
            tracing::warn!(cache = %c.addr, "RPKI cache: {why}");
        }
        c.view.last_error = Some(why);
        c.set_state("idle");
        c.refresh_view();
        if !self.status().await {
            return End::Closed;
        }
        End::Failed
    }
}
