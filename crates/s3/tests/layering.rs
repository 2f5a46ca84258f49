//! The layering of sluice-s3 holds (issue 11): no module imports from a
//! module that imports it back (directly or around a longer cycle), no
//! module but the connection names a concrete network stream, and none but
//! the file-store backend names sluice-core's store types.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Module path (`ops::copy`) of each source file, with its text.
fn modules() -> BTreeMap<String, String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = BTreeMap::new();
    let mut dirs = vec![src.clone()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            let rel = path.strip_prefix(&src).unwrap().with_extension("");
            let name = rel.to_string_lossy().replace('/', "::");
            let name = name.trim_end_matches("::mod").to_owned();
            if name != "lib" {
                // Unit tests (at the end of a file) may reach anywhere.
                let text = std::fs::read_to_string(&path).unwrap();
                let code = text.split("#[cfg(test)]").next().unwrap_or_default();
                out.insert(name, code.to_owned());
            }
        }
    }
    out
}

/// The modules `text` refers to through `crate::` paths (the longest known
/// module path of each reference), itself excluded.
fn uses(me: &str, text: &str, known: &BTreeSet<String>) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    // A module imported by name (`use crate::ops;`) is then used as `ops::x`.
    let mut text = text.to_owned();
    for m in known.iter().filter(|m| !m.contains("::")) {
        if text.contains(&format!("use crate::{m};")) {
            let bare = format!("{m}::");
            let mut spelled = String::new();
            let mut rest = text.as_str();
            while let Some(i) = rest.find(&bare) {
                let before = &rest[..i];
                let qualified = before.ends_with("::")
                    || before.ends_with(|c: char| c.is_alphanumeric() || c == '_');
                spelled.push_str(before);
                if !qualified {
                    spelled.push_str("crate::");
                }
                spelled.push_str(&bare);
                rest = &rest[i + bare.len()..];
            }
            spelled.push_str(rest);
            text = spelled;
        }
    }
    for (i, _) in text.match_indices("crate::") {
        let rest = &text[i + "crate::".len()..];
        let path: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
            .collect();
        let segments: Vec<&str> = path.split("::").collect();
        let found = (1..=segments.len())
            .rev()
            .map(|n| segments[..n].join("::"))
            .find(|m| known.contains(m));
        if let Some(m) = found {
            if m != me && !me.starts_with(&format!("{m}::")) {
                out.insert(m);
            }
        }
    }
    out
}

#[test]
fn no_module_imports_a_module_that_imports_it_back() {
    let mods = modules();
    let known: BTreeSet<String> = mods.keys().cloned().collect();
    let graph: BTreeMap<&str, BTreeSet<String>> = mods
        .iter()
        .map(|(m, text)| (m.as_str(), uses(m, text, &known)))
        .collect();
    assert!(graph.len() > 10, "found the modules: {:?}", graph.keys());
    // Depth-first search for a cycle.
    fn visit<'a>(
        m: &'a str,
        graph: &'a BTreeMap<&str, BTreeSet<String>>,
        stack: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) {
        if let Some(at) = stack.iter().position(|s| *s == m) {
            panic!("import cycle: {} -> {m}", stack[at..].join(" -> "));
        }
        if !done.insert(m) {
            return;
        }
        stack.push(m);
        for next in graph.get(m).into_iter().flatten() {
            if let Some((k, _)) = graph.get_key_value(next.as_str()) {
                visit(k, graph, stack, done);
            }
        }
        stack.pop();
    }
    let mut done = BTreeSet::new();
    for m in graph.keys() {
        visit(m, &graph, &mut Vec::new(), &mut done);
    }
}

#[test]
fn only_the_file_store_backend_knows_the_file_store() {
    for (m, text) in modules() {
        if m == "file_store" {
            continue;
        }
        // What the module takes from sluice-core: `use sluice_core::...;`
        // statements and `sluice_core::` paths.
        let mut taken = String::new();
        for (i, _) in text.match_indices("sluice_core::") {
            let rest = &text[i..];
            let end = rest.find(';').unwrap_or(rest.len()).min(400);
            taken.push_str(&rest[..end]);
            taken.push('\n');
        }
        for concrete in [
            "ObjectReader",
            "ObjectWriter",
            "PartWriter",
            "Store,",
            "Store}",
            "Store;",
            "StoreOptions",
        ] {
            assert!(
                !taken.contains(concrete),
                "{m} takes {concrete} from sluice-core"
            );
        }
    }
}

#[test]
fn only_the_connection_knows_the_network_stream() {
    for (m, text) in modules() {
        // The connection, and its TLS stage (the handshake and the stream
        // that wraps the socket).
        if m == "conn" || m == "tls" {
            continue;
        }
        for concrete in ["monoio::net", "TcpStream", "TcpListener"] {
            assert!(!text.contains(concrete), "{m} names {concrete}");
        }
    }
}
