//! The host half of `make bench` (Documentation/benchmarks.md).
//!
//! The guest's `rpmsg-bench` prints one `BENCH key=value ...` line per
//! sample (one case of one stack in one round); `scripts/bench.sh` adds
//! `FOOTPRINT ...` lines for the modules' sizes. This crate pairs the
//! stacks round by round, so that every ratio compares two runs made one
//! after the other in the same guest, and reports the median ratio and the
//! spread over the pairs.

pub mod json;
pub mod plot;

use std::collections::BTreeMap;

/// The stack every ratio is relative to, and the one compared with it.
pub const BASE: &str = "c";
pub const OTHER: &str = "rust";

/// One line of `key=value` words, keys in order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Record(pub Vec<(String, String)>);

impl Record {
    /// Parses the words after a line's tag. A `reason=` word takes the rest
    /// of the line, which is free text.
    pub fn parse(words: &str) -> Record {
        let mut fields = Vec::new();
        let mut rest = words.trim();
        while !rest.is_empty() {
            if let Some(reason) = rest.strip_prefix("reason=") {
                fields.push(("reason".to_owned(), reason.trim().to_owned()));
                break;
            }
            let (word, tail) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
            if let Some((k, v)) = word.split_once('=') {
                fields.push((k.to_owned(), v.to_owned()));
            }
            rest = tail.trim_start();
        }
        Record(fields)
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn num(&self, key: &str) -> Option<f64> {
        self.get(key)?.parse().ok()
    }
}

/// Everything read from the guest's log and the footprint file.
#[derive(Debug, Default)]
pub struct Input {
    pub samples: Vec<Record>,
    pub errors: Vec<Record>,
    pub clock: Option<Record>,
    pub footprint: Vec<Record>,
}

impl Input {
    /// Reads `BENCH`, `BENCH-ERROR`, `BENCH-CLOCK` and `FOOTPRINT` lines;
    /// anything else (kernel messages, KTAP) is ignored. Serial ports end
    /// lines with `\r\n`.
    pub fn add_text(&mut self, text: &str) {
        for line in text.lines().map(|l| l.trim_end_matches('\r')) {
            let Some((tag, rest)) = line.split_once(' ') else {
                continue;
            };
            let rec = Record::parse(rest);
            match tag {
                "BENCH" => self.samples.push(rec),
                "BENCH-ERROR" => self.errors.push(rec),
                "BENCH-CLOCK" => self.clock = Some(rec),
                "FOOTPRINT" => self.footprint.push(rec),
                _ => {}
            }
        }
    }
}

/// A figure derived from a sample, and whether more is better.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Better {
    Higher,
    Lower,
}

#[derive(Clone, Debug)]
pub struct Figure {
    /// Which samples: case, size, endpoints.
    pub case: String,
    pub size: u64,
    pub eps: u64,
    /// What is taken from them.
    pub metric: &'static str,
    pub unit: &'static str,
    pub better: Better,
}

impl Figure {
    pub fn label(&self) -> String {
        let what = match self.case.as_str() {
            "echo" => format!("echo {} B", self.size),
            "sink" => format!("to sink {} B x{}", self.size, self.eps),
            "source" => format!("from source {} B", self.size),
            // Messages of the largest size each bus allows: 4 KiB buffers
            // offered (VIRTIO_RPMSG_F_BUFSZ), 512 bytes where not taken.
            "bulk" => format!("bulk {} KiB streams, largest msgs", self.size / 1024),
            c => format!("{c} {} B x{}", self.size, self.eps),
        };
        format!("{what} {}", self.metric)
    }

