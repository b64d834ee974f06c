//! One TCP connection carrying BGP messages: framing on read, whole
//! messages on write.

use std::io;
use std::time::Duration;

use sluice_wire::{Message, Notify, encode, frame};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

/// A connection, or (established, see [`Conn::split`]) its reading half.
#[derive(Debug)]
pub struct Conn<S = TcpStream> {
    pub stream: S,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    pub max_message: usize,
}

/// Why reading a message failed.
#[derive(Debug)]
pub enum ReadError {
    Io(io::Error),
    Closed,
    /// A header error: send this NOTIFICATION.
    Notify(Notify),
}

impl Conn {
    pub fn new(stream: TcpStream) -> Conn {
        let _ = stream.set_nodelay(true);
        Conn {
            stream,
            buf: vec![0; 1 << 17],
            start: 0,
            end: 0,
            max_message: sluice_wire::iana::MAX_MESSAGE,
        }
    }

    /// The reading half (with what is already buffered) and the writing
    /// half, for a writer task of its own.
    pub fn split(self) -> (Conn<OwnedReadHalf>, OwnedWriteHalf) {
        let (r, w) = self.stream.into_split();
        let reader = Conn {
            stream: r,
            buf: self.buf,
            start: self.start,
            end: self.end,
            max_message: self.max_message,
        };
        (reader, w)
    }
}

impl<S: AsyncRead + Unpin> Conn<S> {
    /// Waits until a whole message is buffered and returns its length;
    /// read it with [`Conn::message`], then [`Conn::consume`] it.
    pub async fn next(&mut self) -> Result<usize, ReadError> {
        loop {
            if let Some(len) = frame(&self.buf[self.start..self.end], self.max_message)
                .map_err(ReadError::Notify)?
            {
                return Ok(len);
            }
            if self.start > 0 && self.end + sluice_wire::iana::MAX_EXTENDED_MESSAGE > self.buf.len()
            {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            let n = self
                .stream
                .read(&mut self.buf[self.end..])
                .await
                .map_err(ReadError::Io)?;
            if n == 0 {
                return Err(ReadError::Closed);
            }
            self.end += n;
        }
    }

    /// The length of the next message if it is already wholly buffered.
    pub fn buffered(&self) -> Result<Option<usize>, Notify> {
        frame(&self.buf[self.start..self.end], self.max_message)
    }

    pub fn message(&self, len: usize) -> &[u8] {
        &self.buf[self.start..self.start + len]
    }

    pub fn consume(&mut self, len: usize) {
        self.start += len;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Reads one message and decodes it, owning a copy (for the handshake).
    pub async fn read_owned(&mut self) -> Result<Vec<u8>, ReadError> {
        let len = self.next().await?;
        let m = self.message(len).to_vec();
        self.consume(len);
        Message::decode(&m).map_err(ReadError::Notify)?;
        Ok(m)
    }
}

impl<S: AsyncWrite + Unpin> Conn<S> {
    pub async fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes).await
    }

    /// Sends a NOTIFICATION and closes, giving the peer a moment to read it.
    pub async fn notify_and_close(&mut self, n: &Notify) {
        let _ = tokio::time::timeout(
            Duration::from_secs(2),
            self.stream
                .write_all(&encode::notification(n.code, n.subcode, &n.data)),
        )
        .await;
        let _ = self.stream.shutdown().await;
    }
}
