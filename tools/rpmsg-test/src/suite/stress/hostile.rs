//! Hostile userspace: several processes doing random open, ioctl, read,
//! write, poll and close on the control and endpoint devices, with random
//! arguments (bad names, addresses, sizes, NULL and unmapped buffers).
//! Any answer is allowed but a kernel-internal errno (>= 512) or a call
//! that hangs; the kernel must not complain (judged from its log), and
//! both remotes must work afterwards.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use super::plan::{self, FIGURES};
use super::rng::Rng;
use super::traffic::open_ept;
use crate::bus;
use crate::charlayer;
use crate::ensure;
use crate::error::{errno_name, Context, Res};
use crate::suite::common::*;
use crate::suite::Ctx;
use crate::sys::{self, NoAccess};
use crate::topo::{self, ChannelId};
use crate::uapi::{self, EndpointInfo, RPMSG_ADDR_ANY, RPMSG_NAME_SIZE};

/// Names of everything a hostile process creates start with this.
const PREFIX: &str = "rt-hx-";
/// No single call may take longer (all descriptors are non-blocking),
/// stalls of the whole guest left out.
const OP_BOUND: Duration = Duration::from_secs(5);
/// An operation still running after this long has its task sampled
/// ([`where_blocked`]), which a failure report then shows.
const OP_SAMPLE_AFTER: Duration = Duration::from_secs(2);
const MAX_FDS: usize = 16;

/// The rpmsg device nodes there are now, by their class devices: a
/// listing of /dev would hold the directory's lock against devtmpfs's
/// thread, which every device the processes create or destroy waits for.
fn nodes() -> Vec<String> {
    let Ok(dir) = fs::read_dir("/sys/class/rpmsg") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| topo::is_indexed(n, "rpmsg") || topo::is_indexed(n, "rpmsg_ctrl"))
        .collect()
}

fn random_info(rng: &mut Rng, c_bus: bool) -> EndpointInfo {
    let mut info = EndpointInfo::new("x", 0, 0).expect("a valid name");
    info.name = [0; RPMSG_NAME_SIZE];
    let name = if rng.chance(1, 4) {
        // All 32 bytes, no NUL: the kernel cuts it to 31.
        let mut n = PREFIX.as_bytes().to_vec();
        while n.len() < RPMSG_NAME_SIZE {
            // Printable, and no '/', which device names cannot hold.
            let c = rng.range(u64::from(b'!'), u64::from(b'~')) as u8;
            n.push(if c == b'/' { b'_' } else { c });
        }
        n
    } else {
        format!("{PREFIX}{}", rng.below(8)).into_bytes()
    };
    info.name[..name.len()].copy_from_slice(&name);
    let addr = |rng: &mut Rng| match rng.below(5) {
        0 => RPMSG_ADDR_ANY,
        1 => 1024 + rng.below(4) as u32,
        2 => 0x4000 + rng.below(8) as u32,
        3 => rng.below(64) as u32,
        _ => rng.next_u32(),
    };
    info.src = addr(rng);
    info.dst = addr(rng);
    if c_bus && info.src != RPMSG_ADDR_ANY {
        // Known upstream failure: the kernel's C bus hands a fixed address
        // above INT_MAX to idr_alloc(), which warns (WARNING in
        // lib/idr.c idr_alloc() from virtio_rpmsg_create_ept()).
        info.src &= 0x7fff_ffff;
    }
    info
}

/// An ioctl argument: scratch memory big enough for any size an rpmsg
/// request can encode, NULL, unmapped memory, or a kernel address.
fn random_arg(rng: &mut Rng, scratch: &mut [u8], bad: &NoAccess) -> usize {
    match rng.below(5) {
        0 | 1 => {
            rng.fill(scratch);
            scratch.as_mut_ptr() as usize
        }
        2 => 0,
        3 => bad.addr(),
        _ => usize::MAX & !0xfff,
    }
}

