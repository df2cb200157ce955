//! The count of a session's requests waiting for an HTTP connection, shared by the pool
//! that makes them wait and the reads that hold its connections.

use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::Notify;

/// The requests of a session waiting for a connection, and a signal for the reads that
/// hold its connections: while any request waits, answers are read as soon as they
/// arrive, not on the worker's next tick.
#[derive(Debug, Default)]
pub(super) struct Waiting {
    count: AtomicUsize,
    joined: Notify,
}

impl Waiting {
    /// Whether a request waits.
    pub fn any(&self) -> bool {
        self.count.load(Ordering::Relaxed) > 0
    }

    /// Returns once a request waits (at once if one does).
    pub async fn until_any(&self) {
        loop {
            let joined = self.joined.notified();
            tokio::pin!(joined);
            joined.as_mut().enable();
            if self.any() {
                return;
            }
            joined.await;
        }
    }

    /// Counts a request in until the returned guard is dropped.
    pub(super) fn join(&self) -> Queued<'_> {
        self.count.fetch_add(1, Ordering::Relaxed);
        self.joined.notify_waiters();
        Queued(&self.count)
    }
}

/// A request counted in [`Waiting`] until it has a slot (or is dropped).
pub(super) struct Queued<'a>(&'a AtomicUsize);

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}
