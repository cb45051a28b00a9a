//! Thin system call wrappers. Each one is a single system call with no
//! retry on `EINTR`: a caller that wants a blocked call to end (a watchdog's
//! signal, Ctrl-C) sees the interruption as an error.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::Duration;

use crate::uapi;

pub(crate) fn cvt(ret: isize) -> io::Result<usize> {
    usize::try_from(ret).map_err(|_| io::Error::last_os_error())
}

pub(crate) fn cvt_int(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Opens a device read-write, never as controlling terminal.
pub fn open_dev(path: &Path, nonblock: bool) -> io::Result<File> {
    let mut flags = libc::O_NOCTTY;
    if nonblock {
        flags |= libc::O_NONBLOCK;
    }
    OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(flags)
        .open(path)
}

/// One `read(2)`, even for an empty buffer (a zero-length read is a case).
pub fn read(fd: &impl AsRawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for writes of `buf.len()` bytes.
    cvt(unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) })
}

/// One `write(2)`, even for an empty buffer (a zero-length message is a case).
pub fn write(fd: &impl AsRawFd, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for reads of `buf.len()` bytes.
    cvt(unsafe { libc::write(fd.as_raw_fd(), buf.as_ptr().cast(), buf.len()) })
}

/// Polls one descriptor; returns its `revents`, 0 on timeout.
pub fn poll(
    fd: &impl AsRawFd,
    events: libc::c_short,
    timeout: Duration,
) -> io::Result<libc::c_short> {
    let mut pfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events,
        revents: 0,
    };
    let ms = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
    // SAFETY: `pfd` is one valid pollfd.
    let n = cvt_int(unsafe { libc::poll(&mut pfd, 1, ms) })?;
    Ok(if n == 0 { 0 } else { pfd.revents })
}

/// An ioctl whose argument is a pointer to `T`. The request's encoded size
/// must be `T`'s, so the kernel cannot write past the argument.
pub fn ioctl_ptr<T>(fd: &impl AsRawFd, req: u32, arg: &mut T) -> io::Result<libc::c_int> {
    if uapi::ioc_size(req) != core::mem::size_of::<T>() {
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    }
    // SAFETY: `arg` is valid for reads and writes of the size `req` encodes.
    cvt_int(unsafe { libc::ioctl(fd.as_raw_fd(), req as libc::Ioctl, arg as *mut T) })
}

/// An ioctl that takes its argument by value. Only requests that encode no
/// argument size, and `RPMSG_SET_INCOMING_FLOWCONTROL` (which reads its
/// argument as a value despite its `_IOR` encoding), are accepted, so the
/// kernel never dereferences `arg`.
pub fn ioctl_val(fd: &impl AsRawFd, req: u32, arg: libc::c_ulong) -> io::Result<libc::c_int> {
    if uapi::ioc_size(req) != 0 && req != uapi::RPMSG_SET_INCOMING_FLOWCONTROL {
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    }
    // SAFETY: the request takes no pointer (checked above).
    cvt_int(unsafe { libc::ioctl(fd.as_raw_fd(), req as libc::Ioctl, arg) })
}

/// Whether `O_NONBLOCK` is set.
pub fn is_nonblocking(fd: &impl AsRawFd) -> io::Result<bool> {
    // SAFETY: F_GETFL takes no pointer.
    let flags = cvt_int(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) })?;
    Ok(flags & libc::O_NONBLOCK != 0)
}

/// Switches `O_NONBLOCK`.
pub fn set_nonblocking(fd: &impl AsRawFd, on: bool) -> io::Result<()> {
    let fd = fd.as_raw_fd();
    // SAFETY: F_GETFL/F_SETFL take no pointer.
    let flags = cvt_int(unsafe { libc::fcntl(fd, libc::F_GETFL) })?;
    let flags = if on {
        flags | libc::O_NONBLOCK
    } else {
        flags & !libc::O_NONBLOCK
    };
    // SAFETY: as above.
    cvt_int(unsafe { libc::fcntl(fd, libc::F_SETFL, flags) }).map(drop)
}

/// Major and minor of a device number, in the kernel's `new_encode_dev`
/// layout that glibc and musl share.
pub fn dev_split(rdev: u64) -> (u32, u32) {
    let major = ((rdev >> 8) & 0xfff) | ((rdev >> 32) & !0xfff);
    let minor = (rdev & 0xff) | ((rdev >> 12) & !0xff);
    (major as u32, minor as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_numbers() {
        assert_eq!(dev_split(0x0000_0000_0000_0501), (5, 1));
        // Major 511 and minor 1_000_000 need the extended bits.
        let rdev = (1_000_000u64 & 0xff) | ((511u64 & 0xfff) << 8) | ((1_000_000u64 & !0xff) << 12);
        assert_eq!(dev_split(rdev), (511, 1_000_000));
    }

    #[test]
    fn pipe_io_and_poll() {
        let mut fds = [0; 2];
        // SAFETY: `fds` has room for two descriptors.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        // SAFETY: both descriptors were just created and are owned here.
        let (r, w) = unsafe {
            use std::os::fd::FromRawFd;
            (File::from_raw_fd(fds[0]), File::from_raw_fd(fds[1]))
        };
        assert_eq!(poll(&r, libc::POLLIN, Duration::ZERO).unwrap(), 0);
        assert_eq!(write(&w, b"abc").unwrap(), 3);
        assert_eq!(
            poll(&r, libc::POLLIN, Duration::ZERO).unwrap(),
            libc::POLLIN
        );
        let mut buf = [0u8; 8];
        assert_eq!(read(&r, &mut buf).unwrap(), 3);
        set_nonblocking(&r, true).unwrap();
        let e = read(&r, &mut buf).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EAGAIN));
        // A mis-sized pointer argument never reaches the kernel.
        let mut small = 0u8;
        let e = ioctl_ptr(&r, uapi::RPMSG_CREATE_EPT_IOCTL, &mut small).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        let e = ioctl_val(&r, uapi::RPMSG_CREATE_EPT_IOCTL, 0).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    }
}
