//! Volume: echo and source streams checked message by message, streams
//! into a sink timed write by write, a writer blocked on a stalled remote
//! beside a reader, and endpoint devices created and destroyed over and
//! over.

use std::fs::File;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use super::plan::{self, FIGURES};
use super::rng::Rng;
use super::traffic::*;
use super::{drain_source, source_msg};
use crate::bounded::{self, Bounded};
use crate::bus;
use crate::charlayer;
use crate::ensure;
use crate::error::{describe, errno_name, Context, Res, ERESTARTSYS};
use crate::suite::common::*;
use crate::suite::Ctx;
use crate::sys;
use crate::topo;
use crate::uapi::RPMSG_ADDR_ANY;

/// No `write()` may take longer than this while the remote is healthy:
/// far below the 15 s a sender waits for a buffer, so a lost wake-up
/// shows (issue 10, defect 1).
pub const WRITE_BOUND: Duration = Duration::from_secs(2);
/// A read or poll of queued messages may not wait longer than this for
/// another thread's write (issue 10, defect 2).
pub const READER_BOUND: Duration = Duration::from_secs(2);
/// Fixed local addresses the `source` streams send to.
const SOURCE_SRC: u32 = 0x3500;
const STALL_SRC: u32 = 0x3600;

/// Joins workers; collects every failure.
fn join_all<T>(workers: Vec<(String, Bounded<Res<T>>)>, timeout: Duration) -> Res<Vec<T>> {
    let start = Instant::now();
    let mut errors = Vec::new();
    let mut out = Vec::new();
    for (name, w) in workers {
        match w.wait(timeout.saturating_sub(start.elapsed())) {
            Ok(Ok(v)) => out.push(v),
            Ok(Err(e)) => errors.push(format!("{name}: {e}")),
            Err(h) => errors.push(format!("{name}: {h}")),
        }
    }
    ensure!(errors.is_empty(), "{}", errors.join("; "));
    Ok(out)
}

/// A remote -> host stream of `total` messages in runs of random sizes,
/// each message checked in order.
fn source_stream(t: &Target, idx: u32, total: u32, mut rng: Rng) -> Res<u64> {
    let source = Announced::new(t, "ssrc", "source", None)?;
    let src = SOURCE_SRC + idx;
    let ept = open_ept(t, "ssink", src, source.addr, true)?;
    let mut left = total;
    while left > 0 {
        let count = rng.range(1, u64::from(left.min(2000))) as u32;
        let size = rng.size(4, MTU);
        let cmd = format!("source {} {src} {count} {size}", source.addr);
        t.sim
            .control(&cmd)
            .ctx(format_args!("{}: {cmd}", t.sim.name))?;
        drain_source(ept.file()?, count, size)
            .map_err(|e| format!("{}: {count} x {size} bytes: {e}", t.sim.name))?;
        plan::add(&FIGURES.source_checked, u64::from(count));
        left -= count;
    }
    expect_silence(ept.file()?, Duration::from_millis(100))?;
    Ok(u64::from(total))
}

/// 8 endpoints (4 per remote) of echo traffic and one source stream per
/// remote, all at once.
pub fn echo_integrity(cx: &Ctx) -> Res {
    let p = plan::params();
    let mut rng = plan::rng("echo_integrity");
    let targets = [Target::ready(SIM0)?, Target::ready(SIM1)?];
    let mut befores = Vec::new();
    for t in &targets {
        befores.push(quiesce(&t.sim)?);
    }
    let mut workers = Vec::new();
    for i in 0..8u32 {
        let t = &targets[(i % 2) as usize];
        let ept = open_ept(t, "integ", RPMSG_ADDR_ANY, t.echo_addr()?, false)?;
        let window = rng.size(1, 8);
        let r = Rng::new(rng.next_u64());
        let n = p.echo_per_ept;
        workers.push((
            format!("echo endpoint {i} ({}, window {window})", t.sim.name),
            bounded::spawn(&format!("integ{i}"), move || {
                echo_stream(ept.file()?, i, r, window, Until::Count(n))
            })
            .ctx("spawn")?,
        ));
    }
    for (i, sim) in SIMS.iter().enumerate() {
        let t = Target::ready(sim)?;
        let r = Rng::new(rng.next_u64());
        let n = p.source_per_stream;
        workers.push((
            format!("source stream of {sim}"),
            bounded::spawn(&format!("source{i}"), move || {
                source_stream(&t, i as u32, n, r)
            })
            .ctx("spawn")?,
        ));
    }
    let start = Instant::now();
    let limit = plan::budget(
        p.echo_per_ept + p.source_per_stream,
        Duration::from_millis(40),
        120,
    );
    join_all(workers, limit)?;
    cx.note(format!(
        "{} echo round trips and {} source messages checked in {:.1} s",
        8 * p.echo_per_ept,
        2 * p.source_per_stream,
        start.elapsed().as_secs_f64()
    ));
    for (t, before) in targets.iter().zip(&befores) {
        let after = quiesce(&t.sim)?;
        let want = u64::from(4 * p.echo_per_ept);
        check_delta(&after, before, &t.sim.name, "echo.rx_msgs", want)?;
        check_delta(&after, before, &t.sim.name, "echo.tx_msgs", want)?;
        let src = u64::from(p.source_per_stream);
        check_delta(&after, before, &t.sim.name, "source.tx_msgs", src)?;
    }
    Ok(())
}

