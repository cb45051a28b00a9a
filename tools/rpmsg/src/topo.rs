//! What sysfs says about remote processors, rpmsg channels and their
//! character devices. Nothing is hard-coded beyond the kernel's naming:
//! channel devices are `<vdev>.<name>.<src>.<dst>` (`rpmsg_core.c`, addresses
//! printed with `%d`), a class device with a class-less parent lives in a
//! `<class>` glue directory below it (`rpmsg/`, `tty/`), and one whose parent
//! has a class lives directly below its parent (endpoint devices under their
//! `rpmsg_ctrlN`).

use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::sys;
use crate::uapi::RPMSG_ADDR_ANY;

pub const BUS_DEVICES: &str = "/sys/bus/rpmsg/devices";
pub const BUS_DRIVERS: &str = "/sys/bus/rpmsg/drivers";
pub const CLASS_RPMSG: &str = "/sys/class/rpmsg";
pub const CLASS_REMOTEPROC: &str = "/sys/class/remoteproc";
pub const VIRTIO_DEVICES: &str = "/sys/bus/virtio/devices";

/// An rpmsg device name, `<vdev>.<name>.<src>.<dst>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChannelId {
    pub vdev: String,
    pub name: String,
    pub src: u32,
    pub dst: u32,
}

impl ChannelId {
    pub fn new(vdev: &str, name: &str, src: u32, dst: u32) -> Self {
        Self {
            vdev: vdev.into(),
            name: name.into(),
            src,
            dst,
        }
    }

    /// Splits a device name. The parent (`virtioN`) has no dot, but a
    /// service name may, so the name is what lies between the first dot and
    /// the last two.
    pub fn parse(dev: &str) -> Option<Self> {
        let (rest, dst) = dev.rsplit_once('.')?;
        let (rest, src) = rest.rsplit_once('.')?;
        let (vdev, name) = rest.split_once('.')?;
        if vdev.is_empty() || name.is_empty() {
            return None;
        }
        Some(Self::new(
            vdev,
            name,
            parse_signed(src)?,
            parse_signed(dst)?,
        ))
    }

    /// The device name, as `rpmsg_register_device_override()` prints it.
    pub fn dev_name(&self) -> String {
        format!(
            "{}.{}.{}.{}",
            self.vdev, self.name, self.src as i32, self.dst as i32
        )
    }

    pub fn dir(&self) -> PathBuf {
        Path::new(BUS_DEVICES).join(self.dev_name())
    }

    pub fn exists(&self) -> bool {
        self.dir().exists()
    }

    /// The bound driver's name.
    pub fn driver(&self) -> Option<String> {
        link_name(&self.dir().join("driver"))
    }

    /// The `rpmsgN` char device `rpmsg_chrdev` created for this channel.
    pub fn chrdev(&self) -> Option<String> {
        indexed_children(&self.dir().join("rpmsg"), "rpmsg")
            .ok()?
            .pop()
    }

    /// The `ttyRPMSGN` `rpmsg_tty` created for this channel.
    pub fn tty(&self) -> Option<String> {
        indexed_children(&self.dir().join("tty"), "ttyRPMSG")
            .ok()?
            .pop()
    }

    pub fn attr(&self, name: &str) -> io::Result<String> {
        read_attr(self.dir().join(name))
    }
}

/// Parses an address as the kernel prints it: `%d` (so `RPMSG_ADDR_ANY` is
/// `-1`) or `0x%x`.
pub fn parse_addr(s: &str) -> Option<u32> {
    match s.strip_prefix("0x") {
        Some(hex) => u32::from_str_radix(hex, 16).ok(),
        None => parse_signed(s),
    }
}

fn parse_signed(s: &str) -> Option<u32> {
    // `%d` of a u32: values above i32::MAX come out negative.
    s.parse::<i32>()
        .ok()
        .map(|v| v as u32)
        .or_else(|| s.parse::<u32>().ok())
}

/// Reads a sysfs attribute without its trailing newline.
pub fn read_attr(path: impl AsRef<Path>) -> io::Result<String> {
    let mut s = fs::read_to_string(path)?;
    while s.ends_with('\n') {
        s.pop();
    }
    Ok(s)
}

fn link_name(path: &Path) -> Option<String> {
    let target = fs::read_link(path).ok()?;
    Some(target.file_name()?.to_string_lossy().into_owned())
}

/// Whether `name` is `prefix` followed by a decimal index.
pub fn is_indexed(name: &str, prefix: &str) -> bool {
    name.strip_prefix(prefix)
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

fn index_of(name: &str, prefix: &str) -> u64 {
    name[prefix.len()..].parse().unwrap_or(u64::MAX)
}

/// Entries `<prefix><index>` of a directory, by index.
pub fn indexed_children(dir: &Path, prefix: &str) -> io::Result<Vec<String>> {
    let mut v: Vec<String> = fs::read_dir(dir)?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| is_indexed(n, prefix))
        .collect();
    v.sort_by_key(|n| index_of(n, prefix));
    Ok(v)
}

