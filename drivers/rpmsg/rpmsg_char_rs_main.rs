// SPDX-License-Identifier: GPL-2.0

//! rpmsg_char and rpmsg_ctrl, in Rust: `/dev/rpmsg_ctrlN` and `/dev/rpmsgN`
//! with the kernel's userspace ABI (`include/uapi/linux/rpmsg.h`) and sysfs
//! layout, registered on the rpmsg bus under the kernel's driver names
//! (`rpmsg_chrdev` for `rpmsg-raw` and `rpmsg_chrdev` channels, and
//! `rpmsg_ctrl`). Unlike upstream, an endpoint's receive queue is bounded:
//! see Documentation/userspace-abi.md.

use core::{fmt, mem::MaybeUninit};
use kernel::sync::lock::{mutex::MutexBackend, Guard};
use kernel::{
    c_str, debugfs,
    fs::{File, LocalFile},
    iov::{IovIterDest, IovIterSource},
    new_poll_condvar,
    prelude::*,
    str::BStr,
    sync::{
        aref::ARef,
        new_condvar, new_mutex, new_spinlock,
        poll::{PollCondVar, PollTable},
        Arc, ArcBorrow, CondVar, Mutex, SpinLock,
    },
    uaccess::UserSlice,
};

// Library code shared by all of the project's modules, compiled in by path:
// not every module uses every item.
#[allow(dead_code, unreachable_pub)]
#[path = "../../rust"]
mod rpmsg_rs {
    pub mod bindings;
    pub mod chrdev;
    pub mod driver;
    pub mod num;
    pub mod rpmsg;
    pub mod rpmsg_driver;
    pub mod uapi;
}

// The wire format, shared with the bus (`rust/proto`).
#[allow(dead_code, unreachable_pub)]
#[path = "../../rust/proto/src"]
mod proto {
    pub mod msg;
}

use rpmsg_rs::chrdev::{self, CharDevice, Ids, Region};
use rpmsg_rs::num::U64;
use rpmsg_rs::rpmsg::ChannelInfo;
use rpmsg_rs::rpmsg_driver::{self as rpmsg, Endpoint, Handler, NoHandler};
use rpmsg_rs::uapi::{
    self, EPOLLERR, EPOLLIN, EPOLLPRI, EPOLLRDNORM, RPMSG_CREATE_DEV_IOCTL, RPMSG_CREATE_EPT_IOCTL,
    RPMSG_DESTROY_EPT_IOCTL, RPMSG_GET_OUTGOING_FLOWCONTROL, RPMSG_RELEASE_DEV_IOCTL,
    RPMSG_SET_INCOMING_FLOWCONTROL,
};

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

/// What both drivers share: char regions and instance numbers.
struct Shared {
    ept_region: Region,
    ept_minors: Ids,
    ept_ids: Ids,
    ctrl_region: Region,
    ctrl_minors: Ids,
    ctrl_ids: Ids,
    debugfs: debugfs::Dir,
}

/// A FIFO of messages, bounded by `rx_queue_len`.
struct Ring {
    slots: KVec<Option<KVec<u8>>>,
    head: usize,
    len: usize,
}

impl Ring {
    fn new() -> Self {
        Ring {
            slots: KVec::new(),
            head: 0,
            len: 0,
        }
    }

    /// Appends, growing up to `max`; gives the message back when full or
    /// out of memory.
    fn push(&mut self, msg: KVec<u8>, max: usize) -> Result<(), KVec<u8>> {
        if self.len >= max {
            return Err(msg);
        }
        if self.len == self.slots.len() {
            // `max` may be below the first growth step.
            let cap = (self.slots.len() * 2).max(8).min(max);
            let Ok(mut slots) = KVec::with_capacity(cap, GFP_ATOMIC) else {
                return Err(msg);
            };
            for i in 0..self.len {
                let idx = (self.head + i) % self.slots.len();
                let _ = slots.push(self.slots[idx].take(), GFP_ATOMIC);
            }
            while slots.len() < cap {
                let _ = slots.push(None, GFP_ATOMIC);
            }
            self.slots = slots;
            self.head = 0;
        }
        let idx = (self.head + self.len) % self.slots.len();
        self.slots[idx] = Some(msg);
        self.len += 1;
        Ok(())
    }

