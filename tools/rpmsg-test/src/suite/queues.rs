//! Queues that fill up. A remote that stops taking messages (`stall`)
//! leaves the host without transmit buffers (virtio_rpmsg_bus.c
//! rpmsg_send_offchannel_raw(), virtio_rpmsg_poll(); rpmsg_char.c
//! rpmsg_eptdev_write_iter()); a reader that never reads while the remote
//! floods it (rpmsg_char.c rpmsg_ept_cb(): the kernel's char layer queues
//! without bound, the Rust one up to `rx_queue_len` and drops the rest).

use std::fs::File;
use std::time::{Duration, Instant};

use super::common::*;
use super::stress::drain_source;
use super::Ctx;
use crate::bounded::{self, Bounded};
use crate::bus;
use crate::charlayer;
use crate::ensure;
use crate::error::{errno_name, expect_errno, Context, Res, ERESTARTSYS};
use crate::sys;
use crate::uapi::RPMSG_ADDR_ANY;

/// Transmit buffers of a vdev on the simulator's 256-entry rings:
/// rpmsg_probe() allocates min(2 * 256, MAX_RPMSG_NUM_BUFS) = 512 buffers
/// and sends with half of them.
pub const TX_BUFFERS: u64 = 256;
/// How long a writer is watched to show that it blocks.
const BLOCKED: Duration = Duration::from_millis(300);
/// rpmsg_send_offchannel_raw() waits this long for a transmit buffer.
const TX_TIMEOUT: Duration = Duration::from_secs(15);
/// Why no sender is made to wait for a buffer on the kernel's C bus. Run
/// by hand it showed the upstream behaviour the Rust buses are held to
/// (errno 512 after 15 s) and two bugs: a kernel WARNING at the first
/// wait, and a signal that makes the wait spin until a buffer is back
/// instead of ending the write with EINTR.
const C_BUS_CANNOT_WAIT: &str = "virtio_rpmsg_bus cannot make a sender wait for a buffer \
     without a kernel warning (\"do not call blocking ops when !TASK_RUNNING\"): \
     rpmsg_send_offchannel_raw() calls get_a_tx_buf(), which takes a mutex, as the condition \
     of wait_event_interruptible_timeout()";
/// Message streams of the cases.
const FILL: u32 = 1;
const BLOCK: u32 = 2;

/// Message `seq` of stream `tag`: both numbers up front, 16 bytes.
fn tx_msg(tag: u32, seq: u32) -> Vec<u8> {
    let mut m = payload(tag.wrapping_mul(7919).wrapping_add(seq), 16);
    m[..4].copy_from_slice(&tag.to_le_bytes());
    m[4..8].copy_from_slice(&seq.to_le_bytes());
    m
}

/// Which message `m` is, for diagnostics.
fn which(m: &[u8]) -> String {
    match (m.get(..4), m.get(4..8)) {
        (Some(a), Some(b)) if m.len() == 16 => format!(
            "stream {} message {}",
            u32::from_le_bytes(a.try_into().unwrap_or_default()),
            u32::from_le_bytes(b.try_into().unwrap_or_default())
        ),
        _ => format!("a {}-byte message", m.len()),
    }
}

fn outcome(r: &Result<usize, i32>) -> String {
    match r {
        Ok(n) => format!("{n}"),
        Err(e) => errno_name(*e).map_or_else(|| format!("errno {e}"), str::to_owned),
    }
}

/// The transmit buffers the bus of `t` has: [`TX_BUFFERS`], which the Rust
/// bus also reports itself.
fn tx_buffers(t: &Target) -> Res<u64> {
    if let Some(n) = bus::tx_buffers(&t.vdev)? {
        ensure!(
            n == TX_BUFFERS,
            "{} reports {n} transmit buffers, expected {TX_BUFFERS}",
            t.vdev
        );
    }
    Ok(TX_BUFFERS)
}

/// `O_NONBLOCK` writes of stream `tag` until one fails with `EAGAIN`;
/// returns how many succeeded.
fn fill(f: &File, tag: u32, limit: u64) -> Res<u64> {
    for seq in 0..=limit + 16 {
        match sys::write(f, &tx_msg(tag, seq as u32)) {
            Ok(16) => {}
            Ok(n) => return Err(format!("O_NONBLOCK write {seq} returned {n}, expected 16")),
            Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => return Ok(seq),
            Err(e) => {
                return Err(format!(
                    "O_NONBLOCK write {seq}: {}, expected success or EAGAIN",
                    crate::error::describe(&e)
                ))
            }
        }
    }
    Err(format!(
        "{} O_NONBLOCK writes succeeded with the remote stalled",
        limit + 17
    ))
}

