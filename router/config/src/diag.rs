//! Findings and their three renderings: human (rustc-style, with the
//! offending line), JSON, and GitHub Actions annotations.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::at::Pos;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// One problem found in a config file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Stable ID, usable in `validate.waive`.
    pub rule: &'static str,
    pub severity: Severity,
    pub message: String,
    #[serde(flatten)]
    pub pos: Pos,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
    /// The uplink the finding is about, which a waiver may name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uplink: Option<String>,
    /// Set when a `validate.waive` entry covers this finding: its reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waived: Option<String>,
    /// The simulated state it was found in ("when iap-a is drained"),
    /// for the what-if rules.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
}

impl Finding {
    pub fn new(
        rule: &'static str,
        severity: Severity,
        pos: Pos,
        message: impl Into<String>,
    ) -> Self {
        Finding {
            rule,
            severity,
            message: message.into(),
            pos,
            help: None,
            uplink: None,
            waived: None,
            state: None,
        }
    }

    pub fn state(mut self, state: impl Into<String>) -> Self {
        self.state = Some(state.into());
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn uplink(mut self, name: &str) -> Self {
        self.uplink = Some(name.to_string());
        self
    }

    /// Counts toward the exit status: an error that no waiver covers.
    pub fn is_blocking(&self) -> bool {
        self.severity == Severity::Error && self.waived.is_none()
    }
}

/// A config file's text, kept to show the offending lines.
#[derive(Clone, Debug)]
pub struct Source {
    pub path: PathBuf,
    pub text: String,
}

impl Source {
    pub fn new(path: impl Into<PathBuf>, text: impl Into<String>) -> Self {
        Source {
            path: path.into(),
            text: text.into(),
        }
    }

    /// Line `n` (1-based) without its line ending.
    pub fn line(&self, n: u32) -> Option<&str> {
        let n = usize::try_from(n).ok()?.checked_sub(1)?;
        self.text.lines().nth(n)
    }
}

/// Renders findings like rustc does:
///
/// ```text
/// error[UPLINK-UNKNOWN-INTERFACE]: uplink `iap-a` uses interface `eth9`, which `interfaces` does not declare
///   --> configs/bad.yaml:11:16
///    |
/// 11 |     interface: eth9
///    |                ^^^^
///    = help: …
/// ```
pub fn render_human(source: &Source, findings: &[Finding]) -> String {
    let mut out = String::new();
    for f in findings {
        let label = match &f.waived {
            Some(_) => format!("waived {}", f.severity.as_str()),
            None => f.severity.as_str().to_string(),
        };
        let _ = writeln!(out, "{label}[{}]: {}", f.rule, f.message);
        let path = source.path.display();
        let pad = " ".repeat(if f.pos.is_known() {
            f.pos.line.to_string().len()
        } else {
            1
        });
        if !f.pos.is_known() {
            let _ = writeln!(out, "{pad}--> {path}");
        } else {
            let _ = writeln!(out, "{pad}--> {path}:{}:{}", f.pos.line, f.pos.column);
            if let Some(line) = source.line(f.pos.line) {
                let col = f.pos.column.saturating_sub(1) as usize;
                let width = caret_width(line, col, f.pos.len);
                let indent: String = line
                    .chars()
                    .take(col)
                    .map(|c| if c == '\t' { '\t' } else { ' ' })
                    .collect();
                let _ = writeln!(out, "{pad} |");
                let _ = writeln!(out, "{} | {line}", f.pos.line);
                let _ = writeln!(out, "{pad} | {indent}{}", "^".repeat(width));
            }
        }
        if let Some(help) = &f.help {
            let _ = writeln!(out, "{pad} = help: {help}");
        }
        if let Some(reason) = &f.waived {
            let _ = writeln!(out, "{pad} = waived: {reason}");
        }
        out.push('\n');
    }
    out
}

/// The caret run: the value's length if known, else the token at the column.
fn caret_width(line: &str, col: usize, len: u32) -> usize {
    let rest: Vec<char> = line.chars().skip(col).collect();
    let token = rest
        .iter()
        .take_while(|c| !c.is_whitespace() && !matches!(c, ',' | '}' | ']'))
        .count();
    let len = len as usize;
    let width = if len > 1 { len.min(rest.len()) } else { token };
    width.max(1)
}

/// One GitHub Actions workflow command per finding.
pub fn render_github(path: &Path, findings: &[Finding]) -> String {
    let mut out = String::new();
    for f in findings {
        let level = match (f.severity, &f.waived) {
            (_, Some(_)) | (Severity::Info, _) => "notice",
            (Severity::Warning, _) => "warning",
            (Severity::Error, _) => "error",
        };
        let mut props = format!("file={}", escape_property(&path.display().to_string()));
        if f.pos.is_known() {
            let _ = write!(props, ",line={},col={}", f.pos.line, f.pos.column);
        }
        let _ = write!(props, ",title={}", escape_property(f.rule));
        let mut msg = f.message.clone();
        if let Some(help) = &f.help {
            let _ = write!(msg, "\nhelp: {help}");
        }
        let _ = writeln!(out, "::{level} {props}::{}", escape_data(&msg));
    }
    out
}

fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> (Source, Finding) {
        let src = Source::new("c.yaml", "router:\n  id: 1.2.3.4\n  asn: 0\n");
        let f = Finding::new(
            "ROUTER-ASN",
            Severity::Error,
            Pos {
                line: 3,
                column: 8,
                len: 1,
            },
            "ASN 0 is reserved",
        )
        .help("pick your own ASN");
        (src, f)
    }

    #[test]
    fn human_shows_line_and_caret() {
        let (src, f) = sample();
        let text = render_human(&src, &[f]);
        assert_eq!(
            text,
            "error[ROUTER-ASN]: ASN 0 is reserved\n --> c.yaml:3:8\n  |\n3 |   asn: 0\n  |        ^\n  = help: pick your own ASN\n\n"
        );
    }

    #[test]
    fn github_escapes() {
        let (_, mut f) = sample();
        f.message = "50% bad, really:\nyes".into();
        let text = render_github(Path::new("a,b.yaml"), &[f]);
        assert_eq!(
            text,
            "::error file=a%2Cb.yaml,line=3,col=8,title=ROUTER-ASN::50%25 bad, really:%0Ayes%0Ahelp: pick your own ASN\n"
        );
    }

    #[test]
    fn json_carries_position() {
        let (_, f) = sample();
        let v = serde_json::to_value(&f).unwrap();
        assert_eq!(v["line"], 3);
        assert_eq!(v["column"], 8);
        assert_eq!(v["rule"], "ROUTER-ASN");
        assert_eq!(v["severity"], "error");
    }
}
