//! Userspace RPMsg for Linux.
//!
//! A remote processor (a Cortex-M beside the application cores, or the
//! simulated one of rpmsg-rs) talks to Linux over RPMsg channels. This crate
//! is what an application needs to use them from userspace, through the
//! kernel's ABI only (`linux/rpmsg.h` ioctls on `/dev/rpmsg_ctrlN` and
//! `/dev/rpmsgN`, `/sys/bus/rpmsg`, `/sys/class/rpmsg`,
//! `/sys/class/remoteproc`), so it works on the kernel's C stack and on
//! rpmsg-rs alike:
//!
//! - find a remote processor by name ([`remote`]) and a channel by
//!   `<remote>/<channel>` ([`channel`]);
//! - create and destroy endpoint devices through the control device
//!   ([`Control`], [`EptDev`]) — what rpmsg-utils' `rpmsg_export_ept` and
//!   `rpmsg_destroy_ept` do;
//! - bind a channel to `rpmsg_chrdev` or another driver ([`bind`],
//!   [`unbind`]: the `driver_override` dance);
//! - send and receive on an open endpoint ([`Endpoint`]): blocking,
//!   non-blocking and with timeouts, `poll` readiness and the raw descriptor
//!   for `epoll`, the flow-control ioctls, the MTU where the bus tells it;
//! - errors that say what is missing and carry the errno ([`Error`]).
//!
//! ```no_run
//! use std::time::Duration;
//! // The char device of a channel bound to rpmsg_chrdev...
//! let ch = rpmsg::channel("sim0/rpmsg-raw")?;
//! let node = ch.chrdev().expect("rpmsg-raw is bound to rpmsg_chrdev");
//! let ept = rpmsg::Endpoint::open(&node)?;
//! ept.send(b"ping")?;
//! let mut buf = [0u8; rpmsg::MAX_MESSAGE];
//! let n = ept.recv_timeout(&mut buf, Duration::from_secs(1))?.expect("a reply");
//! assert_eq!(&buf[..n], b"ping");
//!
//! // ...or an endpoint of our own, to any address of the remote.
//! let ctrl = rpmsg::remote("sim0")?.control()?;
//! let mut dev = ctrl.create_endpoint("my-app", rpmsg::RPMSG_ADDR_ANY, 1025)?;
//! let ept = rpmsg::Endpoint::open(&dev.node)?;
//! ept.send(b"hello")?;
//! drop(ept);
//! dev.open(false)?;
//! dev.destroy()?; // also done when `dev` is dropped
//! # Ok::<(), rpmsg::Error>(())
//! ```
//!
//! `Documentation/library.md` is the guide.

pub mod bind;
pub mod bus;
pub mod control;
pub mod endpoint;
pub mod error;
pub mod find;
pub mod sys;
pub mod topo;
pub mod uapi;

pub use bind::{bind, unbind, Bound, CHRDEV_DRIVER};
pub use control::Control;
pub use endpoint::{dev_path, wait_for, Endpoint, EptDev, Ready, MAX_MESSAGE};
pub use error::{Error, Result};
pub use find::{channel, remote};
pub use topo::{ChannelId, Remote};
pub use uapi::RPMSG_ADDR_ANY;
