//! The HTTP server: MCP Streamable HTTP at `/mcp`, MCP over WebSocket at `/mcp/ws`, plus
//! `/health` and `/metrics`; and, with `tcp_bind`, the newline-delimited TCP listener.

use std::{
    net::SocketAddr,
    path::Path,
    sync::Arc,
    time::{Duration, Instant},
};

use axum::{
    Router, extract::State, http::header, response::IntoResponse, routing::get, serve::ListenerExt,
};
use rmcp::transport::streamable_http_server::{
    StreamableHttpServerConfig, StreamableHttpService,
    session::local::{LocalSessionManager, SessionConfig},
};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::{
    Error,
    config::ServerConfig,
    handler::RefServer,
    idle_close::IdleCloseListener,
    json_bridge,
    metrics::{self, Metrics},
    root::ServedRoot,
    tcp,
    ws::{self, WS_PATH, WsState},
};

/// Path of the MCP endpoint.
pub const MCP_PATH: &str = "/mcp";

/// How long [`RunningServer::shutdown`] waits for open connections.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// A server started by [`start`]; stops on [`RunningServer::shutdown`] or drop.
#[derive(Debug)]
pub struct RunningServer {
    addr: SocketAddr,
    tcp_addr: Option<SocketAddr>,
    cancel: CancellationToken,
    task: Option<JoinHandle<()>>,
    tcp_task: Option<JoinHandle<()>>,
    metrics: Arc<Metrics>,
    root: ServedRoot,
}

impl RunningServer {
    /// The address the listener is bound to (the real port when 0 was asked).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The MCP endpoint, e.g. `http://127.0.0.1:41234/mcp`.
    pub fn mcp_url(&self) -> String {
        format!("http://{}{MCP_PATH}", self.addr)
    }

    /// The WebSocket MCP endpoint, e.g. `ws://127.0.0.1:41234/mcp/ws`.
    pub fn ws_url(&self) -> String {
        format!("ws://{}{WS_PATH}", self.addr)
    }

    /// The address of the newline-delimited TCP listener, if one was asked for.
    pub fn tcp_addr(&self) -> Option<SocketAddr> {
        self.tcp_addr
    }

    /// The server's metrics, as served at `/metrics`.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The directory `file_read` serves.
    pub fn root(&self) -> &Path {
        self.root.dir().root()
    }

