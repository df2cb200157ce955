//! The harness's modules form layers, and this test keeps them so: every module of
//! `harness/src/` imports only top-level modules below its own in [`LAYERS`], and within a
//! top-level module no files import each other round a loop (a parent and its children
//! excepted: `mod.rs` declares and re-exports what its children build on). Imports are
//! the `crate::`, `super::` and `self::` paths of the code, comments and test modules
//! (`#[cfg(test)]` onwards, `tests.rs`) left out.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The top-level modules of `harness/src/`, bottom first: data flows up this list, from
/// the scenario file and the wire to the verdicts, the stored documents and the reports,
/// and the settings read from the environment at the very top. A new module goes here.
const LAYERS: &[&str] = &[
    // Leaves.
    "units",
    "serde_duration",
    "fsio",
    "machine",
    // The protocol, the scenario file, the load engine, the system under test.
    "mcp",
    "scenario",
    "load",
    "exposition",
    "observe",
    "sut",
    // Measurement, the receipted documents that keep it, then judgement over it.
    "record",
    "leak",
    "store",
    "slo",
    "gate",
    "capacity",
    "trend",
    // Reports, then the steps that run, sweep, gate and calibrate.
    "report",
    "run",
    "sweep",
    "check",
    "calibrate",
    "outcome",
    // Settings, read once by the CLI and the perf suite.
    "env",
];

/// A layering problem, in words that name the file and the import.
type Problem = String;

/// Every module file of `root` (a `src/` directory) and its code: module path (`mcp::http`)
/// to the text the check reads.
fn modules(root: &Path) -> BTreeMap<String, String> {
    fn walk(dir: &Path, prefix: &[String], out: &mut BTreeMap<String, String>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for path in entries {
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            if path.is_dir() {
                if name != "tests" {
                    let mut p = prefix.to_vec();
                    p.push(name);
                    walk(&path, &p, out);
                }
                continue;
            }
            if path.extension().is_none_or(|x| x != "rs") || name == "tests" {
                continue;
            }
            let mut module = prefix.to_vec();
            if name != "mod" && name != "lib" {
                module.push(name);
            }
            if module.is_empty() {
                continue; // lib.rs declares the modules
            }
            let text = std::fs::read_to_string(&path).unwrap();
            out.insert(module.join("::"), text);
        }
    }
    let mut out = BTreeMap::new();
    walk(root, &[], &mut out);
    out
}

/// The code of a file without comments and test modules.
fn code(text: &str) -> String {
    let body = text.split("#[cfg(test)]").next().unwrap_or("");
    body.lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `a::{b, c::{d, e}}` expanded to `a::b`, `a::c::d`, `a::c::e`.
fn expand(tree: &str) -> Vec<String> {
    let tree = tree.split_whitespace().collect::<Vec<_>>().join(" ");
    let Some(open) = tree.find('{') else {
        return vec![tree];
    };
    let prefix = tree[..open].trim();
    let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0usize, 0usize);
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                parts.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&inner[start..]);
    parts
        .into_iter()
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .flat_map(|p| expand(p).into_iter().map(move |x| format!("{prefix}{x}")))
        .collect()
}

/// The paths a file's code names: every item of its `use` trees and every other
/// `crate::`, `super::` or `self::` path.
fn paths(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = code;
    let mut others = String::new();
    while let Some(i) = rest.find("use ") {
        let before_ok = rest[..i]
            .chars()
            .last()
            .is_none_or(|c| !c.is_alphanumeric() && c != '_');
        others.push_str(&rest[..i]);
        let stmt = &rest[i + 4..];
        let end = stmt.find(';').unwrap_or(stmt.len());
        let tree = stmt[..end].trim();
        if before_ok
            && ["crate::", "super::", "self::"]
                .iter()
                .any(|r| tree.starts_with(r))
        {
            out.extend(
                expand(tree)
                    .into_iter()
                    .map(|p| p.split(" as ").next().unwrap_or(&p).to_string()),
            );
            rest = &stmt[end..];
        } else {
            others.push_str("use ");
            rest = stmt;
        }
    }
    others.push_str(rest);
    for root in ["crate::", "super::", "self::"] {
        let mut s = others.as_str();
        while let Some(i) = s.find(root) {
            let prev = s[..i].chars().last();
            let tail = &s[i..];
            let end = tail
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .unwrap_or(tail.len());
            if prev.is_none_or(|c| !c.is_alphanumeric() && c != '_' && c != ':') {
                out.push(tail[..end].trim_end_matches(':').to_string());
            }
            s = &tail[end.max(root.len())..];
        }
    }
    out
}

