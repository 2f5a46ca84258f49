//! aws-chunked signatures: each chunk is signed over the SHA-256 of its data
//! and the previous chunk's signature (the first over the request's seed
//! signature), and trailers over their canonical text and the last chunk's.

use ring::{digest, hmac};
use sluice_http::hex_encode32;

use crate::auth::Scope;
use crate::encoding::constant_time_eq;
use crate::error::{Error, Result};
use crate::key::sign_hex;
use crate::payload::EMPTY_SHA256;
use crate::verify::string_to_sign;

const CHUNK_ALGORITHM: &str = "AWS4-HMAC-SHA256-PAYLOAD";
const TRAILER_ALGORITHM: &str = "AWS4-HMAC-SHA256-TRAILER";
const TRAILER_SIGNATURE: &[u8] = b"x-amz-trailer-signature";

/// The three streaming payload modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamingMode {
    /// Every chunk signed; no trailer.
    Signed,
    /// Every chunk signed, then trailers and `x-amz-trailer-signature`.
    SignedTrailer,
    /// No chunk signatures, trailers unsigned (integrity comes from the
    /// trailing checksum, which the caller MUST verify).
    UnsignedTrailer,
}

/// Computes the chain of chunk and trailer signatures; shared by the
/// verifier and the signer so both sides are one piece of code.
#[derive(Clone)]
pub(crate) struct SignatureChain {
    key: hmac::Key,
    amz_date: String,
    scope: Scope,
    pub(crate) previous: [u8; 64],
    scratch: Vec<u8>,
}

impl SignatureChain {
    pub(crate) fn new(key: hmac::Key, amz_date: &str, scope: &Scope, seed: [u8; 64]) -> Self {
        SignatureChain {
            key,
            amz_date: amz_date.to_owned(),
            scope: scope.clone(),
            previous: seed,
            scratch: Vec::with_capacity(256),
        }
    }

    /// Signature of a chunk whose data hashed to `data_sha256`; advances the chain.
    pub(crate) fn next_chunk(&mut self, data_sha256: &[u8; 32]) -> [u8; 64] {
        let hash = hex_encode32(data_sha256);
        self.advance(
            CHUNK_ALGORITHM,
            &[&self.previous.clone(), EMPTY_SHA256.as_bytes(), &hash],
        )
    }

    /// Signature of the trailer section whose canonical text is `canonical`.
    pub(crate) fn trailer(&mut self, canonical: &[u8]) -> [u8; 64] {
        let mut d = [0u8; 32];
        d.copy_from_slice(digest::digest(&digest::SHA256, canonical).as_ref());
        let hash = hex_encode32(&d);
        self.advance(TRAILER_ALGORITHM, &[&self.previous.clone(), &hash])
    }

    fn advance(&mut self, algorithm: &str, lines: &[&[u8]]) -> [u8; 64] {
        self.scratch.clear();
        string_to_sign(
            &mut self.scratch,
            algorithm,
            &self.amz_date,
            &self.scope,
            lines,
        );
        self.previous = sign_hex(&self.key, &self.scratch);
        self.previous
    }
}

/// Appends one trailer to the canonical trailer text: `name:value\n` with
/// the name lowercased and the value trimmed.
pub(crate) fn push_canonical_trailer(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend(name.iter().map(u8::to_ascii_lowercase));
    out.push(b':');
    out.extend_from_slice(value.trim_ascii());
    out.push(b'\n');
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Between chunks.
    Idle,
    /// Inside a chunk.
    InChunk,
    /// After the final (zero-size) chunk: trailers may follow.
    AfterLast,
    /// The trailer signature checked out.
    TrailerVerified,
}

/// Verifies the chunk signatures of an aws-chunked body as the decoder
/// hands out its events: call [`ChunkVerifier::chunk_start`],
/// [`ChunkVerifier::update`] with the chunk's data,
/// [`ChunkVerifier::chunk_end`], then [`ChunkVerifier::trailer`] for each
/// trailer and [`ChunkVerifier::finish`] at the end of the body. Data MUST
/// NOT be made visible before `finish` succeeds.
pub struct ChunkVerifier {
    mode: StreamingMode,
    chain: SignatureChain,
    data: digest::Context,
    expected: Option<[u8; 64]>,
    phase: Phase,
    last_size: Option<u64>,
    trailers: Vec<u8>,
}

impl core::fmt::Debug for ChunkVerifier {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ChunkVerifier")
            .field("mode", &self.mode)
            .field("phase", &self.phase)
            .finish_non_exhaustive()
    }
}

