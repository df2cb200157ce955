//! [`RecoveryRecord`]: when the server stopped answering and answered again, the sessions
//! it lost and the requests sent again.

use serde::{Deserialize, Serialize};

use crate::load::{LoadOutcome, outages};

/// What a run recovered from. Absent from a record when nothing went wrong.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecoveryRecord {
    /// Stretches of measured time in which no request succeeded (at least
    /// [`crate::load::MIN_OUTAGE_FAILURES`] failed), placed to 0.1 s.
    pub outages: Vec<OutageRecord>,
    /// Sessions the server no longer knew (HTTP 404 for their id) or whose connection was
    /// gone (WebSocket, TCP, stdio), opened again with a new `initialize`, over the whole run.
    pub session_lost: u64,
    /// From the 404 (or the first request that found the connection gone) to the new
    /// session's `initialize` answer, milliseconds.
    pub session_recovery_p50_ms: Option<f64>,
    pub session_recovery_max_ms: Option<f64>,
    /// Attempts to open a lost session again that failed.
    pub session_renewals_failed: u64,
    /// Requests sent once more on a new connection: the reused keep-alive connection they
    /// went out on was closed by the server before any of the answer arrived.
    pub resends: u64,
}

/// One stretch without answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutageRecord {
    /// When the first request without an answer was due, seconds of measured time.
    pub from_seconds: f64,
    /// When the first answered request after it was due; `None` if the server had not
    /// answered again when the run ended.
    pub answered_again_seconds: Option<f64>,
    /// Requests that failed in that time.
    pub failed: u64,
}

impl OutageRecord {
    /// How long the server answered nothing, seconds (to the end of the run if it never
    /// answered again).
    pub fn seconds(&self, measured_seconds: f64) -> f64 {
        self.answered_again_seconds.unwrap_or(measured_seconds) - self.from_seconds
    }
}

impl RecoveryRecord {
    /// The recoveries of `outcome`; `None` if there were none.
    pub fn of(outcome: &LoadOutcome) -> Option<Self> {
        let outages: Vec<OutageRecord> = outages(&outcome.stats.beats)
            .into_iter()
            .map(|o| OutageRecord {
                from_seconds: super::round2(o.from.as_secs_f64()),
                answered_again_seconds: o.answered_again.map(|t| super::round2(t.as_secs_f64())),
                failed: o.failed,
            })
            .collect();
        let counts = &outcome.recovery;
        if outages.is_empty()
            && counts.renewals.is_empty()
            && counts.failed_renewals == 0
            && counts.resends == 0
        {
            return None;
        }
        let took: Vec<f64> = counts
            .renewals
            .iter()
            .map(|took| took.as_secs_f64() * 1e3)
            .collect();
        let round = |ms: f64| (ms * 100.0).round() / 100.0;
        Some(Self {
            outages,
            session_lost: counts.renewals.len() as u64,
            session_recovery_p50_ms: crate::units::median(&took).map(round),
            session_recovery_max_ms: took.iter().copied().reduce(f64::max).map(round),
            session_renewals_failed: counts.failed_renewals,
            resends: counts.resends,
        })
    }
}
