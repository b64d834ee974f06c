//! Reading a config file into the typed model.
//!
//! YAML and schema errors become one [`Finding`] that names the file, line,
//! column and field, and suggests the key that was probably meant.

use std::path::{Path, PathBuf};

use serde_saphyr::Error as YamlError;

use crate::at::Pos;
use crate::diag::{Finding, Severity, Source};
use crate::model::Config;

/// A config that parsed; it may still have validation findings.
#[derive(Debug)]
pub struct Loaded {
    pub source: Source,
    pub config: Config,
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read {}: {error}", path.display())]
    Unreadable {
        path: PathBuf,
        #[source]
        error: std::io::Error,
    },
    /// The file is not YAML, or not a config of this shape.
    #[error("{} is not a valid config: {}", file.path.display(), finding.message)]
    Invalid { file: Source, finding: Box<Finding> },
}

pub fn load(path: &Path) -> Result<Loaded, LoadError> {
    let text = std::fs::read_to_string(path).map_err(|error| LoadError::Unreadable {
        path: path.to_path_buf(),
        error,
    })?;
    let source = Source::new(path, text);
    match parse(&source) {
        Ok(config) => Ok(Loaded { source, config }),
        Err(finding) => Err(LoadError::Invalid {
            file: source,
            finding,
        }),
    }
}

/// Parses `source` into the model, or says what is wrong and where.
pub fn parse(source: &Source) -> Result<Config, Box<Finding>> {
    let options = serde_saphyr::options! { with_snippet: false };
    serde_saphyr::from_str_with_options(&source.text, options)
        .map_err(|e| Box::new(to_finding(source, &e)))
}

fn to_finding(source: &Source, err: &YamlError) -> Finding {
    let pos = err.location().map(Pos::from_saphyr).unwrap_or(Pos::UNKNOWN);
    let f = |rule, message: String| Finding::new(rule, Severity::Error, pos, message);
    match err {
        YamlError::SerdeUnknownField {
            field, expected, ..
        } => {
            let finding = f(
                "CONFIG-UNKNOWN-KEY",
                format!("unknown key `{field}`{}", suggest(field, expected)),
            );
            finding.help(format!("keys allowed here: {}", expected.join(", ")))
        }
        YamlError::SerdeUnknownVariant {
            variant, expected, ..
        } => {
            let field = key_at(source, pos)
                .map(|k| format!(" for `{k}`"))
                .unwrap_or_default();
            let finding = f(
                "CONFIG-VALUE",
                format!(
                    "unknown value `{variant}`{field}{}",
                    suggest(variant, expected)
                ),
            );
            finding.help(format!("allowed values: {}", expected.join(", ")))
        }
        YamlError::SerdeMissingField { field, .. } => {
            f("CONFIG-MISSING-KEY", format!("missing key `{field}`"))
        }
        YamlError::DuplicateMappingKey { key, .. } => {
            let key = key
                .as_deref()
                .map(|k| format!(" `{k}`"))
                .unwrap_or_default();
            f(
                "YAML-DUPLICATE-KEY",
                format!("duplicate key{key}: each key may appear once in a mapping"),
            )
        }
        YamlError::SerdeInvalidType { .. }
        | YamlError::SerdeInvalidValue { .. }
        | YamlError::SerdeInvalidLength { .. }
        | YamlError::Message { .. }
        | YamlError::InvalidScalar { .. }
        | YamlError::NullIntoString { .. }
        | YamlError::InvalidBooleanStrict { .. } => {
            let found = found_text(source, pos);
            let mut message = plain_message(err, found.as_deref());
            if let Some(key) = key_at(source, pos) {
                message = format!("`{key}`: {message}");
            }
            f("CONFIG-VALUE", message)
        }
        _ => f("YAML-SYNTAX", plain_message(err, None)),
    }
}

