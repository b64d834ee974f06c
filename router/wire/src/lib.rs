//! BGP-4 on the wire (RFC 4271), with 4-octet ASNs (RFC 6793), MP-BGP
//! (RFC 4760, 2545), route refresh (RFC 2918), graceful restart (RFC 4724),
//! extended messages (RFC 8654), large communities (RFC 8092), revised
//! error handling (RFC 7606) and the shutdown message (RFC 9003).
//!
//! Decoding borrows from the received buffer: an UPDATE is three slices
//! (withdrawn, attributes, NLRI) and its attributes are read lazily, so a
//! route that is dropped by policy never costs an allocation, and attribute
//! bytes can be interned or re-sent unchanged. RFC 7606 lives in the
//! parser: [`update::Attrs::parse`] says whether an UPDATE is fine, must be
//! treated as a withdraw, or must reset the session.
//!
//! Layers: [`message`] frames and dispatches, [`open`], [`update`],
//! [`notification`] decode each message, [`nlri`] the prefixes, and
//! [`encode`] writes all of them.

pub mod encode;
pub mod iana;
pub mod message;
pub mod nlri;
pub mod notification;
pub mod open;
pub mod update;

pub use message::{Message, Notify, frame};
pub use nlri::{Afi, Prefix};