/// One random request in rpmsg's ioctl space (type 0xb5).
fn random_request(rng: &mut Rng) -> u32 {
    match rng.below(8) {
        0 => uapi::RPMSG_CREATE_EPT_IOCTL,
        1 => uapi::RPMSG_DESTROY_EPT_IOCTL,
        2 => uapi::RPMSG_CREATE_DEV_IOCTL,
        3 => uapi::RPMSG_RELEASE_DEV_IOCTL,
        4 => uapi::RPMSG_GET_OUTGOING_FLOWCONTROL,
        5 => uapi::RPMSG_SET_INCOMING_FLOWCONTROL,
        // Any direction, number and size, type 0xb5.
        _ => (rng.next_u32() & 0xffff_00ff) | (0xb5 << 8),
    }
}

fn raw_ioctl(f: &File, req: u32, arg: usize) -> io::Result<()> {
    // SAFETY: `arg` is NULL, unmapped or kernel memory, a small value, or
    // the 16 KiB scratch buffer, which holds any size a request of type
    // 0xb5 can encode (14 bits); nothing else of this process is named.
    let r = unsafe { libc::ioctl(f.as_raw_fd(), req as libc::Ioctl, arg) };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// The body of `rpmsg-test --hostile-child <seed> <ops>`: prints `ops N`
/// and the errno counts, returns the exit status.
/// Calls that make the kernel's own drivers warn, which hostile
/// processes leave out on them (known upstream failures).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Upstream {
    /// The kernel's C bus: `virtio_rpmsg_create_ept()` passes a fixed
    /// source address above INT_MAX to `idr_alloc()` as a negative start
    /// (WARNING in lib/idr.c).
    pub c_bus: bool,
    /// The kernel's rpmsg_char: `RPMSG_SET_INCOMING_FLOWCONTROL` after
    /// `RPMSG_DESTROY_EPT_IOCTL` on the same file calls
    /// `rpmsg_set_flow_control()` with no endpoint (WARN_ON in rpmsg_core.c).
    pub c_char: bool,
}

impl Upstream {
    pub fn args(self) -> Vec<&'static str> {
        let mut v = Vec::new();
        if self.c_bus {
            v.push("--c-bus");
        }
        if self.c_char {
            v.push("--c-char");
        }
        v
    }

    pub fn parse(args: impl Iterator<Item = String>) -> Self {
        let mut u = Upstream::default();
        for a in args {
            match a.as_str() {
                "--c-bus" => u.c_bus = true,
                "--c-char" => u.c_char = true,
                _ => {}
            }
        }
        u
    }
}

/// Watches a hostile process's operations from a thread of its own that
/// only sleeps: an operation that runs longer than [`OP_SAMPLE_AFTER`] has
/// the process's main thread sampled from `/proc` ([`where_blocked`]), so
/// that a call that hangs says where; a sleep that overruns by far means
/// the whole guest stood still (under TCG, its host did not run it), time
/// no call is to blame for.
struct OpWatch {
    /// The number of the operation in progress plus one; 0 between them.
    current: AtomicU32,
    /// The operation whose stack was sampled, and the stack.
    sample: Mutex<Option<(u32, String)>>,
    /// Milliseconds the watcher overslept in all, and its longest stall.
    stalled_ms: AtomicU64,
    longest_stall_ms: AtomicU64,
}

/// The watcher's period; a sleep longer than a second over it is a stall.
const WATCH_TICK: Duration = Duration::from_millis(250);

impl OpWatch {
    fn start() -> Arc<OpWatch> {
        let w = Arc::new(OpWatch {
            current: AtomicU32::new(0),
            sample: Mutex::new(None),
            stalled_ms: AtomicU64::new(0),
            longest_stall_ms: AtomicU64::new(0),
        });
        let watch = w.clone();
        let me = format!("/proc/{0}/task/{0}", std::process::id());
        thread::spawn(move || {
            // The operation in progress, since when, and whether its stack
            // was sampled (once per operation).
            let (mut seen, mut since, mut sampled) = (0, Instant::now(), false);
            loop {
                let slept = Instant::now();
                thread::sleep(WATCH_TICK);
                let over = slept.elapsed().saturating_sub(WATCH_TICK);
                if over > Duration::from_secs(1) {
                    let ms = over.as_millis() as u64;
                    watch.stalled_ms.fetch_add(ms, Ordering::AcqRel);
                    watch.longest_stall_ms.fetch_max(ms, Ordering::AcqRel);
                }
                let cur = watch.current.load(Ordering::Acquire);
                if cur != seen {
                    (seen, since, sampled) = (cur, Instant::now(), false);
                } else if cur != 0 && !sampled && since.elapsed() > OP_SAMPLE_AFTER {
                    *watch.sample.lock().unwrap() = Some((cur - 1, where_blocked(&me)));
                    sampled = true;
                }
            }
        });
        w
    }

