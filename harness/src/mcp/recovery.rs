//! What sessions did to keep going when the server lost them or closed a connection under
//! them: sessions opened again after the server forgot them, and requests sent once more
//! on a new connection. One [`Recovery`] is shared by every session of a run.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Counts of a run's recoveries, shared by its sessions.
#[derive(Debug, Default)]
pub struct Recovery {
    resends: AtomicU64,
    renewals: Mutex<Vec<Renewal>>,
    failed_renewals: AtomicU64,
}

/// A session the server no longer knew (HTTP 404 for its id), or whose connection was
/// gone, opened again.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Renewal {
    /// When the server's 404 arrived, or a request first found the connection gone.
    pub lost_at: Instant,
    /// From `lost_at` to the new session's `initialize` answer.
    pub took: Duration,
}

/// What a run's sessions recovered from, once the run is over.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RecoveryCounts {
    /// Requests sent once more on a new connection: the reused keep-alive connection they
    /// went out on was closed by the server before any of the answer arrived.
    pub resends: u64,
    /// Sessions lost and opened again, in the order they were.
    pub renewals: Vec<Renewal>,
    /// Attempts to open a lost session again that failed (the server still down).
    pub failed_renewals: u64,
}

impl Recovery {
    /// Counts a request sent once more on a new connection.
    pub(super) fn resent(&self) {
        self.resends.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a lost session opened again.
    pub(super) fn renewed(&self, renewal: Renewal) {
        self.renewals
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(renewal);
    }

    /// Counts a lost session that could not be opened again.
    pub(super) fn renewal_failed(&self) {
        self.failed_renewals.fetch_add(1, Ordering::Relaxed);
    }

    /// The counts so far.
    pub fn counts(&self) -> RecoveryCounts {
        let mut renewals = self
            .renewals
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        renewals.sort_by_key(|r| r.lost_at);
        RecoveryCounts {
            resends: self.resends.load(Ordering::Relaxed),
            renewals,
            failed_renewals: self.failed_renewals.load(Ordering::Relaxed),
        }
    }
}
