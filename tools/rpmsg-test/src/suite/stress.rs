//! Concurrency and volume: many endpoints at once, a remote flooding one
//! endpoint, and both remotes busy at the same time.
//!
//! The stress run (`rpmsg-test --stress short|full`, `make stress`) lives
//! in the submodules: seeded, bounded in count and time, and reporting
//! its figures at the end (Documentation/stress.md).

mod cycles;
mod faultmix;
mod hostile;
mod integrity;
mod plan;
mod rng;
mod traffic;

use std::fs::File;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::common::*;
use super::{slow, Case, Ctx};
use crate::bounded;
use crate::ensure;
use crate::error::{describe, Context, Res};
use crate::sys;
use crate::uapi::RPMSG_ADDR_ANY;

/// Messages in flight per endpoint.
const WINDOW: u32 = 8;
/// A flood that makes no progress for this long has stalled.
const STALL: Duration = Duration::from_secs(10);

/// Message `seq` of stream `ep`: both numbers up front, then filler of a
/// length that varies with `seq`.
fn stream_msg(ep: u32, seq: u32) -> Vec<u8> {
    let len = 8 + (seq as usize * 7) % 120;
    let mut m = payload(ep.wrapping_mul(100_003).wrapping_add(seq), len);
    m[..4].copy_from_slice(&ep.to_le_bytes());
    m[4..8].copy_from_slice(&seq.to_le_bytes());
    m
}

fn le32(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

/// Pipelined echo traffic on one endpoint: every reply must be the next
/// message sent, so loss, duplication, reordering and cross-talk between
/// endpoints all fail.
fn echo_stream(f: &File, ep: u32, count: u32) -> Res {
    let (mut sent, mut got) = (0, 0);
    while got < count {
        while sent < count && sent - got < WINDOW {
            send(f, &stream_msg(ep, sent)).map_err(|e| format!("endpoint {ep}: {e}"))?;
            sent += 1;
        }
        let m = recv(f, REPLY).map_err(|e| format!("endpoint {ep}, reply {got}: {e}"))?;
        let want = stream_msg(ep, got);
        if m != want {
            return Err(if m.len() >= 8 {
                format!(
                    "endpoint {ep}: expected message {got}, got endpoint {} message {}: {}",
                    le32(&m),
                    le32(&m[4..]),
                    difference(&m, &want)
                )
            } else {
                format!(
                    "endpoint {ep}: expected message {got}, got {} bytes",
                    m.len()
                )
            });
        }
        got += 1;
    }
    expect_silence(f, Duration::from_millis(100)).map_err(|e| format!("endpoint {ep}: {e}"))
}

/// Runs `echo_stream` on every endpoint, each from its own thread, all
/// released at once. Returns the time the traffic took.
fn run_streams(epts: Vec<Ept>, count: u32, timeout: Duration) -> Res<Duration> {
    let mut workers = Vec::new();
    let mut starts = Vec::new();
    for (i, ept) in epts.into_iter().enumerate() {
        let (go, wait_go) = mpsc::channel::<()>();
        let b = bounded::spawn(&format!("stream{i}"), move || {
            // A closed channel means the case gave up before starting.
            wait_go
                .recv_timeout(REPLY)
                .map_err(|_| "not started".to_owned())?;
            echo_stream(ept.file()?, i as u32, count)
        })
        .ctx("spawn")?;
        workers.push(b);
        starts.push(go);
    }
    let start = Instant::now();
    for go in starts {
        let _ = go.send(());
    }
    let mut errors = Vec::new();
    for (i, w) in workers.into_iter().enumerate() {
        match w.wait(timeout.saturating_sub(start.elapsed())) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => errors.push(e),
            Err(h) => errors.push(format!("endpoint {i}: {h}")),
        }
    }
    ensure!(errors.is_empty(), "{}", errors.join("; "));
    Ok(start.elapsed())
}

pub fn parallel_16(cx: &Ctx) -> Res {
    const THREADS: u32 = 16;
    const MSGS: u32 = 200;
    let t = Target::ready(SIM0)?;
    let (ctrl_name, ctrl) = t.open_ctrl()?;
    let dst = t.echo_addr()?;
    let mut epts = Vec::new();
    for i in 0..THREADS {
        let mut e = Ept::create(
            &ctrl,
            &ctrl_name,
            &unique_name(&format!("par{i}")),
            RPMSG_ADDR_ANY,
            dst,
        )?;
        e.open(false).ctx(format_args!("open /dev/{}", e.node))?;
        epts.push(e);
    }
    let before = quiesce(&t.sim)?;
    let took = run_streams(epts, MSGS, Duration::from_secs(90))?;
    cx.note(format!(
        "{} round trips in {:.2} s",
        THREADS * MSGS,
        took.as_secs_f64()
    ));
    let after = quiesce(&t.sim)?;
    check_delta(
        &after,
        &before,
        SIM0,
        "echo.rx_msgs",
        u64::from(THREADS * MSGS),
    )?;
    check_delta(
        &after,
        &before,
        SIM0,
        "echo.tx_msgs",
        u64::from(THREADS * MSGS),
    )
}

