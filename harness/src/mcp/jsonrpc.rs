//! JSON-RPC framing: pre-serialised requests with only the id patched, and classification
//! of the messages that come back.

use serde::Deserialize;
use serde_json::Value;

use super::outcome::{ErrorClass, Outcome, ProtocolViolation};

/// A request serialised once; each send writes only its id.
#[derive(Debug, Clone)]
pub struct RequestTemplate {
    head: Vec<u8>,
    tail: Vec<u8>,
    /// HTTP header lines the request is sent with (`mcp-method: ...\r\n`), besides the
    /// session's; empty before 2026-07-28.
    headers: Vec<u8>,
    /// The method and params, for a request sent again with more in its params (a
    /// 2026-07-28 retry after `input_required`).
    method: Box<str>,
    params: Option<Value>,
}

impl RequestTemplate {
    /// Serialises `method` and `params` around an id placeholder.
    pub fn new(method: &str, params: Option<&Value>) -> Self {
        Self::serialise(method, params, Vec::new())
    }

    /// A 2026-07-28 request: `params` with the protocol's `_meta` added, sent over HTTP
    /// with `Mcp-Method` and, for a request that names a tool, prompt or resource, `Mcp-Name`
    /// (base64 in the specification's `=?base64?...?=` form when it is not plain ASCII).
    pub fn modern(method: &str, params: Option<&Value>, name: Option<&str>) -> Self {
        let mut params = params
            .cloned()
            .unwrap_or_else(|| Value::Object(Default::default()));
        if let Value::Object(map) = &mut params {
            map.insert("_meta".into(), super::meta::modern_meta());
        }
        let mut headers = format!("mcp-method: {method}\r\n");
        if let Some(name) = name {
            headers.push_str("mcp-name: ");
            headers.push_str(&header_value(name));
            headers.push_str("\r\n");
        }
        Self::serialise(method, Some(&params), headers.into_bytes())
    }

    /// The template of `op` in the generation `version` speaks.
    pub fn of(op: &super::Operation, version: &str) -> Self {
        if super::is_modern(version) {
            Self::modern(op.method(), op.params().as_ref(), op.header_name())
        } else {
            Self::new(op.method(), op.params().as_ref())
        }
    }

    /// A request of `method` with `params` built as it is sent (a workflow step that uses
    /// values of earlier results), in the generation `version` speaks; its `Mcp-Name` is
    /// the params' `name` (`tools/call`, `prompts/get`) or `uri` (`resources/read`).
    pub fn built(method: &str, params: Option<&Value>, version: &str) -> Self {
        if !super::is_modern(version) {
            return Self::new(method, params);
        }
        let key = match method {
            "tools/call" | "prompts/get" => Some("name"),
            "resources/read" => Some("uri"),
            _ => None,
        };
        let name = key.and_then(|k| params?.get(k)?.as_str());
        Self::modern(method, params, name)
    }

    /// The request's method.
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The request's params as sent.
    pub fn params(&self) -> Option<&Value> {
        self.params.as_ref()
    }

    /// HTTP header lines the request is sent with, besides the session's.
    pub fn headers(&self) -> &[u8] {
        &self.headers
    }

