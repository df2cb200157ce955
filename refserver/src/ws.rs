//! MCP over WebSocket at [`WS_PATH`]: each connection is one MCP session and each text
//! frame one JSON-RPC message, served by rmcp's own service loop with the same
//! [`RefServer`] handler as Streamable HTTP, so faults, metrics and tools behave alike.
//!
//! The `Host` allow-list of `/mcp` does not apply here: a WebSocket client is not a
//! browser page being rebound, and the listener is loopback unless `--bind` says otherwise.

use axum::{
    extract::{
        State,
        ws::{Message, WebSocket, WebSocketUpgrade},
    },
    response::Response,
};
use futures_util::{SinkExt, StreamExt, future::ready};
use rmcp::{
    RoleServer, ServiceExt,
    service::{RxJsonRpcMessage, TxJsonRpcMessage},
};
use tokio_util::sync::CancellationToken;

use crate::handler::RefServer;

/// Path of the WebSocket MCP endpoint.
pub const WS_PATH: &str = "/mcp/ws";

/// What the WebSocket route needs to start a session.
#[derive(Debug, Clone)]
pub(crate) struct WsState {
    pub(crate) handler: RefServer,
    pub(crate) cancel: CancellationToken,
}

/// Why an outgoing message could not be sent.
#[derive(Debug, thiserror::Error)]
pub(crate) enum WsSendError {
    /// The message could not be serialised.
    #[error("cannot serialise a message: {0}")]
    Encode(#[from] serde_json::Error),
    /// The WebSocket failed.
    #[error("websocket: {0}")]
    Socket(#[from] axum::Error),
}

/// `GET /mcp/ws`: upgrade and serve one MCP session on the socket.
pub(crate) async fn upgrade(State(state): State<WsState>, ws: WebSocketUpgrade) -> Response {
    ws.on_upgrade(move |socket| serve_socket(socket, state))
}

async fn serve_socket(socket: WebSocket, state: WsState) {
    let (sink, stream) = socket.split();
    let sink = sink.with(|message: TxJsonRpcMessage<RoleServer>| ready(encode(&message)));
    // The session ends at a close frame or a broken socket; frames that are not
    // JSON-RPC messages are skipped.
    let stream = stream
        .take_while(|frame| ready(matches!(frame, Ok(m) if !matches!(m, Message::Close(_)))))
        .filter_map(|frame| ready(frame.ok().and_then(decode)));
    match state
        .handler
        .serve_with_ct((sink, stream), state.cancel.child_token())
        .await
    {
        Ok(service) => {
            if let Err(error) = service.waiting().await {
                tracing::debug!(%error, "websocket session ended abnormally");
            }
        }
        Err(error) => tracing::debug!(%error, "websocket session ended before initialize"),
    }
}

fn encode(message: &TxJsonRpcMessage<RoleServer>) -> Result<Message, WsSendError> {
    Ok(Message::Text(serde_json::to_string(message)?.into()))
}

fn decode(frame: Message) -> Option<RxJsonRpcMessage<RoleServer>> {
    let parsed = match &frame {
        Message::Text(text) => serde_json::from_str(text.as_str()),
        Message::Binary(bytes) => serde_json::from_slice(bytes),
        Message::Ping(_) | Message::Pong(_) | Message::Close(_) => return None,
    };
    parsed
        .map_err(|error| tracing::warn!(%error, "skipping a websocket frame that is not a JSON-RPC message"))
        .ok()
}
