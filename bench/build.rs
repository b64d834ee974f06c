//! Compiles the benchmark's XDP helpers (bench/ebpf/xdpgen.c: the sender,
//! the sink and the test-run floor) with clang into `$OUT_DIR/xdpgen.o`,
//! which src/xdp/traffic.rs embeds. `CLANG` names another compiler binary.

#[path = "../router/dataplane/build_support.rs"]
mod build_support;

use std::env;
use std::path::PathBuf;
use std::process::Command;

const HELP: &str = "the benchmark's XDP programs need clang and the libbpf headers: on Debian \
install the packages `clang` and `libbpf-dev` (scripts/setup.sh installs everything Sluice needs)";

fn main() {
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let source = manifest.join("ebpf/xdpgen.c");
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR")).join("xdpgen.o");
    let clang = env::var_os("CLANG").unwrap_or_else(|| "clang".into());

    println!("cargo:rerun-if-changed={}", source.display());
    println!("cargo:rerun-if-env-changed=CLANG");

    let includes = build_support::multiarch_includes(&clang);
    let output = Command::new(&clang)
        .args(["-O2", "-g", "-Wall", "-Werror", "-target", "bpf"])
        .args(includes.iter().map(|d| format!("-I{}", d.display())))
        .arg("-c")
        .arg(&source)
        .arg("-o")
        .arg(&out)
        .output();
    let output = match output {
        Ok(output) => output,
        Err(e) => panic!(
            "cannot run {}: {e}; {HELP}",
            PathBuf::from(&clang).display()
        ),
    };
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let hint = if stderr.contains("file not found") {
            format!("a header is missing: {HELP}")
        } else {
            "fix the C program (headers present, so this is a compile error)".to_string()
        };
        panic!(
            "clang failed to compile {}:\n{stderr}\n{hint}",
            source.display()
        );
    }
}
