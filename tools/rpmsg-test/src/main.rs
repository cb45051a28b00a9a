//! `rpmsg-test`: the guest test suite. Prints KTAP; exits 0 iff all passed.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use rpmsg_test::{suite, sys};

const USAGE: &str = "usage: rpmsg-test [--list] [--only <substring>[,<substring>...]] [--faults]
                  [--stress short|ci|full [--seed <n>] [--modules <file>]]
  --only     run the cases whose name contains one of the substrings
  --faults   also run the cases in which the remote writes garbage into shared
             memory (for buses that validate it; the kernel's C bus does not)
  --stress   run the stress cases instead (Documentation/stress.md), seeded
             with --seed (default: from the clock; printed either way)
  --modules  the stack's modules, one `<file.ko> [params]` per line in load
             order (the guest's /etc/modules), for the rmmod/insmod cycles";

/// Makes the simulator's debugfs files reachable if nothing mounted debugfs.
fn mount_debugfs() -> Option<String> {
    let dir = Path::new("/sys/kernel/debug");
    let empty = fs::read_dir(dir).is_ok_and(|mut d| d.next().is_none());
    if !empty {
        return None;
    }
    Some(match sys::mount_debugfs() {
        Ok(()) => "mounted debugfs on /sys/kernel/debug".into(),
        Err(e) => format!("cannot mount debugfs on /sys/kernel/debug: {e}"),
    })
}

/// A seed when none was given: the clock's nanoseconds.
fn clock_seed() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64)
}

fn main() -> ExitCode {
    let mut list = false;
    let mut faults = false;
    let mut only = None;
    let mut stress = None;
    let mut seed = None;
    let mut modules = None;
    let mut args = std::env::args().skip(1);
    let usage = || {
        eprintln!("{USAGE}");
        ExitCode::from(2)
    };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--list" => list = true,
            "--faults" => faults = true,
            "--only" => match args.next() {
                Some(s) => only = Some(s),
                None => return usage(),
            },
            "--stress" => match args.next().as_deref().and_then(suite::StressLevel::parse) {
                Some(l) => stress = Some(l),
                None => return usage(),
            },
            "--seed" => match args.next().and_then(|s| s.parse::<u64>().ok()) {
                Some(s) => seed = Some(s),
                None => return usage(),
            },
            "--modules" => match args.next() {
                Some(s) => modules = Some(PathBuf::from(s)),
                None => return usage(),
            },
            // One of the stress run's hostile processes (stress_hostile_userspace).
            "--hostile-child" => {
                let seed = args.next().and_then(|s| s.parse().ok());
                let ops = args.next().and_then(|s| s.parse().ok());
                let up = suite::HostileUpstream::parse(args);
                return match (seed, ops) {
                    (Some(seed), Some(ops)) => {
                        ExitCode::from(suite::hostile_child(seed, ops, up) as u8)
                    }
                    _ => usage(),
                };
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            _ => {
                eprintln!("{USAGE}");
                return ExitCode::from(2);
            }
        }
    }

    let cases = match stress {
        Some(level) => {
            let seed = seed.unwrap_or_else(clock_seed);
            suite::configure_stress(suite::StressConfig {
                level,
                seed,
                modules,
                faults,
            });
            suite::select_stress(only.as_deref())
        }
        None => suite::select(only.as_deref(), faults),
    };
    if list {
        for c in &cases {
            println!("{}", c.name);
        }
        return ExitCode::SUCCESS;
    }
    let mut preamble: Vec<String> = mount_debugfs().into_iter().collect();
    if let Some(level) = stress {
        let c = suite::stress_config();
        preamble.push(format!(
            "stress level {}, seed {} (rpmsg-test --stress {} --seed {} reproduces it)",
            level.name(),
            c.seed,
            level.name(),
            c.seed
        ));
    }
    match suite::run(&cases, io::stdout().lock(), &preamble) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("rpmsg-test: output: {e}");
            ExitCode::FAILURE
        }
    }
}
