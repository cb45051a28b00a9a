//! Things going away and coming back under traffic: the virtio driver
//! unbound and bound, the remote crashing and recovering, and the whole
//! stack unloaded and loaded again. The other remote's traffic goes on
//! meanwhile and must lose nothing.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use super::plan::{self, FIGURES};
use super::rng::Rng;
use super::traffic::*;
use crate::bounded::{self, Bounded};
use crate::bus;
use crate::ensure;
use crate::error::{Context, Res};
use crate::suite::common::*;
use crate::suite::Ctx;
use crate::topo::{self, VIRTIO_DEVICES};
use crate::uapi::RPMSG_ADDR_ANY;

const VIRTIO_DRIVERS: &str = "/sys/bus/virtio/drivers";
/// How long a writer may take to notice its endpoint is gone.
const NOTICE: Duration = Duration::from_secs(20);

/// Writes a sysfs file on another thread, so a removal or probe that hangs
/// is reported instead of hanging the case.
fn bounded_write(path: PathBuf, value: String) -> Res {
    let what = format!("write {value:?} to {}", path.display());
    let b = bounded::spawn("sysfs-write", move || write_attr(&path, &value))
        .ctx("spawn sysfs writer")?;
    b.wait(SETTLE)
        .unwrap_or_else(|h| Err(format!("{what}: {h}")))
}

/// Echo traffic on a new endpoint of `t` that runs until its endpoint is
/// torn down. `torn` is set right before the teardown starts: a failure
/// before that fails the case, after it is what the teardown does (the
/// replies then in flight may be lost).
struct Doomed {
    torn: Arc<AtomicBool>,
    worker: Option<Bounded<Res<u64>>>,
    /// Other descriptors held open across the teardown.
    _held: Vec<fs::File>,
}

impl Doomed {
    fn start(t: &Target, rng: &mut Rng) -> Res<Doomed> {
        // Between the cycles that wait for every channel, the remote may
        // still be announcing them: its echo endpoint is there anyway.
        let dst = t.echo_addr().unwrap_or(DEFAULT_CHANNELS[1].1);
        let ept = open_ept(t, "doomed", RPMSG_ADDR_ANY, dst, false)?;
        let mut held = Vec::new();
        if let Ok((_, ctrl)) = t.open_ctrl() {
            held.push(ctrl);
        }
        if let Some(node) = t.channel("rpmsg-raw").ok().and_then(|c| c.chrdev()) {
            if let Ok(f) = open_node(&node, true) {
                held.push(f);
            }
        }
        let torn = Arc::new(AtomicBool::new(false));
        let (r, window, t2) = (Rng::new(rng.next_u64()), rng.size(1, 8), torn.clone());
        let worker = bounded::spawn("doomed", move || {
            let mut ept = ept;
            let r = echo_stream(ept.file()?, 0x2000, r, window, Until::TornDown(t2));
            // The device went with its control device.
            ept.gone();
            r
        })
        .ctx("spawn")?;
        Ok(Doomed {
            torn,
            worker: Some(worker),
            _held: held,
        })
    }

    /// Marks the teardown as begun (call before it starts).
    fn tearing(&self) {
        self.torn.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// The writer must have stopped by itself, without a failure before
    /// the teardown; the other descriptors stay open.
    fn finish_writer(&mut self) -> Res {
        match self.worker.take().map(|w| w.wait(NOTICE)) {
            None => Ok(()),
            Some(Ok(r)) => r.map(drop),
            Some(Err(h)) => Err(format!(
                "a writer on the torn-down endpoint did not stop: {h}"
            )),
        }
    }
}

/// Creates endpoint devices on sim0 and runs echo traffic on them over
/// and over until stopped, while the device is unbound and bound under
/// it: every answer is allowed (the endpoint may go at any moment), but
/// no call may hang. Returns the round trips it completed.
fn racing_writer(stop: Arc<AtomicBool>, mut rng: Rng) -> u64 {
    let mut done = 0;
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        let Ok(t) = Target::discover(SIM0) else {
            thread::sleep(Duration::from_millis(5));
            continue;
        };
        let dst = t.echo_addr().unwrap_or(DEFAULT_CHANNELS[1].1);
        if let Ok(ept) = open_ept(&t, "racer", RPMSG_ADDR_ANY, dst, false) {
            let r = Rng::new(rng.next_u64());
            if let Ok(f) = ept.file() {
                done += echo_stream(f, 0x3000, r, 4, Until::Racing(stop.clone())).unwrap_or(0);
            }
        }
    }
    done
}

