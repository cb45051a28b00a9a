//! `rpmsg`: the RPMsg tool for the target. `rpmsg --help` lists the
//! commands, `rpmsg <command> --help` explains one; Documentation/cli.md is
//! the guide.

use std::io::{self, BufRead, BufReader, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use rpmsg::topo::{self, addr_text, ChannelId};
use rpmsg::{Control, Endpoint, EptDev, Error, RPMSG_ADDR_ANY};

const USAGE: &str = "usage: rpmsg <command> [options]

Look at and talk to RPMsg remote processors, channels and endpoints.

commands:
  list [--json]                     remote processors, channels, endpoint devices, bus counters
  ept create NAME [--src A] [--dst B] [--remote R | --ctrl DEV]
                                    make an endpoint device; prints it (/dev/rpmsgN)
  ept destroy DEV                   destroy an endpoint device
  bind CHANNEL [--driver D]         bind a channel to a driver (default rpmsg_chrdev)
  unbind CHANNEL                    unbind a channel from its driver
  send TARGET [MESSAGE...]          send MESSAGE, or stdin as messages
  recv TARGET                       print received messages
  echo TARGET TEXT...               send TEXT, print the reply
  ping TARGET                       round trips to an echo service: min/p50/p99/max
  bench TARGET                      one-way throughput, e.g. to a sink

TARGET is an endpoint device (/dev/rpmsgN), a channel (<remote>/<channel>, e.g.
sim0/rpmsg-raw, or its device name virtio0.rpmsg-raw.-1.1025), or, with --dst ADDR,
a remote processor (a temporary endpoint is made through its control device).
CHANNEL is <remote>/<channel> or a channel's device name.
Addresses are decimal, 0x hex or `any`.

`rpmsg <command> --help` for a command's options. Exit status: 0 success,
1 failure (the message says what is missing), 2 bad usage.";

const LIST_HELP: &str = "usage: rpmsg list [--json]

Lists the remote processors (name, remoteprocN, state, virtio device, bus driver,
control device), the rpmsg channels (remote, name, local and remote address,
driver, device node), the endpoint devices (/dev/rpmsgN: name, addresses, owner)
and, where the bus keeps them (rpmsg-rs's virtio_rpmsg_rs, in debugfs), the
bus's counters. --json prints the same as one JSON object.";

const EPT_HELP: &str = "usage: rpmsg ept create NAME [--src A] [--dst B] [--remote R | --ctrl DEV]
       rpmsg ept destroy DEV

create: RPMSG_CREATE_EPT_IOCTL on the control device of remote R (or DEV,
/dev/rpmsg_ctrlN; default: the only one there is) makes an endpoint device
named NAME with local address A and default destination B (both default to
any); prints the device (/dev/rpmsgN). The endpoint exists while the device
is open.
destroy: RPMSG_DESTROY_EPT_IOCTL on DEV (/dev/rpmsgN or rpmsgN).";

const BIND_HELP: &str = "usage: rpmsg bind CHANNEL [--driver D]
       rpmsg unbind CHANNEL

bind: writes D (default rpmsg_chrdev) to the channel's driver_override and
binds it; prints the device the driver made (/dev/rpmsgN, /dev/ttyRPMSGN).
A channel bound to another driver is refused: unbind it first.
unbind: unbinds the channel from its driver and clears driver_override.
CHANNEL: <remote>/<channel> (sim0/rpmsg-raw) or a device name
(virtio0.rpmsg-raw.-1.1025).";

const TARGET_OPTS: &str = "target options:
  --dst ADDR        make a temporary endpoint to ADDR through the control device of
                    TARGET (a remote processor name) or of --ctrl DEV
  --src ADDR        its local address (default any)
  --ctrl DEV        the control device (/dev/rpmsg_ctrlN) for --dst";

const SEND_HELP: &str = "usage: rpmsg send TARGET [MESSAGE...] [--framing line|raw|hex] [--count N]
                  [--timeout S] [target options]

Sends MESSAGE (the words joined by spaces) as one message, or, without
MESSAGE, stdin as messages until end of file or N messages:
  --framing line    one message per line, newline not sent (default)
  --framing hex     one message per line, written as hex bytes (\"01 02 ff\");
                    blank lines are skipped
  --framing raw     each message is a 4-byte little-endian length, then its bytes
  --timeout S       wait at most S seconds for a transmit buffer (default: block)";

const RECV_HELP: &str =
    "usage: rpmsg recv TARGET [--framing line|raw|hex] [--count N] [--timeout S]
                  [-v] [target options]

Prints received messages on stdout, framed as for `rpmsg send` (line: each
message and a newline). Stops after N messages, or when no message came for S
seconds: without --count that is the normal end; with --count it fails unless
N arrived. -v says on stderr when the endpoint is open (before the first
message can arrive).";

const ECHO_HELP: &str = "usage: rpmsg echo TARGET TEXT... [--timeout S] [target options]

Sends TEXT to an echo service and prints the first reply (default timeout 5 s).";

const PING_HELP: &str =
    "usage: rpmsg ping TARGET [--count N] [--size B] [--interval S] [--timeout S]
                  [-q] [target options]

Sends N (default 10) messages of B bytes (default 16; a sequence number and a
pattern) to an echo service, one at a time, checks every reply and prints its
round-trip time, then the loss and min/p50/p99/max like ping. Waits S seconds
(default 0) between messages and at most --timeout (default 2 s) for a reply.
-q prints only the summary. Fails if a reply is lost or wrong.";

const BENCH_HELP: &str = "usage: rpmsg bench TARGET [--count N] [--size B] [-q] [target options]

Sends N (default 1000) messages of B bytes (default: the endpoint's MTU where
the bus tells it, as rpmsg-rs's does, else 496, virtio's with 512-byte buffers) as
fast as the bus takes them (blocking writes), and prints the throughput. A
progress line goes to stderr every second on long runs (-q: none). Aim it at a
sink (the simulated remote's `sink` service) so no replies come back.";

/// virtio's payload room with its default 512-byte buffers.
const DEFAULT_MTU: usize = 496;

/// Exit status of bad usage.
const USAGE_ERROR: u8 = 2;

/// What ends a command.
#[derive(Debug)]
enum Fail {
    /// Bad usage: the message and a pointer to --help.
    Usage(String),
    /// The operation failed; the message says why.
    Op(String),
    /// Help was asked for: printed, success.
    Help(&'static str),
}

impl From<Error> for Fail {
    fn from(e: Error) -> Self {
        Fail::Op(e.to_string())
    }
}

type Res<T = ()> = Result<T, Fail>;

fn usage(msg: impl Into<String>) -> Fail {
    Fail::Usage(msg.into())
}

/// Command-line words with the options taken out as they are asked for.
struct Args {
    words: Vec<String>,
    help: &'static str,
}

impl Args {
    fn new(words: &[String], help: &'static str) -> Res<Args> {
        if words.iter().any(|w| w == "-h" || w == "--help") {
            return Err(Fail::Help(help));
        }
        Ok(Args {
            words: words.to_vec(),
            help,
        })
    }

    /// Takes `--name` (a flag without value).
    fn flag(&mut self, names: &[&str]) -> bool {
        let before = self.words.len();
        self.words.retain(|w| !names.contains(&w.as_str()));
        self.words.len() != before
    }

    /// Takes `--name VALUE` or `--name=VALUE`.
    fn value(&mut self, name: &str) -> Res<Option<String>> {
        let prefix = format!("{name}=");
        if let Some(i) = self.words.iter().position(|w| w.starts_with(&prefix)) {
            let w = self.words.remove(i);
            return Ok(Some(w[prefix.len()..].to_owned()));
        }
        match self.words.iter().position(|w| w == name) {
            None => Ok(None),
            Some(i) if i + 1 < self.words.len() => {
                let v = self.words.remove(i + 1);
                self.words.remove(i);
                Ok(Some(v))
            }
            Some(_) => Err(usage(format!("{name} needs a value"))),
        }
    }

    fn parsed<T>(&mut self, name: &str, parse: impl Fn(&str) -> Option<T>) -> Res<Option<T>> {
        match self.value(name)? {
            None => Ok(None),
            Some(v) => parse(&v)
                .map(Some)
                .ok_or_else(|| usage(format!("{name}: bad value {v:?}"))),
        }
    }

    /// The positional words left; any option left is unknown.
    fn rest(self, min: usize, max: usize) -> Res<Vec<String>> {
        if let Some(o) = self
            .words
            .iter()
            .find(|w| w.starts_with('-') && w.len() > 1 && parse_addr(w).is_none())
        {
            return Err(usage(format!("unknown option {o}")));
        }
        let n = self.words.len();
        if n < min || n > max {
            return Err(usage(self.help.lines().next().unwrap_or("").to_owned()));
        }
        Ok(self.words)
    }
}

fn parse_addr(s: &str) -> Option<u32> {
    if s.eq_ignore_ascii_case("any") {
        return Some(RPMSG_ADDR_ANY);
    }
    topo::parse_addr(s)
}

fn parse_secs(s: &str) -> Option<Duration> {
    s.parse::<f64>()
        .ok()
        .and_then(|v| Duration::try_from_secs_f64(v).ok())
}

fn parse_count(s: &str) -> Option<u64> {
    s.parse().ok()
}

// ---------------------------------------------------------------- list

/// Minimal JSON writing: strings escaped, numbers, null.
mod json {
    pub fn str(s: &str) -> String {
        let mut o = String::with_capacity(s.len() + 2);
        o.push('"');
        for c in s.chars() {
            match c {
                '"' => o.push_str("\\\""),
                '\\' => o.push_str("\\\\"),
                '\n' => o.push_str("\\n"),
                c if (c as u32) < 0x20 => o.push_str(&format!("\\u{:04x}", c as u32)),
                c => o.push(c),
            }
        }
        o.push('"');
        o
    }

    /// A counter: a number when it is one, else a string.
    pub fn number_or_str(v: &str) -> String {
        if v.parse::<u64>().is_ok() {
            v.to_owned()
        } else {
            str(v)
        }
    }

    pub fn opt_str(s: Option<&str>) -> String {
        s.map_or_else(|| "null".into(), str)
    }

    /// An address: a number, or null for "any".
    pub fn addr(a: u32) -> String {
        if a == rpmsg::RPMSG_ADDR_ANY {
            "null".into()
        } else {
            a.to_string()
        }
    }

    pub fn object(fields: &[(&str, String)]) -> String {
        let inner: Vec<String> = fields
            .iter()
            .map(|(k, v)| format!("{}:{v}", str(k)))
            .collect();
        format!("{{{}}}", inner.join(","))
    }

    pub fn array(items: &[String]) -> String {
        format!("[{}]", items.join(","))
    }
}

struct RemoteRow {
    name: String,
    rproc: String,
    state: String,
    vdevs: Vec<String>,
    bus: Option<String>,
    ctrl: Option<String>,
    counters: Option<Vec<(String, String)>>,
}

struct ChannelRow {
    remote: Option<String>,
    ch: ChannelId,
    src: u32,
    driver: Option<String>,
    device: Option<String>,
}

struct DeviceRow {
    node: String,
    name: Option<String>,
    src: u32,
    dst: u32,
    owner: String,
}

fn list(args: &[String]) -> Res {
    let mut a = Args::new(args, LIST_HELP)?;
    let as_json = a.flag(&["--json"]);
    a.rest(0, 0)?;
    rpmsg::bus::check_loaded()?;

    let remotes = topo::remotes().unwrap_or_default();
    let rows: Vec<RemoteRow> = remotes
        .iter()
        .map(|r| {
            let vdevs = r.vdevs().unwrap_or_default();
            let vdev = r.rpmsg_vdev().ok();
            RemoteRow {
                name: r.name.clone(),
                rproc: r.rproc.clone(),
                state: r.state().unwrap_or_else(|_| "?".into()),
                bus: vdev.as_deref().and_then(rpmsg::bus::driver_of),
                ctrl: vdev.as_deref().and_then(topo::ctrl_of),
                counters: vdev
                    .as_deref()
                    .and_then(|v| rpmsg::bus::counters(v).ok().flatten()),
                vdevs,
            }
        })
        .collect();
    let remote_of = |vdev: &str| {
        rows.iter()
            .find(|r| r.vdevs.iter().any(|v| v == vdev))
            .map(|r| r.name.clone())
    };
    let chans: Vec<ChannelRow> = topo::channels()
        .map_err(|e| Error::io(format!("list {}", topo::BUS_DEVICES), e))?
        .into_iter()
        .map(|c| ChannelRow {
            remote: remote_of(&c.vdev),
            // After probe `src` holds the address the driver's endpoint got.
            src: c
                .attr("src")
                .ok()
                .and_then(|s| topo::parse_addr(&s))
                .unwrap_or(c.src),
            driver: c.driver(),
            device: c.chrdev().or_else(|| c.tty()).map(|n| format!("/dev/{n}")),
            ch: c,
        })
        .collect();
    let mut devices = Vec::new();
    for node in topo::indexed_children(Path::new(topo::CLASS_RPMSG), "rpmsg").unwrap_or_default() {
        let owner = std::fs::canonicalize(Path::new(topo::CLASS_RPMSG).join(&node))
            .ok()
            .and_then(|p| topo::owner_channel(&p))
            .map_or_else(|| "?".into(), |c| c.dev_name());
        let attrs = topo::ept_attrs(&node).ok();
        devices.push(DeviceRow {
            node: format!("/dev/{node}"),
            name: attrs.as_ref().map(|a| a.name.clone()),
            src: attrs.as_ref().map_or(RPMSG_ADDR_ANY, |a| a.src),
            dst: attrs.as_ref().map_or(RPMSG_ADDR_ANY, |a| a.dst),
            owner,
        });
    }

    let out = if as_json {
        list_json(&rows, &chans, &devices)
    } else {
        list_text(&rows, &chans, &devices)
    };
    print!("{out}");
    Ok(())
}

fn list_json(rows: &[RemoteRow], chans: &[ChannelRow], devices: &[DeviceRow]) -> String {
    let remotes: Vec<String> = rows
        .iter()
        .map(|r| {
            let counters = r.counters.as_ref().map_or_else(
                || "null".into(),
                |c| {
                    let f: Vec<(&str, String)> = c
                        .iter()
                        .map(|(k, v)| (k.as_str(), json::number_or_str(v)))
                        .collect();
                    json::object(&f)
                },
            );
            json::object(&[
                ("name", json::str(&r.name)),
                ("remoteproc", json::str(&r.rproc)),
                ("state", json::str(&r.state)),
                (
                    "virtio",
                    json::array(&r.vdevs.iter().map(|v| json::str(v)).collect::<Vec<_>>()),
                ),
                ("bus", json::opt_str(r.bus.as_deref())),
                (
                    "ctrl",
                    json::opt_str(r.ctrl.as_ref().map(|c| format!("/dev/{c}")).as_deref()),
                ),
                ("counters", counters),
            ])
        })
        .collect();
    let channels: Vec<String> = chans
        .iter()
        .map(|c| {
            json::object(&[
                ("remote", json::opt_str(c.remote.as_deref())),
                ("virtio", json::str(&c.ch.vdev)),
                ("name", json::str(&c.ch.name)),
                ("device_name", json::str(&c.ch.dev_name())),
                ("src", json::addr(c.src)),
                ("dst", json::addr(c.ch.dst)),
                ("driver", json::opt_str(c.driver.as_deref())),
                ("device", json::opt_str(c.device.as_deref())),
            ])
        })
        .collect();
    let devs: Vec<String> = devices
        .iter()
        .map(|d| {
            json::object(&[
                ("device", json::str(&d.node)),
                ("name", json::opt_str(d.name.as_deref())),
                ("src", json::addr(d.src)),
                ("dst", json::addr(d.dst)),
                ("owner", json::str(&d.owner)),
            ])
        })
        .collect();
    json::object(&[
        ("remoteprocs", json::array(&remotes)),
        ("channels", json::array(&channels)),
        ("endpoint_devices", json::array(&devs)),
    ]) + "\n"
}

fn list_text(rows: &[RemoteRow], chans: &[ChannelRow], devices: &[DeviceRow]) -> String {
    let mut o = String::new();
    let dash = |s: &Option<String>| s.clone().unwrap_or_else(|| "-".into());
    o += &format!(
        "{:<12} {:<12} {:<9} {:<9} {:<17} CTRL\n",
        "REMOTE", "DEVICE", "STATE", "VIRTIO", "BUS"
    );
    if rows.is_empty() {
        o += "(none: no remoteproc driver, or the rpmsg bus is not on a remote processor)\n";
    }
    for r in rows {
        o += &format!(
            "{:<12} {:<12} {:<9} {:<9} {:<17} {}\n",
            r.name,
            r.rproc,
            r.state,
            if r.vdevs.is_empty() {
                "-".into()
            } else {
                r.vdevs.join(",")
            },
            dash(&r.bus),
            r.ctrl.as_ref().map_or("-".into(), |c| format!("/dev/{c}"))
        );
    }
    o += &format!(
        "\n{:<8} {:<24} {:>6} {:>6}  {:<22} DEVICE\n",
        "REMOTE", "CHANNEL", "SRC", "DST", "DRIVER"
    );
    for c in chans {
        o += &format!(
            "{:<8} {:<24} {:>6} {:>6}  {:<22} {}\n",
            c.remote.clone().unwrap_or_else(|| c.ch.vdev.clone()),
            c.ch.name,
            addr_text(c.src),
            addr_text(c.ch.dst),
            dash(&c.driver),
            dash(&c.device)
        );
    }
    o += &format!(
        "\n{:<14} {:<24} {:>6} {:>6}  OWNER\n",
        "ENDPOINT DEV", "NAME", "SRC", "DST"
    );
    if devices.is_empty() {
        o += "(none)\n";
    }
    for d in devices {
        o += &format!(
            "{:<14} {:<24} {:>6} {:>6}  {}\n",
            d.node,
            dash(&d.name),
            addr_text(d.src),
            addr_text(d.dst),
            d.owner
        );
    }
    for r in rows {
        if let Some(c) = &r.counters {
            o += &format!(
                "\nBUS COUNTERS {} ({}, {})\n",
                r.name,
                r.vdevs.join(","),
                dash(&r.bus)
            );
            let line: Vec<String> = c.iter().map(|(k, v)| format!("{k}={v}")).collect();
            for chunk in line.chunks(4) {
                o += &format!("  {}\n", chunk.join("  "));
            }
        }
    }
    o
}

// ---------------------------------------------------------------- ept, bind

fn ept(args: &[String]) -> Res {
    let mut a = Args::new(args, EPT_HELP)?;
    let src = a.parsed("--src", parse_addr)?.unwrap_or(RPMSG_ADDR_ANY);
    let dst = a.parsed("--dst", parse_addr)?.unwrap_or(RPMSG_ADDR_ANY);
    let remote = a.value("--remote")?;
    let ctrl = a.value("--ctrl")?;
    let words = a.rest(2, 2)?;
    match words[0].as_str() {
        "create" => {
            let ctrl = control(remote.as_deref(), ctrl.as_deref())?;
            let dev = ctrl.create_endpoint(&words[1], src, dst)?;
            println!("/dev/{}", dev.keep());
            Ok(())
        }
        "destroy" => {
            let node = rpmsg::endpoint::node_name(&words[1]);
            let ept = Endpoint::open(&words[1])?;
            if let Some(ch) = std::fs::canonicalize(Path::new(topo::CLASS_RPMSG).join(&node))
                .ok()
                .and_then(|p| topo::owner_channel(&p))
                .filter(|c| c.name != "rpmsg_ctrl")
            {
                return Err(Fail::Op(format!(
                    "{} is the char device of channel {}, not an endpoint device: `rpmsg unbind` the channel instead",
                    words[1],
                    ch.dev_name()
                )));
            }
            ept.destroy()?;
            Ok(())
        }
        other => Err(usage(format!("ept {other}: expected create or destroy"))),
    }
}

/// The control device named by --ctrl, of remote --remote, or the only one.
fn control(remote: Option<&str>, ctrl: Option<&str>) -> Res<Control> {
    if let Some(c) = ctrl {
        return Ok(Control::open(c)?);
    }
    if let Some(r) = remote {
        return Ok(rpmsg::remote(r)?.control()?);
    }
    rpmsg::bus::check_loaded()?;
    let ctrls: Vec<String> =
        topo::indexed_children(Path::new(topo::CLASS_RPMSG), "rpmsg_ctrl").unwrap_or_default();
    match ctrls.as_slice() {
        [one] => Ok(Control::open(one)?),
        [] => Err(Fail::Op(
            "no control device (/dev/rpmsg_ctrlN): is rpmsg_ctrl (or rpmsg_char_rs) loaded?".into(),
        )),
        many => Err(Fail::Op(format!(
            "{} control devices ({}): say which with --remote NAME or --ctrl DEV",
            many.len(),
            many.join(", ")
        ))),
    }
}

fn bind(args: &[String]) -> Res {
    let mut a = Args::new(args, BIND_HELP)?;
    let driver = a
        .value("--driver")?
        .unwrap_or_else(|| rpmsg::CHRDEV_DRIVER.into());
    let words = a.rest(1, 1)?;
    let ch = rpmsg::channel(&words[0])?;
    let b = rpmsg::bind(&ch, &driver)?;
    match b.node {
        Some(n) => println!("/dev/{n}"),
        None => println!("{} bound to {}", ch.dev_name(), b.driver),
    }
    Ok(())
}

fn unbind(args: &[String]) -> Res {
    let a = Args::new(args, BIND_HELP)?;
    let words = a.rest(1, 1)?;
    let ch = rpmsg::channel(&words[0])?;
    match rpmsg::unbind(&ch)? {
        Some(d) => println!("{} unbound from {d}", ch.dev_name()),
        None => println!("{} was not bound", ch.dev_name()),
    }
    Ok(())
}

// ---------------------------------------------------------------- targets

/// An open endpoint and, for a temporary one, the device made for it
/// (destroyed on drop, after the endpoint is closed: fields drop in order).
struct Link {
    ept: Endpoint,
    _temp: Option<EptDev>,
    /// How to call it in output.
    label: String,
}

struct TargetOpts {
    dst: Option<u32>,
    src: u32,
    ctrl: Option<String>,
}

impl TargetOpts {
    fn take(a: &mut Args) -> Res<TargetOpts> {
        Ok(TargetOpts {
            dst: a.parsed("--dst", parse_addr)?,
            src: a.parsed("--src", parse_addr)?.unwrap_or(RPMSG_ADDR_ANY),
            ctrl: a.value("--ctrl")?,
        })
    }
}

fn is_device(spec: &str) -> bool {
    spec.starts_with('/') || topo::is_indexed(spec, "rpmsg")
}

/// Opens what TARGET names (see USAGE).
fn open_target(target: Option<&str>, o: &TargetOpts) -> Res<Link> {
    let temp = |ctrl: Control, dst: u32, label: String| -> Res<Link> {
        let name = format!("rpmsg-cli-{}", std::process::id());
        let dev = ctrl.create_endpoint(&name, o.src, dst)?;
        let ept = Endpoint::open(&dev.node)?;
        Ok(Link {
            ept,
            _temp: Some(dev),
            label,
        })
    };
    if let Some(dst) = o.dst {
        let (ctrl, who) = match (target, &o.ctrl) {
            (_, Some(c)) => (Control::open(c)?, rpmsg::endpoint::node_name(c)),
            (Some(r), None) => (rpmsg::remote(r)?.control()?, r.to_owned()),
            (None, None) => (control(None, None)?, "the control device".into()),
        };
        return temp(ctrl, dst, format!("{who} address {}", addr_text(dst)));
    }
    let target =
        target.ok_or_else(|| usage("no TARGET (a device, <remote>/<channel>, or --dst)"))?;
    if is_device(target) {
        return Ok(Link {
            ept: Endpoint::open(target)?,
            _temp: None,
            label: target.into(),
        });
    }
    if !target.contains('/') && ChannelId::parse(target).is_none() && rpmsg::remote(target).is_ok()
    {
        return Err(usage(format!(
            "{target} is a remote processor: name a channel ({target}/<channel>) or an address (--dst)"
        )));
    }
    let ch = rpmsg::channel(target)?;
    if let Some(node) = ch.chrdev() {
        let ept = Endpoint::open(&node)?;
        return Ok(Link {
            ept,
            _temp: None,
            label: target.into(),
        });
    }
    // Not bound to rpmsg_chrdev: an endpoint of our own to its address.
    let ctrl = match &o.ctrl {
        Some(c) => Control::open(c)?,
        None => {
            let node = topo::ctrl_of(&ch.vdev).ok_or_else(|| {
                Fail::Op(format!(
                    "{} is bound to {} and {} has no control device to make an endpoint with: \
                     is rpmsg_ctrl (or rpmsg_char_rs) loaded?",
                    ch.dev_name(),
                    ch.driver().unwrap_or_else(|| "no driver".into()),
                    ch.vdev
                ))
            })?;
            Control::open(&node)?
        }
    };
    temp(ctrl, ch.dst, target.into())
}

// ---------------------------------------------------------------- framing

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Framing {
    Line,
    Raw,
    Hex,
}

impl Framing {
    fn parse(s: &str) -> Option<Framing> {
        Some(match s {
            "line" => Framing::Line,
            "raw" => Framing::Raw,
            "hex" => Framing::Hex,
            _ => return None,
        })
    }

    /// The next message from `r`; `None` at end of input.
    fn read(self, r: &mut impl BufRead) -> io::Result<Option<Vec<u8>>> {
        match self {
            Framing::Line => {
                let mut line = Vec::new();
                if r.read_until(b'\n', &mut line)? == 0 {
                    return Ok(None);
                }
                if line.last() == Some(&b'\n') {
                    line.pop();
                }
                Ok(Some(line))
            }
            Framing::Hex => loop {
                let mut line = String::new();
                if r.read_line(&mut line)? == 0 {
                    return Ok(None);
                }
                if line.trim().is_empty() {
                    continue;
                }
                return from_hex(&line).map(Some).ok_or_else(|| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("bad hex line {:?}", line.trim_end()),
                    )
                });
            },
            Framing::Raw => {
                let mut len = [0u8; 4];
                match r.read_exact(&mut len) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
                    Err(e) => return Err(e),
                }
                let len = u32::from_le_bytes(len) as usize;
                if len > rpmsg::MAX_MESSAGE {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("length prefix {len} is more than any RPMsg message"),
                    ));
                }
                let mut msg = vec![0u8; len];
                r.read_exact(&mut msg)?;
                Ok(Some(msg))
            }
        }
    }

    fn write(self, w: &mut impl Write, msg: &[u8]) -> io::Result<()> {
        match self {
            Framing::Line => {
                w.write_all(msg)?;
                w.write_all(b"\n")
            }
            Framing::Hex => writeln!(w, "{}", to_hex(msg)),
            Framing::Raw => {
                w.write_all(&(msg.len() as u32).to_le_bytes())?;
                w.write_all(msg)
            }
        }
    }
}

