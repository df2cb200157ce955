//! A minimal raw Streamable HTTP client for the end-to-end tests.

#![allow(dead_code)]

use reqwest::{
    StatusCode,
    header::{CONTENT_TYPE, HeaderMap},
};
use serde_json::{Value, json};

pub const SESSION_HEADER: &str = "mcp-session-id";
pub const VERSION_HEADER: &str = "mcp-protocol-version";

/// One HTTP answer to a POST: status, headers and the JSON-RPC reply if any.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub content_type: String,
    pub body: String,
    /// The JSON-RPC response or error (from a JSON body or the SSE stream).
    pub message: Option<Value>,
}

impl Reply {
    pub fn session(&self) -> Option<String> {
        self.headers
            .get(SESSION_HEADER)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
    }

    pub fn result(&self) -> &Value {
        let message = self.message.as_ref().expect("a JSON-RPC reply");
        assert!(
            message.get("error").is_none(),
            "unexpected error: {message}"
        );
        &message["result"]
    }

    pub fn error(&self) -> &Value {
        let message = self.message.as_ref().expect("a JSON-RPC reply");
        &message["error"]
    }

    /// The text of the first content block of a tools/call result.
    pub fn tool_text(&self) -> (&str, bool) {
        let result = self.result();
        (
            result["content"][0]["text"].as_str().unwrap_or_default(),
            result["isError"].as_bool().unwrap_or(false),
        )
    }
}

/// A client of one MCP endpoint, remembering the session and protocol version.
pub struct Client {
    pub http: reqwest::Client,
    pub url: String,
    pub session: Option<String>,
    pub version: Option<String>,
    next_id: u64,
}

impl Client {
    pub fn new(url: String) -> Self {
        Self {
            http: reqwest::Client::new(),
            url,
            session: None,
            version: None,
            next_id: 1,
        }
    }

    /// POST a raw JSON-RPC message with the session and version headers.
    pub async fn post(&self, body: &Value) -> Reply {
        let mut request = self
            .http
            .post(&self.url)
            .header(CONTENT_TYPE, "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(body.to_string());
        if let Some(session) = &self.session {
            request = request.header(SESSION_HEADER, session);
        }
        if let Some(version) = &self.version {
            request = request.header(VERSION_HEADER, version);
        }
        let response = request.send().await.expect("POST succeeds");
        read_reply(response).await
    }

    /// Send a request and return its reply.
    pub async fn request(&mut self, method: &str, params: Value) -> Reply {
        let id = self.next_id;
        self.next_id += 1;
        self.post(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))
            .await
    }

    /// `initialize` asking for `version`; remembers the session it gets.
    pub async fn initialize(&mut self, version: &str) -> Reply {
        let reply = self
            .request(
                "initialize",
                json!({
                    "protocolVersion": version,
                    "capabilities": {},
                    "clientInfo": {"name": "refserver-test", "version": "0"}
                }),
            )
            .await;
        self.session = reply.session();
        self.version = reply.message.as_ref().and_then(|message| {
            message["result"]["protocolVersion"]
                .as_str()
                .map(str::to_owned)
        });
        reply
    }

    pub async fn notify(&self, method: &str) -> Reply {
        self.post(&json!({"jsonrpc": "2.0", "method": method}))
            .await
    }

    pub async fn call_tool(&mut self, name: &str, arguments: Value) -> Reply {
        self.request("tools/call", json!({"name": name, "arguments": arguments}))
            .await
    }
}

pub async fn read_reply(response: reqwest::Response) -> Reply {
    let status = response.status();
    let headers = response.headers().clone();
    let content_type = headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = response.text().await.expect("body");
    let message = if content_type.starts_with("application/json") {
        serde_json::from_str(&body).ok()
    } else if content_type.starts_with("text/event-stream") {
        body.split('\n')
            .filter_map(|line| line.strip_prefix("data:"))
            .filter_map(|data| serde_json::from_str::<Value>(data.trim()).ok())
            .find(|message| message.get("result").is_some() || message.get("error").is_some())
    } else {
        None
    };
    Reply {
        status,
        headers,
        content_type,
        body,
        message,
    }
}