    fn serialise(method: &str, params: Option<&Value>, headers: Vec<u8>) -> Self {
        let head = br#"{"jsonrpc":"2.0","id":"#.to_vec();
        let mut tail = Vec::with_capacity(64);
        tail.extend_from_slice(br#","method":"#);
        // Serialising a &str or a Value into a Vec cannot fail.
        serde_json::to_writer(&mut tail, method).expect("method serialises");
        if let Some(params) = params {
            tail.extend_from_slice(br#","params":"#);
            serde_json::to_writer(&mut tail, params).expect("params serialise");
        }
        tail.push(b'}');
        Self {
            head,
            tail,
            headers,
            method: method.into(),
            params: params.cloned(),
        }
    }

    /// The request body with `id` written in.
    pub fn body(&self, id: u64) -> Vec<u8> {
        let mut body = Vec::with_capacity(self.body_len(id));
        self.write_to(id, &mut body);
        body
    }

    /// Length of the body with `id` written in.
    pub fn body_len(&self, id: u64) -> usize {
        self.head.len() + itoa::Buffer::new().format(id).len() + self.tail.len()
    }

    /// Appends the body with `id` written in to `out`.
    pub fn write_to(&self, id: u64, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.head);
        out.extend_from_slice(itoa::Buffer::new().format(id).as_bytes());
        out.extend_from_slice(&self.tail);
    }
}

/// `notifications/cancelled` for request `id`.
pub fn cancelled_notification(id: u64) -> Vec<u8> {
    format!(
        r#"{{"jsonrpc":"2.0","method":"notifications/cancelled","params":{{"requestId":{id},"reason":"cancelled by erlmcp-perf"}}}}"#
    )
    .into_bytes()
}

/// `value` as an HTTP header value: as it is when it is printable ASCII without leading or
/// trailing spaces, else `=?base64?<base64 of its UTF-8>?=`.
fn header_value(value: &str) -> String {
    use base64::Engine as _;
    let plain = !value.is_empty()
        && value.bytes().all(|b| (0x20..0x7f).contains(&b))
        && value.trim() == value
        && !value.starts_with("=?");
    if plain {
        value.to_string()
    } else {
        format!(
            "=?base64?{}?=",
            base64::engine::general_purpose::STANDARD.encode(value.as_bytes())
        )
    }
}

#[derive(Deserialize)]
struct Message {
    #[serde(default)]
    id: Option<Value>,
    /// Only its presence matters: skipped, never allocated.
    #[serde(default)]
    method: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    result: Option<ResultProbe>,
    #[serde(default)]
    error: Option<ErrorObject>,
}

#[derive(Deserialize)]
struct ResultProbe {
    #[serde(rename = "isError", default)]
    is_error: Option<bool>,
    /// 2026-07-28: `complete`, or `input_required` (the server needs an answer first);
    /// absent (older servers) means complete.
    #[serde(rename = "resultType", default)]
    result_type: Option<ResultType>,
}

#[derive(Deserialize, PartialEq)]
#[serde(rename_all = "snake_case")]
enum ResultType {
    Complete,
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
struct ErrorObject {
    code: i64,
}

/// Classifies one JSON-RPC message received for request `expected_id`.
///
/// Returns `None` for messages that are not the answer: notifications and requests from
/// the server, which may share a stream with the response. A response (a message with
/// `result` or `error`) for another id is a protocol violation.
pub fn classify_message(bytes: &[u8], expected_id: u64) -> Option<Outcome> {
    // Structs also deserialise from JSON arrays; a message must be an object.
    let is_object = bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
    let msg: Message = match serde_json::from_slice(bytes) {
        Ok(msg) if is_object => msg,
        Ok(_) => {
            return Some(Outcome::Failed(ErrorClass::Protocol(
                ProtocolViolation::BadJson,
            )));
        }
        Err(_) => {
            return Some(Outcome::Failed(ErrorClass::Protocol(
                ProtocolViolation::BadJson,
            )));
        }
    };
    if msg.method.is_some() {
        return None;
    }
    let id_matches = msg.id.as_ref().and_then(Value::as_u64) == Some(expected_id);
    let violation = |v| Some(Outcome::Failed(ErrorClass::Protocol(v)));
    match (msg.result, msg.error) {
        (_, Some(_)) | (Some(_), None) if !id_matches => violation(ProtocolViolation::WrongId),
        (_, Some(err)) => Some(Outcome::Failed(ErrorClass::JsonRpc(err.code))),
        (
            Some(ResultProbe {
                result_type: Some(ResultType::Other),
                ..
            }),
            None,
        ) => violation(ProtocolViolation::NotComplete),
        (
            Some(ResultProbe {
                is_error: Some(true),
                ..
            }),
            None,
        ) => Some(Outcome::Failed(ErrorClass::ToolError)),
        (Some(_), None) => Some(Outcome::Ok),
        (None, None) if id_matches => violation(ProtocolViolation::MissingResult),
        (None, None) => violation(ProtocolViolation::BadJson),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;
    use serde_json::json;

    #[test]
    fn template_patches_only_the_id() {
        let t = RequestTemplate::new("tools/call", Some(&json!({"name": "calculator"})));
        let body: Value = serde_json::from_slice(&t.body(42)).unwrap();
        assert_eq!(
            body,
            json!({"jsonrpc": "2.0", "id": 42, "method": "tools/call", "params": {"name": "calculator"}})
        );
        let body: Value =
            serde_json::from_slice(&RequestTemplate::new("ping", None).body(7)).unwrap();
        assert_eq!(body, json!({"jsonrpc": "2.0", "id": 7, "method": "ping"}));
    }

    #[test]
    fn a_modern_template_carries_meta_and_headers() {
        let op = crate::mcp::Operation::ToolCall {
            tool: "calculator".into(),
            arguments: json!({"a": 1}),
        };
        let t = RequestTemplate::of(&op, "2026-07-28");
        let body: Value = serde_json::from_slice(&t.body(3)).unwrap();
        assert_eq!(body["params"]["name"], "calculator");
        assert_eq!(
            body["params"]["_meta"]["io.modelcontextprotocol/clientInfo"]["name"],
            "erlmcp-perf"
        );
        assert_eq!(
            t.headers(),
            b"mcp-method: tools/call\r\nmcp-name: calculator\r\n"
        );
        let list = RequestTemplate::of(&crate::mcp::Operation::ToolList, "2026-07-28");
        assert_eq!(list.headers(), b"mcp-method: tools/list\r\n");
        let body: Value = serde_json::from_slice(&list.body(4)).unwrap();
        assert!(body["params"]["_meta"].is_object());
        let old = RequestTemplate::of(&op, "2025-06-18");
        assert!(old.headers().is_empty());
        assert_eq!(header_value("naïve"), "=?base64?bmHDr3Zl?=");
        assert_eq!(header_value(" x"), "=?base64?IHg=?=");
    }

    #[rstest]
    #[case::ok(r#"{"jsonrpc":"2.0","id":5,"result":{}}"#, Some(Outcome::Ok))]
    #[case::tool_ok(
        r#"{"jsonrpc":"2.0","id":5,"result":{"content":[],"isError":false}}"#,
        Some(Outcome::Ok)
    )]
    #[case::tool_error(
        r#"{"jsonrpc":"2.0","id":5,"result":{"content":[],"isError":true}}"#,
        Some(Outcome::Failed(ErrorClass::ToolError))
    )]
    #[case::rpc_error(r#"{"jsonrpc":"2.0","id":5,"error":{"code":-32603,"message":"x"}}"#, Some(Outcome::Failed(ErrorClass::JsonRpc(-32603))))]
    #[case::wrong_id(
        r#"{"jsonrpc":"2.0","id":6,"result":{}}"#,
        Some(Outcome::Failed(ErrorClass::Protocol(ProtocolViolation::WrongId)))
    )]
    #[case::wrong_id_error(
        r#"{"jsonrpc":"2.0","id":"5","error":{"code":1,"message":"x"}}"#,
        Some(Outcome::Failed(ErrorClass::Protocol(ProtocolViolation::WrongId)))
    )]
    #[case::missing_result(
        r#"{"jsonrpc":"2.0","id":5}"#,
        Some(Outcome::Failed(ErrorClass::Protocol(ProtocolViolation::MissingResult)))
    )]
    #[case::complete(
        r#"{"jsonrpc":"2.0","id":5,"result":{"resultType":"complete","content":[]}}"#,
        Some(Outcome::Ok)
    )]
    #[case::input_required(
        r#"{"jsonrpc":"2.0","id":5,"result":{"resultType":"input_required","requestState":"x"}}"#,
        Some(Outcome::Failed(ErrorClass::Protocol(ProtocolViolation::NotComplete)))
    )]
    #[case::garbage(
        "<html>oops</html>",
        Some(Outcome::Failed(ErrorClass::Protocol(ProtocolViolation::BadJson)))
    )]
    #[case::not_an_object(
        "[1,2]",
        Some(Outcome::Failed(ErrorClass::Protocol(ProtocolViolation::BadJson)))
    )]
    #[case::notification(
        r#"{"jsonrpc":"2.0","method":"notifications/progress","params":{}}"#,
        None
    )]
    #[case::server_request(r#"{"jsonrpc":"2.0","id":5,"method":"ping"}"#, None)]
    fn classifies(#[case] msg: &str, #[case] expected: Option<Outcome>) {
        assert_eq!(classify_message(msg.as_bytes(), 5), expected);
    }
}