    fn pop(&mut self) -> Option<KVec<u8>> {
        if self.len == 0 {
            return None;
        }
        let msg = self.slots[self.head].take();
        self.head = (self.head + 1) % self.slots.len();
        self.len -= 1;
        msg
    }

    fn clear(&mut self) {
        while self.pop().is_some() {}
    }
}

struct Queue {
    ring: Ring,
    /// The endpoint went away: readers get EPIPE.
    dead: bool,
    /// A reader went to sleep on `readq` since the last wake-up: the next
    /// message wakes it, the ones after that need not (it is awake).
    reader_asleep: bool,
    /// A poll registered on `readq` since the device was opened.
    polled: bool,
    dropped: u64,
    received: u64,
}

/// An endpoint device's receive side: what the endpoint callback feeds.
#[pin_data]
struct RxQueue {
    max: usize,
    /// Lock order: `sleep` before `queue`.
    #[pin]
    queue: SpinLock<Queue>,
    /// Readers go to sleep on `readq` holding this, not `queue`: the wait
    /// ends (`finish_wait()`) with the lock taken again, and may spin there
    /// on `readq`'s own lock while a waker holds it; with `queue` held,
    /// every message behind it would spin too. Whoever wakes a sleeping
    /// reader takes it, so that the reader is either on `readq` already or
    /// will see the change when it checks under `queue`.
    #[pin]
    sleep: SpinLock<()>,
    #[pin]
    readq: PollCondVar,
    /// Flow control from the remote (RPMSG_GET_OUTGOING_FLOWCONTROL).
    #[pin]
    flow: SpinLock<(bool, bool)>,
}

impl RxQueue {
    /// Wakes readers asleep on `readq` (and pollers).
    fn wake_readers(&self) {
        let _sleep = self.sleep.lock();
        self.readq.notify_all();
    }
}

