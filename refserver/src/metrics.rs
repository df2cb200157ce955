//! Request metrics, counted inside the MCP handlers and exposed at `/metrics`
//! in the OpenMetrics text format that Prometheus scrapes.

use std::time::Duration;

use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{
        counter::Counter,
        family::Family,
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
        Self {
            registry,
            requests,
            latency,
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
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
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
