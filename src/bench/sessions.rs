//! The sessions study: erlmcp-perf holding many concurrent MCP sessions (one connection
//! each) of the stateful reference server at a modest total rate, against the same rate
//! over a few sessions: its memory per session and CPU per request.

use std::fmt::Write as _;

use super::tools::Measurement;

/// One transport's pair of runs.
#[derive(Debug)]
pub struct SessionsResult {
    pub transport: &'static str,
    /// The run over `--connections` sessions, and over `--sessions`.
    pub few: Option<Measurement>,
    pub many: Option<Measurement>,
}

impl SessionsResult {
    /// The generator's peak resident memory per added session, bytes.
    pub fn memory_per_session(&self) -> Option<f64> {
        let (few, many) = (self.few.as_ref()?, self.many.as_ref()?);
        let added = many.load.connections.checked_sub(few.load.connections)?;
        (added > 0).then(|| (many.max_rss as f64 - few.max_rss as f64) / added as f64)
    }
}

const MIB: f64 = 1024.0 * 1024.0;

/// The study's Markdown section.
pub fn markdown(out: &mut String, results: &[SessionsResult]) {
    let Some(first) = results.iter().find_map(|r| r.many.as_ref()) else {
        return;
    };
    let _ = writeln!(
        out,
        "## Many sessions (reference server, stateful)\n\n\
         {} concurrent MCP sessions of one connection each at {:.0} req/s for {:?}, against the \
         same rate over {} sessions. Memory is the generator process's peak resident set \
         (`ru_maxrss`); per session is the difference over the added sessions. CPU is the \
         generator's own during the load.\n",
        first.load.connections,
        first.load.rate.unwrap_or(0.0),
        first.load.duration,
        results
            .iter()
            .find_map(|r| r.few.as_ref())
            .map_or(0, |m| m.load.connections),
    );
    out.push_str("| Transport | Sessions | OK / offered | P50 (µs) | P99 (µs) | Peak RSS (MiB) | Memory per session (KiB) | CPU-s / 10k req during the load | CPU-s of the process |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for r in results {
        let rows = [(&r.few, None), (&r.many, r.memory_per_session())];
        for (m, per_session) in rows {
            let Some(m) = m else { continue };
            let per_session = per_session.map_or("–".into(), |b| format!("{:.1}", b / 1024.0));
            let _ = writeln!(
                out,
                "| {} | {} | {} / {} | {} | {} | {:.1} | {} | {} | {:.2} |",
                r.transport,
                m.load.connections,
                m.ok,
                m.offered.map_or("–".into(), |o| o.to_string()),
                m.p50_us,
                m.p99_us,
                m.max_rss as f64 / MIB,
                per_session,
                m.load_cpu_per_10k()
                    .map_or("–".into(), |c| format!("{c:.3}")),
                m.cpu.as_secs_f64(),
            );
        }
    }
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::bench::tools::Load;

    fn run(sessions: usize, max_rss: u64) -> Measurement {
        Measurement {
            offered: Some(1000),
            ok: 1000,
            failed: 0,
            p50_us: 100,
            p99_us: 200,
            send_lag_p50_us: None,
            send_lag_p99_us: None,
            never_sent: None,
            cpu: Duration::from_secs(1),
            load_cpu: Some(Duration::from_millis(500)),
            span: None,
            max_rss,
            rss: Vec::new(),
            load: Load::open(100.0, sessions, Duration::from_secs(10)),
        }
    }

    #[test]
    fn memory_per_session_is_the_difference_over_the_added_sessions() {
        let r = SessionsResult {
            transport: "http",
            few: Some(run(16, 10 << 20)),
            many: Some(run(1016, 30 << 20)),
        };
        assert_eq!(r.memory_per_session(), Some(20.0 * MIB / 1000.0));
        let mut out = String::new();
        markdown(&mut out, &[r]);
        assert!(out.contains("| http | 1016 | 1000 / 1000 |"), "{out}");
        assert!(out.contains("| 20.5 |"), "{out}");
        let lone = SessionsResult {
            transport: "http",
            few: None,
            many: Some(run(1016, 30 << 20)),
        };
        assert_eq!(lone.memory_per_session(), None);
    }
}
