//! `sluice validate` on states other than the normal one: findings that
//! name their state, the rules listed, SARIF, `--with-rib`, `--diff` in a
//! git repository, and the pre-commit hook shipped in `configs/hooks`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const SLUICE: &str = env!("CARGO_BIN_EXE_sluice");

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn sluice(args: &[&str]) -> Output {
    Command::new(SLUICE)
        .args(args)
        .output()
        .expect("sluice runs")
}

fn out(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn incident() -> PathBuf {
    repo().join("tests/whatif/incident.yaml")
}

#[test]
fn the_incident_is_an_error_of_the_drained_state() {
    let p = incident();
    let o = sluice(&["validate", p.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    assert!(
        out(&o).contains(
            "error[PINNED-TO-INACTIVE]: when iap-a is drained, fails or is degraded: static route 198.18.0.0/24 via 203.0.113.1 is bound to iap-a"
        ),
        "{}",
        out(&o)
    );
    let o = sluice(&["validate", "--json", p.to_str().unwrap()]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let f = v["files"][0]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "PINNED-TO-INACTIVE")
        .unwrap();
    assert_eq!(f["state"], "when iap-a is drained, fails or is degraded");
    assert_eq!(
        (f["line"].as_u64(), f["uplink"].as_str()),
        (Some(15), Some("iap-a"))
    );

    let o = sluice(&["validate", "--list-rules"]);
    for rule in [
        "PINNED-TO-INACTIVE",
        "UNREACHABLE-IN-STATE",
        "UNDRAIN-NOT-RESTORED",
        "ROUTER-ID",
    ] {
        assert!(out(&o).contains(rule), "{rule} not listed");
    }
}

#[test]
fn sarif_has_the_rules_results_and_waivers() {
    let dir = tempfile::tempdir().unwrap();
    let waived = dir.path().join("waived.yaml");
    std::fs::write(
        &waived,
        format!(
            "{}validate:\n  waive: [{{ rule: PINNED-TO-INACTIVE, uplink: iap-a, reason: \"fibre work\" }}]\n",
            std::fs::read_to_string(incident()).unwrap()
        ),
    )
    .unwrap();
    let o = sluice(&[
        "validate",
        "--format",
        "sarif",
        incident().to_str().unwrap(),
        waived.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["version"], "2.1.0");
    let run = &v["runs"][0];
    assert_eq!(run["tool"]["driver"]["name"], "sluice");
    assert!(
        run["tool"]["driver"]["rules"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["id"] == "PINNED-TO-INACTIVE")
    );
    let pinned: Vec<&serde_json::Value> = run["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["ruleId"] == "PINNED-TO-INACTIVE")
        .collect();
    assert_eq!(pinned.len(), 2, "{pinned:#?}");
    let loc = &pinned[0]["locations"][0]["physicalLocation"];
    assert_eq!(loc["region"]["startLine"], 15);
    assert_eq!(pinned[0]["level"], "error");
    assert!(pinned[0].get("suppressions").is_none());
    assert_eq!(pinned[1]["suppressions"][0]["justification"], "fibre work");
}

/// A RIB dump: iap-a's table, and nothing from iap-b (its session is up
/// but it sends no default): the routes a daemon learned, not the model.
fn dump(dir: &Path) -> PathBuf {
    let path = dir.join("rib.jsonl");
    std::fs::write(
        &path,
        concat!(
            r#"{"sluice_rib_dump":1,"peers":[{"name":"iap-a","address":"203.0.113.1","asn":65001,"router_id":"203.0.113.1","ebgp":true,"uplink":"iap-a"}]}"#,
            "\n",
            r#"{"attrs":0,"origin":0,"as_path":"02010000fde9","next_hop":"203.0.113.1","local_pref":200,"med":null,"communities":[]}"#,
            "\n",
            r#"{"prefix":"20.0.0.0/8","paths":[[0,0]]}"#,
            "\n",
        ),
    )
    .unwrap();
    path
}

#[test]
fn with_rib_evaluates_the_routes_a_daemon_learned() {
    let dir = tempfile::tempdir().unwrap();
    let config = repo().join("configs/example.yaml");
    let o = sluice(&["validate", config.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    let rib = dump(dir.path());
    let o = sluice(&[
        "validate",
        "--with-rib",
        rib.to_str().unwrap(),
        config.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    assert!(
        out(&o).contains("error[UNREACHABLE-IN-STATE]: when iap-a is drained, fails or is degraded, 1 destination(s) served now are left only to non-active uplinks: 20.0.0.0/8"),
        "{}",
        out(&o)
    );
    std::fs::write(&rib, "not a dump\n").unwrap();
    let o = sluice(&[
        "validate",
        "--with-rib",
        rib.to_str().unwrap(),
        config.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", out(&o));
    assert!(out(&o).contains("not a sluice RIB dump"), "{}", out(&o));
}

fn git(dir: &Path, args: &[&str]) -> Output {
    let o = Command::new("git")
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(o.status.success(), "git {args:?}: {}", out(&o));
    o
}

#[test]
fn diff_tells_what_a_change_does_in_each_state_and_the_hook_refuses_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let example = std::fs::read_to_string(repo().join("configs/example.yaml")).unwrap();
    std::fs::write(d.join("edge.yaml"), &example).unwrap();
    git(d, &["init", "-q"]);
    git(d, &["add", "edge.yaml"]);
    git(d, &["commit", "-qm", "edge"]);
    let changed = example.replace(
        "  - { prefix: 172.16.0.0/12, via: 10.0.0.254 }\n",
        "  - { prefix: 172.16.0.0/12, via: 10.0.0.254 }\n  - { prefix: 198.18.0.0/24, via: 203.0.113.1 }\n",
    );
    std::fs::write(d.join("edge.yaml"), &changed).unwrap();
    let file = d.join("edge.yaml");
    let o = sluice(&["validate", "--diff", "HEAD", file.to_str().unwrap()]);
    let text = out(&o);
    assert_eq!(o.status.code(), Some(1), "{text}");
    assert!(text.contains("(HEAD → working copy):"), "{text}");
    assert!(text.contains("normal:\n"), "{text}");
    assert!(
        text.contains("198.18.0.0/24: through iap-b (0.0.0.0/0) → through iap-a"),
        "{text}"
    );
    assert!(
        text.contains("+ error[PINNED-TO-INACTIVE] line 37"),
        "{text}"
    );
    let o = sluice(&[
        "validate",
        "--diff",
        "HEAD",
        "--json",
        file.to_str().unwrap(),
    ]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let appeared: Vec<&str> = v[0]["diff"]["appeared"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["rule"].as_str())
        .collect();
    assert!(appeared.contains(&"PINNED-TO-INACTIVE"), "{appeared:?}");
    let o = sluice(&["validate", "--diff", "no-such-rev", file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", out(&o));

    // The shipped pre-commit hook refuses the staged change.
    git(d, &["add", "edge.yaml"]);
    let hook = repo().join("configs/hooks/pre-commit");
    let bin = Path::new(SLUICE).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let o = Command::new("sh")
        .arg(&hook)
        .env("PATH", &path)
        .current_dir(d)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    assert!(out(&o).contains("PINNED-TO-INACTIVE"), "{}", out(&o));
    // Unstaged again, the staged content is the committed one: accepted.
    git(d, &["reset", "-q", "edge.yaml"]);
    let o = Command::new("sh")
        .arg(&hook)
        .env("PATH", &path)
        .current_dir(d)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
}
