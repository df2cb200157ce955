//! The scenario file as written: serde types that accept erlmcp's format verbatim.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use serde_json::Value;

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
    pub requests: Vec<RawRequest>,
    #[serde(default)]
    pub slo: Option<RawSlo>,
    #[serde(default)]
    pub gate: Option<RawGate>,
    #[serde(default)]
    pub capacity: Option<crate::capacity::spec::RawCapacity>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawGate {
    #[serde(default)]
    pub threshold: Option<Percent>,
    #[serde(default)]
    pub metrics: std::collections::BTreeMap<String, Percent>,
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

/// A duration written `120s`, `1m 30s`, `250ms`, or a bare number of seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct DurationValue(pub Duration);

impl<'de> Deserialize<'de> for DurationValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = DurationValue;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a duration such as `120s`, `2m` or `500ms`")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<DurationValue, E> {
                humantime::parse_duration(s.trim())
                    .map(DurationValue)
                    .map_err(|e| E::custom(format!("invalid duration `{s}`: {e}")))
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<DurationValue, E> {
                Ok(DurationValue(Duration::from_secs(n)))
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<DurationValue, E> {
                u64::try_from(n)
                    .map(|n| DurationValue(Duration::from_secs(n)))
                    .map_err(|_| E::custom(format!("invalid duration `{n}`: negative")))
            }
            fn visit_f64<E: de::Error>(self, n: f64) -> Result<DurationValue, E> {
                Duration::try_from_secs_f64(n)
                    .map(DurationValue)
                    .map_err(|_| E::custom(format!("invalid duration `{n}`")))
            }
        }
        d.deserialize_any(V)
    }
}

/// A percentage written `40%` or as a bare number (`40`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Percent(pub f64);

impl<'de> Deserialize<'de> for Percent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Percent;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a percentage such as `40%`")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Percent, E> {
                let digits = s.trim().strip_suffix('%').unwrap_or(s).trim();
                match digits.parse::<f64>() {
                    Ok(n) if n.is_finite() => Ok(Percent(n)),
                    _ => Err(E::custom(format!("invalid percentage `{s}`"))),
                }
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Percent, E> {
                Ok(Percent(n as f64))
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<Percent, E> {
                Ok(Percent(n as f64))
            }
            fn visit_f64<E: de::Error>(self, n: f64) -> Result<Percent, E> {
                Ok(Percent(n))
            }
        }
        d.deserialize_any(V)
    }
}
