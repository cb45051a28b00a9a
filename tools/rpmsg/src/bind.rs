//! Binding a channel to a driver the way userspace does it: the channel's
//! `driver_override`, then the driver's `bind` file.

use std::fs::OpenOptions;
use std::path::Path;
use std::time::Duration;

use crate::endpoint::{wait_for, APPEAR};
use crate::error::{describe, Error, IoContext, Result};
use crate::sys;
use crate::topo::{self, ChannelId};

/// The char driver: makes `/dev/rpmsgN` for a channel.
pub const CHRDEV_DRIVER: &str = "rpmsg_chrdev";

/// What binding made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bound {
    pub driver: String,
    /// The device node the driver made: `rpmsgN` for `rpmsg_chrdev`,
    /// `ttyRPMSGN` for `rpmsg_tty`; `None` for other drivers.
    pub node: Option<String>,
}

/// Writes `value` to a sysfs attribute in one `write(2)`.
pub fn write_attr(path: &Path, value: &str) -> Result<()> {
    let f = OpenOptions::new()
        .write(true)
        .open(path)
        .what(format_args!("open {}", path.display()))?;
    let n = sys::write(&f, value.as_bytes())
        .what(format_args!("write {value:?} to {}", path.display()))?;
    if n != value.len() {
        return Err(Error::Invalid(format!("short write to {}", path.display())));
    }
    Ok(())
}

fn driver_dir(driver: &str) -> Result<std::path::PathBuf> {
    let dir = Path::new(topo::BUS_DRIVERS).join(driver);
    if dir.is_dir() {
        return Ok(dir);
    }
    let module = match driver {
        CHRDEV_DRIVER | "rpmsg_ctrl" => " (module rpmsg_char and rpmsg_ctrl, or rpmsg_char_rs)",
        "rpmsg_tty" => " (module rpmsg_tty)",
        _ => "",
    };
    Err(Error::NotFound(format!(
        "driver {driver} is not registered on the rpmsg bus: its module{module} is not loaded"
    )))
}

/// Binds `ch` to `driver` (`driver_override`, then `bind`) and waits for
/// the device node it makes. A channel bound to another driver is refused
/// ([`Error::Busy`]; [`unbind`] it first); one bound to `driver` already is
/// left as it is.
///
/// ```no_run
/// let ch = rpmsg::channel("sim0/my-service")?;
/// let b = rpmsg::bind(&ch, rpmsg::CHRDEV_DRIVER)?;
/// println!("/dev/{}", b.node.unwrap());
/// # Ok::<(), rpmsg::Error>(())
/// ```
pub fn bind(ch: &ChannelId, driver: &str) -> Result<Bound> {
    let dir = driver_dir(driver)?;
    match ch.driver() {
        Some(d) if d == driver => {}
        Some(d) => {
            return Err(Error::Busy(format!(
                "{} is bound to {d}, not {driver}: unbind it first",
                ch.dev_name()
            )))
        }
        None => {
            crate::bind::write_attr(&ch.dir().join("driver_override"), driver)?;
            bind_file(ch, driver, &dir.join("bind"))?;
        }
    }
    let node = match driver {
        CHRDEV_DRIVER => {
            let node = wait_for(&format!("char device of {}", ch.dev_name()), APPEAR, || {
                ch.chrdev()
            })?;
            let dir = ch.dir().join("rpmsg").join(&node);
            wait_for(&format!("/dev/{node}"), APPEAR, || {
                topo::node_matches(&node, &dir).then_some(())
            })?;
            Some(node)
        }
        "rpmsg_tty" => Some(wait_for(
            &format!("tty of {}", ch.dev_name()),
            APPEAR,
            || ch.tty(),
        )?),
        _ => None,
    };
    Ok(Bound {
        driver: driver.into(),
        node,
    })
}

/// Writes the channel's name to the driver's `bind` file.
///
/// A device is visible in sysfs before device_add() lets it probe: until
/// bus_add_device() has put it on the bus's list, bind_store() does not
/// find it (ENODEV), and until device_add() is done the driver core answers
/// EAGAIN ("Device not ready to probe"); tools are expected to retry. If
/// the first probe comes after the override was written, it binds the
/// driver itself and the explicit bind finds the device taken (EBUSY).
fn bind_file(ch: &ChannelId, driver: &str, bind: &Path) -> Result<()> {
    let (mut failed, mut transient) = (None, String::new());
    wait_for(&format!("bind {}", ch.dev_name()), APPEAR, || {
        let f = OpenOptions::new().write(true).open(bind).ok()?;
        match sys::write(&f, ch.dev_name().as_bytes()) {
            Ok(_) => Some(()),
            Err(e) if matches!(e.raw_os_error(), Some(libc::EAGAIN | libc::ENODEV)) => {
                transient = describe(&e);
                None
            }
            Err(e)
                if e.raw_os_error() == Some(libc::EBUSY)
                    && ch.driver().as_deref() == Some(driver) =>
            {
                Some(())
            }
            Err(e) => {
                failed = Some(e);
                Some(())
            }
        }
    })
    .map_err(|e| Error::Timeout(format!("{e} (last answer: {transient})")))?;
    match failed {
        Some(e) => Err(Error::io(
            format!("write {:?} to {}", ch.dev_name(), bind.display()),
            e,
        )),
        None => Ok(()),
    }
}

/// Unbinds `ch` from its driver and clears its `driver_override`, so no
/// driver takes it until it is bound again. Returns the driver it had
/// (`None`: it was not bound).
pub fn unbind(ch: &ChannelId) -> Result<Option<String>> {
    let driver = ch.driver();
    if let Some(d) = &driver {
        let path = Path::new(topo::BUS_DRIVERS).join(d).join("unbind");
        write_attr(&path, &ch.dev_name())?;
        wait_for(&format!("{} unbound", ch.dev_name()), APPEAR, || {
            ch.driver().is_none().then_some(())
        })?;
    }
    let ovr = ch.dir().join("driver_override");
    if topo::read_attr(&ovr).is_ok_and(|v| !v.is_empty() && v != "(null)") {
        write_attr(&ovr, "\n")?;
    }
    Ok(driver)
}

/// How long [`bind`] waits for the driver core: see `bind_file`.
pub const BIND_TIMEOUT: Duration = APPEAR;
