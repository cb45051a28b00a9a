//! `rpmsg`: look at and talk to RPMsg channels by hand.
//!
//! ```text
//! rpmsg list
//! rpmsg echo [--ctrl /dev/rpmsg_ctrl0] [--src <addr>] --dst <addr> [--timeout <s>] <text>...
//! ```

use std::fs;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use rpmsg::endpoint::{dev_path, EptDev as Ept};
use rpmsg::error::IoContext;
use rpmsg::sys;
use rpmsg::topo::{self, ChannelId};
use rpmsg::uapi::RPMSG_ADDR_ANY;

type Res<T = ()> = Result<T, String>;

const USAGE: &str = "usage: rpmsg list
       rpmsg echo [--ctrl /dev/rpmsg_ctrl0] [--src <addr>] --dst <addr> [--timeout <s>] <text>...";

/// The rpmsg device a sysfs path lies under (a class device's owner).
fn owner_channel(path: &Path) -> Option<ChannelId> {
    path.ancestors()
        .filter_map(|p| ChannelId::parse(&p.file_name()?.to_string_lossy()))
        .next()
}

fn list() -> Res {
    // Not every rpmsg transport sits on a remoteproc.
    for r in topo::remotes().unwrap_or_default() {
        let state = r.state().unwrap_or_else(|_| "?".into());
        let vdevs = r.vdevs().unwrap_or_default().join(" ");
        println!("{} {} {state}: {vdevs}", r.rproc, r.name);
    }

    println!("\n{:<48} {:>10} {:>10}  DRIVER", "CHANNEL", "SRC", "DST");
    for c in topo::channels().what(format_args!("list {}", topo::BUS_DEVICES))? {
        // After probe `src` holds the address the driver's endpoint got.
        let src = c
            .attr("src")
            .ok()
            .and_then(|s| topo::parse_addr(&s))
            .unwrap_or(c.src);
        let driver = c.driver().unwrap_or_else(|| "-".into());
        println!(
            "{:<48} {:>10} {:>10}  {driver}",
            c.dev_name(),
            topo::addr_text(src),
            topo::addr_text(c.dst)
        );
    }

    println!(
        "\n{:<20} {:<32} {:>10} {:>10}  VIA",
        "DEVICE", "NAME", "SRC", "DST"
    );
    let mut nodes: Vec<String> = fs::read_dir("/dev")
        .what("list /dev")?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with("rpmsg") || n.starts_with("ttyRPMSG"))
        .collect();
    nodes.sort();
    for node in nodes {
        let class = if node.starts_with("tty") {
            "/sys/class/tty"
        } else {
            topo::CLASS_RPMSG
        };
        let owner = fs::canonicalize(Path::new(class).join(&node))
            .ok()
            .and_then(|p| owner_channel(&p))
            .map_or_else(|| "?".into(), |c| c.dev_name());
        if topo::is_indexed(&node, "rpmsg") {
            match topo::ept_attrs(&node) {
                Ok(a) => println!(
                    "{:<20} {:<32} {:>10} {:>10}  {owner}",
                    dev_path(&node).display(),
                    a.name,
                    topo::addr_text(a.src),
                    topo::addr_text(a.dst)
                ),
                Err(e) => println!("{:<20} ({e})", dev_path(&node).display()),
            }
        } else {
            println!(
                "{:<20} {:<32} {:>10} {:>10}  {owner}",
                dev_path(&node).display(),
                "-",
                "",
                ""
            );
        }
    }
    Ok(())
}

fn parse_addr_arg(s: &str) -> Res<u32> {
    if s.eq_ignore_ascii_case("any") {
        return Ok(RPMSG_ADDR_ANY);
    }
    topo::parse_addr(s).ok_or_else(|| format!("bad address {s:?}"))
}

fn echo(args: &[String]) -> Res {
    let mut ctrl = "/dev/rpmsg_ctrl0".to_owned();
    let mut src = RPMSG_ADDR_ANY;
    let mut dst = None;
    let mut timeout = Duration::from_secs(5);
    let mut words = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--ctrl" => ctrl = value()?.clone(),
            "--src" => src = parse_addr_arg(value()?)?,
            "--dst" => dst = Some(parse_addr_arg(value()?)?),
            "--timeout" => {
                let v = value()?;
                let secs: f64 = v.parse().map_err(|_| format!("bad timeout {v:?}"))?;
                timeout =
                    Duration::try_from_secs_f64(secs).map_err(|_| format!("bad timeout {v:?}"))?;
            }
            _ => words.push(a.as_str()),
        }
    }
    let dst = dst.ok_or(USAGE)?;
    let text = words.join(" ");
    if text.is_empty() {
        return Err(USAGE.into());
    }

    let ctrl_name = Path::new(&ctrl)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| format!("bad control device {ctrl:?}"))?;
    let ctrl_file = sys::open_dev(Path::new(&ctrl), false).what(format_args!("open {ctrl}"))?;
    let name = format!("rpmsg-echo-{}", std::process::id());
    // Destroyed when it goes out of scope, whatever happens below.
    let mut ept = Ept::create(&ctrl_file, &ctrl_name, &name, src, dst)?;
    ept.open(false)
        .what(format_args!("open /dev/{}", ept.node))?;
    let f = ept.file()?;
    let n = sys::write(f, text.as_bytes()).what("send")?;
    if n != text.len() {
        return Err(format!("sent {n} of {} bytes", text.len()));
    }
    let ev = sys::poll(f, libc::POLLIN, timeout).what("poll")?;
    if ev & libc::POLLIN == 0 {
        return Err(if ev == 0 {
            format!("no reply within {} s", timeout.as_secs_f64())
        } else {
            format!("endpoint failed (poll {ev:#x})")
        });
    }
    let mut buf = vec![0u8; 4096];
    let n = sys::read(f, &mut buf).what("receive")?;
    println!("{}", String::from_utf8_lossy(&buf[..n]));
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let res = match args.first().map(String::as_str) {
        Some("list") if args.len() == 1 => list(),
        Some("echo") => echo(&args[1..]),
        Some("-h" | "--help") => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        _ => Err(USAGE.into()),
    };
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rpmsg: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn addresses() {
        assert_eq!(parse_addr_arg("0x401"), Ok(1025));
        assert_eq!(parse_addr_arg("ANY"), Ok(RPMSG_ADDR_ANY));
        assert!(parse_addr_arg("x").is_err());
    }
}
