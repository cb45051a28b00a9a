// SPDX-License-Identifier: GPL-2.0

//! The KUnit suites of the abstractions in `rust/`, in a module of their
//! own: the production modules compile the same sources without them
//! (`#[cfg(rpmsg_rs_kunit)]`, set for this crate only by `Kbuild`), so they
//! neither carry the test code nor register the suites a second time.
//! Loading this module runs the suites (the test kernels have
//! `CONFIG_KUNIT`).

use kernel::prelude::*;

// The files whose KUnit suites run here: they are compiled in for those
// only, and the suites use a part of them.
#[allow(dead_code, reason = "only the KUnit suites use them here")]
#[allow(unreachable_pub, reason = "pub for every module that mounts it")]
#[path = ".."]
mod rpmsg_rs {
    pub mod bindings;
    pub mod chrdev;
    pub mod driver;
    pub mod platform_device;
    pub mod rpmsg;
    pub mod rpmsg_core;
    pub mod rpmsg_driver;
    pub mod virtio;
    pub mod volatile;
}

// The wire format, shared with the bus (`rust/proto`).
#[allow(dead_code, reason = "only the KUnit suites use rust/ here")]
#[allow(unreachable_pub, reason = "pub for every module that mounts it")]
#[path = "../proto/src"]
mod proto {
    pub mod msg;
}

module! {
    type: KunitModule,
    name: "rpmsg_rs_kunit",
    authors: ["rpmsg-rs developers"],
    description: "KUnit tests of the rpmsg-rs abstractions",
    license: "GPL",
}

struct KunitModule;

impl kernel::Module for KunitModule {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        Ok(KunitModule)
    }
}
