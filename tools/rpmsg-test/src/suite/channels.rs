//! Channels: what the remote announces (rpmsg_ns.c), what the host creates
//! (RPMSG_CREATE_DEV_IOCTL), and the drivers bound to them (rpmsg_char.c,
//! rpmsg_tty.c, rpmsg_client_sample.c).

use std::path::Path;
use std::time::{Duration, Instant};

use super::common::*;
use super::Ctx;
use crate::ensure;
use crate::error::{expect_errno, Context, Res};
use crate::kmsg;
use crate::sim::RemoteEndpoint;
use crate::sys;
use crate::topo::{self, ChannelId, EptAttrs};
use crate::uapi::{self, EndpointInfo, RPMSG_ADDR_ANY};

/// Everything the host should show for a freshly attached remote.
pub fn check_target(t: &Target) -> Res {
    let state = t
        .remote
        .state()
        .ctx(format_args!("{}/state", t.remote.rproc))?;
    ensure!(
        state == "attached",
        "{} state is {state:?}, expected \"attached\"",
        t.remote.rproc
    );
    let stats = t.sim.stats()?;
    ensure!(
        stats.state()? == "running",
        "{} state is {:?}",
        t.sim.name,
        stats.state()?
    );

    // Every bus registers a control device per vdev. The kernel's C bus also
    // registers a name-service device for the separate rpmsg_ns driver; a bus
    // that serves the name service itself (the Rust one) has none, and
    // userspace does not depend on it. If it is there, it must be bound.
    let ctrl_ch = topo::ctrl_channel(&t.vdev);
    ensure!(
        ctrl_ch.driver().as_deref() == Some("rpmsg_ctrl"),
        "{} not bound to rpmsg_ctrl",
        ctrl_ch.dev_name()
    );
    let ns = ChannelId::new(&t.vdev, "rpmsg_ns", 53, 53);
    ensure!(
        !ns.dir().exists() || ns.driver().as_deref() == Some("rpmsg_ns"),
        "{} not bound to rpmsg_ns",
        ns.dev_name()
    );
    let ctrl = t.ctrl()?;
    ensure!(
        topo::node_matches(&ctrl, &ctrl_ch.dir().join("rpmsg").join(&ctrl)),
        "/dev/{ctrl} is not the device sysfs describes"
    );

    let remote_eps = t.sim.endpoints()?;
    for (name, addr, driver) in DEFAULT_CHANNELS {
        let ch = t.channel(name)?;
        // rpmsg_ns_cb() creates the channel with src RPMSG_ADDR_ANY; the
        // device name is fixed before the driver's probe picks an address.
        ensure!(
            ch.src == RPMSG_ADDR_ANY && ch.dst == addr,
            "{} has addresses {}/{}, expected -1/{addr}",
            ch.dev_name(),
            ch.src as i32,
            ch.dst
        );
        check_attr(&ch, "name", name)?;
        check_attr(&ch, "dst", &format!("{addr:#x}"))?;
        check_attr(&ch, "announce", "false")?;
        bound_src(&ch)?;
        ensure!(
            ch.driver().as_deref() == Some(driver),
            "{} not bound to {driver}",
            ch.dev_name()
        );
        let want = RemoteEndpoint {
            addr,
            service: "echo".into(),
            name: name.into(),
        };
        ensure!(
            remote_eps.contains(&want),
            "{} endpoints lack {want:?}",
            t.sim.name
        );
    }

    // rpmsg_chrdev_probe(): the channel's own char device, with the
    // channel's addresses (src as the probe allocated it).
    let raw = t.channel("rpmsg-raw")?;
    let node = raw.chrdev().ok_or("rpmsg-raw has no char device")?;
    let attrs = topo::ept_attrs(&node).ctx(format_args!("attributes of {node}"))?;
    let want = EptAttrs {
        name: "rpmsg-raw".into(),
        src: bound_src(&raw)?,
        dst: raw.dst,
    };
    ensure!(attrs == want, "{node} has {attrs:?}, expected {want:?}");
    ensure!(
        topo::node_matches(&node, &raw.dir().join("rpmsg").join(&node)),
        "/dev/{node} is not the device sysfs describes"
    );

    let tty_ch = t.channel("rpmsg-tty")?;
    let tty = tty_ch.tty().ok_or("rpmsg-tty has no tty")?;
    ensure!(
        topo::node_matches(&tty, &tty_ch.dir().join("tty").join(&tty)),
        "/dev/{tty} is not the device sysfs describes"
    );
    Ok(())
}

