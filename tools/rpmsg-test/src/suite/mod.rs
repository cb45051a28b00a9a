//! The test cases and their runner.
//!
//! Every case runs on its own thread under a time limit (`bounded`), finds
//! what it needs in sysfs itself and undoes what it created (RAII guards in
//! `common`), so cases can be selected and run in any subset. Expected
//! results are the kernel's (Linux 7.3 `drivers/rpmsg/`, `drivers/tty/
//! rpmsg_tty.c`, `samples/rpmsg/rpmsg_client_sample.c`), cited where used.

mod badargs;
mod bufsz;
mod channels;
mod cli;
mod common;
mod ept;
mod faults;
mod params;
mod queues;
mod recovery;
mod stress;
mod teardown;

use std::io::{self, Write};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::bounded;
use crate::error::Res;
use crate::ktap::Ktap;

pub use stress::{
    config as stress_config, configure as configure_stress, hostile_child, stress_cases,
    Config as StressConfig, Level as StressLevel, Upstream as HostileUpstream,
};

/// State one case leaves for a later one.
#[derive(Default)]
pub struct Shared {
    /// Last kernel log sequence number before the crash was injected.
    pub crash_seq: Mutex<Option<u64>>,
}

/// What a case gets: a place for notes and the shared state.
#[derive(Clone)]
pub struct Ctx {
    notes: Arc<Mutex<Vec<String>>>,
    skipped: Arc<Mutex<Option<String>>>,
    pub shared: Arc<Shared>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Ctx {
    /// Records a line printed as a diagnostic with the case's result.
    pub fn note(&self, line: impl Into<String>) {
        lock(&self.notes).push(line.into());
    }

    /// Marks the case as not applicable here; it should then return `Ok`.
    /// Reported as `ok ... # SKIP <reason>`.
    pub fn skip(&self, reason: impl Into<String>) {
        *lock(&self.skipped) = Some(reason.into());
    }
}

pub struct Case {
    pub name: &'static str,
    pub timeout: Duration,
    run: fn(&Ctx) -> Res,
}

/// Limit for ordinary cases: long enough for every bounded wait inside.
const DEFAULT_TIMEOUT: u64 = 60;

const fn case(name: &'static str, run: fn(&Ctx) -> Res) -> Case {
    slow(name, DEFAULT_TIMEOUT, run)
}

const fn slow(name: &'static str, secs: u64, run: fn(&Ctx) -> Res) -> Case {
    Case {
        name,
        timeout: Duration::from_secs(secs),
        run,
    }
}

/// All cases, in the order they run. The crash comes late so the cases
/// before it see a remote that never crashed; the `after_recovery_` cases
/// repeat core checks on the recovered remote. The cases before the crash
/// that unbind and bind the driver leave the same virtio device behind.
pub fn cases() -> Vec<Case> {
    use channels as ch;
    vec![
        case("discovery", ch::discovery),
        case("client_sample_round_trips", ch::client_sample),
        case("channel_announce_destroy", ch::announce_destroy),
        case("ctrl_create_ept", ept::create_ept),
        case("ept_fixed_src_conflict", ept::fixed_src_conflict),
        case("ept_dst_any_write", ept::dst_any_write),
        case("ept_message_boundaries", ept::message_boundaries),
        case("ept_read_truncation", ept::read_truncation),
        case("ept_zero_length_message", ept::zero_length_message),
        case("ept_mtu", ept::mtu),
        case("ept_nonblock_poll", ept::nonblock_poll),
        case("ept_flow_control", ept::flow_control),
        case("ept_destroy", ept::destroy),
        case("ept_number_reused", ept::number_reused),
        case("raw_channel_chrdev", ch::raw_channel_chrdev),
        case("chrdev_bind_driver_override", ch::bind_driver_override),
        case("remote_destroy_open_ept", ch::remote_destroy_open_ept),
        case("ctrl_create_release_dev", ch::create_release_dev),
        case("tty_echo", ch::tty_echo),
        case("cli_list", cli::list),
        case("cli_ping_echo", cli::ping_echo),
        case("cli_ept_create_destroy", cli::ept_create_destroy),
        case("cli_send_framings", cli::send_framings),
        case("cli_recv_source", cli::recv_source),
        case("cli_bind_unbind", cli::bind_unbind),
        case("cli_bench_sink", cli::bench_sink),
        case("cli_errors_and_help", cli::errors_and_help),
        case("ctrl_bad_ioctl_args", badargs::ctrl_bad_ioctl_args),
        slow("tx_buffers_exhausted", 120, queues::tx_buffers_exhausted),
        slow("tx_blocking_timeout", 120, queues::tx_blocking_timeout),
        slow("reader_never_reads", 120, queues::reader_never_reads),
        slow("writer_blocks_nobody", 120, queues::writer_blocks_nobody),
        slow(
            "sink_stream_writes_never_stall",
            300,
            queues::sink_stream_writes_never_stall,
        ),
        slow("char_rx_queue_len_param", 180, params::rx_queue_len),
        slow(
            "unbind_rebind_with_open_fds_close_before_bind",
            180,
            teardown::unbind_rebind_close_before_bind,
        ),
        slow(
            "unbind_rebind_with_open_fds_close_after_bind",
            180,
            teardown::unbind_rebind_close_after_bind,
        ),
        slow("ept_parallel_16_threads", 120, stress::parallel_16),
        slow("source_flood_10000", 300, stress::source_flood),
        slow("two_remotes_parallel_echo", 120, stress::two_remotes),
        slow("crash_recovery", 180, recovery::crash_recovery),
        case("after_recovery_discovery", recovery::after_discovery),
        case(
            "after_recovery_client_sample",
            recovery::after_client_sample,
        ),
        case("after_recovery_ctrl_create_ept", ept::create_ept),
        case(
            "after_recovery_ept_message_boundaries",
            ept::message_boundaries,
        ),
        case("after_recovery_ept_mtu", ept::mtu),
        case("after_recovery_ept_destroy", ept::destroy),
        case("after_recovery_raw_channel_chrdev", ch::raw_channel_chrdev),
        case(
            "after_recovery_remote_destroy_open_ept",
            ch::remote_destroy_open_ept,
        ),
        case(
            "after_recovery_ctrl_create_release_dev",
            ch::create_release_dev,
        ),
        case("after_recovery_tty_echo", ch::tty_echo),
        slow(
            "after_recovery_source_flood_10000",
            300,
            stress::source_flood,
        ),
        slow(
            "after_recovery_two_remotes_parallel_echo",
            120,
            stress::two_remotes,
        ),
        // Crashes sim0 once more, in its last round, and waits for the
        // recovery: after every case that counts on a single crash.
        slow(
            "close_during_teardown",
            300,
            teardown::close_during_teardown,
        ),
        // Reboot sim1 with buffer size offers, and without one at the end.
        slow("bufsz_no_offer_512", 120, bufsz::no_offer_512),
        slow("bufsz_4096", 120, bufsz::both_4096),
        slow("bufsz_asymmetric_rx_2048", 120, bufsz::asymmetric_rx_2048),
        slow("bufsz_asymmetric_tx_2048", 120, bufsz::asymmetric_tx_2048),
        slow("bufsz_declined", 300, bufsz::declined),
    ]
}

/// Cases with a remote that writes garbage into shared memory, for buses
/// that check what they read there (`--faults`). They run after all
/// others, so a bus they break fails nothing else.
pub fn fault_cases() -> Vec<Case> {
    use faults as f;
    vec![
        slow("fault_used_len", 120, f::used_len),
        slow("fault_used_len_short", 120, f::used_len_short),
        slow("fault_hdr_len", 120, f::hdr_len),
        slow("fault_dst", 120, f::dst),
        slow("fault_ns_short", 120, f::ns_short),
        slow("fault_ns_long", 120, f::ns_long),
        slow("fault_ns_unterminated", 120, f::ns_unterminated),
        slow("fault_ns_flags", 120, f::ns_flags),
        slow("fault_ns_empty", 120, f::ns_empty),
        slow("fault_storm_source_flood", 300, f::storm),
    ]
}

/// The stress cases (`--stress`) whose name contains `only`, or one of
/// its comma-separated parts; the first and last always run (they take
/// and print the figures).
pub fn select_stress(only: Option<&str>) -> Vec<Case> {
    let all = stress_cases();
    let n = all.len();
    all.into_iter()
        .enumerate()
        .filter(|(i, c)| {
            *i == 0
                || *i + 1 == n
                || only.is_none_or(|s| s.split(',').any(|part| c.name.contains(part)))
        })
        .map(|(_, c)| c)
        .collect()
}

/// The cases whose name contains `only`, or one of its comma-separated
/// parts (all without a filter), with the fault cases at the end if
/// `faults`.
pub fn select(only: Option<&str>, faults: bool) -> Vec<Case> {
    let mut all = cases();
    if faults {
        all.extend(fault_cases());
    }
    all.into_iter()
        .filter(|c| only.is_none_or(|s| s.split(',').any(|part| c.name.contains(part))))
        .collect()
}

/// Runs `cases`, printing KTAP to `out`; returns whether all passed.
pub fn run(cases: &[Case], out: impl Write, preamble: &[String]) -> io::Result<bool> {
    let mut ktap = Ktap::new(out, cases.len())?;
    for line in preamble {
        ktap.diag(line)?;
    }
    let shared = Arc::new(Shared::default());
    for case in cases {
        let ctx = Ctx {
            notes: Arc::default(),
            skipped: Arc::default(),
            shared: shared.clone(),
        };
        let start = Instant::now();
        let run = case.run;
        let worker = ctx.clone();
        let outcome = match bounded::spawn(case.name, move || run(&worker)) {
            Ok(b) => b.wait(case.timeout).unwrap_or_else(|h| Err(h.to_string())),
            Err(e) => Err(format!("cannot start thread: {e}")),
        };
        for line in lock(&ctx.notes).iter() {
            ktap.diag(&format!("{}: {line}", case.name))?;
        }
        if let Err(reason) = &outcome {
            ktap.diag(&format!("{}: FAIL: {reason}", case.name))?;
        }
        ktap.diag(&format!(
            "{}: {:.2} s",
            case.name,
            start.elapsed().as_secs_f64()
        ))?;
        let skipped = lock(&ctx.skipped).clone();
        match (&outcome, skipped) {
            (Ok(()), Some(reason)) => ktap.skip(case.name, &reason)?,
            _ => ktap.result(case.name, outcome.is_ok())?,
        }
    }
    ktap.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn names_unique_and_clean() {
        let all = select(None, true);
        let names: HashSet<_> = all.iter().map(|c| c.name).collect();
        assert_eq!(names.len(), all.len());
        for c in &all {
            assert_eq!(crate::ktap::sanitize(c.name), c.name);
            assert!(!c.timeout.is_zero());
        }
    }

    #[test]
    fn filter() {
        assert_eq!(select(None, false).len(), cases().len());
        let rec = select(Some("after_recovery_"), false);
        assert!(rec.len() >= 5);
        assert!(rec.iter().all(|c| c.name.starts_with("after_recovery_")));
        assert!(select(Some("no such case"), false).is_empty());
        let two = select(Some("tty_echo,discovery"), false);
        let names: Vec<_> = two.iter().map(|c| c.name).collect();
        assert_eq!(
            names,
            [
                "discovery",
                "tty_echo",
                "after_recovery_discovery",
                "after_recovery_tty_echo"
            ]
        );
    }

    #[test]
    fn fault_cases_only_on_request() {
        assert!(select(Some("fault_"), false).is_empty());
        let all = select(None, true);
        let n = fault_cases().len();
        assert_eq!(all.len(), cases().len() + n);
        assert!(all[all.len() - n..]
            .iter()
            .all(|c| c.name.starts_with("fault_")));
        assert_eq!(select(Some("fault_ns_"), true).len(), 5);
    }

    #[test]
    fn runner_reports_failures_and_timeouts() {
        let cases = [
            slow("passes", 5, |cx| {
                cx.note("hello");
                Ok(())
            }),
            slow("fails", 5, |_| Err("broken".into())),
            slow("skips", 5, |cx| {
                cx.skip("not here");
                Ok(())
            }),
            Case {
                name: "hangs",
                timeout: Duration::from_millis(50),
                run: |_| {
                    std::thread::sleep(Duration::from_millis(300));
                    Ok(())
                },
            },
        ];
        let mut out = Vec::new();
        assert!(!run(&cases, &mut out, &["pre".into()]).unwrap());
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().filter(|l| !l.ends_with(" s")).collect();
        assert_eq!(
            lines,
            [
                "KTAP version 1",
                "1..4",
                "# pre",
                "# passes: hello",
                "ok 1 passes",
                "# fails: FAIL: broken",
                "not ok 2 fails",
                "ok 3 skips # SKIP not here",
                "# hangs: FAIL: timed out after 0.05 s (interrupted)",
                "not ok 4 hangs",
                "# Totals: pass:1 fail:2 skip:1",
            ]
        );
    }
}
