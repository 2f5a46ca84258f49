//! Criterion benches of the sluice crates live beside this file; run `cargo bench -p sluice-benches`.
