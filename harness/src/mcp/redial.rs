//! A session over a message stream (WebSocket, TCP, stdio) that opens itself again once its
//! connection is gone, as a client of a restarted server would: the first request after
//! the break dials (a new connection, or a new stdio process, and a new `initialize`), on
//! the schedule, so while the server is down every request tries once and fails as
//! `connect`, and the first one after it is back finds a session again. Requests that
//! were waiting when the connection broke are lost, as the specification says of a broken
//! stream; a request is never sent twice.

use std::sync::{Arc, Mutex, PoisonError};

use std::time::Duration;

use serde_json::Value;

use super::endpoint::Endpoint;
use super::jsonrpc::RequestTemplate;
use super::opening::{SessionError, SessionOptions};
use super::outcome::{ErrorClass, Outcome};
use super::recovery::Renewable;
use super::stream::StreamSession;
use super::wire;

/// A stream session and the ones it replaced.
#[derive(Debug)]
pub struct Redial {
    endpoint: Endpoint,
    options: SessionOptions,
    session: Renewable<StreamSession>,
    /// Sessions whose connection broke, closed with the live one at the end (a stdio
    /// server's process is reaped then).
    retired: Mutex<Vec<Arc<StreamSession>>>,
    protocol_version: String,
}

/// Connects to `endpoint` and opens a session on it.
async fn dial(endpoint: &Endpoint, options: SessionOptions) -> Result<StreamSession, SessionError> {
    let max = options.max_body_bytes;
    let name = endpoint.to_string();
    let timeout = options.timeout;
    match endpoint {
        Endpoint::Http(url) => Err(SessionError::Client {
            url: url.to_string(),
            reason: "Streamable HTTP is not a message stream".into(),
        }),
        Endpoint::WebSocket(url) => {
            StreamSession::open(name, wire::websocket(url, max), options, timeout).await
        }
        Endpoint::Tcp(addr) => {
            StreamSession::open(name, wire::tcp(*addr, max), options, timeout).await
        }
        Endpoint::Stdio(command) => {
            let spawned = wire::stdio(command, max);
            // A stdio server starts as the session opens: it has the command's start bound.
            let timeout = timeout.max(command.start_timeout);
            StreamSession::open(name, async { spawned }, options, timeout).await
        }
    }
}

impl Redial {
    /// Opens the first session at `endpoint` (WebSocket, TCP or stdio).
    pub(super) async fn open(
        endpoint: &Endpoint,
        options: SessionOptions,
    ) -> Result<Self, SessionError> {
        let first = dial(endpoint, options.clone()).await?;
        Ok(Self {
            endpoint: endpoint.clone(),
            protocol_version: first.protocol_version().to_string(),
            options,
            session: Renewable::new(first),
            retired: Mutex::new(Vec::new()),
        })
    }

    /// Sends one request, on a new session if the connection is gone; the whole of it
    /// within the request timeout.
    pub async fn request(&self, template: &RequestTemplate) -> Outcome {
        self.call(template, false).await.0
    }

    /// [`Self::request`], cancelled if no answer came within `after` (on a connection
    /// that is gone, sent as a plain request on the new one).
    pub async fn request_cancelling(&self, template: &RequestTemplate, after: Duration) -> Outcome {
        let (session, _) = self.session.current();
        if session.is_closed() {
            return self.request(template).await;
        }
        session.request_cancelling(template, after).await
    }

    /// [`Self::request`], and the answer's `result` when `keep`.
    pub async fn call(&self, template: &RequestTemplate, keep: bool) -> (Outcome, Option<Value>) {
        let (session, generation) = self.session.current();
        if !session.is_closed() {
            return session.call(template, keep).await;
        }
        let again = tokio::time::timeout(self.options.timeout, async {
            match self.redial(generation).await {
                Ok(session) => session.call(template, keep).await,
                Err(_) => (Outcome::Failed(ErrorClass::Connect), None),
            }
        });
        again
            .await
            .unwrap_or((Outcome::Failed(ErrorClass::Timeout), None))
    }

    /// How the server's questions are answered.
    pub fn answering(&self) -> &super::round_trips::Answering {
        &self.options.answering
    }

    /// Dials again, unless another request did since `generation` was current; the
    /// session it replaces is kept to be closed at the end.
    async fn redial(&self, generation: u64) -> Result<Arc<StreamSession>, SessionError> {
        let dial = || dial(&self.endpoint, self.options.clone());
        let (session, replaced) = self
            .session
            .renew(generation, &self.options.recovery, dial)
            .await?;
        if let Some(old) = replaced {
            self.retired
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(old);
        }
        Ok(session)
    }

    /// Ends the live session and reaps the ones it replaced; the live one's result.
    pub async fn close(&self) -> Result<(), ErrorClass> {
        let retired =
            std::mem::take(&mut *self.retired.lock().unwrap_or_else(PoisonError::into_inner));
        for old in retired {
            let _ = old.close().await;
        }
        self.session.current().0.close().await
    }

    /// The protocol version the first session negotiated.
    pub fn protocol_version(&self) -> &str {
        &self.protocol_version
    }

    /// Responses that matched no waiting request, over every session it had.
    pub fn unmatched_responses(&self) -> u64 {
        let retired: u64 = self
            .retired
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|s| s.unmatched_responses())
            .sum();
        retired + self.session.current().0.unmatched_responses()
    }
}
