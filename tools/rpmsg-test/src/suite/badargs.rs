//! Bad arguments from userspace: NULL and inaccessible pointers, unknown
//! requests, names without NUL (rpmsg_ctrl.c rpmsg_ctrldev_ioctl(),
//! rpmsg_char.c rpmsg_eptdev_ioctl(), _read_iter(), _write_iter()).

use std::time::Duration;

use super::common::*;
use super::Ctx;
use crate::ensure;
use crate::error::{expect_errno, Context, Res};
use crate::sys::{self, NoAccess};
use crate::topo;
use crate::uapi::{self, EndpointInfo, RPMSG_ADDR_ANY, RPMSG_NAME_SIZE};

/// A local address nothing uses, for a channel that does not exist.
const GHOST_SRC: u32 = 0x3600;

pub fn ctrl_bad_ioctl_args(cx: &Ctx) -> Res {
    let t = Target::ready(SIM0)?;
    let (ctrl_name, ctrl) = t.open_ctrl()?;
    let dst = t.echo_addr()?;
    let bad = NoAccess::new(4096).ctx("mmap PROT_NONE")?;
    let devs = topo::eptdevs_of_ctrl(&ctrl_name).ctx("list endpoint devices")?;

    // rpmsg_ctrldev_ioctl() copies a struct rpmsg_endpoint_info in before
    // it looks at the request: every request fails with EFAULT on a bad
    // address, also one it does not know.
    let requests = [
        ("RPMSG_CREATE_EPT_IOCTL", uapi::RPMSG_CREATE_EPT_IOCTL),
        ("RPMSG_CREATE_DEV_IOCTL", uapi::RPMSG_CREATE_DEV_IOCTL),
        ("RPMSG_RELEASE_DEV_IOCTL", uapi::RPMSG_RELEASE_DEV_IOCTL),
        ("an unknown request", uapi::RPMSG_UNKNOWN_INFO_IOCTL),
    ];
    for (name, req) in requests {
        for (what, addr) in [("NULL", None), ("an inaccessible address", Some(&bad))] {
            expect_errno(
                sys::ioctl_bad_addr(&ctrl, req, addr),
                libc::EFAULT,
                format_args!("{name} on {ctrl_name} with {what}"),
            )?;
        }
    }
    let mut info = EndpointInfo::new(&unique_name("unk"), RPMSG_ADDR_ANY, dst)?;
    expect_errno(
        sys::ioctl_ptr(&ctrl, uapi::RPMSG_UNKNOWN_INFO_IOCTL, &mut info),
        libc::EINVAL,
        "an unknown request with a valid argument",
    )?;
    let now = topo::eptdevs_of_ctrl(&ctrl_name).ctx("list endpoint devices")?;
    ensure!(
        now == devs,
        "endpoint devices changed from {devs:?} to {now:?}"
    );

    // The name is copied as 32 bytes and its last one set to NUL.
    let full = format!("{:x<width$}", unique_name("nonul"), width = RPMSG_NAME_SIZE);
    ensure!(full.len() == RPMSG_NAME_SIZE, "test name {full:?}");
    let cut = &full[..RPMSG_NAME_SIZE - 1];
    let mut raw = EndpointInfo {
        name: [0; RPMSG_NAME_SIZE],
        src: RPMSG_ADDR_ANY,
        dst,
    };
    raw.name.copy_from_slice(full.as_bytes());
    let mut named = Ept::create_info(&ctrl, &ctrl_name, raw, cut)?;
    let attrs = topo::ept_attrs(&named.node).ctx("attributes")?;
    ensure!(
        attrs.name == cut,
        "{} is named {:?}, expected {cut:?}",
        named.node,
        attrs.name
    );
    cx.note(format!(
        "32 bytes without NUL: {} named {cut:?}",
        named.node
    ));
    named.open(false).ctx("open")?;
    echo(named.file()?, b"named with 31 bytes")?;
    drop(named);

    // rpmsg_release_channel() -> rpmsg_unregister_device(): no such
    // channel, -EINVAL.
    let mut ghost = EndpointInfo::new(&unique_name("ghost"), GHOST_SRC, dst)?;
    expect_errno(
        sys::ioctl_ptr(&ctrl, uapi::RPMSG_RELEASE_DEV_IOCTL, &mut ghost),
        libc::EINVAL,
        "RPMSG_RELEASE_DEV_IOCTL of a channel that does not exist",
    )?;

    // The endpoint device never copies an argument it does not need.
    let mut ept = Ept::create(
        &ctrl,
        &ctrl_name,
        &unique_name("badarg"),
        RPMSG_ADDR_ANY,
        dst,
    )?;
    ept.open(true).ctx("open")?;
    let f = ept.file()?;
    expect_errno(
        sys::ioctl_val(f, uapi::RPMSG_UNKNOWN_IOCTL, 0),
        libc::EINVAL,
        "an unknown request on an endpoint",
    )?;
    expect_errno(
        sys::ioctl_bad_addr(f, uapi::RPMSG_UNKNOWN_INFO_IOCTL, Some(&bad)),
        libc::EINVAL,
        "an unknown request with an inaccessible address on an endpoint",
    )?;
    // put_user() of the flow state fails.
    for (what, addr) in [("NULL", None), ("an inaccessible address", Some(&bad))] {
        expect_errno(
            sys::ioctl_bad_addr(f, uapi::RPMSG_GET_OUTGOING_FLOWCONTROL, addr),
            libc::EFAULT,
            format_args!("RPMSG_GET_OUTGOING_FLOWCONTROL with {what}"),
        )?;
    }
    let mut flow: libc::c_int = 0x5a5a;
    let r = sys::ioctl_ptr(f, uapi::RPMSG_GET_OUTGOING_FLOWCONTROL, &mut flow)
        .ctx("RPMSG_GET_OUTGOING_FLOWCONTROL")?;
    ensure!(
        r == 0 && flow == 0,
        "RPMSG_GET_OUTGOING_FLOWCONTROL returned {r}, value {flow:#x}"
    );

    let before = quiesce(&t.sim)?;
    // rpmsg_eptdev_write_iter() copies the message in before anything is
    // sent, also one too big to send.
    for len in [16, MTU, MTU + 1] {
        expect_errno(
            sys::write_noaccess(f, &bad, len),
            libc::EFAULT,
            format_args!("write of {len} bytes from an inaccessible buffer"),
        )?;
    }
    // rpmsg_eptdev_read_iter(): an empty queue is reported before any copy;
    // a queued message is dequeued, the copy fails and the message is gone.
    expect_errno(
        sys::read_noaccess(f, &bad, 512),
        libc::EAGAIN,
        "O_NONBLOCK read into an inaccessible buffer, nothing queued",
    )?;
    send(f, b"lost to EFAULT")?;
    let ev = sys::poll(f, libc::POLLIN, REPLY).ctx("poll")?;
    ensure!(ev == libc::POLLIN, "no echo (poll {ev:#x})");
    expect_errno(
        sys::read_noaccess(f, &bad, 512),
        libc::EFAULT,
        "read of a queued message into an inaccessible buffer",
    )?;
    let mut buf = [0u8; 512];
    expect_errno(
        sys::read(f, &mut buf),
        libc::EAGAIN,
        "read after the failed read (the message is consumed)",
    )?;
    echo(f, b"still working")?;
    expect_silence(f, Duration::from_millis(100))?;
    let after = quiesce(&t.sim)?;
    // Only the two messages sent with valid buffers reached the remote.
    check_delta(&after, &before, SIM0, "rx_msgs", 2)?;
    check_delta(&after, &before, SIM0, "echo.tx_msgs", 2)?;

    // The control device keeps working.
    let mut other = Ept::create(
        &ctrl,
        &ctrl_name,
        &unique_name("after"),
        RPMSG_ADDR_ANY,
        dst,
    )?;
    other.open(false).ctx("open")?;
    echo(other.file()?, b"control device still working")
}
