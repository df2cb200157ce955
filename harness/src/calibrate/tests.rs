use super::accuracy::{Injected, true_quantile};
use super::*;
use crate::load::{LATENCY_SIGFIG, histogram};

fn reference(values_us: &[u64]) -> hdrhistogram::Histogram<u64> {
    let mut h = histogram(LATENCY_SIGFIG);
    for &v in values_us {
        h.record(v).expect("auto-resizing");
    }
    h
}

/// 1,000 samples spread evenly over 1..=1000 µs.
fn spread_reference() -> hdrhistogram::Histogram<u64> {
    reference(&(1..=1000).collect::<Vec<_>>())
}

fn close(a: f64, b: f64, tolerance: f64) -> bool {
    (a - b).abs() <= tolerance
}

#[test]
fn a_constant_delay_shifts_every_percentile_by_itself() {
    let h = spread_reference();
    let d = Injected::Constant { delay_us: 5_000.0 };
    for q in [0.5, 0.9, 0.99] {
        let without = h.value_at_quantile(q) as f64;
        let with = true_quantile(&h, &d, q);
        assert!(close(with, without + 5_000.0, 2.0), "q={q}: {with}");
    }
}

#[test]
fn a_uniform_jitter_dominating_the_reference_gives_its_own_quantiles() {
    // Reference all at 1 µs: the truth is 1 + base + q * width.
    let h = reference(&[1; 100]);
    let d = Injected::Uniform {
        base_us: 5_000.0,
        width_us: 5_000.0,
    };
    for q in [0.5, 0.9, 0.99] {
        let t = true_quantile(&h, &d, q);
        assert!(close(t, 1.0 + 5_000.0 + q * 5_000.0, 1.0), "q={q}: {t}");
    }
}

#[test]
fn a_stall_of_a_tenth_of_the_time_puts_p99_near_nine_tenths_of_it() {
    let h = reference(&[1; 100]);
    let d = Injected::Stall {
        duration_us: 1_000_000.0,
        period_us: 10_000_000.0,
    };
    // 90% of requests do not wait; of the 10% that do, the wait is uniform over (0, 1 s].
    assert!(true_quantile(&h, &d, 0.5) < 10.0);
    assert!(close(true_quantile(&h, &d, 0.95), 500_000.0, 100.0));
    assert!(close(true_quantile(&h, &d, 0.99), 900_000.0, 100.0));
}

#[test]
fn fault_specs_name_the_injected_delay() {
    assert_eq!(
        Injected::Constant { delay_us: 360.4 }.faults(),
        "latency=360us"
    );
    assert_eq!(
        Injected::Uniform {
            base_us: 5_000.0,
            width_us: 5_000.0
        }
        .faults(),
        "latency=5000us,jitter=5000us"
    );
    assert_eq!(
        Injected::Stall {
            duration_us: 1e6,
            period_us: 1e7
        }
        .faults(),
        "stall=1000ms/10000ms"
    );
}

fn case(
    name: &str,
    target: Option<Target>,
    injected: f64,
    runs: &[(Status, Status)],
) -> CaseResult {
    CaseResult {
        case: Case {
            name: name.into(),
            faults: None,
            target,
            injected_percent: injected,
            reruns: runs.len(),
        },
        reruns: runs
            .iter()
            .map(|&(status, target_status)| Rerun {
                status,
                target_status: target.map(|_| target_status),
                target_change: Some(injected),
                target_interval: None,
                regressions: Vec::new(),
                warnings: Vec::new(),
                trials: 3,
                borderline: Vec::new(),
            })
            .collect(),
    }
}

