//! Thousands of remote faults (`inject`, Documentation/sim-control.md)
//! mixed with healthy traffic: sim0 floods an endpoint while frame and
//! name-service faults hit it, sim1 echoes on two endpoints meanwhile.
//! Every message no fault hit arrives intact and in order, sim1 loses
//! nothing, the bus counts every dropped frame and malformed
//! announcement, and no receive buffer is lost.

use std::fs;
use std::time::{Duration, Instant};

use super::plan::{self, FIGURES};
use super::traffic::*;
use super::{drain_source, source_msg};
use crate::bus;
use crate::ensure;
use crate::error::{describe, Context, Res};
use crate::sim::Stats;
use crate::suite::common::*;
use crate::suite::Ctx;
use crate::sys;
use crate::topo;

/// Local address of the flooded endpoint.
const FLOOD_SRC: u32 = 0x3700;
/// Messages per source run; faults are injected while it runs.
const RUN: u32 = 1500;
/// Injecting stops when a run is this close to its end, so that most
/// frame faults still find a message of the run to hit (the remote may
/// send a ring's worth, 256, between a look at its counters and an
/// injection). Faults still pending at the end hit the next run.
const MARGIN: u64 = 400;
/// A flood that makes no progress for this long has stalled.
const STALL: Duration = Duration::from_secs(15);
/// Malformed announcements name this address (`FAULT_NS_ADDR` of the sim).
const FAULT_NS_ADDR: &str = ".2989";

/// Fault kinds and the bus counter each must move; `used_id` is never
/// injected (the kernel's virtio_ring marks the queue broken).
const KINDS: [(&str, &str); 9] = [
    ("used_len", "rx_dropped_bad_len"),
    ("used_len_short", "rx_dropped_bad_len"),
    ("hdr_len", "rx_dropped_bad_hdr"),
    ("dst", "rx_dropped_no_ept"),
    ("ns_short", "ns_bad"),
    ("ns_long", "ns_bad"),
    ("ns_unterminated", "ns_bad"),
    ("ns_flags", "ns_bad"),
    ("ns_empty", "ns_bad"),
];

fn is_frame(kind: &str) -> bool {
    !kind.starts_with("ns_")
}

/// What the bus must have counted for the faults the remote applied:
/// (counter, growth), every drop counter of the bus included.
fn expected(fired: &[u64; 9], bus_keys: &[String]) -> Vec<(String, u64)> {
    let mut v: Vec<(String, u64)> = Vec::new();
    for (i, (_, counter)) in KINDS.iter().enumerate() {
        match v.iter_mut().find(|(c, _)| c == counter) {
            Some((_, n)) => *n += fired[i],
            None => v.push(((*counter).to_owned(), fired[i])),
        }
    }
    for k in bus_keys {
        if (k.starts_with("rx_dropped_") || k.starts_with("ns_")) && !v.iter().any(|(c, _)| c == k)
        {
            v.push((k.clone(), 0));
        }
    }
    v
}

fn applied(after: &Stats, before: &Stats) -> Res<[u64; 9]> {
    let mut out = [0; 9];
    for (i, (kind, _)) in KINDS.iter().enumerate() {
        out[i] = after.delta(before, &format!("injected.{kind}"))?;
    }
    Ok(out)
}

fn fault_channels(vdev: &str) -> Res<Vec<String>> {
    Ok(fs::read_dir(topo::BUS_DEVICES)
        .ctx("list rpmsg devices")?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with(&format!("{vdev}.")) && n.ends_with(FAULT_NS_ADDR))
        .collect())
}

