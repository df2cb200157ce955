//! The Docker engine as the harness uses it: the client, the labels that mark our containers
//! and networks, and the cleanup that removes them however the run ends (normal stop, drop
//! after an error or panic, SIGTERM/SIGINT/SIGQUIT, or a later run finding the leftovers of a
//! process that was killed outright).
//!
//! Containers are created, limited, attached to their network, followed (logs, state) and
//! removed through `testcontainers` ([`super::container`]). What it lacks is here, done with
//! its own `bollard` client ([`connect`]) or, where that client cannot be used, a fresh
//! `bollard` one:
//!
//! - labelled networks: `testcontainers` creates a network it is asked to join only without
//!   labels, so a cluster's network is created here, labelled, and the containers join it;
//! - the leftovers of a harness killed with SIGKILL, found by label and pid
//!   ([`remove_orphans`]);
//! - the signal watchdog. `testcontainers`' own (its `watchdog` feature, not enabled) removes
//!   every container on the first SIGINT/SIGTERM, which would take the SUT away from a
//!   program that handles that signal itself ([`hand_first_signal_to_program`], [`GRACE`]);
//!   it knows no networks, and it panics on a container already gone;
//! - removal from `Drop` and from the watchdog thread ([`remove_blocking`]): on a thread and
//!   runtime of their own, with a fresh client, since `testcontainers`' shared client keeps
//!   connections that belong to the runtime that opened them, which may be blocked in this
//!   very drop or gone.
//!
//! `testcontainers` 0.28 configures its client for API 1.53; with bollard 0.21 (kept at 0.21.x
//! in Cargo.lock) the version is not put on the request path, so an engine of API 1.41
//! (Docker 20.10) answers in its own version. [`api_versions`] checks what goes on the wire
//! against the engine, for a test that catches a dependency bump which changes that.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, Once};

use bollard::Docker;
use bollard::models::NetworkCreateRequest;
use bollard::query_parameters::{
    ListContainersOptions, ListNetworksOptions, RemoveContainerOptions,
};

/// Label every container and network the harness starts carries (value `1`).
pub const LABEL: &str = "erlmcp-perf";
/// Label holding the process id of the harness that started the container or network.
pub const PID_LABEL: &str = "erlmcp-perf.pid";
/// Label naming one container start (`<pid>-<n>`): if `testcontainers` fails after it
/// created the container, that container is found and removed by this label.
pub const START_LABEL: &str = "erlmcp-perf.start";

/// The oldest engine API the harness is known to work with (Docker 20.10).
pub const MIN_ENGINE_API: (u32, u32) = (1, 41);

/// No Docker engine answered, or it refused a request.
#[derive(Debug, thiserror::Error)]
#[error("docker: {action}: {reason}")]
pub struct DockerError {
    /// What the harness was doing.
    pub action: String,
    /// What the engine (or the connection) said.
    pub reason: String,
}

impl DockerError {
    pub(crate) fn new(action: impl Into<String>, reason: impl ToString) -> Self {
        Self {
            action: action.into(),
            reason: reason.to_string(),
        }
    }
}

/// Connects to the local engine (`DOCKER_HOST` or the default socket) with the client
/// `testcontainers` uses, and agrees on the highest API version both sides speak for the
/// harness's own requests.
pub async fn connect() -> Result<Docker, DockerError> {
    let docker = testcontainers::core::client::docker_client_instance()
        .await
        .map_err(|e| DockerError::new("connecting to the engine", e))?;
    negotiate(docker).await
}

/// A client of its own (not `testcontainers`' shared one), for a runtime of its own.
async fn fresh_client() -> Result<Docker, DockerError> {
    let docker = Docker::connect_with_local_defaults()
        .map_err(|e| DockerError::new("connecting to the engine", e))?;
    negotiate(docker).await
}

async fn negotiate(docker: Docker) -> Result<Docker, DockerError> {
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        docker.negotiate_version(),
    )
    .await
    .map_err(|_| DockerError::new("connecting to the engine", "no answer within 10s"))?
    .map_err(|e| DockerError::new("connecting to the engine", e))
}

