// SPDX-License-Identifier: GPL-2.0

//! Character devices in the `rpmsg` class (`include/linux/cdev.h`), made the
//! way the kernel's rpmsg_char and rpmsg_ctrl make theirs: a chrdev region,
//! minor and instance numbers from an IDA, and per device a `struct device`
//! and a `struct cdev` added together with `cdev_device_add()`. The file
//! operations and the device's read-only sysfs attributes land in an [`Ops`]
//! implementation, so a driver built on this holds no `unsafe`.
//!
//! Lifetime, as upstream: the device object embeds both C structures and the
//! driver's `Arc<T>`, and is freed by the device's release callback when its
//! last reference goes. The cdev holds a device reference from
//! `cdev_device_add()` until the cdev itself is released, which happens
//! only after the last open file was closed. So files may outlive the
//! [`CharDevice`]: their operations keep reaching `T` until they are closed.

use super::bindings;
use core::{fmt, marker::PhantomData, ptr::NonNull};
use kernel::{
    alloc::flags::__GFP_ZERO,
    error::{from_result, VTABLE_DEFAULT_ERROR},
    fs::{file::flags::O_NONBLOCK, File, LocalFile},
    iov::{IovIterDest, IovIterSource},
    module::this_module,
    prelude::*,
    sync::{poll::PollTable, Arc, ArcBorrow},
    types::{ForeignOwnable, Opaque},
};

/// Number of minors a region can hold at most (`MINORMASK + 1`, the
/// `RPMSG_DEV_MAX` of rpmsg_char and rpmsg_ctrl).
pub const MAX_MINORS: u32 = bindings::MINORMASK + 1;

/// Most sysfs attributes an [`Ops`] implementation may declare.
pub const MAX_ATTRS: usize = 16;

/// `MKDEV()` of `include/linux/kdev_t.h`.
const fn mkdev(major: u32, minor: u32) -> bindings::dev_t {
    (major << bindings::MINORBITS) | minor
}

/// A region of character device numbers: one major, minors `0..count`
/// (`alloc_chrdev_region()`, released on drop).
///
/// Every [`CharDevice`] registered in it must be dropped before it.
///
/// # Examples
///
/// ```ignore
/// let region = Region::new(c"rpmsg_char", chrdev::MAX_MINORS)?;
/// pr_info!("major {}\n", region.major());
/// ```
///
/// # Invariants
///
/// `base` (minor 0) and `count` describe a region allocated by
/// `alloc_chrdev_region()`, released only in `drop`.
pub struct Region {
    base: bindings::dev_t,
    count: u32,
}

impl Region {
    /// Allocates `count` minors (at most [`MAX_MINORS`]) under a dynamic
    /// major, listed as `name` in `/proc/devices`.
    pub fn new(name: &'static CStr, count: u32) -> Result<Self> {
        if count == 0 || count > MAX_MINORS {
            return Err(EINVAL);
        }
        let mut base: bindings::dev_t = 0;
        // SAFETY: `base` is a valid out-parameter; `name` is NUL-terminated
        // and lives forever.
        kernel::error::to_result(unsafe {
            bindings::alloc_chrdev_region(&mut base, 0, count, name.as_char_ptr())
        })?;
        // INVARIANT: Just allocated.
        Ok(Self { base, count })
    }

    /// The major number.
    pub fn major(&self) -> u32 {
        self.base >> bindings::MINORBITS
    }

    /// Number of minors.
    pub fn count(&self) -> u32 {
        self.count
    }

    fn devt(&self, minor: u32) -> Result<bindings::dev_t> {
        if minor >= self.count {
            return Err(EINVAL);
        }
        Ok(mkdev(self.major(), minor))
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: By the invariant, allocated in `new` and not released yet.
        unsafe { bindings::unregister_chrdev_region(self.base, self.count) };
    }
}

/// A set of numbers (`struct ida`): minors, or the `N` of `rpmsgN`.
///
/// # Examples
///
/// ```ignore
/// let ids = Arc::new(Ids::new(255)?, GFP_KERNEL)?;
/// let minor = Ids::take(&ids)?;
/// assert_eq!(minor.get(), 0);
/// drop(minor); // 0 is free again
/// ```
///
/// # Invariants
///
/// `ida` is initialised, at a fixed address, and destroyed only in `drop`.
pub struct Ids {
    ida: KBox<Opaque<bindings::ida>>,
    max: u32,
}

