// SPDX-License-Identifier: GPL-2.0

//! rpmsg client drivers (`include/linux/rpmsg.h`): drivers on the rpmsg bus
//! and the endpoints they own. Works on every transport, the kernel's C
//! virtio bus as well as ours.

use super::rpmsg_core::{with_cb_lock, ChannelInfo};
use super::{bindings, driver};
use core::marker::PhantomData;
use core::ptr::NonNull;
use kernel::{
    error::{from_result, to_result},
    fs::File,
    prelude::*,
    sync::{
        aref::AlwaysRefCounted,
        atomic::{Atomic, Full},
        Arc,
    },
    types::{ForeignOwnable, Opaque},
};

/// A channel device on the rpmsg bus, as client drivers see it.
///
/// # Examples
///
/// ```ignore
/// fn probe(rpdev: &rpmsg_driver::ClientDevice, (): &()) -> Result<Pin<KBox<Self>>> {
///     let info = rpdev.info();
///     dev_info!(rpdev.as_dev(), "channel 0x{:x} -> 0x{:x}\n", info.src, info.dst);
///     rpdev.send(b"hello world!")?;
///     // ...
/// }
/// ```
///
/// # Invariants
///
/// Instances only exist behind references to a live `struct rpmsg_device`.
#[repr(transparent)]
pub struct ClientDevice(Opaque<bindings::rpmsg_device>);

// SAFETY: The device is refcounted and its fields used here are fixed
// after registration.
unsafe impl Send for ClientDevice {}
// SAFETY: See `Send`.
unsafe impl Sync for ClientDevice {}

// SAFETY: The embedded `struct device` governs the lifetime.
unsafe impl AlwaysRefCounted for ClientDevice {
    fn inc_ref(&self) {
        // SAFETY: `self` is live.
        unsafe { bindings::get_device(&raw mut (*self.0.get()).dev) };
    }

    unsafe fn dec_ref(obj: NonNull<Self>) {
        // SAFETY: The caller gives up a reference it owns.
        unsafe {
            bindings::put_device(&raw mut (*obj.as_ptr().cast::<bindings::rpmsg_device>()).dev)
        };
    }
}

impl ClientDevice {
    /// # Safety
    ///
    /// `ptr` must point to a live rpmsg device for `'a`.
    unsafe fn from_raw<'a>(ptr: *mut bindings::rpmsg_device) -> &'a Self {
        // SAFETY: Transparent wrapper; liveness is the caller's promise.
        unsafe { &*ptr.cast::<Self>() }
    }

    fn as_raw(&self) -> *mut bindings::rpmsg_device {
        self.0.get()
    }

    /// The generic device (parent of the devices a driver creates).
    pub fn as_dev(&self) -> &kernel::device::Device {
        // SAFETY: The embedded device lives as long as `self`.
        unsafe { kernel::device::Device::from_raw(&raw mut (*self.as_raw()).dev) }
    }

    /// The channel's identity: name, local and remote address.
    pub fn info(&self) -> ChannelInfo {
        // SAFETY: `self` is live; these fields are fixed after registration.
        let raw = unsafe { &*self.as_raw() };
        ChannelInfo::from_c_name(&raw.id.name, raw.src, raw.dst)
    }

    /// Sends on the channel's default endpoint to its remote address
    /// (`rpmsg_send`); `EINVAL` if the channel has no default endpoint.
    pub fn send(&self, data: &[u8]) -> Result {
        let len = i32::try_from(data.len()).map_err(|_| EMSGSIZE)?;
        // SAFETY: `self` is live; the default endpoint lives while the
        // channel is bound.
        let ept = unsafe { (*self.as_raw()).ept };
        if ept.is_null() {
            return Err(EINVAL);
        }
        // SAFETY: `ept` is live; `data` is valid for the call.
        kernel::error::to_result(unsafe {
            bindings::rpmsg_send(
                ept,
                data.as_ptr().cast::<kernel::ffi::c_void>().cast_mut(),
                len,
            )
        })
    }

    /// Creates a channel on the same transport (`RPMSG_CREATE_DEV_IOCTL`).
    pub fn create_channel(&self, info: &ChannelInfo) -> Result {
        let mut raw = info.to_c();
        // SAFETY: `self` is live; `raw` is valid for the call.
        let dev = unsafe { bindings::rpmsg_create_channel(self.as_raw(), &mut raw) };
        if dev.is_null() {
            Err(ENXIO)
        } else {
            Ok(())
        }
    }

    /// Releases a channel created with [`Self::create_channel`].
    pub fn release_channel(&self, info: &ChannelInfo) -> Result {
        let mut raw = info.to_c();
        // SAFETY: `self` is live; `raw` is valid for the call.
        kernel::error::to_result(unsafe {
            bindings::rpmsg_release_channel(self.as_raw(), &mut raw)
        })
    }
}

/// Receives what arrives at an endpoint.
///
/// # Examples
///
/// A handler that counts messages and wakes the driver's pollers when the
/// transport may take more:
///
/// ```ignore
/// struct Counter {
///     msgs: Atomic<u32>,
///     writers: PollCondVar,
/// }
///
/// impl rpmsg_driver::Handler for Counter {
///     fn receive(&self, _rpdev: &rpmsg_driver::ClientDevice, _data: &[u8], _src: u32) -> Result {
///         self.msgs.fetch_add(1, Relaxed);
///         Ok(())
///     }
///     fn send_ready(&self) {
///         self.writers.notify_all();
///     }
/// }
/// ```
pub trait Handler: Send + Sync + 'static {
    /// A message from `src` on channel `rpdev`. Calls for one endpoint
    /// never overlap.
    fn receive(&self, rpdev: &ClientDevice, data: &[u8], src: u32) -> Result;
    /// The remote asked to pause (`true`) or resume sending.
    fn flow_control(&self, _pause: bool) {}
    /// The transport may have room to send again: wake the queue the
    /// driver's files poll on (see [`ClientEndpoint::poll`]). Atomic context.
    fn send_ready(&self) {}
}

