//! The soak study: one long erlmcp-perf run at a steady rate with its resident memory
//! sampled every second, and the growth fitted to it: what an hour-long run would hold.

use std::fmt::Write as _;

use super::tools::Measurement;

const MIB: f64 = 1024.0 * 1024.0;

/// Least-squares growth of resident memory over the samples from `skip` seconds on,
/// bytes per second, with the samples' first and last resident sizes.
pub struct Growth {
    pub bytes_per_second: f64,
    pub first: (f64, u64),
    pub last: (f64, u64),
    pub samples: usize,
}

/// The fit over `rss` (seconds, bytes) from `skip` seconds on; `None` with fewer than
/// three samples there.
pub fn growth(rss: &[(f64, u64)], skip: f64) -> Option<Growth> {
    let points: Vec<(f64, f64)> = rss
        .iter()
        .filter(|(t, _)| *t >= skip)
        .map(|&(t, b)| (t, b as f64))
        .collect();
    if points.len() < 3 {
        return None;
    }
    let n = points.len() as f64;
    let mean_t = points.iter().map(|p| p.0).sum::<f64>() / n;
    let mean_b = points.iter().map(|p| p.1).sum::<f64>() / n;
    let (mut cov, mut var) = (0.0, 0.0);
    for (t, b) in &points {
        cov += (t - mean_t) * (b - mean_b);
        var += (t - mean_t) * (t - mean_t);
    }
    let kept: Vec<&(f64, u64)> = rss.iter().filter(|(t, _)| *t >= skip).collect();
    Some(Growth {
        bytes_per_second: if var > 0.0 { cov / var } else { 0.0 },
        first: *kept[0],
        last: *kept[kept.len() - 1],
        samples: points.len(),
    })
}

/// Seconds of a run left out of the fit: sessions opening, and the allocator settling.
pub fn settle(duration_s: f64) -> f64 {
    (duration_s * 0.1).clamp(5.0, 60.0)
}

/// The study's Markdown section.
pub fn markdown(out: &mut String, run: Option<&Measurement>) {
    let Some(m) = run else { return };
    let duration = m.load.duration.as_secs_f64();
    let skip = settle(duration);
    let _ = writeln!(
        out,
        "## A long run (minimal HTTP endpoint)\n\n\
         erlmcp-perf at {:.0} req/s for {:?} over {} sessions, its resident memory sampled \
         every second (`/proc/PID/statm`); the growth is a least-squares line through the \
         samples after the first {skip:.0} s.",
        m.load.rate.unwrap_or(0.0),
        m.load.duration,
        m.load.connections,
    );
    let Some(g) = growth(&m.rss, skip) else {
        let _ = writeln!(out, "\nToo few memory samples ({}).\n", m.rss.len());
        return;
    };
    let _ = writeln!(out, "{} samples in the fit.\n", g.samples);
    let per_hour = g.bytes_per_second * 3600.0;
    let _ = writeln!(
        out,
        "| OK / offered | RSS at {:.0} s (MiB) | RSS at {:.0} s (MiB) | Peak RSS (MiB) | Growth (MiB per hour) | Per request (bytes) | An hour at this rate (MiB) |\n|---:|---:|---:|---:|---:|---:|---:|",
        g.first.0, g.last.0
    );
    let rate = m.load.rate.unwrap_or(0.0);
    let _ = writeln!(
        out,
        "| {} / {} | {:.1} | {:.1} | {:.1} | {:.2} | {} | {:.1} |\n",
        m.ok,
        m.offered.map_or("–".into(), |o| o.to_string()),
        g.first.1 as f64 / MIB,
        g.last.1 as f64 / MIB,
        m.max_rss as f64 / MIB,
        per_hour / MIB,
        if rate > 0.0 {
            format!("{:.2}", g.bytes_per_second / rate)
        } else {
            "–".into()
        },
        (g.first.1 as f64 + g.bytes_per_second * (3600.0 - g.first.0)) / MIB,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn growth_is_the_slope_after_the_settling_time() {
        // 1 MiB at start-up, then flat at 10 MiB plus 1 KiB a second.
        let mut rss = vec![(0.0, 1 << 20)];
        rss.extend((5..=100).map(|t| (t as f64, (10 << 20) + 1024 * t as u64)));
        let g = growth(&rss, 5.0).unwrap();
        assert!(
            (g.bytes_per_second - 1024.0).abs() < 1e-6,
            "{}",
            g.bytes_per_second
        );
        assert_eq!((g.first.0, g.last.0, g.samples), (5.0, 100.0, 96));
        assert!(growth(&rss[..3], 5.0).is_none());
        assert_eq!(settle(300.0), 30.0);
        assert_eq!(settle(10.0), 5.0);
    }
}
