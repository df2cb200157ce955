//! The HTTP/1.1 connections of one Streamable HTTP session: kept alive and reused, one
//! request at a time each, opened on demand (an open model may have many requests in
//! flight), straight on hyper's connection API so a request costs no URL parsing, no
//! redirect or proxy logic and no pool-wide locks.

use std::net::SocketAddr;
use std::sync::Mutex;

use bytes::Bytes;
use http_body_util::Full;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// One connection's sending side.
pub(super) type Sender = SendRequest<Full<Bytes>>;

/// Idle keep-alive connections to one server address.
#[derive(Debug)]
pub(super) struct Connections {
    addr: SocketAddr,
    idle: Mutex<Vec<Sender>>,
}

impl Connections {
    pub(super) fn new(addr: SocketAddr) -> Self {
        Self {
            addr,
            idle: Mutex::new(Vec::new()),
        }
    }

    /// An idle connection that is still open, if there is one.
    pub(super) fn take_idle(&self) -> Option<Sender> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        while let Some(sender) = idle.pop() {
            if !sender.is_closed() {
                return Some(sender);
            }
        }
        None
    }

    /// Opens a new connection; its I/O runs as a task of its own.
    pub(super) async fn open(&self) -> std::io::Result<Sender> {
        let stream = TcpStream::connect(self.addr).await?;
        stream.set_nodelay(true)?;
        let (sender, connection) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(std::io::Error::other)?;
        tokio::spawn(async move {
            // A connection the server closes ends here; the next request opens another.
            let _ = connection.await;
        });
        Ok(sender)
    }

    /// Returns a connection whose last answer was read to the end.
    pub(super) fn put_back(&self, sender: Sender) {
        if !sender.is_closed() {
            self.idle
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(sender);
        }
    }
}
