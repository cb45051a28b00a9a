// SPDX-License-Identifier: GPL-2.0

//! virtio drivers (`include/linux/virtio.h`): registration, devices,
//! virtqueues, features, and the coherent DMA memory a driver shares with its
//! device.

use super::bindings;
use core::ptr::NonNull;
use kernel::{
    error::from_result,
    prelude::*,
    sync::{
        atomic::{Acquire, Atomic, Relaxed, Release},
        Arc, ArcBorrow,
    },
    time::{delay::fsleep, Delta},
    types::{ForeignOwnable, Opaque},
};

/// A virtio device, as the virtio core passes it to a driver.
///
/// # Invariants
///
/// Instances only exist behind references to a live `struct virtio_device`.
#[repr(transparent)]
pub struct Device(Opaque<bindings::virtio_device>);

impl Device {
    /// # Safety
    ///
    /// `ptr` must point to a live virtio device for the lifetime `'a`.
    unsafe fn from_raw<'a>(ptr: *mut bindings::virtio_device) -> &'a Device {
        // SAFETY: Transparent wrapper; liveness is the caller's promise.
        unsafe { &*ptr.cast::<Device>() }
    }

    fn as_raw(&self) -> *mut bindings::virtio_device {
        self.0.get()
    }

    pub(crate) fn raw_dev(&self) -> *mut bindings::device {
        // SAFETY: `self` is live.
        unsafe { bindings::rpmsg_rs_virtio_dev(self.as_raw()) }
    }

    /// The generic device.
    pub fn as_dev(&self) -> &kernel::device::Device {
        // SAFETY: The embedded device lives as long as `self`.
        unsafe { kernel::device::Device::from_raw(self.raw_dev()) }
    }

    /// Whether feature bit `fbit` was negotiated.
    pub fn has_feature(&self, fbit: u32) -> bool {
        // SAFETY: `self` is live.
        unsafe { bindings::rpmsg_rs_virtio_has_feature(self.as_raw(), fbit) }
    }

    /// Whether the device offers feature bit `fbit`, negotiated or not.
    pub fn offers_feature(&self, fbit: u32) -> bool {
        // SAFETY: `self` is live; the helper checks `fbit` against the size
        // of the feature array before testing it.
        unsafe { bindings::rpmsg_rs_virtio_offers_feature(self.as_raw(), fbit) }
    }

    /// Reads `buf.len()` bytes of the device's config space at `offset`:
    /// a snapshot, which the caller validates (the device may change it).
    ///
    /// Transports have no way to report a range beyond the config space:
    /// remoteproc logs it and leaves the buffer as it was. A read that
    /// leaves two different fillings untouched therefore did not happen,
    /// and gives `ERANGE`; it is only tried again if the first read looks
    /// untouched, so that a valid config space costs one read.
    ///
    /// May sleep (the transport's `get` may): process context only, as
    /// `validate` and `probe` are.
    pub fn read_config(&self, offset: u32, buf: &mut [u8]) -> Result {
        let len = u32::try_from(buf.len()).map_err(|_| EINVAL)?;
        if len == 0 {
            return Ok(());
        }
        let get = |buf: &mut [u8], fill: u8| {
            buf.fill(fill);
            // SAFETY: `self` is live and `buf` is valid for writes of `len`
            // bytes (`len` is its length), which is all the helper and the
            // transport's `get` access.
            unsafe {
                bindings::rpmsg_rs_virtio_config_get(
                    self.as_raw(),
                    offset,
                    buf.as_mut_ptr().cast(),
                    len,
                )
            };
            buf.iter().all(|&b| b == fill)
        };
        if get(buf, 0) && get(buf, 0xff) {
            return Err(ERANGE);
        }
        Ok(())
    }

