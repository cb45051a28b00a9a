//! Endpoints: endpoint devices made through a control device
//! ([`EptDev`]), and open endpoints to send and receive on ([`Endpoint`]).

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use crate::error::{Error, IoContext, Result};
use crate::sys;
use crate::topo;
use crate::uapi::{self, EndpointInfo};

/// How long a new device may take to show in sysfs and /dev.
pub const APPEAR: Duration = Duration::from_secs(5);

/// Polls `probe` every 10 ms until it yields a value or `timeout` passes.
///
/// ```
/// use std::time::Duration;
/// let mut n = 0;
/// let v = rpmsg::wait_for("third try", Duration::from_secs(1), || {
///     n += 1;
///     (n == 3).then_some(n)
/// });
/// assert_eq!(v.unwrap(), 3);
/// ```
pub fn wait_for<T>(
    what: &str,
    timeout: Duration,
    mut probe: impl FnMut() -> Option<T>,
) -> Result<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = probe() {
            return Ok(v);
        }
        if Instant::now() >= deadline {
            return Err(Error::Timeout(format!(
                "{what}: not within {} s",
                timeout.as_secs_f32()
            )));
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// Where devtmpfs puts a device node.
pub fn dev_path(node: &str) -> PathBuf {
    Path::new("/dev").join(node)
}

/// The node name of a device given as `rpmsg3`, `/dev/rpmsg3` or any path
/// to it.
pub fn node_name(dev: &str) -> String {
    Path::new(dev)
        .file_name()
        .map_or_else(|| dev.to_owned(), |n| n.to_string_lossy().into_owned())
}

/// An endpoint device made with `RPMSG_CREATE_EPT_IOCTL`; destroyed on drop
/// unless [`EptDev::keep`] is called.
///
/// The device is not the endpoint: `rpmsg_char` creates the endpoint when
/// the device is opened and destroys it when the last file is closed.
///
/// ```no_run
/// use rpmsg::{Control, RPMSG_ADDR_ANY};
/// let ctrl = Control::open("/dev/rpmsg_ctrl0")?;
/// let mut dev = ctrl.create_endpoint("my-ept", RPMSG_ADDR_ANY, 1025)?;
/// dev.open(false)?;
/// // ... use dev.file()? ...
/// dev.destroy()?;
/// # Ok::<(), rpmsg::Error>(())
/// ```
pub struct EptDev {
    /// `rpmsgN`: the device is `/dev/rpmsgN`.
    pub node: String,
    file: Option<File>,
    destroyed: bool,
}

impl EptDev {
    /// Creates the endpoint device through the control device `ctrl`
    /// (`ctrl_name` is its node, `rpmsg_ctrlN`) and finds its `rpmsgN` by
    /// name among the control device's children (the ioctl does not return
    /// it).
    pub fn create(ctrl: &File, ctrl_name: &str, name: &str, src: u32, dst: u32) -> Result<EptDev> {
        let info = EndpointInfo::new(name, src, dst)?;
        EptDev::create_info(ctrl, ctrl_name, info, name)
    }

    /// Creates the endpoint device from `info` as given (also a name
    /// without NUL) and finds it by the name the kernel will show, `name`.
    pub fn create_info(
        ctrl: &File,
        ctrl_name: &str,
        mut info: EndpointInfo,
        name: &str,
    ) -> Result<EptDev> {
        sys::ioctl_ptr(ctrl, uapi::RPMSG_CREATE_EPT_IOCTL, &mut info)
            .what(format_args!("RPMSG_CREATE_EPT_IOCTL {name} on {ctrl_name}"))?;
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
        let ept = EptDev {
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

    pub fn file(&self) -> Result<&File> {
        self.file
            .as_ref()
            .ok_or_else(|| Error::Invalid(format!("/dev/{} is not open", self.node)))
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

    /// Leaves the device in place (for another process to use) and returns
    /// its node.
    pub fn keep(mut self) -> String {
        self.destroyed = true;
        self.file = None;
        std::mem::take(&mut self.node)
    }

    /// `RPMSG_DESTROY_EPT_IOCTL` on the open device.
    pub fn destroy(&mut self) -> Result<libc::c_int> {
        let r = sys::ioctl_val(self.file()?, uapi::RPMSG_DESTROY_EPT_IOCTL, 0).what(
            format_args!("RPMSG_DESTROY_EPT_IOCTL on /dev/{}", self.node),
        )?;
        self.destroyed = true;
        Ok(r)
    }
}

impl Drop for EptDev {
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

/// What [`Endpoint::poll`] waits for and reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ready {
    /// A message can be read (`POLLIN`).
    pub readable: bool,
    /// A send would not block (`POLLOUT`).
    pub writable: bool,
    /// The remote's flow control changed (`POLLPRI`).
    pub flow: bool,
    /// The endpoint is gone (`POLLERR`/`POLLHUP`): reads and writes fail
    /// with `EPIPE`.
    pub gone: bool,
}

impl Ready {
    pub const READ: Ready = Ready {
        readable: true,
        writable: false,
        flow: false,
        gone: false,
    };
    pub const WRITE: Ready = Ready {
        readable: false,
        writable: true,
        flow: false,
        gone: false,
    };

    fn events(self) -> libc::c_short {
        let mut ev = 0;
        if self.readable {
            ev |= libc::POLLIN;
        }
        if self.writable {
            ev |= libc::POLLOUT;
        }
        if self.flow {
            ev |= libc::POLLPRI;
        }
        ev
    }

    fn from_revents(ev: libc::c_short) -> Ready {
        Ready {
            readable: ev & libc::POLLIN != 0,
            writable: ev & libc::POLLOUT != 0,
            flow: ev & libc::POLLPRI != 0,
            gone: ev & (libc::POLLERR | libc::POLLHUP) != 0,
        }
    }

    /// Nothing happened (a poll that timed out).
    pub fn is_empty(self) -> bool {
        self == Ready::default()
    }
}

/// Bigger than any message an RPMsg bus carries (virtio: 496 bytes by
/// default), so one read returns one whole message.
pub const MAX_MESSAGE: usize = 4096;

/// An open endpoint: `/dev/rpmsgN` of an endpoint device or of a channel
/// bound to `rpmsg_chrdev`. One `write` is one message, one `read` returns
/// one message (cut to the buffer's size).
///
/// Blocking by default; [`Endpoint::set_nonblocking`] switches to
/// `O_NONBLOCK`, after which [`Endpoint::try_recv`] and
/// [`Endpoint::try_send`] return `None`/`false` instead of waiting. The
/// descriptor is exposed ([`AsRawFd`], [`AsFd`]) for `poll`/`epoll` event
/// loops.
///
/// ```no_run
/// use std::time::Duration;
/// let ept = rpmsg::Endpoint::open("/dev/rpmsg0")?;
/// ept.send(b"hello")?;
/// let mut buf = [0u8; rpmsg::MAX_MESSAGE];
/// match ept.recv_timeout(&mut buf, Duration::from_secs(1))? {
///     Some(n) => println!("reply: {:?}", &buf[..n]),
///     None => println!("no reply within 1 s"),
/// }
/// # Ok::<(), rpmsg::Error>(())
/// ```
pub struct Endpoint {
    file: File,
    node: String,
}

impl Endpoint {
    /// Opens `/dev/rpmsgN` (given as a path or as `rpmsgN`), blocking.
    pub fn open(dev: &str) -> Result<Endpoint> {
        Endpoint::open_with(dev, false)
    }

    /// Opens the device, with `O_NONBLOCK` if `nonblock`.
    pub fn open_with(dev: &str, nonblock: bool) -> Result<Endpoint> {
        let path = if dev.contains('/') {
            PathBuf::from(dev)
        } else {
            dev_path(dev)
        };
        let node = node_name(dev);
        let file = sys::open_dev(&path, nonblock).map_err(|e| match e.raw_os_error() {
            Some(libc::ENOENT) => Error::NotFound(format!(
                "{}: no such device (rpmsg list shows the endpoint devices)",
                path.display()
            )),
            _ => Error::io(format!("open {}", path.display()), e),
        })?;
        Ok(Endpoint { file, node })
    }

    /// Wraps a file already open on an endpoint device.
    pub fn from_file(file: File, node: &str) -> Endpoint {
        Endpoint {
            file,
            node: node.into(),
        }
    }

    /// `rpmsgN`.
    pub fn node(&self) -> &str {
        &self.node
    }

    pub fn file(&self) -> &File {
        &self.file
    }

    pub fn into_file(self) -> File {
        self.file
    }

    /// Switches `O_NONBLOCK`.
    pub fn set_nonblocking(&self, on: bool) -> Result<()> {
        sys::set_nonblocking(&self.file, on).what(format_args!("set O_NONBLOCK on {}", self.node))
    }

    /// Sends one message; blocks for a transmit buffer unless non-blocking.
    /// Over the MTU: `EMSGSIZE`; endpoint gone: `EPIPE`.
    pub fn send(&self, data: &[u8]) -> Result<()> {
        let n = sys::write(&self.file, data).what(format_args!(
            "send {} bytes on /dev/{}",
            data.len(),
            self.node
        ))?;
        if n != data.len() {
            return Err(Error::Invalid(format!(
                "send {} bytes on /dev/{}: only {n} taken",
                data.len(),
                self.node
            )));
        }
        Ok(())
    }

    /// Non-blocking send: `Ok(false)` when no transmit buffer is free
    /// (`EAGAIN`). The descriptor must be non-blocking.
    pub fn try_send(&self, data: &[u8]) -> Result<bool> {
        match self.send(data) {
            Ok(()) => Ok(true),
            Err(e) if e.is_errno(libc::EAGAIN) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Sends one message, waiting at most `timeout` for a transmit buffer.
    pub fn send_timeout(&self, data: &[u8], timeout: Duration) -> Result<()> {
        let r = self.poll(Ready::WRITE, timeout)?;
        if r.is_empty() {
            return Err(Error::Timeout(format!(
                "/dev/{}: no transmit buffer within {} s",
                self.node,
                timeout.as_secs_f64()
            )));
        }
        // Writable or gone: the write says which.
        self.send(data)
    }

    /// Receives one message into `buf` (cut to its size); blocks unless
    /// non-blocking. Endpoint gone: `EPIPE`.
    pub fn recv(&self, buf: &mut [u8]) -> Result<usize> {
        sys::read(&self.file, buf).what(format_args!("receive on /dev/{}", self.node))
    }

    /// Non-blocking receive: `Ok(None)` when nothing is queued (`EAGAIN`).
    /// The descriptor must be non-blocking.
    pub fn try_recv(&self, buf: &mut [u8]) -> Result<Option<usize>> {
        match self.recv(buf) {
            Ok(n) => Ok(Some(n)),
            Err(e) if e.is_errno(libc::EAGAIN) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Receives one message, waiting at most `timeout`: `Ok(None)` if none
    /// came.
    pub fn recv_timeout(&self, buf: &mut [u8], timeout: Duration) -> Result<Option<usize>> {
        let r = self.poll(Ready::READ, timeout)?;
        if r.is_empty() {
            return Ok(None);
        }
        // Readable, or gone (the read returns EPIPE).
        self.recv(buf).map(Some)
    }

    /// Waits up to `timeout` for any of `want`; returns what is ready
    /// (empty on timeout). `gone` is always reported.
    pub fn poll(&self, want: Ready, timeout: Duration) -> Result<Ready> {
        sys::poll(&self.file, want.events(), timeout)
            .map(Ready::from_revents)
            .what(format_args!("poll /dev/{}", self.node))
    }

    /// The remote's flow state (`RPMSG_GET_OUTGOING_FLOWCONTROL`): whether
    /// it is ready to receive. Also clears the `flow` readiness.
    pub fn outgoing_flow_control(&self) -> Result<bool> {
        let mut v: libc::c_int = 0;
        sys::ioctl_ptr(&self.file, uapi::RPMSG_GET_OUTGOING_FLOWCONTROL, &mut v).what(
            format_args!("RPMSG_GET_OUTGOING_FLOWCONTROL on /dev/{}", self.node),
        )?;
        Ok(v != 0)
    }

    /// Tells the remote whether this side is ready to receive
    /// (`RPMSG_SET_INCOMING_FLOWCONTROL`). Virtio buses answer
    /// `EOPNOTSUPP`.
    pub fn set_incoming_flow_control(&self, ready: bool) -> Result<()> {
        sys::ioctl_val(
            &self.file,
            uapi::RPMSG_SET_INCOMING_FLOWCONTROL,
            libc::c_ulong::from(ready),
        )
        .map(drop)
        .what(format_args!(
            "RPMSG_SET_INCOMING_FLOWCONTROL on /dev/{}",
            self.node
        ))
    }

    /// Destroys the endpoint device (`RPMSG_DESTROY_EPT_IOCTL`). A channel's
    /// own device cannot be destroyed (`EINVAL`).
    pub fn destroy(self) -> Result<()> {
        sys::ioctl_val(&self.file, uapi::RPMSG_DESTROY_EPT_IOCTL, 0)
            .map(drop)
            .what(format_args!(
                "RPMSG_DESTROY_EPT_IOCTL on /dev/{}",
                self.node
            ))
    }

    /// The device's name and addresses as sysfs shows them.
    pub fn attrs(&self) -> Result<topo::EptAttrs> {
        topo::ept_attrs(&self.node).what(format_args!("attributes of {}", self.node))
    }

    /// The largest message this endpoint can send, where the bus tells it
    /// (rpmsg-rs's bus does, in debugfs; the kernel's C bus does not).
    pub fn mtu(&self) -> Option<usize> {
        crate::bus::mtu(&topo::vdev_of_node(&self.node)?)
    }
}

impl AsRawFd for Endpoint {
    fn as_raw_fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }
}

impl AsFd for Endpoint {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::FromRawFd;

    #[test]
    fn wait_for_times_out() {
        let e = wait_for("never", Duration::from_millis(30), || None::<()>).unwrap_err();
        assert!(e.to_string().starts_with("never: not within"));
        assert_eq!(e.errno(), Some(libc::ETIMEDOUT));
    }

    #[test]
    fn node_names() {
        assert_eq!(node_name("/dev/rpmsg3"), "rpmsg3");
        assert_eq!(node_name("rpmsg3"), "rpmsg3");
    }

    /// The message calls on a pipe: the same system calls, the same
    /// timeouts and non-blocking answers.
    #[test]
    fn endpoint_calls_on_a_pipe() {
        let mut fds = [0; 2];
        // SAFETY: `fds` has room for two descriptors.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        // SAFETY: both descriptors were just created and are owned here.
        let (r, w) = unsafe { (File::from_raw_fd(fds[0]), File::from_raw_fd(fds[1])) };
        let (r, w) = (Endpoint::from_file(r, "r"), Endpoint::from_file(w, "w"));
        let mut buf = [0u8; 16];
        assert_eq!(
            r.recv_timeout(&mut buf, Duration::from_millis(20)).unwrap(),
            None
        );
        assert!(w.poll(Ready::WRITE, Duration::ZERO).unwrap().writable);
        w.send_timeout(b"abc", Duration::from_secs(1)).unwrap();
        assert!(r.poll(Ready::READ, Duration::ZERO).unwrap().readable);
        assert_eq!(
            r.recv_timeout(&mut buf, Duration::from_secs(1)).unwrap(),
            Some(3)
        );
        assert_eq!(&buf[..3], b"abc");
        r.set_nonblocking(true).unwrap();
        assert_eq!(r.try_recv(&mut buf).unwrap(), None);
        w.send(b"de").unwrap();
        assert_eq!(r.try_recv(&mut buf).unwrap(), Some(2));
        assert!(r.as_raw_fd() >= 0);
        // Not an rpmsg device: the ioctl is refused with the errno kept.
        let e = r.outgoing_flow_control().unwrap_err();
        assert_eq!(e.errno(), Some(libc::ENOTTY));
        drop(w);
        assert!(r.poll(Ready::READ, Duration::ZERO).unwrap().gone);
    }

    #[test]
    fn missing_device_names_it() {
        let e = Endpoint::open("/dev/rpmsg-does-not-exist").err().unwrap();
        assert!(matches!(e, Error::NotFound(_)));
        assert!(e.to_string().contains("/dev/rpmsg-does-not-exist"));
    }
}
