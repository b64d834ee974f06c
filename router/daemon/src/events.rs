//! The event log: what the daemon did and why, kept in a bounded ring for
//! `sluice show events` and written to the log as it happens.

use std::collections::VecDeque;
use std::time::{SystemTime, UNIX_EPOCH};

use sluice_control::Event;

const KEEP: usize = 512;

#[derive(Debug, Default)]
pub struct Events {
    ring: VecDeque<Event>,
}

impl Events {
    /// Records an event and logs it at info level.
    pub fn record(&mut self, kind: &str, message: String) {
        tracing::info!(event = kind, "{message}");
        self.push(kind, message);
    }

    /// Records an event and logs it at warning level.
    pub fn warn(&mut self, kind: &str, message: String) {
        tracing::warn!(event = kind, "{message}");
        self.push(kind, message);
    }

    fn push(&mut self, kind: &str, message: String) {
        if self.ring.len() == KEEP {
            self.ring.pop_front();
        }
        let at_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        self.ring.push_back(Event {
            at_ms,
            kind: kind.to_string(),
            message,
        });
    }

    pub fn all(&self) -> Vec<Event> {
        self.ring.iter().cloned().collect()
    }

    /// The newest `n`, oldest first.
    pub fn newest(&self, n: usize) -> Vec<Event> {
        let skip = self.ring.len().saturating_sub(n);
        self.ring.iter().skip(skip).cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest() {
        let mut e = Events::default();
        for i in 0..KEEP + 3 {
            e.push("t", i.to_string());
        }
        let all = e.all();
        assert_eq!(all.len(), KEEP);
        assert_eq!(all[0].message, "3");
        assert_eq!(all.last().unwrap().message, (KEEP + 2).to_string());
        let newest: Vec<String> = e.newest(2).into_iter().map(|e| e.message).collect();
        assert_eq!(newest, [(KEEP + 1).to_string(), (KEEP + 2).to_string()]);
        assert_eq!(e.newest(10_000).len(), KEEP);
    }
}
