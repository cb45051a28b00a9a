//! A remote that writes garbage into shared memory (`inject` in
//! Documentation/sim-control.md); run with `--faults`.
//!
//! A bus that checks everything it reads from shared memory drops a bad
//! frame, counts it and gives its buffer back; no other message and no
//! other endpoint is affected. Each case injects one fault and shows:
//! (a) echo round trips right before and after the fault on the endpoint
//!     whose reply was hit, on another endpoint and on the other remote
//!     arrive exactly, and nothing else does;
//! (b) the remote's `injected.<kind>` grew by exactly one;
//! (c) the bus's counter for that fault (`bus::COUNTERS`) grew by exactly
//!     one and its other drop and name-service counters did not move;
//! (d) no receive buffer was lost: with both sides idle the remote holds
//!     as many of the host's receive buffers (`tx_bufs_avail`) as before,
//!     and a burst of more messages than the ring has buffers arrives in
//!     full and in order.
//! The kernel's C bus keeps no counters, so (c) is skipped (with a note)
//! when it drives the devices; it is not expected to pass the rest either
//! (it loses the buffer of a frame with a bad length, for one).

use std::fs;
use std::time::{Duration, Instant};

use super::common::*;
use super::stress::{drain_source, source_msg};
use super::Ctx;
use crate::bus;
use crate::ensure;
use crate::error::{describe, Context, Res};
use crate::sim::{Sim, Stats};
use crate::sys;
use crate::topo;
use crate::uapi::RPMSG_ADDR_ANY;

/// The address the remote's malformed announcements name (`FAULT_NS_ADDR`
/// in sim/firmware): a channel appearing there was made from one.
const FAULT_NS_ADDR: u32 = 0xbad;
/// Local address of the endpoint the remote's source floods.
const FLOOD_SRC: u32 = 0x3400;
/// More messages than the host's ring has receive buffers (256).
const BURST: (u32, usize) = (600, 64);
/// How long the host may take to give back its receive buffers once idle.
const BUFFERS_BACK: Duration = Duration::from_secs(2);

/// A fault the cases inject, and the bus counter it must move.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Kind {
    name: &'static str,
    counter: &'static str,
    /// Corrupts the next message the remote sends (else: a malformed
    /// name-service message of its own).
    frame: bool,
}

const fn frame(name: &'static str, counter: &'static str) -> Kind {
    Kind {
        name,
        counter,
        frame: true,
    }
}

const fn ns(name: &'static str) -> Kind {
    Kind {
        name,
        counter: "ns_bad",
        frame: false,
    }
}

const KINDS: [Kind; 9] = [
    frame("used_len", "rx_dropped_bad_len"),
    frame("used_len_short", "rx_dropped_bad_len"),
    frame("hdr_len", "rx_dropped_bad_hdr"),
    frame("dst", "rx_dropped_no_ept"),
    ns("ns_short"),
    ns("ns_long"),
    ns("ns_unterminated"),
    ns("ns_flags"),
    ns("ns_empty"),
];

/// Everything `inject` takes; a case checks that only its own fault fired.
/// `used_id` is never injected: the kernel's virtio_ring marks a queue
/// broken when a used id is out of range (`BAD_RING()` in
/// `virtqueue_get_buf_ctx_split()`), so no bus built on it survives that.
const SIM_KINDS: [&str; 10] = [
    "used_len",
    "used_len_short",
    "hdr_len",
    "dst",
    "used_id",
    "ns_short",
    "ns_long",
    "ns_unterminated",
    "ns_flags",
    "ns_empty",
];

fn kind(name: &str) -> Res<Kind> {
    KINDS
        .into_iter()
        .find(|k| k.name == name)
        .ok_or_else(|| format!("no fault kind {name:?}"))
}

/// The bus counters a fault may move: all but the traffic counters.
fn drop_counters() -> impl Iterator<Item = &'static str> {
    bus::COUNTERS.into_iter().filter(|c| !c.ends_with("_msgs"))
}

/// What the bus must have counted for the faults that fired: the counters
/// of [`bus::COUNTERS`] that a fault may move, and any other drop counter
/// (`rx_dropped_*`) of the bus's, which none may.
fn bus_expectation<'a>(
    fired: &[(Kind, u64)],
    keys: impl IntoIterator<Item = &'a str>,
) -> Vec<(String, u64)> {
    let mut v: Vec<(String, u64)> = drop_counters()
        .map(|c| {
            let n = fired
                .iter()
                .filter(|(k, _)| k.counter == c)
                .map(|(_, n)| n)
                .sum();
            (c.to_owned(), n)
        })
        .collect();
    for key in keys {
        if key.starts_with("rx_dropped_") && !v.iter().any(|(c, _)| c == key) {
            v.push((key.to_owned(), 0));
        }
    }
    v
}

