//! What sessions did to keep going when the server lost them or closed a connection under
//! them: sessions opened again after the server forgot them, and requests sent once more
//! on a new connection. One [`Recovery`] is shared by every session of a run;
//! [`Renewable`] is the one way a session replaces what it lost.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

/// Counts of a run's recoveries, shared by its sessions.
#[derive(Debug, Default)]
pub struct Recovery {
    resends: AtomicU64,
    renewals: Mutex<Vec<Duration>>,
    failed_renewals: AtomicU64,
}

/// What a run's sessions recovered from, once the run is over.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RecoveryCounts {
    /// Requests sent once more on a new connection: the reused keep-alive connection they
    /// went out on was closed by the server before any of the answer arrived.
    pub resends: u64,
    /// Sessions lost (HTTP 404 for their id, or their connection gone) and opened again:
    /// for each, from the first request that found it lost to the new session's
    /// `initialize` answer.
    pub renewals: Vec<Duration>,
    /// Attempts to open a lost session again that failed (the server still down).
    pub failed_renewals: u64,
}

impl Recovery {
    /// Counts a request sent once more on a new connection.
    pub(super) fn resent(&self) {
        self.resends.fetch_add(1, Ordering::Relaxed);
    }

    /// The counts so far.
    pub fn counts(&self) -> RecoveryCounts {
        RecoveryCounts {
            resends: self.resends.load(Ordering::Relaxed),
            renewals: self
                .renewals
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
            failed_renewals: self.failed_renewals.load(Ordering::Relaxed),
        }
    }
}

/// What a session lives on (its identity on the server, or its connection), replaced when
/// it is lost: once for all the requests that found it lost, each generation counted.
#[derive(Debug)]
pub(super) struct Renewable<T> {
    current: RwLock<(Arc<T>, u64)>,
    /// Held while a replacement is opened, so that one is opened at a time.
    renewing: tokio::sync::Mutex<()>,
    /// When a request first found the current generation lost.
    lost_since: Mutex<Option<Instant>>,
}

impl<T> Renewable<T> {
    pub(super) fn new(first: T) -> Self {
        Self {
            current: RwLock::new((Arc::new(first), 0)),
            renewing: tokio::sync::Mutex::new(()),
            lost_since: Mutex::new(None),
        }
    }

    /// Replaces the first value, before anything shares it.
    pub(super) fn set_first(&mut self, first: T) {
        *self
            .current
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner) = (Arc::new(first), 0);
    }

    /// The current value and its generation.
    pub(super) fn current(&self) -> (Arc<T>, u64) {
        let current = self.current.read().unwrap_or_else(PoisonError::into_inner);
        (current.0.clone(), current.1)
    }

    /// Replaces generation `lost` with what `open` makes, unless another request has
    /// since; counts the renewal (from the first request that found it lost) or the
    /// failed attempt in `recovery`. Returns the value to go on with and, when this call
    /// replaced one, the value it replaced.
    pub(super) async fn renew<E, F>(
        &self,
        lost: u64,
        recovery: &Recovery,
        open: impl FnOnce() -> F,
    ) -> Result<(Arc<T>, Option<Arc<T>>), E>
    where
        F: Future<Output = Result<T, E>>,
    {
        let lost_since = *self
            .lost_since
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get_or_insert_with(Instant::now);
        let _renewing = self.renewing.lock().await;
        let (current, generation) = self.current();
        if generation != lost {
            return Ok((current, None));
        }
        match open().await {
            Ok(fresh) => {
                let fresh = Arc::new(fresh);
                let (old, _) = std::mem::replace(
                    &mut *self.current.write().unwrap_or_else(PoisonError::into_inner),
                    (fresh.clone(), generation + 1),
                );
                *self
                    .lost_since
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) = None;
                recovery
                    .renewals
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(lost_since.elapsed());
                Ok((fresh, Some(old)))
            }
            Err(e) => {
                recovery.failed_renewals.fetch_add(1, Ordering::Relaxed);
                Err(e)
            }
        }
    }
}
