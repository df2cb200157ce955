//! [`ShardRecord`]: one generator process of a split run, as its record and a merged record
//! list it.

use serde::{Deserialize, Serialize};

use super::RunRecord;
use crate::load::{ClockStatus, LoadOutcome, LoadPlan, Shard};

/// One generator process of a run split over several (`--shard`, `--start-at`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardRecord {
    #[serde(flatten)]
    pub shard: Shard,
    /// The machine it ran on ([`crate::machine::Machine::host`]), where known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// RFC 3339 wall-clock time of its schedule's origin, by its own clock.
    pub started_at: String,
    /// The shared start instant it was given (`--start-at`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_at: Option<String>,
    /// How far past `start_at` its sessions were ready (its first slots then went out
    /// late), milliseconds; 0 when ready in time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub late_start_ms: Option<f64>,
    /// Its clock's own account of its error when the run began (the kernel's NTP state):
    /// what bounds the offset between shards' schedules on different machines.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock: Option<ClockStatus>,
    /// Whole seconds its windows were moved by to align with the merged record's by
    /// wall-clock second (0 when every shard began at the same instant).
    #[serde(default)]
    pub window_offset_seconds: u64,
    /// Sessions it opened.
    pub clients: u32,
    /// Its measured slots, and what came of them.
    pub planned: u64,
    pub attempts: u64,
    pub ok: u64,
    pub failed: u64,
    pub p50_us: u64,
    pub p99_us: u64,
    /// Its generator's send lag P99, microseconds, and whether it kept its schedule.
    pub lag_p99_us: u64,
    pub kept_schedule: bool,
    /// CPU its generator used over the load, seconds.
    pub cpu_seconds: f64,
}

impl ShardRecord {
    /// The shard that produced `record` (its figures already in it).
    pub(super) fn of(record: &RunRecord, plan: &LoadPlan, outcome: &LoadOutcome) -> Self {
        Self {
            shard: plan.shard,
            start_at: plan
                .start_at
                .map(|t| humantime::format_rfc3339_millis(t).to_string()),
            late_start_ms: outcome
                .late_start
                .map(|d| (d.as_secs_f64() * 1e6).round() / 1e3),
            clock: outcome.clock,
            clients: u32::try_from(plan.clients).unwrap_or(u32::MAX),
            ..Self::whole(record)
        }
    }

    /// The shard a record without a list of shards stands for: the whole schedule.
    pub(super) fn whole(record: &RunRecord) -> Self {
        Self {
            shard: Shard::WHOLE,
            host: record.machine.as_ref().and_then(|m| m.host.clone()),
            started_at: record.started_at.clone(),
            start_at: None,
            late_start_ms: None,
            clock: None,
            window_offset_seconds: 0,
            clients: record.scenario.clients,
            planned: record.throughput.planned,
            attempts: record.throughput.attempts,
            ok: record.throughput.ok,
            failed: record.throughput.failed,
            p50_us: record.latency.p50_us,
            p99_us: record.latency.p99_us,
            lag_p99_us: record.generator.lag_p99_us,
            kept_schedule: record.generator.kept_schedule,
            cpu_seconds: record.generator.cpu_seconds,
        }
    }
}