// SAFETY: The IDA locks internally; it may be used and destroyed anywhere.
unsafe impl Send for Ids {}
// SAFETY: See `Send`.
unsafe impl Sync for Ids {}

impl Ids {
    /// A set that hands out `0..=max` (`max` is capped at `i32::MAX`, the
    /// IDA's limit).
    pub fn new(max: u32) -> Result<Self> {
        let ida = KBox::new(Opaque::<bindings::ida>::uninit(), GFP_KERNEL)?;
        // SAFETY: `ida` is ours, at a fixed address (it is never moved out
        // of the box).
        unsafe { bindings::rpmsg_rs_chrdev_ida_init(ida.get()) };
        // INVARIANT: Initialised just now.
        Ok(Self {
            ida,
            max: max.min(i32::MAX as u32),
        })
    }

    /// The lowest free number (`ida_alloc_max()`); `ENOSPC` when all are
    /// taken.
    pub fn alloc(&self) -> Result<u32> {
        // SAFETY: The IDA is initialised (invariant) and locks internally.
        let id =
            unsafe { bindings::ida_alloc_range(self.ida.get(), 0, self.max, bindings::GFP_KERNEL) };
        // Non-negative ids fit; negative values are errnos.
        u32::try_from(id).map_err(|_| Error::from_errno(id))
    }

    /// Gives `id` back. It must have come from [`Self::alloc`] and not have
    /// been freed since (the IDA warns otherwise).
    pub fn free(&self, id: u32) {
        // SAFETY: The IDA is initialised and locks internally; a bad id
        // only makes it warn.
        unsafe { bindings::ida_free(self.ida.get(), id) };
    }

    /// [`Self::alloc`], freed when the returned [`Id`] is dropped.
    pub fn take(this: &Arc<Self>) -> Result<Id> {
        let id = this.alloc()?;
        Ok(Id {
            ids: this.clone(),
            id,
        })
    }
}

impl Drop for Ids {
    fn drop(&mut self) {
        // SAFETY: Initialised (invariant); no other user is left.
        unsafe { bindings::ida_destroy(self.ida.get()) };
    }
}

/// A number taken from an [`Ids`] set, given back on drop.
///
/// # Examples
///
/// See [`Ids`].
///
/// # Invariants
///
/// `id` is allocated in `ids` and owned by `self`.
pub struct Id {
    ids: Arc<Ids>,
    id: u32,
}

impl Id {
    /// The number.
    pub fn get(&self) -> u32 {
        self.id
    }
}

impl Drop for Id {
    fn drop(&mut self) {
        self.ids.free(self.id);
    }
}