    fn stalled(&self) -> Duration {
        Duration::from_millis(self.stalled_ms.load(Ordering::Acquire))
    }

    /// Starts operation `op`; returns the stall time so far.
    fn begin(&self, op: u32) -> Duration {
        self.current.store(op + 1, Ordering::Release);
        self.stalled()
    }

    /// Ends the operation that began when the stall time was
    /// `stalled_before`; returns the stall time during it.
    fn end(&self, stalled_before: Duration) -> Duration {
        self.current.store(0, Ordering::Release);
        self.stalled().saturating_sub(stalled_before)
    }

    /// What was sampled while operation `op` ran, if anything.
    fn stack_of(&self, op: u32) -> Option<String> {
        match &*self.sample.lock().unwrap() {
            Some((o, s)) if *o == op => Some(s.clone()),
            _ => None,
        }
    }

    fn summary(&self) -> String {
        format!(
            "guest stalls {:.1} s, longest {:.1} s",
            self.stalled().as_secs_f64(),
            self.longest_stall_ms.load(Ordering::Acquire) as f64 / 1000.0
        )
    }
}

/// A task's state letter and name, from its `/proc` directory.
fn task_state(dir: &str) -> Option<(char, String)> {
    let stat = fs::read_to_string(format!("{dir}/stat")).ok()?;
    // "pid (comm) S ...": the name may hold spaces and parentheses.
    let (head, tail) = stat.rsplit_once(')')?;
    let comm = head.split_once('(')?.1.to_owned();
    Some((tail.trim_start().chars().next()?, comm))
}

/// The function a task sleeps in, from its `/proc` directory.
fn wchan(dir: &str) -> String {
    fs::read_to_string(format!("{dir}/wchan")).map_or_else(|_| "?".into(), |w| w.trim().into())
}

/// Where the task at `/proc` directory `me` is, for a call that takes too
/// long: its state, `wchan` and kernel stack (ARMv7 gives no stack of
/// another task, but a `wchan`), and every other task of the system in
/// uninterruptible sleep or running, with its `wchan`: what it may wait
/// for.
fn where_blocked(me: &str) -> String {
    let state = task_state(me).map_or('?', |(s, _)| s);
    let frames = fs::read_to_string(format!("{me}/stack")).unwrap_or_default();
    let frames: Vec<&str> = frames
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1))
        .collect();
    let mut others = Vec::new();
    let pids = fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.bytes().all(|b| b.is_ascii_digit()));
    for pid in pids {
        let Ok(tids) = fs::read_dir(format!("/proc/{pid}/task")) else {
            continue;
        };
        for tid in tids.filter_map(|e| e.ok()?.file_name().into_string().ok()) {
            let dir = format!("/proc/{pid}/task/{tid}");
            if dir == me {
                continue;
            }
            if let Some((s @ ('D' | 'R'), comm)) = task_state(&dir) {
                others.push(format!("{comm} {s} {}", wchan(&dir)));
            }
        }
    }
    format!(
        "state {state}, wchan {}, stack [{}]; others in D or R: [{}]",
        wchan(me),
        frames.join(" <- "),
        others.join(", ")
    )
}

