use std::path::Path;
use std::time::Duration;

use rstest::rstest;
use serde_json::json;

use super::*;

/// erlmcp's `tests/load/scenarios/realistic.yml`, verbatim from its performance guide.
const SEED_REALISTIC: &str = r#"# tests/load/scenarios/realistic.yml
scenario:
  name: "Realistic Mixed Load"

  # Match production traffic patterns
  phases:
    - name: "Morning Peak (8-10 AM)"
      duration: 120s
      rps: 15000

    - name: "Midday Steady (10 AM-4 PM)"
      duration: 300s
      rps: 10000

    - name: "Evening Peak (4-6 PM)"
      duration: 120s
      rps: 18000

    - name: "Night Low (6 PM-8 AM)"
      duration: 60s
      rps: 2000

  # Request mix (tool calls)
  requests:
    - type: "tool_call"
      tool: "calculator"
      weight: 40%

    - type: "tool_call"
      tool: "file_read"
      weight: 30%

    - type: "resource_list"
      weight: 20%

    - type: "prompt_list"
      weight: 10%
"#;

fn parse_str(text: &str) -> Result<Scenario, ScenarioError> {
    parse(text, Path::new("scenarios/test.yml"))
}

#[test]
fn seed_scenario_is_accepted_as_written() {
    let s = parse_str(SEED_REALISTIC).unwrap();
    assert_eq!(s.name, "Realistic Mixed Load");
    let phases: Vec<(&str, u64, f64)> = s
        .phases
        .iter()
        .map(|p| (p.name.as_str(), p.duration.as_secs(), p.rps))
        .collect();
    assert_eq!(
        phases,
        vec![
            ("Morning Peak (8-10 AM)", 120, 15000.0),
            ("Midday Steady (10 AM-4 PM)", 300, 10000.0),
            ("Evening Peak (4-6 PM)", 120, 18000.0),
            ("Night Low (6 PM-8 AM)", 60, 2000.0),
        ]
    );
    let mix: Vec<(String, f64)> = s
        .mix
        .iter()
        .map(|m| (m.operation.label(), m.weight))
        .collect();
    assert_eq!(
        mix,
        vec![
            ("tools/call:calculator".to_string(), 40.0),
            ("tools/call:file_read".to_string(), 30.0),
            ("resources/list".to_string(), 20.0),
            ("prompts/list".to_string(), 10.0),
        ]
    );
    // Defaults for what the seed does not say.
    assert_eq!(s.clients, DEFAULT_CLIENTS);
    assert_eq!(s.warmup, Duration::ZERO);
    assert_eq!(s.timeout, DEFAULT_TIMEOUT);
    assert_eq!(s.slo, Slo::default());
    assert_eq!(
        s.planned_requests(),
        120 * 15000 + 300 * 10000 + 120 * 18000 + 60 * 2000
    );
    // A tool call without arguments gets ones that work on the reference server.
    assert_eq!(
        s.mix[0].operation,
        Operation::ToolCall {
            tool: "calculator".into(),
            arguments: json!({"a": 6, "b": 7, "op": "mul"})
        }
    );
    assert_eq!(s.source.sha256.len(), 64);
}

#[test]
fn shipped_scenarios_parse() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let mut seen = Vec::new();
    for dir in [root.clone(), root.join("erlmcp")] {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                continue;
            }
            let s = load(&path).unwrap_or_else(|e| panic!("{e}"));
            assert!(s.planned_requests() > 0 || s.capacity.is_some());
            let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
            let sub = dir
                .strip_prefix(&root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            seen.push(if sub.is_empty() {
                stem
            } else {
                format!("{sub}/{stem}")
            });
        }
    }
    seen.sort();
    assert_eq!(
        seen,
        [
            "baseline",
            "capacity",
            "erlmcp/baseline",
            "erlmcp/realistic",
            "realistic",
            "soak",
            "warmup"
        ]
    );
}

