//! `rpmsg-bench`: the guest half of `make bench` (Documentation/benchmarks.md).
//!
//! ```text
//! rpmsg-bench clock
//! rpmsg-bench run --stack <name> --round <n> [--rtts <n>] [--msgs <n>]
//!                  [--cases echo,sink,source,bulk] [--profile <top>]
//! ```
//!
//! `clock` checks that the guest's clock can time single round trips (not
//! jiffies). `run` measures the stack that is loaded, with the simulated
//! remote `sim0`, through the userspace ABI only (`/dev/rpmsg_ctrlN`,
//! `RPMSG_CREATE_EPT_IOCTL`, `/dev/rpmsgN`): echo round trips, streaming into
//! `sink` endpoints and out of a `source`; last, a bulk stream (64 KiB in
//! messages of the largest size) with the remote offering 4 KiB buffers
//! (`VIRTIO_RPMSG_F_BUFSZ`), which a bus that negotiates takes and the
//! kernel's C bus ignores (512 bytes). Every sample is one line
//! `BENCH key=value ...` on stdout, a failed case one line `BENCH-ERROR ...`;
//! the host's `bench-report` reads them back. Pairing the stacks and
//! computing ratios is the host's business. `--profile` samples the kernel
//! during each case and prints its `<top>` functions as `BENCH-PROFILE`
//! lines (where the CPU time goes; `rpmsg_test::profile`).

use std::fs::File;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use rpmsg_test::bounded;
use rpmsg_test::charlayer;
use rpmsg_test::endpoint::{dev_path, wait_for, Ept};
use rpmsg_test::error::{describe, Context, Res, ERESTARTSYS};
use rpmsg_test::profile;
use rpmsg_test::sim::{Sim, Stats};
use rpmsg_test::sys;
use rpmsg_test::topo;
use rpmsg_test::uapi::RPMSG_ADDR_ANY;

const USAGE: &str = "usage: rpmsg-bench clock
       rpmsg-bench run --stack <name> --round <n> [--rtts <n>] [--msgs <n>]
                       [--cases echo,sink,source,bulk] [--profile <top>]";

const ECHO_SIZES: [usize; 3] = [1, 64, 496];
const STREAM_SIZES: [usize; 2] = [16, 496];
const SINK_EPTS: [usize; 2] = [1, 4];
const WARMUP_RTTS: usize = 200;
/// A single write or read slower than this is a stall (a lost wake-up, a
/// send waiting out its 15 s for a buffer), counted in its sample.
const STALL: Duration = Duration::from_secs(1);
/// A case that takes longer than this is abandoned (interrupted).
const CASE_LIMIT: Duration = Duration::from_secs(120);
/// A source run whose messages stop coming for this long has lost some:
/// the reader is interrupted and counts what is missing.
const SOURCE_IDLE: Duration = Duration::from_secs(5);
/// Host address of the source case's endpoint: the remote needs to know it
/// before the first message, and the char layer does not tell an endpoint's
/// address when it is allocated (`src` shows what was asked for).
const SOURCE_DST: u32 = 0x4000;
const SIM: &str = "sim0";
/// The bulk case's stream, written in messages of the largest size.
const BULK_STREAM: usize = 64 * 1024;
/// Streams per bulk sample (64 MiB): a run of a second or so, far above
/// the 10 ms steps in which the end is polled.
const BULK_STREAMS: usize = 1000;
/// The remote's offer for the bulk case (`bufsz` in its debugfs directory).
const BULK_OFFER: &str = "4096 4096";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let r = match args.first().map(String::as_str) {
        Some("clock") if args.len() == 1 => clock().map(|()| 0),
        Some("run") => Opts::parse(&args[1..]).and_then(|o| run(&o)),
        _ => Err(USAGE.into()),
    };
    match r {
        Ok(0) => ExitCode::SUCCESS,
        // Each failed case has printed its BENCH-ERROR line.
        Ok(failed) => {
            eprintln!("rpmsg-bench: {failed} case(s) failed");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("rpmsg-bench: {e}");
            println!("BENCH-ERROR case=setup reason={e}");
            ExitCode::FAILURE
        }
    }
}

