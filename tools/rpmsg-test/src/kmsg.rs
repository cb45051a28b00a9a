//! Reading the kernel log through `/dev/kmsg`: one record per `read(2)`,
//! `<prio>,<seq>,<usec>,<flags>[,...];<text>\n` followed by ` KEY=value`
//! continuation lines.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::time::{Duration, Instant};

use crate::error::{Context, Res};
use crate::sys;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub seq: u64,
    pub text: String,
}

pub fn parse_record(buf: &[u8]) -> Option<Record> {
    let s = String::from_utf8_lossy(buf);
    let (prefix, rest) = s.split_once(';')?;
    let seq = prefix.split(',').nth(1)?.parse().ok()?;
    let text = rest.split('\n').next().unwrap_or_default().to_owned();
    Some(Record { seq, text })
}

pub struct Kmsg {
    file: File,
}

impl Kmsg {
    /// Opens the log at its oldest retained record.
    pub fn open() -> io::Result<Self> {
        let file = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open("/dev/kmsg")?;
        Ok(Self { file })
    }

    /// The next record, waiting up to `timeout` for one.
    pub fn next(&mut self, timeout: Duration) -> io::Result<Option<Record>> {
        let deadline = Instant::now() + timeout;
        // The largest record the kernel formats is well below this.
        let mut buf = vec![0u8; 8192];
        loop {
            match sys::read(&self.file, &mut buf) {
                Ok(n) => {
                    if let Some(r) = parse_record(&buf[..n]) {
                        return Ok(Some(r));
                    }
                }
                // Records were overwritten before we got to them; the
                // next read continues with the oldest one left.
                Err(e) if e.raw_os_error() == Some(libc::EPIPE) => {}
                Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() || sys::poll(&self.file, libc::POLLIN, left)? == 0 {
                        return Ok(None);
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// Sequence number of the newest record now in the log.
pub fn last_seq() -> Res<u64> {
    let mut k = Kmsg::open().ctx("open /dev/kmsg")?;
    let mut last = 0;
    while let Some(r) = k.next(Duration::ZERO).ctx("read /dev/kmsg")? {
        last = r.seq;
    }
    Ok(last)
}

/// Waits for a record newer than `after` whose text satisfies `pred`.
pub fn wait_for(after: u64, timeout: Duration, pred: impl Fn(&str) -> bool) -> Res<Option<Record>> {
    let deadline = Instant::now() + timeout;
    let mut k = Kmsg::open().ctx("open /dev/kmsg")?;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match k.next(left).ctx("read /dev/kmsg")? {
            Some(r) if r.seq > after && pred(&r.text) => return Ok(Some(r)),
            Some(_) => {}
            None => return Ok(None),
        }
    }
}

/// All records newer than `after` whose text satisfies `pred`, without waiting.
pub fn collect(after: u64, pred: impl Fn(&str) -> bool) -> Res<Vec<Record>> {
    let mut k = Kmsg::open().ctx("open /dev/kmsg")?;
    let mut v = Vec::new();
    while let Some(r) = k.next(Duration::ZERO).ctx("read /dev/kmsg")? {
        if r.seq > after && pred(&r.text) {
            v.push(r);
        }
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records() {
        let r = parse_record(
            b"6,1234,5678901,-;rpmsg_client_sample virtio0.rpmsg-client-sample.-1.1024: goodbye!\n \
SUBSYSTEM=rpmsg\n DEVICE=+rpmsg:virtio0.rpmsg-client-sample.-1.1024\n",
        )
        .unwrap();
        assert_eq!(r.seq, 1234);
        assert_eq!(
            r.text,
            "rpmsg_client_sample virtio0.rpmsg-client-sample.-1.1024: goodbye!"
        );

        // Newer kernels may append fields after the flags.
        let r = parse_record(b"4,7,100,c,caller=T1;a;b\n").unwrap();
        assert_eq!((r.seq, r.text.as_str()), (7, "a;b"));

        assert_eq!(parse_record(b"no separator"), None);
        assert_eq!(parse_record(b"6;text"), None);
    }
}
