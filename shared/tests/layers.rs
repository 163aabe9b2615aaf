//! The library's folders are its layers, and imports only flow down:
//!
//! | layer | may import |
//! |---|---|
//! | `env`, `support` | nothing of the crate but themselves |
//! | `domain` | `env`, `support`, `domain` |
//! | `adapters` | the above and `adapters` |
//! | `service` | the above and `service` |
//! | `edge` | the above and `edge` |
//! | `config` | everything but `edge` and `startup` |
//! | `startup` | everything |
//!
//! And no two modules in one folder import each other, directly or round a
//! circle: within every folder the modules form a graph without cycles.
//!
//! This test reads the sources (`use` trees and inline `crate::` and
//! `super::` paths, comments and strings left out), so the rules hold for
//! whoever changes the code next.

use std::{
    collections::{BTreeMap, BTreeSet},
    fs,
    path::{Path, PathBuf},
};

/// Each top-level module's layer: lower numbers sit lower.
fn rank(top: &str) -> Option<u8> {
    Some(match top {
        "env" | "support" => 0,
        "domain" => 1,
        "adapters" => 2,
        "service" => 3,
        "edge" => 4,
        "config" => 5,
        "startup" => 6,
        _ => return None,
    })
}

/// A module path, `["service", "refresh", "rules"]`.
type Module = Vec<String>;

struct Source {
    module: Module,
    path: PathBuf,
    code: String,
}

#[test]
fn imports_only_flow_down_the_layers() {
    let sources = sources();
    let modules: BTreeSet<Module> = sources.iter().map(|s| s.module.clone()).collect();
    let mut violations = Vec::new();
    for source in &sources {
        let Some(own) = source.module.first() else {
            continue; // lib.rs only declares the layers
        };
        let own_rank = rank(own).unwrap_or_else(|| panic!("{own} is not a known layer"));
        for target in imports(source, &modules) {
            let top = &target[0];
            let allowed = match rank(top) {
                Some(r) => r <= own_rank && !(own_rank == 0 && top != own),
                None => false,
            };
            if !allowed {
                violations.push(format!(
                    "src/{} ({own}) imports crate::{} ({top})",
                    source.path.display(),
                    target.join("::")
                ));
            }
        }
    }
    assert!(
        violations.is_empty(),
        "upward imports:\n{}",
        violations.join("\n")
    );
}

#[test]
fn no_module_imports_its_way_round_a_circle() {
    let sources = sources();
    let modules: BTreeSet<Module> = sources.iter().map(|s| s.module.clone()).collect();
    // folder -> child -> children it imports
    let mut graphs: BTreeMap<Module, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for source in &sources {
        for target in imports(source, &modules) {
            // The deepest folder both sit in, and the child of it each is in.
            let common = source
                .module
                .iter()
                .zip(&target)
                .take_while(|(a, b)| a == b)
                .count();
            let (Some(from), Some(to)) = (source.module.get(common), target.get(common)) else {
                continue; // one contains the other: parent and child
            };
            graphs
                .entry(source.module[..common].to_vec())
                .or_default()
                .entry(from.clone())
                .or_default()
                .insert(to.clone());
        }
    }
    let mut circles = Vec::new();
    for (folder, graph) in &graphs {
        if let Some(circle) = find_cycle(graph) {
            circles.push(format!(
                "in crate::{}: {}",
                folder.join("::"),
                circle.join(" -> ")
            ));
        }
    }
    assert!(
        circles.is_empty(),
        "import circles:\n{}",
        circles.join("\n")
    );
    // The test sees the graph it claims to check.
    assert!(graphs[&vec!["service".to_owned()]]["publish"].contains("limits"));
}

