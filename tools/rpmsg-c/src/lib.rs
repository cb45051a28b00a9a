//! C API over the `rpmsg` library: `include/rpmsg.h`, `librpmsg_c.a`.
//!
//! Each function returns 0 or a count on success and a negative errno on
//! failure, keeping the library's sentence for `rpmsg_last_error()`.

use std::cell::RefCell;
use std::ffi::{c_char, c_int, CStr, CString};
use std::time::Duration;

use rpmsg::{Endpoint, EptDev, Error};

/// `struct rpmsg_ept`: an open endpoint and, for one the library made, its
/// device (destroyed after the endpoint is closed: fields drop in order).
pub struct RpmsgEpt {
    ept: Endpoint,
    _dev: Option<EptDev>,
}

thread_local! {
    static LAST: RefCell<CString> = RefCell::new(CString::default());
}

fn fail(e: Error) -> c_int {
    let text = CString::new(e.to_string().replace('\0', " ")).unwrap_or_default();
    LAST.with(|l| *l.borrow_mut() = text);
    -e.errno().unwrap_or(libc::EIO)
}

/// # Safety
/// `s` is NULL or a NUL-terminated string.
unsafe fn arg<'a>(s: *const c_char, what: &str) -> Result<&'a str, Error> {
    if s.is_null() {
        return Err(Error::Invalid(format!("{what} is NULL")));
    }
    // SAFETY: the caller passes a NUL-terminated string.
    unsafe { CStr::from_ptr(s) }
        .to_str()
        .map_err(|_| Error::Invalid(format!("{what} is not UTF-8")))
}

fn timeout(ms: c_int) -> Option<Duration> {
    u64::try_from(ms).ok().map(Duration::from_millis)
}

/// # Safety
/// `out` is valid for a write of one pointer.
unsafe fn give(r: Result<RpmsgEpt, Error>, out: *mut *mut RpmsgEpt) -> c_int {
    if out.is_null() {
        return fail(Error::Invalid("out is NULL".into()));
    }
    match r {
        Ok(e) => {
            // SAFETY: checked non-NULL; the caller made it valid for a write.
            unsafe { *out = Box::into_raw(Box::new(e)) };
            0
        }
        Err(e) => fail(e),
    }
}

/// # Safety
/// `dev` is a NUL-terminated string, `out` valid for a write.
#[no_mangle]
pub unsafe extern "C" fn rpmsg_ept_open(
    dev: *const c_char,
    nonblock: c_int,
    out: *mut *mut RpmsgEpt,
) -> c_int {
    // SAFETY: as the caller promised.
    let r = unsafe { arg(dev, "dev") }.and_then(|d| {
        Ok(RpmsgEpt {
            ept: Endpoint::open_with(d, nonblock != 0)?,
            _dev: None,
        })
    });
    // SAFETY: as the caller promised.
    unsafe { give(r, out) }
}

fn open_channel(spec: &str) -> Result<RpmsgEpt, Error> {
    let ch = rpmsg::channel(spec)?;
    if let Some(node) = ch.chrdev() {
        return Ok(RpmsgEpt {
            ept: Endpoint::open(&node)?,
            _dev: None,
        });
    }
    let ctrl = rpmsg::topo::ctrl_of(&ch.vdev).ok_or_else(|| {
        Error::NotFound(format!(
            "{} has no control device: is rpmsg_ctrl (or rpmsg_char_rs) loaded?",
            ch.vdev
        ))
    })?;
    let ctrl = rpmsg::Control::open(&ctrl)?;
    let name = format!("rpmsg-c-{}", std::process::id());
    let dev = ctrl.create_endpoint(&name, rpmsg::RPMSG_ADDR_ANY, ch.dst)?;
    Ok(RpmsgEpt {
        ept: Endpoint::open(&dev.node)?,
        _dev: Some(dev),
    })
}

/// # Safety
/// `channel` is a NUL-terminated string, `out` valid for a write.
#[no_mangle]
pub unsafe extern "C" fn rpmsg_ept_open_channel(
    channel: *const c_char,
    out: *mut *mut RpmsgEpt,
) -> c_int {
    // SAFETY: as the caller promised.
    let r = unsafe { arg(channel, "channel") }.and_then(open_channel);
    // SAFETY: as the caller promised.
    unsafe { give(r, out) }
}

/// # Safety
/// `remote` and `name` are NUL-terminated strings, `out` valid for a write.
#[no_mangle]
pub unsafe extern "C" fn rpmsg_ept_create(
    remote: *const c_char,
    name: *const c_char,
    src: u32,
    dst: u32,
    out: *mut *mut RpmsgEpt,
) -> c_int {
    let r = (|| {
        // SAFETY: as the caller promised.
        let (remote, name) = unsafe { (arg(remote, "remote")?, arg(name, "name")?) };
        let dev = rpmsg::remote(remote)?
            .control()?
            .create_endpoint(name, src, dst)?;
        Ok(RpmsgEpt {
            ept: Endpoint::open(&dev.node)?,
            _dev: Some(dev),
        })
    })();
    // SAFETY: as the caller promised.
    unsafe { give(r, out) }
}

