//! Incremental SHA-256 of a body, checked against `x-amz-content-sha256`.

use ring::digest;

use crate::encoding::constant_time_eq;
use crate::error::{Error, Result};

/// SHA-256 of the body as it passes, compared at the end with the digest
/// the client signed.
#[derive(Clone)]
pub struct PayloadHash {
    ctx: digest::Context,
    expected: [u8; 32],
}

impl core::fmt::Debug for PayloadHash {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PayloadHash").finish_non_exhaustive()
    }
}

impl PayloadHash {
    /// Expects the body to hash to `expected`.
    #[must_use]
    pub fn new(expected: [u8; 32]) -> Self {
        PayloadHash {
            ctx: digest::Context::new(&digest::SHA256),
            expected,
        }
    }

    /// Feeds body bytes.
    pub fn update(&mut self, data: &[u8]) {
        self.ctx.update(data);
    }

    /// Checks the digest once the body is complete.
    ///
    /// # Errors
    /// [`Error::XAmzContentSHA256Mismatch`] when the body differs.
    pub fn finish(self) -> Result<()> {
        let got = self.ctx.finish();
        if constant_time_eq(got.as_ref(), &self.expected) {
            Ok(())
        } else {
            Err(Error::XAmzContentSHA256Mismatch)
        }
    }
}

/// SHA-256 of `data` as lowercase hex.
#[must_use]
pub fn sha256_hex(data: &[u8]) -> [u8; 64] {
    let d = digest::digest(&digest::SHA256, data);
    let mut bytes = [0u8; 32];
    bytes.copy_from_slice(d.as_ref());
    sluice_http::hex_encode32(&bytes)
}

/// Lowercase hex SHA-256 of the empty string.
pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_and_mismatches() {
        let mut expected = [0u8; 32];
        expected.copy_from_slice(digest::digest(&digest::SHA256, b"hello world").as_ref());
        let mut h = PayloadHash::new(expected);
        h.update(b"hello ");
        h.update(b"world");
        assert_eq!(h.finish(), Ok(()));
        let mut h = PayloadHash::new(expected);
        h.update(b"hello there");
        assert_eq!(h.finish(), Err(Error::XAmzContentSHA256Mismatch));
        assert_eq!(&sha256_hex(b""), EMPTY_SHA256.as_bytes());
    }
}
