//! RPKI origin validation, free of I/O.
//!
//! * [`pdu`]: the RTR protocol's PDUs, decoded from and encoded to bytes
//!   (RFC 8210 version 1, RFC 6810 version 0);
//! * [`client`]: one RTR session as a state machine: PDUs in, PDUs to send
//!   and VRP changes out; the caller owns the socket and the clock;
//! * [`vrp`]: the validated ROA payloads and RFC 6811 origin validation
//!   of a route against them;
//! * [`replay`]: what the fuzz target checks of a cache's byte stream.

pub mod client;
pub mod pdu;
pub mod replay;
pub mod vrp;

pub use client::{Client, Event};
pub use vrp::{Validity, Vrp, VrpTable};
