//! [`RunRecord`]: everything one run measured, in a versioned JSON schema (`record.json`).

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

mod figures;
mod histogram;
mod merge;
mod recovery;
mod shard;

pub use figures::{Figures, Percentiles};
pub use histogram::{decode_histogram, encode_histogram, merged_latency};
pub use merge::{MergeError, merge};
pub use recovery::{OutageRecord, RecoveryRecord};
pub use shard::ShardRecord;

use crate::load::{LATE_THRESHOLD, LoadOutcome, LoadPlan, OpStats, Stats};
use crate::machine::Machine;
use crate::observe::ResourceUsage;
use crate::scenario::Scenario;
use crate::sut::{NodeInfo, SutInfo};

/// Version of the `record.json` schema; bumped on any incompatible change.
pub const RECORD_SCHEMA_VERSION: u32 = 1;

/// Share of late sends above which the generator is said not to have kept the schedule.
pub const MAX_LATE_PERCENT: f64 = 1.0;

/// Everything one run measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub schema_version: u32,
    pub harness: HarnessInfo,
    pub scenario: ScenarioInfo,
    pub sut: SutInfo,
    /// RFC 3339 wall-clock time of the schedule's start.
    pub started_at: String,
    /// Length of the measured phases, seconds.
    pub measured_seconds: f64,
    pub throughput: Throughput,
    /// Latency from the intended send time, successful requests, all operations.
    pub latency: LatencySummary,
    /// Service time from the actual send, successful requests, all operations.
    pub service_time: LatencySummary,
    pub errors: ErrorSummary,
    pub operations: Vec<OperationRecord>,
    /// Workflow steps (`workflow/step`), measured phases: latency from each step's send,
    /// every copy of a fan-out counted; absent when the mix has no workflow.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<OperationRecord>,
    pub phases: Vec<PhaseRecord>,
    /// Per second of measured time, by intended send time.
    pub windows: Vec<WindowRecord>,
    pub generator: GeneratorRecord,
    /// SUT resource usage over the measured phases, where it could be sampled.
    pub resources: Option<ResourceUsage>,
    /// Successful requests per SUT CPU-second.
    pub efficiency: Option<f64>,
    /// Service-level checks from the scenario's `slo`.
    pub slo: Vec<SloCheck>,
    /// Per node of a clustered SUT, measured phases; empty (and absent from the JSON) for a
    /// single server, so records of schema 1 without it still read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<NodeRecord>,
    /// The machine it ran on, probed before the run; absent in older records.
    #[serde(default)]
    pub machine: Option<Machine>,
    /// Set when the run was stopped early (Ctrl-C, SIGTERM): its figures cover only the
    /// time before; absent for a run that ran its whole schedule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interrupted: Option<Interruption>,
    /// The server's questions the harness answered (sampling, elicitation and roots
    /// requests; `input_required` rounds); absent when there were none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub questions_answered: Option<u64>,
    /// The notification streams the sessions held open (`listen`); absent without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notifications: Option<NotificationsRecord>,
    /// Sessions replaced after the scenario's `session_lifetime`; absent without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sessions_replaced: Option<u64>,
    /// Outages, lost sessions and re-sent requests; absent when there were none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery: Option<RecoveryRecord>,
    /// The soak's memory check (the scenario's `leak`); absent without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leak: Option<LeakRecord>,
    /// Output files of the SUT profile's profiling hooks, in the run's directory
    /// (`profile-start.txt`, `profile-end.txt`); absent without hooks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub profiles: Vec<String>,
    /// The server's own metrics over the measured window (the SUT profile's `metrics`,
    /// scraped at its start and end); absent without them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<crate::observe::ServerView>,
    /// The generator processes that sent the load, when it was split (`--shard`, or a
    /// shared `--start-at`): one for a shard's record, every shard for a merged one;
    /// absent for a run of the whole schedule.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shards: Vec<ShardRecord>,
}