#[test]
fn extensions_parse() {
    let s = parse_str(
        r#"
scenario:
  name: ext
  clients: 3
  warmup: 2s
  timeout: 750ms
  protocol_version: "2025-03-26"
  phases:
    - name: ramp
      duration: 10s
      rps: 100
      ramp_to: 300
  requests:
    - type: tool_call
      tool: calculator
      arguments: { a: 1, b: 0, op: div }
      weight: 50
    - type: resource_read
      uri: "ref://status"
      weight: 25%
    - type: prompt_get
      prompt: greeting
      arguments: { name: "erlmcp" }
      weight: 25%
  slo:
    p99: 20ms
    error_rate: 0.5%
    min_throughput: 95%
  gate:
    threshold: 12%
    metrics:
      p999: 25%
"#,
    )
    .unwrap();
    assert_eq!(s.clients, 3);
    assert_eq!(s.warmup, Duration::from_secs(2));
    assert_eq!(s.timeout, Duration::from_millis(750));
    assert_eq!(s.protocol_version, "2025-03-26");
    assert_eq!((s.phases[0].rps, s.phases[0].rps_end), (100.0, 300.0));
    assert_eq!(s.phases[0].planned_requests(), 2000);
    assert_eq!(
        s.mix[0].operation,
        Operation::ToolCall {
            tool: "calculator".into(),
            arguments: json!({"a": 1, "b": 0, "op": "div"})
        }
    );
    assert_eq!(
        s.mix[1].operation,
        Operation::ResourceRead {
            uri: "ref://status".into()
        }
    );
    assert_eq!(s.mix[2].operation.label(), "prompts/get:greeting");
    assert_eq!(s.slo.p99, Some(Duration::from_millis(20)));
    assert_eq!(s.slo.error_rate, Some(0.5));
    assert_eq!(s.slo.min_throughput, Some(95.0));
    assert_eq!(s.gate.of("p99"), 12.0);
    assert_eq!(s.gate.of("p999"), 25.0);
}

const GOOD: &str = "scenario:
  name: x
  phases:
    - name: a
      duration: 10s
      rps: 100
  requests:
    - type: ping
      weight: 100%
";

/// Each case: an edit of GOOD, then the line, field and a piece of the reason expected.
#[rstest]
#[case::unknown_top_key(("  name: x\n", "  name: x\n  colour: red\n"), 3, "scenario.colour", "unknown field `colour`")]
#[case::unknown_phase_key(("      rps: 100\n", "      rps: 100\n      burst: 5\n"), 7, "scenario.phases[0].burst", "unknown field `burst`")]
#[case::zero_duration(("duration: 10s", "duration: 0s"), 5, "scenario.phases[0].duration", "must be greater than zero")]
#[case::bad_duration(("duration: 10s", "duration: soon"), 5, "scenario.phases[0].duration", "invalid duration `soon`")]
#[case::negative_rate(("rps: 100", "rps: -5"), 6, "scenario.phases[0].rps", "must be greater than 0")]
#[case::rate_type(("rps: 100", "rps: lots"), 6, "scenario.phases[0].rps", "invalid type")]
#[case::unknown_type(("type: ping", "type: tool_dance"), 8, "scenario.requests[0].type", "unknown variant `tool_dance`")]
#[case::weights_sum(("weight: 100%", "weight: 60%"), 7, "scenario.requests", "weights must sum to 100%, they sum to 60%")]
#[case::bad_weight(("weight: 100%", "weight: heavy"), 9, "scenario.requests[0].weight", "invalid percentage `heavy`")]
#[case::tool_needs_name(("type: ping", "type: tool_call"), 8, "scenario.requests[0].tool", "needs `tool`")]
#[case::field_not_used(("type: ping", "type: ping\n      tool: calculator"), 9, "scenario.requests[0].tool", "not used by request type `ping`")]
#[case::gate_metric(("  name: x\n", "  name: x\n  gate:\n    metrics:\n      p42: 5%\n"), 5, "scenario.gate.metrics.p42", "unknown metric `p42`")]
#[case::zero_clients(("  name: x\n", "  name: x\n  clients: 0\n"), 3, "scenario.clients", "between 1 and")]
#[case::bad_version(("  name: x\n", "  name: x\n  protocol_version: \"1999-01-01\"\n"), 3, "scenario.protocol_version", "unsupported version")]
#[case::missing_phases(("  phases:\n    - name: a\n      duration: 10s\n      rps: 100\n", ""), 1, "scenario.phases", "at least one phase is required")]
#[case::wrong_type(("  name: x\n", "  name: [x]\n"), 2, "scenario.name", "invalid type: sequence, expected a string")]
#[case::negative_ramp(("rps: 100", "rps: 100\n      ramp_to: -5"), 7, "scenario.phases[0].ramp_to", "must be at least 0 and at most")]
#[case::zero_timeout(("  name: x\n", "  name: x\n  timeout: 0s\n"), 3, "scenario.timeout", "must be greater than zero")]
#[case::phase_not_a_mapping(("    - name: a\n      duration: 10s\n      rps: 100\n", "    - fast\n"), 4, "scenario.phases[0]", "invalid type: string \"fast\", expected a mapping")]
#[case::syntax(("weight: 100%\n", "weight: \"100%\n"), 10, "scenario.requests[0].weight", "found unexpected end of stream")]
fn bad_input_is_refused_with_line_and_field(
    #[case] edit: (&str, &str),
    #[case] line: usize,
    #[case] field: &str,
    #[case] reason: &str,
) {
    let text = GOOD.replacen(edit.0, edit.1, 1);
    assert_ne!(text, GOOD, "edit did not apply");
    let err = parse_str(&text).unwrap_err();
    let message = err.to_string();
    assert!(
        message.starts_with("invalid scenario scenarios/test.yml:"),
        "{message}"
    );
    let p = &err.problems[0];
    assert_eq!(p.line, Some(line), "{message}");
    assert_eq!(p.field, field, "{message}");
    assert!(p.reason.contains(reason), "{message}");
}

