//! What opening a session of any transport takes, and how it fails.

use std::sync::Arc;
use std::time::Duration;

use super::outcome::ErrorClass;
use super::recovery::Recovery;
use super::{DEFAULT_PROTOCOL_VERSION, SUPPORTED_PROTOCOL_VERSIONS};

/// How sessions talk to the server.
#[derive(Debug, Clone)]
pub struct SessionOptions {
    /// Protocol version to speak: a revision, or `auto` (`server/discover` first,
    /// `initialize` when the server does not know it).
    pub protocol_version: String,
    /// Bound on one request, from send to the end of its answer.
    pub timeout: Duration,
    /// Bound on one answer's body; larger bodies are a protocol violation.
    pub max_body_bytes: usize,
    /// HTTP connections one session may have in use at once; further requests wait for
    /// one to come free (their latency still counts from their intended send time).
    pub max_connections: usize,
    /// Where sessions count what they recovered from (shared by a run's sessions).
    pub recovery: Arc<Recovery>,
    /// Header lines every HTTP request of the session carries: the scenario's `headers` and
    /// its bearer token.
    pub headers: ExtraHeaders,
    /// How the server's own questions are answered, and their count.
    pub answering: super::round_trips::Answering,
    /// The notification stream each session holds open, if any (shared by a run's
    /// sessions, which count into it).
    pub listening: Option<Arc<super::listening::Listening>>,
}

/// HTTP header lines (`name: value\r\n` each), already checked for line breaks. Their
/// values stay out of logs: `Debug` shows only the names.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ExtraHeaders(Arc<[u8]>);

impl ExtraHeaders {
    /// Header lines from name/value pairs; `None` when a name is not an HTTP token or a
    /// value holds a control character (a line break would smuggle a header in).
    pub fn new<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Option<Self> {
        let mut lines = Vec::new();
        for (name, value) in pairs {
            if !is_token(name) || value.chars().any(|c| c.is_control()) {
                return None;
            }
            lines.extend_from_slice(name.to_ascii_lowercase().as_bytes());
            lines.extend_from_slice(b": ");
            lines.extend_from_slice(value.trim().as_bytes());
            lines.extend_from_slice(b"\r\n");
        }
        Some(Self(lines.into()))
    }

    /// The header lines, each ending in CRLF.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The names of the headers, for logs.
    fn names(&self) -> Vec<&str> {
        std::str::from_utf8(&self.0)
            .unwrap_or_default()
            .lines()
            .filter_map(|line| line.split_once(':').map(|(name, _)| name))
            .collect()
    }
}

impl std::fmt::Debug for ExtraHeaders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.names()).finish()
    }
}

/// Whether `name` is an HTTP field name (RFC 9110's `token`).
pub fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Connections per session when a scenario does not say.
pub const DEFAULT_CONNECTIONS: usize = 4;

impl Default for SessionOptions {
    fn default() -> Self {
        Self {
            protocol_version: DEFAULT_PROTOCOL_VERSION.to_string(),
            timeout: Duration::from_secs(5),
            max_body_bytes: 4 * 1024 * 1024,
            max_connections: DEFAULT_CONNECTIONS,
            recovery: Arc::default(),
            headers: ExtraHeaders::default(),
            answering: Default::default(),
            listening: None,
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
    /// `server/discover` did not succeed (2026-07-28 asked for, or `auto` and the
    /// fallback to `initialize` failed too, which is reported instead).
    #[error("server/discover at {url} failed: {class}{}", detail.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    Discover {
        url: String,
        class: ErrorClass,
        detail: Option<String>,
    },
    /// `notifications/initialized` was refused.
    #[error("notifications/initialized at {url} failed: {class}")]
    Initialized { url: String, class: ErrorClass },
}

impl SessionError {
    /// The class an open that failed this way is counted under (a measured
    /// `session_open`).
    pub fn class(&self) -> ErrorClass {
        match self {
            SessionError::Client { .. } => ErrorClass::Connect,
            SessionError::UnsupportedVersion { .. } => {
                ErrorClass::Protocol(super::outcome::ProtocolViolation::UnsupportedVersion)
            }
            SessionError::Initialize { class, .. }
            | SessionError::Discover { class, .. }
            | SessionError::Initialized { class, .. } => *class,
        }
    }
}