/// The SUT's memory over the measured phases, fitted by least squares, and after the
/// cool-down that followed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeakRecord {
    /// Slope of the fit, bytes per minute.
    pub growth_per_minute: f64,
    /// R² of the fit (0 when memory did not move at all).
    pub r_squared: f64,
    /// Memory samples in the measured phases.
    pub samples: usize,
    /// First and last sample of the measured phases, bytes.
    pub start_bytes: u64,
    pub end_bytes: u64,
    /// The last sample of the cool-down, bytes; absent without one.
    pub after_cool_down_bytes: Option<u64>,
    /// Whether the cool-down gave back at least half of what the fit grew; absent without
    /// a cool-down or growth.
    pub returned: Option<bool>,
    /// The scenario's limits: bytes per minute, least R².
    pub max_growth_per_minute: u64,
    pub min_r2: f64,
    /// Growth beyond the limit, with a fit at least `min_r2`, that did not come back.
    pub leak: bool,
}

/// What the sessions' notification streams saw over the whole run (warm-up included).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotificationsRecord {
    /// The resource subscribed to.
    pub resource: String,
    /// Streams opened, again after a drop too.
    pub streams_opened: u64,
    /// HTTP streams that ended while their session was in use (over a stream transport a
    /// lost connection is counted in `recovery`).
    pub streams_dropped: u64,
    /// `notifications/resources/updated` received.
    pub received: u64,
    /// Their delivery latency, from the send time the server stamped in them (the
    /// reference server does; absent for a server that does not).
    pub delivery: Option<LatencySummary>,
}

/// What one node of a clustered SUT answered over the measured phases.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeRecord {
    /// 1-based node number; session `i` was opened on node `i % nodes + 1`.
    pub node: u32,
    /// The node's container name.
    pub name: String,
    /// Its MCP endpoint.
    pub endpoint: String,
    pub attempts: u64,
    pub ok: u64,
    pub errors: ErrorSummary,
    /// Latency from the intended send time, successful requests.
    pub latency: LatencySummary,
    /// Its histogram (HdrHistogram V2 + DEFLATE, base64); absent in older records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_histogram: Option<String>,
    /// Seconds from the schedule's start (warm-up included) to the intended send time of
    /// the node's first failed request.
    pub first_error_seconds: Option<f64>,
    /// Seconds from the schedule's start to the intended send time of its last failure.
    pub last_error_seconds: Option<f64>,
    /// Seconds from the schedule's start to the intended send time of its last success.
    pub last_ok_seconds: Option<f64>,
}

/// The harness that produced the record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HarnessInfo {
    pub version: String,
    /// Rust optimisation level the generator was built with.
    pub opt_level: String,
    /// How the figures were measured ([`crate::load::METHOD_VERSION`]); 1 in records from
    /// before it was recorded.
    #[serde(default = "crate::load::first_method_version")]
    pub method_version: u32,
}

/// The scenario as run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScenarioInfo {
    pub name: String,
    pub path: String,
    pub sha256: String,
    pub clients: u32,
    /// Factor applied to every phase (`ERLMCP_PERF_DURATION_SCALE`).
    pub duration_scale: f64,
    pub warmup_seconds: f64,
    pub timeout_ms: f64,
    /// Protocol version negotiated with the server (2026-07-28: the revision without
    /// sessions, found by `server/discover`).
    pub protocol_version: String,
    /// What the scenario asked for: a revision, or `auto` (absent in older records).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol_requested: Option<String>,
    /// Whether the server handed out session ids.
    pub stateful_sessions: bool,
    pub mix: Vec<MixRecord>,
}

/// One entry of the mix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MixRecord {
    pub operation: String,
    pub weight_percent: f64,
}

/// Offered and achieved rates over the measured phases.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Throughput {
    /// Requests scheduled per second.
    pub target_rps: f64,
    /// Successful requests per second.
    pub achieved_rps: f64,
    /// `achieved_rps / target_rps`, percent.
    pub percent_of_target: f64,
    pub planned: u64,
    pub attempts: u64,
    pub ok: u64,
    pub failed: u64,
}

