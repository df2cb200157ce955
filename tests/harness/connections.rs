//! The per-session connection cap: requests past it wait for a connection instead of
//! opening more, and the wait counts in their latency.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use harness::mcp::{Endpoint, Outcome, RequestTemplate, Session, SessionOptions};
use harness::sut::SutSpec;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::{run, scenario_file};

/// An MCP server over HTTP/1.1 that answers every request after `delay`, and counts the
/// connections it accepted and the most it had open at once.
struct SlowServer {
    endpoint: Endpoint,
    accepted: Arc<AtomicUsize>,
    most_open: Arc<AtomicUsize>,
}

impl SlowServer {
    async fn start(delay: Duration) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/mcp", listener.local_addr().unwrap());
        let accepted = Arc::new(AtomicUsize::new(0));
        let most_open = Arc::new(AtomicUsize::new(0));
        let open = Arc::new(AtomicUsize::new(0));
        let (a, m) = (accepted.clone(), most_open.clone());
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                a.fetch_add(1, Ordering::SeqCst);
                let now = open.fetch_add(1, Ordering::SeqCst) + 1;
                m.fetch_max(now, Ordering::SeqCst);
                let open = open.clone();
                tokio::spawn(async move {
                    let _ = serve(socket, delay).await;
                    open.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        Self {
            endpoint: Endpoint::Http(url.parse().unwrap()),
            accepted,
            most_open,
        }
    }
}

/// Answers the requests of one connection, one at a time.
async fn serve(mut socket: TcpStream, delay: Duration) -> std::io::Result<()> {
    let mut seen = Vec::new();
    loop {
        let (end, length) = loop {
            if let Some(end) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&seen[..end]).to_ascii_lowercase();
                let length: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .map_or(0, |v| v.trim().parse().unwrap_or(0));
                if seen.len() >= end + 4 + length {
                    break (end, length);
                }
            }
            let mut buf = [0u8; 4096];
            let n = socket.read(&mut buf).await?;
            if n == 0 {
                return Ok(());
            }
            seen.extend_from_slice(&buf[..n]);
        };
        let body: Value =
            serde_json::from_slice(&seen[end + 4..end + 4 + length]).unwrap_or_default();
        seen.drain(..end + 4 + length);
        let answer = match (body.get("id"), body["method"].as_str()) {
            (None, _) => "HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n".to_string(),
            (Some(id), Some("initialize")) => json_answer(&json!({
                "jsonrpc": "2.0", "id": id,
                "result": {"protocolVersion": "2025-06-18", "capabilities": {},
                           "serverInfo": {"name": "slow", "version": "1"}}
            })),
            (Some(id), _) => {
                tokio::time::sleep(delay).await;
                json_answer(&json!({"jsonrpc": "2.0", "id": id, "result": {}}))
            }
        };
        socket.write_all(answer.as_bytes()).await?;
    }
}

fn json_answer(message: &Value) -> String {
    let body = message.to_string();
    format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_past_the_cap_wait_for_a_connection_instead_of_opening_one() {
    let server = SlowServer::start(Duration::from_millis(100)).await;
    let options = SessionOptions {
        max_connections: 2,
        ..SessionOptions::default()
    };
    let session = Session::open(&server.endpoint, options).await.unwrap();
    let ping = RequestTemplate::new("ping", None);
    let outcomes = futures_util::future::join_all((0..8).map(|_| session.request(&ping))).await;
    assert!(outcomes.iter().all(|o| *o == Outcome::Ok), "{outcomes:?}");
    assert_eq!(
        server.accepted.load(Ordering::SeqCst),
        2,
        "8 concurrent requests on a session capped at 2 connections"
    );
    session.close().await.unwrap();
}

#[test]
fn an_overloaded_server_sees_at_most_clients_times_connections_and_the_wait_is_latency() {
    let rt = crate::runtime();
    // 100 ms per answer at 100 req/s wants 10 requests in flight; 2 sessions of 2
    // connections carry 4, so the rest queue and their wait is measured.
    let server = rt.block_on(SlowServer::start(Duration::from_millis(100)));
    let Endpoint::Http(url) = server.endpoint.clone() else {
        unreachable!()
    };
    let dir = tempfile::tempdir().unwrap();
    let file = scenario_file(
        dir.path(),
        "capped",
        "scenario:\n  name: capped\n  clients: 2\n  connections: 2\n  timeout: 10s\n  phases:\n    - name: p\n      duration: 1s\n      rps: 100\n  requests:\n    - type: ping\n      weight: 100%\n",
    );
    let sut = SutSpec::Url {
        url,
        allow_remote: false,
        pid: None,
    };
    let r = run(&file, sut, dir.path());
    assert_eq!(r.throughput.ok, 100, "{:?}", r.errors);
    assert!(
        server.most_open.load(Ordering::SeqCst) <= 4,
        "{} connections open at once",
        server.most_open.load(Ordering::SeqCst)
    );
    // 4 connections at 100 ms serve 40 req/s: the last of 100 requests, due at 1 s,
    // is answered at about 2.5 s. Without the wait counted, every latency would be 100 ms.
    assert!(
        r.latency.p99_us > 1_000_000,
        "P99 {} us does not include the wait for a connection",
        r.latency.p99_us
    );
    drop(rt);
}
