//! Slowdowns that move P99 by what they say: a slow tail ([`TAIL_SHARE`] of requests
//! delayed) sized from the baseline's own latency distribution, instead of a fixed delay
//! on every request. A fixed delay on every request changes how often the server and the
//! generator sleep and wake, which on a virtual machine moved P99 the wrong way (+15%
//! injected, -14% measured); a tail leaves 98% of requests as they were.

use hdrhistogram::Histogram;

/// Share of requests a P99 slowdown delays: twice the share above P99, so the new P99 is
/// a delayed request's latency while the median stays.
pub const TAIL_SHARE: f64 = 0.02;

/// The reference server's fault spec of a P99 slowdown by `pct` percent of `latency`'s P99.
pub fn tail_fault(latency: &Histogram<u64>, pct: f64) -> String {
    format!("tail={TAIL_SHARE}:{}us", tail_delay_us(latency, pct))
}

/// The delay, microseconds, that added to [`TAIL_SHARE`] of requests of the distribution
/// `latency` moves its P99 by `pct` percent: bisection on the P99 of the mixture, which
/// rises with the delay.
pub fn tail_delay_us(latency: &Histogram<u64>, pct: f64) -> u64 {
    let p99 = latency.value_at_quantile(0.99) as f64;
    let target = p99 * (1.0 + pct / 100.0);
    let (mut low, mut high) = (0.0_f64, target.max(1.0) * 4.0);
    for _ in 0..60 {
        let mid = (low + high) / 2.0;
        if mixture_quantile(latency, TAIL_SHARE, mid, 0.99) < target {
            low = mid;
        } else {
            high = mid;
        }
    }
    high.round().max(1.0) as u64
}

/// The `q` quantile of requests of `latency` where `share` of them wait `delay` longer.
pub fn mixture_quantile(latency: &Histogram<u64>, share: f64, delay: f64, q: f64) -> f64 {
    let n = latency.len().max(1) as f64;
    let below = |v: f64| -> f64 {
        if v < 0.0 {
            0.0
        } else {
            latency.count_between(0, v as u64) as f64 / n
        }
    };
    let cdf = |v: f64| (1.0 - share) * below(v) + share * below(v - delay);
    let (mut low, mut high) = (0.0_f64, latency.max() as f64 + delay + 1.0);
    for _ in 0..60 {
        let mid = (low + high) / 2.0;
        if cdf(mid) < q {
            low = mid;
        } else {
            high = mid;
        }
    }
    high
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::histogram;

    /// A distribution with a body and a tail: 99% spread over 200 µs to 1.2 ms, 1% over
    /// 1.2 to 3 ms.
    fn served() -> Histogram<u64> {
        let mut h = histogram(3);
        for i in 0..10_000u64 {
            let v = if i % 100 == 0 {
                1_200 + (i / 100) * 18
            } else {
                200 + (i * 7_919 % 10_000) / 10
            };
            h.record(v).unwrap();
        }
        h
    }

    #[test]
    fn the_delay_found_moves_the_predicted_p99_by_the_share_asked() {
        let h = served();
        let p99 = h.value_at_quantile(0.99) as f64;
        for pct in [5.0, 10.0, 15.0, 50.0] {
            let d = tail_delay_us(&h, pct) as f64;
            let moved = mixture_quantile(&h, TAIL_SHARE, d, 0.99);
            let change = 100.0 * (moved - p99) / p99;
            assert!(
                (change - pct).abs() < 1.0,
                "{pct}%: {change:.2}% with {d} µs"
            );
            // The median barely moves.
            let median = h.value_at_quantile(0.5) as f64;
            let moved_median = mixture_quantile(&h, TAIL_SHARE, d, 0.5);
            assert!(
                moved_median < median * 1.05,
                "{moved_median} against {median}"
            );
        }
        assert!(tail_delay_us(&h, 50.0) > tail_delay_us(&h, 15.0));
        assert!(tail_fault(&h, 15.0).starts_with("tail=0.02:"));
    }
}
