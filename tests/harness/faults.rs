//! A misbehaving SUT costs the run nothing but its errors: a server that never becomes
//! ready, crashes mid-run, answers garbage, a wrong id, too slowly or with a 50 MB body.
//! Every wait is bounded; nothing hangs.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use harness::mcp::{
    Endpoint, ErrorClass, Outcome, ProtocolViolation, RequestTemplate, Session, SessionError,
    SessionOptions, StdioCommand,
};
use harness::sut::{EmbeddedSpec, SutError, SutSpec};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

use crate::{quiet, refserver, run, runtime, scenario_file, wait_bounded};

// --- A fake Streamable HTTP server ---------------------------------------------------

/// How the fake server answers every request after the handshake.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Misbehaviour {
    /// `200 application/json` with a body that is not JSON.
    Garbage,
    /// A well-formed response for another id.
    WrongId,
    /// Never answers (nor `DELETE`).
    Silent,
    /// A 50 MB JSON body (`Content-Length` announced), streamed as fast as it is read.
    HugeJson,
    /// An event stream whose first event is one 50 MB line.
    HugeSse,
}

const HUGE: u64 = 50 * 1024 * 1024;

/// A fake MCP server on 127.0.0.1 that completes `initialize` and then misbehaves.
struct FakeHttp {
    endpoint: Endpoint,
    /// Bytes of oversized bodies the client accepted before it stopped reading.
    body_bytes_sent: Arc<AtomicU64>,
    /// Whether the client hung up in the middle of an oversized body.
    cut_short: Arc<AtomicBool>,
}

impl FakeHttp {
    async fn start(mode: Misbehaviour) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let body_bytes_sent = Arc::new(AtomicU64::new(0));
        let cut_short = Arc::new(AtomicBool::new(false));
        let (sent, cut) = (body_bytes_sent.clone(), cut_short.clone());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve_connection(stream, mode, sent.clone(), cut.clone()));
            }
        });
        Self {
            endpoint: Endpoint::Http(format!("http://{addr}/mcp").parse().unwrap()),
            body_bytes_sent,
            cut_short,
        }
    }
}

/// Serves HTTP/1.1 requests on one connection until the client closes it.
async fn serve_connection(
    stream: TcpStream,
    mode: Misbehaviour,
    sent: Arc<AtomicU64>,
    cut: Arc<AtomicBool>,
) {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    loop {
        let mut head = String::new();
        loop {
            let mut line = String::new();
            match reader.read_line(&mut line).await {
                Ok(0) | Err(_) => return,
                Ok(_) if line == "\r\n" => break,
                Ok(_) => head.push_str(&line),
            }
        }
        let method = head.split_whitespace().next().unwrap_or("").to_string();
        let length = head
            .lines()
            .find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse::<usize>().ok())?
            })
            .unwrap_or(0);
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).await.is_err() {
            return;
        }
        let message: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let reply = match (method.as_str(), message["method"].as_str()) {
            ("POST", Some("initialize")) => {
                json_reply(&json!({"jsonrpc": "2.0", "id": message["id"], "result": {
                    "protocolVersion": "2025-06-18", "capabilities": {},
                    "serverInfo": {"name": "fake", "version": "0"}}}))
            }
            ("POST", _) if message.get("id").is_none() => {
                "HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n".to_string()
            }
            ("DELETE", _) if mode != Misbehaviour::Silent => {
                "HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n".to_string()
            }
            _ => match mode {
                Misbehaviour::Garbage => {
                    let body = "<html>oops</html>";
                    format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                        body.len()
                    )
                }
                Misbehaviour::WrongId => json_reply(&json!({
                    "jsonrpc": "2.0",
                    "id": message["id"].as_u64().unwrap_or(0) + 1000,
                    "result": {}
                })),
                Misbehaviour::Silent => {
                    tokio::time::sleep(Duration::from_secs(120)).await;
                    return;
                }
                Misbehaviour::HugeJson => {
                    let head = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {HUGE}\r\n\r\n{{\"jsonrpc\":\"2.0\",\"id\":{},\"result\":{{\"x\":\"",
                        message["id"]
                    );
                    send_huge(&mut write, head, &sent, &cut).await;
                    return;
                }
                Misbehaviour::HugeSse => {
                    let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\ndata: ".to_string();
                    send_huge(&mut write, head, &sent, &cut).await;
                    return;
                }
            },
        };
        if write.write_all(reply.as_bytes()).await.is_err() {
            return;
        }
    }
}

