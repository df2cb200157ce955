//! A run split over three generator processes (`run --shard I/3` with one `--start-at`)
//! against one reference server, merged by `erlmcp-perf merge`: the shards send exactly the
//! one-process schedule, and the merged record's percentiles are those of every request's
//! latency (as `latencies.csv` lists them) to the histogram's precision. And `merge`
//! refuses what does not belong together, naming the file and the reason.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, SystemTime};

use harness::load::{LATENCY_SIGFIG, Schedule, WINDOW_SIGFIG, histogram};
use harness::record::RunRecord;
use harness::sut::SutSpec;
use hdrhistogram::Histogram;

use crate::{BIN, runtime, scenario_file};

const SHARDS: u32 = 3;

/// 3,900 slots: a warm-up second at 600/s, 3 s at 600/s, 2 s ramping to 900/s; four
/// operations, twelve clients (four per shard).
const SCENARIO: &str = r#"scenario:
  name: "Sharded"
  clients: 12
  warmup: 1s
  timeout: 5s
  phases:
    - name: "Steady"
      duration: 3s
      rps: 600
    - name: "Ramp"
      duration: 2s
      rps: 600
      ramp_to: 900
  requests:
    - type: tool_call
      tool: calculator
      weight: 40%
    - type: tool_call
      tool: file_read
      weight: 30%
    - type: resource_list
      weight: 20%
    - type: prompt_list
      weight: 10%
  slo:
    p99: 2s
"#;

/// One line of `latencies.csv`.
#[derive(Debug)]
struct Request {
    slot: u64,
    intended_us: u64,
    phase: String,
    operation: String,
    outcome: String,
    latency_us: u64,
}

fn read_latencies(path: &Path) -> Vec<Request> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("slot,intended_us,phase,operation,outcome,latency_us,service_us")
    );
    lines
        .map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            assert_eq!(f.len(), 7, "{line}");
            Request {
                slot: f[0].parse().unwrap(),
                intended_us: f[1].parse().unwrap(),
                phase: f[2].into(),
                operation: f[3].into(),
                outcome: f[4].into(),
                latency_us: f[5].parse().unwrap(),
            }
        })
        .collect()
}

