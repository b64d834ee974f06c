//! The control socket: a task per connection reads one request and has
//! the core answer it.

use std::time::Duration;

use sluice_control::{Request, Response};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot};

use crate::core::DumpState;

/// Largest request line accepted; requests are a few dozen bytes.
const MAX_REQUEST: u64 = 64 * 1024;

/// What the connection tasks ask of the core.
#[derive(Debug)]
pub enum Ask {
    /// A request, with the client's uid (the socket's peer credentials).
    Request {
        request: Request,
        uid: Option<u32>,
        reply: oneshot::Sender<Response>,
    },
    /// The next part of a RIB dump.
    DumpPart(DumpState, oneshot::Sender<DumpState>),
}

pub type Inbox = mpsc::Sender<Ask>;

/// Accepts control connections; each gets a task that forwards one request.
pub async fn accept(listener: UnixListener, inbox: Inbox) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(answer(stream, inbox.clone()));
            }
            Err(e) => {
                tracing::warn!(error = %e, "control socket accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn answer(stream: UnixStream, inbox: Inbox) {
    let uid = stream.peer_cred().ok().map(|c| c.uid());
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    let mut reader = BufReader::new(read).take(MAX_REQUEST);
    let response =
        match tokio::time::timeout(Duration::from_secs(10), reader.read_line(&mut line)).await {
            Ok(Ok(_)) => match serde_json::from_str::<Request>(&line) {
                Ok(Request::DumpRib) => return dump(write, &inbox).await,
                Ok(request) => {
                    let (reply, answer) = oneshot::channel();
                    let ask = Ask::Request {
                        request,
                        uid,
                        reply,
                    };
                    if inbox.send(ask).await.is_err() {
                        return;
                    }
                    match answer.await {
                        Ok(r) => r,
                        Err(_) => return,
                    }
                }
                Err(e) => Response::Error {
                    message: format!("bad request: {e}"),
                },
            },
            _ => return,
        };
    let mut text = serde_json::to_string(&response).unwrap_or_default();
    text.push('\n');
    let _ = write.write_all(text.as_bytes()).await;
}

/// A RIB dump, a part of the table per turn of the core: BGP events are
/// handled between parts, and only a part's lines are held at a time.
async fn dump(write: impl AsyncWrite + Unpin, inbox: &Inbox) {
    let mut out = tokio::io::BufWriter::new(write);
    let mut state = DumpState::default();
    while !state.done {
        let (reply, answer) = oneshot::channel();
        if inbox.send(Ask::DumpPart(state, reply)).await.is_err() {
            return;
        }
        let Ok(next) = answer.await else { return };
        state = next;
        for line in std::mem::take(&mut state.lines) {
            if out.write_all(line.as_bytes()).await.is_err() || out.write_all(b"\n").await.is_err()
            {
                return;
            }
        }
    }
    let _ = out.flush().await;
}