pub fn two_remotes(cx: &Ctx) -> Res {
    const MSGS: u32 = 300;
    let targets = [Target::ready(SIM0)?, Target::ready(SIM1)?];
    let mut epts = Vec::new();
    let mut befores = Vec::new();
    for t in &targets {
        let (ctrl_name, ctrl) = t.open_ctrl()?;
        let mut e = Ept::create(
            &ctrl,
            &ctrl_name,
            &unique_name("two"),
            RPMSG_ADDR_ANY,
            t.echo_addr()?,
        )?;
        e.open(false).ctx(format_args!("open /dev/{}", e.node))?;
        cx.note(format!(
            "{}: {} via {ctrl_name} ({})",
            t.sim.name, e.node, t.vdev
        ));
        epts.push(e);
    }
    for t in &targets {
        befores.push(quiesce(&t.sim)?);
    }
    run_streams(epts, MSGS, Duration::from_secs(90))?;
    // Each remote saw exactly its own endpoint's traffic.
    for (t, before) in targets.iter().zip(&befores) {
        let after = quiesce(&t.sim)?;
        check_delta(&after, before, &t.sim.name, "echo.rx_msgs", u64::from(MSGS))?;
        check_delta(&after, before, &t.sim.name, "echo.tx_msgs", u64::from(MSGS))?;
    }
    Ok(())
}

/// Message `seq` of a `source` run with `size`-byte messages: `seq`
/// little-endian in bytes 0..4, byte `i >= 4` is `(seq + i) as u8`
/// (Documentation/sim-control.md).
pub(super) fn source_msg(seq: u32, size: usize) -> Vec<u8> {
    let mut m: Vec<u8> = (0..size)
        .map(|i| seq.wrapping_add(i as u32) as u8)
        .collect();
    m[..4].copy_from_slice(&seq.to_le_bytes());
    m
}

/// Reads `count` source messages in order from a non-blocking endpoint.
pub(super) fn drain_source(f: &File, count: u32, size: usize) -> Res {
    let mut buf = vec![0u8; 4096];
    let mut seq = 0;
    while seq < count {
        match sys::read(f, &mut buf) {
            Ok(n) => {
                let want = source_msg(seq, size);
                ensure!(
                    buf[..n] == want[..],
                    "message {seq}: {}",
                    difference(&buf[..n], &want)
                );
                seq += 1;
            }
            Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => {
                let ev = sys::poll(f, libc::POLLIN, STALL).ctx("poll")?;
                ensure!(ev != 0, "stalled after {seq} of {count} messages");
                ensure!(
                    ev & libc::POLLIN != 0,
                    "poll returned {ev:#x} after {seq} messages"
                );
            }
            Err(e) => return Err(format!("read after {seq} messages: {}", describe(&e))),
        }
    }
    Ok(())
}

/// Fixed local address the source sends to.
const FLOOD_SRC: u32 = 0x3300;

pub fn source_flood(cx: &Ctx) -> Res {
    let t = Target::ready(SIM0)?;
    let source = Announced::new(&t, "src", "source", None)?;
    let (ctrl_name, ctrl) = t.open_ctrl()?;
    let mut ept = Ept::create(
        &ctrl,
        &ctrl_name,
        &unique_name("flood"),
        FLOOD_SRC,
        source.addr,
    )?;
    ept.open(true).ctx("open")?;
    let f = ept.file()?;
    let before = quiesce(&t.sim)?;
    let runs = [(10_000u32, 64usize), (500, MTU)];
    for (count, size) in runs {
        let start = Instant::now();
        let cmd = format!("source {} {FLOOD_SRC} {count} {size}", source.addr);
        t.sim.control(&cmd).ctx(format_args!("{SIM0}: {cmd}"))?;
        drain_source(f, count, size).map_err(|e| format!("{count} x {size} bytes: {e}"))?;
        cx.note(format!(
            "{count} x {size} bytes in {:.2} s",
            start.elapsed().as_secs_f64()
        ));
    }
    expect_silence(f, Duration::from_millis(200))?;
    let after = quiesce(&t.sim)?;
    let msgs: u64 = runs.iter().map(|&(c, _)| u64::from(c)).sum();
    let bytes: u64 = runs.iter().map(|&(c, s)| u64::from(c) * s as u64).sum();
    check_delta(&after, &before, SIM0, "source.tx_msgs", msgs)?;
    check_delta(&after, &before, SIM0, "source.tx_bytes", bytes)?;
    // Nothing else left the remote meanwhile.
    check_delta(&after, &before, SIM0, "tx_msgs", msgs)
}

pub use hostile::{hostile_child, Upstream};
pub use plan::{config, configure, Config, Level};

