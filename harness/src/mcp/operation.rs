use serde::Serialize;
use serde_json::{Value, json};

/// One kind of MCP request the load mix sends.
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
        }
    }

    /// The name results are keyed by: the method, plus the tool or prompt where there is
    /// one (`tools/call:calculator`).
    pub fn label(&self) -> String {
        match self {
            Operation::ToolCall { tool, .. } => format!("tools/call:{tool}"),
            Operation::PromptGet { prompt, .. } => format!("prompts/get:{prompt}"),
            Operation::ResourceRead { uri } => format!("resources/read:{uri}"),
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
            | Operation::Ping => None,
        }
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
