//! The `sluice` binary as an operator runs it: real invocations, exit
//! codes, and what they print.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const SLUICE: &str = env!("CARGO_BIN_EXE_sluice");

fn sluice(args: &[&str]) -> Output {
    Command::new(SLUICE)
        .args(args)
        .output()
        .expect("sluice runs")
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/example.yaml")
}

/// The example config with one substitution, written to a temp dir.
fn mutated(dir: &Path, from: &str, to: &str) -> PathBuf {
    let original = std::fs::read_to_string(example()).unwrap();
    assert!(original.contains(from), "example.yaml has no {from:?}");
    let path = dir.join("c.yaml");
    std::fs::write(&path, original.replacen(from, to, 1)).unwrap();
    path
}

#[test]
fn validate_clean_config_exits_0() {
    let o = sluice(&["validate", example().to_str().unwrap()]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert!(out.ends_with("example.yaml: ok\n"), "{out}");
}

#[test]
fn validate_rule_error_points_at_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = mutated(dir.path(), "interface: eth2", "interface: eth9");
    let o = sluice(&["validate", path.to_str().unwrap()]);
    let (out, _) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("error[UPLINK-UNKNOWN-INTERFACE]"), "{out}");
    assert!(
        out.contains(&format!("--> {}:24:16", path.display())),
        "{out}"
    );
    assert!(
        out.contains("24 |     interface: eth9\n   |                ^^^^\n"),
        "{out}"
    );
}

#[test]
fn validate_missing_file_exits_2_and_names_it() {
    let o = sluice(&["validate", "/nonexistent/edge.yaml"]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        err.contains("/nonexistent/edge.yaml") && err.contains("No such file"),
        "{err}"
    );
    assert!(out.contains("cannot be read"), "{out}");
}

#[test]
fn validate_yaml_syntax_error_exits_2_with_position() {
    let dir = tempfile::tempdir().unwrap();
    let path = mutated(
        dir.path(),
        "announce: [198.51.100.0/24]",
        "announce: [198.51.100.0/24",
    );
    let o = sluice(&["validate", path.to_str().unwrap()]);
    let (out, _) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}");
    assert!(out.contains("error[YAML-SYNTAX]"), "{out}");
    assert!(out.contains(&format!("{}:", path.display())), "{out}");
}

#[test]
fn validate_wrong_type_names_field_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = mutated(dir.path(), "local_pref: 200", "local_pref: high");
    let o = sluice(&["validate", path.to_str().unwrap()]);
    let (out, _) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}");
    assert!(
        out.contains("error[CONFIG-VALUE]: `local_pref`: `high` is not a whole number"),
        "{out}"
    );
    assert!(out.contains(&format!("{}:18:17", path.display())), "{out}");
}

#[test]
fn validate_unknown_key_suggests() {
    let dir = tempfile::tempdir().unwrap();
    let path = mutated(dir.path(), "min_active_uplinks: 1", "min_active_uplink: 1");
    let o = sluice(&["validate", path.to_str().unwrap()]);
    let (out, _) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}");
    assert!(
        out.contains("unknown key `min_active_uplink`; did you mean `min_active_uplinks`?"),
        "{out}"
    );
}

#[test]
fn validate_json_and_github_formats() {
    let dir = tempfile::tempdir().unwrap();
    let path = mutated(dir.path(), "drained: []", "drained: [iap-c]");
    let p = path.to_str().unwrap();
    let o = sluice(&["validate", "--json", p]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["errors"], 1);
    let f = v["files"][0]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["severity"] == "error")
        .unwrap();
    assert_eq!(
        (f["rule"].as_str(), f["line"].as_u64()),
        (Some("DRAINED-UNKNOWN-UPLINK"), Some(45))
    );
    assert_eq!(
        sluice(&["validate", "--format", "json", p]).stdout,
        o.stdout,
        "--json is an alias"
    );

    let o = sluice(&["validate", "--format", "github", p]);
    let (out, _) = text(&o);
    assert!(
        out.lines().any(|l| l.starts_with(&format!(
            "::error file={p},line=45,col=13,title=DRAINED-UNKNOWN-UPLINK::"
        ))),
        "{out}"
    );
}

#[test]
fn validate_several_files_takes_the_worst_status() {
    let dir = tempfile::tempdir().unwrap();
    let bad = mutated(dir.path(), "interface: eth2", "interface: eth9");
    let o = sluice(&[
        "validate",
        example().to_str().unwrap(),
        bad.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let o = sluice(&["validate", bad.to_str().unwrap(), "/nonexistent.yaml"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn list_rules_lists_every_rule() {
    let o = sluice(&["validate", "--list-rules", "--json"]);
    let rules: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(rules.len(), sluice_config_rule_count());
    assert!(rules.iter().any(|r| r["id"] == "EBGP-NO-IMPORT"));
}

fn sluice_config_rule_count() -> usize {
    let o = sluice(&["validate", "--list-rules"]);
    String::from_utf8_lossy(&o.stdout).lines().count() - 1
}

#[test]
fn client_without_daemon_exits_3_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("none.sock");
    for args in [
        vec!["status"],
        vec!["show", "uplinks"],
        vec!["reload"],
        vec!["confirm"],
    ] {
        let mut args = args.clone();
        args.extend(["--socket", sock.to_str().unwrap()]);
        let o = sluice(&args);
        let (out, err) = text(&o);
        assert_eq!(o.status.code(), Some(3), "{args:?}: {out}{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.contains("cannot reach the sluice daemon") && err.contains("none.sock"),
            "{err}"
        );
    }
}

#[test]
fn client_finds_the_socket_from_the_config() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("from-config.sock");
    let path = mutated(
        dir.path(),
        "socket: /run/sluice/sluice.sock",
        &format!("socket: {}", sock.display()),
    );
    let o = sluice(&["status", "-c", path.to_str().unwrap()]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(3));
    assert!(err.contains("from-config.sock"), "{err}");
}

#[test]
fn bad_usage_exits_2() {
    assert_eq!(sluice(&["frobnicate"]).status.code(), Some(2));
    assert_eq!(
        sluice(&["reload", "--confirm-within", "soon"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(sluice(&["validate"]).status.code(), Some(2));
}

#[test]
fn run_refuses_a_bad_config_with_its_findings() {
    let dir = tempfile::tempdir().unwrap();
    let path = mutated(dir.path(), "asn: 65002", "asn: 0");
    let o = sluice(&[
        "run",
        "-c",
        path.to_str().unwrap(),
        "--socket",
        "/nonexistent/x.sock",
    ]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("error[ASN-RESERVED]") && err.contains("not starting"),
        "{err}"
    );
    let o = sluice(&["run", "-c", "/nonexistent/edge.yaml"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn version_names_the_commit() {
    let (out, _) = text(&sluice(&["--version"]));
    assert!(
        out.starts_with(concat!("sluice ", env!("CARGO_PKG_VERSION"), " (commit ")),
        "{out}"
    );
    let head = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    match head {
        Some(hash) => assert!(out.contains(&hash), "{out} does not name {hash}"),
        None => assert!(out.contains("unknown"), "{out}"),
    }
}
