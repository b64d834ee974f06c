//! Timer jitter (RFC 4271 §10): the connect retry and keepalive timers
//! run 75–100% of their base, so that sessions that started or failed
//! together (a peer's restart, a shared link) do not keep in step.

use std::time::Duration;

/// `base` jittered by a fresh random draw.
pub fn jittered(base: Duration) -> Duration {
    jittered_by(base, random_u64())
}

/// 75–100% of `base`, by `r` (0: all of it).
fn jittered_by(base: Duration, r: u64) -> Duration {
    base - (base / 4).mul_f64((r >> 11) as f64 / (1u64 << 53) as f64)
}

/// 64 random bits, from the standard library's per-process random keys
/// (no dependency for a timer's jitter).
fn random_u64() -> u64 {
    use std::hash::BuildHasher;
    std::collections::hash_map::RandomState::new().hash_one(0u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn within_a_quarter_below_the_base() {
        let base = Duration::from_secs(120);
        assert_eq!(jittered_by(base, 0), base);
        let low = jittered_by(base, u64::MAX);
        assert!(
            low >= base.mul_f64(0.75) && low < base.mul_f64(0.7501),
            "{low:?}"
        );
        let waits: std::collections::BTreeSet<Duration> = (0..32).map(|_| jittered(base)).collect();
        assert!(waits.len() > 16, "{waits:?}");
        assert!(waits.iter().all(|w| *w >= base.mul_f64(0.75) && *w <= base));
    }
}
