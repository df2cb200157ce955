//! One MCP session over Streamable HTTP: `initialize` (or, in 2026-07-28, `server/discover`
//! and no session), requests with the session's headers and their own (a session the
//! server lost is opened again), `DELETE` at the end.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::Value;

use super::connections::{Connections, Lease};
use super::handshake::{self, INITIALIZE_ID, INITIALIZED};
use super::http1::{Conn, ContentKind, Framing, Head, HttpError};
use super::jsonrpc::{RequestTemplate, cancelled_notification, classify_message};
use super::listening::Listening;
use super::opening::{SessionError, SessionOptions};
use super::outcome::{ErrorClass, Outcome, ProtocolViolation};
use super::recovery::Renewable;
use super::sse::SseParser;
use super::ticks::Ticks;
use super::{AUTO_PROTOCOL_VERSION, MODERN_PROTOCOL_VERSION, is_modern};

/// A 2026-07-28 `input_required` result: kept, so the request can be sent again with
/// the answers it asks for.
pub(super) const NOT_COMPLETE: Outcome =
    Outcome::Failed(ErrorClass::Protocol(ProtocolViolation::NotComplete));

/// How long the rest of an event stream whose response has arrived is read in the
/// background before its connection is given up (and its slot freed).
const DRAIN_GRACE: Duration = Duration::from_millis(250);

/// An initialised MCP session. Request ids are unique within it.
#[derive(Debug)]
pub struct HttpSession {
    connections: Arc<Connections>,
    url: url::Url,
    /// The request line's path and the `Host` header.
    path: String,
    host: String,
    /// The version `initialize` negotiated (empty until it answers).
    negotiated: String,
    /// The server's id for the session and the POST head that carries it; replaced when
    /// the server loses the session and it is opened again.
    identity: Renewable<Identity>,
    next_id: AtomicU64,
    options: SessionOptions,
    addr: SocketAddr,
    /// The task holding the session's notification stream open, if it listens.
    listener: std::sync::Mutex<Option<tokio::task::AbortHandle>>,
}

/// One life of a session on the server.
#[derive(Debug)]
struct Identity {
    session_id: Option<String>,
    /// A POST's request line and the session's headers: built once per identity, copied
    /// into the connection's buffer per request, before the request's own headers.
    post: Vec<u8>,
}

/// A request body: a template with its id, or fixed bytes.
#[derive(Clone, Copy)]
enum Body<'a> {
    Template(&'a RequestTemplate, u64),
    Raw(&'a [u8]),
}

impl<'a> Body<'a> {
    /// The request's own header lines (2026-07-28's `Mcp-Method`, `Mcp-Name`).
    fn headers(self) -> &'a [u8] {
        match self {
            Body::Template(t, _) => t.headers(),
            Body::Raw(_) => &[],
        }
    }

    fn len(self) -> usize {
        match self {
            Body::Template(t, id) => t.body_len(id),
            Body::Raw(b) => b.len(),
        }
    }

    fn write_to(self, out: &mut Vec<u8>) {
        match self {
            Body::Template(t, id) => t.write_to(id, out),
            Body::Raw(b) => out.extend_from_slice(b),
        }
    }
}

impl HttpSession {
    /// Opens a session: `initialize`, then `notifications/initialized`; in 2026-07-28,
    /// `server/discover` and no session; with `auto`, `server/discover` and, if the server
    /// does not know it, `initialize`. Its reads wait on the reactor, not on a load
    /// worker's ticks: an open is a chain of exchanges, each sent when the one before is
    /// read (so a session opened in the middle of a run is not held to the ticks).
    pub async fn open(url: url::Url, options: SessionOptions) -> Result<Self, SessionError> {
        Ticks::scope(Ticks::off(), Self::open_on_reactor(url, options)).await
    }

