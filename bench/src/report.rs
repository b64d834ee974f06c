//! The side-by-side table: each receiver's runs of one mix and data-plane
//! mode reduced to medians with their spread, and Sluice's ratios.

use std::time::Duration;

use crate::lab::Outcome;
use crate::receivers::{Kind, Mode};

/// The runs of one receiver, mix and mode.
#[derive(Debug)]
pub struct Runs {
    pub kind: Kind,
    pub mode: Mode,
    pub runs: Vec<Outcome>,
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied()
}

impl Runs {
    /// Every run got the whole table.
    pub fn finished(&self) -> bool {
        !self.runs.is_empty() && self.runs.iter().all(|o| o.finished)
    }

    /// Median seconds to the whole table in the RIB, with min and max.
    pub fn seconds(&self) -> (f64, f64, f64) {
        let s: Vec<f64> = self.runs.iter().map(|o| o.seconds).collect();
        let min = s.iter().copied().fold(f64::INFINITY, f64::min);
        let max = s.iter().copied().fold(0.0, f64::max);
        (median(s).unwrap_or(0.0), min, max)
    }

    /// Median seconds to the whole table in the data plane, if measured.
    pub fn fib_seconds(&self) -> Option<f64> {
        let s: Vec<f64> = self.runs.iter().filter_map(|o| o.fib_seconds).collect();
        (s.len() == self.runs.len()).then(|| median(s)).flatten()
    }

    /// Median of a phase's seconds, if every run measured it.
    pub fn phase(&self, f: impl Fn(&Outcome) -> Option<f64>) -> Option<f64> {
        let s: Vec<f64> = self.runs.iter().filter_map(&f).collect();
        (!s.is_empty() && s.len() == self.runs.len())
            .then(|| median(s))
            .flatten()
    }

    pub fn churn_peak_kb(&self) -> f64 {
        median(self.runs.iter().map(|o| o.churn_peak_kb as f64).collect()).unwrap_or(0.0)
    }

    pub fn peak_kb(&self) -> f64 {
        median(self.runs.iter().map(|o| o.peak_kb as f64).collect()).unwrap_or(0.0)
    }

    pub fn maps_kb(&self) -> f64 {
        median(self.runs.iter().map(|o| o.maps_kb as f64).collect()).unwrap_or(0.0)
    }

    pub fn bytes_per_route(&self) -> f64 {
        median(self.runs.iter().map(Outcome::bytes_per_route).collect()).unwrap_or(0.0)
    }
}

/// One attribute mix: what it was and how each receiver fared.
#[derive(Debug)]
pub struct MixResult {
    pub name: String,
    pub sets: usize,
    pub sets_used: usize,
    pub updates: usize,
    pub bytes: usize,
    pub prefixes: usize,
    pub results: Vec<Runs>,
}

fn mib(kb: f64) -> String {
    format!("{:.0} MiB", kb / 1024.0)
}

/// Sluice's figure over BIRD's: above 1, Sluice is slower or bigger.
fn ratio(me: f64, bird: f64) -> String {
    format!("{:.2}x", me / bird.max(1e-9))
}

