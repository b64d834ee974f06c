//! Sluice's config: the typed model of the config contract (docs/config.md,
//! `configs/example.yaml`), its loader with precise errors, and the static
//! validator. No I/O beyond reading the file: `sluice validate` and
//! `sluice run` call the same [`load`] and [`validate::check`].

pub mod at;
pub mod diag;
pub mod load;
pub mod model;
pub mod prefix_list;
pub mod validate;
pub mod values;

pub use at::{At, Pos};
pub use diag::{Finding, Severity, Source};
pub use load::{LoadError, Loaded, load, parse};
pub use model::Config;
