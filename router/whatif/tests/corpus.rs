//! The corpus in `tests/whatif/`: configs fine in the normal state and
//! wrong in another, each with the rule (and the uplink whose state) it
//! must be caught by, in `# expect: RULE UPLINK` lines (`-`: no uplink).
//! And every shipped config clean at error level.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use sluice_config::{Finding, Severity, Source, parse};
use sluice_whatif::{Model, check};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn files(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    v.sort();
    v
}

fn findings(path: &Path) -> (String, Vec<Finding>) {
    let text = std::fs::read_to_string(path).unwrap();
    let config = parse(&Source::new(path, text.clone()))
        .unwrap_or_else(|e| panic!("{}: {}", path.display(), e.message));
    (
        text,
        check(&config, &Model::of_config(&config), true, vec![]),
    )
}

#[test]
fn every_corpus_config_is_caught_by_its_rules_and_only_those() {
    let corpus = files(&repo().join("tests/whatif"), "yaml");
    assert!(corpus.len() >= 12, "{corpus:?}");
    let mut seen = BTreeSet::new();
    for path in &corpus {
        let (text, found) = findings(path);
        let config = parse(&Source::new(path, text.clone())).unwrap();
        let normal: Vec<Finding> = sluice_config::validate::check_unwaived(&config)
            .into_iter()
            .filter(Finding::is_blocking)
            .collect();
        assert!(
            normal.is_empty(),
            "{}: wrong in the normal state already: {normal:?}",
            path.display()
        );
        let expected: BTreeSet<(String, String)> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# expect: "))
            .map(|l| {
                let mut w = l.split_whitespace();
                (
                    w.next().unwrap().to_string(),
                    w.next().unwrap_or("-").to_string(),
                )
            })
            .collect();
        assert!(
            !expected.is_empty(),
            "{}: no `# expect:` line",
            path.display()
        );
        let got: BTreeSet<(String, String)> = found
            .iter()
            .filter(|f| f.severity >= Severity::Warning && f.waived.is_none())
            .map(|f| {
                (
                    f.rule.to_string(),
                    f.uplink.clone().unwrap_or_else(|| "-".into()),
                )
            })
            .collect();
        assert_eq!(got, expected, "{}:\n{found:#?}", path.display());
        // The rules of a state name it; those of the config as a whole do not.
        const WHOLE: &[&str] = &[
            "UPLINK-NO-PROBE",
            "EXPORT-LEAK",
            "IMPORT-ALWAYS-LOSES",
            "FLOOR-UNREACHABLE",
            "NEXTHOP-VIA-OTHER-UPLINK",
        ];
        for f in found
            .iter()
            .filter(|f| f.waived.is_none() && !WHOLE.contains(&f.rule))
        {
            assert!(
                f.state.as_deref().is_some_and(|s| s.starts_with("when ")),
                "{}: {} names no state",
                path.display(),
                f.rule
            );
        }
        seen.extend(got.into_iter().map(|(r, _)| r));
    }
    // One config or more per property.
    for rule in sluice_whatif::rules::RULES {
        if [
            "BELOW-MIN-ACTIVE",
            "FALLBACK-TO-COVERING",
            "UNDRAIN-NOT-RESTORED",
        ]
        .contains(&rule.id)
        {
            continue; // the drain pre-check's, an info, and the daemon's own
        }
        assert!(seen.contains(rule.id), "no corpus config for {}", rule.id);
    }
}

#[test]
fn every_shipped_config_is_clean_at_error_level() {
    let mut paths = files(&repo().join("configs"), "yaml");
    for entry in std::fs::read_dir(repo().join("topologies")).unwrap() {
        let dir = entry.unwrap().path();
        if !dir.is_dir() {
            continue;
        }
        for node in std::fs::read_dir(&dir).unwrap() {
            let p = node.unwrap().path().join("sluice.yml");
            if p.exists() {
                paths.push(p);
            }
        }
    }
    assert!(paths.len() >= 6, "{paths:?}");
    for path in paths {
        let (_, found) = findings(&path);
        let errors: Vec<&Finding> = found.iter().filter(|f| f.is_blocking()).collect();
        assert!(errors.is_empty(), "{}: {errors:#?}", path.display());
    }
}
