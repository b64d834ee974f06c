//! Sluice's routing core, free of I/O: interned path attributes
//! ([`attrs`]), the table of every peer's paths with best-path selection
//! ([`table`], [`decision`]), import/export policy ([`policy`],
//! [`export`]) and the route-to-FIB function ([`fib`]) shared by the daemon
//! and the validator.

pub mod attrs;
pub mod decision;
pub mod export;
pub mod fib;
pub mod page;
pub mod policy;
pub mod store;
pub mod table;
pub mod ways;

pub use attrs::{AttrId, PathAttrs};
pub use decision::{PeerInfo, Reason};
pub use table::{Path, PeerId, Rib, Selection};
