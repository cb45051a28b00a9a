// SPDX-License-Identifier: GPL-2.0

//! The transport side of the kernel's rpmsg core
//! (`drivers/rpmsg/rpmsg_internal.h`): channel devices on the rpmsg bus and
//! endpoints, for a transport written in Rust. The core and every rpmsg
//! client driver (rpmsg_char, rpmsg_ctrl, rpmsg_tty, ...) see the usual C
//! structures; their operations land in a [`Transport`].

use super::bindings;
use super::rpmsg_core::{with_cb_lock, ChannelInfo};
use crate::proto::msg::{Name, NsMsg, NS_ADDR, NS_MSG_LEN};
use core::ptr::NonNull;
use kernel::{
    error::from_result,
    fs::File,
    prelude::*,
    sync::{
        aref::{ARef, AlwaysRefCounted},
        poll::PollTable,
        Arc,
    },
    types::Opaque,
};

/// The wildcard address.
pub const ADDR_ANY: u32 = bindings::RPMSG_ADDR_ANY;

// The protocol code is little-endian only (see rust/proto/src/msg.rs).
const _: () = assert!(cfg!(target_endian = "little"));

/// What an rpmsg transport implements.
///
/// # Examples
///
/// A transport that keeps its endpoints in a table under a lock (see the
/// KUnit suites of this file and of `rpmsg_driver.rs` for complete ones):
///
/// ```ignore
/// fn bind(this: &Arc<Self>, src: u32, ept: NewTransportEndpoint<Self>) -> Result<u32> {
///     let mut table = this.endpoints.lock();
///     let addr = if src == ADDR_ANY { table.free_addr()? } else { src };
///     // The address is set before the endpoint is reachable.
///     table.insert(addr, ept.at(addr))?;
///     Ok(addr)
/// }
/// ```
pub trait Transport: Send + Sync + Sized + 'static {
    /// The device channels are created under; `None` once the transport's
    /// device is gone (the transport object may outlive it, held by
    /// endpoints and channels that userspace still references).
    fn parent(&self) -> Option<ARef<kernel::device::Device>>;
    /// Whether the remote wants name-service announcements.
    fn ns_enabled(&self) -> bool;
    /// Binds `ept` at address `src` ([`ADDR_ANY`]: a free one) and returns
    /// the address: gives `ept` its address ([`NewTransportEndpoint::at`]) before
    /// making it reachable, and keeps it until [`Transport::unbind`].
    fn bind(this: &Arc<Self>, src: u32, ept: NewTransportEndpoint<Self>) -> Result<u32>;
    /// Forgets the endpoint at `addr`.
    fn unbind(this: &Arc<Self>, addr: u32);
    /// Sends `data` from `src` to `dst`, waiting for a buffer if `wait`.
    fn send(this: &Arc<Self>, src: u32, dst: u32, data: &[u8], wait: bool) -> Result;
    /// Poll support for senders: the mask (`EPOLLOUT` when a send would
    /// not block), registering `table` for wake-ups.
    fn poll(this: &Arc<Self>, file: &File, table: &PollTable<'_>) -> u32;
    /// Largest payload of one message.
    fn mtu(&self) -> usize;
}

/// An rpmsg endpoint of transport `T`.
///
/// # Examples
///
/// A transport delivering a received message to the endpoint bound at its
/// destination:
///
/// ```ignore
/// if let Some(ept) = this.endpoints.lock().get(&dst).cloned() {
///     ept.deliver(&mut payload, src)?;
/// }
/// ```
///
/// # Invariants
///
/// `raw` is initialised (kref, cb_lock, ops) and lives at a fixed address
/// until its kref drops to zero, which frees the allocation.
#[repr(C)]
pub struct TransportEndpoint<T: Transport> {
    raw: Opaque<bindings::rpmsg_endpoint>,
    transport: Arc<T>,
}

// SAFETY: The C endpoint is refcounted and locked internally.
unsafe impl<T: Transport> Send for TransportEndpoint<T> {}
// SAFETY: See `Send`.
unsafe impl<T: Transport> Sync for TransportEndpoint<T> {}

