//! Reads on the worker's ticks. A load worker wakes for its sends anyway; an answer that
//! woke it on its own would cost one more wake-up of the generator's thread (on a virtual
//! machine, tens of microseconds of CPU each, more than the rest of the request). Inside
//! [`Ticks::scope`], a connection that finds nothing to read parks on the worker's
//! [`Ticks`] instead of on the reactor; the worker wakes every parked reader each time it
//! wakes, and ticks at least every [`QUANTUM`](crate::load::QUANTUM) while any is parked.
//!
//! Reading late does not make the answer late: the kernel stamps every packet as it
//! arrives (`SO_TIMESTAMPNS`) and the read hands that stamp on, so latency ends when the
//! answer arrived, not when it was read ([`stamped`]).

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

tokio::task_local! {
    static TICKS: Arc<Ticks>;
    static ARRIVED: Cell<Option<Instant>>;
}

/// The readers parked until a worker's next tick.
#[derive(Debug)]
pub struct Ticks {
    parked: Mutex<Vec<Waker>>,
    /// Whether new reads park here; off while the worker hardly sleeps (see [`Duty`]).
    on: AtomicBool,
    /// Whether sends wait for requests in flight to finish: then new reads wait on the
    /// reactor, so an answer frees its request as it arrives.
    hurry: AtomicBool,
}

impl Default for Ticks {
    fn default() -> Self {
        Self {
            parked: Mutex::default(),
            on: AtomicBool::new(true),
            hurry: AtomicBool::new(false),
        }
    }
}

impl Ticks {
    /// Runs `work` with reads parking on `ticks`.
    pub async fn scope<F: Future>(ticks: Arc<Ticks>, work: F) -> F::Output {
        TICKS.scope(ticks, work).await
    }

    /// Ticks that never park a read, for requests that wait on one another (a workflow's
    /// steps): each answer is read as it arrives, so the next step is not held to a tick.
    pub fn off() -> Arc<Self> {
        static OFF: std::sync::LazyLock<Arc<Ticks>> = std::sync::LazyLock::new(|| {
            Arc::new(Ticks {
                on: AtomicBool::new(false),
                ..Ticks::default()
            })
        });
        OFF.clone()
    }

    /// Wakes every parked reader; how many there were.
    pub fn tick(&self) -> usize {
        // Waking only schedules a task (none parks again from inside `wake`), so the list
        // is drained under its lock and keeps its allocation for the next tick.
        let mut parked = self.lock();
        let n = parked.len();
        parked.drain(..).for_each(Waker::wake);
        n
    }

    /// Whether new reads park here (else they wait on the reactor).
    pub fn is_on(&self) -> bool {
        self.on.load(Ordering::Relaxed) && !self.hurry.load(Ordering::Relaxed)
    }

    /// Sends wait (`true`) or no longer wait for requests in flight to finish.
    pub fn hurry(&self, hurry: bool) {
        self.hurry.store(hurry, Ordering::Relaxed);
    }

    /// Whether a reader waits for the next tick.
    pub fn any_parked(&self) -> bool {
        !self.lock().is_empty()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Waker>> {
        self.parked.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The ticks of the worker running this task, if it reads on ticks now.
pub(super) fn current() -> Option<Arc<Ticks>> {
    TICKS.try_with(Arc::clone).ok().filter(|t| t.is_on())
}

/// How much of its time a worker sleeps. Reading on ticks saves the wake-ups of a worker
/// that sleeps between answers; a worker that hardly sleeps is not woken by answers
/// anyway, and there a read on the reactor costs less than parking and looking again.
#[derive(Debug)]
pub struct Duty {
    since: Instant,
    slept: Duration,
}

/// Length of the window over which [`Duty`] judges.
const DUTY_WINDOW: Duration = Duration::from_millis(20);

impl Default for Duty {
    fn default() -> Self {
        Self {
            since: Instant::now(),
            slept: Duration::ZERO,
        }
    }
}

impl Duty {
    /// Counts `slept`; at the end of each window turns `ticks` off when the worker slept
    /// less than a fifth of it, on again when it slept more than two fifths, and returns
    /// the share of the window it slept.
    pub fn slept(&mut self, slept: Duration, ticks: &Ticks) -> Option<f64> {
        self.slept += slept;
        let window = self.since.elapsed();
        if window < DUTY_WINDOW {
            return None;
        }
        let share = self.slept.as_secs_f64() / window.as_secs_f64();
        if share < 0.2 {
            ticks.on.store(false, Ordering::Relaxed);
        } else if share > 0.4 {
            ticks.on.store(true, Ordering::Relaxed);
        }
        *self = Self::default();
        Some(share)
    }
}

/// Waits for the next tick of `ticks` (or any other wake-up of the waiting task: callers
/// check again whatever they wait for).
pub(super) fn next(ticks: &Ticks) -> NextTick<'_> {
    NextTick {
        ticks,
        parked: false,
    }
}

/// The future of [`next`].
pub(super) struct NextTick<'a> {
    ticks: &'a Ticks,
    parked: bool,
}

impl Future for NextTick<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.parked {
            return Poll::Ready(());
        }
        self.ticks.lock().push(cx.waker().clone());
        self.parked = true;
        Poll::Pending
    }
}

/// Runs `request` and returns, with its output, when the last bytes it read arrived at
/// this host (the kernel's stamp where the socket has one, else when they were read);
/// `None` when it read nothing over a connection that reports arrivals.
pub async fn stamped<F: Future>(request: F) -> (F::Output, Option<Instant>) {
    ARRIVED
        .scope(Cell::new(None), async {
            let output = request.await;
            (output, ARRIVED.with(Cell::get))
        })
        .await
}

/// Notes that bytes of the current request's answer arrived at `at`.
pub(super) fn arrived(at: Instant) {
    let _ = ARRIVED.try_with(|cell| cell.set(Some(at)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_parked_reader_resumes_on_the_next_tick_only() {
        let ticks = Arc::new(Ticks::default());
        let mut waiting = Box::pin(Ticks::scope(ticks.clone(), async {
            let ticks = current().expect("inside the scope");
            next(&ticks).await;
        }));
        assert!(futures_util::poll!(&mut waiting).is_pending());
        assert!(ticks.any_parked());
        assert_eq!(ticks.tick(), 1);
        assert!(!ticks.any_parked());
        assert!(futures_util::poll!(&mut waiting).is_ready());
        assert!(
            current().is_none(),
            "outside a scope, reads use the reactor"
        );
    }

    #[tokio::test]
    async fn the_last_arrival_is_the_answers_time() {
        let (first, last) = (Instant::now(), Instant::now());
        let ((), at) = stamped(async {
            arrived(first);
            arrived(last);
        })
        .await;
        assert_eq!(at, Some(last));
        assert_eq!(stamped(async {}).await, ((), None));
        // Outside a stamped request, an arrival is dropped.
        arrived(first);
    }
}
