//! What-if evaluation: the FIB and the exports in uplink states nobody
//! has entered yet, computed by the same pure functions the daemon
//! programs from (`sluice_rib::fib`, `sluice_rib::export`; DESIGN.md,
//! principle 1).
//!
//! [`compare`] sets one state against another; [`drain`] turns that into
//! the pre-check of `sluice drain`. Each property is a rule with a stable
//! ID ([`rules::RULES`]), listed by `sluice validate --list-rules` and
//! waivable like the static rules.

pub mod compare;
pub mod drain;
pub mod eval;
pub mod rules;

pub use compare::{Comparison, compare};
pub use drain::{DrainPlan, drain_plan};
pub use eval::{Evaluator, Fate};

#[cfg(test)]
mod tests;
