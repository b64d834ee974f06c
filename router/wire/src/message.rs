//! Framing and the message types.

use crate::iana::{self, err, msg};
use crate::notification::Notification;
use crate::open::Open;
use crate::update::Update;

/// A NOTIFICATION to send because a received message was in error
/// (RFC 4271 §6): the code, subcode and data of the reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notify {
    pub code: u8,
    pub subcode: u8,
    pub data: Vec<u8>,
}

impl Notify {
    pub fn new(code: u8, subcode: u8, data: impl Into<Vec<u8>>) -> Notify {
        Notify {
            code,
            subcode,
            data: data.into(),
        }
    }
}

impl std::fmt::Display for Notify {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}",
            crate::notification::describe(self.code, self.subcode)
        )
    }
}

/// A decoded message, borrowing from the buffer it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message<'a> {
    Open(Open),
    Update(Update<'a>),
    Notification(Notification<'a>),
    Keepalive,
    RouteRefresh { afi: u16, safi: u8, subtype: u8 },
}

/// The length of the first message in `buf` once all of it has arrived,
/// `Ok(None)` while it has not, or the header error to send.
/// `max_len` is 4096, or 65535 once extended messages are agreed.
pub fn frame(buf: &[u8], max_len: usize) -> Result<Option<usize>, Notify> {
    if buf.len() < iana::HEADER_LEN {
        return Ok(None);
    }
    if buf[..16] != iana::MARKER {
        return Err(Notify::new(err::HEADER, err::HEADER_NOT_SYNCHRONIZED, []));
    }
    let len = usize::from(u16::from_be_bytes([buf[16], buf[17]]));
    let min = match buf[18] {
        msg::OPEN => 29,
        msg::UPDATE => 23,
        msg::NOTIFICATION => 21,
        msg::KEEPALIVE => 19,
        msg::ROUTE_REFRESH => 23,
        other => return Err(Notify::new(err::HEADER, err::HEADER_BAD_TYPE, [other])),
    };
    let fits = match buf[18] {
        msg::KEEPALIVE => len == iana::HEADER_LEN,
        // OPEN and KEEPALIVE never exceed 4096 (RFC 8654 §3).
        msg::OPEN => (min..=iana::MAX_MESSAGE).contains(&len),
        _ => (min..=max_len).contains(&len),
    };
    if !fits {
        return Err(Notify::new(
            err::HEADER,
            err::HEADER_BAD_LENGTH,
            u16::try_from(len).unwrap_or(u16::MAX).to_be_bytes(),
        ));
    }
    Ok((buf.len() >= len).then_some(len))
}

impl<'a> Message<'a> {
    /// Decodes one whole message (as delimited by [`frame`]). UPDATE
    /// attributes are only located here, not yet checked: see
    /// [`crate::update::Attrs::parse`].
    pub fn decode(message: &'a [u8]) -> Result<Message<'a>, Notify> {
        if message.len() < iana::HEADER_LEN {
            return Err(Notify::new(err::HEADER, err::HEADER_BAD_LENGTH, []));
        }
        let body = &message[iana::HEADER_LEN..];
        Ok(match message[18] {
            msg::OPEN => Message::Open(Open::decode(body)?),
            msg::UPDATE => Message::Update(Update::split(body)?),
            msg::NOTIFICATION if body.len() >= 2 => {
                Message::Notification(Notification::decode(body))
            }
            msg::KEEPALIVE => Message::Keepalive,
            msg::ROUTE_REFRESH => {
                if body.len() != 4 {
                    return Err(Notify::new(err::ROUTE_REFRESH, 1, message));
                }
                Message::RouteRefresh {
                    afi: u16::from_be_bytes([body[0], body[1]]),
                    subtype: body[2],
                    safi: body[3],
                }
            }
            other => return Err(Notify::new(err::HEADER, err::HEADER_BAD_TYPE, [other])),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(len: u16, kind: u8) -> Vec<u8> {
        let mut v = iana::MARKER.to_vec();
        v.extend(len.to_be_bytes());
        v.push(kind);
        v
    }

    #[test]
    fn frames_wait_for_the_whole_message() {
        let ka = header(19, msg::KEEPALIVE);
        assert_eq!(frame(&ka[..10], 4096), Ok(None));
        assert_eq!(frame(&ka, 4096), Ok(Some(19)));
        let mut two = ka.clone();
        two.extend(&ka);
        assert_eq!(frame(&two, 4096), Ok(Some(19)));
        assert_eq!(Message::decode(&ka), Ok(Message::Keepalive));
    }

    #[test]
    fn header_errors() {
        let mut bad_marker = header(19, msg::KEEPALIVE);
        bad_marker[3] = 0;
        assert_eq!(
            frame(&bad_marker, 4096).unwrap_err().subcode,
            err::HEADER_NOT_SYNCHRONIZED
        );
        assert_eq!(
            frame(&header(20, msg::KEEPALIVE), 4096).unwrap_err(),
            Notify::new(1, 2, [0, 20])
        );
        assert_eq!(
            frame(&header(19, 9), 4096).unwrap_err(),
            Notify::new(1, 3, [9])
        );
        assert_eq!(
            frame(&header(5000, msg::UPDATE), 4096).unwrap_err().subcode,
            err::HEADER_BAD_LENGTH
        );
        assert_eq!(frame(&header(5000, msg::UPDATE), 65535), Ok(None));
        assert_eq!(
            frame(&header(5000, msg::OPEN), 65535).unwrap_err().subcode,
            err::HEADER_BAD_LENGTH
        );
    }
}