    async fn open_on_reactor(url: url::Url, options: SessionOptions) -> Result<Self, SessionError> {
        let (addr, path, host) = target(&url).await?;
        let mut session = Self {
            connections: Arc::new(Connections::new(addr, options.max_connections)),
            url,
            path,
            host,
            negotiated: String::new(),
            identity: Renewable::new(Identity {
                session_id: None,
                post: Vec::new(),
            }),
            next_id: AtomicU64::new(1),
            options,
            addr,
            listener: std::sync::Mutex::new(None),
        };
        let asked = session.options.protocol_version.clone();
        let (identity, version) = if is_modern(&asked) {
            session.discover().await?
        } else if asked == AUTO_PROTOCOL_VERSION {
            match session.discover().await {
                Ok(modern) => modern,
                Err(SessionError::Discover { class, .. }) => {
                    tracing::debug!(url = %session.url, %class, "server/discover refused; initialize");
                    session.handshake().await?
                }
                Err(e) => return Err(e),
            }
        } else {
            session.handshake().await?
        };
        session.negotiated = version;
        session.identity.set_first(identity);
        if let Some(listening) = session.options.listening.clone() {
            session.listen(listening).await;
        }
        Ok(session)
    }

    /// Holds the session's notification stream open in the background: before 2026-07-28,
    /// `resources/subscribe` and the GET stream; in 2026-07-28, `subscriptions/listen`.
    async fn listen(&self, listening: Arc<Listening>) {
        let (identity, _) = self.identity.current();
        let subscribe = listening.subscribe(&self.negotiated);
        let request = if is_modern(&self.negotiated) {
            let mut request = identity.post.clone();
            request.extend_from_slice(subscribe.headers());
            request.extend_from_slice(b"content-length: ");
            request.extend_from_slice(itoa::Buffer::new().format(subscribe.body_len(0)).as_bytes());
            request.extend_from_slice(b"\r\n\r\n");
            subscribe.write_to(0, &mut request);
            request
        } else {
            let outcome = self.request(&subscribe).await;
            if outcome != Outcome::Ok {
                tracing::warn!(url = %self.url, ?outcome, uri = %listening.uri, "resources/subscribe refused; no notification stream");
                return;
            }
            let mut request = format!(
                "GET {} HTTP/1.1\r\nhost: {}\r\naccept: text/event-stream\r\nmcp-protocol-version: {}\r\n",
                self.path, self.host, self.negotiated
            );
            if let Some(id) = &identity.session_id {
                request.push_str(&format!("mcp-session-id: {id}\r\n"));
            }
            let mut request = request.into_bytes();
            request.extend_from_slice(self.options.headers.as_bytes());
            request.extend_from_slice(b"\r\n");
            request
        };
        let task = tokio::spawn(hold_stream(
            self.addr,
            request,
            listening,
            self.options.max_body_bytes,
        ));
        *self.listener.lock().unwrap_or_else(|e| e.into_inner()) = Some(task.abort_handle());
    }

    /// `server/discover`: the 2026-07-28 identity (no session id; every POST carries the
    /// protocol version) when the server speaks that revision.
    async fn discover(&self) -> Result<(Identity, String), SessionError> {
        let discover_error = |class, detail| SessionError::Discover {
            url: self.url.to_string(),
            class,
            detail,
        };
        let post = self.request_head("POST", Some(MODERN_PROTOCOL_VERSION), None);
        let template = handshake::discover_template();
        let answer = tokio::time::timeout(self.options.timeout, async {
            let (lease, head) = self
                .send(&post, Body::Template(&template, INITIALIZE_ID))
                .await?;
            self.read(lease, head, |msg| {
                classify_message(msg, INITIALIZE_ID)
                    .is_some()
                    .then(|| msg.to_vec())
            })
            .await
        })
        .await
        .unwrap_or(Err(ErrorClass::Timeout));
        let message = answer.map_err(|class| discover_error(class, None))?;
        handshake::discovered(self.url.as_str(), &message)?;
        Ok((
            Identity {
                session_id: None,
                post,
            },
            MODERN_PROTOCOL_VERSION.to_string(),
        ))
    }

