//! S3 flexible checksums: CRC32, CRC32C, CRC64NVME (SIMD, crc-fast), SHA1
//! and SHA256 (ring), computed incrementally and carried as base64 of the
//! big-endian digest in `x-amz-checksum-*` headers or trailers.

use crc_fast::{CrcAlgorithm, Digest as CrcDigest};
use ring::digest;

use crate::encoding::{base64_decode, base64_encode, constant_time_eq};
use crate::error::{Error, Result};

/// A checksum algorithm S3 accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChecksumAlgorithm {
    /// CRC-32 (ISO-HDLC, as zlib).
    Crc32,
    /// CRC-32C (Castagnoli, iSCSI).
    Crc32c,
    /// CRC-64/NVME.
    Crc64Nvme,
    /// SHA-1.
    Sha1,
    /// SHA-256.
    Sha256,
}

impl ChecksumAlgorithm {
    /// All algorithms, in S3's order of preference.
    pub const ALL: [ChecksumAlgorithm; 5] = [
        ChecksumAlgorithm::Crc64Nvme,
        ChecksumAlgorithm::Crc32,
        ChecksumAlgorithm::Crc32c,
        ChecksumAlgorithm::Sha1,
        ChecksumAlgorithm::Sha256,
    ];

    /// The name used in `x-amz-checksum-algorithm` and
    /// `x-amz-sdk-checksum-algorithm` (`CRC32`, `CRC64NVME`, ...).
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            ChecksumAlgorithm::Crc32 => "CRC32",
            ChecksumAlgorithm::Crc32c => "CRC32C",
            ChecksumAlgorithm::Crc64Nvme => "CRC64NVME",
            ChecksumAlgorithm::Sha1 => "SHA1",
            ChecksumAlgorithm::Sha256 => "SHA256",
        }
    }

    /// The header or trailer carrying the value (`x-amz-checksum-crc32`, ...).
    #[must_use]
    pub fn header_name(self) -> &'static str {
        match self {
            ChecksumAlgorithm::Crc32 => "x-amz-checksum-crc32",
            ChecksumAlgorithm::Crc32c => "x-amz-checksum-crc32c",
            ChecksumAlgorithm::Crc64Nvme => "x-amz-checksum-crc64nvme",
            ChecksumAlgorithm::Sha1 => "x-amz-checksum-sha1",
            ChecksumAlgorithm::Sha256 => "x-amz-checksum-sha256",
        }
    }

    /// Parses an algorithm name, any case.
    #[must_use]
    pub fn from_name(name: &[u8]) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|a| a.name().as_bytes().eq_ignore_ascii_case(name))
    }

    /// The algorithm of an `x-amz-checksum-*` header or trailer name, any case.
    #[must_use]
    pub fn from_header_name(name: &[u8]) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|a| a.header_name().as_bytes().eq_ignore_ascii_case(name))
    }

    /// Whether S3 has a full-object checksum of multipart uploads for this
    /// algorithm (the CRCs, which combine; not the SHAs).
    #[must_use]
    pub fn combines(self) -> bool {
        self.crc().is_some()
    }

    fn crc(self) -> Option<CrcAlgorithm> {
        match self {
            ChecksumAlgorithm::Crc32 => Some(CrcAlgorithm::Crc32IsoHdlc),
            ChecksumAlgorithm::Crc32c => Some(CrcAlgorithm::Crc32Iscsi),
            ChecksumAlgorithm::Crc64Nvme => Some(CrcAlgorithm::Crc64Nvme),
            ChecksumAlgorithm::Sha1 | ChecksumAlgorithm::Sha256 => None,
        }
    }

    /// Digest length in bytes.
    #[must_use]
    pub fn digest_len(self) -> usize {
        match self {
            ChecksumAlgorithm::Crc32 | ChecksumAlgorithm::Crc32c => 4,
            ChecksumAlgorithm::Crc64Nvme => 8,
            ChecksumAlgorithm::Sha1 => 20,
            ChecksumAlgorithm::Sha256 => 32,
        }
    }
}

/// A checksum value: algorithm and digest bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChecksumValue {
    algorithm: ChecksumAlgorithm,
    bytes: [u8; 32],
}

impl ChecksumValue {
    /// Parses the base64 form of a header or trailer.
    ///
    /// # Errors
    /// [`Error::InvalidRequest`] when the value is not base64 of the
    /// algorithm's digest length (S3: "Value for x-amz-checksum-crc32 header
    /// is invalid.").
    pub fn from_base64(algorithm: ChecksumAlgorithm, text: &[u8]) -> Result<Self> {
        let raw = base64_decode(text).filter(|r| r.len() == algorithm.digest_len());
        let raw = raw.ok_or(Error::InvalidRequest(
            "the x-amz-checksum value is not valid base64 of the algorithm's digest",
        ))?;
        let mut bytes = [0u8; 32];
        bytes[..raw.len()].copy_from_slice(&raw);
        Ok(ChecksumValue { algorithm, bytes })
    }