/// A handler for drivers without a default endpoint.
pub enum NoHandler {}

impl Handler for NoHandler {
    fn receive(&self, _: &ClientDevice, _: &[u8], _: u32) -> Result {
        match *self {}
    }
}

/// An endpoint a client driver uses, with handler `H`.
///
/// # Examples
///
/// An endpoint at any free address, used to answer the remote's address
/// 0x400; dropping it destroys it:
///
/// ```ignore
/// let info = ChannelInfo::new(b"my-ept", RPMSG_ADDR_ANY, 0x400)?;
/// let ept = rpmsg_driver::ClientEndpoint::create(rpdev, handler, &info)?;
/// ept.send_to(b"ping", 0x400, false)?;
/// pr_info!("bound at 0x{:x}\n", ept.addr());
/// drop(ept);
/// ```
///
/// # Invariants
///
/// `raw` is a live endpoint whose `priv` holds an `Arc<H>` of ours
/// (`into_foreign`). If `adopted`, it is the channel's default endpoint,
/// destroyed by the rpmsg core, and we only detach from it; otherwise we
/// destroy it. `poll_proxy` notifies that same `Arc<H>` until it is detached
/// in `drop`.
pub struct ClientEndpoint<H: Handler> {
    raw: NonNull<bindings::rpmsg_endpoint>,
    poll_proxy: Pin<KBox<PollProxy<H>>>,
    adopted: bool,
}

// SAFETY: The endpoint API may be used from any thread.
unsafe impl<H: Handler> Send for ClientEndpoint<H> {}
// SAFETY: See `Send`; the rpmsg core serialises what needs it.
unsafe impl<H: Handler> Sync for ClientEndpoint<H> {}

impl<H: Handler> ClientEndpoint<H> {
    /// Creates an endpoint on channel `rpdev` (`info.src` may be
    /// `RPMSG_ADDR_ANY`). Fails with `EINVAL` like the core's NULL.
    pub fn create(rpdev: &ClientDevice, handler: Arc<H>, info: &ChannelInfo) -> Result<Self> {
        let cookie = handler.into_foreign();
        let Ok(poll_proxy) = PollProxy::<H>::new(cookie) else {
            // SAFETY: From `into_foreign` above, not handed out: take the
            // reference back.
            drop(unsafe { Arc::<H>::from_foreign(cookie) });
            return Err(ENOMEM);
        };
        // SAFETY: `rpdev` is live; the callback gets `cookie` as `priv`.
        let raw = unsafe {
            bindings::rpmsg_create_ept(rpdev.as_raw(), Some(rx_cb::<H>), cookie, info.to_c())
        };
        let Some(raw) = NonNull::new(raw) else {
            drop(poll_proxy);
            // SAFETY: From `into_foreign` above, not handed out (the proxy,
            // which had it, is gone): take the reference back.
            drop(unsafe { Arc::<H>::from_foreign(cookie) });
            return Err(EINVAL);
        };
        // SAFETY: `raw` is live (just created, and we hold its creator's
        // reference).
        unsafe { set_flow_cb(raw.as_ptr(), Some(flow_cb::<H>)) };
        // INVARIANT: Created with our `Arc` as `priv`, which the proxy
        // notifies.
        Ok(Self {
            raw,
            poll_proxy,
            adopted: false,
        })
    }

    /// Takes over the channel's default endpoint, which the core created
    /// with the driver's callback (see [`Driver`]).
    pub fn adopt_default(rpdev: &ClientDevice, handler: Arc<H>) -> Result<Self> {
        // SAFETY: `rpdev` is live.
        let raw = NonNull::new(unsafe { (*rpdev.as_raw()).ept }).ok_or(EINVAL)?;
        let cookie = handler.into_foreign();
        let Ok(poll_proxy) = PollProxy::<H>::new(cookie) else {
            // SAFETY: From `into_foreign` above, not handed out: take the
            // reference back.
            drop(unsafe { Arc::<H>::from_foreign(cookie) });
            return Err(ENOMEM);
        };
        // SAFETY: `raw` is live: the channel's default endpoint lives while
        // the channel is bound. Its callback is our `rx_cb::<H>` (the
        // driver's), which reads `priv` under the lock we swap it under.
        let old = unsafe { swap_priv(raw.as_ptr(), cookie) };
        if !old.is_null() {
            drop(poll_proxy);
            // SAFETY: Someone else adopted it first; restore and give up.
            // `cookie` is ours from `into_foreign` again (swapped back out);
            // the proxy, which had it too, is gone.
            unsafe {
                swap_priv(raw.as_ptr(), old);
                drop(Arc::<H>::from_foreign(cookie));
            }
            return Err(EBUSY);
        }
        // SAFETY: `raw` is live (see above).
        unsafe { set_flow_cb(raw.as_ptr(), Some(flow_cb::<H>)) };
        // INVARIANT: Our `Arc` is in `priv`, and the proxy notifies it; the
        // core owns the endpoint.
        Ok(Self {
            raw,
            poll_proxy,
            adopted: true,
        })
    }

