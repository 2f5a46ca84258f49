//! Replays the committed corpora of the `core_records` and `md5x` fuzz
//! targets (fuzz/corpus/<target>/) through their harnesses, so every `cargo test`
//! re-checks the inputs that once found new paths.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

/// Every input of fuzz/corpus/`target` through `harness`.
fn replay(target: &str, harness: fn(&[u8])) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        harness(&std::fs::read(entry.unwrap().path()).unwrap());
        count += 1;
    }
    assert!(count > 0, "no corpus in {}", dir.display());
}

#[test]
fn core_records_corpus() {
    replay("core_records", sluice_core::fuzzing::records);
}

#[test]
fn md5x_corpus() {
    replay("md5x", sluice_core::fuzzing::md5x_schedule);
}