fn json_reply(message: &Value) -> String {
    let body = message.to_string();
    format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nmcp-session-id: fake-1\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// Writes `head` and then up to [`HUGE`] bytes of `x`, counting what the client took, and
/// notes whether the client hung up first.
async fn send_huge(
    write: &mut tokio::net::tcp::OwnedWriteHalf,
    head: String,
    sent: &AtomicU64,
    cut: &AtomicBool,
) {
    if write.write_all(head.as_bytes()).await.is_err() {
        return;
    }
    let chunk = vec![b'x'; 64 * 1024];
    let mut total = 0;
    while total < HUGE {
        if write.write_all(&chunk).await.is_err() {
            cut.store(true, Ordering::SeqCst);
            return;
        }
        total += chunk.len() as u64;
        sent.store(total, Ordering::SeqCst);
    }
}

fn options(timeout: Duration) -> SessionOptions {
    SessionOptions {
        timeout,
        ..SessionOptions::default()
    }
}

async fn open(endpoint: &Endpoint, timeout: Duration) -> Session {
    Session::open(endpoint, options(timeout))
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

fn ping() -> RequestTemplate {
    RequestTemplate::new("ping", None)
}

fn protocol(violation: ProtocolViolation) -> Outcome {
    Outcome::Failed(ErrorClass::Protocol(violation))
}

// --- Answers that break the protocol ---------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_garbage_is_bad_json() {
    let fake = FakeHttp::start(Misbehaviour::Garbage).await;
    let session = open(&fake.endpoint, Duration::from_secs(5)).await;
    for _ in 0..3 {
        assert_eq!(
            session.request(&ping()).await,
            protocol(ProtocolViolation::BadJson)
        );
    }
    session.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_answer_for_another_id_is_wrong_id() {
    let fake = FakeHttp::start(Misbehaviour::WrongId).await;
    let session = open(&fake.endpoint, Duration::from_secs(5)).await;
    assert_eq!(
        session.request(&ping()).await,
        protocol(ProtocolViolation::WrongId)
    );
    session.close().await.unwrap();
}

#[test]
fn a_run_against_a_server_answering_wrong_ids_counts_them_and_reports() {
    let rt = runtime();
    let fake = rt.block_on(FakeHttp::start(Misbehaviour::WrongId));
    let Endpoint::Http(url) = fake.endpoint.clone() else {
        unreachable!()
    };
    let dir = tempfile::tempdir().unwrap();
    let file = scenario_file(
        dir.path(),
        "wrong-id",
        "scenario:\n  name: wrong-id\n  clients: 2\n  phases:\n    - name: p\n      duration: 1s\n      rps: 40\n  requests:\n    - type: ping\n      weight: 100%\n",
    );
    let sut = SutSpec::Url {
        url,
        allow_remote: false,
        pid: None,
    };
    let r = run(&file, sut, dir.path());
    assert_eq!(r.throughput.attempts, 40, "every request is accounted for");
    assert_eq!(r.throughput.ok, 0);
    assert_eq!(
        r.errors.by_class.get("protocol:wrong_id"),
        Some(&40),
        "{:?}",
        r.errors
    );
    let report = std::fs::read_to_string(dir.path().join("wrong-id/report.md")).unwrap();
    assert!(report.contains("protocol:wrong_id"), "{report}");
    drop(rt);
}

// --- Answers too slow ------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_answer_slower_than_the_timeout_is_a_timeout_and_close_is_bounded() {
    let fake = FakeHttp::start(Misbehaviour::Silent).await;
    let timeout = Duration::from_millis(400);
    let session = open(&fake.endpoint, timeout).await;
    let started = Instant::now();
    assert_eq!(
        session.request(&ping()).await,
        Outcome::Failed(ErrorClass::Timeout)
    );
    assert_eq!(session.close().await, Err(ErrorClass::Timeout));
    // Two waits of 400 ms; the bound is generous for a loaded machine.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_never_answers_initialize_fails_the_session_in_time() {
    // Accepts connections (the kernel's backlog does) and never reads or answers.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let timeout = Duration::from_millis(400);
    for endpoint in [
        Endpoint::Http(format!("http://{addr}/mcp").parse().unwrap()),
        Endpoint::WebSocket(format!("ws://{addr}/mcp/ws").parse().unwrap()),
        Endpoint::Tcp(addr),
        // A stdio server that never reads its input.
        Endpoint::Stdio(StdioCommand::new("/bin/sleep", vec!["60".into()])),
    ] {
        let started = Instant::now();
        match Session::open(&endpoint, options(timeout)).await {
            Err(SessionError::Initialize { class, .. }) => {
                assert_eq!(class, ErrorClass::Timeout, "{endpoint}");
            }
            other => panic!("{endpoint}: {other:?}"),
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{endpoint}: {:?}",
            started.elapsed()
        );
    }
    drop(listener);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stdio_server_that_ignores_end_of_input_is_killed_at_close() {
    // Answers `initialize` (id 0), then ignores its input's end and SIGTERM.
    let script = r#"read line; echo '{"jsonrpc":"2.0","id":0,"result":{"protocolVersion":"2025-06-18","capabilities":{},"serverInfo":{"name":"fake","version":"0"}}}'; trap '' TERM; while :; do sleep 1; done"#;
    let endpoint = Endpoint::Stdio(StdioCommand::new(
        "/bin/sh",
        vec!["-c".into(), script.into()],
    ));
    let session = open(&endpoint, Duration::from_secs(5)).await;
    let started = Instant::now();
    assert_eq!(session.close().await, Err(ErrorClass::Timeout));
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
}

// --- A 50 MB body ----------------------------------------------------------------------

/// The client gives up on an oversized body at its read limit: the server sees the
/// connection cut long before 50 MB went out.
async fn huge_body_is_refused(mode: Misbehaviour) {
    let fake = FakeHttp::start(mode).await;
    let session = open(&fake.endpoint, Duration::from_secs(10)).await;
    assert_eq!(
        session.request(&ping()).await,
        protocol(ProtocolViolation::BodyTooLarge),
        "{mode:?}"
    );
    drop(session);
    // The server notices the hang-up once the socket buffers are full.
    let until = Instant::now() + Duration::from_secs(5);
    while !fake.cut_short.load(Ordering::SeqCst) && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let sent = fake.body_bytes_sent.load(Ordering::SeqCst);
    assert!(
        fake.cut_short.load(Ordering::SeqCst),
        "{mode:?}: the client read on ({sent} bytes sent)"
    );
    eprintln!("{mode:?}: the client took {sent} bytes of {HUGE} before it hung up");
    // The limit (4 MB) plus what the kernel's socket buffers hold.
    assert!(sent < 20 * 1024 * 1024, "{mode:?}: {sent} bytes were read");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_50_mb_json_body_is_cut_off_at_the_read_limit() {
    huge_body_is_refused(Misbehaviour::HugeJson).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_50_mb_event_is_cut_off_at_the_read_limit() {
    huge_body_is_refused(Misbehaviour::HugeSse).await;
}

// --- A SUT that never becomes ready -----------------------------------------------------

/// A fake SUT: `sh -c script`, started as the reference server would be (the harness's
/// `--bind` flags land in `$1`, `$2`).
fn shell_sut(script: &str, timeout: Duration) -> EmbeddedSpec {
    let mut spec = EmbeddedSpec::new("/bin/sh", ["-c", script, "fake-sut"]);
    spec.startup_timeout = timeout;
    spec
}

fn start_error(spec: EmbeddedSpec, log: &Path) -> (SutError, Duration) {
    let started = Instant::now();
    let result = runtime().block_on(SutSpec::Embedded(spec).start(Some(log.to_owned())));
    match result {
        Ok(_) => panic!("the fake SUT was taken for ready"),
        Err(e) => (e, started.elapsed()),
    }
}

#[test]
fn a_sut_that_never_becomes_ready_fails_at_the_timeout_with_its_last_log_lines() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("pid");
    let script = format!(
        "echo $$ > {}; for i in $(seq 1 30); do echo \"loading part $i\" >&2; done; \
         echo 'waiting for the database' >&2; exec sleep 60",
        pid_file.display()
    );
    let log = dir.path().join("sut.log");
    let (error, elapsed) = start_error(shell_sut(&script, Duration::from_secs(1)), &log);
    let message = error.to_string();
    assert!(matches!(error, SutError::NotReady { .. }), "{message}");
    assert!(
        message.contains("did not become ready within 1s: timed out waiting for its address line"),
        "{message}"
    );
    // The last lines, not the first.
    assert!(message.contains("last log lines:"), "{message}");
    assert!(message.contains("| waiting for the database"), "{message}");
    assert!(message.contains("| loading part 30"), "{message}");
    assert!(!message.contains("| loading part 1\n"), "{message}");
    assert!(elapsed < Duration::from_secs(6), "{elapsed:?}");
    // The server was killed and reaped: it does not outlive the failed start.
    let pid = std::fs::read_to_string(&pid_file).unwrap();
    assert!(
        !Path::new(&format!("/proc/{}", pid.trim())).exists(),
        "process {} is still there",
        pid.trim()
    );
}

#[test]
fn a_sut_that_exits_during_start_up_says_so_with_its_exit_status() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("sut.log");
    let script = "echo 'fatal: address already in use' >&2; exit 3";
    let (error, elapsed) = start_error(shell_sut(script, Duration::from_secs(30)), &log);
    let message = error.to_string();
    assert!(
        message.contains("its output ended before it was ready (exited with exit status: 3)"),
        "{message}"
    );
    assert!(
        message.contains("| fatal: address already in use"),
        "{message}"
    );
    // Not the start-up timeout: the exit is noticed at once.
    assert!(elapsed < Duration::from_secs(10), "{elapsed:?}");
}

// --- A SUT that crashes mid-run ---------------------------------------------------------

/// Child processes of this process.
fn children() -> Vec<u32> {
    let me = std::process::id();
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // `pid (comm) state ppid ...`; comm may hold spaces, so split after its `)`.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(me) {
            out.push(pid);
        }
    }
    out
}

