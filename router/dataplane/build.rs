//! Compiles the XDP program (ebpf/sluice.c) with clang into
//! `$OUT_DIR/sluice.o`, which src/loader.rs embeds, and again with
//! `-DSLUICE_DXR` into `$OUT_DIR/sluice-dxr.o` (the DXR FIB mode, for the
//! benchmark). `CLANG` names another compiler binary.

#[path = "build_support.rs"]
mod build_support;

use std::env;
use std::path::PathBuf;
use std::process::Command;

const HELP: &str = "the XDP program needs clang and the libbpf headers: on Debian install \
the packages `clang` and `libbpf-dev` (scripts/setup.sh installs everything Sluice needs)";

fn main() {
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let ebpf = manifest.join("../../ebpf");
    let source = ebpf.join("sluice.c");
    let header = ebpf.join("sluice.h");
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR"));
    let clang = env::var_os("CLANG").unwrap_or_else(|| "clang".into());

    println!("cargo:rerun-if-changed={}", ebpf.display());
    println!("cargo:rerun-if-changed={}", source.display());
    println!("cargo:rerun-if-changed={}", header.display());
    println!("cargo:rerun-if-env-changed=CLANG");
    println!("cargo:rerun-if-changed=build_support.rs");

    let includes = build_support::multiarch_includes(&clang);
    for (object, defines) in [
        ("sluice.o", &[][..]),
        ("sluice-dxr.o", &["-DSLUICE_DXR"][..]),
    ] {
        compile(&clang, &source, &out_dir.join(object), defines, &includes);
    }
}

fn compile(
    clang: &std::ffi::OsStr,
    source: &std::path::Path,
    out: &std::path::Path,
    defines: &[&str],
    includes: &[PathBuf],
) {
    let output = Command::new(clang)
        .args(["-O2", "-g", "-Wall", "-Werror", "-target", "bpf"])
        .args(defines)
        .args(includes.iter().map(|d| format!("-I{}", d.display())))
        .arg("-c")
        .arg(source)
        .arg("-o")
        .arg(out)
        .output();
    let output = match output {
        Ok(output) => output,
        Err(e) => panic!("cannot run {}: {e}; {HELP}", PathBuf::from(clang).display()),
    };
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let missing_header = stderr.contains("file not found");
        panic!(
            "clang failed to compile {}:\n{stderr}\n{}",
            source.display(),
            if missing_header {
                format!("a header is missing: {HELP}")
            } else {
                "fix the C program (headers present, so this is a compile error)".to_string()
            }
        );
    }
}
