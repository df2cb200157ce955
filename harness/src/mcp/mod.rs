//! MCP client side of the load: the operations a mix sends, JSON-RPC framing, response
//! classification and sessions over each transport.

mod command;
mod connections;
mod endpoint;
mod handshake;
mod http;
mod http1;
mod jsonrpc;
mod listening;
mod meta;
mod opening;
mod operation;
mod outcome;
mod recovery;
mod redial;
mod references;
mod round_trips;
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
pub use listening::{Heard, Listening, SENT_AT_KEY};
pub use meta::{CLIENT_NAME, modern_meta};
pub use opening::{DEFAULT_CONNECTIONS, ExtraHeaders, SessionError, SessionOptions, is_token};
pub use operation::{Operation, Step, Workflow};
pub use outcome::{ErrorClass, Outcome, ProtocolViolation};
pub use recovery::{Recovery, RecoveryCounts};
pub use redial::Redial;
pub use references::{PathPart, Reference, Results, references, resolve};
pub use round_trips::{Answering, answer_for, timing_first_question};
pub use session::Session;
pub use sse::SseParser;
pub use stream::StreamSession;
pub use ticks::{Duty, Ticks, stamped};

/// Protocol version the harness asks for unless a scenario names another.
pub const DEFAULT_PROTOCOL_VERSION: &str = "2025-06-18";

/// Protocol versions the harness knows how to speak: every MCP revision.
pub const SUPPORTED_PROTOCOL_VERSIONS: &[&str] = &[
    "2024-11-05",
    "2025-03-26",
    "2025-06-18",
    "2025-11-25",
    MODERN_PROTOCOL_VERSION,
];

/// The revision without sessions or `initialize`: `server/discover`, and every request
/// carries its protocol version, capabilities and client in `_meta` (and, over HTTP, its
/// method and name in headers).
pub const MODERN_PROTOCOL_VERSION: &str = "2026-07-28";

/// The latest revision that opens a session with `initialize`: what `auto` asks for when
/// the server does not answer `server/discover`.
pub const LATEST_LEGACY_PROTOCOL_VERSION: &str = "2025-11-25";

/// A scenario's `protocol_version: auto`: `server/discover` first, `initialize` when the
/// server does not know it.
pub const AUTO_PROTOCOL_VERSION: &str = "auto";

/// Whether `version` is of the generation without sessions (2026-07-28 and later).
pub fn is_modern(version: &str) -> bool {
    version >= MODERN_PROTOCOL_VERSION && version != AUTO_PROTOCOL_VERSION
}
