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

/// One step of a capacity chart: offered rate, achieved rate, P50 and P99 (microseconds),
/// and whether the SUT sustained it (`Some(true)`), broke (`Some(false)`) or the generator
/// limited it (`None`).
#[derive(Debug, Clone, Copy)]
pub struct CapacityPoint {
    pub offered: f64,
    pub achieved: f64,
    pub p50_us: u64,
    pub p99_us: u64,
    pub sustained: Option<bool>,
}

/// Latency (P50, P99; left axis) and achieved throughput (right axis, same scale as the
/// offered rate, the dotted diagonal) against offered rate, steps marked green (sustained),
/// red (broke) or grey (generator limit); a red line at the breaking point and a green one
/// at the recommended capacity. Latency above four times the worst sustained P99 is drawn
/// at the top edge, so the flat part stays readable and the break stands out.
pub fn capacity_chart(
    title: &str,
    points: &[CapacityPoint],
    breaking_point: Option<f64>,
    recommended: Option<f64>,
) -> String {
    let mut pts = points.to_vec();
    pts.sort_by(|a, b| a.offered.total_cmp(&b.offered));
    let x_max = nice_max(
        pts.iter()
            .map(|p| p.offered.max(p.achieved))
            .fold(breaking_point.unwrap_or(0.0), f64::max),
    );
    let ms = |us: u64| us as f64 / 1000.0;
    let worst = pts.iter().map(|p| ms(p.p99_us)).fold(0.0, f64::max);
    let sustained_worst = pts
        .iter()
        .filter(|p| p.sustained == Some(true))
        .map(|p| ms(p.p99_us))
        .fold(0.0, f64::max);
    let y_max = nice_max(if sustained_worst > 0.0 {
        worst.min(4.0 * sustained_worst)
    } else {
        worst
    });
    let mut s = frame(title, "offered rate (req/s)", "latency (ms)");
    y_axis(&mut s, y_max);
    let (pw, ph) = (W - LEFT - RIGHT, H - TOP - BOTTOM);
    let px = |x: f64| LEFT + pw * (x / x_max).clamp(0.0, 1.0);
    for i in 0..=4 {
        let v = x_max * i as f64 / 4.0;
        let _ = writeln!(
            s,
            r##"<text x="{:.1}" y="{}" text-anchor="middle">{}</text><text x="{}" y="{:.1}" text-anchor="end" fill="#1f77b4">{}</text>"##,
            px(v),
            H - BOTTOM + 16.0,
            trim(v),
            W - RIGHT - 4.0,
            TOP + ph * (1.0 - i as f64 / 4.0) - 3.0,
            trim(v)
        );
    }
    // The ideal: achieved = offered.
    let _ = writeln!(
        s,
        r##"<line x1="{LEFT}" y1="{:.1}" x2="{:.1}" y2="{TOP}" stroke="#1f77b4" stroke-dasharray="2 4"/>"##,
        TOP + ph,
        LEFT + pw
    );
    let marker = |s: &mut String, at: Option<f64>, color: &str, label: &str| {
        if let Some(x) = at {
            let _ = writeln!(
                s,
                r##"<line x1="{0:.1}" x2="{0:.1}" y1="{TOP}" y2="{1}" stroke="{color}" stroke-width="2" stroke-dasharray="6 3"/><text x="{2:.1}" y="{3}" fill="{color}" transform="rotate(-90 {2:.1} {3})" text-anchor="end">{4}</text>"##,
                px(x),
                TOP + ph,
                px(x) - 4.0,
                TOP + 30.0,
                escape(&format!("{label} {}", trim(x)))
            );
        }
    };
    marker(&mut s, breaking_point, "#d62728", "breaks at");
    marker(&mut s, recommended, "#2ca02c", "recommended");
    let line = |get: &dyn Fn(&CapacityPoint) -> f64| -> Vec<(f64, f64)> {
        pts.iter().map(|p| (p.offered, get(p))).collect()
    };
    polyline(&mut s, &line(&|p| ms(p.p50_us)), x_max, y_max, "#ff7f0e");
    polyline(&mut s, &line(&|p| ms(p.p99_us)), x_max, y_max, "#9467bd");
    // Throughput on the offered rate's scale (right axis).
    let scaled: Vec<(f64, f64)> = pts
        .iter()
        .map(|p| (p.offered, p.achieved / x_max * y_max))
        .collect();
    polyline(&mut s, &scaled, x_max, y_max, "#1f77b4");
    for p in &pts {
        let color = match p.sustained {
            Some(true) => "#2ca02c",
            Some(false) => "#d62728",
            None => "#7f7f7f",
        };
        let py = TOP + ph * (1.0 - (ms(p.p99_us) / y_max).clamp(0.0, 1.0));
        let _ = writeln!(
            s,
            r##"<circle cx="{:.1}" cy="{py:.1}" r="4" fill="{color}"/>"##,
            px(p.offered)
        );
    }
    legend(
        &mut s,
        &[
            ("P50 latency", "#ff7f0e"),
            ("P99 latency", "#9467bd"),
            ("achieved req/s (right)", "#1f77b4"),
        ],
    );
    s.push_str("</svg>\n");
    s
}

