//! plot.svg: horizontal bars on a log scale, one panel for latencies (lower
//! is better), one for throughputs (higher is better) and one for memory
//! (lower is better), mp beside CPython and the Rust peers of each row. Written by hand: a few rects and
//! texts need no plotting crate.

use std::fmt::Write;

use crate::measurements::{CPython, Results};
use crate::rows::{self, Kind};
use crate::values::Value;

const WIDTH: f64 = 1000.0;
const LABEL_W: f64 = 290.0;
const BAR_W: f64 = 540.0;
const BAR_H: f64 = 11.0;
const BAR_GAP: f64 = 2.0;
const GROUP_GAP: f64 = 12.0;
const PEER_COLORS: [&str; 3] = ["#7f7f7f", "#a9a9a9", "#cfcfcf"];

/// One row's bars: (series, value, color).
struct Group {
    label: String,
    bars: Vec<(String, Value, &'static str)>,
}

/// The bars of the rows whose kind `panel` plots.
fn groups(panel: fn(Kind) -> bool, crit: &Results, cpython: Option<&CPython>) -> Vec<Group> {
    rows::all()
        .filter(|r| panel(r.kind))
        .filter_map(|row| {
            let mut bars = Vec::new();
            if let Some(v) = row.mp_value(crit) {
                bars.push(("mp".to_string(), v, "#1f77b4"));
            }
            if let Some(v) = row.cpython_value(crit, cpython) {
                bars.push(("CPython".to_string(), v, "#ff7f0e"));
            }
            for (i, (label, v)) in row.peer_values(crit).into_iter().enumerate() {
                bars.push((label.to_string(), v, PEER_COLORS[i.min(2)]));
            }
            (!bars.is_empty()).then(|| Group {
                label: format!("{} · {}", short(row.workload), row.case),
                bars,
            })
        })
        .collect()
}

/// "W3 Queue, 1 producer → 1 consumer" -> "W3 Queue", "W5 Pool(2).map" -> "W5 Pool".
fn short(workload: &str) -> String {
    let w: Vec<&str> = workload.split_whitespace().take(2).collect();
    let w = w.join(" ").replace('`', "");
    w.split([',', '(']).next().unwrap_or_default().to_string()
}

/// A decade's label without trailing zeros ("1 k/s", "10 µs").
fn tick_label(v: Value) -> String {
    let s = v.to_string();
    let (num, unit) = s.split_once(' ').unwrap_or((&s, ""));
    let num = if num.contains('.') {
        num.trim_end_matches('0').trim_end_matches('.')
    } else {
        num
    };
    format!("{num} {unit}")
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn panel(out: &mut String, top: f64, title: &str, groups: &[Group], tick: fn(f64) -> Value) -> f64 {
    let values = groups
        .iter()
        .flat_map(|g| g.bars.iter().map(|b| b.1.plotted()))
        .filter(|v| *v > 0.0);
    let (lo, hi) = values.fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let _ = writeln!(
        out,
        r#"<text x="10" y="{}" font-size="15" font-weight="bold">{}</text>"#,
        top + 16.0,
        escape(title)
    );
    if groups.is_empty() {
        let _ = writeln!(
            out,
            r##"<text x="{LABEL_W}" y="{}" fill="#888">no measurements</text>"##,
            top + 40.0
        );
        return top + 60.0;
    }
    let lo = lo.log10().floor();
    let hi = hi.log10().ceil().max(lo + 1.0);
    let x_of = |v: f64| LABEL_W + (v.log10() - lo) / (hi - lo) * BAR_W;
    let plot_top = top + 40.0;
    let height: f64 = groups
        .iter()
        .map(|g| g.bars.len() as f64 * (BAR_H + BAR_GAP) + GROUP_GAP)
        .sum();
    // Decade grid lines and their labels.
    let mut decade = lo;
    while decade <= hi {
        let x = x_of(10f64.powf(decade));
        let _ = writeln!(
            out,
            r##"<line x1="{x:.1}" y1="{:.1}" x2="{x:.1}" y2="{:.1}" stroke="#ddd"/><text x="{x:.1}" y="{:.1}" font-size="10" text-anchor="middle" fill="#555">{}</text>"##,
            plot_top - 4.0,
            plot_top + height,
            plot_top - 8.0,
            escape(&tick_label(tick(10f64.powf(decade)))),
        );
        decade += 1.0;
    }
    let mut y = plot_top;
    for g in groups {
        let group_h = g.bars.len() as f64 * (BAR_H + BAR_GAP);
        let _ = writeln!(
            out,
            r#"<text x="{:.1}" y="{:.1}" font-size="11" text-anchor="end">{}</text>"#,
            LABEL_W - 8.0,
            y + group_h / 2.0 + 4.0,
            escape(&g.label)
        );
        for (series, v, color) in &g.bars {
            let w = (x_of(v.plotted()) - LABEL_W).max(1.0);
            let _ = writeln!(
                out,
                r##"<rect x="{LABEL_W}" y="{y:.1}" width="{w:.1}" height="{BAR_H}" fill="{color}"/><text x="{:.1}" y="{:.1}" font-size="9.5" fill="#333">{} {}</text>"##,
                LABEL_W + w + 4.0,
                y + BAR_H - 2.0,
                escape(series),
                escape(&v.to_string()),
            );
            y += BAR_H + BAR_GAP;
        }
        y += GROUP_GAP;
    }
    y + 10.0
}

/// The whole SVG document.
pub(crate) fn render(crit: &Results, cpython: Option<&CPython>, subtitle: &str) -> String {
    let mut body = String::new();
    let mut y = 52.0;
    y = panel(
        &mut body,
        y,
        "Latency per operation (log scale, shorter is better)",
        &groups(|k| k == Kind::Latency, crit, cpython),
        Value::Time,
    );
    y = panel(
        &mut body,
        y + 10.0,
        "Throughput, items per second (log scale, longer is better)",
        &groups(|k| matches!(k, Kind::Rate { .. }), crit, cpython),
        |x| Value::Rate(x, None),
    );
    y = panel(
        &mut body,
        y + 10.0,
        "Memory of an idle process, PSS (log scale, shorter is better)",
        &groups(|k| k == Kind::Memory, crit, cpython),
        Value::Bytes,
    );
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{y:.0}" viewBox="0 0 {WIDTH} {y:.0}" font-family="sans-serif">"#
    );
    let _ = writeln!(out, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        out,
        r##"<text x="10" y="22" font-size="17" font-weight="bold">mp vs CPython vs Rust peers</text><text x="10" y="40" font-size="10.5" fill="#555">{}</text>"##,
        escape(subtitle)
    );
    // Legend.
    let legend = [
        ("mp", "#1f77b4"),
        ("CPython", "#ff7f0e"),
        ("peers and floors (same run)", PEER_COLORS[0]),
    ];
    let mut x = WIDTH - 360.0;
    for (name, color) in legend {
        let _ = writeln!(
            out,
            r#"<rect x="{x}" y="12" width="10" height="10" fill="{color}"/><text x="{}" y="21" font-size="10">{}</text>"#,
            x + 14.0,
            escape(name)
        );
        x += 26.0 + 6.0 * name.chars().count() as f64;
    }
    out.push_str(&body);
    out.push_str("</svg>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measurements::{Criterion, Measurement, Pss};

    #[test]
    fn plots_every_measured_row_and_escapes_text() {
        let mut crit = Results::of_times(
            [
                ("process/start_join/fork", 200_000.0),
                ("queue/throughput/mp_queue/u64", 50.0),
            ]
            .map(|(id, ns)| {
                (
                    id.to_string(),
                    Criterion {
                        median_ns: ns,
                        bytes: None,
                        elements: None,
                    },
                )
            }),
        );
        crit.0.insert(
            "memory/pss/forkserver".into(),
            Measurement::Pss(Pss {
                bytes: 884_736.0,
                processes: 1,
            }),
        );
        let svg = render(&crit, None, "a <b> & c");
        assert!(svg.starts_with("<svg"));
        assert!(svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("W1 start+join · fork"), "{svg}");
        assert!(svg.contains("mp 200 µs"), "{svg}");
        assert!(svg.contains("mp 20.0 M/s"), "{svg}");
        assert!(svg.contains("a &lt;b&gt; &amp; c"));
        assert!(svg.contains(">100 µs<"), "{svg}");
        assert_eq!(short("W5 Pool(2).map x → x²"), "W5 Pool");
        assert_eq!(short("W3 Queue, 1 producer"), "W3 Queue");
        assert!(svg.contains("mp 864 KiB"), "{svg}");
        assert!(svg.contains(">Memory: PSS · forkserver<"), "{svg}");
        // The background, the legend's three, one bar per value.
        assert_eq!(svg.matches("<rect").count(), 1 + 3 + 3, "{svg}");
    }
}