struct Opts {
    stack: String,
    round: u32,
    rtts: usize,
    msgs: usize,
    cases: Vec<String>,
    /// Functions to print per case from a kernel profile; 0: no profile.
    profile: usize,
}

impl Opts {
    fn parse(args: &[String]) -> Res<Opts> {
        let mut o = Opts {
            stack: String::new(),
            round: 0,
            rtts: 10_000,
            msgs: 20_000,
            cases: ["echo", "sink", "source", "bulk"]
                .map(String::from)
                .to_vec(),
            profile: 0,
        };
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let v = it
                .next()
                .ok_or_else(|| format!("{a}: missing value\n{USAGE}"))?;
            let num = || {
                v.parse::<usize>()
                    .map_err(|_| format!("{a} {v}: not a number"))
            };
            match a.as_str() {
                "--stack" => o.stack = v.clone(),
                "--round" => o.round = num()? as u32,
                "--rtts" => o.rtts = num()?,
                "--msgs" => o.msgs = num()?,
                "--profile" => o.profile = num()?,
                "--cases" => {
                    o.cases = v.split(',').map(String::from).collect();
                    if let Some(c) = o
                        .cases
                        .iter()
                        .find(|c| !["echo", "sink", "source", "bulk"].contains(&c.as_str()))
                    {
                        return Err(format!("--cases: unknown case {c}\n{USAGE}"));
                    }
                }
                _ => return Err(format!("unknown option {a}\n{USAGE}")),
            }
        }
        // Four sink endpoints share the messages evenly.
        o.msgs -= o.msgs % 4;
        if o.stack.is_empty()
            || !o
                .stack
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err(format!(
                "--stack: a name of [A-Za-z0-9-] is needed\n{USAGE}"
            ));
        }
        if o.rtts == 0 || o.msgs == 0 {
            return Err("--rtts and --msgs must be positive".into());
        }
        Ok(o)
    }
}

/// Under TCG a guest kernel that cannot calibrate its TSC falls back to the
/// jiffies clocksource, whose steps (1 to 10 ms) are longer than a round
/// trip: every latency would be 0 or one tick. Refuse to measure then.
fn clock() -> Res {
    let cs = topo::read_attr("/sys/devices/system/clocksource/clocksource0/current_clocksource")
        .ctx("read the current clocksource")?;
    // The smallest step CLOCK_MONOTONIC makes, as userspace sees it.
    let mut step = Duration::MAX;
    let mut last = Instant::now();
    let deadline = last + Duration::from_millis(200);
    while last < deadline {
        let now = Instant::now();
        if now > last {
            step = step.min(now - last);
        }
        last = now;
    }
    println!("BENCH-CLOCK source={cs} step_ns={}", step.as_nanos());
    if cs.contains("jiffies") {
        return Err(format!(
            "the clocksource is {cs}: too coarse to time round trips (x86: boot with tsc_early_khz=)"
        ));
    }
    if step > Duration::from_micros(20) {
        return Err(format!(
            "CLOCK_MONOTONIC advances in steps of {step:?}: too coarse"
        ));
    }
    Ok(())
}

/// System-wide CPU time from `/proc/stat`, in ns: `(kernel, user)`, kernel
/// being system + irq + softirq of all CPUs, and the context switches so
/// far. That includes the remote's work items and the host interrupts they
/// raise, which run in kernel threads, not in this process; the remote's
/// own part is in its `busy_ns`.
fn cpu_times() -> Res<(u64, u64, u64)> {
    let text = std::fs::read_to_string("/proc/stat").ctx("read /proc/stat")?;
    let line = text.lines().next().unwrap_or_default();
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    if !line.starts_with("cpu ") || v.len() < 7 {
        return Err(format!("/proc/stat: unexpected first line {line:?}"));
    }
    // SAFETY: sysconf has no memory arguments.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    let ns = |ticks: u64| ticks * (1_000_000_000 / hz);
    let ctxt = text
        .lines()
        .find_map(|l| l.strip_prefix("ctxt "))
        .and_then(|n| n.trim().parse().ok())
        .ok_or("/proc/stat: no ctxt line")?;
    Ok((ns(v[2] + v[5] + v[6]), ns(v[0] + v[1]), ctxt))
}

