//! The layering ARCHITECTURE.md describes, checked on the source: every `crate::…` and
//! `super::…` path in `src/` is resolved to the file it names, then
//! - no module imports a module of a higher layer (the library never reaches the applications);
//! - no two files import each other, directly or round a longer loop (a module's `mod.rs` and
//!   the files under it excepted: declaring and re-exporting children is not a dependency);
//! - the module demos never import each other.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The top-level modules, bottom up. A module may import those of lower layers and its own.
const LAYERS: &[&[&str]] = &[
    &["error", "util"],
    &["nn"],
    &["data", "viz"],
    &["diffusion"],
    &["schedulers"],
    &["models"],
    &["hub"],
    &["pipelines"],
    &["train"],
    &["eval"],
    // applications
    &["console"],
    &["demos"],
    &["report"],
    &["lab"],
    &["bench"],
    &["serve"],
    &["cli"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

/// Source without comments and string literals (a path in a doc comment is no import).
fn code_only(src: &str) -> String {
    let mut out = String::with_capacity(src.len());
    let b = src.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'/' && b.get(i + 1) == Some(&b'/') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
            i += 2;
            while i + 1 < b.len() && !(b[i] == b'*' && b[i + 1] == b'/') {
                i += 1;
            }
            i += 2;
        } else if b[i] == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else if b[i] == b'\'' && b.get(i + 2) == Some(&b'\'') {
            i += 3; // a char literal such as '{'
        } else {
            out.push(b[i] as char);
            i += 1;
        }
    }
    out
}

/// Every path that starts at `crate::` or `super::` in `code`, brace groups expanded:
/// `use crate::a::{b, c::{d, e}}` gives `crate::a::b`, `crate::a::c::d`, `crate::a::c::e`.
fn paths_in(code: &str) -> Vec<Vec<String>> {
    let chars: Vec<char> = code.chars().collect();
    let mut found = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let starts = ["crate::", "super::"].iter().any(|p| {
            chars[i..].iter().take(p.len()).copied().eq(p.chars())
                && (i == 0 || !(chars[i - 1].is_alphanumeric() || chars[i - 1] == '_'))
        });
        if starts {
            let (paths, end) = parse_path(&chars, i, Vec::new());
            found.extend(paths);
            i = end.max(i + 1);
        } else {
            i += 1;
        }
    }
    found
}

fn parse_path(chars: &[char], mut i: usize, mut prefix: Vec<String>) -> (Vec<Vec<String>>, usize) {
    loop {
        let start = i;
        while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
            i += 1;
        }
        if i > start {
            prefix.push(chars[start..i].iter().collect());
        }
        if chars[i..].starts_with(&[':', ':']) {
            i += 2;
            if chars.get(i) == Some(&'{') {
                return parse_group(chars, i + 1, prefix);
            }
        } else {
            return (vec![prefix], i);
        }
    }
}

fn parse_group(chars: &[char], mut i: usize, prefix: Vec<String>) -> (Vec<Vec<String>>, usize) {
    let mut all = Vec::new();
    loop {
        while i < chars.len() && (chars[i].is_whitespace() || chars[i] == ',') {
            i += 1;
        }
        if i >= chars.len() || chars[i] == '}' {
            return (all, i + 1);
        }
        let (paths, end) = parse_path(chars, i, prefix.clone());
        all.extend(paths);
        i = end;
        // skip `as name` and anything else up to the next item
        while i < chars.len() && chars[i] != ',' && chars[i] != '}' {
            i += 1;
        }
    }
}

/// The module path of a file: `src/nn/conv/band.rs` → `[nn, conv, band]`, `src/nn/mod.rs` →
/// `[nn]`.
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into()).collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts
}

/// The file a module path lives in, taking the longest prefix that exists.
fn file_of(files: &BTreeMap<Vec<String>, PathBuf>, path: &[String]) -> Option<Vec<String>> {
    (1..=path.len())
        .rev()
        .map(|n| path[..n].to_vec())
        .find(|p| files.contains_key(p))
}