/// What a driver implements for its character devices. `Self` is the
/// per-device object, shared (`Arc`) between the device and its open files.
///
/// # Examples
///
/// A device whose files read a greeting (the KUnit suite of this file has
/// it registered and opened):
///
/// ```ignore
/// struct Hello;
///
/// #[vtable]
/// impl chrdev::Ops for Hello {
///     const ATTRS: &'static [&'static CStr] = &[c"greeting"];
///
///     fn show_attr(&self, _index: usize, f: &mut kernel::fmt::Formatter<'_>) -> kernel::fmt::Result {
///         f.write_str("hello\n")
///     }
///     fn read(_: ArcBorrow<'_, Self>, _: &LocalFile, out: &mut IovIterDest<'_>, _: bool) -> Result<usize> {
///         Ok(out.copy_to_iter(b"hello\n"))
///     }
/// }
/// ```
///
/// Implementations carry `#[vtable]`: the file operations a type does not
/// implement (`read`, `write`, `poll`, `ioctl`) are left out of its
/// `file_operations`, so the VFS answers for them exactly as for a C driver
/// without them (rpmsg_ctrl has no read, write or poll).
///
/// Every operation of an open file reaches `Self`, also after the
/// [`CharDevice`] was dropped (a driver makes them fail then, e.g. with
/// `EPIPE`). Errors are returned to userspace as their errno.
#[vtable]
pub trait Ops: Send + Sync + Sized + 'static {
    /// The device's sysfs attributes (read-only, 0444), shown by
    /// [`Ops::show_attr`] with their index, e.g. `&[c"name", c"src", c"dst"]`.
    /// At most [`MAX_ATTRS`] (checked at build time).
    const ATTRS: &'static [&'static CStr] = &[];

    /// Writes attribute `index` of [`Ops::ATTRS`], as `sysfs_emit()` would:
    /// output beyond a page is cut. An error makes the read fail with `EIO`.
    fn show_attr(&self, _index: usize, _f: &mut kernel::fmt::Formatter<'_>) -> kernel::fmt::Result {
        Ok(())
    }

    /// open(2). On success the file holds a reference to `this` until
    /// [`Ops::release`].
    fn open(_this: ArcBorrow<'_, Self>, _file: &File) -> Result {
        Ok(())
    }

    /// The last close of a file [`Ops::open`] accepted.
    fn release(_this: ArcBorrow<'_, Self>, _file: &File) {}

    /// read(2), readv(2), aio and io_uring reads (`read_iter`); `nonblock` is
    /// `O_NONBLOCK`. Returns the number of bytes written to `out`.
    fn read(
        _this: ArcBorrow<'_, Self>,
        _file: &LocalFile,
        _out: &mut IovIterDest<'_>,
        _nonblock: bool,
    ) -> Result<usize> {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// write(2), writev(2) and the like (`write_iter`); `nonblock` is
    /// `O_NONBLOCK`. Returns the number of bytes consumed.
    fn write(
        _this: ArcBorrow<'_, Self>,
        _file: &LocalFile,
        _data: &mut IovIterSource<'_>,
        _nonblock: bool,
    ) -> Result<usize> {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// poll(2), select(2), epoll: the event mask (`EPOLL*` bits),
    /// registering `table` for wake-ups.
    fn poll(_this: ArcBorrow<'_, Self>, _file: &File, _table: &PollTable<'_>) -> u32 {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// ioctl(2). 32-bit callers on a 64-bit kernel come here too, with
    /// `arg` converted by `compat_ptr()` (`compat_ptr_ioctl`, as upstream).
    fn ioctl(_this: ArcBorrow<'_, Self>, _file: &File, _cmd: u32, _arg: usize) -> Result<isize> {
        build_error!(VTABLE_DEFAULT_ERROR)
    }
}

/// The object behind a registered device.
///
/// # Invariants
///
/// Allocated zeroed by `KBox` in [`CharDevice::register`] and never moved.
/// Once `dev` is initialised (`device_initialize()`), the allocation is owned
/// by the device's reference count and freed only by [`release_device`].
/// `cdev` is initialised with the file operations of `T`.
#[repr(C)]
struct Inner<T: Ops> {
    dev: Opaque<bindings::device>,
    cdev: Opaque<bindings::cdev>,
    data: Arc<T>,
}

/// A registered character device (device + cdev) in the `rpmsg` class.
///
/// # Examples
///
/// `/dev/rpmsg_hello0`, child of the channel device `rpdev`:
///
/// ```ignore
/// let minor = Ids::take(&minors)?;
/// let chardev = CharDevice::register(Arc::new(Hello, GFP_KERNEL)?, &region, minor.get(), rpdev.as_dev(), fmt!("rpmsg_hello{}", 0))?;
/// // ...
/// chardev.unregister(); // open files keep reaching `Hello`
/// ```
///
/// Dropping it (or [`CharDevice::unregister`]) does `cdev_device_del()` and
/// `put_device()`: the node and the sysfs entries go at once, the object
/// when its last open file is closed.
///
/// # Invariants
///
/// `inner` points to an `Inner<T>` whose device and cdev were added with
/// `cdev_device_add()`; `self` owns one device reference.
pub struct CharDevice<T: Ops> {
    inner: NonNull<Inner<T>>,
}

// SAFETY: Unregistering may happen on any thread; `T` is `Send + Sync`.
unsafe impl<T: Ops> Send for CharDevice<T> {}
// SAFETY: `&self` only gives out `&Device` and `&Arc<T>`, both `Sync`.
unsafe impl<T: Ops> Sync for CharDevice<T> {}

impl<T: Ops> CharDevice<T> {
    /// Creates device `name` in the `rpmsg` class, child of `parent`, with
    /// number `minor` of `region`, the attributes of `T` and the node
    /// `/dev/<name>`.
    pub fn register(
        data: Arc<T>,
        region: &Region,
        minor: u32,
        parent: &kernel::device::Device,
        name: fmt::Arguments<'_>,
    ) -> Result<Self> {
        let devt = region.devt(minor)?;
        let boxed = KBox::<Inner<T>>::new_uninit(GFP_KERNEL | __GFP_ZERO)?;
        let inner = KBox::into_raw(boxed).cast::<Inner<T>>();
        // SAFETY: `inner` is a fresh, zeroed allocation: the zeroed `Opaque`
        // fields are valid, `data` is written now, which makes the whole
        // `Inner<T>` valid.
        unsafe { (&raw mut (*inner).data).write(data) };
        // SAFETY: `inner` is valid (above) and not shared yet.
        let (dev, cdev) = unsafe { ((*inner).dev.get(), (*inner).cdev.get()) };
        // SAFETY: `dev` and `cdev` are zeroed, as `device_initialize()` and
        // `cdev_init()` expect. From `device_initialize()` on, the device's
        // reference count owns the allocation (invariant of `Inner`), which
        // `release_device::<T>` frees; the class, the attribute tables and
        // the file operations are static.
        unsafe {
            bindings::device_initialize(dev);
            (*dev).release = Some(release_device::<T>);
            (*dev).class = &raw const bindings::rpmsg_class;
            (*dev).parent = core::ptr::from_ref(parent).cast_mut().cast();
            (*dev).groups = attr_groups::<T>();
            (*dev).devt = devt;
            bindings::cdev_init(cdev, const { &Fops::<T>::FOPS });
            (*cdev).owner = this_module::<T::OwnerModule>().as_ptr();
        }
        // SAFETY: `dev` is initialised; `%pA` formats the `fmt::Arguments`
        // that the argument points to, which lives for the call.
        let ret = unsafe {
            bindings::dev_set_name(
                dev,
                c"%pA".as_char_ptr(),
                (&raw const name).cast::<kernel::ffi::c_void>(),
            )
        };
        let ret = if ret == 0 {
            // SAFETY: `dev` (named) and `cdev` are initialised and belong
            // together; `devt` is set.
            unsafe { bindings::cdev_device_add(cdev, dev) }
        } else {
            ret
        };
        if ret != 0 {
            // SAFETY: Drops the reference of `device_initialize()`; the
            // release callback frees `inner`, or the last open file does
            // if one sneaked in between `cdev_add()` and `cdev_del()`.
            unsafe { bindings::put_device(dev) };
            return Err(Error::from_errno(ret));
        }
        // SAFETY: `inner` is not null (it came from a `KBox`).
        let inner = unsafe { NonNull::new_unchecked(inner) };
        // INVARIANT: Added; we keep the reference of `device_initialize()`.
        Ok(Self { inner })
    }

    fn raw_dev(&self) -> *mut bindings::device {
        // SAFETY: `inner` is live while we hold our device reference.
        unsafe { (*self.inner.as_ptr()).dev.get() }
    }

    /// The class device, e.g. as the parent of further devices.
    pub fn device(&self) -> &kernel::device::Device {
        // SAFETY: We hold a reference to the device for as long as `self`
        // and so the returned reference live.
        unsafe { kernel::device::Device::from_raw(self.raw_dev()) }
    }

    /// The object shared with the open files.
    pub fn data(&self) -> &Arc<T> {
        // SAFETY: `inner` is live while we hold our device reference;
        // `data` is never written after `register`.
        unsafe { &(*self.inner.as_ptr()).data }
    }

    /// Same as dropping: unregisters the device.
    pub fn unregister(self) {
        drop(self);
    }
}

impl<T: Ops> Drop for CharDevice<T> {
    fn drop(&mut self) {
        let inner = self.inner.as_ptr();
        // SAFETY: By the invariant, added by `register` and not deleted
        // yet; then gives up our reference. Open files keep the object
        // alive through the cdev.
        unsafe {
            bindings::cdev_device_del((*inner).cdev.get(), (*inner).dev.get());
            bindings::put_device((*inner).dev.get());
        }
    }
}

/// # Safety
///
/// Called by the driver core when the last reference to a device of
/// `CharDevice<T>` goes.
unsafe extern "C" fn release_device<T: Ops>(dev: *mut bindings::device) {
    // SAFETY: `dev` is the first field of a `repr(C)` `Inner<T>`, allocated
    // by `KBox` in `register`; nobody references it anymore.
    drop(unsafe { KBox::from_raw(dev.cast::<Inner<T>>()) });
}

/// Recovers the object a file of `CharDevice<T>` holds.
///
/// # Safety
///
/// `filp` must be a file of a `CharDevice<T>` that `open_cb` accepted and
/// that is not released yet, for the lifetime `'a`.
unsafe fn file_data<'a, T: Ops>(filp: *mut bindings::file) -> ArcBorrow<'a, T> {
    // SAFETY: `open_cb` stored an `Arc<T>` (`into_foreign`) in
    // `private_data`; `release_cb` takes it back only when the file is gone.
    unsafe { Arc::<T>::borrow((*filp).private_data) }
}

/// The file operations of `T`, as rpmsg_char's and rpmsg_ctrl's: no
/// `llseek` (lseek fails with `ESPIPE`), `compat_ioctl` is
/// `compat_ptr_ioctl`, only the operations `T` implements.
struct Fops<T>(PhantomData<T>);

impl<T: Ops> Fops<T> {
    const FOPS: bindings::file_operations = bindings::file_operations {
        owner: this_module::<T::OwnerModule>().as_ptr(),
        open: Some(open_cb::<T>),
        release: Some(release_cb::<T>),
        read_iter: if T::HAS_READ {
            Some(read_iter_cb::<T>)
        } else {
            None
        },
        write_iter: if T::HAS_WRITE {
            Some(write_iter_cb::<T>)
        } else {
            None
        },
        poll: if T::HAS_POLL {
            Some(poll_cb::<T>)
        } else {
            None
        },
        unlocked_ioctl: if T::HAS_IOCTL {
            Some(ioctl_cb::<T>)
        } else {
            None
        },
        compat_ioctl: if T::HAS_IOCTL {
            bindings::compat_ptr_ioctl
        } else {
            None
        },
        // SAFETY: All-zeroes is a valid `file_operations` (no operation).
        ..unsafe { core::mem::zeroed() }
    };
}

/// # Safety
///
/// Called by `chrdev_open()` for an inode of one of our devices, with the
/// file being opened.
unsafe extern "C" fn open_cb<T: Ops>(
    inode: *mut bindings::inode,
    filp: *mut bindings::file,
) -> kernel::ffi::c_int {
    // SAFETY: `chrdev_open()` set `i_cdev` to our cdev, the `cdev` field of
    // an `Inner<T>`, and holds a reference to it for the file's lifetime;
    // the cdev holds one to the device, which keeps `Inner<T>` alive.
    let inner = unsafe {
        let cdev = bindings::rpmsg_rs_chrdev_inode_cdev(inode).cast::<Opaque<bindings::cdev>>();
        &*kernel::container_of!(cdev, Inner<T>, cdev)
    };
    let data = inner.data.clone();
    // SAFETY: The file is valid for the call; nobody else uses it yet.
    let file = unsafe { File::from_raw_file(filp) };
    from_result(|| {
        T::open(data.as_arc_borrow(), file)?;
        // SAFETY: The file is being opened: its private data is ours. The
        // reference goes back in `release_cb`.
        unsafe { (*filp).private_data = data.into_foreign() };
        Ok(0)
    })
}

/// # Safety
///
/// Called by the VFS when the last reference to a file `open_cb` accepted
/// goes.
unsafe extern "C" fn release_cb<T: Ops>(
    _inode: *mut bindings::inode,
    filp: *mut bindings::file,
) -> kernel::ffi::c_int {
    // SAFETY: The file is valid for the call; a non-null `private_data` is
    // the reference `open_cb` stored (`into_foreign`). No other operation
    // runs on a file being released, and none follows.
    let Some(data) = (unsafe { Arc::<T>::try_from_foreign((*filp).private_data) }) else {
        return 0;
    };
    // SAFETY: The file is valid for the call.
    T::release(data.as_arc_borrow(), unsafe { File::from_raw_file(filp) });
    0
}

/// # Safety
///
/// Called by the VFS with a valid `kiocb` for a file of ours and an
/// `ITER_DEST` iterator, both valid for the call.
unsafe extern "C" fn read_iter_cb<T: Ops>(
    kiocb: *mut bindings::kiocb,
    iter: *mut bindings::iov_iter,
) -> isize {
    // SAFETY: As documented. A read may run inside an `fdget_pos()` that
    // took no lock (character devices have no `FMODE_ATOMIC_POS`), hence
    // `LocalFile`.
    let (data, file, out) = unsafe {
        let filp = (*kiocb).ki_filp;
        (
            file_data::<T>(filp),
            LocalFile::from_raw_file(filp),
            IovIterDest::from_raw(iter),
        )
    };
    let nonblock = file.flags() & O_NONBLOCK != 0;
    from_result(|| isize::try_from(T::read(data, file, out, nonblock)?).map_err(|_| EOVERFLOW))
}

/// # Safety
///
/// Called by the VFS with a valid `kiocb` for a file of ours and an
/// `ITER_SOURCE` iterator, both valid for the call.
unsafe extern "C" fn write_iter_cb<T: Ops>(
    kiocb: *mut bindings::kiocb,
    iter: *mut bindings::iov_iter,
) -> isize {
    // SAFETY: As for `read_iter_cb`.
    let (data, file, src) = unsafe {
        let filp = (*kiocb).ki_filp;
        (
            file_data::<T>(filp),
            LocalFile::from_raw_file(filp),
            IovIterSource::from_raw(iter),
        )
    };
    let nonblock = file.flags() & O_NONBLOCK != 0;
    from_result(|| isize::try_from(T::write(data, file, src, nonblock)?).map_err(|_| EOVERFLOW))
}

/// # Safety
///
/// Called by the VFS for a file of ours, with a poll table (or null) valid
/// for the call.
unsafe extern "C" fn poll_cb<T: Ops>(
    filp: *mut bindings::file,
    wait: *mut bindings::poll_table,
) -> bindings::__poll_t {
    // SAFETY: As documented; poll runs under a plain `fdget()`.
    let (data, file, table) = unsafe {
        (
            file_data::<T>(filp),
            File::from_raw_file(filp),
            PollTable::from_raw(wait),
        )
    };
    T::poll(data, file, &table)
}

/// # Safety
///
/// Called by the VFS (or `compat_ptr_ioctl()`) for a file of ours.
unsafe extern "C" fn ioctl_cb<T: Ops>(
    filp: *mut bindings::file,
    cmd: kernel::ffi::c_uint,
    arg: kernel::ffi::c_ulong,
) -> kernel::ffi::c_long {
    // SAFETY: As documented; ioctl runs under a plain `fdget()`.
    let (data, file) = unsafe { (file_data::<T>(filp), File::from_raw_file(filp)) };
    // `c_ulong` and `c_long` are `usize` and `isize` in the kernel.
    from_result(|| T::ioctl(data, file, cmd, arg))
}

/// A `device_attribute` that knows its index in `Ops::ATTRS`.
#[repr(C)]
struct Attr {
    raw: bindings::device_attribute,
    index: usize,
}

/// The static attribute tables of `T`: `LIST` holds the attributes,
/// `PTRS` the NULL-terminated array of the group, `GROUPS` the
/// NULL-terminated array a device points to.
struct Attrs<T>(PhantomData<T>);

impl<T: Ops> Attrs<T> {
    const LIST: [Attr; MAX_ATTRS] = {
        assert!(
            T::ATTRS.len() <= MAX_ATTRS,
            "too many attributes in Ops::ATTRS"
        );
        // SAFETY: All-zeroes is a valid `Attr` (C integers and pointers,
        // `None` callbacks).
        let mut list: [Attr; MAX_ATTRS] = unsafe { core::mem::zeroed() };
        let mut i = 0;
        while i < T::ATTRS.len() {
            list[i].raw.attr.name = kernel::str::as_char_ptr_in_const_context(T::ATTRS[i]);
            list[i].raw.attr.mode = 0o444;
            list[i].raw.__bindgen_anon_1.show = Some(show_attr_cb::<T>);
            list[i].index = i;
            i += 1;
        }
        list
    };

    const PTRS: [*mut bindings::attribute; MAX_ATTRS + 1] = {
        let list: &'static [Attr; MAX_ATTRS] = const { &Self::LIST };
        let mut ptrs = [core::ptr::null_mut(); MAX_ATTRS + 1];
        let mut i = 0;
        while i < T::ATTRS.len() {
            ptrs[i] = (&raw const list[i].raw.attr).cast_mut();
            i += 1;
        }
        ptrs
    };

    const GROUP: bindings::attribute_group = {
        // SAFETY: All-zeroes is a valid `attribute_group` (no name, no
        // callbacks, no attributes).
        let mut group: bindings::attribute_group = unsafe { core::mem::zeroed() };
        group.__bindgen_anon_2.attrs = const { &Self::PTRS }.as_ptr().cast_mut();
        group
    };

    const GROUPS: [*const bindings::attribute_group; 2] =
        [const { &Self::GROUP }, core::ptr::null()];
}

/// `dev->groups` for a device of `T`: none if it declares no attribute.
fn attr_groups<T: Ops>() -> *mut *const bindings::attribute_group {
    if T::ATTRS.is_empty() {
        core::ptr::null_mut()
    } else {
        // Never written through: sysfs only reads the tables.
        const { &Attrs::<T>::GROUPS }.as_ptr().cast_mut()
    }
}

/// Shows attribute `index` of a `T` through `Display`, which is how a
/// `Formatter` for [`Ops::show_attr`] comes about.
struct ShowAttr<'a, T> {
    data: &'a T,
    index: usize,
}

impl<T: Ops> fmt::Display for ShowAttr<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.data.show_attr(self.index, f)
    }
}

