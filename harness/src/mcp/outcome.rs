use std::fmt;

/// What became of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A JSON-RPC result arrived for the request's id.
    Ok,
    /// The request failed; the class says how.
    Failed(ErrorClass),
    /// The harness cancelled the request before its answer came (the scenario's
    /// `cancel`): neither a success nor an error.
    Cancelled,
}

/// How a request failed. Error rates are reported per class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ErrorClass {
    /// No complete answer within the request timeout.
    Timeout,
    /// The connection could not be made, or broke (refused, reset, closed early).
    Connect,
    /// The server answered with a non-success HTTP status (other than 401 and 403).
    HttpStatus(u16),
    /// The server refused the credentials: 401 (none or not valid) or 403 (not allowed).
    Auth(u16),
    /// The server answered with a JSON-RPC error object.
    JsonRpc(i64),
    /// A `tools/call` result with `isError: true` (the tool itself failed).
    ToolError,
    /// The answer broke the protocol.
    Protocol(ProtocolViolation),
    /// A workflow step names a value (`${step.path}`) an earlier step's result does not
    /// have, so it could not be sent.
    MissingValue,
}

/// Ways an answer can break the MCP / JSON-RPC protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ProtocolViolation {
    /// The body was not valid JSON-RPC.
    BadJson,
    /// A response carried an id other than the request's.
    WrongId,
    /// A response had neither `result` nor `error`.
    MissingResult,
    /// The content type was neither JSON nor an event stream.
    BadContentType,
    /// The body exceeded the harness's read limit.
    BodyTooLarge,
    /// The event stream ended without the response.
    NoResponse,
    /// The bytes were not an HTTP/1.1 answer.
    BadHttp,
    /// A 2026-07-28 result whose `resultType` is not `complete` (`input_required`: the
    /// server asks the client for input before it answers).
    NotComplete,
    /// The server negotiated a protocol version the harness does not speak.
    UnsupportedVersion,
}

impl ErrorClass {
    /// The class of a non-success HTTP status: [`ErrorClass::Auth`] for 401 and 403.
    pub fn of_status(status: u16) -> Self {
        match status {
            401 | 403 => ErrorClass::Auth(status),
            _ => ErrorClass::HttpStatus(status),
        }
    }

    /// The error's group as reported in tables: `timeout`, `connect`, `http_status`,
    /// `jsonrpc`, `tool_error` or `protocol`.
    pub fn group(&self) -> &'static str {
        match self {
            ErrorClass::Timeout => "timeout",
            ErrorClass::Connect => "connect",
            ErrorClass::HttpStatus(_) => "http_status",
            ErrorClass::Auth(_) => "auth",
            ErrorClass::JsonRpc(_) => "jsonrpc",
            ErrorClass::ToolError => "tool_error",
            ErrorClass::Protocol(_) => "protocol",
            ErrorClass::MissingValue => "workflow",
        }
    }
}

impl ProtocolViolation {
    fn as_str(&self) -> &'static str {
        match self {
            ProtocolViolation::BadJson => "bad_json",
            ProtocolViolation::WrongId => "wrong_id",
            ProtocolViolation::MissingResult => "missing_result",
            ProtocolViolation::BadContentType => "bad_content_type",
            ProtocolViolation::BodyTooLarge => "body_too_large",
            ProtocolViolation::NoResponse => "no_response",
            ProtocolViolation::BadHttp => "bad_http",
            ProtocolViolation::NotComplete => "not_complete",
            ProtocolViolation::UnsupportedVersion => "unsupported_version",
        }
    }
}

/// The name of a JSON-RPC error code the 2026-07-28 revision defines, if `code` is one.
pub fn jsonrpc_code_name(code: i64) -> Option<&'static str> {
    match code {
        -32020 => Some("header_mismatch"),
        -32021 => Some("missing_required_client_capability"),
        -32022 => Some("unsupported_protocol_version"),
        _ => None,
    }
}

/// The stable key used in records: `timeout`, `http_status:503`, `jsonrpc:-32603`,
/// `jsonrpc:-32020:header_mismatch`, `protocol:wrong_id`, ...
impl fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorClass::HttpStatus(code) => write!(f, "http_status:{code}"),
            ErrorClass::Auth(code) => write!(f, "auth:{code}"),
            ErrorClass::MissingValue => f.write_str("workflow:missing_value"),
            ErrorClass::JsonRpc(code) => match jsonrpc_code_name(*code) {
                Some(name) => write!(f, "jsonrpc:{code}:{name}"),
                None => write!(f, "jsonrpc:{code}"),
            },
            ErrorClass::Protocol(v) => write!(f, "protocol:{}", v.as_str()),
            other => f.write_str(other.group()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_stable() {
        assert_eq!(ErrorClass::Timeout.to_string(), "timeout");
        assert_eq!(ErrorClass::HttpStatus(503).to_string(), "http_status:503");
        assert_eq!(ErrorClass::JsonRpc(-32603).to_string(), "jsonrpc:-32603");
        assert_eq!(
            ErrorClass::Protocol(ProtocolViolation::WrongId).to_string(),
            "protocol:wrong_id"
        );
        assert_eq!(ErrorClass::ToolError.group(), "tool_error");
        assert_eq!(ErrorClass::Auth(401).to_string(), "auth:401");
        assert_eq!(
            ErrorClass::MissingValue.to_string(),
            "workflow:missing_value"
        );
        assert_eq!(
            ErrorClass::JsonRpc(-32020).to_string(),
            "jsonrpc:-32020:header_mismatch"
        );
        assert_eq!(
            ErrorClass::JsonRpc(-32022).to_string(),
            "jsonrpc:-32022:unsupported_protocol_version"
        );
    }
}
