//! The Docker engine as the harness uses it: a client that speaks the engine's own API
//! version, the labels that mark our containers and networks, and the cleanup that removes
//! them however the run ends (normal stop, drop after an error or panic, SIGTERM/SIGINT/SIGQUIT, or a
//! later run finding the leftovers of a process that was killed outright).
//!
//! The client is `bollard`, the crate `testcontainers` is built on. `testcontainers` 0.28
//! itself is not used: its client always asks for API 1.53, which engines older than
//! Docker 29 refuse ("client version 1.53 is too new"); here the version is negotiated.

use std::collections::{BTreeSet, HashMap};
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

/// Connects to the local engine (`DOCKER_HOST` or the default socket) and agrees on the
/// highest API version both sides speak.
pub async fn connect() -> Result<Docker, DockerError> {
    let docker = Docker::connect_with_local_defaults()
        .map_err(|e| DockerError::new("connecting to the engine", e))?;
    let docker = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        docker.negotiate_version(),
    )
    .await
    .map_err(|_| DockerError::new("connecting to the engine", "no answer within 10s"))?
    .map_err(|e| DockerError::new("connecting to the engine", e))?;
    Ok(docker)
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
/// with SIGKILL, so neither drop nor the signal watchdog ran).
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
/// put under the signal watchdog. Returns its id.
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
/// with its own runtime, so it works from `Drop` whether or not a runtime is running on this
/// thread.
pub(crate) fn remove_blocking(ids: Vec<String>, networks: Vec<String>) {
    if ids.is_empty() && networks.is_empty() {
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
            let Ok(docker) = connect().await else { return };
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
            remove_blocking(ids, networks);
            let _ = signal_hook::low_level::emulate_default_handler(signal);
        });
    if let Err(e) = spawned {
        tracing::warn!("cannot start the container watchdog: {e}");
    }
}
