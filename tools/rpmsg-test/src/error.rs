//! Failure reasons: a case fails with a sentence a human can act on.

use std::fmt::{Debug, Display};
use std::io;

/// Result of a check: `Err` carries the reason shown as a KTAP diagnostic.
pub type Res<T = ()> = Result<T, String>;

/// Fails the enclosing function with a formatted reason unless `cond` holds.
#[macro_export]
macro_rules! ensure {
    ($cond:expr, $($arg:tt)+) => {
        if !($cond) {
            return Err(format!($($arg)+));
        }
    };
}

/// The kernel's internal "restart the system call" code. A driver that
/// returns it with no signal pending leaks it to userspace as errno 512
/// (`rpmsg_send()` on virtio after its 15 s wait for a transmit buffer).
pub const ERESTARTSYS: i32 = 512;

/// Symbolic name of the errno values the suite can meet, so diagnostics
/// read like the kernel sources they are checked against.
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

fn errno_text(errno: i32) -> String {
    errno_name(errno).map_or_else(|| format!("errno {errno}"), str::to_owned)
}

/// Short description of an I/O error: the errno name when there is one.
pub fn describe(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(n) => errno_text(n),
        None => e.to_string(),
    }
}

/// Attaches what was being done to an I/O error.
pub trait Context<T> {
    fn ctx(self, what: impl Display) -> Res<T>;
}

impl<T> Context<T> for io::Result<T> {
    fn ctx(self, what: impl Display) -> Res<T> {
        self.map_err(|e| format!("{what}: {}", describe(&e)))
    }
}

/// Checks that an operation failed with exactly `errno`.
pub fn expect_errno<T: Debug>(r: io::Result<T>, errno: i32, what: impl Display) -> Res {
    match r {
        Ok(v) => Err(format!(
            "{what}: succeeded ({v:?}), expected {}",
            errno_text(errno)
        )),
        Err(e) if e.raw_os_error() == Some(errno) => Ok(()),
        Err(e) => Err(format!(
            "{what}: failed with {}, expected {}",
            describe(&e),
            errno_text(errno)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expect_errno_distinguishes_outcomes() {
        let epipe = || Err::<usize, _>(io::Error::from_raw_os_error(libc::EPIPE));
        assert!(expect_errno(epipe(), libc::EPIPE, "read").is_ok());
        assert_eq!(
            expect_errno(epipe(), libc::EAGAIN, "read").unwrap_err(),
            "read: failed with EPIPE, expected EAGAIN"
        );
        assert_eq!(
            expect_errno(Ok::<usize, io::Error>(3), libc::EPIPE, "write").unwrap_err(),
            "write: succeeded (3), expected EPIPE"
        );
        assert_eq!(
            expect_errno(Err::<(), _>(io::Error::from_raw_os_error(4095)), 1, "x").unwrap_err(),
            "x: failed with errno 4095, expected EPERM"
        );
    }

    #[test]
    fn ensure_formats_reason() {
        fn check(v: u32) -> Res {
            ensure!(v == 1, "v is {v}, expected 1");
            Ok(())
        }
        assert!(check(1).is_ok());
        assert_eq!(check(2).unwrap_err(), "v is 2, expected 1");
    }
}