fn rs_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            rs_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// File → the files it imports (module paths), for every file under `src/` but the crate roots.
fn import_graph() -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut list = Vec::new();
    rs_files(&src, &mut list);
    let files: BTreeMap<Vec<String>, PathBuf> = list
        .into_iter()
        .filter(|f| !matches!(f.file_name().unwrap().to_str(), Some("lib.rs" | "main.rs")))
        .map(|f| (module_of(&src, &f), f))
        .collect();
    let mut graph = BTreeMap::new();
    for (module, path) in &files {
        let code = code_only(&std::fs::read_to_string(path).unwrap());
        let mut deps = BTreeSet::new();
        for p in paths_in(&code) {
            // `super` is the parent of the file's own module, in `mod.rs` and `x.rs` alike
            let mut abs = module.clone();
            let mut rest = p.as_slice();
            if rest[0] == "crate" {
                abs.clear();
                rest = &rest[1..];
            }
            while rest.first().is_some_and(|s| s == "super") {
                abs.pop();
                rest = &rest[1..];
            }
            abs.extend(rest.iter().cloned());
            if let Some(target) = file_of(&files, &abs) {
                if &target != module {
                    deps.insert(target);
                }
            }
        }
        graph.insert(module.clone(), deps);
    }
    graph
}

/// Whether `a` is the `mod.rs` of a folder holding `b` (or the other way round).
fn parent_child(a: &[String], b: &[String]) -> bool {
    a.starts_with(b) || b.starts_with(a)
}

#[test]
fn no_module_imports_a_higher_layer() {
    let mut upward = Vec::new();
    for (file, deps) in import_graph() {
        let from = layer_of(&file[0])
            .unwrap_or_else(|| panic!("src/{} is in no layer of tests/architecture.rs", file[0]));
        for dep in deps {
            let to = layer_of(&dep[0]).unwrap();
            if to > from {
                upward.push(format!("{} -> {}", file.join("::"), dep.join("::")));
            }
        }
    }
    assert!(
        upward.is_empty(),
        "imports into a higher layer:\n{}",
        upward.join("\n")
    );
}

#[test]
fn no_import_circles_between_files() {
    let graph = import_graph();
    let mut circles = Vec::new();
    // A circle is a path back to the start; mod.rs-to-child edges do not count.
    for start in graph.keys() {
        let mut stack = vec![(start.clone(), vec![start.clone()])];
        let mut seen = BTreeSet::new();
        while let Some((node, trail)) = stack.pop() {
            for next in &graph[&node] {
                if parent_child(&node, next) {
                    continue;
                }
                if next == start {
                    let names: Vec<String> = trail.iter().map(|m| m.join("::")).collect();
                    circles.push(format!("{} -> {}", names.join(" -> "), start.join("::")));
                } else if next > start && seen.insert(next.clone()) {
                    let mut t = trail.clone();
                    t.push(next.clone());
                    stack.push((next.clone(), t));
                }
            }
        }
    }
    assert!(
        circles.is_empty(),
        "import circles:\n{}",
        circles.join("\n")
    );
}

#[test]
fn demos_never_import_each_other() {
    let mut crossing = Vec::new();
    for (file, deps) in import_graph() {
        if file[0] != "demos" || file.len() < 2 {
            continue;
        }
        for dep in deps {
            if dep[0] == "demos" && dep.len() > 1 && dep[1] != file[1] {
                crossing.push(format!("{} -> {}", file.join("::"), dep.join("::")));
            }
        }
    }
    assert!(
        crossing.is_empty(),
        "demos importing other demos:\n{}",
        crossing.join("\n")
    );
}

#[test]
fn the_path_parser_expands_groups_and_resolves_super() {
    let code = code_only(
        "use crate::a::{b, c::{d, e as f}};\n// crate::ignored\nlet x = super::g::h(\"crate::no\");",
    );
    let paths: Vec<String> = paths_in(&code).iter().map(|p| p.join("::")).collect();
    assert_eq!(
        paths,
        [
            "crate::a::b",
            "crate::a::c::d",
            "crate::a::c::e",
            "super::g::h"
        ]
    );
}