pub fn discovery(cx: &Ctx) -> Res {
    let mut vdevs = Vec::new();
    for sim in SIMS {
        let t = Target::ready(sim)?;
        check_target(&t)?;
        cx.note(format!(
            "{sim}: {} {} {}",
            t.remote.rproc,
            t.vdev,
            t.ctrl()?
        ));
        vdevs.push(t.vdev);
    }
    ensure!(vdevs[0] != vdevs[1], "both remotes on {}", vdevs[0]);
    Ok(())
}

/// rpmsg_client_sample exchanges 100 messages with the remote's echo
/// endpoint and says goodbye, in log records newer than `after`.
pub fn check_client_sample(t: &Target, after: u64) -> Res {
    let ch = t.channel("rpmsg-client-sample")?;
    let dev = ch.dev_name();
    let bye = format!("{dev}: goodbye!");
    kmsg::wait_for(after, Duration::from_secs(45), |text| text.ends_with(&bye))?
        .ok_or_else(|| format!("no \"{bye}\" in the kernel log"))?;
    // rpmsg_sample_cb() logs each message with the remote's address.
    let last = format!("{dev}: incoming msg 100 (src: {:#x})", ch.dst);
    ensure!(
        !kmsg::collect(after, |text| text.ends_with(&last))?.is_empty(),
        "no \"{last}\" in the kernel log"
    );
    let extra = format!("{dev}: incoming msg 101 ");
    let failed = format!("{dev}: rpmsg_send failed");
    let bad = kmsg::collect(after, |text| {
        text.contains(&extra) || text.contains(&failed)
    })?;
    ensure!(bad.is_empty(), "unexpected: {:?}", bad[0].text);
    Ok(())
}

pub fn client_sample(_cx: &Ctx) -> Res {
    for sim in SIMS {
        check_client_sample(&Target::ready(sim)?, 0)?;
    }
    Ok(())
}

pub fn announce_destroy(cx: &Ctx) -> Res {
    let t = Target::ready(SIM0)?;
    let before = t.sim.stats()?;

    let mut a = Announced::new(&t, "dyn", "echo", None)?;
    let ch = a.chan.clone();
    cx.note(format!("announced {}", ch.dev_name()));
    check_attr(&ch, "name", &a.name)?;
    check_attr(&ch, "dst", &format!("{:#x}", a.addr))?;
    // No driver matches, so no endpoint was allocated for it.
    check_attr(&ch, "src", "0xffffffff")?;
    check_attr(&ch, "announce", "false")?;
    ensure!(
        ch.driver().is_none(),
        "{} bound to {:?}",
        ch.dev_name(),
        ch.driver()
    );

    a.destroy()?;
    // rpmsg_ns_cb() on a destroy announcement releases the channel.
    wait_gone(&ch.dir(), SETTLE)?;
    ensure!(
        t.sim.endpoint(&a.name)?.is_none(),
        "{} still in endpoints",
        a.name
    );
    let after = t.sim.stats()?;
    check_delta(&after, &before, SIM0, "ns.tx_create", 1)?;
    check_delta(&after, &before, SIM0, "ns.tx_destroy", 1)?;

    // A chosen remote address shows up in the device name.
    let mut b = Announced::new(&t, "dynaddr", "echo", Some(1536))?;
    let ch = ChannelId::new(&t.vdev, &b.name, RPMSG_ADDR_ANY, 1536);
    ensure!(ch.exists(), "no {}", ch.dev_name());
    b.destroy()?;
    wait_gone(&ch.dir(), SETTLE)
}

