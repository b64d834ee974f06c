//! The data-plane benchmarks (binary `xdp-forwarding`): packets per second
//! per forwarding core through a src — fwd — dst line of namespaces for
//! Sluice's XDP FIB, its `bpf_fib_lookup` mode and kernel forwarding; the
//! program's cost per packet from `BPF_PROG_TEST_RUN`; FIB load times; and
//! moving every prefix from one uplink to another. See docs/benchmarks.md, and docs/xdp.md for why it is measured this way.

pub mod cost;
pub mod lab;
pub mod pps;
pub mod report;
pub mod run;
pub mod sys;
pub mod table;
pub mod table6;
pub mod traffic;
