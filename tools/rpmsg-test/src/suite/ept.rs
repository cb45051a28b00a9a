//! Endpoint devices created through `/dev/rpmsg_ctrlN` (rpmsg_ctrl.c,
//! rpmsg_char.c) on the simulated remote's echo service.

use std::fs;
use std::path::Path;
use std::thread;
use std::time::Duration;

use super::common::*;
use super::Ctx;
use crate::ensure;
use crate::error::{expect_errno, Context, Res};
use crate::sim::Stats;
use crate::sys;
use crate::topo::{self, EptAttrs};
use crate::uapi::{self, RPMSG_ADDR_ANY};

/// Fixed local addresses, far above what dynamic allocation reaches here.
const FIXED_SRC: u32 = 0x3001;

/// A fresh endpoint on sim0 aimed at its echo service, opened.
fn echo_ept(tag: &str, nonblock: bool) -> Res<(Target, Ept)> {
    let t = Target::ready(SIM0)?;
    let (ctrl_name, ctrl) = t.open_ctrl()?;
    let mut ept = Ept::create(
        &ctrl,
        &ctrl_name,
        &unique_name(tag),
        RPMSG_ADDR_ANY,
        t.echo_addr()?,
    )?;
    ept.open(nonblock)
        .ctx(format_args!("open /dev/{}", ept.node))?;
    Ok((t, ept))
}

/// Waits until the echo service has sent `n` replies since `before`, then a
/// little longer so they reach the endpoint's queue: reads then face several
/// queued messages at once.
fn wait_echoed(t: &Target, before: &Stats, n: u64) -> Res {
    wait_for("echo replies", REPLY, || {
        let s = t.sim.stats().ok()?;
        (s.delta(before, "echo.tx_msgs").ok()? >= n).then_some(())
    })?;
    thread::sleep(Duration::from_millis(50));
    Ok(())
}

pub fn create_ept(cx: &Ctx) -> Res {
    let t = Target::ready(SIM0)?;
    let (ctrl_name, ctrl) = t.open_ctrl()?;
    let dst = t.echo_addr()?;
    let name = unique_name("ept");
    let mut ept = Ept::create(&ctrl, &ctrl_name, &name, RPMSG_ADDR_ANY, dst)?;
    cx.note(format!(
        "{} {name} on {ctrl_name} ({}), dst {dst}",
        ept.node, t.vdev
    ));

    // rpmsg_char.c name/src/dst_show(): the channel info as given, "%d".
    let attrs = topo::ept_attrs(&ept.node).ctx(format_args!("attributes of {}", ept.node))?;
    let want = EptAttrs {
        name: name.clone(),
        src: RPMSG_ADDR_ANY,
        dst,
    };
    ensure!(
        attrs == want,
        "{} has {attrs:?}, expected {want:?}",
        ept.node
    );
    let src_text =
        topo::read_attr(Path::new(topo::CLASS_RPMSG).join(&ept.node).join("src")).ctx("src")?;
    ensure!(src_text == "-1", "src reads {src_text:?}, expected \"-1\"");

    // The endpoint device is a child of the control device.
    let parent =
        fs::canonicalize(Path::new(topo::CLASS_RPMSG).join(&ept.node)).ctx("canonicalize")?;
    let ctrl_dir =
        fs::canonicalize(Path::new(topo::CLASS_RPMSG).join(&ctrl_name)).ctx("canonicalize")?;
    ensure!(
        parent.parent() == Some(ctrl_dir.as_path()),
        "{} is at {}, not under {}",
        ept.node,
        parent.display(),
        ctrl_dir.display()
    );

    ept.open(false)
        .ctx(format_args!("open /dev/{}", ept.node))?;
    echo(ept.file()?, b"hello from rpmsg-test")?;
    echo(ept.file()?, &payload(1, 200))?;

    // rpmsg_eptdev_open(): one open at a time.
    expect_errno(
        sys::open_dev(&ept.path(), false),
        libc::EBUSY,
        "second open",
    )?;

    // rpmsg_eptdev_release() destroys the endpoint, not the device.
    ept.close();
    ept.open(false).ctx("reopen")?;
    echo(ept.file()?, b"after reopen")?;
    Ok(())
}

