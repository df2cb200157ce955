//! SVG charts a person reads at a glance: the latency percentile spectrum of baseline and
//! current overlaid, and latency over time.

use std::fmt::Write as _;

use hdrhistogram::Histogram;

use crate::record::WindowRecord;

const W: f64 = 720.0;
const H: f64 = 360.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 50.0;

/// One line on a chart.
pub struct Series<'a, T: ?Sized> {
    pub name: &'a str,
    pub color: &'a str,
    pub data: &'a T,
}

fn frame(title: &str, x_label: &str, y_label: &str) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="{W}" height="{H}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="{}" y="22" text-anchor="middle" font-size="15" font-weight="bold">{}</text>
<text x="{}" y="{}" text-anchor="middle">{}</text>
<text transform="translate(16 {}) rotate(-90)" text-anchor="middle">{}</text>
<rect x="{LEFT}" y="{TOP}" width="{}" height="{}" fill="none" stroke="#888"/>
"##,
        W / 2.0,
        escape(title),
        LEFT + (W - LEFT - RIGHT) / 2.0,
        H - 10.0,
        escape(x_label),
        TOP + (H - TOP - BOTTOM) / 2.0,
        escape(y_label),
        W - LEFT - RIGHT,
        H - TOP - BOTTOM
    );
    s
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn y_axis(s: &mut String, max_ms: f64) {
    for i in 0..=4 {
        let v = max_ms * i as f64 / 4.0;
        let y = TOP + (H - TOP - BOTTOM) * (1.0 - i as f64 / 4.0);
        let _ = writeln!(
            s,
            r##"<line x1="{LEFT}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#eee"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
            W - RIGHT,
            LEFT - 6.0,
            y + 4.0,
            trim(v)
        );
    }
}

