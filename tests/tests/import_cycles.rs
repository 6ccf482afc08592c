//! No import cycles between the modules of the core (`core/src`) and of the wasm crate
//! (`wasm/src`): the module graph from `use` declarations and `crate::`/`super::`/`self::`
//! paths (unit tests excluded) has no strongly connected component of more than one module.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Cycles tolerated until they are gone (a cycle must lie within one of these sets): none left
/// (the bindings' plan arrays have their own module; the solvers own their lists).
const KNOWN: &[&[&str]] = &[];

/// Module path (`a::b`, `""` for the crate root) -> its file.
fn modules(src: &Path) -> BTreeMap<String, PathBuf> {
    fn walk(dir: &Path, src: &Path, out: &mut BTreeMap<String, PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, src, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                let rel = p.strip_prefix(src).unwrap().with_extension("");
                let mut parts: Vec<String> = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                if matches!(
                    parts.last().map(String::as_str),
                    Some("mod" | "lib" | "main")
                ) {
                    parts.pop();
                }
                out.insert(parts.join("::"), p);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(src, src, &mut out);
    out
}

/// The text without comments, string and char literals, and the unit tests (an inline
/// `#[cfg(test)] mod`, at the end of a file by convention).
fn code(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < b.len() {
        if b[i..].starts_with(b"//") {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if b[i..].starts_with(b"/*") {
            let mut depth = 0;
            while i < b.len() {
                if b[i..].starts_with(b"/*") {
                    depth += 1;
                    i += 2;
                } else if b[i..].starts_with(b"*/") {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if b[i] == b'r'
            && (b[i + 1..].starts_with(b"\"") || b[i + 1..].starts_with(b"#"))
            && (i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_'))
        {
            // Raw string r"..." / r#"..."#.
            let mut j = i + 1;
            let mut hashes = 0;
            while j < b.len() && b[j] == b'#' {
                hashes += 1;
                j += 1;
            }
            if j < b.len() && b[j] == b'"' {
                let mut close = vec![b'"'];
                close.resize(1 + hashes, b'#');
                j += 1;
                while j < b.len() && !b[j..].starts_with(&close) {
                    j += 1;
                }
                i = j + close.len();
                out.push_str("\"\"");
            } else {
                out.push('r');
                i += 1;
            }
        } else if b[i] == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else if b[i] == b'\'' && i + 2 < b.len() && (b[i + 2] == b'\'' || b[i + 1] == b'\\') {
            // A char literal ('a', '\n', '\''); lifetimes ('a) are left alone.
            i += 1;
            while i < b.len() && b[i] != b'\'' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
        } else {
            let c = text[i..].chars().next().unwrap();
            out.push(c);
            i += c.len_utf8();
        }
    }
    let mut from = 0;
    while let Some(k) = out[from..].find("#[cfg(test)]\nmod ") {
        let k = from + k;
        let name_end = k + "#[cfg(test)]\nmod ".len();
        let after = out[name_end..].trim_start_matches(|c: char| c.is_alphanumeric() || c == '_');
        if after.trim_start().starts_with('{') {
            out.truncate(k);
            break;
        }
        from = name_end;
    }
    out
}

/// The paths a `use` tree names (`a::{b, c::{d, e}}` -> `a::b`, `a::c::d`, `a::c::e`).
fn expand(tree: &str, prefix: &str, out: &mut Vec<String>) {
    let tree = tree.trim();
    if let Some(open) = tree.find('{') {
        let head = tree[..open].trim_end_matches("::").trim();
        let inner = &tree[open + 1..tree.rfind('}').unwrap()];
        let prefix = join(prefix, head);
        let (mut depth, mut start) = (0, 0);
        for (k, c) in inner.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    expand(&inner[start..k], &prefix, out);
                    start = k + 1;
                }
                _ => {}
            }
        }
        expand(&inner[start..], &prefix, out);
    } else if !tree.is_empty() {
        let path = tree.split(" as ").next().unwrap_or(tree).trim();
        out.push(join(prefix, path.trim_end_matches("::*")));
    }
}

fn join(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (true, _) => b.to_string(),
        (_, true) => a.to_string(),
        _ => format!("{a}::{b}"),
    }
}

/// The module a path from module `from` lands in (the longest prefix that is a module), for
/// paths starting with `crate`, `super` or `self`.
fn resolve(from: &str, path: &str, mods: &BTreeMap<String, PathBuf>) -> Option<String> {
    let mut parts = path.split("::").map(str::trim).peekable();
    let mut base: Vec<&str> = match parts.peek() {
        Some(&"crate") => {
            parts.next();
            Vec::new()
        }
        Some(&"super") | Some(&"self") => from.split("::").filter(|s| !s.is_empty()).collect(),
        _ => return None,
    };
    while let Some(&p) = parts.peek() {
        match p {
            "super" => {
                base.pop();
            }
            "self" => {}
            _ => break,
        }
        parts.next();
    }
    let rest: Vec<&str> = parts.collect();
    (0..=rest.len())
        .rev()
        .map(|k| {
            base.iter()
                .chain(&rest[..k])
                .copied()
                .collect::<Vec<_>>()
                .join("::")
        })
        .find(|m| mods.contains_key(m))
}

/// Module -> the modules it uses (parents and itself left out: `super::x` in `a::b` naming an
/// item of `a` is no edge to a sibling).
fn graph(
    src: &Path,
) -> (
    BTreeMap<String, PathBuf>,
    BTreeMap<String, BTreeSet<String>>,
) {
    let mods = modules(src);
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (m, file) in &mods {
        let text = code(&std::fs::read_to_string(file).unwrap());
        let mut paths = Vec::new();
        let mut rest = text.as_str();
        while let Some(k) = rest.find("use ") {
            let before = rest[..k].chars().last();
            rest = &rest[k + 4..];
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                continue;
            }
            if let Some(end) = rest.find(';') {
                expand(&rest[..end], "", &mut paths);
            }
        }
        // Paths in code: `crate::a::b(..)`, `super::x::Y`.
        for start in ["crate::", "super::"] {
            let mut from = 0;
            while let Some(k) = text[from..].find(start) {
                let k = from + k;
                let before = text[..k].chars().last();
                from = k + start.len();
                if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                    continue;
                }
                let end = text[k..]
                    .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                    .map_or(text.len(), |e| k + e);
                paths.push(text[k..end].trim_end_matches(':').to_string());
            }
        }
        let edges = g.entry(m.clone()).or_default();
        for p in paths {
            if let Some(to) = resolve(m, &p, &mods) {
                let is_parent = to.is_empty() || m.starts_with(&format!("{to}::"));
                if to != *m && !is_parent {
                    edges.insert(to);
                }
            }
        }
    }
    (mods, g)
}

