//! The control socket: a task per connection, at most [`MAX_CONNECTIONS`]
//! at once. Each reads one request, checks that the client may make it
//! ([`access`]) and has the core answer it; a refused request never
//! reaches the core. Clients that are slow to ask or to read are dropped,
//! so they cannot hold the connection slots.

pub mod access;
mod peer;

use std::os::fd::AsFd;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sluice_bgp::limits::LogBudget;
use sluice_control::{Request, Response};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{Semaphore, mpsc, oneshot};

use crate::core::DumpState;
pub use access::{Creds, Policy};
pub use peer::own_ids;

/// Largest request line accepted; requests are a few dozen bytes.
const MAX_REQUEST: u64 = 64 * 1024;

/// What one client may hold.
#[derive(Clone, Copy, Debug)]
struct Limits {
    /// Connections served at once; more are answered `busy` and closed.
    connections: usize,
    /// How long a client has to send its request line.
    read: Duration,
    /// How long a client has to take an answer (each part, for a RIB dump).
    write: Duration,
}

pub const MAX_CONNECTIONS: usize = 16;

const LIMITS: Limits = Limits {
    connections: MAX_CONNECTIONS,
    read: Duration::from_secs(5),
    write: Duration::from_secs(30),
};

/// What the connection tasks ask of the core.
#[derive(Debug)]
pub enum Ask {
    /// A request the client may make, with its uid (drains record it).
    Request {
        request: Request,
        uid: u32,
        reply: oneshot::Sender<Response>,
    },
    /// The next part of a RIB dump.
    DumpPart(DumpState, oneshot::Sender<DumpState>),
}

pub type Inbox = mpsc::Sender<Ask>;

/// Shared by the connection tasks.
#[derive(Debug)]
struct Gate {
    policy: Policy,
    limits: Limits,
    /// Refusals are logged with the uid, at most ten a minute.
    refusals: Mutex<LogBudget>,
}

/// Accepts control connections, each served by a task of its own.
pub async fn accept(listener: UnixListener, inbox: Inbox, policy: Policy) {
    accept_with(listener, inbox, policy, LIMITS).await
}

async fn accept_with(listener: UnixListener, inbox: Inbox, policy: Policy, limits: Limits) {
    let max = limits.connections;
    let slots = Arc::new(Semaphore::new(max));
    let gate = Arc::new(Gate {
        policy,
        limits,
        refusals: Mutex::new(LogBudget::default()),
    });
    let mut busy_log = LogBudget::default();
    let mut error_log = LogBudget::default();
    loop {
        match listener.accept().await {
            Ok((stream, _)) => match slots.clone().try_acquire_owned() {
                Ok(slot) => {
                    let (inbox, gate) = (inbox.clone(), gate.clone());
                    tokio::spawn(async move {
                        answer(stream, &inbox, &gate).await;
                        drop(slot);
                    });
                }
                Err(_) => {
                    busy(&stream, max);
                    if let Some(held) = busy_log.allow(Instant::now()) {
                        let uid = stream.peer_cred().ok().map(|c| c.uid());
                        tracing::warn!(
                            uid,
                            held_back = held,
                            "control connection refused: {max} already open"
                        );
                    }
                }
            },
            Err(e) => {
                // Out of descriptors (EMFILE) and the like: wait rather than spin.
                if let Some(held) = error_log.allow(Instant::now()) {
                    tracing::warn!(error = %e, held_back = held, "control socket accept failed");
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Tells a client over the cap why it is closed, without waiting on it: a
/// fresh socket's buffer takes the line.
fn busy(stream: &UnixStream, max: usize) {
    let mut line = serde_json::to_string(&Response::Busy {
        message: format!("the daemon is serving {max} control connections already; try again"),
    })
    .unwrap_or_default();
    line.push('\n');
    let _ = stream.try_write(line.as_bytes());
}

fn creds(stream: &UnixStream) -> Option<Creds> {
    let cred = stream.peer_cred().ok()?;
    Some(Creds {
        uid: cred.uid(),
        gid: cred.gid(),
        groups: peer::peer_groups(stream.as_fd()).unwrap_or_default(),
    })
}

async fn answer(stream: UnixStream, inbox: &Inbox, gate: &Gate) {
    let who = creds(&stream);
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    let mut reader = BufReader::new(read).take(MAX_REQUEST);
    let limits = gate.limits;
    let Ok(Ok(_)) = tokio::time::timeout(limits.read, reader.read_line(&mut line)).await else {
        return;
    };
    let request = match serde_json::from_str::<Request>(&line) {
        Ok(r) => r,
        Err(e) => {
            let bad = Response::Error {
                message: format!("bad request: {e}"),
            };
            return send(&mut write, &bad, limits.write).await;
        }
    };
    let checked = match &who {
        Some(who) => gate.policy.check(who, &request).map(|()| who.uid),
        None => Err("cannot read the client's credentials".into()),
    };
    let uid = match checked {
        Ok(uid) => uid,
        Err(why) => {
            let held = gate
                .refusals
                .lock()
                .ok()
                .and_then(|mut b| b.allow(Instant::now()));
            if let Some(held) = held {
                let uid = who.as_ref().map(|w| w.uid);
                tracing::warn!(uid, held_back = held, "control request refused: {why}");
            }
            let refused = Response::Refused {
                message: why,
                rendered: String::new(),
                findings: serde_json::json!([]),
            };
            return send(&mut write, &refused, limits.write).await;
        }
    };
    if request == Request::DumpRib {
        return dump(write, inbox, limits.write).await;
    }
    let (reply, answer) = oneshot::channel();
    let ask = Ask::Request {
        request,
        uid,
        reply,
    };
    if inbox.send(ask).await.is_err() {
        return;
    }
    if let Ok(response) = answer.await {
        send(&mut write, &response, limits.write).await;
    }
}

/// Writes one JSON answer, if the client takes it in time.
async fn send(write: &mut (impl AsyncWrite + Unpin), response: &Response, within: Duration) {
    let mut text = serde_json::to_string(response).unwrap_or_default();
    text.push('\n');
    let _ = tokio::time::timeout(within, write.write_all(text.as_bytes())).await;
}

/// A RIB dump, a part of the table per turn of the core: BGP events are
/// handled between parts, and only a part's lines are held at a time.
async fn dump(write: impl AsyncWrite + Unpin, inbox: &Inbox, within: Duration) {
    let mut out = tokio::io::BufWriter::new(write);
    let mut state = DumpState::default();
    while !state.done {
        let (reply, answer) = oneshot::channel();
        if inbox.send(Ask::DumpPart(state, reply)).await.is_err() {
            return;
        }
        let Ok(next) = answer.await else { return };
        state = next;
        let lines = std::mem::take(&mut state.lines);
        let written = tokio::time::timeout(within, async {
            for line in lines {
                out.write_all(line.as_bytes()).await?;
                out.write_all(b"\n").await?;
            }
            out.flush().await
        })
        .await;
        if !matches!(written, Ok(Ok(()))) {
            return;
        }
    }
}

#[cfg(test)]
mod tests;