/// Channel devices of `vdev` at [`FAULT_NS_ADDR`], by device name (an
/// empty channel name would not parse as a `ChannelId`).
fn fault_channels(names: impl IntoIterator<Item = String>, vdev: &str) -> Vec<String> {
    let (prefix, suffix) = (format!("{vdev}."), format!(".{FAULT_NS_ADDR}"));
    names
        .into_iter()
        .filter(|n| n.starts_with(&prefix) && n.ends_with(&suffix))
        .collect()
}

fn list_fault_channels(vdev: &str) -> Res<Vec<String>> {
    let names = fs::read_dir(topo::BUS_DEVICES)
        .ctx("list rpmsg devices")?
        .filter_map(|e| e.ok()?.file_name().into_string().ok());
    Ok(fault_channels(names, vdev))
}

/// Sends `data` to an echo service; its reply must be the next message to
/// arrive. Whatever comes first is reported, `faulted` (the message whose
/// reply the remote corrupted) by name.
fn echo_first(f: &fs::File, data: &[u8], faulted: Option<&[u8]>) -> Res {
    send(f, data)?;
    let mut early = Vec::new();
    loop {
        let got = recv(f, REPLY).map_err(|e| {
            let mut s = format!("echo of {} bytes: {e}", data.len());
            if !early.is_empty() {
                s += &format!(" (arrived instead: {})", early.join(", "));
            }
            s
        })?;
        if got == data {
            break;
        }
        early.push(match faulted {
            Some(m) if got == m => "the faulted reply".to_owned(),
            Some(m) if got.starts_with(m) => {
                format!("the faulted reply with {} bytes more", got.len() - m.len())
            }
            _ => format!("{} bytes ({})", got.len(), difference(&got, data)),
        });
        ensure!(early.len() < 16, "endless unexpected messages");
    }
    ensure!(
        early.is_empty(),
        "before the echo of {} bytes arrived: {}",
        data.len(),
        early.join(", ")
    );
    Ok(())
}

/// Counters of both sides at one moment.
struct Snap {
    sim: Vec<Stats>,
    /// `None`: the kernel's C bus, which keeps none.
    bus: Vec<Option<Stats>>,
    fault_channels: Vec<String>,
}

/// Two remotes, echo endpoints on both and a source flooding one more.
struct Rig {
    targets: [Target; 2],
    /// On sim0: the endpoint whose reply is hit, and another one.
    victim: Ept,
    other: Ept,
    /// On sim1.
    remote1: Ept,
    source: Announced,
    flood: Ept,
    /// Whether the bus keeps counters (anything but the kernel's C bus).
    counted: bool,
}

fn open_ept(t: &Target, tag: &str, src: u32, dst: u32, nonblock: bool) -> Res<Ept> {
    let (ctrl_name, ctrl) = t.open_ctrl()?;
    let mut e = Ept::create(&ctrl, &ctrl_name, &unique_name(tag), src, dst)?;
    e.open(nonblock).ctx(format_args!("open /dev/{}", e.node))?;
    Ok(e)
}

/// Records the failure of one step; the case goes on, so that one run
/// shows everything a bus gets wrong.
fn step(fails: &mut Vec<String>, what: &str, r: Res) {
    if let Err(e) = r {
        fails.push(format!("{what}: {e}"));
    }
}

fn verdict(fails: Vec<String>) -> Res {
    ensure!(fails.is_empty(), "{}", fails.join("; "));
    Ok(())
}

impl Rig {
    fn new(cx: &Ctx) -> Res<Rig> {
        let targets = [Target::ready(SIM0)?, Target::ready(SIM1)?];
        let [t0, t1] = &targets;
        let echo0 = t0.echo_addr()?;
        let victim = open_ept(t0, "fvictim", RPMSG_ADDR_ANY, echo0, false)?;
        let other = open_ept(t0, "fother", RPMSG_ADDR_ANY, echo0, false)?;
        let remote1 = open_ept(t1, "fsim1", RPMSG_ADDR_ANY, t1.echo_addr()?, false)?;
        let source = Announced::new(t0, "fsrc", "source", None)?;
        let flood = open_ept(t0, "fflood", FLOOD_SRC, source.addr, true)?;
        let c_bus = targets
            .iter()
            .all(|t| bus::driver_of(&t.vdev).as_deref() == Some(bus::C_BUS_MODULE));
        if c_bus {
            cx.note(format!(
                "bus counters not checked: {} keeps none",
                bus::C_BUS_MODULE
            ));
        }
        Ok(Rig {
            targets,
            victim,
            other,
            remote1,
            source,
            flood,
            counted: !c_bus,
        })
    }

