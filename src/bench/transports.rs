//! The transports study: erlmcp-perf alone against one stateful reference server over
//! Streamable HTTP, WebSocket, TCP and stdio: the highest rate held over each and the
//! generator's CPU per request at the fixed rate.

use std::fmt::Write as _;

use harness::units::median;

use super::tools::{Measurement, Target};

/// The transports, in the order of the table.
pub const ALL: [&str; 4] = ["http", "websocket", "tcp", "stdio"];

/// Everything measured over one transport.
#[derive(Debug)]
pub struct TransportResult {
    pub transport: &'static str,
    /// Highest rate held (0 when even the first rung failed).
    pub max_rate: f64,
    /// Every run of the search.
    pub ladder: Vec<Measurement>,
    /// Runs at the fixed rate, one per repetition.
    pub fixed: Vec<Measurement>,
}

impl TransportResult {
    pub fn new(transport: &'static str) -> Self {
        Self {
            transport,
            max_rate: 0.0,
            ladder: Vec::new(),
            fixed: Vec::new(),
        }
    }

    /// Median CPU-seconds per 10,000 requests at the fixed rate: during the load alone
    /// (the process's own, stdio servers not counted), and of the whole process.
    fn cpu_per_10k(&self) -> (Option<f64>, Option<f64>) {
        let of = |f: fn(&Measurement) -> Option<f64>| {
            median(&self.fixed.iter().filter_map(f).collect::<Vec<_>>())
        };
        (
            of(Measurement::load_cpu_per_10k),
            of(Measurement::cpu_per_10k),
        )
    }

    /// Median P50 at the fixed rate, microseconds.
    fn p50(&self) -> Option<f64> {
        median(
            &self
                .fixed
                .iter()
                .map(|m| m.p50_us as f64)
                .collect::<Vec<_>>(),
        )
    }
}

/// The reference server over `transport`: its HTTP endpoint `http_url` (`.../mcp`), its
/// TCP address `tcp_url` (`tcp://...`), or, for stdio, `stdio_command` started by the
/// generator for every session.
pub fn target(
    transport: &'static str,
    http_url: &str,
    tcp_url: &str,
    stdio_command: &str,
) -> Target {
    match transport {
        "websocket" => {
            let ws = http_url.replacen("http://", "ws://", 1);
            Target::at(transport, format!("{ws}/ws"))
        }
        "tcp" => Target::at(transport, tcp_url.to_string()),
        "stdio" => Target {
            ours: vec!["--sut".into(), format!("stdio:{stdio_command}")],
            ..Target::at(transport, String::new())
        },
        _ => Target::at(transport, http_url.to_string()),
    }
}

/// The study's Markdown section.
pub fn markdown(out: &mut String, fixed_rate: f64, sessions: usize, results: &[TransportResult]) {
    if results.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "## erlmcp-perf over every transport (reference server, stateful)\n\n\
         One reference server on the server CPUs serves Streamable HTTP (SSE answers, with \
         sessions), WebSocket and TCP; over stdio the generator starts one server per \
         session, pinned to the server CPUs. {sessions} sessions of one connection. CPU \
         during the load is the generator process's own (`generator.cpu_seconds`: every \
         thread, a stdio server not counted); CPU of the process adds start-up (opening \
         sessions) and shutdown.\n"
    );
    let http = results
        .iter()
        .find(|r| r.transport == "http")
        .and_then(|r| r.cpu_per_10k().0);
    let _ = writeln!(
        out,
        "| Transport | Max rate held (req/s) | CPU-s / 10k req during the load at {fixed_rate:.0} req/s | × HTTP | CPU-s / 10k req of the process | P50 at {fixed_rate:.0} req/s (µs) |\n|---|---:|---:|---:|---:|---:|"
    );
    for r in results {
        let (load, process) = r.cpu_per_10k();
        let ratio = match (load, http) {
            (Some(c), Some(h)) if h > 0.0 => format!("{:.2}×", c / h),
            _ => "–".into(),
        };
        let _ = writeln!(
            out,
            "| {} | {:.0} | {} | {} | {} | {} |",
            r.transport,
            r.max_rate,
            load.map_or("–".into(), |c| format!("{c:.3}")),
            ratio,
            process.map_or("–".into(), |c| format!("{c:.3}")),
            r.p50().map_or("–".into(), |p| format!("{p:.0}")),
        );
    }
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_transport_names_its_endpoint() {
        let t = |name| {
            target(
                name,
                "http://127.0.0.1:5/mcp",
                "tcp://127.0.0.1:6",
                "srv --stdio",
            )
        };
        assert_eq!(t("http").ours, ["--url", "http://127.0.0.1:5/mcp"]);
        assert_eq!(t("websocket").ours, ["--url", "ws://127.0.0.1:5/mcp/ws"]);
        assert_eq!(t("tcp").ours, ["--url", "tcp://127.0.0.1:6"]);
        assert_eq!(t("stdio").ours, ["--sut", "stdio:srv --stdio"]);
    }
}
