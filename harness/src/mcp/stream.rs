//! One MCP session over a message stream: WebSocket, newline-delimited TCP or stdio.
//!
//! Requests from any number of tasks share one connection. A writer task sends one
//! message per line or frame, in the order requests queue them, so a request that times
//! out never leaves half a message on the wire. A reader task parses every incoming
//! message and hands a response to the request waiting for its id; notifications are
//! skipped, server requests answered (`ping` with an empty result, anything else with
//! "method not found"), and a response for an id nobody waits for is counted
//! ([`StreamSession::unmatched_responses`]), never delivered to another request.
//!
//! When the connection ends, every waiting request fails as `connect`, and so does every
//! later one, at once ([`super::redial`] then opens a new session). A message larger than
//! [`SessionOptions::max_body_bytes`] fails the waiting requests as
//! `protocol:body_too_large` and closes the session. A message that is
//! not a JSON object cannot be matched to a request: every request waiting at that moment
//! fails as `protocol:bad_json`, and the session goes on.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream::{BoxStream, StreamExt};
use serde::Deserialize;
use serde_json::Value;
use tokio::process::Child;
use tokio::sync::{mpsc, oneshot};
use tokio::task::AbortHandle;

use super::handshake::{self, INITIALIZE_ID, INITIALIZED};
use super::jsonrpc::{RequestTemplate, cancelled_notification, classify_message};
use super::listening::Listening;
use super::opening::{SessionError, SessionOptions};
use super::outcome::{ErrorClass, Outcome, ProtocolViolation};
use super::round_trips::{Answering, answer_for, reply_to};
use super::wire::{FrameWriter, ReadError, Wire, WireError};
use super::{AUTO_PROTOCOL_VERSION, MODERN_PROTOCOL_VERSION, is_modern};

/// How long [`StreamSession::close`] lets a stdio server exit after its input closed.
const CHILD_EXIT_GRACE: Duration = Duration::from_secs(2);

/// What the reader hands a waiting request: the whole response message, or why none came.
type Delivery = Result<Bytes, ErrorClass>;

/// A message for the writer task.
enum Outgoing {
    /// Send this message.
    Message(Vec<u8>),
    /// Flush, close the connection (or the child's stdin), then acknowledge.
    Close(Option<oneshot::Sender<()>>),
}

/// State shared by the requests, the reader and the writer.
#[derive(Debug, Default)]
struct Shared {
    pending: Mutex<Pending>,
    unmatched: AtomicU64,
}

#[derive(Debug, Default)]
struct Pending {
    waiting: HashMap<u64, oneshot::Sender<Delivery>>,
    /// Set once the connection is gone: new requests fail at once.
    closed: bool,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Pending> {
        // A panic while holding the lock leaves the map consistent; keep going.
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers a request waiting for `id`, unless the session is closed.
    fn register(&self, id: u64) -> Result<oneshot::Receiver<Delivery>, ErrorClass> {
        let (tx, rx) = oneshot::channel();
        let mut pending = self.lock();
        if pending.closed {
            return Err(ErrorClass::Connect);
        }
        pending.waiting.insert(id, tx);
        Ok(rx)
    }

    fn forget(&self, id: u64) {
        self.lock().waiting.remove(&id);
    }

    /// Hands `message` to the request waiting for `id`, or counts it as unmatched.
    fn deliver(&self, id: u64, message: Bytes) {
        let waiter = self.lock().waiting.remove(&id);
        match waiter {
            // A request that gave up in the meantime has dropped its receiver.
            Some(tx) => {
                if tx.send(Ok(message)).is_err() {
                    self.unmatched.fetch_add(1, Ordering::Relaxed);
                }
            }
            None => {
                self.unmatched.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Fails every waiting request with `class`; with `close`, later ones fail as `connect`.
    fn fail_waiting(&self, class: ErrorClass, close: bool) {
        let waiting = {
            let mut pending = self.lock();
            pending.closed |= close;
            std::mem::take(&mut pending.waiting)
        };
        for tx in waiting.into_values() {
            let _ = tx.send(Err(class));
        }
    }
}

/// Removes a request's entry however its wait ends (answer, timeout, cancellation).
struct Registration<'a> {
    shared: &'a Shared,
    id: u64,
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        self.shared.forget(self.id);
    }
}

/// An initialised MCP session over a message stream. Request ids are unique within it.
#[derive(Debug)]
pub struct StreamSession {
    endpoint: String,
    outgoing: mpsc::UnboundedSender<Outgoing>,
    shared: Arc<Shared>,
    next_id: AtomicU64,
    options: SessionOptions,
    protocol_version: String,
    reader: AbortHandle,
    writer: AbortHandle,
    /// The stdio server this session spawned, if any.
    child: tokio::sync::Mutex<Option<Child>>,
}

impl std::fmt::Debug for Outgoing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outgoing::Message(m) => write!(f, "Message({} bytes)", m.len()),
            Outgoing::Close(_) => f.write_str("Close"),
        }
    }
}

