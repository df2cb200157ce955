//! `erlmcp-perf trend` on series of baseline files: in a directory, and as one file's git
//! history. The series are made from a committed baseline with its P99 set (and sealed
//! again), so the step and the noise are known.

use std::path::Path;
use std::process::{Command, Output};

use harness::store::{Baseline, Document};

use crate::BIN;

const SOURCE: &str = "baselines/reference/amd-epyc-2cpu/baseline.json";

/// The committed baseline with every run's P99 set to `p99` (plus a small spread between
/// its runs), measured at `second` seconds into the day, sealed again.
fn variant(p99: u64, second: usize) -> Baseline {
    let mut b = Baseline::load(Path::new(SOURCE)).expect("committed baseline loads");
    for (i, run) in b.runs.iter_mut().enumerate() {
        run.latency.p99_us = p99 + 3 * i as u64;
    }
    b.figures = harness::record::Figures::median_of(&b.runs);
    b.receipt.timestamp = format!("2026-12-01T00:{:02}:{:02}Z", second / 60, second % 60);
    b.seal();
    b
}

/// P99 for the `i`-th of 16 results: 2,000 µs under a 2% wobble, then +30% from the 9th.
fn p99_at(i: usize, step: bool) -> u64 {
    let wobble = [
        0, 31, -22, 14, -37, 25, -9, 40, -28, 6, 33, -15, 19, -40, 11, -5,
    ][i];
    let level = if step && i >= 8 { 2_600 } else { 2_000 };
    (level + wobble) as u64
}

fn trend(args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("trend")
        .args(args)
        .output()
        .expect("erlmcp-perf runs")
}

#[test]
fn a_p99_step_in_a_directory_of_baselines_is_found_and_fails_with_fail_on_worse() {
    let dir = tempfile::tempdir().unwrap();
    let series = dir.path().join("series");
    std::fs::create_dir(&series).unwrap();
    // Named against their time order, so the order must come from the receipts' times.
    for i in 0..16 {
        variant(p99_at(i, true), i)
            .write(&series.join(format!("{:02}.json", 15 - i)))
            .unwrap();
    }
    std::fs::write(series.join("notes.json"), "{\"not\": \"a result\"}").unwrap();
    let out = dir.path().join("out");
    let run = trend(&[
        series.to_str().unwrap(),
        "--metrics",
        "p99,throughput",
        "--fail-on-worse",
        "--out",
        out.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert_eq!(
        run.status.code(),
        Some(1),
        "{stdout}{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let md = std::fs::read_to_string(out.join("trend.md")).unwrap();
    // The first result of the new regime is the 9th measured, written as 07.json.
    assert!(
        md.contains("| P99 (µs) | `07.json` |") && md.contains("❌ worse"),
        "{md}"
    );
    assert!(md.contains("1 other JSON file(s)"), "{md}");
    assert!(
        !md.contains("| Throughput (req/s) | `"),
        "throughput did not change: {md}"
    );
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("trend.json")).unwrap()).unwrap();
    let p99 = json["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["metric"] == "p99")
        .unwrap();
    assert_eq!(p99["changes"][0]["index"], 8, "{p99}");
    let change = p99["changes"][0]["change_percent"].as_f64().unwrap();
    assert!((25.0..35.0).contains(&change), "{change}");
    let svg = std::fs::read_to_string(out.join("trend-p99.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("#d62728"), "{svg}");
}

#[test]
fn the_git_history_of_a_baseline_without_a_step_has_no_change() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path();
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .current_dir(repo)
            .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
            .args(args)
            .output()
            .expect("git runs");
        assert!(out.status.success(), "git {args:?}: {out:?}");
    };
    git(&["init", "-q"]);
    let file = repo.join("baseline.json");
    for i in 0..12 {
        variant(p99_at(i, false), i).write(&file).unwrap();
        git(&["add", "baseline.json"]);
        git(&["commit", "-q", "-m", &format!("re-record {i}")]);
    }
    let out = repo.join("out");
    let run = trend(&[
        "--git",
        file.to_str().unwrap(),
        "--fail-on-worse",
        "--out",
        out.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert_eq!(
        run.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(stdout.contains("NO CHANGE POINT"), "{stdout}");
    let md = std::fs::read_to_string(out.join("trend.md")).unwrap();
    assert!(md.contains("- **Results:** 12"), "{md}");
}

#[test]
fn bad_input_is_refused_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.json");
    std::fs::write(&broken, "{ not json").unwrap();
    let run = trend(&[SOURCE, broken.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("broken.json is not JSON"), "{stderr}");

    let run = trend(&[SOURCE, "baselines/reference/amd-epyc-2cpu/realistic.json"]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("a trend follows one scenario"), "{stderr}");

    let run = trend(&[SOURCE, SOURCE, "--metrics", "p98"]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("unknown metric \"p98\""), "{stderr}");
}