    /// The figure's value in a sample, in `unit`.
    pub fn value(&self, s: &Record) -> Option<f64> {
        let per_msg = |key: &str| Some(s.num(key)? / s.num("msgs")?.max(1.0) / 1e3);
        match self.metric {
            "p50" => Some(s.num("p50_ns")? / 1e3),
            "p99" => Some(s.num("p99_ns")? / 1e3),
            "max" => Some(s.num("max_ns")? / 1e3),
            "msgs/s" => Some(s.num("msgs")? * 1e9 / s.num("wall_ns")?),
            "MB/s" => Some(s.num("bytes")? * 1e3 / s.num("wall_ns")?),
            "kernel CPU/msg" => per_msg("kcpu_ns"),
            "remote CPU/msg" => per_msg("sim_ns"),
            "stack CPU/msg" => Some(per_msg("kcpu_ns")? - per_msg("sim_ns")?),
            "switches/msg" => Some(s.num("ctxt")? / s.num("msgs")?.max(1.0)),
            "remote busy" => Some(100.0 * s.num("sim_ns")? / s.num("wall_ns")?),
            "stack share" => Some(100.0 * s.num("prof_stack")? / s.num("prof_busy")?),
            "stack-owned CPU/msg" => Some(per_msg("prof_stack")? * s.num("prof_period_ns")?),
            "remote share" => Some(100.0 * s.num("prof_remote")? / s.num("prof_busy")?),
            _ => None,
        }
    }

    fn matches(&self, s: &Record) -> bool {
        s.get("case") == Some(self.case.as_str())
            && s.num("size") == Some(self.size as f64)
            && s.num("eps") == Some(self.eps as f64)
    }
}

/// The figures of the table, in order: every case the guest measures.
pub fn figures(samples: &[Record]) -> Vec<Figure> {
    let mut cases: Vec<(String, u64, u64)> = Vec::new();
    for s in samples {
        let key = (
            s.get("case").unwrap_or("?").to_owned(),
            s.num("size").unwrap_or(0.0) as u64,
            s.num("eps").unwrap_or(1.0) as u64,
        );
        if !cases.contains(&key) {
            cases.push(key);
        }
    }
    let order = |c: &str| {
        ["echo", "sink", "source", "bulk"]
            .iter()
            .position(|x| *x == c)
            .unwrap_or(9)
    };
    cases.sort_by_key(|(c, size, eps)| (order(c), *eps, *size));
    let mut out = Vec::new();
    for (case, size, eps) in cases {
        let metrics: &[(&str, &str, Better)] = if case == "echo" {
            &[
                ("p50", "us", Better::Lower),
                ("p99", "us", Better::Lower),
                ("max", "us", Better::Lower),
            ]
        } else if case == "sink" {
            &[("msgs/s", "", Better::Higher), ("MB/s", "", Better::Higher)]
        } else if case == "bulk" {
            &[("MB/s", "", Better::Higher)]
        } else {
            &[("msgs/s", "", Better::Higher)]
        };
        // Per message means nothing where the stacks' messages differ.
        let cpu: &[(&str, &str, Better)] = if case == "bulk" {
            &[]
        } else {
            &[
                ("stack CPU/msg", "us", Better::Lower),
                ("switches/msg", "", Better::Lower),
                ("remote CPU/msg", "us", Better::Lower),
                ("remote busy", "%", Better::Lower),
            ]
        };
        // With a profile (`--profile`): who owns the busy kernel time.
        let profiled = samples
            .iter()
            .any(|s| s.get("case") == Some(case.as_str()) && s.get("prof_busy").is_some());
        let shares: &[(&str, &str, Better)] = if profiled {
            &[
                ("stack-owned CPU/msg", "us", Better::Lower),
                ("stack share", "%", Better::Lower),
                ("remote share", "%", Better::Lower),
            ]
        } else {
            &[]
        };
        for &(metric, unit, better) in metrics.iter().chain(cpu).chain(shares) {
            out.push(Figure {
                case: case.clone(),
                size,
                eps,
                metric,
                unit,
                better,
            });
        }
    }
    out
}