    /// `initialize` and `notifications/initialized`: the session's new identity and the
    /// version the server negotiated.
    async fn handshake(&self) -> Result<(Identity, String), SessionError> {
        let init_error = |class, detail| SessionError::Initialize {
            url: self.url.to_string(),
            class,
            detail,
        };
        let head = self.request_head("POST", None, None);
        let body = handshake::initialize_request(&self.options);
        let answer = tokio::time::timeout(self.options.timeout, async {
            let (lease, head) = self.send(&head, Body::Raw(&body)).await?;
            let session_id = head.session_id.clone();
            let message = self
                .read(lease, head, |msg| {
                    classify_message(msg, INITIALIZE_ID)
                        .is_some()
                        .then(|| msg.to_vec())
                })
                .await?;
            Ok::<_, ErrorClass>((session_id, message))
        })
        .await
        .unwrap_or(Err(ErrorClass::Timeout));
        let (session_id, message) = answer.map_err(|class| init_error(class, None))?;
        // A supported version: one of a few fixed strings, safe in a header.
        let version = handshake::negotiated_version(self.url.as_str(), &message)?;
        let identity = Identity {
            post: self.request_head("POST", Some(&version), session_id.as_deref()),
            session_id,
        };
        self.notify_initialized(&identity.post).await?;
        Ok((identity, version))
    }

    /// `method`'s request line and the session's headers (each line ending in CRLF).
    fn request_head(&self, method: &str, version: Option<&str>, id: Option<&str>) -> Vec<u8> {
        let mut head = format!(
            "{method} {} HTTP/1.1\r\nhost: {}\r\naccept: application/json, text/event-stream\r\ncontent-type: application/json\r\n",
            self.path, self.host
        );
        if let Some(version) = version {
            head.push_str(&format!("mcp-protocol-version: {version}\r\n"));
        }
        if let Some(id) = id {
            head.push_str(&format!("mcp-session-id: {id}\r\n"));
        }
        let mut head = head.into_bytes();
        head.extend_from_slice(self.options.headers.as_bytes());
        head
    }

    async fn notify_initialized(&self, post: &[u8]) -> Result<(), SessionError> {
        self.notify(post, INITIALIZED)
            .await
            .map_err(|class| SessionError::Initialized {
                url: self.url.to_string(),
                class,
            })
    }

    /// POSTs the notification `body` with `post`'s headers; any 2xx answer is fine.
    async fn notify(&self, post: &[u8], body: &[u8]) -> Result<(), ErrorClass> {
        let result = tokio::time::timeout(self.options.timeout, async {
            let (lease, head) = self.send(post, Body::Raw(body)).await?;
            let status = head.status;
            self.finish(lease, head).await;
            Ok::<_, ErrorClass>(status)
        })
        .await;
        match result {
            Err(_) => Err(ErrorClass::Timeout),
            Ok(Err(class)) => Err(class),
            Ok(Ok(status)) if (200..300).contains(&status) => Ok(()),
            Ok(Ok(status)) => Err(ErrorClass::of_status(status)),
        }
    }

    /// How the server's questions are answered.
    pub fn answering(&self) -> &super::round_trips::Answering {
        &self.options.answering
    }

    /// Whether the server runs stateful sessions (it handed out a session id).
    pub fn stateful(&self) -> bool {
        self.identity.current().0.session_id.is_some()
    }

    /// The protocol version negotiated in `initialize`.
    pub fn protocol_version(&self) -> &str {
        &self.negotiated
    }

    /// Opens the session again after the server answered 404 for generation `lost`, as
    /// the specification asks of a client: a new `initialize`, once for all the requests
    /// that found it lost. Returns the identity to send with.
    async fn renew(&self, lost: u64) -> Result<Arc<Identity>, SessionError> {
        let handshake = || {
            let again = async { self.handshake().await.map(|(identity, _)| identity) };
            Ticks::scope(Ticks::off(), again)
        };
        let (identity, _) = self
            .identity
            .renew(lost, &self.options.recovery, handshake)
            .await?;
        Ok(identity)
    }

    /// Sends a request (`head` and `body`) on a connection of the session and reads the
    /// answer's head (see [`send_on`]).
    async fn send(&self, head: &[u8], body: Body<'_>) -> Result<(Lease, Head), ErrorClass> {
        send_on(&self.connections, &self.options.recovery, head, body).await
    }

