//! A sampling profiler of the kernel, for `rpmsg-bench --profile`: where a
//! case's kernel time goes, by function, on every CPU.
//!
//! One `perf_event_open(2)` software `cpu-clock` event per CPU samples the
//! instruction pointer in kernel mode only; a thread drains the ring buffers
//! while the case runs, and `/proc/kallsyms` names the addresses. Needs
//! `CONFIG_PERF_EVENTS` and root (the guest has both).

use std::collections::HashMap;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// `struct perf_event_attr` up to `config1` (`PERF_ATTR_SIZE_VER0`).
#[repr(C)]
#[derive(Default)]
struct PerfEventAttr {
    type_: u32,
    size: u32,
    config: u64,
    sample_period: u64,
    sample_type: u64,
    read_format: u64,
    flags: u64,
    wakeup_events: u32,
    bp_type: u32,
    config1: u64,
}

const PERF_TYPE_SOFTWARE: u32 = 1;
const PERF_COUNT_SW_CPU_CLOCK: u64 = 0;
const PERF_SAMPLE_IP: u64 = 1;
const PERF_SAMPLE_CALLCHAIN: u64 = 1 << 5;
/// Callchain entries above this mark a context (kernel, user), not a frame.
const PERF_CONTEXT_MAX: u64 = (-4095i64) as u64;
/// Frames shown of each sample's stack: the function and its callers.
pub const FRAMES: usize = 4;
/// Frames kept of each sample's stack, to find whose code it ran for
/// ([`owner`]): a sleep is as deep as `schedule()` under a wait under the
/// read that waits.
const CHAIN: usize = 16;
const ATTR_EXCLUDE_USER: u64 = 1 << 4;
const ATTR_EXCLUDE_HV: u64 = 1 << 6;
const PERF_FLAG_FD_CLOEXEC: libc::c_ulong = 8;
const PERF_RECORD_SAMPLE: u32 = 9;
/// `perf_event_mmap_page::data_head` and `data_tail`.
const DATA_HEAD: usize = 1024;
const DATA_TAIL: usize = 1032;
/// Ring pages per CPU (a power of two): 256 KiB, 16 K samples.
const RING_PAGES: usize = 64;
/// One sample every 100 µs of CPU time.
pub const PERIOD_NS: u64 = 100_000;

/// One CPU's event and its mapped ring.
struct Ring {
    fd: libc::c_int,
    base: *mut u8,
    len: usize,
    page: usize,
}

// SAFETY: the mapping belongs to this `Ring` alone; only the drain thread
// touches it, one `Ring` at a time under the profiler's mutex.
unsafe impl Send for Ring {}

impl Ring {
    fn open(cpu: i32, page: usize) -> io::Result<Ring> {
        let attr = PerfEventAttr {
            type_: PERF_TYPE_SOFTWARE,
            size: size_of::<PerfEventAttr>() as u32,
            config: PERF_COUNT_SW_CPU_CLOCK,
            sample_period: PERIOD_NS,
            sample_type: PERF_SAMPLE_IP | PERF_SAMPLE_CALLCHAIN,
            flags: ATTR_EXCLUDE_USER | ATTR_EXCLUDE_HV,
            ..Default::default()
        };
        // SAFETY: `attr` is a valid perf_event_attr of the size it states;
        // pid -1 with a CPU samples every task on that CPU.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_perf_event_open,
                &attr as *const PerfEventAttr,
                -1 as libc::pid_t,
                cpu,
                -1 as libc::c_int,
                PERF_FLAG_FD_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let fd = fd as libc::c_int;
        let len = (1 + RING_PAGES) * page;
        // SAFETY: a fresh shared mapping of the event's ring; no memory of
        // ours is involved.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            let e = io::Error::last_os_error();
            // SAFETY: `fd` is ours and closed once.
            unsafe { libc::close(fd) };
            return Err(e);
        }
        Ok(Ring {
            fd,
            base: base.cast(),
            len,
            page,
        })
    }

    /// Counts the samples the kernel wrote since the last drain, by their
    /// innermost [`CHAIN`] frames.
    fn drain(&mut self, counts: &mut HashMap<Stack, u64>) {
        let data = self.len - self.page;
        // SAFETY: the header page is mapped for the ring's lifetime;
        // `data_head` is written by the kernel, hence the volatile read, and
        // the fence orders it before the reads of the records (as perf does).
        let head = unsafe { std::ptr::read_volatile(self.base.add(DATA_HEAD).cast::<u64>()) };
        std::sync::atomic::fence(Ordering::Acquire);
        // SAFETY: as above; only we write `data_tail`.
        let mut tail = unsafe { std::ptr::read_volatile(self.base.add(DATA_TAIL).cast::<u64>()) };
        let byte = |at: u64| -> u8 {
            // SAFETY: the offset is reduced into the data area, which is
            // mapped and which the kernel does not write between tail and
            // head.
            unsafe { *self.base.add(self.page + (at as usize % data)) }
        };
        let read = |at: u64, n: usize| -> u64 {
            (0..n).fold(0u64, |v, i| v | u64::from(byte(at + i as u64)) << (8 * i))
        };
        while tail + 8 <= head {
            let kind = read(tail, 4) as u32;
            let size = read(tail + 6, 2);
            if size < 8 {
                break;
            }
            if kind == PERF_RECORD_SAMPLE && size >= 24 {
                let ip = read(tail + 8, 8);
                let mut stack = [ip; CHAIN];
                let nr = read(tail + 16, 8).min((size - 24) / 8);
                // The chain starts again at the sampled IP, after a
                // context mark.
                let frames = (0..nr)
                    .map(|i| read(tail + 24 + 8 * i, 8))
                    .filter(|&ip| ip < PERF_CONTEXT_MAX)
                    .skip_while(|&f| f == ip)
                    .take(CHAIN - 1);
                stack[1..].fill(0);
                for (slot, f) in stack[1..].iter_mut().zip(frames) {
                    *slot = f;
                }
                *counts.entry(stack).or_default() += 1;
            }
            tail += size;
        }
        std::sync::atomic::fence(Ordering::Release);
        // SAFETY: as above; telling the kernel the space is free again.
        unsafe { std::ptr::write_volatile(self.base.add(DATA_TAIL).cast::<u64>(), head) };
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        // SAFETY: the mapping and the descriptor are ours, released once.
        unsafe {
            libc::munmap(self.base.cast(), self.len);
            libc::close(self.fd);
        }
    }
}