/// The Docker API versions in play between `testcontainers`' client and the engine.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiVersions {
    /// The version the client is configured with (`testcontainers` asks for bollard's
    /// default).
    pub client: String,
    /// The version the client puts on the request path (`/v1.41/containers/json`), if it
    /// puts one there; without one the engine answers in its own version.
    pub on_the_wire: Option<String>,
    /// The newest version the engine speaks.
    pub engine: String,
    /// The oldest version the engine accepts.
    pub engine_min: String,
}

impl ApiVersions {
    /// Whether the engine accepts what the client sends, and is one the harness works with;
    /// the error says what changed.
    pub fn check(&self) -> Result<(), String> {
        let parse = |v: &str| -> Result<(u32, u32), String> {
            v.split_once('.')
                .and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)))
                .ok_or_else(|| format!("unreadable Docker API version {v:?}"))
        };
        let engine = parse(&self.engine)?;
        let engine_min = parse(&self.engine_min)?;
        if engine < MIN_ENGINE_API {
            return Err(format!(
                "the engine speaks Docker API {} at most; the harness needs {}.{} (Docker 20.10) or newer",
                self.engine, MIN_ENGINE_API.0, MIN_ENGINE_API.1
            ));
        }
        if let Some(sent) = &self.on_the_wire {
            let wire = parse(sent)?;
            if wire > engine || wire < engine_min {
                return Err(format!(
                    "the Docker client (testcontainers' bollard, configured for API {client}) now puts API version {sent} on every request path, \
                     and this engine accepts {min} to {max}: it refuses every request. A dependency bump changed this \
                     (bollard 0.21.x sends no version); keep bollard at 0.21.x in Cargo.lock, or make the client negotiate",
                    client = self.client,
                    min = self.engine_min,
                    max = self.engine,
                ));
            }
        }
        Ok(())
    }
}

/// What [`ApiVersions`] says for `testcontainers`' client and the local engine. The version
/// on the wire is read from one request the client sends to a listener of ours on loopback.
pub async fn api_versions() -> Result<ApiVersions, DockerError> {
    let action = "reading the Docker API versions";
    let docker = testcontainers::core::client::docker_client_instance()
        .await
        .map_err(|e| DockerError::new(action, e))?;
    let client = docker.client_version();
    let version = docker
        .version()
        .await
        .map_err(|e| DockerError::new(action, format!("the engine refused `GET /version`: {e}")))?;
    let on_the_wire = wire_version(&client)
        .await
        .map_err(|e| DockerError::new(action, e))?;
    Ok(ApiVersions {
        client: client.to_string(),
        on_the_wire,
        engine: version.api_version.unwrap_or_default(),
        engine_min: version.min_api_version.unwrap_or_default(),
    })
}

/// The API version a bollard client of `version` puts on its request paths, if any.
async fn wire_version(version: &bollard::ClientVersion) -> Result<Option<String>, String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("listening on loopback: {e}"))?;
    let addr = listener
        .local_addr()
        .map_err(|e| format!("listening on loopback: {e}"))?;
    let server = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.ok()?;
        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
            let n = stream.read(&mut buf).await.ok()?;
            if n == 0 {
                break;
            }
            head.extend_from_slice(&buf[..n]);
        }
        let _ = stream
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: close\r\n\r\nOK")
            .await;
        let head = String::from_utf8_lossy(&head).into_owned();
        head.lines()
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .map(str::to_string)
    });
    let probe = Docker::connect_with_http(&format!("http://{addr}"), 5, version)
        .map_err(|e| format!("a client for the probe: {e}"))?;
    let _ = probe.ping().await;
    let path = tokio::time::timeout(std::time::Duration::from_secs(5), server)
        .await
        .ok()
        .and_then(Result::ok)
        .flatten()
        .ok_or("the probe's request never arrived")?;
    Ok(path
        .strip_prefix("/v")
        .and_then(|rest| rest.split('/').next())
        .filter(|v| v.contains('.') && v.chars().all(|c| c.is_ascii_digit() || c == '.'))
        .map(str::to_string))
}

/// Whether a Docker engine answers at all (for tests that need one).
pub async fn available() -> Result<(), DockerError> {
    let docker = connect().await?;
    docker
        .ping()
        .await
        .map(|_| ())
        .map_err(|e| DockerError::new("ping", e))
}