/// What a case measured besides its own figures.
struct Cost {
    start: Instant,
    cpu: (u64, u64, u64),
    sim: Stats,
}

impl Cost {
    fn start(sim: &Sim) -> Res<Cost> {
        let sim_stats = sim.stats()?;
        let cpu = cpu_times()?;
        Ok(Cost {
            start: Instant::now(),
            cpu,
            sim: sim_stats,
        })
    }

    /// `wall_ns`, `kcpu_ns`, `ucpu_ns`, `ctxt` (context switches), `sim_ns`,
    /// and the remote's stats now.
    fn end(&self, sim: &Sim) -> Res<(String, Stats)> {
        let wall = self.start.elapsed();
        let cpu = cpu_times()?;
        let now = sim.stats()?;
        let text = format!(
            "wall_ns={} kcpu_ns={} ucpu_ns={} ctxt={} sim_ns={} sim_services={}",
            wall.as_nanos(),
            cpu.0.saturating_sub(self.cpu.0),
            cpu.1.saturating_sub(self.cpu.1),
            cpu.2.saturating_sub(self.cpu.2),
            now.delta(&self.sim, "busy_ns")?,
            now.delta(&self.sim, "services")?,
        );
        Ok((text, now))
    }
}

struct Bench {
    sim: Sim,
    ctrl: File,
    ctrl_name: String,
    label: String,
}

impl Bench {
    fn ept(&self, name: &str, src: u32, dst: u32) -> Res<Ept> {
        let mut ept = Ept::create(&self.ctrl, &self.ctrl_name, name, src, dst)?;
        ept.open(false)
            .ctx(format_args!("open /dev/{}", ept.node))?;
        Ok(ept)
    }

    /// Announces a remote endpoint and returns its address.
    fn remote(&self, name: &str, service: &str) -> Res<u32> {
        self.sim
            .control(&format!("announce {name} {service}"))
            .ctx(format_args!("{SIM}: announce {name} {service}"))?;
        Ok(self
            .sim
            .endpoint(name)?
            .ok_or_else(|| format!("{SIM}: no endpoint {name} after announcing it"))?
            .addr)
    }
}