/// A sample's innermost frames, the sampled instruction first; 0 past the
/// end of the chain.
type Stack = [u64; CHAIN];

/// What a profile found: samples by function, and by innermost frames.
pub struct Profile {
    pub functions: Vec<(String, u64)>,
    /// Stacks as `leaf <- caller <- ...`, [`FRAMES`] deep.
    pub stacks: Vec<(String, u64)>,
    /// Every sample's frames, leaf first, [`CHAIN`] deep.
    pub chains: Vec<(Vec<String>, u64)>,
}

/// A running profile: the rings of every CPU and the thread draining them.
pub struct Profiler {
    rings: Arc<Mutex<Vec<Ring>>>,
    counts: Arc<Mutex<HashMap<Stack, u64>>>,
    stop: Arc<AtomicBool>,
    drainer: Option<thread::JoinHandle<()>>,
}

impl Profiler {
    pub fn start() -> io::Result<Profiler> {
        // SAFETY: sysconf has no preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize;
        // SAFETY: as above.
        let cpus = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) }.max(1) as i32;
        let rings = (0..cpus)
            .map(|cpu| Ring::open(cpu, page))
            .collect::<io::Result<Vec<_>>>()?;
        let rings = Arc::new(Mutex::new(rings));
        let counts = Arc::new(Mutex::new(HashMap::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let drainer = {
            let (rings, counts, stop) = (rings.clone(), counts.clone(), stop.clone());
            thread::Builder::new()
                .name("profile".into())
                .spawn(move || loop {
                    let last = stop.load(Ordering::SeqCst);
                    {
                        let mut counts = counts.lock().unwrap();
                        for r in rings.lock().unwrap().iter_mut() {
                            r.drain(&mut counts);
                        }
                    }
                    if last {
                        return;
                    }
                    thread::sleep(Duration::from_millis(50));
                })?
        };
        Ok(Profiler {
            rings,
            counts,
            stop,
            drainer: Some(drainer),
        })
    }

    /// Stops sampling; returns the samples by function and by stack, most
    /// first.
    pub fn finish(mut self) -> io::Result<Profile> {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.drainer.take() {
            let _ = t.join();
        }
        self.rings.lock().unwrap().clear();
        let counts = std::mem::take(&mut *self.counts.lock().unwrap());
        let syms = Symbols::load()?;
        let mut functions: HashMap<String, u64> = HashMap::new();
        let mut stacks: HashMap<String, u64> = HashMap::new();
        let mut chains = Vec::with_capacity(counts.len());
        for (stack, n) in counts {
            *functions.entry(syms.name(stack[0])).or_default() += n;
            let names: Vec<String> = stack
                .iter()
                .take_while(|&&ip| ip != 0)
                .map(|&ip| syms.name(ip))
                .collect();
            let shown = &names[..names.len().min(FRAMES)];
            *stacks.entry(shown.join(" <- ")).or_default() += n;
            chains.push((names, n));
        }
        let sorted = |m: HashMap<String, u64>| {
            let mut v: Vec<(String, u64)> = m.into_iter().collect();
            v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            v
        };
        Ok(Profile {
            functions: sorted(functions),
            stacks: sorted(stacks),
            chains,
        })
    }
}