fn to_hex(b: &[u8]) -> String {
    b.iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn from_hex(s: &str) -> Option<Vec<u8>> {
    let digits: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if !digits.len().is_multiple_of(2) {
        return None;
    }
    digits
        .chunks(2)
        .map(|p| u8::from_str_radix(std::str::from_utf8(p).ok()?, 16).ok())
        .collect()
}

// ---------------------------------------------------------------- send, recv, echo

fn send(args: &[String]) -> Res {
    let mut a = Args::new(args, SEND_HELP)?;
    let framing = a
        .parsed("--framing", Framing::parse)?
        .unwrap_or(Framing::Line);
    let count = a.parsed("--count", parse_count)?;
    let timeout = a.parsed("--timeout", parse_secs)?;
    let o = TargetOpts::take(&mut a)?;
    let words = a.rest(if o.dst.is_some() { 0 } else { 1 }, usize::MAX)?;
    let (target, message) = split_target(&words, &o);
    let link = open_target(target, &o)?;
    let send_one = |msg: &[u8]| -> Res {
        match timeout {
            Some(t) => link.ept.send_timeout(msg, t)?,
            None => link.ept.send(msg)?,
        }
        Ok(())
    };
    if !message.is_empty() {
        return send_one(message.join(" ").as_bytes());
    }
    let mut input = BufReader::new(io::stdin().lock());
    let mut sent = 0u64;
    while count.is_none_or(|c| sent < c) {
        let msg = framing
            .read(&mut input)
            .map_err(|e| Fail::Op(format!("stdin: {e}")))?;
        let Some(msg) = msg else { break };
        send_one(&msg)?;
        sent += 1;
    }
    Ok(())
}

/// With --dst the first word may be a remote's name; the rest is a message.
fn split_target<'a>(words: &'a [String], o: &TargetOpts) -> (Option<&'a str>, &'a [String]) {
    match words.first() {
        Some(w) if o.dst.is_none() || (o.ctrl.is_none() && rpmsg::remote(w).is_ok()) => {
            (Some(w.as_str()), &words[1..])
        }
        _ => (None, words),
    }
}