// SAFETY: The kref embedded in the C endpoint governs its lifetime.
unsafe impl<T: Transport> AlwaysRefCounted for TransportEndpoint<T> {
    fn inc_ref(&self) {
        // SAFETY: `self` is live, so its kref is initialised and non-zero
        // (`kref_get()`).
        unsafe { bindings::refcount_inc(&raw mut (*self.raw.get()).refcount.refcount) }
    }

    unsafe fn dec_ref(obj: NonNull<Self>) {
        // SAFETY: `obj` is live: the caller owns a reference to it, which it
        // gives up here (`kref_put()`).
        let kref = unsafe { &raw mut (*(*obj.as_ptr()).raw.get()).refcount };
        // SAFETY: As above: the kref is initialised and non-zero.
        if unsafe { bindings::refcount_dec_and_test(&raw mut (*kref).refcount) } {
            // SAFETY: That was the last reference: no one else uses the
            // endpoint, which is an `TransportEndpoint<T>` (type of `obj`).
            unsafe { release_ept::<T>(kref) };
        }
    }
}

/// An endpoint that only its creator knows of, being bound: its address
/// can still be set without racing with a reader.
///
/// # Examples
///
/// See [`Transport`]: `ept.at(addr)` before the endpoint is published.
///
/// # Invariants
///
/// `0` is a live endpoint that no other thread can reach until it is given
/// out by [`NewTransportEndpoint::at`], and whose creator does not read its address
/// before then.
pub struct NewTransportEndpoint<T: Transport>(ARef<TransportEndpoint<T>>);

impl<T: Transport> NewTransportEndpoint<T> {
    /// Sets the endpoint's address and hands it out, to be published.
    pub fn at(self, addr: u32) -> ARef<TransportEndpoint<T>> {
        // SAFETY: `raw` is live, and by the type invariant nothing else
        // reads or writes `addr` concurrently: this write happens before
        // the endpoint becomes reachable (the caller publishes the returned
        // reference under its own lock, which orders the two).
        unsafe { (*self.0.raw.get()).addr = addr };
        self.0
    }
}

impl<T: Transport> TransportEndpoint<T> {
    /// # Safety
    ///
    /// `ptr` must be the `raw` field of a live `TransportEndpoint<T>`.
    unsafe fn from_raw<'a>(ptr: *mut bindings::rpmsg_endpoint) -> &'a Self {
        // SAFETY: `raw` is the first field of a `repr(C)` struct.
        unsafe { &*ptr.cast::<Self>() }
    }

    /// The endpoint's local address.
    pub fn addr(&self) -> u32 {
        // SAFETY: `raw` is live; `addr` is only written before the endpoint
        // is reachable (`NewTransportEndpoint::at`).
        unsafe { (*self.raw.get()).addr }
    }

    /// Hands a received message to the endpoint's callback; callbacks of one
    /// endpoint run one at a time, never after the endpoint is destroyed.
    /// `data` is the transport's private copy (the callback may not keep it).
    pub fn deliver(&self, data: &mut [u8], src: u32) -> Result {
        let len = i32::try_from(data.len()).map_err(|_| EINVAL)?;
        let raw = self.raw.get();
        // SAFETY: `raw` is live (type invariant). Its `cb`, `priv` and
        // `rpdev` are read under `cb_lock`, which whoever changes `cb` or
        // `priv` holds (`destroy_ept`, client drivers), so a callback
        // cleared by `destroy_ept` is never called afterwards, and one runs
        // at a time. The callback gets `data`, valid for `len` bytes for the
        // call, as `rpmsg_rx_cb_t` requires.
        let ret = unsafe {
            with_cb_lock(raw, || match (*raw).cb {
                Some(cb) => cb(
                    (*raw).rpdev,
                    data.as_mut_ptr().cast(),
                    len,
                    (*raw).priv_,
                    src,
                ),
                None => 0,
            })
        };
        kernel::error::to_result(ret)
    }

    fn channel_dst(&self) -> u32 {
        // SAFETY: `raw` is live; `rpdev` is set at creation and the channel
        // outlives its endpoints' use by its driver.
        unsafe {
            let rpdev = (*self.raw.get()).rpdev;
            if rpdev.is_null() {
                ADDR_ANY
            } else {
                (*rpdev).dst
            }
        }
    }