/// The module `path` (seen from `module`, whose file is a `mod.rs` when `is_dir`) names,
/// as the longest prefix that is a module of `known`.
fn resolve(module: &str, path: &str, known: &BTreeMap<String, String>) -> Option<String> {
    let mut segs: Vec<&str> = path.split("::").collect();
    let mut base: Vec<&str> = module.split("::").collect();
    match segs.first().copied() {
        Some("crate") => {
            base.clear();
            segs.remove(0);
        }
        Some("self") => {
            segs.remove(0);
        }
        Some("super") => {
            while segs.first() == Some(&"super") {
                segs.remove(0);
                base.pop();
            }
        }
        _ => return None,
    }
    let full: Vec<&str> = base.into_iter().chain(segs).collect();
    (1..=full.len())
        .rev()
        .map(|n| full[..n].join("::"))
        .find(|m| known.contains_key(m))
}

fn top(module: &str) -> &str {
    module.split("::").next().unwrap_or(module)
}

fn related(a: &str, b: &str) -> bool {
    a.starts_with(&format!("{b}::")) || b.starts_with(&format!("{a}::"))
}

/// Every layering problem of the modules `sources` (module path to file text).
fn problems(sources: &BTreeMap<String, String>, layers: &[&str]) -> Vec<Problem> {
    let rank: BTreeMap<&str, usize> = layers.iter().enumerate().map(|(i, m)| (*m, i)).collect();
    let mut out = Vec::new();
    let tops: BTreeSet<&str> = sources.keys().map(|m| top(m)).collect();
    for t in &tops {
        if !rank.contains_key(t) {
            out.push(format!(
                "module `{t}` is in no layer: add it to LAYERS in tests/harness/layers.rs"
            ));
        }
    }
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (module, text) in sources {
        for path in paths(&code(text)) {
            let Some(target) = resolve(module, &path, sources) else {
                continue;
            };
            if target == *module {
                continue;
            }
            let (from, to) = (top(module), top(&target));
            if from != to {
                if let (Some(a), Some(b)) = (rank.get(from), rank.get(to))
                    && b > a
                {
                    out.push(format!(
                        "`{module}` imports `{path}` of `{to}`, a higher layer than `{from}`"
                    ));
                }
            } else if !related(module, &target) {
                edges.entry(module.clone()).or_default().insert(target);
            }
        }
    }
    out.extend(loops(&edges));
    out
}

/// Each import loop among sibling files, once, as `a -> b -> a`.
fn loops(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<Problem> {
    let mut found = BTreeSet::new();
    for start in edges.keys() {
        // Depth-first from `start`, only through modules after it, so each loop is found
        // from its first module.
        let mut stack = vec![(start.clone(), vec![start.clone()])];
        while let Some((at, path)) = stack.pop() {
            for next in edges.get(&at).into_iter().flatten() {
                if next == start {
                    let mut cycle = path.clone();
                    cycle.push(start.clone());
                    found.insert(cycle.join(" -> "));
                } else if next > start && !path.contains(next) {
                    let mut p = path.clone();
                    p.push(next.clone());
                    stack.push((next.clone(), p));
                }
            }
        }
    }
    found
        .into_iter()
        .map(|c| format!("import loop: {c}"))
        .collect()
}

#[test]
fn every_module_imports_only_layers_below_it_and_no_loop() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("harness/src");
    let sources = modules(&root);
    assert!(sources.contains_key("load::engine"), "{:?}", sources.keys());
    for layer in LAYERS {
        assert!(
            sources.keys().any(|m| top(m) == *layer),
            "LAYERS names `{layer}`, which harness/src/ does not have"
        );
    }
    let problems = problems(&sources, LAYERS);
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

#[test]
fn the_guard_names_an_upward_import_a_loop_and_an_unlisted_module() {
    let files = |list: &[(&str, &str)]| -> BTreeMap<String, String> {
        list.iter()
            .map(|(m, t)| (m.to_string(), t.to_string()))
            .collect()
    };
    let layers = ["low", "high"];
    let clean = files(&[
        ("low", "pub struct A;"),
        ("low::x", "use super::y::B; // crate::high in a comment\n"),
        (
            "low::y",
            "pub struct B;\n#[cfg(test)]\nmod tests { use super::super::x; }",
        ),
        (
            "high",
            "use crate::{low::{self, x::C}, high::z};\nfn f() { crate::low::y::g() }",
        ),
        ("high::z", "use super::super::low::A;"),
    ]);
    assert!(
        problems(&clean, &layers).is_empty(),
        "{:?}",
        problems(&clean, &layers)
    );

    let mut upward = clean.clone();
    upward.insert(
        "low::x".into(),
        "fn f() { let _ = crate::high::z::h(); }".into(),
    );
    let p = problems(&upward, &layers);
    assert_eq!(
        p,
        ["`low::x` imports `crate::high::z::h` of `high`, a higher layer than `low`"]
    );

    let mut looped = clean.clone();
    looped.insert("low::y".into(), "use super::{x::B as _};".into());
    assert_eq!(
        problems(&looped, &layers),
        ["import loop: low::x -> low::y -> low::x"]
    );

    let mut unlisted = clean;
    unlisted.insert("other".into(), String::new());
    assert_eq!(
        problems(&unlisted, &layers),
        ["module `other` is in no layer: add it to LAYERS in tests/harness/layers.rs"]
    );
}
