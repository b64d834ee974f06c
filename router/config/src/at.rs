//! `At<T>`: a config value together with where it was written.
//!
//! Every finding of the validator points at a line and column, so the model
//! keeps positions for the values rules talk about. serde-saphyr's `Spanned`
//! records them; `At` adds what the model needs on top (`Default` for keys
//! that may be left out, `Deref`, a compact position).

use std::fmt;
use std::ops::Deref;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A 1-based line and column in the config file, and the length in characters
/// of the value there (0 when unknown). Line 0 means "not in the file" (a default).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Pos {
    pub line: u32,
    pub column: u32,
    #[serde(skip)]
    pub len: u32,
}

impl Pos {
    pub const UNKNOWN: Pos = Pos {
        line: 0,
        column: 0,
        len: 0,
    };

    pub fn is_known(&self) -> bool {
        self.line > 0
    }

    pub(crate) fn from_saphyr(loc: serde_saphyr::Location) -> Pos {
        let clamp = |v: u64| u32::try_from(v).unwrap_or(u32::MAX);
        Pos {
            line: clamp(loc.line()),
            column: clamp(loc.column()),
            len: clamp(loc.span().len()),
        }
    }
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// A value and its position in the config file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct At<T> {
    pub value: T,
    pub pos: Pos,
}

impl<T> At<T> {
    /// A value that was not written in the file (a default or a test fixture).
    pub fn unplaced(value: T) -> Self {
        At {
            value,
            pos: Pos::UNKNOWN,
        }
    }
}

impl<T> Deref for At<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T: fmt::Display> fmt::Display for At<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.value.fmt(f)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for At<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let spanned = serde_saphyr::Spanned::<T>::deserialize(d)?;
        Ok(At {
            pos: Pos::from_saphyr(spanned.referenced),
            value: spanned.value,
        })
    }
}

impl<T: Serialize> Serialize for At<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.value.serialize(s)
    }
}
