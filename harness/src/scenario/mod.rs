//! Scenario files: `scenarios/*.yml` parsed and validated into a [`Scenario`] before any
//! load is sent. Every problem names the file, the line and the field.

pub mod capacity;
mod leak;
pub(crate) mod locate;
pub(crate) mod raw;
pub mod thresholds;
pub(crate) mod values;
mod workflows;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::mcp::{
    AUTO_PROTOCOL_VERSION, DEFAULT_PROTOCOL_VERSION, Operation, SUPPORTED_PROTOCOL_VERSIONS,
};
pub use leak::{DEFAULT_COOL_DOWN, DEFAULT_MIN_R2, LeakSpec, parse_bytes};
use locate::Step;
use raw::{RawFile, RawGate, RawPhase, RawRequest, RawSlo, RawWorkflow, RequestType};
use thresholds::{DEFAULT_THRESHOLD_PERCENT, METRIC_KEYS, Thresholds};
use values::{DurationValue, Percent};

/// Sessions opened when a scenario does not say.
pub const DEFAULT_CLIENTS: u32 = 10;
/// Request timeout when a scenario does not say.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// HTTP connections per client when a scenario does not say.
pub const DEFAULT_CONNECTIONS: u32 = crate::mcp::DEFAULT_CONNECTIONS as u32;
/// Upper bound on `connections`.
pub const MAX_CONNECTIONS: u32 = 1024;
/// Upper bound on `clients`.
pub const MAX_CLIENTS: u32 = 10_000;
/// Upper bound on any phase's rate, requests per second.
pub const MAX_RATE: f64 = 1_000_000.0;

/// A validated load scenario.
#[derive(Debug, Clone, Serialize)]
pub struct Scenario {
    /// The scenario's `name`.
    pub name: String,
    /// Free text from the file.
    pub description: Option<String>,
    /// Where it came from and the SHA-256 of its bytes.
    pub source: ScenarioSource,
    /// MCP sessions the load is spread over.
    pub clients: u32,
    /// HTTP connections each session may have in use at once (Streamable HTTP); a request
    /// that finds them all busy waits for one, and the wait counts in its latency.
    pub connections: u32,
    /// Unmeasured lead-in at the first phase's starting rate.
    #[serde(with = "crate::serde_duration")]
    pub warmup: Duration,
    /// Bound on each request.
    #[serde(with = "crate::serde_duration")]
    pub timeout: Duration,
    /// Protocol revision to speak (`2024-11-05` ... `2026-07-28`), or `auto`:
    /// `server/discover` first, `initialize` when the server does not know it.
    pub protocol_version: String,
    /// Measured phases, in order.
    pub phases: Vec<Phase>,
    /// The mix of requests and workflows; weights sum to 100.
    pub mix: Vec<MixEntry>,
    /// Header lines every HTTP request carries (`headers`), besides the protocol's.
    pub headers: std::collections::BTreeMap<String, String>,
    /// A bearer token for every HTTP request (`auth.bearer_env`).
    pub auth: Option<BearerAuth>,
    /// Clients replace their session after this (`session_lifetime`); `None`: one session
    /// per client for the whole run.
    pub session_lifetime: Option<SessionLifetime>,
    /// How long the harness waits before it answers a server request (sampling,
    /// elicitation, roots) or an `input_required` result (`server_requests.answer_after`).
    #[serde(with = "crate::serde_duration")]
    pub answer_after: Duration,
    /// The resource every session subscribes to and whose notification stream it holds
    /// open for the whole run (`listen.resource`).
    pub listen: Option<String>,
    /// The soak's memory check (`leak`): growth over the measured phases that does not
    /// come back after a cool-down is a leak.
    pub leak: Option<LeakSpec>,
    /// Limits the run must meet.
    pub slo: Slo,
    /// Regression thresholds per metric, percent.
    pub gate: Thresholds,
    /// A capacity sweep's settings; such a scenario has no phases of its own, its steps
    /// are run by [`crate::capacity`].
    pub capacity: Option<capacity::CapacitySpec>,
}

