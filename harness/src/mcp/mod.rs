//! MCP client side of the load: the operations a mix sends, JSON-RPC framing, response
//! classification and sessions over each transport.

mod command;
mod connections;
mod endpoint;
mod handshake;
mod http;
mod http1;
mod jsonrpc;
mod opening;
mod operation;
mod outcome;
mod recovery;
mod redial;
mod session;
mod socket;
mod sse;
mod stream;
mod ticks;
mod waiting;
mod wire;

pub use command::{LivePids, StdioCommand};
pub use endpoint::{Endpoint, Transport, UnknownTransport};
pub use http::HttpSession;
pub use jsonrpc::{RequestTemplate, classify_message};
pub use opening::{DEFAULT_CONNECTIONS, SessionError, SessionOptions};
pub use operation::Operation;
pub use outcome::{ErrorClass, Outcome, ProtocolViolation};
pub use recovery::{Recovery, RecoveryCounts};
pub use redial::Redial;
pub use session::Session;
pub use sse::SseParser;
pub use stream::StreamSession;
pub use ticks::{Duty, Ticks, stamped};

/// Protocol version the harness asks for unless a scenario names another.
pub const DEFAULT_PROTOCOL_VERSION: &str = "2025-06-18";

/// Protocol versions the harness knows how to speak.
pub const SUPPORTED_PROTOCOL_VERSIONS: &[&str] = &["2025-06-18", "2025-03-26"];