#[test]
fn every_problem_is_reported_at_once() {
    let text = GOOD
        .replace("duration: 10s", "duration: 0s")
        .replace("weight: 100%", "weight: 50%");
    let err = parse_str(&text).unwrap_err();
    assert_eq!(err.problems.len(), 2, "{err}");
    assert!(err.to_string().contains("2 problems"), "{err}");
}

#[test]
fn a_file_that_is_not_a_scenario_says_what_it_needs() {
    for (text, reason) in [
        ("", "missing field `scenario`"),
        ("- a\n- b\n", "invalid type: sequence, expected a mapping"),
        (
            "scenario: 5\n",
            "invalid type: integer `5`, expected a mapping",
        ),
    ] {
        let err = parse_str(text).unwrap_err();
        let message = err.to_string();
        assert!(message.contains(reason), "{text:?}: {message}");
        assert!(!message.contains("Raw"), "{text:?}: {message}");
    }
}

#[test]
fn unreadable_file_names_the_file() {
    let err = load(Path::new("/nonexistent/x.yml")).unwrap_err();
    assert!(
        err.to_string()
            .contains("/nonexistent/x.yml: failed to read"),
        "{err}"
    );
}

#[test]
fn scaling_shortens_phases_and_warmup() {
    let s = parse_str(SEED_REALISTIC).unwrap().scaled(0.1);
    assert_eq!(s.phases[0].duration, Duration::from_secs(12));
    assert_eq!(s.measured_duration(), Duration::from_secs(60));
}

const WORKFLOW: &str = r#"scenario:
  name: agents
  phases:
    - name: p
      duration: 2s
      rps: 10
  requests:
    - type: tool_list
      weight: 40%
  workflows:
    - name: turn
      weight: 60%
      steps:
        - name: list
          type: tool_list
        - name: mul
          type: tool_call
          tool: "${list.tools[0].name}"
          arguments: { a: 6, b: 7, op: mul }
          think: 10ms
        - name: add
          type: tool_call
          tool: calculator
          arguments: { a: "${mul.content[0].text | number}", b: 1, op: add }
          fan_out: 3
"#;

