//! `rpmsg-test`: the guest test suite. Prints KTAP; exits 0 iff all passed.

use std::fs;
use std::io;
use std::path::Path;
use std::process::ExitCode;

use rpmsg_test::{suite, sys};

const USAGE: &str = "usage: rpmsg-test [--list] [--only <substring>[,<substring>...]] [--faults]
  --only    run the cases whose name contains one of the substrings
  --faults  also run the cases in which the remote writes garbage into shared
            memory (for buses that validate it; the kernel's C bus does not)";

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

fn main() -> ExitCode {
    let mut list = false;
    let mut faults = false;
    let mut only = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--list" => list = true,
            "--faults" => faults = true,
            "--only" => match args.next() {
                Some(s) => only = Some(s),
                None => {
                    eprintln!("{USAGE}");
                    return ExitCode::from(2);
                }
            },
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

    let cases = suite::select(only.as_deref(), faults);
    if list {
        for c in &cases {
            println!("{}", c.name);
        }
        return ExitCode::SUCCESS;
    }
    let preamble: Vec<String> = mount_debugfs().into_iter().collect();
    match suite::run(&cases, io::stdout().lock(), &preamble) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("rpmsg-test: output: {e}");
            ExitCode::FAILURE
        }
    }
}
