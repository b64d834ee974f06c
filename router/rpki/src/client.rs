//! One RTR session with a cache, as a state machine (RFC 8210 §8).
//!
//! The caller connects, sends [`Client::connected`]'s query, feeds every
//! PDU it reads to [`Client::handle`] and writes what comes back; on a
//! [`Fault`] it sends the fault's Error Report, if any, closes the
//! connection and tries again later (at once, with version 0, after a
//! [`Fault::downgrade`]). The client keeps its cache's whole VRP set, so
//! the next connection asks for a delta (Serial Query) where the cache
//! still has one, and reports each completed update as the VRPs it
//! added and removed: a response's changes take effect together, at its
//! End of Data, never half-way.

use std::sync::Arc;

use rustc_hash::FxHashMap;

use crate::pdu::{ErrorCode, Frame, Intervals, Pdu, VERSION};
use crate::vrp::{Vrp, VrpTable};

/// What a completed response changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Update {
    pub announced: Vec<Vrp>,
    pub withdrawn: Vec<Vrp>,
    /// The set was replaced whole (a Reset Query's answer).
    pub reset: bool,
}

/// What the caller does after a PDU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Write this PDU to the cache.
    Send(Frame),
    /// The cache's data changed (End of Data).
    Update(Update),
}

/// A session that must end: send `reply` (if any), close, retry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {text}")]
pub struct Fault {
    pub code: ErrorCode,
    pub text: String,
    /// The Error Report owed to the cache (none answers an Error Report).
    pub reply: Option<Frame>,
    /// The cache speaks only version 0: reconnect at once with it.
    pub downgrade: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    /// Not connected, or connected with no query sent.
    Idle,
    /// A query is out; `reset` if it was a Reset Query.
    Asked { reset: bool },
    /// Between Cache Response and End of Data.
    Receiving { reset: bool },
    /// The last response is applied; waiting for a notify or the refresh.
    Synced,
}

/// One cache's session.
#[derive(Debug, Clone)]
pub struct Client {
    /// The version spoken on the next connection (1, or 0 after a cache
    /// refused 1).
    version: u8,
    /// The version the cache answered with on this connection.
    agreed: Option<u8>,
    state: State,
    session: Option<u16>,
    serial: Option<u32>,
    intervals: Intervals,
    /// Shared with whoever validates with it ([`Client::snapshot`]); a
    /// delta copies it only while such a reader holds the old one.
    table: Arc<VrpTable>,
    /// A Reset Query's answer so far.
    fresh: VrpTable,
    /// A Serial Query's answer so far: announce (true) or withdraw.
    delta: FxHashMap<Vrp, bool>,
}

impl Default for Client {
    fn default() -> Self {
        Client::new()
    }
}

impl Client {
    pub fn new() -> Client {
        Client {
            version: VERSION,
            agreed: None,
            state: State::Idle,
            session: None,
            serial: None,
            intervals: Intervals::default(),
            table: Arc::default(),
            fresh: VrpTable::default(),
            delta: FxHashMap::default(),
        }
    }

    /// The cache's VRPs as of the last End of Data.
    pub fn table(&self) -> &VrpTable {
        &self.table
    }

    /// The table itself, to validate with: nothing is copied until the
    /// next delta changes it.
    pub fn snapshot(&self) -> Arc<VrpTable> {
        Arc::clone(&self.table)
    }

    /// The last End of Data's serial.
    pub fn serial(&self) -> Option<u32> {
        self.serial
    }

    pub fn session(&self) -> Option<u16> {
        self.session
    }

    /// The version in use (or to be used on the next connection).
    pub fn version(&self) -> u8 {
        self.agreed.unwrap_or(self.version)
    }

    /// The cache's timers (version 1), else RFC 8210's defaults.
    pub fn intervals(&self) -> Intervals {
        self.intervals
    }

    /// A new connection: the query to open it with. With data from an
    /// earlier connection, ask for what changed since.
    pub fn connected(&mut self) -> Frame {
        self.agreed = None;
        self.query()
    }

    /// The connection ended: what was half received is dropped; the data
    /// of the last End of Data stays.
    pub fn disconnected(&mut self) {
        // A Serial Query that got no answer: a cache that restarted has
        // another session id and refuses the old one (StayRTR answers
        // Corrupt Data and closes), so the next connection starts over
        // with a Reset Query. The table stays until that answer replaces it.
        if matches!(self.state, State::Asked { reset: false }) {
            self.session = None;
            self.serial = None;
        }
        self.state = State::Idle;
        self.agreed = None;
        self.fresh = VrpTable::default();
        self.delta.clear();
    }

    /// The refresh timer fired: a Serial Query, unless a query is out.
    pub fn refresh(&mut self) -> Option<Frame> {
        matches!(self.state, State::Synced).then(|| self.query())
    }

    fn query(&mut self) -> Frame {
        let pdu = match (self.session, self.serial) {
            (Some(session), Some(serial)) => {
                self.state = State::Asked { reset: false };
                Pdu::SerialQuery { session, serial }
            }
            _ => self.reset_query_pdu(),
        };
        Frame::new(self.version(), pdu)
    }

    fn reset_query_pdu(&mut self) -> Pdu {
        self.state = State::Asked { reset: true };
        self.fresh = VrpTable::default();
        self.delta.clear();
        Pdu::ResetQuery
    }

    fn fault(&self, code: ErrorCode, text: String, offending: Option<&Frame>) -> Fault {
        let reply = Frame::new(
            self.version(),
            Pdu::ErrorReport {
                code,
                pdu: offending.map(Frame::encode).unwrap_or_default(),
                text: text.clone(),
            },
        );
        Fault {
            code,
            text,
            reply: Some(reply),
            downgrade: false,
        }
    }