    /// Answers server request `message` (one that came on a POST's event stream) with a
    /// POST of its response, after the scenario's wait, without holding up the read.
    fn answer_server_request(&self, post: &[u8], message: &[u8]) {
        #[derive(serde::Deserialize)]
        struct Probe {
            id: Option<Value>,
            method: Option<String>,
        }
        let Ok(Probe {
            id: Some(id),
            method: Some(method),
        }) = serde_json::from_slice::<Probe>(message)
        else {
            return;
        };
        if super::round_trips::answer_for(&method).is_some() && method != "ping" {
            super::round_trips::asked();
            self.options.answering.count();
        }
        let reply = super::round_trips::reply_to(&id, &method);
        let (connections, recovery) = (self.connections.clone(), self.options.recovery.clone());
        let (post, after, timeout) = (
            post.to_vec(),
            self.options.answering.after,
            self.options.timeout,
        );
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            let sent = tokio::time::timeout(timeout, async {
                let (mut lease, head) =
                    send_on(&connections, &recovery, &post, Body::Raw(&reply)).await?;
                let mut framing = head.framing;
                if head.keep_alive
                    && drain_body(&mut lease.conn, &mut framing, ERROR_BODY_MAX as usize).await
                {
                    connections.put_back(lease);
                }
                Ok::<_, ErrorClass>(head.status)
            })
            .await;
            if !matches!(sent, Ok(Ok(200..300))) {
                tracing::debug!(?sent, "the answer to a server request was not taken");
            }
        });
    }

    /// Reads an answer with `pick`. The connection goes back to the pool once its body is
    /// read to the end: an event stream left early is drained in the background for a
    /// short grace (its slot stays taken meanwhile), an error status's body only if it is
    /// already here; one that broke, or that the server will close, is dropped.
    async fn read<T>(
        &self,
        mut lease: Lease,
        head: Head,
        pick: impl FnMut(&[u8]) -> Option<T>,
    ) -> Result<T, ErrorClass> {
        let mut framing = head.framing;
        let max = self.options.max_body_bytes;
        let result = read_answer(&mut lease.conn, &head, &mut framing, max, pick).await;
        let keep = head.keep_alive
            && matches!(
                result,
                Ok(_)
                    | Err(ErrorClass::HttpStatus(_) | ErrorClass::Auth(_) | ErrorClass::JsonRpc(_))
            );
        if keep {
            match lease.conn.finish_buffered(&mut framing) {
                Ok(true) => self.connections.put_back(lease),
                Ok(false) if result.is_ok() => {
                    let connections = self.connections.clone();
                    let grace = self.options.timeout.min(DRAIN_GRACE);
                    tokio::spawn(async move {
                        let drained = tokio::time::timeout(
                            grace,
                            drain_body(&mut lease.conn, &mut framing, max),
                        )
                        .await;
                        if drained == Ok(true) {
                            connections.put_back(lease);
                        }
                    });
                }
                _ => {}
            }
        }
        result
    }

    /// Reads an answer's body to its end and returns the connection to the pool if that
    /// worked.
    async fn finish(&self, mut lease: Lease, head: Head) {
        let mut framing = head.framing;
        let max = self.options.max_body_bytes;
        if head.keep_alive && drain_body(&mut lease.conn, &mut framing, max).await {
            self.connections.put_back(lease);
        }
    }

    /// Sends request `id` built from `template` with `identity`'s headers and reads its
    /// answer, and the answer's bytes when `keep`.
    async fn exchange(
        &self,
        identity: &Identity,
        template: &RequestTemplate,
        id: u64,
        keep: bool,
    ) -> Result<(Outcome, Option<Vec<u8>>), ErrorClass> {
        let (lease, head) = self
            .send(&identity.post, Body::Template(template, id))
            .await?;
        self.read(lease, head, |msg| match classify_message(msg, id) {
            Some(outcome) => {
                let kept = keep || outcome == NOT_COMPLETE;
                Some((outcome, kept.then(|| msg.to_vec())))
            }
            None => {
                self.answer_server_request(&identity.post, msg);
                None
            }
        })
        .await
    }

    /// Sends one request built from `template` with a fresh id and waits for its answer.
    /// A 404 for the session's id opens the session again and sends the request once more
    /// (its latency still counts from the first send).
    pub async fn request(&self, template: &RequestTemplate) -> Outcome {
        self.call(template, false).await.0
    }

    /// [`Self::request`], and the answer's `result` when `keep` and it succeeded.
    pub async fn call(&self, template: &RequestTemplate, keep: bool) -> (Outcome, Option<Value>) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.call_id(template, id, keep).await
    }

    /// [`Self::request`], cancelled if no answer came within `after`: the request is
    /// given up (its connection closed, which is how 2026-07-28 cancels over HTTP) and,
    /// before 2026-07-28, `notifications/cancelled` is sent for it.
    pub async fn request_cancelling(&self, template: &RequestTemplate, after: Duration) -> Outcome {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        match tokio::time::timeout(after, self.call_id(template, id, false)).await {
            Ok((outcome, _)) => outcome,
            Err(_) => {
                if !is_modern(&self.negotiated) {
                    let (identity, _) = self.identity.current();
                    let body = cancelled_notification(id);
                    if let Err(class) = self.notify(&identity.post, &body).await {
                        tracing::debug!(%class, "notifications/cancelled refused");
                    }
                }
                Outcome::Cancelled
            }
        }
    }

    async fn call_id(
        &self,
        template: &RequestTemplate,
        id: u64,
        keep: bool,
    ) -> (Outcome, Option<Value>) {
        let answer = tokio::time::timeout(self.options.timeout, async {
            let (identity, generation) = self.identity.current();
            match self.exchange(&identity, template, id, keep).await {
                Err(ErrorClass::HttpStatus(404)) if identity.session_id.is_some() => {
                    let renewed = self
                        .renew(generation)
                        .await
                        .map_err(|_| ErrorClass::HttpStatus(404))?;
                    self.exchange(&renewed, template, id, keep).await
                }
                other => other,
            }
        })
        .await;
        match answer {
            Err(_) => (Outcome::Failed(ErrorClass::Timeout), None),
            Ok(Err(class)) => (Outcome::Failed(class), None),
            Ok(Ok((outcome, message))) => (outcome, message.and_then(|m| result_of(&m))),
        }
    }

    /// Ends the session with `DELETE` (servers without sessions, or that refuse it with
    /// 405, are fine). Failures are returned for logging only.
    pub async fn close(&self) -> Result<(), ErrorClass> {
        if let Some(listener) = self
            .listener
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            listener.abort();
        }
        let (identity, _) = self.identity.current();
        let Some(id) = identity.session_id.as_deref() else {
            return Ok(());
        };
        let delete = self.request_head("DELETE", Some(self.protocol_version()), Some(id));
        let result = tokio::time::timeout(self.options.timeout, async {
            let (lease, head) = self.send(&delete, Body::Raw(b"")).await?;
            let status = head.status;
            self.finish(lease, head).await;
            Ok::<_, ErrorClass>(status)
        })
        .await;
        match result {
            Err(_) => Err(ErrorClass::Timeout),
            Ok(Err(class)) => Err(class),
            Ok(Ok(s)) if (200..300).contains(&s) || s == 405 => Ok(()),
            Ok(Ok(s)) => Err(ErrorClass::of_status(s)),
        }
    }
}

