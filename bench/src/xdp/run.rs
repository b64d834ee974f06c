//! One table's worth of measurements, in one lab: the kernel FIB load, the
//! Sluice FIB load, the forwarding rate of each mode, and (when asked) the
//! program's test-run cost and the uplink move.

use std::os::fd::AsFd;
use std::time::Duration;

use sluice_dataplane::attach::in_netns;
use sluice_dataplane::layout::{FibMode, Stage};
use sluice_testns::Lab;

use crate::cost::{self, Cost};
use crate::lab::{self, Topology};
use crate::pps::{self, Forwarder, Mode, Move, Placement, Rate};
use crate::sys::LpmTrie4;
use crate::traffic::{self, GenConfig, GenConfig6, Traffic};

/// What to run on one table.
#[derive(Debug, Clone)]
pub struct TableSpec {
    pub label: String,
    pub routes: Vec<(u32, u8)>,
    pub dsts: Vec<u32>,
    pub modes: Vec<Mode>,
    /// Also measure the program's test-run cost.
    pub cost: bool,
    /// Also move every route from uplink A to B under load.
    pub uplink_move: bool,
    pub place: Placement,
    /// Next-hop groups the routes are spread over.
    pub groups: u16,
    /// The destinations' distribution, for the report.
    pub spread: String,
    /// An IPv6 table loaded beside (into the program's LPM trie) and
    /// destinations in it, for the IPv6 test-run cost; empty: none.
    pub routes6: Vec<(u128, u8)>,
    pub dsts6: Vec<u128>,
}

/// The IPv6 side of a table run.
#[derive(Debug)]
pub struct V6Run {
    pub prefixes: usize,
    pub mix: Vec<(u8, usize)>,
    pub destinations: usize,
    /// Building and writing the table into the program's FIB (poptrie).
    pub load: Duration,
    /// Bytes of the FIB's arrays in use, and their capacity.
    pub bytes: (usize, usize),
    /// Writing the same table into the kernel `LPM_TRIE` it replaced
    /// (`BPF_MAP_UPDATE_BATCH`).
    pub trie_load: Duration,
    /// The program's test-run cost on IPv6 frames, Sluice mode.
    pub cost: Option<Result<Cost, String>>,
    /// The same with IPv6 looked up in the `LPM_TRIE` (`FIB_MODE_TRIE6`).
    pub trie_cost: Option<Result<Cost, String>>,
    /// Sluice mode stopped after each stage.
    pub stages: Stages,
    /// Loading the same table into `fwd`'s kernel FIB (for the kernel
    /// and `bpf_fib_lookup` rates).
    pub kernel_load: Option<Duration>,
    /// Forwarding rates of IPv6 frames, as [`TableRun::rates`].
    pub rates: Vec<(Mode, Result<Rate, String>)>,
    /// And counting the whole forwarding CPU, as [`TableRun::whole_cpu`].
    pub whole_cpu: Vec<(Mode, Result<Rate, String>)>,
}

/// The program's test-run cost when stopped after each stage, in order.
pub type Stages = Vec<(Stage, Result<Cost, String>)>;

/// What one table gave.
#[derive(Debug)]
pub struct TableRun {
    pub label: String,
    pub prefixes: usize,
    /// Prefixes per length.
    pub mix: Vec<(u8, usize)>,
    pub destinations: usize,
    /// None when no mode needed the kernel FIB.
    pub kernel_load: Option<Duration>,
    pub fib_build: Duration,
    pub fib_write: Duration,
    pub dxr_build: Duration,
    pub dxr_write: Duration,
    /// Range entries the DXR FIB uses.
    pub dxr_ranges: u32,
    /// The IPv4 poptrie's build, write and arrays in use (bytes).
    pub pop4_build: Duration,
    pub pop4_write: Duration,
    pub pop4_bytes: usize,
    pub groups: u16,
    pub spread: String,
    pub v6: Option<V6Run>,
    pub rates: Vec<(Mode, Result<Rate, String>)>,
    /// The same with the receiving veths' NAPI on the forwarding CPU and
    /// all of its time counted ([`Rate::per_cpu_mpps`]).
    pub whole_cpu: Vec<(Mode, Result<Rate, String>)>,
    /// Test-run cost of the program in each XDP mode measured.
    pub costs: Vec<(Mode, Result<Cost, String>)>,
    /// Sluice mode's IPv4 test-run cost stopped after each stage.
    pub stages: Stages,
    pub uplink_move: Option<Result<Move, String>>,
}

