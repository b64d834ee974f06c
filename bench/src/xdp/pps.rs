//! Packets per second through `fwd`, per forwarding core, for each way of
//! forwarding, on one table; plus the uplink move under load.
//!
//! The sender (a live-frame test run of `xdpgen_tx` on `src`) and the sink
//! threads run on one CPU, `fwd`'s ingress NAPI thread alone on the other
//! (see lab.rs). The rate is what the sink counts on uplink A over the
//! window; the forwarding core's busy share is the NAPI thread's CPU time
//! over the same window, and rate / busy share is the rate one fully busy
//! core sustains (the figure compared across modes).

use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use sluice_dataplane::attach::{Attachment, XdpMode, in_netns};
use sluice_dataplane::dir24::{DEFAULT_TBL8_GROUPS, Dir24, Prefix};
use sluice_dataplane::dxr::{DEFAULT_RANGES as DXR_RANGES, Dxr};
use sluice_dataplane::layout::{FibMode, NextHop, NhGroup, Verdict};
use sluice_dataplane::loader::Dataplane;
use sluice_dataplane::poptrie4::Poptrie4;

use crate::lab::{self, Topology};
use crate::sys;
use crate::traffic::{self, Traffic};

/// How `fwd` forwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The XDP program with its DIR-24-8 FIB.
    Sluice,
    /// The same program with the DXR range FIB (`FIB_MODE_DXR`).
    Dxr,
    /// The same program with IPv4 in the poptrie layout (`FIB_MODE_POP4`).
    Pop4,
    /// The same program in `bpf_fib_lookup` mode, on the kernel FIB.
    FibLookup,
    /// The kernel (ip_forward=1, no XDP on `fwd`).
    Kernel,
}

impl Mode {
    pub const ALL: [Mode; 5] = [
        Mode::Sluice,
        Mode::Dxr,
        Mode::Pop4,
        Mode::FibLookup,
        Mode::Kernel,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Mode::Sluice => "sluice",
            Mode::Dxr => "sluice-dxr",
            Mode::Pop4 => "sluice-pop4",
            Mode::FibLookup => "fib_lookup",
            Mode::Kernel => "kernel",
        }
    }
}

/// Where things run and for how long.
#[derive(Debug, Clone, Copy)]
pub struct Placement {
    pub fwd_cpu: usize,
    pub sender_cpu: usize,
    /// SCHED_FIFO for the NAPI threads and the sender (below the sinks), and
    /// for the uplink move's one timed write.
    pub rt: bool,
    pub warmup: Duration,
    pub window: Duration,
    /// Consecutive windows per mode; the median is reported.
    pub windows: usize,
}

/// Next hops; routes use groups 1..=N, all pointing at one of them.
pub const NH_A: u16 = 1;
pub const NH_B: u16 = 2;

