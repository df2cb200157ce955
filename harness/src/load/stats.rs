//! What the load engine measures: per-operation, per-segment and (for a cluster) per-node
//! histograms, errors by class, per-second windows and the generator's own lag. Workers keep their own
//! [`Stats`] and merge with `+=` at the end; nothing is shared in the request loop.

use std::collections::BTreeMap;
use std::ops::AddAssign;
use std::time::Duration;

use hdrhistogram::Histogram;

use crate::mcp::ErrorClass;

/// Significant digits of the latency histograms.
pub const LATENCY_SIGFIG: u8 = 3;
/// Significant digits of the per-window histograms (kept for charts and noise estimates).
pub const WINDOW_SIGFIG: u8 = 2;
/// The resolution of [`Stats::beats`], which place outages in time.
pub const BEAT: Duration = Duration::from_millis(100);
/// A send this far behind its intended time counts as late.
pub const LATE_THRESHOLD: Duration = Duration::from_millis(10);

/// A microsecond histogram that grows to fit what it records.
pub fn histogram(sigfig: u8) -> Histogram<u64> {
    let mut h = Histogram::new(sigfig).expect("sigfig within 0..=5");
    h.auto(true);
    h
}

/// Whole microseconds of `d`, at least 1 (HdrHistogram's lowest value).
pub fn micros(d: Duration) -> u64 {
    (d.as_micros() as u64).max(1)
}

/// Records `d` in microseconds, growing the histogram as needed. (`saturating_record`
/// would clamp to the current top instead of growing, silently flattening the tail.)
pub fn record_duration(h: &mut Histogram<u64>, d: Duration) {
    h.record(micros(d))
        .expect("an auto-resizing histogram records any microsecond value");
}

/// Results of one operation (or one segment, over all operations).
#[derive(Debug, Clone)]
pub struct OpStats {
    /// Latency from the intended send time, successful requests, microseconds.
    pub latency: Histogram<u64>,
    /// Service time from the actual send, successful requests, microseconds.
    pub service: Histogram<u64>,
    /// Requests answered with a result.
    pub ok: u64,
    /// Failed requests by class.
    pub errors: BTreeMap<ErrorClass, u64>,
    /// Requests the harness cancelled before their answer (neither ok nor failed).
    pub cancelled: u64,
    /// For successes the server asked a question of first (a server request, an
    /// `input_required` result): latency to that first question, microseconds.
    pub first_question: Option<Box<Histogram<u64>>>,
}

impl Default for OpStats {
    fn default() -> Self {
        Self {
            latency: histogram(LATENCY_SIGFIG),
            service: histogram(LATENCY_SIGFIG),
            ok: 0,
            errors: BTreeMap::new(),
            cancelled: 0,
            first_question: None,
        }
    }
}

impl OpStats {
    /// Records a success.
    pub fn record_ok(&mut self, latency: Duration, service: Duration) {
        self.ok += 1;
        record_duration(&mut self.latency, latency);
        record_duration(&mut self.service, service);
    }

    /// Records a failure.
    pub fn record_error(&mut self, class: ErrorClass) {
        *self.errors.entry(class).or_default() += 1;
    }

    /// Failed requests.
    pub fn failed(&self) -> u64 {
        self.errors.values().sum()
    }

    /// Requests completed, successful or not.
    pub fn attempts(&self) -> u64 {
        self.ok + self.failed()
    }
}

impl AddAssign<&OpStats> for OpStats {
    fn add_assign(&mut self, other: &OpStats) {
        self.latency
            .add(&other.latency)
            .expect("auto-resizing histograms merge");
        self.service
            .add(&other.service)
            .expect("auto-resizing histograms merge");
        self.ok += other.ok;
        self.cancelled += other.cancelled;
        if let Some(theirs) = &other.first_question {
            self.first_question
                .get_or_insert_with(|| Box::new(histogram(LATENCY_SIGFIG)))
                .add(&**theirs)
                .expect("auto-resizing histograms merge");
        }
        for (class, n) in &other.errors {
            *self.errors.entry(*class).or_default() += n;
        }
    }
}

/// One second of measured time, by intended send time.
#[derive(Debug, Clone, Default)]
pub struct WindowStats {
    pub ok: u64,
    pub failed: u64,
    /// Latency of successes, microseconds.
    latency: WindowLatency,
}

