//! Request metrics, counted inside the MCP handlers and exposed at `/metrics`
//! in the OpenMetrics text format that Prometheus scrapes.

use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{
        counter::Counter,
        family::Family,
        gauge::Gauge,
        histogram::{Histogram, exponential_buckets},
    },
    registry::Registry,
};

/// The `Content-Type` of [`Metrics::encode`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// How one MCP request ended.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
pub enum Outcome {
    /// A successful result.
    Ok,
    /// A `tools/call` result with `isError: true`.
    ToolError,
    /// A JSON-RPC error response (including injected faults).
    Error,
    /// Work stopped before it finished: the client cancelled the request
    /// (`notifications/cancelled`) or went away.
    Cancelled,
}

impl Outcome {
    /// The `outcome` label value: `ok`, `tool_error`, `error` or `cancelled`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::ToolError => "tool_error",
            Self::Error => "error",
            Self::Cancelled => "cancelled",
        }
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MethodLabels {
    method: &'static str,
}

/// The server's metric registry.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<MethodLabels, Histogram>,
    /// `process_cpu_seconds_total`, brought up to date from `/proc/self/stat` at each scrape.
    cpu_seconds: Counter<f64, AtomicU64>,
    /// `process_resident_memory_bytes`, read at each scrape.
    resident_bytes: Gauge,
    /// Two scrapes at once bring the CPU counter up to date one after the other.
    reading: std::sync::Mutex<()>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A registry with `mcp_requests_total{method,outcome}` and
    /// `mcp_request_duration_seconds{method}` (10µs to ~21s buckets).
    pub fn new() -> Self {
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<MethodLabels, Histogram>::new_with_constructor(
            (|| Histogram::new(exponential_buckets(0.000_01, 2.0, 22))) as fn() -> Histogram,
        );
        let mut registry = Registry::default();
        registry.register(
            "mcp_requests",
            "MCP requests handled, by JSON-RPC method and outcome",
            requests.clone(),
        );
        registry.register(
            "mcp_request_duration_seconds",
            "Time to handle an MCP request, injected faults included, by JSON-RPC method",
            latency.clone(),
        );
        let cpu_seconds = Counter::<f64, AtomicU64>::default();
        registry.register(
            "process_cpu_seconds",
            "User and system CPU time of the server process, seconds",
            cpu_seconds.clone(),
        );
        let resident_bytes = Gauge::default();
        registry.register(
            "process_resident_memory_bytes",
            "Resident memory of the server process, bytes",
            resident_bytes.clone(),
        );
        Self {
            registry,
            requests,
            latency,
            cpu_seconds,
            resident_bytes,
            reading: std::sync::Mutex::new(()),
        }
    }

    /// Brings the process metrics up to date from `/proc/self` (where there is one).
    fn read_process(&self) {
        let _one_at_a_time = self.reading.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((cpu, resident)) = process_usage() {
            let seen = self.cpu_seconds.get();
            if cpu > seen {
                self.cpu_seconds.inc_by(cpu - seen);
            }
            self.resident_bytes.set(resident);
        }
    }

    /// Count one request of `method` that ended with `outcome` after `elapsed`.
    pub fn record(&self, method: &'static str, outcome: Outcome, elapsed: Duration) {
        self.requests
            .get_or_create(&RequestLabels {
                method,
                outcome: outcome.as_str(),
            })
            .inc();
        self.latency
            .get_or_create(&MethodLabels { method })
            .observe(elapsed.as_secs_f64());
    }

    /// How many requests of `method` ended with `outcome` so far.
    pub fn count(&self, method: &'static str, outcome: Outcome) -> u64 {
        self.requests
            .get_or_create(&RequestLabels {
                method,
                outcome: outcome.as_str(),
            })
            .get()
    }

    /// The registry in the OpenMetrics text format (see [`CONTENT_TYPE`]).
    pub fn encode(&self) -> String {
        self.read_process();
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// This process's CPU time (user + system, seconds) and resident memory (bytes), from
/// `/proc/self/stat` and `/proc/self/statm`.
fn process_usage() -> Option<(f64, i64)> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces), from field 3 on.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i)?.parse::<u64>().ok();
    // utime and stime are fields 14 and 15, so 11 and 12 here.
    let cpu_ticks = ticks(11)? + ticks(12)?;
    // SAFETY: sysconf only reads a configuration value.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    // SAFETY: as above.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: i64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    (per_second > 0).then(|| (cpu_ticks as f64 / per_second as f64, pages * page as i64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_counter_and_histogram() {
        let metrics = Metrics::new();
        metrics.record("tools/call", Outcome::ToolError, Duration::from_millis(3));
        metrics.record("tools/call", Outcome::Ok, Duration::from_millis(1));
        metrics.record("tools/call", Outcome::Ok, Duration::from_millis(1));
        assert_eq!(metrics.count("tools/call", Outcome::Ok), 2);
        let text = metrics.encode();
        assert!(
            text.contains(r#"mcp_requests_total{method="tools/call",outcome="ok"} 2"#),
            "{text}"
        );
        assert!(text.contains("process_cpu_seconds_total "), "{text}");
        assert!(text.contains("process_resident_memory_bytes "), "{text}");
        assert!(
            text.contains(r#"mcp_requests_total{method="tools/call",outcome="tool_error"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"mcp_request_duration_seconds_count{method="tools/call"} 3"#),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}