/// A blocking write on its own thread, shown to block. The thread yields
/// the write's length or errno.
fn blocked_write(f: &File, msg: Vec<u8>) -> Res<Bounded<Result<usize, i32>>> {
    let w = f.try_clone().ctx("dup")?;
    let b = bounded::spawn("blocked-write", move || {
        sys::write(&w, &msg).map_err(|e| e.raw_os_error().unwrap_or(0))
    })
    .ctx("spawn writer")?;
    match b.result_within(BLOCKED) {
        Ok(None) => Ok(b),
        Ok(Some(r)) => Err(format!(
            "a blocking write with no transmit buffer returned {} at once, expected it to block",
            outcome(&r)
        )),
        Err(h) => Err(format!("writer: {h}")),
    }
}

/// Waits for a blocked writer that should now finish with `want`.
fn expect_written(w: &Bounded<Result<usize, i32>>, what: &str, want: usize) -> Res {
    match w.result_within(REPLY) {
        Ok(Some(Ok(n))) if n == want => Ok(()),
        Ok(Some(r)) => Err(format!("{what} returned {}, expected {want}", outcome(&r))),
        Ok(None) => Err(format!(
            "{what} still blocked {} s after resume",
            REPLY.as_secs()
        )),
        Err(h) => Err(format!("{what}: {h}")),
    }
}

/// Reads the echo replies of `msgs` in order; nothing else may come.
fn expect_replies(f: &File, what: &str, msgs: &[Vec<u8>]) -> Res {
    for (i, want) in msgs.iter().enumerate() {
        let got =
            recv(f, REPLY).map_err(|e| format!("{what}: reply {i} of {}: {e}", msgs.len()))?;
        ensure!(
            &got == want,
            "{what}: reply {i} is {}, expected {}",
            which(&got),
            which(want)
        );
    }
    expect_silence(f, Duration::from_millis(200)).map_err(|e| format!("{what}: {e}"))
}

