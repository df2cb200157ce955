//! Live progress: the engine counts into [`Progress`]; [`watch`] reads the counters beside
//! the engine and tells a [`ProgressListener`] what happens. The engine prints nothing: the
//! CLI and the perf suite pass a listener that renders the events
//! (`report::console`).

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use super::live::LiveRun;
use super::schedule::Schedule;
use super::stats::Completion;
use crate::mcp::Outcome;

/// Counters the engine updates as requests go out and come back.
#[derive(Debug, Default)]
pub struct Progress {
    pub sent: AtomicU64,
    pub ok: AtomicU64,
    pub failed: AtomicU64,
    start: OnceLock<Instant>,
    done: AtomicBool,
    /// Wakes [`watch`] when the engine finishes, instead of at its next tick.
    finished: tokio::sync::Notify,
    /// Wakes [`Progress::started`] when the schedule begins.
    begun: tokio::sync::Notify,
    /// The live metrics the run also counts into, when the harness serves them.
    live: Option<LiveRun>,
}

impl Progress {
    /// Counters that also count into `live`, if given.
    pub fn with_live(live: Option<LiveRun>) -> Self {
        Self {
            live,
            ..Self::default()
        }
    }

    /// When the engine's schedule began: waits until it has.
    pub async fn started(&self) -> Instant {
        loop {
            if let Some(at) = self.start.get() {
                return *at;
            }
            // A permit left by `begin` before this wait wakes it at once.
            self.begun.notified().await;
        }
    }

    /// A request left `lag` after its intended send time.
    pub(crate) fn launched(&self, lag: Duration) {
        self.sent.fetch_add(1, Ordering::Relaxed);
        if let Some(live) = &self.live {
            live.sent(lag);
        }
    }

    /// A slot whose timeout ran out before it could be sent.
    pub(crate) fn never_sent(&self) {
        self.sent.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn begin(&self, start: Instant) {
        let _ = self.start.set(start);
        self.begun.notify_one();
    }

    pub(crate) fn finish(&self) {
        self.done.store(true, Ordering::Release);
        self.finished.notify_one();
    }

    pub(crate) fn completed(&self, c: &Completion) {
        if let Some(live) = &self.live {
            live.finished(c.op, &c.outcome, c.latency, c.lag.is_some());
        }
        let counter = match &c.outcome {
            Outcome::Ok => &self.ok,
            Outcome::Failed(_) => &self.failed,
            Outcome::Cancelled => return,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn snapshot(&self) -> (u64, u64, u64) {
        (
            self.sent.load(Ordering::Relaxed),
            self.ok.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
        )
    }
}

/// What a [`ProgressListener`] hears of one run.
#[derive(Debug, Clone)]
pub enum ProgressEvent<'a> {
    /// Four times a second while the run lasts: where it is and what it has counted.
    Tick {
        label: &'a str,
        elapsed: Duration,
        total: Duration,
        /// The phase under way and its offered rate now; `None` while draining.
        phase: Option<(&'a str, f64)>,
        sent: u64,
        ok: u64,
        failed: u64,
    },
    /// A phase ended, with what it sent and got back.
    PhaseDone {
        label: &'a str,
        /// Position of the phase, from 0, of `phases`.
        index: usize,
        phases: usize,
        name: &'a str,
        duration: Duration,
        rps: f64,
        rps_end: f64,
        sent: u64,
        ok: u64,
        failed: u64,
    },
    /// The engine finished.
    Finished,
}

/// Hears a run's progress.
pub trait ProgressListener: Send + Sync + fmt::Debug {
    fn on(&self, event: &ProgressEvent<'_>);

    /// Whether to hear events at all; a listener that wants none costs the run nothing.
    fn wants_events(&self) -> bool {
        true
    }
}

/// A listener that hears nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct Silent;

impl ProgressListener for Silent {
    fn on(&self, _: &ProgressEvent<'_>) {}

    fn wants_events(&self) -> bool {
        false
    }
}

/// Reads `progress` until the engine finishes and tells `listener`. Run it as a task beside
/// the engine, which sends `share` of the schedule's slots (1 / N for a shard of N): the
/// rates told are this process's.
pub async fn watch(
    progress: Arc<Progress>,
    schedule: Schedule,
    label: String,
    listener: Arc<dyn ProgressListener>,
    share: f64,
) {
    let live = progress.live.clone();
    if !listener.wants_events() && live.is_none() {
        return;
    }
    let total = schedule.duration();
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    let mut current: Option<usize> = None;
    let mut at_phase_start = (0, 0, 0);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = progress.finished.notified() => {}
        }
        let done = progress.done.load(Ordering::Acquire);
        let Some(start) = progress.start.get().copied() else {
            continue;
        };
        let elapsed = Instant::now().saturating_duration_since(start);
        let segment = if done {
            None
        } else {
            schedule.segment_at(elapsed)
        };
        let (sent, ok, failed) = progress.snapshot();
        if segment != current {
            if let Some(i) = current {
                let seg = &schedule.segments()[i];
                let (s0, o0, f0) = at_phase_start;
                listener.on(&ProgressEvent::PhaseDone {
                    label: &label,
                    index: i,
                    phases: schedule.segments().len(),
                    name: &seg.name,
                    duration: seg.duration,
                    rps: seg.rps * share,
                    rps_end: seg.rps_end * share,
                    sent: sent - s0,
                    ok: ok - o0,
                    failed: failed - f0,
                });
            }
            current = segment;
            at_phase_start = (sent, ok, failed);
        }
        let phase = segment.map(|i| {
            let seg = &schedule.segments()[i];
            (
                seg.name.as_str(),
                seg.rate_at(elapsed.saturating_sub(seg.start)) * share,
            )
        });
        if let Some(live) = &live {
            let measured = segment.is_some_and(|i| schedule.segments()[i].phase.is_some());
            live.phase(phase, measured);
        }
        listener.on(&ProgressEvent::Tick {
            label: &label,
            elapsed,
            total,
            phase,
            sent,
            ok,
            failed,
        });
        if done {
            listener.on(&ProgressEvent::Finished);
            return;
        }
    }
}
