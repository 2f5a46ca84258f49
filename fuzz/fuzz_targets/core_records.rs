#![no_main]
//! Fuzz target: see `sluice_core::fuzzing::records` for what it checks.
libfuzzer_sys::fuzz_target!(|data: &[u8]| sluice_core::fuzzing::records(data));