pub fn render(results: &[MixResult], poll: Duration, runs: usize) -> String {
    let mut out = format!(
        "\n{:<6} {:<5} {:<7} {:>8} {:>13} {:>8} {:>9} {:>8} {:>7} {:>21}\n",
        "mix",
        "dp",
        "recv",
        "seconds",
        "spread",
        "fib s",
        "peak RSS",
        "of it BPF",
        "B/route",
        "vs BIRD (s/fib/RSS)"
    );
    for mix in results {
        for r in &mix.results {
            let bird = mix
                .results
                .iter()
                .find(|b| b.kind == Kind::Bird && b.mode == r.mode && b.finished());
            let (s, lo, hi) = r.seconds();
            let seconds = if r.finished() {
                format!("{s:.2}")
            } else {
                "DNF".into()
            };
            let vs = match bird {
                Some(b) if r.kind == Kind::Sluice && r.finished() => {
                    let fib = match (r.fib_seconds(), b.fib_seconds()) {
                        (Some(m), Some(o)) => ratio(m, o),
                        _ => "-".into(),
                    };
                    format!(
                        "{} / {} / {}",
                        ratio(s, b.seconds().0),
                        fib,
                        ratio(r.peak_kb(), b.peak_kb())
                    )
                }
                _ => "-".into(),
            };
            out.push_str(&format!(
                "{:<6} {:<5} {:<7} {:>8} {:>13} {:>8} {:>9} {:>8} {:>7.0} {:>21}\n",
                mix.name,
                r.mode.name(),
                r.kind.name(),
                seconds,
                format!("{lo:.2}-{hi:.2}"),
                r.fib_seconds().map_or("-".into(), |f| format!("{f:.2}")),
                mib(r.peak_kb()),
                if r.maps_kb() > 0.0 {
                    mib(r.maps_kb())
                } else {
                    "-".into()
                },
                r.bytes_per_route(),
                vs
            ));
        }
    }
    out.push_str(&format!(
        "\n{:<6} {:<5} {:<7} {:>8} {:>9} {:>8} {:>10} {:>8} {:>22}\n",
        "mix",
        "dp",
        "recv",
        "churn s",
        "churn RSS",
        "down s",
        "withdraw s",
        "fib 0 s",
        "vs BIRD (ch/down/wd)"
    ));
    let phases: [fn(&Outcome) -> Option<f64>; 3] = [
        |o| o.churn_seconds,
        |o| o.down_seconds,
        |o| o.withdraw_seconds,
    ];
    let secs = |v: Option<f64>| v.map_or("-".into(), |f| format!("{f:.2}"));
    for mix in results {
        for r in &mix.results {
            let bird = mix
                .results
                .iter()
                .find(|b| b.kind == Kind::Bird && b.mode == r.mode);
            let vs = match bird {
                Some(b) if r.kind == Kind::Sluice => phases
                    .iter()
                    .map(|f| match (r.phase(f), b.phase(f)) {
                        (Some(m), Some(o)) => ratio(m, o),
                        _ => "-".into(),
                    })
                    .collect::<Vec<_>>()
                    .join(" / "),
                _ => "-".into(),
            };
            out.push_str(&format!(
                "{:<6} {:<5} {:<7} {:>8} {:>9} {:>8} {:>10} {:>8} {:>22}\n",
                mix.name,
                r.mode.name(),
                r.kind.name(),
                secs(r.phase(phases[0])),
                mib(r.churn_peak_kb()),
                secs(r.phase(phases[1])),
                secs(r.phase(phases[2])),
                secs(r.phase(|o| o.fib_withdraw_seconds)),
                vs
            ));
        }
    }
    out.push_str(&format!(
        "\nmedian of {runs} run(s); spread: fastest-slowest\n\
         dp: data plane: off (RIB only), xdp (XDP FIB, no kernel FIB), full (XDP and kernel FIB; BIRD: protocol kernel)\n\
         seconds: OPEN exchange to the receiver counting every route in its RIB (polled every {} ms)\n\
         fib s: OPEN exchange to the data plane holding every route (xdp: Sluice's maps; full: the namespace's kernel table)\n\
         peak RSS: VmHWM; of it BPF: mmapped BPF maps (the XDP FIB) in RSS at the end\n\
         B/route: (peak RSS - idle RSS before the session) / routes\n\
         after the load: churn: a second session sends the same table with a lower router id (every best path moves), its OPEN to both tables counted; down: it closes, to one table; withdraw: the first feeder withdraws all, to none (fib 0: the data plane empty)\n\
         vs BIRD: Sluice / BIRD in the same mode (above 1: Sluice slower / bigger)\n",
        poll.as_millis()
    ));
    for mix in results {
        for r in &mix.results {
            for o in r.runs.iter().filter(|o| !o.finished || o.error.is_some()) {
                out.push_str(&format!(
                    "{} {} {}: {} of {} routes after {:.0} s{}\n",
                    mix.name,
                    r.mode.name(),
                    r.kind.name(),
                    o.count,
                    o.total,
                    o.seconds,
                    o.error
                        .as_ref()
                        .map(|e| format!(" ({e})"))
                        .unwrap_or_default()
                ));
            }
        }
    }
    out
}
