use rand::SeedableRng;
use rand::rngs::StdRng;

use super::edivisive::tests::noisy;
use super::*;
use crate::record::Percentiles;

/// A series of points whose P99 is `p99[i]` and whose throughput is steady.
fn points(p99: &[f64], rng: &mut StdRng) -> Vec<Point> {
    let rps = noisy(rng, p99.len(), 1000.0, 0.01);
    p99.iter()
        .zip(rps)
        .enumerate()
        .map(|(i, (&p99, rps))| Point {
            label: format!("r{i:02}"),
            time: None,
            figures: Figures {
                throughput_rps: rps,
                attempts: 10_000,
                latency: Percentiles {
                    p50_us: (p99 / 4.0) as u64,
                    p95_us: (p99 / 2.0) as u64,
                    p99_us: p99 as u64,
                    p999_us: (p99 * 2.0) as u64,
                },
                ..Figures::default()
            },
            machine: Some("amd-epyc-2cpu".into()),
            method_version: 3,
        })
        .collect()
}

fn changes_of(trend: &Trend, metric: Metric) -> &[Change] {
    trend
        .metrics
        .iter()
        .find(|m| m.metric == metric)
        .map_or(&[], |m| m.changes.as_slice())
}

/// A P99 that steps up by 15% halfway, under 3% noise, in 30 series of 30 points: the step
/// is found in every one, where it is, for the worse; throughput, steady, has no change.
#[test]
fn a_p99_step_of_15_percent_is_found_in_every_series_and_nothing_else() {
    let mut rng = StdRng::seed_from_u64(17);
    for series in 0..30 {
        let mut p99 = noisy(&mut rng, 15, 2000.0, 0.03);
        p99.extend(noisy(&mut rng, 15, 2300.0, 0.03));
        let trend = analyse(
            &points(&p99, &mut rng),
            &[Metric::Throughput, Metric::P99],
            &TrendOptions::default(),
        );
        let found = changes_of(&trend, Metric::P99);
        assert_eq!(found.len(), 1, "series {series}: {found:?}");
        let c = &found[0];
        assert!((14..=16).contains(&c.index), "series {series}: {c:?}");
        assert!(c.worse && (8.0..25.0).contains(&c.change_percent), "{c:?}");
        assert!(
            changes_of(&trend, Metric::Throughput).is_empty(),
            "series {series}: {trend:?}"
        );
    }
}

/// Noise alone (5% relative spread, as unchanged reruns of the reference server show on
/// P99): no change reported in any of 30 series of 30 points.
#[test]
fn noise_alone_gives_no_change_in_30_series() {
    let mut rng = StdRng::seed_from_u64(18);
    for series in 0..30 {
        let p99 = noisy(&mut rng, 30, 2000.0, 0.05);
        let trend = analyse(
            &points(&p99, &mut rng),
            &Metric::ALL,
            &TrendOptions::default(),
        );
        let reported: Vec<_> = trend.metrics.iter().flat_map(|m| &m.changes).collect();
        assert!(reported.is_empty(), "series {series}: {reported:?}");
    }
}

/// A step at a change of machine is reported, and marked as such.
#[test]
fn a_step_at_a_change_of_machine_says_so() {
    let mut rng = StdRng::seed_from_u64(19);
    let mut p99 = noisy(&mut rng, 10, 2000.0, 0.02);
    p99.extend(noisy(&mut rng, 10, 3000.0, 0.02));
    let mut pts = points(&p99, &mut rng);
    for p in &mut pts[10..] {
        p.machine = Some("intel-xeon-2cpu".into());
    }
    let trend = analyse(&pts, &[Metric::P99], &TrendOptions::default());
    let found = changes_of(&trend, Metric::P99);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].at, "r10");
    assert_eq!(
        found[0].also_changed.as_deref(),
        Some("machine amd-epyc-2cpu → intel-xeon-2cpu")
    );
}

/// Points that lack a metric are left out of its search, and indexes still name the points.
#[test]
fn points_without_a_metric_are_skipped_and_indexes_still_name_points() {
    let mut rng = StdRng::seed_from_u64(20);
    let mut p99 = noisy(&mut rng, 10, 2000.0, 0.02);
    p99.extend(noisy(&mut rng, 10, 2600.0, 0.02));
    let mut pts = points(&p99, &mut rng);
    for (i, p) in pts.iter_mut().enumerate() {
        p.figures.efficiency = (i % 4 != 3).then_some(if i < 10 { 5000.0 } else { 3000.0 });
    }
    let trend = analyse(&pts, &[Metric::Efficiency], &TrendOptions::default());
    let m = &trend.metrics[0];
    assert_eq!(m.values.iter().filter(|v| v.is_some()).count(), 15);
    assert_eq!(m.changes.len(), 1, "{m:?}");
    assert_eq!(m.changes[0].index, 10);
    assert!(m.changes[0].worse);
}
