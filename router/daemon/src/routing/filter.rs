//! `show routes` filters: which paths to show, parsed once per request.
//!
//! The AS-path filter is a regular expression over the path as FRR writes
//! it (`65001 65002 {65003,65004}`), with FRR's `_` for any boundary, so an
//! operator's `as-path access-list` pattern works as is. Its answer is kept
//! per attribute set: a full table has a few thousand, not a million.

use std::collections::HashMap;

use regex::Regex;
use sluice_config::values::{
    CommunityPattern, ExtCommunityPattern, LargeCommunityPattern, as_path_regex,
};
use sluice_control::RouteFilters;
use sluice_rib::attrs::AttrId;
use sluice_rib::{Path, Rib};
use sluice_rpki::Validity;
use sluice_wire::Prefix;

use super::rpki::Rpki;

/// A community (or a pattern, `64500:*`) to look for, in one of the
/// three kinds.
#[derive(Debug)]
enum Wanted {
    Standard(CommunityPattern),
    Large(LargeCommunityPattern),
    Extended(ExtCommunityPattern),
}

/// The parsed filters of one request.
#[derive(Debug)]
pub struct Filter<'a> {
    peer: Option<String>,
    community: Option<Wanted>,
    as_path: Option<Regex>,
    rpki: Option<(Validity, Option<&'a Rpki>, u32)>,
    /// AS-path answers per attribute set.
    seen: HashMap<AttrId, bool>,
}

impl<'a> Filter<'a> {
    /// `None` when nothing is filtered.
    pub fn new(
        f: &RouteFilters,
        rpki: Option<&'a Rpki>,
        asn: u32,
    ) -> Result<Option<Filter<'a>>, String> {
        if f.is_empty() {
            return Ok(None);
        }
        let community = f
            .community
            .as_deref()
            .map(|c| {
                if c.starts_with("target:") || c.starts_with("origin:") {
                    c.parse().map(Wanted::Extended)
                } else if c.matches(':').count() == 2 {
                    c.parse().map(Wanted::Large)
                } else {
                    c.parse().map(Wanted::Standard)
                }
                .map_err(|e| format!("--community: {e}"))
            })
            .transpose()?;
        let rpki = f
            .rpki
            .as_deref()
            .map(|s| s.parse::<Validity>().map(|v| (v, rpki, asn)))
            .transpose()
            .map_err(|e| format!("--rpki: {e}"))?;
        Ok(Some(Filter {
            peer: f.peer.clone(),
            community,
            as_path: f
                .as_path
                .as_deref()
                .map(as_path_regex)
                .transpose()
                .map_err(|e| format!("--as-path: {e}"))?,
            rpki,
            seen: HashMap::new(),
        }))
    }

    /// Whether `path` to `prefix` passes every filter.
    pub fn matches(&mut self, rib: &Rib, prefix: &Prefix, path: &Path) -> bool {
        if let Some(peer) = &self.peer
            && rib.peer(path.peer).name != *peer
            && rib.peer(path.peer).address.to_string() != *peer
        {
            return false;
        }
        let a = rib.attrs.get(path.attrs);
        let community_ok = match &self.community {
            None => true,
            Some(Wanted::Standard(p)) => a.communities.iter().any(|c| p.matches(*c)),
            Some(Wanted::Large(p)) => a.rare.large_communities.iter().any(|c| p.matches(*c)),
            Some(Wanted::Extended(p)) => a.extended_communities().any(|c| p.matches(c)),
        };
        if !community_ok {
            return false;
        }
        if let Some((want, rpki, asn)) = self.rpki {
            let state = rpki.map_or(Validity::Unknown, |r| r.validity(prefix, a.origin_as(asn)));
            if state != want {
                return false;
            }
        }
        match &self.as_path {
            None => true,
            Some(re) => *self
                .seen
                .entry(path.attrs)
                .or_insert_with(|| re.is_match(&a.as_path_text())),
        }
    }
}

#[cfg(test)]
mod tests {
    use sluice_rib::attrs::PathAttrs;
    use sluice_wire::update::AS_SEQUENCE;

    use super::*;

    fn path(segments: &[(u8, &[u32])]) -> PathAttrs {
        let mut as_path = Vec::new();
        for (kind, asns) in segments {
            as_path.extend([*kind, asns.len() as u8]);
            for a in *asns {
                as_path.extend(a.to_be_bytes());
            }
        }
        PathAttrs {
            as_path,
            ..Default::default()
        }
    }

    #[test]
    fn frr_style_patterns() {
        let a = path(&[(AS_SEQUENCE, &[65001, 3356, 13335]), (1, &[7, 8])]);
        assert_eq!(a.as_path_text(), "65001 3356 13335 {7,8}");
        let m = |p: &str| as_path_regex(p).unwrap().is_match(&a.as_path_text());
        assert!(m("^65001_"));
        assert!(m("_3356_"));
        assert!(!m("_335_"), "a boundary, not a substring");
        assert!(m("_13335_"));
        assert!(m("_7_"), "inside a set");
        assert!(!m("^3356"));
        assert!(m(".*"));
        assert!(as_path_regex("(").is_err());
        assert!(as_path_regex(&"1".repeat(2000)).is_err());
    }
}
