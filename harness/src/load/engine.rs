//! The open-model load engine: opens the sessions (round-robin over the SUT's nodes), sends
//! every slot of the schedule at its intended time whatever the server does, and measures
//! from that time.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use futures_util::FutureExt;
use futures_util::future::{Either, join_all};
use futures_util::stream::{FuturesUnordered, StreamExt};

use super::flow::{Closing, FlowPlan, StepDone, open_session, run_workflow};
use super::mix::{Mix, session_of};
use super::pacer::{Clock, Pacing, QUANTUM};
use super::placement::CpuSet;
use super::progress::Progress;
use super::schedule::Schedule;
use super::seat::Seat;
use super::start::{Lane, Shard};
use super::stats::{Completion, Stats};
use super::stop::Stop;
use crate::mcp::{
    Duty, Endpoint, ErrorClass, LATEST_LEGACY_PROTOCOL_VERSION, MODERN_PROTOCOL_VERSION, Operation,
    Outcome, Recovery, RecoveryCounts, RequestTemplate, Session, SessionError, SessionOptions,
    Ticks, is_modern, stamped, timing_first_question,
};
use crate::scenario::Scenario;

/// Everything the engine needs to drive one run, prepared before any load is sent.
#[derive(Debug)]
pub struct LoadPlan {
    pub schedule: Schedule,
    pub mix: Mix,
    pub operations: Vec<Operation>,
    /// Each operation's request as sessions of revisions before 2026-07-28 send it.
    templates: Vec<RequestTemplate>,
    /// The same in 2026-07-28: with `_meta` and, over HTTP, `Mcp-Method` and `Mcp-Name`.
    modern_templates: Vec<RequestTemplate>,
    /// Sessions opened as a measured operation, being closed.
    closing: Closing,
    /// For each operation, the share of its sends cancelled and when.
    cancels: Vec<Option<crate::scenario::Cancel>>,
    /// For each operation that is a workflow, its steps' requests.
    flows: Vec<Option<FlowPlan>>,
    /// `workflow/step` for each workflow step of the run, in the order steps are indexed.
    pub step_labels: Vec<String>,
    pub clients: usize,
    pub session: SessionOptions,
    /// When a client's session is replaced, if ever.
    pub session_lifetime: Option<crate::scenario::SessionLifetime>,
    /// CPUs the generator's threads are pinned to for the run (the ones a pinned SUT does
    /// not use); `None` leaves them where they are.
    pub generator_cpus: Option<CpuSet>,
    /// How the workers wait for their slots.
    pub pacing: Pacing,
    /// Ends the run early when requested: no more sends, the ones in flight answered.
    pub stop: Stop,
    /// The slots this process sends ([`LoadPlan::sharded`]); the whole schedule by default.
    pub shard: Shard,
    /// The wall-clock instant the schedule's origin is put at, shared by the shards of a
    /// run; `None` starts as soon as the sessions are open.
    pub start_at: Option<SystemTime>,
    /// Whether [`Stats::samples`] keeps every request (`latencies.csv`).
    pub keep_samples: bool,
}

impl LoadPlan {
    /// Plans a scenario: schedule, mix and pre-serialised requests.
    pub fn new(scenario: &Scenario) -> Self {
        let operations: Vec<Operation> = scenario.mix.iter().map(|m| m.operation.clone()).collect();
        let templates = operations
            .iter()
            .map(|op| RequestTemplate::of(op, LATEST_LEGACY_PROTOCOL_VERSION))
            .collect();
        let modern_templates = operations
            .iter()
            .map(|op| RequestTemplate::of(op, MODERN_PROTOCOL_VERSION))
            .collect();
        let weights: Vec<f64> = scenario.mix.iter().map(|m| m.weight).collect();
        let mut step_labels = Vec::new();
        let flows = operations
            .iter()
            .map(|op| match op {
                Operation::Workflow(w) => {
                    let flow = FlowPlan::new(w, step_labels.len());
                    step_labels.extend(w.step_labels());
                    Some(flow)
                }
                _ => None,
            })
            .collect();
        Self {
            schedule: Schedule::new(scenario),
            mix: Mix::new(&weights),
            operations,
            templates,
            modern_templates,
            flows,
            step_labels,
            cancels: scenario.mix.iter().map(|m| m.cancel).collect(),
            closing: Closing::default(),
            clients: scenario.clients as usize,
            session_lifetime: scenario.session_lifetime,
            session: SessionOptions {
                protocol_version: scenario.protocol_version.clone(),
                timeout: scenario.timeout,
                max_connections: scenario.connections as usize,
                headers: scenario.session_headers(),
                answering: crate::mcp::Answering {
                    after: scenario.answer_after,
                    ..Default::default()
                },
                listening: scenario
                    .listen
                    .as_ref()
                    .map(|uri| Arc::new(crate::mcp::Listening::new(uri.clone()))),
                ..SessionOptions::default()
            },
            generator_cpus: None,
            pacing: Pacing::default(),
            stop: Stop::default(),
            shard: Shard::WHOLE,
            start_at: None,
            keep_samples: false,
        }
    }

