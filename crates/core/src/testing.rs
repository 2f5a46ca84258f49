//! Helpers shared by the crash-test writer (src/bin/crash_writer.rs) and its
//! checker (tests/crash.rs). Not API.

/// Content of `version`: its number and its length in the first 16 bytes,
/// then bytes derived from the version, so that a checker can tell a whole
/// version from a torn one. At least 16 bytes long.
#[must_use]
pub fn self_describing(version: u64, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len.max(16));
    out.extend_from_slice(&version.to_le_bytes());
    out.extend_from_slice(&(len as u64).to_le_bytes());
    let mut x = version.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.push(x as u8);
    }
    out.truncate(len.max(16));
    out
}
