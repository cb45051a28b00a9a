//! Remote crash and recovery (remoteproc's attach recovery: the virtio
//! device and everything on it is torn down and created again).

use super::channels::{check_client_sample, check_target, discovery};
use super::common::*;
use super::{lock, Ctx};
use crate::ensure;
use crate::error::{expect_errno, Context, Res};
use crate::kmsg;
use crate::sys;
use crate::topo;
use crate::uapi::RPMSG_ADDR_ANY;

pub fn crash_recovery(cx: &Ctx) -> Res {
    let t0 = Target::ready(SIM0)?;
    let t1 = Target::ready(SIM1)?;
    let ino0 = topo::vdev_ino(&t0.vdev).ctx(format_args!("stat {}", t0.vdev))?;
    let ino1 = topo::vdev_ino(&t1.vdev).ctx(format_args!("stat {}", t1.vdev))?;
    let sim1_channels = t1.channels()?;

    // Endpoints open across the crash: sim0's channel device and a control
    // endpoint must fail, sim1's channel device must keep working.
    let raw0 = open_node(
        &t0.channel("rpmsg-raw")?
            .chrdev()
            .ok_or("sim0 rpmsg-raw has no char device")?,
        false,
    )?;
    let (ctrl_name, ctrl) = t0.open_ctrl()?;
    let mut ept0 = Ept::create(
        &ctrl,
        &ctrl_name,
        &unique_name("crash"),
        RPMSG_ADDR_ANY,
        t0.echo_addr()?,
    )?;
    ept0.open(false).ctx("open")?;
    echo(ept0.file()?, b"before the crash")?;
    let raw1 = open_node(
        &t1.channel("rpmsg-raw")?
            .chrdev()
            .ok_or("sim1 rpmsg-raw has no char device")?,
        false,
    )?;
    echo(&raw1, b"sim1 before the crash")?;

    let crashes0 = t0.sim.stats()?.get("crashes")?;
    let crashes1 = t1.sim.stats()?.get("crashes")?;
    *lock(&cx.shared.crash_seq) = Some(kmsg::last_seq()?);
    t0.sim.control("crash").ctx("sim0: crash")?;

    // rpmsg_remove() unregisters every channel and the control device,
    // which detaches their endpoint devices.
    let mut buf = [0u8; 64];
    wait_pollerr(&raw0, SETTLE).map_err(|e| format!("sim0 rpmsg-raw after the crash: {e}"))?;
    expect_errno(
        sys::read(&raw0, &mut buf),
        libc::EPIPE,
        "read on sim0 rpmsg-raw after the crash",
    )?;
    wait_pollerr(ept0.file()?, SETTLE)
        .map_err(|e| format!("control endpoint after the crash: {e}"))?;
    expect_errno(
        sys::read(ept0.file()?, &mut buf),
        libc::EPIPE,
        "read on a control endpoint after the crash",
    )?;

    // The old virtio device goes away (its name may come back).
    wait_for(&format!("{} removed", t0.vdev), SETTLE, || {
        (topo::vdev_ino(&t0.vdev).ok() != Some(ino0)).then_some(())
    })?;
    let n0 = Target::ready(SIM0)?;
    cx.note(format!("sim0: {} -> {}", t0.vdev, n0.vdev));
    ensure!(
        topo::vdev_ino(&n0.vdev).ok() != Some(ino0),
        "sim0 still on its old virtio device"
    );
    check_target(&n0)?;
    let crashes = n0.sim.stats()?.get("crashes")?;
    ensure!(
        crashes == crashes0 + 1,
        "sim0 crashes is {crashes}, expected {}",
        crashes0 + 1
    );

    // sim1 was not disturbed.
    let c1 = t1.sim.stats()?.get("crashes")?;
    ensure!(c1 == crashes1, "sim1 crashes went from {crashes1} to {c1}");
    ensure!(
        topo::vdev_ino(&t1.vdev).ok() == Some(ino1),
        "sim1's virtio device was re-created"
    );
    ensure!(t1.channels()? == sim1_channels, "sim1's channels changed");
    echo(&raw1, b"sim1 after the crash")?;
    let raw0_new = open_node(
        &n0.channel("rpmsg-raw")?.chrdev().ok_or("no char device")?,
        false,
    )?;
    echo(&raw0_new, b"sim0 is back")
}

pub fn after_discovery(cx: &Ctx) -> Res {
    discovery(cx)
}

pub fn after_client_sample(cx: &Ctx) -> Res {
    let seq = (*lock(&cx.shared.crash_seq)).ok_or("crash_recovery did not run")?;
    check_client_sample(&Target::ready(SIM0)?, seq)
}
