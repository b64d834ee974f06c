//! `sluice validate FILE...`: load and check each file, report in the chosen format.

use std::path::PathBuf;

use serde_json::json;
use sluice_config::diag::{Finding, Severity, Source, render_github, render_human};
use sluice_config::validate::RULES;
use sluice_config::{LoadError, Pos};

use crate::Format;

/// What became of one file.
struct Report {
    path: PathBuf,
    source: Option<Source>,
    findings: Vec<Finding>,
    /// Not readable, or not a config at all.
    unreadable: bool,
}

/// Returns the exit status: 0 clean, 1 errors found, 2 unreadable input.
pub fn run(files: &[PathBuf], format: Format) -> u8 {
    let reports: Vec<Report> = files.iter().map(|p| check(p)).collect();
    match format {
        Format::Human => {
            for r in &reports {
                match &r.source {
                    Some(src) => print!("{}", render_human(src, &r.findings)),
                    None => eprintln!("error: {}", r.findings[0].message),
                }
                println!("{}: {}", r.path.display(), summary(r));
            }
        }
        Format::Github => {
            for r in &reports {
                print!("{}", render_github(&r.path, &r.findings));
            }
        }
        Format::Json => {
            let files: Vec<_> = reports
                .iter()
                .map(|r| json!({"file": r.path, "ok": !r.unreadable && !r.findings.iter().any(Finding::is_blocking), "findings": r.findings}))
                .collect();
            let count = |s: Severity| {
                reports
                    .iter()
                    .flat_map(|r| &r.findings)
                    .filter(|f| f.severity == s && f.waived.is_none())
                    .count()
            };
            let out = json!({"files": files, "errors": count(Severity::Error), "warnings": count(Severity::Warning)});
            println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
        }
    }
    if reports.iter().any(|r| r.unreadable) {
        2
    } else if reports
        .iter()
        .any(|r| r.findings.iter().any(Finding::is_blocking))
    {
        1
    } else {
        0
    }
}

fn check(path: &std::path::Path) -> Report {
    match sluice_config::load(path) {
        Ok(loaded) => {
            let findings = sluice_daemon::validate::check_config(&loaded.config);
            Report {
                path: path.to_path_buf(),
                source: Some(loaded.source),
                findings,
                unreadable: false,
            }
        }
        Err(LoadError::Invalid { file, finding }) => Report {
            path: path.to_path_buf(),
            source: Some(file),
            findings: vec![*finding],
            unreadable: true,
        },
        Err(e @ LoadError::Unreadable { .. }) => Report {
            path: path.to_path_buf(),
            source: None,
            findings: vec![Finding::new(
                "CONFIG-UNREADABLE",
                Severity::Error,
                Pos::UNKNOWN,
                e.to_string(),
            )],
            unreadable: true,
        },
    }
}

fn summary(r: &Report) -> String {
    if r.unreadable {
        return match r.source {
            Some(_) => "not a valid config; fix the error above first".into(),
            None => "cannot be read".into(),
        };
    }
    let n = |s: Severity| {
        r.findings
            .iter()
            .filter(|f| f.severity == s && f.waived.is_none())
            .count()
    };
    let waived = r.findings.iter().filter(|f| f.waived.is_some()).count();
    let (errors, warnings) = (n(Severity::Error), n(Severity::Warning));
    let mut parts = Vec::new();
    if errors > 0 {
        parts.push(format!(
            "{errors} error{}",
            if errors == 1 { "" } else { "s" }
        ));
    }
    if warnings > 0 {
        parts.push(format!(
            "{warnings} warning{}",
            if warnings == 1 { "" } else { "s" }
        ));
    }
    if waived > 0 {
        parts.push(format!("{waived} waived"));
    }
    if errors == 0 {
        parts.insert(0, "ok".into());
    }
    parts.join(", ")
}

/// Every rule: the static ones, then those of the simulated states.
fn all_rules() -> impl Iterator<Item = &'static sluice_config::validate::Rule> {
    RULES.iter().chain(sluice_whatif::rules::RULES)
}

pub fn list_rules(format: Format) {
    if format == Format::Json {
        let rules: Vec<_> = all_rules()
            .map(|r| json!({"id": r.id, "severity": r.severity, "summary": r.summary}))
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&rules).unwrap_or_default()
        );
        return;
    }
    let rows: Vec<Vec<String>> = all_rules()
        .map(|r| {
            vec![
                r.id.to_string(),
                r.severity.as_str().to_string(),
                r.summary.to_string(),
            ]
        })
        .collect();
    print!(
        "{}",
        crate::output::table(&["RULE", "SEVERITY", "SUMMARY"], &rows)
    );
}
