//! Traffic every stress case uses: self-checking echo messages, echo
//! streams on their own threads, and healthy background traffic that
//! must lose nothing while a case tears something else down.

use std::collections::VecDeque;
use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::plan::{self, FIGURES};
use super::rng::{fnv32, Rng};
use crate::bounded::{self, Bounded};
use crate::charlayer;
use crate::ensure;
use crate::error::{describe, Context, Res};
use crate::suite::common::*;
use crate::uapi::RPMSG_ADDR_ANY;
use crate::{sys, topo};

/// Bytes in front of every stress message: stream, sequence number and
/// the checksum of the rest.
pub const HEAD: usize = 12;
/// How long an echo reply may take under load (TCG, KASAN, other guests
/// on the same machine).
pub const REPLY_UNDER_LOAD: Duration = Duration::from_secs(10);

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Message `seq` of stream `stream`: `len` bytes (`HEAD..=MTU`), random
/// filler from `rng`.
pub fn message(rng: &mut Rng, stream: u32, seq: u32, len: usize) -> Vec<u8> {
    let mut m = vec![0u8; len.max(HEAD)];
    rng.fill(&mut m[HEAD..]);
    m[0..4].copy_from_slice(&stream.to_le_bytes());
    m[4..8].copy_from_slice(&seq.to_le_bytes());
    let sum = fnv32(&m[HEAD..]);
    m[8..12].copy_from_slice(&sum.to_le_bytes());
    m
}

/// Checks a received message on its own (header and checksum), then
/// against the copy that was sent.
pub fn check_message(got: &[u8], want: &[u8]) -> Res {
    ensure!(
        got.len() >= HEAD,
        "a message of {} bytes where message {} of stream {} ({} bytes) was due",
        got.len(),
        le32(want, 4),
        le32(want, 0),
        want.len()
    );
    let (stream, seq) = (le32(got, 0), le32(got, 4));
    ensure!(
        (stream, seq) == (le32(want, 0), le32(want, 4)),
        "got message {seq} of stream {stream}, expected {} of stream {}",
        le32(want, 4),
        le32(want, 0)
    );
    ensure!(
        fnv32(&got[HEAD..]) == le32(got, 8),
        "message {seq} of stream {stream}: checksum mismatch ({} bytes)",
        got.len()
    );
    ensure!(
        got == want,
        "message {seq} of stream {stream}: {}",
        difference(got, want)
    );
    Ok(())
}

/// [`send`] on an `O_NONBLOCK` file without poll(2): retries `EAGAIN`
/// until `timeout`.
fn send_without_poll(f: &File, data: &[u8], timeout: Duration) -> Res {
    let deadline = Instant::now() + timeout;
    loop {
        match sys::write(f, data) {
            Ok(n) if n == data.len() => return Ok(()),
            Ok(n) => return Err(format!("write of {} bytes wrote {n}", data.len())),
            Err(e) if e.raw_os_error() == Some(libc::EAGAIN) && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(e) => return Err(format!("write of {} bytes: {}", data.len(), describe(&e))),
        }
    }
}

