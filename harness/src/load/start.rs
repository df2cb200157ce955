//! How a run begins when several generator processes share one schedule: the shard of the
//! slots this process sends, the wall-clock instant they all start at, and what the
//! machine's clock says of its own error.

use std::fmt;
use std::ops::Range;
use std::str::FromStr;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

/// The part of the schedule one generator process sends: slot `s`, at place `p = s % L`
/// of turn `t = ⌊s / L⌋` of the mix's cycle of `L` slots ([`crate::load::Mix`]), belongs
/// to shard `(p + t) % count`: every `count`-th place of each turn, moved on by one place
/// at the next turn, so that a shard does not send only the operations at its places in
/// the cycle (with a cycle of 10 and 10 shards, plain `s % 10` would give each shard one
/// operation) but every place once in `count` turns: every operation in its weight. Every process plans the whole schedule and
/// keeps its own slots, so the shards together send exactly the slots (intended times and
/// operations) one process would have sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "ShardFields")]
pub struct Shard {
    /// 0-based, below `count` (a Kubernetes Indexed Job's `JOB_COMPLETION_INDEX`).
    pub index: u32,
    /// Shards the schedule is split into.
    pub count: u32,
}

/// A shard as a file holds it, checked on reading.
#[derive(Deserialize)]
struct ShardFields {
    index: u32,
    count: u32,
}

impl TryFrom<ShardFields> for Shard {
    type Error = ShardError;

    fn try_from(f: ShardFields) -> Result<Self, ShardError> {
        Self::new(f.index, f.count)
    }
}

impl Default for Shard {
    fn default() -> Self {
        Self::WHOLE
    }
}

/// Why a `--shard` value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShardError {
    #[error("`{0}` is not a shard: write INDEX/COUNT, e.g. 0/3 (indices from 0)")]
    Syntax(String),
    #[error("shard index {index} is not below the shard count {count} (indices run from 0)")]
    Range { index: u32, count: u32 },
}

impl Shard {
    /// The whole schedule in one process.
    pub const WHOLE: Self = Self { index: 0, count: 1 };

    /// Shard `index` of `count`.
    pub fn new(index: u32, count: u32) -> Result<Self, ShardError> {
        if index >= count {
            return Err(ShardError::Range { index, count });
        }
        Ok(Self { index, count })
    }

    /// Whether this is the whole schedule.
    pub fn is_whole(&self) -> bool {
        self.count == 1
    }

    /// Whether slot `slot` is this shard's, the mix's cycle being `cycle` slots long.
    pub fn owns(&self, slot: u64, cycle: u64) -> bool {
        if self.is_whole() {
            return true;
        }
        let cycle = cycle.max(1);
        (slot % cycle + slot / cycle) % u64::from(self.count) == u64::from(self.index)
    }

    /// This shard's slots in `range`.
    pub fn slots_in(&self, range: Range<u64>, cycle: u64) -> u64 {
        if self.is_whole() {
            return range.end.saturating_sub(range.start);
        }
        range.filter(|&s| self.owns(s, cycle)).count() as u64
    }

    /// The sessions this shard opens of the scenario's `clients`: an even split, the
    /// first `clients % count` shards one more, at least one each.
    pub fn clients(&self, clients: usize) -> usize {
        let count = self.count as usize;
        let extra = usize::from((self.index as usize) < clients % count);
        (clients / count + extra).max(1)
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl FromStr for Shard {
    type Err = ShardError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let syntax = || ShardError::Syntax(s.to_string());
        let (index, count) = s.trim().split_once('/').ok_or_else(syntax)?;
        let index = index.trim().parse().map_err(|_| syntax())?;
        let count: u32 = count.trim().parse().map_err(|_| syntax())?;
        if count == 0 {
            return Err(syntax());
        }
        Self::new(index, count)
    }
}

/// The slots one of several senders (the engine's workers) sends of a shard's: every
/// `of`-th of the shard's own slots, from its `k`-th.
#[derive(Debug, Clone)]
pub struct Lane {
    shard: Shard,
    cycle: u64,
    of: u64,
    slot: u64,
}

impl Lane {
    /// Sender `k` of `of` in `shard`, the mix's cycle being `cycle` slots long.
    pub fn new(shard: Shard, cycle: u64, k: u64, of: u64) -> Self {
        let mut lane = Self {
            shard,
            cycle,
            of: of.max(1),
            slot: 0,
        };
        lane.slot = lane.own_from(0);
        for _ in 0..k {
            lane.slot = lane.own_from(lane.slot + 1);
        }
        lane
    }

