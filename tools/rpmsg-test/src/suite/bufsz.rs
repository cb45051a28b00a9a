//! `VIRTIO_RPMSG_F_BUFSZ`: buffer sizes the remote offers per direction in
//! the vdev's config space (the v2 Linux series, not in 7.3; see
//! Documentation/design.md). The remote's offer takes effect at its next
//! boot: each case sets sim1's offer, crashes it, lets remoteproc recover
//! it, and restores the default the same way when it ends.

use std::fs;
use std::path::Path;

use super::common::*;
use super::Ctx;
use crate::bus;
use crate::ensure;
use crate::error::{expect_errno, Context, Res};
use crate::kmsg;
use crate::sim::{Stats, DEBUGFS_ROOT};
use crate::sys;
use crate::topo;
use crate::uapi::RPMSG_ADDR_ANY;

/// The remote these cases reboot: sim0 keeps serving the other cases'
/// expectations (crash counts, recovery).
const SIM: &str = SIM1;
const HDR: usize = 16;
/// What the bus logs when it declines an offer.
const DECLINED_LOG: &str = "declining VIRTIO_RPMSG_F_BUFSZ";

/// Boots `SIM` without an offer again when dropped.
struct RestoreDefault;

fn bufsz_file() -> std::path::PathBuf {
    Path::new(DEBUGFS_ROOT).join(SIM).join("bufsz")
}

/// Sets the offer and reboots the remote (crash, then remoteproc's
/// recovery); returns it once its channels are back on a new device.
fn reboot_with(offer: &str) -> Res<Target> {
    let old = Target::ready(SIM)?;
    let ino = topo::vdev_ino(&old.vdev).ctx(format_args!("stat {}", old.vdev))?;
    write_attr(&bufsz_file(), offer)?;
    old.sim.control("crash").ctx(format_args!("{SIM}: crash"))?;
    wait_for(&format!("{} replaced", old.vdev), SETTLE, || {
        (topo::vdev_ino(&old.vdev).ok() != Some(ino)).then_some(())
    })?;
    Target::ready(SIM)
}

/// `SIM`, or `None` if the kernel's C bus drives it, which does not
/// negotiate: the case is then skipped.
fn rust_bus(cx: &Ctx) -> Res<Option<Target>> {
    let t = Target::ready(SIM)?;
    if bus::is_c_bus(&t.vdev) {
        cx.skip("the kernel's C bus does not negotiate VIRTIO_RPMSG_F_BUFSZ (512-byte buffers)");
        return Ok(None);
    }
    Ok(Some(t))
}

/// Boots `SIM` with `offer` (the text of its `bufsz` file); the guard
/// boots it without one again.
fn boot_with(cx: &Ctx, offer: &str) -> Res<(Target, RestoreDefault)> {
    let guard = RestoreDefault;
    let t = reboot_with(offer)?;
    cx.note(format!("{SIM} offers {offer:?}: {}", t.vdev));
    Ok((t, guard))
}

impl Drop for RestoreDefault {
    fn drop(&mut self) {
        if let Err(e) = reboot_with("off") {
            eprintln!("# {SIM}: restoring the default buffer sizes: {e}");
        }
    }
}

/// The bus's view of the negotiation: sizes and outcome.
fn check_bus(t: &Target, rx: u64, tx: u64, outcome: &str) -> Res<Stats> {
    let s = bus::stats(&t.vdev)?;
    let got = (
        s.get("rx_buf_size")?,
        s.get("tx_buf_size")?,
        s.text("bufsz")?.to_owned(),
    );
    ensure!(
        got == (rx, tx, outcome.to_owned()),
        "{}: bus says rx {} tx {} bufsz {}; expected rx {rx} tx {tx} bufsz {outcome}",
        t.vdev,
        got.0,
        got.1,
        got.2
    );
    // The remote agrees (its view: to_host is the host's receive size).
    let r = t.sim.stats()?;
    let remote = (r.get("bufsz.to_host")?, r.get("bufsz.from_host")?);
    ensure!(
        remote == (rx, tx),
        "{SIM} uses {} to the host and {} from it; the bus {rx} and {tx}",
        remote.0,
        remote.1
    );
    Ok(s)
}