/// [`recv`] on an `O_NONBLOCK` file without poll(2).
fn recv_without_poll(f: &File, timeout: Duration) -> Res<Vec<u8>> {
    let deadline = Instant::now() + timeout;
    let mut buf = vec![0u8; 4096];
    loop {
        match sys::read(f, &mut buf) {
            Ok(n) => {
                buf.truncate(n);
                return Ok(buf);
            }
            Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => {
                ensure!(
                    Instant::now() < deadline,
                    "no message within {} s",
                    timeout.as_secs_f32()
                );
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(e) => return Err(format!("read: {}", describe(&e))),
        }
    }
}

/// When an echo stream ends.
pub enum Until {
    Count(u32),
    /// Until the flag is set; the replies in flight are still awaited.
    Stopped(Arc<AtomicBool>),
    /// Until a system call fails: the endpoint is being torn down. A
    /// failure counts only before `torn` is set.
    TornDown(Arc<AtomicBool>),
    /// Until the flag is set or a system call fails, which is never
    /// counted: the endpoint may be torn down at any moment.
    Racing(Arc<AtomicBool>),
}

impl Until {
    /// Whether the endpoint may be torn down under the stream.
    fn in_teardown(&self) -> bool {
        matches!(self, Until::TornDown(_) | Until::Racing(_))
    }

    /// Whether a failed system call is the teardown's, not a loss.
    fn excused(&self) -> bool {
        match self {
            Until::TornDown(torn) => torn.load(Ordering::SeqCst),
            Until::Racing(_) => true,
            _ => false,
        }
    }
}

/// Pipelined echo traffic with up to `window` messages in flight; every
/// reply must be the oldest message in flight, so loss, duplication,
/// reordering, corruption and cross-talk all fail. Returns how many
/// round trips were checked.
pub fn echo_stream(f: &File, stream: u32, mut rng: Rng, window: usize, until: Until) -> Res<u64> {
    let mut in_flight: VecDeque<Vec<u8>> = VecDeque::new();
    let (mut seq, mut checked) = (0u32, 0u64);
    let more = |seq: u32| match &until {
        Until::Count(n) => seq < *n,
        Until::Stopped(stop) | Until::Racing(stop) => !stop.load(Ordering::Relaxed),
        Until::TornDown(_) => true,
    };
    let lost = |n: usize| plan::add(&FIGURES.lost, n as u64);
    // The kernel's rpmsg_eptdev_poll() checks for the endpoint, then calls
    // rpmsg_poll() on it under ept_lock, by which time a teardown may have
    // cleared it: rpmsg_poll() warns (WARN_ON(!ept), seen in this case on
    // STACK=c). On that char layer a stream that may be torn down does not
    // poll: it reads and writes with O_NONBLOCK and waits in between.
    let no_poll = until.in_teardown() && !charlayer::is_rust();
    if no_poll {
        sys::set_nonblocking(f, true).ctx("set O_NONBLOCK")?;
    }
    loop {
        while more(seq) && in_flight.len() < window {
            let len = rng.size(HEAD, MTU);
            let m = message(&mut rng, stream, seq, len);
            let sent = if no_poll {
                send_without_poll(f, &m, REPLY_UNDER_LOAD)
            } else {
                send(f, &m)
            };
            if let Err(e) = sent {
                if until.excused() {
                    return Ok(checked);
                }
                lost(in_flight.len());
                return Err(format!("stream {stream}: {e}"));
            }
            plan::add(&FIGURES.echo_sent, 1);
            in_flight.push_back(m);
            seq += 1;
        }
        let Some(want) = in_flight.pop_front() else {
            return Ok(checked);
        };
        let got = match if no_poll {
            recv_without_poll(f, REPLY_UNDER_LOAD)
        } else {
            recv(f, REPLY_UNDER_LOAD)
        } {
            Ok(m) => m,
            Err(e) => {
                if until.excused() {
                    return Ok(checked);
                }
                lost(in_flight.len() + 1);
                return Err(format!(
                    "stream {stream}, reply to message {}: {e}",
                    le32(&want, 4)
                ));
            }
        };
        if let Err(e) = check_message(&got, &want) {
            lost(in_flight.len() + 1);
            return Err(e);
        }
        checked += 1;
        plan::add(&FIGURES.echo_checked, 1);
    }
}

/// Creates an endpoint device to `dst` through `t`'s control device and
/// opens it.
pub fn open_ept(t: &Target, tag: &str, src: u32, dst: u32, nonblock: bool) -> Res<Ept> {
    let (ctrl_name, ctrl) = t.open_ctrl()?;
    let name = unique_name(tag);
    let mut e = Ept::create(&ctrl, &ctrl_name, &name, src, dst)?;
    e.open(nonblock).ctx(format_args!("open /dev/{}", e.node))?;
    // Numbers are reused at once (the lowest free one, as upstream): if
    // the device went away (an unbind) before the open, /dev/<node> may
    // already be another device, which must not stay open or be destroyed
    // in our place.
    let opened = e
        .file()?
        .metadata()
        .ctx("fstat")
        .map(|m| sys::dev_split(m.rdev()))?;
    let (major, minor) = opened;
    let now = topo::read_attr(format!("/sys/dev/char/{major}:{minor}/name")).unwrap_or_default();
    if now != name {
        e.close();
        e.gone();
        return Err(format!(
            "/dev/{} is now another device ({now:?}), not {name}",
            e.node
        ));
    }
    Ok(e)
}

/// Echo streams on endpoints of their own that run on threads while a
/// case does something else; every message they sent must come back.
pub struct Background {
    stop: Arc<AtomicBool>,
    workers: Vec<Bounded<Res<u64>>>,
    started: Instant,
}

impl Background {
    /// `n` streams to `t`'s echo service, windows of 1 to 8.
    pub fn start(t: &Target, n: u32, tag: &str) -> Res<Background> {
        let stop = Arc::new(AtomicBool::new(false));
        let mut workers = Vec::new();
        let mut rng = plan::rng(tag);
        for i in 0..n {
            let ept = open_ept(t, tag, RPMSG_ADDR_ANY, t.echo_addr()?, false)?;
            let stream_rng = Rng::new(rng.next_u64());
            let window = rng.size(1, 8);
            let stop = stop.clone();
            let stream = 0x1000 + i;
            workers.push(
                bounded::spawn(&format!("{tag}{i}"), move || {
                    echo_stream(
                        ept.file()?,
                        stream,
                        stream_rng,
                        window,
                        Until::Stopped(stop),
                    )
                })
                .ctx("spawn")?,
            );
        }
        Ok(Background {
            stop,
            workers,
            started: Instant::now(),
        })
    }

    /// Stops the streams and checks that every one of them lost nothing.
    /// Returns the round trips checked.
    pub fn finish(mut self) -> Res<u64> {
        self.stop.store(true, Ordering::Relaxed);
        let mut errors = Vec::new();
        let mut total = 0;
        for w in std::mem::take(&mut self.workers) {
            match w.wait(REPLY_UNDER_LOAD * 2) {
                Ok(Ok(n)) if n > 0 => total += n,
                Ok(Ok(_)) => errors.push(format!(
                    "a healthy stream made no round trip in {:.1} s",
                    self.started.elapsed().as_secs_f64()
                )),
                Ok(Err(e)) => errors.push(e),
                Err(h) => errors.push(format!("a healthy stream: {h}")),
            }
        }
        ensure!(errors.is_empty(), "healthy traffic: {}", errors.join("; "));
        Ok(total)
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_check_themselves() {
        let mut r = Rng::new(3);
        let m = message(&mut r, 7, 42, 100);
        assert_eq!(m.len(), 100);
        assert_eq!((le32(&m, 0), le32(&m, 4)), (7, 42));
        assert_eq!(check_message(&m, &m), Ok(()));
        let short = message(&mut r, 1, 1, 3);
        assert_eq!(short.len(), HEAD);

        let mut bad = m.clone();
        bad[50] ^= 1;
        assert!(check_message(&bad, &m).unwrap_err().contains("checksum"));
        let next = message(&mut r, 7, 43, 100);
        assert!(check_message(&next, &m)
            .unwrap_err()
            .contains("got message 43"));
        assert!(check_message(&m[..5], &m).unwrap_err().contains("5 bytes"));
        // Same header and checksum, other filler: only the copy tells.
        let mut other = message(&mut Rng::new(4), 7, 42, 100);
        other[8..12].copy_from_slice(&m[8..12]);
        assert!(check_message(&other, &m).is_err());
    }
}
