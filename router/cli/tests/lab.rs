//! `sluice lab` as an operator runs it, where no namespace is needed: bad
//! topology files (exit 2, file, line and node named), verbs on a lab
//! that is not up (exit 1), and the delay verb that is not offered.

use std::path::Path;
use std::process::{Command, Output};

fn sluice(args: &[&str], state: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(args)
        .env("SLUICE_LAB_DIR", state)
        .output()
        .expect("run sluice")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

const TOPO: &str = "name: t
topology:
  nodes:
    a:
      binds: [a.conf:/etc/a.conf]
    b:
  links:
    - endpoints: [\"a:eth1\", \"b:eth1\"]
";

fn up(text: &str) -> (Output, String) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.conf"), "").unwrap();
    let path = dir.path().join("t.clab.yml");
    std::fs::write(&path, text).unwrap();
    let out = sluice(
        &["lab", "up", path.to_str().unwrap()],
        &dir.path().join("state"),
    );
    let shown = path.display().to_string();
    (out, shown)
}

#[test]
fn a_yaml_error_names_file_and_line() {
    let (out, path) = up(&TOPO.replace("    b:\n", "    b: [\n"));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("error[LAB-YAML]"), "{err}");
    assert!(err.contains(&format!("--> {path}:")), "{err}");
}

#[test]
fn an_unknown_node_in_a_link_is_named_with_its_line() {
    let (out, path) = up(&TOPO.replace("\"b:eth1\"]", "\"c:eth1\"]"));
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("error[LAB-LINK-UNKNOWN-NODE]"), "{err}");
    assert!(err.contains("names node `c`"), "{err}");
    assert!(err.contains(&format!("--> {path}:8:")), "{err}");
}

#[test]
fn a_duplicate_interface_is_named_with_node_and_line() {
    let (out, path) = up(&format!(
        "{TOPO}    - endpoints: [\"a:eth1\", \"b:eth2\"]\n"
    ));
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("error[LAB-DUPLICATE-INTERFACE]: node `a`: interface `eth1`"),
        "{err}"
    );
    assert!(err.contains(&format!("--> {path}:9:")), "{err}");
}

#[test]
fn a_missing_bind_source_is_named_before_anything_is_built() {
    let (out, path) = up(&TOPO.replace("a.conf:", "missing.conf:"));
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("error[LAB-BIND-SOURCE]: node `a`: bind source"),
        "{err}"
    );
    assert!(err.contains(&format!("--> {path}:5:")), "{err}");
}

#[test]
fn verbs_on_a_lab_that_is_not_up() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &["lab", "status", "nolab"][..],
        &["lab", "down", "nolab"],
        &["lab", "traffic", "nolab", "a", "b"],
        &["lab", "link", "nolab", "a:eth1", "down"],
    ] {
        let out = sluice(args, dir.path());
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("lab `nolab` is not up"),
            "{}",
            stderr(&out)
        );
    }
    let out = sluice(&["lab", "status", "no/such.yml"], dir.path());
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

#[test]
fn delay_says_why_it_is_not_offered() {
    let dir = tempfile::tempdir().unwrap();
    let out = sluice(&["lab", "delay", "t", "a:eth1", "10ms"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("netem"), "{}", stderr(&out));
}