/// A window's latency histogram: open while its requests may still finish, then sealed in
/// HdrHistogram's V2 encoding, which keeps only the counts that are not zero (hundreds of
/// bytes where the open histogram's counts take kilobytes), so a long run's windows stay
/// small. Both forms hold the same counts.
#[derive(Debug, Clone)]
enum WindowLatency {
    Open(Histogram<u64>),
    Sealed(Vec<u8>),
}

impl Default for WindowLatency {
    fn default() -> Self {
        WindowLatency::Open(histogram(WINDOW_SIGFIG))
    }
}

impl WindowStats {
    /// The latency of the window's successes, microseconds.
    pub fn latency(&self) -> std::borrow::Cow<'_, Histogram<u64>> {
        match &self.latency {
            WindowLatency::Open(h) => std::borrow::Cow::Borrowed(h),
            WindowLatency::Sealed(bytes) => std::borrow::Cow::Owned(unseal(bytes)),
        }
    }

    /// Whether the window is in its compact form.
    pub fn is_sealed(&self) -> bool {
        matches!(self.latency, WindowLatency::Sealed(_))
    }

    /// The open histogram, unsealing it first if need be.
    fn open(&mut self) -> &mut Histogram<u64> {
        if let WindowLatency::Sealed(bytes) = &self.latency {
            self.latency = WindowLatency::Open(unseal(bytes));
        }
        match &mut self.latency {
            WindowLatency::Open(h) => h,
            WindowLatency::Sealed(_) => unreachable!("unsealed above"),
        }
    }

    /// Puts the histogram in its compact form.
    pub fn seal(&mut self) {
        use hdrhistogram::serialization::{Serializer as _, V2Serializer};
        if let WindowLatency::Open(h) = &self.latency {
            let mut bytes = Vec::new();
            V2Serializer::new()
                .serialize(h, &mut bytes)
                .expect("serialising into a Vec cannot fail");
            bytes.shrink_to_fit();
            self.latency = WindowLatency::Sealed(bytes);
        }
    }
}

/// The histogram [`WindowStats::seal`] encoded.
fn unseal(bytes: &[u8]) -> Histogram<u64> {
    let mut h: Histogram<u64> = hdrhistogram::serialization::Deserializer::new()
        .deserialize(&mut &bytes[..])
        .expect("a sealed window reads back");
    h.auto(true);
    h
}

impl AddAssign<&WindowStats> for WindowStats {
    fn add_assign(&mut self, other: &WindowStats) {
        self.ok += other.ok;
        self.failed += other.failed;
        let sealed = self.is_sealed() || other.is_sealed();
        self.open()
            .add(&*other.latency())
            .expect("auto-resizing histograms merge");
        // Merged windows of a long run stay compact.
        if sealed {
            self.seal();
        }
    }
}

/// What one node of the SUT answered over the measured phases.
#[derive(Debug, Clone, Default)]
pub struct NodeStats {
    pub ops: OpStats,
    /// Intended send time, from the schedule's start, of the first failed request.
    pub first_error: Option<Duration>,
    /// Intended send time, from the schedule's start, of the last failed request.
    pub last_error: Option<Duration>,
    /// Intended send time, from the schedule's start, of the last successful request.
    pub last_ok: Option<Duration>,
}

impl AddAssign<&NodeStats> for NodeStats {
    fn add_assign(&mut self, other: &NodeStats) {
        self.ops += &other.ops;
        self.first_error = match (self.first_error, other.first_error) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.last_error = self.last_error.max(other.last_error);
        self.last_ok = self.last_ok.max(other.last_ok);
    }
}

/// Everything one worker (or, merged, the whole run) measured.
#[derive(Debug, Clone)]
pub struct Stats {
    /// Measured phases only, indexed like the mix.
    pub ops: Vec<OpStats>,
    /// Per schedule segment (warm-up included), all operations together.
    pub segments: Vec<OpStats>,
    /// Per second of measured time.
    pub windows: Vec<WindowStats>,
    /// How late measured requests were sent relative to their intended time, microseconds.
    pub lag: Histogram<u64>,
    /// Measured requests sent more than [`LATE_THRESHOLD`] late.
    pub late: u64,
    /// Measured requests never sent: their timeout ran out while the worker had as many
    /// in flight as it may (counted as `timeout` errors too).
    pub never_sent: u64,
    /// Measured phases by SUT node, indexed by node (grows to the highest node seen).
    pub nodes: Vec<NodeStats>,
    /// Successes and failures per [`BEAT`] of measured time, by intended send time.
    pub beats: Vec<Beat>,
    /// Workflow steps, measured phases: latency from each step's send (each copy of a
    /// fan-out counted), indexed as the run's steps are.
    pub steps: Vec<OpStats>,
    /// Windows this many seconds older than the newest one recorded are sealed.
    seal_after: usize,
    /// Windows before this one are sealed (one that a late request reopens is sealed
    /// again at once).
    sealed_below: usize,
    /// Every request, warm-up included, when asked for ([`Stats::keep_samples`]).
    pub samples: Option<Vec<Sample>>,
}