    fn sim0(&self) -> &Sim {
        &self.targets[0].sim
    }

    fn snapshot(&self) -> Res<Snap> {
        let mut snap = Snap {
            sim: Vec::new(),
            bus: Vec::new(),
            fault_channels: list_fault_channels(&self.targets[0].vdev)?,
        };
        for t in &self.targets {
            snap.sim.push(quiesce(&t.sim)?);
            snap.bus.push(match self.counted {
                true => Some(bus::stats(&t.vdev)?),
                false => None,
            });
        }
        Ok(snap)
    }

    /// A burst of more messages than the host's ring has buffers.
    fn burst(&self) -> Res {
        let (count, size) = BURST;
        let cmd = format!("source {} {FLOOD_SRC} {count} {size}", self.source.addr);
        self.sim0()
            .control(&cmd)
            .ctx(format_args!("{SIM0}: {cmd}"))?;
        drain_source(self.flood.file()?, count, size)
    }

    /// Healthy traffic everywhere after a fault.
    fn healthy(&self, fails: &mut Vec<String>) -> Res {
        let (victim, other) = (self.victim.file()?, self.other.file()?);
        let remote1 = self.remote1.file()?;
        step(fails, "another endpoint", echo(other, &payload(1, 200)));
        step(fails, "the other remote", echo(remote1, &payload(2, 300)));
        let (count, size) = BURST;
        step(fails, &format!("a burst of {count} x {size}"), self.burst());
        step(fails, "the same endpoint", echo(victim, &payload(3, MTU)));
        for (what, f) in [("the same endpoint", victim), ("another endpoint", other)] {
            step(
                fails,
                &format!("{what}, at the end"),
                expect_silence(f, Duration::from_millis(100)),
            );
        }
        Ok(())
    }

    /// Waits for every fault to fire and both sides to go idle with every
    /// receive buffer back with the remote, then takes the counters.
    fn settle(&self, before: &Snap, fails: &mut Vec<String>) -> Res<Snap> {
        let sim0 = self.sim0();
        let fired = wait_for("pending faults to fire", REPLY, || {
            (sim0.stats().ok()?.get("injected.pending").ok()? == 0).then_some(())
        });
        step(fails, SIM0, fired);
        for (t, b) in self.targets.iter().zip(&before.sim) {
            quiesce(&t.sim)?;
            let want = b.get("tx_bufs_avail")?;
            let mut now = None;
            let back = wait_for("receive buffers", BUFFERS_BACK, || {
                now = t.sim.stats().ok()?.get("tx_bufs_avail").ok();
                (now == Some(want)).then_some(())
            });
            if back.is_err() {
                fails.push(format!(
                    "{}: the host made {} receive buffers available to it, {want} before",
                    t.sim.name,
                    now.map_or("?".into(), |n| n.to_string())
                ));
            }
        }
        self.snapshot()
    }

    /// Checks that from `before` to `after` exactly the faults `fired`
    /// fired (on sim0) and the bus counted exactly what they call for,
    /// everything else unmoved.
    fn check(&self, cx: &Ctx, before: &Snap, after: &Snap, fired: &[(Kind, u64)]) -> Vec<String> {
        let mut fails = Vec::new();
        for (i, t) in self.targets.iter().enumerate() {
            let sim = &t.sim.name;
            for kind in SIM_KINDS {
                let want = match i {
                    0 => fired
                        .iter()
                        .filter(|(k, _)| k.name == kind)
                        .map(|(_, n)| n)
                        .sum(),
                    _ => 0,
                };
                let key = format!("injected.{kind}");
                if let Err(e) = check_delta(&after.sim[i], &before.sim[i], sim, &key, want) {
                    fails.push(e);
                }
            }
            let (Some(a), Some(b)) = (&after.bus[i], &before.bus[i]) else {
                continue;
            };
            for (counter, n) in &bus_expectation(fired, a.keys()) {
                let want = if i == 0 { *n } else { 0 };
                match a.delta(b, counter) {
                    Ok(d) if d == want => {}
                    Ok(d) => fails.push(format!(
                        "bus {}: {counter} grew by {d}, expected {want}",
                        t.vdev
                    )),
                    Err(e) => fails.push(format!("bus {}: {e}", t.vdev)),
                }
            }
            let traffic = ["rx_msgs", "tx_msgs"].map(|c| a.delta(b, c).unwrap_or(0));
            cx.note(format!(
                "bus {}: rx_msgs +{}, tx_msgs +{}",
                t.vdev, traffic[0], traffic[1]
            ));
        }
        let new: Vec<&String> = after
            .fault_channels
            .iter()
            .filter(|c| !before.fault_channels.contains(c))
            .collect();
        if !new.is_empty() {
            fails.push(format!(
                "channel(s) created from malformed announcements: {new:?}"
            ));
        }
        fails
    }
}

