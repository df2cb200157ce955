//! One MCP session over Streamable HTTP: `initialize`, requests with the session's headers,
//! `DELETE` at the end.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::{Body as _, Incoming};
use hyper::header::{ACCEPT, CONTENT_TYPE, HOST, HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Request, Response, Uri};

use super::connections::{Connections, Sender};
use super::handshake::{self, INITIALIZE_ID, INITIALIZED};
use super::jsonrpc::{RequestTemplate, classify_message};
use super::outcome::{ErrorClass, Outcome, ProtocolViolation};
use super::sse::SseParser;
use super::{DEFAULT_PROTOCOL_VERSION, SUPPORTED_PROTOCOL_VERSIONS};

const SESSION_HEADER: HeaderName = HeaderName::from_static("mcp-session-id");
const VERSION_HEADER: HeaderName = HeaderName::from_static("mcp-protocol-version");
const ACCEPT_BOTH: HeaderValue = HeaderValue::from_static("application/json, text/event-stream");
const JSON: HeaderValue = HeaderValue::from_static("application/json");

/// How sessions talk to the server.
#[derive(Debug, Clone)]
pub struct SessionOptions {
    /// Protocol version asked for in `initialize`.
    pub protocol_version: String,
    /// Bound on one request, from send to the end of its answer.
    pub timeout: Duration,
    /// Bound on one answer's body; larger bodies are a protocol violation.
    pub max_body_bytes: usize,
}

impl Default for SessionOptions {
    fn default() -> Self {
        Self {
            protocol_version: DEFAULT_PROTOCOL_VERSION.to_string(),
            timeout: Duration::from_secs(5),
            max_body_bytes: 4 * 1024 * 1024,
        }
    }
}

/// Why a session could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The URL cannot be reached over HTTP/1.1 (no host, not `http`, unresolvable).
    #[error("cannot use {url}: {reason}")]
    Client { url: String, reason: String },
    /// `initialize` did not succeed.
    #[error("initialize at {url} failed: {class}{}", detail.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    Initialize {
        url: String,
        class: ErrorClass,
        detail: Option<String>,
    },
    /// The server answered `initialize` with a version the harness does not speak.
    #[error("server at {url} negotiated protocol version {version:?}; supported: {}", SUPPORTED_PROTOCOL_VERSIONS.join(", "))]
    UnsupportedVersion { url: String, version: String },
    /// `notifications/initialized` was refused.
    #[error("notifications/initialized at {url} failed: {class}")]
    Initialized { url: String, class: ErrorClass },
}

/// An initialised MCP session. Request ids are unique within it.
#[derive(Debug)]
pub struct HttpSession {
    connections: Arc<Connections>,
    url: url::Url,
    /// The URL's path and query: what goes on the request line.
    path: Uri,
    /// Every request's headers: host, accept, content type, and once initialised the
    /// protocol version and session id. Cloned per request, never rebuilt.
    headers: HeaderMap,
    session_id: Option<HeaderValue>,
    protocol_version: HeaderValue,
    next_id: AtomicU64,
    options: SessionOptions,
}