/// The `result` of a JSON-RPC response.
pub(super) fn result_of(message: &[u8]) -> Option<Value> {
    match serde_json::from_slice::<Value>(message) {
        Ok(Value::Object(mut map)) => map.remove("result"),
        _ => None,
    }
}

/// Sends a request (`head` and `body`) on a connection of the session and reads the
/// answer's head. A reused connection the server had closed is replaced: when the
/// request could not be written (it never went out), and once when the server closed
/// it before any of the answer arrived (the server's idle timeout ran out as the
/// request arrived, so it went unread): that request is sent once more, and counted.
async fn send_on(
    connections: &Connections,
    recovery: &super::recovery::Recovery,
    head: &[u8],
    body: Body<'_>,
) -> Result<(Lease, Head), ErrorClass> {
    let mut lease = connections.lease().await.map_err(|_| ErrorClass::Connect)?;
    loop {
        lease.conn.read_on_ticks(!connections.contended());
        let out = lease.conn.request_buffer();
        out.extend_from_slice(head);
        out.extend_from_slice(body.headers());
        out.extend_from_slice(b"content-length: ");
        out.extend_from_slice(itoa::Buffer::new().format(body.len()).as_bytes());
        out.extend_from_slice(b"\r\n\r\n");
        body.write_to(out);
        let sent = lease.conn.send().await;
        let failed = match sent {
            Ok(()) => match lease.conn.read_head().await {
                Ok(answer) => return Ok((lease, answer)),
                Err(e) if lease.reused && e.is_close() && lease.conn.fully_read() => {
                    recovery.resent();
                    e
                }
                Err(e) => return Err(class_of(&e)),
            },
            Err(e) if lease.reused => e,
            Err(e) => return Err(class_of(&e)),
        };
        tracing::trace!("reused connection closed by the server ({failed}); opening another");
        lease = connections
            .reopen(lease)
            .await
            .map_err(|_| ErrorClass::Connect)?;
    }
}