    /// Allocates an endpoint for channel `rpdev` and binds it.
    fn create(
        transport: &Arc<T>,
        rpdev: *mut bindings::rpmsg_device,
        cb: bindings::rpmsg_rx_cb_t,
        priv_: *mut kernel::ffi::c_void,
        src: u32,
    ) -> Result<NonNull<bindings::rpmsg_endpoint>> {
        let ept = KBox::new(
            Self {
                raw: Opaque::zeroed(),
                transport: transport.clone(),
            },
            GFP_KERNEL,
        )?;
        let ept = KBox::into_raw(ept);
        // SAFETY: `ept` is a fresh, never-moved allocation that no one else
        // knows of, so writing its fields races with nothing. The kref
        // starts at one reference (the caller's; `kref_init()`), dropped
        // by `release_ept`, which frees the allocation; `cb_lock` is
        // initialised in place (`mutex_init()`), with a name and a static
        // lock class as its C twin.
        let raw = unsafe {
            let raw = (*ept).raw.get();
            bindings::refcount_set(&raw mut (*raw).refcount.refcount, 1);
            bindings::__mutex_init(
                &raw mut (*raw).cb_lock,
                c"&ept->cb_lock".as_char_ptr(),
                kernel::sync::static_lock_class!().as_ptr(),
            );
            (*raw).rpdev = rpdev;
            (*raw).cb = cb;
            (*raw).priv_ = priv_;
            (*raw).ops = const { &Self::OPS };
            (*raw).addr = ADDR_ANY;
            raw
        };
        // SAFETY: Initialised just now.
        let this = unsafe { Self::from_raw(raw) };
        // INVARIANT: Nobody else knows of the endpoint yet, and we do not
        // read its address before `bind` returns.
        match T::bind(transport, src, NewTransportEndpoint(ARef::from(this))) {
            Ok(_) => {
                // SAFETY: `raw` is not null.
                Ok(unsafe { NonNull::new_unchecked(raw) })
            }
            Err(e) => {
                // SAFETY: Drops the caller's reference: frees the endpoint.
                unsafe { Self::dec_ref(NonNull::from(this)) };
                Err(e)
            }
        }
    }

    const OPS: bindings::rpmsg_endpoint_ops = bindings::rpmsg_endpoint_ops {
        destroy_ept: Some(destroy_ept::<T>),
        send: Some(send_cb::<T>),
        sendto: Some(sendto_cb::<T>),
        trysend: Some(trysend_cb::<T>),
        trysendto: Some(trysendto_cb::<T>),
        poll: Some(poll_cb::<T>),
        set_flow_control: None,
        get_mtu: Some(get_mtu_cb::<T>),
    };
}

/// # Safety
///
/// Called by the kref of an `TransportEndpoint<T>` when it drops to zero.
unsafe extern "C" fn release_ept<T: Transport>(kref: *mut bindings::kref) {
    // SAFETY: `kref` is embedded in `raw`, the first field of the endpoint.
    let raw = unsafe { kernel::container_of!(kref, bindings::rpmsg_endpoint, refcount) };
    // SAFETY: Last reference: nobody else uses the endpoint; it came from
    // `KBox::into_raw` in `create`.
    drop(unsafe { KBox::from_raw(raw.cast::<TransportEndpoint<T>>()) });
}

/// # Safety
///
/// Called by the rpmsg core with an endpoint of ours; gives up the
/// creator's reference.
unsafe extern "C" fn destroy_ept<T: Transport>(raw: *mut bindings::rpmsg_endpoint) {
    // SAFETY: A live endpoint of ours.
    let ept = unsafe { TransportEndpoint::<T>::from_raw(raw) };
    T::unbind(&ept.transport, ept.addr());
    // SAFETY: `raw` is live. Taking `cb_lock` waits for a running callback
    // (`deliver` holds it); callbacks are only read under it.
    unsafe { with_cb_lock(raw, || (*raw).cb = None) };
    // SAFETY: The creator's reference, given up by destroying.
    unsafe { TransportEndpoint::<T>::dec_ref(NonNull::from(ept)) };
}

