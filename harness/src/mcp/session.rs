//! A transport-independent MCP session: the load engine talks to [`Session`] and never to a
//! transport directly.

use std::fmt;

use super::http::{HttpSession, SessionError, SessionOptions};
use super::jsonrpc::RequestTemplate;
use super::outcome::{ErrorClass, Outcome};

/// Where and how to reach an MCP server.
#[derive(Debug, Clone, PartialEq)]
pub enum Endpoint {
    /// Streamable HTTP at this URL (`http://127.0.0.1:8080/mcp`).
    Http(url::Url),
}

impl Endpoint {
    /// The transport's name as reported (`http`).
    pub fn transport(&self) -> &'static str {
        match self {
            Endpoint::Http(_) => "http",
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Http(url) => write!(f, "{url}"),
        }
    }
}

/// An initialised MCP session over one of the transports.
#[derive(Debug)]
pub enum Session {
    Http(HttpSession),
}

impl Session {
    /// Opens a session (`initialize`, `notifications/initialized`) at `endpoint`.
    pub async fn open(endpoint: &Endpoint, options: SessionOptions) -> Result<Self, SessionError> {
        match endpoint {
            Endpoint::Http(url) => {
                let client = reqwest::Client::builder()
                    .http1_only()
                    .tcp_nodelay(true)
                    .no_proxy()
                    .build()
                    .map_err(|e| SessionError::Client(e.to_string()))?;
                Ok(Session::Http(
                    HttpSession::open(client, url.clone(), options).await?,
                ))
            }
        }
    }

    /// Sends one request built from `template` with an id fresh within the session.
    pub async fn request(&self, template: &RequestTemplate) -> Outcome {
        match self {
            Session::Http(s) => s.request(template).await,
        }
    }

    /// Ends the session.
    pub async fn close(&self) -> Result<(), ErrorClass> {
        match self {
            Session::Http(s) => s.close().await,
        }
    }

    /// The protocol version negotiated in `initialize`.
    pub fn protocol_version(&self) -> &str {
        match self {
            Session::Http(s) => s.protocol_version(),
        }
    }

    /// The server's session id, if it hands them out.
    pub fn session_id(&self) -> Option<&str> {
        match self {
            Session::Http(s) => s.session_id(),
        }
    }
}