    /// The endpoint's local address.
    pub fn addr(&self) -> u32 {
        // SAFETY: `raw` is live.
        unsafe { (*self.raw.as_ptr()).addr }
    }

    /// Sends to `dst`, waiting for a buffer unless `nonblock`
    /// (`rpmsg_sendto` / `rpmsg_trysendto`).
    pub fn send_to(&self, data: &[u8], dst: u32, nonblock: bool) -> Result {
        let len = i32::try_from(data.len()).map_err(|_| EMSGSIZE)?;
        let ptr = data.as_ptr().cast::<kernel::ffi::c_void>().cast_mut();
        // SAFETY: `raw` is live; `data` is valid for the call.
        kernel::error::to_result(unsafe {
            if nonblock {
                bindings::rpmsg_trysendto(self.raw.as_ptr(), ptr, len, dst)
            } else {
                bindings::rpmsg_sendto(self.raw.as_ptr(), ptr, len, dst)
            }
        })
    }

    /// The transport's poll mask for sending (`rpmsg_poll`).
    ///
    /// The caller's poll table is not handed to the transport, whose wait
    /// queue may be freed before the file's poll returns (the kernel's
    /// virtio_rpmsg_bus frees it with its device): the endpoint waits there
    /// itself and calls [`Handler::send_ready`] when woken, so the driver
    /// registers `file` on a queue of its own and wakes that one.
    pub fn poll(&self, file: &File) -> u32 {
        // SAFETY: `raw` is live (type invariant); `file` is live for the
        // call.
        unsafe { self.poll_proxy.poll(self.raw.as_ptr(), file.as_ptr()) }
    }

    /// Asks the remote to pause or resume (`rpmsg_set_flow_control`).
    pub fn set_flow_control(&self, pause: bool, dst: u32) -> Result {
        // SAFETY: `raw` is live.
        kernel::error::to_result(unsafe {
            bindings::rpmsg_set_flow_control(self.raw.as_ptr(), pause, dst)
        })
    }
}

impl<H: Handler> Drop for ClientEndpoint<H> {
    fn drop(&mut self) {
        let raw = self.raw.as_ptr();
        // The proxy leaves the transport's queue first: the transport may
        // free it once the endpoint is gone, and the handler goes below.
        self.poll_proxy.detach();
        // SAFETY: `raw` is live. Detaching our handler under the callback
        // lock, then (if ours) destroying the endpoint, guarantees that no
        // callback uses the handler once we release it.
        unsafe {
            let cookie = swap_priv(raw, core::ptr::null_mut());
            if self.adopted {
                set_flow_cb(raw, None);
            } else {
                bindings::rpmsg_destroy_ept(raw);
            }
            // A non-null `priv` is the `into_foreign` of `create` or
            // `adopt_default`, now detached.
            drop(Arc::<H>::try_from_foreign(cookie));
        }
    }
}

/// Replaces the private pointer of endpoint `ept` and returns the old one.
/// Transports call an endpoint's callbacks under its `cb_lock`, so once this
/// returns no callback sees the old pointer.
///
/// # Safety
///
/// `ept` must be a live endpoint.
unsafe fn swap_priv(
    ept: *mut bindings::rpmsg_endpoint,
    priv_: *mut kernel::ffi::c_void,
) -> *mut kernel::ffi::c_void {
    // SAFETY: `ept` is live (the caller's guarantee); `priv` is only
    // accessed under `cb_lock`, which `with_cb_lock` holds.
    unsafe { with_cb_lock(ept, || core::mem::replace(&mut (*ept).priv_, priv_)) }
}

/// Sets the flow-control callback of endpoint `ept`, under its `cb_lock`
/// (see [`swap_priv`]).
///
/// # Safety
///
/// `ept` must be a live endpoint.
unsafe fn set_flow_cb(ept: *mut bindings::rpmsg_endpoint, cb: bindings::rpmsg_flowcontrol_cb_t) {
    // SAFETY: `ept` is live (the caller's guarantee); `flow_cb` is only
    // accessed under `cb_lock`, which `with_cb_lock` holds.
    unsafe { with_cb_lock(ept, || (*ept).flow_cb = cb) }
}

/// An endpoint's stand-in on the transport's send wait queue (see
/// [`ClientEndpoint::poll`]).
///
/// A transport's poll op (`rpmsg_poll()`) registers the caller on a wait
/// queue of the transport's, e.g. virtio_rpmsg_bus's `vrp->sendq`. A file
/// polled there directly would stay on that queue until its `poll(2)`
/// returns, and the transport frees the queue when its device goes away,
/// whether or not a poll still sleeps on it (a use-after-free in
/// `poll_freewait()`, seen with the kernel's virtio_rpmsg_bus). So files
/// are never put on the transport's queue: the endpoint puts this proxy's
/// entry there once, and the entry forwards every wake-up to the handler
/// ([`Handler::send_ready`]), which wakes the driver's own queue, one that
/// lives as long as its files. The entry leaves the transport's queue when
/// the endpoint is destroyed, which transports outlive.
///
/// # Invariants
///
/// - `pt` calls [`PollProxy::queue_proc`] and `wait` calls
///   [`PollProxy::wake`] for `H`; both are only used at this address.
/// - `handler` is an `Arc<H>` (`into_foreign`) that outlives the proxy's
///   presence on any wait queue.
/// - `head` is null or the transport's queue `wait` was added to, set once
///   per attachment (`cmpxchg`), until [`PollProxy::detach`].
#[repr(C)]
#[pin_data(PinnedDrop)]
struct PollProxy<H: Handler> {
    #[pin]
    pt: Opaque<bindings::poll_table_struct>,
    #[pin]
    wait: Opaque<bindings::wait_queue_entry>,
    head: Atomic<*mut bindings::wait_queue_head>,
    handler: *mut kernel::ffi::c_void,
    _h: PhantomData<Arc<H>>,
}