/// Runs every case; returns how many failed.
fn run(o: &Opts) -> Res<usize> {
    let sim = Sim::new(SIM);
    let ctrl_name = find_ctrl()?;
    let ctrl =
        sys::open_dev(&dev_path(&ctrl_name), false).ctx(format_args!("open /dev/{ctrl_name}"))?;
    let b = std::sync::Arc::new(Bench {
        sim,
        ctrl,
        ctrl_name,
        label: format!("stack={} round={}", o.stack, o.round),
    });
    let echo = b.remote("bench-echo", "echo")?;
    let sinks = (0..4)
        .map(|i| b.remote(&format!("bench-sink{i}"), "sink"))
        .collect::<Res<Vec<u32>>>()?;
    let source = b.remote("bench-source", "source")?;

    let mut failed = 0;
    let mut case = |what: String, f: Box<dyn FnOnce() -> Res<String> + Send>| {
        let profiler = match o.profile {
            0 => None,
            _ => match profile::Profiler::start() {
                Ok(p) => Some(p),
                Err(e) => {
                    println!("BENCH-ERROR {} {what} reason=profile: {e}", b.label);
                    None
                }
            },
        };
        let r = bounded::spawn("bench-case", f)
            .map_err(|e| format!("spawn: {e}"))
            .and_then(|t| {
                t.wait(CASE_LIMIT)
                    .map_err(|h| h.to_string())
                    .and_then(|r| r)
            });
        let shares = profiler.and_then(|p| print_profile(&b.label, &what, p, o.profile));
        match r {
            Ok(line) => match shares {
                Some(s) => println!(
                    "BENCH {} {what} {line} prof_period_ns={} prof_busy={} prof_stack={} \
                     prof_remote={}",
                    b.label,
                    profile::PERIOD_NS,
                    s.busy,
                    s.stack,
                    s.remote
                ),
                None => println!("BENCH {} {what} {line}", b.label),
            },
            Err(e) => {
                failed += 1;
                println!("BENCH-ERROR {} {what} reason={e}", b.label);
            }
        }
    };
    let wanted = |c: &str| o.cases.iter().any(|w| w == c);
    for size in ECHO_SIZES.into_iter().filter(|_| wanted("echo")) {
        let (b, rtts) = (b.clone(), o.rtts);
        case(
            format!("case=echo size={size} eps=1"),
            Box::new(move || echo_case(&b, echo, size, rtts)),
        );
    }
    for size in STREAM_SIZES.into_iter().filter(|_| wanted("sink")) {
        for eps in SINK_EPTS {
            let (b, sinks, msgs) = (b.clone(), sinks.clone(), o.msgs);
            case(
                format!("case=sink size={size} eps={eps}"),
                Box::new(move || sink_case(&b, &sinks[..eps], size, msgs)),
            );
        }
    }
    for size in STREAM_SIZES.into_iter().filter(|_| wanted("source")) {
        let (b, msgs) = (b.clone(), o.msgs);
        case(
            format!("case=source size={size} eps=1"),
            Box::new(move || source_case(&b, source, size, msgs)),
        );
    }
    // Last: it reboots the remote, which ends the endpoints above.
    if wanted("bulk") {
        let label = b.label.clone();
        case(
            format!("case=bulk size={BULK_STREAM} eps=1"),
            Box::new(move || bulk_case(&label)),
        );
    }
    Ok(failed)
}

/// The modules of the stacks `make bench` loads (`scripts/bench-stacks`):
/// whose frames make a sample the stack's. One stack is loaded at a time.
const STACK_MODULES: &[&str] = &[
    "rpmsg_core",
    "virtio_rpmsg_bus",
    "rpmsg_ns",
    "rpmsg_char",
    "rpmsg_ctrl",
    "virtio_rpmsg_rs",
    "rpmsg_char_rs",
];
/// The simulated remote's module.
const REMOTE_MODULES: &[&str] = &["rpmsg_sim"];

/// A case's busy kernel samples, and those of them the stack and the
/// remote own ([`profile::owner`]).
struct Shares {
    busy: u64,
    stack: u64,
    remote: u64,
}

/// Prints a case's `top` kernel functions and stacks by samples, as shares
/// of the samples outside the idle loop; returns who owns them.
fn print_profile(label: &str, what: &str, p: profile::Profiler, top: usize) -> Option<Shares> {
    let prof = match p.finish() {
        Ok(f) => f,
        Err(e) => {
            println!("BENCH-ERROR {label} {what} reason=profile: {e}");
            return None;
        }
    };
    let busy: u64 = prof
        .functions
        .iter()
        .filter(|(f, _)| !profile::is_idle(f))
        .map(|f| f.1)
        .sum();
    let idle: u64 = prof.functions.iter().map(|f| f.1).sum::<u64>() - busy;
    println!("BENCH-PROFILE {label} {what} busy_samples={busy} idle_samples={idle}");
    let leaf = |s: &str| s.split(" <- ").next().unwrap_or("").to_owned();
    for (kind, list) in [("fn", &prof.functions), ("stack", &prof.stacks)] {
        for (f, n) in list
            .iter()
            .filter(|(f, _)| !profile::is_idle(&leaf(f)))
            .take(top)
        {
            println!(
                "BENCH-PROFILE {label} {what} pct={:.1} samples={n} {kind}={f}",
                *n as f64 * 100.0 / busy.max(1) as f64
            );
        }
    }
    let mut shares = Shares {
        busy,
        stack: 0,
        remote: 0,
    };
    for (chain, n) in &prof.chains {
        if chain.first().is_some_and(|f| profile::is_idle(f)) {
            continue;
        }
        match profile::owner(
            chain.iter().map(String::as_str),
            STACK_MODULES,
            REMOTE_MODULES,
        ) {
            profile::Owner::Stack => shares.stack += n,
            profile::Owner::Remote => shares.remote += n,
            profile::Owner::Kernel => {}
        }
    }
    Some(shares)
}