/// Strongly connected components with more than one module (Tarjan).
fn cycles(g: &BTreeMap<String, BTreeSet<String>>) -> Vec<BTreeSet<String>> {
    struct T<'a> {
        g: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        out: Vec<BTreeSet<String>>,
    }
    fn visit<'a>(t: &mut T<'a>, v: &'a str) {
        let n = t.index.len();
        t.index.insert(v, n);
        t.low.insert(v, n);
        t.stack.push(v);
        for w in t.g.get(v).into_iter().flatten() {
            let w = w.as_str();
            if !t.index.contains_key(w) {
                visit(t, w);
                let lw = t.low[w];
                let lv = t.low.get_mut(v).unwrap();
                *lv = (*lv).min(lw);
            } else if t.stack.contains(&w) {
                let iw = t.index[w];
                let lv = t.low.get_mut(v).unwrap();
                *lv = (*lv).min(iw);
            }
        }
        if t.low[v] == t.index[v] {
            let mut c = BTreeSet::new();
            while let Some(w) = t.stack.pop() {
                c.insert(w.to_string());
                if w == v {
                    break;
                }
            }
            if c.len() > 1 {
                t.out.push(c);
            }
        }
    }
    let mut t = T {
        g,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        out: Vec::new(),
    };
    for v in g.keys() {
        if !t.index.contains_key(v.as_str()) {
            visit(&mut t, v);
        }
    }
    t.out
}

#[test]
fn the_parser_sees_edges_and_cycles() {
    let mut out = Vec::new();
    expand("super::{a::{B, c}, d as e, f::*}", "", &mut out);
    assert_eq!(out, ["super::a::B", "super::a::c", "super::d", "super::f"]);
    let text = "// use crate::x;\nlet s = \"crate::y\"; use crate::z::W;\n#[cfg(test)]\nmod t { use crate::q; }";
    assert_eq!(code(text), "\nlet s = \"\"; use crate::z::W;\n");
    let g: BTreeMap<String, BTreeSet<String>> = [
        ("a", &["b"][..]),
        ("b", &["c"][..]),
        ("c", &["a"][..]),
        ("d", &["a"][..]),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect()))
    .collect();
    let c = cycles(&g);
    assert_eq!(c.len(), 1);
    assert_eq!(
        c[0].iter().map(String::as_str).collect::<Vec<_>>(),
        ["a", "b", "c"]
    );
}

#[test]
fn no_import_cycles() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut bad = Vec::new();
    for krate in ["core/src", "wasm/src"] {
        let (mods, g) = graph(&root.join(krate));
        let found = cycles(&g);
        let edges: usize = g.values().map(BTreeSet::len).sum();
        println!(
            "{krate}: {} modules, {edges} edges, {} cycle(s)",
            mods.len(),
            found.len()
        );
        for c in found {
            let known = KNOWN
                .iter()
                .any(|k| c.iter().all(|m| k.contains(&m.as_str())));
            let list: Vec<&str> = c.iter().map(String::as_str).collect();
            println!(
                "  cycle{}: {}",
                if known { " (known)" } else { "" },
                list.join(" <-> ")
            );
            if !known {
                bad.push(format!("{krate}: {}", list.join(" <-> ")));
            }
        }
        // The graph is read at all (a parser that sees nothing finds no cycle).
        assert!(
            mods.len() > 10 && edges > 30,
            "{krate}: {} modules, {edges} edges",
            mods.len()
        );
    }
    assert!(bad.is_empty(), "import cycles: {bad:?}");
}