impl<H: Handler> PollProxy<H> {
    /// A proxy that calls `H::send_ready` on `handler`, an `Arc<H>` from
    /// `into_foreign` that must outlive it.
    fn new(handler: *mut kernel::ffi::c_void) -> Result<Pin<KBox<Self>>> {
        KBox::pin_init(
            pin_init!(Self {
                // SAFETY: `init_poll_funcptr` only writes the table.
                pt <- Opaque::ffi_init(|pt| unsafe {
                    bindings::rpmsg_rs_init_poll_funcptr(pt, Some(Self::queue_proc))
                }),
                // SAFETY: `init_waitqueue_func_entry` only writes the entry.
                wait <- Opaque::ffi_init(|wait| unsafe {
                    bindings::rpmsg_rs_init_waitqueue_func_entry(wait, Some(Self::wake))
                }),
                head: Atomic::new(core::ptr::null_mut()),
                handler,
                _h: PhantomData,
            }),
            GFP_KERNEL,
        )
    }

    /// `rpmsg_poll()` on `ept`, registering the proxy instead of the
    /// caller's poll table, whatever the caller's table: the proxy's entry
    /// is added once and stays until the endpoint goes, so a caller that
    /// only asks for the mask costs nothing more.
    ///
    /// # Safety
    ///
    /// `ept` must be a live endpoint and `file` a live file.
    unsafe fn poll(&self, ept: *mut bindings::rpmsg_endpoint, file: *mut bindings::file) -> u32 {
        // SAFETY: `ept` and `file` are live (the caller's guarantee); `pt`
        // is an initialised poll table that calls `queue_proc` (type
        // invariant), which needs `self` pinned: it is (`Pin<KBox>`).
        unsafe { bindings::rpmsg_poll(ept, file, self.pt.get()) }
    }

    /// The poll table's queueing function: adds the proxy's entry to the
    /// transport's queue `head`, once.
    ///
    /// # Safety
    ///
    /// Called by `poll_wait()` with the `pt` of a live `PollProxy<H>` and a
    /// live wait queue that outlives the entry's presence on it.
    unsafe extern "C" fn queue_proc(
        _file: *mut bindings::file,
        head: *mut bindings::wait_queue_head,
        pt: *mut bindings::poll_table_struct,
    ) {
        // SAFETY: `pt` is the first field of a live `repr(C)` `PollProxy<H>`
        // (the caller's guarantee); `Opaque` is transparent.
        let this = unsafe { &*pt.cast::<Self>() };
        // Transports register the same queue at every poll; concurrent polls
        // agree on who adds the entry.
        if this.head.cmpxchg(core::ptr::null_mut(), head, Full).is_ok() {
            // SAFETY: `head` is live (the caller's guarantee); `wait` is an
            // initialised entry at a pinned address, on no queue (`head` was
            // null), which stays until `detach` removes it.
            unsafe { bindings::add_wait_queue(head, this.wait.get()) };
        }
    }

    /// The entry's wake function: forwards the wake-up to the handler.
    ///
    /// # Safety
    ///
    /// Called by the wait queue code, under the queue's lock, with the `wait`
    /// of a `PollProxy<H>` on that queue.
    unsafe extern "C" fn wake(
        wait: *mut bindings::wait_queue_entry,
        _mode: kernel::ffi::c_uint,
        _sync: kernel::ffi::c_int,
        key: *mut kernel::ffi::c_void,
    ) -> kernel::ffi::c_int {
        // SAFETY: `wait` is the `wait` field of a live `PollProxy<H>` (the
        // caller's guarantee): it is on a queue, so not detached and freed.
        let this =
            unsafe { &*kernel::container_of!(Opaque::cast_from(wait).cast_mut(), Self, wait) };
        // A queue freed under a live endpoint breaks the ordering described
        // on the type (`key_to_poll()`: the key carries the poll mask).
        kernel::warn_on!(key as usize as u32 & bindings::RPMSG_RS_POLLFREE != 0);
        // SAFETY: `handler` is an `Arc<H>` from `into_foreign` that outlives
        // the entry's presence on the queue (type invariant).
        unsafe { Arc::<H>::borrow(this.handler) }.send_ready();
        0
    }

    /// Leaves the transport's queue: no wake-up notifies the handler
    /// afterwards. Called with no poll running on the proxy.
    fn detach(&self) {
        let head = self.head.xchg(core::ptr::null_mut(), Full);
        if !head.is_null() {
            // SAFETY: `wait` was added to `head` by `queue_proc` (type
            // invariant), which is still live (the transport outlives the
            // endpoint, which detaches first). Removal takes the queue's
            // lock, so no wake-up runs on the entry afterwards.
            unsafe { bindings::remove_wait_queue(head, self.wait.get()) };
        }
    }
}

#[pinned_drop]
impl<H: Handler> PinnedDrop for PollProxy<H> {
    fn drop(self: Pin<&mut Self>) {
        self.detach();
    }
}