fn note_write(took: Duration) {
    FIGURES.max_write_us.fetch_max(
        took.as_micros() as u64,
        std::sync::atomic::Ordering::Relaxed,
    );
}

/// Streams `count` messages of random sizes into a sink; returns
/// (messages, bytes). `blocking`: plain blocking writes; otherwise
/// `O_NONBLOCK` writes, waiting in poll(POLLOUT) for a buffer.
fn sink_writer(f: &File, count: u32, mut rng: Rng, blocking: bool) -> Res<(u64, u64)> {
    let mut bytes = 0u64;
    let mut buf = vec![0u8; MTU];
    for i in 0..count {
        let len = rng.size(1, MTU);
        rng.fill(&mut buf[..len]);
        loop {
            let start = Instant::now();
            let r = sys::write(f, &buf[..len]);
            let took = start.elapsed();
            note_write(took);
            match r {
                Ok(n) => {
                    ensure!(n == len, "message {i}: write of {len} bytes returned {n}");
                    ensure!(
                        took < WRITE_BOUND,
                        "message {i}: write() took {:.1} s with a healthy remote \
                         (bound {} s): a lost wake-up?",
                        took.as_secs_f64(),
                        WRITE_BOUND.as_secs()
                    );
                    break;
                }
                Err(e) if !blocking && e.raw_os_error() == Some(libc::EAGAIN) => {
                    let start = Instant::now();
                    let ev = sys::poll(f, libc::POLLOUT, WRITE_BOUND).ctx("poll")?;
                    ensure!(
                        ev & libc::POLLOUT != 0,
                        "message {i}: no POLLOUT within {} s with a healthy remote \
                         (events {ev:#x}): a lost wake-up?",
                        start.elapsed().as_secs_f64()
                    );
                }
                Err(e) => {
                    let hint = if e.raw_os_error() == Some(ERESTARTSYS) {
                        " (the send timed out waiting for a buffer, and the kernel's \
                         internal code reached userspace)"
                    } else {
                        ""
                    };
                    return Err(format!(
                        "message {i}: write of {len} bytes after {:.1} s: {}{hint}",
                        took.as_secs_f64(),
                        describe(&e)
                    ));
                }
            }
        }
        bytes += len as u64;
        plan::add(&FIGURES.sink_sent, 1);
    }
    Ok((u64::from(count), bytes))
}