#[test]
fn the_reader_finds_what_the_rules_are_about() {
    // A direct check of the reader itself, on a made-up file.
    let code = strip(
        r#"
        //! use crate::edge::x; (a comment)
        use super::{Store, item::{get_s, n}};
        use crate::{domain::{ids::AccountId, ports::{StoreError}}, support::errors as e};
        let url = "https://x/crate::edge::y"; /* crate::startup */
        let c = '"'; let d = crate::support::metrics::count;
        fn f<'a>(x: &'a str) { super::super::Handled::Ignored; }
    "#,
    );
    let mut paths = use_paths(&code);
    paths.sort();
    assert_eq!(
        paths,
        [
            "crate::domain::ids::AccountId",
            "crate::domain::ports::StoreError",
            "crate::support::errors",
            "super::Store",
            "super::item::get_s",
            "super::item::n",
        ]
    );
    assert_eq!(
        inline_paths(&code),
        [
            "crate::support::metrics::count",
            "super::super::Handled::Ignored"
        ]
    );
}

/// Every `.rs` file under `src/`, with its module path and its code.
fn sources() -> Vec<Source> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    walk(&root, &mut files);
    files
        .into_iter()
        .map(|path| {
            let relative = path.strip_prefix(&root).expect("under src");
            let mut module: Module = relative
                .with_extension("")
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if matches!(module.last().map(String::as_str), Some("mod" | "lib")) {
                module.pop();
            }
            let code = strip(&fs::read_to_string(&path).expect("readable"));
            let path = relative.to_path_buf();
            Source { module, path, code }
        })
        .collect()
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("readable dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            walk(&path, files);
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
}

/// The crate modules `source` imports from, resolved to absolute module
/// paths (the deepest module each path names).
fn imports(source: &Source, modules: &BTreeSet<Module>) -> Vec<Module> {
    use_paths(&source.code)
        .into_iter()
        .chain(inline_paths(&source.code))
        .filter_map(|path| absolute(&source.module, &path))
        .filter_map(|path| {
            (1..=path.len())
                .rev()
                .map(|n| path[..n].to_vec())
                .find(|prefix| modules.contains(prefix))
        })
        .filter(|target| target != &source.module)
        .collect()
}

/// `crate::a::b` or `super::…` seen from `module`, as `["a", "b"]`; `None`
/// for paths outside the crate.
fn absolute(module: &Module, path: &str) -> Option<Module> {
    let mut segments = path.split("::");
    let mut base = match segments.next()? {
        "crate" => Vec::new(),
        "super" => module[..module.len().checked_sub(1)?].to_vec(),
        _ => return None,
    };
    for segment in segments {
        if segment == "super" {
            base.pop();
        } else {
            base.push(segment.to_owned());
        }
    }
    Some(base)
}

/// Every path a `use` declaration brings in, its tree flattened.
fn use_paths(code: &str) -> Vec<String> {
    let mut paths = Vec::new();
    let mut rest = code;
    while let Some(at) = find_word(rest, "use") {
        let after = &rest[at + 3..];
        let end = after.find(';').unwrap_or(after.len());
        flatten("", &without_renames(&after[..end]), &mut paths);
        rest = &after[end..];
    }
    paths.retain(|p| p.starts_with("crate::") || p.starts_with("super::"));
    paths
}

/// A `use` tree without whitespace and without its renames (`x as y`).
fn without_renames(tree: &str) -> String {
    let mut out = String::new();
    let mut tokens = tree.split_whitespace();
    while let Some(token) = tokens.next() {
        if token == "as" {
            // Drop the new name, keep what closes the tree after it.
            let name = tokens.next().unwrap_or_default();
            out.push_str(name.trim_start_matches(|c: char| c.is_alphanumeric() || c == '_'));
        } else {
            out.push_str(token);
        }
    }
    out
}

/// `a::{b, c::{d}}` as `a::b`, `a::c::d`.
fn flatten(prefix: &str, tree: &str, out: &mut Vec<String>) {
    match tree.find('{') {
        None => {
            let path = tree.trim_end_matches("::");
            if !path.is_empty() {
                out.push(format!("{prefix}{path}"));
            }
        }
        Some(open) => {
            let head = &tree[..open];
            let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
            for part in split_top_level(inner) {
                flatten(&format!("{prefix}{head}"), part, out);
            }
        }
    }
}

fn split_top_level(list: &str) -> Vec<&str> {
    let (mut parts, mut depth, mut start) = (Vec::new(), 0, 0);
    for (i, c) in list.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&list[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&list[start..]);
    parts.into_iter().filter(|p| !p.is_empty()).collect()
}