/// When a client's session is closed and replaced by a new one: after `requests` requests
/// (a workflow counts once) or `duration`, whichever comes first.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SessionLifetime {
    pub requests: Option<u64>,
    #[serde(with = "crate::serde_duration::option")]
    pub duration: Option<Duration>,
}

/// A bearer token read from the environment variable the scenario names. It is sent as
/// `Authorization: Bearer <token>` and never serialised or logged.
#[derive(Clone, PartialEq, Serialize)]
pub struct BearerAuth {
    /// The environment variable the token was read from.
    pub env: String,
    #[serde(skip)]
    token: String,
}

impl fmt::Debug for BearerAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BearerAuth {{ env: {:?}, token: <redacted> }}", self.env)
    }
}

impl BearerAuth {
    /// The token itself.
    pub fn token(&self) -> &str {
        &self.token
    }
}

/// Header names a scenario may not set: the harness writes them itself.
const RESERVED_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "content-type",
    "accept",
    "transfer-encoding",
    "connection",
    "authorization",
    "mcp-session-id",
    "mcp-protocol-version",
    "mcp-method",
    "mcp-name",
    "last-event-id",
];

/// Identity of a scenario file.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioSource {
    /// The file's path as given.
    pub path: PathBuf,
    /// Hex SHA-256 of the file's bytes.
    pub sha256: String,
}

/// One phase: a duration at a constant rate or a linear ramp.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Phase {
    pub name: String,
    #[serde(with = "crate::serde_duration")]
    pub duration: Duration,
    /// Requests per second at the start.
    pub rps: f64,
    /// Requests per second at the end (equal to `rps` unless the phase ramps).
    pub rps_end: f64,
}

impl Phase {
    /// Requests the phase schedules: the area under its rate.
    pub fn planned_requests(&self) -> u64 {
        ((self.rps + self.rps_end) / 2.0 * self.duration.as_secs_f64() + 1e-9).floor() as u64
    }
}

/// One entry of the request mix.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MixEntry {
    pub operation: Operation,
    /// Share of requests, percent.
    pub weight: f64,
    /// A share of this request's sends cancelled when no answer came in time.
    pub cancel: Option<Cancel>,
}

/// `cancel`: `share` percent of a request's sends (spread evenly over the run) are
/// cancelled if no answer came `after` their send: `notifications/cancelled` before
/// 2026-07-28, the response stream closed in 2026-07-28 over HTTP.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Cancel {
    pub share: f64,
    #[serde(with = "crate::serde_duration")]
    pub after: Duration,
}

/// Service-level limits a run must meet; any breach fails it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Slo {
    #[serde(with = "crate::serde_duration::option")]
    pub p50: Option<Duration>,
    #[serde(with = "crate::serde_duration::option")]
    pub p95: Option<Duration>,
    #[serde(with = "crate::serde_duration::option")]
    pub p99: Option<Duration>,
    #[serde(with = "crate::serde_duration::option")]
    pub p999: Option<Duration>,
    /// Highest error rate allowed, percent.
    pub error_rate: Option<f64>,
    /// Lowest throughput allowed, percent of the offered rate.
    pub min_throughput: Option<f64>,
}

/// Every problem found in one scenario file.
#[derive(Debug, thiserror::Error)]
pub struct ScenarioError {
    /// The file.
    pub path: PathBuf,
    /// What is wrong, each with its line where known.
    pub problems: Vec<Problem>,
}

/// One problem in a scenario file.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// 1-based line, where known.
    pub line: Option<usize>,
    /// Dotted path of the field (`scenario.phases[1].duration`), empty for the whole file.
    pub field: String,
    /// Why it is refused.
    pub reason: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let file = self.path.display();
        match self.problems.as_slice() {
            [one] => write!(f, "invalid scenario {}", one.at(&file)),
            many => {
                write!(f, "invalid scenario {file}: {} problems", many.len())?;
                for p in many {
                    write!(f, "\n  {}", p.at(&file))?;
                }
                Ok(())
            }
        }
    }
}

impl Problem {
    fn at(&self, file: &impl fmt::Display) -> String {
        let place = match self.line {
            Some(line) => format!("{file}:{line}"),
            None => file.to_string(),
        };
        if self.field.is_empty() {
            format!("{place}: {}", self.reason)
        } else {
            format!("{place}: {}: {}", self.field, self.reason)
        }
    }
}

