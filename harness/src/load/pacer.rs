//! When a worker wakes for its next slot. Tokio's timer wheel has a 1 ms resolution, so a
//! worker sleeping on it sends on average ~0.5-1 ms late. The precise pacer is a `timerfd`
//! per worker, registered with the worker's own reactor: the kernel's high-resolution
//! timer wakes the very thread that sends, with no hand-over between threads.
//!
//! Every wake-up costs tens of microseconds of CPU on a virtual machine, so two wake-ups
//! are at least a gap apart: slots further apart each leave on time, closer ones in small
//! batches, none more than the gap late. The gap is [`SEND_GAP`] while the worker has CPU
//! to spare and widens, up to [`QUANTUM`], while it is busy most of the time, so a
//! generator near its limit batches instead of spending itself on wake-ups. Answers
//! parked on the worker's ticks are looked for on every wake-up, and at least every
//! [`QUANTUM`] while any is parked (see docs/performance.md).

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::str::FromStr;
use std::time::{Duration, Instant};

use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

/// Shortest time between two wake-ups of a precise worker with CPU to spare: slots
/// further apart each leave on time; closer ones leave in batches, each send at most this
/// late (plus the kernel's wake-up latency).
pub const SEND_GAP: Duration = Duration::from_micros(100);

/// Longest time answers parked on a worker's ticks wait to be read while no send wakes
/// the worker, the widest gap between a busy precise worker's wake-ups, and the gap on
/// tokio's timer (its resolution). Reading late does not make an answer late: it is timed
/// by its arrival.
pub const QUANTUM: Duration = Duration::from_millis(1);

/// Below this share of its time asleep a precise worker widens its gap (doubling it, up
/// to [`QUANTUM`]); above [`NARROW_ABOVE`] it narrows it again (halving it, down to
/// [`SEND_GAP`]).
const WIDEN_BELOW: f64 = 0.5;
const NARROW_ABOVE: f64 = 0.75;

/// How the workers wait for their next slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Pacing {
    /// A `timerfd` per worker on the kernel's high-resolution timer (the default).
    #[default]
    Precise,
    /// Tokio's timer (1 ms resolution).
    Timer,
}

/// A pacing name that is not `precise` or `timer`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown pacing {0:?}: expected precise or timer")]
pub struct UnknownPacing(pub String);

impl FromStr for Pacing {
    type Err = UnknownPacing;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "precise" => Ok(Pacing::Precise),
            "timer" => Ok(Pacing::Timer),
            _ => Err(UnknownPacing(s.to_string())),
        }
    }
}

/// How a worker waits for its next slot: on the precise timer, never sooner than its gap
/// after the time of its last wait, or on tokio's, never sooner than [`QUANTUM`].
#[derive(Debug)]
pub(super) struct Clock {
    /// The precise timer, or `None` for tokio's.
    precise: Option<PreciseTimer>,
    /// The time the last wait was for. (Counting the gap from the time asked for, not
    /// from the late wake-up, keeps a worker whose slots are a gap apart on time instead
    /// of ratcheting late.)
    last: Option<Instant>,
    /// The shortest time between two waits now.
    gap: Duration,
}

impl Clock {
    /// A clock for `pacing`; must be created inside a tokio runtime with I/O enabled.
    pub(super) fn new(pacing: Pacing) -> std::io::Result<Self> {
        Ok(Self {
            precise: match pacing {
                Pacing::Precise => Some(PreciseTimer::new()?),
                Pacing::Timer => None,
            },
            last: None,
            gap: match pacing {
                Pacing::Precise => SEND_GAP,
                Pacing::Timer => QUANTUM,
            },
        })
    }

    /// The shortest time between two wake-ups now.
    #[cfg(test)]
    fn gap(&self) -> Duration {
        self.gap
    }

    /// Adapts a precise clock's gap to the share of its time the worker slept lately.
    pub(super) fn adapt(&mut self, slept_share: f64) {
        if self.precise.is_none() {
            return;
        }
        if slept_share < WIDEN_BELOW {
            self.gap = (self.gap * 2).min(QUANTUM);
        } else if slept_share > NARROW_ABOVE {
            self.gap = (self.gap / 2).max(SEND_GAP);
        }
    }

    /// Waits until `at`, or the gap after the time of the last wait if later; forever
    /// when there is no next slot. May return early: the worker checks which slots are
    /// due itself.
    pub(super) async fn sleep_until(&mut self, at: Option<Instant>) {
        let Some(at) = at else {
            return std::future::pending().await;
        };
        let at = self.last.map_or(at, |last| at.max(last + self.gap));
        match &mut self.precise {
            Some(timer) => {
                if let Err(e) = timer.sleep_until(at).await {
                    tracing::warn!("precise pacing failed, using tokio's timer: {e}");
                    self.precise = None;
                    self.gap = QUANTUM;
                    return;
                }
            }
            None => tokio::time::sleep_until(at.into()).await,
        }
        self.last = Some(at);
    }
}

/// A one-shot high-resolution timer a task can await on the runtime's reactor.
#[derive(Debug)]
pub struct PreciseTimer {
    fd: AsyncFd<OwnedFd>,
    /// The deadline the timer is armed for, if it has not fired yet.
    armed: Option<Instant>,
}

