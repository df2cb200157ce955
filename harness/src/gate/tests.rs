use std::collections::BTreeMap;

use super::*;

/// The example "Performance Regression Report" of erlmcp's monitoring guide, as figures:
/// 2.0.0 (baseline) against 2.1.0 (current). Error rates are per 10,000 requests there;
/// here over a million requests each, so the counts are large enough to be judged.
fn seed_figures() -> (Figures, Figures) {
    let errors = |timeout: u64, other: u64| {
        BTreeMap::from([
            ("timeout".to_string(), timeout),
            ("connect".to_string(), other),
        ])
    };
    let baseline = Figures {
        throughput_rps: 9847.0,
        attempts: 1_000_000,
        errors: 200,
        errors_by_class: errors(100, 100),
        latency: Percentiles {
            p50_us: 2300,
            p95_us: 8700,
            p99_us: 15200,
            p999_us: 42800,
        },
        memory_peak_bytes: Some(1_800_000_000),
        ..Figures::default()
    };
    let current = Figures {
        throughput_rps: 9354.0,
        attempts: 1_000_000,
        errors: 500,
        errors_by_class: errors(400, 100),
        latency: Percentiles {
            p50_us: 2400,
            p95_us: 9800,
            p99_us: 18700,
            p999_us: 51200,
        },
        memory_peak_bytes: Some(1_944_000_000),
        ..Figures::default()
    };
    (baseline, current)
}

fn row<'a>(v: &'a Verdict, group: &str, name: &str) -> &'a MetricVerdict {
    v.metrics
        .iter()
        .find(|m| m.group == group && m.name == name)
        .unwrap_or_else(|| panic!("no row {group}/{name}"))
}

#[test]
fn seed_report_gives_its_statuses() {
    let (b, c) = seed_figures();
    let v = gate(
        Side::runs(&[b]),
        Side::runs(&[c]),
        &Thresholds::default(),
        Comparison::File,
    );
    let expected = [
        ("Throughput", "RPS", -5.0, Status::Ok),
        ("Latency", "P50", 4.3, Status::Ok),
        ("Latency", "P95", 12.6, Status::Warning),
        ("Latency", "P99", 23.0, Status::Regression),
        ("Latency", "P999", 19.6, Status::Regression),
        ("Error Rate", "Total", 150.0, Status::Regression),
        ("Error Rate", "timeout", 300.0, Status::Regression),
        ("Resources", "Memory (peak)", 8.0, Status::Ok),
    ];
    for (group, name, change, status) in expected {
        let m = row(&v, group, name);
        let got = m.change_percent.unwrap();
        assert!(
            (got - change).abs() < 0.05,
            "{name}: change {got}, want {change}"
        );
        assert_eq!(m.status, status, "{name}: {m:?}");
    }
    assert_eq!(row(&v, "Error Rate", "connect").status, Status::Ok);
    assert_eq!(v.status, Status::Regression);
}

#[test]
fn thresholds_follow_erlmcps_rule() {
    let cases = [
        (0.0, Status::Ok),
        (10.0, Status::Ok),
        (10.01, Status::Warning),
        (15.0, Status::Warning),
        (15.01, Status::Regression),
        (-40.0, Status::Ok),
    ];
    for (change, status) in cases {
        assert_eq!(classify(change, 10.0), status, "{change}");
    }
    // A per-metric threshold moves both bounds.
    let t = Thresholds {
        default: 10.0,
        per_metric: BTreeMap::from([("p99".into(), 20.0)]),
        max_trials: None,
    };
    assert_eq!(classify(23.0, t.of("p99")), Status::Warning);
    assert_eq!(classify(23.0, t.of("p95")), Status::Regression);
}

fn runs(p99s: &[u64]) -> Vec<Figures> {
    p99s.iter()
        .map(|&p99| Figures {
            throughput_rps: 1000.0,
            attempts: 30_000,
            latency: Percentiles {
                p50_us: 1000,
                p95_us: 2000,
                p99_us: p99,
                p999_us: 2 * p99,
            },
            ..Figures::default()
        })
        .collect()
}

#[test]
fn separated_trials_confirm_a_regression() {
    let v = gate(
        Side::runs(&runs(&[1000, 1050, 980])),
        Side::runs(&runs(&[1300, 1350, 1280])),
        &Thresholds::default(),
        Comparison::SameRun,
    );
    let p99 = row(&v, "Latency", "P99");
    assert_eq!(p99.status, Status::Regression, "{p99:?}");
    assert!(p99.noise.starts_with("p=0.050"), "{}", p99.noise);
    assert_eq!(v.status, Status::Regression);
}

