// SPDX-License-Identifier: GPL-2.0

//! rpmsg client drivers (`include/linux/rpmsg.h`): drivers on the rpmsg bus
//! and the endpoints they own. Works on every transport, the kernel's C
//! virtio bus as well as ours.

use super::bindings;
use super::channel_info::ChannelInfo;
use core::marker::PhantomData;
use core::ptr::NonNull;
use kernel::{
    error::from_result,
    fs::File,
    prelude::*,
    sync::{aref::AlwaysRefCounted, Arc},
    types::{ForeignOwnable, Opaque},
};

/// A channel device on the rpmsg bus, as client drivers see it.
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
/// # Invariants
///
/// `raw` is a live endpoint whose `priv` holds an `Arc<H>` of ours
/// (`into_foreign`). If `adopted`, it is the channel's default endpoint,
/// destroyed by the rpmsg core, and we only detach from it; otherwise we
/// destroy it. `poll_proxy` notifies that same `Arc<H>` until it is detached
/// in `drop`.
pub struct ClientEndpoint<H: Handler> {
    raw: NonNull<bindings::rpmsg_endpoint>,
    poll_proxy: PollProxy,
    adopted: bool,
    _h: PhantomData<Arc<H>>,
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
        let Ok(poll_proxy) = PollProxy::new::<H>(cookie) else {
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
        // SAFETY: `raw` is live.
        unsafe { bindings::rpmsg_rs_ept_set_flow_cb(raw.as_ptr(), Some(flow_cb::<H>)) };
        // INVARIANT: Created with our `Arc` as `priv`, which the proxy
        // notifies.
        Ok(Self {
            raw,
            poll_proxy,
            adopted: false,
            _h: PhantomData,
        })
    }

    /// Takes over the channel's default endpoint, which the core created
    /// with the driver's callback (see [`Driver`]).
    pub fn adopt_default(rpdev: &ClientDevice, handler: Arc<H>) -> Result<Self> {
        // SAFETY: `rpdev` is live.
        let raw = NonNull::new(unsafe { (*rpdev.as_raw()).ept }).ok_or(EINVAL)?;
        let cookie = handler.into_foreign();
        let Ok(poll_proxy) = PollProxy::new::<H>(cookie) else {
            // SAFETY: From `into_foreign` above, not handed out: take the
            // reference back.
            drop(unsafe { Arc::<H>::from_foreign(cookie) });
            return Err(ENOMEM);
        };
        // SAFETY: `raw` is live; its callback is our `rx_cb::<H>` (the
        // driver's), which reads `priv` under the lock we swap it under.
        let old = unsafe { bindings::rpmsg_rs_ept_swap_priv(raw.as_ptr(), cookie) };
        if !old.is_null() {
            drop(poll_proxy);
            // SAFETY: Someone else adopted it first; restore and give up.
            // `cookie` is ours from `into_foreign` again (swapped back out);
            // the proxy, which had it too, is gone.
            unsafe {
                bindings::rpmsg_rs_ept_swap_priv(raw.as_ptr(), old);
                drop(Arc::<H>::from_foreign(cookie));
            }
            return Err(EBUSY);
        }
        // SAFETY: `raw` is live.
        unsafe { bindings::rpmsg_rs_ept_set_flow_cb(raw.as_ptr(), Some(flow_cb::<H>)) };
        // INVARIANT: Our `Arc` is in `priv`, and the proxy notifies it; the
        // core owns the endpoint.
        Ok(Self {
            raw,
            poll_proxy,
            adopted: true,
            _h: PhantomData,
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
        // SAFETY: `raw` and `poll_proxy` are live (type invariants); `file`
        // is valid for the call.
        unsafe {
            bindings::rpmsg_rs_poll_proxy_poll(
                self.poll_proxy.0.as_ptr(),
                self.raw.as_ptr(),
                file.as_ptr(),
            )
        }
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
            let cookie = bindings::rpmsg_rs_ept_swap_priv(raw, core::ptr::null_mut());
            if self.adopted {
                bindings::rpmsg_rs_ept_set_flow_cb(raw, None);
            } else {
                bindings::rpmsg_destroy_ept(raw);
            }
            // A non-null `priv` is the `into_foreign` of `create` or
            // `adopt_default`, now detached.
            drop(Arc::<H>::try_from_foreign(cookie));
        }
    }
}

/// An endpoint's stand-in on the transport's send wait queue (see
/// [`ClientEndpoint::poll`] and `rpmsg_driver_helpers.c`).
///
/// # Invariants
///
/// `0` was allocated by `rpmsg_rs_poll_proxy_new` and is freed on drop; it
/// notifies an `Arc<H>` that outlives it or its [`PollProxy::detach`].
struct PollProxy(NonNull<bindings::rpmsg_rs_poll_proxy>);

impl PollProxy {
    /// A proxy that calls `H::send_ready` on `handler`, an `Arc<H>` from
    /// `into_foreign` that must outlive it.
    fn new<H: Handler>(handler: *mut kernel::ffi::c_void) -> Result<Self> {
        // SAFETY: No preconditions; the callback matches `handler`'s type.
        let raw = unsafe { bindings::rpmsg_rs_poll_proxy_new(Some(send_ready_cb::<H>), handler) };
        // INVARIANT: Freshly allocated by the helper.
        Ok(Self(NonNull::new(raw).ok_or(ENOMEM)?))
    }

