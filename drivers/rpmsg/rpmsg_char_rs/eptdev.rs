// SPDX-License-Identifier: GPL-2.0

//! Endpoint devices, `/dev/rpmsgN`: one per `rpmsg-raw` / `rpmsg_chrdev`
//! channel (the `rpmsg_chrdev` driver, on the channel's own endpoint), or
//! created through a control device (on an endpoint of their own, made at
//! open).

use super::rx_queue::{rx_queue_show, RxQueue};
use super::{module_parameters, Shared, SMALL_WRITE};
use crate::rpmsg_rs::chrdev::{self, CharDevice};
use crate::rpmsg_rs::rpmsg_core::ChannelInfo;
use crate::rpmsg_rs::rpmsg_driver::{self, ClientDevice, ClientEndpoint};
use crate::rpmsg_rs::uapi::{
    EPOLLERR, EPOLLIN, EPOLLPRI, EPOLLRDNORM, RPMSG_DESTROY_EPT_IOCTL,
    RPMSG_GET_OUTGOING_FLOWCONTROL, RPMSG_SET_INCOMING_FLOWCONTROL,
};
use core::{fmt, mem::MaybeUninit};
use kernel::sync::lock::{mutex::MutexBackend, Guard};
use kernel::{
    c_str, debugfs,
    fs::{File, LocalFile},
    iov::{IovIterDest, IovIterSource},
    prelude::*,
    str::BStr,
    sync::{
        aref::ARef,
        atomic::{Acquire, Atomic, Full, Relaxed},
        new_condvar, new_mutex,
        poll::PollTable,
        Arc, ArcBorrow, CondVar, Mutex,
    },
    uaccess::UserSlice,
};

/// One write in progress, in `EptDev::senders`; at most `SENDERS` of them
/// (more threads than a system has).
const SENDER: u32 = 1;
const SENDERS: u32 = WAITER - 1;
/// One `take_endpoint` waiting for the writes to end (two at most: release
/// and destroy).
const WAITER: u32 = 1 << 24;

/// What an endpoint device's `state` protects.
pub(crate) struct EptState {
    /// The channel; `None` once the device was destroyed.
    pub(crate) rpdev: Option<ARef<ClientDevice>>,
    ept: Option<Arc<ClientEndpoint<RxQueue>>>,
    chardev: Option<CharDevice<EptDev>>,
}

/// An endpoint device's debugfs file, which refers to its receive queue.
type RxQueueDebugfs = Pin<KBox<debugfs::Scope<Arc<RxQueue>>>>;

/// `/dev/rpmsgN`.
///
/// Lock order: `state` before the receive queue's locks (`rx`).
#[pin_data(PinnedDrop)]
pub(crate) struct EptDev {
    shared: Arc<Shared>,
    info: ChannelInfo,
    id: u32,
    minor: u32,
    /// The channel's own endpoint is used (rpmsg_chrdev on a channel);
    /// otherwise one is created at open (RPMSG_CREATE_EPT_IOCTL).
    default_ept: bool,
    rx: Arc<RxQueue>,
    /// Serialises open, release, poll and destruction; never held across a
    /// sleep (writes send without it).
    #[pin]
    pub(crate) state: Mutex<EptState>,
    /// Writes in progress (`SENDER` each, added under `state`), each sending
    /// outside the lock through its own reference to `ept`: the endpoint is
    /// only let go once they are done (the core destroys a channel's default
    /// endpoint after `remove`); plus `WAITER` for each `take_endpoint`
    /// waiting for them. One word, so that the last sender sees a waiter or
    /// the waiter sees no sender, and a write takes `state` only once.
    senders: Atomic<u32>,
    /// Signalled by the last sender while a `take_endpoint` waits.
    #[pin]
    senders_done: CondVar,
    #[pin]
    _debugfs: Mutex<Option<RxQueueDebugfs>>,
}

