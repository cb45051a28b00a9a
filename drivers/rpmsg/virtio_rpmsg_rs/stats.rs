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
        // One format call in a loop rather than one per line: much less
        // code for the same text.
        const NAMES: [&str; 14] = [
            "rx_msgs",
            "tx_msgs",
            "tx_dropped_removed",
            "rx_dropped_bad_len",
            "rx_dropped_bad_hdr",
            "rx_dropped_no_ept",
            "rx_dropped_cb_error",
            "ns_bad",
            "ns_created",
            "ns_destroyed",
            "rx_ring_broken",
            "buffers",
            "rx_buf_size",
            "tx_buf_size",
        ];
        let values = [
            rx.msgs,
            tx_msgs,
            tx_dropped,
            rx.dropped_bad_len,
            rx.dropped_bad_hdr,
            rx.dropped_no_ept,
            rx.dropped_cb_error,
            rx.ns_bad,
            rx.ns_created,
            rx.ns_destroyed,
            rx.ring_broken,
            this.nbufs as u64,
            this.sizes.rx as u64,
            this.sizes.tx as u64,
        ];
        for (name, value) in NAMES.iter().zip(values) {
            writeln!(f, "{name}: {}", U64(value))?;
        }
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