    /// Leaves the transport's queue: no wake-up notifies the handler
    /// afterwards. Polls go through `&ClientEndpoint`, so none runs now.
    fn detach(&mut self) {
        // SAFETY: By the type invariants.
        unsafe { bindings::rpmsg_rs_poll_proxy_detach(self.0.as_ptr()) };
    }
}

impl Drop for PollProxy {
    fn drop(&mut self) {
        // SAFETY: By the type invariants; it leaves the transport's queue
        // under that queue's lock, so no wake-up runs on it afterwards.
        unsafe { bindings::rpmsg_rs_poll_proxy_free(self.0.as_ptr()) };
    }
}

/// # Safety
///
/// Called by an attached [`PollProxy`] with the `Arc<H>` it was created
/// with, which is alive until the proxy is detached.
unsafe extern "C" fn send_ready_cb<H: Handler>(data: *mut kernel::ffi::c_void) {
    // SAFETY: As documented: `data` is from `Arc::into_foreign`, and the
    // `Arc` outlives the call.
    let handler = unsafe { Arc::<H>::borrow(data) };
    handler.send_ready();
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
pub trait Driver: Send + Sync + Sized + 'static {
    /// `/sys/bus/rpmsg/drivers/<NAME>`.
    const NAME: &'static CStr;
    /// Channel names it binds to (none: only by `driver_override`).
    const IDS: &'static [&'static CStr];
    /// Handler of the channel's default endpoint. With a handler other
    /// than [`NoHandler`], the core creates that endpoint before `probe`;
    /// messages arriving before the driver adopts it are dropped.
    type DefaultHandler: Handler;
    const DEFAULT_ENDPOINT: bool;
    /// What the registration hands to every probe.
    type Context: Send + Sync;

    fn probe(rpdev: &ClientDevice, ctx: &Self::Context) -> Result<Pin<KBox<Self>>>;
    fn remove(this: Pin<KBox<Self>>, rpdev: &ClientDevice);
}

/// A registered rpmsg driver.
///
/// # Invariants
///
/// `drv` is registered until `drop`; `ids` outlives it.
pub struct Registration<T: Driver> {
    inner: Pin<KBox<RegInner<T>>>,
    _ids: KVec<bindings::rpmsg_device_id>,
}

/// The C driver and what probe needs, at a fixed address.
#[repr(C)]
struct RegInner<T: Driver> {
    drv: Opaque<bindings::rpmsg_driver>,
    ctx: T::Context,
}

