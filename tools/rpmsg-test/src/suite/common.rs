//! Helpers shared by the cases: finding a remote's devices, endpoint and
//! channel guards that clean up on drop, and message exchange.

use std::fs::File;
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

pub use crate::endpoint::{dev_path, wait_for, Ept};
use crate::ensure;
use crate::error::{describe, expect_errno, Context, Res};
use crate::sim::{Sim, Stats};
use crate::sys;
use crate::topo::{self, ChannelId, Remote};
use crate::uapi::{self, EndpointInfo, RPMSG_ADDR_ANY};

pub const SIM0: &str = "sim0";
pub const SIM1: &str = "sim1";
pub const SIMS: [&str; 2] = [SIM0, SIM1];

/// The simulator's default channels: name, remote address, and the kernel
/// driver that matches the name.
pub const DEFAULT_CHANNELS: [(&str, u32, &str); 3] = [
    ("rpmsg-client-sample", 1024, "rpmsg_client_sample"),
    ("rpmsg-raw", 1025, "rpmsg_chrdev"),
    ("rpmsg-tty", 1026, "rpmsg_tty"),
];

/// Payload room in virtio_rpmsg_bus's 512-byte buffers after the 16-byte
/// `struct rpmsg_hdr`.
pub const MTU: usize = 496;
/// How long a reply from the simulated remote may take.
pub const REPLY: Duration = Duration::from_secs(5);
/// How long sysfs may take to reflect a change made elsewhere.
pub const SETTLE: Duration = Duration::from_secs(30);
/// `RPMSG_RESERVED_ADDRESSES`: dynamically allocated addresses start here.
pub const FIRST_DYNAMIC_ADDR: u32 = 1024;

/// Waits for `path` to disappear.
pub fn wait_gone(path: &Path, timeout: Duration) -> Res {
    wait_for(&format!("{} removed", path.display()), timeout, || {
        (!path.exists()).then_some(())
    })
}

/// A name nothing else uses, not even leftovers of failed cases or of an
/// earlier run in the same boot.
pub fn unique_name(tag: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("rt-{tag}-{}-{n}", std::process::id())
}

/// Deterministic test payload; `tag` makes messages of equal length differ.
pub fn payload(tag: u32, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (tag.wrapping_mul(131).wrapping_add(i as u32 * 7) % 251) as u8)
        .collect()
}

/// Printable payload, for the tty.
pub fn text_payload(tag: u32, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| b'!' + ((tag as usize + i) % 94) as u8)
        .collect()
}

/// Writes a sysfs attribute in one `write(2)`, as the kernel expects (the
/// `rpmsg` library's).
pub fn write_attr(path: &Path, value: &str) -> Res {
    rpmsg::bind::write_attr(path, value).map_err(String::from)
}

/// Waits until the remote has stopped exchanging messages (the kernel's
/// rpmsg_client_sample runs on its own after every attach) so counter
/// deltas measure only what a case did.
pub fn quiesce(sim: &Sim) -> Res<Stats> {
    let deadline = Instant::now() + SETTLE;
    let mut prev = sim.stats()?;
    loop {
        thread::sleep(Duration::from_millis(200));
        let cur = sim.stats()?;
        if cur.traffic()? == prev.traffic()? && cur.get("source.pending")? == 0 {
            return Ok(cur);
        }
        ensure!(
            Instant::now() < deadline,
            "{}: traffic did not stop within {} s",
            sim.name,
            SETTLE.as_secs()
        );
        prev = cur;
    }
}

/// A remote processor and the rpmsg virtio device the host made for it.
pub struct Target {
    pub sim: Sim,
    pub remote: Remote,
    pub vdev: String,
}

impl Target {
    /// What sysfs shows now: the remote's one virtio device that carries an
    /// rpmsg control channel.
    pub fn discover(sim: &str) -> Res<Target> {
        let remote = topo::remote(sim)
            .ctx("list /sys/class/remoteproc")?
            .ok_or_else(|| format!("no remoteproc named {sim}"))?;
        let vdevs: Vec<String> = remote
            .vdevs()
            .ctx("list virtio devices")?
            .into_iter()
            .filter(|v| topo::ctrl_channel(v).exists())
            .collect();
        ensure!(
            vdevs.len() == 1,
            "{sim} ({}): {} rpmsg virtio devices {vdevs:?}, expected 1",
            remote.rproc,
            vdevs.len()
        );
        Ok(Target {
            sim: Sim::new(sim),
            remote,
            vdev: vdevs[0].clone(),
        })
    }

