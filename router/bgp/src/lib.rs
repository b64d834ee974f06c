//! BGP sessions: OPEN negotiation ([`negotiate`], pure), the connection
//! ([`conn`]), socket options ([`sockopt`]) and the per-peer task
//! ([`session`]) that turns a TCP connection into route events.

pub mod conn;
pub mod negotiate;
pub mod session;
pub mod sockopt;
