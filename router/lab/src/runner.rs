//! Bringing a lab up and down, and looking at it: `up`, `down`, `status`,
//! `exec`, `logs`.
//!
//! `up` order: state file and the lab's bpffs; per node a namespace and a
//! holder (its mounts); veth pairs; each node's `exec` commands; each
//! node's `sluice.run` process; then it polls every `sluice.ready` until
//! all succeed. The state file is saved before each step, and any failure
//! tears down what was built before the error is returned.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde::Serialize;
use sluice_config::Pos;
use sluice_config::diag::{Finding, Severity, Source, render_human};

use crate::state::{NodeState, State, lab_dir, netns_prefix};
use crate::sys::{self, must};
use crate::topology::{Node, Topology};
use crate::{LabError, Options, load};

/// Between SIGTERM and SIGKILL on `down`.
const STOP_GRACE: Duration = Duration::from_secs(2);
/// A single ready check may take this long.
const READY_CHECK_TIMEOUT: Duration = Duration::from_secs(5);
/// A node with a process but no `sluice.ready` is ready once its process
/// has run this long.
const STARTED_AFTER: Duration = Duration::from_secs(1);
/// Log lines shown with a node that failed.
const LOG_LINES: usize = 25;

/// Brings `path`'s topology up and waits until every node is ready.
pub fn up(path: &Path, opts: &Options) -> Result<Status, LabError> {
    let topo = load(path)?;
    let lab = opts.name.clone().unwrap_or_else(|| topo.name.clone());
    if !crate::topology::valid_name(&lab) {
        return Err(LabError::Usage(format!(
            "lab name `{lab}` must be 1-32 characters of [A-Za-z0-9_-]"
        )));
    }
    check_bind_sources(&topo)?;
    if !sys::is_root() {
        return Err(failed(
            "sluice lab up needs root: it creates network namespaces, veth pairs and mounts".into(),
        ));
    }
    let prefix = netns_prefix(&lab);
    let dir = lab_dir(&lab);
    if sys::netns_names().iter().any(|n| n.starts_with(&prefix)) {
        return Err(LabError::AlreadyUp(lab));
    }
    if dir.exists() {
        // What a crashed run left: nothing of it is running (no
        // namespace), so clear it rather than refuse.
        down(&lab)?;
    }
    let mut state = State::plan(&topo, &lab);
    state.topology = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    state.path_env = path_env(&opts.bin_dirs);
    let result = build(&topo, &mut state, opts.timeout);
    if let Err(e) = result {
        let _ = down(&lab);
        return Err(e);
    }
    status(&lab)
}

