//! What one UPDATE may cost: AS_PATH length and attribute count past which
//! its routes are treated as withdrawn (RFC 7606's treat-as-withdraw, so
//! the session stays up), and how often a session may log about bad input.

use std::time::{Duration, Instant};

use sluice_wire::update::{self, Attrs};

/// Limits on received paths. A path over them is not kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// ASNs in the AS_PATH, every segment counted.
    pub max_as_path: usize,
    /// Path attributes in one UPDATE.
    pub max_attributes: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_as_path: 255,
            max_attributes: 64,
        }
    }
}

impl Limits {
    /// Why these attributes are over the limits, if they are.
    pub fn exceeded(&self, a: &Attrs<'_>, four_octet: bool) -> Option<String> {
        let asns = a.as_path.map_or(0, |p| update::as_path_asns(p, four_octet));
        if asns > self.max_as_path {
            return Some(format!(
                "AS_PATH of {asns} ASNs, more than {}",
                self.max_as_path
            ));
        }
        if a.count > self.max_attributes {
            return Some(format!(
                "{} path attributes, more than {}",
                a.count, self.max_attributes
            ));
        }
        None
    }
}

/// At most [`LogBudget::PER_MINUTE`] messages a minute about one
/// session's bad input; what is held back is counted and said with the
/// next message let through.
#[derive(Debug)]
pub struct LogBudget {
    window: Instant,
    used: u32,
    held: u64,
}

impl Default for LogBudget {
    fn default() -> LogBudget {
        LogBudget {
            window: Instant::now(),
            used: 0,
            held: 0,
        }
    }
}

impl LogBudget {
    pub const PER_MINUTE: u32 = 10;

    /// Some(messages held back since the last one) if this one may be
    /// logged; None if it is held back.
    pub fn allow(&mut self, now: Instant) -> Option<u64> {
        if now.duration_since(self.window) >= Duration::from_secs(60) {
            self.window = now;
            self.used = 0;
        }
        if self.used >= Self::PER_MINUTE {
            self.held += 1;
            return None;
        }
        self.used += 1;
        Some(std::mem::take(&mut self.held))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_wire::encode;
    use sluice_wire::iana::attr;
    use sluice_wire::update::{Ctx, Verdict};
    use sluice_wire::{Message, Prefix};

    fn parse_and_check(path: &[u8], extra: u8) -> Option<String> {
        let mut a = Vec::new();
        encode::attribute(&mut a, attr::FLAG_TRANSITIVE, attr::ORIGIN, &[0]);
        encode::attribute(&mut a, attr::FLAG_TRANSITIVE, attr::AS_PATH, path);
        encode::attribute(
            &mut a,
            attr::FLAG_TRANSITIVE,
            attr::NEXT_HOP,
            &[192, 0, 2, 1],
        );
        for code in 0..extra {
            encode::attribute(
                &mut a,
                attr::FLAG_OPTIONAL | attr::FLAG_TRANSITIVE,
                100 + code,
                &[1],
            );
        }
        let p: Prefix = "198.51.100.0/24".parse().unwrap();
        let mut nlri = Vec::new();
        sluice_wire::nlri::encode(&p, &mut nlri);
        let m = encode::update(&[], &a, &nlri);
        let Ok(Message::Update(u)) = Message::decode(&m) else {
            panic!()
        };
        let ctx = Ctx {
            four_octet_as: true,
            ebgp: true,
        };
        let (attrs, verdict) = sluice_wire::update::Attrs::parse(&u, ctx).unwrap();
        assert_eq!(verdict, Verdict::Use);
        Limits {
            max_as_path: 300,
            max_attributes: 10,
        }
        .exceeded(&attrs, true)
    }

    fn path(segments: &[usize]) -> Vec<u8> {
        let mut out = Vec::new();
        for &n in segments {
            out.extend([2, u8::try_from(n).unwrap()]);
            out.extend((0..n).flat_map(|i| (65000 + i as u32).to_be_bytes()));
        }
        out
    }

    #[test]
    fn long_paths_and_many_attributes_are_over() {
        assert_eq!(parse_and_check(&path(&[255, 45]), 0), None);
        let long = parse_and_check(&path(&[255, 46]), 0).unwrap();
        assert!(long.contains("301 ASNs"), "{long}");
        assert_eq!(parse_and_check(&path(&[3]), 7), None);
        let many = parse_and_check(&path(&[3]), 8).unwrap();
        assert!(many.contains("11 path attributes"), "{many}");
    }

    #[test]
    fn the_log_budget_holds_back_and_counts() {
        let t0 = Instant::now();
        let mut b = LogBudget {
            window: t0,
            used: 0,
            held: 0,
        };
        for _ in 0..LogBudget::PER_MINUTE {
            assert_eq!(b.allow(t0), Some(0));
        }
        assert_eq!(b.allow(t0), None);
        assert_eq!(b.allow(t0 + Duration::from_secs(30)), None);
        assert_eq!(b.allow(t0 + Duration::from_secs(61)), Some(2));
        assert_eq!(b.allow(t0 + Duration::from_secs(62)), Some(0));
    }
}
