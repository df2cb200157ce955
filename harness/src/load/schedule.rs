//! The open-model schedule: every request's intended send time, from the phases' rates.

use std::time::Duration;

use crate::scenario::Scenario;

/// A stretch of the schedule at one constant or linearly ramping rate.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    /// Phase name, or `warmup`.
    pub name: String,
    /// Index of the measured phase, `None` for the warm-up.
    pub phase: Option<usize>,
    /// Offset of the segment's start from the run's start.
    pub start: Duration,
    pub duration: Duration,
    /// Rate at the start and at the end, requests per second.
    pub rps: f64,
    pub rps_end: f64,
    /// Global index of the segment's first slot.
    pub first_slot: u64,
    /// Slots in the segment.
    pub count: u64,
}

impl Segment {
    /// Offset from the segment's start of its `k`-th request: the time at which the
    /// cumulative count of the rate reaches `k`.
    pub fn offset_of(&self, k: u64) -> Duration {
        let k = k as f64;
        let t = self.duration.as_secs_f64();
        let (r0, r1) = (self.rps, self.rps_end);
        let secs = if (r1 - r0).abs() < 1e-9 {
            k / r0
        } else {
            // N(t) = r0 t + a t^2 with a = (r1 - r0) / 2T; solve N(t) = k in the
            // cancellation-free form t = 2k / (r0 + sqrt(r0^2 + 4ak)).
            let a = (r1 - r0) / (2.0 * t);
            let disc = (r0 * r0 + 4.0 * a * k).max(0.0);
            2.0 * k / (r0 + disc.sqrt())
        };
        Duration::from_secs_f64(secs.clamp(0.0, t))
    }

    /// The rate at `offset` into the segment.
    pub fn rate_at(&self, offset: Duration) -> f64 {
        let f = (offset.as_secs_f64() / self.duration.as_secs_f64()).clamp(0.0, 1.0);
        self.rps + (self.rps_end - self.rps) * f
    }
}

/// Intended send times of a whole run: the warm-up (if any), then every phase.
#[derive(Debug, Clone)]
pub struct Schedule {
    segments: Vec<Segment>,
    total: u64,
}

/// Where one slot falls.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Slot {
    /// Offset of the intended send time from the run's start.
    pub at: Duration,
    /// Index into [`Schedule::segments`].
    pub segment: usize,
}

impl Schedule {
    /// Lays out the scenario's warm-up and phases back to back.
    pub fn new(scenario: &Scenario) -> Self {
        let mut segments = Vec::new();
        let mut start = Duration::ZERO;
        let mut first_slot = 0;
        let mut push = |name: &str, phase, duration: Duration, rps: f64, rps_end: f64| {
            let count = ((rps + rps_end) / 2.0 * duration.as_secs_f64() + 1e-9).floor() as u64;
            segments.push(Segment {
                name: name.to_string(),
                phase,
                start,
                duration,
                rps,
                rps_end,
                first_slot,
                count,
            });
            start += duration;
            first_slot += count;
        };
        if let Some(first) = scenario.phases.first()
            && !scenario.warmup.is_zero()
        {
            push("warmup", None, scenario.warmup, first.rps, first.rps);
        }
        for (i, p) in scenario.phases.iter().enumerate() {
            push(&p.name, Some(i), p.duration, p.rps, p.rps_end);
        }
        Self {
            segments,
            total: first_slot,
        }
    }

    /// All segments, in order.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// Requests in the whole schedule.
    pub fn len(&self) -> u64 {
        self.total
    }

    /// Whether the schedule sends nothing.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// Length of the whole schedule.
    pub fn duration(&self) -> Duration {
        self.segments
            .last()
            .map_or(Duration::ZERO, |s| s.start + s.duration)
    }

    /// Offset at which measurement starts (after the warm-up).
    pub fn measured_start(&self) -> Duration {
        self.segments
            .iter()
            .find(|s| s.phase.is_some())
            .map_or(Duration::ZERO, |s| s.start)
    }

    /// The intended time and segment of slot `s` (`s < len()`).
    pub fn slot(&self, s: u64) -> Slot {
        let segment = self
            .segments
            .partition_point(|seg| seg.first_slot + seg.count <= s)
            .min(self.segments.len().saturating_sub(1));
        let seg = &self.segments[segment];
        Slot {
            at: seg.start + seg.offset_of(s - seg.first_slot),
            segment,
        }
    }

