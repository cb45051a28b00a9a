//! System call wrappers only the suite needs (inaccessible buffers, ttys,
//! modules, debugfs); the common ones are the `rpmsg` library's, re-exported
//! here. Each one is a single system call with no retry on `EINTR`: the
//! case watchdog interrupts hung calls with a signal and the interruption
//! must reach the case as an error.

use std::io;
use std::os::fd::AsRawFd;

pub use rpmsg::sys::{
    dev_split, ioctl_ptr, ioctl_val, is_nonblocking, open_dev, poll, read, set_nonblocking, write,
};

fn cvt(ret: isize) -> io::Result<usize> {
    usize::try_from(ret).map_err(|_| io::Error::last_os_error())
}

fn cvt_int(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Address space the process may not touch: a `PROT_NONE` mapping. Passed
/// to the kernel as a buffer or ioctl argument it makes every copy fail
/// (`EFAULT`) without anything being written anywhere.
pub struct NoAccess {
    addr: *mut libc::c_void,
    len: usize,
}

// SAFETY: the mapping is never accessed from userspace; only its address
// is handed to the kernel, from whichever thread.
unsafe impl Send for NoAccess {}
// SAFETY: as above.
unsafe impl Sync for NoAccess {}

impl NoAccess {
    pub fn new(len: usize) -> io::Result<Self> {
        // SAFETY: a fresh anonymous mapping; nothing else refers to it.
        let addr = unsafe {
            libc::mmap(
                core::ptr::null_mut(),
                len,
                libc::PROT_NONE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if addr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(Self { addr, len })
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn addr(&self) -> usize {
        self.addr as usize
    }
}

impl Drop for NoAccess {
    fn drop(&mut self) {
        // SAFETY: the mapping made in new(), unmapped once.
        unsafe { libc::munmap(self.addr, self.len) };
    }
}

/// One `read(2)` of up to `len` bytes into inaccessible memory.
pub fn read_noaccess(fd: &impl AsRawFd, buf: &NoAccess, len: usize) -> io::Result<usize> {
    // SAFETY: the kernel cannot write into a PROT_NONE mapping; `len` is
    // capped to it so nothing else is named.
    cvt(unsafe { libc::read(fd.as_raw_fd(), buf.addr, len.min(buf.len)) })
}

/// One `write(2)` of up to `len` bytes from inaccessible memory.
pub fn write_noaccess(fd: &impl AsRawFd, buf: &NoAccess, len: usize) -> io::Result<usize> {
    // SAFETY: the kernel only reads from the buffer, and cannot.
    cvt(unsafe { libc::write(fd.as_raw_fd(), buf.addr, len.min(buf.len)) })
}

/// An ioctl whose argument is an address the kernel cannot use: NULL
/// (`None`) or inaccessible memory. Whatever the request, nothing in this
/// process can be read or written through it.
pub fn ioctl_bad_addr(
    fd: &impl AsRawFd,
    req: u32,
    addr: Option<&NoAccess>,
) -> io::Result<libc::c_int> {
    let arg = addr.map_or(core::ptr::null_mut(), |a| a.addr);
    // SAFETY: `arg` is NULL or a PROT_NONE mapping (see above).
    cvt_int(unsafe { libc::ioctl(fd.as_raw_fd(), req as libc::Ioctl, arg) })
}

/// Puts a tty in raw mode (no echo, no line editing, no byte translation)
/// and drops whatever it buffered.
pub fn tty_raw(fd: &impl AsRawFd) -> io::Result<()> {
    let fd = fd.as_raw_fd();
    // SAFETY: termios is plain data; all-zero is a valid value to overwrite.
    let mut t: libc::termios = unsafe { core::mem::zeroed() };
    // SAFETY: `t` is a valid termios.
    cvt_int(unsafe { libc::tcgetattr(fd, &mut t) })?;
    // SAFETY: as above.
    unsafe { libc::cfmakeraw(&mut t) };
    // SAFETY: as above.
    cvt_int(unsafe { libc::tcsetattr(fd, libc::TCSANOW, &t) })?;
    // SAFETY: no pointer arguments.
    cvt_int(unsafe { libc::tcflush(fd, libc::TCIOFLUSH) }).map(drop)
}

/// Mounts debugfs at its usual place (the simulator's files live there).
pub fn mount_debugfs() -> io::Result<()> {
    // SAFETY: all strings are NUL-terminated literals; data may be NULL.
    cvt_int(unsafe {
        libc::mount(
            c"debugfs".as_ptr(),
            c"/sys/kernel/debug".as_ptr(),
            c"debugfs".as_ptr(),
            0,
            core::ptr::null(),
        )
    })
    .map(drop)
}

/// finit_module(2): loads the module in `f` with `params`
/// ("name=value ...").
pub fn finit_module(f: &impl AsRawFd, params: &std::ffi::CStr) -> io::Result<()> {
    // SAFETY: `f` is an open file and `params` a NUL-terminated string, both
    // valid for the call.
    let r = unsafe { libc::syscall(libc::SYS_finit_module, f.as_raw_fd(), params.as_ptr(), 0) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// delete_module(2), `O_NONBLOCK`: fails with `EWOULDBLOCK` at once if the
/// module is in use.
pub fn delete_module(name: &str) -> io::Result<()> {
    let name = std::ffi::CString::new(name).map_err(io::Error::other)?;
    // SAFETY: `name` is a NUL-terminated string valid for the call.
    let r = unsafe { libc::syscall(libc::SYS_delete_module, name.as_ptr(), libc::O_NONBLOCK) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::File;
    use std::path::Path;
    use std::time::Duration;

    #[test]
    fn raw_tty_passes_bytes_unchanged() {
        let master = open_dev(Path::new("/dev/ptmx"), true).unwrap();
        // SAFETY: `master` is an open pty master.
        unsafe {
            assert_eq!(libc::grantpt(master.as_raw_fd()), 0);
            assert_eq!(libc::unlockpt(master.as_raw_fd()), 0);
        }
        let mut name = [0 as libc::c_char; 64];
        // SAFETY: `name` has room for the path and its NUL.
        assert_eq!(
            unsafe { libc::ptsname_r(master.as_raw_fd(), name.as_mut_ptr(), name.len()) },
            0
        );
        // SAFETY: ptsname_r NUL-terminated it.
        let slave_path = unsafe { std::ffi::CStr::from_ptr(name.as_ptr()) };
        let slave = open_dev(Path::new(slave_path.to_str().unwrap()), true).unwrap();
        tty_raw(&slave).unwrap();
        // In cooked mode CR would become LF and the line would wait for a
        // newline; raw mode delivers the bytes as they are, at once.
        let data = b"a\rb\x7fc";
        assert_eq!(write(&master, data).unwrap(), data.len());
        assert_eq!(
            poll(&slave, libc::POLLIN, Duration::from_secs(5)).unwrap(),
            libc::POLLIN
        );
        let mut buf = [0u8; 16];
        let n = read(&slave, &mut buf).unwrap();
        assert_eq!(&buf[..n], data);
    }

    #[test]
    fn inaccessible_buffers_fault() {
        let mut fds = [0; 2];
        // SAFETY: `fds` has room for two descriptors.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        // SAFETY: both descriptors were just created and are owned here.
        let (r, w) = unsafe {
            use std::os::fd::FromRawFd;
            (File::from_raw_fd(fds[0]), File::from_raw_fd(fds[1]))
        };
        let bad = NoAccess::new(4096).unwrap();
        assert_eq!(bad.len(), 4096);
        let e = write_noaccess(&w, &bad, 16).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EFAULT));
        assert_eq!(write(&w, b"abc").unwrap(), 3);
        let e = read_noaccess(&r, &bad, 16).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EFAULT));
        // FIONREAD writes an int: through NULL or the mapping it cannot.
        for addr in [None, Some(&bad)] {
            let e = ioctl_bad_addr(&r, libc::FIONREAD as u32, addr).unwrap_err();
            assert_eq!(e.raw_os_error(), Some(libc::EFAULT));
        }
    }
}
