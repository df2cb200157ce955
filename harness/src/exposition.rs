//! Serves the live metrics of the load ([`LiveMetrics`]) at `GET /metrics` in the OpenMetrics
//! text format, for Prometheus to scrape while the harness runs. Dropping the server stops
//! it.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::load::LiveMetrics;

/// The metrics endpoint of a running harness: a thread of its own with a one-thread
/// runtime, so scrapes are answered apart from the load's workers (and from any runtime).
#[derive(Debug)]
pub struct MetricsServer {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// The address could not be bound.
#[derive(Debug, thiserror::Error)]
#[error("cannot serve metrics at {addr}: {source}")]
pub struct BindError {
    pub addr: SocketAddr,
    #[source]
    pub source: std::io::Error,
}

impl MetricsServer {
    /// Binds `addr` (port 0 picks a free one) and serves `metrics` until dropped.
    pub fn start(addr: SocketAddr, metrics: Arc<LiveMetrics>) -> Result<Self, BindError> {
        let bad = |source| BindError { addr, source };
        let listener = std::net::TcpListener::bind(addr).map_err(bad)?;
        let local = listener.local_addr().map_err(bad)?;
        listener.set_nonblocking(true).map_err(bad)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(bad)?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("metrics".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let Ok(listener) = TcpListener::from_std(listener) else {
                        return;
                    };
                    tokio::select! {
                        () = serve(listener, metrics) => {}
                        _ = stopped => {}
                    }
                });
            })
            .map_err(bad)?;
        Ok(Self {
            addr: local,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Where Prometheus scrapes it.
    pub fn url(&self) -> String {
        format!("http://{}/metrics", self.addr)
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn serve(listener: TcpListener, metrics: Arc<LiveMetrics>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            // Out of descriptors or a connection reset before it was accepted: the next
            // scrape tries again.
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            continue;
        };
        let metrics = metrics.clone();
        tokio::spawn(async move {
            let answer = service_fn(move |request| answer(request, metrics.clone()));
            // A scraper that goes away mid-answer is no concern of the load.
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), answer)
                .await;
        });
    }
}

async fn answer(
    request: Request<Incoming>,
    metrics: Arc<LiveMetrics>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    if request.uri().path() != "/metrics" {
        return Ok(status(StatusCode::NOT_FOUND));
    }
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return Ok(status(StatusCode::METHOD_NOT_ALLOWED));
    }
    let mut response = Response::new(Full::new(Bytes::from(metrics.encode())));
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static(crate::load::CONTENT_TYPE),
    );
    Ok(response)
}

fn status(code: StatusCode) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = code;
    response
}