/// # Safety
///
/// `data` must be valid for `len` bytes when `len > 0`.
unsafe fn payload<'a>(
    data: *const kernel::ffi::c_void,
    len: kernel::ffi::c_int,
) -> Result<&'a [u8]> {
    match usize::try_from(len) {
        Ok(0) => Ok(&[]),
        Ok(n) if !data.is_null() => {
            // SAFETY: The caller's promise.
            Ok(unsafe { core::slice::from_raw_parts(data.cast::<u8>(), n) })
        }
        _ => Err(EINVAL),
    }
}

macro_rules! send_callback {
    ($name:ident, $wait:expr, to) => {
        /// # Safety
        ///
        /// Called by the rpmsg core with an endpoint of ours and a valid buffer.
        unsafe extern "C" fn $name<T: Transport>(
            raw: *mut bindings::rpmsg_endpoint,
            data: *const kernel::ffi::c_void,
            len: kernel::ffi::c_int,
            dst: u32,
        ) -> kernel::ffi::c_int {
            let (ept, data) =
                // SAFETY: As documented.
                unsafe { (TransportEndpoint::<T>::from_raw(raw), payload(data, len)) };
            from_result(|| {
                T::send(&ept.transport, ept.addr(), dst, data?, $wait)?;
                Ok(0)
            })
        }
    };
    ($name:ident, $wait:expr) => {
        /// # Safety
        ///
        /// Called by the rpmsg core with an endpoint of ours and a valid buffer.
        unsafe extern "C" fn $name<T: Transport>(
            raw: *mut bindings::rpmsg_endpoint,
            data: *const kernel::ffi::c_void,
            len: kernel::ffi::c_int,
        ) -> kernel::ffi::c_int {
            let (ept, data) =
                // SAFETY: As documented.
                unsafe { (TransportEndpoint::<T>::from_raw(raw), payload(data, len)) };
            let dst = ept.channel_dst();
            from_result(|| {
                T::send(&ept.transport, ept.addr(), dst, data?, $wait)?;
                Ok(0)
            })
        }
    };
}

send_callback!(send_cb, true);
send_callback!(trysend_cb, false);
send_callback!(sendto_cb, true, to);
send_callback!(trysendto_cb, false, to);

/// # Safety
///
/// Called by the rpmsg core with an endpoint of ours, a live file and a
/// poll table valid for the call.
unsafe extern "C" fn poll_cb<T: Transport>(
    raw: *mut bindings::rpmsg_endpoint,
    filp: *mut bindings::file,
    wait: *mut bindings::poll_table,
) -> bindings::__poll_t {
    // SAFETY: As documented.
    let (ept, file, table) = unsafe {
        (
            TransportEndpoint::<T>::from_raw(raw),
            File::from_raw_file(filp),
            PollTable::from_raw(wait),
        )
    };
    T::poll(&ept.transport, file, &table)
}

/// # Safety
///
/// Called by the rpmsg core with an endpoint of ours.
unsafe extern "C" fn get_mtu_cb<T: Transport>(raw: *mut bindings::rpmsg_endpoint) -> isize {
    // SAFETY: As documented.
    let ept = unsafe { TransportEndpoint::<T>::from_raw(raw) };
    ept.transport.mtu() as isize
}

/// A channel device on the rpmsg bus, owned by the driver core once
/// registered (its release callback frees it).
///
/// # Examples
///
/// A transport creating the channel a name-service announcement names, and
/// removing it again:
///
/// ```ignore
/// let info = ChannelInfo::new(b"rpmsg-raw", ADDR_ANY, 0x400)?;
/// Channel::register(&this, &info, ChannelKind::Remote)?;
/// // ...
/// Channel::unregister(&this, &info)?;
/// ```
#[repr(C)]
pub struct Channel<T: Transport> {
    raw: Opaque<bindings::rpmsg_device>,
    transport: Arc<T>,
}

/// How a channel is registered.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum ChannelKind {
    /// A channel announced by the remote.
    Remote,
    /// A channel created locally (`RPMSG_CREATE_DEV_IOCTL`): announced to
    /// the remote when it has a fixed local address, as upstream does.
    Local,
    /// The control device `rpmsg_ctrl` binds to.
    Ctrl,
}