#[test]
fn overlapping_trials_are_within_noise() {
    // Median +30%, but one current run is better than a baseline run.
    let v = gate(
        Side::runs(&runs(&[1000, 1400, 980])),
        Side::runs(&runs(&[1300, 1350, 1280])),
        &Thresholds::default(),
        Comparison::SameRun,
    );
    let p99 = row(&v, "Latency", "P99");
    assert_eq!(p99.threshold_status, Status::Regression);
    assert_eq!(p99.status, Status::Warning, "{p99:?}");
    assert!(p99.noise.ends_with("within noise"), "{}", p99.noise);
    assert_eq!(v.status, Status::Warning);
}

#[test]
fn against_a_file_every_run_must_be_worse_by_more_than_the_threshold() {
    // Median +36%, every current run worse than every baseline run, but not every one by
    // more than 10%: 1460 is within 10% of the baseline's 1400.
    let noisy = runs(&[1000, 1400, 1100]);
    let current = runs(&[1500, 1460, 1480]);
    let v = gate(
        Side::runs(&noisy),
        Side::runs(&current),
        &Thresholds::default(),
        Comparison::File,
    );
    let p99 = row(&v, "Latency", "P99");
    assert_eq!(p99.status, Status::Warning, "{p99:?}");
    assert!(p99.noise.contains("beyond 10%"), "{}", p99.noise);
    // In a same-run A/B the plain test decides: every current run is worse.
    let v = gate(
        Side::runs(&noisy),
        Side::runs(&current),
        &Thresholds::default(),
        Comparison::SameRun,
    );
    assert_eq!(row(&v, "Latency", "P99").status, Status::Regression);
    // The same change against quiet runs is a regression.
    let quiet = runs(&[1000, 1020, 1040]);
    let v = gate(
        Side::runs(&quiet),
        Side::runs(&current),
        &Thresholds::default(),
        Comparison::File,
    );
    assert_eq!(row(&v, "Latency", "P99").status, Status::Regression);
}

#[test]
fn few_errors_are_judged_by_counts() {
    // 0.02% -> 0.05% over 10,000 requests: +150%, but 2 vs 5 errors is no evidence.
    let mut b = runs(&[1000]);
    let mut c = runs(&[1000]);
    b[0].attempts = 10_000;
    c[0].attempts = 10_000;
    b[0].errors = 2;
    c[0].errors = 5;
    let v = gate(
        Side::runs(&b),
        Side::runs(&c),
        &Thresholds::default(),
        Comparison::File,
    );
    let total = row(&v, "Error Rate", "Total");
    assert_eq!(total.threshold_status, Status::Regression);
    assert_eq!(total.status, Status::Warning, "{total:?}");
    // Errors where there were none: a change with no ratio.
    c[0].errors = 60;
    let v = gate(
        Side::runs(
            &b.iter()
                .map(|f| Figures {
                    errors: 0,
                    ..f.clone()
                })
                .collect::<Vec<_>>(),
        ),
        Side::runs(&c),
        &Thresholds::default(),
        Comparison::File,
    );
    let total = row(&v, "Error Rate", "Total");
    assert_eq!(total.change_percent, None);
    assert_eq!(total.status, Status::Regression);
}

#[test]
fn unchanged_runs_pass() {
    let v = gate(
        Side::runs(&runs(&[1000, 1010, 990])),
        Side::runs(&runs(&[1005, 995, 1012])),
        &Thresholds::default(),
        Comparison::File,
    );
    assert_eq!(v.status, Status::Ok, "{:#?}", v.metrics);
}

#[test]
fn tails_need_enough_samples_to_be_gated() {
    // 300 requests a run: P999 is the slowest request, P99 the third slowest.
    let few = |p99: u64| {
        let mut r = runs(&[p99, p99 + 10, p99 + 20]);
        for f in &mut r {
            f.attempts = 300;
        }
        r
    };
    let v = gate(
        Side::runs(&few(1000)),
        Side::runs(&few(2000)),
        &Thresholds::default(),
        Comparison::SameRun,
    );
    for name in ["P99", "P999"] {
        let m = row(&v, "Latency", name);
        assert_eq!(m.threshold_status, Status::Regression, "{m:?}");
        assert_eq!(m.status, Status::Ok, "{m:?}");
        assert!(m.noise.starts_with("not gated: 300 samples"), "{}", m.noise);
    }
    assert_eq!(row(&v, "Latency", "P95").status, Status::Ok);
    assert_eq!(samples_needed("p99"), 1_000);
}

