#![no_main]
//! Fuzz target: see `sluice_iam::fuzzing::policy_bytes` for what it checks.
libfuzzer_sys::fuzz_target!(|data: &[u8]| sluice_iam::fuzzing::policy_bytes(data));
