//! End to end over HTTP: a real server on port 0 and raw Streamable HTTP.

mod common;

use std::time::{Duration, Instant};

use common::{Client, SESSION_HEADER, read_reply};
use refserver::{Faults, RunningServer, ServerConfig, start};
use serde_json::json;

async fn serve(config: ServerConfig) -> RunningServer {
    start(config).await.expect("server starts")
}

async fn metrics_text(server: &RunningServer) -> String {
    let response = reqwest::get(format!("http://{}/metrics", server.addr()))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    response.text().await.unwrap()
}

#[tokio::test]
async fn stateful_sse_session_end_to_end() {
    let server = serve(ServerConfig::default()).await;
    assert!(server.mcp_url().starts_with("http://127.0.0.1:"));
    assert!(server.mcp_url().ends_with("/mcp"));
    let mut client = Client::new(server.mcp_url());

    let init = client.initialize("2025-06-18").await;
    assert_eq!(init.status, 200);
    assert!(
        init.content_type.starts_with("text/event-stream"),
        "{init:?}"
    );
    assert!(client.session.is_some(), "a session id: {init:?}");
    assert_eq!(init.result()["protocolVersion"], "2025-06-18");
    assert_eq!(init.result()["serverInfo"]["name"], "erlmcp-refserver");

    let initialized = client.notify("notifications/initialized").await;
    assert_eq!(initialized.status, 202);
    assert!(initialized.body.is_empty());

    let sum = client
        .call_tool("calculator", json!({"a": 40, "b": 2, "op": "add"}))
        .await;
    assert!(sum.content_type.starts_with("text/event-stream"));
    assert_eq!(sum.tool_text(), ("42", false));
    let quotient = client
        .call_tool("calculator", json!({"a": 1, "b": 0, "op": "div"}))
        .await;
    assert_eq!(quotient.tool_text(), ("division by zero", true));

    let sample = client
        .call_tool("file_read", json!({"path": "sample.txt"}))
        .await;
    let (text, is_error) = sample.tool_text();
    assert!(!is_error);
    assert_eq!(text.len(), 1024);
    let escape = client.call_tool("file_read", json!({"path": "../x"})).await;
    let (text, is_error) = escape.tool_text();
    assert!(
        is_error && text.contains("outside the served directory"),
        "{text}"
    );

    let tools = client.request("tools/list", json!({})).await;
    let names: Vec<&str> = tools.result()["tools"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|tool| tool["name"].as_str())
        .collect();
    assert_eq!(names, ["calculator", "file_read"]);

    let resources = client.request("resources/list", json!({})).await;
    let uris: Vec<&str> = resources.result()["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|resource| resource["uri"].as_str())
        .collect();
    assert_eq!(uris, ["ref://status", "ref://readme"]);
    let status = client
        .request("resources/read", json!({"uri": "ref://status"}))
        .await;
    let status: serde_json::Value =
        serde_json::from_str(status.result()["contents"][0]["text"].as_str().unwrap()).unwrap();
    assert_eq!(status["name"], "erlmcp-refserver");
    let missing = client
        .request("resources/read", json!({"uri": "ref://missing"}))
        .await;
    assert_eq!(missing.error()["code"], -32002, "{missing:?}");

    let prompts = client.request("prompts/list", json!({})).await;
    assert_eq!(prompts.result()["prompts"][0]["name"], "greeting");
    let greeting = client
        .request(
            "prompts/get",
            json!({"name": "greeting", "arguments": {"name": "Ada"}}),
        )
        .await;
    assert_eq!(
        greeting.result()["messages"][0]["content"]["text"],
        "Hello, Ada!"
    );

    let metrics = metrics_text(&server).await;
    for line in [
        r#"mcp_requests_total{method="initialize",outcome="ok"} 1"#,
        r#"mcp_requests_total{method="tools/call",outcome="ok"} 2"#,
        r#"mcp_requests_total{method="tools/call",outcome="tool_error"} 2"#,
        r#"mcp_requests_total{method="resources/read",outcome="error"} 1"#,
        r#"mcp_requests_total{method="resources/list",outcome="ok"} 1"#,
        r#"mcp_requests_total{method="prompts/get",outcome="ok"} 1"#,
        r#"mcp_request_duration_seconds_count{method="tools/call"} 4"#,
    ] {
        assert!(metrics.contains(line), "missing {line} in\n{metrics}");
    }

    // DELETE ends the session; the id is unknown afterwards.
    let session = client.session.clone().unwrap();
    let deleted = client
        .http
        .delete(server.mcp_url())
        .header(SESSION_HEADER, &session)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 202);
    let after = client.request("tools/list", json!({})).await;
    assert_eq!(after.status, 404);

    server.shutdown().await;
}

