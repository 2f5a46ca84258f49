#![no_main]
//! Fuzz target: see `sluice_sigv4::fuzzing::post_policy` for what it checks.
libfuzzer_sys::fuzz_target!(|data: &[u8]| sluice_sigv4::fuzzing::post_policy(data));
