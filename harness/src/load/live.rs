//! Live metrics of the load, in the OpenMetrics text format Prometheus scrapes: what the
//! engine sends and gets back while it runs, by scenario and operation. One [`LiveMetrics`]
//! lives as long as the command (its counters keep counting across the runs of a sweep or
//! a gate); each run takes a [`LiveRun`] with its operations' handles made once, so a
//! completion costs a few atomic adds and a histogram bucket.
//!
//! Names (`docs/monitoring.md` maps them to erlmcp's recording rules):
//! - `erlmcp_perf_requests_total{scenario,operation,outcome}`: finished requests, outcome
//!   `ok`, `error` or `cancelled`; warm-up included;
//! - `erlmcp_perf_errors_total{scenario,operation,class}`: failures by error class
//!   (`timeout`, `http_status:503`, `jsonrpc:-32603`, ...);
//! - `erlmcp_perf_request_duration_seconds{scenario,operation}`: latency of successful
//!   requests from their intended send time (a histogram, buckets 2^(1/8) apart);
//! - `erlmcp_perf_requests_in_flight`, `erlmcp_perf_send_lag_seconds` (how late sends left
//!   against the schedule), `erlmcp_perf_offered_rate` (requests per second scheduled now),
//!   `erlmcp_perf_phase{scenario,phase}` (1 for the phase under way) and
//!   `erlmcp_perf_measuring` (1 in measured phases, 0 in the warm-up and between runs).

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::mcp::Outcome;

