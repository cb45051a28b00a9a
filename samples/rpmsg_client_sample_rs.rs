// SPDX-License-Identifier: GPL-2.0

//! A remote processor messaging client, in Rust: the equivalent of the
//! kernel's `samples/rpmsg/rpmsg_client_sample.c`. On every
//! `rpmsg-client-sample` channel it sends a greeting and answers each
//! message the remote echoes back, 100 times, then says goodbye.

use core::sync::atomic::{AtomicU32, Ordering};
use kernel::{c_str, prelude::*, sync::Arc};

#[allow(unreachable_pub, reason = "pub for every module that mounts it")]
#[path = "../rust"]
mod rpmsg_rs {
    pub mod bindings;
    pub mod driver;
    #[expect(dead_code, reason = "ChannelInfo::new is the bus's")]
    pub mod rpmsg_core;
    // The sample uses a part of the client API (one default endpoint).
    #[expect(dead_code, reason = "the sample uses a part of rust/rpmsg_driver.rs")]
    pub mod rpmsg_driver;
}

use rpmsg_rs::rpmsg_driver::{ClientDevice, ClientEndpoint, Driver, Handler, Registration};

module! {
    type: SampleModule,
    name: "rpmsg_client_sample_rs",
    authors: ["rpmsg-rs developers"],
    description: "Remote processor messaging sample client driver, in Rust",
    license: "GPL",
    params: {
        count: u32 {
            default: 100,
            description: "Messages to exchange before saying goodbye",
        },
    },
}

const MSG: &[u8] = b"hello world!";

/// The state of one channel.
struct Sample {
    rx_count: AtomicU32,
    limit: u32,
}

impl Handler for Sample {
    fn receive(&self, rpdev: &ClientDevice, data: &[u8], src: u32) -> Result {
        let n = self.rx_count.fetch_add(1, Ordering::Relaxed) + 1;
        dev_info!(rpdev.as_dev(), "incoming msg {} (src: 0x{:x})\n", n, src);
        pr_debug!("{:?}\n", data);
        if n >= self.limit {
            dev_info!(rpdev.as_dev(), "goodbye!\n");
            return Ok(());
        }
        rpdev
            .send(MSG)
            .inspect_err(|e| dev_err!(rpdev.as_dev(), "rpmsg_send failed: {:?}\n", e))
    }
}

struct SampleDriver {
    _ept: ClientEndpoint<Sample>,
}

impl Driver for SampleDriver {
    // Upstream's driver name: userspace and the suite look for it.
    const NAME: &'static CStr = c_str!("rpmsg_client_sample");
    const IDS: &'static [&'static CStr] = &[c_str!("rpmsg-client-sample")];
    type DefaultHandler = Sample;
    const DEFAULT_ENDPOINT: bool = true;
    type Context = ();

    fn probe(rpdev: &ClientDevice, (): &()) -> Result<Pin<KBox<Self>>> {
        let info = rpdev.info();
        dev_info!(
            rpdev.as_dev(),
            "new channel: 0x{:x} -> 0x{:x}!\n",
            info.src,
            info.dst
        );
        let sample = Arc::new(
            Sample {
                rx_count: AtomicU32::new(0),
                limit: module_parameters::count.value(),
            },
            GFP_KERNEL,
        )?;
        let ept = ClientEndpoint::adopt_default(rpdev, sample)?;
        rpdev
            .send(MSG)
            .inspect_err(|e| dev_err!(rpdev.as_dev(), "rpmsg_send failed: {:?}\n", e))?;
        Ok(KBox::pin(SampleDriver { _ept: ept }, GFP_KERNEL)?)
    }

    fn remove(_this: Pin<KBox<Self>>, rpdev: &ClientDevice) {
        dev_info!(rpdev.as_dev(), "rpmsg sample client driver is removed\n");
    }
}

struct SampleModule {
    _registration: Pin<KBox<Registration<SampleDriver>>>,
}

impl kernel::Module for SampleModule {
    fn init(module: &'static ThisModule) -> Result<Self> {
        Ok(SampleModule {
            _registration: KBox::pin_init(Registration::new(module, ()), GFP_KERNEL)?,
        })
    }
}
