//! Devices going away under open file descriptors: the virtio driver
//! unbound and bound again through sysfs (virtio_rpmsg_bus.c
//! rpmsg_remove(), rpmsg_probe()), and file descriptors closed while the
//! remote destroys a channel or crashes and while RPMSG_DESTROY_EPT_IOCTL
//! runs (rpmsg_char.c rpmsg_eptdev_release(),
//! rpmsg_chrdev_eptdev_destroy(); rpmsg_ctrl.c rpmsg_ctrldev_remove()).

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use super::channels::{self as ch, check_target, tty_read_exact, tty_write_all};
use super::common::*;
use super::ept;
use super::Ctx;
use crate::bounded::{self, Bounded};
use crate::bus;
use crate::charlayer;
use crate::ensure;
use crate::error::{describe, errno_name, expect_errno, Context, Res};
use crate::sys;
use crate::topo::{self, VIRTIO_DEVICES};
use crate::uapi::{self, RPMSG_ADDR_ANY};

const VIRTIO_DRIVERS: &str = "/sys/bus/virtio/drivers";

fn driver_file(driver: &str, file: &str) -> PathBuf {
    Path::new(VIRTIO_DRIVERS).join(driver).join(file)
}

fn is_bound(vdev: &str) -> bool {
    Path::new(VIRTIO_DEVICES).join(vdev).join("driver").exists()
}

/// Writes a sysfs file on another thread, so a removal or probe that hangs
/// is reported instead of hanging the case.
fn bounded_write(path: PathBuf, value: String) -> Res {
    let what = format!("write {value:?} to {}", path.display());
    let b = bounded::spawn("sysfs-write", move || write_attr(&path, &value))
        .ctx("spawn sysfs writer")?;
    match b.wait(SETTLE) {
        Ok(r) => r,
        Err(h) => Err(format!("{what}: {h}")),
    }
}

/// A virtio device unbound from its driver; bound again on drop if the
/// case did not do it.
struct Unbound {
    vdev: String,
    driver: String,
    bound: bool,
}

impl Unbound {
    fn new(vdev: &str, driver: &str) -> Res<Self> {
        let mut u = Unbound {
            vdev: vdev.into(),
            driver: driver.into(),
            bound: true,
        };
        bounded_write(driver_file(driver, "unbind"), vdev.into())?;
        u.bound = false;
        ensure!(!is_bound(vdev), "{vdev} still has a driver after unbind");
        Ok(u)
    }

    fn bind(&mut self) -> Res {
        self.bound = true;
        bounded_write(driver_file(&self.driver, "bind"), self.vdev.clone())?;
        ensure!(
            bus::driver_name(&self.vdev).as_deref() == Some(self.driver.as_str()),
            "{} not bound to {} after bind",
            self.vdev,
            self.driver
        );
        Ok(())
    }
}

impl Drop for Unbound {
    fn drop(&mut self) {
        if !self.bound && !is_bound(&self.vdev) {
            let _ = bounded_write(driver_file(&self.driver, "bind"), self.vdev.clone());
        }
    }
}

/// What an rpmsg char device gives once its endpoint is gone
/// (rpmsg_eptdev_read_iter(), _write_iter(), _poll()).
fn check_dead_eptdev(what: &str, f: &File) -> Res {
    wait_pollerr(f, REPLY).map_err(|e| format!("{what}: {e}"))?;
    let mut buf = [0u8; 64];
    expect_errno(
        sys::read(f, &mut buf),
        libc::EPIPE,
        format_args!("{what}: read"),
    )?;
    expect_errno(
        sys::write(f, b"x"),
        libc::EPIPE,
        format_args!("{what}: write"),
    )?;
    let ev = sys::poll(f, libc::POLLIN | libc::POLLOUT, Duration::ZERO).ctx("poll")?;
    ensure!(
        ev == libc::POLLERR,
        "{what}: poll returned {ev:#x}, expected POLLERR"
    );
    Ok(())
}