impl Throughput {
    /// The rates of `planned` slots and `ok` successes (and `failed` failures) over
    /// `measured_seconds`.
    pub fn over(measured_seconds: f64, planned: u64, ok: u64, failed: u64) -> Self {
        let per_second = |n: u64| {
            if measured_seconds > 0.0 {
                n as f64 / measured_seconds
            } else {
                0.0
            }
        };
        let (target, achieved) = (per_second(planned), per_second(ok));
        Self {
            target_rps: round1(target),
            achieved_rps: round1(achieved),
            percent_of_target: if target > 0.0 {
                round2(100.0 * achieved / target)
            } else {
                0.0
            },
            planned,
            attempts: ok + failed,
            ok,
            failed,
        }
    }
}

/// Percentiles of a latency histogram, microseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LatencySummary {
    pub count: u64,
    pub min_us: u64,
    pub mean_us: f64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p95_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
}

impl LatencySummary {
    /// Summarises a microsecond histogram.
    pub fn of(h: &Histogram<u64>) -> Self {
        let q = |p: f64| {
            if h.is_empty() {
                0
            } else {
                h.value_at_quantile(p)
            }
        };
        Self {
            count: h.len(),
            min_us: if h.is_empty() { 0 } else { h.min() },
            mean_us: if h.is_empty() {
                0.0
            } else {
                (h.mean() * 10.0).round() / 10.0
            },
            p50_us: q(0.50),
            p90_us: q(0.90),
            p95_us: q(0.95),
            p99_us: q(0.99),
            p999_us: q(0.999),
            max_us: if h.is_empty() { 0 } else { h.max() },
        }
    }
}

/// Errors over the measured phases.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorSummary {
    pub total: u64,
    /// `total / attempts`, percent.
    pub rate_percent: f64,
    /// By class key (`timeout`, `http_status:503`, `jsonrpc:-32603`, ...).
    pub by_class: BTreeMap<String, u64>,
}

impl ErrorSummary {
    fn of(s: &OpStats) -> Self {
        Self {
            total: s.failed(),
            rate_percent: crate::units::percent(s.failed(), s.attempts()),
            by_class: s.errors.iter().map(|(c, n)| (c.to_string(), *n)).collect(),
        }
    }
}

/// One operation of the mix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OperationRecord {
    /// `tools/call:calculator`, `resources/list`, ...
    pub operation: String,
    pub weight_percent: f64,
    pub attempts: u64,
    pub ok: u64,
    /// Sends the harness cancelled (the scenario's `cancel`), not in `attempts`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub cancelled: u64,
    /// Successes the server asked a question of first (a server request, an
    /// `input_required` result): latency from the intended send to that question (the
    /// `latency` above runs to the final answer); absent when it asked none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_question: Option<LatencySummary>,
    /// Its histogram (as `latency_histogram`); absent without one, and in older records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_question_histogram: Option<String>,
    pub errors: ErrorSummary,
    pub latency: LatencySummary,
    pub service_time: LatencySummary,
    /// The latency histogram, HdrHistogram V2 + DEFLATE, base64.
    pub latency_histogram: String,
    /// The service-time histogram, the same way; absent in older records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_histogram: Option<String>,
}

/// One segment of the schedule (the warm-up is listed, unmeasured).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhaseRecord {
    pub name: String,
    pub measured: bool,
    pub duration_seconds: f64,
    pub rps: f64,
    pub rps_end: f64,
    pub planned: u64,
    pub attempts: u64,
    pub ok: u64,
    pub failed: u64,
    /// Successful requests per second of the phase.
    pub achieved_rps: f64,
    pub latency: LatencySummary,
    /// Its histogram (HdrHistogram V2 + DEFLATE, base64); absent in older records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_histogram: Option<String>,
}

/// One second of measured time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowRecord {
    pub second: usize,
    pub ok: u64,
    pub failed: u64,
    pub p50_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
    /// The window's latency histogram (HdrHistogram V2 + DEFLATE, base64, two significant
    /// digits): what the gate judges percentiles on (absent in records from before).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub histogram: Option<String>,
}

