//! References in a workflow step to values of earlier steps' results
//! (`${list.tools[0].name}`): parsed when the scenario is checked, resolved as the step is
//! sent.

use serde_json::Value;

/// A reference to a value of an earlier result: `${step.path}` or `${step.path | number}`.
#[derive(Debug, Clone, PartialEq)]
pub struct Reference {
    /// The step whose result is read.
    pub step: String,
    /// Keys and indices into that result.
    pub path: Vec<PathPart>,
    /// `| number`: a string such as `"42"` is sent as the number 42.
    pub as_number: bool,
}

/// One part of a reference's path.
#[derive(Debug, Clone, PartialEq)]
pub enum PathPart {
    Key(String),
    Index(usize),
}

/// Every reference in `value` (in its strings), or why one of them does not parse.
pub fn references(value: &Value) -> Result<Vec<Reference>, String> {
    let mut found = Vec::new();
    collect(value, &mut found)?;
    Ok(found)
}

fn collect(value: &Value, found: &mut Vec<Reference>) -> Result<(), String> {
    match value {
        Value::String(s) => {
            for piece in pieces(s)? {
                if let Piece::Ref(r) = piece {
                    found.push(r);
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                collect(item, found)?;
            }
        }
        Value::Object(map) => {
            for item in map.values() {
                collect(item, found)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// A string split into literal text and references.
enum Piece<'a> {
    Text(&'a str),
    Ref(Reference),
}

fn pieces(s: &str) -> Result<Vec<Piece<'_>>, String> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        if start > 0 {
            out.push(Piece::Text(&rest[..start]));
        }
        let inner = &rest[start + 2..];
        let end = inner
            .find('}')
            .ok_or_else(|| format!("`${{` without its closing `}}` in {s:?}"))?;
        out.push(Piece::Ref(parse_reference(&inner[..end])?));
        rest = &inner[end + 1..];
    }
    if !rest.is_empty() {
        out.push(Piece::Text(rest));
    }
    Ok(out)
}

fn parse_reference(text: &str) -> Result<Reference, String> {
    let (path, filter) = match text.split_once('|') {
        Some((path, filter)) => (path.trim(), Some(filter.trim())),
        None => (text.trim(), None),
    };
    let as_number = match filter {
        None => false,
        Some("number") => true,
        Some(other) => {
            return Err(format!(
                "unknown conversion `{other}` in `${{{text}}}`; known: number"
            ));
        }
    };
    let bad = |why: &str| format!("`${{{text}}}`: {why}");
    let mut parts = Vec::new();
    let mut chars = path.char_indices().peekable();
    let mut key = String::new();
    while let Some((_, c)) = chars.next() {
        match c {
            '.' => {
                if key.is_empty() {
                    return Err(bad("empty name in the path"));
                }
                parts.push(PathPart::Key(std::mem::take(&mut key)));
            }
            '[' => {
                if !key.is_empty() {
                    parts.push(PathPart::Key(std::mem::take(&mut key)));
                }
                let mut digits = String::new();
                loop {
                    match chars.next() {
                        Some((_, ']')) => break,
                        Some((_, d)) if d.is_ascii_digit() => digits.push(d),
                        _ => return Err(bad("an index is a number in brackets, as in [0]")),
                    }
                }
                let index = digits
                    .parse()
                    .map_err(|_| bad("an index is a number in brackets, as in [0]"))?;
                parts.push(PathPart::Index(index));
                if chars.peek().is_some_and(|(_, c)| *c == '.') {
                    chars.next();
                    if chars.peek().is_none() {
                        return Err(bad("the path ends with `.`"));
                    }
                }
            }
            c if c.is_whitespace() => return Err(bad("a path has no spaces")),
            c => key.push(c),
        }
    }
    if !key.is_empty() {
        parts.push(PathPart::Key(key));
    }
    let mut parts = parts.into_iter();
    let step = match parts.next() {
        Some(PathPart::Key(step)) => step,
        _ => return Err(bad("a reference starts with a step's name")),
    };
    Ok(Reference {
        step,
        path: parts.collect(),
        as_number,
    })
}

/// The results of a workflow's steps so far, by step name.
pub type Results = std::collections::HashMap<String, Value>;

/// `value` with every reference replaced from `results`: a string that is one reference
/// becomes the value it names (any JSON type); a reference inside text is written in as
/// text. `None` when a reference names a value the results do not have.
pub fn resolve(value: &Value, results: &Results) -> Option<Value> {
    Some(match value {
        Value::String(s) if s.contains("${") => {
            let pieces = pieces(s).ok()?;
            match pieces.as_slice() {
                [Piece::Ref(r)] => lookup(r, results)?,
                _ => {
                    let mut text = String::new();
                    for piece in &pieces {
                        match piece {
                            Piece::Text(t) => text.push_str(t),
                            Piece::Ref(r) => match lookup(r, results)? {
                                Value::String(s) => text.push_str(&s),
                                other => text.push_str(&other.to_string()),
                            },
                        }
                    }
                    Value::String(text)
                }
            }
        }
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| resolve(v, results))
                .collect::<Option<_>>()?,
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| Some((k.clone(), resolve(v, results)?)))
                .collect::<Option<_>>()?,
        ),
        other => other.clone(),
    })
}

fn lookup(r: &Reference, results: &Results) -> Option<Value> {
    let mut at = results.get(&r.step)?;
    for part in &r.path {
        at = match part {
            PathPart::Key(k) => at.get(k)?,
            PathPart::Index(i) => at.get(i)?,
        };
    }
    if r.as_number {
        return match at {
            Value::Number(_) => Some(at.clone()),
            Value::String(s) => serde_json::from_str::<serde_json::Number>(s.trim())
                .ok()
                .map(Value::Number),
            _ => None,
        };
    }
    Some(at.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn references_parse_with_keys_indices_and_conversion() {
        let found = references(&json!({"a": "${mul.content[0].text | number}", "b": 1})).unwrap();
        assert_eq!(
            found,
            vec![Reference {
                step: "mul".into(),
                path: vec![
                    PathPart::Key("content".into()),
                    PathPart::Index(0),
                    PathPart::Key("text".into())
                ],
                as_number: true,
            }]
        );
        assert!(references(&json!("${list.tools[x].name}")).is_err());
        assert!(references(&json!("${list.tools")).is_err());
        assert!(references(&json!("${x | upper}")).is_err());
        assert!(references(&json!("${[0]}")).is_err());
        assert!(references(&json!("plain")).unwrap().is_empty());
    }

    #[test]
    fn values_are_taken_from_earlier_results() {
        let mut results = Results::new();
        results.insert(
            "list".into(),
            json!({"tools": [{"name": "calculator"}, {"name": "file_read"}]}),
        );
        results.insert("mul".into(), json!({"content": [{"text": "42"}]}));
        let params = json!({
            "name": "${list.tools[1].name}",
            "arguments": {"a": "${mul.content[0].text | number}", "note": "got ${mul.content[0].text}!"}
        });
        assert_eq!(
            resolve(&params, &results),
            Some(json!({"name": "file_read", "arguments": {"a": 42, "note": "got 42!"}}))
        );
        assert_eq!(resolve(&json!("${list.tools[5].name}"), &results), None);
        assert_eq!(resolve(&json!("${list.tools[0] | number}"), &results), None);
        assert_eq!(resolve(&json!("${nothing}"), &results), None);
    }
}
