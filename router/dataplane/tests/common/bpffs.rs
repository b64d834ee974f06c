//! A private bpffs mounted on a fresh directory for one test, unmounted
//! (which drops every pin in it: links detach, maps are freed) when dropped,
//! also when the test fails.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

static NEXT: AtomicU32 = AtomicU32::new(0);

#[derive(Debug)]
pub struct Bpffs {
    dir: PathBuf,
}

impl Bpffs {
    pub fn mount(tag: &str) -> Bpffs {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("sluice-bpffs-{}-{n}-{tag}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create the bpffs mount point");
        let status = Command::new("mount")
            .args(["-t", "bpf", "bpf"])
            .arg(&dir)
            .status()
            .expect("run mount");
        assert!(status.success(), "mount -t bpf bpf {}", dir.display());
        Bpffs { dir }
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Bpffs {
    fn drop(&mut self) {
        let ok = Command::new("umount")
            .arg(&self.dir)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
        }
        let _ = std::fs::remove_dir(&self.dir);
    }
}
