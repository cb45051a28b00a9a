//! The `rpmsg` CLI (tools/rpmsg, Documentation/cli.md), run as a user runs
//! it: a separate process, judged by its exit status, its output and what
//! the simulated remote received. Every case runs on every stack, so the
//! CLI is held to the kernel's C stack as well as to rpmsg-rs.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use super::common::*;
use super::stress::source_msg;
use super::Ctx;
use crate::bus;
use crate::ensure;
use crate::error::{Context, Res};
use crate::topo::{self, EptAttrs};
use crate::uapi::RPMSG_ADDR_ANY;

/// Local address of the endpoint `rpmsg recv` listens on.
const RECV_SRC: u32 = 0x3800;

/// The CLI beside the suite's binary (`/bin/rpmsg` in the guest).
fn cli_path() -> Res<PathBuf> {
    let exe = std::env::current_exe().ctx("current_exe")?;
    let p = exe.with_file_name("rpmsg");
    ensure!(p.exists(), "{} is missing (make tools)", p.display());
    Ok(p)
}

/// What a run of the CLI gave.
#[derive(Debug)]
struct Out {
    cmd: String,
    status: i32,
    stdout: String,
    stderr: String,
}

impl Out {
    /// Fails unless the command succeeded.
    fn ok(self) -> Res<Out> {
        ensure!(
            self.status == 0,
            "`{}` exited with {}: {}",
            self.cmd,
            self.status,
            self.stderr.trim()
        );
        Ok(self)
    }

    /// Fails unless the command exited with `status` and said `what` on
    /// stderr.
    fn fails(self, status: i32, what: &str) -> Res<Out> {
        ensure!(
            self.status == status,
            "`{}` exited with {}, expected {status} (stdout {:?}, stderr {:?})",
            self.cmd,
            self.status,
            self.stdout,
            self.stderr
        );
        ensure!(
            self.stderr.contains(what),
            "`{}`: stderr {:?} does not say {what:?}",
            self.cmd,
            self.stderr
        );
        Ok(self)
    }

    fn says(&self, what: &str) -> Res {
        ensure!(
            self.stdout.contains(what),
            "`{}` did not print {what:?}; it printed:\n{}",
            self.cmd,
            self.stdout
        );
        Ok(())
    }
}

/// Runs `rpmsg <args>` with `stdin` as its input.
fn rpmsg_in(args: &[&str], stdin: &[u8]) -> Res<Out> {
    let cmd = format!("rpmsg {}", args.join(" "));
    let mut child = Command::new(cli_path()?)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .ctx(format_args!("run {cmd}"))?;
    let mut input = child.stdin.take().ok_or("no stdin pipe")?;
    // The CLI may exit before it reads everything (an error): ignore EPIPE.
    let _ = input.write_all(stdin);
    drop(input);
    let o = child
        .wait_with_output()
        .ctx(format_args!("wait for {cmd}"))?;
    Ok(Out {
        cmd,
        status: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    })
}

fn rpmsg(args: &[&str]) -> Res<Out> {
    rpmsg_in(args, b"")
}