/// # Safety
///
/// Called by a transport under the endpoint's `cb_lock`, with `priv` null
/// or an `Arc<H>` of ours from `into_foreign`, and `data` valid for `len`
/// bytes.
unsafe extern "C" fn rx_cb<H: Handler>(
    rpdev: *mut bindings::rpmsg_device,
    data: *mut kernel::ffi::c_void,
    len: kernel::ffi::c_int,
    priv_: *mut kernel::ffi::c_void,
    src: u32,
) -> kernel::ffi::c_int {
    if priv_.is_null() || rpdev.is_null() {
        // Nobody attached yet (as upstream's rpmsg_char, it is dropped).
        return 0;
    }
    // SAFETY: The transport passes the endpoint's live channel.
    let rpdev = unsafe { ClientDevice::from_raw(rpdev) };
    // SAFETY: As documented: `priv_` is from `Arc::into_foreign`, and the
    // `Arc` stays while the lock is held.
    let handler = unsafe { Arc::<H>::borrow(priv_) };
    from_result(|| {
        let data = match usize::try_from(len) {
            Ok(0) => &[][..],
            // SAFETY: As documented.
            Ok(n) if !data.is_null() => unsafe {
                core::slice::from_raw_parts(data.cast::<u8>(), n)
            },
            _ => return Err(EINVAL),
        };
        handler.receive(rpdev, data, src)?;
        Ok(0)
    })
}

/// # Safety
///
/// As [`rx_cb`].
unsafe extern "C" fn flow_cb<H: Handler>(
    _rpdev: *mut bindings::rpmsg_device,
    priv_: *mut kernel::ffi::c_void,
    enable: bool,
) -> kernel::ffi::c_int {
    if !priv_.is_null() {
        // SAFETY: As documented (see `rx_cb`).
        unsafe { Arc::<H>::borrow(priv_) }.flow_control(enable);
    }
    0
}

/// What an rpmsg client driver implements.
///
/// # Examples
///
/// An echo driver on channels named `rpmsg-echo`: its default endpoint sends
/// every message back.
///
/// ```ignore
/// struct Echo;
///
/// impl rpmsg_driver::Handler for Echo {
///     fn receive(&self, rpdev: &rpmsg_driver::ClientDevice, data: &[u8], _src: u32) -> Result {
///         rpdev.send(data)
///     }
/// }
///
/// struct EchoDriver {
///     _ept: rpmsg_driver::ClientEndpoint<Echo>,
/// }
///
/// impl rpmsg_driver::Driver for EchoDriver {
///     const NAME: &'static CStr = c"rpmsg_echo";
///     const IDS: &'static [&'static CStr] = &[c"rpmsg-echo"];
///     type DefaultHandler = Echo;
///     const DEFAULT_ENDPOINT: bool = true;
///     type Context = ();
///
///     fn probe(rpdev: &rpmsg_driver::ClientDevice, (): &()) -> Result<Pin<KBox<Self>>> {
///         let ept = rpmsg_driver::ClientEndpoint::adopt_default(rpdev, Arc::new(Echo, GFP_KERNEL)?)?;
///         Ok(KBox::pin(EchoDriver { _ept: ept }, GFP_KERNEL)?)
///     }
///     fn remove(_this: Pin<KBox<Self>>, _rpdev: &rpmsg_driver::ClientDevice) {}
/// }
///
/// // In the module's `init`:
/// let reg = KBox::pin_init(rpmsg_driver::Registration::<EchoDriver>::new(module, ()), GFP_KERNEL)?;
/// ```
pub trait Driver: Send + Sync + Sized + 'static {
    /// `/sys/bus/rpmsg/drivers/<NAME>`.
    const NAME: &'static CStr;
    /// Channel names it binds to (none: only by `driver_override`); at most
    /// [`MAX_IDS`], each shorter than `RPMSG_NAME_SIZE` (checked at build
    /// time).
    const IDS: &'static [&'static CStr];
    /// Handler of the channel's default endpoint. With a handler other
    /// than [`NoHandler`], the core creates that endpoint before `probe`;
    /// messages arriving before the driver adopts it are dropped.
    type DefaultHandler: Handler;
    /// Whether the core creates a default endpoint (see
    /// [`Driver::DefaultHandler`]).
    const DEFAULT_ENDPOINT: bool;
    /// What the registration hands to every probe.
    type Context: Send + Sync;

    /// Binds the driver to channel `rpdev`.
    fn probe(rpdev: &ClientDevice, ctx: &Self::Context) -> Result<Pin<KBox<Self>>>;
    /// Unbinds the driver from `rpdev`; the channel's default endpoint is
    /// destroyed by the core after this returns.
    fn remove(this: Pin<KBox<Self>>, rpdev: &ClientDevice);
}

/// The most channel names a [`Driver`] matches.
pub const MAX_IDS: usize = 4;

/// The rpmsg bus's part of a driver [`Registration`]: fills the
/// `struct rpmsg_driver` of a [`Driver`] `T`.
pub struct Adapter<T: Driver>(PhantomData<T>);

/// A registered rpmsg client driver (see [`driver::Registration`]).
pub type Registration<T> = driver::Registration<Adapter<T>>;

/// The id table of channel names `names`, terminated by an empty entry.
const fn id_table(names: &[&CStr]) -> [bindings::rpmsg_device_id; MAX_IDS + 1] {
    const EMPTY: bindings::rpmsg_device_id = bindings::rpmsg_device_id {
        name: [0; bindings::RPMSG_NAME_SIZE as usize],
        driver_data: 0,
    };
    let mut table = [EMPTY; MAX_IDS + 1];
    assert!(names.len() <= MAX_IDS, "too many channel names");
    let mut i = 0;
    while i < names.len() {
        let name = names[i].to_bytes();
        assert!(
            name.len() < bindings::RPMSG_NAME_SIZE as usize,
            "channel name too long"
        );
        let mut j = 0;
        while j < name.len() {
            table[i].name[j] = name[j] as kernel::ffi::c_char;
            j += 1;
        }
        i += 1;
    }
    table
}

