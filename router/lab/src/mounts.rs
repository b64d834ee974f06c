//! The shell script a node's holder runs in its fresh mount namespace
//! (sans-IO: text in, text out).
//!
//! 1. `/sys` is mounted again from inside the node's network namespace, so
//!    /sys/class/net lists the node's interfaces (as `ip netns exec` does).
//! 2. The lab's bpffs is bound over `/sys/fs/bpf`: pins persist across a
//!    daemon restart, and are private to the lab.
//! 3. `/run` becomes an empty tmpfs with the host's first-level directories
//!    recreated (mode and owner kept): FRR's /run/frr, BIRD's control
//!    socket and Sluice's /run/sluice are per node.
//! 4. Each bind `host:container[:ro]` is bound; a missing mount point is
//!    created first (on the host's file system, as Docker does for bind
//!    sources: an empty directory or file).

use std::fmt::Write as _;
use std::path::Path;

use crate::sys::sh_quote;
use crate::topology::Bind;

/// `(name, mode, uid, gid)` of a directory under /run.
pub type RunDir = (String, u32, u32, u32);

pub fn holder_script(
    bpffs: &Path,
    run_dirs: &[RunDir],
    binds: &[Bind],
    host_is_dir: &dyn Fn(&Path) -> bool,
) -> String {
    let mut s = String::from("set -e\n");
    let _ = writeln!(s, "mount -t sysfs sysfs /sys");
    let _ = writeln!(s, "mount --bind {} /sys/fs/bpf", q(bpffs));
    let _ = writeln!(s, "mount -t tmpfs -o mode=0755 tmpfs /run");
    for (name, mode, uid, gid) in run_dirs {
        let dir = q(&Path::new("/run").join(name));
        let _ = writeln!(s, "mkdir -m {mode:o} {dir} && chown {uid}:{gid} {dir}");
    }
    for b in binds {
        let target = q(&b.container);
        let make = if host_is_dir(&b.host) {
            format!("mkdir -p {target}")
        } else {
            let parent = b.container.parent().unwrap_or(Path::new("/"));
            format!("mkdir -p {} && touch {target}", q(parent))
        };
        let _ = writeln!(s, "[ -e {target} ] || {{ {make}; }}");
        let _ = writeln!(s, "mount --bind {} {target}", q(&b.host));
        if b.read_only {
            let _ = writeln!(s, "mount -o remount,bind,ro {target}");
        }
    }
    let _ = writeln!(s, "echo ready");
    let _ = writeln!(s, "exec sleep infinity >/dev/null 2>&1");
    s
}

fn q(p: &Path) -> String {
    sh_quote(&p.to_string_lossy())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_config::Pos;

    #[test]
    fn binds_run_and_bpffs_in_order() {
        let binds = [
            Bind {
                host: "/t/r1".into(),
                container: "/etc/sluice".into(),
                read_only: false,
                pos: Pos::UNKNOWN,
            },
            Bind {
                host: "/t/bird.conf".into(),
                container: "/etc/bird/bird.conf".into(),
                read_only: true,
                pos: Pos::UNKNOWN,
            },
        ];
        let runs = [("frr".to_owned(), 0o755, 100, 101)];
        let s = holder_script(
            Path::new("/var/lib/sluice-lab/x/bpf"),
            &runs,
            &binds,
            &|p| p.ends_with("r1"),
        );
        let expected = "set -e\n\
            mount -t sysfs sysfs /sys\n\
            mount --bind /var/lib/sluice-lab/x/bpf /sys/fs/bpf\n\
            mount -t tmpfs -o mode=0755 tmpfs /run\n\
            mkdir -m 755 /run/frr && chown 100:101 /run/frr\n\
            [ -e /etc/sluice ] || { mkdir -p /etc/sluice; }\n\
            mount --bind /t/r1 /etc/sluice\n\
            [ -e /etc/bird/bird.conf ] || { mkdir -p /etc/bird && touch /etc/bird/bird.conf; }\n\
            mount --bind /t/bird.conf /etc/bird/bird.conf\n\
            mount -o remount,bind,ro /etc/bird/bird.conf\n\
            echo ready\n\
            exec sleep infinity >/dev/null 2>&1\n";
        assert_eq!(s, expected);
    }
}