/// Three runs a side: `base` latencies and efficiency, the current ones `slower` times
/// the latency and `1 / slower` the efficiency, with a little spread.
fn runs_scaled(slower: f64) -> (Vec<Figures>, Vec<Figures>) {
    let run = |p50: f64, efficiency: f64| Figures {
        throughput_rps: 1000.0,
        attempts: 30_000,
        latency: Percentiles {
            p50_us: p50 as u64,
            p95_us: (p50 * 3.0) as u64,
            p99_us: (p50 * 5.0) as u64,
            p999_us: (p50 * 8.0) as u64,
        },
        efficiency: Some(efficiency),
        memory_peak_bytes: Some(20_000_000),
        ..Figures::default()
    };
    let spread = [0.98, 1.0, 1.02];
    let base = spread.iter().map(|s| run(300.0 * s, 6000.0 * s)).collect();
    let cur = spread
        .iter()
        .map(|s| run(300.0 * s * slower, 6000.0 * s / slower))
        .collect();
    (base, cur)
}

fn other_machine(cpu_slowdown: f64, loopback_slowdown: f64) -> Comparison {
    Comparison::OtherMachine(Across {
        cpu_slowdown,
        loopback_slowdown,
        factor: CROSS_MACHINE_FACTOR,
        same_class: false,
    })
}

#[test]
fn another_machine_alone_does_not_fail_the_gate() {
    // 1.85x slower and less efficient: a REGRESSION against a file of this machine class,
    // a WARNING that names the machines' difference against another class's.
    let (base, cur) = runs_scaled(1.85);
    let same = gate(
        Side::runs(&base),
        Side::runs(&cur),
        &Thresholds::default(),
        Comparison::File,
    );
    assert_eq!(same.status, Status::Regression);
    let across = gate(
        Side::runs(&base),
        Side::runs(&cur),
        &Thresholds::default(),
        other_machine(1.0, 1.0),
    );
    assert_eq!(across.status, Status::Warning);
    let p50 = row(&across, "Latency", "P50");
    assert_eq!(p50.threshold_status, Status::Regression);
    assert!(
        p50.noise
            .contains("recorded on another machine, not beyond 2.5x"),
        "{}",
        p50.noise
    );
    // A CPU probe that says the machine is that much slower explains the efficiency
    // entirely; latencies are left to the factor (the loopback probe is too noisy).
    let explained = gate(
        Side::runs(&base),
        Side::runs(&cur),
        &Thresholds::default(),
        other_machine(1.85, 1.85),
    );
    let efficiency = row(&explained, "Resources", "Efficiency (msg per CPU-second)");
    assert_eq!(
        efficiency.status,
        Status::Ok,
        "{}",
        verdict_tables_for_test(&explained)
    );
    assert_eq!(explained.status, Status::Warning);
    // A probe that says this machine is faster never makes the rule stricter.
    let faster = gate(
        Side::runs(&base),
        Side::runs(&cur),
        &Thresholds::default(),
        other_machine(0.25, 0.25),
    );
    assert_eq!(
        faster.status,
        Status::Warning,
        "{}",
        verdict_tables_for_test(&faster)
    );
}

#[test]
fn another_machine_still_fails_a_change_beyond_the_factor() {
    let (base, cur) = runs_scaled(4.0);
    let v = gate(
        Side::runs(&base),
        Side::runs(&cur),
        &Thresholds::default(),
        other_machine(1.0, 1.0),
    );
    assert_eq!(v.status, Status::Regression);
    assert_eq!(row(&v, "Latency", "P50").status, Status::Regression);
    assert_eq!(
        row(&v, "Resources", "Efficiency (msg per CPU-second)").status,
        Status::Regression
    );
    // Efficiency scaled by a CPU probe that says this machine is 2x slower: 4x is within
    // the factor; latency is not scaled, and 4x still fails.
    let v = gate(
        Side::runs(&base),
        Side::runs(&cur),
        &Thresholds::default(),
        other_machine(2.0, 2.0),
    );
    assert_eq!(
        row(&v, "Resources", "Efficiency (msg per CPU-second)").status,
        Status::Warning
    );
    assert_eq!(row(&v, "Latency", "P50").status, Status::Regression);
    // Errors do not depend on the machine: gated as always.
    let (mut base, mut cur) = runs_scaled(1.0);
    for f in &mut base {
        f.errors = 3;
    }
    for f in &mut cur {
        f.errors = 300;
    }
    let v = gate(
        Side::runs(&base),
        Side::runs(&cur),
        &Thresholds::default(),
        other_machine(1.0, 1.0),
    );
    assert_eq!(row(&v, "Error Rate", "Total").status, Status::Regression);
}