fn recv(args: &[String]) -> Res {
    let mut a = Args::new(args, RECV_HELP)?;
    let framing = a
        .parsed("--framing", Framing::parse)?
        .unwrap_or(Framing::Line);
    let count = a.parsed("--count", parse_count)?;
    let timeout = a.parsed("--timeout", parse_secs)?;
    let verbose = a.flag(&["-v", "--verbose"]);
    let o = TargetOpts::take(&mut a)?;
    let words = a.rest(if o.dst.is_some() { 0 } else { 1 }, 1)?;
    let link = open_target(words.first().map(String::as_str), &o)?;
    if verbose {
        let attrs = link.ept.attrs().ok();
        eprintln!(
            "rpmsg: receiving on /dev/{} ({}{})",
            link.ept.node(),
            link.label,
            attrs.map_or_else(String::new, |a| format!(
                ", src {}, dst {}",
                addr_text(a.src),
                addr_text(a.dst)
            ))
        );
    }
    let mut out = io::stdout().lock();
    let mut buf = vec![0u8; rpmsg::MAX_MESSAGE];
    let mut got = 0u64;
    while count.is_none_or(|c| got < c) {
        let n = match timeout {
            Some(t) => match link.ept.recv_timeout(&mut buf, t)? {
                Some(n) => n,
                None if count.is_some() => {
                    return Err(Fail::Op(format!(
                        "received {got} of {} messages: none within {} s",
                        count.unwrap_or(0),
                        t.as_secs_f64()
                    )))
                }
                None => break,
            },
            None => link.ept.recv(&mut buf)?,
        };
        framing
            .write(&mut out, &buf[..n])
            .and_then(|()| out.flush())
            .map_err(|e| Fail::Op(format!("stdout: {e}")))?;
        got += 1;
    }
    Ok(())
}

