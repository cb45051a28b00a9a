//! What the RPMsg bus on a virtio device reports about itself: the Rust
//! bus's counters in debugfs, and which driver drives the device (the
//! `rpmsg` library's `bus`, with the suite's checks of the counters).

use crate::error::{Context, Res};
use crate::sim::Stats;

pub use rpmsg::bus::{driver_name, driver_of, is_c_bus, stats_path, C_BUS_MODULE, DEBUGFS_ROOT};

/// Counters of the Rust bus's `stats` file (`key: value` per line).
pub const COUNTERS: [&str; 8] = [
    "rx_msgs",
    "tx_msgs",
    // Used length beyond the buffer, or shorter than a header.
    "rx_dropped_bad_len",
    // Header length beyond what the used length covers.
    "rx_dropped_bad_hdr",
    // No endpoint at the destination address.
    "rx_dropped_no_ept",
    // Malformed name-service message.
    "ns_bad",
    "ns_created",
    "ns_destroyed",
];

/// The bus's counters for `vdev`.
pub fn stats(vdev: &str) -> Res<Stats> {
    let path = stats_path(vdev);
    let text = std::fs::read_to_string(&path).ctx(format_args!("read {}", path.display()))?;
    let s = Stats::parse(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    for key in COUNTERS {
        s.get(key).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(s)
}

/// Transmit buffers of the Rust bus (`buffers` in its stats); `None` on a
/// bus without that file (the kernel's C bus).
pub fn tx_buffers(vdev: &str) -> Res<Option<u64>> {
    if !stats_path(vdev).exists() {
        return Ok(None);
    }
    let s = stats(vdev)?;
    s.get("buffers")
        .map(Some)
        .map_err(|e| format!("{}: {e}", stats_path(vdev).display()))
}

/// Send buffer size of the Rust bus (`tx_buf_size` in its stats); `None`
/// on a bus without that file (the kernel's C bus).
pub fn tx_buf_size(vdev: &str) -> Res<Option<usize>> {
    if !stats_path(vdev).exists() {
        return Ok(None);
    }
    let s = stats(vdev)?;
    s.get("tx_buf_size")
        .map(|v| Some(v as usize))
        .map_err(|e| format!("{}: {e}", stats_path(vdev).display()))
}
