//! Containerised SUTs: SUT profiles, the reference server in a limited container with
//! Docker-sourced resource figures, a missing image, a container that never becomes ready,
//! cleanup after a panic or SIGTERM, and a 3-node cluster that loses a node mid-run.
//!
//! Where no Docker engine answers, the tests that need one print why and pass, unless
//! `ERLMCP_PERF_REQUIRE_DOCKER` is set (as `.ci/run` does): then they fail.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use harness::env;
use harness::sut::{SpecContext, SutError, SutSpec, docker, profile};

use crate::{BIN, run, runtime, scenario_file};

/// Set in a child test process to say what it should do (`panic` or `wait`).
const CHILD_MODE: &str = "ERLMCP_PERF_TEST_CHILD_MODE";

/// Whether a Docker engine answers; if not, says why, and fails when Docker is required.
pub(crate) fn docker_ready(test: &str) -> bool {
    match runtime().block_on(docker::available()) {
        Ok(()) => true,
        Err(e) if env::require_docker() => {
            panic!(
                "{test}: no Docker engine answers ({e}) and {} is set",
                env::REQUIRE_DOCKER
            )
        }
        Err(e) => {
            eprintln!(
                "SKIPPED {test}: no Docker engine answers ({e}); set {} to make this a failure",
                env::REQUIRE_DOCKER
            );
            false
        }
    }
}

fn workspace() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn context() -> SpecContext {
    SpecContext {
        refserver_program: PathBuf::from(BIN),
        refserver_args: vec!["refserver".into()],
        faults: None,
        image_override: None,
    }
}

fn reference_container() -> SutSpec {
    let path = workspace().join("suts/reference-container.yml");
    profile::load(&path)
        .and_then(|p| p.to_spec(&context()))
        .unwrap_or_else(|e| panic!("{e}"))
}

