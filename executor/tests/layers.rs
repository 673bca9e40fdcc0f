//! The executor's layering (`docs/architecture.md`, "Layers") holds: every
//! `crate::...` path (and every `super::` that climbs to the crate root) in
//! `executor/src/` points from a top-level module to one in a lower layer,
//! so the graph of top-level modules has no cycle. A new top-level module
//! must be given its layer here and in the document.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// The layers, bottom first. A module may use only modules of a lower
/// layer (and itself).
const LAYERS: &[(&str, &[&str])] = &[
    ("shim", &["loom"]),
    ("task core", &["task_core"]),
    (
        "runtime: scheduler, components (timer, blocking pool, lifecycle), entry points",
        &["runtime"],
    ),
    ("user API: time's futures", &["time"]),
    ("user API: structured concurrency", &["structured"]),
    (
        "user API: tasks (spawn fns re-exported, LocalSet, current)",
        &["task"],
    ),
    (
        "user API: sockets on the runtime's reactor (net; loom's net_model)",
        &["net", "net_model"],
    ),
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS
        .iter()
        .position(|(_, modules)| modules.contains(&module))
}

/// Removes `//` comments (doc comments included: an intra-doc link is not
/// a dependency) and `/* */` comments.
fn strip_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix("//") {
            rest = after.find('\n').map_or("", |i| &after[i..]);
        } else if let Some(after) = rest.strip_prefix("/*") {
            rest = after.find("*/").map_or("", |i| &after[i + 2..]);
        } else {
            let c = rest.chars().next().unwrap();
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    out
}

fn ident_at(s: &str) -> &str {
    let end = s
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    &s[..end]
}

/// The first identifier of each item of a `{a::b, c, d::{e, f}}` group
/// (`s` starts after the `{`).
fn group_heads(s: &str) -> Vec<String> {
    let mut heads = Vec::new();
    let mut depth = 0usize;
    let mut at_item_start = true;
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => break,
            '}' => depth -= 1,
            ',' if depth == 0 => at_item_start = true,
            c if c.is_whitespace() => {}
            _ if at_item_start && depth == 0 => {
                at_item_start = false;
                let ident = ident_at(&s[i..]);
                if !ident.is_empty() && ident != "self" {
                    heads.push(ident.to_string());
                }
            }
            _ => {}
        }
    }
    heads
}

/// The names right below the crate root that `code` refers to, given the
/// module path of the file (`["runtime", "scheduler"]` for
/// `runtime/scheduler/mod.rs`).
fn crate_level_refs(code: &str, module_path: &[String]) -> Vec<String> {
    let code = strip_comments(code);
    let mut refs = Vec::new();
    let heads_after = |rest: &str| -> Vec<String> {
        match rest.strip_prefix('{') {
            Some(group) => group_heads(group),
            None => {
                let ident = ident_at(rest);
                if ident.is_empty() {
                    Vec::new()
                } else {
                    vec![ident.to_string()]
                }
            }
        }
    };
    let bytes = code.as_bytes();
    let boundary = |i: usize| {
        i == 0
            || !(bytes[i - 1].is_ascii_alphanumeric()
                || bytes[i - 1] == b'_'
                || bytes[i - 1] == b'$')
    };
    for (i, _) in code.match_indices("crate::") {
        if boundary(i) {
            refs.extend(heads_after(&code[i + "crate::".len()..]));
        }
    }
    let mut i = 0;
    while let Some(found) = code[i..].find("super::") {
        let start = i + found;
        let mut rest = &code[start..];
        let mut climbs = 0;
        while let Some(r) = rest.strip_prefix("super::") {
            climbs += 1;
            rest = r;
        }
        if boundary(start) && climbs >= module_path.len() {
            refs.extend(heads_after(rest));
        }
        i = start + "super::".len() * climbs;
    }
    refs
}

/// The module path of a file under `src/`, and its top-level module.
fn module_path(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let file = parts.pop().unwrap();
    if file != "mod.rs" {
        parts.push(file.trim_end_matches(".rs").to_string());
    }
    parts
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// A cycle in `graph`, if there is one, as the list of its nodes.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(pos) = stack.iter().position(|n| n == node) {
            let mut cycle = stack[pos..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        stack.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, stack, done) {
                return Some(cycle);
            }
        }
        stack.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

/// The graph of top-level modules, with the file that makes each edge;
/// paths naming something that is not a top-level module (a root
/// re-export such as `crate::Runtime`) are returned as errors.
fn module_graph(src: &Path) -> (BTreeMap<String, BTreeSet<String>>, Vec<String>) {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let top: BTreeSet<String> = files
        .iter()
        .map(|f| module_path(f.strip_prefix(src).unwrap()))
        .filter(|p| !p.is_empty() && p[0] != "lib")
        .map(|p| p[0].clone())
        .collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> =
        top.iter().map(|m| (m.clone(), BTreeSet::new())).collect();
    let mut errors = Vec::new();
    for file in &files {
        let rel = file.strip_prefix(src).unwrap();
        let path = module_path(rel);
        if path == ["lib"] {
            continue; // the root: re-exports only, above every layer
        }
        let code = fs::read_to_string(file).unwrap();
        for name in crate_level_refs(&code, &path) {
            if !top.contains(&name) {
                errors.push(format!(
                    "{}: `crate::{name}` is not a top-level module; name the module it \
                     lives in, so that the dependency is visible",
                    rel.display()
                ));
            } else if name != path[0] {
                graph.get_mut(&path[0]).unwrap().insert(name);
            }
        }
    }
    (graph, errors)
}

#[test]
fn top_level_modules_form_the_documented_layers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let (graph, errors) = module_graph(&src);
    assert!(errors.is_empty(), "{errors:#?}");
    assert!(graph.len() >= 5, "found only {graph:?}");
    assert_eq!(
        find_cycle(&graph),
        None,
        "import cycle between top-level modules"
    );
    let mut upward = Vec::new();
    for (from, tos) in &graph {
        let from_layer = layer_of(from)
            .unwrap_or_else(|| panic!("top-level module `{from}` has no layer in LAYERS"));
        for to in tos {
            let to_layer = layer_of(to).unwrap();
            if to_layer >= from_layer {
                upward.push(format!(
                    "`{from}` ({}) uses `{to}` ({})",
                    LAYERS[from_layer].0, LAYERS[to_layer].0
                ));
            }
        }
    }
    assert!(upward.is_empty(), "arrows must point down: {upward:#?}");
}

#[test]
fn the_checker_sees_every_form_of_path() {
    let code = "use crate::a::X;\n\
                use crate::{b::Y, c, d::{e, f}};\n\
                // crate::not_a_dependency\n\
                /// [`link`](crate::nor_this)\n\
                fn g() { crate::h::call(); $crate::macro_path; my_crate::k; }\n\
                use super::super::i;\n\
                use super::sibling;\n";
    let refs = crate_level_refs(code, &["x".to_string(), "y".to_string()]);
    assert_eq!(refs, ["a", "b", "c", "d", "h", "i"]);
    // From a file right below the root, one `super` reaches the root.
    assert_eq!(crate_level_refs("use super::j;", &["x".to_string()]), ["j"]);
}

#[test]
fn the_checker_finds_a_cycle() {
    let edges = [("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")];
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (from, to) in edges {
        graph.entry(from.into()).or_default().insert(to.into());
        graph.entry(to.into()).or_default();
    }
    assert_eq!(
        find_cycle(&graph),
        Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
    );
    graph.get_mut("c").unwrap().remove("a");
    assert_eq!(find_cycle(&graph), None);
}