/// How well the generator kept its schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GeneratorRecord {
    /// Send time minus intended time, microseconds.
    pub lag_p50_us: u64,
    pub lag_p99_us: u64,
    pub lag_max_us: u64,
    /// The lag's histogram (HdrHistogram V2 + DEFLATE, base64); absent in older records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lag_histogram: Option<String>,
    /// Sends later than `late_threshold_ms`.
    pub late: u64,
    pub late_percent: f64,
    pub late_threshold_ms: f64,
    /// Whether fewer than 1% of sends were late.
    pub kept_schedule: bool,
    /// Requests a worker may have in flight at once, over all workers: a slot due when
    /// they are all taken waits, unsent, for one to finish (0 in records from before).
    #[serde(default)]
    pub in_flight_limit: u64,
    /// Measured requests never sent: their timeout ran out while they waited for a
    /// request in flight (counted among the `timeout` errors too).
    #[serde(default)]
    pub never_sent: u64,
    /// CPU time the generator's process used during the load (every thread, its children
    /// such as stdio servers not counted), seconds (0 in records from before).
    #[serde(default)]
    pub cpu_seconds: f64,
    /// That CPU time per second of the load: cores the generator kept busy.
    #[serde(default)]
    pub cpu_cores: f64,
    /// Wall-clock seconds of the load, from the schedule's origin (warm-up included) to the
    /// last answer: longer than the schedule when the generator fell behind and sent late
    /// (0 in records from before).
    #[serde(default)]
    pub load_seconds: f64,
}

/// One service-level check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SloCheck {
    /// `p99`, `error_rate`, `min_throughput`, ...
    pub metric: String,
    /// The limit, as written (`250ms`, `1%`).
    pub limit: String,
    /// The measured value, in the limit's unit.
    pub actual: String,
    pub passed: bool,
}

/// A run stopped before the end of its schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Interruption {
    /// When the sends ended, seconds after the schedule's start (warm-up included).
    pub after_seconds: f64,
    /// Measured time before then, seconds: what the record's rates are over.
    pub measured_seconds_covered: f64,
    /// Of the scenario's measured time, seconds.
    pub measured_seconds_planned: f64,
    /// Measured requests due before then.
    pub planned_before: u64,
}

impl Interruption {
    /// The run of `plan` stopped `after` its schedule's start.
    fn of(plan: &LoadPlan, after: std::time::Duration) -> Self {
        let schedule = &plan.schedule;
        let measured_from = schedule.measured_start();
        let planned_span = schedule.duration().saturating_sub(measured_from);
        let covered = after.saturating_sub(measured_from).min(planned_span);
        let segments = schedule.segments();
        let planned_before = (0..schedule.len())
            .filter(|&i| plan.owns(i))
            .map(|i| schedule.slot(i))
            .take_while(|slot| slot.at < after)
            .filter(|slot| segments[slot.segment].phase.is_some())
            .count() as u64;
        Self {
            after_seconds: round2(after.as_secs_f64()),
            measured_seconds_covered: covered.as_secs_f64(),
            measured_seconds_planned: planned_span.as_secs_f64(),
            planned_before,
        }
    }
}

/// What [`RunRecord::new`] is built from.
pub struct RecordInputs<'a> {
    pub scenario: &'a Scenario,
    pub plan: &'a LoadPlan,
    pub outcome: &'a LoadOutcome,
    pub sut: SutInfo,
    pub resources: Option<ResourceUsage>,
    pub duration_scale: f64,
    /// The SUT's nodes when it is a cluster ([`crate::sut::RunningSut::nodes`]); empty for
    /// a single server.
    pub nodes: Vec<NodeInfo>,
    /// The machine, probed before the run.
    pub machine: Option<Machine>,
}