/// Reads and validates a scenario file.
pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
    let bytes = std::fs::read(path).map_err(|e| ScenarioError {
        path: path.to_owned(),
        problems: vec![Problem {
            line: None,
            field: String::new(),
            reason: format!("failed to read: {e}"),
        }],
    })?;
    let text = String::from_utf8(bytes).map_err(|e| ScenarioError {
        path: path.to_owned(),
        problems: vec![Problem {
            line: None,
            field: String::new(),
            reason: format!("not UTF-8: {e}"),
        }],
    })?;
    parse(&text, path)
}

/// Parses and validates scenario text; `path` names it in errors and in the record.
pub fn parse(text: &str, path: &Path) -> Result<Scenario, ScenarioError> {
    let fail = |problems| ScenarioError {
        path: path.to_owned(),
        problems,
    };
    let deserializer = yaml_serde::Deserializer::from_str(text);
    let raw: RawFile = serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let field = e.path().to_string();
        let inner = e.inner();
        let line = inner
            .location()
            .map(|l| l.line())
            .or_else(|| locate::line_of(text, &steps_of(&field)));
        let reason = strip_location(&inner.to_string());
        // The YAML error may already start with the path; say it once.
        let reason = match reason.split_once(": ") {
            Some((prefix, rest)) if field.starts_with(prefix) => rest.to_string(),
            _ => reason,
        };
        fail(vec![Problem {
            line,
            field: if field == "." { String::new() } else { field },
            reason,
        }])
    })?;
    let mut v = Validator {
        text,
        problems: Vec::new(),
    };
    let scenario = v.scenario(raw.scenario, path, text);
    if v.problems.is_empty() {
        Ok(scenario)
    } else {
        Err(fail(v.problems))
    }
}

/// The YAML error's text without its trailing " at line N column M" (the line is reported
/// separately).
/// The YAML error without its position (shown already) and without the names of the
/// parser's own types (`expected struct RawPhase` reads `expected a mapping`).
fn strip_location(message: &str) -> String {
    let message = match message.find(" at line ") {
        Some(i) => &message[..i],
        None => message,
    };
    match message.find("expected struct Raw") {
        Some(i) => {
            let rest = &message[i + "expected struct Raw".len()..];
            let end = rest
                .find(|c: char| !c.is_ascii_alphanumeric())
                .unwrap_or(rest.len());
            format!("{}expected a mapping{}", &message[..i], &rest[end..])
        }
        None => message.to_string(),
    }
}

fn steps_of(field: &str) -> Vec<Step> {
    let mut steps = Vec::new();
    for part in field.split('.').filter(|p| !p.is_empty()) {
        let (key, rest) = part.split_once('[').unwrap_or((part, ""));
        if !key.is_empty() {
            steps.push(Step::Key(key.to_string()));
        }
        for index in rest.split('[') {
            if let Ok(n) = index.trim_end_matches(']').parse() {
                steps.push(Step::Index(n));
            }
        }
    }
    steps
}

/// The fields of a request or a workflow step that say what it sends.
struct Call {
    kind: RequestType,
    tool: Option<String>,
    uri: Option<String>,
    prompt: Option<String>,
    arguments: Option<Value>,
}

struct Validator<'a> {
    text: &'a str,
    problems: Vec<Problem>,
}

