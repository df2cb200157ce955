//! MCP over stdin/stdout. Nothing but protocol messages goes to stdout.

use std::{sync::Arc, time::Instant};

use rmcp::{ServiceExt, service::ServerInitializeError, transport::io::stdio_pipes};

use crate::{Error, config::ServerConfig, handler::RefServer, metrics::Metrics, root::ServedRoot};

/// Serve MCP on stdin/stdout until stdin ends.
///
/// `config.bind`, `stateless`, `json_response` and the host settings do not
/// apply; the faults and the served directory do. End of input before the
/// `initialize` handshake is a clean exit too.
pub async fn serve_stdio(config: ServerConfig) -> Result<(), Error> {
    let root = ServedRoot::open(config.root.as_deref())?;
    let handler = RefServer::new(
        config.faults.clone(),
        root.dir().clone(),
        Arc::new(Metrics::new()),
        Instant::now(),
    )
    .with_agent_tools(config.agent_tools);
    let service = match handler.serve(stdio_pipes()).await {
        Ok(service) => service,
        Err(ServerInitializeError::ConnectionClosed(_)) => return Ok(()),
        Err(error) => return Err(Error::Stdio(error.to_string())),
    };
    service
        .waiting()
        .await
        .map_err(|error| Error::Stdio(error.to_string()))?;
    Ok(())
}
