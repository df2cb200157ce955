//! The MCP server handler: tools, resources and prompts, each request wrapped
//! in fault injection and metrics.
//!
//! rmcp spawns one task per incoming request (also within one session), so a
//! delay injected here holds only that request, never its session.

use std::{
    future::Future,
    sync::Arc,
    time::{Duration, Instant},
};

use rmcp::{
    ErrorData, RoleServer, ServerHandler,
    handler::server::{router::tool::ToolRouter, tool::ToolCallContext, wrapper::Parameters},
    model::{
        CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock,
        GetPromptRequestParams, GetPromptResponse, GetPromptResult, Implementation,
        InitializeRequestParams, InitializeResult, ListPromptsResult, ListResourceTemplatesResult,
        ListResourcesResult, ListToolsResult, PaginatedRequestParams, Prompt, PromptArgument,
        PromptMessage, ProtocolVersion, ReadResourceRequestParams, ReadResourceResponse,
        ReadResourceResult, Resource, ResourceContents, Role, ServerCapabilities, ServerConfig,
    },
    service::RequestContext,
    tool, tool_router,
};

use crate::{
    faults::Faults,
    metrics::{Metrics, Outcome},
    tools::{self, CalculatorArgs, FileReadArgs, ServedDir},
};

/// The server's name in `initialize` results and `ref://status`.
pub const SERVER_NAME: &str = "erlmcp-refserver";
/// URI of the status resource.
pub const STATUS_URI: &str = "ref://status";
/// URI of the readme resource.
pub const README_URI: &str = "ref://readme";
/// Name of the prompt.
pub const GREETING_PROMPT: &str = "greeting";
/// Message of an injected JSON-RPC error (code -32603).
pub const INJECTED_FAULT: &str = "injected fault";

const README: &str = "erlmcp-refserver: the reference MCP server of erlmcp-perf.\n\
Tools: calculator (a, b, op = add|sub|mul|div) and file_read (path, relative to the served directory).\n\
Resources: ref://status (JSON: name, version, uptime) and ref://readme (this text).\n\
Prompts: greeting (name, optional).\n";

/// State shared by every session's handler.
#[derive(Debug)]
struct Shared {
    faults: Faults,
    /// The `overload` fault's count of the current second and the end of its freeze.
    overload: std::sync::Mutex<OverloadState>,
    started: Instant,
    served: ServedDir,
    metrics: Arc<Metrics>,
    /// What the `leak` fault kept: never freed while the server runs.
    leaked: std::sync::Mutex<Vec<Box<[u8]>>>,
}

/// The `overload` fault's state: requests counted in the current second of server time,
/// and when the freeze an overloaded second started ends.
#[derive(Debug, Default)]
struct OverloadState {
    second: u64,
    requests: u64,
    frozen_until: Option<Instant>,
}

impl OverloadState {
    /// Counts a request arriving at `now` (in second `second` of server time) and returns
    /// how long it must wait for the server to thaw.
    fn count(&mut self, second: u64, now: Instant, overload: crate::faults::Overload) -> Duration {
        if second != self.second {
            self.second = second;
            self.requests = 0;
        }
        self.requests += 1;
        if self.requests > overload.limit {
            self.frozen_until = Some(now + overload.freeze);
        }
        self.frozen_until
            .map_or(Duration::ZERO, |until| until.saturating_duration_since(now))
    }
}

/// The reference MCP server; cheap to clone (one clone per session).
#[derive(Debug, Clone)]
pub struct RefServer {
    shared: Arc<Shared>,
    tool_router: Arc<ToolRouter<RefServer>>,
    /// Whether the `sleep` tool is offered.
    agent_tools: bool,
}

/// Name of the tool that waits `ms` milliseconds and stops when cancelled.
pub const SLEEP_TOOL: &str = "sleep";
/// Name of the tool that asks the client to sample a message before it answers.
pub const ASK_TOOL: &str = "ask";
/// A resource that is never read but can be subscribed to (with `--agent-tools`): its
/// update notifications come every [`CLOCK_TICK`], stamped with their send time.
pub const CLOCK_URI: &str = "ref://clock";
/// How often `ref://clock` notifies its subscribers.
pub const CLOCK_TICK: Duration = Duration::from_millis(100);
/// The `_meta` key of a clock notification's send time, microseconds since the Unix epoch.
pub const SENT_AT_KEY: &str = "erlmcp-perf/sentAtUs";