fn trim(v: f64) -> String {
    if v >= 10.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

fn legend(s: &mut String, names: &[(&str, &str)]) {
    for (i, (name, color)) in names.iter().enumerate() {
        let x = LEFT + 10.0 + 170.0 * i as f64;
        let _ = writeln!(
            s,
            r##"<line x1="{x}" x2="{}" y1="{}" y2="{}" stroke="{color}" stroke-width="3"/><text x="{}" y="{}">{}</text>"##,
            x + 20.0,
            TOP + 14.0,
            TOP + 14.0,
            x + 26.0,
            TOP + 18.0,
            escape(name)
        );
    }
}

fn nice_max(v: f64) -> f64 {
    if v <= 0.0 {
        return 1.0;
    }
    let magnitude = 10f64.powf(v.log10().floor());
    for step in [1.0, 2.0, 2.5, 5.0, 10.0] {
        if step * magnitude >= v {
            return step * magnitude;
        }
    }
    10.0 * magnitude
}

/// Latency (ms) against percentile, on the usual "number of nines" axis (50%, 90%, 99%,
/// 99.9%, 99.99%), one line per histogram.
pub fn percentile_spectrum(title: &str, series: &[Series<'_, Histogram<u64>>]) -> String {
    const NINES: f64 = 4.0;
    let points = |h: &Histogram<u64>| -> Vec<(f64, f64)> {
        (0..=200)
            .map(|i| {
                let x = NINES * i as f64 / 200.0;
                let q = 1.0 - 10f64.powf(-x);
                (
                    x,
                    if h.is_empty() {
                        0.0
                    } else {
                        h.value_at_quantile(q) as f64 / 1000.0
                    },
                )
            })
            .collect()
    };
    let lines: Vec<Vec<(f64, f64)>> = series.iter().map(|s| points(s.data)).collect();
    let max = nice_max(lines.iter().flatten().map(|p| p.1).fold(0.0, f64::max));
    let mut s = frame(title, "percentile", "latency (ms)");
    y_axis(&mut s, max);
    for (label, x) in [
        ("0%", 0.0),
        ("90%", 1.0),
        ("99%", 2.0),
        ("99.9%", 3.0),
        ("99.99%", 4.0),
    ] {
        let px = LEFT + (W - LEFT - RIGHT) * x / NINES;
        let _ = writeln!(
            s,
            r##"<text x="{px:.1}" y="{}" text-anchor="middle">{label}</text>"##,
            H - BOTTOM + 16.0
        );
    }
    for (line, ser) in lines.iter().zip(series) {
        polyline(&mut s, line, NINES, max, ser.color);
    }
    legend(
        &mut s,
        &series.iter().map(|x| (x.name, x.color)).collect::<Vec<_>>(),
    );
    s.push_str("</svg>\n");
    s
}

/// P99 latency (ms) per second of measured time, one line per run.
pub fn latency_over_time(title: &str, series: &[Series<'_, [WindowRecord]>]) -> String {
    let seconds = series
        .iter()
        .map(|s| s.data.len())
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let max = nice_max(
        series
            .iter()
            .flat_map(|s| s.data.iter())
            .map(|w| w.p99_us as f64 / 1000.0)
            .fold(0.0, f64::max),
    );
    let mut s = frame(
        title,
        "seconds of measured time",
        "P99 latency per second (ms)",
    );
    y_axis(&mut s, max);
    for i in 0..=4 {
        let t = seconds * i as f64 / 4.0;
        let px = LEFT + (W - LEFT - RIGHT) * i as f64 / 4.0;
        let _ = writeln!(
            s,
            r##"<text x="{px:.1}" y="{}" text-anchor="middle">{t:.0}</text>"##,
            H - BOTTOM + 16.0
        );
    }
    for ser in series {
        let line: Vec<(f64, f64)> = ser
            .data
            .iter()
            .map(|w| (w.second as f64 + 0.5, w.p99_us as f64 / 1000.0))
            .collect();
        polyline(&mut s, &line, seconds, max, ser.color);
    }
    legend(
        &mut s,
        &series.iter().map(|x| (x.name, x.color)).collect::<Vec<_>>(),
    );
    s.push_str("</svg>\n");
    s
}

fn polyline(s: &mut String, points: &[(f64, f64)], x_max: f64, y_max: f64, color: &str) {
    let coords: Vec<String> = points
        .iter()
        .map(|(x, y)| {
            let px = LEFT + (W - LEFT - RIGHT) * (x / x_max).clamp(0.0, 1.0);
            let py = TOP + (H - TOP - BOTTOM) * (1.0 - (y / y_max).clamp(0.0, 1.0));
            format!("{px:.1},{py:.1}")
        })
        .collect();
    let _ = writeln!(
        s,
        r##"<polyline fill="none" stroke="{color}" stroke-width="2" points="{}"/>"##,
        coords.join(" ")
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::histogram;

    #[test]
    fn charts_are_well_formed_svg() {
        let mut a = histogram(3);
        let mut b = histogram(3);
        for v in 1..=1000u64 {
            a.record(v * 10).unwrap();
            b.record(v * 13).unwrap();
        }
        let svg = percentile_spectrum(
            "P & Q",
            &[
                Series {
                    name: "baseline",
                    color: "#1f77b4",
                    data: &a,
                },
                Series {
                    name: "current",
                    color: "#d62728",
                    data: &b,
                },
            ],
        );
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert!(svg.contains("P &amp; Q") && svg.contains("99.9%"));
        let windows: Vec<WindowRecord> = (0..5)
            .map(|second| WindowRecord {
                second,
                ok: 1,
                failed: 0,
                p50_us: 1000,
                p99_us: 2000 + 100 * second as u64,
                max_us: 3000,
            })
            .collect();
        let svg = latency_over_time(
            "over time",
            &[Series {
                name: "run",
                color: "#000",
                data: windows.as_slice(),
            }],
        );
        assert_eq!(svg.matches("<polyline").count(), 1);
    }
}
