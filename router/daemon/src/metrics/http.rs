//! The metrics endpoint's HTTP server: `GET /metrics`, one answer per
//! connection. Whatever a client does, it holds one of [`MAX_CONNECTIONS`]
//! slots for at most [`REQUEST_TIMEOUT`], and a failing accept (out of
//! descriptors) is waited out, not retried in a hot loop.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sluice_bgp::limits::LogBudget;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use super::Metrics;

/// Scrapes served at once; more are answered 503 and closed.
pub const MAX_CONNECTIONS: usize = 16;
/// To read the request and write the answer, together.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// After a failed accept, the first wait; it doubles up to a second.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

#[derive(Clone, Copy, Debug)]
struct Limits {
    connections: usize,
    timeout: Duration,
}

pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

pub async fn serve(listener: TcpListener, metrics: Metrics) {
    serve_with(
        listener,
        metrics,
        Limits {
            connections: MAX_CONNECTIONS,
            timeout: REQUEST_TIMEOUT,
        },
    )
    .await
}

async fn serve_with(listener: TcpListener, metrics: Metrics, limits: Limits) {
    let slots = Arc::new(Semaphore::new(limits.connections));
    let mut backoff = ACCEPT_BACKOFF;
    let mut log = LogBudget::default();
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => {
                backoff = ACCEPT_BACKOFF;
                stream
            }
            Err(e) => {
                if let Some(held) = log.allow(Instant::now()) {
                    tracing::warn!(error = %e, held_back = held, "metrics accept failed");
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            // Not waited on: a fresh socket's buffer takes the line.
            let _ = stream.try_write(
                b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
            continue;
        };
        let metrics = metrics.clone();
        tokio::spawn(async move {
            match tokio::time::timeout(limits.timeout, respond(stream, &metrics)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::debug!(error = %e, "metrics request failed"),
                Err(_) => tracing::debug!("metrics request timed out"),
            }
            drop(slot);
        });
    }
}

async fn respond(mut stream: TcpStream, metrics: &Metrics) -> std::io::Result<()> {
    let mut buf = vec![0u8; 4096];
    let mut len = 0;
    // Read the request head (bounded); the body, if any, is ignored.
    while !buf[..len].windows(4).any(|w| w == b"\r\n\r\n") && len < buf.len() {
        let n = stream.read(&mut buf[len..]).await?;
        if n == 0 {
            break;
        }
        len += n;
    }
    let head = String::from_utf8_lossy(&buf[..len]);
    let mut words = head.split_whitespace();
    let (method, path) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let (status, kind, body) = match (method, path.split('?').next().unwrap_or("")) {
        ("GET", "/metrics") => (
            "200 OK",
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            metrics.encode(),
        ),
        ("GET", _) => ("404 Not Found", "text/plain", "try /metrics\n".to_string()),
        _ => (
            "405 Method Not Allowed",
            "text/plain",
            "GET only\n".to_string(),
        ),
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEST: Limits = Limits {
        connections: 2,
        timeout: Duration::from_millis(300),
    };

    async fn server(limits: Limits) -> SocketAddr {
        let listener = bind(SocketAddr::from(([127, 0, 0, 1], 0))).await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(serve_with(listener, Metrics::new(1), limits));
        addr
    }

    /// What came back for `GET /metrics` before the server closed (a
    /// refused client may see a reset instead of the 503).
    async fn get(addr: SocketAddr) -> String {
        let mut s = TcpStream::connect(addr).await.unwrap();
        let _ = s
            .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            .await;
        let mut out = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await;
        assert!(read.is_ok(), "an answer (or a close) in time");
        String::from_utf8_lossy(&out).into_owned()
    }

    /// Whether the server closed `s` within `within`.
    async fn closed_within(s: &mut TcpStream, within: Duration) -> bool {
        let mut buf = [0u8; 256];
        matches!(
            tokio::time::timeout(within, s.read(&mut buf)).await,
            Ok(Ok(0)) | Ok(Err(_))
        )
    }

    #[tokio::test]
    async fn a_silent_client_is_dropped_while_another_is_answered() {
        let addr = server(Limits {
            connections: 4,
            ..TEST
        })
        .await;
        let mut silent = TcpStream::connect(addr).await.unwrap();
        let started = Instant::now();
        let answer = get(addr).await;
        assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
        assert!(answer.contains("sluice_build_info"), "{answer}");
        assert!(closed_within(&mut silent, Duration::from_secs(3)).await);
        let waited = started.elapsed();
        assert!(
            waited >= TEST.timeout - Duration::from_millis(50),
            "{waited:?}"
        );
    }

    #[tokio::test]
    async fn connections_over_the_cap_get_503() {
        let addr = server(TEST).await;
        let mut idle = Vec::new();
        for _ in 0..TEST.connections {
            idle.push(TcpStream::connect(addr).await.unwrap());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        let answer = get(addr).await;
        assert!(
            answer.is_empty() || answer.starts_with("HTTP/1.1 503"),
            "{answer}"
        );
        // The idle ones time out and free their slots.
        for s in &mut idle {
            assert!(closed_within(s, Duration::from_secs(3)).await);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(get(addr).await.starts_with("HTTP/1.1 200 OK"));
    }
}
