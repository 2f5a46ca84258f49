//! One decoder for every body framing a request head can announce.

use crate::chunked::{advance, ChunkedDecoder, RawEvent};
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
    Length {
        remaining: u64,
    },
    /// Chunked, or aws-chunked bounded by the wire Content-Length.
    Chunked {
        decoder: ChunkedDecoder,
        wire_remaining: Option<u64>,
    },
    /// aws-chunked carried inside `Transfer-Encoding: chunked`, as boto3
    /// sends it when it does not know the length up front.
    Nested {
        outer: ChunkedDecoder,
        inner: ChunkedDecoder,
        inner_done: bool,
    },
    Done,
}

/// Decodes a request body as its head announced it: Content-Length,
/// chunked, aws-chunked inside a Content-Length body, or aws-chunked inside
/// a chunked body.
///
/// See [`BodyDecoder::decode`] for the contract; [`ChunkedDecoder`] documents
/// the event order of chunked bodies. A Content-Length body yields only
/// [`BodyEvent::Data`] and [`BodyEvent::End`]; an aws-chunked body yields
/// the events of its aws-chunked layer only.
#[derive(Debug, Clone)]
pub struct BodyDecoder {
    inner: Inner,
}

impl BodyDecoder {
    /// The decoder for the body of `head`.
    #[must_use]
    pub fn for_head(head: &RequestHead<'_, '_>, limits: &Limits) -> Self {
        let inner = match (head.framing(), head.aws_chunked()) {
            (Framing::Length(n), Some(aws)) => Inner::Chunked {
                decoder: ChunkedDecoder::aws(aws.decoded_length, limits),
                wire_remaining: Some(n),
            },
            (Framing::Chunked, Some(aws)) => Inner::Nested {
                outer: ChunkedDecoder::http(limits),
                inner: ChunkedDecoder::aws(aws.decoded_length, limits),
                inner_done: false,
            },
            (Framing::Chunked, None) => Inner::Chunked {
                decoder: ChunkedDecoder::http(limits),
                wire_remaining: None,
            },
            (Framing::Length(n), None) => Inner::Length { remaining: n },
            (Framing::Empty, _) => Inner::Length { remaining: 0 },
        };
        BodyDecoder { inner }
    }

    /// A decoder for a body of exactly `n` bytes.
    #[must_use]
    pub fn length(n: u64) -> Self {
        BodyDecoder {
            inner: Inner::Length { remaining: n },
        }
    }

    /// Whether [`BodyEvent::End`] has been returned.
    #[must_use]
    pub fn is_done(&self) -> bool {
        match &self.inner {
            Inner::Chunked { decoder, .. } => decoder.is_done(),
            Inner::Nested { outer, .. } => outer.is_done(),
            Inner::Done => true,
            Inner::Length { .. } => false,
        }
    }

    /// Decodes from the start of `input`: returns bytes consumed and the
    /// event they made. `None` means the decoder needs more input; it has
    /// then consumed all of `input`, except at the end of a Content-Length
    /// body. A caller whose peer closed the connection while the decoder
    /// still wants input has a truncated body.
    ///
    /// # Errors
    /// Framing errors; aws-chunked framing that ends before or runs past the
    /// end of the wire body ([`Error::MalformedChunk`]).
    pub fn decode<'a>(&'a mut self, input: &'a [u8]) -> Result<(usize, Option<BodyEvent<'a>>)> {
        let (used, raw) = self.step(input)?;
        let Some(raw) = raw else {
            return Ok((used, None));
        };
        let event = match &self.inner {
            Inner::Chunked { decoder, .. } => decoder.resolve(input, raw),
            Inner::Nested { inner, .. } => inner.resolve(input, raw),
            Inner::Length { .. } | Inner::Done => match raw {
                RawEvent::Data(r) => BodyEvent::Data(&input[r]),
                _ => BodyEvent::End,
            },
        };
        Ok((used, Some(event)))
    }

    fn step(&mut self, input: &[u8]) -> Result<(usize, Option<RawEvent>)> {
        match &mut self.inner {
            Inner::Length { remaining } => {
                if *remaining == 0 {
                    self.inner = Inner::Done;
                    return Ok((0, Some(RawEvent::End)));
                }
                let take = within(input, *remaining).len();
                if take == 0 {
                    return Ok((0, None));
                }
                *remaining = less(*remaining, take);
                Ok((take, Some(RawEvent::Data(0..take))))
            }
            Inner::Chunked {
                decoder,
                wire_remaining: None,
            } => decoder.step(input),
            Inner::Chunked {
                decoder,
                wire_remaining: Some(wire),
            } => {
                let (used, event) = decoder.step(within(input, *wire))?;
                *wire = less(*wire, used);
                match event {
                    Some(RawEvent::End) if *wire != 0 => Err(Error::MalformedChunk),
                    // The wire body is over and the framing is not.
                    None if *wire == 0 && !decoder.is_done() => Err(Error::MalformedChunk),
                    other => Ok((used, other)),
                }
            }
            Inner::Nested {
                outer,
                inner,
                inner_done,
            } => {
                let mut pos = 0;
                loop {
                    let rest = &input[pos..];
                    if let Some(remaining) = outer.data_remaining() {
                        let avail = within(rest, remaining);
                        if avail.is_empty() {
                            return Ok((pos, None));
                        }
                        if *inner_done {
                            // Payload after the end of the aws-chunked framing.
                            return Err(Error::MalformedChunk);
                        }
                        let (used, event) = inner.step(avail)?;
                        outer.skip_data(used as u64);
                        let start = pos;
                        pos = advance(pos, used);
                        match event {
                            Some(RawEvent::End) => *inner_done = true,
                            Some(event) => return Ok((pos, Some(event.shift(start)))),
                            None => {}
                        }
                    } else {
                        let (used, event) = outer.step(rest)?;
                        pos = advance(pos, used);
                        match event {
                            None => return Ok((pos, None)),
                            Some(RawEvent::End) if *inner_done => {
                                return Ok((pos, Some(RawEvent::End)))
                            }
                            // The HTTP body ended inside the aws-chunked framing.
                            Some(RawEvent::End) => return Err(Error::MalformedChunk),
                            // Outer chunk boundaries and trailers mean nothing here.
                            Some(_) => {}
                        }
                    }
                }
            }
            Inner::Done => Ok((0, None)),
        }
    }
}

/// The first bytes of `input`, at most `remaining` of them.
fn within(input: &[u8], remaining: u64) -> &[u8] {
    let n = usize::try_from(remaining).unwrap_or(usize::MAX);
    input.get(..n).unwrap_or(input)
}

/// `remaining` less `taken` bytes, which came out of [`within`] it (or out
/// of a decoder fed that much), so they are at most `remaining`: the
/// subtraction never saturates.
fn less(remaining: u64, taken: usize) -> u64 {
    remaining.saturating_sub(taken as u64)
}