    /// Waits until the remote's default channels are up and bound.
    pub fn ready(sim: &str) -> Res<Target> {
        let deadline = Instant::now() + SETTLE;
        loop {
            let reason = match Target::discover(sim) {
                Ok(t) => match t.ready_state() {
                    Ok(()) => return Ok(t),
                    Err(e) => e,
                },
                Err(e) => e,
            };
            ensure!(
                Instant::now() < deadline,
                "{sim} not ready within {} s: {reason}",
                SETTLE.as_secs()
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    fn ready_state(&self) -> Res {
        let ctrl = self.ctrl()?;
        ensure!(dev_path(&ctrl).exists(), "no /dev/{ctrl}");
        for (name, _, driver) in DEFAULT_CHANNELS {
            let ch = self.channel(name)?;
            ensure!(
                ch.driver().as_deref() == Some(driver),
                "{} not bound to {driver}",
                ch.dev_name()
            );
        }
        let raw = self.channel("rpmsg-raw")?;
        let node = raw
            .chrdev()
            .ok_or_else(|| format!("{} has no rpmsg char device", raw.dev_name()))?;
        ensure!(dev_path(&node).exists(), "no /dev/{node}");
        let tty = self.channel("rpmsg-tty")?;
        let node = tty
            .tty()
            .ok_or_else(|| format!("{} has no tty", tty.dev_name()))?;
        ensure!(dev_path(&node).exists(), "no /dev/{node}");
        Ok(())
    }

    /// This remote's channels.
    pub fn channels(&self) -> Res<Vec<ChannelId>> {
        Ok(topo::channels()
            .ctx("list rpmsg devices")?
            .into_iter()
            .filter(|c| c.vdev == self.vdev)
            .collect())
    }

    /// The one channel called `name`.
    pub fn channel(&self, name: &str) -> Res<ChannelId> {
        let mut v: Vec<ChannelId> = self
            .channels()?
            .into_iter()
            .filter(|c| c.name == name)
            .collect();
        ensure!(
            v.len() == 1,
            "{}: {} channels named {name}, expected 1",
            self.vdev,
            v.len()
        );
        Ok(v.remove(0))
    }

    /// `rpmsg_ctrlN` of this remote's virtio device.
    pub fn ctrl(&self) -> Res<String> {
        topo::ctrl_of(&self.vdev).ok_or_else(|| format!("{} has no rpmsg_ctrl device", self.vdev))
    }

    pub fn open_ctrl(&self) -> Res<(String, File)> {
        let ctrl = self.ctrl()?;
        let f = sys::open_dev(&dev_path(&ctrl), false).ctx(format_args!("open /dev/{ctrl}"))?;
        Ok((ctrl, f))
    }

    /// Address of an echo service: the remote end of the `rpmsg-raw` channel.
    pub fn echo_addr(&self) -> Res<u32> {
        Ok(self.channel("rpmsg-raw")?.dst)
    }
}

/// A channel made with `RPMSG_CREATE_DEV_IOCTL`; released on drop.
pub struct LocalChannel<'a> {
    ctrl: &'a File,
    pub info: EndpointInfo,
    live: bool,
}

impl<'a> LocalChannel<'a> {
    pub fn create(ctrl: &'a File, name: &str, src: u32, dst: u32) -> Res<Self> {
        let mut info = EndpointInfo::new(name, src, dst)?;
        sys::ioctl_ptr(ctrl, uapi::RPMSG_CREATE_DEV_IOCTL, &mut info)
            .ctx(format_args!("RPMSG_CREATE_DEV_IOCTL {name}"))?;
        Ok(Self {
            ctrl,
            info,
            live: true,
        })
    }

    pub fn release(&mut self) -> io::Result<libc::c_int> {
        let mut info = self.info;
        let r = sys::ioctl_ptr(self.ctrl, uapi::RPMSG_RELEASE_DEV_IOCTL, &mut info);
        self.live = false;
        r
    }
}

impl Drop for LocalChannel<'_> {
    fn drop(&mut self) {
        if self.live {
            let _ = self.release();
        }
    }
}

/// A remote endpoint announced through the simulator; destroyed on drop.
pub struct Announced {
    sim: Sim,
    pub name: String,
    pub addr: u32,
    /// The host channel the announcement created.
    pub chan: ChannelId,
    live: bool,
}

impl Announced {
    /// Announces `service` under a fresh name and waits for the channel.
    pub fn new(t: &Target, tag: &str, service: &str, addr: Option<u32>) -> Res<Self> {
        let name = unique_name(tag);
        let cmd = match addr {
            Some(a) => format!("announce {name} {service} {a}"),
            None => format!("announce {name} {service}"),
        };
        t.sim
            .control(&cmd)
            .ctx(format_args!("{}: {cmd}", t.sim.name))?;
        let mut a = Announced {
            sim: t.sim.clone(),
            chan: ChannelId::new(&t.vdev, &name, RPMSG_ADDR_ANY, 0),
            name,
            addr: 0,
            live: true,
        };
        let ep = t
            .sim
            .endpoint(&a.name)?
            .ok_or_else(|| format!("{}: {} not in endpoints after announce", t.sim.name, a.name))?;
        ensure!(
            ep.service == service,
            "{} is a {} endpoint, expected {service}",
            a.name,
            ep.service
        );
        if let Some(want) = addr {
            ensure!(
                ep.addr == want,
                "{} announced at {}, asked for {want}",
                a.name,
                ep.addr
            );
        }
        a.addr = ep.addr;
        a.chan.dst = ep.addr;
        // rpmsg_ns_cb(): the channel is <vdev>.<name>.-1.<addr>.
        let dir = a.chan.dir();
        wait_for(&format!("channel {}", a.chan.dev_name()), SETTLE, || {
            dir.exists().then_some(())
        })?;
        Ok(a)
    }