#[pinned_drop]
impl PinnedDrop for EptDev {
    fn drop(self: Pin<&mut Self>) {
        self.shared.ept.free(self.minor, self.id);
    }
}

impl EptDev {
    /// Creates and registers `/dev/rpmsgN` for `info` on channel `rpdev`,
    /// under `parent`.
    pub(crate) fn create(
        shared: &Arc<Shared>,
        rpdev: &ClientDevice,
        parent: &kernel::device::Device,
        info: ChannelInfo,
        default_ept: bool,
    ) -> Result<Arc<Self>> {
        // Checked at load: 1..=RX_QUEUE_LEN_MAX.
        let max = module_parameters::rx_queue_len.value() as usize;
        let rx = Arc::pin_init(RxQueue::new(max), GFP_KERNEL)?;
        let (minor, id) = shared.ept.alloc()?;
        let rx_for_dev = rx.clone();
        let this = Arc::pin_init(
            pin_init!(EptDev {
                shared: shared.clone(),
                info,
                id,
                minor,
                default_ept,
                rx: rx_for_dev,
                state <- new_mutex!(EptState { rpdev: Some(rpdev.into()), ept: None, chardev: None }),
                senders: Atomic::new(0),
                senders_done <- new_condvar!("EptDev::senders_done"),
                _debugfs <- new_mutex!(None),
            }),
            GFP_KERNEL,
        )?;
        // Everything else first: once the node exists, userspace may open it
        // and destroy the device (RPMSG_DESTROY_EPT_IOCTL) at any moment.
        let name = kernel::str::CString::try_from_fmt(fmt!("rpmsg{id}"))?;
        if let Ok(scope) = KBox::pin_init(
            shared.debugfs.scope(rx, &name, |rx, dir| {
                dir.read_callback_file(c_str!("rx_queue"), rx, &rx_queue_show);
            }),
            GFP_KERNEL,
        ) {
            *this._debugfs.lock() = Some(scope);
        }
        let chardev = CharDevice::register(
            this.clone(),
            &shared.ept.region,
            minor,
            parent,
            fmt!("rpmsg{id}"),
        )?;
        // Destroyed through its node already, before the node was stored
        // for `destroy()` to remove: the node holds a reference to `this`,
        // so kept, both would outlive the module. It goes here instead,
        // outside `state`, as in `destroy()`.
        let destroyed = {
            let mut st = this.state.lock();
            match st.rpdev {
                Some(_) => st.chardev.replace(chardev),
                None => Some(chardev),
            }
        };
        drop(destroyed);
        Ok(this)
    }

    /// Takes the endpoint out of `st` once no write uses it any more; the
    /// caller drops it, which destroys the endpoint (or detaches the
    /// channel's). Writes that start meanwhile find none (EPIPE).
    fn take_endpoint(
        &self,
        st: &mut Guard<'_, EptState, MutexBackend>,
    ) -> Option<Arc<ClientEndpoint<RxQueue>>> {
        let ept = st.ept.take();
        // No sender starts now (`ept` is gone); the last one still running
        // sees the mark and wakes us, taking `state` after we slept.
        if self.senders.fetch_add(WAITER, Full) & SENDERS != 0 {
            while self.senders.load(Acquire) & SENDERS != 0 {
                self.senders_done.wait(st);
            }
        }
        self.senders.fetch_sub(WAITER, Relaxed);
        ept
    }

    /// Tears the device down: the endpoint goes, readers get EPIPE, the
    /// node disappears; open files stay valid until closed.
    pub(crate) fn destroy(&self) {
        let chardev = {
            let mut st = self.state.lock();
            if st.rpdev.take().is_none() {
                return;
            }
            // Before the endpoint goes: reads fail with EPIPE from the
            // moment it is gone, queued messages or not, as upstream's.
            self.rx.queue.lock().dead = true;
            drop(self.take_endpoint(&mut st));
            st.chardev.take()
        };
        self.rx.wake_readers();
        drop(chardev);
        self._debugfs.lock().take();
    }
}

