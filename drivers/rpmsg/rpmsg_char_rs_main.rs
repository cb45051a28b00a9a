// SPDX-License-Identifier: GPL-2.0

//! rpmsg_char and rpmsg_ctrl, in Rust: `/dev/rpmsg_ctrlN` and `/dev/rpmsgN`
//! with the kernel's userspace ABI (`include/uapi/linux/rpmsg.h`) and sysfs
//! layout, registered on the rpmsg bus under the kernel's driver names
//! (`rpmsg_chrdev` for `rpmsg-raw` and `rpmsg_chrdev` channels, and
//! `rpmsg_ctrl`). Unlike upstream, an endpoint's receive queue is bounded:
//! see Documentation/userspace-abi.md.

use kernel::{c_str, debugfs, prelude::*, sync::Arc};

// Library code shared by all of the project's modules, compiled in by path.
#[allow(unreachable_pub, reason = "pub for every module that mounts it")]
#[path = "../../rust"]
mod rpmsg_rs {
    pub mod bindings;
    pub mod chrdev;
    pub mod driver;
    pub mod num;
    #[expect(dead_code, reason = "ChannelInfo::new is the bus's")]
    pub mod rpmsg_core;
    #[expect(
        dead_code,
        reason = "ClientDevice::send, ClientEndpoint::addr are the sample's"
    )]
    pub mod rpmsg_driver;
    pub mod uapi;
}

// The receive queue's ring (`rust/proto`, host-tested).
#[allow(unreachable_pub, reason = "pub for every module that mounts it")]
#[path = "../../rust/proto/src"]
mod proto {
    pub mod ring;
}

use rpmsg_rs::chrdev::{Ids, Region};
use rpmsg_rs::rpmsg_driver::Registration;

// The char layer by concept: the crate root registers the two drivers and
// holds what they share.
#[path = "rpmsg_char_rs/ctrl.rs"]
mod ctrl;
#[path = "rpmsg_char_rs/eptdev.rs"]
mod eptdev;
#[path = "rpmsg_char_rs/rx_queue.rs"]
mod rx_queue;

use ctrl::CtrlDriver;
use eptdev::ChrdevDriver;

module! {
    type: CharModule,
    name: "rpmsg_char_rs",
    authors: ["rpmsg-rs developers"],
    description: "RPMSG device interface (rpmsg_char and rpmsg_ctrl), in Rust",
    license: "GPL",
    params: {
        rx_queue_len: u32 {
            default: 16384,
            description: "Messages an endpoint queues for a reader before dropping (and counting) more (1..=65536)",
        },
    },
}

/// The largest `rx_queue_len`: the ring's slot array (24 bytes a slot) must
/// stay an allocation that succeeds in atomic context.
const RX_QUEUE_LEN_MAX: u32 = 65536;

/// Writes up to this size are copied on the stack: the payload of the
/// default 512-byte buffer, and more.
const SMALL_WRITE: usize = 512;

/// Minors per region, as upstream (`MINORMASK + 1`).
const DEV_MAX: u32 = 1 << 20;

/// The numbers of one kind of device: its char region's minors and the N
/// of its name (`rpmsgN`, `rpmsg_ctrlN`), each reused lowest first.
struct DevNumbers {
    region: Region,
    minors: Ids,
    ids: Ids,
}

impl DevNumbers {
    fn new(name: &'static CStr) -> Result<Self> {
        Ok(DevNumbers {
            region: Region::new(name, DEV_MAX)?,
            minors: Ids::new(DEV_MAX - 1)?,
            ids: Ids::new(u32::MAX >> 1)?,
        })
    }

    /// A minor and a name number, both or neither; [`Self::free`] gives
    /// them back.
    fn alloc(&self) -> Result<(u32, u32)> {
        let minor = self.minors.alloc()?;
        match self.ids.alloc() {
            Ok(id) => Ok((minor, id)),
            Err(e) => {
                self.minors.free(minor);
                Err(e)
            }
        }
    }

    fn free(&self, minor: u32, id: u32) {
        self.ids.free(id);
        self.minors.free(minor);
    }
}

/// What both drivers share: device numbers and the debugfs directory.
struct Shared {
    ept: DevNumbers,
    ctrl: DevNumbers,
    debugfs: debugfs::Dir,
}

struct CharModule {
    _ctrl: Pin<KBox<Registration<CtrlDriver>>>,
    _chrdev: Pin<KBox<Registration<ChrdevDriver>>>,
}

impl kernel::Module for CharModule {
    fn init(module: &'static ThisModule) -> Result<Self> {
        let len = module_parameters::rx_queue_len.value();
        if !(1..=RX_QUEUE_LEN_MAX).contains(&len) {
            pr_err!("rx_queue_len={len}: expected 1..={RX_QUEUE_LEN_MAX}\n");
            return Err(EINVAL);
        }
        let shared = Arc::new(
            Shared {
                ept: DevNumbers::new(c_str!("rpmsg_char"))?,
                ctrl: DevNumbers::new(c_str!("rpmsg_ctrl"))?,
                debugfs: debugfs::Dir::new(c_str!("rpmsg_char_rs")),
            },
            GFP_KERNEL,
        )?;
        let chrdev = KBox::pin_init(Registration::new(module, shared.clone()), GFP_KERNEL)?;
        let ctrl = KBox::pin_init(Registration::new(module, shared), GFP_KERNEL)?;
        Ok(CharModule {
            _ctrl: ctrl,
            _chrdev: chrdev,
        })
    }
}