    /// The plan of one shard: its own slots, over its share of the sessions.
    pub fn sharded(mut self, shard: Shard) -> Self {
        self.clients = shard.clients(self.clients);
        self.shard = shard;
        self
    }

    /// This process's slots in `range` of the schedule.
    pub fn own_slots(&self, range: std::ops::Range<u64>) -> u64 {
        self.shard.slots_in(range, self.mix.cycle_len() as u64)
    }

    /// Whether slot `slot` is this process's to send.
    pub fn owns(&self, slot: u64) -> bool {
        self.shard.owns(slot, self.mix.cycle_len() as u64)
    }

    /// The slots worker `k` of `of` sends.
    fn lane(&self, k: u64, of: u64) -> Lane {
        Lane::new(self.shard, self.mix.cycle_len() as u64, k, of)
    }
}

/// Why a run could not start.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The precise pacer's timer could not be created.
    #[error("failed to create the pacing timer: {0}")]
    Pacer(#[source] std::io::Error),
    /// A session could not be opened.
    #[error("failed to open MCP session {index} of {total}: {source}")]
    Session {
        index: usize,
        total: usize,
        #[source]
        source: SessionError,
    },
}

/// What one run of the engine produced.
#[derive(Debug)]
pub struct LoadOutcome {
    /// Everything measured, merged over workers.
    pub stats: Stats,
    /// Wall-clock time of the schedule's origin.
    pub started_at: SystemTime,
    /// Monotonic time of the schedule's origin.
    pub start: Instant,
    /// When the last request finished.
    pub finished: Instant,
    /// When a stop was asked for and the sends ended, if the run was stopped early.
    pub stopped: Option<Instant>,
    /// Protocol version the server negotiated.
    pub protocol_version: String,
    /// Whether the server handed out session ids.
    pub stateful: bool,
    /// Sessions whose close failed (`DELETE` over HTTP; a stdio server that had to be killed).
    pub close_failures: usize,
    /// Responses that matched no waiting request, over all sessions (stream transports).
    pub unmatched_responses: u64,
    /// Sessions opened again and requests sent again, over all sessions.
    pub recovery: RecoveryCounts,
    /// Sessions replaced after their `session_lifetime`.
    pub sessions_replaced: u64,
    /// The server's questions the harness answered (server requests, `input_required`).
    pub questions_answered: u64,
    /// What the notification streams heard, if the sessions listened.
    pub heard: Option<crate::mcp::Heard>,
    /// Requests the workers could have in flight at once, together.
    pub in_flight_limit: usize,
    /// CPU time this process used from the schedule's origin to the last completion.
    pub generator_cpu: Duration,
    /// With [`LoadPlan::start_at`]: how far past it the sessions were ready and the first
    /// slots went out late (zero when ready in time).
    pub late_start: Option<Duration>,
    /// With [`LoadPlan::start_at`]: the clock's own account of its error as the schedule
    /// was laid on it.
    pub clock: Option<super::ClockStatus>,
}

/// Requests one stream session (WebSocket, TCP, stdio: one connection, answers matched by
/// id) may have in flight at once.
pub const STREAM_IN_FLIGHT: usize = 256;

/// Requests in flight at once over `clients` sessions at `endpoint`: every connection an
/// HTTP session may use (a request past them would only wait for one), or
/// [`STREAM_IN_FLIGHT`] per stream session.
fn in_flight_limit(plan: &LoadPlan, endpoint: &Endpoint) -> usize {
    let per_session = match endpoint {
        Endpoint::Http(_) => plan.session.max_connections.max(1),
        _ => STREAM_IN_FLIGHT,
    };
    plan.clients.max(1) * per_session
}

