//! The documentation stays inside the repository: every relative link in
//! every Markdown file resolves to a file here, and nothing points at
//! notes that live outside it. Needs no root.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace root")
        .to_path_buf()
}

/// Files under `dir` with one of `exts`, skipping build output and VCS data.
fn files(dir: &Path, exts: &[&str], out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let path = e.path();
        let name = e.file_name();
        let name = name.to_string_lossy();
        if path.is_dir() {
            if !matches!(name.as_ref(), "target" | ".git" | "node_modules") {
                files(&path, exts, out);
            }
        } else if exts.iter().any(|x| name.ends_with(x)) {
            out.push(path);
        }
    }
}

/// The targets of the inline links `[text](target)` in `text`.
fn links(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("](") {
        rest = &rest[i + 2..];
        if let Some(end) = rest.find(')') {
            let target = rest[..end].split_whitespace().next().unwrap_or_default();
            out.push(target.to_string());
            rest = &rest[end..];
        }
    }
    out
}

#[test]
fn every_relative_link_in_the_docs_resolves() {
    let root = root();
    let mut md = Vec::new();
    files(&root, &[".md"], &mut md);
    assert!(
        md.iter().any(|p| p.ends_with("docs/architecture.md")),
        "{md:?}"
    );
    let mut broken = Vec::new();
    for file in &md {
        let text = std::fs::read_to_string(file).unwrap();
        for target in links(&text) {
            if target.is_empty()
                || target.starts_with('#')
                || target.contains("://")
                || target.starts_with("mailto:")
            {
                continue;
            }
            let path = target.split('#').next().unwrap_or_default();
            let resolved = file.parent().unwrap().join(path);
            let inside = resolved
                .canonicalize()
                .is_ok_and(|p| p.starts_with(root.canonicalize().unwrap()));
            if !inside {
                broken.push(format!("{}: {target}", file.display()));
            }
        }
    }
    assert!(
        broken.is_empty(),
        "links that do not resolve here:\n{}",
        broken.join("\n")
    );
}

#[test]
fn nothing_points_outside_the_repository() {
    let root = root();
    // Spelt in pieces so that this file does not match itself.
    let outside = [
        format!("../{}/", "shared"),
        format!("{}.md", "DESIGN"),
        format!("{}-NOTES", "XDP"),
    ];
    let mut all = Vec::new();
    files(
        &root,
        &[".md", ".rs", ".c", ".h", ".sh", ".toml", ".yaml", ".yml"],
        &mut all,
    );
    let mut found = Vec::new();
    for file in all {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        for (n, line) in text.lines().enumerate() {
            if outside.iter().any(|o| line.contains(o.as_str())) {
                found.push(format!("{}:{}: {line}", file.display(), n + 1));
            }
        }
    }
    assert!(
        found.is_empty(),
        "references outside the repository:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_link_finder_finds_links() {
    assert_eq!(
        links("see [a](docs/a.md#x) and [b](https://e.invalid) [c]( c.md \"t\")"),
        vec!["docs/a.md#x", "https://e.invalid", "c.md"]
    );
}