#[test]
fn a_sut_killed_mid_run_ends_the_run_on_time_with_errors_counted_and_a_report() {
    let dir = tempfile::tempdir().unwrap();
    let file = scenario_file(
        dir.path(),
        "crash",
        "scenario:\n  name: crash\n  clients: 4\n  timeout: 1s\n  phases:\n    - name: p\n      duration: 4s\n      rps: 50\n  requests:\n    - type: tool_call\n      tool: calculator\n      weight: 100%\n",
    );
    let killer = std::thread::spawn(|| {
        let until = Instant::now() + Duration::from_secs(20);
        // Wait for the server, give the load a second and a half, then kill it outright.
        let pid = loop {
            if let Some(&pid) = children().first() {
                break pid;
            }
            assert!(Instant::now() < until, "the server never started");
            std::thread::sleep(Duration::from_millis(50));
        };
        std::thread::sleep(Duration::from_millis(1500));
        // SAFETY: signalling our own child process by pid; the harness has not reaped it.
        unsafe {
            libc::kill(pid as libc::pid_t, libc::SIGKILL);
        }
    });
    let started = Instant::now();
    let r = run(&file, SutSpec::Embedded(refserver(&[])), dir.path());
    let elapsed = started.elapsed();
    killer.join().unwrap();
    eprintln!(
        "killed mid-run: run took {elapsed:?}; ok {}, errors {:?}",
        r.throughput.ok, r.errors.by_class
    );
    // 4 s of schedule plus one 1 s timeout, with room for start-up on a busy machine.
    assert!(elapsed < Duration::from_secs(12), "{elapsed:?}");
    assert_eq!(r.throughput.attempts, 200, "every request is accounted for");
    assert!(r.throughput.ok > 0, "the server answered before it died");
    let connect = r.errors.by_class.get("connect").copied().unwrap_or(0);
    assert!(
        connect >= 50,
        "requests after the crash fail as connect: {:?}",
        r.errors
    );
    assert_eq!(r.throughput.ok + r.errors.total, 200, "{:?}", r.errors);
    let report = std::fs::read_to_string(dir.path().join("crash/report.md")).unwrap();
    assert!(report.contains("connect"), "{report}");
    assert!(dir.path().join("crash/record.json").is_file());
    // Nothing left running.
    assert_eq!(children(), Vec::<u32>::new());
}