/// Whether brackets and braces balance outside strings, and the text is
/// one object: enough to tell JSON a script can parse from a broken one.
fn json_balanced(s: &str) -> bool {
    let (mut depth, mut in_str, mut esc) = (0i32, false, false);
    for c in s.trim().chars() {
        if in_str {
            match (esc, c) {
                (true, _) => esc = false,
                (false, '\\') => esc = true,
                (false, '"') => in_str = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_str = true,
            '{' | '[' => depth += 1,
            '}' | ']' => depth -= 1,
            _ => {}
        }
        if depth < 0 {
            return false;
        }
    }
    depth == 0 && !in_str && s.trim().starts_with('{') && s.trim().ends_with('}')
}

/// `rpmsg list` and `rpmsg list --json` show both remotes, their default
/// channels with the drivers sysfs names, the raw channel's char device,
/// and the bus counters exactly where the bus keeps them.
pub fn list(_cx: &Ctx) -> Res {
    let targets = [Target::ready(SIM0)?, Target::ready(SIM1)?];
    let text = rpmsg(&["list"])?.ok()?;
    let json = rpmsg(&["list", "--json"])?.ok()?;
    ensure!(
        json_balanced(&json.stdout),
        "rpmsg list --json is not one JSON object: {}",
        json.stdout
    );
    for t in &targets {
        let name = &t.sim.name;
        let line = text
            .stdout
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .ok_or_else(|| format!("rpmsg list has no line for {name}:\n{}", text.stdout))?;
        // The state sysfs shows (`attached` for the simulator's remotes).
        let state = t.remote.state().ctx(format_args!("state of {name}"))?;
        for want in [t.remote.rproc.as_str(), state.as_str(), t.vdev.as_str()] {
            ensure!(
                line.contains(want),
                "rpmsg list: {name}'s line {line:?} lacks {want:?}"
            );
        }
        json.says(&format!(
            "{{\"name\":\"{name}\",\"remoteproc\":\"{}\",\"state\":\"{state}\"",
            t.remote.rproc
        ))?;
        for (chan, _, driver) in DEFAULT_CHANNELS {
            let ch = t.channel(chan)?;
            ensure!(
                text.stdout.lines().any(|l| {
                    let w: Vec<&str> = l.split_whitespace().collect();
                    w.first() == Some(&name.as_str())
                        && w.get(1) == Some(&chan)
                        && w.contains(&driver)
                }),
                "rpmsg list: no line `{name} {chan} ... {driver}`:\n{}",
                text.stdout
            );
            json.says(&format!(
                "\"remote\":\"{name}\",\"virtio\":\"{}\",\"name\":\"{chan}\",\"device_name\":\"{}\"",
                t.vdev,
                ch.dev_name()
            ))?;
        }
        let raw = t.channel("rpmsg-raw")?;
        let node = raw.chrdev().ok_or("rpmsg-raw has no char device")?;
        json.says(&format!(
            "\"dst\":{},\"driver\":\"rpmsg_chrdev\",\"device\":\"/dev/{node}\"",
            raw.dst
        ))?;
        let counted = !bus::is_c_bus(&t.vdev);
        ensure!(
            text.stdout.contains(&format!("BUS COUNTERS {name} ")) == counted,
            "rpmsg list: bus counters of {name} shown: {}, expected {counted}",
            !counted
        );
        if counted {
            json.says("\"counters\":{\"")?;
            json.says("\"rx_msgs\":")?;
        } else {
            json.says("\"counters\":null")?;
        }
    }
    Ok(())
}

/// `rpmsg ping` and `rpmsg echo`: through the raw channel's char device,
/// and through a temporary endpoint for a channel another driver holds;
/// the remote's echo service saw exactly those messages, and the temporary
/// endpoint device is gone afterwards.
pub fn ping_echo(cx: &Ctx) -> Res {
    let t = Target::ready(SIM0)?;
    let before = quiesce(&t.sim)?;
    let out = rpmsg(&["ping", "sim0/rpmsg-raw", "--count", "5", "--timeout", "5"])?.ok()?;
    out.says("5 sent, 5 received, 0 lost, 0 wrong")?;
    let rtt = out
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("rtt min/p50/p99/max = "))
        .ok_or_else(|| format!("no rtt line in:\n{}", out.stdout))?;
    let v: Vec<f64> = rtt
        .trim_end_matches(" ms")
        .split('/')
        .filter_map(|x| x.parse().ok())
        .collect();
    // The debug guests' clock may tick in jiffies: 0 ms is a valid minimum.
    ensure!(
        v.len() == 4 && v.windows(2).all(|w| w[0] <= w[1]) && v[0] >= 0.0,
        "rtt figures {rtt:?} are not 4 ascending numbers"
    );
    cx.note(format!("rpmsg ping sim0/rpmsg-raw: rtt {rtt}"));
    let echo = rpmsg(&["echo", "sim0/rpmsg-raw", "hello", "from", "the", "cli"])?.ok()?;
    ensure!(
        echo.stdout == "hello from the cli\n",
        "rpmsg echo printed {:?}",
        echo.stdout
    );
    let after = quiesce(&t.sim)?;
    check_delta(&after, &before, SIM0, "echo.rx_msgs", 6)?;
    check_delta(&after, &before, SIM0, "echo.tx_msgs", 6)?;

    // sim1's client-sample channel is the sample driver's: a temporary
    // endpoint through sim1's control device talks to the same address.
    let t1 = Target::ready(SIM1)?;
    let ctrl = t1.ctrl()?;
    let devs = topo::eptdevs_of_ctrl(&ctrl).ctx("list endpoint devices")?;
    let before = quiesce(&t1.sim)?;
    rpmsg(&[
        "ping",
        "sim1/rpmsg-client-sample",
        "--count",
        "3",
        "--size",
        "64",
        "-q",
    ])?
    .ok()?
    .says("3 sent, 3 received")?;
    let after = quiesce(&t1.sim)?;
    check_delta(&after, &before, SIM1, "echo.rx_msgs", 3)?;
    check_delta(&after, &before, SIM1, "echo.rx_bytes", 3 * 64)?;
    let left = topo::eptdevs_of_ctrl(&ctrl).ctx("list endpoint devices")?;
    ensure!(
        left == devs,
        "endpoint devices of {ctrl} before {devs:?}, after rpmsg ping {left:?}"
    );
    Ok(())
}