impl Validator<'_> {
    fn problem(&mut self, field: String, reason: impl Into<String>) {
        let line = locate::line_of(self.text, &steps_of(&field));
        self.problems.push(Problem {
            line,
            field,
            reason: reason.into(),
        });
    }

    fn scenario(&mut self, raw: raw::RawScenario, path: &Path, text: &str) -> Scenario {
        if raw.name.trim().is_empty() {
            self.problem("scenario.name".into(), "must not be empty");
        }
        let clients = raw.clients.unwrap_or(DEFAULT_CLIENTS);
        if clients == 0 || clients > MAX_CLIENTS {
            self.problem(
                "scenario.clients".into(),
                format!("must be between 1 and {MAX_CLIENTS}, got {clients}"),
            );
        }
        let connections = raw.connections.unwrap_or(DEFAULT_CONNECTIONS);
        if connections == 0 || connections > MAX_CONNECTIONS {
            self.problem(
                "scenario.connections".into(),
                format!("must be between 1 and {MAX_CONNECTIONS}, got {connections}"),
            );
        }
        let timeout = raw.timeout.map_or(DEFAULT_TIMEOUT, |d| d.0);
        if timeout.is_zero() {
            self.problem("scenario.timeout".into(), "must be greater than zero");
        }
        let protocol_version = raw
            .protocol_version
            .unwrap_or_else(|| DEFAULT_PROTOCOL_VERSION.to_string());
        if protocol_version != AUTO_PROTOCOL_VERSION
            && !SUPPORTED_PROTOCOL_VERSIONS.contains(&protocol_version.as_str())
        {
            self.problem(
                "scenario.protocol_version".into(),
                format!(
                    "unsupported version `{protocol_version}`; supported: {}, or {AUTO_PROTOCOL_VERSION}",
                    SUPPORTED_PROTOCOL_VERSIONS.join(", ")
                ),
            );
        }
        if raw.phases.is_empty() && raw.capacity.is_none() {
            self.problem(
                "scenario.phases".into(),
                "at least one phase is required (or a `capacity` section)",
            );
        }
        if !raw.phases.is_empty() && raw.capacity.is_some() {
            self.problem(
                "scenario.phases".into(),
                "a capacity scenario has no phases: its steps come from `capacity`",
            );
        }
        let capacity = raw
            .capacity
            .map(|c| c.validate(&mut |field, reason| self.problem(field, reason)));
        let phases = raw
            .phases
            .into_iter()
            .enumerate()
            .map(|(i, p)| self.phase(i, p))
            .collect();
        let mix = self.mix(raw.requests, raw.workflows);
        let headers = self.headers(raw.headers);
        let auth = raw.auth.and_then(|a| self.auth(a));
        let session_lifetime = raw.session_lifetime.and_then(|l| self.lifetime(l));
        let leak = raw
            .leak
            .and_then(|l| l.validate(&mut |field, reason| self.problem(field, reason)));
        let slo = self.slo(raw.slo.unwrap_or_default());
        let gate = self.gate(raw.gate.unwrap_or_default());
        Scenario {
            name: raw.name,
            description: raw.description,
            source: ScenarioSource {
                path: path.to_owned(),
                sha256: hex::encode(Sha256::digest(text.as_bytes())),
            },
            clients,
            connections,
            warmup: raw.warmup.map_or(Duration::ZERO, |d| d.0),
            timeout,
            protocol_version,
            phases,
            mix,
            headers,
            auth,
            session_lifetime,
            answer_after: raw
                .server_requests
                .map_or(Duration::ZERO, |s| s.answer_after.0),
            listen: raw.listen.and_then(|l| {
                let uri = l.resource.trim().to_string();
                if uri.is_empty() {
                    self.problem("scenario.listen.resource".into(), "must not be empty");
                    return None;
                }
                Some(uri)
            }),
            leak,
            slo,
            gate,
            capacity,
        }
    }

    fn gate(&mut self, raw: RawGate) -> Thresholds {
        /// The most trials a side may grow to.
        const MAX_TRIALS: usize = 30;
        fn check(v: &mut Validator<'_>, field: String, p: f64) -> bool {
            let ok = p > 0.0 && p <= 1000.0;
            if !ok {
                v.problem(
                    field,
                    format!("must be above 0% and at most 1000%, got {p}%"),
                );
            }
            ok
        }
        let default = match raw.threshold {
            Some(p) if check(self, "scenario.gate.threshold".into(), p.0) => p.0,
            _ => DEFAULT_THRESHOLD_PERCENT,
        };
        let mut per_metric = std::collections::BTreeMap::new();
        for (key, p) in raw.metrics {
            let field = format!("scenario.gate.metrics.{key}");
            if !METRIC_KEYS.contains(&key.as_str()) {
                self.problem(
                    field,
                    format!("unknown metric `{key}`; known: {}", METRIC_KEYS.join(", ")),
                );
            } else if check(self, field, p.0) {
                per_metric.insert(key, p.0);
            }
        }
        let max_trials = raw.max_trials.filter(|n| {
            let ok = (1..=MAX_TRIALS).contains(n);
            if !ok {
                self.problem(
                    "scenario.gate.max_trials".into(),
                    format!("must be from 1 to {MAX_TRIALS}, got {n}"),
                );
            }
            ok
        });
        Thresholds {
            default,
            per_metric,
            max_trials,
        }
    }

    fn phase(&mut self, i: usize, raw: RawPhase) -> Phase {
        let at = |f: &str| format!("scenario.phases[{i}].{f}");
        if raw.duration.0.is_zero() {
            self.problem(at("duration"), "must be greater than zero");
        }
        let mut rate = |field: &str, r: f64, allow_zero: bool| {
            let ok = r.is_finite() && r <= MAX_RATE && (r > 0.0 || (allow_zero && r == 0.0));
            if !ok {
                let bound = if allow_zero {
                    "at least 0"
                } else {
                    "greater than 0"
                };
                self.problem(
                    at(field),
                    format!("must be {bound} and at most {MAX_RATE}, got {r}"),
                );
            }
        };
        rate("rps", raw.rps, false);
        if let Some(end) = raw.ramp_to {
            rate("ramp_to", end, true);
        }
        Phase {
            name: raw.name,
            duration: raw.duration.0,
            rps: raw.rps,
            rps_end: raw.ramp_to.unwrap_or(raw.rps),
        }
    }

    fn mix(&mut self, requests: Vec<RawRequest>, workflows: Vec<RawWorkflow>) -> Vec<MixEntry> {
        if requests.is_empty() && workflows.is_empty() {
            self.problem(
                "scenario.requests".into(),
                "at least one request type (or a workflow) is required",
            );
            return Vec::new();
        }
        let mut total = 0.0;
        let mut mix = Vec::new();
        let mut weight = |v: &mut Self, field: String, w: f64| {
            if !(w > 0.0 && w <= 100.0) {
                v.problem(
                    field,
                    format!("must be above 0% and at most 100%, got {w}%"),
                );
            }
            total += w;
        };
        for (i, r) in requests.into_iter().enumerate() {
            weight(self, format!("scenario.requests[{i}].weight"), r.weight.0);
            let cancel = r.cancel.and_then(|c| self.cancel(i, c, r.kind));
            let call = Call {
                kind: r.kind,
                tool: r.tool,
                uri: r.uri,
                prompt: r.prompt,
                arguments: r.arguments,
            };
            if let Some(operation) = self.operation(&format!("scenario.requests[{i}]"), call) {
                mix.push(MixEntry {
                    operation,
                    weight: r.weight.0,
                    cancel,
                });
            }
        }
        let named = if workflows.is_empty() {
            "weights"
        } else {
            "the weights of requests and workflows"
        };
        let mut names = Vec::new();
        for (i, w) in workflows.into_iter().enumerate() {
            weight(self, format!("scenario.workflows[{i}].weight"), w.weight.0);
            let share = w.weight.0;
            if let Some(workflow) = self.workflow(i, w, &names) {
                names.push(workflow.name.clone());
                mix.push(MixEntry {
                    operation: Operation::Workflow(Box::new(workflow)),
                    weight: share,
                    cancel: None,
                });
            }
        }
        if (total - 100.0).abs() > 0.01 {
            self.problem(
                "scenario.requests".into(),
                format!("{named} must sum to 100%, they sum to {}%", round2(total)),
            );
        }
        mix
    }

    fn headers(
        &mut self,
        headers: std::collections::BTreeMap<String, String>,
    ) -> std::collections::BTreeMap<String, String> {
        for (name, value) in &headers {
            let field = format!("scenario.headers.{name}");
            if !crate::mcp::is_token(name) {
                self.problem(field, "not a valid HTTP header name");
            } else if RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
                let why = if name.eq_ignore_ascii_case("authorization") {
                    "set by the harness: use `auth.bearer_env` for a token"
                } else {
                    "set by the harness"
                };
                self.problem(field, why);
            } else if value.chars().any(char::is_control) {
                self.problem(
                    field,
                    "a header value has no line breaks or control characters",
                );
            }
        }
        headers
    }

    fn cancel(&mut self, i: usize, raw: raw::RawCancel, kind: RequestType) -> Option<Cancel> {
        let at = |f: &str| format!("scenario.requests[{i}].cancel.{f}");
        let mut ok = true;
        if kind == RequestType::SessionOpen {
            self.problem(
                format!("scenario.requests[{i}].cancel"),
                "a session open is not a request that can be cancelled",
            );
            ok = false;
        }
        if !(raw.share.0 > 0.0 && raw.share.0 <= 100.0) {
            self.problem(
                at("share"),
                format!("must be above 0% and at most 100%, got {}%", raw.share.0),
            );
            ok = false;
        }
        ok.then_some(Cancel {
            share: raw.share.0,
            after: raw.after.0,
        })
    }

    fn lifetime(&mut self, raw: raw::RawLifetime) -> Option<SessionLifetime> {
        let at = |f: &str| format!("scenario.session_lifetime.{f}");
        if raw.requests.is_none() && raw.duration.is_none() {
            self.problem(
                "scenario.session_lifetime".into(),
                "give `requests`, `duration` or both",
            );
            return None;
        }
        let mut ok = true;
        if let Some(n) = raw.requests.filter(|n| *n < 1) {
            self.problem(at("requests"), format!("must be at least 1, got {n}"));
            ok = false;
        }
        if raw.duration.as_ref().is_some_and(|d| d.0.is_zero()) {
            self.problem(at("duration"), "must be greater than zero");
            ok = false;
        }
        ok.then(|| SessionLifetime {
            requests: raw.requests.map(|n| n as u64),
            duration: raw.duration.map(|d| d.0),
        })
    }

    fn auth(&mut self, raw: raw::RawAuth) -> Option<BearerAuth> {
        let field = "scenario.auth.bearer_env".to_string();
        let name = raw.bearer_env.trim();
        if name.is_empty() {
            self.problem(field, "names the environment variable that holds the token");
            return None;
        }
        match std::env::var(name) {
            Ok(token) if !token.trim().is_empty() && !token.chars().any(char::is_control) => {
                Some(BearerAuth {
                    env: name.to_string(),
                    token: token.trim().to_string(),
                })
            }
            Ok(_) => {
                self.problem(
                    field,
                    format!("environment variable {name} is empty or holds a line break"),
                );
                None
            }
            Err(_) => {
                self.problem(field, format!("environment variable {name} is not set"));
                None
            }
        }
    }

    /// The operation a request or a workflow step sends; `at_path` is its field path.
    fn operation(&mut self, at_path: &str, r: Call) -> Option<Operation> {
        let at = |f: &str| format!("{at_path}.{f}");
        let (needs, name): (&[&str], Option<&String>) = match r.kind {
            RequestType::ToolCall => (&["tool", "arguments"], r.tool.as_ref()),
            RequestType::ResourceRead => (&["uri"], r.uri.as_ref()),
            RequestType::PromptGet => (&["prompt", "arguments"], r.prompt.as_ref()),
            _ => (&[], None),
        };
        let given = [
            ("tool", r.tool.is_some()),
            ("uri", r.uri.is_some()),
            ("prompt", r.prompt.is_some()),
            ("arguments", r.arguments.is_some()),
        ];
        let type_name = type_name(r.kind);
        for (field, present) in given {
            if present && !needs.contains(&field) {
                self.problem(at(field), format!("not used by request type `{type_name}`"));
            }
        }
        if let Some(required) = needs
            .first()
            .filter(|_| name.is_none_or(|n| n.trim().is_empty()))
        {
            self.problem(
                at(required),
                format!("request type `{type_name}` needs `{required}`"),
            );
            return None;
        }
        if let Some(args) = &r.arguments
            && !args.is_object()
        {
            self.problem(
                at("arguments"),
                "must be a mapping of argument names to values",
            );
            return None;
        }
        Some(match r.kind {
            RequestType::ToolCall => {
                let tool = r.tool?;
                let arguments = r.arguments.unwrap_or_else(|| default_arguments(&tool));
                Operation::ToolCall { tool, arguments }
            }
            RequestType::ToolList => Operation::ToolList,
            RequestType::ResourceList => Operation::ResourceList,
            RequestType::ResourceRead => Operation::ResourceRead { uri: r.uri? },
            RequestType::PromptList => Operation::PromptList,
            RequestType::PromptGet => Operation::PromptGet {
                prompt: r.prompt?,
                arguments: r.arguments.unwrap_or_else(|| json!({})),
            },
            RequestType::Ping => Operation::Ping,
            RequestType::SessionOpen => Operation::SessionOpen,
        })
    }

    fn slo(&mut self, raw: RawSlo) -> Slo {
        let mut pct = |field: &str, v: Option<Percent>| {
            let v = v.map(|p| p.0);
            if let Some(p) = v
                && !(0.0..=100.0).contains(&p)
            {
                self.problem(
                    format!("scenario.slo.{field}"),
                    format!("must be between 0% and 100%, got {p}%"),
                );
            }
            v
        };
        let error_rate = pct("error_rate", raw.error_rate);
        let min_throughput = pct("min_throughput", raw.min_throughput);
        let d = |v: Option<DurationValue>| v.map(|d| d.0);
        Slo {
            p50: d(raw.p50),
            p95: d(raw.p95),
            p99: d(raw.p99),
            p999: d(raw.p999),
            error_rate,
            min_throughput,
        }
    }
}

