//! The daemon's side of the data plane: the pure [`program::Programmer`]
//! and the appliers that write its changes to the XDP maps and the kernel.

pub mod program;
