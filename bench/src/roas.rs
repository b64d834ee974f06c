//! RPKI for the full-table benchmark: VRPs for the generated table, as the
//! JSON file StayRTR serves, and the cache run in the receiver's
//! namespace.
//!
//! Prefixes of the table with no more-specific in it, evenly spread, get a
//! VRP for its own length and origin (so that, as in the DFZ, few routes
//! are invalid); one VRP in a hundred names another origin. Routes a VRP covers
//! without matching (that one, and more-specifics of other origins under
//! a covering VRP) are invalid and every receiver rejects them: how many
//! is found by validating the whole table, as the receivers will. The
//! first and last prefix of each family (the samples the RIB is checked
//! for) get no wrong VRP.

use std::fmt::Write as _;
use std::path::Path;

use sluice_rpki::{Validity, Vrp, VrpTable};

use crate::table::Table;

/// Every route of the table: prefix and origin AS.
fn all_routes(table: &Table) -> impl Iterator<Item = (ipnet::IpNet, Option<u32>)> + '_ {
    let origin = |set: u32| table.sets[set as usize].as_path.last().copied();
    let v4 = table
        .v4
        .iter()
        .map(move |(p, s)| (ipnet::IpNet::V4(*p), origin(*s)));
    let v6 = table
        .v6
        .iter()
        .map(move |(p, s)| (ipnet::IpNet::V6(*p), origin(*s)));
    v4.chain(v6)
}

/// The RTR port StayRTR listens on, on the receiver's loopback.
pub const PORT: u16 = 8282;

/// What was written: VRPs and the routes they make invalid.
#[derive(Debug, Clone, Copy)]
pub struct Roas {
    pub vrps: usize,
    pub invalid: usize,
}

/// The prefixes that can have a VRP without making another route invalid
/// (no prefix of the table is more specific), each with its attribute set
/// and whether it is a sample. The table is in address order, so a prefix
/// comes right before the first one it covers.
fn leaves(table: &Table) -> Vec<(ipnet::IpNet, u32, bool)> {
    let v4 = table.v4.iter().map(|(p, s)| (ipnet::IpNet::V4(*p), *s));
    let v6 = table.v6.iter().map(|(p, s)| (ipnet::IpNet::V6(*p), *s));
    let mut out = Vec::new();
    for family in [v4.collect::<Vec<_>>(), v6.collect()] {
        let last = family.len().saturating_sub(1);
        for (i, (prefix, set)) in family.iter().enumerate() {
            if !family.get(i + 1).is_some_and(|(n, _)| prefix.contains(n)) {
                out.push((*prefix, *set, i == 0 || i == last));
            }
        }
    }
    out
}

/// Writes VRPs for `wanted` of the [`leaves`] of `table` (all of them if
/// there are fewer), evenly spread, to `path`.
pub fn write(table: &Table, wanted: usize, path: &Path) -> std::io::Result<Roas> {
    let leaves = leaves(table);
    let mut json = String::with_capacity(wanted * 64 + 16);
    json.push_str("{\"roas\":[");
    let mut vrps = 0;
    let mut table_vrps = VrpTable::default();
    for (j, &(prefix, set, sample)) in leaves.iter().enumerate() {
        // Evenly spread: the leaves where j * wanted / all crosses a
        // whole number.
        if (j + 1) * wanted / leaves.len() == j * wanted / leaves.len() {
            continue;
        }
        let Some(&origin) = table.sets[set as usize].as_path.last() else {
            continue;
        };
        let wrong = vrps % 100 == 50 && !sample;
        if vrps > 0 {
            json.push(',');
        }
        let asn = if wrong {
            origin.wrapping_add(1)
        } else {
            origin
        };
        table_vrps.insert(Vrp {
            prefix,
            max_len: prefix.prefix_len(),
            asn,
        });
        let _ = write!(
            json,
            "{{\"prefix\":\"{prefix}\",\"maxLength\":{},\"asn\":\"AS{asn}\"}}",
            prefix.prefix_len()
        );
        vrps += 1;
    }
    json.push_str("]}");
    std::fs::write(path, json)?;
    // Whatever VRPs cover them decides, as in the receivers.
    let invalid = all_routes(table)
        .filter(|(p, origin)| table_vrps.validate(p, *origin) == Validity::Invalid)
        .count();
    Ok(Roas { vrps, invalid })
}

/// StayRTR's command line serving `path` on the loopback.
pub fn stayrtr(path: &Path) -> Vec<String> {
    [
        "stayrtr",
        "-bind",
        &format!("127.0.0.1:{PORT}"),
        "-cache",
        &path.to_string_lossy(),
        "-checktime=false",
        "-metrics.addr",
        "",
        "-refresh",
        "3600",
        "-log.verbose=false",
    ]
    .map(str::to_owned)
    .to_vec()
}