pub fn tx_buffers_exhausted(cx: &Ctx) -> Res {
    let t = Target::ready(SIM0)?;
    let (ctrl_name, ctrl) = t.open_ctrl()?;
    let dst = t.echo_addr()?;
    let want = tx_buffers(&t)?;
    // One endpoint uses up the buffers, another one blocks: the first gets
    // as many replies as there are buffers, which fits a receive queue
    // bounded at that many messages.
    let mut filler = Ept::create(&ctrl, &ctrl_name, &unique_name("fill"), RPMSG_ADDR_ANY, dst)?;
    filler.open(true).ctx("open")?;
    let mut blocker = Ept::create(&ctrl, &ctrl_name, &unique_name("blk"), RPMSG_ADDR_ANY, dst)?;
    blocker.open(true).ctx("open")?;
    let (f, g) = (filler.file()?, blocker.file()?);
    let before = quiesce(&t.sim)?;
    // Dropped first: a failure resumes the remote before the endpoints go.
    let mut stall = Stall::new(&t.sim)?;

    // rpmsg_eptdev_write_iter(): O_NONBLOCK sends with rpmsg_trysendto(),
    // whose -ENOMEM (no transmit buffer) becomes -EAGAIN.
    let sent = fill(f, FILL, want)?;
    ensure!(
        sent == want,
        "{sent} O_NONBLOCK writes succeeded before EAGAIN, expected {want} (the transmit buffers)"
    );
    expect_errno(
        sys::write(f, &tx_msg(FILL, 9999)),
        libc::EAGAIN,
        "another O_NONBLOCK write",
    )?;
    // The buffers are the virtio device's, not the endpoint's.
    expect_errno(
        sys::write(g, &tx_msg(BLOCK, 9999)),
        libc::EAGAIN,
        "O_NONBLOCK write on another endpoint",
    )?;
    // virtio_rpmsg_poll(): POLLOUT only while a buffer is free.
    for (what, file) in [("filling", f), ("other", g)] {
        let ev = sys::poll(
            file,
            libc::POLLIN | libc::POLLOUT,
            Duration::from_millis(200),
        )
        .ctx("poll")?;
        ensure!(
            ev == 0,
            "{what} endpoint polls {ev:#x} with no transmit buffer free, expected nothing"
        );
    }
    check_delta(&t.sim.stats()?, &before, SIM0, "rx_msgs", 0)?;

    let mut block_msgs = Vec::new();
    if bus::is_c_bus(&t.vdev) {
        cx.note(format!("blocking writes not tried: {C_BUS_CANNOT_WAIT}"));
        stall.resume()?;
    } else {
        // A blocking write sleeps in the bus until a buffer comes back; a
        // signal without SA_RESTART ends it with EINTR, and nothing is sent.
        sys::set_nonblocking(g, false).ctx("clear O_NONBLOCK")?;
        let first = blocked_write(g, tx_msg(BLOCK, 0))?;
        first.interrupt();
        match first.result_within(REPLY) {
            Ok(Some(Err(libc::EINTR))) => {}
            Ok(Some(r)) => {
                return Err(format!(
                    "blocking write interrupted by a signal returned {}, expected EINTR",
                    outcome(&r)
                ))
            }
            Ok(None) => {
                return Err(format!(
                    "blocking write still blocked {} s after a signal, expected EINTR",
                    REPLY.as_secs()
                ))
            }
            Err(h) => return Err(format!("interrupted writer: {h}")),
        }
        // Another one completes once the remote takes messages again.
        let second = blocked_write(g, tx_msg(BLOCK, 1))?;
        block_msgs.push(tx_msg(BLOCK, 1));
        check_delta(&t.sim.stats()?, &before, SIM0, "rx_msgs", 0)?;
        stall.resume()?;
        expect_written(&second, "the blocking write", 16)?;
    }
    // Everything sent reaches the remote in order, and every reply comes
    // back in order.
    let fill_msgs: Vec<Vec<u8>> = (0..want as u32).map(|s| tx_msg(FILL, s)).collect();
    expect_replies(f, "filling endpoint", &fill_msgs)?;
    expect_replies(g, "blocking endpoint", &block_msgs)?;
    let after = quiesce(&t.sim)?;
    let total = want + block_msgs.len() as u64;
    check_delta(&after, &before, SIM0, "rx_msgs", total)?;
    check_delta(&after, &before, SIM0, "echo.rx_msgs", total)?;
    check_delta(&after, &before, SIM0, "echo.tx_msgs", total)?;
    // The buffers are back.
    let ev = sys::poll(f, libc::POLLOUT, REPLY).ctx("poll")?;
    ensure!(
        ev == libc::POLLOUT,
        "after resume the endpoint polls {ev:#x}, expected POLLOUT"
    );
    echo(f, b"buffers are back")?;
    echo(g, b"on the other endpoint too")
}

pub fn tx_blocking_timeout(cx: &Ctx) -> Res {
    let t = Target::ready(SIM0)?;
    if bus::is_c_bus(&t.vdev) {
        cx.skip(C_BUS_CANNOT_WAIT);
        return Ok(());
    }
    let (ctrl_name, ctrl) = t.open_ctrl()?;
    let want = tx_buffers(&t)?;
    let mut ept = Ept::create(
        &ctrl,
        &ctrl_name,
        &unique_name("tmo"),
        RPMSG_ADDR_ANY,
        t.echo_addr()?,
    )?;
    ept.open(true).ctx("open")?;
    let f = ept.file()?;
    let before = quiesce(&t.sim)?;
    let mut stall = Stall::new(&t.sim)?;
    let sent = fill(f, FILL, want)?;
    ensure!(
        sent == want,
        "{sent} O_NONBLOCK writes succeeded before EAGAIN, expected {want}"
    );

    // rpmsg_send_offchannel_raw() gives up after 15 s and returns
    // -ERESTARTSYS; with no signal pending nothing turns that into a
    // restart or EINTR, so userspace sees errno 512 (the kernel's C bus:
    // 512 after 15.0 s, seen by hand despite its WARNING). The Rust bus
    // gives up after the same time with ETIMEDOUT: a kernel-internal errno
    // must not reach userspace (Documentation/userspace-abi.md).
    sys::set_nonblocking(f, false).ctx("clear O_NONBLOCK")?;
    let start = Instant::now();
    let w = blocked_write(f, tx_msg(BLOCK, 0))?;
    let r = match w.result_within(TX_TIMEOUT + Duration::from_secs(15)) {
        Ok(Some(r)) => r,
        Ok(None) => {
            return Err(format!(
                "blocking write still blocked after {} s",
                start.elapsed().as_secs()
            ))
        }
        Err(h) => return Err(format!("writer: {h}")),
    };
    let took = start.elapsed();
    cx.note(format!(
        "blocking write returned {} after {:.1} s",
        outcome(&r),
        took.as_secs_f64()
    ));
    ensure!(
        r == Err(libc::ETIMEDOUT),
        "blocking write with no transmit buffer returned {}, expected ETIMEDOUT{}",
        outcome(&r),
        if r == Err(ERESTARTSYS) {
            " (errno 512, ERESTARTSYS, is kernel-internal)"
        } else {
            ""
        }
    );
    ensure!(
        (14.0..=25.0).contains(&took.as_secs_f64()),
        "blocking write gave up after {:.1} s, expected about 15 s",
        took.as_secs_f64()
    );
    check_delta(&t.sim.stats()?, &before, SIM0, "rx_msgs", 0)?;

    stall.resume()?;
    sys::set_nonblocking(f, true).ctx("set O_NONBLOCK")?;
    let fill_msgs: Vec<Vec<u8>> = (0..want as u32).map(|s| tx_msg(FILL, s)).collect();
    expect_replies(f, "endpoint", &fill_msgs)?;
    // The message of the failed write never went out.
    let after = quiesce(&t.sim)?;
    check_delta(&after, &before, SIM0, "rx_msgs", want)?;
    echo(f, b"after the timeout")
}