impl TableRun {
    pub fn rate(&self, mode: Mode) -> Option<&Rate> {
        self.rates
            .iter()
            .find(|(m, _)| *m == mode)
            .and_then(|(_, r)| r.as_ref().ok())
    }
}

/// Loads the benchmark programs into the lab: sender on src, sinks on
/// both uplinks in dst, the floor program on fwd's throwaway veth.
fn load_traffic(topo: &Topology<'_>, dsts: &[u32]) -> Result<Traffic, String> {
    let mut tg = Traffic::load()?;
    let n = &topo.names;
    let io = |e: std::io::Error| e.to_string();
    in_netns(topo.src.name(), || tg.attach(traffic::SENDER, &n.tx)).map_err(io)??;
    in_netns(topo.dst.name(), || {
        tg.attach(traffic::SINK, &n.sa)?;
        tg.attach(traffic::SINK, &n.sb)
    })
    .map_err(io)??;
    in_netns(topo.fwd.name(), || tg.attach(traffic::PASS, &n.tp)).map_err(io)??;
    let config = GenConfig {
        dmac: topo.fin.mac,
        smac: topo.tx.mac,
        saddr: u32::from_ne_bytes(lab::SRC.parse::<std::net::Ipv4Addr>().unwrap().octets()),
        sport: 4000u16.to_be(),
        dport: traffic::PORT.to_be(),
        frame_len: traffic::FRAME_LEN,
        ..GenConfig::default()
    };
    tg.configure(config, dsts)?;
    Ok(tg)
}