// SAFETY: `rpmsg_driver` is a C (`repr(C)`) structure that embeds its
// `struct device_driver` in `drv`; `unregister` is only called for a
// registered driver (`driver::Registration`'s invariant).
unsafe impl<T: Driver> driver::RegistrationOps for Adapter<T> {
    type RegType = bindings::rpmsg_driver;
    type Context = T::Context;
    const DEVICE_DRIVER_OFFSET: usize = core::mem::offset_of!(bindings::rpmsg_driver, drv);

    unsafe fn register(reg: &Opaque<Self::RegType>, module: &'static ThisModule) -> Result {
        let ids: &'static [bindings::rpmsg_device_id] = const { &id_table(T::IDS) };
        let drv = reg.get();
        // SAFETY: `drv` is valid for writes and not registered yet, so no
        // one else reads it. The name and the id table (a promoted
        // constant) are `'static`.
        unsafe {
            (*drv).drv.name = T::NAME.as_char_ptr();
            (*drv).id_table = if T::IDS.is_empty() {
                core::ptr::null()
            } else {
                ids.as_ptr()
            };
            (*drv).probe = Some(probe_cb::<T>);
            (*drv).remove = Some(remove_cb::<T>);
            if T::DEFAULT_ENDPOINT {
                (*drv).callback = Some(rx_cb::<T::DefaultHandler>);
            }
        }
        // SAFETY: `drv` is a filled `rpmsg_driver` that the caller keeps
        // pinned and valid until `unregister`.
        to_result(unsafe { bindings::__register_rpmsg_driver(drv, module.as_ptr()) })
    }

    unsafe fn unregister(reg: &Opaque<Self::RegType>) {
        // SAFETY: Registered (the caller's guarantee); this unbinds every
        // device first.
        unsafe { bindings::unregister_rpmsg_driver(reg.get()) };
    }
}

/// # Safety
///
/// Called by the rpmsg core for a device matching our driver.
unsafe extern "C" fn probe_cb<T: Driver>(rpdev: *mut bindings::rpmsg_device) -> kernel::ffi::c_int {
    // SAFETY: The core passes a live device, which stays so during the call.
    let dev = unsafe { ClientDevice::from_raw(rpdev) };
    // SAFETY: The device is being probed by our driver, so `dev.driver` is
    // the `struct device_driver` of a live `Registration<Adapter<T>>`, which
    // outlives the probe.
    let ctx = unsafe { Registration::<T>::context_of((*rpdev).dev.driver) };
    from_result(|| {
        let data = T::probe(dev, ctx)?;
        // SAFETY: The driver core lets only the bound driver use drvdata,
        // and probe and remove of one device do not overlap; `remove_cb`
        // takes the box back. The box is not moved out of its pin.
        unsafe {
            let raw = KBox::into_raw(Pin::into_inner_unchecked(data));
            bindings::dev_set_drvdata(&raw mut (*rpdev).dev, raw.cast());
        }
        Ok(0)
    })
}

/// # Safety
///
/// Called by the rpmsg core for a device our probe accepted.
unsafe extern "C" fn remove_cb<T: Driver>(rpdev: *mut bindings::rpmsg_device) {
    // SAFETY: The core passes a live device, which stays so during the call.
    let dev = unsafe { ClientDevice::from_raw(rpdev) };
    // SAFETY: Only computes the address of a field of the live `rpdev`.
    let drvdata = unsafe { &raw mut (*rpdev).dev };
    // SAFETY: `drvdata` is the live device of `rpdev`; only its bound driver,
    // us, uses drvdata, and `probe_cb` set it to a `KBox<T>`.
    let raw = unsafe { bindings::dev_get_drvdata(drvdata) }.cast::<T>();
    // SAFETY: As above.
    unsafe { bindings::dev_set_drvdata(drvdata, core::ptr::null_mut()) };
    if !raw.is_null() {
        // SAFETY: `raw` is the `KBox<T>` that `probe_cb` pinned and leaked;
        // it was cleared from drvdata above, so it is taken back once.
        T::remove(unsafe { Pin::new_unchecked(KBox::from_raw(raw)) }, dev);
    }
}

// Only in rpmsg_rs_kunit.ko (see rust/kunit/).
#[cfg(rpmsg_rs_kunit)]
#[kunit_tests(rpmsg_rs_driver)]
mod tests {
    use super::super::rpmsg::{
        self as transport, Channel, NewTransportEndpoint, Transport, ADDR_ANY,
    };
    use super::*;
    use kernel::{
        new_poll_condvar,
        sync::{
            aref::ARef,
            atomic::Relaxed,
            new_mutex,
            poll::{PollCondVar, PollTable},
            Mutex,
        },
    };

    const CHANNEL: &CStr = c"rpmsg-rs-kunit";
    /// The address the bus gives the first endpoint bound at `ADDR_ANY`
    /// (`transport::bind_in_table`).
    const FIRST_ADDR: u32 = 1024;
    /// Where the driver creates an endpoint of its own.
    const EXTRA_ADDR: u32 = 2000;
    const REMOTE: u32 = 0x400;
    const MTU: usize = 496;