#[test]
fn comparison_follows_the_machine_class_and_host() {
    use crate::machine::{Machine, Probe};
    let machine = |class: &str, host: Option<&str>, cpu: f64| Machine {
        class: class.into(),
        cpu_model: "test".into(),
        cpu_count: 2,
        kernel: "6.1".into(),
        host: host.map(str::to_string),
        probe: Some(Probe {
            cpu_ns_per_million: cpu,
            loopback_rtt_us: 20.0,
        }),
    };
    let a = machine("a-2cpu", Some("boot-1"), 1e6);
    assert_eq!(Comparison::of_file(Some(&a), Some(&a)), Comparison::File);
    let b = machine("b-2cpu", Some("boot-1"), 1.5e6);
    match Comparison::of_file(Some(&a), Some(&b)) {
        Comparison::OtherMachine(x) => {
            assert_eq!((x.cpu_slowdown, x.loopback_slowdown), (1.5, 1.0));
            assert!(!x.same_class);
        }
        other => panic!("{other:?}"),
    }
    // Another host or boot of the class, or a baseline that names no host: another machine
    // of this class.
    for other in [
        machine("a-2cpu", Some("boot-2"), 1e6),
        machine("a-2cpu", None, 1e6),
    ] {
        match Comparison::of_file(Some(&other), Some(&a)) {
            Comparison::OtherMachine(x) => assert!(x.same_class && x.factor > 1.0),
            c => panic!("{c:?}"),
        }
    }
    // A baseline without a fingerprint is another machine, with no scaling.
    assert!(matches!(
        Comparison::of_file(None, Some(&b)),
        Comparison::OtherMachine(Across {
            cpu_slowdown: 1.0,
            ..
        })
    ));
    assert_eq!(Comparison::of_file(Some(&a), None), Comparison::File);
}

fn verdict_tables_for_test(v: &Verdict) -> String {
    v.metrics
        .iter()
        .map(|m| format!("{} {} {:?} {}\n", m.group, m.name, m.status, m.noise))
        .collect()
}

/// Runs of 10 one-second windows of 3,000 requests each between `low_us` and about twice
/// that, with `slow` of each window's requests `slow_us` later: their figures and windows.
fn windowed_runs(lows: &[u64], slow: f64, slow_us: u64) -> (Vec<Figures>, Vec<Vec<WindowRecord>>) {
    use crate::load::{WINDOW_SIGFIG, histogram};
    use crate::record::encode_histogram;
    let mut figures = Vec::new();
    let mut windows = Vec::new();
    for &low in lows {
        let mut all = histogram(3);
        let run: Vec<WindowRecord> = (0..10)
            .map(|second| {
                let mut h = histogram(WINDOW_SIGFIG);
                for i in 0..3000u64 {
                    let mut v = low + (i * 7919 % 3000) * low / 3000;
                    if (i as f64) < slow * 3000.0 {
                        v += slow_us;
                    }
                    h.record(v).unwrap();
                    all.record(v).unwrap();
                }
                WindowRecord {
                    second,
                    ok: 3000,
                    failed: 0,
                    p50_us: h.value_at_quantile(0.5),
                    p99_us: h.value_at_quantile(0.99),
                    max_us: h.max(),
                    histogram: Some(encode_histogram(&h)),
                }
            })
            .collect();
        let q = |q: f64| all.value_at_quantile(q);
        figures.push(Figures {
            throughput_rps: 3000.0,
            attempts: 30_000,
            latency: Percentiles {
                p50_us: q(0.5),
                p95_us: q(0.95),
                p99_us: q(0.99),
                p999_us: q(0.999),
            },
            ..Figures::default()
        });
        windows.push(run);
    }
    (figures, windows)
}