pub fn run_table(spec: &TableSpec, log: &dyn Fn(&str)) -> Result<TableRun, String> {
    let lab = Lab::new("xdpfwd");
    let topo = Topology::new(&lab);
    let mut tg = load_traffic(&topo, &spec.dsts)?;
    // Only the modes that forward on the kernel FIB need it (and its
    // million routes keep the machine busy for a minute when torn down).
    let kernel_load = if spec
        .modes
        .iter()
        .any(|m| matches!(m, Mode::FibLookup | Mode::Kernel))
    {
        log(&format!(
            "{}: loading {} routes into fwd's kernel FIB (ip -batch)",
            spec.label,
            spec.routes.len()
        ));
        let took = topo.load_kernel_routes(&spec.routes)?;
        log(&format!(
            "{}: kernel FIB loaded in {:.1} s; loading the Sluice FIB",
            spec.label,
            took.as_secs_f64()
        ));
        Some(took)
    } else {
        None
    };
    // Declared after the lab: detached and freed before the namespaces go.
    let mut fwd = Forwarder::new(&topo, &spec.routes, spec.groups)?;
    let mut run = TableRun {
        label: spec.label.clone(),
        prefixes: spec.routes.len(),
        mix: crate::table::length_mix(&spec.routes),
        destinations: spec.dsts.len(),
        kernel_load,
        fib_build: fwd.build,
        fib_write: fwd.write,
        dxr_build: fwd.dxr_build,
        dxr_write: fwd.dxr_write,
        dxr_ranges: fwd.dxr_ranges,
        pop4_build: fwd.pop4_build,
        pop4_write: fwd.pop4_write,
        pop4_bytes: fwd.pop4_bytes,
        groups: fwd.groups,
        spread: spec.spread.clone(),
        v6: None,
        rates: Vec::new(),
        whole_cpu: Vec::new(),
        costs: Vec::new(),
        stages: Vec::new(),
        uplink_move: None,
    };
    if !spec.routes6.is_empty() {
        log(&format!(
            "{}: loading {} IPv6 routes into the program's FIB and the LPM trie",
            spec.label,
            spec.routes6.len()
        ));
        let (load, trie_load) = fwd.load_routes6(&spec.routes6)?;
        run.v6 = Some(V6Run {
            prefixes: spec.routes6.len(),
            mix: crate::table::length_mix(&spec.routes6),
            destinations: spec.dsts6.len(),
            load,
            bytes: fwd.dp.fib6_bytes(),
            trie_load,
            cost: None,
            trie_cost: None,
            stages: Vec::new(),
            kernel_load: None,
            rates: Vec::new(),
            whole_cpu: Vec::new(),
        });
    }
    let place = &spec.place;
    for &mode in &spec.modes {
        log(&format!("{}: measuring {}", spec.label, mode.name()));
        let tid = set_up(mode, Family::V4, &topo, &mut fwd, place)?;
        let xdp = (mode != Mode::Kernel).then_some(&fwd);
        let rate = pps::measure(mode, &tg, &topo, xdp, tid, place);
        if mode != Mode::Kernel && spec.cost {
            log(&format!("{}: test-run cost, {}", spec.label, mode.name()));
            let frames = cost::frames(topo.fin.mac, topo.tx.mac, &spec.dsts);
            run.costs
                .push((mode, test_run_cost(&topo, &fwd, &tg, &frames)));
            if mode == Mode::Sluice {
                log(&format!("{}: test-run cost per stage", spec.label));
                run.stages = stage_costs(&topo, &mut fwd, &tg, &frames)?;
            }
            if mode == Mode::Sluice
                && let Some(v6) = run.v6.as_mut()
            {
                log(&format!("{}: test-run cost, IPv6", spec.label));
                let frames = frames6(&topo, &spec.dsts6);
                v6.cost = Some(test_run_cost(&topo, &fwd, &tg, &frames));
                v6.stages = stage_costs(&topo, &mut fwd, &tg, &frames)?;
                fwd.set_fib_mode(FibMode::Trie6)?;
                v6.trie_cost = Some(test_run_cost(&topo, &fwd, &tg, &frames));
                fwd.set_fib_mode(FibMode::Sluice)?;
            }
        }
        if mode == Mode::Sluice && spec.uplink_move {
            log(&format!("{}: uplink move under load", spec.label));
            run.uplink_move = Some(pps::uplink_move(&tg, &topo, &mut fwd, tid, place));
        }
        log_rate(log, &spec.label, &rate);
        run.rates.push((mode, rate));
        if mode != Mode::Dxr {
            log(&format!(
                "{}: {}, all of the forwarding CPU",
                spec.label,
                mode.name()
            ));
            run.whole_cpu
                .push((mode, whole_cpu(mode, &tg, &topo, &fwd, place)?));
        }
    }
    if let Some(v6) = run.v6.as_mut()
        && !spec.dsts6.is_empty()
    {
        log(&format!(
            "{}: IPv6 on in fwd, {} routes into its kernel FIB",
            spec.label,
            spec.routes6.len()
        ));
        topo.enable_ipv6();
        v6.kernel_load = Some(topo.load_kernel_routes6(&spec.routes6)?);
        topo.ip_forward(false);
        configure6(&mut tg, &topo, &spec.dsts6)?;
        for &mode in spec
            .modes
            .iter()
            .filter(|&&m| !matches!(m, Mode::Dxr | Mode::Pop4))
        {
            log(&format!("{}: IPv6, measuring {}", spec.label, mode.name()));
            let tid = set_up(mode, Family::V6, &topo, &mut fwd, place)?;
            let xdp = (mode != Mode::Kernel).then_some(&fwd);
            let rate = pps::measure(mode, &tg, &topo, xdp, tid, place);
            log_rate(log, &format!("{}, IPv6", spec.label), &rate);
            v6.rates.push((mode, rate));
            log(&format!(
                "{}: IPv6, {}, all of the forwarding CPU",
                spec.label,
                mode.name()
            ));
            v6.whole_cpu
                .push((mode, whole_cpu(mode, &tg, &topo, &fwd, place)?));
        }
    }
    fwd.detach()?;
    drop(fwd);
    drop(tg);
    drop(lab);
    Ok(run)
}

/// Which frames the sender writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    V4,
    V6,
}

/// Sets `fwd` up to forward `family` in `mode` and places the NAPI
/// threads; returns the forwarding thread. The kernel forwards only in the
/// modes that use its FIB, so in Sluice's own nothing reaches the sinks
/// but through the program.
fn set_up(
    mode: Mode,
    family: Family,
    topo: &Topology<'_>,
    fwd: &mut Forwarder,
    place: &Placement,
) -> Result<u32, String> {
    let forward = |on| match family {
        Family::V4 => topo.ip_forward(on),
        Family::V6 => topo.ip6_forward(on),
    };
    if mode == Mode::Kernel {
        fwd.detach()?;
        topo.ingress_gro(true);
        forward(true);
    } else {
        // bpf_fib_lookup answers FWD_DISABLED unless the ingress device
        // forwards.
        forward(mode == Mode::FibLookup);
        topo.ingress_gro(false);
        fwd.set_fib_mode(match mode {
            Mode::FibLookup => FibMode::Kernel,
            Mode::Dxr => FibMode::Dxr,
            Mode::Pop4 => FibMode::Pop4,
            _ => FibMode::Sluice,
        })?;
        fwd.attach(topo)?;
    }
    topo.place_napi(place.fwd_cpu, place.sender_cpu, place.rt)
}