/// Labels for a container or network started by this process.
pub(crate) fn labels() -> HashMap<String, String> {
    HashMap::from([
        (LABEL.to_string(), "1".to_string()),
        (PID_LABEL.to_string(), std::process::id().to_string()),
    ])
}

/// [`labels`], and [`START_LABEL`] set to `start`, for a container.
pub(crate) fn labels_with_start(start: &str) -> HashMap<String, String> {
    let mut labels = labels();
    labels.insert(START_LABEL.to_string(), start.to_string());
    labels
}

static STARTS: AtomicU64 = AtomicU64::new(0);

/// A fresh value for [`START_LABEL`].
pub(crate) fn start_token() -> String {
    let n = STARTS.fetch_add(1, Ordering::Relaxed) + 1;
    format!("{}-{n}", std::process::id())
}

/// Removes the container(s) labelled `START_LABEL=token`: what a failed `testcontainers`
/// start (created, then refused to start or timed out) leaves behind.
pub(crate) async fn remove_start(docker: &Docker, token: &str) {
    let options = ListContainersOptions {
        all: true,
        filters: Some(HashMap::from([(
            "label".to_string(),
            vec![format!("{START_LABEL}={token}")],
        )])),
        ..Default::default()
    };
    let Ok(list) = docker.list_containers(Some(options)).await else {
        return;
    };
    for id in list.into_iter().filter_map(|c| c.id) {
        if let Err(e) = remove(docker, &id).await {
            tracing::warn!("{e}");
        }
    }
}

/// Ids of our containers (running or not), optionally only those of one harness process.
pub async fn list_ours(docker: &Docker, pid: Option<u32>) -> Result<Vec<String>, DockerError> {
    let mut label = vec![format!("{LABEL}=1")];
    if let Some(pid) = pid {
        label.push(format!("{PID_LABEL}={pid}"));
    }
    let options = ListContainersOptions {
        all: true,
        filters: Some(HashMap::from([("label".to_string(), label)])),
        ..Default::default()
    };
    let list = docker
        .list_containers(Some(options))
        .await
        .map_err(|e| DockerError::new("listing containers", e))?;
    Ok(list.into_iter().filter_map(|c| c.id).collect())
}

/// Removes (killing first) a container; a container already gone is not an error.
pub(crate) async fn remove(docker: &Docker, id: &str) -> Result<(), DockerError> {
    let options = RemoveContainerOptions {
        force: true,
        v: true,
        ..Default::default()
    };
    match docker.remove_container(id, Some(options)).await {
        Ok(()) => Ok(()),
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404 | 409,
            ..
        }) => Ok(()),
        Err(e) => Err(DockerError::new(format!("removing container {id}"), e)),
    }
}

/// Removes our containers left behind by harness processes that no longer exist (killed
/// with SIGKILL, so neither drop nor the signal watchdog ran). `testcontainers` has nothing
/// like it (its reaper-less cleanup runs in-process only), so this is bollard.
pub(crate) async fn remove_orphans(docker: &Docker) {
    let options = ListContainersOptions {
        all: true,
        filters: Some(HashMap::from([(
            "label".to_string(),
            vec![format!("{LABEL}=1")],
        )])),
        ..Default::default()
    };
    let Ok(list) = docker.list_containers(Some(options)).await else {
        return;
    };
    for c in list {
        let pid = c
            .labels
            .as_ref()
            .and_then(|l| l.get(PID_LABEL))
            .and_then(|p| p.parse::<i32>().ok());
        if let (Some(id), Some(pid)) = (c.id, pid)
            && !process_exists(pid)
        {
            tracing::info!("removing container {id} left by harness process {pid}");
            let _ = remove(docker, &id).await;
        }
    }
    let options = ListNetworksOptions {
        filters: Some(HashMap::from([(
            "label".to_string(),
            vec![format!("{LABEL}=1")],
        )])),
    };
    let Ok(list) = docker.list_networks(Some(options)).await else {
        return;
    };
    for n in list {
        let pid = n
            .labels
            .as_ref()
            .and_then(|l| l.get(PID_LABEL))
            .and_then(|p| p.parse::<i32>().ok());
        if let (Some(id), Some(pid)) = (n.id, pid)
            && !process_exists(pid)
        {
            tracing::info!("removing network {id} left by harness process {pid}");
            let _ = remove_network(docker, &id).await;
        }
    }
}

