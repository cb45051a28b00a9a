// SPDX-License-Identifier: GPL-2.0

//! Registering a bare platform device, as a parent for subsystems that need
//! a `struct device` with DMA capabilities (remoteproc).

use super::bindings;
use core::ptr::NonNull;
use kernel::{error::from_err_ptr, prelude::*};

/// A registered platform device without a driver.
///
/// # Examples
///
/// ```ignore
/// // `my-remote.0`, which may do DMA to 32-bit addresses; unregistered
/// // when `pdev` is dropped.
/// let pdev = PlatformDevice::new(c_str!("my-remote"), 0, 32)?;
/// assert!(PlatformDevice::new(c_str!("bad"), 1, 65).is_err());
/// ```
///
/// # Invariants
///
/// `pdev` is a platform device registered by `new` and unregistered only
/// when `self` is dropped.
pub struct PlatformDevice {
    pdev: NonNull<bindings::platform_device>,
}

// SAFETY: The device is refcounted by the driver core and may be unregistered
// from any thread.
unsafe impl Send for PlatformDevice {}
// SAFETY: `&PlatformDevice` only gives out `&Device`, which is `Sync`.
unsafe impl Sync for PlatformDevice {}

impl PlatformDevice {
    /// Registers platform device `name.id` with a `dma_bits`-bit DMA mask.
    pub fn new(name: &'static CStr, id: i32, dma_bits: u32) -> Result<Self> {
        if !(1..=64).contains(&dma_bits) {
            return Err(EINVAL);
        }
        // SAFETY: `name` is a valid NUL-terminated string that outlives the
        // device (`'static`).
        let pdev = from_err_ptr(unsafe {
            bindings::rpmsg_rs_platform_device_register_simple(name.as_char_ptr(), id)
        })?;
        let pdev = NonNull::new(pdev).ok_or(ENOMEM)?;
        // INVARIANT: `pdev` was just registered.
        let this = Self { pdev };
        let mask = if dma_bits == 64 {
            u64::MAX
        } else {
            (1u64 << dma_bits) - 1
        };
        // SAFETY: The device is registered and ours.
        kernel::error::to_result(unsafe {
            bindings::rpmsg_rs_dma_coerce_mask_and_coherent(this.raw_dev(), mask)
        })?;
        Ok(this)
    }

    pub(crate) fn raw_dev(&self) -> *mut bindings::device {
        // SAFETY: `pdev` is valid by the type invariant.
        unsafe { &raw mut (*self.pdev.as_ptr()).dev }
    }
}

impl Drop for PlatformDevice {
    fn drop(&mut self) {
        // SAFETY: Registered in `new`, unregistered only here.
        unsafe { bindings::platform_device_unregister(self.pdev.as_ptr()) };
    }
}