pub fn hostile_child(seed: u64, ops: u32, up: Upstream) -> i32 {
    let c_bus = up.c_bus;
    let watch = OpWatch::start();
    let mut rng = Rng::new(seed);
    let mut fds: Vec<(String, File)> = Vec::new();
    let mut scratch = vec![0u8; 1 << 14];
    let Ok(bad) = NoAccess::new(4096) else {
        eprintln!("mmap failed");
        return 2;
    };
    let mut errnos: BTreeMap<i32, u64> = BTreeMap::new();
    // The longest call and what it was: how close the calls came to the
    // bound, on a guest that passes.
    let mut longest = (Duration::ZERO, "none", None);
    let mut longest_listing = Duration::ZERO;
    for i in 0..ops {
        let op = rng.below(10);
        // What an open picks from, listed outside the timed call, which is
        // the rpmsg call alone.
        let all = if op < 2 {
            let listed = Instant::now();
            let all = nodes();
            longest_listing = longest_listing.max(listed.elapsed());
            all
        } else {
            Vec::new()
        };
        let stalled_before = watch.begin(i);
        let start = Instant::now();
        let pick = |rng: &mut Rng, fds: &[(String, File)]| {
            (!fds.is_empty()).then(|| rng.below(fds.len() as u64) as usize)
        };
        let (what, r): (&str, io::Result<()>) = match op {
            0 | 1 => {
                if fds.len() >= MAX_FDS {
                    fds.remove(0);
                }
                match all.get(rng.below(all.len().max(1) as u64) as usize) {
                    Some(n) => (
                        "open",
                        sys::open_dev(&dev_path(n), true).map(|f| fds.push((n.clone(), f))),
                    ),
                    None => ("open", Ok(())),
                }
            }
            2 => match pick(&mut rng, &fds) {
                Some(k) => {
                    fds.swap_remove(k);
                    ("close", Ok(()))
                }
                None => ("close", Ok(())),
            },
            3 | 4 => match pick(&mut rng, &fds) {
                Some(k) => {
                    let req = *rng.pick(&[
                        uapi::RPMSG_CREATE_EPT_IOCTL,
                        uapi::RPMSG_CREATE_DEV_IOCTL,
                        uapi::RPMSG_RELEASE_DEV_IOCTL,
                    ]);
                    let mut info = random_info(&mut rng, c_bus);
                    (
                        "ioctl(info)",
                        sys::ioctl_ptr(&fds[k].1, req, &mut info).map(drop),
                    )
                }
                None => ("ioctl(info)", Ok(())),
            },
            5 => match pick(&mut rng, &fds) {
                Some(k) => {
                    let mut req = random_request(&mut rng);
                    if up.c_char && req == uapi::RPMSG_SET_INCOMING_FLOWCONTROL {
                        req = uapi::RPMSG_GET_OUTGOING_FLOWCONTROL;
                    }
                    let arg = if req == uapi::RPMSG_SET_INCOMING_FLOWCONTROL || rng.chance(1, 8) {
                        rng.below(3) as usize
                    } else {
                        random_arg(&mut rng, &mut scratch, &bad)
                    };
                    if c_bus {
                        // The source address of a `struct rpmsg_endpoint_info`
                        // in the scratch buffer, little-endian: below 2^31.
                        scratch[RPMSG_NAME_SIZE + 3] &= 0x7f;
                    }
                    ("ioctl", raw_ioctl(&fds[k].1, req, arg))
                }
                None => ("ioctl", Ok(())),
            },
            6 => match pick(&mut rng, &fds) {
                Some(k) => {
                    let len = rng.size(0, 600);
                    let r = if rng.chance(1, 10) {
                        sys::write_noaccess(&fds[k].1, &bad, len)
                    } else {
                        rng.fill(&mut scratch[..len]);
                        sys::write(&fds[k].1, &scratch[..len])
                    };
                    ("write", r.map(drop))
                }
                None => ("write", Ok(())),
            },
            7 => match pick(&mut rng, &fds) {
                Some(k) => {
                    let len = rng.size(0, 600);
                    let r = if rng.chance(1, 10) {
                        sys::read_noaccess(&fds[k].1, &bad, len)
                    } else {
                        sys::read(&fds[k].1, &mut scratch[..len])
                    };
                    ("read", r.map(drop))
                }
                None => ("read", Ok(())),
            },
            8 => match pick(&mut rng, &fds) {
                Some(k) => {
                    let events = (rng.next_u32() & 0x3ff) as libc::c_short;
                    let timeout = Duration::from_millis(rng.range(0, 20));
                    ("poll", sys::poll(&fds[k].1, events, timeout).map(drop))
                }
                None => ("poll", Ok(())),
            },
            _ => match pick(&mut rng, &fds) {
                Some(k) if fds.len() < MAX_FDS => {
                    let r = fds[k].1.try_clone();
                    let name = fds[k].0.clone();
                    ("dup", r.map(|f| fds.push((name, f))))
                }
                _ => ("dup", Ok(())),
            },
        };
        let took = start.elapsed();
        let stalled = watch.end(stalled_before);
        if took.saturating_sub(stalled) > longest.0 {
            longest = (took.saturating_sub(stalled), what, watch.stack_of(i));
        }
        if took.saturating_sub(stalled) > OP_BOUND {
            let stack = watch.stack_of(i);
            println!(
                "op {i} ({what}) took {:.1} s ({:.1} s of it a stall of the guest); \
                 after {:.1} s: {}",
                took.as_secs_f64(),
                stalled.as_secs_f64(),
                OP_SAMPLE_AFTER.as_secs_f64(),
                stack.as_deref().unwrap_or("not sampled")
            );
            return 1;
        }
        if let Err(e) = r {
            let n = e.raw_os_error().unwrap_or(-1);
            if n >= 512 {
                println!("op {i} ({what}) failed with kernel-internal errno {n}");
                return 1;
            }
            *errnos.entry(n).or_default() += 1;
        }
    }
    let counts: Vec<String> = errnos
        .iter()
        .map(|(n, c)| {
            format!(
                "{}={c}",
                errno_name(*n).map_or(n.to_string(), str::to_owned)
            )
        })
        .collect();
    println!(
        "ops {ops} errors {}; longest call {:.2} s ({}{}), listing {:.2} s; {}",
        counts.join(","),
        longest.0.as_secs_f64(),
        longest.1,
        longest
            .2
            .map(|s| format!(", after {} ms: {s}", OP_SAMPLE_AFTER.as_millis()))
            .unwrap_or_default(),
        longest_listing.as_secs_f64(),
        watch.summary()
    );
    0
}

