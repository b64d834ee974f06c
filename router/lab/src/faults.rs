//! Faults and traffic: `link A:eth1 down|up`, `loss A:eth1 5%`, `kill
//! NODE`, `traffic FROM TO --rate R --duration D`.
//!
//! Loss: this kernel has no netem (and no `gact` drop action), so a
//! classic BPF classifier on the ingress of the link's far end picks each
//! IPv4/IPv6 frame with the given probability (`ld rand`, the kernel's
//! per-packet random number) and `mirred` redirects it to a device that is
//! down. The far end's ingress, because frames a router redirects in XDP
//! skip the sender's egress qdiscs. ARP and other frames are never
//! dropped. Delay needs netem and is not offered.

use std::net::IpAddr;
use std::time::Duration;

use serde::Serialize;

use crate::agent::Received;

use crate::LabError;
use crate::runner::load_state;
use crate::state::{NodeState, State, netns_name};
use crate::sys::{self, must};
use crate::topology::Endpoint;

/// Why `sluice lab delay` does not exist.
pub const NO_DELAY: &str = "delay needs tc netem (CONFIG_NET_SCH_NETEM), which this kernel lacks; \
     loss is done with a BPF classifier instead, but BPF cannot hold packets back";

fn endpoint(state: &State, arg: &str) -> Result<Endpoint, LabError> {
    let end = Endpoint::parse(arg)
        .ok_or_else(|| LabError::Usage(format!("`{arg}` is not NODE:INTERFACE")))?;
    let known = state.links.iter().any(|(a, b)| a == &end || b == &end);
    if known {
        Ok(end)
    } else {
        Err(LabError::UnknownEndpoint {
            lab: state.lab.clone(),
            endpoint: arg.to_owned(),
        })
    }
}

fn failed(e: String) -> LabError {
    LabError::Failed(e)
}

/// Sets one end of a link administratively down or up.
pub fn link(lab: &str, end: &str, up: bool) -> Result<(), LabError> {
    let state = load_state(lab)?;
    let end = endpoint(&state, end)?;
    let ns = netns_name(lab, &end.node);
    let updown = if up { "up" } else { "down" };
    must("ip", &["-n", &ns, "link", "set", &end.interface, updown]).map_err(failed)?;
    Ok(())
}

/// Parses `5%`, `5` or `0.5%` into percent (0-100).
pub fn parse_percent(s: &str) -> Result<f64, LabError> {
    let n: f64 = s
        .trim()
        .trim_end_matches('%')
        .parse()
        .map_err(|_| LabError::Usage(format!("`{s}` is not a percentage like 5%")))?;
    if (0.0..=100.0).contains(&n) {
        Ok(n)
    } else {
        Err(LabError::Usage(format!("loss `{s}` is outside 0-100%")))
    }
}

/// The classic BPF program (tc `bytecode` syntax) that matches IPv4 and
/// IPv6 frames with probability `percent`/100.
pub fn loss_bytecode(percent: f64) -> String {
    let threshold = ((percent / 100.0) * 4_294_967_296.0).clamp(0.0, 4_294_967_295.0) as u64;
    // ldh [12]; jeq 0x800 -> rand; jeq 0x86dd -> rand; ret 0;
    // rand: ld [SKF_AD_OFF + SKF_AD_RANDOM]; jge threshold -> pass; ret -1 (match); pass: ret 0.
    let prog = [
        (0x28, 0, 0, 12u64),
        (0x15, 2, 0, 0x0800),
        (0x15, 1, 0, 0x86dd),
        (0x06, 0, 0, 0),
        (0x20, 0, 0, 0xffff_f038),
        (0x35, 1, 0, threshold),
        (0x06, 0, 0, 0xffff_ffff),
        (0x06, 0, 0, 0),
    ];
    let ops: Vec<String> = prog
        .iter()
        .map(|(code, jt, jf, k)| format!("{code} {jt} {jf} {k}"))
        .collect();
    format!("{},{}", prog.len(), ops.join(","))
}

