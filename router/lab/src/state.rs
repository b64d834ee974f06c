//! What a lab is made of, by name, and the state file that lets `down`
//! remove it after anything, a crash of `up` included. Sans-IO apart from
//! reading and writing that one file.
//!
//! Names: node `n` of lab `l` is network namespace `slab.l.n`. Lab and node
//! names are `[A-Za-z0-9_-]`, so the dots make the split unambiguous and no
//! lab's names are a prefix of another's. Interfaces are created inside
//! the namespaces under their topology names (`eth1`), so they never meet
//! the host's.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::topology::{Endpoint, Topology};

/// Environment variable tagging every process a lab starts, holding the
/// lab name; `down` finds strays by it, and never signals an untagged pid.
pub const LAB_ENV: &str = "SLUICE_LAB";
/// Overrides where labs keep their state ([`DEFAULT_STATE_ROOT`]).
pub const STATE_ROOT_ENV: &str = "SLUICE_LAB_DIR";
/// Where labs keep their state: not under /run, which each node gets a
/// private copy of.
pub const DEFAULT_STATE_ROOT: &str = "/var/lib/sluice-lab";

/// The namespace prefix shared by all of lab `lab`'s nodes.
pub fn netns_prefix(lab: &str) -> String {
    format!("slab.{lab}.")
}

/// Namespace of node `node` in lab `lab`.
pub fn netns_name(lab: &str, node: &str) -> String {
    format!("{}{node}", netns_prefix(lab))
}

/// Directory of lab `lab`'s state, logs and bpffs.
pub fn lab_dir(lab: &str) -> PathBuf {
    let root = std::env::var_os(STATE_ROOT_ENV)
        .filter(|v| !v.is_empty())
        .map_or_else(|| PathBuf::from(DEFAULT_STATE_ROOT), PathBuf::from);
    root.join(lab)
}

/// Everything `up` created or started, written before each step so that a
/// crash leaves a file naming at least what exists.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    pub lab: String,
    pub topology: PathBuf,
    pub dir: PathBuf,
    /// The lab's own bpffs, bound over /sys/fs/bpf in every node.
    pub bpffs: PathBuf,
    pub bpffs_mounted: bool,
    pub nodes: Vec<NodeState>,
    pub links: Vec<(Endpoint, Endpoint)>,
    /// Interfaces with a loss filter, and the loss in percent.
    #[serde(default)]
    pub losses: Vec<(Endpoint, f64)>,
    /// PATH inside the nodes: `Options::bin_dirs`, then the caller's.
    #[serde(default)]
    pub path_env: String,
    /// Set once every node was ready.
    pub up: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NodeState {
    pub name: String,
    pub netns: String,
    /// Holds the node's mount namespace: every command enters its
    /// namespaces through this pid.
    pub holder: Option<u32>,
    /// The `sluice.run` process (a process-group leader).
    pub run: Option<u32>,
    pub run_cmd: Option<String>,
    pub ready_cmd: Option<String>,
    pub env: Vec<(String, String)>,
    pub log: PathBuf,
}

impl State {
    /// The plan for `topology` run as lab `lab`: names and paths, nothing
    /// created yet.
    pub fn plan(topology: &Topology, lab: &str) -> State {
        let dir = lab_dir(lab);
        let nodes = topology
            .nodes
            .iter()
            .map(|n| NodeState {
                name: n.name.clone(),
                netns: netns_name(lab, &n.name),
                holder: None,
                run: None,
                run_cmd: n.run.as_ref().map(|r| r.value.clone()),
                ready_cmd: n.ready.as_ref().map(|r| r.value.clone()),
                env: n.env.clone(),
                log: dir.join(format!("{}.log", n.name)),
            })
            .collect();
        State {
            lab: lab.to_owned(),
            topology: topology.path.clone(),
            bpffs: dir.join("bpf"),
            bpffs_mounted: false,
            dir,
            nodes,
            links: Vec::new(),
            losses: Vec::new(),
            path_env: String::new(),
            up: false,
        }
    }

    pub fn file(dir: &Path) -> PathBuf {
        dir.join("state.json")
    }

    pub fn load(dir: &Path) -> std::io::Result<State> {
        let text = std::fs::read_to_string(State::file(dir))?;
        serde_json::from_str(&text).map_err(std::io::Error::other)
    }

    /// Writes the file atomically (write, then rename).
    pub fn save(&self) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let tmp = self.dir.join("state.json.tmp");
        let text = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        std::fs::write(&tmp, text)?;
        std::fs::rename(tmp, State::file(&self.dir))
    }

    pub fn node(&self, name: &str) -> Option<&NodeState> {
        self.nodes.iter().find(|n| n.name == name)
    }

    pub fn node_mut(&mut self, name: &str) -> Option<&mut NodeState> {
        self.nodes.iter_mut().find(|n| n.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_do_not_nest_across_labs() {
        // Lab `a` node `b-x` and lab `a-b` node `x` must not collide.
        assert_ne!(netns_name("a", "b-x"), netns_name("a-b", "x"));
        assert!(!netns_name("a-b", "x").starts_with(&netns_prefix("a")));
    }

    #[test]
    fn the_plan_names_everything_and_round_trips() {
        let text = "name: t\ntopology:\n  nodes:\n    r1:\n      labels: { sluice.run: \"sleep 9\" }\n    h1: {}\n  links:\n    - endpoints: [\"r1:eth1\", \"h1:eth1\"]\n";
        let topo = crate::topology::parse(Path::new("/x/t.clab.yml"), text).unwrap();
        let state = State::plan(&topo, "t42");
        assert_eq!(state.nodes[0].netns, "slab.t42.r1");
        assert_eq!(state.nodes[0].run_cmd.as_deref(), Some("sleep 9"));
        assert!(state.nodes[1].log.ends_with("t42/h1.log"));
        let json = serde_json::to_string(&state).unwrap();
        assert_eq!(serde_json::from_str::<State>(&json).unwrap(), state);
    }
}
