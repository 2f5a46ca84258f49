//! One decoder for every body framing a request head can announce.

use crate::chunked::ChunkedDecoder;
use crate::error::{Error, Result};
use crate::head::{Framing, RequestHead};
use crate::limits::Limits;

/// What a body decoder found in the input. Slices borrow from the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyEvent<'a> {
    /// A chunk begins (chunked and aws-chunked only). `signature` is the
    /// aws-chunked `chunk-signature` (64 lowercase hex digits) when sent:
    /// the caller MUST verify it over this chunk's data before trusting the
    /// body.
    ChunkStart {
        /// Declared data size of the chunk; zero for the last chunk.
        size: u64,
        /// The chunk's signature, if any.
        signature: Option<&'a [u8]>,
    },
    /// Payload bytes, framing removed.
    Data(&'a [u8]),
    /// The current chunk's data is complete.
    ChunkEnd,
    /// A trailer field after the last chunk, such as `x-amz-checksum-crc32`
    /// or `x-amz-trailer-signature` (value trimmed).
    Trailer {
        /// Field name as sent.
        name: &'a [u8],
        /// Field value.
        value: &'a [u8],
    },
    /// The body is complete; what follows in the input is the next request.
    End,
}

#[derive(Debug, Clone)]
enum Inner {
    Length { remaining: u64 },
    Chunked(ChunkedDecoder),
    Done,
}

/// Decodes a request body as its head announced it: Content-Length,
/// chunked, or aws-chunked inside a Content-Length body.
///
/// See [`BodyDecoder::decode`] for the contract; [`ChunkedDecoder`] documents
/// the event order of chunked bodies. A Content-Length body yields only
/// [`BodyEvent::Data`] and [`BodyEvent::End`].
#[derive(Debug, Clone)]
pub struct BodyDecoder {
    inner: Inner,
    /// Wire bytes left when the wire is Content-Length delimited.
    wire_remaining: Option<u64>,
}

impl BodyDecoder {
    /// The decoder for the body of `head`.
    #[must_use]
    pub fn for_head(head: &RequestHead<'_, '_>, limits: &Limits) -> Self {
        match (head.framing(), head.aws_chunked()) {
            (Framing::Length(n), Some(aws)) => BodyDecoder {
                inner: Inner::Chunked(ChunkedDecoder::aws(aws.decoded_length, limits)),
                wire_remaining: Some(n),
            },
            (Framing::Length(n), None) => Self::length(n),
            (Framing::Chunked, _) => BodyDecoder {
                inner: Inner::Chunked(ChunkedDecoder::http(limits)),
                wire_remaining: None,
            },
            (Framing::Empty, _) => Self::length(0),
        }
    }

    /// A decoder for a body of exactly `n` bytes.
    #[must_use]
    pub fn length(n: u64) -> Self {
        BodyDecoder {
            inner: Inner::Length { remaining: n },
            wire_remaining: None,
        }
    }

    /// Whether [`BodyEvent::End`] has been returned.
    #[must_use]
    pub fn is_done(&self) -> bool {
        match &self.inner {
            Inner::Chunked(c) => c.is_done(),
            Inner::Done => true,
            Inner::Length { .. } => false,
        }
    }

    /// Decodes from the start of `input`: returns bytes consumed and the
    /// event they made. `None` means more input is needed: the caller MUST
    /// keep the unconsumed bytes, append what it reads next and call again.
    /// A caller whose peer closed the connection while the decoder still
    /// wants input has a truncated body.
    ///
    /// # Errors
    /// Framing errors, and aws-chunked framing that ends before or runs past
    /// the wire Content-Length ([`Error::MalformedChunk`]).
    pub fn decode<'a>(&mut self, input: &'a [u8]) -> Result<(usize, Option<BodyEvent<'a>>)> {
        match &mut self.inner {
            Inner::Length { remaining } => {
                if *remaining == 0 {
                    self.inner = Inner::Done;
                    return Ok((0, Some(BodyEvent::End)));
                }
                let take = usize::try_from(*remaining)
                    .unwrap_or(usize::MAX)
                    .min(input.len());
                if take == 0 {
                    return Ok((0, None));
                }
                *remaining -= take as u64;
                Ok((take, Some(BodyEvent::Data(&input[..take]))))
            }
            Inner::Chunked(chunked) => {
                let Some(wire) = self.wire_remaining else {
                    return chunked.decode(input);
                };
                let bounded =
                    &input[..usize::try_from(wire).unwrap_or(usize::MAX).min(input.len())];
                let (used, event) = chunked.decode(bounded)?;
                let wire = wire - used as u64;
                self.wire_remaining = Some(wire);
                match event {
                    Some(BodyEvent::End) if wire != 0 => Err(Error::MalformedChunk),
                    // Everything Content-Length allows is already here: waiting
                    // for more cannot complete the framing.
                    None if !chunked.is_done() && bounded.len() as u64 == wire => {
                        Err(Error::MalformedChunk)
                    }
                    other => Ok((used, other)),
                }
            }
            Inner::Done => Ok((0, None)),
        }
    }
}
