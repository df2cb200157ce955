//! Live progress: the engine counts into [`Progress`]; a reporter task reads it and shows a
//! bar on a terminal or prints one line per phase elsewhere (CI logs).

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use super::schedule::Schedule;
use crate::mcp::Outcome;

/// Counters the engine updates as requests go out and come back.
#[derive(Debug, Default)]
pub struct Progress {
    pub sent: AtomicU64,
    pub ok: AtomicU64,
    pub failed: AtomicU64,
    start: OnceLock<Instant>,
    done: AtomicBool,
}

impl Progress {
    pub(crate) fn begin(&self, start: Instant) {
        let _ = self.start.set(start);
    }

    pub(crate) fn finish(&self) {
        self.done.store(true, Ordering::Release);
    }

    pub(crate) fn completed(&self, outcome: &Outcome) {
        let counter = match outcome {
            Outcome::Ok => &self.ok,
            Outcome::Failed(_) => &self.failed,
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

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressMode {
    /// A live bar on stderr.
    Bar,
    /// One line per finished phase on stderr.
    Lines,
    /// Nothing.
    Quiet,
}

impl ProgressMode {
    /// A bar when stderr is a terminal, lines otherwise.
    pub fn detect() -> Self {
        if std::io::stderr().is_terminal() {
            ProgressMode::Bar
        } else {
            ProgressMode::Lines
        }
    }
}

/// Shows progress until the engine finishes. Run it as a task beside the engine.
pub async fn report(
    progress: Arc<Progress>,
    schedule: Schedule,
    label: String,
    mode: ProgressMode,
) {
    if mode == ProgressMode::Quiet {
        return;
    }
    let total = schedule.duration();
    let bar = (mode == ProgressMode::Bar).then(|| {
        let bar = ProgressBar::new(total.as_millis() as u64);
        bar.set_style(
            ProgressStyle::with_template("{prefix} [{bar:30}] {msg}")
                .expect("static template")
                .progress_chars("=> "),
        );
        bar.set_prefix(label.clone());
        bar
    });
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    let mut current: Option<usize> = None;
    let mut at_phase_start = (0, 0, 0);
    loop {
        tick.tick().await;
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
            if let Some(i) = current
                && mode == ProgressMode::Lines
            {
                let seg = &schedule.segments()[i];
                let (s0, o0, f0) = at_phase_start;
                let secs = seg.duration.as_secs_f64();
                eprintln!(
                    "{label}: phase {}/{} `{}` done: {:.0}s at {} sent {} ok {} errors {} ({:.0} ok/s)",
                    i + 1,
                    schedule.segments().len(),
                    seg.name,
                    secs,
                    rate_text(seg.rps, seg.rps_end),
                    sent - s0,
                    ok - o0,
                    failed - f0,
                    (ok - o0) as f64 / secs,
                );
            }
            current = segment;
            at_phase_start = (sent, ok, failed);
        }
        if let Some(bar) = &bar {
            bar.set_position(elapsed.min(total).as_millis() as u64);
            let phase = segment.map_or("draining".to_string(), |i| {
                let seg = &schedule.segments()[i];
                format!(
                    "{} @ {:.0}/s",
                    seg.name,
                    seg.rate_at(elapsed.saturating_sub(seg.start))
                )
            });
            bar.set_message(format!(
                "{phase} | sent {sent} ok {ok} err {failed} | {}s left",
                total.saturating_sub(elapsed).as_secs()
            ));
        }
        if done {
            if let Some(bar) = bar {
                bar.finish_and_clear();
            }
            return;
        }
    }
}

fn rate_text(rps: f64, rps_end: f64) -> String {
    if (rps - rps_end).abs() < 1e-9 {
        format!("{rps:.0}/s")
    } else {
        format!("{rps:.0}->{rps_end:.0}/s")
    }
}