/// The remote's control device, once the bus has probed its vdev.
fn find_ctrl() -> Res<String> {
    let ctrl_name = wait_for("rpmsg_ctrl of sim0", Duration::from_secs(20), || {
        let r = topo::remote(SIM).ok()??;
        r.vdevs().ok()?.iter().find_map(|v| topo::ctrl_of(v))
    })?;
    wait_for(&format!("/dev/{ctrl_name}"), Duration::from_secs(5), || {
        dev_path(&ctrl_name).exists().then_some(())
    })?;
    Ok(ctrl_name)
}

/// Reboots the remote (crash, then remoteproc's recovery) with the buffer
/// size offer `offer`; returns once its new control device is there.
fn reboot_offering(sim: &Sim, offer: &str) -> Res<(String, File)> {
    let vdev = |what: &str| -> Res<(String, u64)> {
        let r = topo::remote(SIM)
            .ctx("list remotes")?
            .ok_or_else(|| format!("{what}: no {SIM}"))?;
        let v = r
            .vdevs()
            .ctx("list vdevs")?
            .into_iter()
            .next()
            .ok_or_else(|| format!("{what}: {SIM} has no vdev"))?;
        let ino = topo::vdev_ino(&v).ctx(format_args!("stat {v}"))?;
        Ok((v, ino))
    };
    let old = vdev("before the reboot")?;
    let path = std::path::Path::new(rpmsg_test::sim::DEBUGFS_ROOT)
        .join(SIM)
        .join("bufsz");
    std::fs::write(&path, offer).ctx(format_args!("write {offer:?} to {}", path.display()))?;
    sim.control("crash").ctx(format_args!("{SIM}: crash"))?;
    // A vdev that is not the old one: not merely the old one gone, which
    // it may be (for a moment, while it is torn down) before its control
    // device is, which the next step would then find and open.
    wait_for("the remote's new vdev", Duration::from_secs(30), || {
        let new = vdev("after the reboot").ok()?;
        (new.1 != old.1).then_some(())
    })?;
    let ctrl_name = find_ctrl()?;
    let ctrl =
        sys::open_dev(&dev_path(&ctrl_name), false).ctx(format_args!("open /dev/{ctrl_name}"))?;
    Ok((ctrl_name, ctrl))
}

/// `BULK_STREAMS` streams of `BULK_STREAM` bytes into a sink, each in
/// messages of the largest size the host may send (the last one shorter).
fn bulk_case(label: &str) -> Res<String> {
    let sim = Sim::new(SIM);
    let (ctrl_name, ctrl) = reboot_offering(&sim, BULK_OFFER)?;
    let b = Bench {
        sim,
        ctrl,
        ctrl_name,
        label: label.to_owned(),
    };
    let r = bulk_run(&b);
    // The next stack's remote is loaded afresh; put this one back anyway.
    let _ = std::fs::write(
        std::path::Path::new(rpmsg_test::sim::DEBUGFS_ROOT)
            .join(SIM)
            .join("bufsz"),
        "off",
    );
    r
}