/// Destroys an endpoint device the CLI made if the case ends early.
struct CliEpt(String);

impl Drop for CliEpt {
    fn drop(&mut self) {
        if dev_path(&self.0).exists() {
            let _ = rpmsg(&["ept", "destroy", &self.0]);
        }
    }
}

/// `rpmsg ept create` makes the device sysfs describes, usable by other
/// processes; `rpmsg ept destroy` removes it.
pub fn ept_create_destroy(_cx: &Ctx) -> Res {
    let t = Target::ready(SIM0)?;
    let ctrl = t.ctrl()?;
    let name = unique_name("cli");
    let dst = t.echo_addr()?;
    let out = rpmsg(&[
        "ept",
        "create",
        &name,
        "--dst",
        &dst.to_string(),
        "--remote",
        "sim0",
    ])?
    .ok()?;
    let path = out.stdout.trim().to_owned();
    let node = path
        .strip_prefix("/dev/")
        .filter(|n| topo::is_indexed(n, "rpmsg"))
        .ok_or_else(|| format!("rpmsg ept create printed {:?}", out.stdout))?
        .to_owned();
    let _guard = CliEpt(node.clone());
    let devs = topo::eptdevs_of_ctrl(&ctrl).ctx("list endpoint devices")?;
    ensure!(devs.contains(&node), "{node} is not a child of {ctrl}");
    let want = EptAttrs {
        name: name.clone(),
        src: RPMSG_ADDR_ANY,
        dst,
    };
    let got = topo::ept_attrs(&node).ctx(format_args!("attributes of {node}"))?;
    ensure!(got == want, "{node} has {got:?}, expected {want:?}");
    let echo = rpmsg(&["echo", &path, "through", "an", "exported", "endpoint"])?.ok()?;
    ensure!(
        echo.stdout == "through an exported endpoint\n",
        "rpmsg echo {path} printed {:?}",
        echo.stdout
    );
    rpmsg(&["ept", "destroy", &path])?.ok()?;
    wait_gone(&dev_path(&node), REPLY)?;
    rpmsg(&["ept", "destroy", &path])?.fails(1, &path)?;
    Ok(())
}

/// `rpmsg send` in every framing, from stdin and from its arguments, with
/// a count: the remote's sink received exactly those messages and bytes.
pub fn send_framings(_cx: &Ctx) -> Res {
    let t = Target::ready(SIM0)?;
    let sink = Announced::new(&t, "clisink", "sink", None)?;
    let target = format!("sim0/{}", sink.name);
    let before = quiesce(&t.sim)?;
    let send = |extra: &[&str], stdin: &[u8]| -> Res {
        let mut args = vec!["send", target.as_str(), "--timeout", "5"];
        args.extend_from_slice(extra);
        rpmsg_in(&args, stdin)?.ok().map(drop)
    };
    // 3 messages, 11 bytes.
    send(&[], b"one\ntwo\nthree\n")?;
    // 2 messages, 4 bytes; the blank line is no message.
    send(&["--framing", "hex"], b"00 01 02\n\nff\n")?;
    // 2 messages, 5 bytes.
    send(
        &["--framing", "raw"],
        b"\x03\x00\x00\x00abc\x02\x00\x00\x00xy",
    )?;
    // 1 message of 1 byte: the count stops it.
    send(&["--count", "1"], b"x\ny\nz\n")?;
    // 1 message of 11 bytes, from the arguments.
    send(&["hello", "world"], b"")?;
    let after = quiesce(&t.sim)?;
    check_delta(&after, &before, SIM0, "sink.rx_msgs", 9)?;
    check_delta(&after, &before, SIM0, "sink.rx_bytes", 32)?;
    rpmsg_in(&["send", &target, "--framing", "hex"], b"0g\n")?.fails(1, "bad hex")?;
    Ok(())
}

