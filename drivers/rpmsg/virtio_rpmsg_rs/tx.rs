// SPDX-License-Identifier: GPL-2.0

//! The transmit path: senders take a buffer (a fresh one or one the remote
//! gave back), or sleep until one comes back; pollers are told when.

use super::{SharedBuffer, Virtqueue, Vrp};
use crate::proto::msg::{Header, HEADER_LEN};
use crate::rpmsg_rs::num::bump;
use crate::rpmsg_rs::rpmsg::{Transport, ADDR_ANY};
use crate::rpmsg_rs::uapi::EPOLLOUT;
use kernel::{
    fs::File,
    prelude::*,
    sync::{poll::PollTable, Arc, ArcBorrow, CondVarTimeoutResult},
    time::msecs_to_jiffies,
};

/// How long a blocking send waits for a transmit buffer.
const TX_TIMEOUT_MS: u32 = 15_000;

/// The transmit side of a device, under `Vrp::tx`.
pub(crate) struct Tx {
    pub(crate) vq: Option<Virtqueue>,
    pub(crate) bufs: Option<Arc<SharedBuffer>>,
    /// Transmit buffers never used yet: `next_fresh..num`.
    next_fresh: usize,
    /// Senders waiting for a buffer; tx-complete callbacks are on while
    /// there are any.
    sleepers: u32,
    /// A poller found no buffer and turned the tx-complete callback on: it
    /// stays on until a completion has woken the pollers.
    poll_armed: bool,
    pub(crate) msgs: u64,
    /// Messages sent after the device was removed, dropped.
    pub(crate) dropped_removed: u64,
}

impl Tx {
    pub(crate) fn new(vq: Virtqueue, bufs: Arc<SharedBuffer>) -> Self {
        Tx {
            vq: Some(vq),
            bufs: Some(bufs),
            next_fresh: 0,
            sleepers: 0,
            poll_armed: false,
            msgs: 0,
            dropped_removed: 0,
        }
    }
}

impl Vrp {
    fn tx_off(&self, idx: usize) -> usize {
        self.nbufs * self.sizes.rx + idx * self.sizes.tx
    }

    /// Takes a transmit buffer: a fresh one, or one the remote gave back.
    fn get_tx_buf(&self, tx: &mut Tx) -> Option<usize> {
        if tx.next_fresh < self.nbufs {
            tx.next_fresh += 1;
            return Some(tx.next_fresh - 1);
        }
        let vq = tx.vq.as_mut()?;
        while let Some((token, _)) = vq.get_buf() {
            let idx = token - 1;
            if idx < self.nbufs {
                return Some(idx);
            }
        }
        None
    }

    /// A transmit buffer came back: wakes whoever waits for one.
    pub(crate) fn tx_done(this: ArcBorrow<'_, Self>) {
        {
            let mut tx = this.tx.lock();
            if tx.poll_armed {
                tx.poll_armed = false;
                if tx.sleepers == 0 {
                    if let Some(vq) = tx.vq.as_mut() {
                        vq.disable_cb();
                    }
                }
            }
        }
        this.wake_senders();
    }

    /// Wakes senders and pollers waiting for a transmit buffer.
    pub(crate) fn wake_senders(&self) {
        // A sleeping sender checked for a buffer and went onto `sendq` under
        // `tx_sleep` (the condition variable queues it before unlocking):
        // taking it here means it either saw this buffer or is queued, so
        // the wake-up cannot fall in between.
        let _sleep = self.tx_sleep.lock();
        self.sendq.notify_all();
    }