#[test]
fn workflows_are_weighted_with_requests_and_mark_what_they_use() {
    let s = parse_str(WORKFLOW).unwrap();
    assert_eq!(s.mix.len(), 2);
    let Operation::Workflow(w) = &s.mix[1].operation else {
        panic!("a workflow: {:?}", s.mix[1]);
    };
    assert_eq!(s.mix[1].weight, 60.0);
    assert_eq!(s.mix[1].operation.label(), "workflow:turn");
    let names: Vec<&str> = w.steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["list", "mul", "add"]);
    assert!(w.steps[0].referenced && w.steps[1].referenced && !w.steps[2].referenced);
    assert!(!w.steps[0].dynamic && w.steps[1].dynamic && w.steps[2].dynamic);
    assert_eq!(w.steps[1].think, Duration::from_millis(10));
    assert_eq!(w.steps[2].fan_out, 3);
    assert_eq!(
        w.step_labels().collect::<Vec<_>>(),
        ["turn/list", "turn/mul", "turn/add"]
    );
}

#[rstest]
#[case::unknown_step(
    "${nothing.tools[0].name}",
    "1",
    "scenario.workflows[0].steps[1].tool",
    "refers to step `nothing`",
    14
)]
#[case::later_step(
    "${add.x}",
    "1",
    "scenario.workflows[0].steps[1].tool",
    "not an earlier step",
    14
)]
#[case::fan_out_zero(
    "calculator",
    "0",
    "scenario.workflows[0].steps[1].fan_out",
    "must be from 1",
    15
)]
#[case::bad_path(
    "${list.tools[a]}",
    "1",
    "scenario.workflows[0].steps[1].tool",
    "an index is a number",
    14
)]
fn bad_workflow_steps_are_named(
    #[case] tool: &str,
    #[case] fan_out: &str,
    #[case] field: &str,
    #[case] reason: &str,
    #[case] line: usize,
) {
    let text = format!(
        "scenario:\n  name: w\n  phases:\n    - name: p\n      duration: 1s\n      rps: 1\n  workflows:\n    - name: w\n      weight: 100%\n      steps:\n        - name: list\n          type: tool_list\n        - type: tool_call\n          tool: \"{tool}\"\n          fan_out: {fan_out}\n        - name: add\n          type: tool_list\n"
    );
    let e = parse_str(&text).unwrap_err();
    let p = e
        .problems
        .iter()
        .find(|p| p.field == field)
        .unwrap_or_else(|| panic!("no problem at {field}: {e}"));
    assert!(p.reason.contains(reason), "{e}");
    assert_eq!(p.line, Some(line), "{e}");
}

#[test]
fn a_workflow_without_steps_is_refused() {
    let text = "scenario:\n  name: w\n  phases:\n    - name: p\n      duration: 1s\n      rps: 1\n  workflows:\n    - name: w\n      weight: 100%\n      steps: []\n";
    let e = parse_str(text).unwrap_err();
    assert_eq!(e.problems.len(), 1, "{e}");
    assert_eq!(e.problems[0].field, "scenario.workflows[0].steps");
    assert!(e.problems[0].reason.contains("at least one step"), "{e}");
    assert_eq!(e.problems[0].line, Some(10));
}

#[test]
fn headers_and_auth_are_checked_and_the_token_is_never_shown() {
    let text = "scenario:\n  name: h\n  phases:\n    - name: p\n      duration: 1s\n      rps: 1\n  requests:\n    - type: ping\n      weight: 100%\n  headers:\n    x-tenant: perf\n    Authorization: nope\n  auth:\n    bearer_env: ERLMCP_PERF_TEST_TOKEN_UNSET\n";
    let e = parse_str(text).unwrap_err();
    let fields: Vec<&str> = e.problems.iter().map(|p| p.field.as_str()).collect();
    assert_eq!(
        fields,
        ["scenario.headers.Authorization", "scenario.auth.bearer_env"],
        "{e}"
    );
    assert!(
        e.to_string()
            .contains("ERLMCP_PERF_TEST_TOKEN_UNSET is not set"),
        "{e}"
    );
    let auth = BearerAuth {
        env: "T".into(),
        token: "s3cret".into(),
    };
    assert!(!format!("{auth:?}").contains("s3cret"));
    assert!(!serde_json::to_string(&auth).unwrap().contains("s3cret"));
}