/// An endpoint on `t`'s control device aimed at `dst`, opened.
fn open_ept(t: &Target, tag: &str, src: u32, dst: u32) -> Res<Ept> {
    let (ctrl_name, ctrl) = t.open_ctrl()?;
    let mut ept = Ept::create(&ctrl, &ctrl_name, &unique_name(tag), src, dst)?;
    ept.open(false)
        .ctx(format_args!("open /dev/{}", ept.node))?;
    Ok(ept)
}

/// Receives one whole message, however large.
fn recv_big(f: &std::fs::File) -> Res<Vec<u8>> {
    let ev = sys::poll(f, libc::POLLIN, REPLY).ctx("poll")?;
    ensure!(ev & libc::POLLIN != 0, "no message within {REPLY:?}");
    let mut buf = vec![0u8; 128 * 1024];
    let n = sys::read(f, &mut buf).ctx("read")?;
    buf.truncate(n);
    Ok(buf)
}

/// Host -> remote: a message of exactly the MTU reaches the remote whole
/// (its sink counts the bytes), one byte more fails with EMSGSIZE before
/// anything is sent.
fn check_host_to_remote(t: &Target, mtu: usize) -> Res {
    let sink = Announced::new(t, "bsink", "sink", None)?;
    let ept = open_ept(t, "bsink", RPMSG_ADDR_ANY, sink.addr)?;
    let f = ept.file()?;
    let before = quiesce(&t.sim)?;
    send(f, &payload(1, mtu))?;
    // rpmsg_send_offchannel_raw(): -EMSGSIZE before a buffer is taken.
    expect_errno(
        sys::write(f, &payload(2, mtu + 1)),
        libc::EMSGSIZE,
        format_args!("write of MTU {mtu} + 1 bytes"),
    )?;
    let after = quiesce(&t.sim)?;
    check_delta(&after, &before, SIM, "sink.rx_msgs", 1)?;
    check_delta(&after, &before, SIM, "sink.rx_bytes", mtu as u64)?;
    check_delta(&after, &before, SIM, "errors.bad_msg", 0)
}

/// Local address the remote's source sends to.
const SOURCE_DST: u32 = 0x3600;

/// Remote -> host: the largest message the host receives arrives whole and
/// in order; the remote refuses to send one byte more (its side of the
/// agreement), and the bus dropped nothing.
fn check_remote_to_host(t: &Target, max: usize) -> Res {
    let source = Announced::new(t, "bsrc", "source", None)?;
    let ept = open_ept(t, "bsrc", SOURCE_DST, source.addr)?;
    let f = ept.file()?;
    let bus_before = bus::stats(&t.vdev)?;
    let over = format!("source {} {SOURCE_DST} 1 {}", source.addr, max + 1);
    expect_errno(t.sim.control(&over), libc::EINVAL, &over)?;
    let cmd = format!("source {} {SOURCE_DST} 3 {max}", source.addr);
    t.sim.control(&cmd).ctx(format_args!("{SIM}: {cmd}"))?;
    for seq in 0..3u32 {
        let got = recv_big(f).map_err(|e| format!("source message {seq} of {max} bytes: {e}"))?;
        ensure!(
            got.len() == max,
            "message {seq}: {} bytes, expected {max}",
            got.len()
        );
        ensure!(
            got[..4] == seq.to_le_bytes(),
            "message {seq} carries sequence {:?}",
            &got[..4]
        );
        let bad = got
            .iter()
            .enumerate()
            .skip(4)
            .find(|&(i, &b)| b != (seq as u8).wrapping_add(i as u8));
        ensure!(bad.is_none(), "message {seq}: byte {:?} wrong", bad);
    }
    let bus_after = bus::stats(&t.vdev)?;
    for key in ["rx_dropped_bad_len", "rx_dropped_bad_hdr"] {
        let d = bus_after.delta(&bus_before, key)?;
        ensure!(d == 0, "bus {key} grew by {d}");
    }
    Ok(())
}

/// The kernel log has the bus's decline message for `vdev` since `seq`.
fn check_declined_log(seq: u64, vdev: &str, reason: &str) -> Res {
    let lines = kmsg::collect(seq, |m| {
        m.contains(vdev) && m.contains(DECLINED_LOG) && m.contains(reason)
    })?;
    ensure!(
        lines.len() == 1,
        "{} kernel log lines \"{DECLINED_LOG} ({reason}...\" for {vdev}, expected 1",
        lines.len()
    );
    Ok(())
}

