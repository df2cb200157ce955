//! How a run begins when several generator processes share one schedule: the shard of the
//! slots this process sends, the wall-clock instant they all start at, and what the
//! machine's clock says of its own error.

use std::fmt;
use std::ops::Range;
use std::str::FromStr;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

/// The part of the schedule one generator process sends: slot `s` belongs to shard
/// `s % count`. Every process plans the whole schedule and keeps its own slots, so the
/// shards together send exactly the slots (intended times and operations) one process
/// would have sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Shard {
    /// 0-based, below `count` (a Kubernetes Indexed Job's `JOB_COMPLETION_INDEX`).
    pub index: u32,
    /// Shards the schedule is split into.
    pub count: u32,
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

    /// Whether slot `slot` is this shard's.
    pub fn owns(&self, slot: u64) -> bool {
        slot % u64::from(self.count) == u64::from(self.index)
    }

    /// The first slot of the `k`-th of `of` interleaved senders within this shard, and
    /// the stride between its slots: sender `k` sends every `of`-th of the shard's slots.
    pub fn lane(&self, k: u64, of: u64) -> (u64, u64) {
        let count = u64::from(self.count);
        (u64::from(self.index) + count * k, count * of)
    }

    /// This shard's slots in `range`.
    pub fn slots_in(&self, range: Range<u64>) -> u64 {
        let (count, index) = (u64::from(self.count), u64::from(self.index));
        // Slots below `n` owned: those `s < n` with `s % count == index`.
        let below = |n: u64| (n + count - 1 - index) / count;
        below(range.end).saturating_sub(below(range.start))
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
        for count in 1..=5u32 {
            let shards: Vec<Shard> = (0..count).map(|i| Shard::new(i, count).unwrap()).collect();
            for (a, b) in [(0, 0), (0, 1), (0, 17), (3, 29), (7, 8), (100, 1_000)] {
                let owned: Vec<u64> = shards.iter().map(|s| s.slots_in(a..b)).collect();
                assert_eq!(owned.iter().sum::<u64>(), b - a, "{count}: {a}..{b}");
                for (s, n) in shards.iter().zip(&owned) {
                    assert_eq!(*n, (a..b).filter(|&x| s.owns(x)).count() as u64);
                }
            }
            // Lanes of a shard's workers cover its slots once each.
            for shard in &shards {
                let mut seen: Vec<u64> = (0..3)
                    .flat_map(|k| {
                        let (first, stride) = shard.lane(k, 3);
                        (first..60).step_by(stride as usize)
                    })
                    .collect();
                seen.sort_unstable();
                let own: Vec<u64> = (0..60).filter(|&s| shard.owns(s)).collect();
                assert_eq!(seen, own);
            }
        }
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
