// SPDX-License-Identifier: GPL-2.0

//! virtio drivers (`include/linux/virtio.h`): registration, devices,
//! virtqueues, features, and the coherent DMA memory a driver shares with its
//! device.

use super::volatile::copy_shared;
use super::{bindings, driver};
use core::{marker::PhantomData, mem::MaybeUninit, ptr::NonNull};
use kernel::{
    error::{from_result, to_result},
    page::PAGE_SIZE,
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
/// # Examples
///
/// A probe reading a device's config space and sharing memory with it:
///
/// ```ignore
/// fn setup(vdev: &virtio::Device) -> Result<virtio::SharedBuffer> {
///     let mut cfg = [0u8; 8];
///     vdev.read_config(0, &mut cfg)?;
///     let size = if vdev.has_feature(MY_F_BIG) { 64 * 1024 } else { 4096 };
///     vdev.alloc_shared(size)
/// }
/// ```
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
        // SAFETY: `self` is live (type invariant); this only computes the
        // address of a field.
        unsafe { &raw mut (*self.as_raw()).dev }
    }

    /// The driver's private pointer.
    fn priv_(&self) -> *mut kernel::ffi::c_void {
        // SAFETY: `self` is live; only the virtio core's callbacks of its
        // one bound driver (probe, remove and the queues' callbacks, which
        // probe and remove order with the queues' creation and deletion)
        // access `priv`, so this read races with no write.
        unsafe { (*self.as_raw()).priv_ }
    }

    /// Sets the driver's private pointer.
    fn set_priv(&self, data: *mut kernel::ffi::c_void) {
        // SAFETY: As in `priv_`: called from probe or remove, when no
        // virtqueue callback runs (the queues do not exist yet, or the
        // device is reset and its queues deleted).
        unsafe { (*self.as_raw()).priv_ = data };
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
        let mut features = [0u64; bindings::VIRTIO_FEATURES_U64S as usize];
        // SAFETY: `self` is live, and `features` holds the
        // `VIRTIO_FEATURES_U64S` words the transport writes.
        unsafe { bindings::rpmsg_rs_virtio_get_features(self.as_raw(), features.as_mut_ptr()) };
        let word = (fbit / 64) as usize;
        features
            .get(word)
            .is_some_and(|w| w & (1u64 << (fbit % 64)) != 0)
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
        if buf.is_empty() {
            return Ok(());
        }
        let get = |buf: &mut [u8], fill: u8| {
            buf.fill(fill);
            // SAFETY: `self` is live and `buf` is valid for writes of its
            // length, which is all the transport's
            // `get` writes; we are in process context (the function's
            // contract), as the helper's `might_sleep()` requires.
            unsafe {
                bindings::rpmsg_rs_virtio_cread_bytes(
                    self.as_raw(),
                    offset,
                    buf.as_mut_ptr().cast(),
                    buf.len(),
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
        let mut dma: bindings::dma_addr_t = 0;
        // SAFETY: `parent` is a live device; `dma` is a valid out-parameter.
        // Failure is the caller's to report (a pool may be tried for size):
        // no warning.
        let cpu = unsafe {
            bindings::dma_alloc_attrs(
                parent,
                size,
                &mut dma,
                bindings::GFP_KERNEL | bindings::__GFP_NOWARN,
                0,
            )
        };
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
/// bounds-checked copies with volatile semantics (`copy_shared`: with a
/// plain Rust copy racing with the device's writes, the compiler could
/// read a byte twice and see two values); no Rust reference into it is
/// handed out.
///
/// # Examples
///
/// ```ignore
/// let buf = vdev.alloc_shared(2 * 512)?;
/// buf.write(512, b"hello")?;
/// let mut hdr = [0u8; 16];
/// // A snapshot: validate it before use, the device may change the buffer.
/// buf.read(0, &mut hdr)?;
/// assert!(buf.read(buf.len() - 1, &mut hdr).is_err());
/// ```
///
/// # Invariants
///
/// `cpu`/`dma` describe a live coherent allocation of `size` bytes from
/// `dev`, on which we hold a reference.
pub struct SharedBuffer {
    cpu: NonNull<u8>,
    dma: bindings::dma_addr_t,
    size: usize,
    dev: *mut bindings::device,
}

// SAFETY: The allocation is not tied to a thread.
unsafe impl Send for SharedBuffer {}
// SAFETY: Sharing `&SharedBuffer` between threads must not allow a data
// race. The fields are never written after construction. The memory they
// describe is reached through `&self` only by `read` and `write`, each a
// copy of a bounds-checked range by the kernel's `memcpy` (`copy_shared`),
// and by `Virtqueue::add_buf`, which hands the range's address to the
// device without touching it. Such copies racing with the device's writes
// or with other threads' copies are what the kernel's memory model allows
// (as for C's copies of these buffers): each byte is accessed once, within
// the call, so a reader gets a possibly torn snapshot, which
// callers validate before use (`read`'s contract), and concurrent writers
// of one range interleave, which callers exclude by their own protocol
// (virtqueue ownership of each buffer). No reference into the memory is
// ever created.
unsafe impl Sync for SharedBuffer {}

/// Initialises `sg` as a one-entry scatterlist for `len` bytes at `cpu`.
///
/// Buffers may come from a per-device DMA pool over `memremap()`ed
/// memory, whose addresses are not in the linear map (as upstream's
/// `rpmsg_sg_init()`). Remotes expect one descriptor per buffer, so a
/// buffer that crosses a page there must be physically contiguous, as a
/// pool mapped from a carveout is: `EINVAL` otherwise.
///
/// # Safety
///
/// `sg` must be valid for writes; `cpu..cpu + len` must be mapped memory
/// (linear map or vmalloc area).
unsafe fn sg_init_buf(sg: *mut bindings::scatterlist, cpu: *mut u8, len: u32) -> Result {
    let addr = cpu.cast::<kernel::ffi::c_void>();
    // SAFETY: Only compares the address.
    if unsafe { bindings::is_vmalloc_addr(addr) } {
        // SAFETY: `cpu` is in the vmalloc area (checked), where the caller
        // guarantees it is mapped.
        let first = unsafe { bindings::vmalloc_to_page(addr) };
        if first.is_null() {
            return Err(EINVAL);
        }
        let offset = cpu as usize % PAGE_SIZE;
        let npages = (offset + len as usize).div_ceil(PAGE_SIZE);
        if npages > 1 {
            // SAFETY: As for `vmalloc_to_page` above.
            let pfn = unsafe { bindings::vmalloc_to_pfn(addr) };
            for i in 1..npages {
                // SAFETY: Page `i` of the buffer's mapping: the buffer
                // (mapped, the caller's guarantee) reaches into it.
                let next = unsafe { bindings::vmalloc_to_pfn(addr.wrapping_add(i * PAGE_SIZE)) };
                if next != pfn + i as kernel::ffi::c_ulong {
                    return Err(EINVAL);
                }
            }
        }
        // SAFETY: `sg` is valid for writes (the caller's guarantee), and
        // `first` is the page at `cpu`, whose `len` bytes from `offset` are
        // physically contiguous (checked above).
        unsafe { bindings::rpmsg_rs_sg_init_page(sg, first, len, offset as u32) };
    } else {
        // SAFETY: Only computes whether the address is in the linear map.
        let valid = unsafe { bindings::rpmsg_rs_virt_addr_valid(addr) };
        if kernel::warn_on!(!valid) {
            return Err(EINVAL);
        }
        // SAFETY: `sg` is valid for writes; `cpu` is in the linear map
        // (checked above), which `sg_init_one()` requires.
        unsafe { bindings::sg_init_one(sg, addr, len) };
    }
    Ok(())
}

impl SharedBuffer {
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
        unsafe { copy_shared(src, buf.as_mut_ptr(), buf.len()) };
        Ok(())
    }

    /// Copies `data` into the buffer at `off`.
    pub fn write(&self, off: usize, data: &[u8]) -> Result {
        let dst = self.range(off, data.len())?;
        // SAFETY: `dst` is valid for `data.len()` bytes (checked) and is the
        // shared side; `data` is ours and cannot overlap device memory.
        unsafe { copy_shared(data.as_ptr(), dst, data.len()) };
        Ok(())
    }
}

impl Drop for SharedBuffer {
    fn drop(&mut self) {
        // SAFETY: By the invariant, `cpu`/`dma` are a live allocation of
        // `size` bytes from `dev` (with no attributes), which we still hold
        // a reference to and give up after freeing. `&mut self`: no copy
        // is in progress, and the device no longer uses the buffer (the
        // owner deleted the queues that handed it out, see `VqSet`).
        unsafe {
            bindings::dma_free_attrs(self.dev, self.size, self.cpu.as_ptr().cast(), self.dma, 0);
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
        // SAFETY: By the invariant the queues exist and we hold a reference
        // to the device, given up after the deletion. No `Virtqueue` or
        // `Notify` uses them any more: each holds the set (`Arc`) or is
        // counted in `notifying`, which is zero.
        unsafe {
            bindings::rpmsg_rs_virtio_del_vqs(self.vdev);
            bindings::put_device(&raw mut (*self.vdev).dev);
        }
    }
}

/// A virtqueue.
///
/// Virtqueue operations must not race with each other on one queue; this
/// type is not `Sync`-shared by design: keep it under the lock that
/// serialises the queue.
///
/// # Examples
///
/// Posting a buffer the device writes, taking back what it used, and
/// notifying it without the queue's lock:
///
/// ```ignore
/// let notify = {
///     let mut vq = rx_vq.lock();
///     vq.add_buf(&bufs, 0, 512, false, 1)?;
///     while let Some((token, len)) = vq.get_buf() {
///         // `token` is what `add_buf` got; `len` is the device's word.
///     }
///     vq.kick_prepare()
/// };
/// if let Some(notify) = notify {
///     notify.send();
/// }
/// ```
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
        let mut sg = MaybeUninit::<bindings::scatterlist>::uninit();
        // SAFETY: `ptr..ptr + len` lies in `buf` (checked by `range`), a
        // live coherent allocation; `sg` is valid for writes of one entry.
        unsafe { sg_init_buf(sg.as_mut_ptr(), ptr, len) }?;
        let gfp = bindings::GFP_ATOMIC;
        // SAFETY: `vq` is live (type invariant) and `&mut self` serialises
        // the queue's operations; `sg` was initialised above as a one-entry
        // list describing `ptr..ptr + len`, which lies in `buf`: the caller
        // keeps `buf` alive while the device owns the buffer (a driver's
        // queues are deleted before it frees its buffers, see `VqSet`).
        // `token` is non-null.
        to_result(unsafe {
            if out {
                bindings::virtqueue_add_outbuf(
                    self.vq.as_ptr(),
                    sg.as_mut_ptr(),
                    1,
                    token as *mut _,
                    gfp,
                )
            } else {
                bindings::virtqueue_add_inbuf(
                    self.vq.as_ptr(),
                    sg.as_mut_ptr(),
                    1,
                    token as *mut _,
                    gfp,
                )
            }
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
/// # Examples
///
/// ```ignore
/// let notify = tx_vq.lock().kick_prepare();
/// // The queue's lock is dropped: other senders add buffers meanwhile.
/// if let Some(notify) = notify {
///     notify.send();
/// }
/// ```
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
/// # Examples
///
/// ```ignore
/// fn validate(features: &mut virtio::Features<'_>) -> Result {
///     if features.has(MY_F_BIG) && !big_offer_ok(features.device()) {
///         features.decline(MY_F_BIG);
///     }
///     Ok(())
/// }
/// ```
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
        if fbit >= bindings::VIRTIO_FEATURES_U64S * 64 {
            return;
        }
        // SAFETY: `self.vdev` is live and `fbit` lies within its feature
        // array (checked above). By the invariant its features are not
        // final: the virtio core writes them to the device after
        // `validate` returns (`virtio_dev_probe`), so clearing a bit now is
        // what it sees, and nothing else writes them meanwhile.
        unsafe { bindings::rpmsg_rs_virtio_clear_bit(self.vdev.as_raw(), fbit) }
    }
}

/// What a virtio driver implements.
///
/// # Examples
///
/// A driver of a device with one virtqueue, registered by its module:
///
/// ```ignore
/// struct Demo {
///     vq: Mutex<Option<virtio::Virtqueue>>,
/// }
///
/// impl virtio::Driver for Demo {
///     const NAME: &'static CStr = c"virtio_demo";
///     const DEVICE_ID: u32 = 42;
///     const FEATURES: &'static [u32] = &[];
///     const VQ_NAMES: &'static [&'static CStr] = &[c"requests"];
///     type Context = ();
///
///     fn probe(_vdev: &virtio::Device, mut vqs: KVec<virtio::Virtqueue>, (): &()) -> Result<Arc<Self>> {
///         let vq = vqs.pop().ok_or(EINVAL)?;
///         Arc::pin_init(pin_init!(Demo { vq <- new_mutex!(Some(vq)) }), GFP_KERNEL)
///     }
///     fn ready(_this: ArcBorrow<'_, Self>, _vdev: &virtio::Device) {}
///     fn vq_callback(this: ArcBorrow<'_, Self>, _index: usize) {
///         if let Some(vq) = this.vq.lock().as_mut() {
///             while let Some((_token, _len)) = vq.get_buf() {}
///         }
///     }
///     fn remove(this: ArcBorrow<'_, Self>, _vdev: &virtio::Device) {
///         // Deletes the queue (the device is reset already).
///         this.vq.lock().take();
///     }
/// }
///
/// // In the module's `init`:
/// let reg = KBox::pin_init(virtio::Registration::<Demo>::new(module, ()), GFP_KERNEL)?;
/// ```
pub trait Driver: Send + Sync + Sized + 'static {
    /// The driver's name (`/sys/bus/virtio/drivers/<NAME>`).
    const NAME: &'static CStr;
    /// The virtio device id it binds to.
    const DEVICE_ID: u32;
    /// Feature bits it offers.
    const FEATURES: &'static [u32];
    /// Its virtqueues, by name (at most four); callbacks carry the index.
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

/// The virtio bus's part of a driver [`Registration`]: fills the
/// `struct virtio_driver` of a [`Driver`] `T`.
pub struct Adapter<T: Driver>(PhantomData<T>);

/// A registered virtio driver (see [`driver::Registration`]).
pub type Registration<T> = driver::Registration<Adapter<T>>;

impl<T: Driver> Adapter<T> {
    /// The id table: `T::DEVICE_ID` from any vendor, then the terminator.
    const IDS: [bindings::virtio_device_id; 2] = [
        bindings::virtio_device_id {
            device: T::DEVICE_ID,
            vendor: bindings::VIRTIO_DEV_ANY_ID,
        },
        bindings::virtio_device_id {
            device: 0,
            vendor: 0,
        },
    ];
}

// SAFETY: `virtio_driver` is a C (`repr(C)`) structure that embeds its
// `struct device_driver` in `driver`; `unregister` is only called for a
// registered driver (`driver::Registration`'s invariant).
unsafe impl<T: Driver> driver::RegistrationOps for Adapter<T> {
    type RegType = bindings::virtio_driver;
    type Context = T::Context;
    const DEVICE_DRIVER_OFFSET: usize = core::mem::offset_of!(bindings::virtio_driver, driver);

    unsafe fn register(reg: &Opaque<Self::RegType>, module: &'static ThisModule) -> Result {
        const {
            assert!(T::FEATURES.len() <= u32::MAX as usize);
            assert!(!T::VQ_NAMES.is_empty() && T::VQ_NAMES.len() <= VQ_MAX);
        }
        let drv = reg.get();
        // SAFETY: `drv` is valid for writes and not registered yet, so no
        // one else reads it. The name, the id table (a promoted constant)
        // and the feature table are `'static`.
        unsafe {
            (*drv).driver.name = T::NAME.as_char_ptr();
            (*drv).id_table = const { &Self::IDS }.as_ptr();
            (*drv).feature_table = T::FEATURES.as_ptr();
            (*drv).feature_table_size = T::FEATURES.len() as u32;
            (*drv).validate = Some(validate_cb::<T>);
            (*drv).probe = Some(probe_cb::<T>);
            (*drv).remove = Some(remove_cb::<T>);
        }
        // SAFETY: `drv` is a filled `virtio_driver` that the caller keeps
        // pinned and valid until `unregister`.
        to_result(unsafe { bindings::__register_virtio_driver(drv, module.as_ptr()) })
    }

    unsafe fn unregister(reg: &Opaque<Self::RegType>) {
        // SAFETY: Registered (the caller's guarantee); this unbinds every
        // device first.
        unsafe { bindings::unregister_virtio_driver(reg.get()) };
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
    let mut info: [bindings::virtqueue_info; VQ_MAX] =
        core::array::from_fn(|i| match T::VQ_NAMES.get(i) {
            Some(name) => bindings::virtqueue_info {
                name: name.as_char_ptr(),
                callback: Some(vq_cb::<T>),
                ctx: false,
            },
            None => bindings::virtqueue_info::default(),
        });
    let mut raw = [core::ptr::null_mut(); VQ_MAX];
    // The callbacks find the driver through `priv`; none yet.
    dev.set_priv(core::ptr::null_mut());
    // SAFETY: `dev` is live and being probed; `raw` and `info` hold
    // `VQ_MAX >= n` entries (`register` checked `n`); the names are
    // `'static`.
    to_result(unsafe {
        bindings::rpmsg_rs_virtio_find_vqs(
            dev.as_raw(),
            n as u32,
            raw.as_mut_ptr(),
            info.as_mut_ptr(),
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
    let mut vqs = KVec::with_capacity(n, GFP_KERNEL)?;
    for vq in raw.iter().take(n) {
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
    // SAFETY: Our driver is bound (we are in its probe), so `dev.driver` is
    // the `struct device_driver` of a live `Registration<Adapter<T>>`, which
    // outlives the probe.
    let ctx = unsafe { Registration::<T>::context_of((*dev.raw_dev()).driver) };
    let data = T::probe(dev, vqs, ctx)?;
    // The `Arc` is released in `remove_cb`.
    dev.set_priv(data.into_foreign());
    // SAFETY: `dev` is live and its driver is set up.
    unsafe { bindings::rpmsg_rs_virtio_device_ready(dev.as_raw()) };
    // SAFETY: Just stored.
    let data = unsafe { driver_data::<T>(dev.as_raw()) };
    if let Some(data) = data {
        T::ready(data, dev);
    }
    Ok(())
}

/// # Safety
///
/// `vdev` must be a live device of our driver `T`, whose `priv` is null or
/// the `Arc<T>` that `probe` stored.
unsafe fn driver_data<'a, T: Driver>(
    vdev: *mut bindings::virtio_device,
) -> Option<ArcBorrow<'a, T>> {
    // SAFETY: `vdev` is live.
    let data = unsafe { (*vdev).priv_ };
    // SAFETY: `priv` is null or holds the `Arc<T>` stored by `probe`
    // (`into_foreign`), which `remove_cb` releases only after the queues
    // are gone: no callback borrows it afterwards.
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
    let raw = dev.priv_();
    if raw.is_null() {
        return;
    }
    // SAFETY: `priv` holds the `Arc<T>` a successful probe stored
    // (`into_foreign`), which is only released below.
    T::remove(unsafe { Arc::<T>::borrow(raw) }, dev);
    dev.set_priv(core::ptr::null_mut());
    // SAFETY: Taking back the reference stored by `probe`. The device was
    // reset (it raises no more interrupts) and the driver dropped its
    // queues, which deleted them, so no callback can look at `priv` again.
    drop(unsafe { Arc::<T>::from_foreign(raw) });
}

/// Most virtqueues a driver may have.
const VQ_MAX: usize = 4;

/// # Safety
///
/// Called by the virtio core for a virtqueue of our device.
unsafe extern "C" fn vq_cb<T: Driver>(vq: *mut bindings::virtqueue) {
    // SAFETY: The core passes a live virtqueue of a live device, whose
    // `vdev` and `index` (the queue's position in `find_vqs`, which is
    // `VQ_NAMES`' order) are fixed at creation.
    let (vdev, index) = unsafe { ((*vq).vdev, (*vq).index) };
    // SAFETY: `vdev` is a live device of our driver (its queue calls back).
    if let Some(data) = unsafe { driver_data::<T>(vdev) } {
        T::vq_callback(data, index as usize);
    }
}

// Only in rpmsg_rs_kunit.ko (see rust/kunit/).
#[cfg(rpmsg_rs_kunit)]
#[kunit_tests(rpmsg_rs_virtio)]
mod tests {
    use super::*;
    use kernel::{alloc::VVec, str::CStrExt};

    /// The page an initialised one-entry scatterlist points to.
    fn sg_page(sg: &bindings::scatterlist) -> usize {
        // `page_link` carries the page, its two low bits the chain and end
        // marks (`include/linux/scatterlist.h`).
        sg.page_link & !3
    }

    #[test]
    fn scatterlist_of_linear_memory() -> Result {
        let buf = KBox::new([0u8; 256], GFP_KERNEL)?;
        let ptr = buf.as_ptr().cast_mut().wrapping_add(16);
        let mut sg = MaybeUninit::<bindings::scatterlist>::uninit();
        // SAFETY: `sg` is valid for writes; `ptr..ptr + 100` lies in `buf`,
        // in the linear map (kmalloc).
        unsafe { sg_init_buf(sg.as_mut_ptr(), ptr, 100) }?;
        // SAFETY: Initialised by `sg_init_buf`.
        let sg = unsafe { sg.assume_init() };
        assert_eq!(sg.length, 100);
        assert_eq!(sg.offset as usize, ptr as usize % PAGE_SIZE);
        // One entry: marked as the end of its list.
        assert_eq!(sg.page_link & 2, 2);
        Ok(())
    }

    #[test]
    fn scatterlist_of_vmalloc_memory() -> Result {
        let mut buf = VVec::from_elem(0u8, 3 * PAGE_SIZE, GFP_KERNEL)?;
        let base = buf.as_mut_ptr();
        // SAFETY: `base` is vmalloc memory.
        let (first, pfn0, pfn1) = unsafe {
            (
                bindings::vmalloc_to_page(base.cast()),
                bindings::vmalloc_to_pfn(base.cast()),
                bindings::vmalloc_to_pfn(base.add(PAGE_SIZE).cast()),
            )
        };

        // Inside one page: that page, at the buffer's offset.
        let mut sg = MaybeUninit::<bindings::scatterlist>::uninit();
        // SAFETY: `sg` is valid for writes; the range lies in `buf`.
        unsafe { sg_init_buf(sg.as_mut_ptr(), base.wrapping_add(100), 200) }?;
        // SAFETY: Initialised by `sg_init_buf`.
        let sg = unsafe { sg.assume_init() };
        assert_eq!(sg_page(&sg), first as usize);
        assert_eq!(sg.offset, 100);
        assert_eq!(sg.length, 200);

        // Across a page boundary: one descriptor only if the two pages are
        // physically contiguous, which vmalloc does not promise.
        let mut sg = MaybeUninit::<bindings::scatterlist>::uninit();
        // SAFETY: As above.
        let across = unsafe { sg_init_buf(sg.as_mut_ptr(), base.wrapping_add(PAGE_SIZE - 8), 16) };
        assert_eq!(across.is_ok(), pfn1 == pfn0 + 1);
        Ok(())
    }

    struct Unbound;

    impl Driver for Unbound {
        const NAME: &'static CStr = c"rpmsg_rs_kunit_virtio";
        // No device has this id: the driver is registered, never probed.
        const DEVICE_ID: u32 = 0xfff0;
        const FEATURES: &'static [u32] = &[0, 7];
        const VQ_NAMES: &'static [&'static CStr] = &[c"a", c"b"];
        type Context = u32;

        fn probe(_: &Device, _: KVec<Virtqueue>, _: &u32) -> Result<Arc<Self>> {
            Err(ENODEV)
        }
        fn ready(_: ArcBorrow<'_, Self>, _: &Device) {}
        fn vq_callback(_: ArcBorrow<'_, Self>, _: usize) {}
        fn remove(_: ArcBorrow<'_, Self>, _: &Device) {}
    }

    #[test]
    fn registration_fills_the_driver_and_unregisters() -> Result {
        let module = kernel::module::this_module::<crate::LocalModule>();
        let reg = KBox::pin_init(Registration::<Unbound>::new(module, 7), GFP_KERNEL)?;
        let raw = reg.as_raw();
        // SAFETY: `raw` is registered and lives as long as `reg`; the virtio
        // core does not change these fields.
        let (ids, drv) = unsafe { (core::slice::from_raw_parts((*raw).id_table, 2), &*raw) };
        assert_eq!(ids[0].device, 0xfff0);
        assert_eq!(ids[0].vendor, bindings::VIRTIO_DEV_ANY_ID);
        assert_eq!((ids[1].device, ids[1].vendor), (0, 0));
        assert_eq!(drv.feature_table_size, 2);
        assert!(drv.probe.is_some() && drv.remove.is_some() && drv.validate.is_some());
        // SAFETY: `drv.driver.name` is our NUL-terminated `'static` name.
        assert!(unsafe { CStr::from_char_ptr(drv.driver.name) } == Unbound::NAME);
        assert_eq!(*reg.context(), 7);
        driver::check_context_and_unique_name(module, reg)
    }
}