impl<T: Transport> Channel<T> {
    /// # Safety
    ///
    /// `ptr` must be the `raw` field of a live `Channel<T>`.
    unsafe fn from_raw<'a>(ptr: *mut bindings::rpmsg_device) -> &'a Self {
        // SAFETY: `raw` is the first field of a `repr(C)` struct.
        unsafe { &*ptr.cast::<Self>() }
    }

    /// A channel device not known to the driver core yet, all zeroes.
    fn alloc(transport: &Arc<T>) -> Result<KBox<Self>> {
        Ok(KBox::new(
            Self {
                raw: Opaque::zeroed(),
                transport: transport.clone(),
            },
            GFP_KERNEL,
        )?)
    }

    /// A channel that is not registered: what a test needs to create and
    /// adopt endpoints through the rpmsg core's operations.
    #[cfg(rpmsg_rs_kunit)]
    pub(crate) fn unregistered(transport: &Arc<T>, info: &ChannelInfo) -> Result<KBox<Self>> {
        let ch = Self::alloc(transport)?;
        // SAFETY: `ch` is ours alone; these fields are plain data.
        unsafe {
            let raw = ch.raw.get();
            (*raw).id.name = info.to_c().name;
            (*raw).src = info.src;
            (*raw).dst = info.dst;
            (*raw).ops = const { &Self::OPS };
        }
        Ok(ch)
    }

    /// The C channel device.
    #[cfg(rpmsg_rs_kunit)]
    pub(crate) fn as_raw(&self) -> *mut bindings::rpmsg_device {
        self.raw.get()
    }

    /// Creates and registers a channel under the transport's parent device.
    /// Fails with `EEXIST` if an identical channel exists.
    pub fn register(
        transport: &Arc<T>,
        info: &ChannelInfo,
        kind: ChannelKind,
    ) -> Result<NonNull<bindings::rpmsg_device>> {
        let parent = transport.parent().ok_or(ENODEV)?;
        if kind != ChannelKind::Ctrl && Self::exists(transport, info) {
            return Err(EEXIST);
        }
        let ch = Self::alloc(transport)?;
        let ch = KBox::into_raw(ch);
        // SAFETY: `ch` is a fresh, never-moved allocation; once registration
        // starts, the driver core owns it and frees it via
        // `release_channel`.
        let ret = unsafe {
            let raw = (*ch).raw.get();
            (*raw).dev.parent = raw_device(&parent);
            (*raw).dev.release = Some(release_channel::<T>);
            let raw_info = info.to_c();
            (*raw).id.name = raw_info.name;
            (*raw).src = info.src;
            (*raw).dst = info.dst;
            (*raw).announce = kind == ChannelKind::Local && info.src != ADDR_ANY;
            (*raw).little_endian = true;
            (*raw).ops = const { &Self::OPS };
            if kind == ChannelKind::Ctrl {
                bindings::rpmsg_register_device_override(raw, c"rpmsg_ctrl".as_char_ptr())
            } else {
                bindings::rpmsg_register_device(raw)
            }
        };
        kernel::error::to_result(ret)?;
        // SAFETY: Registered: lives until unregistered.
        Ok(unsafe { NonNull::new_unchecked((*ch).raw.get()) })
    }

    fn exists(transport: &Arc<T>, info: &ChannelInfo) -> bool {
        let Some(parent) = transport.parent() else {
            return false;
        };
        let mut raw = info.to_c();
        // SAFETY: The parent is live; the found device comes with a reference.
        unsafe {
            let dev = bindings::rpmsg_find_device(raw_device(&parent), &mut raw);
            if dev.is_null() {
                return false;
            }
            bindings::put_device(dev);
        }
        true
    }

    /// Unregisters the channel matching `info` under the transport's parent.
    pub fn unregister(transport: &Arc<T>, info: &ChannelInfo) -> Result {
        let parent = transport.parent().ok_or(ENODEV)?;
        let mut raw = info.to_c();
        // SAFETY: The parent is live; the core finds and unregisters the child.
        kernel::error::to_result(unsafe {
            bindings::rpmsg_unregister_device(raw_device(&parent), &mut raw)
        })
    }

