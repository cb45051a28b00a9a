// SPDX-License-Identifier: GPL-2.0

//! Decimal output of 64-bit counters that works on 32-bit kernels.
//!
//! `core::fmt` prints a `u64` by dividing it by powers of ten. On 32-bit ARM
//! that division is `__aeabi_uldivmod`, which the kernel's Rust runtime
//! defines to panic ("`u64` division/modulo should not be used",
//! `rust/compiler_builtins.rs`): `{}` of a `u64` is a kernel BUG there, not
//! a build error. [`U64`] prints through the kernel's `vsprintf` (`%llu`,
//! which divides with `do_div()`), on every architecture alike.
//! `scripts/check-modules.sh` refuses 32-bit modules that format 64-bit
//! integers with `core::fmt`.

use super::bindings;
use core::fmt;
use kernel::prelude::*;

/// A `u64` that displays in decimal on every architecture.
///
/// # Examples
///
/// ```ignore
/// pr_info!("{} bytes\n", U64(stats.rx_bytes));
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct U64(pub u64);

impl fmt::Display for U64 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // u64::MAX has 20 digits; the terminating NUL takes one more.
        let mut buf = [0u8; 24];
        // SAFETY: `buf` is writable for `buf.len()` bytes; the format is
        // NUL-terminated and its one conversion (`%llu`) matches the
        // argument, a `u64` (`unsigned long long`).
        let len = unsafe {
            bindings::scnprintf(
                buf.as_mut_ptr().cast(),
                buf.len(),
                c"%llu".as_char_ptr(),
                self.0,
            )
        };
        let len = usize::try_from(len).map_err(|_| fmt::Error)?;
        let digits = buf.get(..len).ok_or(fmt::Error)?;
        let digits = core::str::from_utf8(digits).map_err(|_| fmt::Error)?;
        f.pad_integral(true, "", digits)
    }
}

/// Counts one more event in `counter`.
///
/// Out of line on purpose: inlined, every counter of a module carries its own
/// overflow check and panic location; through here they share one.
#[inline(never)]
pub fn bump(counter: &mut u64) {
    *counter += 1;
}
