//! JSON responses for stateful sessions.
//!
//! rmcp 3.11 honours `StreamableHttpServerConfig::json_response` only when
//! `legacy_session_mode` is off (stateless); a session always answers a POST
//! with an SSE stream. With `--json-response` and sessions, this middleware
//! reads that stream up to the first JSON-RPC response or error and sends it
//! as an `application/json` body instead, keeping the status and headers
//! (`Mcp-Session-Id` included). Messages the server sends before the reply
//! (this server sends none) are dropped, as a JSON body cannot carry them.

use axum::{
    body::Body,
    extract::Request,
    http::{HeaderValue, Method, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use futures_util::StreamExt;
use serde::de::IgnoredAny;

/// Axum middleware: turn a POST's SSE answer into its JSON-RPC reply.
pub async fn sse_to_json(request: Request, next: Next) -> Response {
    let is_post = request.method() == Method::POST;
    let response = next.run(request).await;
    if !is_post || !is_event_stream(&response) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    match first_reply(body).await {
        Ok(Some(reply)) => {
            parts.headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            parts.headers.remove(header::CACHE_CONTROL);
            parts.headers.remove("x-accel-buffering");
            Response::from_parts(parts, Body::from(reply))
        }
        Ok(None) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "the SSE stream ended without a JSON-RPC reply",
        )
            .into_response(),
        Err(error) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("reading the SSE stream failed: {error}"),
        )
            .into_response(),
    }
}

fn is_event_stream(response: &Response) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("text/event-stream"))
}

async fn first_reply(body: Body) -> Result<Option<String>, axum::Error> {
    let mut stream = body.into_data_stream();
    let mut events = SseEvents::default();
    while let Some(chunk) = stream.next().await {
        events.push(&chunk?);
        while let Some(data) = events.next_data() {
            if is_reply(&data) {
                return Ok(Some(data));
            }
        }
    }
    Ok(None)
}

/// Whether `data` is a JSON-RPC response or error (not a request or notification).
fn is_reply(data: &str) -> bool {
    #[derive(serde::Deserialize)]
    struct Probe {
        result: Option<IgnoredAny>,
        error: Option<IgnoredAny>,
    }
    serde_json::from_str::<Probe>(data)
        .is_ok_and(|probe| probe.result.is_some() || probe.error.is_some())
}

/// An incremental parser of an SSE stream that yields each event's data.
#[derive(Debug, Default)]
struct SseEvents {
    buffer: Vec<u8>,
}

impl SseEvents {
    fn push(&mut self, chunk: &[u8]) {
        self.buffer.extend_from_slice(chunk);
    }

    /// The data of the next complete event that has any, joined by newlines.
    fn next_data(&mut self) -> Option<String> {
        loop {
            let end = find_event_end(&self.buffer)?;
            let event: Vec<u8> = self.buffer.drain(..end.next).collect();
            let text = String::from_utf8_lossy(&event[..end.at]);
            let data: Vec<&str> = text
                .split('\n')
                .map(|line| line.strip_suffix('\r').unwrap_or(line))
                .filter_map(|line| line.strip_prefix("data:"))
                .map(|value| value.strip_prefix(' ').unwrap_or(value))
                .collect();
            let data = data.join("\n");
            if !data.is_empty() {
                return Some(data);
            }
        }
    }
}

struct EventEnd {
    /// Where the event's text ends.
    at: usize,
    /// Where the next event starts.
    next: usize,
}

/// The first blank line (`\n\n` or `\r\n\r\n`) in `buffer`.
fn find_event_end(buffer: &[u8]) -> Option<EventEnd> {
    let lf = buffer
        .windows(2)
        .position(|window| window == b"\n\n")
        .map(|at| EventEnd { at, next: at + 2 });
    let crlf = buffer
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .map(|at| EventEnd { at, next: at + 4 });
    match (lf, crlf) {
        (Some(lf), Some(crlf)) => Some(if crlf.at < lf.at { crlf } else { lf }),
        (lf, crlf) => lf.or(crlf),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yields_data_of_complete_events_only() {
        let mut events = SseEvents::default();
        events.push(b"id: 0\nretry: 3000\ndata:\n\n: keep-alive\n\nda");
        assert_eq!(events.next_data(), None);
        events.push(b"ta: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n");
        assert_eq!(events.next_data(), None);
        events.push(b"\ndata: a\r\ndata: b\r\n\r\n");
        assert_eq!(
            events.next_data().as_deref(),
            Some(r#"{"jsonrpc":"2.0","id":1,"result":{}}"#)
        );
        assert_eq!(events.next_data().as_deref(), Some("a\nb"));
        assert_eq!(events.next_data(), None);
    }

    #[test]
    fn recognises_replies() {
        assert!(is_reply(r#"{"jsonrpc":"2.0","id":1,"result":{}}"#));
        assert!(is_reply(
            r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32603,"message":"x"}}"#
        ));
        assert!(!is_reply(
            r#"{"jsonrpc":"2.0","method":"notifications/progress","params":{}}"#
        ));
        assert!(!is_reply("not json"));
    }
}
