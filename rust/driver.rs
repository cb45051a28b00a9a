// SPDX-License-Identifier: GPL-2.0

//! Driver registration, one pattern for every bus (`include/linux/device/driver.h`).
//!
//! Modelled on the kernel crate's `kernel::driver::{RegistrationOps, Registration}`: a bus
//! implements [`RegistrationOps`] for its C driver structure (`struct virtio_driver`,
//! `struct rpmsg_driver`): filling the structure from Rust and calling the bus's register and
//! unregister functions. [`Registration`] is the one generic, pinned owner of such a structure.
//!
//! Unlike the kernel crate's version, a registration carries a context of the driver's choosing
//! that every probe of the registration gets ([`Registration::context`]): several registrations of
//! one module can share state without a global (the char layer's two drivers share their device
//! numbering, the virtio bus hands its debugfs directory to every device).

use super::bindings;
use kernel::{prelude::*, types::Opaque};

/// What a bus implements so that its drivers can be registered with [`Registration`].
///
/// # Safety
///
/// - [`RegistrationOps::RegType`] is `repr(C)` and embeds its `struct device_driver` at byte
///   offset [`RegistrationOps::DEVICE_DRIVER_OFFSET`].
/// - A call to [`RegistrationOps::unregister`] is only made, and only valid, after a successful
///   [`RegistrationOps::register`] of the same `reg`.
pub unsafe trait RegistrationOps {
    /// The bus's C driver structure.
    type RegType: Default;
    /// What the registration hands to every probe.
    type Context: Send + Sync;
    /// Byte offset of the `struct device_driver` in [`RegistrationOps::RegType`].
    const DEVICE_DRIVER_OFFSET: usize;

