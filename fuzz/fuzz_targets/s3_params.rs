#![no_main]
//! Fuzz target: see `sluice_s3::fuzzing::params_bytes` for what it checks.
libfuzzer_sys::fuzz_target!(|data: &[u8]| sluice_s3::fuzzing::params_bytes(data));