/// Local address of the endpoint the source floods.
const BACKLOG_SRC: u32 = 0x3500;
/// Messages for the kernel's unbounded char layer.
const C_BACKLOG: u32 = 2000;
const BACKLOG_SIZE: usize = 64;

pub fn reader_never_reads(cx: &Ctx) -> Res {
    let t = Target::ready(SIM0)?;
    let source = Announced::new(&t, "backlog", "source", None)?;
    let (ctrl_name, ctrl) = t.open_ctrl()?;
    let mut ept = Ept::create(
        &ctrl,
        &ctrl_name,
        &unique_name("backlog"),
        BACKLOG_SRC,
        source.addr,
    )?;
    ept.open(true).ctx("open")?;
    let f = ept.file()?;
    let bound = match charlayer::rx_queue(&ept.node)? {
        Some(q) => {
            ensure!(q.queued == 0 && q.dropped == 0, "fresh endpoint has {q:?}");
            ensure!(q.max > 0, "receive queue bound is 0");
            Some(u32::try_from(q.max).map_err(|_| format!("receive queue bound {}", q.max))?)
        }
        None => None,
    };
    // Past the bound by enough to show the drops; the bound is the
    // default (16384), which makes this the suite's longest flood.
    let n = bound.map_or(C_BACKLOG, |b| b + 500);
    cx.note(match bound {
        Some(b) => format!("Rust char layer, queue bound {b}: {n} messages"),
        None => format!("kernel char layer (no bound): {n} messages"),
    });

    let before = quiesce(&t.sim)?;
    let cmd = format!("source {} {BACKLOG_SRC} {n} {BACKLOG_SIZE}", source.addr);
    t.sim.control(&cmd).ctx(format_args!("{SIM0}: {cmd}"))?;
    wait_source_drained(&t.sim, &before, n)?;

    let keep = match bound {
        Some(b) => {
            let q = charlayer::rx_queue(&ept.node)?.ok_or("rx_queue vanished")?;
            cx.note(format!("rx_queue after the flood: {q:?}"));
            let (b, n) = (u64::from(b), u64::from(n));
            ensure!(
                q.queued == b && q.dropped == n - b,
                "after {n} messages with nobody reading: queued {}, dropped {}; expected {b} and {}",
                q.queued,
                q.dropped,
                n - b
            );
            b as u32
        }
        None => n,
    };
    // The queue holds the oldest messages: reading returns exactly those.
    drain_source(f, keep, BACKLOG_SIZE).map_err(|e| format!("backlog: {e}"))?;
    let mut buf = [0u8; 512];
    expect_errno(
        sys::read(f, &mut buf),
        libc::EAGAIN,
        format_args!("read after {keep} messages"),
    )?;
    let dropped = match charlayer::rx_queue(&ept.node)? {
        Some(q) => {
            ensure!(q.queued == 0, "queued {} after reading all", q.queued);
            q.dropped
        }
        None => 0,
    };

    // Then the endpoint works as usual.
    let again = 50;
    let cmd = format!(
        "source {} {BACKLOG_SRC} {again} {BACKLOG_SIZE}",
        source.addr
    );
    t.sim.control(&cmd).ctx(format_args!("{SIM0}: {cmd}"))?;
    drain_source(f, again, BACKLOG_SIZE).map_err(|e| format!("after the backlog: {e}"))?;
    expect_silence(f, Duration::from_millis(200))?;
    if let Some(q) = charlayer::rx_queue(&ept.node)? {
        ensure!(
            q.dropped == dropped && q.queued == 0,
            "after a flood that was read: {q:?}, expected {dropped} dropped"
        );
    }
    let after = quiesce(&t.sim)?;
    check_delta(
        &after,
        &before,
        SIM0,
        "source.tx_msgs",
        u64::from(n + again),
    )?;
    check_delta(&after, &before, SIM0, "tx_msgs", u64::from(n + again))
}

