// SPDX-License-Identifier: GPL-2.0

//! What both sides of the kernel's rpmsg core share: the identity of a
//! channel (`struct rpmsg_channel_info`), which transports
//! ([`super::rpmsg`]), client drivers ([`super::rpmsg_driver`]) and the
//! userspace ABI ([`super::uapi`]) pass around, and an endpoint's callback
//! lock, which transports call the callbacks under and drivers change them
//! under.

use super::bindings;
use kernel::prelude::*;

/// Length of a channel name field, terminator included.
pub const NAME_SIZE: usize = bindings::RPMSG_NAME_SIZE as usize;
/// Identity of a channel: name and addresses.
///
/// # Examples
///
/// ```ignore
/// let info = ChannelInfo::new(b"rpmsg-raw", ADDR_ANY, 0x400)?;
/// assert_eq!(info.name(), b"rpmsg-raw");
/// assert!(ChannelInfo::new(&[b'x'; NAME_SIZE], 0, 0).is_err());
/// let raw: bindings::rpmsg_channel_info = info.to_c();
/// ```
#[derive(Clone, Copy)]
pub struct ChannelInfo {
    name: [u8; NAME_SIZE],
    pub src: u32,
    pub dst: u32,
}

impl ChannelInfo {
    /// `name` must fit with its terminator.
    pub fn new(name: &[u8], src: u32, dst: u32) -> Result<Self> {
        if name.len() >= NAME_SIZE || name.contains(&0) {
            return Err(EINVAL);
        }
        let mut buf = [0u8; NAME_SIZE];
        copy_prefix(&mut buf, name);
        Ok(Self {
            name: buf,
            src,
            dst,
        })
    }

    /// The name, without terminator.
    #[allow(dead_code, reason = "rpmsg_client_sample_rs does not read names")]
    pub fn name(&self) -> &[u8] {
        let end = self.name.iter().position(|&c| c == 0).unwrap_or(NAME_SIZE);
        &self.name[..end]
    }

    /// From a C name field and addresses (the name is cut to fit its
    /// terminator).
    pub fn from_c_name(name: &[kernel::ffi::c_char; NAME_SIZE], src: u32, dst: u32) -> Self {
        let mut buf = [0u8; NAME_SIZE];
        for (d, s) in buf.iter_mut().zip(name.iter()).take(NAME_SIZE - 1) {
            *d = *s;
        }
        Self {
            name: buf,
            src,
            dst,
        }
    }

    /// The C form.
    pub fn to_c(self) -> bindings::rpmsg_channel_info {
        let mut raw = bindings::rpmsg_channel_info::default();
        for (d, s) in raw.name.iter_mut().zip(self.name.iter()) {
            *d = *s;
        }
        raw.src = self.src;
        raw.dst = self.dst;
        raw
    }
}

/// Copies what fits of `src` to the start of `dst`: no length-mismatch
/// panic path, whose callee objtool does not know as noreturn under every
/// rustc (it then reports a fall-through into the next function).
fn copy_prefix(dst: &mut [u8], src: &[u8]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d = *s;
    }
}

/// Runs `f` holding endpoint `ept`'s `cb_lock`: transports call an
/// endpoint's callbacks under it, so what `f` changes of `cb`, `priv` or
/// `flow_cb` no callback sees half-done, and no callback runs meanwhile.
///
/// # Safety
///
/// `ept` must be a live endpoint (its `cb_lock` initialised), and `f` must
/// not take that lock again.
pub(crate) unsafe fn with_cb_lock<R>(
    ept: *mut bindings::rpmsg_endpoint,
    f: impl FnOnce() -> R,
) -> R {
    // SAFETY: `ept` is live (the caller's guarantee); this only computes
    // the address of a field.
    let lock = unsafe { &raw mut (*ept).cb_lock };
    // SAFETY: `lock` is an initialised mutex of a live endpoint, which we
    // do not hold (the caller's guarantee); it is unlocked below, by us.
    unsafe { bindings::mutex_lock(lock) };
    let ret = f();
    // SAFETY: Locked above by this thread.
    unsafe { bindings::mutex_unlock(lock) };
    ret
}

// Only in rpmsg_rs_kunit.ko (see rust/kunit/).
#[cfg(rpmsg_rs_kunit)]
#[kunit_tests(rpmsg_rs_channel_info)]
mod tests {
    use super::*;

    #[test]
    fn channel_info_terminates_and_truncates() {
        assert!(ChannelInfo::new(&[b'a'; NAME_SIZE], 1, 2).is_err());
        assert!(ChannelInfo::new(b"a\0b", 1, 2).is_err());
        let info = ChannelInfo::new(b"rpmsg-raw", bindings::RPMSG_ADDR_ANY, 1025).expect("info");
        let raw = info.to_c();
        assert_eq!(raw.name[9], 0);
        let back = ChannelInfo::from_c_name(&raw.name, raw.src, raw.dst);
        assert_eq!(back.name(), b"rpmsg-raw");
        assert_eq!((back.src, back.dst), (bindings::RPMSG_ADDR_ANY, 1025));
        // An unterminated C name is cut to fit its terminator.
        let long = [b'x'; NAME_SIZE];
        assert_eq!(
            ChannelInfo::from_c_name(&long, 0, 0).name().len(),
            NAME_SIZE - 1
        );
    }
}