/// The blackhole a loss filter sends its victims to: an `ifb` device left
/// down, in the receiving node (frames sent to a down device are dropped).
const DROP_DEV: &str = "sl-loss-drop";

/// Drops `percent` of the IP packets leaving `end`; 0 removes the filter.
///
/// The filter sits on the ingress of the link's other end, not on `end`'s
/// egress: a router forwarding in XDP redirects frames past the egress
/// qdiscs, but the receiving veth still hands them to its ingress hook
/// (unless the receiver forwards them in XDP itself). This kernel has
/// neither netem nor the `gact` drop action, so a classic BPF filter picks
/// the victims with the kernel's per-packet random number and `mirred`
/// redirects them to a device that is down.
pub fn loss(lab: &str, end: &str, percent: f64) -> Result<(), LabError> {
    let mut state = load_state(lab)?;
    let end = endpoint(&state, end)?;
    let far = state
        .links
        .iter()
        .find_map(|(a, b)| {
            if a == &end {
                Some(b.clone())
            } else if b == &end {
                Some(a.clone())
            } else {
                None
            }
        })
        .ok_or_else(|| failed(format!("{end} is on no link")))?;
    let ns = netns_name(lab, &far.node);
    let dev = far.interface.as_str();
    // Start clean each time (no error if there is nothing).
    let _ = must("tc", &["-n", &ns, "qdisc", "del", "dev", dev, "clsact"]);
    if percent > 0.0 {
        let _ = must("ip", &["-n", &ns, "link", "add", DROP_DEV, "type", "ifb"]);
        must("tc", &["-n", &ns, "qdisc", "add", "dev", dev, "clsact"]).map_err(failed)?;
        let code = loss_bytecode(percent);
        let args = [
            "-n", &ns, "filter", "add", "dev", dev, "ingress", "bpf", "bytecode", &code, "action",
            "mirred", "egress", "redirect", "dev", DROP_DEV,
        ];
        must("tc", &args).map_err(failed)?;
    }
    state.losses.retain(|(e, _)| e != &end);
    if percent > 0.0 {
        state.losses.push((end, percent));
    }
    state.save().map_err(|e| failed(e.to_string()))
}

/// SIGKILLs every process of node `node` (its mounts and namespace stay,
/// as a crashed container's would until it is removed).
pub fn kill(lab: &str, node: &str) -> Result<usize, LabError> {
    let state = load_state(lab)?;
    let n = node_state(&state, node)?;
    let pids: Vec<String> = sys::netns_pids(&n.netns)
        .into_iter()
        .filter(|&p| Some(p) != n.holder)
        .map(|p| p.to_string())
        .collect();
    sys::signal(&pids, "KILL");
    Ok(pids.len())
}

fn node_state<'s>(state: &'s State, node: &str) -> Result<&'s NodeState, LabError> {
    state.node(node).ok_or_else(|| LabError::UnknownNode {
        lab: state.lab.clone(),
        node: node.to_owned(),
    })
}

/// A bounded UDP stream.
#[derive(Debug, Clone)]
pub struct TrafficSpec {
    pub from: String,
    pub to: String,
    /// Datagrams per second.
    pub rate: u32,
    pub duration: Duration,
    /// Destination address; default: `to`'s first global IPv4 address,
    /// on `lo` if it has one there, else on its first interface.
    pub dst: Option<IpAddr>,
    pub port: u16,
}

