//! Finding things by the names users give them: a remote processor by its
//! `name` (`sim0`, `m4_0`), a channel as `<remote>/<channel>`, by its
//! device name (`virtio0.rpmsg-raw.-1.1025`) or by its name alone when only
//! one channel has it.

use crate::bus;
use crate::control::Control;
use crate::endpoint::dev_path;
use crate::error::{Error, IoContext, Result};
use crate::topo::{self, ChannelId, Remote};

/// The remote processor whose `name` attribute is `name` (or whose
/// `remoteprocN` it is).
///
/// ```no_run
/// let r = rpmsg::remote("sim0")?;
/// println!("{} is {}", r.name, r.state()?);
/// # Ok::<(), rpmsg::Error>(())
/// ```
pub fn remote(name: &str) -> Result<Remote> {
    let all = topo::remotes().unwrap_or_default();
    if let Some(r) = all.iter().find(|r| r.name == name || r.rproc == name) {
        return Ok(r.clone());
    }
    let have: Vec<&str> = all.iter().map(|r| r.name.as_str()).collect();
    Err(Error::NotFound(if have.is_empty() {
        format!(
            "no remote processor named {name}: {} lists none (no remoteproc driver loaded?)",
            topo::CLASS_REMOTEPROC
        )
    } else {
        format!(
            "no remote processor named {name} (there are: {})",
            have.join(", ")
        )
    }))
}

impl Remote {
    /// The remote's virtio device that carries RPMsg (the one with a
    /// control channel; else the first one with any channel).
    pub fn rpmsg_vdev(&self) -> Result<String> {
        let vdevs = self
            .vdevs()
            .what(format_args!("list virtio devices of {}", self.name))?;
        if let Some(v) = vdevs.iter().find(|v| topo::ctrl_channel(v).exists()) {
            return Ok(v.clone());
        }
        let chans = topo::channels().unwrap_or_default();
        if let Some(v) = vdevs.iter().find(|v| chans.iter().any(|c| &c.vdev == *v)) {
            return Ok(v.clone());
        }
        bus::check_loaded()?;
        Err(Error::NotFound(if vdevs.is_empty() {
            format!(
                "{} ({}) has no virtio device: is it running? (state {})",
                self.name,
                self.rproc,
                self.state().unwrap_or_else(|_| "?".into())
            )
        } else {
            format!(
                "{} has no rpmsg channels on {}: is an rpmsg bus (virtio_rpmsg_bus or virtio_rpmsg_rs) loaded?",
                self.name,
                vdevs.join(", ")
            )
        }))
    }

    /// The remote's channels.
    pub fn channels(&self) -> Result<Vec<ChannelId>> {
        let vdev = self.rpmsg_vdev()?;
        Ok(topo::channels()
            .what(format_args!("list {}", topo::BUS_DEVICES))?
            .into_iter()
            .filter(|c| c.vdev == vdev)
            .collect())
    }

    /// The remote's channel called `name`.
    pub fn channel(&self, name: &str) -> Result<ChannelId> {
        let chans = self.channels()?;
        if let Some(c) = chans.iter().find(|c| c.name == name) {
            return Ok(c.clone());
        }
        let have: Vec<&str> = chans
            .iter()
            .map(|c| c.name.as_str())
            .filter(|n| *n != "rpmsg_ctrl" && *n != "rpmsg_ns")
            .collect();
        Err(Error::NotFound(format!(
            "{} has no channel named {name} (it has: {})",
            self.name,
            if have.is_empty() {
                "none".into()
            } else {
                have.join(", ")
            }
        )))
    }

    /// `rpmsg_ctrlN` of the remote's RPMsg device.
    pub fn ctrl_node(&self) -> Result<String> {
        let vdev = self.rpmsg_vdev()?;
        topo::ctrl_of(&vdev).ok_or_else(|| {
            Error::NotFound(format!(
                "{} ({vdev}) has no control device: is rpmsg_ctrl (or rpmsg_char_rs) loaded?",
                self.name
            ))
        })
    }

    /// Opens the remote's control device.
    pub fn control(&self) -> Result<Control> {
        let node = self.ctrl_node()?;
        Control::open(&dev_path(&node).to_string_lossy())
    }
}

/// A channel named the way users name it: `<remote>/<channel>`
/// (`sim0/rpmsg-raw`), its device name (`virtio0.rpmsg-raw.-1.1025`), or a
/// channel name that only one channel has.
///
/// ```no_run
/// let ch = rpmsg::channel("sim0/rpmsg-raw")?;
/// println!("{} is bound to {:?}", ch.dev_name(), ch.driver());
/// # Ok::<(), rpmsg::Error>(())
/// ```
pub fn channel(spec: &str) -> Result<ChannelId> {
    bus::check_loaded()?;
    if let Some((r, name)) = spec.split_once('/') {
        return remote(r)?.channel(name);
    }
    if let Some(c) = ChannelId::parse(spec) {
        if c.exists() {
            return Ok(c);
        }
        return Err(Error::NotFound(format!(
            "no channel {spec} in {}",
            topo::BUS_DEVICES
        )));
    }
    let all = topo::channels().what(format_args!("list {}", topo::BUS_DEVICES))?;
    let v: Vec<ChannelId> = all.into_iter().filter(|c| c.name == spec).collect();
    match v.len() {
        1 => Ok(v.into_iter().next().expect("one")),
        0 => Err(Error::NotFound(format!(
            "no channel named {spec} (rpmsg list shows them; name one as <remote>/<channel>)"
        ))),
        n => Err(Error::Invalid(format!(
            "{n} channels are named {spec}: say which as <remote>/<channel> ({})",
            v.iter()
                .map(|c| remote_of_vdev(&c.vdev)
                    .map_or_else(|| c.dev_name(), |r| format!("{}/{}", r.name, c.name)))
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// The remote processor a virtio device belongs to.
pub fn remote_of_vdev(vdev: &str) -> Option<Remote> {
    topo::remotes()
        .ok()?
        .into_iter()
        .find(|r| r.vdevs().is_ok_and(|v| v.iter().any(|x| x == vdev)))
}