/// Writes into a sysfs page like `sysfs_emit()`: at most `PAGE_SIZE - 1`
/// bytes, the rest is cut.
///
/// # Invariants
///
/// `buf` is valid for writes of `PAGE_SIZE` bytes; `len < PAGE_SIZE`.
struct PageWriter {
    buf: *mut u8,
    len: usize,
}

impl PageWriter {
    /// # Safety
    ///
    /// `buf` must be valid for writes of `PAGE_SIZE` bytes while the writer
    /// lives.
    unsafe fn new(buf: *mut u8) -> Self {
        // INVARIANT: The caller's promise; `0 < PAGE_SIZE`.
        Self { buf, len: 0 }
    }

    /// Terminates the text (as `vscnprintf()` does) and returns its length.
    fn finish(self) -> usize {
        // SAFETY: `len < PAGE_SIZE` (invariant).
        unsafe { self.buf.add(self.len).write(0) };
        self.len
    }
}

impl fmt::Write for PageWriter {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let n = s.len().min(bindings::PAGE_SIZE - 1 - self.len);
        // SAFETY: `len + n <= PAGE_SIZE - 1`, inside `buf` (invariant).
        unsafe {
            core::ptr::copy_nonoverlapping(s.as_ptr(), self.buf.add(self.len), n);
        }
        // INVARIANT: Still below `PAGE_SIZE`.
        self.len += n;
        Ok(())
    }
}

