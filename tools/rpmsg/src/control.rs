//! The control device, `/dev/rpmsg_ctrlN`: makes endpoint devices
//! (`RPMSG_CREATE_EPT_IOCTL`) and channels (`RPMSG_CREATE_DEV_IOCTL`).

use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};

use crate::endpoint::{dev_path, node_name, EptDev};
use crate::error::{Error, IoContext, Result};
use crate::sys;
use crate::uapi::{self, EndpointInfo};

/// An open control device.
///
/// ```no_run
/// let ctrl = rpmsg::remote("sim0")?.control()?;
/// let dev = ctrl.create_endpoint("my-ept", rpmsg::RPMSG_ADDR_ANY, 1025)?;
/// println!("made /dev/{}", dev.keep());
/// # Ok::<(), rpmsg::Error>(())
/// ```
pub struct Control {
    node: String,
    file: File,
}

impl Control {
    /// Opens `/dev/rpmsg_ctrlN` (a path, or the node name).
    pub fn open(dev: &str) -> Result<Control> {
        let node = node_name(dev);
        let path = if dev.contains('/') {
            dev.into()
        } else {
            dev_path(dev)
        };
        let file = sys::open_dev(&path, false).map_err(|e| match e.raw_os_error() {
            Some(libc::ENOENT) => Error::NotFound(format!(
                "{}: no such control device (is rpmsg_ctrl, or rpmsg_char_rs, loaded?)",
                path.display()
            )),
            _ => Error::io(format!("open {}", path.display()), e),
        })?;
        Ok(Control { node, file })
    }

    /// `rpmsg_ctrlN`.
    pub fn node(&self) -> &str {
        &self.node
    }

    pub fn file(&self) -> &File {
        &self.file
    }

    /// Makes an endpoint device `name` with local address `src` and default
    /// destination `dst` (either may be [`crate::RPMSG_ADDR_ANY`]) and
    /// returns it, closed: the endpoint itself exists while the device is
    /// open. What rpmsg-utils' `rpmsg_export_ept` does.
    pub fn create_endpoint(&self, name: &str, src: u32, dst: u32) -> Result<EptDev> {
        EptDev::create(&self.file, &self.node, name, src, dst)
    }

    /// Asks the bus for a channel (`RPMSG_CREATE_DEV_IOCTL`): the remote's
    /// `rpmsg_ns` gets an announcement, a local driver may bind to it.
    pub fn create_channel(&self, name: &str, src: u32, dst: u32) -> Result<()> {
        let mut info = EndpointInfo::new(name, src, dst)?;
        sys::ioctl_ptr(&self.file, uapi::RPMSG_CREATE_DEV_IOCTL, &mut info)
            .map(drop)
            .what(format_args!(
                "RPMSG_CREATE_DEV_IOCTL {name} on {}",
                self.node
            ))
    }

    /// Releases a channel made with [`Control::create_channel`]
    /// (`RPMSG_RELEASE_DEV_IOCTL`).
    pub fn release_channel(&self, name: &str, src: u32, dst: u32) -> Result<()> {
        let mut info = EndpointInfo::new(name, src, dst)?;
        sys::ioctl_ptr(&self.file, uapi::RPMSG_RELEASE_DEV_IOCTL, &mut info)
            .map(drop)
            .what(format_args!(
                "RPMSG_RELEASE_DEV_IOCTL {name} on {}",
                self.node
            ))
    }
}

impl AsRawFd for Control {
    fn as_raw_fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }
}

impl AsFd for Control {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }
}
