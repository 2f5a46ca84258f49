//! Replays the committed corpus of the `core_records` fuzz target
//! (fuzz/corpus/core_records/) through its harness, so every `cargo test`
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