#[tokio::test]
async fn negotiates_2025_03_26_and_rejects_unknown_sessions() {
    let server = serve(ServerConfig::default()).await;
    let mut client = Client::new(server.mcp_url());
    let init = client.initialize("2025-03-26").await;
    assert_eq!(init.result()["protocolVersion"], "2025-03-26");
    assert!(client.session.is_some());

    client.session = Some("no-such-session".into());
    let unknown = client.request("tools/list", json!({})).await;
    assert_eq!(unknown.status, 404);

    client.session = None;
    let without = client.request("tools/list", json!({})).await;
    assert_eq!(without.status, 400, "{without:?}");
}

#[tokio::test]
async fn stateless_json_responses() {
    let server = serve(ServerConfig {
        stateless: true,
        json_response: true,
        ..ServerConfig::default()
    })
    .await;
    let mut client = Client::new(server.mcp_url());
    let init = client.initialize("2025-06-18").await;
    assert_eq!(init.status, 200);
    assert!(
        init.content_type.starts_with("application/json"),
        "{init:?}"
    );
    assert_eq!(init.session(), None);
    assert_eq!(init.result()["protocolVersion"], "2025-06-18");
    assert_eq!(client.notify("notifications/initialized").await.status, 202);
    let product = client
        .call_tool("calculator", json!({"a": 6, "b": 7, "op": "mul"}))
        .await;
    assert!(product.content_type.starts_with("application/json"));
    assert_eq!(product.tool_text(), ("42", false));

    // No sessions: GET and DELETE are not offered.
    let get = client
        .http
        .get(server.mcp_url())
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), 405);
    let delete = client.http.delete(server.mcp_url()).send().await.unwrap();
    assert_eq!(delete.status(), 405);
}

#[tokio::test]
async fn stateless_sse_responses() {
    let server = serve(ServerConfig {
        stateless: true,
        ..ServerConfig::default()
    })
    .await;
    let mut client = Client::new(server.mcp_url());
    let init = client.initialize("2025-03-26").await;
    assert!(init.content_type.starts_with("text/event-stream"));
    assert_eq!(init.session(), None);
    assert_eq!(init.result()["protocolVersion"], "2025-03-26");
    let sum = client
        .call_tool("calculator", json!({"a": 1.5, "b": 2, "op": "sub"}))
        .await;
    assert_eq!(sum.tool_text(), ("-0.5", false));
}

#[tokio::test]
async fn stateful_json_responses_keep_the_session() {
    let server = serve(ServerConfig {
        json_response: true,
        ..ServerConfig::default()
    })
    .await;
    let mut client = Client::new(server.mcp_url());
    let init = client.initialize("2025-06-18").await;
    assert!(
        init.content_type.starts_with("application/json"),
        "{init:?}"
    );
    assert!(client.session.is_some());
    assert_eq!(init.result()["protocolVersion"], "2025-06-18");
    assert_eq!(client.notify("notifications/initialized").await.status, 202);
    let sum = client
        .call_tool("calculator", json!({"a": 40, "b": 2, "op": "add"}))
        .await;
    assert!(sum.content_type.starts_with("application/json"), "{sum:?}");
    assert_eq!(sum.tool_text(), ("42", false));
}

#[tokio::test]
async fn host_header_is_checked_unless_allowed() {
    async fn status_for(server: &RunningServer, host: &str) -> u16 {
        let response = reqwest::Client::new()
            .post(server.mcp_url())
            .header("host", host)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(
                json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                    "protocolVersion": "2025-06-18", "capabilities": {},
                    "clientInfo": {"name": "t", "version": "0"}}})
                .to_string(),
            )
            .send()
            .await
            .unwrap();
        response.status().as_u16()
    }

    let strict = serve(ServerConfig::default()).await;
    assert_eq!(status_for(&strict, "refserver:8080").await, 403);
    assert_eq!(status_for(&strict, "localhost:8080").await, 200);
    // /health is not guarded.
    let health = reqwest::Client::new()
        .get(format!("http://{}/health", strict.addr()))
        .header("host", "refserver")
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(health.text().await.unwrap(), "ok");

    let listed = serve(ServerConfig {
        allowed_hosts: vec!["refserver".into()],
        ..ServerConfig::default()
    })
    .await;
    assert_eq!(status_for(&listed, "refserver:8080").await, 200);
    assert_eq!(status_for(&listed, "other").await, 403);

    let open = serve(ServerConfig {
        allow_any_host: true,
        ..ServerConfig::default()
    })
    .await;
    assert_eq!(status_for(&open, "anything.example").await, 200);
}

