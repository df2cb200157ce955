//! A client's place in the run: the session it sends on, fixed for the whole run, or, with
//! a `session_lifetime`, replaced by a new one (opened, its predecessor closed once its
//! requests are answered) after a number of requests or a length of time.

use std::ops::Deref;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;

use crate::mcp::{Endpoint, ErrorClass, Session, SessionOptions};
use crate::scenario::SessionLifetime;

/// A client's session.
#[derive(Debug)]
pub enum Seat {
    /// One session for the whole run.
    Fixed(Session),
    /// Sessions that live for a while, one after another.
    Churning(Churning),
}

/// The session a request is sent on.
pub enum InSeat<'a> {
    Fixed(&'a Session),
    Churned(Arc<Session>),
}

impl Deref for InSeat<'_> {
    type Target = Session;

    fn deref(&self) -> &Session {
        match self {
            InSeat::Fixed(s) => s,
            InSeat::Churned(s) => s,
        }
    }
}

/// Sessions replaced after their lifetime.
#[derive(Debug)]
pub struct Churning {
    endpoint: Endpoint,
    options: SessionOptions,
    lifetime: SessionLifetime,
    life: Mutex<Life>,
    /// Held while a new session opens: one opening at a time, the others wait for it.
    opening: tokio::sync::Mutex<()>,
    /// Closing the sessions that were replaced.
    closing: Mutex<Vec<JoinHandle<()>>>,
    replaced: AtomicU64,
}

#[derive(Debug)]
struct Life {
    session: Arc<Session>,
    /// Requests (a workflow counts once) sent on it.
    used: u64,
    opened: Instant,
    generation: u64,
}

impl Seat {
    /// A seat on `first`, replaced after `lifetime` when it is given.
    pub fn new(
        first: Session,
        endpoint: &Endpoint,
        options: &SessionOptions,
        lifetime: Option<SessionLifetime>,
    ) -> Self {
        match lifetime {
            None => Seat::Fixed(first),
            Some(lifetime) => Seat::Churning(Churning {
                endpoint: endpoint.clone(),
                options: options.clone(),
                lifetime,
                life: Mutex::new(Life {
                    session: Arc::new(first),
                    used: 0,
                    opened: Instant::now(),
                    generation: 0,
                }),
                opening: tokio::sync::Mutex::new(()),
                closing: Mutex::new(Vec::new()),
                replaced: AtomicU64::new(0),
            }),
        }
    }

    /// The session for the next request: with a lifetime that is over, a new one (the
    /// request waits for it to open, as a client's would; a failed open fails it).
    pub async fn session(&self) -> Result<InSeat<'_>, ErrorClass> {
        match self {
            Seat::Fixed(s) => Ok(InSeat::Fixed(s)),
            Seat::Churning(c) => c.session().await.map(InSeat::Churned),
        }
    }

    /// The session in use now (the first, for a fixed seat).
    pub fn current(&self) -> InSeat<'_> {
        match self {
            Seat::Fixed(s) => InSeat::Fixed(s),
            Seat::Churning(c) => InSeat::Churned(c.lock().session.clone()),
        }
    }

    /// Sessions replaced so far.
    pub fn replaced(&self) -> u64 {
        match self {
            Seat::Fixed(_) => 0,
            Seat::Churning(c) => c.replaced.load(Ordering::Relaxed),
        }
    }

    /// Closes the session in use, once the replaced ones are closed; its result.
    pub async fn close(&self) -> Result<(), ErrorClass> {
        if let Seat::Churning(c) = self {
            let closing =
                std::mem::take(&mut *c.closing.lock().unwrap_or_else(PoisonError::into_inner));
            for task in closing {
                let _ = task.await;
            }
        }
        self.current().close().await
    }
}

impl Churning {
    fn lock(&self) -> std::sync::MutexGuard<'_, Life> {
        self.life.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn expired(&self, life: &Life) -> bool {
        self.lifetime.requests.is_some_and(|n| life.used >= n)
            || self
                .lifetime
                .duration
                .is_some_and(|d| life.opened.elapsed() >= d)
    }

    async fn session(&self) -> Result<Arc<Session>, ErrorClass> {
        let generation = {
            let mut life = self.lock();
            if !self.expired(&life) {
                life.used += 1;
                return Ok(life.session.clone());
            }
            life.generation
        };
        let _opening = self.opening.lock().await;
        {
            let mut life = self.lock();
            if life.generation != generation && !self.expired(&life) {
                life.used += 1;
                return Ok(life.session.clone());
            }
        }
        let opened = tokio::time::timeout(
            self.options.timeout,
            Session::open(&self.endpoint, self.options.clone()),
        )
        .await
        .map_err(|_| ErrorClass::Timeout)?
        .map_err(|e| e.class())?;
        let session = Arc::new(opened);
        let old = {
            let mut life = self.lock();
            let old = std::mem::replace(&mut life.session, session.clone());
            life.used = 1;
            life.opened = Instant::now();
            life.generation += 1;
            old
        };
        self.replaced.fetch_add(1, Ordering::Relaxed);
        let timeout = self.options.timeout;
        let close = tokio::spawn(close_when_idle(old, timeout));
        self.closing
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(close);
        Ok(session)
    }
}

/// Closes `session` once no request holds it any more (or a request timeout later).
async fn close_when_idle(session: Arc<Session>, timeout: Duration) {
    let until = Instant::now() + timeout;
    while Arc::strong_count(&session) > 1 && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    if let Err(class) = session.close().await {
        tracing::debug!(%class, "closing a replaced session failed");
    }
}