/// What `docker <args> --filter label=<pid label>=<pid>` lists: the objects of harness
/// process `pid`, one word each.
fn docker_list_of(args: &[&str], pid: u32) -> Vec<String> {
    let out = Command::new("docker")
        .args(args)
        .arg("--filter")
        .arg(format!("label={}={pid}", docker::PID_LABEL))
        .output()
        .unwrap_or_else(|e| panic!("run docker {args:?}: {e}"));
    assert!(out.status.success(), "docker {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

/// Ids of containers labelled as started by harness process `pid`.
pub(crate) fn containers_of(pid: u32) -> Vec<String> {
    docker_list_of(&["ps", "-a", "-q"], pid)
}

/// Ids of networks labelled as created by harness process `pid`.
fn networks_of(pid: u32) -> Vec<String> {
    docker_list_of(&["network", "ls", "-q"], pid)
}

/// Names of the running containers of harness process `pid`.
fn running_names_of(pid: u32) -> Vec<String> {
    docker_list_of(&["ps", "--format", "{{.Names}}"], pid)
}

const SHORT_LOAD: &str = "scenario:\n  name: container\n  clients: 4\n  phases:\n    - name: steady\n      duration: 3s\n      rps: 100\n  requests:\n    - type: tool_call\n      tool: calculator\n      weight: 50%\n    - type: resource_list\n      weight: 50%\n";

#[test]
fn reference_container_reports_docker_resources() {
    if !docker_ready("reference_container_reports_docker_resources") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = scenario_file(dir.path(), "container", SHORT_LOAD);
    let r = run(&file, reference_container(), dir.path());
    assert_eq!(r.sut.kind, "container");
    // The load reaches the container the harness started through a port published on
    // loopback, never through a routable address.
    let endpoint: url::Url = r.sut.endpoint.parse().unwrap();
    harness::sut::check_loopback(&endpoint).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        r.sut.description.contains("1 CPU") && r.sut.description.contains("512 MiB"),
        "{}",
        r.sut.description
    );
    assert!(r.sut.binary_sha256.is_some());
    assert_eq!(r.throughput.attempts, 300);
    assert_eq!(r.errors.total, 0, "{:?}", r.errors);
    let res = r.resources.as_ref().expect("resources sampled");
    assert_eq!(res.source, "docker");
    assert!(res.cpu_seconds > 0.0, "{res:?}");
    assert!(res.cpu_cores_peak < 1.5, "limited to 1 CPU: {res:?}");
    assert!(
        res.memory_bytes_peak > 0 && res.memory_bytes_peak < 512 << 20,
        "{res:?}"
    );
    assert!(res.network_rx_bytes.unwrap_or(0) > 0, "{res:?}");
    assert!(r.efficiency.is_some_and(|e| e > 0.0), "{:?}", r.efficiency);
    let log = std::fs::read_to_string(dir.path().join("container/sut.log")).unwrap();
    assert!(log.contains("listening on"), "sut.log: {log}");
    assert!(
        containers_of(std::process::id()).is_empty(),
        "the container outlived the run"
    );
}

#[test]
fn a_container_is_loaded_over_websocket_and_tcp() {
    if !docker_ready("a_container_is_loaded_over_websocket_and_tcp") {
        return;
    }
    for (transport, command, port, endpoint) in [
        (
            "websocket",
            "[--bind, \"0.0.0.0:8080\", --allow-any-host]",
            8080,
            "/mcp/ws",
        ),
        (
            "tcp",
            "[--bind, \"0.0.0.0:8080\", --tcp-bind, \"0.0.0.0:9000\", --allow-any-host]",
            9000,
            "/mcp",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let profile = dir.path().join("ref.yml");
        std::fs::write(
            &profile,
            format!(
                "kind: container\nbuild: refserver\ncommand: {command}\nports: {port}\ntransport: {transport}\nendpoint: {endpoint}\nreadiness: initialize\nstartup_timeout: 30s\ncpus: 1\nmemory: 512M\n"
            ),
        )
        .unwrap();
        let spec = profile::load(&profile)
            .and_then(|p| p.to_spec(&context()))
            .unwrap_or_else(|e| panic!("{e}"));
        let file = scenario_file(dir.path(), "container", SHORT_LOAD);
        let r = run(&file, spec, dir.path());
        assert_eq!(
            (r.sut.kind.as_str(), r.sut.transport.as_str()),
            ("container", transport)
        );
        assert!(
            r.sut.endpoint.starts_with(if transport == "tcp" {
                "tcp://127.0.0.1:"
            } else {
                "ws://127.0.0.1:"
            }),
            "{}",
            r.sut.endpoint
        );
        assert_eq!(
            (r.throughput.attempts, r.errors.total),
            (300, 0),
            "{transport}: {:?}",
            r.errors
        );
        assert_eq!(
            r.resources.as_ref().map(|r| r.source.as_str()),
            Some("docker")
        );
    }
    assert!(
        containers_of(std::process::id()).is_empty(),
        "a container outlived its run"
    );
}

/// Guards the Docker API version against a dependency bump: the client `testcontainers`
/// starts containers with (bollard, configured for API 1.53) must put on the wire a version
/// this engine accepts (bollard 0.21 puts none, and the engine answers in its own), and a
/// container then starts through it with its limits, labels and loopback-only port.
#[test]
fn the_engine_accepts_the_api_version_the_client_sends_and_a_container_starts() {
    if !docker_ready("the_engine_accepts_the_api_version_the_client_sends") {
        return;
    }
    let versions = runtime()
        .block_on(docker::api_versions())
        .unwrap_or_else(|e| panic!("{e}"));
    eprintln!("Docker API: {versions:?}");
    if let Err(e) = versions.check() {
        panic!("{e}");
    }
    let sut = runtime()
        .block_on(reference_container().start(None))
        .unwrap_or_else(|e| {
            panic!("no container starts through testcontainers' client ({versions:?}): {e}")
        });
    let pid = std::process::id();
    let id = sut.container_id().expect("a container").to_string();
    assert_eq!(containers_of(pid).len(), 1);
    let out = Command::new("docker")
        .args([
            "inspect",
            "--format",
            "{{.HostConfig.NanoCpus}} {{.HostConfig.Memory}} {{json .HostConfig.PortBindings}} {{index .Config.Labels \"erlmcp-perf\"}}",
            &id,
        ])
        .output()
        .expect("run docker inspect");
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(out.status.success(), "docker inspect: {out:?}");
    runtime().block_on(sut.stop());
    assert!(
        text.starts_with("1000000000 536870912 ")
            && text.contains(r#""HostIp":"127.0.0.1""#)
            && text.ends_with(" 1"),
        "limits, loopback port, label: {text}"
    );
    assert_eq!(containers_of(pid), Vec::<String>::new());
}

/// The measured phase of the cluster test, and where in it a node is killed.
const CLUSTER_LOAD_SECONDS: u64 = 6;
const CLUSTER_KILL_AFTER: Duration = Duration::from_secs(2);
const CLUSTER_LOAD: &str = "scenario:\n  name: cluster\n  clients: 6\n  timeout: 1s\n  phases:\n    - name: steady\n      duration: 6s\n      rps: 150\n  requests:\n    - type: tool_call\n      tool: calculator\n      weight: 50%\n    - type: resource_list\n      weight: 50%\n";

#[test]
fn cluster_node_killed_mid_run_is_counted_and_reported() {
    if !docker_ready("cluster_node_killed_mid_run_is_counted_and_reported") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = scenario_file(dir.path(), "cluster", CLUSTER_LOAD);
    let spec = profile::load(&workspace().join("suts/reference-cluster.yml"))
        .and_then(|p| p.to_spec(&context()))
        .unwrap_or_else(|e| panic!("{e}"));
    let pid = std::process::id();
    // Node 3 starts after nodes 1 and 2 are ready, and the sessions open as soon as it is
    // ready too: once it runs, the load is (about to be) under way. Kill node 2 then.
    let killer = std::thread::spawn(move || {
        let mut node2 = None;
        wait_for("the cluster's third node", Duration::from_secs(120), || {
            let names = running_names_of(pid);
            node2 = names.iter().find(|n| n.ends_with("-node2")).cloned();
            names.iter().any(|n| n.ends_with("-node3"))
        });
        let node2 = node2.expect("node 2 runs");
        std::thread::sleep(CLUSTER_KILL_AFTER);
        let out = Command::new("docker")
            .args(["kill", &node2])
            .output()
            .expect("run docker kill");
        assert!(out.status.success(), "docker kill {node2}: {out:?}");
        (node2, Instant::now())
    });
    let r = run(&file, spec, dir.path());
    let ended = Instant::now();
    let (killed, killed_at) = killer.join().expect("the killer thread");

    // On time: the rest of the schedule, one request timeout, and the teardown of three
    // containers and a network; never a hang.
    let limit = Duration::from_secs(CLUSTER_LOAD_SECONDS) + Duration::from_secs(1);
    let took = ended.duration_since(killed_at);
    assert!(
        took < limit + Duration::from_secs(8),
        "the run ended {took:?} after the kill"
    );

    assert_eq!(r.nodes.len(), 3, "{:?}", r.nodes);
    assert_eq!(
        r.throughput.attempts, 900,
        "every planned request is counted"
    );
    let dead = &r.nodes[1];
    assert_eq!(dead.name, killed);
    assert!(
        dead.ok > 0,
        "node 2 answered before it was killed: {dead:?}"
    );
    assert!(
        dead.errors.total > 0,
        "node 2's failures are counted: {dead:?}"
    );
    assert!(
        dead.errors
            .by_class
            .keys()
            .all(|c| c == "connect" || c == "timeout"),
        "{:?}",
        dead.errors
    );
    for live in [&r.nodes[0], &r.nodes[2]] {
        assert_eq!(live.errors.total, 0, "{live:?}");
        assert!(live.ok > 0, "{live:?}");
    }
    assert_eq!(r.errors.total, dead.errors.total);
    assert_eq!(
        r.nodes.iter().map(|n| n.attempts).sum::<u64>(),
        r.throughput.attempts
    );

    let report = std::fs::read_to_string(dir.path().join("cluster/report.md")).unwrap();
    assert!(report.contains("### Nodes"), "{report}");
    let line = report
        .lines()
        .find(|l| l.contains("node 2 (") && l.contains(&killed))
        .unwrap_or_else(|| panic!("no line for node 2 in the report:\n{report}"));
    assert!(
        line.contains("errors") && line.contains("stopped answering"),
        "{line}"
    );
    eprintln!("run ended {took:?} after the kill; report says:\n{line}");
    assert!(dir.path().join("cluster/sut-node3.log").exists());

    assert_eq!(
        containers_of(pid),
        Vec::<String>::new(),
        "containers outlived the run"
    );
    assert_eq!(
        networks_of(pid),
        Vec::<String>::new(),
        "the network outlived the run"
    );
}

#[test]
fn bad_profiles_fail_before_anything_starts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.yml");
    std::fs::write(&path, "kind: container\nimage: x\ncpus: 2\nmemory: lots\n").unwrap();
    let e = profile::load(&path).unwrap_err();
    let text = e.to_string();
    assert!(text.contains("bad.yml:4: memory: "), "{text}");
    std::fs::write(&path, "kind: container\ncpus: 2\n").unwrap();
    let e = profile::load(&path).unwrap_err();
    assert!(
        e.to_string()
            .contains("image: a container profile needs an image"),
        "{e}"
    );
    std::fs::write(&path, "kind: contianer\n").unwrap();
    let e = profile::load(&path).unwrap_err();
    assert_eq!((e.line, e.field.as_str()), (Some(1), "kind"), "{e}");
}

/// Starts the SUT of the profile `yaml`, which must fail.
fn start_error(yaml: &str) -> SutError {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("profile.yml");
    std::fs::write(&path, yaml).unwrap();
    let spec = profile::load(&path)
        .and_then(|p| p.to_spec(&context()))
        .unwrap_or_else(|e| panic!("{e}"));
    match runtime().block_on(spec.start(None)) {
        Ok(_) => panic!("started: {yaml}"),
        Err(e) => e,
    }
}

#[test]
fn missing_image_fails_fast_without_pulling() {
    if !docker_ready("missing_image_fails_fast_without_pulling") {
        return;
    }
    let started = Instant::now();
    let err = start_error("kind: container\nimage: erlmcp-perf-test-never-built:0\nports: 8080\n");
    assert!(matches!(err, SutError::ImageMissing { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("not present locally") && text.contains("never pulls"),
        "{text}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn a_container_that_never_becomes_ready_fails_at_the_timeout_with_its_log_and_is_removed() {
    if !docker_ready("a_container_that_never_becomes_ready_fails_at_the_timeout") {
        return;
    }
    // The reference server starts, but the readiness check waits for a line it never prints.
    let started = Instant::now();
    let err = start_error(
        "kind: container\nbuild: refserver\nports: 8080\nreadiness: { log: \"a line never printed\" }\nstartup_timeout: 3s\n",
    );
    let elapsed = started.elapsed();
    let text = err.to_string();
    assert!(matches!(err, SutError::NotReady { .. }), "{text}");
    assert!(text.contains("did not become ready within 3s"), "{text}");
    assert!(
        text.contains("last log lines:") && text.contains("erlmcp-refserver listening on"),
        "{text}"
    );
    // Three seconds of waiting plus building (cached) and removing the container.
    assert!(elapsed < Duration::from_secs(60), "{elapsed:?}");
    assert_eq!(containers_of(std::process::id()), Vec::<String>::new());
}

/// Runs this binary's `child_process` test in a child process in `mode`.
fn spawn_child(mode: &str) -> std::process::Child {
    Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "containers::child_process",
            "--exact",
            "--ignored",
            "--nocapture",
        ])
        .env(CHILD_MODE, mode)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn child test process")
}

fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let until = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < until, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn wait_exit(child: &mut std::process::Child) -> std::process::ExitStatus {
    crate::wait_bounded(child, Duration::from_secs(60))
        .expect("the child test process did not exit")
}

#[test]
fn no_container_outlives_a_panic_mid_run() {
    if !docker_ready("no_container_outlives_a_panic_mid_run") {
        return;
    }
    let mut child = spawn_child("panic");
    let mut stderr = child.stderr.take().expect("piped stderr");
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut text);
        text
    });
    let status = wait_exit(&mut child);
    let stderr = reader.join().unwrap_or_default();
    assert!(!status.success(), "the child was meant to panic: {status}");
    assert!(
        stderr.contains("deliberate panic in the middle of a run"),
        "the child failed otherwise: {stderr}"
    );
    assert_eq!(containers_of(child.id()), Vec::<String>::new());
}