    /// The segment running at `offset` from the start, if any.
    pub fn segment_at(&self, offset: Duration) -> Option<usize> {
        self.segments
            .iter()
            .position(|s| offset >= s.start && offset < s.start + s.duration)
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::scenario::parse;

    fn schedule(phases: &str, warmup: &str) -> Schedule {
        let text = format!(
            "scenario:\n  name: t\n  warmup: {warmup}\n  phases:\n{phases}  requests:\n    - type: ping\n      weight: 100%\n"
        );
        Schedule::new(&parse(&text, Path::new("t.yml")).unwrap())
    }

    fn ms(d: Duration) -> f64 {
        d.as_secs_f64() * 1e3
    }

    #[test]
    fn constant_rate_spaces_slots_evenly() {
        let s = schedule("    - name: a\n      duration: 10s\n      rps: 100\n", "0s");
        assert_eq!(s.len(), 1000);
        assert_eq!(s.slot(0).at, Duration::ZERO);
        assert!((ms(s.slot(1).at) - 10.0).abs() < 1e-6);
        assert!((ms(s.slot(999).at) - 9990.0).abs() < 1e-6);
        assert_eq!(s.duration(), Duration::from_secs(10));
    }

    #[test]
    fn ramp_follows_the_rate_line() {
        let s = schedule(
            "    - name: r\n      duration: 10s\n      rps: 100\n      ramp_to: 300\n",
            "0s",
        );
        // Area under 100 -> 300 over 10 s.
        assert_eq!(s.len(), 2000);
        // N(5 s) = 100*5 + (200/20)*25 = 750.
        assert!(
            (ms(s.slot(750).at) - 5000.0).abs() < 0.01,
            "{:?}",
            s.slot(750).at
        );
        // Gaps shrink as the rate rises: 1/100 s at the start, 1/300 s at the end.
        let gap = |k: u64| ms(s.slot(k + 1).at) - ms(s.slot(k).at);
        assert!((gap(0) - 10.0).abs() < 0.1, "{}", gap(0));
        assert!((gap(1998) - 3.33).abs() < 0.05, "{}", gap(1998));
        assert!((1..1998).all(|k| gap(k) <= gap(k - 1) + 1e-9));
        let seg = &s.segments()[0];
        assert_eq!(seg.rate_at(Duration::from_secs(5)), 200.0);
    }

    #[test]
    fn ramp_down_to_zero_is_allowed() {
        let s = schedule(
            "    - name: r\n      duration: 4s\n      rps: 100\n      ramp_to: 0\n",
            "0s",
        );
        assert_eq!(s.len(), 200);
        let last = s.slot(199).at;
        assert!(
            last <= Duration::from_secs(4) && last > Duration::from_secs(3),
            "{last:?}"
        );
    }

    #[test]
    fn warmup_then_phases_back_to_back() {
        let s = schedule(
            "    - name: a\n      duration: 2s\n      rps: 50\n    - name: b\n      duration: 1s\n      rps: 200\n",
            "1s",
        );
        let names: Vec<(&str, Option<usize>, u64)> = s
            .segments()
            .iter()
            .map(|g| (g.name.as_str(), g.phase, g.count))
            .collect();
        assert_eq!(
            names,
            vec![
                ("warmup", None, 50),
                ("a", Some(0), 100),
                ("b", Some(1), 200)
            ]
        );
        assert_eq!(s.measured_start(), Duration::from_secs(1));
        assert_eq!(
            s.slot(50),
            Slot {
                at: Duration::from_secs(1),
                segment: 1
            }
        );
        assert_eq!(
            s.slot(150),
            Slot {
                at: Duration::from_secs(3),
                segment: 2
            }
        );
        assert_eq!(s.segment_at(Duration::from_millis(3500)), Some(2));
        assert_eq!(s.segment_at(Duration::from_secs(4)), None);
        // Intended times never go backwards across segments.
        assert!((1..s.len()).all(|k| s.slot(k).at >= s.slot(k - 1).at));
    }
}
