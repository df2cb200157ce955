//! Every transport against the reference server, and request-id correlation over a
//! stream transport against fake newline-delimited TCP servers.

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use harness::mcp::{
    Endpoint, ErrorClass, Outcome, ProtocolViolation, RequestTemplate, Session, SessionError,
    SessionOptions,
};
use harness::sut::{SutSpec, Transport};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};

use crate::{refserver, run, scenario_file};

/// A small mix of every kind of request, 200 requests over 4 sessions.
const MIX: &str = "scenario:\n  name: transport\n  clients: 4\n  protocol_version: \"2025-03-26\"\n  phases:\n    - name: p\n      duration: 2s\n      rps: 100\n  requests:\n    - type: tool_call\n      tool: calculator\n      weight: 25%\n    - type: resource_list\n      weight: 25%\n    - type: prompt_get\n      prompt: greeting\n      arguments: { name: perf }\n      weight: 25%\n    - type: ping\n      weight: 25%\n";

fn drive_reference_server(transport: Transport) {
    let dir = tempfile::tempdir().unwrap();
    let file = scenario_file(dir.path(), "transport", MIX);
    let sut = SutSpec::Embedded(refserver(&[]).with_transport(transport));
    let r = run(&file, sut, dir.path());
    assert_eq!(r.throughput.planned, 200, "{transport}");
    assert_eq!(
        r.throughput.attempts, 200,
        "{transport}: every request is accounted for"
    );
    assert_eq!(r.errors.total, 0, "{transport}: {:?}", r.errors);
    assert_eq!(r.throughput.ok, 200, "{transport}");
    for op in &r.operations {
        assert_eq!(
            (op.attempts, op.ok),
            (50, 50),
            "{transport}: {}",
            op.operation
        );
    }
    assert_eq!(r.scenario.protocol_version, "2025-03-26", "{transport}");
    assert_eq!(r.sut.transport, transport.to_string());
    let scheme = match transport {
        Transport::Http => "http://",
        Transport::WebSocket => "ws://",
        Transport::Tcp => "tcp://",
        Transport::Stdio => "stdio:",
    };
    assert!(r.sut.endpoint.starts_with(scheme), "{}", r.sut.endpoint);
    // Over stdio every session has its own server process: all of them are sampled.
    let resources = r.resources.as_ref().expect("resources sampled");
    assert!(
        resources.memory_bytes_peak > 0,
        "{transport}: {resources:?}"
    );
    let report = std::fs::read_to_string(dir.path().join("transport/report.md")).unwrap();
    assert!(
        report.contains(&format!("- **Transport:** {transport}")),
        "{report}"
    );
}

#[test]
fn reference_server_over_http() {
    drive_reference_server(Transport::Http);
}

#[test]
fn reference_server_over_websocket() {
    drive_reference_server(Transport::WebSocket);
}

#[test]
fn reference_server_over_tcp() {
    drive_reference_server(Transport::Tcp);
}

#[test]
fn reference_server_over_stdio() {
    drive_reference_server(Transport::Stdio);
}

// --- Fake newline-delimited servers --------------------------------------------------

type Reader = Lines<BufReader<OwnedReadHalf>>;

fn options(timeout: Duration) -> SessionOptions {
    SessionOptions {
        timeout,
        ..SessionOptions::default()
    }
}

async fn listen() -> (TcpListener, Endpoint) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = Endpoint::Tcp(listener.local_addr().unwrap());
    (listener, endpoint)
}

async fn next_message(lines: &mut Reader) -> Option<Value> {
    let line = lines.next_line().await.ok()??;
    Some(serde_json::from_str(&line).expect("the harness sends JSON"))
}

async fn send(write: &mut OwnedWriteHalf, message: &Value) {
    write
        .write_all(format!("{message}\n").as_bytes())
        .await
        .unwrap();
}