#[derive(Debug, Clone, Serialize)]
pub struct TrafficReport {
    pub from: String,
    pub to: String,
    pub dst: String,
    pub sent: u64,
    pub received: u64,
    pub lost: u64,
    pub duplicates: u64,
    /// Per second of the stream: sent and lost (by sequence number).
    pub intervals: Vec<Interval>,
    /// Runs of lost datagrams, by when they were due to be sent.
    pub lost_spans: Vec<LostSpan>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Interval {
    /// Start of the second, in milliseconds since the stream started.
    pub at_ms: u64,
    pub sent: u64,
    pub lost: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LostSpan {
    pub from_ms: u64,
    pub to_ms: u64,
    pub packets: u64,
}

impl TrafficReport {
    /// Sequence-numbered loss: per second, and the spans lost.
    pub fn with_sequence(mut self, got: &Received, rate: u32) -> TrafficReport {
        let rate = u64::from(rate.max(1));
        let at_ms = |seq: u64| seq * 1000 / rate;
        let missing = got.missing(self.sent);
        self.duplicates = got.duplicates;
        self.lost_spans = missing
            .iter()
            .map(|&(a, b)| LostSpan {
                from_ms: at_ms(a),
                to_ms: at_ms(b),
                packets: b - a + 1,
            })
            .collect();
        self.intervals = (0..self.sent.div_ceil(rate))
            .map(|s| {
                let (first, end) = (s * rate, ((s + 1) * rate).min(self.sent));
                let lost = missing
                    .iter()
                    .map(|&(a, b)| (b + 1).min(end).saturating_sub(a.max(first)))
                    .sum();
                Interval {
                    at_ms: s * 1000,
                    sent: end - first,
                    lost,
                }
            })
            .collect();
        self
    }
}

/// Runs a UDP stream from one node to another and counts both ends.
pub fn traffic(lab: &str, spec: &TrafficSpec) -> Result<TrafficReport, LabError> {
    let state = load_state(lab)?;
    let from = node_state(&state, &spec.from)?;
    let to = node_state(&state, &spec.to)?;
    let dst = match spec.dst {
        Some(d) => d,
        None => default_address(&to.netns).ok_or_else(|| {
            failed(format!(
                "node `{}` has no global IPv4 address; pass --dst",
                spec.to
            ))
        })?,
    };
    let holder = |n: &NodeState| {
        n.holder
            .filter(|&h| sys::alive(h) && sys::tagged(h, lab))
            .ok_or_else(|| failed(format!("node `{}` is not running", n.name)))
    };
    let (h_from, h_to) = (holder(from)?, holder(to)?);
    let listen = spec.duration + Duration::from_millis(1500);
    let mut recv = sys::in_node(h_to, &state.path_env, lab, &[]);
    recv.args([
        "sluice",
        "lab",
        "agent",
        "recv",
        "--port",
        &spec.port.to_string(),
    ])
    .args(["--ms", &listen.as_millis().to_string()]);
    if dst.is_ipv6() {
        recv.arg("--v6");
    }
    let (receiver, listening) = sys::spawn_reader(recv, listen + Duration::from_secs(10));
    // The stream starts once the receiver listens (or gave up trying).
    let _ = listening.recv_timeout(Duration::from_secs(10));
    let mut send = sys::in_node(h_from, &state.path_env, lab, &[]);
    let target = std::net::SocketAddr::new(dst, spec.port).to_string();
    send.args(["sluice", "lab", "agent", "send", "--dst", &target])
        .args(["--rate", &spec.rate.to_string()])
        .args(["--ms", &spec.duration.as_millis().to_string()]);
    let sent = sys::run(send, spec.duration + Duration::from_secs(10)).map_err(failed)?;
    let got = receiver
        .join()
        .map_err(|_| failed("the receiver thread panicked".into()))?
        .map_err(failed)?;
    let got = sys::Outcome {
        stdout: got.stdout.lines().last().unwrap_or_default().to_owned(),
        ..got
    };
    let parse = |o: &sys::Outcome, node: &str| -> Result<serde_json::Value, LabError> {
        if !o.ok {
            return Err(failed(format!(
                "traffic agent in `{node}` failed: {}",
                o.text()
            )));
        }
        serde_json::from_str(o.stdout.trim()).map_err(|e| {
            failed(format!(
                "traffic agent in `{node}` printed {:?}: {e}",
                o.stdout
            ))
        })
    };
    let sent = parse(&sent, &spec.from)?["sent"].as_u64().unwrap_or(0);
    let got: Received = serde_json::from_value(parse(&got, &spec.to)?)
        .map_err(|e| failed(format!("traffic agent in `{}`: {e}", spec.to)))?;
    Ok(TrafficReport {
        from: spec.from.clone(),
        to: spec.to.clone(),
        dst: dst.to_string(),
        sent,
        received: got.received,
        lost: sent.saturating_sub(got.received),
        duplicates: 0,
        intervals: Vec::new(),
        lost_spans: Vec::new(),
    }
    .with_sequence(&got, spec.rate))
}

/// `ns`'s first global IPv4 address, preferring `lo`.
fn default_address(ns: &str) -> Option<IpAddr> {
    let out = must("ip", &["-n", ns, "-j", "-4", "addr", "show"]).ok()?;
    pick_address(&out)
}

/// From `ip -j -4 addr show`: a global address on `lo`, else the first global one.
pub fn pick_address(json: &str) -> Option<IpAddr> {
    let links: serde_json::Value = serde_json::from_str(json).ok()?;
    let mut global = Vec::new();
    for link in links.as_array()? {
        let name = link["ifname"].as_str().unwrap_or("");
        for a in link["addr_info"].as_array().into_iter().flatten() {
            if a["scope"] == "global"
                && let Some(ip) = a["local"].as_str().and_then(|s| s.parse::<IpAddr>().ok())
            {
                global.push((name != "lo", ip));
            }
        }
    }
    global.sort_by_key(|(not_lo, _)| *not_lo);
    global.first().map(|(_, ip)| *ip)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loss_is_placed_by_sequence_number() {
        let got = Received {
            received: 2400,
            runs: vec![(0, 1499), (1600, 2499)],
            duplicates: 0,
        };
        let r = TrafficReport {
            from: "a".into(),
            to: "b".into(),
            dst: "x".into(),
            sent: 2500,
            received: 2400,
            lost: 100,
            duplicates: 0,
            intervals: vec![],
            lost_spans: vec![],
        }
        .with_sequence(&got, 1000);
        assert_eq!(
            r.lost_spans,
            [LostSpan {
                from_ms: 1500,
                to_ms: 1599,
                packets: 100
            }]
        );
        let lost: Vec<(u64, u64, u64)> = r
            .intervals
            .iter()
            .map(|i| (i.at_ms, i.sent, i.lost))
            .collect();
        assert_eq!(lost, [(0, 1000, 0), (1000, 1000, 100), (2000, 500, 0)]);
    }

    #[test]
    fn bytecode_threshold_is_a_fraction_of_2_32() {
        let code = loss_bytecode(50.0);
        assert!(
            code.starts_with("8,40 0 0 12,21 2 0 2048,21 1 0 34525,6 0 0 0,32 0 0 4294963256,")
        );
        assert!(code.contains(",53 1 0 2147483648,"), "{code}");
        assert!(loss_bytecode(100.0).contains(",53 1 0 4294967295,"));
        assert!(loss_bytecode(0.0).contains(",53 1 0 0,"));
    }

    #[test]
    fn percentages() {
        assert_eq!(parse_percent("5%").unwrap(), 5.0);
        assert_eq!(parse_percent("0.5").unwrap(), 0.5);
        assert!(parse_percent("101%").is_err());
        assert!(parse_percent("five").is_err());
    }

    #[test]
    fn address_prefers_loopback() {
        let json = r#"[{"ifname":"lo","addr_info":[{"local":"127.0.0.1","scope":"host"},{"local":"198.18.100.1","scope":"global"}]},
            {"ifname":"eth1","addr_info":[{"local":"198.18.1.2","scope":"global"}]}]"#;
        assert_eq!(pick_address(json), Some("198.18.100.1".parse().unwrap()));
        let json = r#"[{"ifname":"lo","addr_info":[{"local":"127.0.0.1","scope":"host"}]},
            {"ifname":"eth1","addr_info":[{"local":"10.0.0.2","scope":"global"}]}]"#;
        assert_eq!(pick_address(json), Some("10.0.0.2".parse().unwrap()));
    }
}