/// The second accounting: the receiving veths' NAPI threads on the
/// forwarding CPU too, and all of that CPU's time counted.
fn whole_cpu(
    mode: Mode,
    tg: &Traffic,
    topo: &Topology<'_>,
    fwd: &Forwarder,
    place: &Placement,
) -> Result<Result<Rate, String>, String> {
    let tid = topo.place_napi(place.fwd_cpu, place.fwd_cpu, place.rt)?;
    let xdp = (mode != Mode::Kernel).then_some(fwd);
    let whole = pps::measure(mode, tg, topo, xdp, tid, place);
    topo.place_napi(place.fwd_cpu, place.sender_cpu, place.rt)?;
    Ok(whole)
}

fn log_rate(log: &dyn Fn(&str), label: &str, rate: &Result<Rate, String>) {
    if let Ok(r) = rate {
        log(&format!(
            "{label}: {} {:.2} Mpps at the sink, forwarding CPU {:.0}% busy",
            r.mode.name(),
            r.mpps(),
            r.fwd_busy * 100.0
        ));
    }
}

/// Points the sender at IPv6 destinations `dsts`.
fn configure6(tg: &mut Traffic, topo: &Topology<'_>, dsts: &[u128]) -> Result<(), String> {
    let saddr: std::net::Ipv6Addr = lab::SRC6.parse().expect("an IPv6 address");
    let config = GenConfig6 {
        dmac: topo.fin.mac,
        smac: topo.tx.mac,
        saddr: saddr.octets(),
        sport: 4000u16.to_be(),
        dport: traffic::PORT.to_be(),
        frame_len: traffic::FRAME_LEN,
        ..GenConfig6::default()
    };
    tg.configure6(config, dsts)
}

/// The attached program's test-run cost on `frames`, run in `fwd`'s
/// namespace as if arriving on its ingress (where `bpf_fib_lookup` looks).
fn test_run_cost(
    topo: &Topology<'_>,
    fwd: &Forwarder,
    tg: &Traffic,
    frames: &[Vec<u8>],
) -> Result<Cost, String> {
    let prog = fwd.dp.program().map_err(|e| e.to_string())?;
    let prog = prog.fd().map_err(|e| e.to_string())?;
    let prog = prog.try_clone().map_err(|e| e.to_string())?;
    let floor = tg.pass_fd()?;
    let fin = topo.fin.ifindex;
    in_netns(topo.fwd.name(), || {
        cost::measure(prog.as_fd(), floor.as_fd(), frames, fin)
    })
    .map_err(|e| e.to_string())?
}

/// The test-run cost with the program stopped after each stage (the
/// measuring build's stop points), so that differences give each stage.
fn stage_costs(
    topo: &Topology<'_>,
    fwd: &mut Forwarder,
    tg: &Traffic,
    frames: &[Vec<u8>],
) -> Result<Stages, String> {
    let mut out = Vec::new();
    for stage in Stage::ALL {
        fwd.dp.set_stop(Some(stage)).map_err(|e| e.to_string())?;
        out.push((stage, test_run_cost(topo, fwd, tg, frames)));
    }
    fwd.dp.set_stop(None).map_err(|e| e.to_string())?;
    Ok(out)
}

/// IPv6 frames of the benchmark's shape to each of `dsts`.
fn frames6(topo: &Topology<'_>, dsts: &[u128]) -> Vec<Vec<u8>> {
    let src: u128 = 0x2001_0db8_0000_0000_0000_0000_0000_0001;
    dsts.iter()
        .map(|&d| crate::table6::udp_frame6(topo.fin.mac, topo.tx.mac, src, d))
        .collect()
}

/// Time to insert `routes` into a fresh IPv4 `LPM_TRIE` with
/// `BPF_MAP_UPDATE_BATCH` (what a trie-based forwarder would do).
pub fn lpm_trie_load(routes: &[(u32, u8)]) -> Result<Duration, String> {
    let triples: Vec<(u32, u8, u32)> = routes.iter().map(|&(a, l)| (a, l, 1)).collect();
    let trie = LpmTrie4::new(routes.len() as u32 + 1).map_err(|e| format!("LPM_TRIE: {e}"))?;
    let start = std::time::Instant::now();
    trie.update_batch(&triples, 65_536)
        .map_err(|e| format!("BPF_MAP_UPDATE_BATCH: {e}"))?;
    let took = start.elapsed();
    drop(trie);
    Ok(took)
}
