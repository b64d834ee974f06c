//! What the build scripts that compile BPF C ask of the host (shared by
//! router/dataplane/build.rs and bench/build.rs, and unit-tested from the
//! dataplane crate): the multiarch include directory that holds `asm/`
//! headers (`/usr/include/x86_64-linux-gnu` on amd64, `…/aarch64-linux-gnu`
//! on arm64). `-target bpf` makes clang forget it, so it is asked of the
//! host compiler rather than hard-coded.

use std::ffi::OsStr;
use std::path::PathBuf;
use std::process::Command;

/// A multiarch tuple as `-print-multiarch` prints it, if it looks like one.
pub fn parse_multiarch(output: &str) -> Option<String> {
    let t = output.trim();
    let plausible = !t.is_empty()
        && t.split('-').count() >= 3
        && t.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    plausible.then(|| t.to_owned())
}

/// `-I` directories for the host's multiarch headers: asked of `clang`,
/// then of `gcc`; empty if neither knows (then only `/usr/include` is
/// searched, which is right on hosts without multiarch).
pub fn multiarch_includes(clang: &OsStr) -> Vec<PathBuf> {
    let ask = |compiler: &OsStr| {
        let out = Command::new(compiler)
            .arg("-print-multiarch")
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| parse_multiarch(&String::from_utf8_lossy(&out.stdout)))
            .flatten()
    };
    ask(clang)
        .or_else(|| ask(OsStr::new("gcc")))
        .map(|tuple| PathBuf::from("/usr/include").join(tuple))
        .filter(|dir| dir.is_dir())
        .into_iter()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multiarch_tuples_are_recognised() {
        assert_eq!(
            parse_multiarch("x86_64-linux-gnu\n").as_deref(),
            Some("x86_64-linux-gnu")
        );
        assert_eq!(
            parse_multiarch("aarch64-linux-gnu").as_deref(),
            Some("aarch64-linux-gnu")
        );
        // Compilers without multiarch print nothing; junk is not a path.
        assert_eq!(parse_multiarch(""), None);
        assert_eq!(parse_multiarch("   \n"), None);
        assert_eq!(parse_multiarch("../../etc"), None);
        assert_eq!(parse_multiarch("clang: error: unknown argument"), None);
    }

    #[test]
    fn this_hosts_compiler_names_an_existing_directory() {
        let dirs = multiarch_includes(OsStr::new("clang"));
        for d in &dirs {
            assert!(d.join("asm").is_dir(), "{} has no asm/", d.display());
        }
        // On a Debian amd64 or arm64 host it is found.
        if std::path::Path::new("/usr/include/x86_64-linux-gnu/asm").is_dir()
            && cfg!(target_arch = "x86_64")
        {
            assert_eq!(dirs, vec![PathBuf::from("/usr/include/x86_64-linux-gnu")]);
        }
    }
}
