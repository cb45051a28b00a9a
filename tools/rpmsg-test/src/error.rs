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

pub use rpmsg::error::{describe, errno_name, errno_text, ERESTARTSYS};

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