#[test]
fn no_container_outlives_sigterm() {
    if !docker_ready("no_container_outlives_sigterm") {
        return;
    }
    let mut child = spawn_child("wait");
    let pid = child.id();
    wait_for("the child's container", Duration::from_secs(90), || {
        !containers_of(pid).is_empty() || child.try_wait().ok().flatten().is_some()
    });
    assert!(child.try_wait().unwrap().is_none(), "the child ended early");
    // Let it get into the load, then terminate it as nextest does on a timeout.
    std::thread::sleep(Duration::from_millis(1500));
    // SAFETY: signalling our own child process by pid; it has not been reaped.
    unsafe {
        libc::kill(pid as libc::pid_t, libc::SIGTERM);
    }
    let status = wait_exit(&mut child);
    assert!(!status.success(), "{status}");
    assert_eq!(containers_of(pid), Vec::<String>::new());
}

/// Not a test on its own: the child process of the cleanup tests. `panic` panics while a
/// run against the reference container is under way; `wait` runs load for a minute (until
/// the parent sends SIGTERM).
#[test]
#[ignore = "run by the cleanup tests in a child process"]
fn child_process() {
    let Ok(mode) = std::env::var(CHILD_MODE) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let seconds = if mode == "panic" { 5 } else { 60 };
    let file = scenario_file(
        dir.path(),
        "child",
        &SHORT_LOAD.replace("duration: 3s", &format!("duration: {seconds}s")),
    );
    let scenario = harness::scenario::load(&file).unwrap();
    let options = crate::quiet();
    let sut = reference_container();
    let out = dir.path().join("child");
    runtime().block_on(async {
        let run = harness::run::run_scenario(&scenario, &sut, &options, &out);
        tokio::pin!(run);
        // Wait until the container is up and the load is running, then panic.
        let pid = std::process::id();
        let panic_at = async {
            loop {
                tokio::time::sleep(Duration::from_millis(200)).await;
                let ids = tokio::task::spawn_blocking(move || containers_of(pid))
                    .await
                    .unwrap_or_default();
                if !ids.is_empty() {
                    break;
                }
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        };
        tokio::select! {
            r = &mut run => panic!("the run ended first: {:?}", r.map(|_| ())),
            _ = panic_at, if mode == "panic" => panic!("deliberate panic in the middle of a run"),
        }
    });
}