/// The group of a route among `groups`: spread by a hash of the prefix, so
/// neighbouring prefixes mostly differ (the hardest case for ranges; real
/// tables group by origin).
pub fn group_of(addr: u32, len: u8, groups: u16) -> u16 {
    let h = (u64::from(addr) << 8 | u64::from(len)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    1 + ((h >> 40) % u64::from(groups.max(1))) as u16
}

/// One measurement.
#[derive(Debug, Clone)]
pub struct Rate {
    pub mode: Mode,
    pub seconds: f64,
    /// Sink count on uplink A over the window.
    pub received: u64,
    /// Frames the sender wrote over the window.
    pub offered: u64,
    /// The XDP program's `forwarded` verdicts over the window (XDP modes).
    pub forwarded: Option<u64>,
    /// Share of the window the forwarding NAPI thread was on a CPU.
    pub fwd_busy: f64,
    /// Share of the window the hypervisor gave the forwarding CPU to others
    /// (steal time; not in `fwd_busy`).
    pub fwd_steal: f64,
    /// Share of the window the forwarding CPU was busy with anything
    /// (/proc/stat: all but idle and steal), the second accounting.
    pub cpu_busy: f64,
    /// Lowest and highest per-core Mpps over the windows measured.
    pub spread: (f64, f64),
    /// The `forwarded` verdicts and the sink count (uplink A) from before
    /// the sender started to after it stopped and the path drained (XDP
    /// modes): both ends read with nothing in flight, unlike the windows'
    /// counters, which are read one after the other under load.
    pub settled: Option<(u64, u64)>,
}

impl Rate {
    pub fn mpps(&self) -> f64 {
        self.received as f64 / self.seconds / 1e6
    }

    pub fn offered_mpps(&self) -> f64 {
        self.offered as f64 / self.seconds / 1e6
    }

    /// Mpps of one fully busy forwarding CPU, counting everything it did
    /// (with the receiving veths' NAPI threads placed on it too).
    pub fn per_cpu_mpps(&self) -> f64 {
        if self.cpu_busy > 0.0 {
            self.mpps() / self.cpu_busy.min(1.0)
        } else {
            0.0
        }
    }

    /// Mpps of one fully busy forwarding core.
    pub fn per_core_mpps(&self) -> f64 {
        if self.fwd_busy > 0.0 {
            self.mpps() / self.fwd_busy.min(1.0)
        } else {
            0.0
        }
    }
}

/// The uplink move: every route's group rewritten from A to B under load.
#[derive(Debug, Clone)]
pub struct Move {
    /// The move's write, under load.
    pub write_us: f64,
    /// Median of 101 more writes of the same group, idle.
    pub write_us_idle_median: f64,
    /// Sink counts over one second after the write (plus 20 ms to drain
    /// what was already in flight).
    pub after_a: u64,
    pub after_b: u64,
    /// And over the second before it.
    pub before_a: u64,
    pub before_b: u64,
    /// Then, idle, [`PROBES`] test packets: how many each sink saw.
    pub probe_a: u64,
    pub probe_b: u64,
}

/// Test packets sent after the move, with no other traffic.
pub const PROBES: u32 = 1000;

/// `fwd`'s XDP forwarder: the loaded program, its FIB, maybe attached.
#[derive(Debug)]
pub struct Forwarder {
    pub dp: Dataplane,
    attachment: Option<Attachment>,
    /// FIB build (DIR-24-8 in user space) and write (through the mmap).
    pub build: Duration,
    pub write: Duration,
    /// The same for the DXR ranges, and the range entries they use.
    pub dxr_build: Duration,
    pub dxr_write: Duration,
    pub dxr_ranges: u32,
    /// The same for the IPv4 poptrie, and the bytes of its arrays in use.
    pub pop4_build: Duration,
    pub pop4_write: Duration,
    pub pop4_bytes: usize,
    /// Groups the routes are spread over.
    pub groups: u16,
}

impl Forwarder {
    /// Loads the program in `fwd`, points groups 1..=`groups` at uplink A,
    /// and loads `routes` (spread over them, [`group_of`]) into both FIBs.
    pub fn new(topo: &Topology<'_>, routes: &[(u32, u8)], groups: u16) -> Result<Self, String> {
        let (fa, fb) = (topo.fa.ifindex, topo.fb.ifindex);
        let mut dp = in_netns(topo.fwd.name(), || {
            // The DXR build: the same program with FIB_MODE_DXR as well.
            let mut dp = Dataplane::load_dxr().map_err(|e| e.to_string())?;
            // DEVMAP entries name ifindexes of the writer's namespace.
            dp.add_tx_port(fa).map_err(|e| e.to_string())?;
            dp.add_tx_port(fb).map_err(|e| e.to_string())?;
            Ok::<_, String>(dp)
        })
        .map_err(|e| e.to_string())??;
        let e = |e: sluice_dataplane::loader::Error| e.to_string();
        // The program routes only frames for its ingress port's MAC.
        let fin = topo.fin.ifindex;
        dp.set_interface(
            sluice_dataplane::layout::IfKey::untagged(fin),
            &sluice_dataplane::layout::Iface {
                flags: 0,
                ifindex: fin,
                mac: topo.fin.mac,
            },
        )
        .map_err(e)?;
        for a in lab::FWD_ADDRS {
            dp.add_own_address(a.parse().unwrap()).map_err(e)?;
        }
        dp.set_next_hop(NH_A, &NextHop::resolved(fa, topo.sa.mac, topo.fa.mac, 1500))
            .map_err(e)?;
        dp.set_next_hop(NH_B, &NextHop::resolved(fb, topo.sb.mac, topo.fb.mac, 1500))
            .map_err(e)?;
        let groups = groups.max(1);
        for g in 1..=groups {
            dp.set_group(g, &NhGroup::with_members(&[(NH_A, 1)]).unwrap())
                .map_err(e)?;
        }
        let table = || {
            routes.iter().map(|&(a, l)| {
                let p = Prefix::new(a, l).expect("valid prefix");
                (p, group_of(p.addr(), l, groups))
            })
        };

        let start = Instant::now();
        let fib = Dir24::from_routes(DEFAULT_TBL8_GROUPS, table()).map_err(|e| e.to_string())?;
        let build = start.elapsed();
        let start = Instant::now();
        dp.sync_fib4(fib.top_words(), fib.tbl8_words()).map_err(e)?;
        let write = start.elapsed();
        drop(fib);

        let start = Instant::now();
        let dxr = Dxr::from_routes(DXR_RANGES, table()).map_err(|e| e.to_string())?;
        let dxr_build = start.elapsed();
        let start = Instant::now();
        dp.sync_dxr(&dxr).map_err(e)?;
        let dxr_write = start.elapsed();
        let dxr_ranges = dxr.ranges_in_use();
        drop(dxr);

        let start = Instant::now();
        let pop4 = Poptrie4::from_routes(table()).map_err(|e| e.to_string())?;
        let pop4_build = start.elapsed();
        let start = Instant::now();
        dp.sync_pop4(&pop4).map_err(e)?;
        let pop4_write = start.elapsed();
        let t = pop4.trie();
        let pop4_bytes = (t.direct_words().len()
            + t.fan_words().len()
            + t.node_words_in_use()
            + t.leaf_words_in_use())
            * 8;
        Ok(Self {
            dp,
            attachment: None,
            build,
            write,
            dxr_build,
            dxr_write,
            dxr_ranges,
            pop4_build,
            pop4_write,
            pop4_bytes,
            groups,
        })
    }

    pub fn attach(&mut self, topo: &Topology<'_>) -> Result<(), String> {
        if self.attachment.is_none() {
            let fin = topo.names.fin.as_str();
            let dp = &mut self.dp;
            let a = in_netns(topo.fwd.name(), || dp.attach(fin, XdpMode::Driver))
                .map_err(|e| e.to_string())?
                .map_err(|e| format!("attaching to fwd:{fin}: {e}"))?;
            self.attachment = Some(a);
        }
        Ok(())
    }

    /// Where the program looks routes up: its own FIB, or the kernel's
    /// through `bpf_fib_lookup` (same program, same maps otherwise).
    pub fn set_fib_mode(&mut self, mode: FibMode) -> Result<(), String> {
        self.dp.set_fib_mode(mode).map_err(|e| e.to_string())
    }

    pub fn detach(&mut self) -> Result<(), String> {
        match self.attachment.take() {
            Some(a) => a.detach().map_err(|e| e.to_string()),
            None => Ok(()),
        }
    }

    pub fn forwarded(&self) -> u64 {
        self.dp.verdict_count(Verdict::Forwarded).unwrap_or(0)
    }

    /// Writes an IPv6 table into the program's FIB (spread over the
    /// groups like IPv4), in one batch, and into the LPM trie it is
    /// compared with; returns how long each took.
    pub fn load_routes6(&mut self, routes: &[(u128, u8)]) -> Result<(Duration, Duration), String> {
        let routes: Vec<(std::net::Ipv6Addr, u8, u16)> = routes
            .iter()
            .map(|&(net, len)| {
                let fold = (net >> 96) as u32 ^ (net >> 64) as u32;
                (net.into(), len, group_of(fold, len, self.groups))
            })
            .collect();
        let start = Instant::now();
        let failed = self.dp.set_routes6(&routes);
        let took = start.elapsed();
        let start = Instant::now();
        self.dp
            .set_routes6_trie(&routes)
            .map_err(|e| format!("IPv6 LPM trie: {e}"))?;
        let trie = start.elapsed();
        match failed.first() {
            None => Ok((took, trie)),
            Some((i, e)) => Err(format!(
                "{} of {} IPv6 routes not written, the first ({}/{}): {e}",
                failed.len(),
                routes.len(),
                routes[*i].0,
                routes[*i].1
            )),
        }
    }

    /// Points every group at `nh`: one map write per group. Returns how
    /// long it took.
    pub fn point_group_at(&mut self, nh: u16) -> Result<Duration, String> {
        let group = NhGroup::with_members(&[(nh, 1)]).unwrap();
        let start = Instant::now();
        for g in 1..=self.groups {
            self.dp.set_group(g, &group).map_err(|e| e.to_string())?;
        }
        Ok(start.elapsed())
    }
}

/// Counters read at one instant.
#[derive(Debug, Clone, Copy)]
struct Sample {
    at: Instant,
    a: u64,
    b: u64,
    sent: u64,
    forwarded: u64,
    fwd_ns: u64,
    ticks: lab::CpuTicks,
}

fn sample(
    tg: &Traffic,
    topo: &Topology<'_>,
    fwd: Option<&Forwarder>,
    tid: u32,
    cpu: usize,
) -> Sample {
    Sample {
        at: Instant::now(),
        a: tg.received(topo.sa.ifindex).unwrap_or(0),
        b: tg.received(topo.sb.ifindex).unwrap_or(0),
        sent: tg.sent().unwrap_or(0),
        forwarded: fwd.map_or(0, Forwarder::forwarded),
        fwd_ns: lab::cpu_ns(tid).unwrap_or(0),
        ticks: lab::cpu_ticks(cpu).unwrap_or_default(),
    }
}

/// Runs `f` while the sender runs flat out on `place.sender_cpu`.
pub fn with_traffic<T>(
    tg: &Traffic,
    topo: &Topology<'_>,
    place: &Placement,
    f: impl FnOnce() -> T,
) -> Result<T, String> {
    let prog: OwnedFd = tg.sender_fd()?;
    let stop = AtomicBool::new(false);
    let ns = topo.src.name();
    let ifindex = topo.tx.ifindex;
    std::thread::scope(|s| {
        let sender = s.spawn(|| {
            let prog = &prog;
            let stop = &stop;
            in_netns(ns, move || {
                sys::pin_current_thread(place.sender_cpu)
                    .map_err(|e| format!("pinning the sender: {e}"))?;
                if place.rt {
                    // Below the sinks: a sink that falls behind loses
                    // forwarded frames. (Tried nice -20 instead: the sinks
                    // then lost up to 4%.)
                    sys::set_current_fifo(40).map_err(|e| format!("SCHED_FIFO: {e}"))?;
                }
                traffic::send_until(prog.as_fd(), ifindex, stop)
            })
            .map_err(|e| e.to_string())?
        });
        let out = f();
        stop.store(true, Ordering::Relaxed);
        let sent = sender
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p));
        sent.map(|()| out)
    })
}