/// `crate::…` and `super::…` paths written in the code outside `use`.
fn inline_paths(code: &str) -> Vec<String> {
    let mut without_uses = String::new();
    let mut rest = code;
    while let Some(at) = find_word(rest, "use") {
        without_uses.push_str(&rest[..at]);
        rest = &rest[at..];
        rest = &rest[rest.find(';').map_or(rest.len(), |e| e + 1)..];
    }
    without_uses.push_str(rest);
    let mut paths = Vec::new();
    for start in ["crate::", "super::"] {
        let mut rest = without_uses.as_str();
        while let Some(at) = find_word(rest, start.trim_end_matches("::")) {
            let tail = &rest[at..];
            if !tail.starts_with(start) {
                rest = &rest[at + 1..];
                continue;
            }
            let len = tail
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .unwrap_or(tail.len());
            paths.push(tail[..len].trim_end_matches(':').to_owned());
            rest = &tail[len..];
        }
    }
    paths
}

/// Where `word` next starts as a whole word in `text`.
fn find_word(text: &str, word: &str) -> Option<usize> {
    let ident = |c: char| c.is_alphanumeric() || c == '_';
    let mut from = 0;
    while let Some(found) = text[from..].find(word) {
        let at = from + found;
        let before = text[..at].chars().next_back();
        let after = text[at + word.len()..].chars().next();
        // `super` after `::` is part of a longer path, read with it.
        let joined = text[..at].ends_with("::");
        if !before.is_some_and(ident) && !after.is_some_and(ident) && !joined {
            return Some(at);
        }
        from = at + word.len();
    }
    None
}

/// The code without comments, string literals and char literals.
fn strip(source: &str) -> String {
    let chars: Vec<char> = source.chars().collect();
    let mut out = String::with_capacity(source.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        match (c, next) {
            ('/', Some('/')) => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            ('/', Some('*')) => {
                let mut depth = 0;
                while i < chars.len() {
                    if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                        depth += 1;
                        i += 2;
                    } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                        depth -= 1;
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        i += 1;
                    }
                }
            }
            ('r', Some('#' | '"')) if !chars[..i].last().is_some_and(|p| p.is_alphanumeric()) => {
                let mut j = i + 1;
                let mut hashes = 0;
                while chars.get(j) == Some(&'#') {
                    hashes += 1;
                    j += 1;
                }
                if chars.get(j) != Some(&'"') {
                    out.push(c);
                    i += 1;
                    continue;
                }
                j += 1;
                while j < chars.len() {
                    if chars[j] == '"' && (0..hashes).all(|h| chars.get(j + 1 + h) == Some(&'#')) {
                        j += 1 + hashes;
                        break;
                    }
                    j += 1;
                }
                out.push_str("\"\"");
                i = j;
            }
            ('"', _) => {
                i += 1;
                while i < chars.len() && chars[i] != '"' {
                    i += if chars[i] == '\\' { 2 } else { 1 };
                }
                i += 1;
                out.push_str("\"\"");
            }
            ('\'', Some('\\')) => {
                i += 2;
                while i < chars.len() && chars[i] != '\'' {
                    i += 1;
                }
                i += 1;
                out.push_str("' '");
            }
            ('\'', Some(_)) if chars.get(i + 2) == Some(&'\'') => {
                i += 3;
                out.push_str("' '");
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

/// A cycle in `graph`, as the modules round it, if there is one.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut circle = path[at..].to_vec();
            circle.push(node.to_owned());
            return Some(circle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(circle) = visit(next, graph, path, done) {
                return Some(circle);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

#[test]
fn a_circle_is_found() {
    let graph: BTreeMap<String, BTreeSet<String>> = [
        ("account", &["secrets"][..]),
        ("secrets", &["ids", "account"][..]),
        ("ids", &[][..]),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.iter().map(|s| s.to_string()).collect()))
    .collect();
    assert_eq!(
        find_cycle(&graph),
        Some(vec!["account".into(), "secrets".into(), "account".into()])
    );
    let acyclic: BTreeMap<String, BTreeSet<String>> = [("a", "b"), ("b", "c")]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), BTreeSet::from([v.to_owned()])))
        .collect();
    assert_eq!(find_cycle(&acyclic), None);
}