    /// Something else destroys the endpoint (a `destroy` sent from another
    /// thread, a crash): nothing to do on drop.
    pub fn forget(&mut self) {
        self.live = false;
    }

    /// Has the remote destroy the endpoint (and announce that).
    pub fn destroy(&mut self) -> Res {
        self.live = false;
        self.sim
            .control(&format!("destroy {}", self.name))
            .ctx(format_args!("{}: destroy {}", self.sim.name, self.name))
    }
}

impl Drop for Announced {
    fn drop(&mut self) {
        if self.live {
            let _ = self.sim.control(&format!("destroy {}", self.name));
        }
    }
}

/// A stalled remote (`stall`): it takes nothing from the host's send
/// queue until [`Stall::resume`] or drop.
pub struct Stall {
    sim: Sim,
    on: bool,
}

impl Stall {
    pub fn new(sim: &Sim) -> Res<Self> {
        sim.stall().ctx(format_args!("{}: stall", sim.name))?;
        let stalled = sim.stats()?.get("stalled")?;
        ensure!(stalled == 1, "{} stats say stalled: {stalled}", sim.name);
        Ok(Self {
            sim: sim.clone(),
            on: true,
        })
    }

    pub fn resume(&mut self) -> Res {
        self.on = false;
        self.sim
            .resume()
            .ctx(format_args!("{}: resume", self.sim.name))?;
        let stalled = self.sim.stats()?.get("stalled")?;
        ensure!(
            stalled == 0,
            "{} stats say stalled: {stalled}",
            self.sim.name
        );
        Ok(())
    }
}

impl Drop for Stall {
    fn drop(&mut self) {
        if self.on {
            let _ = self.sim.resume();
        }
    }
}

/// Binds a channel to `rpmsg_chrdev` the way userspace tools do (the
/// `rpmsg` library's `bind`) and returns the char device the driver created.
pub fn bind_chrdev(ch: &ChannelId) -> Res<String> {
    rpmsg::bind(ch, rpmsg::CHRDEV_DRIVER)?
        .node
        .ok_or_else(|| format!("{} bound without a char device", ch.dev_name()))
}

/// Opens an existing rpmsg char device.
pub fn open_node(node: &str, nonblock: bool) -> Res<File> {
    sys::open_dev(&dev_path(node), nonblock).ctx(format_args!("open /dev/{node}"))
}

/// Sends one message; the write must take all of it.
pub fn send(f: &File, data: &[u8]) -> Res {
    let n = sys::write(f, data).ctx(format_args!("write of {} bytes", data.len()))?;
    ensure!(
        n == data.len(),
        "write of {} bytes returned {n}",
        data.len()
    );
    Ok(())
}

/// Receives one message within `timeout`.
pub fn recv(f: &File, timeout: Duration) -> Res<Vec<u8>> {
    let ev = sys::poll(f, libc::POLLIN, timeout).ctx("poll")?;
    ensure!(ev != 0, "no message within {} s", timeout.as_secs_f32());
    ensure!(
        ev & libc::POLLIN != 0,
        "poll returned {ev:#x} instead of POLLIN"
    );
    // Bigger than any message, so a read returns a whole one.
    let mut buf = vec![0u8; 4096];
    let n = sys::read(f, &mut buf).ctx("read")?;
    buf.truncate(n);
    Ok(buf)
}

/// Describes how `got` differs from `want`, for diagnostics.
pub fn difference(got: &[u8], want: &[u8]) -> String {
    if got.len() != want.len() {
        return format!("{} bytes instead of {}", got.len(), want.len());
    }
    match got.iter().zip(want).position(|(a, b)| a != b) {
        Some(i) => format!("byte {i} is {:#04x}, expected {:#04x}", got[i], want[i]),
        None => "identical".into(),
    }
}

/// Waits until the remote's source has sent `n` messages since `before`
/// and has every receive buffer back, so the host has handled them all.
/// Fails only once nothing moves for [`SETTLE`]: a flood of tens of
/// thousands of messages takes longer than that under KASAN on a busy
/// machine, without anything being wrong.
pub fn wait_source_drained(sim: &Sim, before: &Stats, n: u32) -> Res {
    let bufs = before.get("tx_bufs_avail")?;
    let mut seen = None;
    let mut since = Instant::now();
    loop {
        let s = sim.stats()?;
        let now = (
            s.delta(before, "source.tx_msgs")?,
            s.get("source.pending")?,
            s.get("tx_bufs_avail")?,
        );
        if now == (u64::from(n), 0, bufs) {
            return Ok(());
        }
        if seen != Some(now) {
            (seen, since) = (Some(now), Instant::now());
        } else if since.elapsed() >= SETTLE {
            let (sent, pending, avail) = now;
            return Err(format!(
                "the source's flood stopped: {sent} of {n} sent, {pending} pending, \
                 {avail} of {bufs} buffers back, nothing moved for {} s",
                SETTLE.as_secs()
            ));
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// Sends `data` to an echo service and checks the reply.
pub fn echo(f: &File, data: &[u8]) -> Res {
    send(f, data)?;
    let got = recv(f, REPLY).map_err(|e| format!("echo of {} bytes: {e}", data.len()))?;
    ensure!(
        got == data,
        "echo of {} bytes: {}",
        data.len(),
        difference(&got, data)
    );
    Ok(())
}

/// Checks that no message arrives for `dur`.
pub fn expect_silence(f: &File, dur: Duration) -> Res {
    let ev = sys::poll(f, libc::POLLIN, dur).ctx("poll")?;
    ensure!(
        ev == 0,
        "unexpected poll events {ev:#x} (a message nobody sent?)"
    );
    Ok(())
}

/// Waits for POLLERR: `rpmsg_eptdev_poll()` returns exactly EPOLLERR once
/// the endpoint is gone.
///
/// The kernel's `rpmsg_eptdev_poll()` tests the endpoint without
/// `ept_lock`, then passes it to `rpmsg_poll()` under the lock, which
/// warns (`WARN_ON(!ept)`) when a teardown cleared it in between. On that
/// char layer the endpoint's end is first awaited with `O_NONBLOCK` reads
/// (`EPIPE`); only then, with the endpoint gone for good, is poll asked.
/// The callers' devices have no message queued.
pub fn wait_pollerr(f: &File, timeout: Duration) -> Res {
    if !crate::charlayer::is_rust() {
        wait_epipe(f, timeout)?;
    }
    let ev = sys::poll(f, libc::POLLIN | libc::POLLOUT, Duration::ZERO).ctx("poll")?;
    if ev == libc::POLLERR {
        return Ok(());
    }
    // The poll wait queue is the endpoint's read queue, which the removal
    // wakes; poll again (bounded) until the state shows.
    wait_for("POLLERR", timeout, || {
        sys::poll(f, libc::POLLIN, Duration::from_millis(50))
            .ok()
            .filter(|&ev| ev == libc::POLLERR)
            .map(drop)
    })
}

/// Waits until a non-blocking read of `f` fails with `EPIPE`; any other
/// result than `EAGAIN` fails.
fn wait_epipe(f: &File, timeout: Duration) -> Res {
    let was_nonblocking = sys::is_nonblocking(f).ctx("F_GETFL")?;
    sys::set_nonblocking(f, true).ctx("set O_NONBLOCK")?;
    let mut buf = [0u8; 64];
    let res = wait_for("EPIPE", timeout, || match sys::read(f, &mut buf) {
        Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => None,
        other => Some(other),
    })
    .and_then(|r| expect_errno(r, libc::EPIPE, "read while the endpoint goes away"));
    sys::set_nonblocking(f, was_nonblocking).ctx("restore O_NONBLOCK")?;
    res
}

/// Runs a blocking `read` on a clone of `f` on another thread, so a case can
/// then make it return; yields the read's errno or length.
pub fn blocked_read(f: &File) -> Res<crate::bounded::Bounded<Result<usize, String>>> {
    let reader = f.try_clone().ctx("dup")?;
    let b = crate::bounded::spawn("blocked-read", move || {
        let mut buf = [0u8; 1024];
        sys::read(&reader, &mut buf).map_err(|e| describe(&e))
    })
    .ctx("spawn reader")?;
    // Give it time to block; if it has not yet, it checks the same state
    // on entry and the expected result is the same.
    thread::sleep(Duration::from_millis(200));
    Ok(b)
}

/// Reads a channel attribute and checks it.
pub fn check_attr(ch: &ChannelId, attr: &str, want: &str) -> Res {
    let got = ch
        .attr(attr)
        .ctx(format_args!("{}/{attr}", ch.dev_name()))?;
    ensure!(
        got == want,
        "{}/{attr} is {got:?}, expected {want:?}",
        ch.dev_name()
    );
    Ok(())
}

/// The local address a bound driver's endpoint got (`src` after probe).
pub fn bound_src(ch: &ChannelId) -> Res<u32> {
    let s = ch.attr("src").ctx(format_args!("{}/src", ch.dev_name()))?;
    let src = topo::parse_addr(&s).ok_or_else(|| format!("{}/src is {s:?}", ch.dev_name()))?;
    // rpmsg_dev_probe() asked for RPMSG_ADDR_ANY: __rpmsg_create_ept()
    // allocates from RPMSG_RESERVED_ADDRESSES up.
    ensure!(
        src != RPMSG_ADDR_ANY && src >= FIRST_DYNAMIC_ADDR,
        "{}/src is {s}, expected a dynamic address",
        ch.dev_name()
    );
    Ok(src)
}

/// Fails unless stats `key` grew by exactly `want` from `before` to `after`.
pub fn check_delta(after: &Stats, before: &Stats, sim: &str, key: &str, want: u64) -> Res {
    let d = after.delta(before, key)?;
    ensure!(d == want, "{sim} {key} grew by {d}, expected {want}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_names_fit_rpmsg_names() {
        let a = unique_name("par15");
        let b = unique_name("par15");
        assert_ne!(a, b);
        assert!(EndpointInfo::new(&a, 0, 0).is_ok());
    }

    #[test]
    fn differences() {
        assert_eq!(difference(b"abc", b"ab"), "3 bytes instead of 2");
        assert_eq!(difference(b"abc", b"abd"), "byte 2 is 0x63, expected 0x64");
        assert_eq!(difference(b"", b""), "identical");
    }

    #[test]
    fn payloads() {
        assert_eq!(payload(3, 10).len(), 10);
        assert_ne!(payload(1, 16), payload(2, 16));
        assert_eq!(payload(1, 16), payload(1, 16));
        let t = text_payload(5, 1000);
        assert!(t.iter().all(|b| b.is_ascii_graphic()));
    }
}
