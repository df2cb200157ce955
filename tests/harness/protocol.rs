//! Every protocol revision: 2026-07-28 (no sessions, `server/discover`, `_meta` and headers on
//! every request) against the reference server over every transport, `auto`, and the
//! fallback to `initialize` on a server that does not know `server/discover`.

use std::time::Duration;

use harness::mcp::{
    Endpoint, ErrorClass, HttpSession, Outcome, RequestTemplate, Session, SessionOptions,
};
use harness::sut::{SutSpec, Transport};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

use crate::{refserver, run, runtime, scenario_file};

/// 200 requests over 4 sessions: a tool, a resource, a prompt and a list.
fn mix(version: &str) -> String {
    format!(
        "scenario:\n  name: protocol\n  clients: 4\n  protocol_version: \"{version}\"\n  phases:\n    - name: p\n      duration: 2s\n      rps: 100\n  requests:\n    - type: tool_call\n      tool: calculator\n      arguments: {{ a: 2, b: 3, op: add }}\n      weight: 25%\n    - type: resource_read\n      uri: \"ref://status\"\n      weight: 25%\n    - type: prompt_get\n      prompt: greeting\n      arguments: {{ name: perf }}\n      weight: 25%\n    - type: tool_list\n      weight: 25%\n"
    )
}

fn drive(version: &str, transport: Transport, flags: &[&str]) -> harness::record::RunRecord {
    let dir = tempfile::tempdir().unwrap();
    let file = scenario_file(dir.path(), "protocol", &mix(version));
    let sut = SutSpec::Embedded(refserver(flags).with_transport(transport));
    let r = run(&file, sut, dir.path());
    assert_eq!(r.throughput.attempts, 200, "{transport}");
    assert_eq!(r.errors.total, 0, "{transport} {flags:?}: {:?}", r.errors);
    assert_eq!(r.throughput.ok, 200, "{transport}");
    r
}

#[test]
fn the_2026_revision_runs_against_the_reference_server_over_every_transport() {
    for (transport, flags) in [
        (Transport::Http, &[][..]),
        (Transport::Http, &["--stateless", "--json-response"][..]),
        (Transport::WebSocket, &[][..]),
        (Transport::Tcp, &[][..]),
        (Transport::Stdio, &[][..]),
    ] {
        let r = drive("2026-07-28", transport, flags);
        assert_eq!(r.scenario.protocol_version, "2026-07-28", "{transport}");
        assert_eq!(r.scenario.protocol_requested.as_deref(), Some("2026-07-28"));
        // No session ids in this revision.
        assert!(!r.scenario.stateful_sessions, "{transport} {flags:?}");
    }
}

#[test]
fn auto_finds_the_2026_revision_and_older_revisions_still_initialize() {
    let r = drive("auto", Transport::Http, &[]);
    assert_eq!(r.scenario.protocol_version, "2026-07-28");
    assert_eq!(r.scenario.protocol_requested.as_deref(), Some("auto"));
    for version in ["2025-11-25", "2024-11-05"] {
        let r = drive(version, Transport::Http, &[]);
        assert_eq!(r.scenario.protocol_version, version);
        assert!(
            r.scenario.stateful_sessions,
            "{version}: initialize opens a session"
        );
    }
}

#[test]
fn a_header_the_body_contradicts_is_refused_and_named() {
    let rt = runtime();
    let server = refserver(&["--stateless", "--json-response"]);
    rt.block_on(async {
        let running = SutSpec::Embedded(server).start(None).await.unwrap();
        let Endpoint::Http(url) = running.endpoint().clone() else {
            panic!("an http endpoint");
        };
        let options = SessionOptions {
            protocol_version: "2026-07-28".into(),
            ..SessionOptions::default()
        };
        let session = HttpSession::open(url, options).await.unwrap();
        assert_eq!(session.protocol_version(), "2026-07-28");
        let params = json!({"name": "calculator", "arguments": {"a": 1, "b": 2, "op": "add"}});
        let right = RequestTemplate::modern("tools/call", Some(&params), Some("calculator"));
        assert_eq!(session.request(&right).await, Outcome::Ok);
        let wrong = RequestTemplate::modern("tools/call", Some(&params), Some("file_read"));
        let outcome = session.request(&wrong).await;
        assert_eq!(outcome, Outcome::Failed(ErrorClass::JsonRpc(-32020)));
        let Outcome::Failed(class) = outcome else {
            unreachable!()
        };
        assert_eq!(class.to_string(), "jsonrpc:-32020:header_mismatch");
        session.close().await.unwrap();
        running.stop().await;
    });
}

/// A server of an older revision over TCP: `server/discover` is an unknown method, then
/// `initialize`, then one `tools/call`. Returns the discover request it saw.
async fn legacy_server(listener: TcpListener) -> Value {
    let (stream, _) = listener.accept().await.unwrap();
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    let mut next = async || -> Value {
        let line = lines.next_line().await.unwrap().expect("a message");
        serde_json::from_str(&line).unwrap()
    };
    let discover = next().await;
    let answer = json!({"jsonrpc": "2.0", "id": discover["id"],
        "error": {"code": -32601, "message": "Method not found"}});
    write
        .write_all(format!("{answer}\n").as_bytes())
        .await
        .unwrap();
    let init = next().await;
    assert_eq!(init["method"], "initialize");
    assert_eq!(init["params"]["protocolVersion"], "2025-11-25");
    let answer = json!({"jsonrpc": "2.0", "id": init["id"], "result": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "serverInfo": {"name": "legacy", "version": "0"}}});
    write
        .write_all(format!("{answer}\n").as_bytes())
        .await
        .unwrap();
    assert_eq!(next().await["method"], "notifications/initialized");
    let call = next().await;
    assert!(call["params"].get("_meta").is_none(), "{call}");
    let answer = json!({"jsonrpc": "2.0", "id": call["id"], "result": {"content": []}});
    write
        .write_all(format!("{answer}\n").as_bytes())
        .await
        .unwrap();
    discover
}

#[test]
fn auto_falls_back_to_initialize_where_discover_is_unknown() {
    runtime().block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = Endpoint::Tcp(listener.local_addr().unwrap());
        let server = tokio::spawn(legacy_server(listener));
        let options = SessionOptions {
            protocol_version: "auto".into(),
            timeout: Duration::from_secs(5),
            ..SessionOptions::default()
        };
        let session = Session::open(&endpoint, options).await.unwrap();
        assert_eq!(session.protocol_version(), "2025-06-18");
        let call = RequestTemplate::new("tools/call", Some(&json!({"name": "x"})));
        assert_eq!(session.request(&call).await, Outcome::Ok);
        let discover = tokio::time::timeout(Duration::from_secs(5), server)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(discover["method"], "server/discover");
        assert_eq!(
            discover["params"]["_meta"]["io.modelcontextprotocol/protocolVersion"],
            "2026-07-28"
        );
        let _ = session.close().await;
    });
}
