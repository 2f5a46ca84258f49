#![no_main]
//! Fuzz target: see `sluice_core::fuzzing::md5x_schedule` for what it checks.
libfuzzer_sys::fuzz_target!(|data: &[u8]| sluice_core::fuzzing::md5x_schedule(data));