    /// Handles one PDU from the cache.
    pub fn handle(&mut self, frame: Frame) -> Result<Vec<Event>, Fault> {
        // The first PDU fixes the version (RFC 8210 §7): a lower one than
        // asked for is the cache's own, and this side follows it.
        match self.agreed {
            None if frame.version <= self.version => self.agreed = Some(frame.version),
            Some(v) if v == frame.version => {}
            _ => {
                return Err(self.fault(
                    ErrorCode::UnexpectedVersion,
                    format!(
                        "PDU of version {}, session is version {}",
                        frame.version,
                        self.version()
                    ),
                    Some(&frame),
                ));
            }
        }
        let unexpected = |me: &Client, what: &str| {
            Err(me.fault(
                ErrorCode::InvalidRequest,
                format!("{what} while {:?}", me.state),
                Some(&frame),
            ))
        };
        match &frame.pdu {
            Pdu::SerialNotify { .. } => Ok(self.refresh().map(Event::Send).into_iter().collect()),
            Pdu::CacheResponse { session } => {
                let State::Asked { reset } = self.state else {
                    return unexpected(self, "Cache Response");
                };
                if !reset && self.session != Some(*session) {
                    // A new cache instance: its serials mean nothing here.
                    return Ok(vec![Event::Send(Frame::new(
                        self.version(),
                        self.reset_query_pdu(),
                    ))]);
                }
                self.session = Some(*session);
                self.state = State::Receiving { reset };
                Ok(vec![])
            }
            Pdu::Prefix { announce, vrp } => {
                let State::Receiving { reset } = self.state else {
                    return unexpected(self, "Prefix");
                };
                self.receive(reset, *announce, *vrp)
                    .map_err(|(code, text)| self.fault(code, text, Some(&frame)))?;
                Ok(vec![])
            }
            Pdu::RouterKey { .. } => match self.state {
                State::Receiving { .. } => Ok(vec![]),
                _ => unexpected(self, "Router Key"),
            },
            Pdu::EndOfData {
                session,
                serial,
                intervals,
            } => {
                let State::Receiving { reset } = self.state else {
                    return unexpected(self, "End of Data");
                };
                if self.session != Some(*session) {
                    return Err(self.fault(
                        ErrorCode::CorruptData,
                        format!(
                            "End of Data for session {session}, response was {:?}",
                            self.session
                        ),
                        Some(&frame),
                    ));
                }
                self.serial = Some(*serial);
                if let Some(i) = intervals {
                    self.intervals = *i;
                }
                self.state = State::Synced;
                Ok(vec![Event::Update(self.apply(reset))])
            }
            Pdu::CacheReset => match self.state {
                State::Asked { reset: false } => Ok(vec![Event::Send(Frame::new(
                    self.version(),
                    self.reset_query_pdu(),
                ))]),
                _ => unexpected(self, "Cache Reset"),
            },
            Pdu::ErrorReport { code, text, .. } => {
                let downgrade = *code == ErrorCode::UnsupportedVersion && self.version > 0;
                if downgrade {
                    self.version = 0;
                }
                Err(Fault {
                    code: *code,
                    text: format!("the cache reports: {text}"),
                    reply: None,
                    downgrade,
                })
            }
            Pdu::SerialQuery { .. } | Pdu::ResetQuery => unexpected(self, "a query"),
        }
    }

    /// One Prefix PDU of a response.
    fn receive(
        &mut self,
        reset: bool,
        announce: bool,
        vrp: Vrp,
    ) -> Result<(), (ErrorCode, String)> {
        if reset {
            if !announce {
                return Err((
                    ErrorCode::WithdrawalOfUnknown,
                    format!("withdrawal of {vrp} in a reset"),
                ));
            }
            if !self.fresh.insert(vrp) {
                return Err((
                    ErrorCode::DuplicateAnnouncement,
                    format!("{vrp} announced twice"),
                ));
            }
            return Ok(());
        }
        let present = match self.delta.get(&vrp) {
            Some(&announced) => announced,
            None => self.table.contains(&vrp),
        };
        match (announce, present) {
            (true, true) => Err((
                ErrorCode::DuplicateAnnouncement,
                format!("{vrp} announced twice"),
            )),
            (false, false) => Err((
                ErrorCode::WithdrawalOfUnknown,
                format!("withdrawal of unknown {vrp}"),
            )),
            _ => {
                // Back to what the table holds: no change after all.
                if self.table.contains(&vrp) == announce {
                    self.delta.remove(&vrp);
                } else {
                    self.delta.insert(vrp, announce);
                }
                Ok(())
            }
        }
    }

    /// Makes the response just ended the table; returns the difference.
    fn apply(&mut self, reset: bool) -> Update {
        let mut update = Update {
            reset,
            ..Update::default()
        };
        if reset {
            let fresh = std::mem::take(&mut self.fresh);
            update.withdrawn = self.table.iter().filter(|v| !fresh.contains(v)).collect();
            update.announced = fresh.iter().filter(|v| !self.table.contains(v)).collect();
            self.table = Arc::new(fresh);
        } else if !self.delta.is_empty() {
            let table = Arc::make_mut(&mut self.table);
            for (vrp, announce) in self.delta.drain() {
                if announce {
                    table.insert(vrp);
                    update.announced.push(vrp);
                } else {
                    table.remove(&vrp);
                    update.withdrawn.push(vrp);
                }
            }
        }
        update.announced.sort_unstable();
        update.withdrawn.sort_unstable();
        update
    }
}

#[cfg(test)]
mod tests;