/// Measures one mode: `place.windows` consecutive windows under one run of
/// the sender, reporting the window with the median per-core rate (other
/// work on a shared machine only ever slows a window down, so the spread
/// says how disturbed the run was). `fwd` must already be set up for the
/// mode (attached or not); `tid` is the forwarding NAPI thread.
pub fn measure(
    mode: Mode,
    tg: &Traffic,
    topo: &Topology<'_>,
    fwd: Option<&Forwarder>,
    tid: u32,
    place: &Placement,
) -> Result<Rate, String> {
    // At rest, before the sender starts: reading the counters one after
    // the other under load skews them by the rate times the gap (tens of
    // milliseconds in a debug build).
    let before = sample(tg, topo, fwd, tid, place.fwd_cpu);
    let samples = with_traffic(tg, topo, place, || {
        std::thread::sleep(place.warmup);
        let mut samples = vec![sample(tg, topo, fwd, tid, place.fwd_cpu)];
        for _ in 0..place.windows.max(1) {
            std::thread::sleep(place.window);
            samples.push(sample(tg, topo, fwd, tid, place.fwd_cpu));
        }
        samples
    })?;
    let mut rates: Vec<Rate> = samples
        .windows(2)
        .map(|w| {
            let (s0, s1) = (w[0], w[1]);
            let seconds = (s1.at - s0.at).as_secs_f64();
            Rate {
                mode,
                seconds,
                received: s1.a - s0.a,
                offered: s1.sent - s0.sent,
                forwarded: fwd.map(|_| s1.forwarded - s0.forwarded),
                fwd_busy: (s1.fwd_ns - s0.fwd_ns) as f64 / 1e9 / seconds,
                fwd_steal: (s1.ticks.steal - s0.ticks.steal) as f64
                    / lab::TICKS_PER_SECOND
                    / seconds,
                cpu_busy: (s1.ticks.busy - s0.ticks.busy) as f64 / lab::TICKS_PER_SECOND / seconds,
                spread: (0.0, 0.0),
                settled: None,
            }
        })
        .collect();
    // Nothing in flight: compare the totals of the whole run, both ends
    // read at rest.
    std::thread::sleep(Duration::from_millis(100));
    let end = sample(tg, topo, fwd, tid, place.fwd_cpu);
    let settled = fwd.map(|_| (end.forwarded - before.forwarded, end.a - before.a));
    rates.sort_by(|a, b| a.per_core_mpps().total_cmp(&b.per_core_mpps()));
    let spread = (
        rates[0].per_core_mpps(),
        rates[rates.len() - 1].per_core_mpps(),
    );
    let mut median = rates.swap_remove(rates.len() / 2);
    median.spread = spread;
    median.settled = settled;
    Ok(median)
}