/// One writer blocked on a stalled remote beside a reader of the same
/// endpoint: the reader's poll (`check_poll`) and reads of queued messages
/// return at once, a signal ends the write with EINTR.
fn blocked_writer_round(
    t: &Target,
    sink: u32,
    source: &Announced,
    round: u32,
    check_poll: bool,
) -> Res {
    let src = STALL_SRC + round;
    let ept = open_ept(t, "stallw", src, sink, true)?;
    let f = ept.file()?;
    let before = quiesce(&t.sim)?;
    let mut stall = Stall::new(&t.sim)?;
    let mut accepted = 0u64;
    loop {
        match sys::write(f, &[0x5a; 32]) {
            Ok(_) => accepted += 1,
            Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => break,
            Err(e) => return Err(format!("filling the send queue: {}", describe(&e))),
        }
        ensure!(accepted <= 4096, "4096 writes accepted by a stalled remote");
    }
    sys::set_nonblocking(f, false).ctx("clear O_NONBLOCK")?;
    let wf = f.try_clone().ctx("dup")?;
    let writer = bounded::spawn("stalled-writer", move || {
        let start = Instant::now();
        let r = sys::write(&wf, &[0xa5; 32]).map_err(|e| e.raw_os_error());
        (r, start.elapsed())
    })
    .ctx("spawn writer")?;
    thread::sleep(Duration::from_millis(300));
    // The remote still sends while it takes nothing: queue messages.
    let cmd = format!("source {} {src} 3 16", source.addr);
    t.sim
        .control(&cmd)
        .ctx(format_args!("{}: {cmd}", t.sim.name))?;
    let mut fails = Vec::new();
    let start = Instant::now();
    let ev = if check_poll {
        sys::poll(f, libc::POLLIN, Duration::from_secs(20)).ctx("poll")?
    } else {
        libc::POLLIN
    };
    let took = start.elapsed();
    if ev & libc::POLLIN == 0 || took > READER_BOUND {
        fails.push(format!(
            "poll(POLLIN) returned {ev:#x} after {:.1} s while another thread's write \
             waited for a buffer (bound {} s): a blocked writer blocks pollers",
            took.as_secs_f64(),
            READER_BOUND.as_secs()
        ));
    }
    let mut buf = [0u8; 64];
    for seq in 0..3 {
        let start = Instant::now();
        let r = sys::read(f, &mut buf);
        let took = start.elapsed();
        match r {
            Ok(n) if buf[..n] == source_msg(seq, 16)[..] => {}
            Ok(n) => fails.push(format!("queued message {seq}: {n} wrong bytes")),
            Err(e) => fails.push(format!("read of queued message {seq}: {}", describe(&e))),
        }
        if took > READER_BOUND {
            fails.push(format!(
                "read of queued message {seq} took {:.1} s while another thread's write \
                 waited for a buffer: a blocked writer blocks readers",
                took.as_secs_f64()
            ));
        }
    }
    match writer.result_within(Duration::ZERO) {
        Ok(Some((r, took))) => fails.push(format!(
            "the write on a stalled remote returned {r:?} after {:.1} s while readers ran",
            took.as_secs_f64()
        )),
        _ => {
            writer.interrupt();
            match writer.wait(Duration::from_secs(20)) {
                Ok((Err(Some(libc::EINTR)), _)) => {}
                Ok((r, took)) => fails.push(format!(
                    "a signal ended the blocked write with {} after {:.1} s, expected EINTR",
                    match r {
                        Ok(n) => format!("{n} bytes written"),
                        Err(Some(e)) => errno_name(e).map_or(format!("errno {e}"), str::to_owned),
                        Err(None) => "an unknown error".into(),
                    },
                    took.as_secs_f64()
                )),
                Err(h) => fails.push(format!("the blocked write: {h}")),
            }
        }
    }
    stall.resume()?;
    drop(ept);
    let after = quiesce(&t.sim)?;
    if let Err(e) = check_delta(&after, &before, &t.sim.name, "sink.rx_msgs", accepted) {
        fails.push(e);
    }
    ensure!(fails.is_empty(), "round {round}: {}", fails.join("; "));
    Ok(())
}

