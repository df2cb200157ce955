//! Where an MCP server is and how it is spoken to: [`Transport`] and [`Endpoint`].

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;

use super::command::StdioCommand;

/// The MCP transports the harness speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Transport {
    /// Streamable HTTP.
    #[default]
    Http,
    /// WebSocket, one JSON-RPC message per text frame.
    WebSocket,
    /// Newline-delimited JSON-RPC over TCP.
    Tcp,
    /// Newline-delimited JSON-RPC over a child process's stdin and stdout.
    Stdio,
}

impl Transport {
    /// Every transport, in the order they are documented.
    pub const ALL: [Transport; 4] = [
        Transport::Http,
        Transport::WebSocket,
        Transport::Tcp,
        Transport::Stdio,
    ];

    /// The name used on the command line and in records: `http`, `websocket`, `tcp`,
    /// `stdio`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Transport::Http => "http",
            Transport::WebSocket => "websocket",
            Transport::Tcp => "tcp",
            Transport::Stdio => "stdio",
        }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A transport name that is not one of `http`, `websocket` (`ws`), `tcp`, `stdio`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown transport {0:?}: expected http, websocket (ws), tcp or stdio")]
pub struct UnknownTransport(pub String);

impl FromStr for Transport {
    type Err = UnknownTransport;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "http" => Ok(Transport::Http),
            "websocket" | "ws" => Ok(Transport::WebSocket),
            "tcp" => Ok(Transport::Tcp),
            "stdio" => Ok(Transport::Stdio),
            _ => Err(UnknownTransport(s.to_string())),
        }
    }
}

/// Where and how to reach an MCP server.
#[derive(Debug, Clone, PartialEq)]
pub enum Endpoint {
    /// Streamable HTTP at this URL (`http://127.0.0.1:8080/mcp`).
    Http(url::Url),
    /// WebSocket at this URL (`ws://127.0.0.1:8080/mcp/ws`).
    WebSocket(url::Url),
    /// Newline-delimited JSON-RPC over TCP at this address.
    Tcp(SocketAddr),
    /// A stdio MCP server: every session starts the command and talks to it alone.
    Stdio(StdioCommand),
}

impl Endpoint {
    /// The transport's name as reported (`http`, `websocket`, `tcp`, `stdio`).
    pub fn transport(&self) -> &'static str {
        self.kind().as_str()
    }

    /// The transport.
    pub fn kind(&self) -> Transport {
        match self {
            Endpoint::Http(_) => Transport::Http,
            Endpoint::WebSocket(_) => Transport::WebSocket,
            Endpoint::Tcp(_) => Transport::Tcp,
            Endpoint::Stdio(_) => Transport::Stdio,
        }
    }
}

/// The URL, `tcp://addr`, or `stdio:program args...`.
impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Http(url) | Endpoint::WebSocket(url) => write!(f, "{url}"),
            Endpoint::Tcp(addr) => write!(f, "tcp://{addr}"),
            Endpoint::Stdio(command) => write!(f, "stdio:{command}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transports_parse_and_print() {
        for t in Transport::ALL {
            assert_eq!(t.to_string().parse::<Transport>(), Ok(t));
        }
        assert_eq!("ws".parse::<Transport>(), Ok(Transport::WebSocket));
        assert!("quic".parse::<Transport>().is_err());
    }

    #[test]
    fn endpoints_display_their_address() {
        let tcp = Endpoint::Tcp("127.0.0.1:9".parse().unwrap());
        assert_eq!(
            (tcp.to_string(), tcp.transport()),
            ("tcp://127.0.0.1:9".into(), "tcp")
        );
        let stdio = Endpoint::Stdio(StdioCommand::new("srv", vec!["--stdio".into()]));
        assert_eq!(stdio.to_string(), "stdio:srv --stdio");
        assert_eq!(stdio.transport(), "stdio");
        let ws = Endpoint::WebSocket("ws://127.0.0.1:1/mcp/ws".parse().unwrap());
        assert_eq!(ws.transport(), "websocket");
    }
}