    /// Allocates `size` bytes of memory shared with the device, from the
    /// DMA configuration of the device's parent (for a remoteproc vdev: its
    /// carveouts or per-vdev pool).
    pub fn alloc_shared(&self, size: usize) -> Result<SharedBuffer> {
        // SAFETY: `self` is live; the parent device outlives its child.
        let parent = unsafe { (*self.raw_dev()).parent };
        if parent.is_null() || size == 0 {
            return Err(EINVAL);
        }
        let mut dma = 0u64;
        // SAFETY: `parent` is a live device; `dma` is a valid out-parameter.
        let cpu = unsafe { bindings::rpmsg_rs_dma_alloc_coherent(parent, size, &mut dma) };
        let cpu = NonNull::new(cpu.cast::<u8>()).ok_or(ENOMEM)?;
        // SAFETY: `parent` is live; the reference keeps it so until `drop`.
        unsafe { bindings::get_device(parent) };
        // INVARIANT: Just allocated from `parent`, which we hold.
        Ok(SharedBuffer {
            cpu,
            dma,
            size,
            dev: parent,
        })
    }
}

/// Coherent memory shared with a device.
///
/// The device may write it at any time, so it is only accessed through
/// bounds-checked volatile copies (a plain copy racing with the device's
/// writes would be a data race, and the compiler could read a byte twice
/// and see two values); no Rust reference into it is handed out.
///
/// # Invariants
///
/// `cpu`/`dma` describe a live coherent allocation of `size` bytes from
/// `dev`, on which we hold a reference.
pub struct SharedBuffer {
    cpu: NonNull<u8>,
    dma: u64,
    size: usize,
    dev: *mut bindings::device,
}

// SAFETY: The allocation is not tied to a thread.
unsafe impl Send for SharedBuffer {}
// SAFETY: Every access through `&self` is a volatile copy of a checked
// range, which concurrent accesses (the device's or other threads') cannot
// make undefined: at worst they give a torn snapshot, which callers
// validate, or interleaved writes to a range that the caller owns by its
// own protocol (virtqueue ownership of each buffer).
unsafe impl Sync for SharedBuffer {}

/// Word size of the volatile copies.
const WORD: usize = core::mem::size_of::<usize>();

/// Copies `len` bytes from `src` to `dst` with volatile accesses to the
/// shared side: whole words where `shared` is word-aligned, bytes for the
/// rest.
///
/// # Safety
///
/// `src` must be valid for reads and `dst` for writes of `len` bytes, and
/// the two must not overlap. If `to_shared`, `dst` is the shared side,
/// else `src`; the other side is ordinary memory no one else accesses
/// during the call.
unsafe fn copy_volatile(src: *const u8, dst: *mut u8, len: usize, to_shared: bool) {
    let shared = if to_shared {
        dst as usize
    } else {
        src as usize
    };
    let head = shared.wrapping_neg() % WORD;
    let mut i = 0;
    // SAFETY: Of every access below: `i < len` or `i + WORD <= len`, so
    // each access lies inside the ranges the caller vouches for; the shared
    // side's word accesses are aligned because `shared + head` is, and
    // `i - head` stays a multiple of `WORD`. The private side may be
    // unaligned: it is accessed with `read_unaligned`/`write_unaligned`.
    unsafe {
        while i < len && i < head {
            dst.add(i).write_volatile(src.add(i).read_volatile());
            i += 1;
        }
        while i + WORD <= len {
            if to_shared {
                let w = src.add(i).cast::<usize>().read_unaligned();
                dst.add(i).cast::<usize>().write_volatile(w);
            } else {
                let w = src.add(i).cast::<usize>().read_volatile();
                dst.add(i).cast::<usize>().write_unaligned(w);
            }
            i += WORD;
        }
        while i < len {
            dst.add(i).write_volatile(src.add(i).read_volatile());
            i += 1;
        }
    }
}

impl SharedBuffer {
    pub fn len(&self) -> usize {
        self.size
    }