fn echo(args: &[String]) -> Res {
    let mut a = Args::new(args, ECHO_HELP)?;
    let timeout = a
        .parsed("--timeout", parse_secs)?
        .unwrap_or(Duration::from_secs(5));
    let o = TargetOpts::take(&mut a)?;
    let words = a.rest(1, usize::MAX)?;
    let (target, text) = split_target(&words, &o);
    if text.is_empty() {
        return Err(usage("echo: no TEXT"));
    }
    let text = text.join(" ");
    let link = open_target(target, &o)?;
    link.ept.send(text.as_bytes())?;
    let mut buf = vec![0u8; rpmsg::MAX_MESSAGE];
    match link.ept.recv_timeout(&mut buf, timeout)? {
        Some(n) => {
            println!("{}", String::from_utf8_lossy(&buf[..n]));
            Ok(())
        }
        None => Err(Fail::Op(format!(
            "no reply from {} within {} s",
            link.label,
            timeout.as_secs_f64()
        ))),
    }
}

// ---------------------------------------------------------------- ping, bench

/// Nearest-rank percentile of sorted samples.
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64() * 1e3)
}

/// Ping payload `seq`: its number (little-endian) then a pattern.
fn ping_payload(seq: u32, size: usize) -> Vec<u8> {
    let head = seq.to_le_bytes();
    (0..size)
        .map(|i| {
            if i < 4 {
                head[i]
            } else {
                (seq as usize + i) as u8
            }
        })
        .collect()
}

