//! The daemon's side of paged answers: the cap, and the cursor a client
//! sends back. Pages themselves are found as [`sluice_rib::page`] does.

use sluice_wire::Prefix;

pub use sluice_rib::page::{Page, smallest_after};

/// The first `limit` of `keys` (in any order, each once) that sort after
/// `after`, with `limit` capped at [`sluice_control::MAX_LIMIT`].
pub fn page<T: Ord + Copy>(
    keys: impl IntoIterator<Item = T>,
    after: Option<T>,
    limit: usize,
) -> Page<T> {
    smallest_after(keys, after, sluice_control::capped(limit))
}

/// A `--after` cursor: a prefix as an earlier answer wrote it.
pub fn cursor(after: Option<&str>) -> Result<Option<Prefix>, String> {
    after
        .map(|s| {
            s.parse::<Prefix>().map(|p| p.trunc()).map_err(|_| {
                format!("--after `{s}` is not a prefix (give the `next` of an answer)")
            })
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_daemon_caps_the_limit() {
        let p = page(0..50_000u32, None, usize::MAX);
        assert_eq!(p.items.len(), sluice_control::MAX_LIMIT);
        assert!(p.more);
        assert_eq!(p.items[..3], [0, 1, 2]);
        // Zero asks for the least there is: one.
        assert_eq!(page(0..5u32, None, 0).items, [0]);
    }

    #[test]
    fn prefixes_sort_by_address_then_length_v4_first() {
        let keys: Vec<Prefix> = ["2001:db8::/32", "10.0.0.0/16", "10.0.0.0/8", "9.0.0.0/8"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        let p = page(keys.iter().copied(), None, 3);
        let shown: Vec<String> = p.items.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["9.0.0.0/8", "10.0.0.0/8", "10.0.0.0/16"]);
        assert_eq!(p.next().as_deref(), Some("10.0.0.0/16"));
        let after = cursor(p.next().as_deref()).unwrap();
        let p = page(keys.iter().copied(), after, 3);
        assert_eq!(p.items.len(), 1);
        assert!(!p.more);
        assert!(cursor(Some("nope")).unwrap_err().contains("not a prefix"));
    }
}
