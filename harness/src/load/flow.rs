//! What the engine sends for a mix entry that is not one request: a workflow (its steps
//! in turn in one session, fan-outs at once, think time between) and a session open.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;

use futures_util::future::join_all;

use crate::mcp::{
    Endpoint, ErrorClass, Outcome, RequestTemplate, Results, Session, SessionOptions, Ticks,
    Workflow, resolve, stamped,
};

/// A workflow's requests, serialised once where they use no earlier result.
#[derive(Debug)]
pub struct FlowPlan {
    pub workflow: Workflow,
    /// Index of its first step among the run's steps.
    pub first_step: usize,
    /// Each step's request before 2026-07-28 (`None` where it is built as it is sent).
    legacy: Vec<Option<RequestTemplate>>,
    /// The same in 2026-07-28.
    modern: Vec<Option<RequestTemplate>>,
}

impl FlowPlan {
    /// Plans `workflow`, whose first step is step `first_step` of the run.
    pub fn new(workflow: &Workflow, first_step: usize) -> Self {
        let of = |version: &str| {
            workflow
                .steps
                .iter()
                .map(|s| (!s.dynamic).then(|| RequestTemplate::of(&s.operation, version)))
                .collect()
        };
        Self {
            workflow: workflow.clone(),
            first_step,
            legacy: of(crate::mcp::LATEST_LEGACY_PROTOCOL_VERSION),
            modern: of(crate::mcp::MODERN_PROTOCOL_VERSION),
        }
    }
}

/// One answer of a workflow step.
#[derive(Debug, Clone, Copy)]
pub struct StepDone {
    /// The step's index among the run's steps.
    pub step: usize,
    /// From the step's send to its answer.
    pub latency: Duration,
    pub outcome: Outcome,
}

/// Runs `plan`'s steps in `session` (speaking `version`): each after its think time, its
/// fan-out at once, its values from the results before it. Stops at the first failed
/// step. Returns the workflow's outcome (the first failure's class), when its last
/// answer arrived, and every step's answers.
pub async fn run_workflow(
    plan: &FlowPlan,
    session: &Session,
    version: &str,
) -> (Outcome, Instant, Vec<StepDone>) {
    Ticks::scope(Ticks::off(), steps(plan, session, version)).await
}

async fn steps(
    plan: &FlowPlan,
    session: &Session,
    version: &str,
) -> (Outcome, Instant, Vec<StepDone>) {
    let modern = crate::mcp::is_modern(version);
    let templates = if modern { &plan.modern } else { &plan.legacy };
    let mut results = Results::new();
    let mut done = Vec::new();
    let mut last = Instant::now();
    for (k, step) in plan.workflow.steps.iter().enumerate() {
        let index = plan.first_step + k;
        if !step.think.is_zero() {
            tokio::time::sleep(step.think).await;
        }
        let built;
        let template = match &templates[k] {
            Some(t) => t,
            None => {
                let params = step.operation.params();
                let resolved = params.as_ref().map(|p| resolve(p, &results));
                let Some(Some(params)) = resolved else {
                    let outcome = Outcome::Failed(ErrorClass::MissingValue);
                    done.push(StepDone {
                        step: index,
                        latency: Duration::ZERO,
                        outcome,
                    });
                    return (outcome, Instant::now(), done);
                };
                built = RequestTemplate::built(step.operation.method(), Some(&params), version);
                &built
            }
        };
        let sent = Instant::now();
        let answers = join_all((0..step.fan_out).map(|copy| {
            let keep = step.referenced && copy == 0;
            stamped(session.call(template, keep))
        }))
        .await;
        let now = Instant::now();
        let mut failed = None;
        for ((outcome, result), arrived) in answers {
            let at = arrived
                .filter(|at| (sent..=now).contains(at))
                .unwrap_or(now);
            last = last.max(at);
            done.push(StepDone {
                step: index,
                latency: at.saturating_duration_since(sent),
                outcome,
            });
            match outcome {
                Outcome::Ok => {
                    if let Some(result) = result {
                        results.insert(step.name.clone(), result);
                    }
                }
                Outcome::Failed(_) | Outcome::Cancelled => {
                    failed.get_or_insert(outcome);
                }
            }
        }
        if let Some(outcome) = failed {
            return (outcome, last, done);
        }
    }
    (Outcome::Ok, last, done)
}

/// Sessions opened as a measured operation, being closed in the background.
#[derive(Debug, Default)]
pub struct Closing(Mutex<Vec<JoinHandle<()>>>);

impl Closing {
    /// Waits for every close begun so far.
    pub async fn finish(&self) {
        let closing = std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner));
        join_all(closing).await;
    }
}

/// Opens a session at `endpoint` (connect, `initialize` or `server/discover`): the
/// outcome and when the open finished. The session is closed in the background,
/// unmeasured and outside the run's drain ([`Closing::finish`] waits for it).
pub async fn open_session(
    endpoint: &Endpoint,
    options: &SessionOptions,
    closing: &Closing,
) -> (Outcome, Instant) {
    let opened =
        tokio::time::timeout(options.timeout, Session::open(endpoint, options.clone())).await;
    let at = Instant::now();
    let outcome = match opened {
        Err(_) => Outcome::Failed(ErrorClass::Timeout),
        Ok(Err(e)) => Outcome::Failed(e.class()),
        Ok(Ok(session)) => {
            let close = tokio::spawn(async move {
                let _ = session.close().await;
            });
            closing
                .0
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(close);
            Outcome::Ok
        }
    };
    (outcome, at)
}