/// How long a read or poll of queued messages may take while a writer
/// waits for a buffer: they wait for nothing.
const PROMPT: Duration = Duration::from_secs(1);
/// Replies queued before the remote stalls.
const QUEUED: u32 = 3;

/// Why poll is not checked on the kernel's char layer.
const C_CHAR_POLL_WAITS: &str =
    "the kernel's rpmsg_char: poll not tried, rpmsg_eptdev_poll() takes \
     ept_lock, which rpmsg_eptdev_write_iter() holds while it waits for a buffer (up to 15 s)";

/// A writer waiting for a transmit buffer blocks nobody else on its file:
/// rpmsg_eptdev_read_iter() takes no lock a writer holds, and the wait in
/// rpmsg_send_offchannel_raw() is interruptible. Upstream's
/// rpmsg_eptdev_poll() does wait for the writer (it takes `ept_lock`); the
/// Rust char layer's poll does not.
pub fn writer_blocks_nobody(cx: &Ctx) -> Res {
    let t = Target::ready(SIM0)?;
    if bus::is_c_bus(&t.vdev) {
        cx.skip(C_BUS_CANNOT_WAIT);
        return Ok(());
    }
    let (ctrl_name, ctrl) = t.open_ctrl()?;
    let want = tx_buffers(&t)?;
    let mut ept = Ept::create(
        &ctrl,
        &ctrl_name,
        &unique_name("wbn"),
        RPMSG_ADDR_ANY,
        t.echo_addr()?,
    )?;
    ept.open(true).ctx("open")?;
    let f = ept.file()?;
    let before = quiesce(&t.sim)?;
    // Replies wait in the endpoint's queue, unread.
    let queued: Vec<Vec<u8>> = (0..QUEUED).map(|s| tx_msg(FILL, s)).collect();
    for m in &queued {
        send(f, m)?;
    }
    wait_for("the echo replies", REPLY, || {
        let s = t.sim.stats().ok()?;
        (s.delta(&before, "echo.tx_msgs").ok()? == u64::from(QUEUED)).then_some(())
    })?;
    std::thread::sleep(Duration::from_millis(100));

    let mut stall = Stall::new(&t.sim)?;
    let sent = fill(f, BLOCK, want)?;
    ensure!(
        sent == want,
        "{sent} O_NONBLOCK writes succeeded before EAGAIN, expected {want}"
    );
    sys::set_nonblocking(f, false).ctx("clear O_NONBLOCK")?;
    let writer = blocked_write(f, tx_msg(BLOCK + 1, 0))?;

    // poll(2) answers at once, with the queued replies readable.
    if charlayer::is_rust() {
        poll_at_once(f)?;
    } else {
        cx.note(C_CHAR_POLL_WAITS);
    }
    // Each queued reply is read at once, in order.
    for (i, want) in queued.iter().enumerate() {
        let reader = blocked_read_msg(f)?;
        match reader.result_within(PROMPT) {
            Ok(Some(Ok(m))) => ensure!(
                &m == want,
                "queued reply {i} is {}, expected {}",
                which(&m),
                which(want)
            ),
            Ok(Some(Err(e))) => return Err(format!("read of queued reply {i}: {e}")),
            Ok(None) => {
                return Err(format!(
                    "read of queued reply {i} still blocked after {} ms while a writer waits \
                     for a buffer",
                    PROMPT.as_millis()
                ))
            }
            Err(h) => return Err(format!("reader: {h}")),
        }
    }
    // A signal ends the write: EINTR (ERESTARTSYS without SA_RESTART).
    writer.interrupt();
    match writer.result_within(REPLY) {
        Ok(Some(Err(libc::EINTR))) => {}
        Ok(Some(r)) => {
            return Err(format!(
                "interrupted blocking write returned {}, expected EINTR",
                outcome(&r)
            ))
        }
        Ok(None) => {
            return Err(format!(
                "blocking write still blocked {} s after a signal",
                REPLY.as_secs()
            ))
        }
        Err(h) => return Err(format!("writer: {h}")),
    }
    stall.resume()?;
    sys::set_nonblocking(f, true).ctx("set O_NONBLOCK")?;
    let fill_msgs: Vec<Vec<u8>> = (0..want as u32).map(|s| tx_msg(BLOCK, s)).collect();
    expect_replies(f, "endpoint", &fill_msgs)?;
    let after = quiesce(&t.sim)?;
    check_delta(&after, &before, SIM0, "rx_msgs", want + u64::from(QUEUED))
}