/// Wait before a notification stream that ended is opened again.
const REOPEN_AFTER: Duration = Duration::from_millis(100);

/// Keeps a notification stream open with `request` until aborted (its session closes):
/// each that ends is counted as dropped and opened again; one the server refuses (an
/// error status, or no event stream) is given up.
async fn hold_stream(addr: SocketAddr, request: Vec<u8>, listening: Arc<Listening>, max: usize) {
    loop {
        listening.opened();
        match stream_once(addr, &request, &listening, max).await {
            Err(Some(status)) => {
                tracing::warn!(status, "the server refused the notification stream");
                listening.dropped();
                return;
            }
            Ok(()) | Err(None) => listening.dropped(),
        }
        tokio::time::sleep(REOPEN_AFTER).await;
    }
}

/// One life of a notification stream: `Err(Some(status))` when it was refused.
async fn stream_once(
    addr: SocketAddr,
    request: &[u8],
    listening: &Listening,
    max: usize,
) -> Result<(), Option<u16>> {
    let mut conn = Conn::open(addr).await.map_err(|_| None)?;
    conn.read_on_ticks(false);
    conn.request_buffer().extend_from_slice(request);
    conn.send().await.map_err(|_| None)?;
    let head = conn.read_head().await.map_err(|_| None)?;
    if !(200..300).contains(&head.status) || head.kind != ContentKind::EventStream {
        return Err(Some(head.status));
    }
    let mut framing = head.framing;
    let mut parser = SseParser::default();
    while let Some(chunk) = conn.body_chunk(&mut framing).await.map_err(|_| None)? {
        parser.feed(chunk, |message| {
            listening.observe(message);
            None::<()>
        });
        if parser.pending() > max {
            return Err(None);
        }
    }
    Ok(())
}

/// How a failed exchange is reported.
fn class_of(error: &HttpError) -> ErrorClass {
    match error {
        HttpError::Io(_) | HttpError::Closed => ErrorClass::Connect,
        HttpError::Malformed => ErrorClass::Protocol(ProtocolViolation::BadHttp),
    }
}

/// The server's address (resolved once), the request line's path and the `Host` header.
async fn target(url: &url::Url) -> Result<(SocketAddr, String, String), SessionError> {
    let error = |reason: String| SessionError::Client {
        url: url.to_string(),
        reason,
    };
    if url.scheme() != "http" {
        return Err(error("only http:// URLs are supported".into()));
    }
    let port = url.port_or_known_default().unwrap_or(80);
    let addr = match url.host() {
        Some(url::Host::Ipv4(ip)) => SocketAddr::from((ip, port)),
        Some(url::Host::Ipv6(ip)) => SocketAddr::from((ip, port)),
        Some(url::Host::Domain(name)) => tokio::net::lookup_host((name, port))
            .await
            .map_err(|e| error(format!("cannot resolve {name}: {e}")))?
            .next()
            .ok_or_else(|| error(format!("{name} resolves to no address")))?,
        None => return Err(error("the URL has no host".into())),
    };
    let mut path = url.path().to_string();
    if let Some(query) = url.query() {
        path.push('?');
        path.push_str(query);
    }
    let host = match url.port() {
        Some(port) => format!("{}:{port}", url.host_str().unwrap_or_default()),
        None => url.host_str().unwrap_or_default().to_string(),
    };
    // A parsed URL's path and host are percent-encoded or punycode: no spaces or line
    // breaks can reach the request line.
    if path
        .bytes()
        .chain(host.bytes())
        .any(|b| !b.is_ascii_graphic())
    {
        return Err(error("the URL's path or host is not plain ASCII".into()));
    }
    Ok((addr, path, host))
}

