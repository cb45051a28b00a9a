// SPDX-License-Identifier: GPL-2.0

//! The userspace ABI the char layer implements: `linux/rpmsg.h` (its ioctls
//! and their argument) and the poll masks of `linux/eventpoll.h`, all taken
//! from the kernel's headers through the bindings.

use super::bindings;
use super::rpmsg_core::{ChannelInfo, NAME_SIZE};
use kernel::{
    ioctl::{_IO, _IOR, _IOW},
    prelude::*,
    transmute::FromBytes,
    uaccess::{UserPtr, UserSlice},
};

/// `struct rpmsg_endpoint_info`, the control device's ioctl argument.
type EndpointInfo = bindings::rpmsg_endpoint_info;

// SAFETY: `rpmsg_endpoint_info` is a `char` array and two `__u32`, without
// padding: every byte pattern is a valid value.
unsafe impl FromBytes for EndpointInfo {}

pub const RPMSG_CREATE_EPT_IOCTL: u32 = _IOW::<EndpointInfo>(0xb5, 0x1);
pub const RPMSG_DESTROY_EPT_IOCTL: u32 = _IO(0xb5, 0x2);
pub const RPMSG_CREATE_DEV_IOCTL: u32 = _IOW::<EndpointInfo>(0xb5, 0x3);
pub const RPMSG_RELEASE_DEV_IOCTL: u32 = _IOW::<EndpointInfo>(0xb5, 0x4);
pub const RPMSG_GET_OUTGOING_FLOWCONTROL: u32 = _IOR::<i32>(0xb5, 0x5);
pub const RPMSG_SET_INCOMING_FLOWCONTROL: u32 = _IOR::<i32>(0xb5, 0x6);

// The header's macros are casts, which bindgen does not evaluate; the
// bindings carry constants of their values (bindings_helper.h).
pub const EPOLLIN: u32 = bindings::RPMSG_RS_EPOLLIN;
pub const EPOLLPRI: u32 = bindings::RPMSG_RS_EPOLLPRI;
#[allow(dead_code, reason = "the bus's poll mask, not the char layer's")]
pub const EPOLLOUT: u32 = bindings::RPMSG_RS_EPOLLOUT;
pub const EPOLLERR: u32 = bindings::RPMSG_RS_EPOLLERR;
pub const EPOLLRDNORM: u32 = bindings::RPMSG_RS_EPOLLRDNORM;

const _: () = assert!(core::mem::size_of::<EndpointInfo>() == NAME_SIZE + 8);

/// Reads the `struct rpmsg_endpoint_info` at `arg` in userspace. The name
/// is cut to fit its terminator, as upstream's `rpmsg_ctrldev_ioctl()` does.
///
/// # Examples
///
/// ```ignore
/// fn ioctl(this: ArcBorrow<'_, Self>, _file: &File, cmd: u32, arg: usize) -> Result<isize> {
///     // `EFAULT` if `arg` is not a readable `struct rpmsg_endpoint_info`.
///     let info = read_endpoint_info(arg)?;
///     match cmd {
///         RPMSG_CREATE_EPT_IOCTL => this.create(info),
///         _ => Err(EINVAL),
///     }
/// }
/// ```
pub fn read_endpoint_info(arg: usize) -> Result<ChannelInfo> {
    let info: EndpointInfo = UserSlice::new(
        UserPtr::from_addr(arg),
        core::mem::size_of::<EndpointInfo>(),
    )
    .reader()
    .read()?;
    Ok(ChannelInfo::from_c_name(&info.name, info.src, info.dst))
}
