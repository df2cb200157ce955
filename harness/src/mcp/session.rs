//! A transport-independent MCP session: the load engine talks to [`Session`] and never to a
//! transport directly.

use super::endpoint::Endpoint;
use super::http::HttpSession;
use super::jsonrpc::RequestTemplate;
use super::opening::{SessionError, SessionOptions};
use super::outcome::{ErrorClass, Outcome};
use super::redial::Redial;

/// An initialised MCP session over one of the transports.
#[derive(Debug)]
pub enum Session {
    /// Streamable HTTP.
    Http(HttpSession),
    /// WebSocket, TCP or stdio, dialed again when its connection is gone.
    Stream(Redial),
}

impl Session {
    /// Opens a session (`initialize`, `notifications/initialized`) at `endpoint`.
    pub async fn open(endpoint: &Endpoint, options: SessionOptions) -> Result<Self, SessionError> {
        Ok(match endpoint {
            Endpoint::Http(url) => Session::Http(HttpSession::open(url.clone(), options).await?),
            _ => Session::Stream(Redial::open(endpoint, options).await?),
        })
    }

    /// Sends one request built from `template` with an id fresh within the session.
    pub async fn request(&self, template: &RequestTemplate) -> Outcome {
        match self {
            Session::Http(s) => s.request(template).await,
            Session::Stream(s) => s.request(template).await,
        }
    }

    /// [`Self::request`], cancelled if `cancel_after` is given and no answer came by then
    /// ([`Outcome::Cancelled`]).
    pub async fn request_cancelling(
        &self,
        template: &RequestTemplate,
        cancel_after: Option<std::time::Duration>,
    ) -> Outcome {
        match (self, cancel_after) {
            (_, None) => self.request(template).await,
            (Session::Http(s), Some(after)) => s.request_cancelling(template, after).await,
            (Session::Stream(s), Some(after)) => s.request_cancelling(template, after).await,
        }
    }

    /// [`Self::request`], and the answer's `result` when `keep` (a workflow step whose
    /// result a later step uses).
    pub async fn call(
        &self,
        template: &RequestTemplate,
        keep: bool,
    ) -> (Outcome, Option<serde_json::Value>) {
        match self {
            Session::Http(s) => s.call(template, keep).await,
            Session::Stream(s) => s.call(template, keep).await,
        }
    }

    /// Ends the session.
    pub async fn close(&self) -> Result<(), ErrorClass> {
        match self {
            Session::Http(s) => s.close().await,
            Session::Stream(s) => s.close().await,
        }
    }

    /// The protocol version negotiated in `initialize`.
    pub fn protocol_version(&self) -> &str {
        match self {
            Session::Http(s) => s.protocol_version(),
            Session::Stream(s) => s.protocol_version(),
        }
    }

    /// Whether the server hands out session ids (Streamable HTTP only; the other
    /// transports' sessions are their connections).
    pub fn stateful(&self) -> bool {
        match self {
            Session::Http(s) => s.stateful(),
            Session::Stream(_) => false,
        }
    }

    /// Responses that matched no waiting request (always 0 over HTTP, where every
    /// answer belongs to its own POST).
    pub fn unmatched_responses(&self) -> u64 {
        match self {
            Session::Http(_) => 0,
            Session::Stream(s) => s.unmatched_responses(),
        }
    }
}
