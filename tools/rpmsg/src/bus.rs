//! What the RPMsg bus on a virtio device reports about itself: which
//! driver drives it, and the counters rpmsg-rs's bus keeps in debugfs.

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{Error, IoContext, Result};
use crate::topo::VIRTIO_DEVICES;

/// rpmsg-rs's bus's debugfs directory: `<root>/<virtioN>/stats`.
pub const DEBUGFS_ROOT: &str = "/sys/kernel/debug/virtio_rpmsg_rs";
/// The kernel's C bus, which keeps no counters.
pub const C_BUS_MODULE: &str = "virtio_rpmsg_bus";
/// `sizeof(struct rpmsg_hdr)`: what a buffer holds besides the payload.
pub const HDR_SIZE: usize = 16;

pub fn stats_path(vdev: &str) -> PathBuf {
    Path::new(DEBUGFS_ROOT).join(vdev).join("stats")
}

/// Splits `key: value` lines (the format of every counters file here).
///
/// ```
/// let kv = rpmsg::bus::parse_kv("rx_msgs: 3\ntx_msgs: 4\n").unwrap();
/// assert_eq!(kv, [("rx_msgs".to_owned(), "3".to_owned()), ("tx_msgs".to_owned(), "4".to_owned())]);
/// ```
pub fn parse_kv(text: &str) -> std::result::Result<Vec<(String, String)>, String> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let (k, v) = line
                .split_once(':')
                .ok_or_else(|| format!("bad line {line:?}"))?;
            Ok((k.trim().to_owned(), v.trim().to_owned()))
        })
        .collect()
}

/// The bus's counters for `vdev`, in the file's order; `None` when the bus
/// keeps none (the kernel's C bus) or debugfs is not mounted. Values are as
/// the file has them: numbers, and a few words (`bufsz: negotiated`).
pub fn counters(vdev: &str) -> Result<Option<Vec<(String, String)>>> {
    let path = stats_path(vdev);
    let text = match fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(format!("read {}", path.display()), e)),
    };
    parse_kv(&text)
        .map(Some)
        .map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))
}

/// The largest payload the bus of `vdev` sends, where it says (rpmsg-rs's
/// bus: `tx_buf_size` in its counters, which `VIRTIO_RPMSG_F_BUFSZ` may have
/// made other than 512; `buf_size` before it had per-direction sizes).
pub fn mtu(vdev: &str) -> Option<usize> {
    mtu_of(&counters(vdev).ok()??)
}

fn mtu_of(c: &[(String, String)]) -> Option<usize> {
    let size = &["tx_buf_size", "buf_size"]
        .iter()
        .find_map(|key| c.iter().find(|(k, _)| k == key))?
        .1;
    size.parse::<usize>().ok()?.checked_sub(HDR_SIZE)
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

/// Fails with a sentence naming the missing module when there is no rpmsg
/// bus at all.
pub fn check_loaded() -> Result<()> {
    if Path::new(crate::topo::BUS_DEVICES).is_dir() {
        return Ok(());
    }
    Err(Error::NotFound(format!(
        "{} does not exist: the rpmsg core (module rpmsg_core) is not loaded",
        crate::topo::BUS_DEVICES
    )))
}

/// Reads a counters file of any kind, for callers that want the raw text.
pub fn read_stats(vdev: &str) -> Result<String> {
    let path = stats_path(vdev);
    fs::read_to_string(&path).what(format_args!("read {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mtu_from_counters() {
        let c = |kv: &[(&str, &str)]| -> Vec<(String, String)> {
            kv.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let bufsz = [
            ("rx_buf_size", "512"),
            ("tx_buf_size", "4096"),
            ("bufsz", "negotiated"),
        ];
        assert_eq!(mtu_of(&c(&bufsz)), Some(4080));
        assert_eq!(mtu_of(&c(&[("buf_size", "512")])), Some(496));
        assert_eq!(mtu_of(&c(&[("rx_msgs", "3")])), None);
    }

    #[test]
    fn kv_lines() {
        assert!(parse_kv("a 1\n").unwrap_err().contains("bad line"));
        assert_eq!(parse_kv("\n x : y \n").unwrap(), [("x".into(), "y".into())]);
        assert_eq!(
            stats_path("virtio0"),
            Path::new("/sys/kernel/debug/virtio_rpmsg_rs/virtio0/stats")
        );
    }
}