    fn range(&self, off: usize, len: usize) -> Result<*mut u8> {
        match off.checked_add(len) {
            // SAFETY: `off + len <= size`, inside the allocation.
            Some(end) if end <= self.size => Ok(unsafe { self.cpu.as_ptr().add(off) }),
            _ => Err(EINVAL),
        }
    }

    /// Copies `buf.len()` bytes out of the buffer at `off`: a snapshot,
    /// which the caller validates before use (the device may be writing).
    pub fn read(&self, off: usize, buf: &mut [u8]) -> Result {
        let src = self.range(off, buf.len())?;
        // SAFETY: `src` is valid for `buf.len()` bytes (checked) and is the
        // shared side; `buf` is ours and cannot overlap device memory.
        unsafe { copy_volatile(src, buf.as_mut_ptr(), buf.len(), false) };
        Ok(())
    }

    /// Copies `data` into the buffer at `off`.
    pub fn write(&self, off: usize, data: &[u8]) -> Result {
        let dst = self.range(off, data.len())?;
        // SAFETY: `dst` is valid for `data.len()` bytes (checked) and is the
        // shared side; `data` is ours and cannot overlap device memory.
        unsafe { copy_volatile(data.as_ptr(), dst, data.len(), true) };
        Ok(())
    }
}

impl Drop for SharedBuffer {
    fn drop(&mut self) {
        // SAFETY: By the invariant, the allocation came from `dev`, which we
        // still hold.
        unsafe {
            bindings::rpmsg_rs_dma_free_coherent(
                self.dev,
                self.size,
                self.cpu.as_ptr().cast(),
                self.dma,
            );
            bindings::put_device(self.dev);
        }
    }
}

/// The virtqueues of one device; deleted when the last [`Virtqueue`] goes.
///
/// # Invariants
///
/// `vdev` is a device on which we hold a reference and whose virtqueues
/// were found by us and not deleted yet. `notifying` counts the [`Notify`]s
/// of its queues that exist.
struct VqSet {
    vdev: *mut bindings::virtio_device,
    notifying: Atomic<u32>,
}

// SAFETY: Deleting virtqueues may happen from any thread.
unsafe impl Send for VqSet {}
// SAFETY: Shared, `VqSet` is only read (`vdev`) or updated atomically
// (`notifying`).
unsafe impl Sync for VqSet {}

impl Drop for VqSet {
    fn drop(&mut self) {
        // A notification sent after its queue's lock was dropped may still
        // be on its way: it uses the queue until it returns. Senders are
        // not held up; only the removal of a device waits here, briefly.
        while self.notifying.load(Acquire) != 0 {
            fsleep(Delta::from_micros(20));
        }
        // SAFETY: By the invariant the queues exist; we hold the device.
        unsafe {
            bindings::rpmsg_rs_virtio_del_vqs(self.vdev);
            bindings::put_device(bindings::rpmsg_rs_virtio_dev(self.vdev));
        }
    }
}

/// A virtqueue.
///
/// Virtqueue operations must not race with each other on one queue; this
/// type is not `Sync`-shared by design: keep it under the lock that
/// serialises the queue.
///
/// # Invariants
///
/// `vq` is a live virtqueue of `set`'s device.
pub struct Virtqueue {
    vq: NonNull<bindings::virtqueue>,
    _set: Arc<VqSet>,
}

// SAFETY: A virtqueue may be used from any thread, one at a time (`&mut`).
unsafe impl Send for Virtqueue {}

impl Virtqueue {
    /// Makes `len` bytes of `buf` at `off` available to the device, readable
    /// by it (`out`) or writable (`!out`). `token` (non-zero) comes back from
    /// [`Self::get_buf`].
    pub fn add_buf(
        &mut self,
        buf: &SharedBuffer,
        off: usize,
        len: usize,
        out: bool,
        token: usize,
    ) -> Result {
        let ptr = buf.range(off, len)?;
        let len = u32::try_from(len).map_err(|_| EINVAL)?;
        if token == 0 {
            return Err(EINVAL);
        }
        // SAFETY: `vq` is live; `ptr..ptr + len` lies in `buf`, which the
        // caller keeps alive while the device owns it (the queues are
        // deleted before a driver frees its buffers, see `VqSet`).
        kernel::error::to_result(unsafe {
            bindings::rpmsg_rs_vq_add_buf(
                self.vq.as_ptr(),
                ptr.cast(),
                len,
                out,
                token as *mut _,
                true,
            )
        })
    }

