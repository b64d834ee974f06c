//! The three-namespace line the forwarding benchmark runs on:
//!
//! ```text
//!   src  g<t> ──veth── i<t>  fwd  a<t> ──veth── A<t>  dst
//!   10.1.0.1/24    10.1.0.254/24  10.2.0.254/24    10.2.0.1/24   (uplink A)
//!                                 b<t> ──veth── B<t>
//!                                 10.3.0.254/24    10.3.0.1/24   (uplink B)
//! ```
//!
//! `<t>` is a per-lab tag, so that interface names, and with them the names
//! of their NAPI kernel threads (`napi/<ifname>-<id>`), are unique on the
//! machine. IPv6 is off everywhere (no ND or router solicitations in the
//! counts) until the IPv6 rates turn it on in `fwd` alone, after the IPv4
//! ones. `fwd` knows both next hops as permanent neighbours and as
//! kernel nexthop objects 1 (A) and 2 (B); with IPv6, 3 and 4.
//!
//! Where the work runs: a veth delivers frames to its peer through a ring
//! that the peer's NAPI drains. With threaded NAPI each ring gets a kernel
//! thread, which [`Topology::place_napi`] pins: `fwd`'s ingress on the
//! forwarding CPU, the sinks on the other one (with the sender). So the
//! forwarding CPU runs exactly the forwarder: taking frames off the ring,
//! the XDP program or the kernel's forwarding path, and putting them on the
//! sink's ring.

use std::fs;
use std::io::Write;
use std::process::Command;
use std::time::{Duration, Instant};

use sluice_testns::{Lab, Node};

/// Interface names of one lab.
#[derive(Debug, Clone)]
pub struct Names {
    pub tx: String,
    pub fin: String,
    pub fa: String,
    pub fb: String,
    pub sa: String,
    pub sb: String,
    /// A throwaway pair inside `fwd`, for attaching the test-run floor
    /// program (attached programs skip the dispatcher's slow path).
    pub tp: String,
    pub tq: String,
}

/// One interface: its index and MAC, in its own namespace.
#[derive(Debug, Clone, Copy)]
pub struct Iface {
    pub ifindex: u32,
    pub mac: [u8; 6],
}

pub const SRC: &str = "10.1.0.1";
pub const FWD_ADDRS: [&str; 3] = ["10.1.0.254", "10.2.0.254", "10.3.0.254"];
pub const NEXT_HOP_A: &str = "10.2.0.1";
pub const NEXT_HOP_B: &str = "10.3.0.1";
/// IPv6 on `fwd` (only for the IPv6 rates, [`Topology::enable_ipv6`]):
/// unique local addresses, outside the generated table's 2000::/3.
pub const SRC6: &str = "fd00:1::1";
pub const FWD_ADDRS6: [&str; 3] = ["fd00:1::254/64", "fd00:2::254/64", "fd00:3::254/64"];
pub const NEXT_HOP_A6: &str = "fd00:2::1";
pub const NEXT_HOP_B6: &str = "fd00:3::1";

#[derive(Debug)]
pub struct Topology<'lab> {
    pub src: Node<'lab>,
    pub fwd: Node<'lab>,
    pub dst: Node<'lab>,
    pub names: Names,
    pub tx: Iface,
    pub fin: Iface,
    pub fa: Iface,
    pub fb: Iface,
    pub sa: Iface,
    pub sb: Iface,
}