impl StreamSession {
    /// Connects with `connect`, then `initialize` and `notifications/initialized` (in
    /// 2026-07-28 `server/discover`; with `auto`, `server/discover` and, if the server
    /// answers it with an error, `initialize`), each bounded by `open_timeout` (a stdio
    /// server starts within it). `endpoint` names the server in errors. Its reads wait on
    /// the reactor, not on a load worker's ticks (a chain of exchanges: see
    /// [`super::HttpSession::open`]).
    pub(super) async fn open(
        endpoint: String,
        connect: impl Future<Output = Result<Wire, WireError>>,
        options: SessionOptions,
        open_timeout: Duration,
    ) -> Result<Self, SessionError> {
        let open = Self::open_on_reactor(endpoint, connect, options, open_timeout);
        super::ticks::Ticks::scope(super::ticks::Ticks::off(), open).await
    }

    async fn open_on_reactor(
        endpoint: String,
        connect: impl Future<Output = Result<Wire, WireError>>,
        options: SessionOptions,
        open_timeout: Duration,
    ) -> Result<Self, SessionError> {
        let init_error = |class, detail| SessionError::Initialize {
            url: endpoint.clone(),
            class,
            detail,
        };
        let wire = match tokio::time::timeout(open_timeout, connect).await {
            Err(_) => return Err(init_error(ErrorClass::Timeout, None)),
            Ok(Err(e)) => return Err(init_error(e.class(), Some(e.to_string()))),
            Ok(Ok(wire)) => wire,
        };
        let mut session = Self::start(endpoint.clone(), wire, options);
        let asked = session.options.protocol_version.clone();
        if is_modern(&asked) || asked == AUTO_PROTOCOL_VERSION {
            match session.discover(open_timeout).await {
                Ok(()) => {
                    session.protocol_version = MODERN_PROTOCOL_VERSION.to_string();
                    session.listen().await;
                    return Ok(session);
                }
                // An answer came (an error: the server does not know the method), so the
                // id is free again: `initialize` on the same connection.
                Err(SessionError::Discover { class, .. })
                    if asked == AUTO_PROTOCOL_VERSION
                        && !matches!(class, ErrorClass::Timeout | ErrorClass::Connect) =>
                {
                    tracing::debug!(%endpoint, %class, "server/discover refused; initialize");
                }
                Err(e) => return Err(e),
            }
        }
        let answer = session
            .call_within(
                INITIALIZE_ID,
                handshake::initialize_request(&session.options),
                open_timeout,
            )
            .await
            .map_err(|class| init_error(class, None))?;
        let version = handshake::negotiated_version(&endpoint, &answer)?;
        if session
            .outgoing
            .send(Outgoing::Message(INITIALIZED.to_vec()))
            .is_err()
        {
            return Err(SessionError::Initialized {
                url: endpoint,
                class: ErrorClass::Connect,
            });
        }
        session.protocol_version = version;
        session.listen().await;
        Ok(session)
    }

    /// Subscribes to the run's notifications, if it listens: `resources/subscribe`, or in
    /// 2026-07-28 `subscriptions/listen` (its answer comes only when the server ends it,
    /// so it is sent without waiting). The notifications arrive on the connection.
    async fn listen(&self) {
        let Some(listening) = self.options.listening.clone() else {
            return;
        };
        let subscribe = listening.subscribe(&self.protocol_version);
        if is_modern(&self.protocol_version) {
            let id = self.next_id.fetch_add(1, Ordering::Relaxed);
            let _ = self.outgoing.send(Outgoing::Message(subscribe.body(id)));
        } else if self.request(&subscribe).await != Outcome::Ok {
            tracing::warn!(endpoint = %self.endpoint, uri = %listening.uri, "resources/subscribe refused");
            return;
        }
        listening.opened();
    }

    /// `server/discover` within `timeout`: whether the server speaks 2026-07-28.
    async fn discover(&self, timeout: Duration) -> Result<(), SessionError> {
        let answer = self
            .call_within(
                INITIALIZE_ID,
                handshake::discover_template().body(INITIALIZE_ID),
                timeout,
            )
            .await
            .map_err(|class| SessionError::Discover {
                url: self.endpoint.clone(),
                class,
                detail: None,
            })?;
        handshake::discovered(&self.endpoint, &answer)
    }