/// Creates a user-defined bridge network for a cluster, labelled like our containers and
/// put under the signal watchdog. Returns its id. Done with bollard: `testcontainers`
/// creates the network a container joins only unlabelled (so a SIGKILLed run's network
/// could not be found again); it leaves a network that exists already alone.
pub(crate) async fn create_network(docker: &Docker, name: &str) -> Result<String, DockerError> {
    let request = NetworkCreateRequest {
        name: name.to_string(),
        driver: Some("bridge".into()),
        labels: Some(labels()),
        ..Default::default()
    };
    let id = docker
        .create_network(request)
        .await
        .map_err(|e| DockerError::new(format!("creating network {name}"), e))?
        .id;
    watch_network(&id);
    Ok(id)
}

/// Removes a network (its containers must be gone); a network already gone is not an error.
pub(crate) async fn remove_network(docker: &Docker, id: &str) -> Result<(), DockerError> {
    match docker.remove_network(id).await {
        Ok(())
        | Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => Ok(()),
        Err(e) => Err(DockerError::new(format!("removing network {id}"), e)),
    }
}

/// Ids of our networks, optionally only those of one harness process.
pub async fn list_our_networks(
    docker: &Docker,
    pid: Option<u32>,
) -> Result<Vec<String>, DockerError> {
    let mut label = vec![format!("{LABEL}=1")];
    if let Some(pid) = pid {
        label.push(format!("{PID_LABEL}={pid}"));
    }
    let options = ListNetworksOptions {
        filters: Some(HashMap::from([("label".to_string(), label)])),
    };
    let list = docker
        .list_networks(Some(options))
        .await
        .map_err(|e| DockerError::new("listing networks", e))?;
    Ok(list.into_iter().filter_map(|n| n.id).collect())
}

fn process_exists(pid: i32) -> bool {
    // SAFETY: signal 0 only checks that the process exists; nothing is sent.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

/// Removes containers, then networks, from outside any async context: on its own thread
/// with its own runtime and a fresh client, so it works from `Drop` whether or not a
/// runtime is running on this thread.
pub(crate) fn remove_blocking(ids: Vec<String>, networks: Vec<String>) {
    remove_on_own_thread(ids, networks, false);
}

/// [`remove_blocking`], and with `everything_of_this_process` also every container and
/// network labelled with this process's pid (the watchdog: a container `testcontainers`
/// created but has not handed back yet is not watched).
fn remove_on_own_thread(ids: Vec<String>, networks: Vec<String>, everything_of_this_process: bool) {
    if ids.is_empty() && networks.is_empty() && !everything_of_this_process {
        return;
    }
    let worker = std::thread::spawn(move || {
        let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        runtime.block_on(async {
            let Ok(docker) = fresh_client().await else {
                return;
            };
            let (mut ids, mut networks) = (ids, networks);
            if everything_of_this_process {
                let pid = Some(std::process::id());
                ids.extend(list_ours(&docker, pid).await.unwrap_or_default());
                networks.extend(list_our_networks(&docker, pid).await.unwrap_or_default());
                ids.sort();
                ids.dedup();
                networks.sort();
                networks.dedup();
            }
            for id in ids {
                if let Err(e) = remove(&docker, &id).await {
                    tracing::warn!("{e}");
                }
            }
            for id in networks {
                if let Err(e) = remove_network(&docker, &id).await {
                    tracing::warn!("{e}");
                }
            }
        });
    });
    let _ = worker.join();
}

/// Containers to remove if the process is told to stop by a signal.
static WATCHED: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());
/// Networks to remove (after the containers) if the process is told to stop by a signal.
static WATCHED_NETWORKS: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());
static WATCHDOG: Once = Once::new();

/// Starts the signal watchdog if it is not running yet: before a container is created, so
/// that one created but not yet watched is removed too (by this process's pid label).
pub(crate) fn arm_watchdog() {
    WATCHDOG.call_once(start_watchdog);
}