/// Every rpmsg device on the bus whose name parses as a channel.
pub fn channels() -> io::Result<Vec<ChannelId>> {
    let mut v: Vec<ChannelId> = fs::read_dir(BUS_DEVICES)?
        .filter_map(|e| ChannelId::parse(&e.ok()?.file_name().to_string_lossy()))
        .collect();
    v.sort_by(|a, b| (&a.vdev, a.dst, &a.name).cmp(&(&b.vdev, b.dst, &b.name)));
    Ok(v)
}

/// A remote processor: `/sys/class/remoteproc/remoteprocN`.
#[derive(Clone, Debug)]
pub struct Remote {
    pub rproc: String,
    /// Its `name` attribute (`simI` for the simulator).
    pub name: String,
    /// Canonical sysfs directory; the remote's virtio devices live below it.
    pub dir: PathBuf,
}

impl Remote {
    pub fn state(&self) -> io::Result<String> {
        read_attr(self.dir.join("state"))
    }

    /// Virtio devices created from this remote's resource table.
    pub fn vdevs(&self) -> io::Result<Vec<String>> {
        let mut v = Vec::new();
        for name in indexed_children(Path::new(VIRTIO_DEVICES), "virtio")? {
            let path = fs::canonicalize(Path::new(VIRTIO_DEVICES).join(&name))?;
            if path.starts_with(&self.dir) {
                v.push(name);
            }
        }
        Ok(v)
    }
}

pub fn remotes() -> io::Result<Vec<Remote>> {
    let mut v = Vec::new();
    for rproc in indexed_children(Path::new(CLASS_REMOTEPROC), "remoteproc")? {
        let link = Path::new(CLASS_REMOTEPROC).join(&rproc);
        v.push(Remote {
            name: read_attr(link.join("name"))?,
            dir: fs::canonicalize(&link)?,
            rproc,
        });
    }
    Ok(v)
}

/// The remote processor whose `name` is `name`.
pub fn remote(name: &str) -> io::Result<Option<Remote>> {
    Ok(remotes()?.into_iter().find(|r| r.name == name))
}

/// The virtio device's control channel, which `virtio_rpmsg_bus` registers
/// as `<vdev>.rpmsg_ctrl.0.0`.
pub fn ctrl_channel(vdev: &str) -> ChannelId {
    ChannelId::new(vdev, "rpmsg_ctrl", 0, 0)
}

/// `rpmsg_ctrlN` of a virtio device, when `rpmsg_ctrl` is bound to it.
pub fn ctrl_of(vdev: &str) -> Option<String> {
    indexed_children(&ctrl_channel(vdev).dir().join("rpmsg"), "rpmsg_ctrl")
        .ok()?
        .pop()
}

/// Identity of a virtio device's sysfs directory. kernfs numbers its nodes
/// without reuse, so this tells a re-created `virtioN` from the old one.
pub fn vdev_ino(vdev: &str) -> io::Result<u64> {
    Ok(fs::metadata(Path::new(VIRTIO_DEVICES).join(vdev))?.ino())
}

/// Endpoint devices (`rpmsgN`) created through a control device.
pub fn eptdevs_of_ctrl(ctrl: &str) -> io::Result<Vec<String>> {
    indexed_children(&Path::new(CLASS_RPMSG).join(ctrl), "rpmsg")
}

/// The attributes `rpmsg_char` gives an endpoint device (all `%s`/`%d`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EptAttrs {
    pub name: String,
    pub src: u32,
    pub dst: u32,
}

pub fn ept_attrs(node: &str) -> io::Result<EptAttrs> {
    let dir = Path::new(CLASS_RPMSG).join(node);
    let num = |attr: &str| -> io::Result<u32> {
        let s = read_attr(dir.join(attr))?;
        parse_signed(&s)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, format!("{attr} = {s:?}")))
    };
    Ok(EptAttrs {
        name: read_attr(dir.join("name"))?,
        src: num("src")?,
        dst: num("dst")?,
    })
}

/// Whether `/dev/<node>` is the char device sysfs describes at `sysfs_dir`
/// (its `dev` attribute), so a stale or foreign node is never used.
pub fn node_matches(node: &str, sysfs_dir: &Path) -> bool {
    let Ok(dev) = read_attr(sysfs_dir.join("dev")) else {
        return false;
    };
    let Ok(meta) = fs::metadata(Path::new("/dev").join(node)) else {
        return false;
    };
    let (major, minor) = sys::dev_split(meta.rdev());
    dev == format!("{major}:{minor}")
}

/// The rpmsg device (channel) a sysfs path lies under: the owner of a
/// class device such as `rpmsgN` or `ttyRPMSGN`.
pub fn owner_channel(path: &Path) -> Option<ChannelId> {
    path.ancestors()
        .filter_map(|p| ChannelId::parse(&p.file_name()?.to_string_lossy()))
        .next()
}