#[vtable]
impl chrdev::Ops for EptDev {
    const ATTRS: &'static [&'static CStr] = &[c_str!("name"), c_str!("src"), c_str!("dst")];

    fn show_attr(&self, index: usize, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match index {
            0 => {
                for &c in self.info.name() {
                    fmt::Write::write_char(f, char::from(c))?;
                }
                writeln!(f)
            }
            // Printed signed, as upstream's "%d".
            1 => writeln!(f, "{}", self.info.src as i32),
            _ => writeln!(f, "{}", self.info.dst as i32),
        }
    }

    fn open(this: ArcBorrow<'_, Self>, _file: &File) -> Result {
        let mut st = this.state.lock();
        if st.ept.is_some() {
            return Err(EBUSY);
        }
        let Some(rpdev) = st.rpdev.clone() else {
            return Err(ENETRESET);
        };
        let ept = if this.default_ept {
            ClientEndpoint::adopt_default(&rpdev, this.rx.clone())
        } else {
            ClientEndpoint::create(&rpdev, this.rx.clone(), &this.info)
        };
        match ept {
            Ok(ept) => {
                this.rx.queue.lock().dead = false;
                st.ept = Some(Arc::new(ept, GFP_KERNEL)?);
                Ok(())
            }
            Err(_) => {
                dev_err!(
                    rpdev.as_dev(),
                    "failed to open {}\n",
                    BStr::from_bytes(this.info.name())
                );
                Err(EINVAL)
            }
        }
    }

    fn release(this: ArcBorrow<'_, Self>, _file: &File) {
        let mut st = this.state.lock();
        drop(this.take_endpoint(&mut st));
        drop(st);
        this.rx.flow.lock().1 = false;
        let mut q = this.rx.queue.lock();
        q.ring.clear();
        q.polled = false;
    }

    fn read(
        this: ArcBorrow<'_, Self>,
        _file: &LocalFile,
        out: &mut IovIterDest<'_>,
        nonblock: bool,
    ) -> Result<usize> {
        // An open file has its endpoint until `destroy` marks the queue
        // dead: no need for `state` here.
        let msg = loop {
            {
                let mut q = this.rx.queue.lock();
                if q.dead {
                    return Err(EPIPE);
                }
                if let Some(msg) = q.ring.pop() {
                    break msg;
                }
                if nonblock {
                    return Err(EAGAIN);
                }
            }
            let mut sleep = this.rx.sleep.lock();
            {
                let mut q = this.rx.queue.lock();
                if !q.ring.is_empty() || q.dead {
                    continue;
                }
                q.reader_asleep = true;
            }
            if this.rx.readq.wait_interruptible(&mut sleep) {
                return Err(ERESTARTSYS);
            }
        };
        // One read, one message: a short buffer gets the start of it and
        // the rest is discarded; a partial copy is EFAULT, as upstream.
        let n = out.len().min(msg.len());
        if out.copy_to_iter(&msg[..n]) != n {
            return Err(EFAULT);
        }
        Ok(n)
    }

    fn write(
        this: ArcBorrow<'_, Self>,
        _file: &LocalFile,
        data: &mut IovIterSource<'_>,
        nonblock: bool,
    ) -> Result<usize> {
        let len = data.len();
        // A message that fits the default buffer is copied on the stack,
        // a larger one (the bus may take it, or refuse it with EMSGSIZE)
        // into the heap.
        let mut small = [MaybeUninit::<u8>::uninit(); SMALL_WRITE];
        // Only made (and dropped) for a large write.
        let mut large;
        let buf: &[u8] = match small.get_mut(..len) {
            Some(small) => data.copy_from_iter_raw(small),
            None => {
                large = KVec::new();
                data.copy_from_iter_vec(&mut large, GFP_KERNEL)?;
                &large
            }
        };
        // As upstream's copy_from_iter_full(): all or EFAULT.
        if buf.len() != len {
            return Err(EFAULT);
        }
        // The send may wait for a transmit buffer (up to the bus's
        // timeout): it must not hold the lock that read, poll, release and
        // destroy take.
        let ept = {
            let st = this.state.lock();
            let ept = st.ept.clone().ok_or(EPIPE)?;
            this.senders.fetch_add(SENDER, Relaxed);
            ept
        };
        let res = ept.send_to(buf, this.info.dst, nonblock);
        // Ours goes first: `take_endpoint` hands out the last reference.
        drop(ept);
        let before = this.senders.fetch_sub(SENDER, Full);
        if before & SENDERS == SENDER && before >= WAITER {
            // Once `take_endpoint` sleeps, which it does holding `state`.
            let _st = this.state.lock();
            this.senders_done.notify_all();
        }
        match res {
            Err(e) if nonblock && e == ENOMEM => Err(EAGAIN),
            Err(e) => Err(e),
            Ok(()) => Ok(len),
        }
    }

    fn poll(this: ArcBorrow<'_, Self>, file: &File, table: &PollTable<'_>) -> u32 {
        let st = this.state.lock();
        let Some(ept) = st.ept.as_ref() else {
            return EPOLLERR;
        };
        table.register_wait(file, &this.rx.readq);
        let mut mask = 0;
        {
            let mut q = this.rx.queue.lock();
            // From now on every message wakes `readq` (see `receive`).
            q.polled = true;
            if !q.ring.is_empty() {
                mask |= EPOLLIN | EPOLLRDNORM;
            }
        }
        if this.rx.flow.lock().1 {
            mask |= EPOLLPRI;
        }
        mask | ept.poll(file)
    }

    fn ioctl(this: ArcBorrow<'_, Self>, _file: &File, cmd: u32, arg: usize) -> Result<isize> {
        match cmd {
            RPMSG_GET_OUTGOING_FLOWCONTROL => {
                let restricted = {
                    let mut flow = this.rx.flow.lock();
                    flow.1 = false;
                    flow.0
                };
                let mut w = UserSlice::new(kernel::uaccess::UserPtr::from_addr(arg), 4).writer();
                w.write(&i32::from(restricted))?;
                Ok(0)
            }
            RPMSG_SET_INCOMING_FLOWCONTROL => {
                if arg > 1 {
                    return Err(EINVAL);
                }
                let st = this.state.lock();
                let ept = st.ept.as_ref().ok_or(EINVAL)?;
                ept.set_flow_control(arg == 1, this.info.dst)?;
                Ok(0)
            }
            RPMSG_DESTROY_EPT_IOCTL => {
                // The channel's own endpoint cannot be destroyed.
                if this.default_ept {
                    return Err(EINVAL);
                }
                this.destroy();
                Ok(0)
            }
            _ => Err(EINVAL),
        }
    }
}

/// The `rpmsg_chrdev` driver: a device per `rpmsg-raw` / `rpmsg_chrdev`
/// channel, on the channel's own endpoint.
pub(crate) struct ChrdevDriver {
    ept: Arc<EptDev>,
}

impl rpmsg_driver::Driver for ChrdevDriver {
    const NAME: &'static CStr = c_str!("rpmsg_chrdev");
    const IDS: &'static [&'static CStr] = &[c_str!("rpmsg-raw"), c_str!("rpmsg_chrdev")];
    type DefaultHandler = RxQueue;
    const DEFAULT_ENDPOINT: bool = true;
    type Context = Arc<Shared>;

    fn probe(rpdev: &ClientDevice, shared: &Arc<Shared>) -> Result<Pin<KBox<Self>>> {
        let ept = EptDev::create(shared, rpdev, rpdev.as_dev(), rpdev.info(), true)?;
        Ok(KBox::pin(ChrdevDriver { ept }, GFP_KERNEL)?)
    }

    fn remove(this: Pin<KBox<Self>>, _rpdev: &ClientDevice) {
        this.ept.destroy();
    }
}