    /// Unregisters every channel under the transport's parent.
    pub fn unregister_all(transport: &Arc<T>) {
        let Some(parent) = transport.parent() else {
            return;
        };
        // SAFETY: The parent is live (we hold a reference) and
        // `unregister_child` matches `device_iter_t`.
        unsafe {
            bindings::device_for_each_child(
                raw_device(&parent),
                core::ptr::null_mut(),
                Some(unregister_child),
            )
        };
    }

    fn announce(rpdev: *mut bindings::rpmsg_device, destroy: bool) -> Result {
        // SAFETY: The core passes a live channel of ours.
        let (ch, raw) = unsafe { (Self::from_raw(rpdev), &*rpdev) };
        if !raw.announce || raw.ept.is_null() || !ch.transport.ns_enabled() {
            return Ok(());
        }
        // SAFETY: `ept` is the channel's live default endpoint.
        let addr = unsafe { (*raw.ept).addr };
        let info = ChannelInfo::from_c_name(&raw.id.name, 0, 0);
        let name = Name::new(info.name()).map_err(|_| EINVAL)?;
        let mut msg = [0u8; NS_MSG_LEN];
        NsMsg {
            name,
            addr,
            destroy,
        }
        .write(&mut msg);
        T::send(&ch.transport, addr, NS_ADDR, &msg, true)
    }

    const OPS: bindings::rpmsg_device_ops = bindings::rpmsg_device_ops {
        create_channel: Some(create_channel_cb::<T>),
        release_channel: Some(release_channel_cb::<T>),
        create_ept: Some(create_ept_cb::<T>),
        announce_create: Some(announce_create_cb::<T>),
        announce_destroy: Some(announce_destroy_cb::<T>),
    };
}

/// The C device behind `dev`.
fn raw_device(dev: &kernel::device::Device) -> *mut bindings::device {
    // `Device` is a transparent wrapper of `struct device` (kernel/device.rs).
    core::ptr::from_ref(dev).cast_mut().cast()
}

/// Unregisters `dev`; a `device_iter_t` for `device_for_each_child()`.
///
/// # Safety
///
/// `dev` must be a registered device, as the driver core passes it.
unsafe extern "C" fn unregister_child(
    dev: *mut bindings::device,
    _data: *mut kernel::ffi::c_void,
) -> kernel::ffi::c_int {
    // SAFETY: `dev` is registered (the caller's guarantee), which is all
    // `device_unregister()` requires; the klist iterator of
    // `device_for_each_child()` holds its node, so the device may leave
    // the parent's list during the iteration.
    unsafe { bindings::device_unregister(dev) };
    0
}

/// # Safety
///
/// Called by the driver core when the channel device's last reference goes.
unsafe extern "C" fn release_channel<T: Transport>(dev: *mut bindings::device) {
    // SAFETY: `dev` is embedded in `raw`, the first field of the channel.
    let raw = unsafe { kernel::container_of!(dev, bindings::rpmsg_device, dev) };
    // SAFETY: Last reference; allocated by `KBox` in `register`.
    drop(unsafe { KBox::from_raw(raw.cast::<Channel<T>>()) });
}

/// # Safety
///
/// Called by the rpmsg core with a channel of ours and valid `chinfo`.
unsafe extern "C" fn create_channel_cb<T: Transport>(
    rpdev: *mut bindings::rpmsg_device,
    chinfo: *mut bindings::rpmsg_channel_info,
) -> *mut bindings::rpmsg_device {
    // SAFETY: As documented.
    let (ch, info) = unsafe {
        (
            Channel::<T>::from_raw(rpdev),
            ChannelInfo::from_c_name(&(*chinfo).name, (*chinfo).src, (*chinfo).dst),
        )
    };
    match Channel::register(&ch.transport, &info, ChannelKind::Local) {
        Ok(new) => new.as_ptr(),
        Err(_) => core::ptr::null_mut(),
    }
}

/// # Safety
///
/// Called by the rpmsg core with a channel of ours and valid `chinfo`.
unsafe extern "C" fn release_channel_cb<T: Transport>(
    rpdev: *mut bindings::rpmsg_device,
    chinfo: *mut bindings::rpmsg_channel_info,
) -> kernel::ffi::c_int {
    // SAFETY: As documented.
    let (ch, info) = unsafe {
        (
            Channel::<T>::from_raw(rpdev),
            ChannelInfo::from_c_name(&(*chinfo).name, (*chinfo).src, (*chinfo).dst),
        )
    };
    from_result(|| {
        Channel::unregister(&ch.transport, &info)?;
        Ok(0)
    })
}