/// Seconds a window stays open after a newer one gets a request, unless
/// [`Stats::seal_after`] says otherwise.
pub const SEAL_AFTER: Duration = Duration::from_secs(60);

/// Requests answered and failed in one [`BEAT`] of measured time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Beat {
    pub ok: u32,
    pub failed: u32,
}

/// One finished request, as the engine hands it to [`Stats::record`].
#[derive(Debug, Clone, Copy)]
pub struct Completion {
    pub op: usize,
    pub segment: usize,
    /// Intended send time from the start of measured time; `None` during the warm-up.
    pub measured: Option<Duration>,
    /// Sent minus intended; `None` for a request never sent (its timeout ran out while it
    /// waited for a request in flight to finish).
    pub lag: Option<Duration>,
    /// Finished minus intended.
    pub latency: Duration,
    /// Finished minus sent.
    pub service: Duration,
    pub outcome: crate::mcp::Outcome,
    /// From the intended send time to the server's first question, if it asked one.
    pub first_question: Option<Duration>,
    /// The SUT node (0-based) whose session sent it.
    pub node: usize,
    /// Intended send time, from the schedule's start.
    pub at: Duration,
    /// The request's slot in the schedule.
    pub slot: u64,
}

/// One request as `latencies.csv` lists it ([`Stats::keep_samples`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    pub slot: u64,
    /// Intended send time from the schedule's start, microseconds.
    pub at_us: u64,
    pub segment: u32,
    pub op: u32,
    pub outcome: crate::mcp::Outcome,
    /// From the intended send, and from the actual send, microseconds (as the histograms
    /// record them: at least 1).
    pub latency_us: u64,
    pub service_us: u64,
}

impl Stats {
    /// Empty stats for `ops` operations and `segments` schedule segments.
    pub fn new(ops: usize, segments: usize) -> Self {
        Self {
            ops: vec![OpStats::default(); ops],
            segments: vec![OpStats::default(); segments],
            windows: Vec::new(),
            lag: histogram(LATENCY_SIGFIG),
            late: 0,
            never_sent: 0,
            nodes: Vec::new(),
            beats: Vec::new(),
            steps: Vec::new(),
            seal_after: SEAL_AFTER.as_secs() as usize,
            sealed_below: 0,
            samples: None,
        }
    }

    /// Keeps every request from now on, in [`Stats::samples`].
    pub fn keep_samples(&mut self) {
        self.samples.get_or_insert_with(Vec::new);
    }

    /// Seals a window once a request intended `after` (rounded up to seconds) past it has
    /// finished: by then its own requests have, unless they outlived their timeout.
    pub fn seal_after(&mut self, after: Duration) {
        self.seal_after = after.as_secs_f64().ceil() as usize;
    }

