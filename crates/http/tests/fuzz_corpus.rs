//! Replays the committed fuzz corpora (fuzz/corpus/<target>/) through the
//! same harnesses the fuzz targets run, so every `cargo test` re-checks the
//! inputs that once found new paths.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

fn replay(target: &str, harness: fn(&[u8])) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        harness(&data);
        count += 1;
    }
    assert!(count > 0, "no corpus in {}", dir.display());
}

#[test]
fn http_head_corpus() {
    replay("http_head", sluice_http::fuzzing::head);
}

#[test]
fn http_chunked_corpus() {
    replay("http_chunked", sluice_http::fuzzing::chunked);
}

#[test]
fn http_aws_chunked_corpus() {
    replay("http_aws_chunked", sluice_http::fuzzing::aws_chunked);
}

#[test]
fn http_form_corpus() {
    replay("http_form", sluice_http::fuzzing::form);
}

#[test]
fn http_proxy_corpus() {
    replay("http_proxy", sluice_http::fuzzing::proxy);
}