    /// The lane's current slot.
    pub fn slot(&self) -> u64 {
        self.slot
    }

    /// Moves to the lane's next slot.
    pub fn advance(&mut self) {
        for _ in 0..self.of {
            self.slot = self.own_from(self.slot + 1);
        }
    }

    /// The shard's first slot from `slot` on (at most `count` slots on).
    fn own_from(&self, mut slot: u64) -> u64 {
        while !self.shard.owns(slot, self.cycle) {
            slot += 1;
        }
        slot
    }
}

/// Parses a wall-clock start instant: RFC 3339 (`2026-12-08T10:00:00Z`, fractions
/// allowed).
pub fn parse_start_at(text: &str) -> Result<SystemTime, String> {
    humantime::parse_rfc3339_weak(text.trim()).map_err(|e| {
        format!(
            "`{text}` is not a wall-clock time: {e} (write RFC 3339, e.g. 2026-12-08T10:00:00Z)"
        )
    })
}

/// The machine clock's own account of its error (the kernel's NTP state, `adjtimex`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ClockStatus {
    /// Whether the kernel's clock is synchronised to a time source (NTP, PTP, chrony).
    pub synchronized: bool,
    /// The kernel's bound on the clock's error, microseconds (16 s when unsynchronised).
    pub max_error_us: i64,
    /// Its estimate of the error, microseconds.
    pub est_error_us: i64,
}