/// What a hung-up tty gives (tty_io.c hung_up_tty_fops): EIO on write,
/// end of file on read, POLLHUP. rpmsg_tty_remove() hangs it up through
/// a work item, hence the wait.
fn check_hung_up_tty(f: &File) -> Res {
    let mut last = String::new();
    wait_for("the tty to be hung up", REPLY, || {
        match sys::write(f, b"x") {
            Err(e) if e.raw_os_error() == Some(libc::EIO) => return Some(()),
            Err(e) => last = describe(&e),
            Ok(n) => last = format!("wrote {n}"),
        }
        None
    })
    .map_err(|e| format!("{e} (last write: {last})"))?;
    let mut buf = [0u8; 64];
    let n = sys::read(f, &mut buf).ctx("read of the hung-up tty")?;
    ensure!(n == 0, "read of the hung-up tty returned {n}, expected 0");
    let ev = sys::poll(f, libc::POLLIN | libc::POLLOUT, Duration::ZERO).ctx("poll")?;
    ensure!(
        ev & libc::POLLHUP != 0,
        "hung-up tty polls {ev:#x}, expected POLLHUP"
    );
    Ok(())
}

fn expect_epipe_reader(what: &str, r: Bounded<Result<usize, String>>) -> Res {
    match r.wait(REPLY) {
        Ok(Err(e)) if e == "EPIPE" => Ok(()),
        Ok(r) => Err(format!(
            "{what}: blocked read returned {r:?}, expected EPIPE"
        )),
        Err(h) => Err(format!("{what}: blocked read not woken: {h}")),
    }
}