/// poll(2) on a clone of `f` answers within [`PROMPT`], with `POLLIN`.
fn poll_at_once(f: &File) -> Res {
    let g = f.try_clone().ctx("dup")?;
    let poller = bounded::spawn("poll", move || {
        sys::poll(&g, libc::POLLIN, Duration::ZERO).map_err(|e| e.to_string())
    })
    .ctx("spawn poller")?;
    match poller.result_within(PROMPT) {
        Ok(Some(Ok(ev))) => ensure!(
            ev & libc::POLLIN != 0,
            "poll with {QUEUED} replies queued returned {ev:#x}, expected POLLIN"
        ),
        Ok(Some(Err(e))) => return Err(format!("poll: {e}")),
        Ok(None) => {
            return Err(format!(
                "poll still blocked after {} ms while a writer waits for a buffer",
                PROMPT.as_millis()
            ))
        }
        Err(h) => return Err(format!("poller: {h}")),
    }
    Ok(())
}

/// One blocking read of a whole message on a clone of `f`, on its own
/// thread.
fn blocked_read_msg(f: &File) -> Res<Bounded<Result<Vec<u8>, String>>> {
    let r = f.try_clone().ctx("dup")?;
    bounded::spawn("read", move || {
        let mut buf = vec![0u8; 512];
        let n = sys::read(&r, &mut buf).map_err(|e| crate::error::describe(&e))?;
        buf.truncate(n);
        Ok(buf)
    })
    .ctx("spawn reader")
}

/// Messages of a sink stream: the sender waits for buffers hundreds of
/// times. `make stress` streams far longer.
const SINK_MSGS: u32 = 3_000;
/// The longest a blocking write may take while the remote is healthy (the
/// bus gives up after 15 s).
const WRITE_BOUND: Duration = Duration::from_secs(3);

/// Blocking writes into the remote's sink as fast as they go: senders wait
/// for transmit buffers again and again, and every wait must end when the
/// remote gives one back. A lost wake-up shows as a write that takes the
/// bus's whole 15 s timeout with every buffer free.
pub fn sink_stream_writes_never_stall(cx: &Ctx) -> Res {
    let t = Target::ready(SIM0)?;
    if bus::is_c_bus(&t.vdev) {
        cx.skip(C_BUS_CANNOT_WAIT);
        return Ok(());
    }
    let sink = Announced::new(&t, "sinkw", "sink", None)?;
    let (ctrl_name, ctrl) = t.open_ctrl()?;
    let mut ept = Ept::create(
        &ctrl,
        &ctrl_name,
        &unique_name("sinkw"),
        RPMSG_ADDR_ANY,
        sink.addr,
    )?;
    ept.open(false).ctx("open")?;
    let f = ept.file()?;
    let before = quiesce(&t.sim)?;
    let mut slowest = Duration::ZERO;
    let start = Instant::now();
    for seq in 0..SINK_MSGS {
        let w = Instant::now();
        let n = sys::write(f, &tx_msg(FILL, seq))
            .map_err(|e| format!("write {seq}: {}", crate::error::describe(&e)))?;
        ensure!(n == 16, "write {seq} returned {n}, expected 16");
        let took = w.elapsed();
        ensure!(
            took <= WRITE_BOUND,
            "write {seq} took {:.1} s with a healthy remote (a lost wake-up?)",
            took.as_secs_f64()
        );
        slowest = slowest.max(took);
    }
    cx.note(format!(
        "{SINK_MSGS} writes in {:.1} s, slowest {} ms",
        start.elapsed().as_secs_f64(),
        slowest.as_millis()
    ));
    let after = quiesce(&t.sim)?;
    check_delta(&after, &before, SIM0, "sink.rx_msgs", u64::from(SINK_MSGS))
}