// --- An interrupted baseline update --------------------------------------------------

const UPDATE_CHILD_DIR: &str = "ERLMCP_PERF_TEST_UPDATE_DIR";

/// Interrupts a baseline update with `signal` in the middle of its run: the old file is
/// left byte for byte, and no temporary file beside it.
fn interrupted_update_keeps_the_old_baseline(signal: libc::c_int) {
    let dir = tempfile::tempdir().unwrap();
    let baselines = dir.path().join("baselines");
    std::fs::create_dir_all(&baselines).unwrap();
    let path = baselines.join("update.json");
    let committed =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("baselines/reference/amd-epyc-2cpu/warmup.json");
    let old = std::fs::read(committed).unwrap();
    std::fs::write(&path, &old).unwrap();
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "faults::update_child",
            "--exact",
            "--ignored",
            "--nocapture",
        ])
        .env(UPDATE_CHILD_DIR, dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait until its first trial has started the server and the load.
    let log = dir.path().join("out/run-1/sut.log");
    let until = Instant::now() + Duration::from_secs(30);
    while !log.exists() {
        if Instant::now() > until || child.try_wait().unwrap().is_some() {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the update never started its run");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_secs(1));
    // SAFETY: signalling our own child process by pid; it has not been reaped.
    unsafe {
        libc::kill(child.id() as libc::pid_t, signal);
    }
    let status = wait_bounded(&mut child, Duration::from_secs(20))
        .expect("the interrupted update did not exit");
    assert!(!status.success(), "{status}");
    assert!(
        !dir.path().join("out/run-1/record.json").exists(),
        "the run had finished: the interruption came too late to test anything"
    );
    assert_eq!(
        std::fs::read(&path).unwrap(),
        old,
        "the old baseline changed"
    );
    let names: Vec<_> = std::fs::read_dir(&baselines)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, vec!["update.json".to_string()], "left behind");
}

#[test]
fn a_baseline_update_interrupted_by_sigint_leaves_the_old_file() {
    interrupted_update_keeps_the_old_baseline(libc::SIGINT);
}

#[test]
fn a_baseline_update_killed_mid_run_leaves_the_old_file() {
    interrupted_update_keeps_the_old_baseline(libc::SIGKILL);
}

/// Not a test on its own: the child process of the interrupted-update tests. Updates the
/// baseline `$ERLMCP_PERF_TEST_UPDATE_DIR/baselines/update.json` with a 30 s run.
#[test]
#[ignore = "run by the interrupted-update tests in a child process"]
fn update_child() {
    let Some(dir) = std::env::var_os(UPDATE_CHILD_DIR) else {
        return;
    };
    let dir = Path::new(&dir);
    let file = scenario_file(
        dir,
        "update",
        "scenario:\n  name: update\n  clients: 2\n  phases:\n    - name: p\n      duration: 30s\n      rps: 20\n  requests:\n    - type: ping\n      weight: 100%\n",
    );
    let scenario = harness::scenario::load(&file).unwrap();
    let options = harness::check::CheckOptions {
        run: quiet(),
        trials: 1,
        profile: "test".into(),
    };
    let sut = SutSpec::Embedded(refserver(&[]));
    runtime()
        .block_on(harness::check::update_baseline(
            &scenario,
            &sut,
            &options,
            &dir.join("baselines/update.json"),
            &dir.join("out"),
        ))
        .unwrap();
}

// --- A server that refuses every session ------------------------------------------------

#[test]
fn a_run_whose_sessions_cannot_open_ends_with_an_error_showing_progress_or_not() {
    // A loopback port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/mcp");
    let out = tempfile::tempdir().unwrap();
    for quiet in [false, true] {
        let mut command = std::process::Command::new(crate::BIN);
        command
            .args(["run", "scenarios/warmup.yml", "--url", &url])
            .arg("--out")
            .arg(out.path())
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        if quiet {
            command.arg("--quiet");
        }
        let mut child = command.spawn().unwrap();
        let status = wait_bounded(&mut child, Duration::from_secs(30));
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
        let status = status.unwrap_or_else(|| panic!("quiet={quiet}: hung\n{stderr}"));
        assert_eq!(status.code(), Some(3), "quiet={quiet}: {stderr}");
        assert!(
            stderr.contains(&format!("initialize at {url} failed: connect")),
            "quiet={quiet}: {stderr}"
        );
    }
}