/// sim0's virtio device unbound from its driver with an endpoint device,
/// the rpmsg-raw channel's device, the tty and the control device open;
/// the descriptors are closed before the driver is bound again, or after.
fn unbind_rebind(cx: &Ctx, close_before_bind: bool) -> Res {
    let t0 = Target::ready(SIM0)?;
    let t1 = Target::ready(SIM1)?;
    let ino0 = topo::vdev_ino(&t0.vdev).ctx(format_args!("stat {}", t0.vdev))?;
    let ino1 = topo::vdev_ino(&t1.vdev).ctx(format_args!("stat {}", t1.vdev))?;
    let sim1_channels = t1.channels()?;
    let raw1 = open_node(
        &t1.channel("rpmsg-raw")?
            .chrdev()
            .ok_or("sim1 rpmsg-raw has no char device")?,
        false,
    )?;
    echo(&raw1, b"sim1 before the unbind")?;
    let driver = bus::driver_name(&t0.vdev).ok_or(format!("{} has no driver", t0.vdev))?;
    cx.note(format!("{}: driver {driver}", t0.vdev));

    let (ctrl_name, ctrl) = t0.open_ctrl()?;
    let mut ept = Ept::create(
        &ctrl,
        &ctrl_name,
        &unique_name("unbind"),
        RPMSG_ADDR_ANY,
        t0.echo_addr()?,
    )?;
    ept.open(false).ctx("open")?;
    echo(ept.file()?, b"endpoint before the unbind")?;
    let raw_node = t0
        .channel("rpmsg-raw")?
        .chrdev()
        .ok_or("rpmsg-raw has no char device")?;
    let raw = open_node(&raw_node, false)?;
    echo(&raw, b"rpmsg-raw before the unbind")?;
    let tty_node = t0
        .channel("rpmsg-tty")?
        .tty()
        .ok_or("rpmsg-tty has no tty")?;
    let tty = open_node(&tty_node, true)?;
    sys::tty_raw(&tty).ctx("raw mode")?;
    let hello = b"tty before the unbind";
    tty_write_all(&tty, hello)?;
    let got = tty_read_exact(&tty, hello.len())?;
    ensure!(got == hello, "tty echo came back different");
    let nodes = [ctrl_name.clone(), ept.node.clone(), raw_node, tty_node];
    let before0 = quiesce(&t0.sim)?;
    let before1 = t1.sim.stats()?;

    let ept_reader = blocked_read(ept.file()?)?;
    let raw_reader = blocked_read(&raw)?;
    let mut unbound = Unbound::new(&t0.vdev, &driver)?;

    // rpmsg_remove() unregisters every channel and the control device:
    // rpmsg_chrdev_remove() and rpmsg_ctrldev_remove() destroy the endpoint
    // devices and wake their readers, rpmsg_tty_remove() hangs up.
    expect_epipe_reader("endpoint", ept_reader)?;
    expect_epipe_reader("rpmsg-raw", raw_reader)?;
    check_dead_eptdev("endpoint", ept.file()?)?;
    check_dead_eptdev("rpmsg-raw", &raw)?;
    check_hung_up_tty(&tty)?;
    ept.gone();
    wait_for(&format!("{}'s channels to go", t0.vdev), SETTLE, || {
        t0.channels().ok().filter(Vec::is_empty).map(drop)
    })?;
    for node in &nodes {
        wait_gone(&dev_path(node), REPLY)?;
    }
    echo(&raw1, b"sim1 while sim0 is unbound")?;

    let stale = (ept, raw, tty, ctrl);
    let stale = if close_before_bind {
        drop(stale);
        None
    } else {
        Some(stale)
    };
    unbound.bind()?;
    let n0 = Target::ready(SIM0)?;
    ensure!(
        n0.vdev == t0.vdev && topo::vdev_ino(&n0.vdev).ok() == Some(ino0),
        "sim0 is on {} after rebinding, expected the same device {}",
        n0.vdev,
        t0.vdev
    );
    check_target(&n0)?;
    // The remote saw the device set up again and announced its channels
    // again.
    let remote_eps = n0.sim.endpoints()?.len() as u64;
    wait_for("the remote's announcements", REPLY, || {
        let s = n0.sim.stats().ok()?;
        (s.delta(&before0, "ns.tx_create").ok()? == remote_eps).then_some(())
    })?;
    let s0 = n0.sim.stats()?;
    check_delta(&s0, &before0, SIM0, "host_starts", 1)?;
    check_delta(&s0, &before0, SIM0, "crashes", 0)?;

    if let Some((ept, raw, tty, ctrl)) = stale {
        // Descriptors of the old devices stay dead; closing them must not
        // disturb the new ones.
        check_dead_eptdev("stale endpoint", ept.file()?)?;
        check_dead_eptdev("stale rpmsg-raw", &raw)?;
        expect_errno(sys::write(&tty, b"x"), libc::EIO, "write to the stale tty")?;
        let new_raw = open_node(
            &n0.channel("rpmsg-raw")?
                .chrdev()
                .ok_or("rpmsg-raw has no char device")?,
            false,
        )?;
        echo(&new_raw, b"new rpmsg-raw, stale descriptors open")?;
        drop((ept, raw, tty, ctrl));
        echo(&new_raw, b"new rpmsg-raw, stale descriptors closed")?;
    }
    ch::raw_channel_chrdev(cx)?;
    ept::create_ept(cx)?;
    ch::tty_echo(cx)?;

    // sim1 was never disturbed.
    ensure!(
        topo::vdev_ino(&t1.vdev).ok() == Some(ino1),
        "sim1's virtio device was re-created"
    );
    ensure!(t1.channels()? == sim1_channels, "sim1's channels changed");
    let s1 = t1.sim.stats()?;
    check_delta(&s1, &before1, SIM1, "host_starts", 0)?;
    check_delta(&s1, &before1, SIM1, "crashes", 0)?;
    echo(&raw1, b"sim1 after the rebind")
}

pub fn unbind_rebind_close_before_bind(cx: &Ctx) -> Res {
    unbind_rebind(cx, true)
}

pub fn unbind_rebind_close_after_bind(cx: &Ctx) -> Res {
    unbind_rebind(cx, false)
}

/// How long writes may go on before the endpoint is destroyed.
const WRITE_THROUGH: Duration = Duration::from_secs(10);
/// Control-device endpoints per round.
const TEARDOWN_EPTS: usize = 3;
const TEARDOWN_ROUNDS: u32 = 12;

/// How often each outcome of the racing operations was seen.
type Tally = Arc<Mutex<BTreeMap<String, u32>>>;

