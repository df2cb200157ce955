//! The server's own questions: requests it sends the client (sampling, elicitation, roots,
//! ping; before 2026-07-28) and `input_required` results (2026-07-28), answered by the
//! harness after the scenario's `server_requests.answer_after`, and the time of the first
//! such question of a request, so its end-to-end time can be told from its first answer.

use std::cell::Cell;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

tokio::task_local! {
    static FIRST: Cell<Option<Instant>>;
}

/// How the harness answers the server's questions, and how many it answered.
#[derive(Debug, Clone, Default)]
pub struct Answering {
    /// Wait before each answer (a user, a model or a UI taking their time).
    pub after: Duration,
    /// Questions answered, over the sessions that share this.
    pub answered: Arc<AtomicU64>,
}

impl Answering {
    /// Counts one answer.
    pub fn count(&self) {
        self.answered.fetch_add(1, Ordering::Relaxed);
    }

    /// Questions answered so far.
    pub fn answered(&self) -> u64 {
        self.answered.load(Ordering::Relaxed)
    }
}

/// The result the harness gives a server request of `method`; `None` for one it does not
/// serve (answered with -32601).
pub fn answer_for(method: &str) -> Option<Value> {
    Some(match method {
        "ping" => json!({}),
        "sampling/createMessage" => json!({
            "role": "assistant",
            "content": {"type": "text", "text": "erlmcp-perf"},
            "model": "erlmcp-perf",
            "stopReason": "endTurn"
        }),
        "elicitation/create" => json!({"action": "accept", "content": {}}),
        "roots/list" => json!({"roots": []}),
        _ => return None,
    })
}

/// The JSON-RPC response to server request `id` of `method`.
pub fn reply_to(id: &Value, method: &str) -> Vec<u8> {
    let reply = match answer_for(method) {
        Some(result) => json!({"jsonrpc": "2.0", "id": id, "result": result}),
        None => json!({"jsonrpc": "2.0", "id": id,
            "error": {"code": -32601, "message": "erlmcp-perf does not serve this request"}}),
    };
    reply.to_string().into_bytes()
}

/// `params` of a 2026-07-28 retry after the `input_required` result `result`: the first
/// request's `params` with `inputResponses` (an answer per input request) and the
/// `requestState` echoed; `None` if `result` asks for nothing the harness can answer.
pub fn retry_params(params: Option<&Value>, result: &Value) -> Option<Value> {
    let requests = result.get("inputRequests")?.as_object()?;
    let mut responses = serde_json::Map::new();
    for (key, request) in requests {
        let method = request.get("method")?.as_str()?;
        responses.insert(key.clone(), answer_for(method)?);
    }
    let mut params = params.cloned().unwrap_or_else(|| json!({}));
    let map = params.as_object_mut()?;
    map.insert("inputResponses".into(), Value::Object(responses));
    match result.get("requestState") {
        Some(state) => map.insert("requestState".into(), state.clone()),
        None => map.remove("requestState"),
    };
    Some(params)
}

/// Runs `request`, noting when the server first asked something of it.
pub async fn timing_first_question<F: Future>(request: F) -> (F::Output, Option<Instant>) {
    FIRST
        .scope(Cell::new(None), async {
            let output = request.await;
            (output, FIRST.with(Cell::get))
        })
        .await
}

/// Notes that the server asked the request being run a question now (the first time
/// counts).
pub fn asked() {
    let _ = FIRST.try_with(|first| {
        if first.get().is_none() {
            first.set(Some(Instant::now()));
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_retry_answers_every_input_request_and_echoes_the_state() {
        let result = json!({"resultType": "input_required", "requestState": "s1",
            "inputRequests": {"sample": {"method": "sampling/createMessage", "params": {}},
                              "ok": {"method": "elicitation/create", "params": {}}}});
        let params = json!({"name": "ask", "arguments": {}});
        let retry = retry_params(Some(&params), &result).unwrap();
        assert_eq!(retry["name"], "ask");
        assert_eq!(retry["requestState"], "s1");
        assert_eq!(retry["inputResponses"]["sample"]["model"], "erlmcp-perf");
        assert_eq!(retry["inputResponses"]["ok"]["action"], "accept");
        let unknown = json!({"inputRequests": {"x": {"method": "tasks/get"}}});
        assert_eq!(retry_params(Some(&params), &unknown), None);
        let reply: Value = serde_json::from_slice(&reply_to(&json!(7), "tools/list")).unwrap();
        assert_eq!(reply["error"]["code"], -32601);
    }

    #[tokio::test]
    async fn the_first_question_is_the_one_timed() {
        let ((), at) = timing_first_question(async {
            asked();
            tokio::time::sleep(Duration::from_millis(2)).await;
            asked();
        })
        .await;
        let first = at.expect("asked");
        assert!(first.elapsed() >= Duration::from_millis(2));
        assert_eq!(timing_first_question(async {}).await, ((), None));
        asked();
    }
}
