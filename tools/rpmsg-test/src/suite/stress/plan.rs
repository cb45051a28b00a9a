//! How much a stress run does (`--stress short|full`), its seed, and the
//! figures it reports at the end.

use std::fs;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use super::rng::Rng;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// A taste of every case, for `make check`.
    Short,
    /// `make stress`.
    Full,
    /// What CI runs after `make check` within its 90-minute bound: about a
    /// quarter of every count of the full level.
    Ci,
}

impl Level {
    pub fn parse(s: &str) -> Option<Level> {
        match s {
            "short" => Some(Level::Short),
            "full" => Some(Level::Full),
            "ci" => Some(Level::Ci),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Level::Short => "short",
            Level::Full => "full",
            Level::Ci => "ci",
        }
    }
}

/// Counts of one level. The full ones are what issue 10 asks for.
#[derive(Clone, Copy, Debug)]
pub struct Params {
    /// Echo messages per endpoint (8 endpoints).
    pub echo_per_ept: u32,
    /// Messages per remote -> host `source` stream (one per remote).
    pub source_per_stream: u32,
    /// Messages streamed into a `sink` per phase (1 endpoint, then 4).
    pub sink_msgs: u32,
    /// Rounds of a writer blocked on a stalled remote beside a reader.
    pub stall_rounds: u32,
    /// Endpoint device create/destroy rounds.
    pub churn_rounds: u32,
    pub unbind_cycles: u32,
    pub crash_cycles: u32,
    pub reload_cycles: u32,
    /// Faults injected into the remote.
    pub faults: u32,
    pub hostile_procs: u32,
    pub hostile_ops: u32,
}

impl Params {
    pub fn of(level: Level) -> Params {
        match level {
            // About a minute per stack on x86_64 (make check's time bound).
            Level::Short => Params {
                echo_per_ept: 60,
                source_per_stream: 300,
                sink_msgs: 1000,
                stall_rounds: 1,
                churn_rounds: 8,
                unbind_cycles: 4,
                crash_cycles: 2,
                reload_cycles: 1,
                faults: 30,
                hostile_procs: 3,
                hostile_ops: 200,
            },
            Level::Full => Params {
                echo_per_ept: 4000,
                source_per_stream: 10_000,
                sink_msgs: 20_000,
                stall_rounds: 5,
                churn_rounds: 150,
                unbind_cycles: 1000,
                crash_cycles: 100,
                reload_cycles: 50,
                faults: 3000,
                hostile_procs: 6,
                hostile_ops: 4000,
            },
            // About a quarter of the full level's counts, ten minutes on
            // x86_64: a fresh CI machine also builds three kernels and runs
            // make check within its 90 minutes.
            Level::Ci => Params {
                echo_per_ept: 1000,
                source_per_stream: 2500,
                sink_msgs: 5000,
                stall_rounds: 2,
                churn_rounds: 40,
                unbind_cycles: 100,
                crash_cycles: 20,
                reload_cycles: 8,
                faults: 1000,
                hostile_procs: 6,
                hostile_ops: 1000,
            },
        }
    }
}

/// What `rpmsg-test --stress` was asked for.
#[derive(Clone, Debug)]
pub struct Config {
    pub level: Level,
    pub seed: u64,
    /// The stack's module list (`/etc/modules` of the guest: `<file.ko>
    /// [params]` per line, in load order), for the unload/reload cycles.
    pub modules: Option<PathBuf>,
    /// The stack's bus survives a misbehaving remote (`--faults`).
    pub faults: bool,
}

static CONFIG: OnceLock<Config> = OnceLock::new();

/// Sets the run's configuration once, before any case runs.
pub fn configure(c: Config) {
    let _ = CONFIG.set(c);
}

pub fn config() -> &'static Config {
    CONFIG.get_or_init(|| Config {
        level: Level::Short,
        seed: 0,
        modules: None,
        faults: false,
    })
}

pub fn params() -> Params {
    Params::of(config().level)
}

/// A case's (or a thread's) own random stream.
pub fn rng(tag: &str) -> Rng {
    Rng::derive(config().seed, tag)
}

/// Limit for a case that does `units` of work taking about `each`.
pub fn budget(units: u32, each: Duration, floor: u64) -> Duration {
    Duration::from_secs(floor) + each * units
}

