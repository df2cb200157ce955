//! The `initialize` exchange every transport starts with: the request it sends and the
//! check of the answer (an error, a malformed result, an unsupported version).

use serde::Deserialize;
use serde_json::json;

use super::SUPPORTED_PROTOCOL_VERSIONS;
use super::jsonrpc::{RequestTemplate, classify_message};
use super::opening::{SessionError, SessionOptions};
use super::outcome::{ErrorClass, Outcome, ProtocolViolation};

/// The id `initialize` is sent with; requests count from 1.
pub(super) const INITIALIZE_ID: u64 = 0;

/// The `notifications/initialized` message.
pub(super) const INITIALIZED: &[u8] = br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;

#[derive(Deserialize)]
struct InitializeResponse {
    result: InitializeResult,
}

#[derive(Deserialize)]
struct InitializeResult {
    #[serde(rename = "protocolVersion")]
    protocol_version: String,
}

/// The `initialize` request asking for `options.protocol_version`, with id [`INITIALIZE_ID`].
pub(super) fn initialize_request(options: &SessionOptions) -> Vec<u8> {
    let params = json!({
        "protocolVersion": options.protocol_version,
        "capabilities": {},
        "clientInfo": { "name": "erlmcp-perf", "version": env!("CARGO_PKG_VERSION") },
    });
    RequestTemplate::new("initialize", Some(&params)).body(INITIALIZE_ID)
}

/// Checks the answer to `initialize` sent to `endpoint` and returns the negotiated
/// protocol version.
pub(super) fn negotiated_version(endpoint: &str, message: &[u8]) -> Result<String, SessionError> {
    let init_error = |class, detail| SessionError::Initialize {
        url: endpoint.to_string(),
        class,
        detail,
    };
    if let Some(Outcome::Failed(class)) = classify_message(message, INITIALIZE_ID) {
        let detail = String::from_utf8_lossy(message).chars().take(200).collect();
        return Err(init_error(class, Some(detail)));
    }
    let init: InitializeResponse = serde_json::from_slice(message).map_err(|e| {
        init_error(
            ErrorClass::Protocol(ProtocolViolation::MissingResult),
            Some(e.to_string()),
        )
    })?;
    let version = init.result.protocol_version;
    if !SUPPORTED_PROTOCOL_VERSIONS.contains(&version.as_str()) {
        return Err(SessionError::UnsupportedVersion {
            url: endpoint.to_string(),
            version,
        });
    }
    Ok(version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_a_supported_version_only() {
        let ok = br#"{"jsonrpc":"2.0","id":0,"result":{"protocolVersion":"2025-03-26"}}"#;
        assert_eq!(negotiated_version("x", ok).unwrap(), "2025-03-26");
        let old = br#"{"jsonrpc":"2.0","id":0,"result":{"protocolVersion":"2024-11-05"}}"#;
        assert!(matches!(
            negotiated_version("x", old),
            Err(SessionError::UnsupportedVersion { .. })
        ));
        let refused = br#"{"jsonrpc":"2.0","id":0,"error":{"code":-32600,"message":"no"}}"#;
        assert!(matches!(
            negotiated_version("x", refused),
            Err(SessionError::Initialize {
                class: ErrorClass::JsonRpc(-32600),
                ..
            })
        ));
    }
}
