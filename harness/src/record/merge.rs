//! [`merge`]: the records of one run's shards made into one record, exactly: histograms
//! added bucket by bucket, counts and errors summed, windows aligned by wall-clock second.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use hdrhistogram::Histogram;

use super::{
    ErrorSummary, GeneratorRecord, Interruption, LatencySummary, MAX_LATE_PERCENT,
    NotificationsRecord, OperationRecord, RecoveryRecord, RunRecord, ShardRecord, WindowRecord,
    decode_histogram, encode_histogram, round1, round2,
};
use crate::load::{LATENCY_SIGFIG, Shard, WINDOW_SIGFIG, histogram};

/// Why records could not be merged. Every message names the file.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error("nothing to merge: name the shards' record.json files")]
    Empty,
    #[error(
        "{}: {field} is {theirs}, but {} has {ours}: merge takes the records of one run's shards, of one scenario, harness and server",
        file.display(), first.display()
    )]
    Mismatch {
        file: PathBuf,
        first: PathBuf,
        field: &'static str,
        ours: String,
        theirs: String,
    },
    #[error(
        "{} and {} both hold shard {shard}: each shard's record is merged once{}",
        a.display(), b.display(),
        if shard.is_whole() { " (neither was run with --shard I/N)" } else { "" }
    )]
    Overlap {
        a: PathBuf,
        b: PathBuf,
        shard: Shard,
    },
    #[error(
        "{}: shard {shard} is one of {} shards, but {} is one of {}",
        file.display(), shard.count, first.display(), count
    )]
    Count {
        file: PathBuf,
        first: PathBuf,
        shard: Shard,
        count: u32,
    },
    #[error(
        "shard{} {} of {count} missing: merge every shard's record, or pass --allow-missing for a partial run",
        if missing.len() > 1 { "s" } else { "" },
        missing.iter().map(u32::to_string).collect::<Vec<_>>().join(", ")
    )]
    Missing { missing: Vec<u32>, count: u32 },
    #[error(
        "{} began {seconds} s after {}, more than its whole run: records of different runs (give every shard the same --start-at)",
        file.display(), first.display()
    )]
    Apart {
        file: PathBuf,
        first: PathBuf,
        seconds: u64,
    },
    #[error(
        "{}: each shard started a server of its own (sut.kind {kind}): the shards of a run must load one server, reached with --url",
        file.display()
    )]
    OwnServers { file: PathBuf, kind: String },
    #[error("{}: {field}: {reason}", file.display())]
    Field {
        file: PathBuf,
        field: String,
        reason: String,
    },
}

/// One input: where it was read from, and the record.
pub type Input = (PathBuf, RunRecord);

