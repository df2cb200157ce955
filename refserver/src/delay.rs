//! Injected delays that mean what they say below a millisecond.
//!
//! tokio's timer resolves whole milliseconds, so `tokio::time::sleep(300µs)` waits a
//! millisecond or more: an injected +5% on a 2 ms P99 would become +50%. The long part of a
//! delay is waited on tokio's timer; the last stretch, shorter than [`COARSE_MARGIN`], by
//! `nanosleep` on a blocking-pool thread, which is accurate to tens of microseconds.

use std::time::Duration;

use tokio::time::Instant;

/// The part of a delay left to the precise sleep: tokio's timer may fire up to about a
/// millisecond late, so everything but the last two milliseconds goes to it.
pub const COARSE_MARGIN: Duration = Duration::from_millis(2);

/// Waits `duration`, to within tens of microseconds.
pub async fn precise_sleep(duration: Duration) {
    if duration.is_zero() {
        return;
    }
    let deadline = Instant::now() + duration;
    if duration > COARSE_MARGIN {
        tokio::time::sleep_until(deadline - COARSE_MARGIN).await;
    }
    let rest = deadline.saturating_duration_since(Instant::now());
    if rest.is_zero() {
        return;
    }
    // A blocking-pool thread for the last stretch; should the pool be gone (runtime
    // shutting down), the coarse timer is still a delay.
    if tokio::task::spawn_blocking(move || std::thread::sleep(rest))
        .await
        .is_err()
    {
        tokio::time::sleep(rest).await;
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