    /// Starts the reader and writer tasks on `wire`.
    fn start(endpoint: String, wire: Wire, options: SessionOptions) -> Self {
        let shared = Arc::new(Shared::default());
        let (outgoing, queue) = mpsc::unbounded_channel();
        let writer = tokio::spawn(write_loop(wire.writer, queue, shared.clone())).abort_handle();
        let reader = tokio::spawn(read_loop(
            wire.frames,
            shared.clone(),
            outgoing.clone(),
            (options.answering.clone(), options.listening.clone()),
        ))
        .abort_handle();
        Self {
            endpoint,
            outgoing,
            shared,
            next_id: AtomicU64::new(INITIALIZE_ID + 1),
            options,
            protocol_version: String::new(),
            reader,
            writer,
            child: tokio::sync::Mutex::new(wire.child),
        }
    }

    /// Sends `body` (a request with id `id`) and waits, within the request timeout, for
    /// the response with that id.
    async fn call_id(&self, id: u64, body: Vec<u8>) -> Result<Bytes, ErrorClass> {
        self.call_within(id, body, self.options.timeout).await
    }

    /// [`Self::call_id`] within `timeout`.
    async fn call_within(
        &self,
        id: u64,
        body: Vec<u8>,
        timeout: Duration,
    ) -> Result<Bytes, ErrorClass> {
        let answer = self.shared.register(id)?;
        let _registration = Registration {
            shared: &self.shared,
            id,
        };
        self.outgoing
            .send(Outgoing::Message(body))
            .map_err(|_| ErrorClass::Connect)?;
        match tokio::time::timeout(timeout, answer).await {
            Err(_) => Err(ErrorClass::Timeout),
            // The reader ended without failing us explicitly: the connection is gone.
            Ok(Err(_)) => Err(ErrorClass::Connect),
            Ok(Ok(delivery)) => delivery,
        }
    }

    /// Sends one request built from `template` with a fresh id and waits for its answer.
    pub async fn request(&self, template: &RequestTemplate) -> Outcome {
        self.call(template, false).await.0
    }

    /// [`Self::request`], cancelled with `notifications/cancelled` (in every revision: a
    /// stream transport has no response stream of its own to close) if no answer came
    /// within `after`.
    pub async fn request_cancelling(&self, template: &RequestTemplate, after: Duration) -> Outcome {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        match tokio::time::timeout(after, self.call_id(id, template.body(id))).await {
            Ok(Ok(message)) => classify_message(&message, id).unwrap_or(Outcome::Failed(
                ErrorClass::Protocol(ProtocolViolation::NoResponse),
            )),
            Ok(Err(class)) => Outcome::Failed(class),
            Err(_) => {
                let _ = self
                    .outgoing
                    .send(Outgoing::Message(cancelled_notification(id)));
                Outcome::Cancelled
            }
        }
    }

    /// [`Self::request`], and the answer's `result` when `keep`.
    pub async fn call(&self, template: &RequestTemplate, keep: bool) -> (Outcome, Option<Value>) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        match self.call_id(id, template.body(id)).await {
            // The reader only delivers responses, which always classify.
            Ok(message) => {
                let outcome = classify_message(&message, id).unwrap_or(Outcome::Failed(
                    ErrorClass::Protocol(ProtocolViolation::NoResponse),
                ));
                let kept = keep || outcome == super::http::NOT_COMPLETE;
                (
                    outcome,
                    kept.then(|| super::http::result_of(&message)).flatten(),
                )
            }
            Err(class) => (Outcome::Failed(class), None),
        }
    }

    /// Ends the session: closes the connection (a stdio server's input), then waits
    /// briefly for a stdio server to exit and kills it if it does not (reported as
    /// `timeout`).
    pub async fn close(&self) -> Result<(), ErrorClass> {
        let (ack, acked) = oneshot::channel();
        if self.outgoing.send(Outgoing::Close(Some(ack))).is_ok() {
            let _ = tokio::time::timeout(self.options.timeout, acked).await;
        }
        self.shared.fail_waiting(ErrorClass::Connect, true);
        self.reader.abort();
        let child = self.child.lock().await.take();
        match child {
            None => Ok(()),
            Some(mut child) => match tokio::time::timeout(CHILD_EXIT_GRACE, child.wait()).await {
                Ok(Ok(_)) => Ok(()),
                _ => {
                    tracing::debug!(endpoint = %self.endpoint, "stdio server did not exit; killing it");
                    let _ = child.kill().await;
                    Err(ErrorClass::Timeout)
                }
            },
        }
    }

    /// The protocol version negotiated in `initialize`.
    pub fn protocol_version(&self) -> &str {
        &self.protocol_version
    }

    /// How the server's questions are answered.
    pub fn answering(&self) -> &super::round_trips::Answering {
        &self.options.answering
    }

    /// Whether the connection is gone (every request now fails at once).
    pub fn is_closed(&self) -> bool {
        self.shared.lock().closed
    }

    /// Responses that arrived for an id no request was waiting for (unknown, already
    /// answered, or given up on after its timeout).
    pub fn unmatched_responses(&self) -> u64 {
        self.shared.unmatched.load(Ordering::Relaxed)
    }
}

