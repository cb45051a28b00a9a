//! What the RPMsg bus on a virtio device reports about itself: the Rust
//! bus's counters in debugfs, and which driver drives the device.

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{Context, Res};
use crate::sim::Stats;
use crate::topo::VIRTIO_DEVICES;

/// The Rust bus's debugfs directory: `<root>/<virtioN>/stats`.
pub const DEBUGFS_ROOT: &str = "/sys/kernel/debug/virtio_rpmsg_rs";
/// The kernel's C bus, which keeps no counters.
pub const C_BUS_MODULE: &str = "virtio_rpmsg_bus";

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

pub fn stats_path(vdev: &str) -> PathBuf {
    Path::new(DEBUGFS_ROOT).join(vdev).join("stats")
}

/// The bus's counters for `vdev`.
pub fn stats(vdev: &str) -> Res<Stats> {
    let path = stats_path(vdev);
    let text = fs::read_to_string(&path).ctx(format_args!("read {}", path.display()))?;
    let s = Stats::parse(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    for key in COUNTERS {
        s.get(key).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(s)
}

/// The module (or, if built in, the driver) driving a virtio device.
pub fn driver_of(vdev: &str) -> Option<String> {
    let driver = fs::canonicalize(Path::new(VIRTIO_DEVICES).join(vdev).join("driver")).ok()?;
    let name = |p: &Path| Some(p.file_name()?.to_string_lossy().into_owned());
    match fs::read_link(driver.join("module")) {
        Ok(module) => name(&module),
        Err(_) => name(&driver),
    }
}

/// The name of the virtio driver bound to a device (`virtio_rpmsg_bus`,
/// `virtio_rpmsg_rs`): where its `bind` and `unbind` files are.
pub fn driver_name(vdev: &str) -> Option<String> {
    let link = fs::read_link(Path::new(VIRTIO_DEVICES).join(vdev).join("driver")).ok()?;
    Some(link.file_name()?.to_string_lossy().into_owned())
}

/// Whether the kernel's C bus drives `vdev`.
pub fn is_c_bus(vdev: &str) -> bool {
    driver_of(vdev).as_deref() == Some(C_BUS_MODULE)
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