/// Puts a container under the signal watchdog: on SIGTERM, SIGINT or SIGQUIT it is removed
/// before the process dies of that signal.
pub(crate) fn watch(id: &str) {
    WATCHDOG.call_once(start_watchdog);
    if let Ok(mut set) = WATCHED.lock() {
        set.insert(id.to_string());
    }
}

/// Takes a container out of the watchdog's care (it has been removed).
pub(crate) fn unwatch(id: &str) {
    if let Ok(mut set) = WATCHED.lock() {
        set.remove(id);
    }
}

/// Puts a network under the signal watchdog, like [`watch`] for a container.
pub(crate) fn watch_network(id: &str) {
    WATCHDOG.call_once(start_watchdog);
    if let Ok(mut set) = WATCHED_NETWORKS.lock() {
        set.insert(id.to_string());
    }
}

/// Takes a network out of the watchdog's care (it has been removed).
pub(crate) fn unwatch_network(id: &str) {
    if let Ok(mut set) = WATCHED_NETWORKS.lock() {
        set.remove(id);
    }
}

/// Whether the first SIGINT or SIGTERM goes to the program, which stops its run and ends
/// by itself ([`hand_first_signal_to_program`]); the watchdog then acts on a second signal,
/// or once [`GRACE`] has passed.
static FIRST_SIGNAL_TO_PROGRAM: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);
/// How long a program that took the first signal has to end before the watchdog removes
/// its containers and ends it.
pub const GRACE: std::time::Duration = std::time::Duration::from_secs(60);

/// Lets the program handle the first SIGINT or SIGTERM itself (stop the load, write what
/// was measured, stop its SUT); its containers are still removed if it has not ended
/// within [`GRACE`] or a second signal comes.
pub fn hand_first_signal_to_program() {
    FIRST_SIGNAL_TO_PROGRAM.store(true, std::sync::atomic::Ordering::Release);
}

fn start_watchdog() {
    use signal_hook::consts::{SIGINT, SIGQUIT, SIGTERM};
    let mut signals = match signal_hook::iterator::Signals::new([SIGTERM, SIGINT, SIGQUIT]) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!("cannot watch for signals, containers may outlive a kill: {e}");
            return;
        }
    };
    let spawned = std::thread::Builder::new()
        .name("erlmcp-perf-watchdog".into())
        .spawn(move || {
            let Some(mut signal) = signals.forever().next() else {
                return;
            };
            let graceful = signal != SIGQUIT
                && FIRST_SIGNAL_TO_PROGRAM.load(std::sync::atomic::Ordering::Acquire);
            if graceful {
                let until = std::time::Instant::now() + GRACE;
                'grace: while std::time::Instant::now() < until {
                    if let Some(next) = signals.pending().next() {
                        signal = next;
                        break 'grace;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(100));
                }
            }
            let ids: Vec<String> = WATCHED
                .lock()
                .map(|s| s.iter().cloned().collect())
                .unwrap_or_default();
            let networks: Vec<String> = WATCHED_NETWORKS
                .lock()
                .map(|s| s.iter().cloned().collect())
                .unwrap_or_default();
            remove_on_own_thread(ids, networks, true);
            let _ = signal_hook::low_level::emulate_default_handler(signal);
        });
    if let Err(e) = spawned {
        tracing::warn!("cannot start the container watchdog: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_api_check_fails_when_the_client_sends_a_version_the_engine_refuses() {
        let today = ApiVersions {
            client: "1.53".into(),
            on_the_wire: None,
            engine: "1.41".into(),
            engine_min: "1.12".into(),
        };
        assert_eq!(today.check(), Ok(()));
        let negotiated = ApiVersions {
            on_the_wire: Some("1.41".into()),
            ..today.clone()
        };
        assert_eq!(negotiated.check(), Ok(()));
        let bumped = ApiVersions {
            on_the_wire: Some("1.53".into()),
            ..today.clone()
        };
        let e = bumped.check().unwrap_err();
        assert!(e.contains("1.53") && e.contains("1.41"), "{e}");
        let old_engine = ApiVersions {
            engine: "1.40".into(),
            ..today
        };
        assert!(old_engine.check().is_err());
    }
}