/// Merges the records of one run's shards (`run --shard I/N`; a merged record counts as
/// the shards it holds). The result is a normal record: its percentiles are those of all
/// the shards' requests together (to the histograms' precision, as one process's would
/// be), its counts and errors their sums, its windows added second by second of wall-clock
/// time. Its SLO checks are left empty: they are the scenario's, for the caller to check.
///
/// Refused: records of different scenarios (name, file hash, duration scale, mix),
/// measurement methods or servers, shards of different counts, a shard given twice, and
/// missing shards unless `allow_missing`.
pub fn merge(inputs: &[Input], allow_missing: bool) -> Result<RunRecord, MergeError> {
    let ((first_path, first), rest) = inputs.split_first().ok_or(MergeError::Empty)?;
    for (path, record) in rest {
        same_run(first_path, first, path, record)?;
    }
    let shards = shards_of(inputs, allow_missing)?;
    if shards.len() > 1
        && let Some((path, r)) = inputs.iter().find(|(_, r)| r.sut.kind != "url")
    {
        return Err(MergeError::OwnServers {
            file: path.clone(),
            kind: r.sut.kind.clone(),
        });
    }
    let started: Vec<SystemTime> = inputs
        .iter()
        .map(|(path, r)| started_at(path, "started_at", &r.started_at))
        .collect::<Result<_, _>>()?;
    let earliest = started
        .iter()
        .min()
        .copied()
        .unwrap_or(SystemTime::UNIX_EPOCH);
    let offset = |t: SystemTime| -> u64 {
        t.duration_since(earliest)
            .map_or(0, |d| d.as_secs_f64().round() as u64)
    };
    let offsets: Vec<u64> = started.iter().map(|&t| offset(t)).collect();
    let run = inputs
        .iter()
        .map(|(_, r)| r.scenario.warmup_seconds + r.measured_seconds)
        .fold(0.0, f64::max);
    if let Some(((path, _), &seconds)) = inputs
        .iter()
        .zip(&offsets)
        .find(|(_, o)| **o as f64 > run.ceil())
    {
        let first = started
            .iter()
            .position(|&t| t == earliest)
            .map_or(first_path, |i| &inputs[i].0);
        return Err(MergeError::Apart {
            file: path.clone(),
            first: first.clone(),
            seconds,
        });
    }

    let mut merged = first.clone();
    merged.started_at = humantime::format_rfc3339_millis(earliest).to_string();
    merged.measured_seconds = span(inputs, &offsets, |r| r.measured_seconds);
    let (operations, latency, service) = merge_operations(inputs, |r| &r.operations, "operations")?;
    merged.operations = operations;
    merged.steps = merge_operations(inputs, |r| &r.steps, "steps")?.0;
    merged.latency = LatencySummary::of(&latency);
    merged.service_time = LatencySummary::of(&service);
    let overall = sum_errors(inputs.iter().map(|(_, r)| &r.errors));
    let (ok, failed) = (
        inputs.iter().map(|(_, r)| r.throughput.ok).sum::<u64>(),
        inputs.iter().map(|(_, r)| r.throughput.failed).sum::<u64>(),
    );
    merged.errors = error_summary(overall, ok + failed);
    let planned = inputs.iter().map(|(_, r)| r.throughput.planned).sum();
    merged.throughput = super::Throughput::over(merged.measured_seconds, planned, ok, failed);
    merge_phases(&mut merged, inputs)?;
    merged.windows = merge_windows(inputs, &offsets)?;
    merged.generator = merge_generator(inputs, &offsets)?;
    merged.nodes = merge_nodes(inputs, &offsets)?;
    merged.efficiency = merged
        .resources
        .as_ref()
        .filter(|r| r.cpu_seconds > 0.0)
        .map(|r| round1(ok as f64 / r.cpu_seconds));
    merged.slo = Vec::new();
    merged.interrupted = merge_interruptions(inputs, &offsets);
    merged.questions_answered = sum_present(inputs.iter().map(|(_, r)| r.questions_answered));
    merged.sessions_replaced = sum_present(inputs.iter().map(|(_, r)| r.sessions_replaced));
    merged.notifications = merge_notifications(inputs);
    merged.recovery = merge_recovery(inputs, &offsets);
    merged.profiles = Vec::new();
    merged.shards = shards
        .into_iter()
        .map(|(path, mut s)| {
            s.window_offset_seconds =
                offset(started_at(&path, "shards[].started_at", &s.started_at)?);
            Ok(s)
        })
        .collect::<Result<_, MergeError>>()?;
    Ok(merged)
}

