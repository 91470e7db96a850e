//! The folder tree is the architecture, and this test keeps it so: `src/` stays small, each
//! layer imports only the layers below it, no two files import each other through any chain,
//! and the HTTP handlers and pages never query the database themselves.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A module, as the path of its file under `src/` without `.rs` or `/mod.rs`: `cases/scan`.
type Module = String;

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

fn module_of(file: &Path) -> Module {
    let relative = file.strip_prefix(src()).expect("under src").with_extension("");
    let text = relative.to_string_lossy().replace('\\', "/");
    match text.as_str() {
        "lib" | "main" => String::new(),
        _ => text.strip_suffix("/mod").unwrap_or(&text).to_owned(),
    }
}

/// The file's own code: a `#[cfg(test)] mod tests` block at its end may use anything.
fn code_of(file: &Path) -> String {
    let text = std::fs::read_to_string(file).expect("read");
    match text.find("#[cfg(test)]\nmod tests") {
        Some(at) => text[..at].to_owned(),
        None => text,
    }
}

/// Every `crate::a::b::…` path the code names, with `use crate::a::{b, c::d}` groups expanded
/// one level, and `super::` resolved against the file's parent.
fn paths_named(module: &str, is_mod_file: bool, code: &str) -> Vec<Vec<String>> {
    let mut paths = Vec::new();
    let segment = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut read_path = |rest: &str, base: Vec<String>| {
        let mut path = base;
        let mut rest = rest;
        loop {
            let end = rest.find(|c: char| !segment(c)).unwrap_or(rest.len());
            if end == 0 {
                break;
            }
            path.push(rest[..end].to_owned());
            rest = &rest[end..];
            match rest.strip_prefix("::") {
                Some(next) if next.starts_with('{') => {
                    let close = next.find('}').unwrap_or(next.len());
                    for item in next[1..close].split(',') {
                        let item = item.trim();
                        let mut sub = path.clone();
                        sub.extend(item.split("::").map(|s| s.trim().split(' ').next().unwrap_or("").to_owned()).filter(|s| !s.is_empty() && s != "self"));
                        paths.push(sub);
                    }
                    return;
                }
                Some(next) => rest = next,
                None => break,
            }
        }
        paths.push(path);
    };
    for (at, _) in code.match_indices("crate::") {
        read_path(&code[at + "crate::".len()..], Vec::new());
    }
    let parent: Vec<String> = {
        let mut own: Vec<String> = module.split('/').filter(|s| !s.is_empty()).map(str::to_owned).collect();
        if !is_mod_file {
            own.pop();
        }
        own
    };
    for (at, _) in code.match_indices("super::") {
        if code[..at].ends_with("::") {
            continue;
        }
        let mut base = parent.clone();
        base.pop();
        read_path(&code[at + "super::".len()..], base);
    }
    paths
}

fn graph() -> BTreeMap<Module, BTreeSet<Module>> {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let modules: BTreeSet<Module> = files.iter().map(|f| module_of(f)).collect();
    let mut edges: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
    for file in &files {
        let module = module_of(file);
        let is_mod_file = file.file_name().is_some_and(|n| n == "mod.rs" || n == "lib.rs");
        let targets = edges.entry(module.clone()).or_default();
        for path in paths_named(&module, is_mod_file, &code_of(file)) {
            // The longest prefix of the path that is a module file.
            let target = (1..=path.len()).rev().map(|n| path[..n].join("/")).find(|m| modules.contains(m));
            let Some(target) = target else { continue };
            // A child using its own parent's items is the module idiom.
            if target == module || module.starts_with(&format!("{target}/")) {
                continue;
            }
            targets.insert(target);
        }
    }
    edges
}

fn top(module: &str) -> &str {
    module.split('/').next().unwrap_or("")
}

#[test]
fn src_has_at_most_twelve_entries() {
    let entries: Vec<String> =
        std::fs::read_dir(src()).expect("src").map(|e| e.expect("entry").file_name().to_string_lossy().into_owned()).collect();
    assert!(entries.len() <= 12, "src/ has {} entries: {entries:?}", entries.len());
}