/// `notifications/resources/updated` for `ref://clock`, stamped now.
fn clock_update() -> rmcp::model::ResourceUpdatedNotificationParam {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64);
    let mut meta = serde_json::Map::new();
    meta.insert(SENT_AT_KEY.into(), now.into());
    let mut update = rmcp::model::ResourceUpdatedNotificationParam::new(CLOCK_URI);
    update.meta = Some(meta.into());
    update
}

/// The key of the `ask` tool's one input request (2026-07-28).
const ASK_KEY: &str = "sample";

/// Counts a `sleep` that did not finish (its future dropped: cancelled, or the client
/// went away) as cancelled work.
struct CancelledUnlessDone<'a> {
    metrics: &'a Metrics,
    started: Instant,
    done: bool,
}

impl Drop for CancelledUnlessDone<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.metrics
                .record("tools/call", Outcome::Cancelled, self.started.elapsed());
        }
    }
}

impl RefServer {
    /// A server serving files from `served`, injecting `faults` (with stall
    /// windows counted from `started`) and counting into `metrics`.
    pub fn new(faults: Faults, served: ServedDir, metrics: Arc<Metrics>, started: Instant) -> Self {
        Self {
            shared: Arc::new(Shared {
                faults,
                overload: Default::default(),
                started,
                served,
                metrics,
                leaked: Default::default(),
            }),
            tool_router: Arc::new(Self::tool_router()),
            agent_tools: false,
        }
    }

    /// The same server, offering the `sleep` tool when `on`.
    pub fn with_agent_tools(mut self, on: bool) -> Self {
        self.agent_tools = on;
        self
    }

    fn ask_tool() -> rmcp::model::Tool {
        let serde_json::Value::Object(schema) = serde_json::json!({"type": "object"}) else {
            unreachable!("a JSON object")
        };
        rmcp::model::Tool::new(
            ASK_TOOL,
            "Ask the client to sample a message (sampling/createMessage before 2026-07-28, an input_required result in 2026-07-28) and answer with its text",
            Arc::new(schema),
        )
    }

