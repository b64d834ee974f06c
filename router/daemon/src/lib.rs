//! `sluice run`: the daemon's runtime.
//!
//! ```text
//!   control socket ──┐                      ┌── metrics HTTP (reads Metrics)
//!   (a task per      ├─ bounded mpsc ─► Core ┤
//!    connection, 16) │                      └── events, uplink states
//!   SIGHUP / timers ─┘
//! ```
//!
//! One task owns [`core::Core`]; everything else talks to it through a
//! bounded channel, so a burst of clients waits rather than queueing without
//! limit.

pub mod control;
pub mod core;
pub mod events;
pub mod fib;
pub mod links;
pub mod listeners;
pub mod logging;
mod malloc;
pub mod metrics;
pub mod notify;
mod packed;
pub mod paging;
pub mod probe;
pub mod routing;
pub mod rpki;
pub mod socket;
pub mod uplinks;
pub mod validate;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sluice_control::{Request, Response};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;

use crate::core::{Core, Refusal, Strictness, check_file};
use crate::metrics::Metrics;
use crate::socket::{ControlSocket, SocketError};

/// Command-line settings of `sluice run`; each override beats the config's `control` section.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub config: PathBuf,
    pub socket: Option<PathBuf>,
    /// `Some(None)` turns the metrics endpoint off.
    pub metrics: Option<Option<SocketAddr>>,
    pub state_dir: Option<PathBuf>,
    /// Start with a config an unconfirmed reload rolled back before.
    pub force: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("{}", .0.message)]
    Config(Refusal),
    #[error(transparent)]
    Socket(#[from] SocketError),
    #[error("cannot listen for metrics on {addr}: {source}")]
    Metrics {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot create state directory {}: {source}", path.display())]
    StateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Drains(#[from] uplinks::drains::DrainFileError),
    #[error(
        "this config (sha256 {sha}) was rolled back when a --confirm-within reload was not confirmed; `sluice run --force` starts with it anyway"
    )]
    RolledBack { sha: String },
    #[error("cannot start the runtime: {0}")]
    Runtime(#[source] std::io::Error),
    /// A TCP-MD5 key or GTSM setting the listening sockets cannot take.
    #[error("{0}; not starting")]
    Bgp(String),
}

/// Runs the daemon in the foreground until SIGTERM or SIGINT.
pub fn run(opts: RunOptions) -> Result<(), DaemonError> {
    malloc::tune();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(DaemonError::Runtime)?;
    runtime.block_on(serve(opts))
}

async fn serve(opts: RunOptions) -> Result<(), DaemonError> {
    let checked = check_file(&opts.config, Strictness::NormalState).map_err(DaemonError::Config)?;
    let control = &checked.loaded.config.control;
    let socket_path = opts
        .socket
        .clone()
        .unwrap_or_else(|| control.socket.clone());
    let metrics_addr = opts.metrics.unwrap_or(control.metrics);
    let state_dir = opts
        .state_dir
        .clone()
        .unwrap_or_else(|| control.state_dir.clone());

    std::fs::create_dir_all(&state_dir).map_err(|source| DaemonError::StateDir {
        path: state_dir.clone(),
        source,
    })?;
    let memory = core::rolled_back::Memory::new(&state_dir);
    if memory.find(&checked.sha256).is_some() {
        if !opts.force {
            return Err(DaemonError::RolledBack {
                sha: checked.sha256[..12].to_string(),
            });
        }
        let _ = memory.forget(&checked.sha256);
    }
    let group = checked.control_gid;
    let (owner, own_group) = control::own_ids();
    let policy = control::Policy {
        owner,
        group: group.unwrap_or(own_group),
    };
    let (listener, socket_guard) = ControlSocket::bind(&socket_path, group)?;

    let started = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let metrics = Metrics::new(started);
    let metrics_bound = match metrics_addr {
        Some(addr) => {
            let l = metrics::bind(addr)
                .await
                .map_err(|source| DaemonError::Metrics { addr, source })?;
            let bound = l
                .local_addr()
                .map_err(|source| DaemonError::Metrics { addr, source })?;
            tokio::spawn(metrics::serve(l, metrics.clone()));
            Some(bound.to_string())
        }
        None => None,
    };

    let config_path = std::path::absolute(&opts.config).unwrap_or(opts.config.clone());
    let mut core = Core::new(
        config_path.clone(),
        checked,
        metrics,
        metrics_bound.clone(),
        links::link,
    )
    .with_state_dir(&state_dir)?;
    core.report_other_states();
    core.events.record(
        "start",
        format!(
            "sluice {} started: config {}, control {}, metrics {}",
            env!("CARGO_PKG_VERSION"),
            config_path.display(),
            socket_path.display(),
            metrics_bound.as_deref().unwrap_or("off")
        ),
    );

    // BGP: one task per session, one listener for all of them.
    let directory = routing::Directory::default();
    // Each event carries up to 256 UPDATEs: a few in flight keep both cores busy
    // without buffering a whole table.
    let (session_tx, mut session_rx) = mpsc::channel(16);
    let restarting = graceful_restart::was_restarting(&state_dir);
    core.routing = Some(routing::Routing::new(
        core.config(),
        session_tx,
        directory.clone(),
        restarting,
    ));
    if restarting {
        core.events.record(
            "graceful-restart",
            "restarting gracefully: peers were asked to keep our routes".into(),
        );
    }
    // Subscribe before the data plane dumps links and neighbours, so no
    // change falls between the dump and the events.
    let link_events = sluice_netlink::EventSocket::new();
    let fib = fib::Fib::start(core.config());
    core.events.record("dataplane", fib.describe());
    if let Some(r) = core.routing.as_mut() {
        // A FIB taken over from the previous run forwards already.
        r.cold = !fib.adopting();
        r.fib = Some(fib);
    }
    let (netlink_tx, mut netlink_rx) = mpsc::channel(64);
    let netlink_task = match link_events {
        Ok(sock) => Some(tokio::spawn(follow_netlink(sock, netlink_tx))),
        Err(e) => {
            core.events.warn(
                "netlink",
                format!("cannot follow link and neighbour changes: {e}; polling links"),
            );
            None
        }
    };
    let mut bgp = listeners::Listeners::bind(&mut core.events);
    bgp.secure(core.config()).map_err(DaemonError::Bgp)?;
    let listeners = bgp.spawn(&directory);
    core.listeners = Some(bgp);
    // Health probes report to the core; the core keeps them addressed.
    let (probe_tx, mut probe_rx) = mpsc::channel(64);
    let probes = probe::spawn(probe_tx);
    // The first look at the uplinks, now that their sessions are known.
    core.refresh();
    // RPKI caches report VRP changes to the core.
    let (rpki_tx, mut rpki_rx) = mpsc::channel(16);
    core.start_rpki(rpki_tx);

    let (tx, mut rx) = mpsc::channel(64);
    let acceptor = tokio::spawn(control::accept(listener, tx, policy));
    // systemd (Type=notify): forwarding and answering from here on.
    let status = core
        .routing
        .as_ref()
        .and_then(|r| r.fib.as_ref())
        .map_or_else(|| "no data plane".to_string(), fib::Fib::describe);
    if let Err(e) = notify::notify(&format!("READY=1\nSTATUS={status}")) {
        tracing::warn!("cannot tell systemd we are ready: {e}");
    }
    let mut hangup = signal(SignalKind::hangup()).map_err(DaemonError::Runtime)?;
    let mut terminate = signal(SignalKind::terminate()).map_err(DaemonError::Runtime)?;
    let mut interrupt = signal(SignalKind::interrupt()).map_err(DaemonError::Runtime)?;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    // While a drain settles, its outbound counters are read more often.
    let mut settle_tick = tokio::time::interval(Duration::from_millis(250));

    let why = loop {
        let deadline = core.rollback_deadline();
        // Taken anew each time: the data plane may have started since.
        let room = core.room_signal();
        let programmed = core.programmed_signal();
        let can_place = core.can_place();
        tokio::select! {
            Some(ask) = rx.recv() => match ask {
                control::Ask::Request { request, uid, reply } => {
                    let _ = reply.send(core.handle_from(request, Instant::now(), Some(uid)));
                }
                control::Ask::DumpPart(mut part, reply) => {
                    core.dump_part(&mut part);
                    let _ = reply.send(part);
                }
            },
            Some((id, event)) = session_rx.recv() => core.session_event(id, event),
            Some(events) = netlink_rx.recv() => core.netlink_events(events),
            _ = async { programmed.as_ref().expect("guarded").wait().await }, if programmed.is_some() => core.programmed(),
            _ = hangup.recv() => {
                if let Response::Refused { rendered, .. } = core.handle(Request::Reload { confirm_within_ms: None, force: false }, Instant::now()) {
                    tracing::warn!("SIGHUP reload refused:\n{rendered}");
                }
            }
            _ = tokio::time::sleep_until(deadline.unwrap_or_else(Instant::now).into()), if deadline.is_some() => core.roll_back(),
            _ = settle_tick.tick(), if core.settling() => core.settle_tick(),
            Some(outcome) = probe_rx.recv() => core.probe_outcome(outcome),
            Some(report) = rpki_rx.recv() => core.rpki_report(report),
            _ = tick.tick() => {
                core.refresh();
                core.send_owed();
                let specs = core.probe_specs();
                probes.send_if_modified(|old| {
                    let changed = *old != specs;
                    if changed {
                        *old = specs;
                    }
                    changed
                });
            }
            // Route changes wait for the data plane while UPDATEs queue
            // up; it takes them a chunk at a time when the queue is empty.
            // (Not sooner when a writer thread programs them: while a table
            // loads, parsing UPDATEs keeps the other core busy.)
            _ = std::future::ready(()), if can_place && session_rx.is_empty() => {
                core.place_backlog(routing::BACKLOG_CHUNK);
            }
            // The data plane's queue is full: the backlog waits for room.
            _ = async { room.as_ref().expect("guarded").wait().await }, if room.is_some() && core.has_backlog() && !can_place => {}
            _ = terminate.recv() => break "SIGTERM",
            _ = interrupt.recv() => break "SIGINT",
        }
    };
    // What the pinned FIB keeps forwarding on must be complete.
    core.place_all_backlog();
    acceptor.abort();
    for l in listeners {
        l.abort();
    }
    if let Some(t) = netlink_task {
        t.abort();
    }
    let keep = core.config().dataplane.keep_on_exit;
    let _ = notify::notify("STOPPING=1");
    let fib = core.routing.as_mut().and_then(|r| r.fib.take());
    if let Some(r) = core.routing.as_mut() {
        if keep {
            // Peers keep our routes while we are away (RFC 4724): no NOTIFICATION.
            graceful_restart::mark(&state_dir);
            r.shutdown(None);
        } else {
            r.shutdown(Some("sluice stopping"));
        }
    }
    core.events.record(
        "stop",
        format!(
            "stopping on {why}{}",
            if keep {
                "; sessions closed for a graceful restart"
            } else {
                ""
            }
        ),
    );
    // Let the session tasks send their last words; then, without
    // keep_on_exit, the upstreams have withdrawn our routes before the data
    // plane goes.
    tokio::time::sleep(Duration::from_millis(300)).await;
    if let Some(fib) = fib {
        fib.stop(keep);
    }
    drop(socket_guard);
    Ok(())
}

/// Forwards link and neighbour changes from the kernel to the core.
async fn follow_netlink(
    sock: sluice_netlink::EventSocket,
    tx: mpsc::Sender<Vec<sluice_netlink::Event>>,
) {
    // `new` is deprecated for fds that might close while registered; this
    // one is owned by the AsyncFd itself (`register` would need unsafe).
    #[allow(deprecated)]
    let Ok(mut fd) = tokio::io::unix::AsyncFd::new(sock) else {
        return;
    };
    loop {
        let Ok(mut guard) = fd.readable_mut().await else {
            return;
        };
        match guard.try_io(|s| s.get_mut().try_recv_events()) {
            Ok(Ok(events)) => {
                if tx.send(events).await.is_err() {
                    return;
                }
            }
            Ok(Err(e)) => tracing::warn!("netlink events: {e}"),
            Err(_would_block) => {}
        }
    }
}

/// Listens on the BGP port for IPv4 and IPv6; without the rights to, the
/// daemon still runs and opens its sessions itself.
/// A marker in the state directory: the daemon stopped for a restart and
/// asked its peers to keep its routes, so the next start sets the
/// graceful-restart R and F bits.
mod graceful_restart {
    use std::path::Path;
    use std::time::{Duration, SystemTime};

    const FILE: &str = "graceful-restart";

    pub fn mark(state_dir: &Path) {
        let _ = std::fs::write(state_dir.join(FILE), b"");
    }

    /// True if the marker is younger than the restart time; removes it.
    pub fn was_restarting(state_dir: &Path) -> bool {
        let path = state_dir.join(FILE);
        let fresh = std::fs::metadata(&path)
            .and_then(|m| m.modified())
            .is_ok_and(|t| {
                SystemTime::now().duration_since(t).unwrap_or_default()
                    < Duration::from_secs(u64::from(crate::routing::peers::RESTART_TIME))
            });
        let _ = std::fs::remove_file(&path);
        fresh
    }
}