    /// The algorithm.
    #[must_use]
    pub fn algorithm(&self) -> ChecksumAlgorithm {
        self.algorithm
    }

    /// Digest bytes (big-endian for CRCs).
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.algorithm.digest_len()]
    }

    /// The base64 form S3 sends.
    #[must_use]
    pub fn to_base64(&self) -> String {
        base64_encode(self.as_bytes())
    }

    /// The checksum of `a` followed by `b` (of `b_len` bytes), for the CRC
    /// algorithms (S3's full-object checksum of a multipart upload); None
    /// for SHA or when the algorithms differ.
    #[must_use]
    pub fn combine(a: &ChecksumValue, b: &ChecksumValue, b_len: u64) -> Option<ChecksumValue> {
        let crc = a.algorithm.crc()?;
        if a.algorithm != b.algorithm {
            return None;
        }
        let combined = crc_fast::checksum_combine(crc, a.crc_value(), b.crc_value(), b_len);
        Some(ChecksumValue::from_crc(a.algorithm, combined))
    }

    /// S3's composite checksum of a multipart upload: the algorithm over
    /// the concatenated digests of the parts, in order (shown with `-N`,
    /// the number of parts, which [`Self::to_base64`] leaves to the caller).
    /// None when a part's algorithm differs.
    #[must_use]
    pub fn composite<'a>(
        algorithm: ChecksumAlgorithm,
        parts: impl IntoIterator<Item = &'a ChecksumValue>,
    ) -> Option<ChecksumValue> {
        let mut c = Checksum::new(algorithm);
        for p in parts {
            if p.algorithm != algorithm {
                return None;
            }
            c.update(p.as_bytes());
        }
        Some(c.finish())
    }

    fn crc_value(&self) -> u64 {
        self.as_bytes()
            .iter()
            .fold(0u64, |v, b| (v << 8) | u64::from(*b))
    }

    fn from_crc(algorithm: ChecksumAlgorithm, value: u64) -> ChecksumValue {
        let len = algorithm.digest_len();
        let mut bytes = [0u8; 32];
        let be = value.to_be_bytes();
        bytes[..len].copy_from_slice(&be[be.len().saturating_sub(len)..]);
        ChecksumValue { algorithm, bytes }
    }

    /// Compares with a value the client sent.
    ///
    /// # Errors
    /// [`Error::BadDigest`] when they differ.
    pub fn verify(&self, expected: &ChecksumValue) -> Result<()> {
        if self.algorithm == expected.algorithm
            && constant_time_eq(self.as_bytes(), expected.as_bytes())
        {
            Ok(())
        } else {
            Err(Error::BadDigest(self.algorithm.header_name()))
        }
    }
}

#[derive(Clone)]
enum State {
    Crc(CrcDigest),
    Sha(digest::Context),
}

/// An incremental checksum.
#[derive(Clone)]
pub struct Checksum {
    algorithm: ChecksumAlgorithm,
    state: State,
}

impl core::fmt::Debug for Checksum {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Checksum")
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

impl Checksum {
    /// A fresh checksum of `algorithm`.
    #[must_use]
    pub fn new(algorithm: ChecksumAlgorithm) -> Self {
        let state = match algorithm {
            ChecksumAlgorithm::Crc32 => State::Crc(CrcDigest::new(CrcAlgorithm::Crc32IsoHdlc)),
            ChecksumAlgorithm::Crc32c => State::Crc(CrcDigest::new(CrcAlgorithm::Crc32Iscsi)),
            ChecksumAlgorithm::Crc64Nvme => State::Crc(CrcDigest::new(CrcAlgorithm::Crc64Nvme)),
            ChecksumAlgorithm::Sha1 => {
                State::Sha(digest::Context::new(&digest::SHA1_FOR_LEGACY_USE_ONLY))
            }
            ChecksumAlgorithm::Sha256 => State::Sha(digest::Context::new(&digest::SHA256)),
        };
        Checksum { algorithm, state }
    }

    /// Feeds bytes.
    pub fn update(&mut self, data: &[u8]) {
        match &mut self.state {
            State::Crc(d) => d.update(data),
            State::Sha(c) => c.update(data),
        }
    }