/// # Safety
///
/// Called by the rpmsg core with a channel of ours.
unsafe extern "C" fn create_ept_cb<T: Transport>(
    rpdev: *mut bindings::rpmsg_device,
    cb: bindings::rpmsg_rx_cb_t,
    priv_: *mut kernel::ffi::c_void,
    chinfo: bindings::rpmsg_channel_info,
) -> *mut bindings::rpmsg_endpoint {
    // SAFETY: As documented.
    let ch = unsafe { Channel::<T>::from_raw(rpdev) };
    match TransportEndpoint::create(&ch.transport, rpdev, cb, priv_, chinfo.src) {
        Ok(ept) => ept.as_ptr(),
        Err(_) => core::ptr::null_mut(),
    }
}

/// # Safety
///
/// Called by the rpmsg core with a channel of ours.
unsafe extern "C" fn announce_create_cb<T: Transport>(
    rpdev: *mut bindings::rpmsg_device,
) -> kernel::ffi::c_int {
    from_result(|| {
        Channel::<T>::announce(rpdev, false)?;
        Ok(0)
    })
}

/// # Safety
///
/// Called by the rpmsg core with a channel of ours.
unsafe extern "C" fn announce_destroy_cb<T: Transport>(
    rpdev: *mut bindings::rpmsg_device,
) -> kernel::ffi::c_int {
    from_result(|| {
        Channel::<T>::announce(rpdev, true)?;
        Ok(0)
    })
}

// Only in rpmsg_rs_kunit.ko (see rust/kunit/).
/// The address table of the KUnit suites' mock transports: `ADDR_ANY` gets
/// the next address from 1024 on, a taken address `EBUSY`.
#[cfg(rpmsg_rs_kunit)]
pub(crate) fn bind_in_table<T: Transport>(
    table: &mut KVec<(u32, ARef<TransportEndpoint<T>>)>,
    src: u32,
    ept: NewTransportEndpoint<T>,
) -> Result<u32> {
    let addr = if src == ADDR_ANY {
        1024 + table.len() as u32
    } else {
        src
    };
    if table.iter().any(|(a, _)| *a == addr) {
        return Err(EBUSY);
    }
    table.push((addr, ept.at(addr)), GFP_KERNEL)?;
    Ok(addr)
}

#[cfg(rpmsg_rs_kunit)]
#[kunit_tests(rpmsg_rs_transport)]
mod tests {
    use super::*;
    use core::sync::atomic::{AtomicU32, Ordering};
    use kernel::sync::{new_mutex, Mutex};

    /// Transports dropped so far, to see that endpoints release theirs.
    static MOCKS_DROPPED: AtomicU32 = AtomicU32::new(0);

    /// A transport that only keeps an address table.
    #[pin_data(PinnedDrop)]
    struct Mock {
        #[pin]
        bound: Mutex<KVec<(u32, ARef<TransportEndpoint<Mock>>)>>,
    }

    #[pinned_drop]
    impl PinnedDrop for Mock {
        fn drop(self: Pin<&mut Self>) {
            MOCKS_DROPPED.fetch_add(1, Ordering::Relaxed);
        }
    }

    impl Transport for Mock {
        fn parent(&self) -> Option<ARef<kernel::device::Device>> {
            None
        }
        fn ns_enabled(&self) -> bool {
            false
        }
        fn bind(this: &Arc<Self>, src: u32, ept: NewTransportEndpoint<Self>) -> Result<u32> {
            bind_in_table(&mut this.bound.lock(), src, ept)
        }
        fn unbind(this: &Arc<Self>, addr: u32) {
            this.bound.lock().retain(|(a, _)| *a != addr);
        }
        fn send(_: &Arc<Self>, _: u32, _: u32, _: &[u8], _: bool) -> Result {
            Err(ENODEV)
        }
        fn poll(_: &Arc<Self>, _: &File, _: &PollTable<'_>) -> u32 {
            0
        }
        fn mtu(&self) -> usize {
            496
        }
    }