    /// Stop accepting, end open SSE streams and sessions, and wait (a few
    /// seconds at most) for connections to close.
    pub async fn shutdown(mut self) {
        self.cancel.cancel();
        if let Some(task) = self.tcp_task.take() {
            // The accept loop ends at once on cancellation.
            let _ = task.await;
        }
        if let Some(mut task) = self.task.take()
            && tokio::time::timeout(SHUTDOWN_GRACE, &mut task)
                .await
                .is_err()
        {
            tracing::warn!("connections still open after {SHUTDOWN_GRACE:?}; aborting them");
            task.abort();
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// Bind `config.bind`, start serving in the background, and return at once.
///
/// Must be called within a Tokio runtime. Stall windows count from here.
pub async fn start(config: ServerConfig) -> Result<RunningServer, Error> {
    let root = ServedRoot::open(config.root.as_deref())?;
    let metrics = Arc::new(Metrics::new());
    let handler = RefServer::new(
        config.faults.clone(),
        root.dir().clone(),
        metrics.clone(),
        Instant::now(),
    )
    .with_agent_tools(config.agent_tools);
    let cancel = CancellationToken::new();
    let app = router(
        &config,
        handler.clone(),
        metrics.clone(),
        cancel.child_token(),
    );

    let listener = tokio::net::TcpListener::bind(config.bind)
        .await
        .map_err(|source| Error::Bind {
            addr: config.bind,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| Error::Bind {
        addr: config.bind,
        source,
    })?;
    let listener = listener.tap_io(|tcp| {
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::debug!(%error, "cannot set TCP_NODELAY");
        }
    });
    let (tcp_addr, tcp_task) = match config.tcp_bind {
        Some(bind) => {
            let listener = tokio::net::TcpListener::bind(bind)
                .await
                .map_err(|source| Error::Bind { addr: bind, source })?;
            let addr = listener
                .local_addr()
                .map_err(|source| Error::Bind { addr: bind, source })?;
            tracing::info!(%addr, "serving MCP over newline-delimited TCP");
            let task = tokio::spawn(tcp::serve(listener, handler, cancel.child_token()));
            (Some(addr), Some(task))
        }
        None => (None, None),
    };
    let shutdown = cancel.clone().cancelled_owned();
    let task = match config.faults.idle_close {
        None => tokio::spawn(serve(listener, app, shutdown)),
        Some(after) => tokio::spawn(serve(
            IdleCloseListener::new(listener, after),
            app,
            shutdown,
        )),
    };
    tracing::info!(%addr, stateless = config.stateless, json_response = config.json_response,
        faults = %config.faults, "serving MCP over HTTP");
    Ok(RunningServer {
        addr,
        tcp_addr,
        cancel,
        task: Some(task),
        tcp_task,
        metrics,
        root,
    })
}

/// Serves `app` on `listener` until `shutdown` completes.
async fn serve<L>(listener: L, app: Router, shutdown: impl Future<Output = ()> + Send + 'static)
where
    L: axum::serve::Listener,
    L::Addr: std::fmt::Debug,
{
    if let Err(error) = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
    {
        tracing::error!(%error, "HTTP server failed");
    }
}

/// The routes: `/mcp` (rmcp's Streamable HTTP service), `/mcp/ws` (WebSocket), `/health`,
/// `/metrics`.
fn router(
    config: &ServerConfig,
    handler: RefServer,
    metrics: Arc<Metrics>,
    cancel: CancellationToken,
) -> Router {
    let mut mcp_config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(!config.stateless)
        .with_json_response(config.json_response)
        .with_cancellation_token(cancel.clone());
    mcp_config.allowed_hosts = config.host_allowlist();

    let mut sessions = LocalSessionManager::default();
    sessions.session_config = session_config(config);

    let ws_state = WsState {
        handler: handler.clone(),
        cancel,
    };
    let mcp =
        StreamableHttpService::new(move || Ok(handler.clone()), Arc::new(sessions), mcp_config);
    let mut mcp_route = Router::new().route_service(MCP_PATH, mcp);
    if config.json_response && !config.stateless {
        mcp_route = mcp_route.layer(axum::middleware::from_fn(json_bridge::sse_to_json));
    }
    if let Some(token) = &config.bearer_token {
        let expected: Arc<str> = format!("Bearer {token}").into();
        mcp_route = mcp_route.layer(axum::middleware::from_fn(
            move |request: axum::extract::Request, next: axum::middleware::Next| {
                let expected = expected.clone();
                async move { require_bearer(&expected, request, next).await }
            },
        ));
    }
    Router::new()
        .route("/health", get(|| async { "ok" }))
        .route("/metrics", get(serve_metrics).with_state(metrics))
        .route(WS_PATH, get(ws::upgrade).with_state(ws_state))
        .merge(mcp_route)
}

/// Passes a request whose `Authorization` is `expected`; answers any other 401.
async fn require_bearer(
    expected: &str,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let given = request.headers().get(header::AUTHORIZATION);
    if given.is_some_and(|v| v.as_bytes() == expected.as_bytes()) {
        next.run(request).await
    } else {
        (
            axum::http::StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
        )
            .into_response()
    }
}

fn session_config(config: &ServerConfig) -> SessionConfig {
    let mut session = SessionConfig::default();
    session.keep_alive = Some(config.session_idle_timeout);
    session.completed_cache_ttl = config.resume_cache_ttl;
    session
}

async fn serve_metrics(State(metrics): State<Arc<Metrics>>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, metrics::CONTENT_TYPE)],
        metrics.encode(),
    )
}