#[test]
fn layers_import_only_downwards() {
    // What each top-level room may import besides itself.
    let allowed: BTreeMap<&str, &[&str]> = BTreeMap::from([
        ("domain", &[][..]),
        ("clock", &[][..]),
        ("error", &["domain"][..]),
        ("storage", &["domain", "error", "clock"][..]),
        ("adapters", &["domain", "error", "clock", "storage"][..]),
        // Among the use cases the closed loop is the base: intake opens cases, administration
        // recomputes their deadlines, insight reads them; cases imports none of the three.
        ("cases", &["domain", "error", "clock", "storage", "adapters"][..]),
        ("intake", &["domain", "error", "clock", "storage", "adapters", "cases"][..]),
        ("admin", &["domain", "error", "clock", "storage", "adapters", "cases"][..]),
        ("insight", &["domain", "error", "clock", "storage", "adapters", "cases"][..]),
    ]);
    let mut wrong = Vec::new();
    for (module, targets) in graph() {
        let room = top(&module);
        let Some(may) = allowed.get(room) else { continue };
        for target in targets {
            let to = top(&target);
            if to != room && !may.contains(&to) {
                wrong.push(format!("{module} → {target}"));
            }
        }
    }
    assert!(wrong.is_empty(), "imports against the layers:\n{}", wrong.join("\n"));
}

#[test]
fn no_import_loop_between_files() {
    let edges = graph();
    // Tarjan's strongly connected components, iteratively small enough to recurse.
    struct Walk<'a> {
        edges: &'a BTreeMap<Module, BTreeSet<Module>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        loops: Vec<Vec<&'a str>>,
    }
    fn visit<'a>(w: &mut Walk<'a>, v: &'a str) {
        let n = w.index.len();
        w.index.insert(v, n);
        w.low.insert(v, n);
        w.stack.push(v);
        w.on_stack.insert(v);
        for t in w.edges.get(v).into_iter().flatten() {
            let t = t.as_str();
            if !w.index.contains_key(t) {
                visit(w, t);
                let low = w.low[v].min(w.low[t]);
                w.low.insert(v, low);
            } else if w.on_stack.contains(t) {
                let low = w.low[v].min(w.index[t]);
                w.low.insert(v, low);
            }
        }
        if w.low[v] == w.index[v] {
            let mut component = Vec::new();
            while let Some(top) = w.stack.pop() {
                w.on_stack.remove(top);
                component.push(top);
                if top == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                w.loops.push(component);
            }
        }
    }
    let mut walk = Walk { edges: &edges, index: BTreeMap::new(), low: BTreeMap::new(), stack: vec![], on_stack: BTreeSet::new(), loops: vec![] };
    for module in edges.keys() {
        if !walk.index.contains_key(module.as_str()) {
            visit(&mut walk, module);
        }
    }
    assert!(walk.loops.is_empty(), "files that import each other (through a chain): {:?}", walk.loops);
}

#[test]
fn use_cases_do_not_import_jobs_or_the_scanner() {
    let mut wrong = Vec::new();
    for (module, targets) in graph() {
        if !["intake", "cases", "admin", "insight"].contains(&top(&module)) || module == "cases/scan" || module == "cases" {
            continue;
        }
        for target in targets.iter().filter(|t| *t == "cases/scan" || t.starts_with("interfaces")) {
            wrong.push(format!("{module} → {target}"));
        }
    }
    assert!(wrong.is_empty(), "use cases importing a job: {wrong:?}");
}

#[test]
fn handlers_and_pages_run_no_query() {
    let mut files = Vec::new();
    for room in ["interfaces/http", "interfaces/web"] {
        rust_files(&src().join(room), &mut files);
    }
    assert!(files.len() > 10, "the handlers were not found");
    let mut wrong = Vec::new();
    for file in files {
        let code = code_of(&file);
        for needle in ["schema::", "db_run!", "diesel::", "sql_query"] {
            if code.contains(needle) {
                wrong.push(format!("{} names {needle}", file.strip_prefix(src()).expect("under src").display()));
            }
        }
    }
    assert!(wrong.is_empty(), "handlers must call a use case, not the database:\n{}", wrong.join("\n"));
}

#[test]
fn pages_do_not_call_api_handlers() {
    let edges = graph();
    let wrong: Vec<String> = edges
        .iter()
        .filter(|(m, _)| m.starts_with("interfaces/web"))
        .flat_map(|(m, ts)| ts.iter().filter(|t| t.starts_with("interfaces/http") && *t != "interfaces/http/extract").map(move |t| format!("{m} → {t}")))
        .collect();
    assert!(wrong.is_empty(), "pages calling API handlers: {wrong:?}");
}
