//! The report's "Generators" section: the shards that sent a split run's load.

use std::fmt::Write as _;

use super::text::thousands;
use crate::record::RunRecord;
use crate::units::format_us;

/// One row per shard of a split run (a shard's own record has one; a merged record all of
/// them), and how far their schedules may sit apart; nothing for a run of one process.
pub fn shards_section(s: &mut String, r: &RunRecord) {
    let [first, ..] = r.shards.as_slice() else {
        return;
    };
    let _ = writeln!(s, "### Generators\n");
    let count = first.shard.count;
    if r.shards.len() == 1 && count > 1 {
        let _ = writeln!(
            s,
            "This record is shard {} of a run split over {count} generator processes (every {count}th slot of the schedule, every operation in its weight): merge every shard's `record.json` with `erlmcp-perf merge` for the run's figures.\n",
            first.shard
        );
    } else if count > 1 {
        let _ = writeln!(
            s,
            "Merged from {} of {count} shards (each sent every {count}th slot of the schedule): histograms added bucket by bucket, windows aligned by wall-clock second.\n",
            r.shards.len()
        );
    }
    let _ = writeln!(
        s,
        "| Shard | Host | Schedule origin | Late start | Clock | Clients | Planned | OK | Errors | P50 | P99 | Send lag P99 | CPU |"
    );
    let _ = writeln!(
        s,
        "|-------|------|-----------------|------------|-------|---------|---------|----|--------|-----|-----|--------------|-----|"
    );
    for shard in &r.shards {
        let clock = match shard.clock {
            Some(c) if c.synchronized => {
                format!("synced, ±{}", format_us(c.max_error_us.max(0) as u64))
            }
            Some(_) => "not synced".to_string(),
            None => "unknown".to_string(),
        };
        let late = shard
            .late_start_ms
            .map_or("–".to_string(), |ms| format!("{ms} ms"));
        let offset = if shard.window_offset_seconds > 0 {
            format!(" (+{} s)", shard.window_offset_seconds)
        } else {
            String::new()
        };
        let _ = writeln!(
            s,
            "| {} | {} | {}{offset} | {late} | {clock} | {} | {} | {} | {} | {} | {} | {}{} | {:.2} s |",
            shard.shard,
            shard.host.as_deref().unwrap_or("–"),
            shard.started_at,
            shard.clients,
            thousands(shard.planned),
            thousands(shard.ok),
            thousands(shard.failed),
            format_us(shard.p50_us),
            format_us(shard.p99_us),
            format_us(shard.lag_p99_us),
            if shard.kept_schedule {
                ""
            } else {
                " (fell behind)"
            },
            shard.cpu_seconds,
        );
    }
    let unsynced = r
        .shards
        .iter()
        .filter(|s| s.clock.is_none_or(|c| !c.synchronized))
        .count();
    let bound = r
        .shards
        .iter()
        .filter_map(|s| s.clock.filter(|c| c.synchronized))
        .map(|c| c.max_error_us.max(0) as u64)
        .max();
    let _ = writeln!(
        s,
        "\nEach latency is timed on one machine's clock, from its intended send to its answer, so no clock offset enters it; an offset between machines moves a shard's whole schedule against the others' (and its requests between windows) by as much.{}\n",
        match (bound, unsynced) {
            (Some(b), 0) => format!(
                " Every shard's clock was synchronised, to within {} by its kernel's account: the schedules sit at most twice that apart.",
                format_us(b)
            ),
            (_, n) => format!(
                " {n} shard clock(s) were not known to be synchronised: their schedules may sit apart by the clocks' whole offset."
            ),
        }
    );
}