/// Removes what hostile processes left behind on `t`: endpoint devices
/// and channels whose names start with [`PREFIX`]. Returns the devices
/// destroyed, those that cannot be opened, and the channels released.
fn clean_up(t: &Target) -> Res<(usize, usize, usize)> {
    let (ctrl_name, ctrl) = t.open_ctrl()?;
    let (mut epts, mut unopenable) = (0, 0);
    for node in topo::eptdevs_of_ctrl(&ctrl_name).ctx("list endpoint devices")? {
        let Ok(a) = topo::ept_attrs(&node) else {
            continue;
        };
        if !a.name.starts_with(PREFIX) {
            continue;
        }
        // A device whose address the bus refuses (a reserved one, say)
        // cannot be opened, so not destroyed either: it goes with its
        // control device, as upstream's do.
        let Ok(f) = open_node(&node, true) else {
            unopenable += 1;
            continue;
        };
        sys::ioctl_val(&f, uapi::RPMSG_DESTROY_EPT_IOCTL, 0)
            .ctx(format_args!("RPMSG_DESTROY_EPT_IOCTL on /dev/{node}"))?;
        epts += 1;
    }
    let mut chans = 0;
    for c in t.channels()? {
        if !c.name.starts_with(PREFIX) {
            continue;
        }
        let mut info = EndpointInfo::new(&c.name, c.src, c.dst)?;
        sys::ioctl_ptr(&ctrl, uapi::RPMSG_RELEASE_DEV_IOCTL, &mut info)
            .ctx(format_args!("RPMSG_RELEASE_DEV_IOCTL {}", c.dev_name()))?;
        wait_gone(&c.dir(), SETTLE)?;
        chans += 1;
    }
    Ok((epts, unopenable, chans))
}

fn leftovers(t: &Target) -> Res<Vec<String>> {
    let mut v: Vec<String> = t
        .channels()?
        .into_iter()
        .filter(|c| c.name.starts_with(PREFIX))
        .map(|c: ChannelId| c.dev_name())
        .collect();
    let ctrl = t.ctrl()?;
    for node in topo::eptdevs_of_ctrl(&ctrl).ctx("list endpoint devices")? {
        if topo::ept_attrs(&node).is_ok_and(|a| a.name.starts_with(PREFIX))
            && open_node(&node, true).is_ok()
        {
            v.push(node);
        }
    }
    Ok(v)
}

