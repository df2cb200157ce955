//! A load tool must not be aimed at production by accident: a target that is not loopback
//! is refused, unless explicitly allowed, before any connection is attempted.

use std::io::ErrorKind;
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use harness::sut::{SutError, SutSpec, TargetError, profile};

use crate::{BIN, runtime};

/// An address of this machine that is not loopback: the source address of its route
/// towards TEST-NET-1 (connecting a UDP socket sends nothing), if it has one.
fn non_loopback_address() -> Option<IpAddr> {
    let socket = UdpSocket::bind("0.0.0.0:0").ok()?;
    socket.connect("192.0.2.1:9").ok()?;
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

/// A listener on this machine's non-loopback address that must see no connection.
struct Tripwire {
    listener: TcpListener,
    addr: SocketAddr,
}

impl Tripwire {
    fn arm() -> Option<Self> {
        let ip = non_loopback_address()?;
        let listener = TcpListener::bind((ip, 0)).ok()?;
        listener.set_nonblocking(true).ok()?;
        let addr = listener.local_addr().ok()?;
        Some(Self { listener, addr })
    }

    /// Whether anything connected (and was queued for accept) since it was armed.
    fn tripped(&self) -> bool {
        match self.listener.accept() {
            Ok(_) => true,
            Err(e) if e.kind() == ErrorKind::WouldBlock => false,
            Err(e) => panic!("accept on the tripwire failed: {e}"),
        }
    }
}

/// Targets that must be refused: this machine's own non-loopback address (watched by the
/// tripwire, when it has one) and TEST-NET addresses.
fn remote_targets(tripwire: Option<&Tripwire>) -> Vec<String> {
    let mut urls: Vec<String> = tripwire
        .map(|t| format!("http://{}/mcp", t.addr))
        .into_iter()
        .collect();
    urls.extend([
        "http://192.0.2.1:8080/mcp".to_string(),
        "http://[2001:db8::1]:8080/mcp".to_string(),
        "http://example.com/mcp".to_string(),
    ]);
    urls
}

#[test]
fn the_tripwire_sees_a_connection() {
    // Proves the other tests can fail: a connection to the tripwire is seen.
    let Some(tripwire) = Tripwire::arm() else {
        eprintln!("this machine has no non-loopback address: nothing to check");
        return;
    };
    assert!(!tripwire.tripped());
    let _stream = TcpStream::connect_timeout(&tripwire.addr, Duration::from_secs(2)).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    assert!(tripwire.tripped());
}

#[test]
fn the_cli_refuses_a_remote_url_before_connecting() {
    let tripwire = Tripwire::arm();
    let out = tempfile::tempdir().unwrap();
    for url in remote_targets(tripwire.as_ref()) {
        let output = Command::new(BIN)
            .args(["run", "scenarios/warmup.yml", "--quiet", "--url", &url])
            .arg("--out")
            .arg(out.path())
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(3), "{url}: {stderr}");
        assert!(
            stderr.contains("refusing to send load to")
                && stderr.contains("is not a loopback address (pass --allow-remote to allow it)"),
            "{url}: {stderr}"
        );
        assert!(
            std::fs::read_dir(out.path()).unwrap().next().is_none(),
            "{url}: results were written"
        );
    }
    if let Some(t) = &tripwire {
        assert!(!t.tripped(), "the harness connected to {}", t.addr);
    }
}

#[test]
fn the_library_refuses_a_remote_url_at_once_and_a_url_profile_cannot_lift_it() {
    let tripwire = Tripwire::arm();
    let rt = runtime();
    let mut specs: Vec<SutSpec> = remote_targets(tripwire.as_ref())
        .iter()
        .map(|url| SutSpec::Url {
            url: url.parse().unwrap(),
            allow_remote: false,
            pid: None,
        })
        .collect();
    // A `kind: url` profile has no way to allow a remote target.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("staging.yml");
    std::fs::write(&path, "kind: url\nurl: http://192.0.2.7:8080/mcp\n").unwrap();
    let ctx = profile::SpecContext {
        refserver_program: BIN.into(),
        refserver_args: vec!["refserver".into()],
        faults: None,
        image_override: None,
    };
    specs.push(profile::load(&path).unwrap().to_spec(&ctx).unwrap());
    for spec in specs {
        // Were a connection attempted, a TEST-NET address would leave it hanging: the
        // refusal must come before, well inside this bound.
        let result = rt.block_on(async {
            tokio::time::timeout(Duration::from_secs(2), spec.start(None)).await
        });
        match result {
            Ok(Err(SutError::Target(TargetError::NotLoopback { .. }))) => {}
            Ok(Err(e)) => panic!("{spec:?}: refused otherwise: {e}"),
            Ok(Ok(_)) => panic!("{spec:?}: accepted"),
            Err(_) => panic!("{spec:?}: no answer within 2 s"),
        }
    }
    if let Some(t) = &tripwire {
        assert!(!t.tripped(), "the harness connected to {}", t.addr);
    }
    // Loopback passes the guard without any flag.
    let local = SutSpec::Url {
        url: "http://127.0.0.1:9/mcp".parse().unwrap(),
        allow_remote: false,
        pid: None,
    };
    assert!(rt.block_on(local.start(None)).is_ok());
}

#[test]
fn a_url_target_with_its_pid_gets_resources_and_efficiency() {
    let rt = runtime();
    let running = rt
        .block_on(SutSpec::Embedded(crate::refserver(&[])).start(None))
        .expect("reference server");
    let pid = running.pid().expect("a process").to_string();
    let url = running.endpoint().to_string();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    // `erlmcp-perf run scenarios/warmup.yml` (scaled to 10%) against `target`, into `out`:
    // its record.
    let run_warmup = |target: &[&std::ffi::OsStr], out: &Path| {
        let output = Command::new(BIN)
            .args(["run", "scenarios/warmup.yml", "--quiet"])
            .args(["--duration-scale", "0.1"])
            .args(target)
            .arg("--out")
            .arg(out)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let record = std::fs::read(out.join("warmup/record.json")).unwrap();
        serde_json::from_slice::<harness::record::RunRecord>(&record).unwrap()
    };
    let record = run_warmup(
        &[
            "--url".as_ref(),
            url.as_ref(),
            "--pid".as_ref(),
            pid.as_ref(),
        ],
        &out,
    );
    let resources = record
        .resources
        .as_ref()
        .expect("resources sampled from /proc");
    assert!(resources.cpu_seconds > 0.0, "{resources:?}");
    assert!(resources.memory_bytes_peak > 0, "{resources:?}");
    assert!(record.efficiency.is_some_and(|e| e > 0.0));
    // The same through a url profile whose pid_file names the server's process.
    std::fs::write(dir.path().join("server.pid"), format!("{pid}\n")).unwrap();
    let profile = dir.path().join("mine.yml");
    std::fs::write(
        &profile,
        format!("kind: url\nurl: \"{url}\"\npid_file: server.pid\n"),
    )
    .unwrap();
    let record = run_warmup(
        &["--sut".as_ref(), profile.as_os_str()],
        &dir.path().join("by-profile"),
    );
    assert!(record.resources.is_some_and(|r| r.cpu_seconds > 0.0));
    // A process that is not there is refused before any load is sent.
    let output = Command::new(BIN)
        .args(["run", "scenarios/warmup.yml", "--quiet", "--url", &url])
        .args(["--pid", "4000000000", "--out"])
        .arg(&out)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("cannot sample process 4000000000"),
        "{stderr}"
    );
    rt.block_on(running.stop());
}