impl Handler for RxQueue {
    fn receive(&self, _rpdev: &rpmsg::Device, data: &[u8], _src: u32) -> Result {
        let mut msg = KVec::with_capacity(data.len(), GFP_ATOMIC)?;
        msg.extend_from_slice(data, GFP_ATOMIC)?;
        let wake = {
            let mut q = self.queue.lock();
            if q.ring.push(msg, self.max).is_err() {
                // A reader that does not read costs us no more memory.
                q.dropped += 1;
                return Err(ENOBUFS);
            }
            q.received += 1;
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

struct EptState {
    /// The channel; `None` once the device was destroyed.
    rpdev: Option<ARef<rpmsg::Device>>,
    ept: Option<Arc<Endpoint<RxQueue>>>,
    /// Writes in progress, each sending outside the lock through its own
    /// reference to `ept`: the endpoint is only let go once they are done
    /// (the core destroys a channel's default endpoint after `remove`).
    senders: u32,
    chardev: Option<CharDevice<EptDev>>,
}

/// An endpoint device's debugfs file, which refers to its receive queue.
type RxQueueDebugfs = Pin<KBox<debugfs::Scope<Arc<RxQueue>>>>;

/// `/dev/rpmsgN`.
#[pin_data(PinnedDrop)]
struct EptDev {
    shared: Arc<Shared>,
    info: ChannelInfo,
    id: u32,
    minor: u32,
    /// The channel's own endpoint is used (rpmsg_chrdev on a channel);
    /// otherwise one is created at open (RPMSG_CREATE_EPT_IOCTL).
    default_ept: bool,
    rx: Arc<RxQueue>,
    #[pin]
    state: Mutex<EptState>,
    /// Signalled when `state.senders` drops to zero.
    #[pin]
    senders_done: CondVar,
    #[pin]
    _debugfs: Mutex<Option<RxQueueDebugfs>>,
}

#[pinned_drop]
impl PinnedDrop for EptDev {
    fn drop(self: Pin<&mut Self>) {
        self.shared.ept_ids.free(self.id);
        self.shared.ept_minors.free(self.minor);
    }
}

impl EptDev {
    /// Creates and registers `/dev/rpmsgN` for `info` on channel `rpdev`,
    /// under `parent`.
    fn create(
        shared: &Arc<Shared>,
        rpdev: &rpmsg::Device,
        parent: &kernel::device::Device,
        info: ChannelInfo,
        default_ept: bool,
    ) -> Result<Arc<Self>> {
        // Checked at load: 1..=RX_QUEUE_LEN_MAX.
        let max = module_parameters::rx_queue_len.value() as usize;
        let rx = Arc::pin_init(
            pin_init!(RxQueue {
                max,
                queue <- new_spinlock!(Queue { ring: Ring::new(), dead: false, reader_asleep: false, polled: false, dropped: 0, received: 0 }),
                sleep <- new_spinlock!(()),
                readq <- new_poll_condvar!("EptDev::readq"),
                flow <- new_spinlock!((false, false)),
            }),
            GFP_KERNEL,
        )?;
        let minor = shared.ept_minors.alloc()?;
        let id = match shared.ept_ids.alloc() {
            Ok(id) => id,
            Err(e) => {
                shared.ept_minors.free(minor);
                return Err(e);
            }
        };
        let rx_for_dev = rx.clone();
        let this = Arc::pin_init(
            pin_init!(EptDev {
                shared: shared.clone(),
                info,
                id,
                minor,
                default_ept,
                rx: rx_for_dev,
                state <- new_mutex!(EptState { rpdev: Some(rpdev.into()), ept: None, senders: 0, chardev: None }),
                senders_done <- new_condvar!("EptDev::senders_done"),
                _debugfs <- new_mutex!(None),
            }),
            GFP_KERNEL,
        )?;
        let chardev = CharDevice::register(
            this.clone(),
            &shared.ept_region,
            minor,
            parent,
            fmt!("rpmsg{id}"),
        )?;
        this.state.lock().chardev = Some(chardev);
        let name = kernel::str::CString::try_from_fmt(fmt!("rpmsg{id}"))?;
        if let Ok(scope) = KBox::pin_init(
            shared.debugfs.scope(rx, &name, |rx, dir| {
                dir.read_callback_file(c_str!("rx_queue"), rx, &rx_queue_show);
            }),
            GFP_KERNEL,
        ) {
            *this._debugfs.lock() = Some(scope);
        }
        Ok(this)
    }

    /// Takes the endpoint out of `st` once no write uses it any more; the
    /// caller drops it, which destroys the endpoint (or detaches the
    /// channel's). Writes that start meanwhile find none (EPIPE).
    fn take_endpoint(
        &self,
        st: &mut Guard<'_, EptState, MutexBackend>,
    ) -> Option<Arc<Endpoint<RxQueue>>> {
        let ept = st.ept.take();
        while st.senders > 0 {
            self.senders_done.wait(st);
        }
        ept
    }

    /// Tears the device down: the endpoint goes, readers get EPIPE, the
    /// node disappears; open files stay valid until closed.
    fn destroy(&self) {
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

fn rx_queue_show(rx: &Arc<RxQueue>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let q = rx.queue.lock();
    writeln!(
        f,
        "queued: {}\nmax: {}\nreceived: {}\ndropped: {}",
        q.ring.len,
        rx.max,
        U64(q.received),
        U64(q.dropped)
    )
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
            Endpoint::adopt_default(&rpdev, this.rx.clone())
        } else {
            Endpoint::create(&rpdev, this.rx.clone(), &this.info)
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
                if q.ring.len > 0 || q.dead {
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
        let mut large = KVec::new();
        let buf: &[u8] = match small.get_mut(..len) {
            Some(small) => data.copy_from_iter_raw(small),
            None => {
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
            let mut st = this.state.lock();
            let ept = st.ept.clone().ok_or(EPIPE)?;
            st.senders += 1;
            ept
        };
        let res = ept.send_to(buf, this.info.dst, nonblock);
        // Ours goes first: `take_endpoint` hands out the last reference.
        drop(ept);
        {
            let mut st = this.state.lock();
            st.senders -= 1;
            // Only `take_endpoint` waits, once it has taken the endpoint.
            if st.senders == 0 && st.ept.is_none() {
                this.senders_done.notify_all();
            }
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
            if q.ring.len > 0 {
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
struct ChrdevDriver {
    ept: Arc<EptDev>,
}

impl rpmsg::Driver for ChrdevDriver {
    const NAME: &'static CStr = c_str!("rpmsg_chrdev");
    const IDS: &'static [&'static CStr] = &[c_str!("rpmsg-raw"), c_str!("rpmsg_chrdev")];
    type DefaultHandler = RxQueue;
    const DEFAULT_ENDPOINT: bool = true;
    type Context = Arc<Shared>;

    fn probe(rpdev: &rpmsg::Device, shared: &Arc<Shared>) -> Result<Pin<KBox<Self>>> {
        let ept = EptDev::create(shared, rpdev, rpdev.as_dev(), rpdev.info(), true)?;
        Ok(KBox::pin(ChrdevDriver { ept }, GFP_KERNEL)?)
    }

    fn remove(this: Pin<KBox<Self>>, _rpdev: &rpmsg::Device) {
        this.ept.destroy();
    }
}

struct CtrlState {
    /// Endpoint devices created through this control device.
    epts: KVec<Arc<EptDev>>,
    chardev: Option<CharDevice<CtrlDev>>,
}

/// `/dev/rpmsg_ctrlN`.
#[pin_data(PinnedDrop)]
struct CtrlDev {
    shared: Arc<Shared>,
    rpdev: ARef<rpmsg::Device>,
    id: u32,
    minor: u32,
    #[pin]
    state: Mutex<CtrlState>,
}

#[pinned_drop]
impl PinnedDrop for CtrlDev {
    fn drop(self: Pin<&mut Self>) {
        self.shared.ctrl_ids.free(self.id);
        self.shared.ctrl_minors.free(self.minor);
    }
}

// Upstream's control device has no read, write or poll operations: left
// out of the file operations (read/write fail with EINVAL, poll gives the
// default mask, epoll_ctl fails with EPERM), as in C.
#[vtable]
impl chrdev::Ops for CtrlDev {
    fn ioctl(this: ArcBorrow<'_, Self>, _file: &File, cmd: u32, arg: usize) -> Result<isize> {
        // As upstream, the argument is read before the command is looked at.
        let info = uapi::read_endpoint_info(arg)?;

        let mut st = this.state.lock();
        if st.chardev.is_none() {
            // The control device was removed with its bus: a file that is
            // still open must not reach the bus any more.
            return Err(ENODEV);
        }
        match cmd {
            RPMSG_CREATE_EPT_IOCTL => {
                // Forget devices destroyed meanwhile (RPMSG_DESTROY_EPT_IOCTL)
                // first: one no file holds any more gives its number back
                // for this one, as upstream reuses the lowest free number.
                st.epts.retain(|e| e.state.lock().rpdev.is_some());
                let Some(parent) = st.chardev.as_ref() else {
                    return Err(ENODEV);
                };
                let ept = EptDev::create(&this.shared, &this.rpdev, parent.device(), info, false)?;
                st.epts.push(ept, GFP_KERNEL)?;
                Ok(0)
            }
            RPMSG_CREATE_DEV_IOCTL => match this.rpdev.create_channel(&info) {
                Ok(()) => Ok(0),
                Err(e) => {
                    dev_err!(
                        this.rpdev.as_dev(),
                        "failed to create {} channel\n",
                        BStr::from_bytes(info.name())
                    );
                    Err(e)
                }
            },
            RPMSG_RELEASE_DEV_IOCTL => {
                this.rpdev
                    .release_channel(&info)
                    .map(|()| 0)
                    .inspect_err(|e| {
                        dev_err!(
                            this.rpdev.as_dev(),
                            "failed to release {} channel ({:?})\n",
                            BStr::from_bytes(info.name()),
                            e
                        );
                    })
            }
            _ => Err(EINVAL),
        }
    }
}

/// The `rpmsg_ctrl` driver, bound by the bus through `driver_override`.
struct CtrlDriver {
    ctrl: Arc<CtrlDev>,
}

impl rpmsg::Driver for CtrlDriver {
    const NAME: &'static CStr = c_str!("rpmsg_ctrl");
    const IDS: &'static [&'static CStr] = &[];
    type DefaultHandler = NoHandler;
    const DEFAULT_ENDPOINT: bool = false;
    type Context = Arc<Shared>;

    fn probe(rpdev: &rpmsg::Device, shared: &Arc<Shared>) -> Result<Pin<KBox<Self>>> {
        let minor = shared.ctrl_minors.alloc()?;
        let id = match shared.ctrl_ids.alloc() {
            Ok(id) => id,
            Err(e) => {
                shared.ctrl_minors.free(minor);
                return Err(e);
            }
        };
        let ctrl = Arc::pin_init(
            pin_init!(CtrlDev {
                shared: shared.clone(),
                rpdev: rpdev.into(),
                id,
                minor,
                state <- new_mutex!(CtrlState { epts: KVec::new(), chardev: None }),
            }),
            GFP_KERNEL,
        )?;
        let chardev = CharDevice::register(
            ctrl.clone(),
            &shared.ctrl_region,
            minor,
            rpdev.as_dev(),
            fmt!("rpmsg_ctrl{id}"),
        )?;
        ctrl.state.lock().chardev = Some(chardev);
        Ok(KBox::pin(CtrlDriver { ctrl }, GFP_KERNEL)?)
    }

    fn remove(this: Pin<KBox<Self>>, _rpdev: &rpmsg::Device) {
        let (epts, chardev) = {
            let mut st = this.ctrl.state.lock();
            (core::mem::take(&mut st.epts), st.chardev.take())
        };
        for ept in epts.iter() {
            ept.destroy();
        }
        drop(chardev);
    }
}

struct CharModule {
    _ctrl: Pin<KBox<rpmsg::Registration<CtrlDriver>>>,
    _chrdev: Pin<KBox<rpmsg::Registration<ChrdevDriver>>>,
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
                ept_region: Region::new(c_str!("rpmsg_char"), DEV_MAX)?,
                ept_minors: Ids::new(DEV_MAX - 1)?,
                ept_ids: Ids::new(u32::MAX >> 1)?,
                ctrl_region: Region::new(c_str!("rpmsg_ctrl"), DEV_MAX)?,
                ctrl_minors: Ids::new(DEV_MAX - 1)?,
                ctrl_ids: Ids::new(u32::MAX >> 1)?,
                debugfs: debugfs::Dir::new(c_str!("rpmsg_char_rs")),
            },
            GFP_KERNEL,
        )?;
        let chrdev = KBox::pin_init(rpmsg::Registration::new(module, shared.clone()), GFP_KERNEL)?;
        let ctrl = KBox::pin_init(rpmsg::Registration::new(module, shared), GFP_KERNEL)?;
        Ok(CharModule {
            _ctrl: ctrl,
            _chrdev: chrdev,
        })
    }
}