    /// A transport that keeps an address table and records what is sent.
    #[pin_data]
    struct Bus {
        #[pin]
        bound: Mutex<KVec<(u32, ARef<transport::TransportEndpoint<Bus>>)>>,
        /// The last message sent: source, destination, length.
        #[pin]
        sent: Mutex<(u32, u32, usize)>,
        #[pin]
        sendq: PollCondVar,
    }

    impl Transport for Bus {
        fn parent(&self) -> Option<ARef<kernel::device::Device>> {
            None
        }
        fn ns_enabled(&self) -> bool {
            false
        }
        fn bind(this: &Arc<Self>, src: u32, ept: NewTransportEndpoint<Self>) -> Result<u32> {
            transport::bind_in_table(&mut this.bound.lock(), src, ept)
        }
        fn unbind(this: &Arc<Self>, addr: u32) {
            this.bound.lock().retain(|(a, _)| *a != addr);
        }
        fn send(this: &Arc<Self>, src: u32, dst: u32, data: &[u8], _: bool) -> Result {
            *this.sent.lock() = (src, dst, data.len());
            Ok(())
        }
        fn poll(this: &Arc<Self>, file: &File, table: &PollTable<'_>) -> u32 {
            table.register_wait(file, &this.sendq);
            bindings::RPMSG_RS_EPOLLOUT
        }
        fn mtu(&self) -> usize {
            MTU
        }
    }

    impl Bus {
        fn endpoint(&self, addr: u32) -> Option<ARef<transport::TransportEndpoint<Bus>>> {
            self.bound
                .lock()
                .iter()
                .find(|(a, _)| *a == addr)
                .map(|(_, e)| e.clone())
        }
    }

    /// What a handler saw.
    struct Rec {
        received: Atomic<u32>,
        len: Atomic<u32>,
        src: Atomic<u32>,
        first_byte: Atomic<u32>,
        name_matches: Atomic<bool>,
        send_ready: Atomic<u32>,
    }

    impl Rec {
        fn new() -> Self {
            Self {
                received: Atomic::new(0),
                len: Atomic::new(0),
                src: Atomic::new(0),
                first_byte: Atomic::new(0),
                name_matches: Atomic::new(false),
                send_ready: Atomic::new(0),
            }
        }
    }

    impl Handler for Rec {
        fn receive(&self, rpdev: &ClientDevice, data: &[u8], src: u32) -> Result {
            self.received.fetch_add(1, Relaxed);
            self.len.store(data.len() as u32, Relaxed);
            self.src.store(src, Relaxed);
            self.first_byte
                .store(u32::from(data.first().copied().unwrap_or(0)), Relaxed);
            self.name_matches
                .store(rpdev.info().name() == CHANNEL.to_bytes(), Relaxed);
            Ok(())
        }
        fn send_ready(&self) {
            self.send_ready.fetch_add(1, Relaxed);
        }
    }

    /// A file to poll with, made without a path (`anon_inode_getfile()`).
    struct AnonFile(*mut bindings::file);

    impl AnonFile {
        fn new() -> Result<Self> {
            // SAFETY: All-zero `file_operations` are valid: no operations.
            const FOPS: bindings::file_operations = unsafe { core::mem::zeroed() };
            // SAFETY: The name is NUL-terminated; `FOPS` is static.
            let file = unsafe {
                bindings::anon_inode_getfile(
                    c"rpmsg_rs_kunit".as_char_ptr(),
                    const { &FOPS },
                    core::ptr::null_mut(),
                    kernel::fs::file::flags::O_RDONLY as i32,
                )
            };
            Ok(Self(kernel::error::from_err_ptr(file)?))
        }

        fn file(&self) -> &File {
            // SAFETY: `self.0` is a file we hold a reference to until `drop`.
            unsafe { File::from_raw_file(self.0) }
        }
    }

    impl Drop for AnonFile {
        fn drop(&mut self) {
            // SAFETY: Gives up the reference `anon_inode_getfile()` gave us.
            unsafe { bindings::fput(self.0) };
        }
    }