fn read_record(path: &Path) -> RunRecord {
    serde_json::from_slice(&std::fs::read(path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn merge(args: &[&Path], extra: &[&str]) -> Output {
    Command::new(BIN)
        .arg("merge")
        .args(args)
        .args(extra)
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The value HdrHistogram reports for quantile `q` of `sorted` latencies: the highest
/// value of the histogram bucket of the latency at its rank (`ceil(q n)`, at least 1).
fn exact(sorted: &[u64], q: f64, h: &Histogram<u64>) -> u64 {
    let rank = ((q * sorted.len() as f64).ceil() as usize).max(1);
    let value = sorted[rank - 1];
    let reported = h.highest_equivalent(value);
    // Within the precision of three significant digits.
    assert!(
        reported - value <= value / 1000 + 1,
        "{value} -> {reported}"
    );
    reported
}

/// `(p50, p90, p95, p99, p999, max)` of a record's summary.
fn percentiles(l: &harness::record::LatencySummary) -> [u64; 6] {
    [l.p50_us, l.p90_us, l.p95_us, l.p99_us, l.p999_us, l.max_us]
}

fn expected(latencies: &mut [u64]) -> [u64; 6] {
    latencies.sort_unstable();
    let mut h = histogram(LATENCY_SIGFIG);
    for &v in latencies.iter() {
        h.record(v).unwrap();
    }
    let max = h.highest_equivalent(*latencies.last().unwrap());
    let q = |q| exact(latencies, q, &h);
    [q(0.50), q(0.90), q(0.95), q(0.99), q(0.999), max]
}

#[test]
fn three_shards_send_the_one_process_schedule_and_merge_exactly() {
    let rt = runtime();
    let running = rt
        .block_on(SutSpec::Embedded(crate::refserver(&["--error-rate", "0.02"])).start(None))
        .expect("reference server");
    let url = running.endpoint().to_string();
    let dir = tempfile::tempdir().unwrap();
    let file = scenario_file(dir.path(), "sharded", SCENARIO);
    let out = dir.path().join("out");
    // Every shard opens its sessions, then waits for the shared instant.
    let start_at =
        humantime::format_rfc3339_millis(SystemTime::now() + Duration::from_secs(5)).to_string();
    let children: Vec<_> = (0..SHARDS)
        .map(|i| {
            Command::new(BIN)
                .args(["run", "--quiet", "--latencies"])
                .arg(&file)
                .args(["--url", &url, "--start-at", &start_at])
                .args(["--shard", &format!("{i}/{SHARDS}")])
                .arg("--out")
                .arg(&out)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let output = child.wait_with_output().unwrap();
        // 1: a generator that fell behind on a busy machine; its record is whole all the same.
        assert!(
            matches!(output.status.code(), Some(0 | 1)),
            "{}",
            stderr(&output)
        );
    }
    rt.block_on(running.stop());

    let scenario = harness::scenario::load(&file).unwrap();
    let schedule = Schedule::new(&scenario);
    let shard_dir = |i: u32| out.join(format!("sharded/shard-{i}-of-{SHARDS}"));
    let shards: Vec<RunRecord> = (0..SHARDS)
        .map(|i| read_record(&shard_dir(i).join("record.json")))
        .collect();
    let requests: Vec<Vec<Request>> = (0..SHARDS)
        .map(|i| read_latencies(&shard_dir(i).join("latencies.csv")))
        .collect();

    // The shards together sent every slot of the one-process schedule once, at its
    // intended time, each its own, and began at the shared instant.
    let mut slots: Vec<u64> = requests.iter().flatten().map(|r| r.slot).collect();
    slots.sort_unstable();
    assert_eq!(slots, (0..schedule.len()).collect::<Vec<_>>());
    for (i, (record, requests)) in shards.iter().zip(&requests).enumerate() {
        let shard = harness::load::Shard::new(i as u32, SHARDS).unwrap();
        let plan = harness::load::LoadPlan::new(&scenario).sharded(shard);
        assert!(requests.iter().all(|r| plan.owns(r.slot)));
        // Every operation, in its weight (exactly so every 3 turns of the mix's cycle).
        for entry in &record.operations {
            let sent = requests
                .iter()
                .filter(|r| r.operation == entry.operation)
                .count() as f64;
            let due = requests.len() as f64 * entry.weight_percent / 100.0;
            assert!(
                (sent - due).abs() <= 10.0,
                "{}: {sent} of {due}",
                entry.operation
            );
        }
        for r in requests {
            let at = schedule.slot(r.slot).at;
            assert_eq!(r.intended_us, at.as_micros() as u64, "slot {}", r.slot);
        }
        let shard = &record.shards[0];
        assert_eq!((shard.shard.index, shard.shard.count), (i as u32, SHARDS));
        assert_eq!(record.started_at, start_at);
        assert_eq!(shard.start_at.as_deref(), Some(start_at.as_str()));
        assert_eq!(shard.late_start_ms, Some(0.0), "sessions opened in time");
        assert_eq!(shard.clients, 4);
    }
    let planned = scenario.planned_requests();
    assert_eq!(
        shards.iter().map(|r| r.throughput.planned).sum::<u64>(),
        planned
    );

    // Merged from the directory: a normal record, with every shard listed.
    let merged_dir = dir.path().join("merged");
    let output = merge(
        &[&out.join("sharded")],
        &["-o", merged_dir.to_str().unwrap()],
    );
    assert!(
        matches!(output.status.code(), Some(0 | 1)),
        "{}",
        stderr(&output)
    );
    let merged = read_record(&merged_dir.join("record.json"));
    let report = std::fs::read_to_string(merged_dir.join("report.md")).unwrap();
    assert!(report.contains("Merged from 3 of 3 shards"), "{report}");
    assert_eq!(merged.shards.len(), 3);
    assert_eq!(
        merged.slo.len(),
        1,
        "the scenario's SLO is checked on the merge"
    );

    // Counts: the plan, all of it attempted, and the errors the server injected.
    let measured: Vec<&Request> = requests
        .iter()
        .flatten()
        .filter(|r| r.phase != "warmup")
        .collect();
    let ok: Vec<&&Request> = measured.iter().filter(|r| r.outcome == "ok").collect();
    let t = &merged.throughput;
    assert_eq!((t.planned, t.attempts), (planned, planned));
    assert_eq!(t.ok, ok.len() as u64);
    assert_eq!(merged.errors.total, (measured.len() - ok.len()) as u64);
    assert!(merged.errors.total > 0, "2% injected errors");
    for (phase, segment) in merged.phases.iter().zip(schedule.segments()) {
        assert_eq!(phase.planned, segment.count, "{}", phase.name);
    }

    // Percentiles: the merged histogram's equal those of every latency, overall and per
    // operation.
    let mut all: Vec<u64> = ok.iter().map(|r| r.latency_us).collect();
    assert_eq!(percentiles(&merged.latency), expected(&mut all), "all");
    for op in &merged.operations {
        let mut of_op: Vec<u64> = ok
            .iter()
            .filter(|r| r.operation == op.operation)
            .map(|r| r.latency_us)
            .collect();
        assert_eq!(op.ok, of_op.len() as u64);
        assert_eq!(
            percentiles(&op.latency),
            expected(&mut of_op),
            "{}",
            op.operation
        );
    }
    // Windows: each second's requests, by intended send time, from all three shards.
    let measured_start = schedule.measured_start().as_micros() as u64;
    let mut seconds: BTreeMap<usize, Vec<u64>> = BTreeMap::new();
    for r in &ok {
        let second = ((r.intended_us - measured_start) / 1_000_000) as usize;
        seconds.entry(second).or_default().push(r.latency_us);
    }
    assert_eq!(merged.windows.len(), 5);
    for w in &merged.windows {
        let latencies = &seconds[&w.second];
        assert_eq!(w.ok, latencies.len() as u64, "second {}", w.second);
        let mut h = histogram(WINDOW_SIGFIG);
        for &v in latencies {
            h.record(v).unwrap();
        }
        assert_eq!(w.p99_us, h.value_at_quantile(0.99), "second {}", w.second);
    }
    println!(
        "merged: {} planned, {} ok, {} errors, p50 {} µs, p99 {} µs; shards' p99: {:?} µs",
        t.planned,
        t.ok,
        merged.errors.total,
        merged.latency.p50_us,
        merged.latency.p99_us,
        shards.iter().map(|r| r.latency.p99_us).collect::<Vec<_>>()
    );

    // A normal record: `compare` takes it.
    let merged_record = merged_dir.join("record.json");
    let output = Command::new(BIN)
        .arg("compare")
        .arg("--baseline")
        .arg(&merged_record)
        .arg("--current")
        .arg(&merged_record)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && text.contains("NO REGRESSION"),
        "{text}{}",
        stderr(&output)
    );

    refusals(dir.path(), &shard_dir);
}

/// What `merge` refuses, each with the file and the reason.
fn refusals(dir: &Path, shard_dir: &dyn Fn(u32) -> PathBuf) {
    let record = |i: u32| shard_dir(i).join("record.json");
    let out = dir.join("refused");
    let o = ["-o", out.to_str().unwrap()];
    let refused = |inputs: &[&Path], expect: &[&str]| {
        let output = merge(inputs, &o);
        let err = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{inputs:?}: {err}");
        for e in expect {
            assert!(err.contains(e), "{inputs:?}: expected {e:?} in: {err}");
        }
        assert!(
            !out.join("record.json").exists(),
            "nothing written on a refusal"
        );
    };
    let (r0, r1, r2) = (record(0), record(1), record(2));
    refused(&[&r0, &r1, &r0], &["both hold shard 0/3"]);
    refused(&[&r0, &r1], &["shard 2 of 3 missing", "--allow-missing"]);

    // Doctored copies of shard 2.
    let doctored = |name: &str, edit: &dyn Fn(&mut serde_json::Value)| {
        let mut v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&r2).unwrap()).unwrap();
        edit(&mut v);
        let path = dir.join(format!("{name}.json"));
        std::fs::write(&path, serde_json::to_vec(&v).unwrap()).unwrap();
        path
    };
    let edited = doctored("edited", &|v| {
        v["scenario"]["sha256"] = "0".repeat(64).into()
    });
    refused(
        &[&r0, &r1, &edited],
        &[
            edited.to_str().unwrap(),
            "scenario.sha256",
            "the scenario file's version",
        ],
    );
    let other = doctored("other", &|v| v["scenario"]["name"] = "Other".into());
    refused(
        &[&r0, &r1, &other],
        &["scenario.name is Other", "has Sharded"],
    );
    let four = doctored("four", &|v| v["shards"][0]["count"] = 4.into());
    refused(&[&r0, &r1, &four], &["one of 4 shards", "one of 3"]);
    let moved = doctored("moved", &|v| {
        v["shards"][0]["start_at"] = "2026-01-01T00:00:00.000Z".into();
    });
    refused(
        &[&r0, &r1, &moved],
        &["the shared start instant (shards[].start_at)", "2026-01-01"],
    );
    // Every shard with a server of its own.
    let own: Vec<PathBuf> = [&r0, &r1, &r2]
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let mut v: serde_json::Value =
                serde_json::from_slice(&std::fs::read(r).unwrap()).unwrap();
            v["sut"]["kind"] = "embedded".into();
            let path = dir.join(format!("own-{i}.json"));
            std::fs::write(&path, serde_json::to_vec(&v).unwrap()).unwrap();
            path
        })
        .collect();
    refused(
        &[&own[0], &own[1], &own[2]],
        &["each shard started a server of its own (sut.kind embedded)"],
    );
    let whole = doctored("whole", &|v| {
        v.as_object_mut().unwrap().remove("shards");
    });
    refused(&[&whole, &whole], &["neither was run with --shard I/N"]);
    let old = doctored("old", &|v| {
        v["operations"][1]
            .as_object_mut()
            .unwrap()
            .remove("service_histogram");
    });
    refused(
        &[&r0, &r1, &old],
        &["operations[1] (tools/call:file_read).service_histogram: absent"],
    );

    // A shard that began two seconds after the others: its windows are added two seconds
    // on, by wall-clock time.
    let later = |text: &str| {
        let t = humantime::parse_rfc3339_weak(text).unwrap() + Duration::from_secs(2);
        humantime::format_rfc3339_millis(t).to_string()
    };
    let shifted = doctored("shifted", &|v| {
        let at = later(v["started_at"].as_str().unwrap());
        v["started_at"] = at.clone().into();
        v["shards"][0]["started_at"] = at.into();
    });
    let output = merge(&[&r0, &r1, &shifted], &o);
    assert!(
        matches!(output.status.code(), Some(0 | 1)),
        "{}",
        stderr(&output)
    );
    let aligned = read_record(&out.join("record.json"));
    let [w0, w1, w2] = [&r0, &r1, &r2].map(|p| read_record(p).windows);
    assert_eq!(aligned.windows.len(), w0.len() + 2);
    for (k, w) in aligned.windows.iter().enumerate() {
        let own = |ws: &[harness::record::WindowRecord], k: Option<usize>| {
            k.and_then(|k| ws.get(k)).map_or(0, |w| w.ok)
        };
        let expected = own(&w0, Some(k)) + own(&w1, Some(k)) + own(&w2, k.checked_sub(2));
        assert_eq!(w.ok, expected, "second {k}");
    }
    assert_eq!(aligned.shards[2].window_offset_seconds, 2);
    std::fs::remove_dir_all(&out).unwrap();

    // A partial run, when asked for: two shards' slots.
    let output = merge(&[&r0, &r1], &[o[0], o[1], "--allow-missing"]);
    assert!(
        matches!(output.status.code(), Some(0 | 1)),
        "{}",
        stderr(&output)
    );
    let partial = read_record(&out.join("record.json"));
    let planned: u64 = [&r0, &r1]
        .iter()
        .map(|p| read_record(p).throughput.planned)
        .sum();
    assert_eq!(partial.throughput.planned, planned);
    assert_eq!(partial.shards.len(), 2);
}
