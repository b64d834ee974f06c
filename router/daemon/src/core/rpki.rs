//! RPKI on the core: the RTR task's reports in, `show rpki` out.

use sluice_control::{Response, RpkiView};
use tokio::sync::mpsc;

use super::Core;
use crate::rpki::{Report, Rtr};

/// The RTR task and what it last said of its caches.
#[derive(Debug, Default)]
pub struct RpkiTask {
    rtr: Option<Rtr>,
    tx: Option<mpsc::Sender<Report>>,
    views: Vec<sluice_control::RtrCacheView>,
    /// The `rpki` section the task runs with, as its meaning (not its text).
    running: Option<String>,
}

/// What of the `rpki` section the task depends on.
fn meaning(config: &sluice_config::Config) -> Option<String> {
    let r = config.rpki.as_ref()?;
    serde_json::to_string(&(&r.caches, r.stale_after.to_string())).ok()
}

impl Core {
    /// Starts talking to the caches (from `serve`, with the channel the
    /// main loop reads).
    pub fn start_rpki(&mut self, tx: mpsc::Sender<Report>) {
        self.rpki.tx = Some(tx);
        self.follow_rpki_config();
    }

    /// A new config: a changed list of caches starts the task anew, and
    /// until it syncs every route is `unknown`.
    pub(super) fn follow_rpki_config(&mut self) {
        let config = &self.active.checked.loaded.config;
        let active = self.active_uplinks.clone();
        if let Some(r) = self.routing.as_mut() {
            r.rpki_configure(config, &active);
        }
        let wanted = meaning(config);
        if wanted == self.rpki.running {
            return;
        }
        let Some(tx) = self.rpki.tx.clone() else {
            return;
        };
        let restarted = self.rpki.rtr.take().is_some();
        self.rpki.views.clear();
        if restarted && let Some(r) = self.routing.as_mut() {
            r.rpki_expire(config, &active);
        }
        self.rpki.rtr = config.rpki.as_ref().map(|c| crate::rpki::spawn(c, tx));
        self.rpki.running = wanted;
        if let Some(c) = &config.rpki {
            let caches: Vec<String> = c
                .caches
                .iter()
                .map(|c| format!("{}:{}", c.address.value, c.port.value))
                .collect();
            self.events.record(
                "rpki",
                format!("RPKI: validating with VRPs from {}", caches.join(", ")),
            );
        }
    }

    pub fn rpki_report(&mut self, report: Report) {
        let config = &self.active.checked.loaded.config;
        let active = &self.active_uplinks;
        match report {
            Report::Status(views) => self.rpki.views = views,
            Report::Vrps {
                table,
                announced,
                withdrawn,
                reset,
                source,
            } => {
                if let Some(r) = self.routing.as_mut() {
                    let first = r.rpki.as_ref().is_some_and(|r| !r.live);
                    let from = Some(source.clone());
                    r.rpki_replace(table, &announced, &withdrawn, reset, from, config, active);
                    if first {
                        let (v4, v6) = r.rpki.as_ref().map(|r| r.vrps.counts()).unwrap_or_default();
                        self.events.record(
                            "rpki",
                            format!("RPKI: {v4} IPv4 and {v6} IPv6 VRPs from {source} in force"),
                        );
                    }
                }
            }
            Report::Expired => {
                if let Some(r) = self.routing.as_mut() {
                    r.rpki_expire(config, active);
                }
                self.events.warn(
                    "rpki",
                    "RPKI: no cache answered for rpki.stale_after; every route is unknown until one does".into(),
                );
            }
        }
    }

    pub(super) fn show_rpki(&self) -> Response {
        Response::Rpki(self.rpki_view())
    }

    /// What `show rpki` answers, and the metrics say.
    pub(super) fn rpki_view(&self) -> RpkiView {
        let config = &self.active.checked.loaded.config;
        let rpki = self.routing.as_ref().and_then(|r| r.rpki.as_ref());
        let (vrps_v4, vrps_v6) = rpki
            .filter(|r| r.live)
            .map(|r| r.vrps.counts())
            .unwrap_or_default();
        RpkiView {
            enabled: config.rpki.is_some(),
            invalid: config
                .rpki
                .as_ref()
                .map(|r| r.invalid.value.as_str().to_owned())
                .unwrap_or_default(),
            vrps_v4,
            vrps_v6,
            source: rpki.and_then(|r| r.source.clone()),
            invalid_routes: rpki.map_or(0, |r| r.acted_on()),
            caches: self.rpki.views.clone(),
        }
    }
}