/// One metric over a series of results (x: the point's position, labelled with the names
/// of the first, the last and each change point), each point a dot, each regime between
/// change points its median as a grey line, and each change point a dashed line: red for
/// a change for the worse, green for the better.
pub fn trend_chart(
    title: &str,
    y_label: &str,
    labels: &[String],
    values: &[Option<f64>],
    changes: &[(usize, bool)],
) -> String {
    let n = labels.len().max(2);
    let x_max = (n - 1) as f64;
    let y_max = nice_max(values.iter().flatten().fold(0.0, |a: f64, b| a.max(*b)));
    let mut s = frame(title, "results, oldest first", y_label);
    y_axis(&mut s, y_max);
    let (pw, ph) = (W - LEFT - RIGHT, H - TOP - BOTTOM);
    let px = |i: usize| LEFT + pw * (i as f64 / x_max).clamp(0.0, 1.0);
    let py = |v: f64| TOP + ph * (1.0 - (v / y_max).clamp(0.0, 1.0));
    let mut ticks: Vec<usize> = vec![0, labels.len().saturating_sub(1)];
    ticks.extend(changes.iter().map(|c| c.0));
    ticks.sort_unstable();
    ticks.dedup();
    for &i in ticks.iter().filter(|i| **i < labels.len()) {
        let _ = writeln!(
            s,
            r##"<text x="{:.1}" y="{}" text-anchor="middle" font-size="10">{}</text>"##,
            px(i),
            H - BOTTOM + 16.0,
            escape(&labels[i])
        );
    }
    let mut edges: Vec<usize> = vec![0];
    edges.extend(changes.iter().map(|c| c.0));
    edges.push(values.len());
    for w in edges.windows(2) {
        let regime: Vec<f64> = values[w[0]..w[1]].iter().flatten().copied().collect();
        if let Some(m) = crate::units::median(&regime) {
            let _ = writeln!(
                s,
                r##"<line x1="{:.1}" x2="{:.1}" y1="{2:.1}" y2="{2:.1}" stroke="#999" stroke-width="2"/>"##,
                px(w[0]),
                px(w[1].saturating_sub(1)),
                py(m)
            );
        }
    }
    for &(i, worse) in changes {
        let color = if worse { "#d62728" } else { "#2ca02c" };
        let x = px(i) - pw / x_max / 2.0;
        let _ = writeln!(
            s,
            r##"<line x1="{x:.1}" x2="{x:.1}" y1="{TOP}" y2="{}" stroke="{color}" stroke-width="2" stroke-dasharray="6 3"/>"##,
            TOP + ph
        );
    }
    let line: Vec<(f64, f64)> = values
        .iter()
        .enumerate()
        .filter_map(|(i, v)| v.map(|v| (i as f64, v)))
        .collect();
    polyline(&mut s, &line, x_max, y_max, "#1f77b4");
    for (x, v) in &line {
        let _ = writeln!(
            s,
            r##"<circle cx="{:.1}" cy="{:.1}" r="3" fill="#1f77b4"/>"##,
            px(*x as usize),
            py(*v)
        );
    }
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
                histogram: None,
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

    #[test]
    fn capacity_chart_marks_steps_and_the_break() {
        let step = |offered: f64, p99_us: u64, sustained: Option<bool>| CapacityPoint {
            offered,
            achieved: offered.min(9000.0),
            p50_us: p99_us / 3,
            p99_us,
            sustained,
        };
        let points = [
            step(8000.0, 9_000, Some(true)),
            step(1000.0, 2_000, Some(true)),
            step(16_000.0, 900_000, Some(false)),
            step(12_000.0, 50_000, None),
        ];
        let svg = capacity_chart("cap", &points, Some(12_000.0), Some(6_400.0));
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<polyline").count(), 3);
        assert_eq!(svg.matches("<circle").count(), 4);
        assert_eq!(svg.matches(r##"fill="#d62728"/>"##).count(), 1);
        assert!(svg.contains("breaks at 12000") && svg.contains("recommended 6400"));
    }
}