fn path_env(bin_dirs: &[std::path::PathBuf]) -> String {
    let mut parts: Vec<String> = bin_dirs
        .iter()
        .map(|d| d.to_string_lossy().into_owned())
        .collect();
    let host = std::env::var("PATH")
        .unwrap_or_else(|_| "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into());
    parts.push(host);
    parts.join(":")
}

fn failed(e: String) -> LabError {
    LabError::Failed(e)
}

fn save(state: &State) -> Result<(), LabError> {
    state.save().map_err(|e| {
        failed(format!(
            "cannot write {}: {e}",
            State::file(&state.dir).display()
        ))
    })
}

fn build(topo: &Topology, state: &mut State, timeout: Duration) -> Result<(), LabError> {
    save(state)?;
    std::fs::create_dir_all(&state.bpffs).map_err(|e| failed(e.to_string()))?;
    must(
        "mount",
        &["-t", "bpf", "bpf", &state.bpffs.to_string_lossy()],
    )
    .map_err(failed)?;
    state.bpffs_mounted = true;
    save(state)?;
    let run_dirs = sys::run_skeleton();
    for node in &topo.nodes {
        let ns = crate::state::netns_name(&state.lab, &node.name);
        must("ip", &["netns", "add", &ns]).map_err(failed)?;
        must("ip", &["-n", &ns, "link", "set", "lo", "up"]).map_err(failed)?;
        let script =
            crate::mounts::holder_script(&state.bpffs, &run_dirs, &node.binds, &|p| p.is_dir());
        let log = state
            .node(&node.name)
            .map(|n| n.log.clone())
            .unwrap_or_default();
        let holder = sys::spawn_holder(&ns, &state.lab, &script, &log)
            .map_err(|e| node_error(topo, node, node.pos, "LAB-NODE-MOUNTS", e))?;
        if let Some(n) = state.node_mut(&node.name) {
            n.holder = Some(holder);
        }
        save(state)?;
    }
    for link in &topo.links {
        let (a, b) = (&link.a, &link.b);
        let (ns_a, ns_b) = (
            crate::state::netns_name(&state.lab, &a.node),
            crate::state::netns_name(&state.lab, &b.node),
        );
        let args = [
            "link",
            "add",
            &a.interface,
            "netns",
            &ns_a,
            "type",
            "veth",
            "peer",
            "name",
            &b.interface,
            "netns",
            &ns_b,
        ];
        must("ip", &args).map_err(|e| failed(format!("link {a} -- {b}: {e}")))?;
        state.links.push((a.clone(), b.clone()));
        save(state)?;
        must("ip", &["-n", &ns_a, "link", "set", &a.interface, "up"]).map_err(failed)?;
        must("ip", &["-n", &ns_b, "link", "set", &b.interface, "up"]).map_err(failed)?;
        // Two veth traps a real NIC does not have, for routers that forward
        // in XDP: a veth drops frames redirected into it unless the
        // receiving end has NAPI (GRO on, docs/xdp.md); and a veth hands
        // the sender's UDP/TCP checksum over unfinished (checksum offload),
        // which XDP does not know to finish, so the far end would drop it.
        for (ns, ifname) in [(&ns_a, &a.interface), (&ns_b, &b.interface)] {
            let _ = must(
                "ip",
                &[
                    "netns", "exec", ns, "ethtool", "-K", ifname, "gro", "on", "tx", "off",
                ],
            );
        }
    }
    for node in &topo.nodes {
        let ns = state.node(&node.name).cloned().unwrap_or_default();
        for cmd in &node.exec {
            // Generous: an exec may generate a full table.
            let out = sys::run(
                node_command(state, &ns, &cmd.value),
                timeout.max(sys::CMD_TIMEOUT),
            )
            .map_err(|e| node_error(topo, node, cmd.pos, "LAB-NODE-EXEC", e))?;
            if !out.ok {
                let why = format!("`{}` failed: {}", cmd.value, out.text());
                return Err(node_error(topo, node, cmd.pos, "LAB-NODE-EXEC", why));
            }
        }
    }
    for node in &topo.nodes {
        let Some(run) = &node.run else { continue };
        let ns = state.node(&node.name).cloned().unwrap_or_default();
        let cmd = sys::in_node(ns.holder.unwrap_or(0), &state.path_env, &state.lab, &ns.env);
        let pid = sys::spawn_in_node(cmd, &run.value, &ns.log)
            .map_err(|e| node_error(topo, node, run.pos, "LAB-NODE-START", e))?;
        if let Some(n) = state.node_mut(&node.name) {
            n.run = Some(pid);
        }
        save(state)?;
    }
    wait_ready(topo, state, timeout)?;
    state.up = true;
    save(state)
}

/// A command line for `sh -c` in a node.
fn node_command(state: &State, ns: &NodeState, command: &str) -> std::process::Command {
    let mut cmd = sys::in_node(ns.holder.unwrap_or(0), &state.path_env, &state.lab, &ns.env);
    cmd.args(["sh", "-c", command]);
    cmd
}

fn wait_ready(topo: &Topology, state: &State, timeout: Duration) -> Result<(), LabError> {
    let started = Instant::now();
    let deadline = started + timeout;
    let mut pending: Vec<&Node> = topo.nodes.iter().collect();
    let mut last: Vec<(String, String)> = Vec::new();
    loop {
        let mut still = Vec::new();
        for node in pending {
            let ns = state.node(&node.name).cloned().unwrap_or_default();
            if let (Some(run), Some(pid)) = (&node.run, ns.run)
                && !sys::alive(pid)
            {
                let why = format!(
                    "`{}` exited before the node was ready; last lines of {}:\n{}",
                    run.value,
                    ns.log.display(),
                    log_tail(&ns.log)
                );
                return Err(node_error(topo, node, run.pos, "LAB-NODE-EXITED", why));
            }
            let Some(ready) = &node.ready else {
                // Without a check, a process is ready once it stayed up a moment.
                if node.run.is_some() && started.elapsed() < STARTED_AFTER {
                    still.push(node);
                }
                continue;
            };
            let ok = match sys::run(node_command(state, &ns, &ready.value), READY_CHECK_TIMEOUT) {
                Ok(out) if out.ok => true,
                Ok(out) => {
                    last.retain(|(n, _)| n != &node.name);
                    last.push((node.name.clone(), out.text()));
                    false
                }
                Err(e) => {
                    last.retain(|(n, _)| n != &node.name);
                    last.push((node.name.clone(), e));
                    false
                }
            };
            if !ok {
                still.push(node);
            }
        }
        pending = still;
        if pending.is_empty() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            let node = pending[0];
            let ns = state.node(&node.name).cloned().unwrap_or_default();
            let ready = node.ready.as_ref().map_or(node.pos, |r| r.pos);
            let said = last
                .iter()
                .find(|(n, _)| n == &node.name)
                .map(|(_, t)| t.clone())
                .unwrap_or_default();
            let others: Vec<&str> = pending[1..].iter().map(|n| n.name.as_str()).collect();
            let mut why = format!(
                "not ready after {timeout:?}: `{}` still fails",
                node.ready.as_ref().map_or("", |r| r.value.as_str())
            );
            if !said.trim().is_empty() {
                let _ = write!(why, " (it printed: {})", said.trim());
            }
            if !others.is_empty() {
                let _ = write!(why, "; also not ready: {}", others.join(", "));
            }
            let _ = write!(
                why,
                "\nlast lines of {}:\n{}",
                ns.log.display(),
                log_tail(&ns.log)
            );
            return Err(node_error(topo, node, ready, "LAB-NODE-NOT-READY", why));
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let tail = sys::tail(&text, LOG_LINES);
    if tail.trim().is_empty() {
        "<empty>".into()
    } else {
        tail
    }
}

/// An error about `node`, rendered like the config's: file, line, the line.
fn node_error(topo: &Topology, node: &Node, pos: Pos, rule: &'static str, why: String) -> LabError {
    let text = std::fs::read_to_string(&topo.path).unwrap_or_default();
    let source = Source::new(&topo.path, text);
    let (first, rest) = why.split_once('\n').unwrap_or((&why, ""));
    let mut finding = Finding::new(
        rule,
        Severity::Error,
        pos,
        format!("node `{}`: {first}", node.name),
    );
    if !rest.is_empty() {
        finding = finding.help(rest.to_owned());
    }
    LabError::Failed(render_human(&source, &[finding]).trim_end().to_owned())
}

fn check_bind_sources(topo: &Topology) -> Result<(), LabError> {
    let mut findings = Vec::new();
    for node in &topo.nodes {
        for b in &node.binds {
            if !b.host.exists() {
                findings.push(Finding::new(
                    "LAB-BIND-SOURCE",
                    Severity::Error,
                    b.pos,
                    format!(
                        "node `{}`: bind source {} does not exist",
                        node.name,
                        b.host.display()
                    ),
                ));
            }
        }
    }
    if findings.is_empty() {
        return Ok(());
    }
    let text = std::fs::read_to_string(&topo.path).unwrap_or_default();
    Err(LabError::Invalid(crate::topology::Invalid {
        source: Source::new(&topo.path, text),
        findings,
    }))
}

/// What `down` removed.
#[derive(Debug, Default, Serialize)]
pub struct Removed {
    pub processes: usize,
    pub namespaces: Vec<String>,
    pub survivors: Vec<u32>,
}

/// Removes lab `lab`: its processes, namespaces (and so veths), bpffs and
/// state directory. Works from the state file, and without it from the
/// namespace names and process tags, so it also cleans up after a crash.
pub fn down(lab: &str) -> Result<Removed, LabError> {
    let dir = lab_dir(lab);
    let state = State::load(&dir).ok();
    let prefix = netns_prefix(lab);
    let mut namespaces: Vec<String> = sys::netns_names()
        .into_iter()
        .filter(|n| n.starts_with(&prefix))
        .collect();
    if state.is_none() && namespaces.is_empty() && !dir.exists() {
        let strays = sys::tagged_pids(lab);
        if strays.is_empty() {
            return Err(LabError::NotUp(lab.to_owned()));
        }
    }
    let mut pids: Vec<u32> = Vec::new();
    for ns in &namespaces {
        pids.extend(sys::netns_pids(ns));
    }
    if let Some(state) = &state {
        for n in &state.nodes {
            pids.extend(
                n.run
                    .iter()
                    .chain(n.holder.iter())
                    .filter(|&&p| sys::tagged(p, lab)),
            );
        }
    }
    pids.extend(sys::tagged_pids(lab));
    pids.sort_unstable();
    pids.dedup();
    let survivors = sys::stop(&pids, STOP_GRACE);
    let mut problems = Vec::new();
    if let Some(state) = &state {
        for n in &state.nodes {
            if sys::netns_exists(&n.netns) && !namespaces.contains(&n.netns) {
                namespaces.push(n.netns.clone());
            }
        }
    }
    for ns in &namespaces {
        if let Err(e) = must("ip", &["netns", "del", ns]) {
            problems.push(e);
        }
    }
    let bpffs = state
        .as_ref()
        .map_or_else(|| dir.join("bpf"), |s| s.bpffs.clone());
    if sys::is_mounted(&bpffs)
        && let Err(e) = must("umount", &[bpffs.to_string_lossy().as_ref()])
    {
        problems.push(e);
    }
    if dir.exists()
        && let Err(e) = std::fs::remove_dir_all(&dir)
    {
        problems.push(format!("cannot remove {}: {e}", dir.display()));
    }
    if !survivors.is_empty() {
        problems.push(format!("processes survived SIGKILL: {survivors:?}"));
    }
    if problems.is_empty() {
        Ok(Removed {
            processes: pids.len(),
            namespaces,
            survivors,
        })
    } else {
        Err(failed(format!(
            "down of lab `{lab}`: {}",
            problems.join("; ")
        )))
    }
}

/// A lab as it is now.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub lab: String,
    pub topology: String,
    pub up: bool,
    pub nodes: Vec<NodeStatus>,
    pub links: Vec<LinkStatus>,
}

#[derive(Debug, Clone, Serialize)]
pub struct NodeStatus {
    pub name: String,
    pub netns: String,
    pub netns_exists: bool,
    pub run: Option<String>,
    pub pid: Option<u32>,
    pub running: bool,
    /// Every process in the node's namespace (pid and command line).
    pub processes: Vec<(u32, String)>,
    /// The `sluice.ready` check's result now; `None` without one.
    pub ready: Option<bool>,
    /// BGP sessions of a Sluice node (`sluice show peers`): name, state.
    pub sessions: Vec<(String, String)>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LinkStatus {
    pub a: String,
    pub b: String,
    /// Operational state of each end (`UP`, `DOWN`, `LOWERLAYERDOWN`).
    pub state: (String, String),
    /// Loss filters on either end, in percent.
    pub loss: Vec<(String, f64)>,
}

/// Loads lab `lab`'s state, or says it is not up.
pub(crate) fn load_state(lab: &str) -> Result<State, LabError> {
    State::load(&lab_dir(lab)).map_err(|_| LabError::NotUp(lab.to_owned()))
}

pub fn status(lab: &str) -> Result<Status, LabError> {
    let state = load_state(lab)?;
    let mut nodes = Vec::new();
    for n in &state.nodes {
        let exists = sys::netns_exists(&n.netns);
        let holder_ok = n
            .holder
            .is_some_and(|h| sys::alive(h) && sys::tagged(h, lab));
        let processes: Vec<(u32, String)> = if exists {
            sys::netns_pids(&n.netns)
                .into_iter()
                .filter(|p| Some(*p) != n.holder)
                .map(|p| (p, sys::cmdline(p)))
                .collect()
        } else {
            Vec::new()
        };
        let running = n.run.is_some_and(|p| sys::alive(p) && sys::tagged(p, lab));
        let ready = match (&n.ready_cmd, holder_ok) {
            (Some(cmd), true) => Some(
                sys::run(node_command(&state, n, cmd), READY_CHECK_TIMEOUT).is_ok_and(|o| o.ok),
            ),
            (Some(_), false) => Some(false),
            (None, _) => None,
        };
        let is_sluice = n
            .run_cmd
            .as_deref()
            .is_some_and(|c| c.contains("sluice run"));
        let sessions = if is_sluice && running && holder_ok {
            sluice_sessions(&state, n)
        } else {
            Vec::new()
        };
        nodes.push(NodeStatus {
            name: n.name.clone(),
            netns: n.netns.clone(),
            netns_exists: exists,
            run: n.run_cmd.clone(),
            pid: n.run,
            running,
            processes,
            ready,
            sessions,
        });
    }
    let links = state
        .links
        .iter()
        .map(|(a, b)| LinkStatus {
            a: a.to_string(),
            b: b.to_string(),
            state: (oper_state(lab, a), oper_state(lab, b)),
            loss: state
                .losses
                .iter()
                .filter(|(e, _)| e == a || e == b)
                .map(|(e, p)| (e.to_string(), *p))
                .collect(),
        })
        .collect();
    Ok(Status {
        lab: state.lab.clone(),
        topology: state.topology.display().to_string(),
        up: state.up,
        nodes,
        links,
    })
}

fn oper_state(lab: &str, end: &crate::Endpoint) -> String {
    let ns = crate::state::netns_name(lab, &end.node);
    let out = must(
        "ip",
        &["-n", &ns, "-j", "link", "show", "dev", &end.interface],
    )
    .unwrap_or_default();
    let json: serde_json::Value = serde_json::from_str(&out).unwrap_or_default();
    let oper = json[0]["operstate"].as_str().unwrap_or("GONE");
    let admin_up = json[0]["flags"]
        .as_array()
        .is_some_and(|f| f.iter().any(|x| x == "UP"));
    if !admin_up && oper != "GONE" {
        "DOWN (admin)".into()
    } else {
        oper.to_owned()
    }
}

fn sluice_sessions(state: &State, n: &NodeState) -> Vec<(String, String)> {
    let out = sys::run(
        node_command(state, n, "sluice show peers --json"),
        READY_CHECK_TIMEOUT,
    );
    let Ok(out) = out else { return Vec::new() };
    let json: serde_json::Value = serde_json::from_str(&out.stdout).unwrap_or_default();
    json["peers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            let name = p["name"].as_str().unwrap_or("?");
            let addr = p["address"].as_str().unwrap_or("?");
            (
                format!("{name} ({addr})"),
                p["state"].as_str().unwrap_or("?").to_owned(),
            )
        })
        .collect()
}

impl Status {
    /// The human table.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "lab {} ({}){}",
            self.lab,
            self.topology,
            if self.up { "" } else { " - not fully up" }
        );
        let _ = writeln!(
            s,
            "{:<12} {:<8} {:<6} {:<6} PROCESS",
            "NODE", "RUNNING", "READY", "PROCS"
        );
        for n in &self.nodes {
            let ready = match n.ready {
                Some(true) => "yes",
                Some(false) => "no",
                None => "-",
            };
            let running = match (n.pid, n.running) {
                (None, _) => "-".to_owned(),
                (Some(p), true) => p.to_string(),
                (Some(_), false) => "exited".to_owned(),
            };
            let _ = writeln!(
                s,
                "{:<12} {:<8} {:<6} {:<6} {}",
                n.name,
                running,
                ready,
                n.processes.len(),
                n.run.as_deref().unwrap_or("-")
            );
            for (peer, st) in &n.sessions {
                let _ = writeln!(s, "{:<12}   session {peer}: {st}", "");
            }
            if !n.netns_exists {
                let _ = writeln!(s, "{:<12}   namespace {} is gone", "", n.netns);
            }
        }
        let _ = writeln!(s, "{:<16} {:<16} STATE", "LINK A", "LINK B");
        for l in &self.links {
            let mut line = format!("{:<16} {:<16} {} / {}", l.a, l.b, l.state.0, l.state.1);
            for (e, p) in &l.loss {
                let _ = write!(line, "  loss {p}% at {e}");
            }
            let _ = writeln!(s, "{line}");
        }
        s
    }
}