    /// Takes a buffer the device has used: `(token, used length)`. The
    /// length is the device's word and must be checked by the caller.
    pub fn get_buf(&mut self) -> Option<(usize, u32)> {
        let mut len = 0u32;
        // SAFETY: `vq` is live; `len` is a valid out-parameter.
        let token = unsafe { bindings::virtqueue_get_buf(self.vq.as_ptr(), &mut len) };
        (!token.is_null()).then_some((token as usize, len))
    }

    /// Notifies the device if it wants to be.
    pub fn kick(&mut self) -> bool {
        // SAFETY: `vq` is live.
        unsafe { bindings::virtqueue_kick(self.vq.as_ptr()) }
    }

    /// The first half of [`Self::kick`], which must be serialised with the
    /// queue's other operations: whether the device wants to be notified of
    /// the buffers added. The notification itself ([`Notify::send`]) needs
    /// no serialisation and is best sent after the lock is dropped: on some
    /// transports it is a mailbox write, or (remoteproc) a call into the
    /// remote processor's driver.
    pub fn kick_prepare(&mut self) -> Option<Notify> {
        // SAFETY: `vq` is live.
        if !unsafe { bindings::virtqueue_kick_prepare(self.vq.as_ptr()) } {
            return None;
        }
        self._set.notifying.fetch_add(1, Relaxed);
        // INVARIANT: Counted in `notifying` just now; the set's drop, which
        // deletes `vq`, waits for it.
        Some(Notify {
            vq: self.vq,
            set: NonNull::from(&*self._set),
        })
    }

    /// Turns used-buffer callbacks off (advisory).
    pub fn disable_cb(&mut self) {
        // SAFETY: `vq` is live.
        unsafe { bindings::virtqueue_disable_cb(self.vq.as_ptr()) }
    }

    /// Turns callbacks on; `false` if buffers were used meanwhile (the
    /// caller should process them rather than wait).
    pub fn enable_cb(&mut self) -> bool {
        // SAFETY: `vq` is live.
        unsafe { bindings::virtqueue_enable_cb(self.vq.as_ptr()) }
    }

    /// Number of descriptors of the ring.
    pub fn size(&self) -> u32 {
        // SAFETY: `vq` is live.
        unsafe { bindings::virtqueue_get_vring_size(self.vq.as_ptr()) }
    }

    /// Whether the core found the ring corrupt and stopped using it.
    pub fn is_broken(&self) -> bool {
        // SAFETY: `vq` is live.
        unsafe { bindings::virtqueue_is_broken(self.vq.as_ptr()) }
    }
}

/// A notification a device asked for ([`Virtqueue::kick_prepare`]), to be
/// sent without the queue's lock. Send it at once: the device's removal
/// waits for it.
///
/// # Invariants
///
/// `set` is alive and counts this notification in `notifying`; until the
/// count drops, the set neither deletes its queues, `vq` among them, nor
/// goes away.
pub struct Notify {
    vq: NonNull<bindings::virtqueue>,
    set: NonNull<VqSet>,
}

impl Notify {
    /// Notifies the device; `false` if the queue is broken.
    pub fn send(self) -> bool {
        // SAFETY: `vq` is live by the invariant; `virtqueue_notify()` may
        // run concurrently with the queue's other operations.
        unsafe { bindings::virtqueue_notify(self.vq.as_ptr()) }
    }
}