    /// The value of everything fed.
    #[must_use]
    pub fn finish(self) -> ChecksumValue {
        let mut bytes = [0u8; 32];
        let len = self.algorithm.digest_len();
        match self.state {
            State::Crc(d) => {
                // The low `len` bytes of the value, big-endian.
                let value = d.finalize().to_be_bytes();
                for (dst, src) in bytes[..len].iter_mut().rev().zip(value.iter().rev()) {
                    *dst = *src;
                }
            }
            State::Sha(c) => bytes[..len].copy_from_slice(c.finish().as_ref()),
        }
        ChecksumValue {
            algorithm: self.algorithm,
            bytes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(algorithm: ChecksumAlgorithm, data: &[u8]) -> String {
        let mut c = Checksum::new(algorithm);
        let (a, b) = data.split_at(data.len() / 3);
        c.update(a);
        c.update(b);
        c.finish().to_base64()
    }

    #[test]
    fn check_values() {
        // The CRC catalogue's check input "123456789".
        let check = b"123456789";
        let crc = |alg, n: u64, len: usize| {
            let mut c = Checksum::new(alg);
            c.update(check);
            assert_eq!(
                c.finish().as_bytes(),
                &n.to_be_bytes()[8 - len..],
                "{alg:?}"
            );
        };
        crc(ChecksumAlgorithm::Crc32, 0xCBF4_3926, 4);
        crc(ChecksumAlgorithm::Crc32c, 0xE306_9283, 4);
        crc(ChecksumAlgorithm::Crc64Nvme, 0xAE8B_1486_0A79_9888, 8);
        // Values S3 returns for "hello world" objects.
        assert_eq!(of(ChecksumAlgorithm::Crc32, b"hello world"), "DUoRhQ==");
        assert_eq!(of(ChecksumAlgorithm::Crc32c, b"hello world"), "yZRlqg==");
        assert_eq!(
            of(ChecksumAlgorithm::Sha1, b"hello world"),
            "Kq5sNclPz7QV2+lfQIuc6R7oRu0="
        );
        assert_eq!(
            of(ChecksumAlgorithm::Sha256, b"hello world"),
            "uU0nuZNNPgilLlLX2n2r+sSE7+N6U4DukIj3rOLvzek="
        );
        assert_eq!(of(ChecksumAlgorithm::Crc32, b""), "AAAAAA==");
    }

    #[test]
    fn crcs_combine_into_the_checksum_of_the_whole() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
        for alg in ChecksumAlgorithm::ALL {
            let whole = {
                let mut c = Checksum::new(alg);
                c.update(&data);
                c.finish()
            };
            let pieces: Vec<&[u8]> = vec![&data[..1], &data[1..65_536], &data[65_536..], &[]];
            let values: Vec<ChecksumValue> = pieces
                .iter()
                .map(|p| {
                    let mut c = Checksum::new(alg);
                    c.update(p);
                    c.finish()
                })
                .collect();
            let combined = values[1..]
                .iter()
                .zip(&pieces[1..])
                .try_fold(values[0], |acc, (v, p)| {
                    ChecksumValue::combine(&acc, v, p.len() as u64)
                });
            if alg.combines() {
                assert_eq!(combined, Some(whole), "{alg:?}");
            } else {
                assert_eq!(combined, None, "{alg:?}");
            }
        }
    }

    #[test]
    fn composite_is_the_checksum_of_the_part_digests() {
        // S3's documented example shape: CRC32 of the two raw part CRCs.
        let part = |data: &[u8]| {
            let mut c = Checksum::new(ChecksumAlgorithm::Crc32);
            c.update(data);
            c.finish()
        };
        let (a, b) = (part(b"hello "), part(b"world"));
        let mut raw = a.as_bytes().to_vec();
        raw.extend_from_slice(b.as_bytes());
        assert_eq!(
            ChecksumValue::composite(ChecksumAlgorithm::Crc32, [&a, &b]),
            Some(part(&raw))
        );
        assert_eq!(
            ChecksumValue::composite(ChecksumAlgorithm::Sha1, [&a]),
            None
        );
    }

    #[test]
    fn parse_and_verify() {
        let sent = ChecksumValue::from_base64(ChecksumAlgorithm::Crc32, b"DUoRhQ==").unwrap();
        let mut c = Checksum::new(ChecksumAlgorithm::Crc32);
        c.update(b"hello world");
        assert_eq!(c.finish().verify(&sent), Ok(()));
        let mut c = Checksum::new(ChecksumAlgorithm::Crc32);
        c.update(b"hello worle");
        assert_eq!(
            c.finish().verify(&sent),
            Err(Error::BadDigest("x-amz-checksum-crc32"))
        );
        assert!(ChecksumValue::from_base64(ChecksumAlgorithm::Crc32, b"DUoRhQ").is_err());
        assert!(ChecksumValue::from_base64(ChecksumAlgorithm::Crc64Nvme, b"DUoRhQ==").is_err());
        assert_eq!(
            ChecksumAlgorithm::from_name(b"crc64nvme"),
            Some(ChecksumAlgorithm::Crc64Nvme)
        );
        assert_eq!(
            ChecksumAlgorithm::from_header_name(b"X-Amz-Checksum-Sha1"),
            Some(ChecksumAlgorithm::Sha1)
        );
        assert_eq!(ChecksumAlgorithm::from_name(b"MD5"), None);
    }
}