/// Streams into a `sink` from 1, then 4 endpoints, every write timed;
/// then writers blocked on a stalled remote beside readers.
pub fn sink_stream(cx: &Ctx) -> Res {
    let p = plan::params();
    let mut rng = plan::rng("sink_stream");
    let t = Target::ready(SIM0)?;
    let c_bus = bus::is_c_bus(&t.vdev);
    let sink = Announced::new(&t, "sink", "sink", None)?;
    let blocking = !c_bus;
    if c_bus {
        cx.note(
            "O_NONBLOCK writes and poll(POLLOUT) only: a blocking write that waits for a \
             buffer on the kernel's C bus warns (get_a_tx_buf() under wait_event)",
        );
    }
    for n in [1u32, 4] {
        let before = quiesce(&t.sim)?;
        let mut workers = Vec::new();
        for i in 0..n {
            let ept = open_ept(&t, "sinkw", RPMSG_ADDR_ANY, sink.addr, !blocking)?;
            let r = Rng::new(rng.next_u64());
            let count = p.sink_msgs / n;
            workers.push((
                format!("{n} writers, writer {i}"),
                bounded::spawn(&format!("sink{i}"), move || {
                    sink_writer(ept.file()?, count, r, blocking)
                })
                .ctx("spawn")?,
            ));
        }
        let start = Instant::now();
        let limit = plan::budget(p.sink_msgs, Duration::from_millis(20), 120);
        let done = join_all(workers, limit)?;
        let (msgs, bytes) = done
            .iter()
            .fold((0, 0), |(m, b), &(dm, db)| (m + dm, b + db));
        let after = quiesce(&t.sim)?;
        check_delta(&after, &before, SIM0, "sink.rx_msgs", msgs)?;
        check_delta(&after, &before, SIM0, "sink.rx_bytes", bytes)?;
        cx.note(format!(
            "{n} writer(s): {msgs} messages, {bytes} bytes in {:.1} s",
            start.elapsed().as_secs_f64()
        ));
    }
    cx.note(format!(
        "longest write: {} ms",
        FIGURES
            .max_write_us
            .load(std::sync::atomic::Ordering::Relaxed)
            / 1000
    ));
    if c_bus {
        cx.note(
            "no writer blocked on a stalled remote: the kernel's C bus warns when a writer waits",
        );
        return Ok(());
    }
    let check_poll = charlayer::is_rust();
    if !check_poll {
        cx.note(
            "poll beside a blocked writer not tried: the kernel's rpmsg_eptdev_poll() takes \
             ept_lock, which rpmsg_eptdev_write_iter() holds while it waits for a buffer",
        );
    }
    let source = Announced::new(&t, "stsrc", "source", None)?;
    for round in 0..p.stall_rounds {
        blocked_writer_round(&t, sink.addr, &source, round, check_poll)?;
    }
    Ok(())
}

/// The `rpmsgN` indices in use now.
fn rpmsg_indices() -> Res<Vec<u64>> {
    Ok(
        topo::indexed_children(Path::new(topo::CLASS_RPMSG), "rpmsg")
            .ctx("list /sys/class/rpmsg")?
            .iter()
            .filter_map(|n| n["rpmsg".len()..].parse().ok())
            .collect(),
    )
}

fn index_of(node: &str) -> Res<u64> {
    node.strip_prefix("rpmsg")
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| format!("odd device name {node}"))
}

/// Endpoint devices created, used and destroyed over and over, with
/// traffic on the other remote: every new device gets the lowest number
/// not in use, as upstream's ida gives it (issue 10, defect 4: the
/// numbers of destroyed devices were not used again at once).
pub fn ept_churn(cx: &Ctx) -> Res {
    const MAX_LIVE: u64 = 4;
    let p = plan::params();
    let mut rng = plan::rng("ept_churn");
    let t0 = Target::ready(SIM0)?;
    let t1 = Target::ready(SIM1)?;
    let bg = Background::start(&t1, 2, "churnbg")?;
    let (ctrl_name, ctrl) = t0.open_ctrl()?;
    let dst = t0.echo_addr()?;
    let mut highest = 0;
    for round in 0..p.churn_rounds {
        let n = rng.range(1, MAX_LIVE);
        let mut epts = Vec::new();
        for _ in 0..n {
            let in_use = rpmsg_indices()?;
            let lowest = (0..).find(|i| !in_use.contains(i)).unwrap_or(0);
            let mut e = Ept::create(
                &ctrl,
                &ctrl_name,
                &unique_name("churn"),
                RPMSG_ADDR_ANY,
                dst,
            )?;
            let idx = index_of(&e.node)?;
            highest = highest.max(idx);
            ensure!(
                idx == lowest,
                "round {round}: a new endpoint device is /dev/{}, but rpmsg{lowest} is the \
                 lowest number not in use: the numbers of destroyed devices are not used \
                 again at once",
                e.node
            );
            if rng.chance(3, 4) {
                e.open(false).ctx(format_args!("open /dev/{}", e.node))?;
                let m = payload(round, rng.size(1, MTU));
                echo(e.file()?, &m).map_err(|e| format!("round {round}: {e}"))?;
            }
            epts.push(e);
        }
        // Destroyed in random order (an Ept destroys its device on drop).
        while !epts.is_empty() {
            let i = rng.below(epts.len() as u64) as usize;
            drop(epts.swap_remove(i));
        }
        plan::add(&FIGURES.churn_rounds, 1);
    }
    let n = bg.finish()?;
    cx.note(format!(
        "{} rounds, highest device rpmsg{highest}, {n} background round trips",
        p.churn_rounds
    ));
    Ok(())
}
