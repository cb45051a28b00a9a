// SPDX-License-Identifier: GPL-2.0

//! An endpoint device's receive queue: the endpoint callback feeds it,
//! readers and pollers wait on it. Its ring is `proto::ring` (host-tested).

use crate::proto::ring::{Ring, Slots};
use crate::rpmsg_rs::num::{bump, U64};
use crate::rpmsg_rs::rpmsg_driver::{ClientDevice, Handler};
use core::fmt;
use kernel::{
    new_poll_condvar,
    prelude::*,
    sync::{new_spinlock, poll::PollCondVar, Arc, SpinLock},
};

/// The ring's slots: messages, allocated in the endpoint callback (atomic
/// context).
pub(crate) type MsgSlots = KVec<Option<KVec<u8>>>;

impl Slots for MsgSlots {
    type Item = KVec<u8>;

    fn empty(n: usize) -> Option<Self> {
        let mut slots = KVec::with_capacity(n, GFP_ATOMIC).ok()?;
        for _ in 0..n {
            let _ = slots.push(None, GFP_ATOMIC);
        }
        Some(slots)
    }
}

/// What the receive queue's spinlock protects.
pub(crate) struct Queue {
    pub(crate) ring: Ring<MsgSlots>,
    /// The endpoint went away: readers get EPIPE.
    pub(crate) dead: bool,
    /// A reader went to sleep on `readq` since the last wake-up: the next
    /// message wakes it, the ones after that need not (it is awake).
    pub(crate) reader_asleep: bool,
    /// A poll registered on `readq` since the device was opened.
    pub(crate) polled: bool,
    pub(crate) dropped: u64,
    pub(crate) received: u64,
}

/// An endpoint device's receive side: what the endpoint callback feeds.
///
/// Lock order: `sleep` before `queue`; `flow` alone. An endpoint device
/// takes them under its `state` (see `EptDev`).
#[pin_data]
pub(crate) struct RxQueue {
    max: usize,
    /// Taken after `sleep`.
    #[pin]
    pub(crate) queue: SpinLock<Queue>,
    /// Readers go to sleep on `readq` holding this, not `queue`: the wait
    /// ends (`finish_wait()`) with the lock taken again, and may spin there
    /// on `readq`'s own lock while a waker holds it; with `queue` held,
    /// every message behind it would spin too. Whoever wakes a sleeping
    /// reader takes it, so that the reader is either on `readq` already or
    /// will see the change when it checks under `queue`.
    #[pin]
    pub(crate) sleep: SpinLock<()>,
    /// Readers and pollers wait here.
    #[pin]
    pub(crate) readq: PollCondVar,
    /// Flow control from the remote (RPMSG_GET_OUTGOING_FLOWCONTROL).
    #[pin]
    pub(crate) flow: SpinLock<(bool, bool)>,
}

impl RxQueue {
    /// An empty queue of at most `max` messages.
    pub(crate) fn new(max: usize) -> impl PinInit<Self> {
        pin_init!(RxQueue {
            max,
            queue <- new_spinlock!(Queue { ring: Ring::new(), dead: false, reader_asleep: false, polled: false, dropped: 0, received: 0 }),
            sleep <- new_spinlock!(()),
            readq <- new_poll_condvar!("EptDev::readq"),
            flow <- new_spinlock!((false, false)),
        })
    }

    /// Wakes readers asleep on `readq` (and pollers).
    pub(crate) fn wake_readers(&self) {
        let _sleep = self.sleep.lock();
        self.readq.notify_all();
    }
}

impl Handler for RxQueue {
    fn receive(&self, _rpdev: &ClientDevice, data: &[u8], _src: u32) -> Result {
        let mut msg = KVec::with_capacity(data.len(), GFP_ATOMIC)?;
        msg.extend_from_slice(data, GFP_ATOMIC)?;
        let wake = {
            let mut q = self.queue.lock();
            if q.ring.push(msg, self.max).is_err() {
                // A reader that does not read costs us no more memory.
                bump(&mut q.dropped);
                return Err(ENOBUFS);
            }
            bump(&mut q.received);
            (core::mem::take(&mut q.reader_asleep), q.polled)
        };
        // One wake-up per sleep: a woken reader that has not run yet needs
        // no second one. A stream the reader keeps up with takes neither
        // `sleep` nor `readq`'s lock. Polls registered before they checked
        // `queue`: they need no `sleep`, but a wake-up per message, as
        // upstream (edge-triggered epoll counts on it).
        match wake {
            (true, _) => self.wake_readers(),
            (false, true) => self.readq.notify_all(),
            (false, false) => {}
        }
        Ok(())
    }

    fn flow_control(&self, pause: bool) {
        *self.flow.lock() = (pause, true);
        self.readq.notify_all();
    }

    fn send_ready(&self) {
        self.readq.notify_all();
    }
}

/// `rx_queue` in the device's debugfs directory.
pub(crate) fn rx_queue_show(rx: &Arc<RxQueue>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let q = rx.queue.lock();
    writeln!(
        f,
        "queued: {}\nmax: {}\nreceived: {}\ndropped: {}",
        q.ring.len(),
        rx.max,
        U64(q.received),
        U64(q.dropped)
    )
}
