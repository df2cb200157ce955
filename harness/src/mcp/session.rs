//! A transport-independent MCP session: the load engine talks to [`Session`] and never to a
//! transport directly.

use super::endpoint::Endpoint;
use super::http::HttpSession;
use super::http::NOT_COMPLETE;
use super::jsonrpc::RequestTemplate;
use super::opening::{SessionError, SessionOptions};
use super::outcome::{ErrorClass, Outcome};
use super::redial::Redial;

/// Most `input_required` rounds one request goes through before it counts as
/// `protocol:not_complete`.
pub const MAX_ROUNDS: usize = 10;

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

    /// Sends one request built from `template` with an id fresh within the session; an
    /// `input_required` result (2026-07-28) is answered and the request sent again, as
    /// often as the server asks (up to [`MAX_ROUNDS`]).
    pub async fn request(&self, template: &RequestTemplate) -> Outcome {
        self.call(template, false).await.0
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
        let (mut outcome, mut result) = self.call_once(template, keep).await;
        if outcome != NOT_COMPLETE {
            return (outcome, result);
        }
        super::round_trips::asked();
        let answering = match self {
            Session::Http(s) => s.answering(),
            Session::Stream(s) => s.answering(),
        };
        for _ in 0..MAX_ROUNDS {
            let Some(params) = result
                .as_ref()
                .and_then(|r| super::round_trips::retry_params(template.params(), r))
            else {
                break;
            };
            answering.count();
            if !answering.after.is_zero() {
                tokio::time::sleep(answering.after).await;
            }
            let retry = RequestTemplate::built(
                template.method(),
                Some(&params),
                super::MODERN_PROTOCOL_VERSION,
            );
            (outcome, result) = self.call_once(&retry, keep).await;
            if outcome != NOT_COMPLETE {
                break;
            }
        }
        (outcome, result)
    }

    async fn call_once(
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