#[test]
fn goals_count_false_alarms_and_misses() {
    use Status::{Ok, Regression, Warning};
    let cases = [
        case("unchanged", None, 0.0, &[(Ok, Ok), (Warning, Ok), (Ok, Ok)]),
        case(
            "P99 +10%",
            Some(Target::P99),
            10.0,
            &[(Warning, Warning); 20],
        ),
        case(
            "P99 +15%",
            Some(Target::P99),
            15.0,
            &[(Warning, Warning); 20],
        ),
        case(
            "P99 +50%",
            Some(Target::P99),
            50.0,
            &[(Regression, Regression), (Warning, Warning)],
        ),
        case(
            "error rate 0.5%",
            Some(Target::ErrorRate),
            0.5,
            &[(Regression, Regression)],
        ),
    ];
    let found = goals(&cases);
    let met: Vec<bool> = found.iter().map(|g| g.met).collect();
    // A WARNING is no false alarm; +10% flagged 20 of 20 is enough, +15% only flagged is
    // not caught; +50% passed the gate once; errors caught.
    assert_eq!(met, [true, true, false, false, true], "{found:#?}");

    let alarmed = [case("unchanged", None, 0.0, &[(Ok, Ok), (Regression, Ok)])];
    assert!(!goals(&alarmed)[0].met);
    // 19 of 20 caught is 95%.
    let mut caught = vec![(Regression, Regression); 19];
    caught.push((Warning, Warning));
    let fifteen = [case("P99 +15%", Some(Target::P99), 15.0, &caught)];
    assert!(goals(&fifteen)[0].met);
}

#[test]
fn cases_inject_a_tail_sized_from_the_baseline() {
    let options = StudyOptions {
        scenario: crate::scenario::parse(
            "scenario:\n  name: s\n  phases:\n    - name: p\n      duration: 1s\n      rps: 10\n  requests:\n    - type: resource_list\n      weight: 100%\n",
            std::path::Path::new("s.yml"),
        )
        .expect("valid scenario"),
        server: crate::sut::EmbeddedSpec::new("erlmcp-perf", ["refserver"]),
        run: RunOptions {
            duration_scale: 1.0,
            progress: std::sync::Arc::new(crate::load::Silent),
            machine: Default::default(),
            pacing: Default::default(),
            stop: Default::default(),
            live: None,
            part: Default::default(),
        },
        trials: 3,
        same_run: false,
        reruns: 20,
        detection_reruns: 10,
        gross_reruns: 5,
        slowdowns: vec![5.0, 50.0],
        throughput_cut: 20.0,
        error_rate: 0.5,
        accuracy_rate: None,
        overhead_rates: Vec::new(),
        out: PathBuf::from("unused"),
        replay: false,
    };
    let mut latency = crate::load::histogram(3);
    for v in 1..=2_000u64 {
        latency.record(v).unwrap();
    }
    let cases = cases(&options, &latency);
    let five = super::slowdown::tail_fault(&latency, 5.0);
    let fifty = super::slowdown::tail_fault(&latency, 50.0);
    assert!(five.starts_with("tail=0.02:") && fifty.starts_with("tail=0.02:"));
    assert_ne!(five, fifty);
    let specs: Vec<(&str, Option<&str>, usize)> = cases
        .iter()
        .map(|c| (c.name.as_str(), c.faults.as_deref(), c.reruns))
        .collect();
    assert_eq!(
        specs,
        [
            ("unchanged", None, 20),
            ("P99 +5%", Some(five.as_str()), 10),
            ("P99 +50%", Some(fifty.as_str()), 5),
            ("throughput -20%", Some("error_rate=0.2"), 5),
            ("error rate 0.5%", Some("error_rate=0.005"), 5),
        ]
    );
}

#[test]
fn a_hand_written_reading_is_kept_and_only_it() {
    let old = "# Gate accuracy\n\nold tables\n\n## Reading this study\n\n- what it means\n";
    let kept = super::keep_reading("# Gate accuracy\n\nnew tables\n", old);
    assert_eq!(
        kept,
        "# Gate accuracy\n\nnew tables\n\n## Reading this study\n\n- what it means\n"
    );
    assert_eq!(super::keep_reading("new\n", "no reading here\n"), "new\n");
    // The heading only counts at the start of a line.
    assert_eq!(
        super::keep_reading("new\n", "see `## Reading this study` below\n"),
        "new\n"
    );
}
