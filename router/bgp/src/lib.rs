//! BGP sessions: OPEN negotiation ([`negotiate`], pure), the connection
//! ([`conn`]), socket options ([`sockopt`]), limits on what a received
//! UPDATE may cost ([`limits`]), the per-peer task
//! ([`session`]) that turns a TCP connection into route events, and its
//! sending half ([`writer`]).

pub mod conn;
mod jitter;
pub mod limits;
pub mod negotiate;
pub mod session;
pub mod sockopt;
pub mod writer;
