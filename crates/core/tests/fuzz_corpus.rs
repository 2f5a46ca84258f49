//! Replays the committed corpora of the `core_records` and `md5x` fuzz
//! targets (fuzz/corpus/<target>/) through their harnesses, so every `cargo test`
//! re-checks the inputs that once found new paths.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

#[test]
fn core_records_corpus() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/core_records");
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let data = std::fs::read(entry.unwrap().path()).unwrap();
        sluice_core::fuzzing::records(&data);
        count += 1;
    }
    assert!(count > 0, "no corpus in {}", dir.display());
}

#[test]
fn md5x_corpus() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/md5x");
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let data = std::fs::read(entry.unwrap().path()).unwrap();
        sluice_core::fuzzing::md5x_schedule(&data);
        count += 1;
    }
    assert!(count > 0, "no corpus in {}", dir.display());
}
