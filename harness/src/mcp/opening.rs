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
