#![no_main]
//! Fuzz target: see `sluice_http::fuzzing::proxy` for what it checks.
libfuzzer_sys::fuzz_target!(|data: &[u8]| sluice_http::fuzzing::proxy(data));