/// One fault, hit by an echo reply (frame faults) or sent on its own
/// (name-service faults), between healthy round trips.
fn one_fault(cx: &Ctx, name: &str) -> Res {
    let kind = kind(name)?;
    let rig = Rig::new(cx)?;
    let before = rig.snapshot()?;
    let mut fails = Vec::new();
    let victim = rig.victim.file()?;
    step(
        &mut fails,
        "before the fault",
        echo(victim, &payload(4, 64)),
    );
    rig.sim0()
        .inject(kind.name)
        .ctx(format_args!("{SIM0}: inject {}", kind.name))?;
    let faulted = if kind.frame {
        // With the remote idle, the echo of this is the next message it
        // sends: the fault hits the reply.
        let m = payload(5, 100);
        send(victim, &m)?;
        Some(m)
    } else {
        // The malformed announcement goes out by itself.
        let key = format!("injected.{name}");
        let sim0 = rig.sim0();
        let fired = wait_for(&format!("{SIM0} {key} to grow"), REPLY, || {
            (sim0.stats().ok()?.delta(&before.sim[0], &key).ok()? > 0).then_some(())
        });
        step(&mut fails, "the fault", fired);
        None
    };
    step(
        &mut fails,
        "right after the fault",
        echo_first(victim, &payload(6, 64), faulted.as_deref()),
    );
    rig.healthy(&mut fails)?;
    let after = rig.settle(&before, &mut fails)?;
    fails.extend(rig.check(cx, &before, &after, &[(kind, 1)]));
    verdict(fails)
}

macro_rules! fault_cases {
    ($($name:ident),* $(,)?) => {
        $(
            pub fn $name(cx: &Ctx) -> Res {
                one_fault(cx, stringify!($name))
            }
        )*
    };
}

fault_cases!(
    used_len,
    used_len_short,
    hdr_len,
    dst,
    ns_short,
    ns_long,
    ns_unterminated,
    ns_flags,
    ns_empty,
);

