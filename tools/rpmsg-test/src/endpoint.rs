//! Endpoint devices made through a control device, as the suite and the
//! `rpmsg` tool use them.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use crate::error::{Context, Res};
use crate::sys;
use crate::topo;
use crate::uapi::{self, EndpointInfo};

/// How long a new device may take to show in sysfs and /dev.
const APPEAR: Duration = Duration::from_secs(5);

/// Polls `probe` until it yields a value or `timeout` passes.
pub fn wait_for<T>(what: &str, timeout: Duration, mut probe: impl FnMut() -> Option<T>) -> Res<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = probe() {
            return Ok(v);
        }
        if Instant::now() >= deadline {
            return Err(format!("{what}: not within {} s", timeout.as_secs_f32()));
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// Where devtmpfs puts a device node.
pub fn dev_path(node: &str) -> PathBuf {
    Path::new("/dev").join(node)
}

/// An endpoint device made with `RPMSG_CREATE_EPT_IOCTL`; destroyed on drop.
pub struct Ept {
    pub node: String,
    file: Option<File>,
    destroyed: bool,
}

impl Ept {
    /// Creates the endpoint device and finds its `rpmsgN` by name among the
    /// control device's children (the ioctl does not return it).
    pub fn create(ctrl: &File, ctrl_name: &str, name: &str, src: u32, dst: u32) -> Res<Ept> {
        let info = EndpointInfo::new(name, src, dst)?;
        Ept::create_info(ctrl, ctrl_name, info, name)
    }

    /// Creates the endpoint device from `info` as given (also a name
    /// without NUL) and finds it by the name the kernel will show, `name`.
    pub fn create_info(
        ctrl: &File,
        ctrl_name: &str,
        mut info: EndpointInfo,
        name: &str,
    ) -> Res<Ept> {
        sys::ioctl_ptr(ctrl, uapi::RPMSG_CREATE_EPT_IOCTL, &mut info)
            .ctx(format_args!("RPMSG_CREATE_EPT_IOCTL {name} on {ctrl_name}"))?;
        let node = wait_for(
            &format!("endpoint device {name} under {ctrl_name}"),
            APPEAR,
            || {
                topo::eptdevs_of_ctrl(ctrl_name)
                    .ok()?
                    .into_iter()
                    .find(|n| topo::ept_attrs(n).is_ok_and(|a| a.name == name))
            },
        )?;
        let ept = Ept {
            node,
            file: None,
            destroyed: false,
        };
        let dir = Path::new(topo::CLASS_RPMSG).join(&ept.node);
        wait_for(&format!("/dev/{}", ept.node), APPEAR, || {
            topo::node_matches(&ept.node, &dir).then_some(())
        })?;
        Ok(ept)
    }

    pub fn path(&self) -> PathBuf {
        dev_path(&self.node)
    }

    /// Opens the device, which is when `rpmsg_char` creates the endpoint.
    pub fn open(&mut self, nonblock: bool) -> io::Result<()> {
        self.file = Some(sys::open_dev(&self.path(), nonblock)?);
        Ok(())
    }

    pub fn file(&self) -> Res<&File> {
        self.file
            .as_ref()
            .ok_or_else(|| format!("/dev/{} is not open", self.node))
    }

    /// Closes the device, which destroys the endpoint but not the device.
    pub fn close(&mut self) {
        self.file = None;
    }

    /// Hands the open file over (to be closed elsewhere).
    pub fn take_file(&mut self) -> Option<File> {
        self.file.take()
    }

    /// The device is gone (destroyed with its control device or by another
    /// thread): nothing to clean up on drop. Its name may already belong to
    /// a new device, which must not be opened and destroyed in its place.
    pub fn gone(&mut self) {
        self.destroyed = true;
    }

    /// `RPMSG_DESTROY_EPT_IOCTL` on the open device.
    pub fn destroy(&mut self) -> Res<libc::c_int> {
        let r = sys::ioctl_val(self.file()?, uapi::RPMSG_DESTROY_EPT_IOCTL, 0).ctx(
            format_args!("RPMSG_DESTROY_EPT_IOCTL on /dev/{}", self.node),
        )?;
        self.destroyed = true;
        Ok(r)
    }
}

impl Drop for Ept {
    fn drop(&mut self) {
        if self.destroyed {
            return;
        }
        // The ioctl needs an open file; opening fails only if the endpoint's
        // fixed address is taken, and then nothing more can be done here.
        if self.file.is_none() {
            let _ = self.open(true);
        }
        if let Some(f) = &self.file {
            let _ = sys::ioctl_val(f, uapi::RPMSG_DESTROY_EPT_IOCTL, 0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_for_times_out() {
        let e = wait_for("never", Duration::from_millis(30), || None::<()>).unwrap_err();
        assert!(e.starts_with("never: not within"));
        let mut n = 0;
        assert_eq!(
            wait_for("soon", Duration::from_secs(5), || {
                n += 1;
                (n == 3).then_some(n)
            }),
            Ok(3)
        );
    }
}
