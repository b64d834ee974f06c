//! `sluice validate FILE...`: load and check each file, report in the chosen format.

use std::path::{Path, PathBuf};

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

/// Returns the exit status: 0 clean, 1 errors found, 2 unreadable input
/// (3: the daemon of `--with-rib SOCKET` could not be reached).
pub fn run(files: &[PathBuf], format: Format, with_rib: Option<&Path>) -> u8 {
    let rib = match with_rib.map(read_rib).transpose() {
        Ok(r) => r,
        Err((code, why)) => {
            eprintln!("sluice: {why}");
            return code;
        }
    };
    let reports: Vec<Report> = files.iter().map(|p| check(p, rib.as_deref())).collect();
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
        Format::Sarif => {
            let files: Vec<(&Path, &[Finding])> = reports
                .iter()
                .map(|r| (r.path.as_path(), r.findings.as_slice()))
                .collect();
            let out = sarif(&files);
            println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
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

/// The RIB dump `--with-rib` names: asked of a daemon's socket, or read
/// from a file.
fn read_rib(path: &Path) -> Result<Vec<u8>, (u8, String)> {
    use std::os::unix::fs::FileTypeExt;
    let meta =
        std::fs::metadata(path).map_err(|e| (2, format!("--with-rib {}: {e}", path.display())))?;
    if meta.file_type().is_socket() {
        return crate::client::read_all(path, &sluice_control::Request::DumpRib)
            .map_err(|crate::client::Unreachable(why)| (3, why));
    }
    std::fs::read(path).map_err(|e| (2, format!("--with-rib {}: {e}", path.display())))
}

fn check(path: &std::path::Path, rib: Option<&[u8]>) -> Report {
    match sluice_config::load(path) {
        Ok(loaded) => {
            let findings = match rib {
                None => sluice_daemon::validate::check_config(&loaded.config),
                Some(dump) => match sluice_whatif::dump::decode(&loaded.config, dump) {
                    Ok(rib) => {
                        let model = sluice_whatif::Model::with_rib(&loaded.config, rib);
                        sluice_daemon::validate::check(&loaded.config, &model, false)
                    }
                    Err(e) => {
                        return Report {
                            path: path.to_path_buf(),
                            source: None,
                            findings: vec![Finding::new(
                                "RIB-DUMP-UNREADABLE",
                                Severity::Error,
                                Pos::UNKNOWN,
                                format!("the --with-rib dump: {e}"),
                            )],
                            unreadable: true,
                        };
                    }
                },
            };
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

/// `--diff REV`: each file against its version at git revision `rev`.
/// Exit status: 1 when a new version has error-level findings, 2 when a
/// version cannot be read.
pub fn diff(files: &[PathBuf], rev: &str, format: Format) -> u8 {
    let mut code = 0;
    let mut out = Vec::new();
    for path in files {
        let new = match sluice_config::load(path) {
            Ok(l) => l,
            Err(e) => {
                eprintln!("sluice: {}: {e}", path.display());
                code = 2;
                continue;
            }
        };
        let old = match at_revision(path, rev) {
            Ok(text) => {
                sluice_config::parse(&Source::new(format!("{rev}:{}", path.display()), text))
                    .map_err(|f| f.message)
            }
            Err(e) => Err(e),
        };
        let old = match old {
            Ok(c) => c,
            Err(e) => {
                eprintln!("sluice: {} at {rev}: {e}", path.display());
                code = 2;
                continue;
            }
        };
        let old_findings = sluice_daemon::validate::check_config(&old);
        let new_findings = sluice_daemon::validate::check_config(&new.config);
        if new_findings.iter().any(Finding::is_blocking) {
            code = code.max(1);
        }
        let d = sluice_whatif::diff::diff(&old, &new.config, &old_findings, &new_findings);
        match format {
            Format::Json => out.push(json!({"file": path, "rev": rev, "diff": d})),
            _ => {
                println!("{} ({rev} → working copy):", path.display());
                print!("{}", sluice_whatif::diff::render(&d));
            }
        }
    }
    if format == Format::Json {
        println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
    }
    code
}

/// The text of `path` at git revision `rev`.
fn at_revision(path: &Path, rev: &str) -> Result<String, String> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path.file_name().ok_or("not a file")?.to_string_lossy();
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .arg("show")
        .arg(format!("{rev}:./{name}"))
        .output()
        .map_err(|e| format!("cannot run git: {e}"))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
    }
    String::from_utf8(out.stdout).map_err(|e| e.to_string())
}

/// SARIF 2.1.0: one run of the `sluice` tool, its rules, one result per
/// finding (waived ones as suppressed, with the reason).
fn sarif(files: &[(&Path, &[Finding])]) -> serde_json::Value {
    let level = |s: Severity| match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "note",
    };
    let rules: Vec<_> = all_rules()
        .map(|r| {
            json!({
                "id": r.id,
                "shortDescription": { "text": r.summary },
                "defaultConfiguration": { "level": level(r.severity) },
            })
        })
        .collect();
    let results: Vec<_> = files
        .iter()
        .flat_map(|(path, findings)| findings.iter().map(move |f| (path, f)))
        .map(|(path, f)| {
            let mut text = f.message.clone();
            if let Some(h) = &f.help {
                text.push_str(&format!(" (help: {h})"));
            }
            let mut region = json!({ "startLine": f.pos.line.max(1) });
            if f.pos.column > 0 {
                region["startColumn"] = json!(f.pos.column);
            }
            let mut result = json!({
                "ruleId": f.rule,
                "level": level(f.severity),
                "message": { "text": text },
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": { "uri": path.display().to_string() },
                        "region": region,
                    }
                }],
            });
            if let Some(reason) = &f.waived {
                result["suppressions"] = json!([{ "kind": "inSource", "justification": reason }]);
            }
            if let Some(state) = &f.state {
                result["properties"] = json!({ "state": state });
            }
            result
        })
        .collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "sluice",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules,
            }},
            "results": results,
        }],
    })
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
