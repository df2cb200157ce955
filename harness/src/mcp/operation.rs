use serde::Serialize;
use serde_json::{Value, json};

use std::time::Duration;

/// One kind of arrival the load mix sends: an MCP request, a new session, or a workflow.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Operation {
    /// `tools/call` of one tool with fixed arguments.
    ToolCall { tool: String, arguments: Value },
    /// `tools/list`.
    ToolList,
    /// `resources/list`.
    ResourceList,
    /// `resources/read` of one URI.
    ResourceRead { uri: String },
    /// `prompts/list`.
    PromptList,
    /// `prompts/get` of one prompt with fixed arguments.
    PromptGet { prompt: String, arguments: Value },
    /// `ping`.
    Ping,
    /// A new session: connect and `initialize` (or `server/discover`), measured as the
    /// operation; the session is closed after, unmeasured.
    SessionOpen,
    /// A sequence of requests in one session.
    Workflow(Box<Workflow>),
}

impl Operation {
    /// The JSON-RPC method name.
    pub fn method(&self) -> &'static str {
        match self {
            Operation::ToolCall { .. } => "tools/call",
            Operation::ToolList => "tools/list",
            Operation::ResourceList => "resources/list",
            Operation::ResourceRead { .. } => "resources/read",
            Operation::PromptList => "prompts/list",
            Operation::PromptGet { .. } => "prompts/get",
            Operation::Ping => "ping",
            Operation::SessionOpen => "initialize",
            Operation::Workflow(_) => "workflow",
        }
    }

    /// The name results are keyed by: the method, plus the tool or prompt where there is
    /// one (`tools/call:calculator`).
    pub fn label(&self) -> String {
        match self {
            Operation::ToolCall { tool, .. } => format!("tools/call:{tool}"),
            Operation::PromptGet { prompt, .. } => format!("prompts/get:{prompt}"),
            Operation::ResourceRead { uri } => format!("resources/read:{uri}"),
            Operation::SessionOpen => "session/open".to_string(),
            Operation::Workflow(w) => format!("workflow:{}", w.name),
            other => other.method().to_string(),
        }
    }

    /// What the 2026-07-28 `Mcp-Name` header carries: the tool, the prompt or the
    /// resource's URI; `None` for the other methods.
    pub fn header_name(&self) -> Option<&str> {
        match self {
            Operation::ToolCall { tool, .. } => Some(tool),
            Operation::PromptGet { prompt, .. } => Some(prompt),
            Operation::ResourceRead { uri } => Some(uri),
            _ => None,
        }
    }

    /// The JSON-RPC `params`, if the method takes any.
    pub fn params(&self) -> Option<Value> {
        match self {
            Operation::ToolCall { tool, arguments } => {
                Some(json!({ "name": tool, "arguments": arguments }))
            }
            Operation::ResourceRead { uri } => Some(json!({ "uri": uri })),
            Operation::PromptGet { prompt, arguments } => {
                Some(json!({ "name": prompt, "arguments": arguments }))
            }
            Operation::ToolList
            | Operation::ResourceList
            | Operation::PromptList
            | Operation::Ping
            | Operation::SessionOpen
            | Operation::Workflow(_) => None,
        }
    }
}

/// One workflow of a scenario: its steps run in order in one session.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Workflow {
    pub name: String,
    pub steps: Vec<Step>,
}

/// One step of a workflow.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Step {
    /// The step's name, unique in its workflow; later steps refer to its result by it.
    pub name: String,
    /// The request; its strings may hold references to earlier results.
    pub operation: Operation,
    /// Copies sent at once; the step ends when all have answered.
    pub fan_out: u32,
    /// Pause before the step is sent.
    #[serde(with = "crate::serde_duration")]
    pub think: Duration,
    /// Whether the request holds references (it is then built when the step is sent).
    pub dynamic: bool,
    /// Whether a later step refers to this step's result (so it is kept).
    pub referenced: bool,
}

impl Workflow {
    /// `name/step` for each step: how steps are keyed in records.
    pub fn step_labels(&self) -> impl Iterator<Item = String> + '_ {
        self.steps
            .iter()
            .map(move |s| format!("{}/{}", self.name, s.name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_name_the_tool_or_prompt() {
        let call = Operation::ToolCall {
            tool: "calculator".into(),
            arguments: json!({}),
        };
        assert_eq!(call.label(), "tools/call:calculator");
        assert_eq!(call.method(), "tools/call");
        assert_eq!(Operation::ResourceList.label(), "resources/list");
        let get = Operation::PromptGet {
            prompt: "greeting".into(),
            arguments: json!({}),
        };
        assert_eq!(get.label(), "prompts/get:greeting");
    }

    #[test]
    fn params_carry_name_and_arguments() {
        let call = Operation::ToolCall {
            tool: "calculator".into(),
            arguments: json!({"a": 1}),
        };
        assert_eq!(
            call.params(),
            Some(json!({"name": "calculator", "arguments": {"a": 1}}))
        );
        assert_eq!(Operation::PromptList.params(), None);
    }
}
