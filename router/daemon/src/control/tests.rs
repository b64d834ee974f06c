//! The control socket's limits, against a stand-in core that answers
//! every request with `confirmed`.

use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use super::*;

const TEST_LIMITS: Limits = Limits {
    connections: 2,
    read: Duration::from_millis(300),
    write: Duration::from_secs(5),
};

/// A socket served with `limits` by a stand-in core; the tempdir holds it.
fn serve(limits: Limits) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let (tx, mut rx) = mpsc::channel(8);
    let (owner, group) = own_ids();
    tokio::spawn(accept_with(listener, tx, Policy { owner, group }, limits));
    tokio::spawn(async move {
        while let Some(ask) = rx.recv().await {
            if let Ask::Request { reply, .. } = ask {
                let _ = reply.send(Response::Confirmed {
                    message: "ok".into(),
                });
            }
        }
    });
    (dir, path)
}

/// Sends `status` on a new connection and reads the answer line.
async fn ask(path: &std::path::Path) -> Response {
    let mut s = UnixStream::connect(path).await.unwrap();
    s.write_all(b"{\"cmd\":\"status\"}\n").await.unwrap();
    read_answer(s).await
}

async fn read_answer(s: UnixStream) -> Response {
    let mut line = String::new();
    let mut reader = BufReader::new(s);
    tokio::time::timeout(Duration::from_secs(5), reader.read_line(&mut line))
        .await
        .expect("an answer in time")
        .unwrap();
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"))
}

/// Whether the daemon closed `s` (EOF) within `within`.
async fn closed_within(s: &mut UnixStream, within: Duration) -> bool {
    let mut buf = [0u8; 64];
    matches!(
        tokio::time::timeout(within, tokio::io::AsyncReadExt::read(s, &mut buf)).await,
        Ok(Ok(0))
    )
}

#[tokio::test]
async fn connections_over_the_cap_are_told_busy() {
    let (_dir, path) = serve(TEST_LIMITS);
    assert!(matches!(ask(&path).await, Response::Confirmed { .. }));
    // Two clients that never ask hold both slots.
    let mut idle = vec![
        UnixStream::connect(&path).await.unwrap(),
        UnixStream::connect(&path).await.unwrap(),
    ];
    tokio::time::sleep(Duration::from_millis(50)).await;
    match ask(&path).await {
        Response::Busy { message } => {
            assert!(message.contains("2 control connections"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    // Each is dropped once its time to ask runs out, freeing its slot.
    for s in &mut idle {
        assert!(closed_within(s, Duration::from_secs(3)).await);
    }
    assert!(matches!(ask(&path).await, Response::Confirmed { .. }));
}

#[tokio::test]
async fn a_silent_client_is_dropped_while_others_are_answered() {
    let (_dir, path) = serve(Limits {
        connections: 4,
        ..TEST_LIMITS
    });
    let mut silent = UnixStream::connect(&path).await.unwrap();
    let started = std::time::Instant::now();
    assert!(matches!(ask(&path).await, Response::Confirmed { .. }));
    assert!(closed_within(&mut silent, Duration::from_secs(3)).await);
    let waited = started.elapsed();
    assert!(
        waited >= TEST_LIMITS.read - Duration::from_millis(50),
        "{waited:?}"
    );
}

#[tokio::test]
async fn a_bad_request_is_answered_as_such() {
    let (_dir, path) = serve(TEST_LIMITS);
    let mut s = UnixStream::connect(&path).await.unwrap();
    s.write_all(b"{\"cmd\":\"format-disk\"}\n").await.unwrap();
    match read_answer(s).await {
        Response::Error { message } => assert!(message.contains("bad request"), "{message}"),
        other => panic!("{other:?}"),
    }
}