fn bulk_run(b: &Bench) -> Res<String> {
    // The remote's side of the agreement: what it receives from the host.
    let wait_started = || {
        b.sim
            .stats()
            .ok()?
            .get("host_starts")
            .ok()
            .filter(|&n| n > 0)
    };
    wait_for("the remote serving", Duration::from_secs(20), wait_started)?;
    let from_host = b.sim.stats()?.get("bufsz.from_host")? as usize;
    let mtu = from_host
        .checked_sub(16)
        .filter(|&m| m > 0)
        .ok_or_else(|| format!("{SIM} receives {from_host}-byte buffers"))?;
    let sink = b.remote("bench-bulk", "sink")?;
    let ept = b.ept("bench-bulk", RPMSG_ADDR_ANY, sink)?;
    let f = ept.file()?;
    let stream: Vec<u8> = (0..BULK_STREAM).map(|i| i as u8).collect();
    let per_stream = BULK_STREAM.div_ceil(mtu);
    let msgs = per_stream * BULK_STREAMS;
    let cost = Cost::start(&b.sim)?;
    let mut stalls = 0;
    for _ in 0..BULK_STREAMS {
        for chunk in stream.chunks(mtu) {
            let t = Instant::now();
            let n = sys::write(f, chunk).ctx("bulk write")?;
            if t.elapsed() >= STALL {
                stalls += 1;
            }
            rpmsg_test::ensure!(n == chunk.len(), "bulk write: {n} of {} bytes", chunk.len());
        }
    }
    let want = (BULK_STREAM * BULK_STREAMS) as u64;
    sunk(b, &cost, "sink.rx_bytes", want)?;
    let (costs, after) = cost.end(&b.sim)?;
    let got = after.delta(&cost.sim, "sink.rx_msgs")?;
    let bytes = after.delta(&cost.sim, "sink.rx_bytes")?;
    rpmsg_test::ensure!(
        got == msgs as u64 && bytes == want,
        "the sink received {got} messages, {bytes} bytes of {msgs}, {want}"
    );
    Ok(format!(
        "n={BULK_STREAMS} msgs={msgs} bytes={bytes} msg_size={mtu} {costs} stalls={stalls} lost=0"
    ))
}

fn percentile(sorted: &[u64], p: usize) -> u64 {
    sorted[(sorted.len() - 1) * p / 100]
}

fn echo_case(b: &Bench, dst: u32, size: usize, rtts: usize) -> Res<String> {
    let ept = b.ept("bench-echo", RPMSG_ADDR_ANY, dst)?;
    let f = ept.file()?;
    let msg: Vec<u8> = (0..size).map(|i| i as u8 ^ 0x5a).collect();
    let mut buf = vec![0u8; 512];
    let mut one = |what: &str| -> Res<Duration> {
        let t = Instant::now();
        let n = sys::write(f, &msg).ctx(format_args!("{what} write"))?;
        rpmsg_test::ensure!(n == size, "{what} write: {n} of {size} bytes");
        let n = sys::read(f, &mut buf).ctx(format_args!("{what} read"))?;
        let d = t.elapsed();
        rpmsg_test::ensure!(
            buf[..n] == msg[..],
            "{what}: the reply ({n} bytes) is not the message"
        );
        Ok(d)
    };
    for _ in 0..WARMUP_RTTS {
        one("warm-up")?;
    }
    let mut lat = Vec::with_capacity(rtts);
    let before_echo = b.sim.stats()?.get("echo.tx_msgs")?;
    let cost = Cost::start(&b.sim)?;
    for _ in 0..rtts {
        lat.push(one("round trip")?.as_nanos() as u64);
    }
    let (costs, after) = cost.end(&b.sim)?;
    let replies = after.get("echo.tx_msgs")? - before_echo;
    rpmsg_test::ensure!(
        replies == rtts as u64,
        "the remote sent {replies} replies for {rtts} messages"
    );
    let stalls = lat
        .iter()
        .filter(|&&l| l >= STALL.as_nanos() as u64)
        .count();
    let mean = lat.iter().sum::<u64>() / rtts as u64;
    lat.sort_unstable();
    Ok(format!(
        "n={rtts} msgs={} {costs} min_ns={} p50_ns={} p90_ns={} p99_ns={} max_ns={} mean_ns={mean} stalls={stalls} lost=0",
        2 * rtts,
        lat[0],
        percentile(&lat, 50),
        percentile(&lat, 90),
        percentile(&lat, 99),
        lat[rtts - 1],
    ))
}