pub fn raw_channel_chrdev(_cx: &Ctx) -> Res {
    let t = Target::ready(SIM0)?;
    let raw = t.channel("rpmsg-raw")?;
    let node = raw.chrdev().ok_or("rpmsg-raw has no char device")?;
    let f = open_node(&node, false)?;
    echo(&f, b"through the rpmsg-raw channel")?;
    echo(&f, &payload(3, MTU))?;
    // rpmsg_eptdev_ioctl(): a channel's default endpoint cannot be destroyed.
    expect_errno(
        sys::ioctl_val(&f, uapi::RPMSG_DESTROY_EPT_IOCTL, 0),
        libc::EINVAL,
        "RPMSG_DESTROY_EPT_IOCTL on the default endpoint",
    )?;
    expect_errno(
        sys::open_dev(&dev_path(&node), false),
        libc::EBUSY,
        "second open",
    )?;
    drop(f);
    // Closing leaves the default endpoint to the channel: it works again.
    let f = open_node(&node, false)?;
    echo(&f, b"after reopen")
}

pub fn bind_driver_override(cx: &Ctx) -> Res {
    let t = Target::ready(SIM0)?;
    let mut a = Announced::new(&t, "bind", "echo", None)?;
    let ch = a.chan.clone();
    ensure!(
        ch.driver().is_none(),
        "{} bound before override",
        ch.dev_name()
    );

    let node = bind_chrdev(&ch)?;
    cx.note(format!("{} -> {node}", ch.dev_name()));
    ensure!(
        ch.driver().as_deref() == Some("rpmsg_chrdev"),
        "{} bound to {:?}",
        ch.dev_name(),
        ch.driver()
    );
    check_attr(&ch, "driver_override", "rpmsg_chrdev")?;
    let want = EptAttrs {
        name: a.name.clone(),
        src: bound_src(&ch)?,
        dst: a.addr,
    };
    let attrs = topo::ept_attrs(&node).ctx(format_args!("attributes of {node}"))?;
    ensure!(attrs == want, "{node} has {attrs:?}, expected {want:?}");

    let f = open_node(&node, false)?;
    echo(&f, b"bound by driver_override")?;
    expect_errno(
        sys::ioctl_val(&f, uapi::RPMSG_DESTROY_EPT_IOCTL, 0),
        libc::EINVAL,
        "RPMSG_DESTROY_EPT_IOCTL on the default endpoint",
    )?;
    drop(f);

    // rpmsg_chrdev_remove() takes the char device away with the binding.
    write_attr(
        &Path::new(topo::BUS_DRIVERS).join("rpmsg_chrdev/unbind"),
        &ch.dev_name(),
    )?;
    wait_gone(&dev_path(&node), REPLY)?;
    ensure!(
        ch.driver().is_none(),
        "{} still bound after unbind",
        ch.dev_name()
    );
    a.destroy()?;
    wait_gone(&ch.dir(), SETTLE)
}

pub fn remote_destroy_open_ept(_cx: &Ctx) -> Res {
    let t = Target::ready(SIM0)?;
    let mut a = Announced::new(&t, "gone", "echo", None)?;
    let ch = a.chan.clone();
    let node = bind_chrdev(&ch)?;
    let f = open_node(&node, false)?;
    echo(&f, b"before the remote leaves")?;
    let before = t.sim.stats()?;

    let reader = blocked_read(&f)?;
    a.destroy()?;
    // rpmsg_ns_cb() releases the channel; rpmsg_chrdev_remove() detaches the
    // endpoint device and wakes readers, who find no endpoint.
    match reader.wait(SETTLE) {
        Ok(Err(e)) if e == "EPIPE" => {}
        Ok(r) => return Err(format!("blocked read returned {r:?}, expected EPIPE")),
        Err(h) => {
            return Err(format!(
                "blocked read not woken by the channel's removal: {h}"
            ))
        }
    }
    wait_gone(&ch.dir(), SETTLE)?;
    wait_gone(&dev_path(&node), REPLY)?;

    let mut buf = [0u8; 64];
    expect_errno(sys::read(&f, &mut buf), libc::EPIPE, "read after removal")?;
    expect_errno(sys::write(&f, b"x"), libc::EPIPE, "write after removal")?;
    let ev = sys::poll(&f, libc::POLLIN | libc::POLLOUT, Duration::ZERO).ctx("poll")?;
    ensure!(
        ev == libc::POLLERR,
        "poll after removal returned {ev:#x}, expected POLLERR"
    );
    let after = t.sim.stats()?;
    check_delta(&after, &before, SIM0, "ns.tx_destroy", 1)
}

