//! Which char layer serves the endpoint devices: the kernel's
//! `rpmsg_char`, whose receive queues grow without bound, or the Rust
//! `rpmsg_char_rs`, which bounds each endpoint's queue (module parameter
//! `rx_queue_len`) and shows it in debugfs
//! (Documentation/userspace-abi.md).

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{Context, Res};
use crate::sim::Stats;

pub const RUST_MODULE: &str = "rpmsg_char_rs";
pub const DEBUGFS_ROOT: &str = "/sys/kernel/debug/rpmsg_char_rs";

/// Whether the Rust char layer is loaded.
pub fn is_rust() -> bool {
    Path::new("/sys/module").join(RUST_MODULE).exists()
}

pub fn rx_queue_path(node: &str) -> PathBuf {
    Path::new(DEBUGFS_ROOT).join(node).join("rx_queue")
}

/// `rx_queue` of an endpoint device of the Rust char layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RxQueue {
    pub queued: u64,
    pub max: u64,
    pub received: u64,
    pub dropped: u64,
}

impl RxQueue {
    pub fn parse(text: &str) -> Res<Self> {
        let s = Stats::parse(text)?;
        Ok(Self {
            queued: s.get("queued")?,
            max: s.get("max")?,
            received: s.get("received")?,
            dropped: s.get("dropped")?,
        })
    }
}

/// The receive queue of `/dev/<node>`: `None` on the kernel's char layer,
/// which has no bound and no such file; an error if the Rust layer is
/// loaded and the file is missing.
pub fn rx_queue(node: &str) -> Res<Option<RxQueue>> {
    if !is_rust() {
        return Ok(None);
    }
    let path = rx_queue_path(node);
    let text = fs::read_to_string(&path).ctx(format_args!("read {}", path.display()))?;
    RxQueue::parse(&text)
        .map(Some)
        .map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_rx_queue() {
        let q = RxQueue::parse("queued: 256\nmax: 256\nreceived: 256\ndropped: 356\n").unwrap();
        assert_eq!(
            q,
            RxQueue {
                queued: 256,
                max: 256,
                received: 256,
                dropped: 356
            }
        );
        assert!(RxQueue::parse("queued: 1\nmax: 2\n").is_err());
        assert_eq!(
            rx_queue_path("rpmsg3"),
            Path::new("/sys/kernel/debug/rpmsg_char_rs/rpmsg3/rx_queue")
        );
    }
}