/// # Safety
///
/// Called by sysfs for an attribute of `Attrs::<T>::LIST` on a device of
/// `CharDevice<T>`, with a page-sized buffer.
unsafe extern "C" fn show_attr_cb<T: Ops>(
    dev: *mut bindings::device,
    attr: *mut bindings::device_attribute,
    buf: *mut kernel::ffi::c_char,
) -> isize {
    // SAFETY: Our attributes exist only on devices of `CharDevice<T>`; `dev`
    // is the first field of a `repr(C)` `Inner<T>`, alive while sysfs calls
    // us (`device_del()` waits for running calls, and the `CharDevice`
    // holds a reference until then). `attr` is the first field of an `Attr`.
    let (inner, index) = unsafe { (&*dev.cast::<Inner<T>>(), (*attr.cast::<Attr>()).index) };
    // SAFETY: sysfs hands us a page.
    let mut out = unsafe { PageWriter::new(buf.cast()) };
    let shown = ShowAttr {
        data: &*inner.data,
        index,
    };
    match fmt::Write::write_fmt(&mut out, format_args!("{shown}")) {
        Ok(()) => out.finish() as isize,
        Err(_) => EIO.to_errno() as isize,
    }
}

// Only in rpmsg_rs_kunit.ko (see rust/kunit/).
#[cfg(rpmsg_rs_kunit)]
#[kunit_tests(rpmsg_rs_chrdev)]
mod tests {
    use super::super::platform_device::PlatformDevice;
    use super::*;
    use kernel::sync::atomic::{Atomic, Relaxed};

