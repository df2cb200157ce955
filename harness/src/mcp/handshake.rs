//! How every transport opens a session: `initialize` (revisions up to 2025-11-25) or
//! `server/discover` (2026-07-28, which has no handshake), the requests they send and the
//! checks of their answers (an error, a malformed result, an unsupported version).

use serde::Deserialize;
use serde_json::json;

use super::jsonrpc::{RequestTemplate, classify_message};
use super::meta::CLIENT_NAME;
use super::opening::{SessionError, SessionOptions};
use super::outcome::{ErrorClass, Outcome, ProtocolViolation};
use super::{
    AUTO_PROTOCOL_VERSION, LATEST_LEGACY_PROTOCOL_VERSION, MODERN_PROTOCOL_VERSION,
    SUPPORTED_PROTOCOL_VERSIONS,
};

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

/// The `initialize` request asking for `options.protocol_version` (the latest revision
/// with `initialize` when it is `auto`), with id [`INITIALIZE_ID`].
pub(super) fn initialize_request(options: &SessionOptions) -> Vec<u8> {
    let version = if options.protocol_version == AUTO_PROTOCOL_VERSION {
        LATEST_LEGACY_PROTOCOL_VERSION
    } else {
        options.protocol_version.as_str()
    };
    let params = json!({
        "protocolVersion": version,
        "capabilities": {},
        "clientInfo": { "name": CLIENT_NAME, "version": env!("CARGO_PKG_VERSION") },
    });
    RequestTemplate::new("initialize", Some(&params)).body(INITIALIZE_ID)
}

/// The `server/discover` request (id [`INITIALIZE_ID`]) and its template, whose HTTP
/// headers the transport sends.
pub(super) fn discover_template() -> RequestTemplate {
    RequestTemplate::modern("server/discover", None, None)
}

#[derive(Deserialize)]
struct DiscoverResponse {
    result: DiscoverResult,
}

#[derive(Deserialize)]
struct DiscoverResult {
    #[serde(rename = "supportedVersions")]
    supported_versions: Vec<String>,
}

/// Checks the answer to `server/discover` sent to `endpoint`: a result whose
/// `supportedVersions` names 2026-07-28.
pub(super) fn discovered(endpoint: &str, message: &[u8]) -> Result<(), SessionError> {
    let discover_error = |class, detail| SessionError::Discover {
        url: endpoint.to_string(),
        class,
        detail,
    };
    if let Some(Outcome::Failed(class)) = classify_message(message, INITIALIZE_ID) {
        let detail = String::from_utf8_lossy(message).chars().take(200).collect();
        return Err(discover_error(class, Some(detail)));
    }
    let found: DiscoverResponse = serde_json::from_slice(message).map_err(|e| {
        discover_error(
            ErrorClass::Protocol(ProtocolViolation::MissingResult),
            Some(e.to_string()),
        )
    })?;
    if !found
        .result
        .supported_versions
        .iter()
        .any(|v| v == MODERN_PROTOCOL_VERSION)
    {
        return Err(SessionError::UnsupportedVersion {
            url: endpoint.to_string(),
            version: found.result.supported_versions.join(", "),
        });
    }
    Ok(())
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
    use serde_json::Value;

    #[test]
    fn accepts_a_supported_version_only() {
        let ok = br#"{"jsonrpc":"2.0","id":0,"result":{"protocolVersion":"2025-03-26"}}"#;
        assert_eq!(negotiated_version("x", ok).unwrap(), "2025-03-26");
        let old = br#"{"jsonrpc":"2.0","id":0,"result":{"protocolVersion":"2024-01-01"}}"#;
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

    #[test]
    fn discover_asks_with_its_metadata_and_needs_the_modern_revision() {
        let body: Value = serde_json::from_slice(&discover_template().body(INITIALIZE_ID)).unwrap();
        assert_eq!(body["method"], "server/discover");
        assert_eq!(
            body["params"]["_meta"]["io.modelcontextprotocol/protocolVersion"],
            "2026-07-28"
        );
        let modern = br#"{"jsonrpc":"2.0","id":0,"result":{"resultType":"complete","supportedVersions":["2025-11-25","2026-07-28"],"capabilities":{}}}"#;
        assert!(discovered("x", modern).is_ok());
        let older = br#"{"jsonrpc":"2.0","id":0,"result":{"supportedVersions":["2025-11-25"]}}"#;
        assert!(matches!(
            discovered("x", older),
            Err(SessionError::UnsupportedVersion { .. })
        ));
        let unknown = br#"{"jsonrpc":"2.0","id":0,"error":{"code":-32601,"message":"no"}}"#;
        assert!(matches!(
            discovered("x", unknown),
            Err(SessionError::Discover {
                class: ErrorClass::JsonRpc(-32601),
                ..
            })
        ));
    }

    #[test]
    fn auto_initializes_with_the_latest_revision_that_has_initialize() {
        let options = SessionOptions {
            protocol_version: AUTO_PROTOCOL_VERSION.into(),
            ..SessionOptions::default()
        };
        let body: Value = serde_json::from_slice(&initialize_request(&options)).unwrap();
        assert_eq!(body["params"]["protocolVersion"], "2025-11-25");
    }
}
