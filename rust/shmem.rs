// SPDX-License-Identifier: GPL-2.0

//! Memory shared with a remote processor.
//!
//! A region of reserved physical memory (not system RAM: on real boards a
//! `reserved-memory` node, in the test guest a `memmap=` range), mapped
//! write-combining like the DMA pools remoteproc builds on the same memory,
//! so that the kernel never holds two mappings of different cache types.
//!
//! The other side writes this memory concurrently, so every access goes
//! through a bounds-checked offset, as a volatile access or a copy with
//! volatile semantics (`copy_shared`); nothing hands out Rust references
//! into it.

use super::bindings;
use super::volatile::copy_shared;
use core::ptr::NonNull;
use kernel::prelude::*;

/// A mapped region of reserved physical memory.
///
/// # Examples
///
/// ```ignore
/// let shm = SharedMemory::map(0x8000_0000, 0x10_0000)?;
/// shm.write(0x100, &42u32.to_le_bytes())?;
/// let mut word = [0u8; 4];
/// shm.read(0x100, &mut word)?;
/// assert_eq!(u32::from_le_bytes(word), 42);
/// // Out of the region: an error, never an access.
/// assert!(shm.read(shm.len() - 2, &mut word).is_err());
/// ```
///
/// # Invariants
///
/// `va` is the start of a live `memremap()` mapping of `len` bytes at
/// physical address `phys`, unmapped only when `self` is dropped.
pub struct SharedMemory {
    va: NonNull<u8>,
    phys: u64,
    len: usize,
}

// SAFETY: The mapping is not tied to a task; all access is volatile (or
// `copy_shared`) and bounds-checked, so it may be used from any thread.
unsafe impl Send for SharedMemory {}
// SAFETY: See `Send`; concurrent accesses of that kind are how shared memory works.
unsafe impl Sync for SharedMemory {}

impl SharedMemory {
    /// Maps `len` bytes of reserved memory at `phys`.
    ///
    /// Fails with `EINVAL` for an empty or overflowing range or one the
    /// kernel cannot address (`resource_size_t` is 32 bits on ARMv7 without
    /// LPAE), and `ENOMEM` if the kernel refuses the mapping (for example
    /// because the range is system RAM).
    pub fn map(phys: u64, len: usize) -> Result<Self> {
        let last = (len as u64)
            .checked_sub(1)
            .and_then(|n| phys.checked_add(n))
            .ok_or(EINVAL)?;
        #[allow(clippy::useless_conversion, clippy::unnecessary_fallible_conversions)]
        let (offset, _) = (
            bindings::resource_size_t::try_from(phys).map_err(|_| EINVAL)?,
            bindings::resource_size_t::try_from(last).map_err(|_| EINVAL)?,
        );
        // SAFETY: `memremap` has no preconditions; it checks the range itself.
        let va = unsafe { bindings::memremap(offset, len, bindings::MEMREMAP_WC as usize) };
        let va = NonNull::new(va.cast::<u8>()).ok_or(ENOMEM)?;
        // INVARIANT: `va` maps `len` bytes at `phys`.
        Ok(Self { va, phys, len })
    }

    pub fn phys(&self) -> u64 {
        self.phys
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// The sub-range `[off, off + len)`, or `EINVAL` if it leaves the region.
    pub fn slice(&self, off: usize, len: usize) -> Result<ShmSlice<'_>> {
        self.check(off, len)?;
        Ok(ShmSlice {
            mem: self,
            off,
            len,
        })
    }

    fn check(&self, off: usize, len: usize) -> Result {
        match off.checked_add(len) {
            Some(end) if end <= self.len => Ok(()),
            _ => Err(EINVAL),
        }
    }

    /// Pointer to `off` after checking that `size` bytes there are in the
    /// region and that `off` is aligned to `align`.
    fn at(&self, off: usize, size: usize, align: usize) -> Result<*mut u8> {
        self.check(off, size)?;
        if off % align != 0 {
            return Err(EINVAL);
        }
        // SAFETY: `off + size <= len`, so the result stays in the mapping.
        Ok(unsafe { self.va.as_ptr().add(off) })
    }

    /// Copies bytes out of the region.
    pub fn read(&self, off: usize, buf: &mut [u8]) -> Result {
        let src = self.at(off, buf.len(), 1)?;
        // SAFETY: `src..src + buf.len()` is inside the mapping (checked by
        // `at`), which lives as long as `self`; `buf` is ours and not in it.
        unsafe { copy_shared(src, buf.as_mut_ptr(), buf.len()) };
        Ok(())
    }

    /// Copies bytes into the region.
    pub fn write(&self, off: usize, data: &[u8]) -> Result {
        let dst = self.at(off, data.len(), 1)?;
        // SAFETY: As in `read`.
        unsafe { copy_shared(data.as_ptr(), dst, data.len()) };
        Ok(())
    }
}

macro_rules! le_accessors {
    ($($ty:ty: $read:ident $(, $write:ident)?;)*) => {
        impl SharedMemory {
            $(
                /// Reads a naturally aligned little-endian value in one access.
                pub fn $read(&self, off: usize) -> Result<$ty> {
                    let p = self.at(off, size_of::<$ty>(), align_of::<$ty>())?;
                    // SAFETY: `p` is in the mapping and aligned (checked by `at`).
                    Ok(<$ty>::from_le(unsafe { p.cast::<$ty>().read_volatile() }))
                }

                $(
                    /// Writes a naturally aligned little-endian value in one access.
                    pub fn $write(&self, off: usize, val: $ty) -> Result {
                        let p = self.at(off, size_of::<$ty>(), align_of::<$ty>())?;
                        // SAFETY: `p` is in the mapping and aligned (checked by `at`).
                        unsafe { p.cast::<$ty>().write_volatile(val.to_le()) };
                        Ok(())
                    }
                )?
            )*
        }
    };
}

// The remote writes no 64-bit field.
le_accessors! {
    u16: read_u16, write_u16;
    u32: read_u32, write_u32;
    u64: read_u64;
}

impl Drop for SharedMemory {
    fn drop(&mut self) {
        // SAFETY: By the type invariant `va` came from `memremap` and is
        // unmapped only here.
        unsafe { bindings::memunmap(self.va.as_ptr().cast()) };
    }
}

/// A checked sub-range of a [`SharedMemory`], for handing memory to C
/// subsystems (remoteproc carveouts, resource tables).
#[derive(Clone, Copy)]
pub struct ShmSlice<'a> {
    mem: &'a SharedMemory,
    off: usize,
    len: usize,
}

impl ShmSlice<'_> {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn phys(&self) -> u64 {
        self.mem.phys + self.off as u64
    }

    /// Whether this slice is part of `shm`.
    pub fn is_in(&self, shm: &SharedMemory) -> bool {
        core::ptr::eq(self.mem, shm)
    }

    /// The kernel virtual address of the slice, for C code that keeps it
    /// no longer than the region is mapped.
    pub(crate) fn as_ptr(&self) -> *mut u8 {
        // SAFETY: `off + len <= mem.len` by construction in `slice`.
        unsafe { self.mem.va.as_ptr().add(self.off) }
    }
}
