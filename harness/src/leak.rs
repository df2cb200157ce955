//! The leak verdict of a soak: the SUT's memory over the measured phases fitted by least
//! squares (slope and R²), and whether it came back during the cool-down after the load.
//! Growth above the scenario's limit counts only when the fit is good (a noisy series with
//! a steep slope is not a leak) and memory did not come back (a cache that empties is not).

use std::time::Instant;

use crate::record::LeakRecord;
use crate::scenario::LeakSpec;

/// Least squares over `(x, y)`: slope, intercept and R² (0 when `y` does not vary).
pub fn fit(points: &[(f64, f64)]) -> Option<(f64, f64, f64)> {
    let n = points.len() as f64;
    if points.len() < 3 {
        return None;
    }
    let mean_x = points.iter().map(|p| p.0).sum::<f64>() / n;
    let mean_y = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mean_x).powi(2)).sum();
    let sxy: f64 = points.iter().map(|p| (p.0 - mean_x) * (p.1 - mean_y)).sum();
    let syy: f64 = points.iter().map(|p| (p.1 - mean_y).powi(2)).sum();
    if sxx <= 0.0 {
        return None;
    }
    let slope = sxy / sxx;
    let intercept = mean_y - slope * mean_x;
    let r2 = if syy > 0.0 {
        (sxy * sxy / (sxx * syy)).clamp(0.0, 1.0)
    } else {
        0.0
    };
    Some((slope, intercept, r2))
}

/// The verdict over `memory` (sample time, bytes) for measured phases from `from` to `to`;
/// samples after `to` are the cool-down. `None` with fewer than three samples in the phases.
pub fn judge(
    spec: &LeakSpec,
    memory: &[(Instant, u64)],
    from: Instant,
    to: Instant,
) -> Option<LeakRecord> {
    let window: Vec<(Instant, u64)> = memory
        .iter()
        .copied()
        .filter(|(at, _)| (from..=to).contains(at))
        .collect();
    let points: Vec<(f64, f64)> = window
        .iter()
        .map(|(at, bytes)| (at.duration_since(from).as_secs_f64(), *bytes as f64))
        .collect();
    let (slope, intercept, r2) = fit(&points)?;
    let (start, end) = (window.first()?.1, window.last()?.1);
    let cooled = !spec.cool_down.is_zero();
    let after = memory
        .iter()
        .rfind(|(at, _)| *at > to)
        .filter(|_| cooled)
        .map(|(_, bytes)| *bytes);
    let span = to.saturating_duration_since(from).as_secs_f64();
    let (fitted_start, fitted_end) = (intercept, intercept + slope * span);
    let grew = fitted_end - fitted_start;
    let returned = after
        .filter(|_| grew > 0.0)
        .map(|a| (a as f64) <= fitted_end - grew / 2.0);
    let growth_per_minute = slope * 60.0;
    let leak = growth_per_minute > spec.max_growth_per_minute as f64
        && r2 >= spec.min_r2
        && returned != Some(true);
    Some(LeakRecord {
        growth_per_minute,
        r_squared: r2,
        samples: window.len(),
        start_bytes: start,
        end_bytes: end,
        after_cool_down_bytes: after,
        returned,
        max_growth_per_minute: spec.max_growth_per_minute,
        min_r2: spec.min_r2,
        leak,
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn spec() -> LeakSpec {
        LeakSpec {
            max_growth_per_minute: 1 << 20,
            min_r2: 0.8,
            cool_down: Duration::from_secs(5),
        }
    }

    /// One sample a second for `seconds`, then the cool-down's, bytes from `bytes(t)`.
    fn series(seconds: u64, bytes: impl Fn(u64) -> u64) -> (Vec<(Instant, u64)>, Instant, Instant) {
        let from = Instant::now();
        let samples = (0..=seconds + 5)
            .map(|t| (from + Duration::from_secs(t), bytes(t)))
            .collect();
        (samples, from, from + Duration::from_secs(seconds))
    }

    #[test]
    fn steady_growth_that_stays_is_a_leak() {
        // 100 KiB a second: 6000 KiB a minute against a 1 MiB limit.
        let (m, from, to) = series(60, |t| 50_000_000 + t.min(60) * 100 * 1024);
        let v = judge(&spec(), &m, from, to).unwrap();
        assert!(v.leak, "{v:?}");
        assert!((v.growth_per_minute / (6000.0 * 1024.0) - 1.0).abs() < 1e-9);
        assert!(v.r_squared > 0.999);
        assert_eq!(v.returned, Some(false));
    }

    #[test]
    fn growth_that_comes_back_is_not_a_leak() {
        let (m, from, to) = series(60, |t| {
            if t <= 60 {
                50_000_000 + t * 100 * 1024
            } else {
                50_000_000
            }
        });
        let v = judge(&spec(), &m, from, to).unwrap();
        assert_eq!(v.returned, Some(true));
        assert!(!v.leak, "{v:?}");
    }

    #[test]
    fn noise_without_a_trend_is_not_a_leak() {
        // Alternating ±8 MiB around a flat level: a poor fit, whatever the slope.
        let (m, from, to) = series(60, |t| 50_000_000 + if t % 2 == 0 { 8 << 20 } else { 0 });
        let v = judge(&spec(), &m, from, to).unwrap();
        assert!(v.r_squared < 0.1, "{v:?}");
        assert!(!v.leak);
    }

    #[test]
    fn a_flat_series_fits_with_r2_zero() {
        let (m, from, to) = series(10, |_| 7);
        let v = judge(&spec(), &m, from, to).unwrap();
        assert_eq!(
            (v.growth_per_minute, v.r_squared, v.leak),
            (0.0, 0.0, false)
        );
        assert_eq!(v.returned, None);
    }
}