impl Drop for Notify {
    fn drop(&mut self) {
        // SAFETY: By the invariant the set is alive until this decrement,
        // after which this notification touches nothing of it.
        unsafe { self.set.as_ref() }.notifying.fetch_sub(1, Release);
    }
}

/// The features of a device whose driver may still decline some: what
/// [`Driver::validate`] gets.
///
/// # Invariants
///
/// The device's features are not final yet (its driver's `validate`
/// callback is running).
pub struct Features<'a> {
    vdev: &'a Device,
}

impl Features<'_> {
    /// The device.
    pub fn device(&self) -> &Device {
        self.vdev
    }

    /// Whether `fbit` is offered by the device and by the driver.
    pub fn has(&self, fbit: u32) -> bool {
        self.vdev.has_feature(fbit)
    }

    /// Declines `fbit`: the device is told the driver does not use it.
    pub fn decline(&mut self, fbit: u32) {
        // SAFETY: `self.vdev` is live and, by the invariant, its features
        // are not final: the virtio core writes them to the device after
        // `validate` returns (`virtio_dev_probe`), so clearing a bit now
        // is what it sees. The helper ignores bits beyond the array.
        unsafe { bindings::rpmsg_rs_virtio_clear_feature(self.vdev.as_raw(), fbit) }
    }
}