impl Drop for Profiler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.drainer.take() {
            let _ = t.join();
        }
    }
}

/// The kernel's text symbols, by address.
struct Symbols(Vec<(u64, String)>);

impl Symbols {
    fn load() -> io::Result<Symbols> {
        // Addresses read as zero unless kptr_restrict allows root to see
        // them; the guest is ours to configure.
        let _ = std::fs::write("/proc/sys/kernel/kptr_restrict", "0");
        let text = std::fs::read_to_string("/proc/kallsyms")?;
        let mut v: Vec<(u64, String)> = text
            .lines()
            .filter_map(|l| {
                let mut w = l.split_whitespace();
                let addr = u64::from_str_radix(w.next()?, 16).ok()?;
                let kind = w.next()?;
                let name = w.next()?;
                if addr == 0 || !matches!(kind, "t" | "T") {
                    return None;
                }
                Some(match w.next() {
                    Some(module) => (addr, format!("{name}{module}")),
                    None => (addr, name.to_owned()),
                })
            })
            .collect();
        v.sort_unstable_by_key(|s| s.0);
        Ok(Symbols(v))
    }

    fn name(&self, ip: u64) -> String {
        match self.0.partition_point(|s| s.0 <= ip) {
            0 => format!("{ip:#x}"),
            i => self.0[i - 1].1.clone(),
        }
    }
}

/// Whose cost a kernel sample is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Owner {
    /// The RPMsg stack's modules, or kernel code they called.
    Stack,
    /// The simulated remote, or kernel code it called.
    Remote,
    /// Neither among the frames kept: the scheduler, interrupts, system
    /// calls, or code called from deeper than [`CHAIN`] frames.
    Kernel,
}

/// The owner of a sample, from its frames (leaf first; `name[module]` in
/// a module): the innermost frame in a module of `stack` or of `remote`
/// decides. So a copy or a wake-up is charged to the module that called
/// it, and the stack's receive callback, which the remote's interrupt
/// calls, to the stack.
pub fn owner<'a>(
    frames: impl IntoIterator<Item = &'a str>,
    stack: &[&str],
    remote: &[&str],
) -> Owner {
    for frame in frames {
        let Some((_, module)) = frame.strip_suffix(']').and_then(|f| f.rsplit_once('[')) else {
            continue;
        };
        if stack.contains(&module) {
            return Owner::Stack;
        }
        if remote.contains(&module) {
            return Owner::Remote;
        }
    }
    Owner::Kernel
}

/// Whether a function is the idle loop's: samples there are no one's cost.
pub fn is_idle(name: &str) -> bool {
    [
        "default_idle",
        "pv_native_safe_halt",
        "native_safe_halt",
        "arch_cpu_idle",
        "cpu_idle_poll",
        "do_idle",
        "cpuidle_enter",
        "acpi_safe_halt",
        "mwait_idle",
        "default_idle_call",
        "cpu_do_idle",
        "cpu_v7_do_idle",
    ]
    .contains(&name)
}

#[cfg(test)]
mod tests {
    use super::*;

    const STACK: &[&str] = &["virtio_rpmsg_bus", "rpmsg_char"];
    const REMOTE: &[&str] = &["rpmsg_sim"];

    fn owner_of(stack: &str) -> Owner {
        owner(stack.split(" <- "), STACK, REMOTE)
    }

    #[test]
    fn the_innermost_module_frame_decides() {
        assert_eq!(
            owner_of("memcpy <- rpmsg_recv_done[virtio_rpmsg_bus] <- vring_interrupt <- service[rpmsg_sim]"),
            Owner::Stack
        );
        assert_eq!(
            owner_of("queue_work_on <- sim_kick[rpmsg_sim] <- rproc_virtio_notify <- rpmsg_send_offchannel_raw[virtio_rpmsg_bus]"),
            Owner::Remote
        );
        assert_eq!(
            owner_of("rpmsg_eptdev_write_iter[rpmsg_char]"),
            Owner::Stack
        );
    }

    #[test]
    fn samples_without_a_module_of_either_are_the_kernels() {
        assert_eq!(
            owner_of("finish_task_switch <- __schedule <- schedule <- schedule_timeout"),
            Owner::Kernel
        );
        // Another module, or a name that only looks like one.
        assert_eq!(owner_of("e1000_intr[e1000] <- handle_irq"), Owner::Kernel);
        assert_eq!(owner_of("rpmsg_char <- 0xffff"), Owner::Kernel);
        assert_eq!(owner_of(""), Owner::Kernel);
    }
}