/// Runs `plan` against `endpoints`, one per SUT node: session `i` is opened on node
/// `i % endpoints.len()`, and every completion is counted against its session's node.
///
/// # Panics
///
/// If `endpoints` is empty.
pub async fn run(
    plan: Arc<LoadPlan>,
    endpoints: &[Endpoint],
    progress: Arc<Progress>,
) -> Result<LoadOutcome, LoadError> {
    assert!(!endpoints.is_empty(), "the load needs an endpoint");
    let pacing = plan.pacing;
    raise_open_files_limit();
    let _placement = plan.generator_cpus.as_ref().and_then(Placement::pin);
    let recovery = Arc::new(Recovery::default());
    let sessions = Arc::new(open_sessions(&plan, endpoints, &recovery).await?);
    let nodes = endpoints.len();
    let version = sessions[0].current().protocol_version().to_string();
    let modern = is_modern(&version);
    let endpoints: Arc<[Endpoint]> = endpoints.into();
    // One worker per runtime thread, but no more than the CPUs the generator may use.
    let cpus = CpuSet::allowed().map_or(usize::MAX, |set| set.len().max(1));
    let workers = tokio::runtime::Handle::current()
        .metrics()
        .num_workers()
        .clamp(1, cpus);
    let (start, started_at, late_start) = origin(plan.start_at);
    let clock = plan.start_at.and_then(|_| super::ClockStatus::read());
    let mut clocks = Vec::with_capacity(workers);
    for _ in 0..workers {
        clocks.push(Clock::new(pacing).map_err(LoadError::Pacer)?);
    }
    let limit = in_flight_limit(&plan, &endpoints[0]);
    let per_worker = limit.div_ceil(workers);
    let cpu_before = super::process_cpu();
    progress.begin(start);
    let stopped = Arc::new(FirstStop::default());
    let handles: Vec<_> = clocks
        .into_iter()
        .enumerate()
        .map(|(w, clock)| {
            let (plan, sessions, progress) = (plan.clone(), sessions.clone(), progress.clone());
            let stopped = stopped.clone();
            let endpoints = endpoints.clone();
            let ticks = Arc::new(Ticks::default());
            tokio::spawn(Ticks::scope(
                ticks.clone(),
                worker(
                    plan.lane(w as u64, workers as u64),
                    start,
                    plan,
                    Nodes {
                        sessions,
                        endpoints,
                        nodes,
                        modern,
                    },
                    (clock, ticks, progress),
                    (stopped, per_worker),
                ),
            ))
        })
        .collect();
    let mut stats = Stats::new(plan.operations.len(), plan.schedule.segments().len());
    for handle in handles {
        match handle.await {
            Ok(mut worker_stats) => {
                // Moved, not copied: a run's every request may be many.
                let samples = worker_stats.samples.take();
                stats += &worker_stats;
                if let Some(mut samples) = samples {
                    stats
                        .samples
                        .get_or_insert_with(Vec::new)
                        .append(&mut samples);
                }
            }
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => panic!("load worker cancelled: {e}"),
        }
    }
    let finished = Instant::now();
    let generator_cpu = super::process_cpu().saturating_sub(cpu_before);
    progress.finish();
    plan.closing.finish().await;
    let closes = join_all(sessions.iter().map(|s| s.close())).await;
    let unmatched_responses = sessions
        .iter()
        .map(|s| s.current().unmatched_responses())
        .sum();
    if unmatched_responses > 0 {
        tracing::warn!(
            unmatched_responses,
            "responses arrived for ids no request was waiting for"
        );
    }
    let first = sessions[0].current();
    Ok(LoadOutcome {
        stats,
        started_at,
        start,
        finished,
        stopped: stopped.at(),
        protocol_version: first.protocol_version().to_string(),
        stateful: first.stateful(),
        close_failures: closes.iter().filter(|r| r.is_err()).count(),
        unmatched_responses,
        recovery: recovery.counts(),
        sessions_replaced: sessions.iter().map(Seat::replaced).sum(),
        questions_answered: plan.session.answering.answered(),
        heard: plan.session.listening.as_ref().map(|l| l.heard()),
        in_flight_limit: per_worker * workers,
        generator_cpu,
        late_start,
        clock,
    })
}

/// A short lead so every worker is parked before the first slot is due.
const LEAD: Duration = Duration::from_millis(20);