/// `rpmsg recv` on a fixed address prints what the remote's source sends,
/// in order and intact, and stops after the count; with nothing coming it
/// fails after its timeout.
pub fn recv_source(_cx: &Ctx) -> Res {
    let t = Target::ready(SIM0)?;
    let source = Announced::new(&t, "clisrc", "source", None)?;
    let src = RECV_SRC.to_string();
    let dst = source.addr.to_string();
    let args = [
        "recv",
        "sim0",
        "--dst",
        &dst,
        "--src",
        &src,
        "--count",
        "5",
        "--framing",
        "hex",
        "--timeout",
        "10",
        "-v",
    ];
    let mut child = Command::new(cli_path()?)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .ctx("run rpmsg recv")?;
    let mut err = BufReader::new(child.stderr.take().ok_or("no stderr pipe")?);
    let mut line = String::new();
    err.read_line(&mut line).ctx("read rpmsg recv's stderr")?;
    if !line.contains("receiving on /dev/rpmsg") {
        let _ = child.kill();
        let _ = child.wait();
        return Err(format!("rpmsg recv said {line:?} instead of receiving"));
    }
    let cmd = format!("source {} {RECV_SRC} 5 24", source.addr);
    t.sim.control(&cmd).ctx(format_args!("sim0: {cmd}"))?;
    let o = child.wait_with_output().ctx("wait for rpmsg recv")?;
    let stdout = String::from_utf8_lossy(&o.stdout);
    ensure!(
        o.status.success(),
        "rpmsg recv exited with {:?}; stdout {stdout:?}",
        o.status.code()
    );
    let lines: Vec<&str> = stdout.lines().collect();
    ensure!(lines.len() == 5, "rpmsg recv printed {lines:?}");
    for (seq, l) in lines.iter().enumerate() {
        let want: Vec<String> = source_msg(seq as u32, 24)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        ensure!(
            *l == want.join(" "),
            "message {seq} printed as {l:?}, expected {:?}",
            want.join(" ")
        );
    }
    rpmsg(&[
        "recv",
        "sim0",
        "--dst",
        &dst,
        "--count",
        "1",
        "--timeout",
        "0.5",
    ])?
    .fails(1, "received 0 of 1 messages")?;
    Ok(())
}

/// `rpmsg bind` and `rpmsg unbind`: the driver_override dance on a channel
/// no driver wanted, a refusal for a channel bound elsewhere, and the
/// channel free again afterwards.
pub fn bind_unbind(_cx: &Ctx) -> Res {
    let t = Target::ready(SIM0)?;
    let mut a = Announced::new(&t, "clibind", "echo", None)?;
    let ch = a.chan.clone();
    let spec = format!("sim0/{}", a.name);
    ensure!(ch.driver().is_none(), "{} bound already", ch.dev_name());
    let out = rpmsg(&["bind", &spec])?.ok()?;
    let path = out.stdout.trim().to_owned();
    let node = ch
        .chrdev()
        .ok_or_else(|| format!("{} has no char device after rpmsg bind", ch.dev_name()))?;
    ensure!(
        path == format!("/dev/{node}"),
        "rpmsg bind printed {path:?}, sysfs says {node}"
    );
    check_attr(&ch, "driver_override", "rpmsg_chrdev")?;
    let echo = rpmsg(&["echo", &path, "bound", "by", "rpmsg", "bind"])?.ok()?;
    ensure!(
        echo.stdout == "bound by rpmsg bind\n",
        "echo printed {:?}",
        echo.stdout
    );
    rpmsg(&["bind", &spec, "--driver", "rpmsg_tty"])?.fails(1, "is bound to rpmsg_chrdev")?;
    rpmsg(&["ept", "destroy", &path])?.fails(1, "char device of channel")?;
    rpmsg(&["unbind", &spec])?
        .ok()?
        .says("unbound from rpmsg_chrdev")?;
    wait_gone(&dev_path(&node), REPLY)?;
    ensure!(ch.driver().is_none(), "{} still bound", ch.dev_name());
    let ovr = ch
        .attr("driver_override")
        .ctx("driver_override after unbind")?;
    ensure!(
        ovr.is_empty() || ovr == "(null)",
        "driver_override is {ovr:?} after rpmsg unbind"
    );
    rpmsg(&["unbind", &spec])?.ok()?.says("was not bound")?;
    a.destroy()?;
    wait_gone(&ch.dir(), SETTLE)
}

