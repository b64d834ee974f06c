//! End-to-end tests of sluice, run against real network namespaces built
//! with [`sluice_testns`]. The tests live in `tests/`; they need root, are
//! marked `#[ignore = "needs root: …"]` and are run by scripts/test.sh with
//! `--include-ignored`.

use std::path::PathBuf;

pub mod fakepeer;
pub mod netns;
pub mod peers;
pub mod sluice;

pub use sluice_testns;

/// The `sluice` binary of this build: `target/<profile>/sluice`, beside the
/// directory of the running test executable. scripts/test.sh builds it first.
pub fn sluice_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary has a path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("test binaries live in target/<profile>/deps");
    let bin = profile_dir.join("sluice");
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build --bin sluice` first (scripts/test.sh does)",
        bin.display()
    );
    bin
}