    /// Adds one finished request.
    pub fn record(&mut self, c: &Completion) {
        use crate::mcp::Outcome;
        if let Some(samples) = &mut self.samples {
            samples.push(Sample {
                slot: c.slot,
                at_us: c.at.as_micros() as u64,
                segment: c.segment as u32,
                op: c.op as u32,
                outcome: c.outcome,
                latency_us: micros(c.latency),
                service_us: micros(c.service),
            });
        }
        let segment = &mut self.segments[c.segment];
        match c.outcome {
            Outcome::Ok => segment.record_ok(c.latency, c.service),
            Outcome::Failed(class) => segment.record_error(class),
            Outcome::Cancelled => segment.cancelled += 1,
        }
        let Some(measured) = c.measured else { return };
        let w = measured.as_secs() as usize;
        let b = (measured.as_millis() / BEAT.as_millis()) as usize;
        if self.beats.len() <= b {
            self.beats.resize(b + 1, Beat::default());
        }
        let beat = &mut self.beats[b];
        if self.windows.len() <= w {
            self.windows.resize_with(w + 1, WindowStats::default);
        }
        if self.nodes.len() <= c.node {
            self.nodes.resize_with(c.node + 1, NodeStats::default);
        }
        let window = &mut self.windows[w];
        let op = &mut self.ops[c.op];
        let node = &mut self.nodes[c.node];
        match c.outcome {
            Outcome::Ok => {
                op.record_ok(c.latency, c.service);
                if let Some(first) = c.first_question {
                    let h = op
                        .first_question
                        .get_or_insert_with(|| Box::new(histogram(LATENCY_SIGFIG)));
                    record_duration(h, first);
                }
                node.ops.record_ok(c.latency, c.service);
                node.last_ok = node.last_ok.max(Some(c.at));
                window.ok += 1;
                beat.ok += 1;
                record_duration(window.open(), c.latency);
                if w < self.sealed_below {
                    window.seal();
                }
            }
            Outcome::Failed(class) => {
                op.record_error(class);
                node.ops.record_error(class);
                node.first_error = Some(node.first_error.map_or(c.at, |t| t.min(c.at)));
                node.last_error = node.last_error.max(Some(c.at));
                window.failed += 1;
                beat.failed += 1;
            }
            Outcome::Cancelled => {
                op.cancelled += 1;
                node.ops.cancelled += 1;
            }
        }
        match c.lag {
            Some(lag) => {
                record_duration(&mut self.lag, lag);
                if lag > LATE_THRESHOLD {
                    self.late += 1;
                }
            }
            None => self.never_sent += 1,
        }
        let horizon = w.saturating_sub(self.seal_after);
        if horizon > self.sealed_below {
            for window in &mut self.windows[self.sealed_below..horizon] {
                window.seal();
            }
            self.sealed_below = horizon;
        }
    }

    /// All measured operations together.
    /// Records one answer of workflow step `step` (measured phases only).
    pub fn record_step(&mut self, step: usize, latency: Duration, outcome: crate::mcp::Outcome) {
        if self.steps.len() <= step {
            self.steps.resize_with(step + 1, OpStats::default);
        }
        let stats = &mut self.steps[step];
        match outcome {
            crate::mcp::Outcome::Ok => stats.record_ok(latency, latency),
            crate::mcp::Outcome::Failed(class) => stats.record_error(class),
            crate::mcp::Outcome::Cancelled => stats.cancelled += 1,
        }
    }

    pub fn overall(&self) -> OpStats {
        let mut all = OpStats::default();
        for op in &self.ops {
            all += op;
        }
        all
    }
}