pub fn fixed_src_conflict(_cx: &Ctx) -> Res {
    let t = Target::ready(SIM0)?;
    let (ctrl_name, ctrl) = t.open_ctrl()?;
    let dst = t.echo_addr()?;
    // Dropped in reverse order: `b` (open) first, then `a` can reopen at the
    // freed address to be destroyed.
    let mut a = Ept::create(&ctrl, &ctrl_name, &unique_name("srca"), FIXED_SRC, dst)?;
    let mut b = Ept::create(&ctrl, &ctrl_name, &unique_name("srcb"), FIXED_SRC, dst)?;
    let attrs = topo::ept_attrs(&a.node).ctx("attributes")?;
    ensure!(
        attrs.src == FIXED_SRC,
        "src attribute {}, expected {FIXED_SRC}",
        attrs.src
    );

    a.open(false).ctx("open first endpoint")?;
    echo(a.file()?, b"fixed source address")?;
    // __rpmsg_create_ept(): idr_alloc() of a taken address fails and
    // rpmsg_eptdev_open() returns -EINVAL.
    expect_errno(
        b.open(false),
        libc::EINVAL,
        "open of a second endpoint at the same src",
    )?;

    a.close();
    b.open(false).ctx("open after the address was freed")?;
    echo(b.file()?, b"second owner of the address")?;
    Ok(())
}

pub fn dst_any_write(_cx: &Ctx) -> Res {
    let t = Target::ready(SIM0)?;
    let (ctrl_name, ctrl) = t.open_ctrl()?;
    let mut ept = Ept::create(
        &ctrl,
        &ctrl_name,
        &unique_name("any"),
        RPMSG_ADDR_ANY,
        RPMSG_ADDR_ANY,
    )?;
    ept.open(false).ctx("open")?;
    let before = quiesce(&t.sim)?;
    // rpmsg_send_offchannel_raw(): "bcasting isn't allowed".
    expect_errno(
        sys::write(ept.file()?, b"x"),
        libc::EINVAL,
        "write with dst RPMSG_ADDR_ANY",
    )?;
    let after = quiesce(&t.sim)?;
    check_delta(&after, &before, SIM0, "rx_msgs", 0)
}

pub fn message_boundaries(_cx: &Ctx) -> Res {
    let (t, ept) = echo_ept("bound", false)?;
    let f = ept.file()?;
    let sizes = [1, 17, 100, 495, MTU, 3];
    let before = quiesce(&t.sim)?;
    for (i, &n) in sizes.iter().enumerate() {
        send(f, &payload(i as u32, n))?;
    }
    wait_echoed(&t, &before, sizes.len() as u64)?;
    // rpmsg_eptdev_read_iter(): one skb, i.e. one message, per read.
    for (i, &n) in sizes.iter().enumerate() {
        let got = recv(f, REPLY)?;
        ensure!(
            got == payload(i as u32, n),
            "read {i} returned {} bytes, expected message {i} ({n} bytes)",
            got.len()
        );
    }
    expect_silence(f, Duration::from_millis(100))
}

pub fn read_truncation(_cx: &Ctx) -> Res {
    let (t, ept) = echo_ept("trunc", true)?;
    let f = ept.file()?;
    let (m1, m2) = (payload(1, 32), payload(2, 16));
    let before = quiesce(&t.sim)?;
    send(f, &m1)?;
    send(f, &m2)?;
    wait_echoed(&t, &before, 2)?;

    // rpmsg_eptdev_read_iter() copies min(count, len) and frees the skb:
    // the rest of the message is gone.
    let mut small = [0u8; 8];
    let n = sys::read(f, &mut small).ctx("short read")?;
    ensure!(
        n == 8 && small[..] == m1[..8],
        "short read returned {n} bytes {small:?}"
    );
    let got = recv(f, REPLY)?;
    ensure!(
        got == m2,
        "read after a short read returned {} bytes, expected the second message (16 bytes)",
        got.len()
    );
    let mut buf = [0u8; 64];
    expect_errno(
        sys::read(f, &mut buf),
        libc::EAGAIN,
        "read with the queue empty",
    )?;

    // Even a zero-length read consumes a message.
    send(f, b"swallowed")?;
    let ev = sys::poll(f, libc::POLLIN, REPLY).ctx("poll")?;
    ensure!(ev == libc::POLLIN, "poll returned {ev:#x}, expected POLLIN");
    let n = sys::read(f, &mut []).ctx("zero-length read")?;
    ensure!(n == 0, "zero-length read returned {n}");
    expect_errno(
        sys::read(f, &mut buf),
        libc::EAGAIN,
        "read after a zero-length read",
    )
}

pub fn zero_length_message(_cx: &Ctx) -> Res {
    let (t, ept) = echo_ept("zero", true)?;
    let f = ept.file()?;
    let before = quiesce(&t.sim)?;
    // rpmsg_eptdev_write_iter() sends whatever length it is given, 0 too.
    let n = sys::write(f, &[]).ctx("zero-length write")?;
    ensure!(n == 0, "zero-length write returned {n}");
    let ev = sys::poll(f, libc::POLLIN, REPLY).ctx("poll")?;
    ensure!(
        ev == libc::POLLIN,
        "no echo of a zero-length message (poll {ev:#x})"
    );
    let mut buf = [0u8; 64];
    let n = sys::read(f, &mut buf).ctx("read")?;
    ensure!(
        n == 0,
        "read returned {n} bytes, expected the empty message"
    );
    expect_errno(
        sys::read(f, &mut buf),
        libc::EAGAIN,
        "read after the empty message",
    )?;
    let after = quiesce(&t.sim)?;
    check_delta(&after, &before, SIM0, "rx_msgs", 1)?;
    check_delta(&after, &before, SIM0, "rx_bytes", 0)?;
    check_delta(&after, &before, SIM0, "echo.tx_msgs", 1)
}