/// The virtio device an `rpmsgN` (endpoint or channel char device) or
/// `rpmsg_ctrlN` belongs to.
pub fn vdev_of_node(node: &str) -> Option<String> {
    let path = fs::canonicalize(Path::new(CLASS_RPMSG).join(node)).ok()?;
    path.ancestors()
        .filter_map(|p| p.file_name()?.to_str())
        .find(|n| is_indexed(n, "virtio"))
        .map(str::to_owned)
}

/// Formats an address for humans: `ANY` or decimal.
pub fn addr_text(addr: u32) -> String {
    if addr == RPMSG_ADDR_ANY {
        "ANY".into()
    } else {
        addr.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_channel_names() {
        let c = ChannelId::parse("virtio0.rpmsg-raw.-1.1025").unwrap();
        assert_eq!(
            c,
            ChannelId::new("virtio0", "rpmsg-raw", RPMSG_ADDR_ANY, 1025)
        );
        assert_eq!(c.dev_name(), "virtio0.rpmsg-raw.-1.1025");

        let c = ChannelId::parse("virtio12.rpmsg_ns.53.53").unwrap();
        assert_eq!(
            (c.vdev.as_str(), c.name.as_str(), c.src, c.dst),
            ("virtio12", "rpmsg_ns", 53, 53)
        );

        // Dots inside the service name stay in the name.
        let c = ChannelId::parse("virtio1.a.b.c.12800.1025").unwrap();
        assert_eq!((c.vdev.as_str(), c.name.as_str()), ("virtio1", "a.b.c"));
        assert_eq!(c.dev_name(), "virtio1.a.b.c.12800.1025");

        // Addresses above i32::MAX are printed negative by %d.
        let c = ChannelId::new("virtio0", "x", 0x8000_0000, 7);
        assert_eq!(c.dev_name(), "virtio0.x.-2147483648.7");
        assert_eq!(ChannelId::parse(&c.dev_name()), Some(c));

        for bad in [
            "virtio0",
            "virtio0.x.1",
            ".x.1.2",
            "virtio0..1.2",
            "virtio0.x.y.2",
            "virtio0.x.1.0x2",
        ] {
            assert_eq!(ChannelId::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn parse_addresses() {
        assert_eq!(parse_addr("0x400"), Some(1024));
        assert_eq!(parse_addr("0xffffffff"), Some(RPMSG_ADDR_ANY));
        assert_eq!(parse_addr("-1"), Some(RPMSG_ADDR_ANY));
        assert_eq!(parse_addr("1025"), Some(1025));
        assert_eq!(parse_addr("4294967295"), Some(RPMSG_ADDR_ANY));
        assert_eq!(parse_addr("0x"), None);
        assert_eq!(parse_addr("abc"), None);
        assert_eq!(addr_text(RPMSG_ADDR_ANY), "ANY");
        assert_eq!(addr_text(53), "53");
    }

    #[test]
    fn owner_of_class_devices() {
        let p = Path::new("/sys/devices/platform/x/remoteproc/remoteproc0/rproc-virtio.0.auto/virtio0/virtio0.rpmsg-raw.-1.1025/rpmsg/rpmsg3");
        assert_eq!(
            owner_channel(p).unwrap().dev_name(),
            "virtio0.rpmsg-raw.-1.1025"
        );
        let p = Path::new("/sys/devices/virtio0/virtio0.rpmsg_ctrl.0.0/rpmsg/rpmsg_ctrl0/rpmsg5");
        assert_eq!(owner_channel(p).unwrap().name, "rpmsg_ctrl");
        // "rproc-virtio.0.auto" must not pass for a channel.
        assert_eq!(
            owner_channel(Path::new("/sys/devices/rproc-virtio.0.auto/virtio0")),
            None
        );
    }

    #[test]
    fn indexed_names() {
        assert!(is_indexed("rpmsg12", "rpmsg"));
        assert!(!is_indexed("rpmsg", "rpmsg"));
        assert!(!is_indexed("rpmsg_ctrl0", "rpmsg"));
        assert!(is_indexed("rpmsg_ctrl0", "rpmsg_ctrl"));
        assert!(!is_indexed("ttyRPMSG1a", "ttyRPMSG"));
    }

    #[test]
    fn indexed_children_sorted_numerically() {
        let dir = std::env::temp_dir().join(format!("rpmsg-test-topo-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        for n in ["rpmsg10", "rpmsg2", "rpmsg_ctrl0", "power", "rpmsg1"] {
            fs::create_dir_all(dir.join(n)).unwrap();
        }
        assert_eq!(
            indexed_children(&dir, "rpmsg").unwrap(),
            ["rpmsg1", "rpmsg2", "rpmsg10"]
        );
        fs::remove_dir_all(&dir).unwrap();
    }
}