/// Writes `count` messages with blocking writes; returns the stalls seen.
fn write_all(f: &File, size: usize, count: usize) -> Res<usize> {
    let msg = vec![0xa5u8; size];
    let mut stalls = 0;
    let mut sent = 0;
    while sent < count {
        let t = Instant::now();
        let r = sys::write(f, &msg);
        if t.elapsed() >= STALL {
            stalls += 1;
        }
        match r {
            Ok(n) if n == size => sent += 1,
            Ok(n) => return Err(format!("write: {n} of {size} bytes")),
            // A send that found no buffer within the bus's 15 s: a stall
            // (already counted); the message was not sent, send it again.
            Err(e) if e.raw_os_error() == Some(ERESTARTSYS) && stalls < 5 => {}
            Err(e) => return Err(format!("write {} of {count}: {}", sent + 1, describe(&e))),
        }
    }
    Ok(stalls)
}

/// Written is not yet received: waits until the remote's counter `key` has
/// grown by `want` since `cost` started; returns its growth. Polled every
/// 200 us, not every 10 ms as `wait_for` does: the case's time ends here,
/// and a coarse poll would add up to 10 ms (5 % of a 50000-message run)
/// at a point that varies from run to run.
fn sunk(b: &Bench, cost: &Cost, key: &str, want: u64) -> Res<u64> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let n = b.sim.stats()?.delta(&cost.sim, key)?;
        if n >= want {
            return Ok(n);
        }
        if Instant::now() >= deadline {
            return Err(format!("the sink's {key}: {n} of {want} after 30 s"));
        }
        thread::sleep(Duration::from_micros(200));
    }
}

fn sink_case(b: &Bench, sinks: &[u32], size: usize, msgs: usize) -> Res<String> {
    let epts = sinks
        .iter()
        .enumerate()
        .map(|(i, &dst)| b.ept(&format!("bench-sink{i}"), RPMSG_ADDR_ANY, dst))
        .collect::<Res<Vec<Ept>>>()?;
    let files = epts
        .iter()
        .map(|e| e.file())
        .collect::<rpmsg::Result<Vec<&File>>>()?;
    let per = msgs / sinks.len();
    let cost = Cost::start(&b.sim)?;
    let stalls = thread::scope(|s| {
        let writers: Vec<_> = files
            .iter()
            .map(|f| s.spawn(move || write_all(f, size, per)))
            .collect();
        writers
            .into_iter()
            .map(|w| w.join().unwrap_or_else(|_| Err("writer panicked".into())))
            .collect::<Res<Vec<usize>>>()
    })?
    .iter()
    .sum::<usize>();
    let want = msgs as u64;
    let sunk = sunk(b, &cost, "sink.rx_msgs", want).unwrap_or(0);
    let (costs, after) = cost.end(&b.sim)?;
    let got = after.delta(&cost.sim, "sink.rx_msgs")?;
    let bytes = after.delta(&cost.sim, "sink.rx_bytes")?;
    rpmsg_test::ensure!(
        sunk == want && got == want && bytes == want * size as u64,
        "the sinks received {got} messages, {bytes} bytes of {want}, {}",
        want * size as u64
    );
    Ok(format!(
        "n={msgs} msgs={msgs} bytes={bytes} {costs} stalls={stalls} lost=0"
    ))
}