/// Refuses `record` if it is not of the same run as `first`.
fn same_run(
    first_path: &Path,
    first: &RunRecord,
    path: &Path,
    record: &RunRecord,
) -> Result<(), MergeError> {
    let mix = |r: &RunRecord| {
        r.scenario
            .mix
            .iter()
            .map(|m| format!("{} {}%", m.operation, m.weight_percent))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let start_at =
        |r: &RunRecord| format!("{:?}", r.shards.first().and_then(|s| s.start_at.clone()));
    let checks: [(&'static str, String, String); 12] = [
        (
            "schema_version",
            first.schema_version.to_string(),
            record.schema_version.to_string(),
        ),
        (
            "scenario.name",
            first.scenario.name.clone(),
            record.scenario.name.clone(),
        ),
        (
            "scenario.sha256 (the scenario file's version)",
            first.scenario.sha256.clone(),
            record.scenario.sha256.clone(),
        ),
        (
            "scenario.duration_scale",
            first.scenario.duration_scale.to_string(),
            record.scenario.duration_scale.to_string(),
        ),
        ("scenario.mix", mix(first), mix(record)),
        (
            "harness.method_version",
            first.harness.method_version.to_string(),
            record.harness.method_version.to_string(),
        ),
        ("sut.kind", first.sut.kind.clone(), record.sut.kind.clone()),
        (
            "sut.version",
            format!("{:?}", first.sut.version),
            format!("{:?}", record.sut.version),
        ),
        (
            "sut.transport",
            first.sut.transport.clone(),
            record.sut.transport.clone(),
        ),
        (
            "sut.faults",
            format!("{:?}", first.sut.faults),
            format!("{:?}", record.sut.faults),
        ),
        (
            "scenario.protocol_version",
            first.scenario.protocol_version.clone(),
            record.scenario.protocol_version.clone(),
        ),
        (
            "the shared start instant (shards[].start_at)",
            start_at(first),
            start_at(record),
        ),
    ];
    for (field, ours, theirs) in checks {
        if ours != theirs {
            return Err(MergeError::Mismatch {
                file: path.to_path_buf(),
                first: first_path.to_path_buf(),
                field,
                ours,
                theirs,
            });
        }
    }
    if first.operations.len() != record.operations.len()
        || first.phases.len() != record.phases.len()
    {
        return Err(MergeError::Mismatch {
            file: path.to_path_buf(),
            first: first_path.to_path_buf(),
            field: "operations and phases",
            ours: format!("{} and {}", first.operations.len(), first.phases.len()),
            theirs: format!("{} and {}", record.operations.len(), record.phases.len()),
        });
    }
    Ok(())
}

/// Every input's shards, checked to be of one count, each once, none missing (unless
/// allowed), in index order.
fn shards_of(
    inputs: &[Input],
    allow_missing: bool,
) -> Result<Vec<(PathBuf, ShardRecord)>, MergeError> {
    let mut held: BTreeMap<u32, (&Path, ShardRecord)> = BTreeMap::new();
    let mut count: Option<(u32, &Path)> = None;
    for (path, record) in inputs {
        let shards = if record.shards.is_empty() {
            vec![ShardRecord::whole(record)]
        } else {
            record.shards.clone()
        };
        for s in shards {
            match count {
                None => count = Some((s.shard.count, path)),
                Some((n, first)) if n != s.shard.count => {
                    return Err(MergeError::Count {
                        file: path.clone(),
                        first: first.to_path_buf(),
                        shard: s.shard,
                        count: n,
                    });
                }
                Some(_) => {}
            }
            if let Some((a, _)) = held.get(&s.shard.index) {
                return Err(MergeError::Overlap {
                    a: a.to_path_buf(),
                    b: path.clone(),
                    shard: s.shard,
                });
            }
            held.insert(s.shard.index, (path, s));
        }
    }
    let count = count.map_or(1, |(n, _)| n);
    let missing: Vec<u32> = (0..count).filter(|i| !held.contains_key(i)).collect();
    if !missing.is_empty() && !allow_missing {
        return Err(MergeError::Missing { missing, count });
    }
    Ok(held
        .into_values()
        .map(|(path, s)| (path.to_path_buf(), s))
        .collect())
}

fn started_at(path: &Path, field: &str, text: &str) -> Result<SystemTime, MergeError> {
    humantime::parse_rfc3339_weak(text).map_err(|e| MergeError::Field {
        file: path.to_path_buf(),
        field: field.into(),
        reason: format!("`{text}` is not an RFC 3339 time: {e}"),
    })
}

/// The latest end, in seconds from the earliest start, of a span each record measures.
fn span(inputs: &[Input], offsets: &[u64], of: impl Fn(&RunRecord) -> f64) -> f64 {
    inputs
        .iter()
        .zip(offsets)
        .map(|((_, r), &o)| o as f64 + of(r))
        .fold(0.0, f64::max)
}

fn add(into: &mut Histogram<u64>, h: &Histogram<u64>) {
    into.add(h).expect("auto-resizing histograms merge");
}

/// Reads a histogram a record holds, or says which file and field is bad.
fn read(path: &Path, field: &str, text: Option<&str>) -> Result<Histogram<u64>, MergeError> {
    let bad = |reason: String| MergeError::Field {
        file: path.to_path_buf(),
        field: field.to_string(),
        reason,
    };
    let text = text.ok_or_else(|| {
        bad("absent (a record of an older harness keeps only percentiles, which cannot be merged exactly: run it again)".into())
    })?;
    decode_histogram(text).map_err(bad)
}

fn sum_errors<'a>(errors: impl Iterator<Item = &'a ErrorSummary>) -> BTreeMap<String, u64> {
    let mut by_class = BTreeMap::new();
    for e in errors {
        for (class, n) in &e.by_class {
            *by_class.entry(class.clone()).or_default() += n;
        }
    }
    by_class
}

fn error_summary(by_class: BTreeMap<String, u64>, attempts: u64) -> ErrorSummary {
    let total = by_class.values().sum();
    ErrorSummary {
        total,
        rate_percent: crate::units::percent(total, attempts),
        by_class,
    }
}

/// Merged operations, and the latency and service-time histograms of them all together.
type MergedOperations = (Vec<OperationRecord>, Histogram<u64>, Histogram<u64>);

/// Operations (or workflow steps) by position, every histogram added; and the latency and
/// service-time histograms of them all together.
fn merge_operations(
    inputs: &[Input],
    list: impl Fn(&RunRecord) -> &Vec<OperationRecord>,
    name: &str,
) -> Result<MergedOperations, MergeError> {
    let (mut all_latency, mut all_service) = (histogram(LATENCY_SIGFIG), histogram(LATENCY_SIGFIG));
    let Some((_, first)) = inputs.first() else {
        return Ok((Vec::new(), all_latency, all_service));
    };
    let mut merged = Vec::new();
    for (i, template) in list(first).iter().enumerate() {
        let (mut latency, mut service) = (histogram(LATENCY_SIGFIG), histogram(LATENCY_SIGFIG));
        let mut first_question: Option<Histogram<u64>> = None;
        let mut op = template.clone();
        (op.attempts, op.ok, op.cancelled) = (0, 0, 0);
        let mut errors = Vec::new();
        for (path, record) in inputs {
            let Some(theirs) = list(record).get(i) else {
                continue;
            };
            let field = |f: &str| format!("{name}[{i}] ({}).{f}", theirs.operation);
            add(
                &mut latency,
                &read(
                    path,
                    &field("latency_histogram"),
                    Some(&theirs.latency_histogram),
                )?,
            );
            add(
                &mut service,
                &read(
                    path,
                    &field("service_histogram"),
                    theirs.service_histogram.as_deref(),
                )?,
            );
            if theirs.first_question.is_some() {
                let h = read(
                    path,
                    &field("first_question_histogram"),
                    theirs.first_question_histogram.as_deref(),
                )?;
                add(
                    first_question.get_or_insert_with(|| histogram(LATENCY_SIGFIG)),
                    &h,
                );
            }
            op.attempts += theirs.attempts;
            op.ok += theirs.ok;
            op.cancelled += theirs.cancelled;
            errors.push(&theirs.errors);
        }
        op.errors = error_summary(sum_errors(errors.into_iter()), op.attempts);
        op.latency = LatencySummary::of(&latency);
        op.service_time = LatencySummary::of(&service);
        op.latency_histogram = encode_histogram(&latency);
        op.service_histogram = Some(encode_histogram(&service));
        op.first_question = first_question.as_ref().map(LatencySummary::of);
        op.first_question_histogram = first_question.as_ref().map(encode_histogram);
        add(&mut all_latency, &latency);
        add(&mut all_service, &service);
        merged.push(op);
    }
    Ok((merged, all_latency, all_service))
}

/// Phases by position: counts summed, latency histograms added.
fn merge_phases(merged: &mut RunRecord, inputs: &[Input]) -> Result<(), MergeError> {
    for (i, phase) in merged.phases.iter_mut().enumerate() {
        let mut latency = histogram(LATENCY_SIGFIG);
        (phase.planned, phase.attempts, phase.ok, phase.failed) = (0, 0, 0, 0);
        for (path, record) in inputs {
            let theirs = &record.phases[i];
            let field = format!("phases[{i}] ({}).latency_histogram", theirs.name);
            add(
                &mut latency,
                &read(path, &field, theirs.latency_histogram.as_deref())?,
            );
            phase.planned += theirs.planned;
            phase.attempts += theirs.attempts;
            phase.ok += theirs.ok;
            phase.failed += theirs.failed;
        }
        phase.achieved_rps = phase.ok as f64 / phase.duration_seconds;
        phase.latency = LatencySummary::of(&latency);
        phase.latency_histogram = Some(encode_histogram(&latency));
    }
    Ok(())
}

/// Windows added by wall-clock second: a record's window `s` is the merged window
/// `s + offset`.
fn merge_windows(inputs: &[Input], offsets: &[u64]) -> Result<Vec<WindowRecord>, MergeError> {
    let mut seconds: BTreeMap<usize, (u64, u64, Histogram<u64>)> = BTreeMap::new();
    for ((path, record), &offset) in inputs.iter().zip(offsets) {
        for w in &record.windows {
            let entry = seconds
                .entry(w.second + offset as usize)
                .or_insert_with(|| (0, 0, histogram(WINDOW_SIGFIG)));
            entry.0 += w.ok;
            entry.1 += w.failed;
            if w.ok > 0 {
                let field = format!("windows[{}].histogram", w.second);
                add(&mut entry.2, &read(path, &field, w.histogram.as_deref())?);
            }
        }
    }
    let last = seconds.keys().next_back().map_or(0, |s| s + 1);
    Ok((0..last)
        .map(|second| {
            let (ok, failed, h) = seconds
                .remove(&second)
                .unwrap_or_else(|| (0, 0, histogram(WINDOW_SIGFIG)));
            let l = LatencySummary::of(&h);
            WindowRecord {
                second,
                ok,
                failed,
                p50_us: l.p50_us,
                p99_us: l.p99_us,
                max_us: l.max_us,
                histogram: (ok > 0).then(|| encode_histogram(&h)),
            }
        })
        .collect())
}

/// The generators together: lag histograms added, late and unsent sends summed, CPU
/// summed over the span of the load.
fn merge_generator(inputs: &[Input], offsets: &[u64]) -> Result<GeneratorRecord, MergeError> {
    let mut lag = histogram(LATENCY_SIGFIG);
    let (mut late, mut never_sent, mut in_flight, mut cpu) = (0, 0, 0, 0.0);
    for (path, record) in inputs {
        let g = &record.generator;
        add(
            &mut lag,
            &read(path, "generator.lag_histogram", g.lag_histogram.as_deref())?,
        );
        late += g.late;
        never_sent += g.never_sent;
        in_flight += g.in_flight_limit;
        cpu += g.cpu_seconds;
    }
    let l = LatencySummary::of(&lag);
    let late_percent = crate::units::percent(late, lag.len());
    let load_seconds = span(inputs, offsets, |r| r.generator.load_seconds);
    Ok(GeneratorRecord {
        lag_p50_us: l.p50_us,
        lag_p99_us: l.p99_us,
        lag_max_us: l.max_us,
        lag_histogram: Some(encode_histogram(&lag)),
        late,
        late_percent,
        late_threshold_ms: inputs[0].1.generator.late_threshold_ms,
        // Kept only if every shard kept its own: one shard far behind is not made good by
        // the others being on time.
        kept_schedule: late_percent < MAX_LATE_PERCENT
            && inputs.iter().all(|(_, r)| r.generator.kept_schedule),
        in_flight_limit: in_flight,
        never_sent,
        cpu_seconds: cpu,
        cpu_cores: cpu / load_seconds.max(1e-3),
        load_seconds,
    })
}

/// Nodes of a clustered SUT by number; their times moved by each record's offset.
fn merge_nodes(inputs: &[Input], offsets: &[u64]) -> Result<Vec<super::NodeRecord>, MergeError> {
    let mut nodes: BTreeMap<u32, (super::NodeRecord, Histogram<u64>, Vec<&ErrorSummary>)> =
        BTreeMap::new();
    for ((path, record), &offset) in inputs.iter().zip(offsets) {
        let shift = |t: Option<f64>| t.map(|t| round2(t + offset as f64));
        for n in &record.nodes {
            let field = format!("nodes[{}].latency_histogram", n.node);
            let h = read(path, &field, n.latency_histogram.as_deref())?;
            let (merged, latency, errors) = nodes.entry(n.node).or_insert_with(|| {
                let mut empty = n.clone();
                (empty.attempts, empty.ok) = (0, 0);
                (
                    empty.first_error_seconds,
                    empty.last_error_seconds,
                    empty.last_ok_seconds,
                ) = (None, None, None);
                (empty, histogram(LATENCY_SIGFIG), Vec::new())
            });
            add(latency, &h);
            errors.push(&n.errors);
            merged.attempts += n.attempts;
            merged.ok += n.ok;
            merged.first_error_seconds = either(
                merged.first_error_seconds,
                shift(n.first_error_seconds),
                f64::min,
            );
            merged.last_error_seconds = either(
                merged.last_error_seconds,
                shift(n.last_error_seconds),
                f64::max,
            );
            merged.last_ok_seconds =
                either(merged.last_ok_seconds, shift(n.last_ok_seconds), f64::max);
        }
    }
    Ok(nodes
        .into_values()
        .map(|(mut node, latency, errors)| {
            node.errors = error_summary(sum_errors(errors.into_iter()), node.attempts);
            node.latency = LatencySummary::of(&latency);
            node.latency_histogram = Some(encode_histogram(&latency));
            node
        })
        .collect())
}

/// Stopped early if any shard was: the measured time covered to the latest shard's stop,
/// the slots due before each shard's stop (or all of a shard's that ran to its end).
fn merge_interruptions(inputs: &[Input], offsets: &[u64]) -> Option<Interruption> {
    inputs.iter().find(|(_, r)| r.interrupted.is_some())?;
    let after = |r: &RunRecord| {
        r.interrupted
            .as_ref()
            .map_or(r.generator.load_seconds, |i| i.after_seconds)
    };
    Some(Interruption {
        after_seconds: round2(span(inputs, offsets, after)),
        measured_seconds_covered: span(inputs, offsets, |r| r.measured_seconds),
        measured_seconds_planned: span(inputs, offsets, |r| {
            r.interrupted
                .as_ref()
                .map_or(r.measured_seconds, |i| i.measured_seconds_planned)
        }),
        planned_before: inputs
            .iter()
            .map(|(_, r)| {
                r.interrupted
                    .as_ref()
                    .map_or(r.throughput.planned, |i| i.planned_before)
            })
            .sum(),
    })
}

/// `f` of both where both are present, else whichever is.
fn either<T>(a: Option<T>, b: Option<T>, f: impl FnOnce(T, T) -> T) -> Option<T> {
    match (a, b) {
        (Some(a), Some(b)) => Some(f(a, b)),
        (a, b) => a.or(b),
    }
}

fn sum_present(values: impl Iterator<Item = Option<u64>>) -> Option<u64> {
    values.fold(None, |sum, v| either(sum, v, |a, b| a + b))
}

/// Stream counts summed; the delivery latency is kept only when one shard listened (a
/// record keeps its percentiles, not its histogram).
fn merge_notifications(inputs: &[Input]) -> Option<NotificationsRecord> {
    let heard: Vec<&NotificationsRecord> = inputs
        .iter()
        .filter_map(|(_, r)| r.notifications.as_ref())
        .collect();
    let (first, rest) = heard.split_first()?;
    let mut merged = (*first).clone();
    for n in rest {
        merged.streams_opened += n.streams_opened;
        merged.streams_dropped += n.streams_dropped;
        merged.received += n.received;
        merged.delivery = None;
    }
    Some(merged)
}

/// Each shard's outages (moved to the merged time line) and its recovery counts summed;
/// the recovery median is kept only for a single shard's.
fn merge_recovery(inputs: &[Input], offsets: &[u64]) -> Option<RecoveryRecord> {
    let mut merged: Option<RecoveryRecord> = None;
    let mut from = 0;
    for ((_, record), &offset) in inputs.iter().zip(offsets) {
        let Some(r) = &record.recovery else { continue };
        let mut r = r.clone();
        for o in &mut r.outages {
            o.from_seconds = round2(o.from_seconds + offset as f64);
            o.answered_again_seconds = o.answered_again_seconds.map(|t| round2(t + offset as f64));
        }
        from += 1;
        merged = Some(match merged {
            None => r,
            Some(mut m) => {
                m.outages.extend(r.outages);
                m.session_lost += r.session_lost;
                m.session_renewals_failed += r.session_renewals_failed;
                m.resends += r.resends;
                m.session_recovery_max_ms = either(
                    m.session_recovery_max_ms,
                    r.session_recovery_max_ms,
                    f64::max,
                );
                m
            }
        });
    }
    let mut merged = merged?;
    if from > 1 {
        merged.session_recovery_p50_ms = None;
        merged
            .outages
            .sort_by(|a, b| a.from_seconds.total_cmp(&b.from_seconds));
    }
    Some(merged)
}