/// Fixed local addresses for host-created channels.
const DEV_SRC: u32 = 0x3200;

fn host_channel_listed(t: &Target, addr: u32, name: &str) -> Res<bool> {
    Ok(t.sim
        .host_channels()?
        .iter()
        .any(|(a, n)| *a == addr && n == name))
}

pub fn create_release_dev(cx: &Ctx) -> Res {
    let t = Target::ready(SIM0)?;
    let (_ctrl_name, ctrl) = t.open_ctrl()?;
    let dst = t.echo_addr()?;
    let before = quiesce(&t.sim)?;

    // "rpmsg_chrdev" is in rpmsg_char's id table, so the new channel is
    // probed, gets its char device and, since src is not RPMSG_ADDR_ANY,
    // is announced to the remote (virtio_rpmsg_announce_create()).
    let mut dev = LocalChannel::create(&ctrl, "rpmsg_chrdev", DEV_SRC, dst)?;
    let ch = ChannelId::new(&t.vdev, "rpmsg_chrdev", DEV_SRC, dst);
    cx.note(format!("created {}", ch.dev_name()));
    ensure!(
        ch.exists(),
        "no {} after RPMSG_CREATE_DEV_IOCTL",
        ch.dev_name()
    );
    check_attr(&ch, "announce", "true")?;
    check_attr(&ch, "src", &format!("{DEV_SRC:#x}"))?;
    check_attr(&ch, "dst", &format!("{dst:#x}"))?;
    ensure!(
        ch.driver().as_deref() == Some("rpmsg_chrdev"),
        "{} bound to {:?}",
        ch.dev_name(),
        ch.driver()
    );
    let node = wait_for("its char device", REPLY, || ch.chrdev())?;
    let attrs = topo::ept_attrs(&node).ctx(format_args!("attributes of {node}"))?;
    let want = EptAttrs {
        name: "rpmsg_chrdev".into(),
        src: DEV_SRC,
        dst,
    };
    ensure!(attrs == want, "{node} has {attrs:?}, expected {want:?}");
    wait_for("the remote to list the announced channel", REPLY, || {
        host_channel_listed(&t, DEV_SRC, "rpmsg_chrdev")
            .ok()
            .filter(|&l| l)
    })?;
    check_delta(&t.sim.stats()?, &before, SIM0, "ns.rx_create", 1)?;

    let f = open_node(&node, false)?;
    echo(&f, b"host-created channel")?;
    drop(f);

    // __rpmsg_create_channel() refuses a duplicate: rpmsg_ctrldev_ioctl()
    // turns that into -ENXIO.
    let mut info = EndpointInfo::new("rpmsg_chrdev", DEV_SRC, dst)?;
    expect_errno(
        sys::ioctl_ptr(&ctrl, uapi::RPMSG_CREATE_DEV_IOCTL, &mut info),
        libc::ENXIO,
        "duplicate RPMSG_CREATE_DEV_IOCTL",
    )?;

    let r = dev.release().ctx("RPMSG_RELEASE_DEV_IOCTL")?;
    ensure!(r == 0, "RPMSG_RELEASE_DEV_IOCTL returned {r}");
    wait_gone(&ch.dir(), REPLY)?;
    wait_gone(&dev_path(&node), REPLY)?;
    // rpmsg_dev_remove() announces the destruction.
    wait_for("the remote to drop the channel", REPLY, || {
        host_channel_listed(&t, DEV_SRC, "rpmsg_chrdev")
            .ok()
            .filter(|&l| !l)
    })?;
    check_delta(&t.sim.stats()?, &before, SIM0, "ns.rx_destroy", 1)?;
    // rpmsg_unregister_device() finds nothing to release.
    expect_errno(
        sys::ioctl_ptr(&ctrl, uapi::RPMSG_RELEASE_DEV_IOCTL, &mut info),
        libc::EINVAL,
        "RPMSG_RELEASE_DEV_IOCTL of a released channel",
    )?;

    // A channel no driver matches is never probed, hence never announced.
    let name = unique_name("nodrv");
    let mut quiet = LocalChannel::create(&ctrl, &name, DEV_SRC + 1, dst)?;
    let ch = ChannelId::new(&t.vdev, &name, DEV_SRC + 1, dst);
    ensure!(
        ch.exists(),
        "no {} after RPMSG_CREATE_DEV_IOCTL",
        ch.dev_name()
    );
    ensure!(
        ch.driver().is_none(),
        "{} bound to {:?}",
        ch.dev_name(),
        ch.driver()
    );
    check_attr(&ch, "announce", "true")?;
    let after = quiesce(&t.sim)?;
    check_delta(&after, &before, SIM0, "ns.rx_create", 1)?;
    let r = quiet.release().ctx("RPMSG_RELEASE_DEV_IOCTL")?;
    ensure!(r == 0, "RPMSG_RELEASE_DEV_IOCTL returned {r}");
    wait_gone(&ch.dir(), REPLY)?;
    check_delta(&t.sim.stats()?, &before, SIM0, "ns.rx_destroy", 1)
}