fn source_case(b: &Bench, source: u32, size: usize, msgs: usize) -> Res<String> {
    let ept = b.ept("bench-source", SOURCE_DST, source)?;
    let f = ept.file()?;
    let mut buf = vec![0u8; 512];
    let cost = Cost::start(&b.sim)?;
    b.sim
        .control(&format!("source {source} {SOURCE_DST} {msgs} {size}"))
        .ctx("source command")?;
    let (mut next, mut lost, mut bad, mut stalls) = (0u32, 0u64, 0u64, 0);
    // A message that never comes (dropped by the host) would block the
    // last read for good: a watcher interrupts it once nothing arrives for
    // SOURCE_IDLE (SIGUSR1 without SA_RESTART, installed by `bounded`).
    let progress = AtomicU32::new(0);
    let done = AtomicBool::new(false);
    // SAFETY: pthread_self has no preconditions. Kept as an integer: musl's
    // pthread_t is a pointer, which may not cross to the watcher thread.
    let reader = unsafe { libc::pthread_self() } as usize;
    let mut interrupted = false;
    let costs = thread::scope(|s| -> Res<(String, Stats)> {
        let watcher = s.spawn(|| {
            let (mut seen, mut since) = (0, Instant::now());
            while !done.load(Ordering::Relaxed) {
                // Unparked when the reader is done: the case must not wait
                // out the rest of a period before it ends.
                thread::park_timeout(Duration::from_millis(100));
                let now = progress.load(Ordering::Relaxed);
                if now != seen {
                    (seen, since) = (now, Instant::now());
                } else if since.elapsed() >= SOURCE_IDLE {
                    // SAFETY: the reader is this scope's owner, alive
                    // until `done` is set and this thread joined.
                    unsafe { libc::pthread_kill(reader as libc::pthread_t, libc::SIGUSR1) };
                    since = Instant::now();
                }
            }
        });
        let r = (|| -> Res {
            while (next as usize) < msgs {
                let t = Instant::now();
                let n = match sys::read(f, &mut buf) {
                    Ok(n) => n,
                    Err(e) if e.raw_os_error() == Some(libc::EINTR) => {
                        interrupted = true;
                        return Ok(());
                    }
                    Err(e) => {
                        return Err(format!("read message {next} of {msgs}: {}", describe(&e)))
                    }
                };
                if t.elapsed() >= STALL {
                    stalls += 1;
                }
                progress.fetch_add(1, Ordering::Relaxed);
                if n != size {
                    bad += 1;
                    continue;
                }
                let seq = u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]);
                // The source's pattern (Documentation/sim-control.md), last byte.
                if buf[n - 1] != (seq as u8).wrapping_add((n - 1) as u8) || seq < next {
                    bad += 1;
                    continue;
                }
                lost += u64::from(seq - next);
                next = seq + 1;
            }
            Ok(())
        })();
        // Timed until the last message is read, not until the watcher has
        // seen `done`: that is up to a period later, idle time the figure
        // would count.
        let costs = r.and_then(|()| cost.end(&b.sim));
        done.store(true, Ordering::Relaxed);
        watcher.thread().unpark();
        costs
    })?;
    if interrupted {
        lost += (msgs as u64).saturating_sub(u64::from(next));
    }
    let (costs, after) = costs;
    let sent = after.delta(&cost.sim, "source.tx_msgs")?;
    rpmsg_test::ensure!(
        lost == 0 && bad == 0 && sent == msgs as u64,
        "the source sent {sent} of {msgs}; {lost} never arrived{}, {bad} out of order or corrupt; \
         char layer's queue: {}",
        if interrupted {
            " (none for 5 s, reader interrupted)"
        } else {
            ""
        },
        // Where they went: still queued (a reader not woken) or dropped.
        match charlayer::rx_queue(&ept.node) {
            Ok(Some(q)) => format!("{q:?}"),
            Ok(None) => "not the Rust one".into(),
            Err(e) => e,
        }
    );
    Ok(format!(
        "n={msgs} msgs={msgs} bytes={} {costs} stalls={stalls} lost=0",
        msgs * size
    ))
}
