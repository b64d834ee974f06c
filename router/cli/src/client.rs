//! Talking to a running daemon over its control socket.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use sluice_control::{Request, Response};

/// The daemon could not be reached, or answered with something unreadable.
#[derive(Debug)]
pub struct Unreachable(pub String);

/// Connects to the daemon and sends `request` (one JSON line).
fn send(socket: &Path, request: &Request, timeout: Duration) -> Result<UnixStream, Unreachable> {
    let fail = |what: &str, e: std::io::Error| {
        Unreachable(format!(
            "cannot reach the sluice daemon at {}: {what}{e}",
            socket.display()
        ))
    };
    let mut stream = UnixStream::connect(socket).map_err(|e| fail("", e))?;
    stream
        .set_read_timeout(Some(timeout))
        .map_err(|e| fail("", e))?;
    let mut line = serde_json::to_string(request).expect("requests serialize");
    line.push('\n');
    stream
        .write_all(line.as_bytes())
        .map_err(|e| fail("sending: ", e))?;
    Ok(stream)
}

pub fn call(socket: &Path, request: &Request) -> Result<Response, Unreachable> {
    let stream = send(socket, request, Duration::from_secs(30))?;
    let mut answer = String::new();
    BufReader::new(stream).read_line(&mut answer).map_err(|e| {
        Unreachable(format!(
            "cannot reach the sluice daemon at {}: reading: {e}",
            socket.display()
        ))
    })?;
    if answer.is_empty() {
        return Err(Unreachable(format!(
            "the sluice daemon at {} closed the connection without answering",
            socket.display()
        )));
    }
    serde_json::from_str(&answer).map_err(|e| {
        Unreachable(format!(
            "the sluice daemon at {} answered something unreadable: {e}",
            socket.display()
        ))
    })
}

/// Sends `request` and returns the whole answer up to the end of the
/// connection (a RIB dump is many lines, not one JSON answer).
pub fn read_all(socket: &Path, request: &Request) -> Result<Vec<u8>, Unreachable> {
    let mut stream = send(socket, request, Duration::from_secs(60))?;
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut stream, &mut out).map_err(|e| {
        Unreachable(format!(
            "cannot reach the sluice daemon at {}: reading: {e}",
            socket.display()
        ))
    })?;
    Ok(out)
}

/// Where the daemon listens: `--socket`, else the `control.socket` of `-c FILE`, else the default.
pub fn socket_path(socket: Option<&Path>, config: Option<&Path>) -> Result<PathBuf, String> {
    if let Some(s) = socket {
        return Ok(s.to_path_buf());
    }
    if let Some(c) = config {
        return match sluice_config::load(c) {
            Ok(loaded) => Ok(loaded.config.control.socket),
            Err(e) => Err(e.to_string()),
        };
    }
    Ok(PathBuf::from(sluice_config::model::DEFAULT_SOCKET))
}