pub fn hostile(cx: &Ctx) -> Res {
    let p = plan::params();
    let mut rng = plan::rng("hostile");
    let up = Upstream {
        c_bus: bus::is_c_bus(&Target::ready(SIM0)?.vdev),
        c_char: !charlayer::is_rust(),
    };
    Target::ready(SIM1)?;
    if up.c_bus {
        cx.note(
            "fixed source addresses stay below 2^31: the kernel's C bus passes larger ones \
             to idr_alloc(), which warns (known upstream failure)",
        );
    }
    if up.c_char {
        cx.note(
            "no RPMSG_SET_INCOMING_FLOWCONTROL: after RPMSG_DESTROY_EPT_IOCTL the kernel's \
             rpmsg_char calls rpmsg_set_flow_control() without an endpoint, which warns \
             (known upstream failure)",
        );
    }
    let exe = Path::new("/proc/self/exe");
    let mut children: Vec<(u32, Child)> = Vec::new();
    for i in 0..p.hostile_procs {
        let seed = rng.next_u64();
        let child = Command::new(exe)
            .args([
                "--hostile-child",
                &seed.to_string(),
                &p.hostile_ops.to_string(),
            ])
            .args(up.args())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .ctx("spawn a hostile process")?;
        children.push((i, child));
    }
    let deadline = Instant::now() + plan::budget(p.hostile_ops, Duration::from_millis(30), 120);
    let mut fails = Vec::new();
    let mut summary = Vec::new();
    for (i, mut child) in children {
        let status = loop {
            match child.try_wait() {
                Ok(Some(s)) => break Some(s),
                Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(50)),
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break None;
                }
            }
        };
        let mut out = String::new();
        if let Some(mut o) = child.stdout.take() {
            let _ = o.read_to_string(&mut out);
        }
        let last = out.lines().last().unwrap_or("").to_owned();
        match status {
            Some(s) if s.success() => {
                if let Some(n) = last
                    .strip_prefix("ops ")
                    .and_then(|r| r.split_whitespace().next())
                    .and_then(|n| n.parse::<u64>().ok())
                {
                    plan::add(&FIGURES.hostile_ops, n);
                }
                summary.push(format!("process {i}: {last}"));
            }
            Some(s) => fails.push(format!("process {i} ended with {s}: {last}")),
            None => fails.push(format!("process {i} did not finish in time (a call hung?)")),
        }
    }
    for line in summary {
        cx.note(line);
    }
    for sim in SIMS {
        let t = Target::ready(sim)?;
        let (e, u, c) = clean_up(&t)?;
        cx.note(format!(
            "{sim}: removed {e} endpoint devices and {c} channels left behind; \
             {u} endpoint devices cannot be opened and stay until their control device goes"
        ));
        let left = leftovers(&t)?;
        if !left.is_empty() {
            fails.push(format!("{sim}: still there after clean-up: {left:?}"));
        }
        let ept = open_ept(&t, "afterhx", RPMSG_ADDR_ANY, t.echo_addr()?, false)?;
        if let Err(e) = echo(ept.file()?, &payload(7, MTU)) {
            fails.push(format!("{sim} after the hostile processes: {e}"));
        }
    }
    ensure!(fails.is_empty(), "{}", fails.join("; "));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_arguments_stay_in_bounds() {
        let mut rng = Rng::new(5);
        for _ in 0..1000 {
            let info = random_info(&mut rng, false);
            let c = random_info(&mut rng, true);
            assert!(c.src == RPMSG_ADDR_ANY || c.src <= 0x7fff_ffff);
            let end = info
                .name
                .iter()
                .position(|&b| b == 0)
                .unwrap_or(RPMSG_NAME_SIZE);
            assert!(info.name[..end].starts_with(PREFIX.as_bytes()));
            assert!(!info.name[..end].contains(&b'/'));
            let req = random_request(&mut rng);
            assert_eq!((req >> 8) & 0xff, 0xb5, "{req:#x}");
            assert!(uapi::ioc_size(req) <= 1 << 14);
        }
    }

    #[test]
    fn child_runs_without_devices() {
        // No /dev/rpmsg* on the host: every op is a no-op or fails cleanly.
        assert_eq!(hostile_child(1, 200, Upstream::default()), 0);
        let up = Upstream {
            c_bus: true,
            c_char: true,
        };
        assert_eq!(Upstream::parse(up.args().into_iter().map(String::from)), up);
    }
}