/// The stress cases, in the order they run: volume first, then the cases
/// that tear things down, the unload/reload cycles last but one, and the
/// figures at the end. Their limits grow with the level's counts.
pub fn stress_cases() -> Vec<Case> {
    let p = plan::params();
    let secs = |units: u32, ms: u64, floor: u64| {
        plan::budget(units, Duration::from_millis(ms), floor).as_secs()
    };
    let mut cases = vec![
        slow("stress_begin", 120, begin),
        slow(
            "stress_echo_integrity",
            secs(p.echo_per_ept + p.source_per_stream, 60, 300),
            integrity::echo_integrity,
        ),
        slow(
            "stress_sink_stream",
            secs(2 * p.sink_msgs + 400 * p.stall_rounds, 30, 300),
            integrity::sink_stream,
        ),
        slow(
            "stress_ept_churn",
            secs(p.churn_rounds, 1500, 300),
            integrity::ept_churn,
        ),
        slow(
            "stress_fault_storm",
            secs(p.faults, 400, 300),
            faultmix::fault_storm,
        ),
        slow(
            "stress_hostile_userspace",
            secs(p.hostile_ops, 60, 300),
            hostile::hostile,
        ),
        slow(
            "stress_unbind_bind",
            secs(p.unbind_cycles, 8000, 300),
            cycles::unbind_bind,
        ),
        slow(
            "stress_crash_recovery",
            secs(p.crash_cycles, 15_000, 300),
            cycles::crash_recovery,
        ),
        slow(
            "stress_rmmod_insmod",
            secs(p.reload_cycles, 30_000, 300),
            cycles::reload,
        ),
    ];
    cases.push(slow("stress_end", 120, end));
    cases
}

fn check_ready() -> Res {
    for sim in SIMS {
        let t = Target::ready(sim)?;
        let (ctrl_name, ctrl) = t.open_ctrl()?;
        let mut e = Ept::create(
            &ctrl,
            &ctrl_name,
            &unique_name("ready"),
            RPMSG_ADDR_ANY,
            t.echo_addr()?,
        )?;
        e.open(false).ctx(format_args!("open /dev/{}", e.node))?;
        echo(e.file()?, &payload(1, 64)).map_err(|e| format!("{sim}: {e}"))?;
    }
    Ok(())
}

/// Records the seed and the slab usage before anything ran.
fn begin(cx: &Ctx) -> Res {
    let c = plan::config();
    cx.note(format!("level {}, seed {}", c.level.name(), c.seed));
    check_ready()?;
    let slab = plan::slab_kb().ok_or("no Slab: in /proc/meminfo")?;
    plan::FIGURES
        .slab_before_kb
        .store(slab, std::sync::atomic::Ordering::Relaxed);
    Ok(())
}

/// Prints the figures (one `figure <name>: <value>` note each); fails if
/// a healthy endpoint lost anything.
fn end(cx: &Ctx) -> Res {
    let ready = check_ready();
    for sim in SIMS {
        quiesce(&crate::sim::Sim::new(sim))?;
    }
    let slab = plan::slab_kb().ok_or("no Slab: in /proc/meminfo")?;
    plan::FIGURES
        .slab_after_kb
        .store(slab, std::sync::atomic::Ordering::Relaxed);
    let c = plan::config();
    cx.note(format!("figure seed: {}", c.seed));
    cx.note(format!("figure level: {}", c.level.name()));
    for (name, value) in plan::FIGURES.lines() {
        cx.note(format!("figure {name}: {value}"));
    }
    ready?;
    let lost = plan::FIGURES
        .lost
        .load(std::sync::atomic::Ordering::Relaxed);
    ensure!(lost == 0, "{lost} messages lost on healthy endpoints");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stress_cases_are_bounded() {
        let cases = stress_cases();
        assert_eq!(cases.first().map(|c| c.name), Some("stress_begin"));
        assert_eq!(cases.last().map(|c| c.name), Some("stress_end"));
        for c in &cases {
            assert!(c.name.starts_with("stress_"));
            assert!(c.timeout >= Duration::from_secs(60));
            // Short enough for make check's guests, which allow 480 s in all
            // (the level in unit tests is short).
            assert!(c.timeout <= Duration::from_secs(3600), "{}", c.name);
        }
    }

    #[test]
    fn source_messages() {
        // Built independently from the documented layout.
        let mut m = vec![0u8; 64];
        m[..4].copy_from_slice(&300u32.to_le_bytes());
        for (i, b) in m.iter_mut().enumerate().skip(4) {
            *b = ((300 + i) % 256) as u8;
        }
        assert_eq!(source_msg(300, 64), m);
        assert_ne!(source_msg(301, 64), m);
        assert_eq!(source_msg(0, 4), 0u32.to_le_bytes());
        assert_eq!(source_msg(0x0102_0304, 5), [4, 3, 2, 1, 8]);
    }

    #[test]
    fn stream_messages_identify_themselves() {
        let m = stream_msg(15, 199);
        assert_eq!((le32(&m), le32(&m[4..])), (15, 199));
        assert!(m.len() >= 8 && m.len() < 128);
        assert_ne!(stream_msg(1, 2), stream_msg(2, 1));
    }
}