impl ChunkVerifier {
    pub(crate) fn new(
        mode: StreamingMode,
        key: hmac::Key,
        amz_date: &str,
        scope: &Scope,
        seed: [u8; 64],
    ) -> Self {
        ChunkVerifier {
            mode,
            chain: SignatureChain::new(key, amz_date, scope, seed),
            data: digest::Context::new(&digest::SHA256),
            expected: None,
            phase: Phase::Idle,
            last_size: None,
            trailers: Vec::new(),
        }
    }

    /// The streaming mode being verified.
    #[must_use]
    pub fn mode(&self) -> StreamingMode {
        self.mode
    }

    fn signs_chunks(&self) -> bool {
        self.mode != StreamingMode::UnsignedTrailer
    }

    /// A chunk of `size` bytes begins with `signature` (as the decoder read it).
    ///
    /// # Errors
    /// [`Error::SignatureDoesNotMatch`] when a signature is missing in a
    /// signed mode, present in the unsigned mode, or a chunk follows the last.
    pub fn chunk_start(&mut self, size: u64, signature: Option<&[u8]>) -> Result<()> {
        if self.phase != Phase::Idle {
            return Err(Error::SignatureDoesNotMatch);
        }
        self.expected = match (self.signs_chunks(), signature) {
            (true, Some(sig)) => Some(sig.try_into().map_err(|_| Error::SignatureDoesNotMatch)?),
            (false, None) => None,
            _ => return Err(Error::SignatureDoesNotMatch),
        };
        self.last_size = Some(size);
        self.phase = Phase::InChunk;
        Ok(())
    }

    /// Data of the current chunk.
    pub fn update(&mut self, data: &[u8]) {
        if self.signs_chunks() {
            self.data.update(data);
        }
    }

    /// The current chunk's data is complete: checks its signature.
    ///
    /// # Errors
    /// [`Error::SignatureDoesNotMatch`].
    pub fn chunk_end(&mut self) -> Result<()> {
        if self.phase != Phase::InChunk {
            return Err(Error::SignatureDoesNotMatch);
        }
        let ctx = core::mem::replace(&mut self.data, digest::Context::new(&digest::SHA256));
        if let Some(expected) = self.expected.take() {
            let mut d = [0u8; 32];
            d.copy_from_slice(ctx.finish().as_ref());
            if !constant_time_eq(&self.chain.next_chunk(&d), &expected) {
                return Err(Error::SignatureDoesNotMatch);
            }
        }
        self.phase = if self.last_size == Some(0) {
            Phase::AfterLast
        } else {
            Phase::Idle
        };
        Ok(())
    }

    /// A trailer field. In the signed-trailer mode `x-amz-trailer-signature`
    /// is checked against the trailers before it.
    ///
    /// # Errors
    /// [`Error::SignatureDoesNotMatch`] for a wrong or unexpected trailer
    /// signature, or a trailer before the final chunk.
    pub fn trailer(&mut self, name: &[u8], value: &[u8]) -> Result<()> {
        // A trailer in the signed mode without trailers is covered by no
        // signature: refused rather than trusted.
        if self.phase != Phase::AfterLast || self.mode == StreamingMode::Signed {
            return Err(Error::SignatureDoesNotMatch);
        }
        if !name.eq_ignore_ascii_case(TRAILER_SIGNATURE) {
            push_canonical_trailer(&mut self.trailers, name, value);
            return Ok(());
        }
        if self.mode != StreamingMode::SignedTrailer {
            // An unsigned stream has nothing to check a signature against;
            // SDKs do not send one there, so it is ignored, not trusted.
            return Ok(());
        }
        if !constant_time_eq(&self.chain.trailer(&self.trailers), value) {
            return Err(Error::SignatureDoesNotMatch);
        }
        self.phase = Phase::TrailerVerified;
        Ok(())
    }

    /// The body ended: checks that the final chunk came and, in the
    /// signed-trailer mode, that the trailer signature did.
    ///
    /// # Errors
    /// [`Error::SignatureDoesNotMatch`] (S3 answers a truncated signed body so).
    pub fn finish(&self) -> Result<()> {
        let complete = match self.mode {
            StreamingMode::Signed | StreamingMode::UnsignedTrailer => {
                self.phase == Phase::AfterLast
            }
            StreamingMode::SignedTrailer => self.phase == Phase::TrailerVerified,
        };
        if complete {
            Ok(())
        } else {
            Err(Error::SignatureDoesNotMatch)
        }
    }
}