/// What a virtio driver implements.
pub trait Driver: Send + Sync + Sized + 'static {
    /// The driver's name (`/sys/bus/virtio/drivers/<NAME>`).
    const NAME: &'static CStr;
    /// The virtio device id it binds to.
    const DEVICE_ID: u32;
    /// Feature bits it offers.
    const FEATURES: &'static [u32];
    /// Its virtqueues, by name; callbacks carry the index.
    const VQ_NAMES: &'static [&'static CStr];
    /// What the registration hands to every probe.
    type Context: Send + Sync;

    /// Checks the device's offer (its config space) before the features
    /// are final, and declines those it cannot use. An error fails the
    /// probe.
    fn validate(_features: &mut Features<'_>) -> Result {
        Ok(())
    }
    /// Sets the device up with its virtqueues. The device is not ready yet
    /// (no callbacks arrive before this returns).
    fn probe(vdev: &Device, vqs: KVec<Virtqueue>, ctx: &Self::Context) -> Result<Arc<Self>>;
    /// The device is ready (DRIVER_OK): start talking to it.
    fn ready(this: ArcBorrow<'_, Self>, vdev: &Device);
    /// Virtqueue `index` has used buffers. Runs in the context the
    /// transport signals in (process context for remoteproc vdevs).
    fn vq_callback(this: ArcBorrow<'_, Self>, index: usize);
    /// The device was reset and is going away. Dropping the driver's
    /// [`Virtqueue`]s here deletes them.
    fn remove(this: ArcBorrow<'_, Self>, vdev: &Device);
}

/// A registered virtio driver.
///
/// # Invariants
///
/// `drv` is registered with the virtio core until `drop`.
pub struct Registration<T: Driver> {
    inner: Pin<KBox<RegInner<T>>>,
    _ids: KBox<[bindings::virtio_device_id; 2]>,
}

/// The C driver and what probe needs, at a fixed address.
#[repr(C)]
struct RegInner<T: Driver> {
    drv: Opaque<bindings::virtio_driver>,
    ctx: T::Context,
}

// SAFETY: Unregistering may happen on any thread.
unsafe impl<T: Driver> Send for Registration<T> {}
// SAFETY: No methods take `&self`.
unsafe impl<T: Driver> Sync for Registration<T> {}

impl<T: Driver> Registration<T> {
    pub fn new(module: &'static ThisModule, ctx: T::Context) -> Result<Self> {
        let ids = KBox::new(
            [
                bindings::virtio_device_id {
                    device: T::DEVICE_ID,
                    vendor: !0,
                },
                bindings::virtio_device_id {
                    device: 0,
                    vendor: 0,
                },
            ],
            GFP_KERNEL,
        )?;
        let inner = KBox::pin(
            RegInner::<T> {
                drv: Opaque::uninit(),
                ctx,
            },
            GFP_KERNEL,
        )?;
        let nfeatures = u32::try_from(T::FEATURES.len()).map_err(|_| EINVAL)?;
        // SAFETY: `inner` is pinned and lives until `drop`, which
        // unregisters it; `ids`, the name and the feature table live as long.
        kernel::error::to_result(unsafe {
            bindings::rpmsg_rs_register_virtio_driver(
                inner.drv.get(),
                T::NAME.as_char_ptr(),
                module.as_ptr(),
                ids.as_ptr(),
                T::FEATURES.as_ptr(),
                nfeatures,
                Some(validate_cb::<T>),
                Some(probe_cb::<T>),
                Some(remove_cb::<T>),
            )
        })?;
        Ok(Self { inner, _ids: ids })
    }
}

impl<T: Driver> Drop for Registration<T> {
    fn drop(&mut self) {
        // SAFETY: Registered in `new`; unregistering removes every device.
        unsafe { bindings::unregister_virtio_driver(self.inner.drv.get()) };
    }
}

/// # Safety
///
/// Called by the virtio core as the `validate` callback of our driver: for a
/// live device whose features are not final yet.
unsafe extern "C" fn validate_cb<T: Driver>(
    vdev: *mut bindings::virtio_device,
) -> kernel::ffi::c_int {
    // SAFETY: The core passes a live device, which stays so during the call.
    let vdev = unsafe { Device::from_raw(vdev) };
    // INVARIANT: `virtio_dev_probe` calls `validate` before it finalises
    // the features.
    let mut features = Features { vdev };
    from_result(|| {
        T::validate(&mut features)?;
        Ok(0)
    })
}

/// # Safety
///
/// Called by the virtio core for a device of our driver.
unsafe extern "C" fn probe_cb<T: Driver>(vdev: *mut bindings::virtio_device) -> kernel::ffi::c_int {
    // SAFETY: The core passes a live device.
    let dev = unsafe { Device::from_raw(vdev) };
    from_result(|| {
        probe::<T>(dev)?;
        Ok(0)
    })
}

fn probe<T: Driver>(dev: &Device) -> Result {
    let n = T::VQ_NAMES.len();
    let mut callbacks: KVec<Option<unsafe extern "C" fn(*mut bindings::virtqueue)>> = KVec::new();
    let mut names: KVec<*const kernel::ffi::c_char> = KVec::new();
    let mut raw: KVec<*mut bindings::virtqueue> = KVec::new();
    for (i, name) in T::VQ_NAMES.iter().enumerate() {
        callbacks.push(Some(vq_callbacks::<T>()[i.min(VQ_MAX - 1)]), GFP_KERNEL)?;
        names.push(name.as_char_ptr(), GFP_KERNEL)?;
        raw.push(core::ptr::null_mut(), GFP_KERNEL)?;
    }
    if n == 0 || n > VQ_MAX {
        return Err(EINVAL);
    }
    // The callbacks find the driver through `priv`; none yet.
    // SAFETY: `dev` is live.
    unsafe { bindings::rpmsg_rs_virtio_set_priv(dev.as_raw(), core::ptr::null_mut()) };
    // SAFETY: The arrays hold `n` entries each.
    kernel::error::to_result(unsafe {
        bindings::rpmsg_rs_virtio_find_vqs(
            dev.as_raw(),
            n as u32,
            raw.as_mut_ptr(),
            callbacks.as_mut_ptr().cast(),
            names.as_ptr(),
        )
    })?;
    // SAFETY: The device is live; the set deletes the queues it now owns.
    unsafe { bindings::get_device(dev.raw_dev()) };
    // INVARIANT: Queues found just now; device reference taken.
    let set = Arc::new(
        VqSet {
            vdev: dev.as_raw(),
            notifying: Atomic::new(0),
        },
        GFP_KERNEL,
    )?;
    let mut vqs = KVec::new();
    for vq in raw.iter() {
        let vq = NonNull::new(*vq).ok_or(EINVAL)?;
        vqs.push(
            Virtqueue {
                vq,
                _set: set.clone(),
            },
            GFP_KERNEL,
        )?;
    }
    drop(set);
    // SAFETY: Our driver is bound, so `dev.driver` is the `drv` field of a
    // live `RegInner<T>` (first field of a `repr(C)` struct).
    let ctx =
        unsafe { &(*bindings::rpmsg_rs_virtio_driver_of(dev.as_raw()).cast::<RegInner<T>>()).ctx };
    let data = T::probe(dev, vqs, ctx)?;
    // SAFETY: `dev` is live; the `Arc` is released in `remove_cb`.
    unsafe {
        bindings::rpmsg_rs_virtio_set_priv(dev.as_raw(), data.into_foreign());
        bindings::rpmsg_rs_virtio_device_ready(dev.as_raw());
    }
    // SAFETY: Just stored.
    let data = unsafe { driver_data::<T>(dev.as_raw()) };
    if let Some(data) = data {
        T::ready(data, dev);
    }
    Ok(())
}

/// # Safety
///
/// `vdev` must be a live device of our driver.
unsafe fn driver_data<'a, T: Driver>(
    vdev: *mut bindings::virtio_device,
) -> Option<ArcBorrow<'a, T>> {
    // SAFETY: `vdev` is live.
    let data = unsafe { bindings::rpmsg_rs_virtio_get_priv(vdev) };
    // SAFETY: `priv` is null or holds the `Arc<T>` stored by `probe`
    // (`into_foreign`), which `remove_cb` releases only after the queues
    // are gone.
    (!data.is_null()).then(|| unsafe { Arc::<T>::borrow(data) })
}