    #[test]
    fn region_checks_its_size_and_minors() -> Result {
        assert!(matches!(Region::new(c"rpmsg_rs_kunit", 0), Err(e) if e == EINVAL));
        assert!(matches!(Region::new(c"rpmsg_rs_kunit", MAX_MINORS + 1), Err(e) if e == EINVAL));
        let region = Region::new(c"rpmsg_rs_kunit", 4)?;
        assert!(region.major() != 0);
        assert_eq!(region.count(), 4);
        assert_eq!(region.devt(3)?, mkdev(region.major(), 3));
        assert!(matches!(region.devt(4), Err(e) if e == EINVAL));
        // Another region gets another major.
        let other = Region::new(c"rpmsg_rs_kunit", 1)?;
        assert!(other.major() != region.major());
        Ok(())
    }

    #[test]
    fn ids_hand_out_the_lowest_free_number() -> Result {
        let ids = Arc::new(Ids::new(2)?, GFP_KERNEL)?;
        assert_eq!(ids.alloc()?, 0);
        assert_eq!(ids.alloc()?, 1);
        ids.free(0);
        assert_eq!(ids.alloc()?, 0);
        assert_eq!(ids.alloc()?, 2);
        assert!(matches!(ids.alloc(), Err(e) if e == ENOSPC));
        ids.free(1);
        {
            let id = Ids::take(&ids)?;
            assert_eq!(id.get(), 1);
            assert!(matches!(ids.alloc(), Err(e) if e == ENOSPC));
        }
        // Dropping the `Id` gave its number back.
        assert_eq!(ids.alloc()?, 1);
        Ok(())
    }