impl ClockStatus {
    /// Reads the clock's state without changing it; `None` where the kernel will not say.
    pub fn read() -> Option<Self> {
        // SAFETY: `timex` is plain data; `adjtimex` with `modes == 0` only reads into it.
        let mut timex: libc::timex = unsafe { std::mem::zeroed() };
        let state = unsafe { libc::adjtimex(&mut timex) };
        if state < 0 {
            return None;
        }
        Some(Self {
            synchronized: state != libc::TIME_ERROR && timex.status & libc::STA_UNSYNC == 0,
            max_error_us: timex.maxerror,
            est_error_us: timex.esterror,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_parse_and_refuse_with_the_reason() {
        assert_eq!("2/3".parse(), Ok(Shard { index: 2, count: 3 }));
        assert_eq!(" 0 / 1 ".parse(), Ok(Shard::WHOLE));
        assert_eq!(
            "3/3".parse::<Shard>(),
            Err(ShardError::Range { index: 3, count: 3 })
        );
        for bad in ["3", "a/3", "1/0", "1/-2", ""] {
            let e = bad.parse::<Shard>().unwrap_err();
            assert!(e.to_string().contains("INDEX/COUNT"), "{bad}: {e}");
        }
    }

    #[test]
    fn shards_partition_every_range_exactly() {
        for (count, cycle) in [(1, 10), (2, 10), (3, 10), (5, 7), (10, 10), (10, 9), (4, 1)] {
            let shards: Vec<Shard> = (0..count).map(|i| Shard::new(i, count).unwrap()).collect();
            for (a, b) in [(0, 0), (0, 1), (0, 17), (3, 29), (7, 8), (100, 1_000)] {
                let owned: Vec<u64> = shards.iter().map(|s| s.slots_in(a..b, cycle)).collect();
                assert_eq!(owned.iter().sum::<u64>(), b - a, "{count}: {a}..{b}");
                // Each slot has one owner.
                for x in a..b {
                    assert_eq!(shards.iter().filter(|s| s.owns(x, cycle)).count(), 1);
                }
            }
            // Lanes of a shard's workers cover its slots once each.
            for shard in &shards {
                let mut seen: Vec<u64> = (0..3)
                    .flat_map(|k| {
                        let mut lane = Lane::new(*shard, cycle, k, 3);
                        std::iter::from_fn(move || {
                            let s = lane.slot();
                            lane.advance();
                            Some(s)
                        })
                        .take_while(|&s| s < 200)
                    })
                    .collect();
                seen.sort_unstable();
                let own: Vec<u64> = (0..200).filter(|&s| shard.owns(s, cycle)).collect();
                assert_eq!(seen, own, "{shard} of cycle {cycle}");
            }
        }
    }

    #[test]
    fn every_shard_sends_every_operation_in_its_weight() {
        use crate::load::Mix;
        // A 40/30/20/10 mix is a cycle of 10: ten shards of plain `s % 10` would each send
        // one operation.
        for (weights, count) in [
            (&[40.0, 30.0, 20.0, 10.0][..], 2),
            (&[40.0, 30.0, 20.0, 10.0][..], 5),
            (&[40.0, 30.0, 20.0, 10.0][..], 10),
            (&[40.0, 30.0, 20.0, 10.0][..], 3),
            (&[50.0, 50.0][..], 2),
        ] {
            let mix = Mix::new(weights);
            let cycle = mix.cycle_len() as u64;
            for index in 0..count {
                let shard = Shard::new(index, count).unwrap();
                let mut ops = vec![0u64; weights.len()];
                // `count` turns of the cycle, `count` times over.
                for s in (0..cycle * u64::from(count) * u64::from(count))
                    .filter(|&s| shard.owns(s, cycle))
                {
                    ops[mix.op(s)] += 1;
                }
                let total: u64 = ops.iter().sum();
                let shares: Vec<f64> = ops
                    .iter()
                    .map(|&n| n as f64 * 100.0 / total as f64)
                    .collect();
                assert_eq!(shares, weights, "{shard}");
            }
        }
    }

    #[test]
    fn a_shard_read_from_a_file_is_checked() {
        let ok: Shard = serde_json::from_str(r#"{"index": 1, "count": 3}"#).unwrap();
        assert_eq!(ok, Shard { index: 1, count: 3 });
        let e = serde_json::from_str::<Shard>(r#"{"index": 3, "count": 3}"#).unwrap_err();
        assert!(e.to_string().contains("not below the shard count"), "{e}");
    }

    #[test]
    fn clients_split_evenly_and_each_shard_has_one() {
        let split = |clients, count| -> Vec<usize> {
            (0..count)
                .map(|i| Shard::new(i, count).unwrap().clients(clients))
                .collect()
        };
        assert_eq!(split(10, 3), [4, 3, 3]);
        assert_eq!(split(9, 3), [3, 3, 3]);
        assert_eq!(split(2, 3), [1, 1, 1]);
        assert_eq!(split(50, 1), [50]);
    }

    #[test]
    fn start_instants_parse_or_say_why_not() {
        let t = parse_start_at("2026-12-08T10:00:00.250Z").unwrap();
        let epoch = t.duration_since(SystemTime::UNIX_EPOCH).unwrap();
        assert_eq!(epoch.as_millis() % 1000, 250);
        let e = parse_start_at("tomorrow").unwrap_err();
        assert!(e.contains("RFC 3339"), "{e}");
    }

    #[test]
    fn the_clock_reports_its_state() {
        let status = ClockStatus::read().expect("adjtimex reads on Linux");
        assert!(
            status.max_error_us >= 0 && status.est_error_us >= 0,
            "{status:?}"
        );
    }
}