fn count(tally: &Tally, what: &str, outcome: &str) {
    let mut t = tally.lock().unwrap_or_else(|e| e.into_inner());
    *t.entry(format!("{what} {outcome}")).or_default() += 1;
}

/// Success or one of the errnos a concurrent operation may end with,
/// counted in `tally`.
fn errno_ok<T>(r: std::io::Result<T>, allowed: &[i32], what: &str, tally: &Tally) -> Res {
    match r {
        Ok(_) => {
            count(tally, what, "ok");
            Ok(())
        }
        Err(e) if e.raw_os_error().is_some_and(|n| allowed.contains(&n)) => {
            count(tally, what, &describe(&e));
            Ok(())
        }
        Err(e) => Err(format!(
            "{what}: {}, expected success or one of {}",
            describe(&e),
            allowed
                .iter()
                .map(|&n| errno_name(n).unwrap_or("?"))
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// `O_NONBLOCK` writes during a teardown: five, or if the endpoint is going
/// to be destroyed, until that shows (EPIPE), right through the teardown.
/// Upstream fails no write before with anything but EAGAIN (no buffer left
/// while the remote is down): virtio_rpmsg_bus accepts messages until the
/// endpoint is gone, even on a device it has reset.
fn write_through(f: &File, until_gone: bool, tally: &Tally) -> Res {
    let deadline = Instant::now() + WRITE_THROUGH;
    for k in 0.. {
        let r = sys::write(f, b"teardown");
        let gone = r
            .as_ref()
            .is_err_and(|e| e.raw_os_error() == Some(libc::EPIPE));
        errno_ok(r, &[libc::EPIPE, libc::EAGAIN], "write", tally)?;
        if gone || (!until_gone && k == 4) {
            return Ok(());
        }
        ensure!(
            Instant::now() < deadline,
            "writes still accepted {} s into the teardown",
            WRITE_THROUGH.as_secs()
        );
    }
    Ok(())
}

/// One round: a bound channel and endpoint devices, open; then at once the
/// remote destroys the channel (or crashes), the descriptors are closed,
/// endpoints are destroyed by ioctl, written to, read from and opened.
fn teardown_round(round: u32, crash: bool, sink: u32, tally: &Tally) -> Res {
    let t = Target::ready(SIM0)?;
    let ino = topo::vdev_ino(&t.vdev).ctx(format_args!("stat {}", t.vdev))?;
    // Everything writes to sinks: no reply can arrive for an endpoint that
    // is gone.
    let before = t.sim.stats()?;
    let mut chan = Announced::new(&t, "ctd", "sink", None)?;
    let raw_node = bind_chrdev(&chan.chan)?;
    let raw = open_node(&raw_node, false)?;
    send(&raw, b"channel before the teardown")?;
    let (ctrl_name, ctrl) = t.open_ctrl()?;
    let mut epts = Vec::new();
    for i in 0..TEARDOWN_EPTS {
        let mut e = Ept::create(
            &ctrl,
            &ctrl_name,
            &unique_name(&format!("ctd{i}")),
            RPMSG_ADDR_ANY,
            sink,
        )?;
        e.open(true).ctx(format_args!("open /dev/{}", e.node))?;
        send(e.file()?, b"endpoint before the teardown")?;
        epts.push(e);
    }
    wait_for("the sinks to receive from every endpoint", REPLY, || {
        let d = t.sim.stats().ok()?.delta(&before, "sink.rx_msgs").ok()?;
        (d == TEARDOWN_EPTS as u64 + 1).then_some(())
    })?;

    type Job = Box<dyn FnOnce() -> Res + Send>;
    let mut jobs: Vec<(String, Job)> = Vec::new();
    let sim = t.sim.clone();
    let name = chan.name.clone();
    chan.forget();
    jobs.push((
        "remote".into(),
        Box::new(move || {
            let cmd = if crash {
                "crash".to_owned()
            } else {
                format!("destroy {name}")
            };
            sim.control(&cmd).ctx(format_args!("{}: {cmd}", sim.name))
        }),
    ));
    // A reader on the channel's device while its descriptor is closed: the
    // removal wakes it with EPIPE. Every other round, and in the crash
    // round, the device is also written to through its removal; then it
    // is non-blocking (a blocking write would wait for a buffer), and so
    // is the reader. The channel is among the last ones the crash's
    // teardown removes, after the bus has stopped.
    let hammer = crash || round % 2 == 1;
    sys::set_nonblocking(&raw, hammer).ctx("O_NONBLOCK")?;
    // The kernel's rpmsg_eptdev_poll() checks for the endpoint without its
    // lock and then hands it to rpmsg_poll(): a poll that races with the
    // endpoint's destruction hits WARN_ON(!ept) there. Only other char
    // layers are polled through the teardown.
    let poll_through = charlayer::is_rust();
    let reader = raw.try_clone().ctx("dup")?;
    jobs.push((
        "channel reader".into(),
        Box::new(move || {
            let deadline = Instant::now() + SETTLE;
            let mut buf = [0u8; 64];
            loop {
                match sys::read(&reader, &mut buf) {
                    Err(e) if e.raw_os_error() == Some(libc::EPIPE) => return Ok(()),
                    Err(e) if hammer && e.raw_os_error() == Some(libc::EAGAIN) => {
                        ensure!(Instant::now() < deadline, "no EPIPE from reads");
                        if poll_through {
                            sys::poll(&reader, libc::POLLIN, Duration::from_millis(20))
                                .ctx("poll")?;
                        } else {
                            std::thread::sleep(Duration::from_millis(2));
                        }
                    }
                    r => {
                        return Err(format!(
                            "read returned {:?}, expected EPIPE",
                            r.map_err(|e| describe(&e))
                        ))
                    }
                }
            }
        }),
    ));
    if hammer {
        let writer = raw.try_clone().ctx("dup")?;
        let tl = tally.clone();
        jobs.push((
            "channel write".into(),
            Box::new(move || write_through(&writer, true, &tl)),
        ));
    }
    jobs.push((
        "channel close".into(),
        Box::new(move || {
            drop(raw);
            Ok(())
        }),
    ));
    let mut destroyed = Vec::new();
    for (i, e) in epts.iter_mut().enumerate() {
        let file = e.take_file().ok_or("endpoint not open")?;
        let dup = file.try_clone().ctx("dup")?;
        let wdup = file.try_clone().ctx("dup")?;
        // Every other endpoint is destroyed by ioctl; in the crash round all
        // but the first, which the crash's teardown destroys.
        let by_ioctl = if crash {
            i != 0
        } else {
            (round as usize + i).is_multiple_of(2)
        };
        let destroy = by_ioctl || crash;
        destroyed.push(destroy);
        jobs.push((
            format!("endpoint {i} close"),
            Box::new(move || {
                drop(file);
                Ok(())
            }),
        ));
        let tl = tally.clone();
        jobs.push((
            format!("endpoint {i} {}", if by_ioctl { "destroy" } else { "read" }),
            Box::new(move || {
                let mut buf = [0u8; 64];
                if by_ioctl {
                    // rpmsg_eptdev_ioctl(): rpmsg_chrdev_eptdev_destroy()
                    // returns 0, also when the device is already gone.
                    let r = sys::ioctl_val(&dup, uapi::RPMSG_DESTROY_EPT_IOCTL, 0)
                        .ctx("RPMSG_DESTROY_EPT_IOCTL")?;
                    ensure!(r == 0, "RPMSG_DESTROY_EPT_IOCTL returned {r}");
                    expect_errno(sys::read(&dup, &mut buf), libc::EPIPE, "read after destroy")
                } else if destroy {
                    // The crash may or may not have taken it yet.
                    errno_ok(
                        sys::read(&dup, &mut buf),
                        &[libc::EAGAIN, libc::EPIPE],
                        "read",
                        &tl,
                    )
                } else {
                    // Nothing destroys this one meanwhile.
                    errno_ok(sys::read(&dup, &mut buf), &[libc::EAGAIN], "read", &tl)
                }
            }),
        ));
        let tl = tally.clone();
        jobs.push((
            format!("endpoint {i} write"),
            Box::new(move || write_through(&wdup, destroy, &tl)),
        ));
        let node = e.node.clone();
        let tl = tally.clone();
        jobs.push((
            format!("endpoint {i} open"),
            Box::new(move || {
                // Busy while a descriptor is open; ENETRESET once destroyed
                // (rpmsg_eptdev_open()); ENXIO once the cdev is deleted;
                // ENOENT once the node is gone.
                for _ in 0..5 {
                    errno_ok(
                        sys::open_dev(&dev_path(&node), true),
                        &[libc::EBUSY, libc::ENETRESET, libc::ENXIO, libc::ENOENT],
                        "open",
                        &tl,
                    )?;
                    std::thread::sleep(Duration::from_millis(1));
                }
                Ok(())
            }),
        ));
    }

    let barrier = Arc::new(Barrier::new(jobs.len()));
    let mut running = Vec::new();
    for (name, job) in jobs {
        let b = barrier.clone();
        let r = bounded::spawn(&name, move || {
            b.wait();
            job()
        })
        .ctx("spawn")?;
        running.push((name, r));
    }
    let mut errors = Vec::new();
    for (name, r) in running {
        match r.wait(SETTLE) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => errors.push(format!("{name}: {e}")),
            Err(h) => errors.push(format!("{name}: {h}")),
        }
    }
    ensure!(errors.is_empty(), "{}", errors.join("; "));

    if crash {
        // The recovered remote's devices may reuse the old names.
        for e in &mut epts {
            e.gone();
        }
        wait_for(&format!("{} removed", t.vdev), SETTLE, || {
            (topo::vdev_ino(&t.vdev).ok() != Some(ino)).then_some(())
        })?;
        Target::ready(SIM0)?;
        Ok(())
    } else {
        for (e, &d) in epts.iter_mut().zip(&destroyed) {
            if d {
                e.gone();
                wait_gone(&e.path(), REPLY)?;
            }
        }
        wait_gone(&chan.chan.dir(), SETTLE)?;
        wait_gone(&dev_path(&raw_node), REPLY)
    }
}

pub fn close_during_teardown(cx: &Ctx) -> Res {
    let t = Target::ready(SIM0)?;
    let crashes = t.sim.stats()?.get("crashes")?;
    // Gone with the crash of the last round.
    let sink = Announced::new(&t, "ctdsink", "sink", None)?;
    let tally = Tally::default();
    for round in 0..TEARDOWN_ROUNDS {
        let crash = round == TEARDOWN_ROUNDS - 1;
        teardown_round(round, crash, sink.addr, &tally)
            .map_err(|e| format!("round {round}{}: {e}", if crash { " (crash)" } else { "" }))?;
    }
    let t = Target::ready(SIM0)?;
    cx.note(format!(
        "{TEARDOWN_ROUNDS} rounds, the last one with a crash; sim0 now on {}",
        t.vdev
    ));
    let seen = tally.lock().unwrap_or_else(|e| e.into_inner()).clone();
    cx.note(format!(
        "outcomes: {}",
        seen.iter()
            .map(|(k, n)| format!("{k} x{n}"))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    let now = t.sim.stats()?.get("crashes")?;
    ensure!(
        now == crashes + 1,
        "sim0 crashes went from {crashes} to {now}, expected one crash"
    );
    check_target(&t)?;
    // Nothing of the rounds is left, and everything works.
    let left: Vec<String> = t
        .channels()?
        .into_iter()
        .filter(|c| c.name.contains("-ctd-"))
        .map(|c| c.dev_name())
        .collect();
    ensure!(left.is_empty(), "channels left behind: {left:?}");
    let ctrl = t.ctrl()?;
    let devs = topo::eptdevs_of_ctrl(&ctrl).ctx("list endpoint devices")?;
    ensure!(
        devs.is_empty(),
        "{ctrl} has endpoint devices after recovery: {devs:?}"
    );
    ept::create_ept(cx)?;
    ch::raw_channel_chrdev(cx)?;
    ch::tty_echo(cx)
}
