//! Guest-side test bench for RPMsg stacks.
//!
//! Everything here talks to the kernel only through its userspace ABI: the
//! `linux/rpmsg.h` ioctls on `/dev/rpmsg_ctrlN` and `/dev/rpmsgN`,
//! `/dev/ttyRPMSGN`, `/sys/bus/rpmsg`, `/sys/class/rpmsg`, `/dev/kmsg`, and the
//! simulated remote's debugfs files. That way the same suite judges the
//! kernel's C stack and any reimplementation of it. What it shares with the
//! `rpmsg` CLI (finding devices, endpoints, binding, the system calls) is the
//! `rpmsg` library in `tools/rpmsg`.

pub mod bounded;
pub mod bus;
pub mod charlayer;
pub mod endpoint;
pub mod error;
pub mod kmsg;
pub mod ktap;
pub mod profile;
pub mod sim;
pub mod suite;
pub mod sys;

// The sysfs walk and the ABI definitions are the `rpmsg` library's.
pub use rpmsg::{topo, uapi};

pub use error::{Context, Res};