// SAFETY: Unregistering may happen on any thread.
unsafe impl<T: Driver> Send for Registration<T> {}
// SAFETY: No `&self` methods.
unsafe impl<T: Driver> Sync for Registration<T> {}

impl<T: Driver> Registration<T> {
    pub fn new(module: &'static ThisModule, ctx: T::Context) -> Result<Self> {
        let mut ids = KVec::with_capacity(T::IDS.len() + 1, GFP_KERNEL)?;
        for name in T::IDS {
            let info = ChannelInfo::new(name.to_bytes(), 0, 0)?;
            let id = bindings::rpmsg_device_id {
                name: info.to_c().name,
                ..Default::default()
            };
            ids.push(id, GFP_KERNEL)?;
        }
        ids.push(bindings::rpmsg_device_id::default(), GFP_KERNEL)?;
        let inner = KBox::pin(
            RegInner::<T> {
                drv: Opaque::uninit(),
                ctx,
            },
            GFP_KERNEL,
        )?;
        type RxCb = unsafe extern "C" fn(
            *mut bindings::rpmsg_device,
            *mut kernel::ffi::c_void,
            kernel::ffi::c_int,
            *mut kernel::ffi::c_void,
            u32,
        ) -> kernel::ffi::c_int;
        let callback: Option<RxCb> = T::DEFAULT_ENDPOINT.then_some(rx_cb::<T::DefaultHandler>);
        let ids_ptr = if T::IDS.is_empty() {
            core::ptr::null()
        } else {
            ids.as_ptr()
        };
        // SAFETY: `inner` is pinned and lives until `drop`, which
        // unregisters it; the name and `ids` live as long.
        kernel::error::to_result(unsafe {
            bindings::rpmsg_rs_register_rpmsg_driver(
                inner.drv.get(),
                T::NAME.as_char_ptr(),
                module.as_ptr(),
                ids_ptr,
                Some(probe_cb::<T>),
                Some(remove_cb::<T>),
                callback,
            )
        })?;
        Ok(Self { inner, _ids: ids })
    }
}

impl<T: Driver> Drop for Registration<T> {
    fn drop(&mut self) {
        // SAFETY: Registered in `new`; this unbinds every device.
        unsafe { bindings::unregister_rpmsg_driver(self.inner.drv.get()) };
    }
}

/// # Safety
///
/// Called by the rpmsg core for a device matching our driver.
unsafe extern "C" fn probe_cb<T: Driver>(rpdev: *mut bindings::rpmsg_device) -> kernel::ffi::c_int {
    // SAFETY: The core passes a live device.
    let dev = unsafe { ClientDevice::from_raw(rpdev) };
    // SAFETY: The device is bound to our driver, whose `drv` is the first
    // field of a live `RegInner<T>`.
    let ctx = unsafe { &(*bindings::rpmsg_rs_driver_of(rpdev).cast::<RegInner<T>>()).ctx };
    from_result(|| {
        let data = T::probe(dev, ctx)?;
        // SAFETY: `remove_cb` takes the box back.
        unsafe {
            let raw = KBox::into_raw(Pin::into_inner_unchecked(data));
            bindings::rpmsg_rs_set_drvdata(rpdev, raw.cast());
        }
        Ok(0)
    })
}

/// # Safety
///
/// Called by the rpmsg core for a device our probe accepted.
unsafe extern "C" fn remove_cb<T: Driver>(rpdev: *mut bindings::rpmsg_device) {
    // SAFETY: The core passes a live device; drvdata is the box from probe.
    unsafe {
        let dev = ClientDevice::from_raw(rpdev);
        let raw = bindings::rpmsg_rs_get_drvdata(rpdev).cast::<T>();
        bindings::rpmsg_rs_set_drvdata(rpdev, core::ptr::null_mut());
        if !raw.is_null() {
            T::remove(Pin::new_unchecked(KBox::from_raw(raw)), dev);
        }
    }
}