/// The `Content-Type` of [`LiveMetrics::encode`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Latency buckets: from 10 µs, each 2^(1/8) (9%) above the one before, to about 5 min.
fn latency_buckets() -> impl Iterator<Item = f64> {
    exponential_buckets(1e-5, 2f64.powf(0.125), 210)
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    scenario: String,
    operation: String,
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    scenario: String,
    operation: String,
    class: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabels {
    scenario: String,
    operation: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PhaseLabels {
    scenario: String,
    phase: String,
}

/// The registry the harness serves while it runs.
#[derive(Debug)]
pub struct LiveMetrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    errors: Family<ErrorLabels, Counter>,
    latency: Family<OperationLabels, Histogram>,
    in_flight: Gauge,
    send_lag: Histogram,
    offered_rate: Gauge<f64, AtomicU64>,
    phase: Family<PhaseLabels, Gauge>,
    measuring: Gauge,
}

impl Default for LiveMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl LiveMetrics {
    /// An empty registry with every family registered.
    pub fn new() -> Self {
        let requests = Family::<RequestLabels, Counter>::default();
        let errors = Family::<ErrorLabels, Counter>::default();
        let latency = Family::<OperationLabels, Histogram>::new_with_constructor(
            (|| Histogram::new(latency_buckets())) as fn() -> Histogram,
        );
        let in_flight = Gauge::default();
        let send_lag = Histogram::new(latency_buckets());
        let offered_rate = Gauge::<f64, AtomicU64>::default();
        let phase = Family::<PhaseLabels, Gauge>::default();
        let measuring = Gauge::default();
        let mut registry = Registry::with_prefix("erlmcp_perf");
        registry.register(
            "requests",
            "Requests finished, by scenario, operation and outcome (ok, error, cancelled)",
            requests.clone(),
        );
        registry.register(
            "errors",
            "Failed requests, by scenario, operation and error class",
            errors.clone(),
        );
        registry.register(
            "request_duration_seconds",
            "Latency of successful requests from their intended send time",
            latency.clone(),
        );
        registry.register(
            "requests_in_flight",
            "Requests sent and not yet answered",
            in_flight.clone(),
        );
        registry.register(
            "send_lag_seconds",
            "How late requests were sent against their intended send time",
            send_lag.clone(),
        );
        registry.register(
            "offered_rate",
            "Requests per second the schedule offers now",
            offered_rate.clone(),
        );
        registry.register(
            "phase",
            "1 for the scenario phase under way, 0 for the others",
            phase.clone(),
        );
        registry.register(
            "measuring",
            "1 while a measured phase runs, 0 in the warm-up and between runs",
            measuring.clone(),
        );
        Self {
            registry,
            requests,
            errors,
            latency,
            in_flight,
            send_lag,
            offered_rate,
            phase,
            measuring,
        }
    }

    /// Handles for one run of `scenario` whose operations are labelled `operations` and
    /// whose schedule has `phases` (by name, the warm-up's included).
    pub fn run(&self, scenario: &str, operations: &[String], phases: &[String]) -> LiveRun {
        let ops = operations
            .iter()
            .map(|operation| {
                let counter = |outcome| {
                    self.requests.get_or_create_owned(&RequestLabels {
                        scenario: scenario.to_string(),
                        operation: operation.clone(),
                        outcome,
                    })
                };
                OpHandles {
                    ok: counter("ok"),
                    error: counter("error"),
                    cancelled: counter("cancelled"),
                    latency: self.latency.get_or_create_owned(&OperationLabels {
                        scenario: scenario.to_string(),
                        operation: operation.clone(),
                    }),
                    operation: operation.clone(),
                }
            })
            .collect();
        LiveRun {
            scenario: scenario.to_string(),
            ops,
            errors: self.errors.clone(),
            in_flight: self.in_flight.clone(),
            send_lag: self.send_lag.clone(),
            offered_rate: self.offered_rate.clone(),
            phases: phases
                .iter()
                .map(|phase| {
                    let labels = PhaseLabels {
                        scenario: scenario.to_string(),
                        phase: phase.clone(),
                    };
                    (phase.clone(), self.phase.get_or_create_owned(&labels))
                })
                .collect(),
            measuring: self.measuring.clone(),
        }
    }

    /// The registry in the OpenMetrics text format (see [`CONTENT_TYPE`]).
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

#[derive(Debug, Clone)]
struct OpHandles {
    operation: String,
    ok: Counter,
    error: Counter,
    cancelled: Counter,
    latency: Histogram,
}

/// One run's handles into [`LiveMetrics`].
#[derive(Debug, Clone)]
pub struct LiveRun {
    scenario: String,
    ops: Vec<OpHandles>,
    errors: Family<ErrorLabels, Counter>,
    in_flight: Gauge,
    send_lag: Histogram,
    offered_rate: Gauge<f64, AtomicU64>,
    /// This run's phase gauges, by phase name.
    phases: Vec<(String, Gauge)>,
    measuring: Gauge,
}

impl LiveRun {
    /// A request left `lag` after its intended time.
    pub(crate) fn sent(&self, lag: std::time::Duration) {
        self.in_flight.inc();
        self.send_lag.observe(lag.as_secs_f64());
    }

    /// Operation `op`'s request finished with `outcome`, `latency` after its intended
    /// time; `was_sent` when it left (one whose timeout ran out before it could is not in
    /// flight).
    pub(crate) fn finished(
        &self,
        op: usize,
        outcome: &Outcome,
        latency: std::time::Duration,
        was_sent: bool,
    ) {
        if was_sent {
            self.in_flight.dec();
        }
        let Some(h) = self.ops.get(op) else { return };
        match outcome {
            Outcome::Ok => {
                h.ok.inc();
                h.latency.observe(latency.as_secs_f64());
            }
            Outcome::Failed(class) => {
                h.error.inc();
                self.errors
                    .get_or_create(&ErrorLabels {
                        scenario: self.scenario.clone(),
                        operation: h.operation.clone(),
                        class: class.to_string(),
                    })
                    .inc();
            }
            Outcome::Cancelled => {
                h.cancelled.inc();
            }
        }
    }

    /// The phase under way (`None`: the run is draining or over), its rate now, and
    /// whether it is measured.
    pub(crate) fn phase(&self, phase: Option<(&str, f64)>, measured: bool) {
        for (name, gauge) in &self.phases {
            let on = phase.is_some_and(|(current, _)| current == name);
            gauge.set(i64::from(on));
        }
        self.offered_rate.set(phase.map_or(0.0, |(_, rate)| rate));
        self.measuring.set(i64::from(measured && phase.is_some()));
    }
}
