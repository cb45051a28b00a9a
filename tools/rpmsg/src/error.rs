//! Typed errors: what failed, and the errno when the kernel said no.

use std::fmt;
use std::io;

/// The kernel's internal "restart the system call" code. A driver that
/// returns it with no signal pending leaks it to userspace as errno 512
/// (`rpmsg_send()` on virtio after its 15 s wait for a transmit buffer).
pub const ERESTARTSYS: i32 = 512;

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why an operation failed.
///
/// Every variant carries a sentence that names what was being done or
/// what is missing; [`Error::errno`] gives the kernel's answer when there
/// was one.
///
/// ```
/// let e = rpmsg::Error::io("open /dev/rpmsg9", std::io::Error::from_raw_os_error(libc::ENOENT));
/// assert_eq!(e.errno(), Some(libc::ENOENT));
/// assert_eq!(e.to_string(), "open /dev/rpmsg9: ENOENT (No such file or directory)");
/// ```
#[derive(Debug)]
pub enum Error {
    /// A system call failed; `what` says which one on what.
    Io { what: String, source: io::Error },
    /// Something the operation needs is not there (a remote processor, a
    /// channel, a device, a driver or module); the text says which.
    NotFound(String),
    /// The thing exists but is in the wrong state (a channel bound to
    /// another driver, a device that is not an endpoint).
    Busy(String),
    /// Nothing happened within the time allowed.
    Timeout(String),
    /// An argument cannot be used (a name too long for the kernel, a bad
    /// address, a message larger than the MTU).
    Invalid(String),
}

impl Error {
    /// An I/O error with what was being done.
    pub fn io(what: impl Into<String>, source: io::Error) -> Self {
        Error::Io {
            what: what.into(),
            source,
        }
    }

    /// The errno the kernel returned, if the failure was a system call's.
    /// `Timeout` reports `ETIMEDOUT`, `NotFound` `ENOENT`, `Busy` `EBUSY`,
    /// `Invalid` `EINVAL`, so callers can always map to an exit status.
    pub fn errno(&self) -> Option<i32> {
        match self {
            Error::Io { source, .. } => source.raw_os_error(),
            Error::NotFound(_) => Some(libc::ENOENT),
            Error::Busy(_) => Some(libc::EBUSY),
            Error::Timeout(_) => Some(libc::ETIMEDOUT),
            Error::Invalid(_) => Some(libc::EINVAL),
        }
    }

    /// Whether the kernel answered `errno` (only for `Io` errors).
    pub fn is_errno(&self, errno: i32) -> bool {
        matches!(self, Error::Io { source, .. } if source.raw_os_error() == Some(errno))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io { what, source } if what.is_empty() => f.write_str(&describe_long(source)),
            Error::Io { what, source } => write!(f, "{what}: {}", describe_long(source)),
            Error::NotFound(s) | Error::Busy(s) | Error::Timeout(s) | Error::Invalid(s) => {
                f.write_str(s)
            }
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// An I/O error without context (prefer [`IoContext::what`]).
impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::io("", e)
    }
}

/// Lets code whose errors are sentences (the guest suite) use `?` on this
/// crate's results.
impl From<Error> for String {
    fn from(e: Error) -> String {
        e.to_string()
    }
}

/// Symbolic name of the errno values RPMsg users meet, so messages read
/// like the kernel sources.
pub fn errno_name(errno: i32) -> Option<&'static str> {
    Some(match errno {
        libc::EPERM => "EPERM",
        libc::ENOENT => "ENOENT",
        libc::EINTR => "EINTR",
        libc::EIO => "EIO",
        libc::ENXIO => "ENXIO",
        libc::EBADF => "EBADF",
        libc::EAGAIN => "EAGAIN",
        libc::ENOMEM => "ENOMEM",
        libc::EACCES => "EACCES",
        libc::EFAULT => "EFAULT",
        libc::EBUSY => "EBUSY",
        libc::EEXIST => "EEXIST",
        libc::ENODEV => "ENODEV",
        libc::EINVAL => "EINVAL",
        libc::ENOTTY => "ENOTTY",
        libc::ENOSPC => "ENOSPC",
        libc::EPIPE => "EPIPE",
        libc::EMSGSIZE => "EMSGSIZE",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        libc::ENETRESET => "ENETRESET",
        libc::ETIMEDOUT => "ETIMEDOUT",
        libc::ESRCH => "ESRCH",
        ERESTARTSYS => "ERESTARTSYS",
        _ => return None,
    })
}

/// Short description of an I/O error: the errno name when there is one.
pub fn describe(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(n) => errno_text(n),
        None => e.to_string(),
    }
}

/// `EPIPE`, or `errno 4095` for values without a name.
pub fn errno_text(errno: i32) -> String {
    errno_name(errno).map_or_else(|| format!("errno {errno}"), str::to_owned)
}

/// The errno name and the C library's text: `ENOENT (No such file or directory)`.
fn describe_long(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(ERESTARTSYS) => "ERESTARTSYS (the kernel gave up waiting)".into(),
        Some(n) => {
            let text = io::Error::from_raw_os_error(n).to_string();
            // std appends " (os error N)"; the name says it better.
            let text = text.split(" (os error").next().unwrap_or("").to_owned();
            match errno_name(n) {
                Some(name) => format!("{name} ({text})"),
                None => format!("errno {n} ({text})"),
            }
        }
        None => e.to_string(),
    }
}

/// Attaches what was being done to an I/O result.
pub trait IoContext<T> {
    fn what(self, what: impl fmt::Display) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn what(self, what: impl fmt::Display) -> Result<T> {
        self.map_err(|e| Error::io(what.to_string(), e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_and_text() {
        let e = Error::io("write", io::Error::from_raw_os_error(libc::EPIPE));
        assert_eq!(e.errno(), Some(libc::EPIPE));
        assert!(e.is_errno(libc::EPIPE));
        assert!(!e.is_errno(libc::EAGAIN));
        assert_eq!(e.to_string(), "write: EPIPE (Broken pipe)");
        let e = Error::io("x", io::Error::from_raw_os_error(ERESTARTSYS));
        assert!(e.to_string().contains("ERESTARTSYS"));
        assert_eq!(Error::Timeout("t".into()).errno(), Some(libc::ETIMEDOUT));
        assert_eq!(String::from(Error::NotFound("no sim9".into())), "no sim9");
        assert_eq!(errno_text(4095), "errno 4095");
        assert_eq!(
            describe(&io::Error::from_raw_os_error(libc::EBUSY)),
            "EBUSY"
        );
    }
}
