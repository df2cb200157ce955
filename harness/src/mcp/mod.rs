//! MCP client side of the load: the operations a mix sends, JSON-RPC framing, response
//! classification and sessions over each transport.

mod http;
mod jsonrpc;
mod operation;
mod outcome;
mod session;
mod sse;

pub use http::{HttpSession, SessionError, SessionOptions};
pub use jsonrpc::{RequestTemplate, classify_message};
pub use operation::Operation;
pub use outcome::{ErrorClass, Outcome, ProtocolViolation};
pub use session::{Endpoint, Session};
pub use sse::SseParser;

/// Protocol version the harness asks for unless a scenario names another.
pub const DEFAULT_PROTOCOL_VERSION: &str = "2025-06-18";

/// Protocol versions the harness knows how to speak over Streamable HTTP.
pub const SUPPORTED_PROTOCOL_VERSIONS: &[&str] = &["2025-06-18", "2025-03-26"];