/// `rpmsg bench` into a sink: every message arrived.
pub fn bench_sink(cx: &Ctx) -> Res {
    let t = Target::ready(SIM0)?;
    let sink = Announced::new(&t, "clibench", "sink", None)?;
    let before = quiesce(&t.sim)?;
    let out = rpmsg(&[
        "bench",
        &format!("sim0/{}", sink.name),
        "--count",
        "300",
        "--size",
        "64",
        "-q",
    ])?
    .ok()?;
    out.says("sent 300 messages of 64 bytes (19200 bytes)")?;
    cx.note(out.stdout.trim().to_owned());
    let after = quiesce(&t.sim)?;
    check_delta(&after, &before, SIM0, "sink.rx_msgs", 300)?;
    check_delta(&after, &before, SIM0, "sink.rx_bytes", 300 * 64)?;

    // Without --size: the MTU the bus reports (rpmsg-rs's: its tx_buf_size
    // less the header), else virtio's 496.
    let mtu = match bus::tx_buf_size(&t.vdev)? {
        Some(size) => size - 16,
        None => 496,
    };
    let out = rpmsg(&[
        "bench",
        &format!("sim0/{}", sink.name),
        "--count",
        "10",
        "-q",
    ])?
    .ok()?;
    out.says(&format!("sent 10 messages of {mtu} bytes"))?;
    let later = quiesce(&t.sim)?;
    check_delta(&later, &after, SIM0, "sink.rx_bytes", 10 * mtu as u64)
}

/// Errors name what is missing and exit 1; bad usage exits 2; every
/// command has --help.
pub fn errors_and_help(_cx: &Ctx) -> Res {
    Target::ready(SIM0)?;
    rpmsg(&["ping", "sim9/rpmsg-raw"])?
        .fails(1, "no remote processor named sim9 (there are: sim0")?;
    rpmsg(&["ping", "sim0/nope"])?.fails(1, "sim0 has no channel named nope (it has: ")?;
    rpmsg(&["echo", "/dev/rpmsg9999", "x"])?.fails(1, "/dev/rpmsg9999: no such device")?;
    rpmsg(&["bind", "sim0/rpmsg-raw", "--driver", "no_such_drv"])?
        .fails(1, "driver no_such_drv is not registered")?;
    rpmsg(&["ping", "sim0"])?.fails(2, "sim0 is a remote processor")?;
    rpmsg(&["frobnicate"])?.fails(2, "unknown command")?;
    rpmsg(&["ping"])?.fails(2, "usage")?;
    rpmsg(&["list", "--bogus"])?.fails(2, "unknown option --bogus")?;
    for cmd in [
        "list", "ept", "bind", "unbind", "send", "recv", "echo", "ping", "bench",
    ] {
        let out = rpmsg(&[cmd, "--help"])?.ok()?;
        ensure!(
            out.stdout.contains(&format!("rpmsg {cmd}")),
            "rpmsg {cmd} --help printed {:?}",
            out.stdout
        );
    }
    rpmsg(&["--help"])?.ok()?.says("commands:")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_shape() {
        assert!(json_balanced("{\"a\":[1,{\"b\":\"}\"}]}\n"));
        assert!(!json_balanced("{\"a\":[1}"));
        assert!(!json_balanced("[1]"));
        assert!(!json_balanced("{\"a\":\"x}"));
    }
}