fn le32(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

/// Many faults of every kind while the remote floods an endpoint: every
/// message no frame fault hit arrives, intact and in order.
pub fn storm(cx: &Ctx) -> Res {
    const COUNT: u32 = 4000;
    const SIZE: usize = 64;
    const FAULTS: usize = 3 * KINDS.len();
    /// One fault per this many messages received.
    const EVERY: usize = 100;
    /// Injecting stops when the flood is this close to its end, so that
    /// every frame fault still finds a message to hit.
    const MARGIN: u64 = 500;
    const STALL: Duration = Duration::from_secs(10);

    let rig = Rig::new(cx)?;
    let before = rig.snapshot()?;
    let (sim0, f) = (rig.sim0(), rig.flood.file()?);
    let cmd = format!("source {} {FLOOD_SRC} {COUNT} {SIZE}", rig.source.addr);
    sim0.control(&cmd).ctx(format_args!("{SIM0}: {cmd}"))?;

    let mut seqs: Vec<u32> = Vec::new();
    let (mut injected, mut closed) = (0, false);
    let mut buf = vec![0u8; 4096];
    let mut progress = Instant::now();
    loop {
        if !closed && injected < FAULTS && seqs.len() >= injected * EVERY {
            if sim0.stats()?.get("source.pending")? <= MARGIN {
                closed = true;
            } else {
                let k = KINDS[injected % KINDS.len()].name;
                match sim0.inject(k) {
                    Ok(()) => injected += 1,
                    // Sixteen pending: try again after more messages.
                    Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {}
                    Err(e) => return Err(format!("{SIM0}: inject {k}: {}", describe(&e))),
                }
            }
        }
        match sys::read(f, &mut buf) {
            Ok(n) => {
                let m = &buf[..n];
                ensure!(
                    n >= 4,
                    "a message of {n} bytes after {} messages",
                    seqs.len()
                );
                let seq = le32(m);
                let want = source_msg(seq, SIZE);
                ensure!(
                    m == want.as_slice(),
                    "message {seq}: {}",
                    difference(m, &want)
                );
                if let Some(&last) = seqs.last() {
                    ensure!(seq > last, "message {seq} after message {last}");
                }
                seqs.push(seq);
                progress = Instant::now();
            }
            Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => {
                if sys::poll(f, libc::POLLIN, Duration::from_millis(300)).ctx("poll")? != 0 {
                    continue;
                }
                let st = sim0.stats()?;
                if st.get("source.pending")? == 0 && st.get("injected.pending")? == 0 {
                    // The remote is done; let the host deliver what it holds.
                    if sys::poll(f, libc::POLLIN, Duration::from_millis(500)).ctx("poll")? == 0 {
                        break;
                    }
                    continue;
                }
                ensure!(
                    progress.elapsed() < STALL,
                    "stalled after {} messages (remote: source.pending {}, injected.pending {})",
                    seqs.len(),
                    st.get("source.pending")?,
                    st.get("injected.pending")?
                );
            }
            Err(e) => {
                return Err(format!(
                    "read after {} messages: {}",
                    seqs.len(),
                    describe(&e)
                ))
            }
        }
    }

    let mut fails = Vec::new();
    rig.healthy(&mut fails)?;
    let after = rig.settle(&before, &mut fails)?;
    // What fired, by the remote's account; it must be all that was asked.
    let mut fired = Vec::new();
    for k in KINDS {
        fired.push((
            k,
            after.sim[0].delta(&before.sim[0], &format!("injected.{}", k.name))?,
        ));
    }
    let total: u64 = fired.iter().map(|(_, n)| n).sum();
    if total != injected as u64 {
        fails.push(format!("{injected} faults injected, {total} fired"));
    }
    let hit: u64 = fired.iter().filter(|(k, _)| k.frame).map(|(_, n)| n).sum();
    let want = u64::from(COUNT) - hit;
    if seqs.len() as u64 != want {
        fails.push(format!(
            "{} of {COUNT} messages arrived, expected the {want} no fault hit",
            seqs.len()
        ));
    }
    cx.note(format!(
        "{injected} faults, {hit} of them on flood messages; {} messages arrived in order",
        seqs.len()
    ));
    fails.extend(rig.check(cx, &before, &after, &fired));
    verdict(fails)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_known_to_the_sim() {
        for k in KINDS {
            assert!(SIM_KINDS.contains(&k.name), "{}", k.name);
            assert!(bus::COUNTERS.contains(&k.counter), "{}", k.counter);
            assert_eq!(k.frame, !k.name.starts_with("ns_"));
            assert_eq!(kind(k.name), Ok(k));
        }
        assert!(kind("used_id").is_err(), "used_id breaks virtio_ring");
    }

    #[test]
    fn expectations() {
        let owned = |v: &[(&str, u64)]| -> Vec<(String, u64)> {
            v.iter().map(|&(c, n)| (c.to_owned(), n)).collect()
        };
        let e = bus_expectation(&[(kind("used_len").unwrap(), 1)], []);
        assert_eq!(
            e,
            owned(&[
                ("rx_dropped_bad_len", 1),
                ("rx_dropped_bad_hdr", 0),
                ("rx_dropped_no_ept", 0),
                ("ns_bad", 0),
                ("ns_created", 0),
                ("ns_destroyed", 0),
            ])
        );
        let fired: Vec<(Kind, u64)> = KINDS.into_iter().map(|k| (k, 2)).collect();
        // A drop counter of the bus's own must not move either.
        let keys = [
            "rx_msgs",
            "rx_dropped_bad_len",
            "rx_dropped_cb_error",
            "buffers",
        ];
        let e = bus_expectation(&fired, keys);
        assert_eq!(
            e,
            owned(&[
                ("rx_dropped_bad_len", 4),
                ("rx_dropped_bad_hdr", 2),
                ("rx_dropped_no_ept", 2),
                ("ns_bad", 10),
                ("ns_created", 0),
                ("ns_destroyed", 0),
                ("rx_dropped_cb_error", 0),
            ])
        );
    }

    #[test]
    fn channels_at_the_fault_address() {
        let names = [
            "virtio0.rpmsg-fault-flags.-1.2989",
            "virtio0..-1.2989",
            "virtio1.rpmsg-fault-flags.-1.2989",
            "virtio0.rpmsg-raw.-1.1025",
            "virtio0.x.-1.12989",
            "virtio10.x.-1.2989",
        ]
        .map(String::from);
        assert_eq!(
            fault_channels(names, "virtio0"),
            ["virtio0.rpmsg-fault-flags.-1.2989", "virtio0..-1.2989"]
        );
    }
}
