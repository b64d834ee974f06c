//! NOTIFICATION, with the administrative shutdown message of RFC 9003.

use crate::iana::err;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notification<'a> {
    pub code: u8,
    pub subcode: u8,
    pub data: &'a [u8],
}

impl<'a> Notification<'a> {
    pub fn decode(body: &'a [u8]) -> Notification<'a> {
        Notification {
            code: body[0],
            subcode: body[1],
            data: &body[2..],
        }
    }

    /// The operator's message of an administrative shutdown or reset
    /// (RFC 9003: a length octet, then UTF-8), if it carries a valid one.
    pub fn shutdown_message(&self) -> Option<&'a str> {
        let admin = self.code == err::CEASE
            && matches!(
                self.subcode,
                err::CEASE_ADMIN_SHUTDOWN | err::CEASE_ADMIN_RESET
            );
        let (&len, rest) = self.data.split_first()?;
        let text = rest.get(..usize::from(len))?;
        if !admin || len == 0 {
            return None;
        }
        std::str::from_utf8(text).ok()
    }
}

impl std::fmt::Display for Notification<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&describe(self.code, self.subcode))?;
        if let Some(m) = self.shutdown_message() {
            write!(f, ": \"{m}\"")?;
        }
        Ok(())
    }
}

/// "Cease / administrative shutdown", for logs and `sluice show peers`.
pub fn describe(code: u8, subcode: u8) -> String {
    let (c, s) = match (code, subcode) {
        (err::HEADER, 1) => ("message header error", "connection not synchronized"),
        (err::HEADER, 2) => ("message header error", "bad message length"),
        (err::HEADER, 3) => ("message header error", "bad message type"),
        (err::OPEN, 1) => ("OPEN error", "unsupported version"),
        (err::OPEN, 2) => ("OPEN error", "bad peer AS"),
        (err::OPEN, 3) => ("OPEN error", "bad BGP identifier"),
        (err::OPEN, 4) => ("OPEN error", "unsupported optional parameter"),
        (err::OPEN, 6) => ("OPEN error", "unacceptable hold time"),
        (err::OPEN, 7) => ("OPEN error", "unsupported capability"),
        (err::OPEN, _) => ("OPEN error", ""),
        (err::UPDATE, 1) => ("UPDATE error", "malformed attribute list"),
        (err::UPDATE, 3) => ("UPDATE error", "missing well-known attribute"),
        (err::UPDATE, 4) => ("UPDATE error", "attribute flags error"),
        (err::UPDATE, 5) => ("UPDATE error", "attribute length error"),
        (err::UPDATE, 6) => ("UPDATE error", "invalid ORIGIN"),
        (err::UPDATE, 8) => ("UPDATE error", "invalid NEXT_HOP"),
        (err::UPDATE, 9) => ("UPDATE error", "optional attribute error"),
        (err::UPDATE, 10) => ("UPDATE error", "invalid network field"),
        (err::UPDATE, 11) => ("UPDATE error", "malformed AS_PATH"),
        (err::UPDATE, _) => ("UPDATE error", ""),
        (err::HOLD_TIMER_EXPIRED, _) => ("hold timer expired", ""),
        (err::FSM, _) => ("finite state machine error", ""),
        (err::CEASE, 1) => ("cease", "maximum number of prefixes reached"),
        (err::CEASE, 2) => ("cease", "administrative shutdown"),
        (err::CEASE, 3) => ("cease", "peer de-configured"),
        (err::CEASE, 4) => ("cease", "administrative reset"),
        (err::CEASE, 5) => ("cease", "connection rejected"),
        (err::CEASE, 6) => ("cease", "other configuration change"),
        (err::CEASE, 7) => ("cease", "connection collision resolution"),
        (err::CEASE, 8) => ("cease", "out of resources"),
        (err::CEASE, 9) => ("cease", "hard reset"),
        (err::CEASE, _) => ("cease", ""),
        (err::ROUTE_REFRESH, _) => ("ROUTE-REFRESH error", ""),
        _ => return format!("error {code}/{subcode}"),
    };
    if s.is_empty() {
        format!("{c} (subcode {subcode})")
    } else {
        format!("{c} / {s}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc9003_message() {
        let mut data = vec![11];
        data.extend(b"maintenance");
        let n = Notification {
            code: 6,
            subcode: 2,
            data: &data,
        };
        assert_eq!(n.shutdown_message(), Some("maintenance"));
        assert_eq!(
            n.to_string(),
            "cease / administrative shutdown: \"maintenance\""
        );
        // Length beyond the data, or not a shutdown: no message.
        assert_eq!(
            Notification {
                code: 6,
                subcode: 2,
                data: &[20, b'a']
            }
            .shutdown_message(),
            None
        );
        assert_eq!(
            Notification {
                code: 6,
                subcode: 1,
                data: &data
            }
            .shutdown_message(),
            None
        );
    }
}