    /// `ask`: a server round trip. Before 2026-07-28 a `sampling/createMessage` request to
    /// the client, answered with its text; in 2026-07-28 an `input_required` result, and
    /// on the retry that carries the sampled message, its text.
    #[expect(
        deprecated,
        reason = "sampling (SEP-2577 deprecates it) is what servers of the revisions that have it send"
    )]
    async fn ask(
        &self,
        request: &CallToolRequestParams,
        context: &RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        use rmcp::model::{
            CreateMessageRequest, CreateMessageRequestParams, InputRequest, InputRequests,
            InputRequiredResult, SamplingMessage,
        };
        let started = Instant::now();
        let params = || {
            CreateMessageRequestParams::new(
                vec![SamplingMessage::user_text("A word for erlmcp-perf, please")],
                16,
            )
        };
        let modern = context
            .protocol_version()
            .is_some_and(|v| v.as_str() >= ProtocolVersion::V_2026_07_28.as_str());
        let answer = if modern {
            match request
                .input_responses
                .as_ref()
                .and_then(|r| r.get(ASK_KEY))
            {
                Some(answer) => answer.clone(),
                None => {
                    let mut requests = InputRequests::new();
                    requests.insert(
                        ASK_KEY.into(),
                        InputRequest::CreateMessage(CreateMessageRequest::new(params())),
                    );
                    let result = InputRequiredResult::new(Some(requests), Some(ASK_TOOL.into()));
                    self.shared
                        .metrics
                        .record("tools/call", Outcome::Ok, started.elapsed());
                    return Ok(CallToolResponse::InputRequired(result));
                }
            }
        } else {
            let sampled = context.peer.create_message(params()).await;
            let sampled = sampled.map_err(|e| {
                self.shared
                    .metrics
                    .record("tools/call", Outcome::Error, started.elapsed());
                ErrorData::internal_error(format!("sampling failed: {e}"), None)
            })?;
            serde_json::to_value(&sampled.message).unwrap_or_default()
        };
        let text = answer
            .pointer("/content/text")
            .or_else(|| answer.pointer("/message/content/text"))
            .and_then(serde_json::Value::as_str)
            .unwrap_or("(no text)")
            .to_string();
        self.shared
            .metrics
            .record("tools/call", Outcome::Ok, started.elapsed());
        Ok(CallToolResponse::Complete(CallToolResult::success(vec![
            ContentBlock::text(text),
        ])))
    }

    fn sleep_tool() -> rmcp::model::Tool {
        let schema = serde_json::json!({
            "type": "object",
            "properties": {"ms": {"type": "integer", "minimum": 0, "description": "how long, ms"}},
        });
        let serde_json::Value::Object(schema) = schema else {
            unreachable!("a JSON object")
        };
        rmcp::model::Tool::new(
            SLEEP_TOOL,
            "Wait ms milliseconds; stops when the request is cancelled",
            Arc::new(schema),
        )
    }

    /// `sleep`: waits, or stops when the client cancels (the work is counted as cancelled
    /// either way it stops early: cancelled, or its future dropped).
    async fn sleep(
        &self,
        request: &CallToolRequestParams,
        context: &RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let ms = request
            .arguments
            .as_ref()
            .and_then(|a| a.get("ms"))
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(100);
        let mut guard = CancelledUnlessDone {
            metrics: &self.shared.metrics,
            started: Instant::now(),
            done: false,
        };
        tokio::select! {
            () = sleep(Duration::from_millis(ms)) => {}
            () = context.ct.cancelled() => {
                return Err(ErrorData::new(rmcp::model::ErrorCode(-32800), "request cancelled", None));
            }
        }
        guard.done = true;
        self.shared
            .metrics
            .record("tools/call", Outcome::Ok, guard.started.elapsed());
        Ok(CallToolResponse::Complete(CallToolResult::success(vec![
            ContentBlock::text(format!("slept {ms} ms")),
        ])))
    }

    /// Run `work` as the handling of one `method` request: hold it through a
    /// stall, delay it, maybe replace it with an injected error, hold the
    /// result through a stall, and count it.
    async fn instrumented<T>(
        &self,
        method: &'static str,
        tool: Option<&str>,
        work: impl Future<Output = Result<T, ErrorData>>,
        outcome: impl FnOnce(&T) -> Outcome,
    ) -> Result<T, ErrorData> {
        let started = Instant::now();
        let result = self.faulted(tool, work).await;
        let outcome = result.as_ref().map_or(Outcome::Error, outcome);
        self.shared
            .metrics
            .record(method, outcome, started.elapsed());
        result
    }

    async fn faulted<T>(
        &self,
        tool: Option<&str>,
        work: impl Future<Output = Result<T, ErrorData>>,
    ) -> Result<T, ErrorData> {
        let faults = &self.shared.faults;
        if faults.is_none() {
            return work.await;
        }
        self.hold_for_overload().await;
        self.hold_for_stall().await;
        sleep(faults.sample_delay(tool)).await;
        if faults.sample_error() {
            return Err(ErrorData::internal_error(INJECTED_FAULT, None));
        }
        faults.spin();
        if faults.leak > 0 {
            // Written, not only reserved, so the pages count in the resident set.
            let kept = vec![0xA5u8; faults.leak as usize].into_boxed_slice();
            self.shared
                .leaked
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(kept);
        }
        let result = work.await;
        self.hold_for_stall().await;
        result
    }

    /// Counts this request against the `overload` fault, and holds it while the server
    /// is frozen.
    async fn hold_for_overload(&self) {
        let Some(overload) = self.shared.faults.overload else {
            return;
        };
        let now = Instant::now();
        let wait = {
            let mut state = self
                .shared
                .overload
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            state.count(
                now.duration_since(self.shared.started).as_secs(),
                now,
                overload,
            )
        };
        sleep(wait).await;
    }

    async fn hold_for_stall(&self) {
        sleep(self.shared.faults.stall_wait(self.shared.started.elapsed())).await;
    }

    fn status_json(&self) -> String {
        serde_json::json!({
            "name": SERVER_NAME,
            "version": env!("CARGO_PKG_VERSION"),
            "uptime_seconds": self.shared.started.elapsed().as_secs_f64(),
            "faults": self.shared.faults.to_string(),
        })
        .to_string()
    }

    fn resources() -> Vec<Resource> {
        vec![
            Resource::new(STATUS_URI, "status")
                .with_description("Server name, version, uptime and injected faults")
                .with_mime_type("application/json"),
            Resource::new(README_URI, "readme")
                .with_description("What this server offers")
                .with_mime_type("text/plain")
                .with_size(README.len() as u64),
        ]
    }

    fn read(&self, uri: &str) -> Result<ReadResourceResult, ErrorData> {
        let contents = match uri {
            STATUS_URI => {
                ResourceContents::text(self.status_json(), uri).with_mime_type("application/json")
            }
            README_URI => ResourceContents::text(README, uri).with_mime_type("text/plain"),
            _ => {
                return Err(ErrorData::resource_not_found(
                    format!("resource not found: {uri}"),
                    Some(serde_json::json!({ "uri": uri })),
                ));
            }
        };
        Ok(ReadResourceResult::new(vec![contents]))
    }

    fn prompts() -> Vec<Prompt> {
        vec![Prompt::new(
            GREETING_PROMPT,
            Some("A greeting for someone"),
            Some(vec![
                PromptArgument::new("name")
                    .with_description("Who to greet (default: world)")
                    .with_required(false),
            ]),
        )]
    }

    fn prompt(request: &GetPromptRequestParams) -> Result<GetPromptResult, ErrorData> {
        if request.name != GREETING_PROMPT {
            return Err(ErrorData::invalid_params(
                format!("prompt not found: {}", request.name),
                None,
            ));
        }
        let name = match request.arguments.as_ref().and_then(|args| args.get("name")) {
            None | Some(serde_json::Value::Null) => "world",
            Some(serde_json::Value::String(name)) => name.as_str(),
            Some(_) => {
                return Err(ErrorData::invalid_params(
                    "prompt argument `name` must be a string",
                    None,
                ));
            }
        };
        Ok(GetPromptResult::new(vec![PromptMessage::new_text(
            Role::User,
            format!("Hello, {name}!"),
        )])
        .with_description("A greeting"))
    }
}

