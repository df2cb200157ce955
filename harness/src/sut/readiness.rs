//! Whether a started server is ready for load, by the profile's `readiness`: an MCP
//! `initialize` completes, `GET <path>` answers 2xx, or its log shows a line.

use std::future::Future;
use std::time::{Duration, Instant};

use crate::mcp::{Endpoint, Session, SessionOptions};

/// When a started server counts as ready for load.
#[derive(Debug, Clone, PartialEq)]
pub enum Readiness {
    /// An MCP `initialize` (and `notifications/initialized`) completes at the endpoint.
    Initialize,
    /// `GET <path>` on the MCP port answers 2xx.
    Http(String),
    /// A log line (stdout or stderr) contains this text.
    Log(String),
}

/// Bound on one readiness probe.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Time between two probes.
const PROBE_INTERVAL: Duration = Duration::from_millis(200);

/// Probes `readiness` at `endpoint` every [`PROBE_INTERVAL`] until it holds, the server
/// exits first (`exited` says so, and how), or `timeout` runs out (the error then has
/// what the last probe found).
pub(super) async fn wait<X>(
    readiness: &Readiness,
    endpoint: &Endpoint,
    timeout: Duration,
    mut exited: impl FnMut() -> X,
    log_seen: impl Fn() -> bool,
) -> Result<(), String>
where
    X: Future<Output = Option<String>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(how) = exited().await {
            return Err(how);
        }
        let last = match check(readiness, endpoint, &log_seen).await {
            Ok(()) => return Ok(()),
            Err(e) => e,
        };
        if Instant::now() >= deadline {
            return Err(format!("timed out; last check: {last}"));
        }
        tokio::time::sleep(PROBE_INTERVAL).await;
    }
}

/// One probe of `readiness` at `endpoint`; `log_seen` says whether the log line came.
/// The error says what the probe found.
async fn check(
    readiness: &Readiness,
    endpoint: &Endpoint,
    log_seen: impl FnOnce() -> bool,
) -> Result<(), String> {
    match readiness {
        Readiness::Log(needle) => {
            if log_seen() {
                Ok(())
            } else {
                Err(format!("no log line containing {needle:?} yet"))
            }
        }
        Readiness::Initialize => {
            let options = SessionOptions {
                timeout: PROBE_TIMEOUT,
                ..Default::default()
            };
            let session = Session::open(endpoint, options)
                .await
                .map_err(|e| format!("initialize failed: {e}"))?;
            let _ = session.close().await;
            Ok(())
        }
        Readiness::Http(path) => {
            let mut url = match endpoint {
                Endpoint::Http(url) => url.clone(),
                Endpoint::WebSocket(url) => {
                    let mut url = url.clone();
                    url.set_scheme("http").map_err(|()| {
                        format!("cannot make an HTTP URL of the WebSocket endpoint {url}")
                    })?;
                    url
                }
                other => {
                    return Err(format!(
                        "an HTTP readiness path needs an HTTP or WebSocket endpoint, not {other}"
                    ));
                }
            };
            url.set_path(path);
            let client = reqwest::Client::builder()
                .no_proxy()
                .timeout(PROBE_TIMEOUT)
                .build()
                .map_err(|e| e.to_string())?;
            let status = client
                .get(url.clone())
                .send()
                .await
                .map_err(|e| format!("GET {url}: {e}"))?
                .status();
            if status.is_success() {
                Ok(())
            } else {
                Err(format!("GET {url} answered {status}"))
            }
        }
    }
}