impl HttpSession {
    /// Opens a session: `initialize`, then `notifications/initialized`.
    pub async fn open(url: url::Url, options: SessionOptions) -> Result<Self, SessionError> {
        let (addr, path, host) = target(&url).await?;
        let mut headers = HeaderMap::with_capacity(6);
        headers.insert(HOST, host);
        headers.insert(ACCEPT, ACCEPT_BOTH);
        headers.insert(CONTENT_TYPE, JSON);
        let mut session = Self {
            connections: Arc::new(Connections::new(addr)),
            url,
            path,
            headers,
            session_id: None,
            protocol_version: HeaderValue::from_static(DEFAULT_PROTOCOL_VERSION),
            next_id: AtomicU64::new(1),
            options,
        };
        let init_error = |class, detail| SessionError::Initialize {
            url: session.url.to_string(),
            class,
            detail,
        };
        let body = handshake::initialize_request(&session.options);
        let request = session.request_with(Method::POST, body.into());
        let answer = tokio::time::timeout(session.options.timeout, async {
            let (sender, response) = session.send(request).await?;
            let session_id = response.headers().get(SESSION_HEADER).cloned();
            let message = session
                .read(sender, response, |msg| {
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
        let version = handshake::negotiated_version(session.url.as_str(), &message)?;
        session.protocol_version =
            HeaderValue::from_str(&version).map_err(|_| SessionError::UnsupportedVersion {
                url: session.url.to_string(),
                version: version.clone(),
            })?;
        session
            .headers
            .insert(VERSION_HEADER, session.protocol_version.clone());
        if let Some(id) = &session_id {
            session.headers.insert(SESSION_HEADER, id.clone());
        }
        session.session_id = session_id;
        session.notify_initialized().await?;
        Ok(session)
    }

    async fn notify_initialized(&self) -> Result<(), SessionError> {
        let request = self.request_with(Method::POST, Bytes::from_static(INITIALIZED));
        let result = tokio::time::timeout(self.options.timeout, async {
            let (sender, response) = self.send(request).await?;
            let status = response.status();
            self.finish(sender, response.into_body()).await;
            Ok::<_, ErrorClass>(status)
        })
        .await;
        let class = match result {
            Err(_) => ErrorClass::Timeout,
            Ok(Err(class)) => class,
            Ok(Ok(status)) if status.is_success() => return Ok(()),
            Ok(Ok(status)) => ErrorClass::HttpStatus(status.as_u16()),
        };
        Err(SessionError::Initialized {
            url: self.url.to_string(),
            class,
        })
    }

    /// The session id the server handed out, if it runs stateful sessions.
    pub fn session_id(&self) -> Option<&str> {
        self.session_id.as_ref().and_then(|v| v.to_str().ok())
    }

    /// The protocol version negotiated in `initialize`.
    pub fn protocol_version(&self) -> &str {
        self.protocol_version.to_str().unwrap_or_default()
    }

    /// A request to the session's URL with its headers.
    fn request_with(&self, method: Method, body: Bytes) -> Request<Full<Bytes>> {
        let mut request = Request::new(Full::new(body));
        *request.method_mut() = method;
        *request.uri_mut() = self.path.clone();
        *request.headers_mut() = self.headers.clone();
        request
    }

    /// Sends `request` on an idle connection, or a new one. A reused connection the
    /// server closed before the request went out is replaced once.
    async fn send(
        &self,
        request: Request<Full<Bytes>>,
    ) -> Result<(Sender, Response<Incoming>), ErrorClass> {
        let connect = async || {
            self.connections
                .open()
                .await
                .map_err(|_| ErrorClass::Connect)
        };
        let (mut sender, reused) = match self.connections.take_idle() {
            Some(sender) => (sender, true),
            None => (connect().await?, false),
        };
        if sender.ready().await.is_err() {
            sender = connect().await?;
        }
        match sender.try_send_request(request).await {
            Ok(response) => Ok((sender, response)),
            Err(mut e) => match e.take_message() {
                Some(request) if reused => {
                    let mut sender = connect().await?;
                    sender.ready().await.map_err(|_| ErrorClass::Connect)?;
                    let response = sender
                        .send_request(request)
                        .await
                        .map_err(|_| ErrorClass::Connect)?;
                    Ok((sender, response))
                }
                _ => Err(ErrorClass::Connect),
            },
        }
    }

    /// Reads an answer with `pick`; the connection goes back to the pool once its body
    /// is read to the end (an event stream left early is drained in the background).
    async fn read<T>(
        &self,
        sender: Sender,
        response: Response<Incoming>,
        pick: impl FnMut(&[u8]) -> Option<T>,
    ) -> Result<T, ErrorClass> {
        let (found, rest) = read_answer(response, self.options.max_body_bytes, pick).await?;
        match rest {
            None => self.connections.put_back(sender),
            Some(body) => {
                let (connections, timeout) = (self.connections.clone(), self.options.timeout);
                tokio::spawn(async move {
                    if tokio::time::timeout(timeout, drain(body)).await == Ok(true) {
                        connections.put_back(sender);
                    }
                });
            }
        }
        Ok(found)
    }

    /// Reads `body` to its end and returns the connection to the pool if that worked.
    async fn finish(&self, sender: Sender, body: Incoming) {
        if drain(body).await {
            self.connections.put_back(sender);
        }
    }

    /// Sends one request built from `template` with a fresh id and waits for its answer.
    pub async fn request(&self, template: &RequestTemplate) -> Outcome {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let request = self.request_with(Method::POST, template.body(id).into());
        let answer = tokio::time::timeout(self.options.timeout, async {
            let (sender, response) = self.send(request).await?;
            self.read(sender, response, |msg| classify_message(msg, id))
                .await
        })
        .await;
        match answer {
            Err(_) => Outcome::Failed(ErrorClass::Timeout),
            Ok(Err(class)) => Outcome::Failed(class),
            Ok(Ok(outcome)) => outcome,
        }
    }

    /// Ends the session with `DELETE` (servers without sessions, or that refuse it with
    /// 405, are fine). Failures are returned for logging only.
    pub async fn close(&self) -> Result<(), ErrorClass> {
        if self.session_id.is_none() {
            return Ok(());
        }
        let request = self.request_with(Method::DELETE, Bytes::new());
        let result = tokio::time::timeout(self.options.timeout, async {
            let (sender, response) = self.send(request).await?;
            let status = response.status();
            self.finish(sender, response.into_body()).await;
            Ok::<_, ErrorClass>(status)
        })
        .await;
        match result {
            Err(_) => Err(ErrorClass::Timeout),
            Ok(Err(class)) => Err(class),
            Ok(Ok(s)) if s.is_success() || s.as_u16() == 405 => Ok(()),
            Ok(Ok(s)) => Err(ErrorClass::HttpStatus(s.as_u16())),
        }
    }
}

/// The server's address (resolved once), the request line's path and the `Host` header.
async fn target(url: &url::Url) -> Result<(SocketAddr, Uri, HeaderValue), SessionError> {
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
    let path = path
        .parse::<Uri>()
        .map_err(|e| error(format!("bad path: {e}")))?;
    let host = match url.port() {
        Some(port) => format!("{}:{port}", url.host_str().unwrap_or_default()),
        None => url.host_str().unwrap_or_default().to_string(),
    };
    let host = HeaderValue::from_str(&host).map_err(|e| error(format!("bad host: {e}")))?;
    Ok((addr, path, host))
}

/// Reads the rest of `body`; whether it ended cleanly.
async fn drain(mut body: Incoming) -> bool {
    loop {
        match body.frame().await {
            None => return true,
            Some(Ok(_)) => {}
            Some(Err(_)) => return false,
        }
    }
}

/// Reads a POST's answer (a JSON body or an event stream) until `pick` accepts a message,
/// reading at most `max` bytes. Returns what `pick` found and, if the stream has more,
/// the unread rest of the body.
async fn read_answer<T>(
    response: Response<Incoming>,
    max: usize,
    mut pick: impl FnMut(&[u8]) -> Option<T>,
) -> Result<(T, Option<Incoming>), ErrorClass> {
    let status = response.status();
    if !status.is_success() {
        return Err(ErrorClass::HttpStatus(status.as_u16()));
    }
    let content_type = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let too_large = ErrorClass::Protocol(ProtocolViolation::BodyTooLarge);
    let no_response = ErrorClass::Protocol(ProtocolViolation::NoResponse);
    let is_sse = content_type.starts_with("text/event-stream");
    let is_json = content_type.starts_with("application/json");
    let mut body = response.into_body();
    if is_sse {
        let mut parser = SseParser::default();
        let mut read = 0usize;
        while let Some(frame) = body.frame().await {
            let Ok(chunk) = frame.map_err(|_| ErrorClass::Connect)?.into_data() else {
                continue;
            };
            read += chunk.len();
            if let Some(found) = parser.feed(&chunk, &mut pick) {
                return Ok((found, (!body.is_end_stream()).then_some(body)));
            }
            if read > max || parser.pending() > max {
                return Err(too_large);
            }
        }
        Err(no_response)
    } else if is_json {
        let mut first: Option<Bytes> = None;
        let mut joined = Vec::new();
        while let Some(frame) = body.frame().await {
            let Ok(chunk) = frame.map_err(|_| ErrorClass::Connect)?.into_data() else {
                continue;
            };
            let held = first.as_ref().map_or(0, Bytes::len) + joined.len();
            if held + chunk.len() > max {
                return Err(too_large);
            }
            // A body in one chunk (the usual case) is read without a copy.
            match first.take() {
                None if joined.is_empty() => first = Some(chunk),
                Some(f) => {
                    joined.extend_from_slice(&f);
                    joined.extend_from_slice(&chunk);
                }
                None => joined.extend_from_slice(&chunk),
            }
        }
        let message = first.as_deref().unwrap_or(&joined);
        pick(message).map(|t| (t, None)).ok_or(no_response)
    } else if status.as_u16() == 202 {
        Err(no_response)
    } else {
        Err(ErrorClass::Protocol(ProtocolViolation::BadContentType))
    }
}