pub fn median(v: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

/// One figure over every round: each stack's values by round, and the
/// ratios of the pairs (rounds where both stacks have a sample).
#[derive(Clone, Debug)]
pub struct Row {
    pub figure: Figure,
    pub base: BTreeMap<u64, f64>,
    pub other: BTreeMap<u64, f64>,
    pub ratios: Vec<f64>,
}

impl Row {
    pub fn new(figure: Figure, samples: &[Record]) -> Row {
        let by_round = |stack: &str| -> BTreeMap<u64, f64> {
            samples
                .iter()
                .filter(|s| s.get("stack") == Some(stack) && figure.matches(s))
                .filter_map(|s| Some((s.num("round")? as u64, figure.value(s)?)))
                .collect()
        };
        let base = by_round(BASE);
        let other = by_round(OTHER);
        let ratios = base
            .iter()
            .filter_map(|(r, b)| Some(other.get(r)? / b))
            .filter(|x| x.is_finite())
            .collect();
        Row {
            figure,
            base,
            other,
            ratios,
        }
    }

    pub fn base_median(&self) -> Option<f64> {
        median(&self.base.values().copied().collect::<Vec<_>>())
    }

    pub fn other_median(&self) -> Option<f64> {
        median(&self.other.values().copied().collect::<Vec<_>>())
    }

    pub fn ratio_median(&self) -> Option<f64> {
        median(&self.ratios)
    }

    pub fn ratio_range(&self) -> Option<(f64, f64)> {
        let min = self.ratios.iter().copied().reduce(f64::min)?;
        let max = self.ratios.iter().copied().reduce(f64::max)?;
        Some((min, max))
    }
}

/// How far a stack's repeats lie apart: (max - min) / median, in percent.
pub fn spread(values: &BTreeMap<u64, f64>) -> Option<f64> {
    let v: Vec<f64> = values.values().copied().collect();
    let m = median(&v)?;
    let min = v.iter().copied().reduce(f64::min)?;
    let max = v.iter().copied().reduce(f64::max)?;
    (m != 0.0).then(|| 100.0 * (max - min) / m)
}

pub fn rows(samples: &[Record]) -> Vec<Row> {
    figures(samples)
        .into_iter()
        .map(|f| Row::new(f, samples))
        .collect()
}

fn fmt_num(v: Option<f64>) -> String {
    match v {
        None => "-".into(),
        Some(v) if v.abs() >= 10_000.0 => format!("{v:.0}"),
        Some(v) if v.abs() >= 100.0 => format!("{v:.1}"),
        Some(v) => format!("{v:.2}"),
    }
}

/// The console table: medians of each stack, the median ratio of the pairs
/// and its range, and each stack's spread between repeats.
pub fn table(rows: &[Row]) -> String {
    let mut out = format!(
        "{:<46} {:>10} {:>10} {:>7} {:>15} {:>13}\n",
        "figure (median over rounds)", "C", "Rust", "Rust/C", "pairs min..max", "spread C/Rust"
    );
    for r in rows {
        let f = &r.figure;
        let name = if f.unit.is_empty() {
            f.label()
        } else {
            format!("{} ({})", f.label(), f.unit)
        };
        let range = r.ratio_range().map_or("-".into(), |(a, b)| {
            format!("{a:.2}..{b:.2} ({})", r.ratios.len())
        });
        let sp = |m: &BTreeMap<u64, f64>| spread(m).map_or("-".into(), |s| format!("{s:.0}%"));
        out += &format!(
            "{:<46} {:>10} {:>10} {:>7} {:>15} {:>13}\n",
            name,
            fmt_num(r.base_median()),
            fmt_num(r.other_median()),
            r.ratio_median().map_or("-".into(), |x| format!("{x:.2}")),
            range,
            format!("{}/{}", sp(&r.base), sp(&r.other)),
        );
    }
    out
}

/// Module sizes: per architecture, each stack's modules and their sum.
pub fn footprint_table(fp: &[Record]) -> String {
    let mut out = String::new();
    let mut archs: Vec<&str> = fp.iter().filter_map(|r| r.get("arch")).collect();
    archs.dedup();
    for arch in archs {
        out += &format!(
            "module footprint, {arch} bench kernel: {:<28} {:>8} {:>8} {:>8} {:>8}\n",
            "module", "text", "data", "bss", "total"
        );
        let mut totals = Vec::new();
        for stack in [BASE, OTHER] {
            let mut sum = [0u64; 3];
            for r in fp
                .iter()
                .filter(|r| r.get("arch") == Some(arch) && r.get("stack") == Some(stack))
            {
                let v = ["text", "data", "bss"].map(|k| r.num(k).unwrap_or(0.0) as u64);
                out += &format!(
                    "  {stack:<4} {:<59} {:>8} {:>8} {:>8} {:>8}\n",
                    r.get("module").unwrap_or("?"),
                    v[0],
                    v[1],
                    v[2],
                    v.iter().sum::<u64>()
                );
                for i in 0..3 {
                    sum[i] += v[i];
                }
            }
            out += &format!(
                "  {stack:<4} {:<59} {:>8} {:>8} {:>8} {:>8}\n",
                "all",
                sum[0],
                sum[1],
                sum[2],
                sum.iter().sum::<u64>()
            );
            totals.push(sum);
        }
        if let [c, r] = totals[..] {
            let ratio = |a: u64, b: u64| {
                if b == 0 {
                    f64::NAN
                } else {
                    a as f64 / b as f64
                }
            };
            out += &format!(
                "  Rust/C: text {:.2}x, text+data {:.2}x, text+data+bss {:.2}x\n",
                ratio(r[0], c[0]),
                ratio(r[0] + r[1], c[0] + c[1]),
                ratio(r.iter().sum(), c.iter().sum())
            );
        }
    }
    out
}

/// The host's TSC frequency in kHz, measured against its monotonic clock.
/// Under TCG the guest's TSC is the host's, and a guest kernel told its
/// frequency (`tsc_early_khz=`) need not calibrate it against emulated
/// timers, which fails often enough to leave it on jiffies.
#[cfg(target_arch = "x86_64")]
pub fn tsc_khz() -> u64 {
    use std::time::{Duration, Instant};
    // SAFETY: RDTSC has no preconditions on x86_64.
    let tsc = || unsafe { core::arch::x86_64::_rdtsc() };
    let (t0, c0) = (Instant::now(), tsc());
    while t0.elapsed() < Duration::from_millis(300) {}
    let (t1, c1) = (Instant::now(), tsc());
    let ns = (t1 - t0).as_nanos() as u64;
    (c1 - c0) * 1_000_000 / ns.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(stack: &str, round: u64, case: &str, p50: u64, wall: u64) -> String {
        format!(
            "BENCH stack={stack} round={round} case={case} size=64 eps=1 n=10 msgs=20 bytes=1280 \
             wall_ns={wall} kcpu_ns=2000000 ucpu_ns=0 ctxt=50 sim_ns=500000 sim_services=3 p50_ns={p50} \
             p99_ns={} max_ns={} stalls=0 lost=0\r",
            2 * p50,
            3 * p50
        )
    }

    #[test]
    fn records_and_reasons() {
        let r = Record::parse("stack=c round=2 case=echo reason=read: EINTR after 3 s");
        assert_eq!(r.get("stack"), Some("c"));
        assert_eq!(r.num("round"), Some(2.0));
        assert_eq!(r.get("reason"), Some("read: EINTR after 3 s"));
        assert_eq!(r.get("nope"), None);
        let mut input = Input::default();
        input.add_text(
            "[ 1.0] kernel line\nBENCH-CLOCK source=tsc step_ns=40\r\nBENCH stack=c round=1\n\
             BENCH-ERROR stack=rust round=1 case=sink reason=x y\nFOOTPRINT arch=arm stack=c\nok 1 x\n",
        );
        assert_eq!(input.samples.len(), 1);
        assert_eq!(input.errors[0].get("reason"), Some("x y"));
        assert_eq!(input.clock.as_ref().unwrap().get("source"), Some("tsc"));
        assert_eq!(input.footprint.len(), 1);
    }

    #[test]
    fn ratios_are_taken_pair_by_pair() {
        let mut input = Input::default();
        // Round 2 is twice as slow for both stacks (a busy host): the pair's
        // ratio does not change, the medians of each stack do.
        for (stack, round, p50) in [
            ("c", 1, 100_000),
            ("rust", 1, 80_000),
            ("c", 2, 200_000),
            ("rust", 2, 160_000),
        ] {
            input.add_text(&sample(stack, round, "echo", p50, 1_000_000_000));
        }
        // A round without its pair is not a ratio.
        input.add_text(&sample("c", 3, "echo", 1_000_000, 1_000_000_000));
        let rows = rows(&input.samples);
        let p50 = rows.iter().find(|r| r.figure.metric == "p50").unwrap();
        assert_eq!(p50.ratios.len(), 2);
        assert!((p50.ratio_median().unwrap() - 0.8).abs() < 1e-9);
        assert_eq!(p50.ratio_range(), Some((0.8, 0.8)));
        assert_eq!(p50.base_median(), Some(200.0));
        assert_eq!(p50.base.len(), 3);
        let busy = rows
            .iter()
            .find(|r| r.figure.metric == "remote busy")
            .unwrap();
        assert!((busy.base_median().unwrap() - 0.05).abs() < 1e-9);
        let cpu = rows
            .iter()
            .find(|r| r.figure.metric == "stack CPU/msg")
            .unwrap();
        // (2 ms - 0.5 ms) / 20 messages = 75 us.
        assert!((cpu.other_median().unwrap() - 75.0).abs() < 1e-9);
        let switches = rows
            .iter()
            .find(|r| r.figure.metric == "switches/msg")
            .unwrap();
        // 50 context switches / 20 messages.
        assert!((switches.base_median().unwrap() - 2.5).abs() < 1e-9);
        let t = table(&rows);
        assert!(t.contains("echo 64 B p50 (us)"), "{t}");
        assert!(t.contains("0.80"), "{t}");
    }

    #[test]
    fn profile_shares_only_where_profiled() {
        let mut input = Input::default();
        input.add_text(&sample("c", 1, "echo", 100_000, 1_000_000_000));
        let plain = rows(&input.samples);
        assert!(!plain.iter().any(|r| r.figure.metric == "stack share"));
        input.add_text(&format!(
            "{} prof_period_ns=100000 prof_busy=400 prof_stack=30 prof_remote=100",
            sample("rust", 1, "echo", 90_000, 1_000_000_000).trim_end()
        ));
        let rows = rows(&input.samples);
        let share = |metric: &str| {
            let row = rows.iter().find(|r| r.figure.metric == metric).unwrap();
            // C's sample has no profile: no value, and so no pair.
            assert!(row.base.is_empty() && row.ratios.is_empty());
            row.other_median().unwrap()
        };
        assert!((share("stack share") - 7.5).abs() < 1e-9);
        assert!((share("remote share") - 25.0).abs() < 1e-9);
        // 30 samples of 100 us over the sample's 20 messages.
        assert!((share("stack-owned CPU/msg") - 150.0).abs() < 1e-9);
        assert!(table(&rows).contains("echo 64 B stack share (%)"));
    }

    #[test]
    fn bulk_is_compared_in_mb_per_s() {
        let s = Record::parse(
            "stack=rust round=1 case=bulk size=65536 eps=1 n=100 msgs=1700 bytes=6553600 \
             msg_size=4080 wall_ns=1000000000 kcpu_ns=1 sim_ns=0",
        );
        let figs = figures(std::slice::from_ref(&s));
        assert_eq!(figs.len(), 1);
        assert_eq!(figs[0].label(), "bulk 64 KiB streams, largest msgs MB/s");
        assert_eq!(figs[0].value(&s), Some(6.5536));
    }

    #[test]
    fn throughput_and_spread() {
        let s = Record::parse("case=sink size=16 eps=4 msgs=20000 bytes=320000 wall_ns=2000000000");
        let f = |metric| Figure {
            case: "sink".into(),
            size: 16,
            eps: 4,
            metric,
            unit: "",
            better: Better::Higher,
        };
        assert_eq!(f("msgs/s").value(&s), Some(10_000.0));
        assert_eq!(f("MB/s").value(&s), Some(0.16));
        let m: BTreeMap<u64, f64> = [(1, 90.0), (2, 100.0), (3, 110.0)].into();
        assert_eq!(spread(&m), Some(20.0));
        assert_eq!(median(&[3.0, 1.0, 2.0, 10.0]), Some(2.5));
        assert_eq!(median(&[]), None);
    }

    #[test]
    fn footprint_sums_and_ratios() {
        let mut input = Input::default();
        input.add_text(
            "FOOTPRINT arch=x86_64 stack=c module=a text=100 data=10 bss=0\n\
             FOOTPRINT arch=x86_64 stack=c module=b text=100 data=10 bss=0\n\
             FOOTPRINT arch=x86_64 stack=rust module=r text=400 data=40 bss=8\n",
        );
        let t = footprint_table(&input.footprint);
        assert!(t.contains("text 2.00x, text+data 2.00x"), "{t}");
    }
}