/// Counters printed at the end of the run.
pub struct Figures {
    pub echo_sent: AtomicU64,
    pub echo_checked: AtomicU64,
    pub source_checked: AtomicU64,
    pub sink_sent: AtomicU64,
    /// Messages a healthy endpoint never got back (each fails its case).
    pub lost: AtomicU64,
    pub max_write_us: AtomicU64,
    pub churn_rounds: AtomicU64,
    pub unbind_cycles: AtomicU64,
    pub crash_cycles: AtomicU64,
    pub reload_cycles: AtomicU64,
    pub faults_injected: AtomicU64,
    /// Faults the remote applied and the bus counted.
    pub faults_accounted: AtomicU64,
    pub hostile_ops: AtomicU64,
    pub slab_before_kb: AtomicU64,
    pub slab_after_kb: AtomicU64,
}

pub static FIGURES: Figures = Figures {
    echo_sent: AtomicU64::new(0),
    echo_checked: AtomicU64::new(0),
    source_checked: AtomicU64::new(0),
    sink_sent: AtomicU64::new(0),
    lost: AtomicU64::new(0),
    max_write_us: AtomicU64::new(0),
    churn_rounds: AtomicU64::new(0),
    unbind_cycles: AtomicU64::new(0),
    crash_cycles: AtomicU64::new(0),
    reload_cycles: AtomicU64::new(0),
    faults_injected: AtomicU64::new(0),
    faults_accounted: AtomicU64::new(0),
    hostile_ops: AtomicU64::new(0),
    slab_before_kb: AtomicU64::new(0),
    slab_after_kb: AtomicU64::new(0),
};

pub fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

impl Figures {
    /// `(name, value)` in the order they are printed.
    pub fn lines(&self) -> Vec<(&'static str, u64)> {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        vec![
            ("echo_sent", get(&self.echo_sent)),
            ("echo_checked", get(&self.echo_checked)),
            ("source_checked", get(&self.source_checked)),
            ("sink_sent", get(&self.sink_sent)),
            ("lost_on_healthy_endpoints", get(&self.lost)),
            ("max_write_ms", get(&self.max_write_us) / 1000),
            ("churn_rounds", get(&self.churn_rounds)),
            ("unbind_bind_cycles", get(&self.unbind_cycles)),
            ("crash_recovery_cycles", get(&self.crash_cycles)),
            ("rmmod_insmod_cycles", get(&self.reload_cycles)),
            ("faults_injected", get(&self.faults_injected)),
            ("faults_accounted", get(&self.faults_accounted)),
            ("hostile_ops", get(&self.hostile_ops)),
            ("slab_before_kb", get(&self.slab_before_kb)),
            ("slab_after_kb", get(&self.slab_after_kb)),
        ]
    }
}

/// `Slab:` of /proc/meminfo, in kB.
pub fn slab_kb() -> Option<u64> {
    parse_slab(&fs::read_to_string("/proc/meminfo").ok()?)
}

fn parse_slab(meminfo: &str) -> Option<u64> {
    meminfo
        .lines()
        .find_map(|l| l.strip_prefix("Slab:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels() {
        assert_eq!(Level::parse("short"), Some(Level::Short));
        assert_eq!(Level::parse("full").map(Level::name), Some("full"));
        assert_eq!(Level::parse("long"), None);
        let (s, f) = (Params::of(Level::Short), Params::of(Level::Full));
        // What issue 10 asks of the full run.
        assert_eq!(
            (f.unbind_cycles, f.crash_cycles, f.reload_cycles),
            (1000, 100, 50)
        );
        assert!(8 * f.echo_per_ept >= 20_000);
        assert!(f.faults >= 1000);
        assert!(s.unbind_cycles < f.unbind_cycles && s.faults < f.faults);
        // CI's level lies between the two.
        let c = Params::of(Level::Ci);
        assert!(s.unbind_cycles < c.unbind_cycles && c.unbind_cycles < f.unbind_cycles);
        assert!(s.echo_per_ept < c.echo_per_ept && c.echo_per_ept < f.echo_per_ept);
    }

    #[test]
    fn meminfo() {
        let text = "MemTotal:  500000 kB\nSlab:      12345 kB\nSReclaimable: 1 kB\n";
        assert_eq!(parse_slab(text), Some(12345));
        assert_eq!(parse_slab("MemTotal: 1 kB\n"), None);
    }
}
