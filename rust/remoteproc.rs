// SPDX-License-Identifier: GPL-2.0

//! Remote processors (`include/linux/remoteproc.h`), for drivers of
//! processors that run before Linux looks at them: the core *attaches* to
//! them through the resource table they already have loaded, instead of
//! loading firmware, and recovers them from a crash by detaching and
//! attaching again.

use super::bindings;
use super::platform_device::PlatformDevice;
use super::shmem::{SharedMemory, ShmSlice};
use core::marker::PhantomData;
use core::ptr::NonNull;
use kernel::{
    error::from_result,
    prelude::*,
    sync::{aref::AlwaysRefCounted, Arc, ArcBorrow},
    types::{ForeignOwnable, Opaque},
};

/// A remote processor.
///
/// # Invariants
///
/// Instances only exist behind references to a `struct rproc` that is alive
/// (refcounted through its embedded `struct device`).
#[repr(transparent)]
pub struct Rproc(Opaque<bindings::rproc>);

// SAFETY: The rproc core serialises its own state; the methods below may be
// called from any thread.
unsafe impl Send for Rproc {}
// SAFETY: See `Send`.
unsafe impl Sync for Rproc {}

// SAFETY: `get_device`/`put_device` on the embedded device keep the rproc
// allocated; it is freed by its device's release callback.
unsafe impl AlwaysRefCounted for Rproc {
    fn inc_ref(&self) {
        // SAFETY: `self` is alive by the type invariant.
        unsafe { bindings::rpmsg_rs_rproc_get(self.as_raw()) }
    }

    unsafe fn dec_ref(obj: NonNull<Self>) {
        // SAFETY: The caller gives up a reference it owns.
        unsafe { bindings::rpmsg_rs_rproc_put(obj.cast::<bindings::rproc>().as_ptr()) }
    }
}

impl Rproc {
    /// # Safety
    ///
    /// `ptr` must point to a live `struct rproc` for the lifetime `'a`.
    unsafe fn from_raw<'a>(ptr: *mut bindings::rproc) -> &'a Rproc {
        // SAFETY: `Rproc` is a transparent wrapper; liveness is the caller's
        // promise.
        unsafe { &*ptr.cast::<Rproc>() }
    }

    fn as_raw(&self) -> *mut bindings::rproc {
        self.0.get()
    }

    /// Registers carveout `name` over `mem`, a slice of `shm`, at device
    /// address `da`. The carveout keeps `shm` alive for as long as the core
    /// holds it.
    pub fn add_carveout(
        &self,
        name: &CStr,
        shm: &Arc<SharedMemory>,
        mem: ShmSlice<'_>,
        da: u32,
        kind: Carveout,
    ) -> Result {
        // The entry keeps `shm` alive, so `mem` must lie in it.
        if !mem.is_in(shm) {
            return Err(EINVAL);
        }
        // Device addresses equal physical addresses (see `Documentation/design.md`);
        // `dma_addr_t` is 32 bits on ARMv7 without LPAE.
        #[allow(clippy::useless_conversion, clippy::unnecessary_fallible_conversions)]
        let dma = bindings::dma_addr_t::try_from(mem.phys()).map_err(|_| EINVAL)?;
        let va = if kind == Carveout::Mapped {
            mem.as_ptr().cast()
        } else {
            core::ptr::null_mut()
        };
        // SAFETY: `self` is alive; `name` is copied by the "%s" format; `va`
        // (if any) stays mapped while the entry holds `shm` (see below).
        let entry = unsafe {
            bindings::rproc_mem_entry_init(
                bindings::rpmsg_rs_rproc_parent(self.as_raw()),
                va,
                dma,
                mem.len(),
                da,
                None,
                Some(release_carveout),
                c"%s".as_char_ptr(),
                name.as_char_ptr(),
            )
        };
        let entry = NonNull::new(entry).ok_or(ENOMEM)?;
        let keep = shm.clone();
        // SAFETY: `entry` is a fresh entry not yet visible to the core; the
        // reference in `priv_` is dropped by `release_carveout`, which the
        // core calls when it discards the entry.
        unsafe {
            (*entry.as_ptr()).priv_ = keep.into_foreign();
            bindings::rproc_add_carveout(self.as_raw(), entry.as_ptr());
        }
        Ok(())
    }

    /// Signals the host side of vring `notifyid`, as the processor's
    /// interrupt would. Returns whether a virtqueue handled it.
    pub fn vq_interrupt(&self, notifyid: u32) -> bool {
        let Ok(id) = i32::try_from(notifyid) else {
            return false;
        };
        // SAFETY: `self` is alive; the core looks the id up and ignores ids
        // without a live virtqueue.
        let ret = unsafe { bindings::rproc_vq_interrupt(self.as_raw(), id) };
        ret.0 != bindings::irqreturn::IRQ_NONE.0
    }

    /// Reports a fatal crash; the core recovers the processor
    /// asynchronously. Ignored once the processor is being removed.
    pub fn report_crash(&self) {
        // SAFETY: `self` is alive; the core ignores reports during removal.
        unsafe {
            bindings::rproc_report_crash(
                self.as_raw(),
                bindings::rproc_crash_type_RPROC_FATAL_ERROR,
            )
        }
    }
}

