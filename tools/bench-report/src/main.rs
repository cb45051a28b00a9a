//! `bench-report`: the host half of `make bench`.
//!
//! ```text
//! bench-report tsc-khz
//! bench-report --arch <arch> --json <out.json> --svg <out.svg> <input>...
//! ```
//!
//! `tsc-khz` prints the host's TSC frequency (x86_64 hosts). Otherwise
//! reads the guest's `BENCH` lines and `FOOTPRINT` lines from the inputs,
//! prints the table with the Rust/C ratios and writes every sample and the
//! summary as JSON and the plot as SVG. Exits 1 when a case failed or no
//! pair of samples was found.

use std::process::ExitCode;

use bench_report::{footprint_table, json, plot, rows, table, Input, Record, Row};

const USAGE: &str = "usage: bench-report tsc-khz
       bench-report --arch <arch> --json <out.json> --svg <out.svg> <input>...";

fn main() -> ExitCode {
    match run(std::env::args().skip(1).collect()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("bench-report: {e}");
            ExitCode::from(2)
        }
    }
}

fn record_json(r: &Record) -> String {
    json::object(r.0.iter().map(|(k, v)| (k.as_str(), json::value(v))))
}

fn row_json(r: &Row) -> String {
    let f = &r.figure;
    let by_round = |m: &std::collections::BTreeMap<u64, f64>| {
        format!(
            "[{}]",
            m.values()
                .map(|v| json::number(Some(*v)))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let (rmin, rmax) = r.ratio_range().unzip();
    json::object([
        ("figure", json::string(&f.label())),
        ("case", json::string(&f.case)),
        ("size", json::number(Some(f.size as f64))),
        ("endpoints", json::number(Some(f.eps as f64))),
        ("metric", json::string(f.metric)),
        ("unit", json::string(f.unit)),
        (
            "better",
            json::string(match f.better {
                bench_report::Better::Higher => "higher",
                bench_report::Better::Lower => "lower",
            }),
        ),
        ("c_by_round", by_round(&r.base)),
        ("rust_by_round", by_round(&r.other)),
        ("c_median", json::number(r.base_median())),
        ("rust_median", json::number(r.other_median())),
        (
            "ratios",
            format!(
                "[{}]",
                r.ratios
                    .iter()
                    .map(|v| json::number(Some(*v)))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ),
        ("ratio_median", json::number(r.ratio_median())),
        ("ratio_min", json::number(rmin)),
        ("ratio_max", json::number(rmax)),
    ])
}

fn run(args: Vec<String>) -> Result<ExitCode, String> {
    if args.len() == 1 && args[0] == "tsc-khz" {
        #[cfg(target_arch = "x86_64")]
        {
            println!("{}", bench_report::tsc_khz());
            return Ok(ExitCode::SUCCESS);
        }
        #[cfg(not(target_arch = "x86_64"))]
        return Err("tsc-khz: only on x86_64 hosts".into());
    }
    let (mut arch, mut json_out, mut svg_out, mut inputs) =
        (String::from("?"), None, None, Vec::new());
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        let mut val = || {
            it.next()
                .ok_or_else(|| format!("{a}: missing value\n{USAGE}"))
        };
        match a.as_str() {
            "--arch" => arch = val()?,
            "--json" => json_out = Some(val()?),
            "--svg" => svg_out = Some(val()?),
            _ if a.starts_with("--") => return Err(format!("unknown option {a}\n{USAGE}")),
            _ => inputs.push(a),
        }
    }
    let (Some(json_out), Some(svg_out)) = (json_out, svg_out) else {
        return Err(USAGE.into());
    };
    let mut input = Input::default();
    for path in &inputs {
        let text = std::fs::read(path).map_err(|e| format!("read {path}: {e}"))?;
        input.add_text(&String::from_utf8_lossy(&text));
    }

    let rows = rows(&input.samples);
    print!("{}", table(&rows));
    if !input.footprint.is_empty() {
        print!("\n{}", footprint_table(&input.footprint));
    }
    if let Some(c) = &input.clock {
        println!(
            "\nguest clock: {} (step {} ns)",
            c.get("source").unwrap_or("?"),
            c.get("step_ns").unwrap_or("?")
        );
    }
    let stalls: f64 = input.samples.iter().filter_map(|s| s.num("stalls")).sum();
    if stalls > 0.0 {
        println!("stalls (a write or read blocked >= 1 s): {stalls}");
        for s in input
            .samples
            .iter()
            .filter(|s| s.num("stalls").unwrap_or(0.0) > 0.0)
        {
            println!(
                "  {} round {} {} {} B x{}: {}",
                s.get("stack").unwrap_or("?"),
                s.get("round").unwrap_or("?"),
                s.get("case").unwrap_or("?"),
                s.get("size").unwrap_or("?"),
                s.get("eps").unwrap_or("?"),
                s.get("stalls").unwrap_or("?")
            );
        }
    }
    for e in &input.errors {
        println!(
            "FAILED: {} round {} {} {} B x{}: {}",
            e.get("stack").unwrap_or("?"),
            e.get("round").unwrap_or("?"),
            e.get("case").unwrap_or("?"),
            e.get("size").unwrap_or("?"),
            e.get("eps").unwrap_or("?"),
            e.get("reason").unwrap_or("?")
        );
    }

    let doc = json::object([
        ("arch", json::string(&arch)),
        (
            "clock",
            input.clock.as_ref().map_or("null".into(), record_json),
        ),
        (
            "samples",
            json::array(input.samples.iter().map(record_json)),
        ),
        ("errors", json::array(input.errors.iter().map(record_json))),
        ("figures", json::array(rows.iter().map(row_json))),
        (
            "footprint",
            json::array(input.footprint.iter().map(record_json)),
        ),
    ]);
    std::fs::write(&json_out, doc + "\n").map_err(|e| format!("write {json_out}: {e}"))?;
    let panels = [
        plot::Panel {
            title: "echo round trip, median",
            metric: "p50",
            case: Some("echo"),
        },
        plot::Panel {
            title: "echo round trip, 99th percentile",
            metric: "p99",
            case: Some("echo"),
        },
        plot::Panel {
            title: "streaming, messages per second",
            metric: "msgs/s",
            case: None,
        },
        plot::Panel {
            title: "bulk 64 KiB streams in the largest messages, MB/s",
            metric: "MB/s",
            case: Some("bulk"),
        },
        plot::Panel {
            title: "kernel CPU per message, without the remote's",
            metric: "stack CPU/msg",
            case: None,
        },
    ];
    let title = format!("rpmsg-rs make bench, {arch} guest (TCG): C vs Rust stack");
    std::fs::write(&svg_out, plot::svg(&rows, &title, &panels))
        .map_err(|e| format!("write {svg_out}: {e}"))?;
    println!("\nsamples: {json_out}\nplot:    {svg_out}");

    let paired = rows.iter().any(|r| !r.ratios.is_empty());
    Ok(if input.errors.is_empty() && paired {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
