//! The scenario file as written: serde types that accept erlmcp's format verbatim.

use serde::Deserialize;
use serde_json::Value;

use super::values::{DurationValue, Percent};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFile {
    pub scenario: RawScenario,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawScenario {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub clients: Option<u32>,
    #[serde(default)]
    pub connections: Option<u32>,
    #[serde(default)]
    pub warmup: Option<DurationValue>,
    #[serde(default)]
    pub timeout: Option<DurationValue>,
    #[serde(default)]
    pub protocol_version: Option<String>,
    #[serde(default)]
    pub phases: Vec<RawPhase>,
    #[serde(default)]
    pub requests: Vec<RawRequest>,
    #[serde(default)]
    pub workflows: Vec<RawWorkflow>,
    #[serde(default)]
    pub headers: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    pub auth: Option<RawAuth>,
    #[serde(default)]
    pub session_lifetime: Option<RawLifetime>,
    #[serde(default)]
    pub server_requests: Option<RawServerRequests>,
    #[serde(default)]
    pub listen: Option<RawListen>,
    #[serde(default)]
    pub leak: Option<super::leak::RawLeak>,
    #[serde(default)]
    pub slo: Option<RawSlo>,
    #[serde(default)]
    pub gate: Option<RawGate>,
    #[serde(default)]
    pub capacity: Option<super::capacity::RawCapacity>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawGate {
    #[serde(default)]
    pub threshold: Option<Percent>,
    #[serde(default)]
    pub metrics: std::collections::BTreeMap<String, Percent>,
    #[serde(default)]
    pub max_trials: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPhase {
    pub name: String,
    pub duration: DurationValue,
    pub rps: f64,
    #[serde(default)]
    pub ramp_to: Option<f64>,
}

/// Request types accepted in `requests[].type`.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub(super) enum RequestType {
    ToolCall,
    ToolList,
    ResourceList,
    ResourceRead,
    PromptList,
    PromptGet,
    Ping,
    SessionOpen,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRequest {
    #[serde(rename = "type")]
    pub kind: RequestType,
    #[serde(default)]
    pub tool: Option<String>,
    #[serde(default)]
    pub uri: Option<String>,
    #[serde(default)]
    pub prompt: Option<String>,
    #[serde(default)]
    pub arguments: Option<Value>,
    pub weight: Percent,
    #[serde(default)]
    pub cancel: Option<RawCancel>,
}

/// A share of a request's sends cancelled after a delay.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCancel {
    pub share: Percent,
    pub after: DurationValue,
}

/// A workflow: weighted like a request, its steps run in order in one session.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawWorkflow {
    pub name: String,
    pub weight: Percent,
    #[serde(default)]
    pub steps: Vec<RawStep>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStep {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(rename = "type")]
    pub kind: RequestType,
    #[serde(default)]
    pub tool: Option<String>,
    #[serde(default)]
    pub uri: Option<String>,
    #[serde(default)]
    pub prompt: Option<String>,
    #[serde(default)]
    pub arguments: Option<Value>,
    #[serde(default)]
    pub fan_out: Option<i64>,
    #[serde(default)]
    pub think: Option<DurationValue>,
}

/// The notification stream each session holds open.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawListen {
    pub resource: String,
}

/// How the harness answers the server's questions.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawServerRequests {
    pub answer_after: DurationValue,
}

/// How long a client's session lives before it is replaced.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLifetime {
    #[serde(default)]
    pub requests: Option<i64>,
    #[serde(default)]
    pub duration: Option<DurationValue>,
}

/// Credentials: a bearer token read from an environment variable, never from the file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAuth {
    pub bearer_env: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSlo {
    #[serde(default)]
    pub p50: Option<DurationValue>,
    #[serde(default)]
    pub p95: Option<DurationValue>,
    #[serde(default)]
    pub p99: Option<DurationValue>,
    #[serde(default)]
    pub p999: Option<DurationValue>,
    #[serde(default)]
    pub error_rate: Option<Percent>,
    #[serde(default)]
    pub min_throughput: Option<Percent>,
}
