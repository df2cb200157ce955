//! Progress on stderr, for the CLI and the perf suite: a live bar on a terminal, one line
//! per finished phase elsewhere (CI logs). The only place the library writes to a terminal,
//! and only through the listener its caller chose.

use std::io::IsTerminal;
use std::sync::{Arc, Mutex};

use indicatif::{ProgressBar, ProgressStyle};

use crate::load::{ProgressEvent, ProgressListener, Silent};

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

/// The listener that shows progress in `mode`.
pub fn listener(mode: ProgressMode) -> Arc<dyn ProgressListener> {
    match mode {
        ProgressMode::Bar => Arc::new(Bar::default()),
        ProgressMode::Lines => Arc::new(Lines),
        ProgressMode::Quiet => Arc::new(Silent),
    }
}

/// One line per finished phase.
#[derive(Debug)]
struct Lines;

impl ProgressListener for Lines {
    fn on(&self, event: &ProgressEvent<'_>) {
        if let ProgressEvent::PhaseDone {
            label,
            index,
            phases,
            name,
            duration,
            rps,
            rps_end,
            sent,
            ok,
            failed,
        } = *event
        {
            let secs = duration.as_secs_f64();
            eprintln!(
                "{label}: phase {}/{phases} `{name}` done: {secs:.0}s at {} sent {sent} ok {ok} errors {failed} ({:.0} ok/s)",
                index + 1,
                rate_text(rps, rps_end),
                ok as f64 / secs,
            );
        }
    }
}

/// A bar per run, drawn from its first tick and cleared when it finishes.
#[derive(Debug, Default)]
struct Bar {
    bar: Mutex<Option<ProgressBar>>,
}

impl ProgressListener for Bar {
    fn on(&self, event: &ProgressEvent<'_>) {
        let Ok(mut slot) = self.bar.lock() else {
            return;
        };
        match *event {
            ProgressEvent::Tick {
                label,
                elapsed,
                total,
                phase,
                sent,
                ok,
                failed,
            } => {
                let bar = slot.get_or_insert_with(|| {
                    let bar = ProgressBar::new(total.as_millis() as u64);
                    bar.set_style(
                        ProgressStyle::with_template("{prefix} [{bar:30}] {msg}")
                            .expect("static template")
                            .progress_chars("=> "),
                    );
                    bar.set_prefix(label.to_string());
                    bar
                });
                bar.set_position(elapsed.min(total).as_millis() as u64);
                let phase = phase.map_or("draining".to_string(), |(name, rate)| {
                    format!("{name} @ {rate:.0}/s")
                });
                bar.set_message(format!(
                    "{phase} | sent {sent} ok {ok} err {failed} | {}s left",
                    total.saturating_sub(elapsed).as_secs()
                ));
            }
            ProgressEvent::Finished => {
                if let Some(bar) = slot.take() {
                    bar.finish_and_clear();
                }
            }
            ProgressEvent::PhaseDone { .. } => {}
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