    /// [`Transport::send`]: sends `data` from `src` to `dst`, waiting up to
    /// `TX_TIMEOUT_MS` for a buffer if `wait`.
    pub(crate) fn transmit(
        this: &Arc<Self>,
        src: u32,
        dst: u32,
        data: &[u8],
        wait: bool,
    ) -> Result {
        if src == ADDR_ANY || dst == ADDR_ANY {
            vrp_log!(
                pr_err,
                this,
                "invalid addr (src {:#x}, dst {:#x})\n",
                src,
                dst
            );
            return Err(EINVAL);
        }
        if data.len() > this.mtu() {
            vrp_log!(pr_err, this, "message is too big ({})\n", data.len());
            return Err(EMSGSIZE);
        }
        let hdr = Header {
            src,
            dst,
            len: data.len() as u16,
            flags: 0,
        };
        let mut left = msecs_to_jiffies(TX_TIMEOUT_MS);
        // Held from the second check on, until the sender sleeps.
        let mut sleep = None;
        let notify = loop {
            let mut tx = this.tx.lock();
            if tx.vq.is_none() {
                // The device is gone but the endpoint not yet: as upstream
                // (which queues on the reset device), the message is
                // accepted and lost; unlike upstream, it is counted. Writes
                // fail with EPIPE once the client destroyed its endpoint.
                bump(&mut tx.dropped_removed);
                return Ok(());
            }
            if let Some(idx) = this.get_tx_buf(&mut tx) {
                let off = this.tx_off(idx);
                let Tx { vq, bufs, msgs, .. } = &mut *tx;
                let (Some(vq), Some(bufs)) = (vq.as_mut(), bufs.as_deref()) else {
                    return Err(ENODEV);
                };
                bufs.write(off, &hdr.to_bytes())?;
                bufs.write(off + HEADER_LEN, data)?;
                vq.add_buf(bufs, off, HEADER_LEN + data.len(), true, idx + 1)?;
                bump(msgs);
                break vq.kick_prepare();
            }
            if !wait {
                return Err(ENOMEM);
            }
            let Some(mut sleeping) = sleep.take() else {
                // Check again holding `tx_sleep`, then sleep.
                drop(tx);
                sleep = Some(this.tx_sleep.lock());
                continue;
            };
            // Completions interrupt us only while someone waits for them.
            tx.sleepers += 1;
            let raced = tx.sleepers == 1 && tx.vq.as_mut().is_some_and(|vq| !vq.enable_cb());
            drop(tx);
            let res = if raced {
                CondVarTimeoutResult::Woken { jiffies: left }
            } else {
                this.sendq.wait_interruptible_timeout(&mut sleeping, left)
            };
            drop(sleeping);
            let mut tx = this.tx.lock();
            tx.sleepers -= 1;
            if tx.sleepers == 0 && !tx.poll_armed {
                if let Some(vq) = tx.vq.as_mut() {
                    vq.disable_cb();
                }
            }
            drop(tx);
            match res {
                CondVarTimeoutResult::Woken { jiffies } => left = jiffies,
                CondVarTimeoutResult::Signal { .. } => return Err(ERESTARTSYS),
                // Upstream returns -ERESTARTSYS here too, which reaches
                // userspace as errno 512 since no signal is pending.
                CondVarTimeoutResult::Timeout => {
                    vrp_log!(pr_err, this, "timeout waiting for a tx buffer\n");
                    return Err(ETIMEDOUT);
                }
            }
        };
        // Notifying the remote (the remoteproc driver's kick) is left out
        // of `tx` (dropped with the loop's guard): with several senders,
        // the next one adds its buffer meanwhile. Upstream holds its tx lock
        // across the kick.
        drop(sleep);
        if let Some(notify) = notify {
            notify.send();
        }
        Ok(())
    }

    /// [`Transport::poll`]: `EPOLLOUT` when a send would not wait.
    pub(crate) fn poll_tx(this: &Arc<Self>, file: &File, table: &PollTable<'_>) -> u32 {
        table.register_wait(file, &this.sendq);
        let mut tx = this.tx.lock();
        let fresh = tx.next_fresh < this.nbufs;
        // Enabling callbacks tells whether buffers came back, and makes the
        // next completion wake the poller.
        if fresh || tx.vq.as_mut().is_some_and(|vq| !vq.enable_cb()) {
            EPOLLOUT
        } else {
            tx.poll_armed = true;
            0
        }
    }
}
