//! The layout's rules (ARCHITECTURE.md), checked on the source itself, as
//! rust-analyzer's tidy tests do: no file imports another in a loop;
//! nothing below `commands/` imports `commands/` or `cli.rs`; no command
//! imports another; each folder's `mod.rs` says what the part is; only the
//! runner starts programs. Test modules are left out: they may build their
//! configuration the way the commands do.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use regex::Regex;

/// Each source file (relative to `src/`, `/`-separated) and its text
/// without test modules and comments.
fn sources() -> BTreeMap<String, String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = BTreeMap::new();
    let mut dirs = vec![root.clone()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let relative = path.strip_prefix(&root).unwrap();
                let name = relative
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join("/");
                files.insert(name, std::fs::read_to_string(&path).unwrap());
            }
        }
    }
    files
}

/// The text the build sees outside tests: up to `#[cfg(test)] mod tests`,
/// comments removed (doc links are not imports).
fn code(text: &str) -> String {
    let end = text.find("#[cfg(test)]\nmod tests").unwrap_or(text.len());
    text[..end]
        .lines()
        .map(|line| match line.find("//") {
            // `"https://..."` inside a string: keep the line as it is.
            Some(at) if !line[..at].contains('"') => &line[..at],
            _ => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A file's module path: `ops/nodes/disk.rs` → `[ops, nodes, disk]`,
/// `ops/nodes/mod.rs` → `[ops, nodes]`.
fn module_of(file: &str) -> Vec<String> {
    let mut parts: Vec<String> = file
        .trim_end_matches(".rs")
        .split('/')
        .map(str::to_string)
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// Which files each file imports (`crate::…` and `super::…` paths, brace
/// groups expanded one level), resolved to the deepest module that is a
/// file.
fn imports(files: &BTreeMap<String, String>) -> BTreeMap<String, BTreeSet<String>> {
    let modules: BTreeMap<Vec<String>, String> = files
        .keys()
        .filter(|f| f.as_str() != "main.rs")
        .map(|f| (module_of(f), f.clone()))
        .collect();
    let resolve = |path: &[String]| -> Option<String> {
        (1..=path.len())
            .rev()
            .find_map(|n| modules.get(&path[..n]).cloned())
    };
    let path_re =
        Regex::new(r"\b(crate|super)((?:::\w+)+)(?:::\{([^;]*?)\})?(?: as (\w+))?").unwrap();
    let alias_re = Regex::new(r"(?:^|[^:\w])(\w+)((?:::\w+)+)").unwrap();
    let braces = Regex::new(r"\{[^{}]*\}").unwrap();
    let mut graph = BTreeMap::new();
    for (file, text) in files {
        let me = module_of(file);
        // `super` is the module that declares this one, for `a/b.rs` and
        // `a/b/mod.rs` alike.
        let parent = me[..me.len().saturating_sub(1)].to_vec();
        let code = code(text);
        let mut edges = BTreeSet::new();
        // Modules brought in by name (`use crate::ops;`, `use super::config;`,
        // `use crate::ops::nodes::{disk, list as nodes}`): their later
        // `name::item` uses are imports too.
        let mut aliases: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for cap in path_re.captures_iter(&code) {
            let rest: Vec<String> = cap[2]
                .split("::")
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect();
            let base = if &cap[1] == "crate" {
                rest
            } else {
                let mut base = parent.clone();
                base.extend(rest);
                base
            };
            let mut targets = vec![base.clone()];
            if let Some(group) = cap.get(3) {
                let flat = braces.replace_all(group.as_str(), "");
                for item in flat.split(',') {
                    let mut words = item.split(" as ");
                    let name = words.next().unwrap_or("").trim();
                    let alias = words.next().map(str::trim);
                    if name.is_empty() {
                        continue;
                    }
                    let mut path = base.clone();
                    if name != "self" {
                        path.extend(name.split("::").map(|s| s.trim().to_string()));
                    }
                    if modules.contains_key(&path) {
                        let shown = alias.unwrap_or(path.last().map_or("", String::as_str));
                        aliases.insert(shown.to_string(), path.clone());
                    }
                    targets.push(path);
                }
            } else if modules.contains_key(&base) {
                let shown = cap
                    .get(4)
                    .map_or(base.last().cloned().unwrap_or_default(), |a| {
                        a.as_str().to_string()
                    });
                aliases.insert(shown, base.clone());
            }
            for path in targets {
                if let Some(target) = resolve(&path) {
                    if &target != file {
                        edges.insert(target);
                    }
                }
            }
        }
        for cap in alias_re.captures_iter(&code) {
            if let Some(base) = aliases.get(&cap[1]) {
                let mut path = base.clone();
                path.extend(
                    cap[2]
                        .split("::")
                        .filter(|s| !s.is_empty())
                        .map(str::to_string),
                );
                if let Some(target) = resolve(&path) {
                    if &target != file {
                        edges.insert(target);
                    }
                }
            }
        }
        graph.insert(file.clone(), edges);
    }
    graph
}

/// Every import loop, as the files in it.
fn loops(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    // Tarjan's strongly connected components; a component of two or more
    // files is a loop.
    struct State<'a> {
        graph: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        found: Vec<Vec<String>>,
    }
    fn visit<'a>(state: &mut State<'a>, node: &'a str) {
        let n = state.index.len();
        state.index.insert(node, n);
        state.low.insert(node, n);
        state.stack.push(node);
        state.on_stack.insert(node);
        let graph = state.graph;
        for next in graph.get(node).into_iter().flatten() {
            let next = next.as_str();
            if !state.index.contains_key(next) {
                visit(state, next);
                let low = state.low[next].min(state.low[node]);
                state.low.insert(node, low);
            } else if state.on_stack.contains(next) {
                let low = state.index[next].min(state.low[node]);
                state.low.insert(node, low);
            }
        }
        if state.low[node] == state.index[node] {
            let mut component = Vec::new();
            while let Some(top) = state.stack.pop() {
                state.on_stack.remove(top);
                component.push(top.to_string());
                if top == node {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                state.found.push(component);
            }
        }
    }
    let mut state = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for node in graph.keys() {
        if !state.index.contains_key(node.as_str()) {
            visit(&mut state, node);
        }
    }
    state.found
}

/// The files that may see the CLI: the entry points and the command files,
/// and the argv samples (which read clap's definitions to account for
/// every option).
fn sees_the_cli(file: &str) -> bool {
    file.starts_with("commands/") || matches!(file, "main.rs" | "lib.rs" | "cli.rs" | "samples.rs")
}

#[test]
fn no_file_imports_another_in_a_loop() {
    let found = loops(&imports(&sources()));
    assert!(found.is_empty(), "import loops: {found:#?}");
}

#[test]
fn nothing_below_commands_imports_commands_or_the_cli() {
    let graph = imports(&sources());
    let upward: Vec<String> = graph
        .iter()
        .filter(|(file, _)| !sees_the_cli(file))
        .flat_map(|(file, edges)| {
            edges
                .iter()
                .filter(|t| t.starts_with("commands/") || t.as_str() == "cli.rs")
                .map(move |t| format!("{file} -> {t}"))
        })
        .collect();
    assert!(upward.is_empty(), "{upward:#?}");
}

#[test]
fn no_command_imports_another() {
    let graph = imports(&sources());
    let shared = ["commands/mod.rs", "commands/config.rs"];
    let across: Vec<String> = graph
        .iter()
        .filter(|(file, _)| file.starts_with("commands/") && !shared.contains(&file.as_str()))
        .flat_map(|(file, edges)| {
            edges
                .iter()
                .filter(|t| t.starts_with("commands/") && !shared.contains(&t.as_str()))
                .map(move |t| format!("{file} -> {t}"))
        })
        .collect();
    assert!(across.is_empty(), "{across:#?}");
}

#[test]
fn each_part_says_what_it_is() {
    let undocumented: Vec<String> = sources()
        .into_iter()
        .filter(|(file, _)| file.ends_with("mod.rs") || file == "lib.rs")
        .filter(|(_, text)| !text.starts_with("//!"))
        .map(|(file, _)| file)
        .collect();
    assert!(undocumented.is_empty(), "{undocumented:?}");
}

#[test]
fn only_the_runner_starts_programs() {
    let starters: Vec<String> = sources()
        .into_iter()
        .filter(|(_, text)| code(text).contains("Command::new("))
        .map(|(file, _)| file)
        .collect();
    assert_eq!(starters, ["cluster/runner.rs"]);
}

#[test]
fn the_checks_see_what_they_look_for() {
    // The rules above pass on an empty graph too: make sure the parser
    // finds known imports and a known loop.
    let graph = imports(&sources());
    assert!(graph["commands/deploy.rs"].contains("ops/deploy.rs"));
    assert!(graph["ops/deploy.rs"].contains("ops/rollout.rs"));
    assert!(graph["ops/egress/verify.rs"].contains("ops/egress/policies.rs"));
    assert!(graph["commands/pods.rs"].contains("commands/config.rs"));
    assert!(graph["samples.rs"].contains("ops/doctor/gather.rs"));
    let mut looped = BTreeMap::new();
    looped.insert("a.rs".to_string(), BTreeSet::from(["b.rs".to_string()]));
    looped.insert("b.rs".to_string(), BTreeSet::from(["a.rs".to_string()]));
    assert_eq!(
        loops(&looped),
        [vec!["a.rs".to_string(), "b.rs".to_string()]]
    );
    let mut files = BTreeMap::new();
    files.insert("x/mod.rs".to_string(), "pub mod y;\n".to_string());
    files.insert(
        "x/y.rs".to_string(),
        "use super::z::Thing;\nuse crate::w::{a, b};\n".to_string(),
    );
    files.insert("x/z.rs".to_string(), String::new());
    files.insert("w/a.rs".to_string(), String::new());
    files.insert("w/mod.rs".to_string(), String::new());
    let small = imports(&files);
    assert_eq!(
        small["x/y.rs"],
        BTreeSet::from([
            "x/z.rs".to_string(),
            "w/a.rs".to_string(),
            "w/mod.rs".to_string()
        ])
    );
}
