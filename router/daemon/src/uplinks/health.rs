//! One health probe's record: consecutive losses against `fail_after`,
//! an unbroken run of answers against `recover_after`, and the recent loss
//! and round-trip time for `show uplinks` and the metrics. Pure: results
//! and the clock come in.

use std::collections::VecDeque;
use std::net::IpAddr;

use sluice_config::model::Probe;
use sluice_control::ProbeView;

/// Results kept for the recent loss.
const RECENT: usize = 60;

#[derive(Clone, Debug, PartialEq)]
pub struct Health {
    pub target: IpAddr,
    fail_after: u32,
    recover_after_ms: u64,
    /// Losses in a row.
    losses: u32,
    /// `fail_after` losses in a row happened, and no `recover_after` of
    /// answers since.
    failed: bool,
    /// Start of the current run of answers.
    answering_since: Option<u64>,
    sent: u64,
    lost: u64,
    recent: VecDeque<bool>,
    rtt_us: Option<u32>,
}

impl Health {
    pub fn new(probe: &Probe) -> Health {
        Health {
            target: probe.target.value,
            fail_after: probe.fail_after.max(1),
            recover_after_ms: u64::try_from(probe.recover_after.0.as_millis()).unwrap_or(u64::MAX),
            losses: 0,
            failed: false,
            answering_since: None,
            sent: 0,
            lost: 0,
            recent: VecDeque::with_capacity(RECENT),
            rtt_us: None,
        }
    }

    /// Whether `probe` is the same probe with the same thresholds (a
    /// reload keeps its record then).
    pub fn same(&self, probe: &Probe) -> bool {
        let n = Health::new(probe);
        (n.target, n.fail_after, n.recover_after_ms)
            == (self.target, self.fail_after, self.recover_after_ms)
    }

    /// One probe's result: answered after `rtt_us`, or lost (None).
    /// Returns whether [`Self::failed`] changed.
    pub fn record(&mut self, rtt_us: Option<u32>, now_ms: u64) -> bool {
        let before = self.failed;
        self.sent += 1;
        if self.recent.len() == RECENT {
            self.recent.pop_front();
        }
        self.recent.push_back(rtt_us.is_some());
        match rtt_us {
            Some(rtt) => {
                self.rtt_us = Some(rtt);
                self.losses = 0;
                let since = *self.answering_since.get_or_insert(now_ms);
                if self.failed && now_ms.saturating_sub(since) >= self.recover_after_ms {
                    self.failed = false;
                }
            }
            None => {
                self.lost += 1;
                self.losses += 1;
                self.answering_since = None;
                if self.losses >= self.fail_after {
                    self.failed = true;
                }
            }
        }
        before != self.failed
    }

    /// Lost `fail_after` in a row and not yet answering for `recover_after`.
    pub fn failed(&self) -> bool {
        self.failed
    }

    pub fn state(&self) -> &'static str {
        match (self.failed, self.answering_since.is_some(), self.losses) {
            (true, true, _) => "recovering",
            (true, false, _) => "failed",
            (false, _, 0) => "ok",
            (false, _, _) => "failing",
        }
    }

    pub fn view(&self) -> ProbeView {
        let lost = self.recent.iter().filter(|ok| !**ok).count();
        ProbeView {
            target: self.target.to_string(),
            state: self.state().into(),
            sent: self.sent,
            lost: self.lost,
            recent_loss: if self.recent.is_empty() {
                0.0
            } else {
                lost as f64 / self.recent.len() as f64
            },
            rtt_ms: self.rtt_us.map(|us| f64::from(us) / 1000.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_config::At;
    use sluice_config::values::Duration;

    fn probe() -> Probe {
        Probe {
            target: At::unplaced("198.18.0.53".parse().unwrap()),
            interval: Duration::secs(1),
            fail_after: 3,
            recover_after: Duration::secs(30),
        }
    }

    #[test]
    fn fails_after_n_losses_and_recovers_after_a_run_of_answers() {
        let mut h = Health::new(&probe());
        assert!(!h.record(Some(800), 0));
        assert!(!h.record(None, 1000));
        assert!(!h.record(None, 2000));
        assert_eq!(h.state(), "failing");
        assert!(h.record(None, 3000), "the third loss in a row");
        assert_eq!(h.state(), "failed");
        // Answers again, but one loss inside recover_after starts over.
        assert!(!h.record(Some(900), 4000));
        assert_eq!(h.state(), "recovering");
        assert!(!h.record(None, 20_000));
        assert!(!h.record(Some(900), 21_000));
        assert!(!h.record(Some(900), 50_000), "29 s of answers");
        assert!(h.record(Some(900), 51_000), "30 s of answers");
        assert_eq!(h.state(), "ok");
        let v = h.view();
        assert_eq!((v.sent, v.lost), (9, 4));
        assert_eq!(v.rtt_ms, Some(0.9));
        assert!((v.recent_loss - 4.0 / 9.0).abs() < 1e-9);
    }

    #[test]
    fn a_reload_keeps_the_record_of_an_unchanged_probe() {
        let mut h = Health::new(&probe());
        h.record(None, 0);
        assert!(h.same(&probe()));
        let mut other = probe();
        other.fail_after = 5;
        assert!(!h.same(&other));
    }
}
