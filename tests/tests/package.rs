//! The Debian package (scripts/package.sh) and what it promises systemd:
//! the file list, the unit under `systemd-analyze verify` on the unpacked
//! package, and `Type=notify` readiness from the daemon itself.

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use sluice_e2e::sluice_bin;
use sluice_testns::{Lab, must_be_root, wait_until};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Builds the package from the test build's binary (uncompressed: fast)
/// into `out`; returns the .deb.
fn package(out: &Path) -> PathBuf {
    let run = Command::new(repo().join("scripts/package.sh"))
        .env("SLUICE_BINARY", sluice_bin())
        .env("SLUICE_DEB_COMPRESS", "none")
        .env("SLUICE_DEB_OUT", out)
        .output()
        .expect("run scripts/package.sh");
    assert!(run.status.success(), "package.sh: {run:?}");
    PathBuf::from(String::from_utf8_lossy(&run.stdout).trim())
}

fn dpkg_deb(args: &[&str], deb: &Path) -> String {
    let out = Command::new("dpkg-deb")
        .args(args)
        .arg(deb)
        .output()
        .expect("dpkg-deb");
    assert!(out.status.success(), "dpkg-deb {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn the_package_holds_what_an_install_needs() {
    if !have("dpkg-deb") {
        println!("SKIPPED: dpkg-deb is not installed (a Debian host has it)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let deb = package(dir.path());
    let list = dpkg_deb(&["-c"], &deb);
    for path in [
        "./usr/bin/sluice",
        "./lib/systemd/system/sluice.service",
        "./etc/sluice/sluice.yaml",
        "./usr/share/man/man1/sluice.1.gz",
        "./usr/share/man/man1/sluice-run.1.gz",
        "./usr/share/man/man1/sluice-drain.1.gz",
        "./usr/share/bash-completion/completions/sluice",
        "./usr/share/zsh/vendor-completions/_sluice",
        "./usr/share/fish/vendor_completions.d/sluice.fish",
        "./usr/share/doc/sluice/copyright",
        "./usr/share/doc/sluice/config.md",
        "./usr/share/doc/sluice/runbooks.md",
    ] {
        assert!(
            list.lines().any(|l| l.ends_with(path)),
            "{path} not in the package:\n{list}"
        );
    }
    let info = dpkg_deb(&["-I"], &deb);
    assert!(info.contains("Package: sluice"), "{info}");
    let control = dpkg_deb(&["-f"], &deb);
    assert!(control.contains("Depends:"), "{control}");
    let unpacked = dir.path().join("x");
    let out = Command::new("dpkg-deb")
        .args(["-e"])
        .arg(&deb)
        .arg(&unpacked)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let conffiles = std::fs::read_to_string(unpacked.join("conffiles")).unwrap();
    assert_eq!(conffiles.trim(), "/etc/sluice/sluice.yaml");
    // The shipped config is a valid starting point.
    let root = dir.path().join("root");
    let v = Command::new(sluice_bin())
        .args(["validate"])
        .arg(root.join("etc/sluice/sluice.yaml"))
        .output()
        .unwrap();
    assert!(v.status.success(), "{v:?}");
}

#[test]
fn the_unit_passes_systemd_analyze_verify() {
    if !have("systemd-analyze") || !have("dpkg-deb") {
        println!("SKIPPED: systemd-analyze or dpkg-deb is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let deb = package(dir.path());
    let root = dir.path().join("unpacked");
    let x = Command::new("dpkg-deb")
        .arg("-x")
        .arg(&deb)
        .arg(&root)
        .status()
        .unwrap();
    assert!(x.success());
    // What the unit leans on from the system: the targets and slices it is
    // ordered against, and the shell of its ExecStartPre.
    let units = root.join("lib/systemd/system");
    for entry in std::fs::read_dir("/lib/systemd/system").unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".target") || name.ends_with(".slice") {
            let _ = std::fs::copy(entry.path(), units.join(&name));
        }
    }
    std::fs::create_dir_all(root.join("bin")).unwrap();
    std::fs::copy("/bin/sh", root.join("bin/sh")).unwrap();
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(format!("--root={}", root.display()))
        .arg("sluice.service")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success() && text.trim().is_empty(), "{text}");
    let unit = std::fs::read_to_string(units.join("sluice.service")).unwrap();
    for line in [
        "Type=notify",
        "ExecReload=/usr/bin/sluice reload",
        "User=sluice",
    ] {
        assert!(unit.contains(line), "{line}");
    }
    // The man pages its Documentation= names are in the package.
    for page in ["sluice.1.gz", "sluice-run.1.gz"] {
        assert!(
            root.join("usr/share/man/man1").join(page).exists(),
            "{page}"
        );
    }
}

const CONFIG: &str = "\
router: { id: 192.0.2.1, asn: 64500 }
interfaces:
  - { name: eth1, addresses: [203.0.113.2/30] }
uplinks:
  - { name: iap-a, interface: eth1, peer: { address: 203.0.113.1, asn: 65001 }, import: full-table, max_prefix: 10 }
dataplane: { xdp: off, kernel_fib: off }
";

#[test]
#[ignore = "needs root: network namespaces"]
fn readiness_and_stopping_reach_the_notify_socket() {
    must_be_root();
    let lab = Lab::new("notify");
    let r = lab.node("r");
    let w = lab.node("w");
    lab.link(&r, "eth1", &w, "eth1");
    r.addr("eth1", "203.0.113.2/30");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("sluice.yaml");
    std::fs::write(&config, CONFIG).unwrap();
    let notify = dir.path().join("notify");
    let rx = UnixDatagram::bind(&notify).unwrap();
    rx.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let sock = dir.path().join("sluice.sock");
    let daemon = r.spawn([
        "env".as_ref(),
        format!("NOTIFY_SOCKET={}", notify.display()).as_ref(),
        sluice_bin().as_os_str(),
        "run".as_ref(),
        "-c".as_ref(),
        config.as_os_str(),
        "--socket".as_ref(),
        sock.as_os_str(),
        "--state-dir".as_ref(),
        dir.path().join("state").as_os_str(),
        "--metrics".as_ref(),
        "127.0.0.1:0".as_ref(),
    ]);
    let mut buf = [0u8; 512];
    let n = rx
        .recv(&mut buf)
        .unwrap_or_else(|e| panic!("no READY=1: {e}\n{}", daemon.log()));
    let ready = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(ready.starts_with("READY=1\nSTATUS="), "{ready}");
    // Ready means the control socket answers.
    let status = Command::new(sluice_bin())
        .args(["status", "--socket"])
        .arg(&sock)
        .output()
        .unwrap();
    assert!(status.status.success(), "{status:?}");
    daemon.stop();
    let n = rx.recv(&mut buf).expect("STOPPING=1");
    assert_eq!(&buf[..n], b"STOPPING=1");
    wait_until(Duration::from_secs(10), "the daemon to exit", || {
        !daemon.is_running()
    });
}
