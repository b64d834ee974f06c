//! Run-time drains on disk: `<state_dir>/drains.json`, written before a
//! drain is acted on (temporary file, fsync, rename, fsync of the
//! directory), so a crash at any point leaves the old file or the new one,
//! and a restarted daemon comes back drained, never briefly active. A file
//! that cannot be read is an error at start, never "all active".

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// A `sluice drain` in force.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CliDrain {
    /// The client's uid, from the control socket's peer credentials.
    pub uid: u32,
    /// Unix time in milliseconds.
    pub at_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Pre-check findings the drain was forced over.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub forced: Vec<String>,
}

/// Uplink name → its drain.
pub type Drains = BTreeMap<String, CliDrain>;

const FILE: &str = "drains.json";
const VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct OnDisk {
    version: u32,
    drains: Drains,
}

#[derive(Debug, thiserror::Error)]
pub enum DrainFileError {
    #[error("cannot read the run-time drains in {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "the run-time drains in {} are unreadable ({why}); refusing to start with every uplink active: fix or remove the file (removing it lifts every `sluice drain`)",
        path.display()
    )]
    Corrupt { path: PathBuf, why: String },
}

/// The drain file of a state directory.
#[derive(Debug, Clone)]
pub struct DrainFile {
    dir: PathBuf,
}

impl DrainFile {
    pub fn new(state_dir: &Path) -> DrainFile {
        DrainFile {
            dir: state_dir.to_path_buf(),
        }
    }

    pub fn path(&self) -> PathBuf {
        self.dir.join(FILE)
    }

    /// The drains on disk; none if there is no file.
    pub fn load(&self) -> Result<Drains, DrainFileError> {
        let path = self.path();
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Drains::new()),
            Err(source) => return Err(DrainFileError::Read { path, source }),
        };
        let disk: OnDisk = serde_json::from_str(&text).map_err(|e| DrainFileError::Corrupt {
            path: path.clone(),
            why: e.to_string(),
        })?;
        if disk.version != VERSION {
            return Err(DrainFileError::Corrupt {
                path,
                why: format!("version {} (this sluice writes {VERSION})", disk.version),
            });
        }
        Ok(disk.drains)
    }

    /// Replaces the file with `drains`, durably.
    pub fn save(&self, drains: &Drains) -> io::Result<()> {
        let disk = OnDisk {
            version: VERSION,
            drains: drains.clone(),
        };
        write_json(&self.dir, FILE, &disk)
    }
}

/// [`write_atomic`] of `value` as pretty JSON.
pub fn write_json(dir: &Path, name: &str, value: &impl Serialize) -> io::Result<()> {
    let mut text = serde_json::to_string_pretty(value).map_err(io::Error::other)?;
    text.push('\n');
    write_atomic(dir, name, text.as_bytes())
}

/// Replaces `dir/name` with `bytes` so that a crash at any point leaves
/// the old file or the new one: a temporary file, fsync, rename, fsync of
/// the directory.
pub fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".{name}.{}", std::process::id()));
    let mut f = File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    fs::rename(&tmp, dir.join(name))?;
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_a_torn_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = DrainFile::new(dir.path());
        assert_eq!(file.load().unwrap(), Drains::new(), "no file: no drains");
        let mut drains = Drains::new();
        drains.insert(
            "iap-a".into(),
            CliDrain {
                uid: 1000,
                at_ms: 1_700_000_000_000,
                reason: Some("fibre work".into()),
                forced: vec![],
            },
        );
        file.save(&drains).unwrap();
        assert_eq!(file.load().unwrap(), drains);
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["drains.json"], "no temporary file left");

        let text = fs::read_to_string(file.path()).unwrap();
        fs::write(file.path(), &text[..text.len() / 2]).unwrap();
        let err = file.load().unwrap_err().to_string();
        assert!(err.contains("are unreadable"), "{err}");
        fs::write(file.path(), "").unwrap();
        assert!(file.load().is_err(), "an empty file is torn, not empty");
    }
}