fn ping(args: &[String]) -> Res {
    let mut a = Args::new(args, PING_HELP)?;
    let count = a.parsed("--count", parse_count)?.unwrap_or(10);
    let size = a
        .parsed("--size", |s| s.parse::<usize>().ok())?
        .unwrap_or(16);
    let interval = a.parsed("--interval", parse_secs)?.unwrap_or_default();
    let timeout = a
        .parsed("--timeout", parse_secs)?
        .unwrap_or(Duration::from_secs(2));
    let quiet = a.flag(&["-q", "--quiet"]);
    let o = TargetOpts::take(&mut a)?;
    let words = a.rest(if o.dst.is_some() { 0 } else { 1 }, 1)?;
    let link = open_target(words.first().map(String::as_str), &o)?;
    if !quiet {
        println!(
            "PING {} via /dev/{}: {size} bytes, {count} messages",
            link.label,
            link.ept.node()
        );
    }
    let mut buf = vec![0u8; rpmsg::MAX_MESSAGE];
    let mut rtts = Vec::new();
    let (mut lost, mut wrong) = (0u64, 0u64);
    for seq in 0..count {
        if seq > 0 && !interval.is_zero() {
            std::thread::sleep(interval);
        }
        let msg = ping_payload(seq as u32, size);
        let start = Instant::now();
        link.ept.send(&msg)?;
        let deadline = start + timeout;
        // Replies to earlier, timed-out messages may still come: skip them.
        let reply = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match link.ept.recv_timeout(&mut buf, left)? {
                None => break None,
                Some(n) if n >= 4.min(size) && buf[..4.min(n)] != msg[..4.min(n)] => continue,
                Some(n) => break Some(n),
            }
        };
        let rtt = start.elapsed();
        match reply {
            None => {
                lost += 1;
                if !quiet {
                    println!("seq={seq}: no reply within {} s", timeout.as_secs_f64());
                }
            }
            Some(n) if buf[..n] != msg[..] => {
                wrong += 1;
                if !quiet {
                    println!("seq={seq}: wrong reply ({n} bytes)");
                }
            }
            Some(n) => {
                rtts.push(rtt);
                if !quiet {
                    println!(
                        "{n} bytes from {}: seq={seq} time={} ms",
                        link.label,
                        ms(rtt)
                    );
                }
            }
        }
    }
    rtts.sort();
    println!("--- {} ping statistics ---", link.label);
    println!(
        "{count} sent, {} received, {lost} lost, {wrong} wrong",
        rtts.len()
    );
    if !rtts.is_empty() {
        println!(
            "rtt min/p50/p99/max = {}/{}/{}/{} ms",
            ms(rtts[0]),
            ms(percentile(&rtts, 0.50)),
            ms(percentile(&rtts, 0.99)),
            ms(rtts[rtts.len() - 1])
        );
    }
    if lost + wrong > 0 {
        return Err(Fail::Op(format!(
            "{lost} lost and {wrong} wrong replies of {count}"
        )));
    }
    Ok(())
}

