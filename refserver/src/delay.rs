//! Injected delays that mean what they say below a millisecond.
//!
//! tokio's timer resolves whole milliseconds, so `tokio::time::sleep(300µs)` waits a
//! millisecond or more: an injected +5% on a 0.7 ms P99 would become +150%. A delay is
//! waited in three stretches: all but the last [`COARSE_MARGIN`] on tokio's timer; then
//! all but the last [`SPIN`] by `nanosleep` on a blocking-pool thread (it wakes tens of
//! microseconds late); the rest by yielding to the runtime until the deadline, which is
//! exact to a few microseconds and lets other requests run meanwhile.

use std::time::Duration;

use tokio::time::Instant;

/// The part of a delay left to the precise sleep: tokio's timer may fire up to about a
/// millisecond late, so everything but the last two milliseconds goes to it.
pub const COARSE_MARGIN: Duration = Duration::from_millis(2);
/// The last stretch of a delay, waited by yielding: longer than a blocking-pool thread's
/// late wake-up, short enough that the busy wait costs little CPU.
pub const SPIN: Duration = Duration::from_micros(150);

/// Waits `duration`, to within a few microseconds.
pub async fn precise_sleep(duration: Duration) {
    if duration.is_zero() {
        return;
    }
    let deadline = Instant::now() + duration;
    if duration > COARSE_MARGIN {
        tokio::time::sleep_until(deadline - COARSE_MARGIN).await;
    }
    let rest = deadline.saturating_duration_since(Instant::now());
    if rest > SPIN {
        let nap = rest - SPIN;
        // Should the blocking pool be gone (runtime shutting down), yielding still waits.
        let _ = tokio::task::spawn_blocking(move || std::thread::sleep(nap)).await;
    }
    while Instant::now() < deadline {
        tokio::task::yield_now().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn waits_at_least_the_duration() {
        for micros in [0, 150, 900, 2_500] {
            let d = Duration::from_micros(micros);
            let t = std::time::Instant::now();
            precise_sleep(d).await;
            assert!(t.elapsed() >= d, "{micros} µs");
        }
    }
}