/// Accepts one connection and answers `initialize` and reads `notifications/initialized`.
async fn accept_initialized(listener: &TcpListener) -> (Reader, OwnedWriteHalf) {
    let (stream, _) = listener.accept().await.unwrap();
    let (read, mut write) = TcpStream::into_split(stream);
    let mut lines = BufReader::new(read).lines();
    let init = next_message(&mut lines).await.expect("initialize");
    assert_eq!(init["method"], "initialize");
    send(
        &mut write,
        &json!({"jsonrpc": "2.0", "id": init["id"], "result": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "serverInfo": {"name": "fake", "version": "0"}}}),
    )
    .await;
    let initialized = next_message(&mut lines).await.expect("initialized");
    assert_eq!(initialized["method"], "notifications/initialized");
    (lines, write)
}

/// A `tools/call` whose argument `n` the fake server echoes in its answer.
fn numbered(n: u64) -> RequestTemplate {
    RequestTemplate::new(
        "tools/call",
        Some(&json!({"name": "echo", "arguments": {"n": n}})),
    )
}

/// The answer the fake server gives request `n`: even numbers succeed, odd ones fail with
/// a JSON-RPC error whose code carries `n`.
fn answer_to(n: u64) -> Outcome {
    if n.is_multiple_of(2) {
        Outcome::Ok
    } else {
        Outcome::Failed(ErrorClass::JsonRpc(-32000 - n as i64))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_reach_their_own_request_despite_noise_and_reordering() {
    const N: u64 = 20;
    let (listener, endpoint) = listen().await;
    let server = tokio::spawn(async move {
        let (mut lines, mut write) = accept_initialized(&listener).await;
        let mut requests = Vec::new();
        let mut ping_answered = false;
        while (requests.len() as u64) < N || !ping_answered {
            let message = next_message(&mut lines).await.expect("a message");
            if message.get("method").is_none() {
                // The harness's answer to our ping.
                assert_eq!(message["id"], "srv-ping");
                assert_eq!(message["result"], json!({}));
                ping_answered = true;
                continue;
            }
            // Before anything else: a notification, a response nobody asked for and,
            // once, a request from the server.
            send(
                &mut write,
                &json!({"jsonrpc": "2.0", "method": "notifications/message",
                    "params": {"level": "info", "data": "noise"}}),
            )
            .await;
            send(
                &mut write,
                &json!({"jsonrpc": "2.0", "id": 1_000_000 + requests.len(), "result": {}}),
            )
            .await;
            if requests.is_empty() {
                send(
                    &mut write,
                    &json!({"jsonrpc": "2.0", "id": "srv-ping", "method": "ping"}),
                )
                .await;
            }
            requests.push(message);
        }
        // The real answers, in reverse order.
        for request in requests.iter().rev() {
            let n = request["params"]["arguments"]["n"].as_u64().unwrap();
            let answer = if n.is_multiple_of(2) {
                json!({"jsonrpc": "2.0", "id": request["id"], "result": {"content": []}})
            } else {
                json!({"jsonrpc": "2.0", "id": request["id"],
                    "error": {"code": -32000 - n as i64, "message": "odd"}})
            };
            send(&mut write, &answer).await;
        }
        // Hold the connection until the client closes it.
        while next_message(&mut lines).await.is_some() {}
    });
    let session = Session::open(&endpoint, options(Duration::from_secs(5)))
        .await
        .unwrap();
    assert_eq!(session.protocol_version(), "2025-06-18");
    let templates: Vec<_> = (0..N).map(numbered).collect();
    let outcomes = join_all(templates.iter().map(|t| session.request(t))).await;
    for (n, outcome) in outcomes.into_iter().enumerate() {
        assert_eq!(outcome, answer_to(n as u64), "request {n}");
    }
    assert_eq!(session.unmatched_responses(), N);
    session.close().await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("the fake server saw the close")
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_connection_fails_pending_requests_as_connect_at_once() {
    let (listener, endpoint) = listen().await;
    tokio::spawn(async move {
        let (mut lines, write) = accept_initialized(&listener).await;
        for _ in 0..5 {
            next_message(&mut lines).await.expect("a request");
        }
        drop((lines, write));
    });
    // A long request timeout: failing fast must come from the closed connection.
    let session = Session::open(&endpoint, options(Duration::from_secs(30)))
        .await
        .unwrap();
    let started = Instant::now();
    let ping = RequestTemplate::new("ping", None);
    let outcomes = join_all((0..5).map(|_| session.request(&ping))).await;
    assert!(
        outcomes
            .iter()
            .all(|o| *o == Outcome::Failed(ErrorClass::Connect)),
        "{outcomes:?}"
    );
    assert_eq!(
        session.request(&ping).await,
        Outcome::Failed(ErrorClass::Connect),
        "later requests fail too"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    let _ = session.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_is_bad_json() {
    let (listener, endpoint) = listen().await;
    tokio::spawn(async move {
        let (mut lines, mut write) = accept_initialized(&listener).await;
        while next_message(&mut lines).await.is_some() {
            write.write_all(b"<html>oops</html>\n").await.unwrap();
        }
    });
    let session = Session::open(&endpoint, options(Duration::from_secs(5)))
        .await
        .unwrap();
    let ping = RequestTemplate::new("ping", None);
    for _ in 0..3 {
        assert_eq!(
            session.request(&ping).await,
            Outcome::Failed(ErrorClass::Protocol(ProtocolViolation::BadJson))
        );
    }
    let _ = session.close().await;

    // Garbage for `initialize` fails the session's opening with the same class.
    let (listener, endpoint) = listen().await;
    tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let (read, mut write) = stream.into_split();
        let mut lines = BufReader::new(read).lines();
        let _ = lines.next_line().await;
        write.write_all(b"[1,2,3]\n").await.unwrap();
        let _ = lines.next_line().await;
    });
    match Session::open(&endpoint, options(Duration::from_secs(5))).await {
        Err(SessionError::Initialize { class, .. }) => {
            assert_eq!(class, ErrorClass::Protocol(ProtocolViolation::BadJson));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_message_fails_the_session() {
    let (listener, endpoint) = listen().await;
    tokio::spawn(async move {
        let (mut lines, mut write) = accept_initialized(&listener).await;
        let request = next_message(&mut lines).await.expect("a request");
        let big = "x".repeat(64 * 1024);
        send(
            &mut write,
            &json!({"jsonrpc": "2.0", "id": request["id"], "result": {"big": big}}),
        )
        .await;
        while next_message(&mut lines).await.is_some() {}
    });
    let options = SessionOptions {
        max_body_bytes: 4096,
        ..options(Duration::from_secs(5))
    };
    let session = Session::open(&endpoint, options).await.unwrap();
    let ping = RequestTemplate::new("ping", None);
    assert_eq!(
        session.request(&ping).await,
        Outcome::Failed(ErrorClass::Protocol(ProtocolViolation::BodyTooLarge))
    );
    assert_eq!(
        session.request(&ping).await,
        Outcome::Failed(ErrorClass::Connect)
    );
    let _ = session.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unanswered_request_times_out_and_its_late_answer_is_unmatched() {
    let (listener, endpoint) = listen().await;
    tokio::spawn(async move {
        let (mut lines, mut write) = accept_initialized(&listener).await;
        let first = next_message(&mut lines).await.expect("a request");
        let second = next_message(&mut lines).await.expect("a request");
        // The first answer comes too late; the second at once.
        send(
            &mut write,
            &json!({"jsonrpc": "2.0", "id": second["id"], "result": {}}),
        )
        .await;
        tokio::time::sleep(Duration::from_millis(600)).await;
        send(
            &mut write,
            &json!({"jsonrpc": "2.0", "id": first["id"], "result": {}}),
        )
        .await;
        while next_message(&mut lines).await.is_some() {}
    });
    let session = Session::open(&endpoint, options(Duration::from_millis(300)))
        .await
        .unwrap();
    let ping = RequestTemplate::new("ping", None);
    let (first, second) = tokio::join!(session.request(&ping), async {
        // Make sure the first request is on the wire first.
        tokio::time::sleep(Duration::from_millis(20)).await;
        session.request(&ping).await
    });
    assert_eq!(first, Outcome::Failed(ErrorClass::Timeout));
    assert_eq!(second, Outcome::Ok);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(session.unmatched_responses(), 1);
    let _ = session.close().await;
}