/// Opens sim0's `rpmsg-raw` device while the racing writer runs. Its
/// number may just have been another device's, which the racer then
/// opens by its old path and closes at once when it sees the name (see
/// `open_ept`): an EBUSY that lasts a moment is that, one that lasts is a
/// failure.
fn open_raw_beside_racer(t: &Target) -> Res<fs::File> {
    let node = t
        .channel("rpmsg-raw")?
        .chrdev()
        .ok_or("no rpmsg-raw char device")?;
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        match crate::sys::open_dev(&dev_path(&node), false) {
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && Instant::now() < deadline => {
                thread::sleep(Duration::from_millis(10));
            }
            r => return r.ctx(format_args!("open /dev/{node}")),
        }
    }
}

/// Unbinds and binds sim0's virtio device `unbind_cycles` times with
/// traffic on sim1 that must lose nothing. Every tenth cycle waits for
/// every channel, starts an echo writer on a new endpoint and opens the
/// control and `rpmsg-raw` devices, which then stay open across the next
/// nine cycles; those unbind again right after the bind, while a racing
/// writer keeps creating endpoints and sending through the teardowns and
/// probes.
pub fn unbind_bind(cx: &Ctx) -> Res {
    let p = plan::params();
    let mut rng = plan::rng("unbind_bind");
    let t0 = Target::ready(SIM0)?;
    let t1 = Target::ready(SIM1)?;
    let vdev = t0.vdev.clone();
    let driver = bus::driver_name(&vdev).ok_or_else(|| format!("{vdev} has no driver"))?;
    let dir = Path::new(VIRTIO_DRIVERS).join(&driver);
    let bg = Background::start(&t1, 2, "unbindbg")?;
    let stop = Arc::new(AtomicBool::new(false));
    let (s, r) = (stop.clone(), Rng::new(rng.next_u64()));
    let racer = bounded::spawn("racer", move || racing_writer(s, r)).ctx("spawn")?;
    let start = Instant::now();
    let mut doomed: Option<Doomed> = None;
    let mut result = Ok(());
    for cycle in 0..p.unbind_cycles {
        let step = (|| -> Res {
            if cycle % 10 == 0 {
                // The last writer's descriptors go first: the check below
                // must not meet them.
                drop(doomed.take());
                let t = Target::ready(SIM0)?;
                echo(&open_raw_beside_racer(&t)?, &payload(cycle, 64))?;
                let d = Doomed::start(&t, &mut rng)?;
                thread::sleep(Duration::from_millis(rng.range(0, 30)));
                d.tearing();
                doomed = Some(d);
            }
            bounded_write(dir.join("unbind"), vdev.clone())?;
            if cycle % 10 == 0 {
                if let Some(d) = doomed.as_mut() {
                    d.finish_writer()?;
                }
            }
            bounded_write(dir.join("bind"), vdev.clone())?;
            ensure!(
                Path::new(VIRTIO_DEVICES)
                    .join(&vdev)
                    .join("driver")
                    .exists(),
                "{vdev} has no driver after bind"
            );
            Ok(())
        })();
        if let Err(e) = step {
            result = Err(format!("cycle {cycle}: {e}"));
            break;
        }
        plan::add(&FIGURES.unbind_cycles, 1);
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let raced = racer.wait(NOTICE * 2);
    drop(doomed);
    result?;
    let raced = raced.map_err(|h| format!("the racing writer did not stop: {h}"))?;
    let t = Target::ready(SIM0)?;
    ensure!(t.vdev == vdev, "sim0 moved from {vdev} to {}", t.vdev);
    echo(
        &open_node(
            &t.channel("rpmsg-raw")?
                .chrdev()
                .ok_or("no rpmsg-raw char device")?,
            false,
        )?,
        b"after the cycles",
    )?;
    let n = bg.finish()?;
    cx.note(format!(
        "{} cycles in {:.1} s; {raced} round trips of the racing writer; {n} round trips on sim1",
        p.unbind_cycles,
        start.elapsed().as_secs_f64()
    ));
    Ok(())
}

/// Crashes sim0 `crash_cycles` times with a writer running and
/// descriptors open on it and traffic on sim1; every recovery brings the
/// channels back.
pub fn crash_recovery(cx: &Ctx) -> Res {
    let p = plan::params();
    let mut rng = plan::rng("crash_recovery");
    let t1 = Target::ready(SIM1)?;
    let bg = Background::start(&t1, 2, "crashbg")?;
    let crashes = Target::ready(SIM0)?.sim.stats()?.get("crashes")?;
    let start = Instant::now();
    for cycle in 0..p.crash_cycles {
        let t = Target::ready(SIM0)?;
        let ino = topo::vdev_ino(&t.vdev).ctx(format_args!("stat {}", t.vdev))?;
        let doomed = Doomed::start(&t, &mut rng).map_err(|e| format!("cycle {cycle}: {e}"))?;
        thread::sleep(Duration::from_millis(rng.range(0, 30)));
        doomed.tearing();
        t.sim
            .control("crash")
            .ctx(format_args!("cycle {cycle}: crash"))?;
        let mut doomed = doomed;
        doomed
            .finish_writer()
            .map_err(|e| format!("cycle {cycle}: {e}"))?;
        drop(doomed);
        wait_for(
            &format!("cycle {cycle}: {} replaced", t.vdev),
            SETTLE,
            || (topo::vdev_ino(&t.vdev).ok() != Some(ino)).then_some(()),
        )?;
        let n = Target::ready(SIM0).map_err(|e| format!("cycle {cycle}: {e}"))?;
        let raw = n
            .channel("rpmsg-raw")?
            .chrdev()
            .ok_or("no rpmsg-raw char device")?;
        echo(&open_node(&raw, false)?, &payload(cycle, 64))
            .map_err(|e| format!("cycle {cycle}, after the recovery: {e}"))?;
        plan::add(&FIGURES.crash_cycles, 1);
    }
    let now = Target::ready(SIM0)?.sim.stats()?.get("crashes")?;
    ensure!(
        now == crashes + u64::from(p.crash_cycles),
        "sim0 counted {} crashes, expected {}",
        now - crashes,
        p.crash_cycles
    );
    let n = bg.finish()?;
    cx.note(format!(
        "{} cycles in {:.1} s; {n} round trips on sim1 meanwhile",
        p.crash_cycles,
        start.elapsed().as_secs_f64()
    ));
    Ok(())
}

/// A row of the guest's module list: `<file.ko> [param=value ...]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Module {
    pub file: String,
    pub args: Vec<String>,
}