/// # Safety
///
/// Called by the virtio core for a device our probe accepted.
unsafe extern "C" fn remove_cb<T: Driver>(vdev: *mut bindings::virtio_device) {
    // SAFETY: The core passes a live device.
    let dev = unsafe { Device::from_raw(vdev) };
    // SAFETY: `vdev` is live; stop the device before taking it apart.
    unsafe { bindings::virtio_reset_device(vdev) };
    // SAFETY: `vdev` is live.
    let raw = unsafe { bindings::rpmsg_rs_virtio_get_priv(vdev) };
    if raw.is_null() {
        return;
    }
    // SAFETY: `priv` holds the `Arc<T>` a successful probe stored
    // (`into_foreign`).
    T::remove(unsafe { Arc::<T>::borrow(raw) }, dev);
    // SAFETY: Taking back the reference stored by `probe`. The device was
    // reset (it raises no more interrupts) and the driver dropped its
    // queues, which deleted them, so no callback can look at `priv` again.
    unsafe {
        bindings::rpmsg_rs_virtio_set_priv(vdev, core::ptr::null_mut());
        drop(Arc::<T>::from_foreign(raw));
    }
}

const VQ_MAX: usize = 4;

/// One trampoline per virtqueue index: C callbacks carry no argument to
/// tell them apart.
const fn vq_callbacks<T: Driver>() -> [unsafe extern "C" fn(*mut bindings::virtqueue); VQ_MAX] {
    [vq_cb::<T, 0>, vq_cb::<T, 1>, vq_cb::<T, 2>, vq_cb::<T, 3>]
}

/// # Safety
///
/// Called by the virtio core for a virtqueue of our device.
unsafe extern "C" fn vq_cb<T: Driver, const I: usize>(vq: *mut bindings::virtqueue) {
    // SAFETY: The core passes a live virtqueue of a live device.
    let vdev = unsafe { bindings::rpmsg_rs_vq_vdev(vq) };
    // SAFETY: `vdev` is our live device.
    if let Some(data) = unsafe { driver_data::<T>(vdev) } {
        T::vq_callback(data, I);
    }
}
