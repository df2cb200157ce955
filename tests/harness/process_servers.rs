//! `kind: process` profiles of servers that listen on a port (HTTP, WebSocket, TCP): started
//! once, loaded once ready, stopped at the end; a taken port or a server that never gets
//! ready fails before any load, naming why.

use std::path::Path;
use std::time::{Duration, Instant};

use harness::sut::profile::{self, SpecContext};
use harness::sut::{SutError, SutSpec};

use crate::{BIN, run, runtime, scenario_file};

/// 300 requests over 2 sessions in 3 s.
const MIX: &str = "scenario:\n  name: listening\n  clients: 2\n  phases:\n    - name: p\n      duration: 3s\n      rps: 100\n  requests:\n    - type: tool_call\n      tool: calculator\n      weight: 50%\n    - type: resource_list\n      weight: 50%\n";

/// A port nothing listens on now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port()
}

/// The spec of the profile `yaml`, written as `<dir>/server.yml`.
fn spec_of(dir: &Path, yaml: &str) -> SutSpec {
    let path = dir.join("server.yml");
    std::fs::write(&path, yaml).unwrap();
    profile::load(&path)
        .and_then(|p| p.to_spec(&SpecContext::default()))
        .unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn a_server_listening_on_a_port_is_started_once_loaded_and_stopped() {
    for (transport, flag, endpoint, readiness, wrapped) in [
        ("http", "--bind", "/mcp", "initialize", false),
        ("websocket", "--bind", "/mcp/ws", "{ http: /health }", false),
        ("tcp", "--tcp-bind", "/mcp", "initialize", false),
        // A wrapper script that stays the server's parent: stopped with its child.
        ("http", "--bind", "/mcp", "{ log: listening on }", true),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let server = format!("{BIN} refserver {flag} 127.0.0.1:{port}");
        let command = if wrapped {
            format!("[/bin/sh, -c, \"{server}; echo wrapper done\"]")
        } else {
            format!("[{}]", server.replace(' ', ", "))
        };
        let spec = spec_of(
            dir.path(),
            &format!(
                "kind: process\ncommand: {command}\ntransport: {transport}\nports: {port}\nendpoint: {endpoint}\nreadiness: {readiness}\nstartup_timeout: 20s\n"
            ),
        );
        let file = scenario_file(dir.path(), "listening", MIX);
        let r = run(&file, spec, dir.path());
        assert_eq!(
            (r.throughput.attempts, r.errors.total),
            (300, 0),
            "{transport}: {:?}",
            r.errors
        );
        assert_eq!(
            (r.sut.kind.as_str(), r.sut.transport.as_str()),
            ("process", transport)
        );
        let resources = r.resources.as_ref().expect("the server is sampled");
        assert!(
            resources.source == "procfs" && resources.memory_bytes_peak > 1024 * 1024,
            "{transport}: {resources:?}"
        );
        // Stopped at the end: the port is free again.
        assert!(
            std::net::TcpListener::bind(("127.0.0.1", port)).is_ok(),
            "{transport}: the server outlived the run"
        );
    }
}

#[test]
fn a_taken_port_fails_before_the_start_and_a_server_never_ready_at_its_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let spec = spec_of(
        dir.path(),
        &format!("kind: process\ncommand: [/bin/sleep, \"30\"]\ntransport: http\nports: {port}\n"),
    );
    let rt = runtime();
    let err = rt.block_on(spec.start(None)).unwrap_err();
    assert!(
        matches!(err, SutError::PortInUse { port: p, .. } if p == port),
        "{err}"
    );
    drop(taken);

    // It prints and sleeps but never listens: the start fails at the timeout with its log,
    // and it is killed.
    let port = free_port();
    let spec = spec_of(
        dir.path(),
        &format!(
            "kind: process\ncommand: [/bin/sh, -c, \"echo warming up; exec sleep 30\"]\ntransport: http\nports: {port}\nstartup_timeout: 1s\n"
        ),
    );
    let log = dir.path().join("sut.log");
    let started = Instant::now();
    let err = rt.block_on(spec.start(Some(log))).unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(10), "bounded");
    let text = err.to_string();
    assert!(
        text.contains("did not become ready") && text.contains("warming up"),
        "{text}"
    );
}
