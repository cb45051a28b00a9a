// SPDX-License-Identifier: GPL-2.0

//! The receive path: buffers the remote filled, checked and handed to their
//! endpoints (or to the name service), then given back.

use super::{SharedBuffer, Virtqueue, Vrp};
use crate::proto::msg::{Header, MsgError, HEADER_LEN, NS_ADDR};
use crate::proto::ratelimit::{RateLimit, Verdict};
use crate::rpmsg_rs::num::bump;
use core::fmt;
use kernel::{
    prelude::*,
    sync::{Arc, ArcBorrow},
};

/// What the bus counts (`/sys/kernel/debug/virtio_rpmsg_rs/<vdev>/stats`).
#[derive(Default, Clone, Copy)]
pub(crate) struct RxStats {
    pub(crate) msgs: u64,
    pub(crate) dropped_bad_len: u64,
    pub(crate) dropped_bad_hdr: u64,
    pub(crate) dropped_no_ept: u64,
    pub(crate) dropped_cb_error: u64,
    pub(crate) ns_bad: u64,
    pub(crate) ns_created: u64,
    pub(crate) ns_destroyed: u64,
    /// The remote corrupted the used ring (an id out of range): the
    /// kernel's virtio_ring stopped the queue.
    pub(crate) ring_broken: u64,
}

/// The receive side of a device, under `Vrp::rx`.
pub(crate) struct Rx {
    pub(crate) vq: Option<Virtqueue>,
    pub(crate) bufs: Option<Arc<SharedBuffer>>,
    /// Where a message is copied before it is validated, so that the
    /// remote cannot change what was checked: one receive buffer's worth,
    /// too large for the stack once buffers grow.
    scratch: KVVec<u8>,
    pub(crate) acct: RxAccount,
}

impl Rx {
    pub(crate) fn new(vq: Virtqueue, bufs: Arc<SharedBuffer>, scratch: KVVec<u8>) -> Self {
        Rx {
            vq: Some(vq),
            bufs: Some(bufs),
            scratch,
            acct: RxAccount {
                stats: RxStats::default(),
                ratelimit: RateLimit::new(),
            },
        }
    }
}

/// What the receive path counts and how often it complains.
pub(crate) struct RxAccount {
    pub(crate) stats: RxStats,
    ratelimit: RateLimit,
}

impl Vrp {
    pub(crate) fn rx_off(&self, idx: usize) -> usize {
        idx * self.sizes.rx
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Logs bad input from the remote, rate-limited.
    pub(crate) fn complain(&self, acct: &mut RxAccount, args: fmt::Arguments<'_>) {
        if let Verdict::Print { suppressed } = acct.ratelimit.check(self.now_ms()) {
            if suppressed > 0 {
                vrp_log!(
                    pr_warn,
                    self,
                    "{} messages about bad frames suppressed\n",
                    suppressed
                );
            }
            vrp_log!(pr_warn, self, "{}\n", args);
        }
    }

    /// Handles everything the remote put into the receive queue.
    pub(crate) fn receive(this: ArcBorrow<'_, Self>) {
        let mut guard = this.rx.lock();
        let Rx {
            vq,
            bufs,
            scratch,
            acct,
        } = &mut *guard;
        let (Some(vq), Some(bufs)) = (vq.as_mut(), bufs.as_deref()) else {
            return;
        };
        let mut handled = false;
        while let Some((token, used)) = vq.get_buf() {
            // Tokens are ours (buffer index + 1); the ring already checked
            // that the remote returned a buffer we gave it.
            let idx = token - 1;
            if idx >= this.nbufs {
                continue;
            }
            Self::receive_one(&this, acct, bufs, idx, used, scratch);
            // The buffer always goes back, whatever was in it.
            if vq
                .add_buf(bufs, this.rx_off(idx), this.sizes.rx, false, token)
                .is_err()
            {
                vrp_log!(pr_err, this, "cannot repost rx buffer {}\n", idx);
            }
            handled = true;
        }
        if handled {
            vq.kick();
        }
        if acct.stats.ring_broken == 0 && vq.is_broken() {
            acct.stats.ring_broken = 1;
            vrp_log!(
                pr_err,
                this,
                "the remote corrupted the receive ring: queue stopped until the device is reset\n"
            );
        }
    }

    fn receive_one(
        this: &ArcBorrow<'_, Self>,
        acct: &mut RxAccount,
        bufs: &SharedBuffer,
        idx: usize,
        used: u32,
        scratch: &mut [u8],
    ) {
        let used = used as usize;
        if !(HEADER_LEN..=this.sizes.rx).contains(&used) {
            bump(&mut acct.stats.dropped_bad_len);
            this.complain(
                acct,
                fmt!("dropped rx buffer {idx}: used length {used} out of range"),
            );
            return;
        }
        // One snapshot: the remote cannot change what we validate.
        let Some(msg) = scratch.get_mut(..used) else {
            return;
        };
        if bufs.read(this.rx_off(idx), msg).is_err() {
            return;
        }
        let hdr = match Header::parse(msg) {
            Ok(hdr) => hdr,
            Err(MsgError::BadLength) | Err(_) => {
                bump(&mut acct.stats.dropped_bad_hdr);
                this.complain(
                    acct,
                    fmt!("dropped message: header length beyond the {used} bytes received"),
                );
                return;
            }
        };
        let len = usize::from(hdr.len);
        let payload = &mut msg[HEADER_LEN..HEADER_LEN + len];
        if hdr.dst == NS_ADDR && this.ns_enabled {
            Self::name_service(this, acct, payload);
            return;
        }
        let ept = this.endpoints.lock().get(&hdr.dst).cloned();
        let Some(ept) = ept else {
            bump(&mut acct.stats.dropped_no_ept);
            this.complain(
                acct,
                fmt!(
                    "dropped message from {:#x}: no endpoint at {:#x}",
                    hdr.src,
                    hdr.dst
                ),
            );
            return;
        };
        bump(&mut acct.stats.msgs);
        if ept.deliver(payload, hdr.src).is_err() {
            bump(&mut acct.stats.dropped_cb_error);
        }
    }
}