#[test]
fn a_tail_regression_is_caught_on_windows_and_one_quiet_run_makes_it_borderline() {
    // 2% of requests 2 ms late in every current run: the windows confirm it, with an
    // interval beyond T.
    let (b, bw) = windowed_runs(&[1000, 1000, 1000], 0.0, 0);
    let (c, cw) = windowed_runs(&[1000; 9], 0.02, 2000);
    let v = gate(
        Side::with_windows(&b, &bw),
        Side::with_windows(&c[..3], &cw[..3]),
        &Thresholds::default(),
        Comparison::File,
    );
    let p99 = row(&v, "Latency", "P99");
    assert_eq!(p99.status, Status::Regression, "{p99:?}");
    let [low, high] = p99.ci_percent.expect("judged on windows");
    assert!(low > 10.0 && high >= p99.change_percent.unwrap(), "{p99:?}");
    assert!(
        p99.noise.contains("30 vs 30 windows") && p99.noise.contains("Holm over 4"),
        "{}",
        p99.noise
    );
    // The median is untouched and stays OK.
    assert_eq!(row(&v, "Latency", "P50").status, Status::Ok);
    assert!(v.borderline().is_empty(), "{:?}", v.borderline());

    // One current run of three without it: runs are drawn in the bootstrap, so the quiet
    // run widens the interval and the verdict is borderline, not a REGRESSION yet.
    let (quiet, quiet_w) = windowed_runs(&[1000], 0.0, 0);
    let (mut c3, mut cw3) = (c[..3].to_vec(), cw[..3].to_vec());
    c3[2] = quiet[0].clone();
    cw3[2] = quiet_w[0].clone();
    let v = gate(
        Side::with_windows(&b, &bw),
        Side::with_windows(&c3, &cw3),
        &Thresholds::default(),
        Comparison::File,
    );
    let p99 = row(&v, "Latency", "P99");
    assert_eq!(p99.threshold_status, Status::Regression, "{p99:?}");
    assert_eq!(p99.status, Status::Warning, "{p99:?}");
    assert!(
        v.borderline().contains(&"Latency P99".to_string()),
        "{:?}",
        v.borderline()
    );
    // Six more trials that show it decide it.
    c3.extend_from_slice(&c[3..]);
    cw3.extend_from_slice(&cw[3..]);
    let v = gate(
        Side::with_windows(&b, &bw),
        Side::with_windows(&c3, &cw3),
        &Thresholds::default(),
        Comparison::File,
    );
    assert_eq!(row(&v, "Latency", "P99").status, Status::Regression);
}

#[test]
fn unchanged_windows_pass_and_another_machine_is_judged_on_runs() {
    let (b, bw) = windowed_runs(&[1000, 1010, 990], 0.01, 100);
    let (c, cw) = windowed_runs(&[1005, 995, 1000], 0.01, 100);
    let v = gate(
        Side::with_windows(&b, &bw),
        Side::with_windows(&c, &cw),
        &Thresholds::default(),
        Comparison::File,
    );
    assert_eq!(v.status, Status::Ok, "{:#?}", v.metrics);
    assert!(row(&v, "Latency", "P99").ci_percent.is_some());
    let across = gate(
        Side::with_windows(&b, &bw),
        Side::with_windows(&c, &cw),
        &Thresholds::default(),
        other_machine(1.0, 1.0),
    );
    assert!(row(&across, "Latency", "P99").ci_percent.is_none());
    // A baseline without windows (recorded before they were kept): judged on runs.
    let old = gate(
        Side::runs(&b),
        Side::with_windows(&c, &cw),
        &Thresholds::default(),
        Comparison::File,
    );
    assert!(row(&old, "Latency", "P99").ci_percent.is_none());
}

#[test]
fn an_unconfirmed_regression_is_borderline_and_a_confirmed_one_is_not() {
    // Median +30% but one current run better than a baseline run: more trials could tell.
    let v = gate(
        Side::runs(&runs(&[1000, 1400, 980])),
        Side::runs(&runs(&[1300, 1350, 1280])),
        &Thresholds::default(),
        Comparison::SameRun,
    );
    assert_eq!(v.borderline(), ["Latency P99", "Latency P999"]);
    let v = gate(
        Side::runs(&runs(&[1000, 1050, 980])),
        Side::runs(&runs(&[1300, 1350, 1280])),
        &Thresholds::default(),
        Comparison::SameRun,
    );
    assert!(v.borderline().is_empty());
    // Against another machine more trials cannot help.
    let (base, cur) = runs_scaled(1.85);
    let across = gate(
        Side::runs(&base),
        Side::runs(&cur),
        &Thresholds::default(),
        other_machine(1.0, 1.0),
    );
    assert_eq!(across.status, Status::Warning);
    assert!(across.borderline().is_empty());
}