impl RunRecord {
    /// Builds the record of a finished run. `scenario` is the scaled scenario as run.
    pub fn new(inputs: RecordInputs<'_>) -> Self {
        let RecordInputs {
            scenario,
            plan,
            outcome,
            sut,
            resources,
            duration_scale,
            nodes,
            machine,
        } = inputs;
        let stats: &Stats = &outcome.stats;
        let overall = stats.overall();
        let interrupted = outcome
            .stopped
            .map(|at| Interruption::of(plan, at.saturating_duration_since(outcome.start)));
        let segments = plan.schedule.segments();
        let own =
            |seg: &crate::load::Segment| plan.own_slots(seg.first_slot..seg.first_slot + seg.count);
        let (measured_seconds, planned) = match &interrupted {
            None => (
                scenario.measured_duration().as_secs_f64(),
                segments
                    .iter()
                    .filter(|seg| seg.phase.is_some())
                    .map(own)
                    .sum(),
            ),
            Some(i) => (i.measured_seconds_covered, i.planned_before),
        };
        let operations = plan
            .operations
            .iter()
            .zip(&scenario.mix)
            .zip(&stats.ops)
            .map(|((op, entry), s)| OperationRecord {
                operation: op.label(),
                weight_percent: entry.weight,
                attempts: s.attempts(),
                ok: s.ok,
                cancelled: s.cancelled,
                first_question: s.first_question.as_deref().map(LatencySummary::of),
                first_question_histogram: s.first_question.as_deref().map(encode_histogram),
                errors: ErrorSummary::of(s),
                latency: LatencySummary::of(&s.latency),
                service_time: LatencySummary::of(&s.service),
                latency_histogram: encode_histogram(&s.latency),
                service_histogram: Some(encode_histogram(&s.service)),
            })
            .collect();
        let step_weights = scenario.mix.iter().flat_map(|m| match &m.operation {
            crate::mcp::Operation::Workflow(w) => vec![m.weight; w.steps.len()],
            _ => Vec::new(),
        });
        let steps = plan
            .step_labels
            .iter()
            .zip(step_weights)
            .enumerate()
            .map(|(i, (label, weight))| {
                let s = stats.steps.get(i).cloned().unwrap_or_default();
                OperationRecord {
                    operation: label.clone(),
                    weight_percent: weight,
                    attempts: s.attempts(),
                    ok: s.ok,
                    cancelled: s.cancelled,
                    first_question: None,
                    first_question_histogram: None,
                    errors: ErrorSummary::of(&s),
                    latency: LatencySummary::of(&s.latency),
                    service_time: LatencySummary::of(&s.service),
                    latency_histogram: encode_histogram(&s.latency),
                    service_histogram: Some(encode_histogram(&s.service)),
                }
            })
            .collect();
        let phases = segments
            .iter()
            .zip(&stats.segments)
            .map(|(seg, s)| PhaseRecord {
                name: seg.name.clone(),
                measured: seg.phase.is_some(),
                duration_seconds: seg.duration.as_secs_f64(),
                rps: seg.rps,
                rps_end: seg.rps_end,
                planned: own(seg),
                attempts: s.attempts(),
                ok: s.ok,
                failed: s.failed(),
                achieved_rps: s.ok as f64 / seg.duration.as_secs_f64(),
                latency: LatencySummary::of(&s.latency),
                latency_histogram: Some(encode_histogram(&s.latency)),
            })
            .collect();
        let windows = stats
            .windows
            .iter()
            .enumerate()
            .map(|(second, w)| {
                let latency = w.latency();
                let l = LatencySummary::of(&latency);
                WindowRecord {
                    second,
                    ok: w.ok,
                    failed: w.failed,
                    p50_us: l.p50_us,
                    p99_us: l.p99_us,
                    max_us: l.max_us,
                    histogram: (w.ok > 0).then(|| encode_histogram(&latency)),
                }
            })
            .collect();
        let lag = LatencySummary::of(&stats.lag);
        let late_percent = crate::units::percent(stats.late, stats.lag.len());
        let load_seconds = outcome
            .finished
            .saturating_duration_since(outcome.start)
            .as_secs_f64();
        let efficiency = resources
            .as_ref()
            .filter(|r| r.cpu_seconds > 0.0)
            .map(|r| round1(overall.ok as f64 / r.cpu_seconds));
        let nodes = nodes
            .into_iter()
            .enumerate()
            .map(|(i, info)| {
                let s = stats.nodes.get(i).cloned().unwrap_or_default();
                NodeRecord {
                    node: u32::try_from(i + 1).unwrap_or(u32::MAX),
                    name: info.name,
                    endpoint: info.endpoint,
                    attempts: s.ops.attempts(),
                    ok: s.ops.ok,
                    errors: ErrorSummary::of(&s.ops),
                    latency: LatencySummary::of(&s.ops.latency),
                    latency_histogram: Some(encode_histogram(&s.ops.latency)),
                    first_error_seconds: s.first_error.map(|d| round2(d.as_secs_f64())),
                    last_error_seconds: s.last_error.map(|d| round2(d.as_secs_f64())),
                    last_ok_seconds: s.last_ok.map(|d| round2(d.as_secs_f64())),
                }
            })
            .collect();
        let mut record = Self {
            schema_version: RECORD_SCHEMA_VERSION,
            harness: HarnessInfo {
                version: env!("CARGO_PKG_VERSION").into(),
                opt_level: crate::BUILD_OPT_LEVEL.into(),
                method_version: crate::load::METHOD_VERSION,
            },
            scenario: ScenarioInfo {
                name: scenario.name.clone(),
                path: scenario.source.path.display().to_string(),
                sha256: scenario.source.sha256.clone(),
                clients: scenario.clients,
                duration_scale,
                warmup_seconds: scenario.warmup.as_secs_f64(),
                timeout_ms: scenario.timeout.as_secs_f64() * 1e3,
                protocol_version: outcome.protocol_version.clone(),
                protocol_requested: Some(scenario.protocol_version.clone()),
                stateful_sessions: outcome.stateful,
                mix: plan
                    .operations
                    .iter()
                    .zip(&scenario.mix)
                    .map(|(op, m)| MixRecord {
                        operation: op.label(),
                        weight_percent: m.weight,
                    })
                    .collect(),
            },
            sut,
            started_at: humantime::format_rfc3339_millis(outcome.started_at).to_string(),
            measured_seconds,
            throughput: Throughput::over(measured_seconds, planned, overall.ok, overall.failed()),
            latency: LatencySummary::of(&overall.latency),
            service_time: LatencySummary::of(&overall.service),
            errors: ErrorSummary::of(&overall),
            operations,
            steps,
            phases,
            windows,
            generator: GeneratorRecord {
                lag_p50_us: lag.p50_us,
                lag_p99_us: lag.p99_us,
                lag_max_us: lag.max_us,
                lag_histogram: Some(encode_histogram(&stats.lag)),
                late: stats.late,
                late_percent,
                late_threshold_ms: LATE_THRESHOLD.as_secs_f64() * 1e3,
                // A shard whose sessions were ready after the shared start sent its first
                // slots late, or not at all: its schedule was not kept.
                kept_schedule: late_percent < MAX_LATE_PERCENT
                    && outcome.late_start.is_none_or(|d| d <= LATE_THRESHOLD),
                in_flight_limit: outcome.in_flight_limit as u64,
                never_sent: stats.never_sent,
                cpu_seconds: outcome.generator_cpu.as_secs_f64(),
                cpu_cores: outcome.generator_cpu.as_secs_f64() / load_seconds.max(1e-3),
                load_seconds,
            },
            resources,
            efficiency,
            slo: Vec::new(),
            nodes,
            machine,
            interrupted,
            notifications: outcome.heard.as_ref().map(|h| NotificationsRecord {
                resource: scenario.listen.clone().unwrap_or_default(),
                streams_opened: h.opened,
                streams_dropped: h.dropped,
                received: h.received,
                delivery: (!h.delivery.is_empty()).then(|| LatencySummary::of(&h.delivery)),
            }),
            questions_answered: (outcome.questions_answered > 0)
                .then_some(outcome.questions_answered),
            sessions_replaced: scenario.session_lifetime.map(|_| outcome.sessions_replaced),
            recovery: RecoveryRecord::of(outcome),
            leak: None,
            profiles: Vec::new(),
            server: None,
            shards: Vec::new(),
        };
        if !plan.shard.is_whole() || plan.start_at.is_some() {
            record.shards = vec![ShardRecord::of(&record, plan, outcome)];
        }
        record
    }

    /// Whether every SLO check passed.
    pub fn slo_passed(&self) -> bool {
        self.slo.iter().all(|c| c.passed)
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}
fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}
