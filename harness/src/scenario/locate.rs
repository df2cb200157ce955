//! Finds the line of a key path (`scenario.phases[1].duration`) in block-style YAML, so
//! problems found after parsing still point at a line.

/// One step of a path into the document.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Step {
    Key(String),
    Index(usize),
}

/// A meaningful line, with `- key: v` split into a dash and a key one column pair further in.
struct Node<'a> {
    line: usize,
    indent: usize,
    dash: bool,
    text: &'a str,
}

fn nodes(source: &str) -> Vec<Node<'_>> {
    let mut out = Vec::new();
    for (i, raw) in source.lines().enumerate() {
        let mut text = raw.trim_start();
        let mut indent = raw.len() - text.len();
        if text.is_empty() || text.starts_with('#') {
            continue;
        }
        while let Some(rest) = text
            .strip_prefix('-')
            .filter(|r| r.is_empty() || r.starts_with(' '))
        {
            out.push(Node {
                line: i + 1,
                indent,
                dash: true,
                text: "-",
            });
            let trimmed = rest.trim_start();
            indent += 1 + (rest.len() - trimmed.len());
            text = trimmed;
        }
        if !text.is_empty() {
            out.push(Node {
                line: i + 1,
                indent,
                dash: false,
                text,
            });
        }
    }
    out
}

/// The 1-based line of the deepest node along `path` that exists in the document.
pub(crate) fn line_of(source: &str, path: &[Step]) -> Option<usize> {
    let nodes = nodes(source);
    let (mut from, mut to) = (0, nodes.len());
    let mut found = None;
    for step in path {
        let Some(indent) = nodes[from..to].iter().map(|n| n.indent).min() else {
            break;
        };
        let mut at_level = (from..to).filter(|&i| nodes[i].indent == indent);
        let hit = match step {
            Step::Key(key) => at_level.find(|&i| {
                let t = nodes[i].text;
                !nodes[i].dash
                    && (t
                        .strip_prefix(key.as_str())
                        .is_some_and(|r| r.starts_with(':'))
                        || t.strip_prefix(&format!("\"{key}\""))
                            .is_some_and(|r| r.starts_with(':')))
            }),
            Step::Index(n) => at_level.filter(|&i| nodes[i].dash).nth(*n),
        };
        let Some(hit) = hit else { break };
        found = Some(nodes[hit].line);
        from = hit + 1;
        to = (from..to)
            .find(|&i| nodes[i].indent <= indent)
            .unwrap_or(to);
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "scenario:\n  name: x\n  # comment\n  phases:\n    - name: a\n      duration: 1s\n      rps: 5\n\n    - name: b\n      duration: 0s\n      rps: 5\n  requests:\n    - type: ping\n      weight: 50%\n";

    fn path(steps: &[&str]) -> Vec<Step> {
        steps
            .iter()
            .map(|s| match s.parse::<usize>() {
                Ok(n) => Step::Index(n),
                Err(_) => Step::Key(s.to_string()),
            })
            .collect()
    }

    #[test]
    fn finds_keys_and_items() {
        let cases = [
            (&["scenario", "name"][..], 2),
            (&["scenario", "phases"], 4),
            (&["scenario", "phases", "0", "name"], 5),
            (&["scenario", "phases", "1"], 9),
            (&["scenario", "phases", "1", "duration"], 10),
            (&["scenario", "requests", "0", "weight"], 14),
        ];
        for (steps, line) in cases {
            assert_eq!(line_of(DOC, &path(steps)), Some(line), "{steps:?}");
        }
    }

    #[test]
    fn missing_steps_fall_back_to_the_deepest_found() {
        assert_eq!(
            line_of(DOC, &path(&["scenario", "phases", "1", "ramp_to"])),
            Some(9)
        );
        assert_eq!(line_of(DOC, &path(&["scenario", "phases", "7"])), Some(4));
        assert_eq!(line_of(DOC, &path(&["nothing"])), None);
    }

    #[test]
    fn keys_of_one_item_do_not_leak_into_the_next() {
        // phases[0] has no `ramp_to`; the search must not find phases[1]'s.
        let doc = "phases:\n  - name: a\n  - name: b\n    ramp_to: 3\n";
        assert_eq!(line_of(doc, &path(&["phases", "0", "ramp_to"])), Some(2));
        assert_eq!(line_of(doc, &path(&["phases", "1", "ramp_to"])), Some(4));
    }
}
