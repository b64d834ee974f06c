//! What deploy/ ships: the Prometheus alert rules pass `promtool check
//! rules` and their unit tests (`promtool test rules`; Debian's
//! `prometheus` package has promtool, scripts/setup.sh installs it), and
//! the Grafana dashboard is JSON whose every panel asks Prometheus
//! something. That each metric they name is one the daemon exports is
//! checked in router/daemon/src/metrics. Needs no root.

use std::path::PathBuf;
use std::process::Command;

fn deploy() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy")
}

fn promtool(args: &[&str]) -> Option<(bool, String)> {
    let out = Command::new("promtool")
        .args(args)
        .current_dir(deploy().join("prometheus"))
        .output()
        .ok()?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Some((out.status.success(), text))
}

#[test]
fn alert_rules_check_and_pass_their_unit_tests() {
    let Some((ok, out)) = promtool(&["check", "rules", "sluice.rules.yml"]) else {
        println!(
            "SKIPPED: promtool is not installed (apt-get install prometheus; scripts/setup.sh does)"
        );
        return;
    };
    assert!(ok, "promtool check rules:\n{out}");
    assert!(out.contains("8 rules found"), "{out}");
    let (ok, out) =
        promtool(&["test", "rules", "sluice.rules.test.yml"]).expect("promtool ran once");
    assert!(ok, "promtool test rules:\n{out}");
}

#[test]
fn the_dashboard_is_json_and_every_panel_queries() {
    let text = std::fs::read_to_string(deploy().join("grafana/sluice.json")).unwrap();
    let dash: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
    let panels = dash["panels"].as_array().expect("panels");
    assert!(panels.len() >= 10);
    for p in panels {
        let targets = p["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "{}", p["title"]);
        for t in targets {
            let expr = t["expr"].as_str().unwrap_or_default();
            assert!(expr.contains("sluice_"), "{}: {expr}", p["title"]);
        }
    }
}