    /// Fills `reg` (zeroed, as `Default` makes bindgen's structures) and registers it with the bus.
    ///
    /// # Safety
    ///
    /// On success, `reg` must stay pinned and valid until the matching
    /// [`RegistrationOps::unregister`], and be the `reg` field of a [`Registration<Self>`].
    unsafe fn register(reg: &Opaque<Self::RegType>, module: &'static ThisModule) -> Result;

    /// Unregisters `reg`; every device bound to it is unbound first.
    ///
    /// # Safety
    ///
    /// Only after a successful [`RegistrationOps::register`] of the same `reg`.
    unsafe fn unregister(reg: &Opaque<Self::RegType>);
}

/// A registered driver of a bus `T` and its context, unregistered on drop.
///
/// # Invariants
///
/// `reg` was registered by `T::register` and stays so until `drop`; it is the first field of a
/// `repr(C)` structure, so a pointer to it is a pointer to the registration (see
/// [`Registration::context`]).
///
/// # Examples
///
/// A module registering an rpmsg client driver `MyDriver` whose probes share a counter:
///
/// ```ignore
/// use kernel::{prelude::*, sync::atomic::{Atomic, Relaxed}};
///
/// #[pin_data]
/// struct MyModule {
///     #[pin]
///     _reg: rpmsg_driver::Registration<MyDriver>,
/// }
///
/// impl kernel::InPlaceModule for MyModule {
///     fn init(module: &'static ThisModule) -> impl PinInit<Self, Error> {
///         // `MyDriver::Context` is `Atomic<u32>`: `probe` gets `&Atomic<u32>`.
///         try_pin_init!(Self {
///             _reg <- rpmsg_driver::Registration::new(module, Atomic::new(0)),
///         })
///     }
/// }
/// ```
///
/// Or, in a module that is not initialised in place:
///
/// ```ignore
/// let reg = KBox::pin_init(rpmsg_driver::Registration::<MyDriver>::new(module, ()), GFP_KERNEL)?;
/// ```
#[repr(C)]
#[pin_data(PinnedDrop)]
pub struct Registration<T: RegistrationOps> {
    #[pin]
    reg: Opaque<T::RegType>,
    ctx: T::Context,
}

// SAFETY: Through `&Registration` only the context, which is `Sync`, and the address of the C
// structure are reachable.
unsafe impl<T: RegistrationOps> Sync for Registration<T> {}

// SAFETY: Registering and unregistering may happen on any thread, and the context is `Send`.
unsafe impl<T: RegistrationOps> Send for Registration<T> {}

impl<T: RegistrationOps> Registration<T> {
    /// Registers a driver with context `ctx`.
    pub fn new(module: &'static ThisModule, ctx: T::Context) -> impl PinInit<Self, Error>
    where
        T: 'static,
    {
        try_pin_init!(Self {
            ctx,
            // `reg` is initialised after `ctx`: probes, which may run as soon as it is
            // registered, read the context.
            reg <- Opaque::try_ffi_init(|ptr: *mut T::RegType| {
                // SAFETY: `try_ffi_init` gives a pointer valid for writes.
                unsafe { ptr.write(T::RegType::default()) };
                // SAFETY: Initialised just now; `Opaque<T>` is a transparent wrapper of `T`.
                let reg = unsafe { &*ptr.cast::<Opaque<T::RegType>>() };
                // SAFETY: `reg` is pinned in a `Registration<T>` (`try_pin_init!`), whose drop
                // unregisters it before it goes.
                unsafe { T::register(reg, module) }
            }),
        })
    }

    /// The registration's context.
    #[cfg(rpmsg_rs_kunit)]
    pub fn context(&self) -> &T::Context {
        &self.ctx
    }

    /// The bus's C driver structure, registered.
    #[cfg(rpmsg_rs_kunit)]
    pub fn as_raw(&self) -> *mut T::RegType {
        self.reg.get()
    }

    /// The context of the registration that `drv` belongs to.
    ///
    /// # Safety
    ///
    /// `drv` must be the `struct device_driver` of a live `Registration<T>` that outlives `'a`:
    /// for example the driver of a device during its probe or remove callback.
    pub unsafe fn context_of<'a>(drv: *const bindings::device_driver) -> &'a T::Context {
        // SAFETY: By the safety requirements of `RegistrationOps`, `drv` lies
        // `DEVICE_DRIVER_OFFSET` bytes into `reg`, which is at offset 0 of the `repr(C)`
        // `Registration<T>` (type invariant); `Opaque` is transparent. The caller guarantees the
        // registration is live for `'a`, and `ctx` is never mutated after initialisation.
        unsafe {
            let reg = drv.cast::<u8>().sub(T::DEVICE_DRIVER_OFFSET);
            &(*reg.cast::<Self>()).ctx
        }
    }
}

#[pinned_drop]
impl<T: RegistrationOps> PinnedDrop for Registration<T> {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: By the type invariant `reg` was registered successfully; it is unregistered once.
        unsafe { T::unregister(&self.reg) };
    }
}

/// What each bus's KUnit suite checks of its registrations: a probe finds
/// the registration's context from its driver, and the driver core refuses a
/// second driver of the same name until the first is unregistered.
#[cfg(rpmsg_rs_kunit)]
pub(crate) fn check_context_and_unique_name<T: RegistrationOps<Context = u32> + 'static>(
    module: &'static ThisModule,
    reg: Pin<KBox<Registration<T>>>,
) -> Result {
    let drv = reg
        .as_raw()
        .cast::<u8>()
        .wrapping_add(T::DEVICE_DRIVER_OFFSET)
        .cast::<bindings::device_driver>();
    // SAFETY: `drv` is the `struct device_driver` of `reg` (`RegistrationOps`),
    // which is live until it is dropped below, after the last use of `ctx`.
    let ctx = unsafe { Registration::<T>::context_of(drv) };
    assert!(core::ptr::eq(ctx, reg.context()));
    let first = *ctx;
    let again = KBox::pin_init(Registration::<T>::new(module, first + 1), GFP_KERNEL);
    assert!(matches!(again, Err(e) if e == EBUSY));
    drop(reg);
    let again = KBox::pin_init(Registration::<T>::new(module, first + 2), GFP_KERNEL)?;
    assert_eq!(*again.context(), first + 2);
    Ok(())
}
