//! `workflows`: validated into [`Workflow`]s, every reference checked against the steps
//! before it.

use std::time::Duration;

use super::raw::{RawStep, RawWorkflow, RequestType};
use super::{Call, Validator};
use crate::mcp::{Operation, Step, Workflow, references};

/// Most copies one step may send at once.
pub const MAX_FAN_OUT: i64 = 1000;

impl Validator<'_> {
    /// Validates workflow `i`; `earlier` holds the names of the workflows before it.
    pub(super) fn workflow(
        &mut self,
        i: usize,
        raw: RawWorkflow,
        earlier: &[String],
    ) -> Option<Workflow> {
        let at = format!("scenario.workflows[{i}]");
        let name = raw.name.trim().to_string();
        if name.is_empty() {
            self.problem(format!("{at}.name"), "must not be empty");
        } else if earlier.contains(&name) {
            self.problem(
                format!("{at}.name"),
                format!("workflow `{name}` is defined twice"),
            );
        }
        if raw.steps.is_empty() {
            self.problem(format!("{at}.steps"), "a workflow needs at least one step");
            return None;
        }
        let mut steps: Vec<Step> = Vec::with_capacity(raw.steps.len());
        let mut complete = true;
        for (j, step) in raw.steps.into_iter().enumerate() {
            match self.step(&format!("{at}.steps[{j}]"), j, step, &mut steps) {
                Some(step) => steps.push(step),
                None => complete = false,
            }
        }
        (complete && !name.is_empty()).then_some(Workflow { name, steps })
    }

    /// Validates one step; `before` are the steps ahead of it (their results are the only
    /// ones it may use, and it marks the ones it does).
    fn step(&mut self, at: &str, j: usize, raw: RawStep, before: &mut [Step]) -> Option<Step> {
        let name = raw
            .name
            .as_deref()
            .map(str::trim)
            .map_or_else(|| format!("step{}", j + 1), str::to_string);
        let mut ok = true;
        if name.is_empty() || name.contains(['.', '[', ']', '$', '{', '}', '/', ' ']) {
            self.problem(
                format!("{at}.name"),
                "a step's name is a plain word (letters, digits, `-` and `_`)",
            );
            ok = false;
        } else if before.iter().any(|s| s.name == name) {
            self.problem(
                format!("{at}.name"),
                format!("step `{name}` is named twice in this workflow"),
            );
            ok = false;
        }
        let fan_out = raw.fan_out.unwrap_or(1);
        if !(1..=MAX_FAN_OUT).contains(&fan_out) {
            self.problem(
                format!("{at}.fan_out"),
                format!("must be from 1 to {MAX_FAN_OUT}, got {fan_out}"),
            );
            ok = false;
        }
        if raw.kind == RequestType::SessionOpen {
            self.problem(
                format!("{at}.type"),
                "`session_open` is a request of its own, not a workflow step",
            );
            return None;
        }
        let call = Call {
            kind: raw.kind,
            tool: raw.tool,
            uri: raw.uri,
            prompt: raw.prompt,
            arguments: raw.arguments,
        };
        let operation = self.operation(at, call)?;
        let dynamic = self.check_references(at, &operation, before);
        let think = raw.think.map_or(Duration::ZERO, |d| d.0);
        (ok && dynamic.is_some()).then(|| Step {
            name,
            operation,
            fan_out: fan_out as u32,
            think,
            dynamic: dynamic.unwrap_or(false),
            referenced: false,
        })
    }

    /// Checks the references in `operation` against the steps `before` it and marks those
    /// it uses; whether it has any (`None` after a problem).
    fn check_references(
        &mut self,
        at: &str,
        operation: &Operation,
        before: &mut [Step],
    ) -> Option<bool> {
        let fields = match operation {
            Operation::ToolCall { tool, arguments } => {
                vec![
                    ("tool", serde_json::json!(tool)),
                    ("arguments", arguments.clone()),
                ]
            }
            Operation::PromptGet { prompt, arguments } => vec![
                ("prompt", serde_json::json!(prompt)),
                ("arguments", arguments.clone()),
            ],
            Operation::ResourceRead { uri } => vec![("uri", serde_json::json!(uri))],
            _ => return Some(false),
        };
        let mut ok = true;
        let mut any = false;
        for (field, value) in fields {
            let found = match references(&value) {
                Ok(found) => found,
                Err(why) => {
                    self.problem(format!("{at}.{field}"), why);
                    ok = false;
                    continue;
                }
            };
            any |= !found.is_empty();
            for r in &found {
                match before.iter_mut().find(|s| s.name == r.step) {
                    Some(step) => step.referenced = true,
                    None => {
                        let known: Vec<&str> = before.iter().map(|s| s.name.as_str()).collect();
                        let earlier = if known.is_empty() {
                            "it is the first step".to_string()
                        } else {
                            format!("earlier steps: {}", known.join(", "))
                        };
                        self.problem(
                            format!("{at}.{field}"),
                            format!(
                                "refers to step `{}`, which is not an earlier step of this workflow ({earlier})",
                                r.step
                            ),
                        );
                        ok = false;
                    }
                }
            }
        }
        ok.then_some(any)
    }
}