/// Reads the rest of a body, at most `max` bytes; whether it ended cleanly.
async fn drain_body(conn: &mut Conn, framing: &mut Framing, max: usize) -> bool {
    let mut read = 0usize;
    loop {
        match conn.body_chunk(framing).await {
            Ok(None) => return true,
            Ok(Some(chunk)) => {
                read += chunk.len();
                if read > max {
                    return false;
                }
            }
            Err(_) => return false,
        }
    }
}

/// Bound on an error answer's body read for its JSON-RPC error.
const ERROR_BODY_MAX: u64 = 64 * 1024;

/// The class of an error status: for a 400, the JSON-RPC error its JSON body carries, where
/// it has one (2026-07-28 answers a header mismatch or an unsupported version with 400 and
/// `-32020` or `-32022`); else the status (a 404 stays one: a lost session).
async fn error_status(conn: &mut Conn, head: &Head, framing: &mut Framing) -> ErrorClass {
    let status = ErrorClass::of_status(head.status);
    let Framing::Length(n) = *framing else {
        return status;
    };
    if head.status != 400 || head.kind != ContentKind::Json || n == 0 || n > ERROR_BODY_MAX {
        return status;
    }
    #[derive(serde::Deserialize)]
    struct ErrorBody {
        error: ErrorCode,
    }
    #[derive(serde::Deserialize)]
    struct ErrorCode {
        code: i64,
    }
    match conn.body_exact(framing).await {
        Ok(body) => serde_json::from_slice::<ErrorBody>(body)
            .map_or(status, |b| ErrorClass::JsonRpc(b.error.code)),
        Err(_) => status,
    }
}

/// Reads a POST's answer (a JSON body or an event stream) until `pick` accepts a message,
/// reading at most `max` bytes of body.
async fn read_answer<T>(
    conn: &mut Conn,
    head: &Head,
    framing: &mut Framing,
    max: usize,
    mut pick: impl FnMut(&[u8]) -> Option<T>,
) -> Result<T, ErrorClass> {
    if !(200..300).contains(&head.status) {
        return Err(error_status(conn, head, framing).await);
    }
    let too_large = ErrorClass::Protocol(ProtocolViolation::BodyTooLarge);
    let no_response = ErrorClass::Protocol(ProtocolViolation::NoResponse);
    match head.kind {
        ContentKind::EventStream => {
            let mut parser = SseParser::default();
            let mut read = 0usize;
            while let Some(chunk) = conn.body_chunk(framing).await.map_err(|e| class_of(&e))? {
                read += chunk.len();
                if let Some(found) = parser.feed(chunk, &mut pick) {
                    return Ok(found);
                }
                if read > max || parser.pending() > max {
                    return Err(too_large);
                }
            }
            Err(no_response)
        }
        ContentKind::Json => {
            if let Framing::Length(n) = *framing {
                // The usual case: one body of known length, read whole, without a copy.
                if n > max as u64 {
                    return Err(too_large);
                }
                let body = conn.body_exact(framing).await.map_err(|e| class_of(&e))?;
                return pick(body).ok_or(no_response);
            }
            let mut joined = Vec::new();
            while let Some(chunk) = conn.body_chunk(framing).await.map_err(|e| class_of(&e))? {
                if joined.len() + chunk.len() > max {
                    return Err(too_large);
                }
                joined.extend_from_slice(chunk);
            }
            pick(&joined).ok_or(no_response)
        }
        ContentKind::Other if head.status == 202 => Err(no_response),
        ContentKind::Other => Err(ErrorClass::Protocol(ProtocolViolation::BadContentType)),
    }
}
