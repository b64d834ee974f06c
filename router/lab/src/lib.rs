//! `sluice lab`: runs containerlab topology files (`topologies/`) without
//! Docker, each node a network namespace with its own mount namespace, each
//! link a veth pair, and adds faults (link down, random loss, kill) and a
//! bounded UDP stream. The CLI and the end-to-end tests use the same
//! functions, so what an operator runs is what CI runs.
//!
//! Sans-IO: [`topology`] (the file, its checks, errors with file, line and
//! node), [`state`] (names, the plan, the state file), [`mounts`] (a node's
//! mount set-up as a script). I/O: [`sys`] (commands), [`runner`] (up,
//! down, status, exec, logs), [`faults`] (link, loss, kill, traffic),
//! [`agent`] (the UDP sender and receiver run inside nodes).
//!
//! ```no_run
//! use sluice_lab::{Options, up, down};
//! let opts = Options { name: Some("demo1".into()), ..Options::default() };
//! let status = up("topologies/dual-iap/dual-iap.clab.yml".as_ref(), &opts).unwrap();
//! println!("{}", status.render());
//! down("demo1").unwrap();
//! ```

pub mod agent;
pub mod faults;
pub mod mounts;
pub mod runner;
pub mod state;
pub mod sys;
pub mod topology;

use std::path::{Path, PathBuf};
use std::time::Duration;

pub use faults::{TrafficReport, TrafficSpec, kill, link, loss, traffic};
pub use runner::{Status, down, exec, logs, status, up};
pub use topology::{Endpoint, Topology};

/// How `up` runs a topology.
#[derive(Debug, Clone)]
pub struct Options {
    /// Lab name instead of the file's `name` (tests add their pid).
    pub name: Option<String>,
    /// How long every node may take to become ready.
    pub timeout: Duration,
    /// Directories put first on the nodes' PATH, e.g. where `sluice` is.
    pub bin_dirs: Vec<PathBuf>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            name: None,
            timeout: Duration::from_secs(60),
            bin_dirs: Vec::new(),
        }
    }
}

/// Why a lab command failed. [`LabError::exit_code`] maps it to the CLI's
/// exit status (as every `sluice` command: 1 refused or failed, 2 bad usage or input).
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    #[error("cannot read {}: {error}", path.display())]
    Unreadable {
        path: PathBuf,
        #[source]
        error: std::io::Error,
    },
    /// The topology file has errors; the rendering names file, line, node.
    #[error("{0}")]
    Invalid(topology::Invalid),
    #[error("lab `{0}` is not up (no state in {dir}, no namespace)", dir = state::lab_dir(.0).display())]
    NotUp(String),
    #[error("lab `{0}` is already up; `sluice lab down {0}` first")]
    AlreadyUp(String),
    #[error("lab `{lab}` has no node `{node}`")]
    UnknownNode { lab: String, node: String },
    #[error("lab `{lab}` has no link at `{endpoint}`")]
    UnknownEndpoint { lab: String, endpoint: String },
    #[error("{0}")]
    Usage(String),
    /// Building or running the lab failed; the text says where and why
    /// (for a node: the topology file's line, the node, its log).
    #[error("{0}")]
    Failed(String),
}

impl LabError {
    pub fn exit_code(&self) -> u8 {
        match self {
            LabError::Unreadable { .. }
            | LabError::Invalid(_)
            | LabError::UnknownNode { .. }
            | LabError::UnknownEndpoint { .. }
            | LabError::Usage(_) => 2,
            LabError::NotUp(_) | LabError::AlreadyUp(_) | LabError::Failed(_) => 1,
        }
    }
}

/// Reads and checks a topology file.
pub fn load(path: &Path) -> Result<Topology, LabError> {
    let text = std::fs::read_to_string(path).map_err(|error| LabError::Unreadable {
        path: path.to_path_buf(),
        error,
    })?;
    let mut topo = topology::parse(path, &text).map_err(LabError::Invalid)?;
    // Bind sources are relative to the file; nodes start in `/`.
    for node in &mut topo.nodes {
        for bind in &mut node.binds {
            if let Ok(abs) = std::path::absolute(&bind.host) {
                bind.host = abs;
            }
        }
    }
    Ok(topo)
}

/// The lab a TOPOLOGY argument names: a topology file (its `name`), or
/// a lab name as is.
pub fn lab_name(arg: &str) -> Result<String, LabError> {
    let path = Path::new(arg);
    if path.is_file() {
        return Ok(load(path)?.name);
    }
    if topology::valid_name(arg) {
        Ok(arg.to_owned())
    } else {
        Err(LabError::Usage(format!(
            "`{arg}` is neither a topology file nor a lab name"
        )))
    }
}

/// A lab that is brought up and removed again when dropped (also when a
/// test panics): the helper end-to-end tests use, over the same [`up`]
/// and [`down`] as the CLI.
#[derive(Debug)]
pub struct Running {
    name: String,
}

impl Running {
    /// [`up`], keeping the lab's name for [`down`] on drop.
    pub fn up(path: &Path, opts: &Options) -> Result<Running, LabError> {
        let status = up(path, opts)?;
        Ok(Running { name: status.lab })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// [`down`] now, reporting problems instead of printing them.
    pub fn down(self) -> Result<runner::Removed, LabError> {
        let name = self.name.clone();
        std::mem::forget(self);
        down(&name)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // What the nodes said is usually why the test failed.
            if let Ok(state) = state::State::load(&state::lab_dir(&self.name)) {
                for n in &state.nodes {
                    let log = std::fs::read_to_string(&n.log).unwrap_or_default();
                    eprintln!(
                        "--- lab {} node {} ---\n{}",
                        self.name,
                        n.name,
                        sys::tail(&log, 30)
                    );
                }
            }
        }
        if let Err(e) = down(&self.name) {
            eprintln!("sluice-lab: {e}");
        }
    }
}