    #[test]
    fn endpoints_receive_send_poll_and_detach() -> Result {
        let bus = Arc::pin_init(
            pin_init!(Bus {
                bound <- new_mutex!(KVec::new()),
                sent <- new_mutex!((0, 0, 0)),
                sendq <- new_poll_condvar!(),
            }),
            GFP_KERNEL,
        )?;
        let info = ChannelInfo::new(CHANNEL.to_bytes(), ADDR_ANY, REMOTE)?;
        let ch = Channel::unregistered(&bus, &info)?;
        let raw = ch.as_raw();
        // As the rpmsg core does before probing a driver with a callback:
        // the default endpoint, with the driver's callback and no `priv`.
        // SAFETY: `raw` is a live channel of ours.
        let default_raw = unsafe {
            let ept = bindings::rpmsg_create_ept(
                raw,
                Some(rx_cb::<Rec>),
                core::ptr::null_mut(),
                info.to_c(),
            );
            (*raw).ept = ept;
            ept
        };
        assert!(!default_raw.is_null());
        // SAFETY: `raw` lives until the end of the test.
        let rpdev = unsafe { ClientDevice::from_raw(raw) };

        // Nobody adopted the endpoint yet: its messages are dropped.
        let mut msg = [7u8, 8, 9];
        bus.endpoint(FIRST_ADDR)
            .ok_or(ENOENT)?
            .deliver(&mut msg, REMOTE)?;

        let default_rec = Arc::new(Rec::new(), GFP_KERNEL)?;
        let extra_rec = Arc::new(Rec::new(), GFP_KERNEL)?;
        let default = ClientEndpoint::adopt_default(rpdev, default_rec.clone())?;
        assert_eq!(default.addr(), FIRST_ADDR);
        // Taken: a second adoption fails.
        assert!(
            matches!(ClientEndpoint::adopt_default(rpdev, default_rec.clone()), Err(e) if e == EBUSY)
        );
        let extra_info = ChannelInfo::new(b"extra", EXTRA_ADDR, ADDR_ANY)?;
        let extra = ClientEndpoint::create(rpdev, extra_rec.clone(), &extra_info)?;
        assert_eq!(extra.addr(), EXTRA_ADDR);

        // What the remote sends reaches the handler of each endpoint.
        bus.endpoint(FIRST_ADDR)
            .ok_or(ENOENT)?
            .deliver(&mut msg, REMOTE)?;
        assert_eq!(default_rec.received.load(Relaxed), 1);
        assert_eq!(
            (default_rec.len.load(Relaxed), default_rec.src.load(Relaxed)),
            (3, REMOTE)
        );
        assert_eq!(default_rec.first_byte.load(Relaxed), 7);
        assert!(default_rec.name_matches.load(Relaxed));
        let mut msg = [1u8; 5];
        bus.endpoint(EXTRA_ADDR)
            .ok_or(ENOENT)?
            .deliver(&mut msg, 77)?;
        assert_eq!(extra_rec.received.load(Relaxed), 1);
        assert_eq!(extra_rec.src.load(Relaxed), 77);
        assert_eq!(default_rec.received.load(Relaxed), 1);

        // Sending goes to the transport from the endpoint's address.
        rpdev.send(b"hey")?;
        assert_eq!(*bus.sent.lock(), (FIRST_ADDR, REMOTE, 3));
        default.send_to(b"hello", REMOTE, false)?;
        assert_eq!(*bus.sent.lock(), (FIRST_ADDR, REMOTE, 5));
        extra.send_to(b"hi", 99, true)?;
        assert_eq!(*bus.sent.lock(), (EXTRA_ADDR, 99, 2));

        // Polling puts the endpoint's proxy on the transport's queue once,
        // however often it polls; a wake-up there reaches `send_ready`.
        let file = AnonFile::new()?;
        for _ in 0..3 {
            assert_eq!(default.poll(file.file()), bindings::RPMSG_RS_EPOLLOUT);
        }
        bus.sendq.notify_all();
        assert_eq!(default_rec.send_ready.load(Relaxed), 1);
        assert_eq!(extra_rec.send_ready.load(Relaxed), 0);

        // Dropped, an endpoint of the driver's own leaves the bus; an adopted
        // one detaches (the core destroys it), and leaves the queue.
        drop(extra);
        assert!(bus.endpoint(EXTRA_ADDR).is_none());
        drop(default);
        bus.sendq.notify_all();
        assert_eq!(default_rec.send_ready.load(Relaxed), 1);
        let mut msg = [2u8; 2];
        bus.endpoint(FIRST_ADDR)
            .ok_or(ENOENT)?
            .deliver(&mut msg, REMOTE)?;
        assert_eq!(default_rec.received.load(Relaxed), 1);
        // SAFETY: As the rpmsg core does after the driver's removal.
        unsafe { bindings::rpmsg_destroy_ept(default_raw) };
        assert!(bus.endpoint(FIRST_ADDR).is_none());
        drop(file);
        drop(ch);
        Ok(())
    }

    struct Unbound;

    impl Driver for Unbound {
        const NAME: &'static CStr = c"rpmsg_rs_kunit";
        const IDS: &'static [&'static CStr] = &[c"rpmsg-rs-other", CHANNEL];
        type DefaultHandler = NoHandler;
        const DEFAULT_ENDPOINT: bool = false;
        type Context = u32;

        fn probe(_: &ClientDevice, _: &u32) -> Result<Pin<KBox<Self>>> {
            Err(ENODEV)
        }
        fn remove(_: Pin<KBox<Self>>, _: &ClientDevice) {}
    }

    #[test]
    fn registration_fills_the_driver_and_unregisters() -> Result {
        let module = kernel::module::this_module::<crate::LocalModule>();
        let reg = KBox::pin_init(Registration::<Unbound>::new(module, 7), GFP_KERNEL)?;
        let raw = reg.as_raw();
        // SAFETY: `raw` is registered and lives as long as `reg`; the rpmsg
        // core does not change these fields.
        let drv = unsafe { &*raw };
        assert!(drv.probe.is_some() && drv.remove.is_some());
        assert!(drv.callback.is_none());
        // SAFETY: The id table has `IDS.len() + 1` entries.
        let ids = unsafe { core::slice::from_raw_parts(drv.id_table, 3) };
        assert!(ids[1].name[..CHANNEL.to_bytes().len()] == *CHANNEL.to_bytes());
        assert_eq!(ids[2].name[0], 0);
        assert_eq!(*reg.context(), 7);
        driver::check_context_and_unique_name(module, reg)
    }

    #[test]
    fn id_table_lists_names_then_a_terminator() {
        let table = id_table(&[c"a", c"rpmsg-raw"]);
        let name = |i: usize| table[i].name.iter().take_while(|&&c| c != 0).copied();
        assert!(name(0).eq(*b"a"));
        assert!(name(1).eq(*b"rpmsg-raw"));
        assert!(table[2..].iter().all(|id| id.name[0] == 0));
    }
}