fn bench(args: &[String]) -> Res {
    let mut a = Args::new(args, BENCH_HELP)?;
    let count = a.parsed("--count", parse_count)?.unwrap_or(1000);
    let size = a.parsed("--size", |s| s.parse::<usize>().ok())?;
    let quiet = a.flag(&["-q", "--quiet"]);
    let o = TargetOpts::take(&mut a)?;
    let words = a.rest(if o.dst.is_some() { 0 } else { 1 }, 1)?;
    let link = open_target(words.first().map(String::as_str), &o)?;
    let size = size.unwrap_or_else(|| link.ept.mtu().unwrap_or(DEFAULT_MTU));
    let msg = ping_payload(0, size);
    let start = Instant::now();
    let mut last = start;
    for i in 0..count {
        link.ept.send(&msg)?;
        if !quiet && last.elapsed() >= Duration::from_secs(1) {
            last = Instant::now();
            let t = start.elapsed().as_secs_f64();
            eprintln!(
                "rpmsg: bench: {}/{count} messages, {:.0} msg/s",
                i + 1,
                (i + 1) as f64 / t
            );
        }
    }
    let t = start.elapsed().as_secs_f64().max(1e-9);
    let bytes = count * size as u64;
    println!(
        "sent {count} messages of {size} bytes ({bytes} bytes) to {} in {t:.3} s: {:.0} msg/s, {:.3} MB/s",
        link.label,
        count as f64 / t,
        bytes as f64 / t / 1e6
    );
    Ok(())
}