/// The error's own text, without the " at line L, column C" suffix the
/// renderer prints separately, and with serde's terse number errors spelt out.
fn plain_message(err: &YamlError, found: Option<&str>) -> String {
    let text = err.to_string();
    let text = match text.rfind(" at line ") {
        Some(i) => text[..i].to_string(),
        None => text,
    };
    let found = found.unwrap_or("");
    if let Some(ty) = text.strip_prefix("invalid ") {
        let max = match ty {
            "u8" => Some(u64::from(u8::MAX)),
            "u16" => Some(u64::from(u16::MAX)),
            "u32" => Some(u64::from(u32::MAX)),
            "u64" => Some(u64::MAX),
            _ => None,
        };
        if let Some(max) = max {
            return format!("`{found}` is not a whole number from 0 to {max}");
        }
    }
    if text == "invalid IP address syntax" {
        return format!("`{found}` is not an IP address");
    }
    text
}

/// The source text the error points at.
fn found_text(source: &Source, pos: Pos) -> Option<String> {
    let line = source.line(pos.line)?;
    let start = pos.column.checked_sub(1)? as usize;
    let text: String = line
        .chars()
        .skip(start)
        .take(pos.len.max(1) as usize)
        .collect();
    Some(text.trim_matches(|c| c == '"' || c == '\'').to_string())
}

