//! Running work on a thread with a time limit, so a hung system call
//! (a read that is never woken, a send that never gets a buffer) is
//! reported instead of hanging the suite.
//!
//! On timeout the thread gets `SIGUSR1`, whose handler is installed without
//! `SA_RESTART`: a blocked system call returns `EINTR` and the work unwinds
//! through its normal error path. A thread that still does not finish is
//! left behind, detached.

use std::fmt;
use std::os::unix::thread::JoinHandleExt;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::Once;
use std::thread::{self, JoinHandle};
use std::time::Duration;

extern "C" fn on_interrupt(_sig: libc::c_int) {}

fn install_interrupt_handler() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: sigaction is plain data; the handler only returns, which is
        // async-signal-safe.
        unsafe {
            let mut sa: libc::sigaction = core::mem::zeroed();
            sa.sa_sigaction = on_interrupt as extern "C" fn(libc::c_int) as libc::sighandler_t;
            sa.sa_flags = 0;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(libc::SIGUSR1, &sa, core::ptr::null_mut());
        }
    });
}

/// Why bounded work produced no result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hung {
    /// Timed out; interrupting it made it return (its result is dropped).
    Interrupted(Duration),
    /// Timed out and ignored interruption; the thread is left running.
    Stuck(Duration),
    /// The thread ended without a result (it panicked).
    Died,
}

impl fmt::Display for Hung {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Hung::Interrupted(t) => {
                write!(f, "timed out after {} s (interrupted)", t.as_secs_f32())
            }
            Hung::Stuck(t) => write!(
                f,
                "timed out after {} s (thread stuck, abandoned)",
                t.as_secs_f32()
            ),
            Hung::Died => write!(f, "thread died"),
        }
    }
}

/// Work running on its own thread.
pub struct Bounded<T> {
    rx: Receiver<T>,
    handle: JoinHandle<()>,
}

/// Starts `f` on a new thread.
pub fn spawn<T, F>(name: &str, f: F) -> std::io::Result<Bounded<T>>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    install_interrupt_handler();
    let (tx, rx) = mpsc::channel();
    let handle = thread::Builder::new().name(name.into()).spawn(move || {
        // The receiver may be gone after a timeout; nobody wants the result.
        let _ = tx.send(f());
    })?;
    Ok(Bounded { rx, handle })
}

impl<T> Bounded<T> {
    /// Waits up to `timeout` for the result without disturbing the thread:
    /// `Ok(None)` if it has not finished yet.
    pub fn result_within(&self, timeout: Duration) -> Result<Option<T>, Hung> {
        match self.rx.recv_timeout(timeout) {
            Ok(v) => Ok(Some(v)),
            Err(RecvTimeoutError::Timeout) => Ok(None),
            Err(RecvTimeoutError::Disconnected) => Err(Hung::Died),
        }
    }

    /// Sends the thread the interrupting signal once (`SIGUSR1`, no
    /// `SA_RESTART`): a system call it is blocked in returns `EINTR`,
    /// unless the kernel does not let the signal interrupt it.
    pub fn interrupt(&self) {
        // SAFETY: the thread is never joined while `self` exists, so its
        // pthread_t is valid (an exited, unjoined thread is a valid target).
        unsafe { libc::pthread_kill(self.handle.as_pthread_t() as _, libc::SIGUSR1) };
    }

    /// Waits up to `timeout` for the result.
    pub fn wait(self, timeout: Duration) -> Result<T, Hung> {
        match self.rx.recv_timeout(timeout) {
            Ok(v) => {
                let _ = self.handle.join();
                return Ok(v);
            }
            Err(RecvTimeoutError::Disconnected) => {
                let _ = self.handle.join();
                return Err(Hung::Died);
            }
            Err(RecvTimeoutError::Timeout) => {}
        }
        // Keep interrupting for a while: the signal may land between two
        // system calls and only the next blocking one must be broken.
        for _ in 0..40 {
            // SAFETY: the thread is not joined yet, so its pthread_t is valid
            // (an exited, unjoined thread is still a valid target).
            unsafe { libc::pthread_kill(self.handle.as_pthread_t() as _, libc::SIGUSR1) };
            match self.rx.recv_timeout(Duration::from_millis(50)) {
                Ok(_) | Err(RecvTimeoutError::Disconnected) => {
                    let _ = self.handle.join();
                    return Err(Hung::Interrupted(timeout));
                }
                Err(RecvTimeoutError::Timeout) => {}
            }
        }
        Err(Hung::Stuck(timeout))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::File;
    use std::os::fd::FromRawFd;

    #[test]
    fn result_in_time() {
        let b = spawn("quick", || 42).unwrap();
        assert_eq!(b.wait(Duration::from_secs(5)), Ok(42));
    }

    #[test]
    fn blocked_read_is_interrupted() {
        let mut fds = [0; 2];
        // SAFETY: `fds` has room for two descriptors.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        // SAFETY: both were just created and are owned here.
        let (r, w) = unsafe { (File::from_raw_fd(fds[0]), File::from_raw_fd(fds[1])) };
        let (tx, rx) = mpsc::channel();
        let b = spawn("blocked", move || {
            let mut buf = [0u8; 1];
            let res = crate::sys::read(&r, &mut buf);
            tx.send(res.map_err(|e| e.raw_os_error())).unwrap();
        })
        .unwrap();
        assert!(matches!(
            b.wait(Duration::from_millis(100)),
            Err(Hung::Interrupted(_))
        ));
        assert_eq!(rx.recv().unwrap(), Err(Some(libc::EINTR)));
        drop(w);
    }

    #[test]
    fn interrupt_on_demand() {
        let mut fds = [0; 2];
        // SAFETY: `fds` has room for two descriptors.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        // SAFETY: both were just created and are owned here.
        let (r, w) = unsafe { (File::from_raw_fd(fds[0]), File::from_raw_fd(fds[1])) };
        let b = spawn("blocked", move || {
            let mut buf = [0u8; 1];
            crate::sys::read(&r, &mut buf).map_err(|e| e.raw_os_error())
        })
        .unwrap();
        assert_eq!(b.result_within(Duration::from_millis(100)), Ok(None));
        b.interrupt();
        assert_eq!(
            b.result_within(Duration::from_secs(5)),
            Ok(Some(Err(Some(libc::EINTR))))
        );
        drop(w);
    }
}