pub fn mtu(_cx: &Ctx) -> Res {
    let (t, ept) = echo_ept("mtu", false)?;
    let f = ept.file()?;
    let before = quiesce(&t.sim)?;
    echo(f, &payload(7, MTU))?;
    // rpmsg_send_offchannel_raw(): -EMSGSIZE before a buffer is taken.
    expect_errno(
        sys::write(f, &payload(8, MTU + 1)),
        libc::EMSGSIZE,
        "write of MTU + 1 bytes",
    )?;
    expect_errno(
        sys::write(f, &payload(9, 4096)),
        libc::EMSGSIZE,
        "write of 4096 bytes",
    )?;
    // A wrongly sent message would be ahead of this one on the vring.
    echo(f, b"probe")?;
    expect_silence(f, Duration::from_millis(100))?;
    let after = quiesce(&t.sim)?;
    check_delta(&after, &before, SIM0, "rx_msgs", 2)?;
    check_delta(&after, &before, SIM0, "rx_bytes", (MTU + 5) as u64)
}

pub fn nonblock_poll(_cx: &Ctx) -> Res {
    let (_t, ept) = echo_ept("poll", true)?;
    let f = ept.file()?;
    let mut buf = [0u8; 64];
    expect_errno(
        sys::read(f, &mut buf),
        libc::EAGAIN,
        "O_NONBLOCK read of an empty endpoint",
    )?;

    // rpmsg_eptdev_poll(): POLLIN only with a message queued; POLLOUT from
    // virtio_rpmsg_poll() while a tx buffer is free; POLLPRI only after a
    // flow-control event.
    let all = libc::POLLIN | libc::POLLOUT | libc::POLLPRI;
    let ev = sys::poll(f, all, Duration::ZERO).ctx("poll")?;
    ensure!(
        ev == libc::POLLOUT,
        "idle endpoint polls {ev:#x}, expected POLLOUT"
    );

    send(f, b"nonblocking send")?;
    let ev = sys::poll(f, libc::POLLIN, REPLY).ctx("poll")?;
    ensure!(ev == libc::POLLIN, "no reply (poll {ev:#x})");
    let ev = sys::poll(f, all, Duration::ZERO).ctx("poll")?;
    ensure!(
        ev == libc::POLLIN | libc::POLLOUT,
        "endpoint with a message polls {ev:#x}, expected POLLIN|POLLOUT"
    );
    let n = sys::read(f, &mut buf).ctx("read")?;
    ensure!(
        &buf[..n] == b"nonblocking send",
        "read returned {:?}",
        &buf[..n]
    );
    let ev = sys::poll(f, all, Duration::ZERO).ctx("poll")?;
    ensure!(
        ev == libc::POLLOUT,
        "drained endpoint polls {ev:#x}, expected POLLOUT"
    );
    expect_errno(sys::read(f, &mut buf), libc::EAGAIN, "read after draining")?;

    // A blocking reader is woken by the arriving message.
    sys::set_nonblocking(f, false).ctx("clear O_NONBLOCK")?;
    let reader = blocked_read(f)?;
    send(f, b"wake up")?;
    match reader.wait(REPLY) {
        Ok(Ok(7)) => Ok(()),
        Ok(r) => Err(format!(
            "blocked read returned {r:?}, expected the 7-byte reply"
        )),
        Err(h) => Err(format!("blocked read not woken by a message: {h}")),
    }
}

