//! The HTTP/1.1 connections of one Streamable HTTP session: kept alive and reused, one
//! request at a time each, opened on demand up to a cap. Past the cap a request waits, in
//! order, for a connection to come free: its latency still counts from its intended send
//! time, so the wait is measured, not hidden, and an overloaded server cannot make the
//! generator open connections by the thousand.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::http1::Conn;
use super::waiting::Waiting;

/// Idle keep-alive connections to one server address, and the right to open more.
#[derive(Debug)]
pub(super) struct Connections {
    addr: SocketAddr,
    idle: Mutex<Vec<Conn>>,
    /// One permit per connection the session may have in use.
    slots: Arc<Semaphore>,
    /// Requests waiting for a slot.
    waiting: Arc<Waiting>,
}

/// A connection held by one request; the permit goes back when the lease is dropped.
#[derive(Debug)]
pub(super) struct Lease {
    pub conn: Conn,
    /// Whether the connection carried an earlier request.
    pub reused: bool,
    permit: OwnedSemaphorePermit,
}

impl Connections {
    /// A pool for `addr` of at most `max` connections in use at once.
    pub(super) fn new(addr: SocketAddr, max: usize) -> Self {
        Self {
            addr,
            idle: Mutex::new(Vec::new()),
            slots: Arc::new(Semaphore::new(max.max(1))),
            waiting: Arc::default(),
        }
    }

    /// Whether a request waits for a connection to come free.
    pub(super) fn contended(&self) -> bool {
        self.waiting.any()
    }

    /// Waits for a free slot (first come, first served), then takes an idle connection
    /// or opens a new one.
    pub(super) async fn lease(&self) -> std::io::Result<Lease> {
        let permit = match self.slots.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                let _queued = self.waiting.join();
                self.slots
                    .clone()
                    .acquire_owned()
                    .await
                    .map_err(std::io::Error::other)?
            }
        };
        loop {
            let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
            match idle {
                // One the server closed (or wrote to) while it sat idle is dropped.
                Some(conn) if conn.reusable() => {
                    return Ok(Lease {
                        conn,
                        reused: true,
                        permit,
                    });
                }
                Some(_) => {}
                None => return self.fresh(permit).await,
            }
        }
    }

    /// Replaces a leased connection (one the server had closed: the request could not be
    /// written) with a new one, keeping its slot.
    pub(super) async fn reopen(&self, lease: Lease) -> std::io::Result<Lease> {
        let Lease { conn, permit, .. } = lease;
        drop(conn);
        self.fresh(permit).await
    }

    async fn fresh(&self, permit: OwnedSemaphorePermit) -> std::io::Result<Lease> {
        let mut conn = Conn::open(self.addr).await?;
        conn.watch(self.waiting.clone());
        Ok(Lease {
            conn,
            reused: false,
            permit,
        })
    }

    /// Returns a connection whose last answer was read to the end (one with bytes left
    /// over is dropped; whether the server closed it is checked when it is leased again);
    /// its slot comes free either way.
    pub(super) fn put_back(&self, lease: Lease) {
        let Lease {
            mut conn, permit, ..
        } = lease;
        if conn.fully_read() {
            conn.make_idle();
            self.idle
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(conn);
        }
        drop(permit);
    }
}