impl Drop for StreamSession {
    fn drop(&mut self) {
        self.reader.abort();
        self.writer.abort();
    }
}

/// Writes queued messages, flushing once the queue is empty, until told to close or the
/// connection fails (which fails every waiting request as `connect`).
async fn write_loop(
    mut writer: FrameWriter,
    mut queue: mpsc::UnboundedReceiver<Outgoing>,
    shared: Arc<Shared>,
) {
    while let Some(first) = queue.recv().await {
        let mut next = Some(first);
        let mut close = None;
        while let Some(item) = next.take() {
            match item {
                Outgoing::Message(body) => {
                    if let Err(error) = writer.feed(body).await {
                        tracing::debug!(%error, "write failed");
                        shared.fail_waiting(ErrorClass::Connect, true);
                        return;
                    }
                }
                Outgoing::Close(ack) => {
                    close = Some(ack);
                    break;
                }
            }
            next = queue.try_recv().ok();
        }
        if let Err(error) = writer.flush().await {
            tracing::debug!(%error, "flush failed");
            shared.fail_waiting(ErrorClass::Connect, true);
            return;
        }
        if let Some(ack) = close {
            if let Err(error) = writer.close().await {
                tracing::debug!(%error, "close failed");
            }
            // Dropping the writer closes the socket's write side or the child's stdin.
            drop(writer);
            if let Some(ack) = ack {
                let _ = ack.send(());
            }
            return;
        }
    }
}

/// What the reader needs of a message to route it.
#[derive(Deserialize)]
struct Probe {
    #[serde(default)]
    id: Option<Value>,
    #[serde(default)]
    method: Option<Value>,
}

/// Reads messages and routes them until the connection ends.
async fn read_loop(
    mut frames: BoxStream<'static, Result<Bytes, ReadError>>,
    shared: Arc<Shared>,
    outgoing: mpsc::UnboundedSender<Outgoing>,
    (answering, listening): (Answering, Option<Arc<Listening>>),
) {
    let end = loop {
        match frames.next().await {
            None | Some(Err(ReadError::Closed)) => break ErrorClass::Connect,
            Some(Err(ReadError::TooLarge)) => {
                break ErrorClass::Protocol(ProtocolViolation::BodyTooLarge);
            }
            Some(Ok(message)) => {
                if let Some(listening) = &listening {
                    listening.observe(&message);
                }
                route(message, &shared, &outgoing, &answering);
            }
        }
    };
    shared.fail_waiting(end, true);
    let _ = outgoing.send(Outgoing::Close(None));
}

fn route(
    message: Bytes,
    shared: &Shared,
    outgoing: &mpsc::UnboundedSender<Outgoing>,
    answering: &Answering,
) {
    let text = message.trim_ascii();
    if text.is_empty() {
        return;
    }
    let probe = match serde_json::from_slice::<Probe>(text) {
        Ok(probe) if text.first() == Some(&b'{') => probe,
        _ => {
            shared.fail_waiting(ErrorClass::Protocol(ProtocolViolation::BadJson), false);
            return;
        }
    };
    match (probe.method, probe.id) {
        // A notification.
        (Some(_), None) => {}
        // A request from the server.
        (Some(method), Some(id)) => {
            let method = method.as_str().unwrap_or_default();
            let reply = reply_to(&id, method);
            if method == "ping" || answer_for(method).is_none() || answering.after.is_zero() {
                let _ = outgoing.send(Outgoing::Message(reply));
            } else {
                let (outgoing, after) = (outgoing.clone(), answering.after);
                tokio::spawn(async move {
                    tokio::time::sleep(after).await;
                    let _ = outgoing.send(Outgoing::Message(reply));
                });
            }
            if method != "ping" && answer_for(method).is_some() {
                answering.count();
            }
        }
        (None, id) => match id.as_ref().and_then(Value::as_u64) {
            Some(id) => shared.deliver(id, message),
            None => {
                shared.unmatched.fetch_add(1, Ordering::Relaxed);
            }
        },
    }
}