pub fn flow_control(_cx: &Ctx) -> Res {
    let (_t, ept) = echo_ept("flow", false)?;
    let f = ept.file()?;
    let mut v: libc::c_int = 0x5a5a;
    let r = sys::ioctl_ptr(f, uapi::RPMSG_GET_OUTGOING_FLOWCONTROL, &mut v)
        .ctx("RPMSG_GET_OUTGOING_FLOWCONTROL")?;
    // Nothing ever called the endpoint's flow_cb: virtio_rpmsg_bus has no
    // flow control, so the remote is reported unrestricted.
    ensure!(
        r == 0 && v == 0,
        "RPMSG_GET_OUTGOING_FLOWCONTROL returned {r}, value {v:#x}; expected 0, 0"
    );

    // rpmsg_set_flow_control(): virtio's endpoint ops have no
    // set_flow_control, so -EOPNOTSUPP; values above 1 are refused first by
    // rpmsg_eptdev_ioctl().
    let set = uapi::RPMSG_SET_INCOMING_FLOWCONTROL;
    expect_errno(
        sys::ioctl_val(f, set, 1),
        libc::EOPNOTSUPP,
        "RPMSG_SET_INCOMING_FLOWCONTROL 1",
    )?;
    expect_errno(
        sys::ioctl_val(f, set, 0),
        libc::EOPNOTSUPP,
        "RPMSG_SET_INCOMING_FLOWCONTROL 0",
    )?;
    expect_errno(
        sys::ioctl_val(f, set, 2),
        libc::EINVAL,
        "RPMSG_SET_INCOMING_FLOWCONTROL 2",
    )?;
    let ev = sys::poll(f, libc::POLLPRI, Duration::ZERO).ctx("poll")?;
    ensure!(ev == 0, "POLLPRI set ({ev:#x}) with no flow-control event");
    expect_errno(
        sys::ioctl_val(f, uapi::RPMSG_UNKNOWN_IOCTL, 0),
        libc::EINVAL,
        "unknown ioctl",
    )?;
    echo(f, b"still working")
}

pub fn destroy(_cx: &Ctx) -> Res {
    let (_t, mut ept) = echo_ept("destroy", false)?;
    let reader = blocked_read(ept.file()?)?;
    let r = ept.destroy()?;
    ensure!(r == 0, "RPMSG_DESTROY_EPT_IOCTL returned {r}");
    // rpmsg_chrdev_eptdev_destroy() wakes readers, who find no endpoint.
    match reader.wait(REPLY) {
        Ok(Err(e)) if e == "EPIPE" => {}
        Ok(r) => return Err(format!("blocked read returned {r:?}, expected EPIPE")),
        Err(h) => return Err(format!("blocked read not woken by destroy: {h}")),
    }
    // cdev_device_del() removes the node and the class device.
    wait_gone(&ept.path(), REPLY)?;
    wait_gone(&Path::new(topo::CLASS_RPMSG).join(&ept.node), REPLY)?;

    let f = ept.file()?;
    let mut buf = [0u8; 64];
    expect_errno(sys::read(f, &mut buf), libc::EPIPE, "read after destroy")?;
    expect_errno(sys::write(f, b"x"), libc::EPIPE, "write after destroy")?;
    let ev = sys::poll(f, libc::POLLIN | libc::POLLOUT, Duration::ZERO).ctx("poll")?;
    ensure!(
        ev == libc::POLLERR,
        "poll after destroy returned {ev:#x}, expected POLLERR"
    );
    // A second destroy finds the device already detached and succeeds.
    let r = sys::ioctl_val(f, uapi::RPMSG_DESTROY_EPT_IOCTL, 0)
        .ctx("second RPMSG_DESTROY_EPT_IOCTL")?;
    ensure!(r == 0, "second RPMSG_DESTROY_EPT_IOCTL returned {r}");
    Ok(())
}

/// Create/destroy cycles a script might run before opening a fixed node.
const REUSE_CYCLES: usize = 40;

/// rpmsg_eptdev_release_device() gives the device's number back to the
/// IDA once the device is destroyed and closed, and rpmsg_chrdev_eptdev_add()
/// takes the lowest free one: a script that creates and destroys endpoint
/// devices in a loop gets the same `/dev/rpmsgN` every time.
pub fn number_reused(_cx: &Ctx) -> Res {
    let t = Target::ready(SIM0)?;
    let (ctrl_name, ctrl) = t.open_ctrl()?;
    let dst = t.echo_addr()?;
    let mut first: Option<String> = None;
    for cycle in 0..REUSE_CYCLES {
        let name = unique_name("reuse");
        let mut ept = Ept::create(&ctrl, &ctrl_name, &name, RPMSG_ADDR_ANY, dst)
            .map_err(|e| format!("cycle {cycle}: {e}"))?;
        match &first {
            None => first = Some(ept.node.clone()),
            Some(node) => ensure!(
                &ept.node == node,
                "cycle {cycle}: the new endpoint device is {}, expected {node} again \
                 (the lowest free number)",
                ept.node
            ),
        }
        ept.open(true)
            .ctx(format_args!("cycle {cycle}: open /dev/{}", ept.node))?;
        echo(ept.file()?, name.as_bytes()).map_err(|e| format!("cycle {cycle}: {e}"))?;
        let r = ept.destroy()?;
        ensure!(
            r == 0,
            "cycle {cycle}: RPMSG_DESTROY_EPT_IOCTL returned {r}"
        );
        ept.close();
        wait_gone(&ept.path(), REPLY).map_err(|e| format!("cycle {cycle}: {e}"))?;
    }
    Ok(())
}