    /// What the C-ABI callback saw.
    #[derive(Default)]
    struct Seen {
        calls: AtomicU32,
        len: AtomicU32,
        src: AtomicU32,
        first_byte: AtomicU32,
    }

    /// # Safety
    ///
    /// `priv_` must point to a live `Seen`, `data` to `len` bytes.
    unsafe extern "C" fn record(
        _rpdev: *mut bindings::rpmsg_device,
        data: *mut kernel::ffi::c_void,
        len: kernel::ffi::c_int,
        priv_: *mut kernel::ffi::c_void,
        src: u32,
    ) -> kernel::ffi::c_int {
        // SAFETY: The tests pass a `Seen` that outlives the endpoint's use.
        let seen = unsafe { &*priv_.cast::<Seen>() };
        seen.calls.fetch_add(1, Ordering::Relaxed);
        seen.len.store(len as u32, Ordering::Relaxed);
        seen.src.store(src, Ordering::Relaxed);
        if len > 0 {
            // SAFETY: `data` holds `len` bytes for the call.
            seen.first_byte
                .store(u32::from(unsafe { *data.cast::<u8>() }), Ordering::Relaxed);
        }
        0
    }

    fn mock() -> Result<Arc<Mock>> {
        Arc::pin_init(
            pin_init!(Mock { bound <- new_mutex!(KVec::new()) }),
            GFP_KERNEL,
        )
    }

    fn bound_ept(t: &Arc<Mock>, addr: u32) -> Option<ARef<TransportEndpoint<Mock>>> {
        t.bound
            .lock()
            .iter()
            .find(|(a, _)| *a == addr)
            .map(|(_, e)| e.clone())
    }

    #[test]
    fn endpoint_delivers_until_destroyed_then_is_freed() {
        let before = MOCKS_DROPPED.load(Ordering::Relaxed);
        let t = mock().expect("mock");
        let seen = Seen::default();
        let cookie = core::ptr::from_ref(&seen).cast_mut().cast();
        let raw =
            TransportEndpoint::create(&t, core::ptr::null_mut(), Some(record), cookie, ADDR_ANY)
                .expect("create");
        // SAFETY: `raw` is a live endpoint we own a reference to.
        let addr = unsafe { (*raw.as_ptr()).addr };
        assert_eq!(addr, 1024);
        let ept = bound_ept(&t, addr).expect("bound");
        assert_eq!(ept.addr(), addr);

        let mut msg = [7u8, 8, 9];
        assert!(ept.deliver(&mut msg, 0x35).is_ok());
        assert_eq!(seen.calls.load(Ordering::Relaxed), 1);
        assert_eq!(seen.len.load(Ordering::Relaxed), 3);
        assert_eq!(seen.src.load(Ordering::Relaxed), 0x35);
        assert_eq!(seen.first_byte.load(Ordering::Relaxed), 7);

        // SAFETY: Gives up the creator's reference, as the rpmsg core does.
        unsafe { destroy_ept::<Mock>(raw.as_ptr()) };
        // Destroying unbinds.
        assert!(bound_ept(&t, addr).is_none());
        // Our extra reference keeps it alive, but its callback is gone.
        assert!(ept.deliver(&mut msg, 0x35).is_ok());
        assert_eq!(seen.calls.load(Ordering::Relaxed), 1);

        drop(ept);
        drop(t);
        // The last endpoint reference released the transport too.
        assert_eq!(MOCKS_DROPPED.load(Ordering::Relaxed), before + 1);
    }

    #[test]
    fn endpoint_at_taken_address_is_refused_and_freed() {
        let t = mock().expect("mock");
        let raw =
            TransportEndpoint::create(&t, core::ptr::null_mut(), None, core::ptr::null_mut(), 2000)
                .expect("create");
        let again =
            TransportEndpoint::create(&t, core::ptr::null_mut(), None, core::ptr::null_mut(), 2000);
        assert!(matches!(again, Err(e) if e == EBUSY));
        assert_eq!(t.bound.lock().len(), 1);
        // SAFETY: Gives up the creator's reference.
        unsafe { destroy_ept::<Mock>(raw.as_ptr()) };
        assert_eq!(t.bound.lock().len(), 0);
    }
}