/// Runs `argv` in node `node` with the terminal attached; returns its exit code.
pub fn exec(lab: &str, node: &str, argv: &[String]) -> Result<i32, LabError> {
    let state = load_state(lab)?;
    let n = state.node(node).ok_or_else(|| LabError::UnknownNode {
        lab: lab.to_owned(),
        node: node.to_owned(),
    })?;
    let holder = n.holder.filter(|&h| sys::alive(h) && sys::tagged(h, lab));
    let Some(holder) = holder else {
        return Err(failed(format!(
            "node `{node}` of lab `{lab}` is not running"
        )));
    };
    if argv.is_empty() {
        return Err(LabError::Usage("exec needs a command after `--`".into()));
    }
    let mut cmd = sys::in_node(holder, &state.path_env, lab, &n.env);
    cmd.args(argv)
        .stdin(Stdio::inherit())
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit());
    let status = cmd
        .status()
        .map_err(|e| failed(format!("cannot start nsenter: {e}")))?;
    Ok(status.code().unwrap_or(1))
}

/// The log of node `node` (its mount set-up and `sluice.run` output).
pub fn logs(lab: &str, node: &str) -> Result<String, LabError> {
    let state = load_state(lab)?;
    let n = state.node(node).ok_or_else(|| LabError::UnknownNode {
        lab: lab.to_owned(),
        node: node.to_owned(),
    })?;
    std::fs::read_to_string(&n.log).map_err(|error| LabError::Unreadable {
        path: n.log.clone(),
        error,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_table_and_json() {
        let status = Status {
            lab: "t".into(),
            topology: "/t.clab.yml".into(),
            up: true,
            nodes: vec![
                NodeStatus {
                    name: "r1".into(),
                    netns: "slab.t.r1".into(),
                    netns_exists: true,
                    run: Some("sluice run".into()),
                    pid: Some(42),
                    running: true,
                    processes: vec![(42, "sluice run".into())],
                    ready: Some(true),
                    sessions: vec![("iap-a (203.0.113.1)".into(), "established".into())],
                },
                NodeStatus {
                    name: "iap-a".into(),
                    netns: "slab.t.iap-a".into(),
                    netns_exists: true,
                    run: Some("bird -f".into()),
                    pid: Some(43),
                    running: false,
                    processes: vec![],
                    ready: Some(false),
                    sessions: vec![],
                },
            ],
            links: vec![LinkStatus {
                a: "r1:eth1".into(),
                b: "iap-a:eth1".into(),
                state: ("DOWN (admin)".into(), "DOWN".into()),
                loss: vec![("r1:eth1".into(), 5.0)],
            }],
        };
        let expected = "\
lab t (/t.clab.yml)
NODE         RUNNING  READY  PROCS  PROCESS
r1           42       yes    1      sluice run
               session iap-a (203.0.113.1): established
iap-a        exited   no     0      bird -f
LINK A           LINK B           STATE
r1:eth1          iap-a:eth1       DOWN (admin) / DOWN  loss 5% at r1:eth1
";
        assert_eq!(status.render(), expected);
        let json = serde_json::to_value(&status).unwrap();
        assert_eq!(json["nodes"][0]["sessions"][0][1], "established");
        assert_eq!(json["links"][0]["loss"][0][1], 5.0);
    }
}