fn type_name(kind: RequestType) -> &'static str {
    match kind {
        RequestType::ToolCall => "tool_call",
        RequestType::ToolList => "tool_list",
        RequestType::ResourceList => "resource_list",
        RequestType::ResourceRead => "resource_read",
        RequestType::PromptList => "prompt_list",
        RequestType::PromptGet => "prompt_get",
        RequestType::Ping => "ping",
        RequestType::SessionOpen => "session_open",
    }
}

/// Arguments for a `tool_call` that gives none: the tools of erlmcp's example mix get
/// arguments that succeed on the reference server; any other tool gets `{}`.
pub fn default_arguments(tool: &str) -> Value {
    match tool {
        "calculator" => json!({ "a": 6, "b": 7, "op": "mul" }),
        "file_read" => json!({ "path": "sample.txt" }),
        _ => json!({}),
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

impl Scenario {
    /// The same scenario with every phase and the warm-up scaled by `factor` (quick runs).
    pub fn scaled(mut self, factor: f64) -> Self {
        let scale = |d: Duration| d.mul_f64(factor);
        self.warmup = scale(self.warmup);
        if let Some(leak) = &mut self.leak {
            leak.cool_down = scale(leak.cool_down);
        }
        for phase in &mut self.phases {
            phase.duration = scale(phase.duration).max(Duration::from_millis(100));
        }
        if let Some(capacity) = &mut self.capacity {
            capacity.step_duration = scale(capacity.step_duration).max(Duration::from_millis(100));
        }
        self
    }

    /// The header lines every HTTP request of the run carries: `headers`, and
    /// `Authorization: Bearer` with the token of `auth`.
    pub fn session_headers(&self) -> crate::mcp::ExtraHeaders {
        let bearer = self.auth.as_ref().map(|a| format!("Bearer {}", a.token()));
        let pairs = self
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .chain(bearer.as_deref().map(|b| ("authorization", b)));
        // Validation refused any name or value that would not make a header line.
        crate::mcp::ExtraHeaders::new(pairs).unwrap_or_default()
    }

    /// Measured time: the sum of the phases.
    pub fn measured_duration(&self) -> Duration {
        self.phases.iter().map(|p| p.duration).sum()
    }

    /// Requests the measured phases schedule.
    pub fn planned_requests(&self) -> u64 {
        self.phases.iter().map(Phase::planned_requests).sum()
    }

    /// The mean offered rate over the measured phases.
    pub fn mean_rate(&self) -> f64 {
        let secs = self.measured_duration().as_secs_f64();
        if secs > 0.0 {
            self.planned_requests() as f64 / secs
        } else {
            0.0
        }
    }
}

#[cfg(test)]
mod tests;
