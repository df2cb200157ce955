//! End to end over WebSocket (`/mcp/ws`) and newline-delimited TCP: initialize, then a
//! tools/call round trip, with the same handler (faults, metrics) as Streamable HTTP.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use refserver::{RunningServer, ServerConfig, start};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio_tungstenite::tungstenite::Message;

const STEP: Duration = Duration::from_secs(5);

fn messages() -> [Value; 3] {
    [
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "t", "version": "0"}}}),
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {
            "name": "calculator", "arguments": {"a": 6, "b": 7, "op": "mul"}}}),
    ]
}

async fn serve_with_tcp() -> RunningServer {
    start(ServerConfig {
        tcp_bind: Some(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))),
        ..ServerConfig::default()
    })
    .await
    .expect("server starts")
}

fn check_replies(replies: &[Value]) {
    assert_eq!(replies[0]["id"], 1);
    assert_eq!(replies[0]["result"]["protocolVersion"], "2025-06-18");
    assert_eq!(
        replies[0]["result"]["serverInfo"]["name"],
        "erlmcp-refserver"
    );
    assert_eq!(replies[1]["id"], 2);
    assert_eq!(replies[1]["result"]["content"][0]["text"], "42");
}

#[tokio::test]
async fn websocket_session_round_trip() {
    let server = serve_with_tcp().await;
    assert!(server.ws_url().ends_with("/mcp/ws"), "{}", server.ws_url());
    let (mut socket, _) = tokio_tungstenite::connect_async(server.ws_url())
        .await
        .expect("websocket upgrade");
    let mut replies = Vec::new();
    for message in messages() {
        socket
            .send(Message::Text(message.to_string().into()))
            .await
            .unwrap();
        if message.get("id").is_none() {
            continue;
        }
        loop {
            let frame = tokio::time::timeout(STEP, socket.next())
                .await
                .expect("a reply in time")
                .expect("the socket stays open")
                .unwrap();
            if let Message::Text(text) = frame {
                let reply: Value = serde_json::from_str(text.as_str()).unwrap();
                if reply.get("id").is_some() && reply.get("method").is_none() {
                    replies.push(reply);
                    break;
                }
            }
        }
    }
    check_replies(&replies);
    socket.close(None).await.unwrap();
    // The same handler counts WebSocket requests in /metrics.
    let metrics = reqwest::get(format!("http://{}/metrics", server.addr()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"mcp_requests_total{method="tools/call",outcome="ok"} 1"#),
        "{metrics}"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn tcp_session_round_trip() {
    let server = serve_with_tcp().await;
    let addr = server.tcp_addr().expect("a TCP listener");
    assert_ne!(addr.port(), 0);
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    let mut replies = Vec::new();
    for message in messages() {
        write
            .write_all(format!("{message}\n").as_bytes())
            .await
            .unwrap();
        if message.get("id").is_none() {
            continue;
        }
        let line = tokio::time::timeout(STEP, lines.next_line())
            .await
            .expect("a reply in time")
            .unwrap()
            .expect("the connection stays open");
        replies.push(serde_json::from_str::<Value>(&line).unwrap());
    }
    check_replies(&replies);
    // Closing our side ends the session; the server closes too.
    drop(write);
    let end = tokio::time::timeout(STEP, lines.next_line()).await.unwrap();
    assert!(matches!(end, Ok(None)), "{end:?}");
    server.shutdown().await;
}

#[tokio::test]
async fn no_tcp_listener_unless_asked() {
    let server = start(ServerConfig::default()).await.unwrap();
    assert_eq!(server.tcp_addr(), None);
    server.shutdown().await;
}
