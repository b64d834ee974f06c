//! The sending half of an established session, a task of its own: the
//! reading half may wait on the route owner (a full table in flight) while
//! KEEPALIVEs still go out on time, and a peer that stops reading — its
//! TCP window stays shut — is caught by the send hold timer (RFC 9687)
//! instead of stalling the session forever.

use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep_until, timeout};

use sluice_wire::encode;
use sluice_wire::iana::err;

use crate::jitter::jittered;

/// What the session hands the writer.
#[derive(Debug)]
pub enum Out {
    Messages(Vec<Vec<u8>>),
    /// Send this (a NOTIFICATION) and close the connection.
    Close(Vec<u8>),
}

/// Messages the writer holds before the session stops taking commands.
const QUEUE: usize = 4;

/// How long a closing NOTIFICATION may take to go out.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

/// Why the writer stopped, and whether that was graceful in RFC 4724's
/// sense (no NOTIFICATION: a helper keeps the peer's routes).
#[derive(Debug)]
pub struct Ended {
    pub why: String,
    pub graceful: bool,
}

#[derive(Debug)]
pub struct Writer {
    pub tx: mpsc::Sender<Out>,
    pub task: JoinHandle<Ended>,
}

/// RFC 9687 §4: eight minutes, or twice the hold time if that is longer,
/// unless configured otherwise (never below twice the hold time).
pub fn send_hold_time(configured: Option<Duration>, hold: Duration) -> Duration {
    configured
        .unwrap_or(Duration::from_secs(8 * 60))
        .max(hold.saturating_mul(2))
}

pub fn spawn(w: OwnedWriteHalf, keepalive: Duration, send_hold: Duration) -> Writer {
    let (tx, rx) = mpsc::channel(QUEUE);
    let task = tokio::spawn(run(w, rx, keepalive, send_hold));
    Writer { tx, task }
}

impl Writer {
    /// Sends `last` if given (within [`CLOSE_WAIT`]) and closes.
    pub async fn close(self, last: Option<Vec<u8>>) {
        if let Some(m) = last
            && timeout(CLOSE_WAIT, self.tx.send(Out::Close(m)))
                .await
                .is_ok()
        {
            let mut task = self.task;
            if timeout(CLOSE_WAIT * 2, &mut task).await.is_err() {
                task.abort();
            }
            return;
        }
        self.task.abort();
    }
}

async fn run(
    mut w: OwnedWriteHalf,
    mut rx: mpsc::Receiver<Out>,
    keepalive: Duration,
    send_hold: Duration,
) -> Ended {
    let closed = || Ended {
        why: "closed".into(),
        graceful: false,
    };
    let mut next_keepalive = Instant::now() + jittered(keepalive);
    loop {
        tokio::select! {
            out = rx.recv() => match out {
                Some(Out::Messages(msgs)) => {
                    for m in &msgs {
                        if let Err(e) = write(&mut w, m, send_hold).await {
                            return e;
                        }
                    }
                    // Any message resets the peer's hold timer (RFC 4271 §4.4).
                    next_keepalive = Instant::now() + jittered(keepalive);
                }
                Some(Out::Close(m)) => {
                    let _ = timeout(CLOSE_WAIT, w.write_all(&m)).await;
                    let _ = w.shutdown().await;
                    return closed();
                }
                None => return closed(),
            },
            _ = sleep_until(next_keepalive) => {
                if let Err(e) = write(&mut w, &encode::keepalive(), send_hold).await {
                    return e;
                }
                next_keepalive = Instant::now() + jittered(keepalive);
            }
        }
    }
}

/// Writes one message; the send hold timer runs while it does not go out.
/// On expiry the NOTIFICATION RFC 9687 asks for is tried briefly (a peer
/// that reads nothing will not see it) and the connection dropped.
async fn write(w: &mut OwnedWriteHalf, bytes: &[u8], send_hold: Duration) -> Result<(), Ended> {
    match timeout(send_hold, w.write_all(bytes)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(Ended {
            why: format!("sending: {e}"),
            graceful: true,
        }),
        Err(_) => {
            let n = encode::notification(err::SEND_HOLD_TIMER_EXPIRED, 0, &[]);
            let _ = timeout(Duration::from_millis(100), w.write_all(&n)).await;
            Err(Ended {
                why: format!(
                    "send hold timer expired: the peer took nothing for {} s (RFC 9687)",
                    send_hold.as_secs()
                ),
                graceful: false,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_hold_is_at_least_twice_the_hold_time() {
        let s = Duration::from_secs;
        assert_eq!(send_hold_time(None, s(90)), s(480));
        assert_eq!(send_hold_time(None, s(300)), s(600));
        assert_eq!(send_hold_time(Some(s(5)), s(3)), s(6));
        assert_eq!(send_hold_time(Some(s(20)), s(3)), s(20));
    }
}
