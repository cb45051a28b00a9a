//! The plot: one panel per kind of figure, both stacks side by side for
//! every size, as an SVG file any browser shows.

use core::fmt::Write;

use super::Row;

const W: f64 = 960.0;
const PANEL_H: f64 = 260.0;
const LEFT: f64 = 70.0;
const COLORS: [&str; 2] = ["#4e79a7", "#e15759"];

/// One panel: the rows whose metric is `metric`, one group of bars each.
pub struct Panel<'a> {
    pub title: &'a str,
    pub metric: &'a str,
    pub case: Option<&'a str>,
}

/// A tick step of 1, 2 or 5 times a power of ten giving about five ticks.
fn tick_step(max: f64) -> f64 {
    let raw = max / 5.0;
    let p = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * p)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * p)
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn panel(out: &mut String, p: &Panel<'_>, rows: &[&Row], top: f64) {
    let (plot_top, plot_h) = (top + 30.0, PANEL_H - 80.0);
    let bottom = plot_top + plot_h;
    let unit = rows.first().map_or("", |r| r.figure.unit);
    let _ = writeln!(
        out,
        r#"<text x="{LEFT}" y="{}" font-size="15" font-weight="bold">{}{}</text>"#,
        top + 18.0,
        esc(p.title),
        if unit.is_empty() {
            String::new()
        } else {
            format!(" ({unit})")
        }
    );
    let max = rows
        .iter()
        .flat_map(|r| r.base.values().chain(r.other.values()))
        .copied()
        .filter(|v| v.is_finite())
        .fold(0.0, f64::max);
    if max <= 0.0 {
        return;
    }
    let step = tick_step(max);
    let ymax = (max / step).ceil() * step;
    let y = |v: f64| bottom - v / ymax * plot_h;
    let mut t = 0.0;
    while t <= ymax + step / 2.0 {
        let _ = writeln!(
            out,
            r##"<line x1="{LEFT}" x2="{}" y1="{yy:.1}" y2="{yy:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" font-size="11" text-anchor="end">{}</text>"##,
            W - 20.0,
            LEFT - 6.0,
            y(t) + 4.0,
            if step >= 1.0 {
                format!("{t:.0}")
            } else {
                format!("{t}")
            },
            yy = y(t),
        );
        t += step;
    }
    let group_w = (W - LEFT - 20.0) / rows.len().max(1) as f64;
    let bar_w = (group_w * 0.3).min(60.0);
    for (i, r) in rows.iter().enumerate() {
        let cx = LEFT + group_w * (i as f64 + 0.5);
        for (k, (values, median)) in [(&r.base, r.base_median()), (&r.other, r.other_median())]
            .into_iter()
            .enumerate()
        {
            let x = cx + (k as f64 - 1.0) * bar_w - 2.0 + 4.0 * k as f64;
            if let Some(m) = median {
                let _ = writeln!(
                    out,
                    r#"<rect x="{x:.1}" y="{:.1}" width="{bar_w:.1}" height="{:.1}" fill="{}"><title>{}: {m:.2}</title></rect>"#,
                    y(m),
                    bottom - y(m),
                    COLORS[k],
                    if k == 0 { "C" } else { "Rust" },
                );
            }
            // Every round as a dot: the spread between repeats.
            for v in values.values() {
                let _ = writeln!(
                    out,
                    r#"<circle cx="{:.1}" cy="{:.1}" r="2.5" fill="black" fill-opacity="0.6"/>"#,
                    x + bar_w / 2.0,
                    y(*v)
                );
            }
        }
        let f = &r.figure;
        let label = match f.case.as_str() {
            "sink" => format!("sink {} B x{}", f.size, f.eps),
            "bulk" => format!("bulk {} KiB", f.size / 1024),
            c => format!("{c} {} B", f.size),
        };
        let _ = writeln!(
            out,
            r#"<text x="{cx:.1}" y="{:.1}" font-size="12" text-anchor="middle">{}</text>"#,
            bottom + 16.0,
            esc(&label)
        );
        if let Some(ratio) = r.ratio_median() {
            let _ = writeln!(
                out,
                r#"<text x="{cx:.1}" y="{:.1}" font-size="12" text-anchor="middle">Rust/C {ratio:.2}</text>"#,
                bottom + 32.0
            );
        }
    }
}

/// The whole SVG document.
pub fn svg(rows: &[Row], title: &str, panels: &[Panel<'_>]) -> String {
    let h = 50.0 + PANEL_H * panels.len() as f64;
    let mut out = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{h}" font-family="sans-serif">
<rect width="100%" height="100%" fill="white"/>
<text x="{LEFT}" y="22" font-size="16" font-weight="bold">{}</text>
"#,
        esc(title)
    );
    for (k, name) in ["C (kernel)", "Rust"].iter().enumerate() {
        let x = W - 260.0 + 110.0 * k as f64;
        let _ = writeln!(
            out,
            r#"<rect x="{x}" y="10" width="14" height="14" fill="{}"/><text x="{}" y="22" font-size="13">{name}</text>"#,
            COLORS[k],
            x + 18.0
        );
    }
    let _ = writeln!(
        out,
        r#"<text x="{LEFT}" y="40" font-size="11">bars: median over rounds; dots: each round</text>"#
    );
    for (i, p) in panels.iter().enumerate() {
        let sel: Vec<&Row> = rows
            .iter()
            .filter(|r| r.figure.metric == p.metric && p.case.is_none_or(|c| r.figure.case == c))
            .collect();
        panel(&mut out, p, &sel, 45.0 + PANEL_H * i as f64);
    }
    out += "</svg>\n";
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{rows, Input};

    #[test]
    fn ticks() {
        assert_eq!(tick_step(100.0), 20.0);
        assert_eq!(tick_step(7.0), 2.0);
        assert_eq!(tick_step(0.9), 0.2);
    }

    #[test]
    fn draws_both_stacks_per_size() {
        let mut input = Input::default();
        for (stack, p50) in [("c", 100_000), ("rust", 90_000)] {
            input.add_text(&format!(
                "BENCH stack={stack} round=1 case=echo size=1 eps=1 msgs=2 wall_ns=1 kcpu_ns=1 \
                 sim_ns=0 p50_ns={p50} p99_ns=1 max_ns=1\n"
            ));
        }
        let rows = rows(&input.samples);
        let s = svg(
            &rows,
            "t <x>",
            &[Panel {
                title: "echo p50",
                metric: "p50",
                case: Some("echo"),
            }],
        );
        assert!(s.starts_with("<svg") && s.ends_with("</svg>\n"));
        assert_eq!(
            s.matches("<rect x=").count(),
            2 + 2,
            "two legend boxes, two bars"
        );
        assert!(s.contains("Rust/C 0.90"));
        assert!(s.contains("t &lt;x&gt;"));
    }
}