impl Module {
    pub fn name(&self) -> &str {
        self.file.strip_suffix(".ko").unwrap_or(&self.file)
    }
}

pub fn parse_modules(text: &str) -> Vec<Module> {
    text.lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            Some(Module {
                file: words.next()?.to_owned(),
                args: words.map(str::to_owned).collect(),
            })
        })
        .collect()
}

fn run(cmd: &str, args: &[String]) -> Res {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .ctx(format_args!("run {cmd}"))?;
    ensure!(
        out.status.success(),
        "{cmd} {}: {} {}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(())
}

/// Unloads the whole stack (the remotes first) and loads it again, in
/// the guest's order, `reload_cycles` times; both remotes must come back
/// with their channels and echo.
pub fn reload(cx: &Ctx) -> Res {
    let p = plan::params();
    let Some(list) = &plan::config().modules else {
        cx.skip("no module list (rpmsg-test --modules <file>)");
        return Ok(());
    };
    let text = fs::read_to_string(list).ctx(format_args!("read {}", list.display()))?;
    let modules = parse_modules(&text);
    ensure!(!modules.is_empty(), "{} lists no modules", list.display());
    // Where the guest's /init loads them from (scripts/mkinitramfs.sh).
    let dir = Path::new("/lib/modules");
    let start = Instant::now();
    for cycle in 0..p.reload_cycles {
        for t in SIMS {
            Target::ready(t).map_err(|e| format!("cycle {cycle}: {e}"))?;
        }
        for m in modules.iter().rev() {
            run("rmmod", &[m.name().to_owned()]).map_err(|e| format!("cycle {cycle}: {e}"))?;
        }
        for m in &modules {
            let mut args = vec![dir.join(&m.file).display().to_string()];
            args.extend(m.args.iter().cloned());
            run("insmod", &args).map_err(|e| format!("cycle {cycle}: {e}"))?;
        }
        for sim in SIMS {
            let t = Target::ready(sim).map_err(|e| format!("cycle {cycle}: {e}"))?;
            let ept = open_ept(&t, "reload", RPMSG_ADDR_ANY, t.echo_addr()?, false)?;
            echo(ept.file()?, &payload(cycle, 100))
                .map_err(|e| format!("cycle {cycle}, {sim}: {e}"))?;
        }
        plan::add(&FIGURES.reload_cycles, 1);
    }
    cx.note(format!(
        "{} cycles of {} modules in {:.1} s",
        p.reload_cycles,
        modules.len(),
        start.elapsed().as_secs_f64()
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_list() {
        let m = parse_modules("rpmsg_core.ko \nrpmsg_char_rs.ko rx_queue_len=64\n\nrpmsg_sim.ko nr_rprocs=2 shm_base=0x1\n");
        assert_eq!(m.len(), 3);
        assert_eq!(m[0].name(), "rpmsg_core");
        assert!(m[0].args.is_empty());
        assert_eq!(m[1].args, ["rx_queue_len=64"]);
        assert_eq!(m[2].args.len(), 2);
    }
}
