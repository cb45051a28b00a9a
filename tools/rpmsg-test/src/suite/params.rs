//! Module parameters: every value is either refused at load, with a
//! message, or accepted and honoured. The cases reload the module they
//! test and leave it loaded with its defaults, as the stack loads it.

use std::ffi::CString;
use std::fs::File;
use std::path::Path;
use std::time::Duration;

use super::common::*;
use super::stress::drain_source;
use super::Ctx;
use crate::charlayer;
use crate::ensure;
use crate::error::{describe, expect_errno, Context, Res};
use crate::sys;

/// Where the guest keeps the stack's modules (scripts/mkinitramfs.sh).
const MODULES: &str = "/lib/modules";
/// `rx_queue_len` values the Rust char layer refuses, and the bounds it
/// accepts (drivers/rpmsg/rpmsg_char_rs_main.rs, RX_QUEUE_LEN_MAX).
const RX_QUEUE_REFUSED: [u32; 2] = [0, 65_537];
const RX_QUEUE_MAX: u32 = 65_536;
/// Local address of the endpoint the source floods.
const QUEUE_SRC: u32 = 0x3600;
const MSG_SIZE: usize = 32;
/// Messages beyond the bound, which must be dropped and counted.
const EXCESS: u32 = 5;
/// A flood far below the largest bound.
const LARGE_FLOOD: u32 = 600;

fn insmod(name: &str, params: &str) -> std::io::Result<()> {
    let f = File::open(Path::new(MODULES).join(format!("{name}.ko")))?;
    let params = CString::new(params).map_err(std::io::Error::other)?;
    sys::finit_module(&f, &params)
}

/// Reloads the Rust char layer with `params`: the unload removes its
/// devices, the load binds them again (the control devices come back under
/// their old numbers, the lowest free).
fn reload_char(params: &str) -> Res {
    sys::delete_module(charlayer::RUST_MODULE).ctx("rmmod rpmsg_char_rs")?;
    insmod(charlayer::RUST_MODULE, params).ctx(format_args!("insmod rpmsg_char_rs {params}"))
}

/// Puts the module back as the stack loads it, whatever happened.
struct Restore;

impl Drop for Restore {
    fn drop(&mut self) {
        if !charlayer::is_rust() {
            let _ = insmod(charlayer::RUST_MODULE, "");
        } else if !std::thread::panicking() {
            let _ = reload_char("");
        }
    }
}

/// An endpoint fed `n` messages by a source with nobody reading keeps the
/// oldest `bound` of them (all if fewer) and counts the rest as dropped.
fn check_bound(bound: u32, n: u32) -> Res {
    let t = Target::ready(SIM0)?;
    let source = Announced::new(&t, "qlen", "source", None)?;
    let (ctrl_name, ctrl) = t.open_ctrl()?;
    let mut ept = Ept::create(
        &ctrl,
        &ctrl_name,
        &unique_name("qlen"),
        QUEUE_SRC,
        source.addr,
    )?;
    ept.open(true).ctx("open")?;
    let f = ept.file()?;
    let q = charlayer::rx_queue(&ept.node)?.ok_or("no rx_queue in debugfs")?;
    ensure!(
        q.max == u64::from(bound),
        "rx_queue_len={bound}: the endpoint's queue bound is {}",
        q.max
    );
    let before = quiesce(&t.sim)?;
    let cmd = format!("source {} {QUEUE_SRC} {n} {MSG_SIZE}", source.addr);
    t.sim.control(&cmd).ctx(format_args!("{SIM0}: {cmd}"))?;
    wait_source_drained(&t.sim, &before, n)?;
    let kept = n.min(bound);
    let q = charlayer::rx_queue(&ept.node)?.ok_or("rx_queue vanished")?;
    ensure!(
        q.queued == u64::from(kept) && q.dropped == u64::from(n - kept),
        "rx_queue_len={bound}, {n} messages unread: queued {}, dropped {}; expected {kept} \
         and {}",
        q.queued,
        q.dropped,
        n - kept
    );
    drain_source(f, kept, MSG_SIZE).map_err(|e| format!("rx_queue_len={bound}: {e}"))?;
    let mut buf = [0u8; 64];
    expect_errno(
        sys::read(f, &mut buf),
        libc::EAGAIN,
        format_args!("rx_queue_len={bound}: read after {kept} messages"),
    )?;
    // The endpoint goes on working after the drops.
    echo_via_source(&t, &source, f)
}

fn echo_via_source(t: &Target, source: &Announced, f: &File) -> Res {
    let cmd = format!("source {} {QUEUE_SRC} 1 {MSG_SIZE}", source.addr);
    t.sim.control(&cmd).ctx(format_args!("{SIM0}: {cmd}"))?;
    let got = recv(f, REPLY)?;
    ensure!(
        got.len() == MSG_SIZE,
        "message after the flood has {} bytes",
        got.len()
    );
    expect_silence(f, Duration::from_millis(100))
}

/// `rx_queue_len` of rpmsg_char_rs: 0 and values above the maximum are
/// refused at load (EINVAL, a message in the kernel log); 1, 7 and 8 (below
/// and at the queue's first growth step) and the maximum are honoured.
pub fn rx_queue_len(cx: &Ctx) -> Res {
    if !charlayer::is_rust() {
        cx.skip("the kernel's rpmsg_char has no rx_queue_len");
        return Ok(());
    }
    let _restore = Restore;
    for bad in RX_QUEUE_REFUSED {
        sys::delete_module(charlayer::RUST_MODULE).ctx("rmmod rpmsg_char_rs")?;
        let params = format!("rx_queue_len={bad}");
        match insmod(charlayer::RUST_MODULE, &params) {
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {}
            Err(e) => {
                return Err(format!(
                    "insmod {params}: {}, expected EINVAL",
                    describe(&e)
                ))
            }
            Ok(()) => return Err(format!("insmod {params} succeeded, expected EINVAL")),
        }
        ensure!(
            !charlayer::is_rust(),
            "rpmsg_char_rs is loaded after a refused insmod"
        );
        insmod(charlayer::RUST_MODULE, "").ctx("insmod rpmsg_char_rs")?;
    }
    for bound in [1, 7, 8] {
        reload_char(&format!("rx_queue_len={bound}"))?;
        check_bound(bound, bound + EXCESS)?;
    }
    // The largest bound: a flood far below it is kept whole.
    reload_char(&format!("rx_queue_len={RX_QUEUE_MAX}"))?;
    check_bound(RX_QUEUE_MAX, LARGE_FLOOD)
}