fn le32(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

/// One source run of `RUN` messages with faults injected while it runs;
/// returns (faults injected, messages received).
fn storm_run(
    t: &Target,
    source: u32,
    f: &fs::File,
    rng: &mut super::rng::Rng,
    budget: u32,
) -> Res<(u32, u64)> {
    let size = rng.size(16, MTU);
    let every = rng.range(3, 12) as usize;
    let cmd = format!("source {source} {FLOOD_SRC} {RUN} {size}");
    t.sim.control(&cmd).ctx(format_args!("{SIM0}: {cmd}"))?;
    let (mut injected, mut closed, mut got) = (0u32, false, 0usize);
    let mut last: Option<u32> = None;
    let mut buf = vec![0u8; 4096];
    let mut progress = Instant::now();
    loop {
        if !closed && injected < budget && got >= injected as usize * every {
            if t.sim.stats()?.get("source.pending")? <= MARGIN {
                closed = true;
            } else {
                let kind = rng.pick(&KINDS).0;
                match t.sim.inject(kind) {
                    Ok(()) => {
                        injected += 1;
                        plan::add(&FIGURES.faults_injected, 1);
                    }
                    // Sixteen pending: try again after more messages.
                    Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {}
                    Err(e) => return Err(format!("inject {kind}: {}", describe(&e))),
                }
            }
        }
        match sys::read(f, &mut buf) {
            Ok(n) => {
                ensure!(n >= 4, "a message of {n} bytes after {got} messages");
                let seq = le32(&buf);
                let want = source_msg(seq, size);
                ensure!(
                    buf[..n] == want[..],
                    "message {seq}: {}",
                    difference(&buf[..n], &want)
                );
                if let Some(l) = last {
                    ensure!(seq > l, "message {seq} after message {l}");
                }
                last = Some(seq);
                got += 1;
                progress = Instant::now();
            }
            Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => {
                if sys::poll(f, libc::POLLIN, Duration::from_millis(300)).ctx("poll")? != 0 {
                    continue;
                }
                let st = t.sim.stats()?;
                if st.get("source.pending")? == 0 {
                    // The remote is done; let the host deliver what it holds.
                    if sys::poll(f, libc::POLLIN, Duration::from_millis(500)).ctx("poll")? == 0 {
                        break;
                    }
                    continue;
                }
                ensure!(
                    progress.elapsed() < STALL,
                    "stalled after {got} messages (remote: source.pending {}, injected.pending {})",
                    st.get("source.pending")?,
                    st.get("injected.pending")?
                );
            }
            Err(e) => return Err(format!("read after {got} messages: {}", describe(&e))),
        }
    }
    plan::add(&FIGURES.source_checked, got as u64);
    Ok((injected, got as u64))
}

pub fn fault_storm(cx: &Ctx) -> Res {
    if !plan::config().faults {
        cx.skip(
            "known upstream failure: the kernel's C bus does not survive a misbehaving \
             remote (it loses the buffer of a frame with a bad length and creates channels \
             from malformed announcements); stacks with opt:--faults run this",
        );
        return Ok(());
    }
    let p = plan::params();
    let mut rng = plan::rng("fault_storm");
    let t0 = Target::ready(SIM0)?;
    let t1 = Target::ready(SIM1)?;
    let counted = !bus::is_c_bus(&t0.vdev);
    let source = Announced::new(&t0, "fsrc", "source", None)?;
    let flood = open_ept(&t0, "fflood", FLOOD_SRC, source.addr, true)?;
    let f = flood.file()?;
    let before_sim = [quiesce(&t0.sim)?, quiesce(&t1.sim)?];
    let before_bus = if counted {
        Some(bus::stats(&t0.vdev)?)
    } else {
        None
    };
    let before_channels = fault_channels(&t0.vdev)?;
    let bg = Background::start(&t1, 2, "faultbg")?;

    let (mut injected, mut received, mut runs) = (0u32, 0u64, 0u64);
    let start = Instant::now();
    // Until every fault asked for was injected and has hit a message.
    while injected < p.faults || t0.sim.stats()?.get("injected.pending")? > 0 {
        let (i, r) = storm_run(&t0, source.addr, f, &mut rng, p.faults - injected)
            .map_err(|e| format!("run {runs}: {e}"))?;
        injected += i;
        received += r;
        runs += 1;
        ensure!(runs < 10_000, "faults are not being taken");
    }
    let n = bg.finish()?;

    let mut fails = Vec::new();
    // Healthy traffic on sim0 after the storm: a burst of more messages
    // than the ring has buffers, in full and in order.
    let cmd = format!("source {} {FLOOD_SRC} 600 64", source.addr);
    t0.sim.control(&cmd).ctx(format_args!("{SIM0}: {cmd}"))?;
    if let Err(e) = drain_source(f, 600, 64) {
        fails.push(format!("a burst after the storm: {e}"));
    }
    let after = [quiesce(&t0.sim)?, quiesce(&t1.sim)?];
    let fired = applied(&after[0], &before_sim[0])?;
    let total: u64 = fired.iter().sum();
    let frames: u64 = KINDS
        .iter()
        .zip(fired)
        .filter(|((k, _), _)| is_frame(k))
        .map(|(_, n)| n)
        .sum();
    if total != u64::from(injected) {
        fails.push(format!("{injected} faults injected, {total} applied"));
    }
    let want = runs * u64::from(RUN) - frames;
    if received != want {
        fails.push(format!(
            "{received} flood messages arrived, expected the {want} no fault hit"
        ));
    }
    if applied(&after[1], &before_sim[1])?.iter().sum::<u64>() != 0 {
        fails.push("sim1 applied faults".into());
    }
    if let Some(b) = &before_bus {
        let a = bus::stats(&t0.vdev)?;
        let keys: Vec<String> = a.keys().map(str::to_owned).collect();
        let mut accounted = 0;
        for (counter, n) in expected(&fired, &keys) {
            match a.delta(b, &counter) {
                Ok(d) if d == n => accounted += d,
                Ok(d) => fails.push(format!(
                    "bus {}: {counter} grew by {d}, expected {n}",
                    t0.vdev
                )),
                Err(e) => fails.push(e),
            }
        }
        plan::add(&FIGURES.faults_accounted, accounted);
    }
    for (i, t) in [&t0, &t1].into_iter().enumerate() {
        let want = before_sim[i].get("tx_bufs_avail")?;
        let mut now = None;
        let back = wait_for("receive buffers", Duration::from_secs(5), || {
            now = t.sim.stats().ok()?.get("tx_bufs_avail").ok();
            (now == Some(want)).then_some(())
        });
        if back.is_err() {
            fails.push(format!(
                "{}: the host made {now:?} receive buffers available, {want} before: buffers lost",
                t.sim.name
            ));
        }
    }
    let new: Vec<String> = fault_channels(&t0.vdev)?
        .into_iter()
        .filter(|c| !before_channels.contains(c))
        .collect();
    if !new.is_empty() {
        fails.push(format!(
            "channels created from malformed announcements: {new:?}"
        ));
    }
    cx.note(format!(
        "{injected} faults ({frames} on frames) in {runs} runs of {RUN} messages, \
         {received} messages arrived in order, {n} round trips on sim1, {:.1} s",
        start.elapsed().as_secs_f64()
    ));
    ensure!(fails.is_empty(), "{}", fails.join("; "));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expectations() {
        let mut fired = [0u64; 9];
        fired[0] = 2; // used_len
        fired[1] = 3; // used_len_short
        fired[8] = 4; // ns_empty
        let keys = [
            "rx_msgs",
            "rx_dropped_bad_len",
            "rx_dropped_cb_error",
            "ns_bad",
        ]
        .map(String::from);
        let e = expected(&fired, &keys);
        let get = |c: &str| e.iter().find(|(k, _)| k == c).map(|(_, n)| *n);
        assert_eq!(get("rx_dropped_bad_len"), Some(5));
        assert_eq!(get("rx_dropped_bad_hdr"), Some(0));
        assert_eq!(get("ns_bad"), Some(4));
        assert_eq!(
            get("rx_dropped_cb_error"),
            Some(0),
            "no other drop may move"
        );
        assert_eq!(get("rx_msgs"), None);
        assert!(is_frame("dst") && !is_frame("ns_flags"));
    }
}
