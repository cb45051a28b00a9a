//! The simulated remote's debugfs files (Documentation/sim-control.md).

use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use crate::error::{Context, Res};
use crate::sys;
use crate::topo::parse_addr;

pub const DEBUGFS_ROOT: &str = "/sys/kernel/debug/rpmsg_sim";

/// One simulated remote, `simI`.
#[derive(Clone, Debug)]
pub struct Sim {
    pub name: String,
    dir: PathBuf,
}

impl Sim {
    pub fn new(name: &str) -> Self {
        Self {
            name: name.into(),
            dir: PathBuf::from(DEBUGFS_ROOT).join(name),
        }
    }

    /// Sends one command. The control file takes one command per write, so
    /// it goes out in a single `write(2)`; its errno is the command's result.
    pub fn control(&self, cmd: &str) -> io::Result<()> {
        let f = OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NOCTTY)
            .open(self.dir.join("control"))?;
        let line = format!("{cmd}\n");
        let n = sys::write(&f, line.as_bytes())?;
        if n != line.len() {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                "short write to control",
            ));
        }
        Ok(())
    }

    /// Has the remote misbehave once (`inject <kind>`).
    pub fn inject(&self, kind: &str) -> io::Result<()> {
        self.control(&format!("inject {kind}"))
    }

    /// Stops the remote taking messages from the host (`stall`).
    pub fn stall(&self) -> io::Result<()> {
        self.control("stall")
    }

    /// Lets it take them again (`resume`).
    pub fn resume(&self) -> io::Result<()> {
        self.control("resume")
    }

    fn read(&self, file: &str) -> Res<String> {
        fs::read_to_string(self.dir.join(file)).ctx(format_args!("read {}/{file}", self.name))
    }

    pub fn stats(&self) -> Res<Stats> {
        Stats::parse(&self.read("stats")?).map_err(|e| format!("{}/stats: {e}", self.name))
    }

    pub fn endpoints(&self) -> Res<Vec<RemoteEndpoint>> {
        parse_endpoints(&self.read("endpoints")?)
            .map_err(|e| format!("{}/endpoints: {e}", self.name))
    }

    /// The remote endpoint called `name`.
    pub fn endpoint(&self, name: &str) -> Res<Option<RemoteEndpoint>> {
        Ok(self.endpoints()?.into_iter().find(|e| e.name == name))
    }

    pub fn host_channels(&self) -> Res<Vec<(u32, String)>> {
        parse_host_channels(&self.read("host_channels")?)
            .map_err(|e| format!("{}/host_channels: {e}", self.name))
    }
}

/// The `stats` file: `key: value` per line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats(BTreeMap<String, String>);

impl Stats {
    pub fn parse(text: &str) -> Res<Self> {
        Ok(Self(rpmsg::bus::parse_kv(text)?.into_iter().collect()))
    }

    pub fn get(&self, key: &str) -> Res<u64> {
        let v = self
            .0
            .get(key)
            .ok_or_else(|| format!("no {key:?} in stats"))?;
        v.parse()
            .map_err(|_| format!("stats {key}: {v:?} is not a number"))
    }

    /// A value as text.
    pub fn text(&self, key: &str) -> Res<&str> {
        self.0
            .get(key)
            .map(String::as_str)
            .ok_or_else(|| format!("no {key:?} in stats"))
    }

    pub fn state(&self) -> Res<&str> {
        self.0
            .get("state")
            .map(String::as_str)
            .ok_or_else(|| "no \"state\" in stats".to_owned())
    }

    /// Every key, in order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    /// How much `key` grew since `before`.
    pub fn delta(&self, before: &Stats, key: &str) -> Res<u64> {
        let (now, then) = (self.get(key)?, before.get(key)?);
        now.checked_sub(then)
            .ok_or_else(|| format!("stats {key} went backwards: {then} -> {now}"))
    }

    /// The message counters, to tell whether the remote is still busy.
    pub fn traffic(&self) -> Res<[u64; 2]> {
        Ok([self.get("rx_msgs")?, self.get("tx_msgs")?])
    }
}

/// A line of the `endpoints` file: `<addr> <service> <name>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteEndpoint {
    pub addr: u32,
    pub service: String,
    pub name: String,
}

pub fn parse_endpoints(text: &str) -> Res<Vec<RemoteEndpoint>> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let mut it = line.split_whitespace();
            match (
                it.next().and_then(parse_addr),
                it.next(),
                it.next(),
                it.next(),
            ) {
                (Some(addr), Some(service), Some(name), None) => Ok(RemoteEndpoint {
                    addr,
                    service: service.into(),
                    name: name.into(),
                }),
                _ => Err(format!("bad line {line:?}")),
            }
        })
        .collect()
}

/// Lines of the `host_channels` file: `<addr> <name>`.
pub fn parse_host_channels(text: &str) -> Res<Vec<(u32, String)>> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let mut it = line.split_whitespace();
            match (it.next().and_then(parse_addr), it.next(), it.next()) {
                (Some(addr), Some(name), None) => Ok((addr, name.to_owned())),
                _ => Err(format!("bad line {line:?}")),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATS: &str = "state: running\ncrashes: 0\nrx_msgs: 102\nrx_bytes: 1224\n\
tx_msgs: 105\ntx_bytes: 1320\necho.rx_msgs: 100\nsource.pending: 0\nns.tx_create: 3\n";

    #[test]
    fn stats() {
        let s = Stats::parse(STATS).unwrap();
        assert_eq!(s.state().unwrap(), "running");
        assert_eq!(s.get("rx_msgs").unwrap(), 102);
        assert_eq!(s.get("ns.tx_create").unwrap(), 3);
        assert_eq!(s.traffic().unwrap(), [102, 105]);
        assert_eq!(s.keys().next(), Some("crashes"));
        assert_eq!(s.keys().count(), 9);
        assert!(s.get("nope").unwrap_err().contains("nope"));
        assert!(s.get("state").unwrap_err().contains("not a number"));

        let later = Stats::parse(&STATS.replace("rx_msgs: 102", "rx_msgs: 110")).unwrap();
        assert_eq!(later.delta(&s, "rx_msgs").unwrap(), 8);
        assert_eq!(later.delta(&s, "tx_msgs").unwrap(), 0);
        assert!(s
            .delta(&later, "rx_msgs")
            .unwrap_err()
            .contains("backwards"));

        assert!(Stats::parse("state running\n").is_err());
        assert!(Stats::parse("").unwrap().state().is_err());
    }

    #[test]
    fn endpoints() {
        let e = parse_endpoints("1024 echo rpmsg-client-sample\n1025 echo rpmsg-raw\n\n").unwrap();
        assert_eq!(e.len(), 2);
        assert_eq!(
            e[1],
            RemoteEndpoint {
                addr: 1025,
                service: "echo".into(),
                name: "rpmsg-raw".into()
            }
        );
        assert!(parse_endpoints("1024 echo\n").is_err());
        assert!(parse_endpoints("x echo a\n").is_err());
        assert!(parse_endpoints("1 echo a b\n").is_err());
    }

    #[test]
    fn host_channels() {
        assert_eq!(
            parse_host_channels("12800 rpmsg_chrdev\n").unwrap(),
            [(12800, "rpmsg_chrdev".to_owned())]
        );
        assert!(parse_host_channels("").unwrap().is_empty());
        assert!(parse_host_channels("12800\n").is_err());
    }
}
