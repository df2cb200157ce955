//! Who the client says it is: its name, and the `_meta` every 2026-07-28 request carries.

use serde_json::{Value, json};

use super::MODERN_PROTOCOL_VERSION;

/// The client's name in `initialize` and in every 2026-07-28 request's `_meta`.
pub const CLIENT_NAME: &str = "erlmcp-perf";

/// The `_meta` every 2026-07-28 request carries: its protocol version, the client's
/// capabilities (none) and the client.
pub fn modern_meta() -> Value {
    json!({
        "io.modelcontextprotocol/protocolVersion": MODERN_PROTOCOL_VERSION,
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {
            "name": CLIENT_NAME,
            "version": env!("CARGO_PKG_VERSION"),
        },
    })
}
