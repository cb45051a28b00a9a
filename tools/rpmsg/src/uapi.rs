//! `include/uapi/linux/rpmsg.h`, re-derived from the `_IOC` encoding of
//! `include/uapi/asm-generic/ioctl.h` (x86, arm and arm64 all use it).

/// "Let the other side pick": unbound source, or no default destination.
pub const RPMSG_ADDR_ANY: u32 = 0xffff_ffff;

/// `RPMSG_NAME_SIZE`: the name field, NUL terminator included.
pub const RPMSG_NAME_SIZE: usize = 32;

const IOC_NRSHIFT: u32 = 0;
const IOC_TYPESHIFT: u32 = 8;
const IOC_SIZESHIFT: u32 = 16;
const IOC_DIRSHIFT: u32 = 30;
const IOC_NONE: u32 = 0;
const IOC_WRITE: u32 = 1;
const IOC_READ: u32 = 2;

const fn ioc(dir: u32, ty: u32, nr: u32, size: usize) -> u32 {
    (dir << IOC_DIRSHIFT)
        | ((size as u32) << IOC_SIZESHIFT)
        | (ty << IOC_TYPESHIFT)
        | (nr << IOC_NRSHIFT)
}

/// The argument size an ioctl request number encodes.
pub const fn ioc_size(req: u32) -> usize {
    ((req >> IOC_SIZESHIFT) & 0x3fff) as usize
}

/// `struct rpmsg_endpoint_info`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EndpointInfo {
    pub name: [u8; RPMSG_NAME_SIZE],
    pub src: u32,
    pub dst: u32,
}

impl EndpointInfo {
    /// Builds the ioctl argument; names that would not keep their NUL
    /// terminator are refused rather than silently cut by the kernel.
    pub fn new(name: &str, src: u32, dst: u32) -> crate::Result<Self> {
        let bytes = name.as_bytes();
        if bytes.len() >= RPMSG_NAME_SIZE || bytes.contains(&0) {
            return Err(crate::Error::Invalid(format!(
                "bad endpoint name {name:?}: at most {} bytes, no NUL",
                RPMSG_NAME_SIZE - 1
            )));
        }
        let mut info = Self {
            name: [0; RPMSG_NAME_SIZE],
            src,
            dst,
        };
        info.name[..bytes.len()].copy_from_slice(bytes);
        Ok(info)
    }
}

const RPMSG_IOC_MAGIC: u32 = 0xb5;
const INFO_SIZE: usize = core::mem::size_of::<EndpointInfo>();
const INT_SIZE: usize = core::mem::size_of::<libc::c_int>();

pub const RPMSG_CREATE_EPT_IOCTL: u32 = ioc(IOC_WRITE, RPMSG_IOC_MAGIC, 1, INFO_SIZE);
pub const RPMSG_DESTROY_EPT_IOCTL: u32 = ioc(IOC_NONE, RPMSG_IOC_MAGIC, 2, 0);
pub const RPMSG_CREATE_DEV_IOCTL: u32 = ioc(IOC_WRITE, RPMSG_IOC_MAGIC, 3, INFO_SIZE);
pub const RPMSG_RELEASE_DEV_IOCTL: u32 = ioc(IOC_WRITE, RPMSG_IOC_MAGIC, 4, INFO_SIZE);
pub const RPMSG_GET_OUTGOING_FLOWCONTROL: u32 = ioc(IOC_READ, RPMSG_IOC_MAGIC, 5, INT_SIZE);
/// Declared `_IOR(..., int)`, but `rpmsg_eptdev_ioctl()` uses the argument
/// itself as the value (0 or 1), not as a pointer.
pub const RPMSG_SET_INCOMING_FLOWCONTROL: u32 = ioc(IOC_READ, RPMSG_IOC_MAGIC, 6, INT_SIZE);
/// A request in rpmsg's ioctl space that no rpmsg driver implements.
pub const RPMSG_UNKNOWN_IOCTL: u32 = ioc(IOC_NONE, RPMSG_IOC_MAGIC, 0x7f, 0);
/// The same unknown request number, encoded with a `struct
/// rpmsg_endpoint_info` argument (so `sys::ioctl_ptr` can pass one; for
/// tests of the ABI's edges).
pub const RPMSG_UNKNOWN_INFO_IOCTL: u32 = ioc(IOC_WRITE, RPMSG_IOC_MAGIC, 0x7f, INFO_SIZE);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_matches_uapi() {
        assert_eq!(core::mem::size_of::<EndpointInfo>(), 40);
        assert_eq!(core::mem::offset_of!(EndpointInfo, src), 32);
        assert_eq!(core::mem::offset_of!(EndpointInfo, dst), 36);
    }

    #[test]
    fn request_numbers() {
        // The values C code gets from <linux/rpmsg.h> on x86_64.
        assert_eq!(RPMSG_CREATE_EPT_IOCTL, 0x4028_b501);
        assert_eq!(RPMSG_DESTROY_EPT_IOCTL, 0x0000_b502);
        assert_eq!(RPMSG_CREATE_DEV_IOCTL, 0x4028_b503);
        assert_eq!(RPMSG_RELEASE_DEV_IOCTL, 0x4028_b504);
        assert_eq!(RPMSG_GET_OUTGOING_FLOWCONTROL, 0x8004_b505);
        assert_eq!(RPMSG_SET_INCOMING_FLOWCONTROL, 0x8004_b506);
        assert_eq!(ioc_size(RPMSG_CREATE_EPT_IOCTL), 40);
        assert_eq!(ioc_size(RPMSG_DESTROY_EPT_IOCTL), 0);
        assert_eq!(RPMSG_UNKNOWN_INFO_IOCTL, 0x4028_b57f);
    }

    #[test]
    fn endpoint_info_name() {
        let info = EndpointInfo::new("rpmsg-raw", RPMSG_ADDR_ANY, 1025).unwrap();
        assert_eq!(&info.name[..10], b"rpmsg-raw\0");
        assert!(info.name[9..].iter().all(|&b| b == 0));
        assert!(EndpointInfo::new(&"x".repeat(31), 0, 0).is_ok());
        assert!(EndpointInfo::new(&"x".repeat(32), 0, 0).is_err());
        assert!(EndpointInfo::new("a\0b", 0, 0).is_err());
    }
}