/// Writes all of `data` to a non-blocking tty.
pub(super) fn tty_write_all(f: &std::fs::File, data: &[u8]) -> Res {
    let deadline = Instant::now() + REPLY;
    let mut off = 0;
    while off < data.len() {
        ensure!(
            Instant::now() < deadline,
            "tty took only {off} of {} bytes",
            data.len()
        );
        match sys::write(f, &data[off..]) {
            Ok(n) => off += n,
            Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => {
                sys::poll(f, libc::POLLOUT, Duration::from_millis(100)).ctx("poll tty")?;
            }
            Err(e) => return Err(format!("tty write: {}", crate::error::describe(&e))),
        }
    }
    Ok(())
}

/// Reads exactly `len` bytes from a non-blocking tty.
pub(super) fn tty_read_exact(f: &std::fs::File, len: usize) -> Res<Vec<u8>> {
    let deadline = Instant::now() + REPLY;
    let mut got = Vec::with_capacity(len);
    let mut buf = [0u8; 1024];
    while got.len() < len {
        let left = deadline.saturating_duration_since(Instant::now());
        ensure!(!left.is_zero(), "tty returned {} of {len} bytes", got.len());
        if sys::poll(f, libc::POLLIN, left).ctx("poll tty")? == 0 {
            continue;
        }
        match sys::read(f, &mut buf[..(len - got.len()).min(1024)]) {
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => {}
            Err(e) => return Err(format!("tty read: {}", crate::error::describe(&e))),
        }
    }
    Ok(got)
}

pub fn tty_echo(cx: &Ctx) -> Res {
    let t = Target::ready(SIM0)?;
    let ch = t.channel("rpmsg-tty")?;
    let tty = ch.tty().ok_or("rpmsg-tty has no tty")?;
    cx.note(format!("{} -> /dev/{tty}", ch.dev_name()));
    let f = open_node(&tty, true)?;
    sys::tty_raw(&f).ctx("raw mode")?;
    // 1000 bytes exceed the MTU: rpmsg_tty_write() sends at most one MTU
    // per message and the tty layer feeds it the rest.
    for (tag, len) in [(1, 64), (2, 1000)] {
        let data = text_payload(tag, len);
        tty_write_all(&f, &data)?;
        let got = tty_read_exact(&f, len)?;
        ensure!(got == data, "tty echo of {len} bytes came back different");
    }
    expect_silence(&f, Duration::from_millis(100))
}
