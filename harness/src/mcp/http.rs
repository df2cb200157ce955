//! One MCP session over Streamable HTTP: `initialize`, requests with the session's headers,
//! `DELETE` at the end.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::handshake::{self, INITIALIZE_ID, INITIALIZED};
use super::jsonrpc::{RequestTemplate, classify_message};
use super::outcome::{ErrorClass, Outcome, ProtocolViolation};
use super::sse::SseParser;
use super::{DEFAULT_PROTOCOL_VERSION, SUPPORTED_PROTOCOL_VERSIONS};
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderValue};

const SESSION_HEADER: &str = "mcp-session-id";
const VERSION_HEADER: &str = "mcp-protocol-version";
const ACCEPT_BOTH: &str = "application/json, text/event-stream";

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
    /// The transport's client could not be built.
    #[error("failed to build the client: {0}")]
    Client(String),
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
    client: reqwest::Client,
    url: reqwest::Url,
    session_id: Option<HeaderValue>,
    protocol_version: HeaderValue,
    next_id: AtomicU64,
    options: SessionOptions,
}

impl HttpSession {
    /// Opens a session: `initialize`, then `notifications/initialized`.
    pub async fn open(
        client: reqwest::Client,
        url: reqwest::Url,
        options: SessionOptions,
    ) -> Result<Self, SessionError> {
        let init_error = |class, detail| SessionError::Initialize {
            url: url.to_string(),
            class,
            detail,
        };
        let body = handshake::initialize_request(&options);
        let request = client
            .post(url.clone())
            .header(ACCEPT, ACCEPT_BOTH)
            .header(CONTENT_TYPE, "application/json")
            .body(body);
        let answer = tokio::time::timeout(options.timeout, async {
            let response = request.send().await.map_err(|e| transport_class(&e))?;
            let session_id = response.headers().get(SESSION_HEADER).cloned();
            let message = read_answer(response, options.max_body_bytes, |msg| {
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
        let version = handshake::negotiated_version(url.as_str(), &message)?;
        let protocol_version =
            HeaderValue::from_str(&version).map_err(|_| SessionError::UnsupportedVersion {
                url: url.to_string(),
                version: version.clone(),
            })?;
        let session = Self {
            client,
            url,
            session_id,
            protocol_version,
            next_id: AtomicU64::new(1),
            options,
        };
        session.notify_initialized().await?;
        Ok(session)
    }

    async fn notify_initialized(&self) -> Result<(), SessionError> {
        let body = INITIALIZED.to_vec();
        let result = tokio::time::timeout(self.options.timeout, self.post(body).send()).await;
        let class = match result {
            Err(_) => ErrorClass::Timeout,
            Ok(Err(e)) => transport_class(&e),
            Ok(Ok(response)) if response.status().is_success() => return Ok(()),
            Ok(Ok(response)) => ErrorClass::HttpStatus(response.status().as_u16()),
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

    fn post(&self, body: Vec<u8>) -> reqwest::RequestBuilder {
        let mut request = self
            .client
            .post(self.url.clone())
            .header(ACCEPT, ACCEPT_BOTH)
            .header(CONTENT_TYPE, "application/json")
            .header(VERSION_HEADER, self.protocol_version.clone());
        if let Some(id) = &self.session_id {
            request = request.header(SESSION_HEADER, id.clone());
        }
        request.body(body)
    }

    /// Sends one request built from `template` with a fresh id and waits for its answer.
    pub async fn request(&self, template: &RequestTemplate) -> Outcome {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let request = self.post(template.body(id));
        let max = self.options.max_body_bytes;
        let answer = tokio::time::timeout(self.options.timeout, async {
            let response = request.send().await.map_err(|e| transport_class(&e))?;
            read_answer(response, max, |msg| classify_message(msg, id)).await
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
        let Some(id) = &self.session_id else {
            return Ok(());
        };
        let request = self
            .client
            .delete(self.url.clone())
            .header(SESSION_HEADER, id.clone())
            .header(VERSION_HEADER, self.protocol_version.clone());
        match tokio::time::timeout(self.options.timeout, request.send()).await {
            Err(_) => Err(ErrorClass::Timeout),
            Ok(Err(e)) => Err(transport_class(&e)),
            Ok(Ok(r)) if r.status().is_success() || r.status().as_u16() == 405 => Ok(()),
            Ok(Ok(r)) => Err(ErrorClass::HttpStatus(r.status().as_u16())),
        }
    }
}

/// The class of a failure below HTTP.
fn transport_class(error: &reqwest::Error) -> ErrorClass {
    if error.is_timeout() {
        ErrorClass::Timeout
    } else {
        ErrorClass::Connect
    }
}

/// Reads a POST's answer (a JSON body or an event stream) until `pick` accepts a message,
/// reading at most `max` bytes.
async fn read_answer<T>(
    mut response: reqwest::Response,
    max: usize,
    mut pick: impl FnMut(&[u8]) -> Option<T>,
) -> Result<T, ErrorClass> {
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
    if content_type.starts_with("text/event-stream") {
        let mut parser = SseParser::default();
        let mut read = 0usize;
        while let Some(chunk) = response.chunk().await.map_err(|e| transport_class(&e))? {
            read += chunk.len();
            if let Some(found) = parser.feed(&chunk, &mut pick) {
                return Ok(found);
            }
            if read > max || parser.pending() > max {
                return Err(too_large);
            }
        }
        Err(no_response)
    } else if content_type.starts_with("application/json") {
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| transport_class(&e))? {
            if body.len() + chunk.len() > max {
                return Err(too_large);
            }
            body.extend_from_slice(&chunk);
        }
        pick(&body).ok_or(no_response)
    } else if status.as_u16() == 202 {
        Err(no_response)
    } else {
        Err(ErrorClass::Protocol(ProtocolViolation::BadContentType))
    }
}