#[tokio::test]
async fn injected_errors_spare_initialize_and_health() {
    let server = serve(ServerConfig {
        faults: "error_rate=1".parse().unwrap(),
        ..ServerConfig::default()
    })
    .await;
    let mut client = Client::new(server.mcp_url());
    let init = client.initialize("2025-06-18").await;
    assert_eq!(init.result()["protocolVersion"], "2025-06-18");
    let call = client
        .call_tool("calculator", json!({"a": 1, "b": 2, "op": "add"}))
        .await;
    assert_eq!(call.error()["code"], -32603);
    assert_eq!(call.error()["message"], "injected fault");
    let health = reqwest::get(format!("http://{}/health", server.addr()))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let metrics = metrics_text(&server).await;
    assert!(
        metrics.contains(r#"mcp_requests_total{method="tools/call",outcome="error"} 1"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn injected_latency_does_not_serialise_a_session() {
    let latency = Duration::from_millis(300);
    let server = serve(ServerConfig {
        faults: Faults {
            latency,
            ..Faults::default()
        },
        ..ServerConfig::default()
    })
    .await;
    let mut client = Client::new(server.mcp_url());
    client.initialize("2025-06-18").await;
    client.notify("notifications/initialized").await;

    let started = Instant::now();
    let calls = (0..8).map(|i| {
        let client = &client;
        async move {
            client
                .post(
                    &json!({"jsonrpc": "2.0", "id": 100 + i, "method": "tools/call",
                    "params": {"name": "calculator", "arguments": {"a": i, "b": 1, "op": "add"}}}),
                )
                .await
        }
    });
    let replies = futures_util::future::join_all(calls).await;
    let elapsed = started.elapsed();
    for (i, reply) in replies.iter().enumerate() {
        assert_eq!(reply.tool_text().0, (i + 1).to_string());
    }
    assert!(elapsed >= latency, "{elapsed:?}");
    assert!(
        elapsed < latency * 3,
        "8 calls with {latency:?} each took {elapsed:?}: serialised?"
    );
}

#[tokio::test]
async fn stall_holds_requests_until_the_window_ends() {
    let server = serve(ServerConfig {
        faults: "stall=300ms/10s".parse().unwrap(),
        ..ServerConfig::default()
    })
    .await;
    let started = Instant::now();
    let mut client = Client::new(server.mcp_url());
    client.initialize("2025-06-18").await;
    let init_elapsed = started.elapsed();
    assert!(
        init_elapsed < Duration::from_millis(250),
        "{init_elapsed:?}"
    );
    let call = client.request("tools/list", json!({})).await;
    assert_eq!(call.status, 200);
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(290), "{elapsed:?}");
    // After the window: no wait.
    let again = Instant::now();
    client.request("tools/list", json!({})).await;
    assert!(again.elapsed() < Duration::from_millis(250));
}

#[tokio::test]
async fn unknown_tool_is_a_jsonrpc_error_and_bad_args_a_tool_error() {
    let server = serve(ServerConfig::default()).await;
    let mut client = Client::new(server.mcp_url());
    client.initialize("2025-06-18").await;
    let unknown = client.call_tool("nope", json!({})).await;
    assert!(unknown.error()["code"].is_i64(), "{unknown:?}");
    let bad = client
        .call_tool("calculator", json!({"a": 1, "b": 2, "op": "pow"}))
        .await;
    assert!(bad.tool_text().1, "{bad:?}");
}

#[tokio::test]
async fn served_root_is_used_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("hello.txt"), "hi there").unwrap();
    let server = serve(ServerConfig {
        root: Some(dir.path().to_owned()),
        ..ServerConfig::default()
    })
    .await;
    assert_eq!(server.root(), dir.path().canonicalize().unwrap());
    let mut client = Client::new(server.mcp_url());
    client.initialize("2025-06-18").await;
    let read = client
        .call_tool("file_read", json!({"path": "hello.txt"}))
        .await;
    assert_eq!(read.tool_text(), ("hi there", false));
    let absolute = client
        .call_tool(
            "file_read",
            json!({"path": dir.path().join("hello.txt").to_str().unwrap()}),
        )
        .await;
    assert!(absolute.tool_text().1);
    server.shutdown().await;
    assert!(dir.path().join("hello.txt").exists());
}

#[tokio::test]
async fn default_root_is_removed_at_shutdown() {
    let server = serve(ServerConfig::default()).await;
    let root = server.root().to_owned();
    assert!(root.join("data/numbers.json").is_file());
    server.shutdown().await;
    assert!(!root.exists());
}

#[tokio::test]
async fn drop_stops_the_server() {
    let server = serve(ServerConfig::default()).await;
    let addr = server.addr();
    drop(server);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let result = reqwest::Client::new()
        .get(format!("http://{addr}/health"))
        .timeout(Duration::from_secs(2))
        .send()
        .await;
    assert!(result.is_err(), "{result:?}");
}

#[tokio::test]
async fn bad_requests_get_http_errors() {
    let server = serve(ServerConfig::default()).await;
    let http = reqwest::Client::new();
    let no_accept = http
        .post(server.mcp_url())
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(no_accept.status(), 406);
    let reply = read_reply(
        http.post(server.mcp_url())
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body("not json")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(reply.status.is_client_error(), "{reply:?}");
}