/// Without an offer, both ways are 512 bytes: the upstream default.
pub fn no_offer_512(cx: &Ctx) -> Res {
    let t = Target::ready(SIM)?;
    if bus::is_c_bus(&t.vdev) {
        cx.skip("the kernel's C bus has no debugfs counters (its 512-byte buffers are checked by ept_mtu)");
        return Ok(());
    }
    let text = fs::read_to_string(bufsz_file()).ctx("read bufsz")?;
    ensure!(
        text.trim() == "off",
        "{SIM} bufsz is {text:?}, expected off"
    );
    let s = check_bus(&t, 512, 512, "not_offered")?;
    ensure!(s.get("bufsz_declined")? == 0, "declined without an offer");
    check_host_to_remote(&t, 512 - HDR)?;
    check_remote_to_host(&t, 512 - HDR)
}

/// 4 KiB both ways.
pub fn both_4096(cx: &Ctx) -> Res {
    if rust_bus(cx)?.is_none() {
        return Ok(());
    }
    let (t, _restore) = boot_with(cx, "4096 4096")?;
    let t = &t;
    check_bus(t, 4096, 4096, "acked")?;
    check_host_to_remote(t, 4096 - HDR)?;
    check_remote_to_host(t, 4096 - HDR)?;
    // And an echo of the largest message, both ways in one.
    let ept = open_ept(t, "becho", RPMSG_ADDR_ANY, t.echo_addr()?)?;
    let f = ept.file()?;
    let data = payload(3, 4096 - HDR);
    send(f, &data)?;
    let got = recv_big(f)?;
    ensure!(
        got == data,
        "echo of 4080 bytes: {}",
        difference(&got, &data)
    );
    Ok(())
}

/// 2048 bytes to the host, 512 from it: the MTU is 496, receive 2032.
pub fn asymmetric_rx_2048(cx: &Ctx) -> Res {
    if rust_bus(cx)?.is_none() {
        return Ok(());
    }
    let (t, _restore) = boot_with(cx, "2048 512")?;
    let t = &t;
    check_bus(t, 2048, 512, "acked")?;
    check_host_to_remote(t, 512 - HDR)?;
    check_remote_to_host(t, 2048 - HDR)
}

/// 512 bytes to the host, 2048 from it: the MTU is 2032; an echo of more
/// than 496 bytes cannot come back, and the remote counts it.
pub fn asymmetric_tx_2048(cx: &Ctx) -> Res {
    if rust_bus(cx)?.is_none() {
        return Ok(());
    }
    let (t, _restore) = boot_with(cx, "512 2048")?;
    let t = &t;
    check_bus(t, 512, 2048, "acked")?;
    check_host_to_remote(t, 2048 - HDR)?;
    check_remote_to_host(t, 512 - HDR)?;
    let ept = open_ept(t, "becho", RPMSG_ADDR_ANY, t.echo_addr()?)?;
    let f = ept.file()?;
    let before = quiesce(&t.sim)?;
    send(f, &payload(4, 497))?;
    echo(f, &payload(5, 496))?;
    let after = quiesce(&t.sim)?;
    check_delta(&after, &before, SIM, "errors.dropped_replies", 1)
}

/// Malformed offers are declined, logged once, counted, and the bus runs
/// with 512-byte buffers; so does a pool larger than the remote's
/// carveout.
pub fn declined(cx: &Ctx) -> Res {
    if rust_bus(cx)?.is_none() {
        return Ok(());
    }
    let offers = [
        ("4096 4096 version=1", "bad_version"),
        ("4096 4096 config_len=10", "config_too_short"),
        ("8 512", "size_too_small"),
        ("512 65537", "size_too_big"),
        // 256 buffers of 64 KiB each way: 32 MiB, beyond the carveout.
        ("65536 65536", "pool_too_big"),
    ];
    let _restore = RestoreDefault;
    for (offer, reason) in offers {
        let seq = kmsg::last_seq()?;
        let t = reboot_with(offer)?;
        let s = check_bus(&t, 512, 512, "declined")?;
        ensure!(
            s.get("bufsz_declined")? == 1 && s.text("bufsz_decline_reason")? == reason,
            "{offer:?}: declined {} for {}, expected 1 for {reason}",
            s.get("bufsz_declined")?,
            s.text("bufsz_decline_reason")?
        );
        check_declined_log(seq, &t.vdev, reason)?;
        check_host_to_remote(&t, 512 - HDR)?;
        cx.note(format!("{offer:?}: declined ({reason})"));
    }
    Ok(())
}
