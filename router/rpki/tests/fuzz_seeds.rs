//! The `rtr` fuzz target's seeds (fuzz/seeds/rtr), replayed on stable
//! with the target's own checks: a change that breaks what a seed covers
//! fails here, not only where a nightly toolchain fuzzes.

use std::path::PathBuf;

#[test]
fn every_seed_decodes_and_replays() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/rtr");
    let mut seeds = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        let pdus = sluice_rpki::replay::replay(&data);
        assert!(pdus > 0, "{}: no PDU decodes", path.display());
        seeds += 1;
    }
    assert!(seeds >= 4, "{seeds} seeds in {}", dir.display());
}