/// The schedule's origin, monotonic and wall-clock, and how late it is past `start_at`:
/// the lead from now, or `start_at` (in the past when the sessions opened after it: the
/// first slots then go out late, measured from their intended times).
fn origin(start_at: Option<SystemTime>) -> (Instant, SystemTime, Option<Duration>) {
    let (now, wall) = (Instant::now(), SystemTime::now());
    let Some(at) = start_at else {
        return (now + LEAD, wall + LEAD, None);
    };
    match at.duration_since(wall) {
        Ok(ahead) => (now + ahead, at, Some(Duration::ZERO)),
        Err(e) => {
            let behind = e.duration();
            tracing::warn!(
                "the shared start instant passed {behind:?} before the sessions were open: the first slots go out late"
            );
            let start = now.checked_sub(behind).unwrap_or(now);
            (start, at, Some(behind))
        }
    }
}

/// Sessions being opened at once.
const OPENING_AT_ONCE: usize = 64;

/// Opens the plan's sessions, session `i` on `endpoints[i % endpoints.len()]`.
async fn open_sessions(
    plan: &LoadPlan,
    endpoints: &[Endpoint],
    recovery: &Arc<Recovery>,
) -> Result<Vec<Seat>, LoadError> {
    let total = plan.clients;
    let options = SessionOptions {
        recovery: recovery.clone(),
        ..plan.session.clone()
    };
    let options = &options;
    // Opened a bounded number at a time: ten thousand connects and handshakes at once
    // overflow a server's accept backlog, and the sessions past it time out.
    let opened: Vec<_> = futures_util::stream::iter(0..total)
        .map(|index| async move {
            let endpoint = &endpoints[index % endpoints.len()];
            Session::open(endpoint, options.clone())
                .await
                .map(|first| Seat::new(first, endpoint, options, plan.session_lifetime))
                .map_err(|source| LoadError::Session {
                    index: index + 1,
                    total,
                    source,
                })
        })
        .buffered(OPENING_AT_ONCE)
        .collect()
        .await;
    let mut sessions = Vec::with_capacity(total);
    let mut first_error = None;
    for result in opened {
        match result {
            Ok(session) => sessions.push(session),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    match first_error {
        Some(error) => {
            join_all(sessions.iter().map(|s| s.close())).await;
            Err(error)
        }
        None => Ok(sessions),
    }
}

/// The open sessions and the number of SUT nodes they were spread over.
struct Nodes {
    sessions: Arc<Vec<Seat>>,
    /// Where a `session_open` opens its session: session `i`'s node.
    endpoints: Arc<[Endpoint]>,
    nodes: usize,
    /// Whether the sessions speak 2026-07-28 (the first session's revision; every session
    /// of a run asks for the same).
    modern: bool,
}

/// Sends the slots of its `lane` at their intended times and records their
/// answers. Sending never waits for answers: the model is open. Answers are read when the
/// worker wakes (`ticks`), at least every [`QUANTUM`] while any is awaited, and timed by
/// their arrival, not by their reading.
///
/// At most `limit` requests are in flight: a slot due past it is only a place in the
/// schedule (no future, no memory) until one finishes, then sent at once and timed from
/// its intended time; one whose timeout runs out first is a `timeout` never sent. So a
/// generator past its own capacity sends as fast as it can instead of drowning in waiting
/// requests.
async fn worker(
    mut lane: Lane,
    start: Instant,
    plan: Arc<LoadPlan>,
    nodes: Nodes,
    (mut clock, ticks, progress): (Clock, Arc<Ticks>, Arc<Progress>),
    (stopped, limit): (Arc<FirstStop>, usize),
) -> Stats {
    let Nodes {
        sessions,
        endpoints,
        nodes,
        modern,
    } = nodes;
    let version = sessions[0].current().protocol_version().to_string();
    let version = version.as_str();
    let templates = if modern {
        &plan.modern_templates
    } else {
        &plan.templates
    };
    let schedule = &plan.schedule;
    let segments = schedule.segments();
    let measured_start = schedule.measured_start();
    let timeout = plan.session.timeout;
    let mut stats = Stats::new(plan.operations.len(), segments.len());
    if plan.keep_samples {
        stats.keep_samples();
    }
    // A window's requests have all finished a timeout after it, but for a slot that waited
    // or a send that lagged: a second more.
    stats.seal_after(timeout + Duration::from_secs(2));
    let mut in_flight = FuturesUnordered::new();
    // Tokio's timer driver is woken (an eventfd write, and one more `epoll_wait`) whenever a
    // timer is set earlier than every pending one, which is every request's timeout when
    // none other is in flight. A timer that always expires before any request's deadline
    // keeps those registrations silent; it fires once every half timeout.
    let reach = (timeout / 2).max(Duration::from_millis(1));
    let horizon = tokio::time::sleep(reach);
    tokio::pin!(horizon);
    let mut slot = lane.slot();
    let mut total = schedule.len();
    let place = |slot: u64| {
        let at = schedule.slot(slot);
        let op = plan.mix.op(slot);
        let index = session_of(slot, sessions.len());
        let measured = segments[at.segment]
            .phase
            .map(|_| at.at.saturating_sub(measured_start));
        (at, op, index, measured)
    };
    let launch = |slot: u64| {
        let (at, op, index, measured) = place(slot);
        let intended = start + at.at;
        let seat = &sessions[index];
        let template = &templates[op];
        let cancel_after = plan.cancels[op]
            .filter(|c| cancelled_slot(slot, c.share))
            .map(|c| c.after);
        let completion = move |sent: Instant, outcome, finished: Instant| Completion {
            op,
            segment: at.segment,
            measured,
            lag: Some(sent.saturating_duration_since(intended)),
            latency: finished.saturating_duration_since(intended),
            service: finished.saturating_duration_since(sent),
            outcome,
            first_question: None,
            node: index % nodes,
            at: at.at,
            slot,
        };
        type Boxed<'a> =
            std::pin::Pin<Box<dyn Future<Output = (Completion, Vec<StepDone>)> + Send + 'a>>;
        let other: Option<Boxed<'_>> = match (&plan.flows[op], &plan.operations[op]) {
            (Some(flow), _) => Some(Box::pin(async move {
                let sent = Instant::now();
                let session = match seat.session().await {
                    Ok(session) => session,
                    Err(class) => {
                        let failed = Outcome::Failed(class);
                        return (completion(sent, failed, Instant::now()), Vec::new());
                    }
                };
                let (outcome, finished, steps) = run_workflow(flow, &session, version).await;
                (completion(sent, outcome, finished), steps)
            })),
            (None, Operation::SessionOpen) => {
                let endpoint = &endpoints[index % endpoints.len()];
                let (options, closing) = (&plan.session, &plan.closing);
                Some(Box::pin(async move {
                    let sent = Instant::now();
                    let (outcome, finished) = open_session(endpoint, options, closing).await;
                    (completion(sent, outcome, finished), Vec::new())
                }))
            }
            _ => None,
        };
        match other {
            Some(boxed) => Either::Right(boxed),
            None => Either::Left(async move {
                let sent = Instant::now();
                let session = match seat.session().await {
                    Ok(session) => session,
                    Err(class) => {
                        let failed = Outcome::Failed(class);
                        return (completion(sent, failed, Instant::now()), Vec::new());
                    }
                };
                let request = stamped(session.request_cancelling(template, cancel_after));
                let ((outcome, arrived), asked) = timing_first_question(request).await;
                let now = Instant::now();
                let finished = arrived
                    .filter(|at| (sent..=now).contains(at))
                    .unwrap_or(now);
                let mut done = completion(sent, outcome, finished);
                done.first_question = asked.map(|at| at.saturating_duration_since(intended));
                (done, Vec::new())
            }),
        }
    };
    let never_sent = |slot: u64, now: Instant| {
        let (at, op, index, measured) = place(slot);
        Completion {
            op,
            segment: at.segment,
            measured,
            lag: None,
            latency: now.saturating_duration_since(start + at.at),
            service: Duration::ZERO,
            outcome: Outcome::Failed(ErrorClass::Timeout),
            first_question: None,
            node: index % nodes,
            at: at.at,
            slot,
        }
    };
    let record = |c: Completion, stats: &mut Stats| {
        progress.completed(&c);
        stats.record(&c);
    };
    let record_all = |(c, steps): (Completion, Vec<StepDone>), stats: &mut Stats| {
        if c.measured.is_some() {
            for step in steps {
                stats.record_step(step.step, step.latency, step.outcome);
            }
        }
        record(c, stats);
    };
    let mut duty = Duty::default();
    let stop = &plan.stop;
    loop {
        // A stop ends the sends; what is in flight is still answered.
        if total > slot && stop.requested() {
            total = slot;
            stopped.record(Instant::now());
        }
        // Parked reads look for their answers whenever the worker wakes.
        ticks.tick();
        let now = Instant::now();
        // Launch everything that is due, as far as the limit allows.
        while slot < total && in_flight.len() < limit {
            let intended = start + schedule.slot(slot).at;
            if intended > now {
                break;
            }
            if now.saturating_duration_since(intended) >= timeout {
                progress.never_sent();
                record(never_sent(slot, now), &mut stats);
            } else {
                progress.launched(now.saturating_duration_since(intended));
                in_flight.push(launch(slot));
            }
            lane.advance();
            slot = lane.slot();
        }
        // Take what has finished, without waiting (the new requests send and park here).
        while let Some(Some(done)) = in_flight.next().now_or_never() {
            record_all(done, &mut stats);
        }
        if slot >= total && in_flight.is_empty() {
            break;
        }
        let next = (slot < total).then(|| start + schedule.slot(slot).at);
        let backlog = next.is_some_and(|at| at <= now);
        if backlog && in_flight.len() < limit {
            // Requests finished as others waited for them: send those at once.
            continue;
        }
        // Sends that wait for a request to finish want its answer read as it arrives.
        ticks.hurry(backlog);
        let next_due = next.filter(|_| !backlog);
        // With reads parked, the next tick comes a quantum after this one at the latest.
        let wake = match next_due {
            _ if !ticks.any_parked() => next_due,
            Some(due) => Some(due.min(now + QUANTUM)),
            None => Some(now + QUANTUM),
        };
        let waiting = Instant::now();
        tokio::select! {
            biased;
            _ = clock.sleep_until(wake) => {}
            Some(done) = in_flight.next(), if !in_flight.is_empty() => record_all(done, &mut stats),
            () = &mut horizon => horizon.as_mut().reset(tokio::time::Instant::now() + reach),
            () = stop.wait(), if slot < total => {}
        }
        if let Some(share) = duty.slept(waiting.elapsed(), &ticks) {
            clock.adapt(share);
        }
    }
    stats
}

/// Whether slot `slot` is one of the `share` percent of a request's sends that are
/// cancelled: a hash of the slot, so they spread evenly over the run and every run picks
/// the same ones.
fn cancelled_slot(slot: u64, share: f64) -> bool {
    let basis_points = (share * 100.0).round() as usize;
    session_of(slot ^ 0xC4_7CE1, 10_000) < basis_points
}

/// The earliest time a worker ended its sends on a stop.
#[derive(Debug, Default)]
struct FirstStop(std::sync::Mutex<Option<Instant>>);

impl FirstStop {
    fn record(&self, at: Instant) {
        let mut first = self.0.lock().unwrap_or_else(|e| e.into_inner());
        *first = Some(first.map_or(at, |f| f.min(at)));
    }

    fn at(&self) -> Option<Instant> {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The generator pinned to a CPU set for a run; dropping it restores the CPUs it had.
struct Placement {
    before: CpuSet,
}

impl Placement {
    /// Pins the process to `cpus`, or says why not and leaves it alone.
    fn pin(cpus: &CpuSet) -> Option<Self> {
        let before = match CpuSet::allowed() {
            Ok(set) => set,
            Err(e) => {
                tracing::warn!("generator not pinned: cannot read its CPU affinity: {e}");
                return None;
            }
        };
        let target = before.intersection(cpus);
        if target.is_empty() {
            tracing::warn!(
                "generator not pinned: none of CPUs {cpus} is available to it (it may use {before})"
            );
            return None;
        }
        match target.pin_process() {
            Ok(()) => {
                tracing::info!("generator pinned to CPUs {target}");
                Some(Self { before })
            }
            Err(e) => {
                tracing::warn!("generator not pinned to CPUs {target}: {e}");
                None
            }
        }
    }
}

impl Drop for Placement {
    fn drop(&mut self) {
        if let Err(e) = self.before.pin_process() {
            tracing::warn!(
                "failed to restore the generator's CPUs {}: {e}",
                self.before
            );
        }
    }
}

/// Raises the soft limit on open files to the hard limit: an open model under overload
/// holds one connection per request in flight, and the default soft limit (often 1024)
/// would turn an overloaded server into the generator's own connect errors.
pub fn raise_open_files_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit write to / read from a valid rlimit struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max
        {
            limit.rlim_cur = limit.rlim_max;
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                tracing::debug!("could not raise the open files limit");
            }
        }
    }
}