impl PreciseTimer {
    /// A new timer; must be created inside a tokio runtime with I/O enabled.
    pub fn new() -> std::io::Result<Self> {
        // SAFETY: timerfd_create returns a new descriptor we own, or -1.
        let raw = unsafe {
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            )
        };
        if raw < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: `raw` is a fresh descriptor nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: the OwnedFd is moved into the AsyncFd, which owns it (and keeps it open,
        // the same descriptor) until it is dropped.
        let fd = unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }
            .map_err(|e| e.into_parts().1)?;
        Ok(Self { fd, armed: None })
    }

    /// Waits until `at`. It may return early when an earlier, abandoned wait's expiry is
    /// still pending: callers check the time themselves.
    pub async fn sleep_until(&mut self, at: Instant) -> std::io::Result<()> {
        let now = Instant::now();
        if at > now {
            // A wait interrupted by an answer comes back for the same deadline: the
            // timer is still armed for it, so no system call is needed.
            if self.armed != Some(at) {
                self.arm(at - now)?;
                self.armed = Some(at);
            }
            // The expiry is not read: arming the timer again resets it. Readiness left
            // over from an earlier expiry is told apart by the time.
            loop {
                self.fd.readable().await?.clear_ready();
                let now = Instant::now();
                if now >= at {
                    self.armed = None;
                    break;
                }
                self.arm(at - now)?;
            }
        }
        Ok(())
    }

    /// Sets the timer to fire once, `after` from now.
    fn arm(&self, after: Duration) -> std::io::Result<()> {
        let value = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: libc::timespec {
                tv_sec: after.as_secs() as libc::time_t,
                // A zero value would disarm the timer.
                tv_nsec: (after.subsec_nanos().max(1)) as libc::c_long,
            },
        };
        // SAFETY: a valid itimerspec for our own timerfd; the old value is not wanted.
        let set = unsafe {
            libc::timerfd_settime(
                self.fd.get_ref().as_raw_fd(),
                0,
                &value,
                std::ptr::null_mut(),
            )
        };
        if set == 0 {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pacing_names_parse() {
        assert_eq!("precise".parse(), Ok(Pacing::Precise));
        assert_eq!(" Timer ".parse(), Ok(Pacing::Timer));
        assert!("fast".parse::<Pacing>().is_err());
    }

    #[tokio::test]
    async fn never_wakes_before_its_time_nor_within_its_gap() {
        for (pacing, gap) in [(Pacing::Precise, SEND_GAP), (Pacing::Timer, QUANTUM)] {
            let mut clock = Clock::new(pacing).unwrap();
            assert_eq!(clock.gap(), gap);
            let step = gap * 3 / 10;
            let first = Instant::now() + gap * 3;
            let mut woke = first;
            for i in 0..5u32 {
                let at = first + step * i;
                clock.sleep_until(Some(at)).await;
                woke = Instant::now();
                assert!(woke >= at, "{pacing:?}: woke before its time");
            }
            // Five waits for times 0.3 gaps apart: the wake-ups are a gap apart instead.
            assert!(woke >= first + gap * 4, "{pacing:?}: wake-ups within a gap");
            // A time already past returns at once once a gap has gone by.
            std::thread::sleep(gap);
            clock.sleep_until(Some(Instant::now())).await;
        }
    }

    #[tokio::test]
    async fn a_busy_precise_worker_widens_its_gap_up_to_a_quantum_and_narrows_it_when_idle() {
        let mut clock = Clock::new(Pacing::Precise).unwrap();
        clock.adapt(0.6);
        assert_eq!(
            clock.gap(),
            SEND_GAP,
            "between the thresholds nothing changes"
        );
        clock.adapt(0.2);
        assert_eq!(clock.gap(), SEND_GAP * 2);
        for _ in 0..10 {
            clock.adapt(0.0);
        }
        assert_eq!(clock.gap(), QUANTUM);
        clock.adapt(0.9);
        assert_eq!(clock.gap(), QUANTUM / 2);
        for _ in 0..10 {
            clock.adapt(1.0);
        }
        assert_eq!(clock.gap(), SEND_GAP);
        let mut timer = Clock::new(Pacing::Timer).unwrap();
        timer.adapt(1.0);
        assert_eq!(timer.gap(), QUANTUM, "tokio's timer keeps its resolution");
    }

    #[tokio::test]
    async fn an_abandoned_wait_does_not_break_the_next() {
        let mut timer = PreciseTimer::new().unwrap();
        let soon = Instant::now() + Duration::from_millis(1);
        // Abandon a wait, then let its expiry pass unread.
        let abandoned =
            tokio::time::timeout(Duration::from_micros(10), timer.sleep_until(soon)).await;
        assert!(abandoned.is_err() || Instant::now() >= soon);
        std::thread::sleep(Duration::from_millis(2));
        let later = Instant::now() + Duration::from_millis(3);
        // The stale expiry may end one wait early; waiting again reaches the time.
        while Instant::now() < later {
            timer.sleep_until(later).await.unwrap();
        }
        assert!(Instant::now() >= later);
    }
}
