//! MCP as newline-delimited JSON-RPC over TCP: each connection is one MCP session, served
//! by rmcp's async-rw transport (as stdio is) with the same [`RefServer`] handler.

use std::time::Duration;

use rmcp::ServiceExt;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::handler::RefServer;

/// How long to back off after a failed `accept` (out of descriptors, say).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// Accepts connections until `cancel`, serving each as one MCP session.
pub(crate) async fn serve(listener: TcpListener, handler: RefServer, cancel: CancellationToken) {
    loop {
        let accepted = tokio::select! {
            () = cancel.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::warn!(%error, "TCP accept failed");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, "cannot set TCP_NODELAY");
        }
        let handler = handler.clone();
        let session_cancel = cancel.child_token();
        tokio::spawn(async move {
            match handler.serve_with_ct(stream, session_cancel).await {
                Ok(service) => {
                    if let Err(error) = service.waiting().await {
                        tracing::debug!(%error, %peer, "TCP session ended abnormally");
                    }
                }
                Err(error) => tracing::debug!(%error, %peer, "TCP session ended before initialize"),
            }
        });
    }
}