impl<'lab> Topology<'lab> {
    pub fn new(lab: &'lab Lab) -> Self {
        // A short tag from the (pid, counter)-unique lab prefix.
        let tag = {
            let h = lab.prefix().bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
            });
            format!("{:05x}", h & 0xf_ffff)
        };
        let names = Names {
            tx: format!("g{tag}"),
            fin: format!("i{tag}"),
            fa: format!("a{tag}"),
            fb: format!("b{tag}"),
            sa: format!("A{tag}"),
            sb: format!("B{tag}"),
            tp: format!("t{tag}"),
            tq: format!("u{tag}"),
        };
        let (src, fwd, dst) = (lab.node("src"), lab.node("fwd"), lab.node("dst"));
        for node in [&src, &fwd, &dst] {
            node.run([
                "sysctl",
                "-qw",
                "net.ipv6.conf.all.disable_ipv6=1",
                "net.ipv6.conf.default.disable_ipv6=1",
            ]);
        }
        // Explicit, whatever the host's defaults, and before the links
        // exist so that they inherit it: no reverse-path check (a
        // second FIB lookup per packet that only the kernel path would pay).
        fwd.run([
            "sysctl",
            "-qw",
            "net.ipv4.ip_forward=0",
            "net.ipv4.conf.all.rp_filter=0",
            "net.ipv4.conf.default.rp_filter=0",
        ]);
        lab.link(&src, &names.tx, &fwd, &names.fin);
        lab.link(&fwd, &names.fa, &dst, &names.sa);
        lab.link(&fwd, &names.fb, &dst, &names.sb);
        lab.link(&fwd, &names.tp, &fwd, &names.tq);

        src.addr(&names.tx, "10.1.0.1/24");
        fwd.addr(&names.fin, "10.1.0.254/24");
        fwd.addr(&names.fa, "10.2.0.254/24");
        fwd.addr(&names.fb, "10.3.0.254/24");
        dst.addr(&names.sa, "10.2.0.1/24");
        dst.addr(&names.sb, "10.3.0.1/24");

        let iface = |node: &Node<'_>, name: &str| iface(node, name);
        let topo = Topology {
            tx: iface(&src, &names.tx),
            fin: iface(&fwd, &names.fin),
            fa: iface(&fwd, &names.fa),
            fb: iface(&fwd, &names.fb),
            sa: iface(&dst, &names.sa),
            sb: iface(&dst, &names.sb),
            src,
            fwd,
            dst,
            names,
        };
        let (n, f) = (&topo.names, &topo.fwd);
        f.ip([
            "neigh",
            "replace",
            NEXT_HOP_A,
            "lladdr",
            &mac_str(topo.sa.mac),
            "dev",
            &n.fa,
            "nud",
            "permanent",
        ]);
        f.ip([
            "neigh",
            "replace",
            NEXT_HOP_B,
            "lladdr",
            &mac_str(topo.sb.mac),
            "dev",
            &n.fb,
            "nud",
            "permanent",
        ]);
        f.ip(["nexthop", "add", "id", "1", "via", NEXT_HOP_A, "dev", &n.fa]);
        f.ip(["nexthop", "add", "id", "2", "via", NEXT_HOP_B, "dev", &n.fb]);
        topo
    }

    /// Loads `routes` (all via nexthop object 1) into `fwd`'s kernel FIB with
    /// one `ip -batch`; returns how long it took.
    pub fn load_kernel_routes(&self, routes: &[(u32, u8)]) -> Result<Duration, String> {
        let lines = routes
            .iter()
            .map(|&(net, len)| format!("route add {}/{len} nhid 1", std::net::Ipv4Addr::from(net)));
        self.ip_batch(lines, routes.len())
    }

    /// Runs `lines` (`n` of them) as one `ip -batch` in `fwd`; returns how
    /// long `ip` took.
    fn ip_batch(&self, lines: impl Iterator<Item = String>, n: usize) -> Result<Duration, String> {
        // Named after the lab, so an interrupted run's cleanup finds it.
        let mut file = tempfile::Builder::new()
            .prefix(&format!("sluice-{}-routes", self.fwd.name()))
            .tempfile()
            .map_err(|e| e.to_string())?;
        {
            let mut w = std::io::BufWriter::new(file.as_file_mut());
            for line in lines {
                writeln!(w, "{line}").map_err(|e| e.to_string())?;
            }
            w.flush().map_err(|e| e.to_string())?;
        }
        let start = Instant::now();
        let out = Command::new("ip")
            .args(["-n", self.fwd.name(), "-batch"])
            .arg(file.path())
            .output()
            .map_err(|e| format!("ip -batch: {e}"))?;
        let took = start.elapsed();
        if !out.status.success() {
            return Err(format!(
                "ip -batch of {n} routes failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(took)
    }

    /// Turns IPv6 on in `fwd` (it is off everywhere for the IPv4 runs):
    /// no DAD, no router solicitations, addresses on its three ports,
    /// both next hops as permanent neighbours and as nexthop objects 3 (A)
    /// and 4 (B). `src` and `dst` stay without IPv6: the sender writes
    /// its frames itself, the sinks are XDP programs.
    pub fn enable_ipv6(&self) {
        let (n, f) = (&self.names, &self.fwd);
        for ifname in [&n.fin, &n.fa, &n.fb] {
            f.run([
                "sysctl",
                "-qw",
                &format!("net.ipv6.conf.{ifname}.accept_dad=0"),
                &format!("net.ipv6.conf.{ifname}.router_solicitations=0"),
                &format!("net.ipv6.conf.{ifname}.accept_ra=0"),
                &format!("net.ipv6.conf.{ifname}.disable_ipv6=0"),
            ]);
        }
        for (ifname, addr) in [&n.fin, &n.fa, &n.fb].into_iter().zip(FWD_ADDRS6) {
            f.ip(["-6", "addr", "add", addr, "dev", ifname, "nodad"]);
        }
        for (hop, mac, ifname, id) in [
            (NEXT_HOP_A6, self.sa.mac, &n.fa, "3"),
            (NEXT_HOP_B6, self.sb.mac, &n.fb, "4"),
        ] {
            f.ip([
                "-6",
                "neigh",
                "replace",
                hop,
                "lladdr",
                &mac_str(mac),
                "dev",
                ifname,
                "nud",
                "permanent",
            ]);
            f.ip(["nexthop", "add", "id", id, "via", hop, "dev", ifname]);
        }
    }

    /// Loads IPv6 `routes` (all via nexthop object 3, uplink A) into
    /// `fwd`'s kernel FIB with one `ip -batch`; returns how long it took.
    pub fn load_kernel_routes6(&self, routes: &[(u128, u8)]) -> Result<Duration, String> {
        let lines = routes
            .iter()
            .map(|&(net, len)| format!("route add {}/{len} nhid 3", std::net::Ipv6Addr::from(net)));
        self.ip_batch(lines, routes.len())
    }

    /// Kernel forwarding on or off in `fwd`.
    pub fn ip_forward(&self, on: bool) {
        let v = if on { "1" } else { "0" };
        self.fwd
            .run(["sysctl", "-qw", &format!("net.ipv4.ip_forward={v}")]);
    }

    /// IPv6 forwarding on or off in `fwd` (after [`Self::enable_ipv6`]).
    pub fn ip6_forward(&self, on: bool) {
        let v = if on { "1" } else { "0" };
        self.fwd.run([
            "sysctl",
            "-qw",
            &format!("net.ipv6.conf.all.forwarding={v}"),
        ]);
    }

    /// GRO on `fwd`'s ingress: without an XDP program there, this is what
    /// gives the veth the NAPI it needs to take the sender's frames.
    pub fn ingress_gro(&self, on: bool) {
        let v = if on { "on" } else { "off" };
        self.fwd.run(["ethtool", "-K", &self.names.fin, "gro", v]);
    }

    /// Turns threaded NAPI on for `fwd`'s ingress and the two sinks (their
    /// NAPIs exist only while an XDP program or GRO is on, so call this
    /// after every attach or detach), and pins the threads: the forwarder on
    /// `fwd_cpu`, the sinks on `other_cpu`, all `SCHED_FIFO` when `rt` (so the
    /// sinks always keep up with the sender, which shares their CPU). Returns the
    /// forwarder's thread id.
    pub fn place_napi(&self, fwd_cpu: usize, other_cpu: usize, rt: bool) -> Result<u32, String> {
        for (node, ifname) in [
            (&self.fwd, &self.names.fin),
            (&self.dst, &self.names.sa),
            (&self.dst, &self.names.sb),
        ] {
            node.run([
                "sh",
                "-c",
                &format!("echo 1 > /sys/class/net/{ifname}/threaded"),
            ]);
        }
        let fwd = napi_threads(&self.names.fin);
        let [fwd_tid] = fwd[..] else {
            return Err(format!(
                "expected one NAPI thread for {}, found {fwd:?}",
                self.names.fin
            ));
        };
        place(fwd_tid, fwd_cpu, rt.then_some(50))?;
        for ifname in [&self.names.sa, &self.names.sb] {
            for tid in napi_threads(ifname) {
                place(tid, other_cpu, rt.then_some(60))?;
            }
        }
        Ok(fwd_tid)
    }
}

fn place(tid: u32, cpu: usize, fifo: Option<u32>) -> Result<(), String> {
    let tid = tid.to_string();
    run_host("taskset", &["-pc", &cpu.to_string(), &tid])?;
    match fifo {
        Some(p) => run_host("chrt", &["-f", "-p", &p.to_string(), &tid]),
        None => run_host("chrt", &["-o", "-p", "0", &tid]),
    }
}

fn run_host(cmd: &str, args: &[&str]) -> Result<(), String> {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .map_err(|e| format!("{cmd}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{cmd} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// Thread ids of the NAPI kernel threads of interface `ifname`.
pub fn napi_threads(ifname: &str) -> Vec<u32> {
    // comm is cut at 15 bytes; the tag keeps the prefix unique.
    let prefix = format!("napi/{ifname}-");
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut tids: Vec<u32> = dir
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|c| c.trim_end().starts_with(&prefix))
        })
        .collect();
    tids.sort_unstable();
    tids
}

/// Nanoseconds thread `tid` has spent on a CPU (schedstat).
pub fn cpu_ns(tid: u32) -> Option<u64> {
    fs::read_to_string(format!("/proc/{tid}/schedstat"))
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// USER_HZ, the unit of /proc/stat.
pub const TICKS_PER_SECOND: f64 = 100.0;

/// What `cpu` has spent so far, in [`TICKS_PER_SECOND`] ticks (/proc/stat).
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuTicks {
    /// Given by the hypervisor to others.
    pub steal: u64,
    /// Busy with anything: all but idle, iowait and steal.
    pub busy: u64,
}

/// `cpu`'s line of /proc/stat, read once for both figures.
pub fn cpu_ticks(cpu: usize) -> Option<CpuTicks> {
    let stat = fs::read_to_string("/proc/stat").ok()?;
    let name = format!("cpu{cpu}");
    let line = stat
        .lines()
        .find(|l| l.split_whitespace().next() == Some(name.as_str()))?;
    let f: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .take(8)
        .map(|v| v.parse().ok())
        .collect::<Option<_>>()?;
    // user nice system idle iowait irq softirq steal
    let &[user, nice, system, _idle, _iowait, irq, softirq, steal] = &f[..] else {
        return None;
    };
    Some(CpuTicks {
        steal,
        busy: user + nice + system + irq + softirq,
    })
}

fn iface(node: &Node<'_>, name: &str) -> Iface {
    let out = node.ip(["-o", "link", "show", "dev", name]);
    let ifindex = out
        .split(':')
        .next()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(|| panic!("no ifindex in {out:?}"));
    let mac = out
        .split("link/ether ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(parse_mac)
        .unwrap_or_else(|| panic!("no MAC in {out:?}"));
    Iface { ifindex, mac }
}

fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let bytes: Vec<u8> = s
        .split(':')
        .map(|b| u8::from_str_radix(b, 16).ok())
        .collect::<Option<_>>()?;
    bytes.try_into().ok()
}

pub fn mac_str(m: [u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}
