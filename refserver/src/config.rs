//! What a server instance is told to do: [`ServerConfig`].

use std::{
    net::{Ipv4Addr, SocketAddr},
    path::PathBuf,
    time::Duration,
};

use crate::faults::Faults;

/// The hosts rmcp accepts in the `Host` header by default (DNS-rebinding guard).
pub const DEFAULT_ALLOWED_HOSTS: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// rmcp's default for how long an idle session lives.
pub const DEFAULT_SESSION_IDLE_TIMEOUT: Duration = Duration::from_secs(300);

/// rmcp's default for how long a session keeps a finished request's SSE
/// messages for a `Last-Event-ID` resume.
pub const DEFAULT_RESUME_CACHE_TTL: Duration = Duration::from_secs(60);

/// Configuration of one server instance (HTTP or stdio).
#[derive(Debug, Clone, PartialEq)]
pub struct ServerConfig {
    /// Address to bind the HTTP listener to; port 0 picks a free port.
    pub bind: SocketAddr,
    /// Also listen here for newline-delimited JSON-RPC over TCP (HTTP mode only).
    pub tcp_bind: Option<SocketAddr>,
    /// Directory `file_read` serves; `None` creates a temporary one with
    /// sample files, removed when the server stops.
    pub root: Option<PathBuf>,
    /// Serve without sessions: no `Mcp-Session-Id` is handed out.
    pub stateless: bool,
    /// Answer requests with `application/json` instead of an SSE stream.
    pub json_response: bool,
    /// Extra `Host` header values accepted besides [`DEFAULT_ALLOWED_HOSTS`].
    pub allowed_hosts: Vec<String>,
    /// Accept any `Host` header (for containers and remote clients).
    pub allow_any_host: bool,
    /// Faults to inject.
    pub faults: Faults,
    /// A session with no traffic for this long is closed.
    pub session_idle_timeout: Duration,
    /// How long a session keeps a finished request's messages for resumption.
    pub resume_cache_ttl: Duration,
    /// Streamable HTTP requests must carry `Authorization: Bearer <this>`, else 401.
    pub bearer_token: Option<String>,
    /// Offer the `sleep` tool besides the default ones.
    pub agent_tools: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            tcp_bind: None,
            root: None,
            stateless: false,
            json_response: false,
            allowed_hosts: Vec::new(),
            allow_any_host: false,
            faults: Faults::default(),
            session_idle_timeout: DEFAULT_SESSION_IDLE_TIMEOUT,
            resume_cache_ttl: DEFAULT_RESUME_CACHE_TTL,
            bearer_token: None,
            agent_tools: false,
        }
    }
}

impl ServerConfig {
    /// The `Host` values rmcp should accept; empty means any.
    pub fn host_allowlist(&self) -> Vec<String> {
        if self.allow_any_host {
            return Vec::new();
        }
        DEFAULT_ALLOWED_HOSTS
            .iter()
            .map(|host| (*host).to_owned())
            .chain(self.allowed_hosts.iter().cloned())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_allowlist_extends_loopback_or_opens_up() {
        let mut config = ServerConfig {
            allowed_hosts: vec!["refserver".into()],
            ..ServerConfig::default()
        };
        assert_eq!(
            config.host_allowlist(),
            ["localhost", "127.0.0.1", "::1", "refserver"]
        );
        config.allow_any_host = true;
        assert!(config.host_allowlist().is_empty());
    }
}