async fn sleep(duration: Duration) {
    crate::delay::precise_sleep(duration).await;
}

fn tool_outcome(response: &CallToolResponse) -> Outcome {
    match response {
        CallToolResponse::Complete(result) if result.is_error == Some(true) => Outcome::ToolError,
        _ => Outcome::Ok,
    }
}

#[tool_router]
impl RefServer {
    /// `calculator`: `a op b`, as text.
    #[tool(description = "Apply op (add, sub, mul or div) to the numbers a and b")]
    fn calculator(
        &self,
        Parameters(CalculatorArgs { a, b, op }): Parameters<CalculatorArgs>,
    ) -> CallToolResult {
        match tools::calculate(a, b, op) {
            Ok(value) => {
                CallToolResult::success(vec![ContentBlock::text(tools::format_number(value))])
            }
            Err(error) => CallToolResult::error(vec![ContentBlock::text(error.to_string())]),
        }
    }

    /// `file_read`: the text of a file in the served directory.
    #[tool(description = "Read a text file; path is relative to the served directory")]
    async fn file_read(
        &self,
        Parameters(FileReadArgs { path }): Parameters<FileReadArgs>,
    ) -> CallToolResult {
        match self.shared.served.read(&path).await {
            Ok(text) => CallToolResult::success(vec![ContentBlock::text(text)]),
            Err(error) => CallToolResult::error(vec![ContentBlock::text(error.to_string())]),
        }
    }
}

