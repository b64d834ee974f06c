//! RPKI for the full-table benchmark: VRPs for the generated table, as the
//! JSON file StayRTR serves, and the cache run in the receiver's
//! namespace.
//!
//! Every `step`-th prefix of the table with no more-specific in it gets a
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

/// Writes VRPs for every n-th prefix of `table` with no more-specific, n
/// chosen to give about `wanted` (at most that many), to `path`.
pub fn write(table: &Table, wanted: usize, path: &Path) -> std::io::Result<Roas> {
    // Spread over the prefixes that can have one (no more-specific).
    let leaves =
        |v: &[(ipnet::IpNet, u32)]| v.windows(2).filter(|w| !w[0].0.contains(&w[1].0)).count() + 1;
    let v4: Vec<(ipnet::IpNet, u32)> = table
        .v4
        .iter()
        .map(|(p, s)| (ipnet::IpNet::V4(*p), *s))
        .collect();
    let v6: Vec<(ipnet::IpNet, u32)> = table
        .v6
        .iter()
        .map(|(p, s)| (ipnet::IpNet::V6(*p), *s))
        .collect();
    let all_leaves = leaves(&v4) + leaves(&v6);
    drop((v4, v6));
    let mut json = String::with_capacity(wanted * 64 + 16);
    json.push_str("{\"roas\":[");
    let mut vrps = 0;
    // Leaves seen so far, of both families.
    let mut leaf = 0usize;
    let mut table_vrps = VrpTable::default();
    // (prefix, set, whether a more-specific follows it: the table is in
    // address order, a prefix before what it covers).
    let v4 = table.v4.iter().enumerate().map(|(i, (p, s))| {
        let covers = table.v4.get(i + 1).is_some_and(|(n, _)| p.contains(n));
        (ipnet::IpNet::V4(*p), *s, covers, table.v4.len())
    });
    let v6 = table.v6.iter().enumerate().map(|(i, (p, s))| {
        let covers = table.v6.get(i + 1).is_some_and(|(n, _)| p.contains(n));
        (ipnet::IpNet::V6(*p), *s, covers, table.v6.len())
    });
    for (i, (prefix, set, covers, family_len)) in v4.enumerate().chain(v6.enumerate()) {
        if covers {
            continue;
        }
        leaf += 1;
        // Evenly spread: the leaves where leaf * wanted / all crosses a
        // whole number.
        if leaf * wanted / all_leaves == (leaf - 1) * wanted / all_leaves {
            continue;
        }
        let Some(&origin) = table.sets[set as usize].as_path.last() else {
            continue;
        };
        let sample = i == 0 || i + 1 == family_len;
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
