//! What the lab's end-to-end tests share: whether they can run here, and
//! where the repository and the `sluice` binary are.

use std::path::{Path, PathBuf};

use sluice_lab::sys;

/// Whether a test can run here; prints why not.
pub fn can_run(needs: &[&str]) -> bool {
    if !sys::is_root() {
        eprintln!("SKIPPED: needs root (network namespaces, veth, mounts)");
        return false;
    }
    for tool in needs {
        if !Path::new(tool).exists() {
            eprintln!("SKIPPED: {tool} is not installed (scripts/setup.sh installs it)");
            return false;
        }
    }
    true
}

/// BIRD and FRR, which the shipped topologies run.
pub const ROUTERS: &[&str] = &[
    "/usr/sbin/bird",
    "/usr/lib/frr/bgpd",
    "/usr/lib/frr/frrinit.sh",
];

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The directory of this build's `sluice` binary (target/<profile>/).
pub fn sluice_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(Path::parent).unwrap().to_path_buf();
    assert!(
        dir.join("sluice").exists(),
        "{} is missing: run `cargo build -p sluice` first (scripts/test.sh does)",
        dir.join("sluice").display()
    );
    dir
}
