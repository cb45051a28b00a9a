// SPDX-License-Identifier: GPL-2.0

//! The counters, in debugfs: `/sys/kernel/debug/virtio_rpmsg_rs/<vdev>/stats`.

use super::{Bufsz, Vrp};
use crate::rpmsg_rs::num::U64;
use core::fmt;
use kernel::{c_str, debugfs, prelude::*, str::CString, sync::Arc};

/// The device's debugfs directory, which refers back to the device.
pub(crate) type DebugfsScope = Pin<KBox<debugfs::Scope<Arc<Vrp>>>>;

impl Vrp {
    /// The device's directory under `root`, named after the virtio device.
    pub(crate) fn debugfs_dir(
        this: &Arc<Vrp>,
        root: &debugfs::Dir,
        vdev: &kernel::device::Device,
    ) -> Result<DebugfsScope> {
        let name = CString::try_from_fmt(fmt!("{}", vdev.name()))?;
        KBox::pin_init(
            root.scope(this.clone(), &name, |vrp, dir| {
                dir.read_callback_file(c_str!("stats"), vrp, &Vrp::stats_show);
            }),
            GFP_KERNEL,
        )
    }

    fn stats_show(this: &Arc<Vrp>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rx = this.rx.lock().acct.stats;
        let (tx_msgs, tx_dropped) = {
            let tx = this.tx.lock();
            (tx.msgs, tx.dropped_removed)
        };
        writeln!(f, "rx_msgs: {}\ntx_msgs: {}", U64(rx.msgs), U64(tx_msgs))?;
        writeln!(f, "tx_dropped_removed: {}", U64(tx_dropped))?;
        writeln!(
            f,
            "rx_dropped_bad_len: {}\nrx_dropped_bad_hdr: {}",
            U64(rx.dropped_bad_len),
            U64(rx.dropped_bad_hdr)
        )?;
        writeln!(
            f,
            "rx_dropped_no_ept: {}\nrx_dropped_cb_error: {}",
            U64(rx.dropped_no_ept),
            U64(rx.dropped_cb_error)
        )?;
        writeln!(
            f,
            "ns_bad: {}\nns_created: {}\nns_destroyed: {}",
            U64(rx.ns_bad),
            U64(rx.ns_created),
            U64(rx.ns_destroyed)
        )?;
        writeln!(f, "rx_ring_broken: {}", U64(rx.ring_broken))?;
        writeln!(f, "buffers: {}", this.nbufs)?;
        writeln!(
            f,
            "rx_buf_size: {}\ntx_buf_size: {}",
            this.sizes.rx, this.sizes.tx
        )?;
        let (declined, reason) = match this.bufsz {
            Bufsz::Declined(e) => (1, e.as_str()),
            _ => (0, "none"),
        };
        writeln!(f, "bufsz: {}", this.bufsz.as_str())?;
        writeln!(
            f,
            "bufsz_declined: {declined}\nbufsz_decline_reason: {reason}"
        )
    }
}