/// # Safety
/// `e` came from an open function and was not closed.
#[no_mangle]
pub unsafe extern "C" fn rpmsg_ept_fd(e: *const RpmsgEpt) -> c_int {
    use std::os::fd::AsRawFd;
    // SAFETY: as the caller promised.
    match unsafe { e.as_ref() } {
        Some(e) => e.ept.as_raw_fd(),
        None => -libc::EINVAL,
    }
}

/// # Safety
/// `e` is open, `data` valid for reads of `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn rpmsg_ept_send(
    e: *mut RpmsgEpt,
    data: *const u8,
    len: usize,
    timeout_ms: c_int,
) -> c_int {
    // SAFETY: as the caller promised.
    let Some(e) = (unsafe { e.as_ref() }) else {
        return fail(Error::Invalid("endpoint is NULL".into()));
    };
    let msg = if len == 0 {
        &[][..]
    } else {
        // SAFETY: the caller made `data` valid for `len` bytes.
        unsafe { std::slice::from_raw_parts(data, len) }
    };
    let r = match timeout(timeout_ms) {
        Some(t) => e.ept.send_timeout(msg, t),
        None => e.ept.send(msg),
    };
    match r {
        Ok(()) => 0,
        Err(err) => fail(err),
    }
}

/// # Safety
/// `e` is open, `buf` valid for writes of `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn rpmsg_ept_recv(
    e: *mut RpmsgEpt,
    buf: *mut u8,
    len: usize,
    timeout_ms: c_int,
) -> c_int {
    // SAFETY: as the caller promised.
    let Some(e) = (unsafe { e.as_ref() }) else {
        return fail(Error::Invalid("endpoint is NULL".into()));
    };
    let buf = if len == 0 {
        &mut [][..]
    } else {
        // SAFETY: the caller made `buf` valid for `len` bytes.
        unsafe { std::slice::from_raw_parts_mut(buf, len) }
    };
    let r = match timeout(timeout_ms) {
        Some(t) => e.ept.recv_timeout(buf, t).and_then(|n| {
            n.ok_or_else(|| Error::Timeout(format!("no message within {timeout_ms} ms")))
        }),
        None => e.ept.recv(buf),
    };
    match r {
        Ok(n) => c_int::try_from(n).unwrap_or(c_int::MAX),
        Err(err) => fail(err),
    }
}

/// # Safety
/// `e` is NULL or came from an open function and was not closed.
#[no_mangle]
pub unsafe extern "C" fn rpmsg_ept_close(e: *mut RpmsgEpt) {
    if !e.is_null() {
        // SAFETY: made by Box::into_raw in give(), closed once.
        drop(unsafe { Box::from_raw(e) });
    }
}

#[no_mangle]
pub extern "C" fn rpmsg_last_error() -> *const c_char {
    // The string lives until the next failing call on this thread.
    LAST.with(|l| l.borrow().as_ptr())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A FIFO opened read-write is its own echo: what is sent comes back.
    #[test]
    fn c_calls_on_a_fifo() {
        let path = std::env::temp_dir().join(format!("rpmsg-c-{}", std::process::id()));
        let cpath = CString::new(path.to_str().unwrap()).unwrap();
        // SAFETY: a NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(cpath.as_ptr(), 0o600) }, 0);
        let mut e: *mut RpmsgEpt = std::ptr::null_mut();
        // SAFETY: valid string and out pointer; `e` is used while open.
        unsafe {
            assert_eq!(rpmsg_ept_open(cpath.as_ptr(), 0, &mut e), 0);
            assert!(rpmsg_ept_fd(e) >= 0);
            let mut buf = [0u8; 16];
            assert_eq!(
                rpmsg_ept_recv(e, buf.as_mut_ptr(), buf.len(), 10),
                -libc::ETIMEDOUT
            );
            let msg = CStr::from_ptr(rpmsg_last_error()).to_str().unwrap();
            assert!(msg.contains("no message within 10 ms"), "{msg}");
            assert_eq!(rpmsg_ept_send(e, b"ping".as_ptr(), 4, 1000), 0);
            assert_eq!(rpmsg_ept_recv(e, buf.as_mut_ptr(), buf.len(), 1000), 4);
            assert_eq!(&buf[..4], b"ping");
            rpmsg_ept_close(e);
        }
        std::fs::remove_file(&path).unwrap();
        let missing = CString::new("/dev/rpmsg-none").unwrap();
        // SAFETY: valid string and out pointer.
        let r = unsafe { rpmsg_ept_open(missing.as_ptr(), 0, &mut e) };
        assert_eq!(r, -libc::ENOENT);
        // SAFETY: rpmsg_last_error never returns NULL.
        let msg = unsafe { CStr::from_ptr(rpmsg_last_error()) };
        assert!(msg.to_str().unwrap().contains("/dev/rpmsg-none"));
    }
}
