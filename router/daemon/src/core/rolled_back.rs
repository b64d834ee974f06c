//! Configs a `reload --confirm-within` rolled back, remembered by content
//! in `<state_dir>/rolled-back.json`: the same content again (a later
//! reload, or a start) says so and needs `--force`, so a config that
//! already cut a router off is not applied by accident.

use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::uplinks::drains::write_json;

const FILE: &str = "rolled-back.json";
/// The newest ones are kept.
const KEEP: usize = 32;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RolledBack {
    pub sha256: String,
    /// Unix time in milliseconds.
    pub at_ms: u64,
}

#[derive(Debug, Clone)]
pub struct Memory {
    dir: PathBuf,
}

impl Memory {
    pub fn new(state_dir: &Path) -> Memory {
        Memory {
            dir: state_dir.to_path_buf(),
        }
    }

    /// What is remembered; an unreadable file remembers nothing (it guards
    /// against a mistake, it is not state the router runs on).
    pub fn load(&self) -> Vec<RolledBack> {
        std::fs::read_to_string(self.dir.join(FILE))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default()
    }

    pub fn find(&self, sha256: &str) -> Option<RolledBack> {
        self.load().into_iter().find(|r| r.sha256 == sha256)
    }

    pub fn remember(&self, sha256: &str, at_ms: u64) -> io::Result<()> {
        let mut all = self.load();
        all.retain(|r| r.sha256 != sha256);
        all.push(RolledBack {
            sha256: sha256.to_string(),
            at_ms,
        });
        let skip = all.len().saturating_sub(KEEP);
        self.save(&all[skip..])
    }

    /// An operator applied it anyway: it is no longer held against it.
    pub fn forget(&self, sha256: &str) -> io::Result<()> {
        let mut all = self.load();
        let before = all.len();
        all.retain(|r| r.sha256 != sha256);
        if all.len() == before {
            return Ok(());
        }
        self.save(&all)
    }

    fn save(&self, all: &[RolledBack]) -> io::Result<()> {
        write_json(&self.dir, FILE, &all)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_and_forgets_by_content() {
        let dir = tempfile::tempdir().unwrap();
        let m = Memory::new(dir.path());
        assert_eq!(m.find("ab"), None);
        m.remember("ab", 5).unwrap();
        m.remember("cd", 6).unwrap();
        assert_eq!(m.find("ab").map(|r| r.at_ms), Some(5));
        m.forget("ab").unwrap();
        assert_eq!(m.find("ab"), None);
        assert!(m.find("cd").is_some());
    }
}