impl AddAssign<&Stats> for Stats {
    fn add_assign(&mut self, other: &Stats) {
        for (a, b) in self.ops.iter_mut().zip(&other.ops) {
            *a += b;
        }
        for (a, b) in self.segments.iter_mut().zip(&other.segments) {
            *a += b;
        }
        if self.windows.len() < other.windows.len() {
            self.windows
                .resize_with(other.windows.len(), WindowStats::default);
        }
        for (a, b) in self.windows.iter_mut().zip(&other.windows) {
            *a += b;
        }
        self.lag
            .add(&other.lag)
            .expect("auto-resizing histograms merge");
        self.late += other.late;
        self.never_sent += other.never_sent;
        if self.nodes.len() < other.nodes.len() {
            self.nodes
                .resize_with(other.nodes.len(), NodeStats::default);
        }
        for (a, b) in self.nodes.iter_mut().zip(&other.nodes) {
            *a += b;
        }
        if self.beats.len() < other.beats.len() {
            self.beats.resize(other.beats.len(), Beat::default());
        }
        for (a, b) in self.beats.iter_mut().zip(&other.beats) {
            a.ok += b.ok;
            a.failed += b.failed;
        }
        if self.steps.len() < other.steps.len() {
            self.steps.resize_with(other.steps.len(), OpStats::default);
        }
        for (a, b) in self.steps.iter_mut().zip(&other.steps) {
            *a += b;
        }
        if let Some(theirs) = &other.samples {
            self.samples
                .get_or_insert_with(Vec::new)
                .extend_from_slice(theirs);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mcp::{Outcome, ProtocolViolation};

    fn completion(
        op: usize,
        window: Option<usize>,
        latency_ms: u64,
        outcome: Outcome,
    ) -> Completion {
        Completion {
            op,
            segment: usize::from(window.is_some()),
            measured: window.map(|w| Duration::from_secs(w as u64)),
            lag: Some(Duration::from_millis(latency_ms / 100)),
            latency: Duration::from_millis(latency_ms),
            service: Duration::from_millis(latency_ms / 2),
            outcome,
            first_question: None,
            node: op,
            at: Duration::from_secs(window.unwrap_or(0) as u64),
            slot: 0,
        }
    }

    #[test]
    fn long_latencies_are_kept_not_clamped() {
        let mut stats = Stats::new(1, 2);
        for ms in [1, 2, 900, 5_000] {
            stats.record(&completion(0, Some(0), ms, Outcome::Ok));
        }
        let h = &stats.ops[0].latency;
        assert_eq!(h.len(), 4);
        assert!(h.max() >= 4_990_000, "max {}", h.max());
        assert!(h.value_at_quantile(0.75) >= 890_000);
        // The 5 s request was sent 50 ms late: late.
        assert_eq!(stats.late, 1);
    }

    #[test]
    fn warmup_is_not_measured_and_stats_merge() {
        let mut a = Stats::new(2, 2);
        a.record(&completion(0, None, 3, Outcome::Ok));
        a.record(&completion(1, Some(0), 3, Outcome::Ok));
        let mut b = Stats::new(2, 2);
        let bad = Outcome::Failed(ErrorClass::Protocol(ProtocolViolation::WrongId));
        b.record(&completion(1, Some(2), 3, bad));
        b.record(&completion(1, Some(2), 4, Outcome::Ok));
        a += &b;
        assert_eq!(a.ops[0].attempts(), 0, "warm-up requests are not measured");
        assert_eq!(
            a.segments[0].attempts(),
            1,
            "but the warm-up segment counts them"
        );
        assert_eq!(a.ops[1].ok, 2);
        assert_eq!(
            a.ops[1]
                .errors
                .get(&ErrorClass::Protocol(ProtocolViolation::WrongId)),
            Some(&1)
        );
        assert_eq!(a.windows.len(), 3);
        assert_eq!((a.windows[2].ok, a.windows[2].failed), (1, 1));
        assert_eq!(a.overall().attempts(), 3);
        // The helper sends operation i through node i.
        assert_eq!(a.nodes.len(), 2);
        assert_eq!(a.nodes[0].ops.attempts(), 0);
        assert_eq!((a.nodes[1].ops.ok, a.nodes[1].ops.failed()), (2, 1));
        assert_eq!(a.nodes[1].first_error, Some(Duration::from_secs(2)));
        assert_eq!(a.nodes[1].last_ok, Some(Duration::from_secs(2)));
        assert_eq!(a.nodes[1].last_error, Some(Duration::from_secs(2)));
    }

    #[test]
    fn old_windows_are_sealed_with_the_same_counts_and_a_late_request_still_counts() {
        let mut sealing = Stats::new(1, 2);
        sealing.seal_after(Duration::from_secs(3));
        let mut open = Stats::new(1, 2);
        open.seal_after(Duration::from_secs(1_000));
        for w in 0..10 {
            for ms in [1, 2, 3, 40 + w as u64, 700] {
                let c = completion(0, Some(w), ms, Outcome::Ok);
                sealing.record(&c);
                open.record(&c);
            }
        }
        let sealed: Vec<bool> = sealing.windows.iter().map(WindowStats::is_sealed).collect();
        assert_eq!(
            sealed,
            [
                true, true, true, true, true, true, false, false, false, false
            ]
        );
        assert!(open.windows.iter().all(|w| !w.is_sealed()));
        // A request of window 1 that finishes late reopens it, and it is sealed again.
        let late = completion(0, Some(1), 5_000, Outcome::Ok);
        sealing.record(&late);
        open.record(&late);
        assert!(sealing.windows[1].is_sealed());
        for (s, o) in sealing.windows.iter().zip(&open.windows) {
            assert_eq!(*s.latency(), *o.latency());
        }
        assert_eq!(sealing.windows[1].latency().len(), 6);
        // Merging keeps sealed windows sealed, and the counts add.
        let mut merged = Stats::new(1, 2);
        merged += &sealing;
        merged += &open;
        assert!(merged.windows[0].is_sealed());
        assert_eq!(merged.windows[1].latency().len(), 12);
        assert_eq!(merged.windows[1].ok, 12);
    }
}