/// Releases the reference a carveout entry holds on its memory.
///
/// # Safety
///
/// Called by the rproc core, once, for an entry made by `add_carveout`.
unsafe extern "C" fn release_carveout(
    _rproc: *mut bindings::rproc,
    entry: *mut bindings::rproc_mem_entry,
) -> kernel::ffi::c_int {
    // SAFETY: `priv_` holds the reference taken in `add_carveout`
    // (`into_foreign`); the core calls this once, when it frees the entry.
    drop(unsafe { Arc::<SharedMemory>::from_foreign((*entry).priv_) });
    0
}

/// How the core uses a carveout.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Carveout {
    /// Through our mapping of it (vrings).
    Mapped,
    /// Not mapped by us: a vdev buffer carveout (`vdev%dbuffer`) becomes the
    /// vdev's DMA pool, which the core maps itself.
    Pool,
}

/// What a remote processor driver implements.
///
/// # Examples
///
/// A processor whose firmware is already running and whose vrings and
/// buffer pool lie in one region of reserved memory (as `sim/` does):
///
/// ```ignore
/// impl Operations for Remote {
///     fn prepare(this: ArcBorrow<'_, Self>, rproc: &Rproc) -> Result {
///         let shm = &this.shm;
///         rproc.add_carveout(c_str!("vdev0vring0"), shm, shm.slice(0, 0x4000)?, DA, Carveout::Mapped)?;
///         rproc.add_carveout(c_str!("vdev0vring1"), shm, shm.slice(0x4000, 0x4000)?, DA + 0x4000, Carveout::Mapped)?;
///         let pool = shm.slice(0x8000, shm.len() - 0x8000)?;
///         rproc.add_carveout(c_str!("vdev0buffer"), shm, pool, DA + 0x8000, Carveout::Pool)
///     }
///     fn attach(_: ArcBorrow<'_, Self>, _: &Rproc) -> Result { Ok(()) }
///     fn detach(_: ArcBorrow<'_, Self>, _: &Rproc) -> Result { Ok(()) }
///     fn stop(_: ArcBorrow<'_, Self>, _: &Rproc) -> Result { Ok(()) }
///     fn kick(this: ArcBorrow<'_, Self>, _: &Rproc, vqid: i32) { this.queue_service(vqid) }
///     fn resource_table(&self) -> Result<ShmSlice<'_>> { self.shm.slice(RSC_OFF, RSC_LEN) }
/// }
/// ```
pub trait Operations: Send + Sync + Sized + 'static {
    /// Before every attach (also during recovery): the processor (re)boots;
    /// register carveouts and (re)load the resource table.
    fn prepare(this: ArcBorrow<'_, Self>, rproc: &Rproc) -> Result;
    /// The core has handled the resource table and attached.
    fn attach(this: ArcBorrow<'_, Self>, rproc: &Rproc) -> Result;
    /// The core detaches (recovery): the processor stops serving the host.
    fn detach(this: ArcBorrow<'_, Self>, rproc: &Rproc) -> Result;
    /// The core shuts the processor down (removal, or a user stop).
    fn stop(this: ArcBorrow<'_, Self>, rproc: &Rproc) -> Result;
    /// The host kicked the vring with notify id `vqid`. May be called in
    /// atomic context.
    fn kick(this: ArcBorrow<'_, Self>, rproc: &Rproc, vqid: i32);
    /// The loaded resource table.
    fn resource_table(&self) -> Result<ShmSlice<'_>>;
}

/// A remote processor registered with the core.
///
/// # Examples
///
/// ```ignore
/// let pdev = PlatformDevice::new(c_str!("my-remote"), 0, 32)?;
/// let remote = Arc::new(Remote::new(SharedMemory::map(PHYS, LEN)?), GFP_KERNEL)?;
/// // The core boots (attaches to) it at once; dropping the registration
/// // shuts it down and deletes it.
/// let reg = Registration::new(&pdev, c_str!("my-remote0"), remote)?;
/// ```
///
/// # Invariants
///
/// `rproc` was allocated and added by `new` with `data` (as a raw `Arc`) in
/// its private area; it is deleted and released only in `drop`.
pub struct Registration<T: Operations> {
    rproc: NonNull<bindings::rproc>,
    _data: PhantomData<Arc<T>>,
}

// SAFETY: The rproc may be deleted from any thread; `T` is `Send + Sync`.
unsafe impl<T: Operations> Send for Registration<T> {}
// SAFETY: `&Registration` gives out nothing but `&Rproc`, which is `Sync`.
unsafe impl<T: Operations> Sync for Registration<T> {}

impl<T: Operations> Registration<T> {
    const OPS: bindings::rproc_ops = bindings::rproc_ops {
        prepare: Some(prepare_cb::<T>),
        attach: Some(attach_cb::<T>),
        detach: Some(detach_cb::<T>),
        stop: Some(stop_cb::<T>),
        kick: Some(kick_cb::<T>),
        get_loaded_rsc_table: Some(rsc_table_cb::<T>),
        // SAFETY: All-zero is a valid `rproc_ops`: every other op is absent.
        ..unsafe { core::mem::zeroed() }
    };

    /// Registers remote processor `name` under `parent`. The core attaches
    /// to it at once (auto boot), calling into `data`.
    pub fn new(parent: &PlatformDevice, name: &CStr, data: Arc<T>) -> Result<Self> {
        let size = core::mem::size_of::<*const T>() as i32;
        // SAFETY: `parent` is a live device; `name` and the ops table are
        // copied by the core.
        let rproc = unsafe {
            bindings::rproc_alloc(
                parent.raw_dev(),
                name.as_char_ptr(),
                &Self::OPS,
                core::ptr::null(),
                size,
            )
        };
        let rproc = NonNull::new(rproc).ok_or(ENOMEM)?;
        // SAFETY: `rproc` is freshly allocated with room for one pointer in
        // its private area; no callback can run before `rproc_add`.
        unsafe {
            bindings::rpmsg_rs_rproc_priv(rproc.as_ptr())
                .cast::<*mut kernel::ffi::c_void>()
                .write(data.into_foreign());
            bindings::rpmsg_rs_rproc_set_attach_mode(rproc.as_ptr());
        }
        // INVARIANT: The private area holds the `Arc`; `drop` releases both.
        let this = Self {
            rproc,
            _data: PhantomData,
        };
        // SAFETY: `rproc` is fully set up.
        let ret = unsafe { bindings::rproc_add(rproc.as_ptr()) };
        if ret != 0 {
            // `drop` would delete an rproc that was never added.
            core::mem::forget(this);
            // SAFETY: Not added, so no callback can run any more.
            unsafe { Self::free(rproc) };
            return Err(Error::from_errno(ret));
        }
        Ok(this)
    }

    /// # Safety
    ///
    /// `rproc` must come from `new` and not be registered with the core.
    unsafe fn free(rproc: NonNull<bindings::rproc>) {
        // SAFETY: The private area holds the `Arc` stored by `new`, and no
        // callback can run any more.
        unsafe {
            let data = bindings::rpmsg_rs_rproc_priv(rproc.as_ptr())
                .cast::<*mut kernel::ffi::c_void>()
                .read();
            drop(Arc::<T>::from_foreign(data));
            bindings::rproc_free(rproc.as_ptr());
        }
    }
}

impl<T: Operations> Drop for Registration<T> {
    fn drop(&mut self) {
        // SAFETY: Added in `new`; after `rproc_del` the core makes no more
        // calls into `T`, so the data may go.
        unsafe {
            bindings::rproc_del(self.rproc.as_ptr());
            Self::free(self.rproc);
        }
    }
}

/// # Safety
///
/// `rproc` must be an rproc registered by [`Registration::new`] for `T`.
unsafe fn data<'a, T: Operations>(rproc: *mut bindings::rproc) -> ArcBorrow<'a, T> {
    // SAFETY: The private area holds an `Arc<T>` (`into_foreign`) for as
    // long as the core may call back (see `Registration`).
    unsafe {
        Arc::<T>::borrow(
            bindings::rpmsg_rs_rproc_priv(rproc)
                .cast::<*mut kernel::ffi::c_void>()
                .read(),
        )
    }
}

macro_rules! result_callback {
    ($name:ident, $method:ident) => {
        /// # Safety
        ///
        /// Called by the rproc core with an rproc registered for `T`.
        unsafe extern "C" fn $name<T: Operations>(
            rproc: *mut bindings::rproc,
        ) -> kernel::ffi::c_int {
            // SAFETY: The core passes the live rproc we registered.
            let (this, rp) = unsafe { (data::<T>(rproc), Rproc::from_raw(rproc)) };
            from_result(|| {
                T::$method(this, rp)?;
                Ok(0)
            })
        }
    };
}

result_callback!(prepare_cb, prepare);
result_callback!(attach_cb, attach);
result_callback!(detach_cb, detach);
result_callback!(stop_cb, stop);

/// # Safety
///
/// Called by the rproc core with an rproc registered for `T`.
unsafe extern "C" fn kick_cb<T: Operations>(rproc: *mut bindings::rproc, vqid: kernel::ffi::c_int) {
    // SAFETY: The core passes the live rproc we registered.
    let (this, rp) = unsafe { (data::<T>(rproc), Rproc::from_raw(rproc)) };
    T::kick(this, rp, vqid);
}

/// # Safety
///
/// Called by the rproc core with an rproc registered for `T` and a valid
/// `size` out-parameter.
unsafe extern "C" fn rsc_table_cb<T: Operations>(
    rproc: *mut bindings::rproc,
    size: *mut usize,
) -> *mut bindings::resource_table {
    // SAFETY: The core passes the live rproc we registered.
    let this = unsafe { data::<T>(rproc) };
    match T::resource_table(&this) {
        Ok(table) => {
            // SAFETY: `size` is a valid out-parameter.
            unsafe { *size = table.len() };
            table.as_ptr().cast()
        }
        Err(e) => e.to_ptr(),
    }
}