/// Moves every route from uplink A to B under full load (one write of the
/// group's buckets), checks at the sinks that traffic followed, and moves
/// it back.
pub fn uplink_move(
    tg: &Traffic,
    topo: &Topology<'_>,
    fwd: &mut Forwarder,
    tid: u32,
    place: &Placement,
) -> Result<Move, String> {
    let result = with_traffic(tg, topo, place, || {
        std::thread::sleep(place.warmup);
        let s0 = sample(tg, topo, None, tid, place.fwd_cpu);
        std::thread::sleep(Duration::from_secs(1));
        let s1 = sample(tg, topo, None, tid, place.fwd_cpu);
        // The write is timed, so it must not wait behind the real-time
        // threads for a CPU.
        if place.rt {
            let _ = sys::set_current_fifo(70);
        }
        let took = fwd.point_group_at(NH_B);
        if place.rt {
            let _ = sys::set_current_fifo(0);
        }
        std::thread::sleep(Duration::from_millis(20));
        let s2 = sample(tg, topo, None, tid, place.fwd_cpu);
        std::thread::sleep(Duration::from_secs(1));
        let s3 = sample(tg, topo, None, tid, place.fwd_cpu);
        took.map(|t| Move {
            write_us: t.as_secs_f64() * 1e6,
            write_us_idle_median: 0.0,
            before_a: s1.a - s0.a,
            before_b: s1.b - s0.b,
            after_a: s3.a - s2.a,
            after_b: s3.b - s2.b,
            probe_a: 0,
            probe_b: 0,
        })
    })??;
    // Idle now: a few test packets, each counted where it arrived.
    std::thread::sleep(Duration::from_millis(100));
    let s0 = sample(tg, topo, None, tid, place.fwd_cpu);
    // Paced, ten at a time: a burst faster than the forwarder would
    // overflow the veth ring (256 frames) and lose probes before fwd.
    in_netns(topo.src.name(), || {
        for _ in 0..PROBES / 10 {
            tg.send(topo.tx.ifindex, 10)?;
            std::thread::sleep(Duration::from_micros(200));
        }
        Ok::<_, String>(())
    })
    .map_err(|e| e.to_string())??;
    std::thread::sleep(Duration::from_millis(100));
    let s1 = sample(tg, topo, None, tid, place.fwd_cpu);
    let mut idle: Vec<f64> = (0..101)
        .map(|_| fwd.point_group_at(NH_B).map(|d| d.as_secs_f64() * 1e6))
        .collect::<Result<_, _>>()?;
    idle.sort_by(f64::total_cmp);
    fwd.point_group_at(NH_A)?;
    Ok(Move {
        probe_a: s1.a - s0.a,
        probe_b: s1.b - s0.b,
        write_us_idle_median: idle[idle.len() / 2],
        ..result
    })
}