// ---------------------------------------------------------------- main

fn run(args: &[String]) -> Res {
    let rest = args.get(1..).unwrap_or(&[]);
    match args.first().map(String::as_str) {
        Some("list") => list(rest),
        Some("ept") => ept(rest),
        Some("bind") => bind(rest),
        Some("unbind") => unbind(rest),
        Some("send") => send(rest),
        Some("recv") => recv(rest),
        Some("echo") => echo(rest),
        Some("ping") => ping(rest),
        Some("bench") => bench(rest),
        Some("-h" | "--help" | "help") => Err(Fail::Help(USAGE)),
        Some(other) => Err(usage(format!("unknown command {other:?}"))),
        None => Err(usage("no command")),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Fail::Help(text)) => {
            println!("{text}");
            if text.contains("[target options]") {
                println!("\n{TARGET_OPTS}");
            }
            ExitCode::SUCCESS
        }
        Err(Fail::Usage(msg)) => {
            eprintln!("rpmsg: {msg}\n(rpmsg --help, rpmsg <command> --help)");
            ExitCode::from(USAGE_ERROR)
        }
        Err(Fail::Op(msg)) => {
            eprintln!("rpmsg: {msg}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn options_and_positionals() {
        let mut a = Args::new(&words("x --count 3 --src=0x400 -q y"), "h").unwrap();
        assert_eq!(a.parsed("--count", parse_count).unwrap(), Some(3));
        assert_eq!(a.parsed("--src", parse_addr).unwrap(), Some(1024));
        assert!(a.flag(&["-q"]));
        assert_eq!(a.rest(0, 2).unwrap(), ["x", "y"]);
        let a = Args::new(&words("x --bogus"), "h").unwrap();
        assert!(matches!(a.rest(0, 2), Err(Fail::Usage(m)) if m.contains("--bogus")));
        assert!(matches!(
            Args::new(&words("a --help"), "H"),
            Err(Fail::Help("H"))
        ));
        let mut a = Args::new(&words("--count"), "h").unwrap();
        assert!(a.value("--count").is_err());
        // A negative address is not an option.
        let a = Args::new(&words("-1"), "h").unwrap();
        assert_eq!(a.rest(1, 1).unwrap(), ["-1"]);
    }

    #[test]
    fn every_command_has_help() {
        for cmd in [
            "list", "ept", "bind", "unbind", "send", "recv", "echo", "ping", "bench",
        ] {
            match run(&words(&format!("{cmd} --help"))) {
                Err(Fail::Help(text)) => assert!(text.contains(cmd), "{cmd}"),
                other => panic!("{cmd}: {other:?}"),
            }
        }
        assert!(matches!(run(&words("frobnicate")), Err(Fail::Usage(_))));
    }

    #[test]
    fn framings_round_trip() {
        let msgs: [&[u8]; 3] = [b"hello", b"", b"\x00\xff a"];
        for f in [Framing::Raw, Framing::Hex] {
            let mut out = Vec::new();
            for m in msgs {
                f.write(&mut out, m).unwrap();
            }
            let mut r = &out[..];
            let mut back = Vec::new();
            while let Some(m) = f.read(&mut r).unwrap() {
                back.push(m);
            }
            // Hex skips blank lines: the empty message does not come back.
            let want: Vec<&[u8]> = msgs
                .iter()
                .copied()
                .filter(|m| f == Framing::Raw || !m.is_empty())
                .collect();
            assert_eq!(back, want, "{f:?}");
        }
        let mut r = &b"a\n\nb c\nlast"[..];
        let mut lines = Vec::new();
        while let Some(m) = Framing::Line.read(&mut r).unwrap() {
            lines.push(String::from_utf8(m).unwrap());
        }
        assert_eq!(lines, ["a", "", "b c", "last"]);
        assert_eq!(from_hex("01 0a FF"), Some(vec![1, 10, 255]));
        assert_eq!(from_hex("1"), None);
        assert!(Framing::Hex.read(&mut &b"zz\n"[..]).is_err());
        assert!(Framing::Raw.read(&mut &[5u8, 0, 0, 0, 1][..]).is_err());
    }

    #[test]
    fn percentiles() {
        let v: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&v, 0.5), Duration::from_millis(50));
        assert_eq!(percentile(&v, 0.99), Duration::from_millis(99));
        assert_eq!(percentile(&v[..1], 0.99), Duration::from_millis(1));
        assert_eq!(percentile(&[], 0.5), Duration::ZERO);
        assert_eq!(ms(Duration::from_micros(1500)), "1.500");
    }

    #[test]
    fn ping_payloads() {
        let p = ping_payload(0x0102_0304, 6);
        assert_eq!(p, [4, 3, 2, 1, 8, 9]);
        assert_eq!(ping_payload(1, 2), [1, 0]);
    }

    #[test]
    fn json_text() {
        assert_eq!(json::str("a\"b\\\n\u{1}"), "\"a\\\"b\\\\\\n\\u0001\"");
        assert_eq!(json::addr(RPMSG_ADDR_ANY), "null");
        assert_eq!(json::number_or_str("12"), "12");
        assert_eq!(json::number_or_str("negotiated"), "\"negotiated\"");
        assert_eq!(
            json::object(&[("a", "1".into()), ("b", json::array(&[]))]),
            "{\"a\":1,\"b\":[]}"
        );
    }
}