impl ServerHandler for RefServer {
    fn get_info(&self) -> ServerConfig {
        let capabilities = ServerCapabilities::builder()
            .enable_tools()
            .enable_resources();
        let capabilities = if self.agent_tools {
            capabilities
                .enable_resources_subscribe()
                .enable_prompts()
                .build()
        } else {
            capabilities.enable_prompts().build()
        };
        ServerConfig::new(capabilities)
            .with_server_info(Implementation::new(SERVER_NAME, env!("CARGO_PKG_VERSION")))
            .with_protocol_version(ProtocolVersion::LATEST_WITH_INITIALIZE)
            .with_instructions(README)
    }

    async fn initialize(
        &self,
        request: InitializeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<InitializeResult, ErrorData> {
        self.hold_for_overload().await;
        let started = Instant::now();
        context.peer.set_peer_info(request.clone());
        let result = self.negotiate_initialize(&request);
        let outcome = if result.is_ok() {
            Outcome::Ok
        } else {
            Outcome::Error
        };
        self.shared
            .metrics
            .record("initialize", outcome, started.elapsed());
        result
    }

    /// `resources/subscribe` to `ref://clock` (before 2026-07-28): its updates go to the
    /// session every [`CLOCK_TICK`] until the session ends.
    async fn subscribe(
        &self,
        request: rmcp::model::SubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        if !self.agent_tools || request.uri != CLOCK_URI {
            return Err(ErrorData::resource_not_found(
                format!("cannot subscribe to {}", request.uri),
                None,
            ));
        }
        let peer = context.peer.clone();
        tokio::spawn(async move {
            loop {
                sleep(CLOCK_TICK).await;
                if peer.is_transport_closed()
                    || peer.notify_resource_updated(clock_update()).await.is_err()
                {
                    break;
                }
            }
        });
        Ok(())
    }

    fn accepted_subscription_filter(
        &self,
        requested: &rmcp::model::SubscriptionFilter,
    ) -> Option<rmcp::model::SubscriptionFilter> {
        let wants_clock = requested
            .resource_subscriptions
            .as_ref()
            .is_some_and(|uris| uris.iter().any(|u| u == CLOCK_URI));
        (self.agent_tools && wants_clock).then(|| {
            let mut accepted = rmcp::model::SubscriptionFilter::new();
            accepted.resource_subscriptions = Some(vec![CLOCK_URI.to_string()]);
            accepted
        })
    }

    /// `subscriptions/listen` to `ref://clock` (2026-07-28): an update every
    /// [`CLOCK_TICK`] until the client ends the subscription.
    async fn listen(&self, context: rmcp::service::SubscriptionContext) -> Result<(), ErrorData> {
        loop {
            tokio::select! {
                () = context.cancelled() => return Ok(()),
                () = sleep(CLOCK_TICK) => {}
            }
            let update = rmcp::model::ServerNotification::ResourceUpdatedNotification(
                rmcp::model::ResourceUpdatedNotification::new(clock_update()),
            );
            if context.sink().send(update).await.is_err() {
                return Ok(());
            }
        }
    }

    async fn ping(&self, _context: RequestContext<RoleServer>) -> Result<(), ErrorData> {
        self.instrumented("ping", None, async { Ok(()) }, |_| Outcome::Ok)
            .await
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        self.instrumented(
            "tools/list",
            None,
            async {
                let mut tools = self.tool_router.list_all();
                if self.agent_tools {
                    tools.push(Self::sleep_tool());
                    tools.push(Self::ask_tool());
                }
                Ok(ListToolsResult::with_all_items(tools))
            },
            |_| Outcome::Ok,
        )
        .await
    }

    fn get_tool(&self, name: &str) -> Option<rmcp::model::Tool> {
        if self.agent_tools && name == SLEEP_TOOL {
            return Some(Self::sleep_tool());
        }
        if self.agent_tools && name == ASK_TOOL {
            return Some(Self::ask_tool());
        }
        self.tool_router.get(name).cloned()
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        if self.agent_tools && request.name == SLEEP_TOOL {
            return self.sleep(&request, &context).await;
        }
        if self.agent_tools && request.name == ASK_TOOL {
            return self.ask(&request, &context).await;
        }
        let tool = request.name.clone();
        self.instrumented(
            "tools/call",
            Some(&tool),
            self.tool_router
                .call(ToolCallContext::new(self, request, context)),
            tool_outcome,
        )
        .await
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        self.instrumented(
            "resources/list",
            None,
            async { Ok(ListResourcesResult::with_all_items(Self::resources())) },
            |_| Outcome::Ok,
        )
        .await
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        self.instrumented(
            "resources/templates/list",
            None,
            async { Ok(ListResourceTemplatesResult::default()) },
            |_| Outcome::Ok,
        )
        .await
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        self.instrumented(
            "resources/read",
            None,
            async { self.read(&request.uri).map(Into::into) },
            |_| Outcome::Ok,
        )
        .await
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        self.instrumented(
            "prompts/list",
            None,
            async { Ok(ListPromptsResult::with_all_items(Self::prompts())) },
            |_| Outcome::Ok,
        )
        .await
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        self.instrumented(
            "prompts/get",
            None,
            async { Self::prompt(&request).map(Into::into) },
            |_| Outcome::Ok,
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::Overload;

    #[test]
    fn an_overloaded_second_freezes_every_request_until_the_freeze_ends() {
        let overload = Overload {
            limit: 3,
            freeze: Duration::from_secs(5),
        };
        let mut state = OverloadState::default();
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(state.count(0, t0, overload), Duration::ZERO);
        }
        // The fourth request of second 0 freezes the server for 5 s.
        assert_eq!(state.count(0, t0, overload), Duration::from_secs(5));
        // A request in a quiet later second still waits for the thaw ...
        let later = t0 + Duration::from_secs(2);
        assert_eq!(state.count(2, later, overload), Duration::from_secs(3));
        // ... and none waits once it has passed.
        let thawed = t0 + Duration::from_secs(6);
        assert_eq!(state.count(6, thawed, overload), Duration::ZERO);
    }

    fn server() -> (tempfile::TempDir, RefServer) {
        let dir = tempfile::tempdir().unwrap();
        let served = ServedDir::new(dir.path()).unwrap();
        let server = RefServer::new(
            Faults::default(),
            served,
            Arc::new(Metrics::new()),
            Instant::now(),
        );
        (dir, server)
    }

    fn text(result: &CallToolResult) -> &str {
        result.content[0]
            .as_text()
            .map(|t| t.text.as_str())
            .unwrap_or("")
    }

    #[test]
    fn calculator_tool_results() {
        let (_dir, server) = server();
        let call = |a: f64, b: f64, op| server.calculator(Parameters(CalculatorArgs { a, b, op }));
        let result = call(40.0, 2.0, tools::Op::Add);
        assert_eq!((text(&result), result.is_error), ("42", Some(false)));
        let result = call(1.0, 0.0, tools::Op::Div);
        assert_eq!(
            (text(&result), result.is_error),
            ("division by zero", Some(true))
        );
    }

    #[test]
    fn resources_and_prompts() {
        let (_dir, server) = server();
        let status = server.read(STATUS_URI).unwrap();
        let ResourceContents::TextResourceContents { text, .. } = &status.contents[0] else {
            panic!("status is text");
        };
        let status: serde_json::Value = serde_json::from_str(text).unwrap();
        assert_eq!(status["name"], SERVER_NAME);
        assert_eq!(status["faults"], "none");
        let error = server.read("ref://nope").unwrap_err();
        assert_eq!(error.code, rmcp::model::ErrorCode::RESOURCE_NOT_FOUND);

        let mut request = GetPromptRequestParams::new(GREETING_PROMPT);
        let greeting = RefServer::prompt(&request).unwrap();
        assert_eq!(
            greeting.messages[0].content.as_text().unwrap().text,
            "Hello, world!"
        );
        request = request.with_arguments(
            serde_json::json!({ "name": "Ada" })
                .as_object()
                .cloned()
                .unwrap(),
        );
        let greeting = RefServer::prompt(&request).unwrap();
        assert_eq!(
            greeting.messages[0].content.as_text().unwrap().text,
            "Hello, Ada!"
        );
        assert!(RefServer::prompt(&GetPromptRequestParams::new("other")).is_err());
    }
}