/// The mapping key whose value sits at `pos`, read off the line: the
/// `name:` nearest before the column.
fn key_at(source: &Source, pos: Pos) -> Option<String> {
    let line = source.line(pos.line)?;
    let before: String = line
        .chars()
        .take(pos.column.checked_sub(1)? as usize)
        .collect();
    let before = before.trim_end().trim_end_matches(['[', '{']).trim_end();
    let before = before.strip_suffix(':')?;
    let start = before
        .rfind(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-'))
        .map_or(0, |i| i + 1);
    let key = &before[start..];
    (!key.is_empty()).then(|| key.to_string())
}

/// ", did you mean `x`?" when a candidate is close enough to be a typo.
fn suggest(found: &str, candidates: &[&str]) -> String {
    candidates
        .iter()
        .map(|c| (strsim::jaro_winkler(found, c), c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| format!("; did you mean `{c}`?"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "router:\n  id: 192.0.2.1\n  asn: 64500\nuplinks:\n  - name: a\n    interface: eth1\n    peer: { address: 203.0.113.1, asn: 65001 }\n    import: full-table\n";

    fn error(yaml: &str) -> Finding {
        *parse(&Source::new("t.yaml", yaml)).expect_err("parsed")
    }

    #[test]
    fn the_good_one_parses() {
        let c = parse(&Source::new("t.yaml", GOOD)).unwrap();
        assert_eq!(c.uplinks[0].peer.0[0].asn.value, 65001);
        assert_eq!(
            c.uplinks[0].interface.pos,
            Pos {
                line: 6,
                column: 16,
                len: 4
            }
        );
    }

    #[test]
    fn unknown_key_suggests_the_close_one() {
        let f = error(&GOOD.replace("    peer:", "    pear:"));
        assert_eq!(
            (f.rule, f.pos.line, f.pos.column),
            ("CONFIG-UNKNOWN-KEY", 7, 5)
        );
        assert_eq!(f.message, "unknown key `pear`; did you mean `peer`?");
        assert!(f.help.unwrap().contains("interface"));
    }

    #[test]
    fn unknown_key_far_from_any_has_no_suggestion() {
        let f = error(&GOOD.replace("    import:", "    zzzzzz:"));
        assert_eq!(f.message, "unknown key `zzzzzz`");
    }

    #[test]
    fn wrong_type_names_the_key_and_value() {
        let f = error(&GOOD.replace("asn: 65001", "asn: sixty"));
        assert_eq!((f.rule, f.pos.line, f.pos.column), ("CONFIG-VALUE", 7, 40));
        assert_eq!(
            f.message,
            "`asn`: `sixty` is not a whole number from 0 to 4294967295"
        );
    }

    #[test]
    fn bad_address_names_the_key() {
        let f = error(&GOOD.replace("203.0.113.1", "203.0.113.300"));
        assert_eq!(f.message, "`address`: `203.0.113.300` is not an IP address");
        assert_eq!(f.pos.column, 22);
    }

    #[test]
    fn bad_duration_says_what_is_expected() {
        let f = error(&GOOD.replace(
            "import: full-table\n",
            "import: full-table\n    max_prefix: { limit: 5, restart_after: soon }\n",
        ));
        assert_eq!(f.rule, "CONFIG-VALUE");
        assert!(
            f.message
                .starts_with("`restart_after`: `soon` is not a duration"),
            "{}",
            f.message
        );
    }

    #[test]
    fn unknown_enum_value_suggests() {
        let f = error(&format!("{GOOD}dataplane: {{ xdp: nativ }}\n"));
        assert_eq!(
            f.message,
            "unknown value `nativ` for `xdp`; did you mean `native`?"
        );
        assert_eq!(f.pos.line, 9);
    }

    #[test]
    fn control_group_keeps_its_line() {
        let c = parse(&Source::new(
            "t.yaml",
            format!("{GOOD}control:\n  group: sluice\n"),
        ))
        .unwrap();
        let group = c.control.group.unwrap();
        assert_eq!((group.value.as_str(), group.pos.line), ("sluice", 10));
        let f = error(&format!("{GOOD}control:\n  groups: sluice\n"));
        assert_eq!(f.message, "unknown key `groups`; did you mean `group`?");
    }

    /// The policy language's and `rpki`'s values: each bad one is refused
    /// at its line and column, saying what was expected.
    #[test]
    fn policy_and_rpki_values_are_refused_where_they_stand() {
        let policy = |m: &str| {
            error(&format!(
                "{GOOD}policies:\n  route_policies:\n    p:\n      - {{ match: {{ {m} }}, action: accept }}\n"
            ))
        };
        for (m, column, says) in [
            ("communities: [\"65001:x\"]", 34, "`65001:x`"),
            ("large_communities: [\"1:2\"]", 40, "`1:2`"),
            ("extended_communities: [\"color:1:2\"]", 43, "`color:1:2`"),
            ("as_path_length: \"4-2\"", 36, "`4-2`"),
            ("rpki: broken", 26, "`broken`"),
        ] {
            let f = policy(m);
            assert_eq!(
                (f.rule, f.pos.line, f.pos.column),
                ("CONFIG-VALUE", 12, column),
                "{m}: {f:?}"
            );
            assert!(f.message.contains(says), "{m}: {}", f.message);
        }
        let rpki = |r: &str| {
            error(&format!(
                "{GOOD}rpki:\n  caches: [{{ address: 127.0.0.1 }}]\n  {r}\n"
            ))
        };
        let f = rpki("invalid: drop");
        assert_eq!(
            (f.rule, f.pos.line, f.pos.column),
            ("CONFIG-VALUE", 11, 12),
            "{f:?}"
        );
        assert_eq!(f.message, "unknown value `drop` for `invalid`");
        assert!(f.help.is_some_and(|h| h.contains("reject")));
        let f = rpki("stale_after: soon");
        assert_eq!(
            (f.rule, f.pos.line, f.pos.column),
            ("CONFIG-VALUE", 11, 16),
            "{f:?}"
        );
        assert!(f.message.contains("not a duration"), "{}", f.message);
    }

    #[test]
    fn missing_key() {
        let f = error(&GOOD.replace("    interface: eth1\n", ""));
        assert_eq!(f.rule, "CONFIG-MISSING-KEY");
        assert_eq!(f.message, "missing key `interface`");
        assert!(f.pos.is_known());
    }

    #[test]
    fn yaml_syntax_error_has_a_position() {
        let f = error("router:\n  id: [192.0.2.1\n  asn: 1\n");
        assert_eq!(f.rule, "YAML-SYNTAX");
        assert!(f.pos.is_known(), "{f:?}");
    }

    #[test]
    fn duplicate_keys_are_refused() {
        let f = error(&GOOD.replace("  asn: 64500\n", "  asn: 64500\n  asn: 64501\n"));
        assert_eq!((f.rule, f.pos.line), ("YAML-DUPLICATE-KEY", 4));
    }

    #[test]
    fn unreadable_file() {
        let err = load(Path::new("/nonexistent/sluice.yaml")).unwrap_err();
        assert!(matches!(err, LoadError::Unreadable { .. }));
        assert!(err.to_string().contains("/nonexistent/sluice.yaml"));
    }
}