    /// Objects dropped so far.
    static DROPPED: Atomic<u32> = Atomic::new(0);

    /// A device's object; counts its drops.
    struct Probe;

    impl Drop for Probe {
        fn drop(&mut self) {
            DROPPED.fetch_add(1, Relaxed);
        }
    }

    #[vtable]
    impl Ops for Probe {
        const ATTRS: &'static [&'static CStr] = &[c"answer"];
    }

    #[test]
    fn device_is_registered_and_released() -> Result {
        let pdev = PlatformDevice::new(c"rpmsg_rs_kunit_chrdev", -1, 32)?;
        let region = Region::new(c"rpmsg_rs_kunit", 2)?;
        let data = Arc::new(Probe, GFP_KERNEL)?;
        let chrdev = CharDevice::register(
            data.clone(),
            &region,
            1,
            pdev.as_dev(),
            fmt!("rpmsg_rs_kunit{}", 1),
        )?;
        assert!(chrdev.device().name() == c"rpmsg_rs_kunit1");
        assert!(Arc::ptr_eq(chrdev.data(), &data));
        // SAFETY: The device is registered while `chrdev` lives.
        let devt = unsafe { (*chrdev.raw_dev()).devt };
        assert_eq!(devt, mkdev(region.major(), 1));
        // Minor 2 is outside the region.
        let beyond = CharDevice::register(
            data.clone(),
            &region,
            2,
            pdev.as_dev(),
            fmt!("rpmsg_rs_kunit{}", 2),
        );
        assert!(matches!(beyond, Err(e) if e == EINVAL));
        let before = DROPPED.load(Relaxed);

        // Unregistered, with no file open, the device releases its object.
        drop(chrdev);
        assert_eq!(DROPPED.load(Relaxed), before);
        drop(data);
        assert_eq!(DROPPED.load(Relaxed), before + 1);
        Ok(())
    }
}
