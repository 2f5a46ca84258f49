//! Incremental decoders for `Transfer-Encoding: chunked` and for the
//! aws-chunked content coding. Both share one state machine: a size line,
//! data, CRLF, ..., a zero-size chunk, trailer fields, a blank line.
//!
//! The decoders copy nothing: data and signatures are handed out as slices
//! of the caller's input. A framing line (size line, trailer field) is only
//! consumed once it is complete; until then the decoder asks for more input
//! and the caller MUST keep the unconsumed bytes and append to them.

use crate::body::BodyEvent;
use crate::error::{Error, Result};
use crate::headers::trim;
use crate::limits::Limits;
use crate::target::hex_value;

/// Length of a chunk signature: a hex-encoded HMAC-SHA256.
pub const CHUNK_SIGNATURE_LEN: usize = 64;
const SIGNATURE_EXT: &[u8] = b"chunk-signature=";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Coding {
    /// RFC 9112 chunked: extensions are checked for syntax and ignored.
    Http,
    /// aws-chunked: the only extension is `chunk-signature`, either on every
    /// chunk or on none; the decoded length must match the declared one.
    Aws { decoded_length: u64 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    SizeLine,
    Data { remaining: u64 },
    DataCrlf,
    LastChunkEnd,
    Trailers,
    Done,
}

/// Decoder for chunk-framed bodies; see the module documentation.
///
/// Events come in this order: for each chunk [`BodyEvent::ChunkStart`], zero
/// or more [`BodyEvent::Data`], [`BodyEvent::ChunkEnd`]; after the zero-size
/// chunk's `ChunkEnd`, zero or more [`BodyEvent::Trailer`], then
/// [`BodyEvent::End`].
#[derive(Debug, Clone)]
pub struct ChunkedDecoder {
    coding: Coding,
    state: State,
    limits: Limits,
    decoded: u64,
    /// aws-chunked: whether the first chunk carried a signature.
    signed: Option<bool>,
    trailer_bytes: usize,
    trailers: usize,
}

impl ChunkedDecoder {
    /// A decoder for `Transfer-Encoding: chunked`.
    #[must_use]
    pub fn http(limits: &Limits) -> Self {
        Self::new(Coding::Http, limits)
    }

    /// A decoder for aws-chunked with the declared
    /// `x-amz-decoded-content-length`. The caller MUST bound its input to the
    /// wire Content-Length ([`crate::BodyDecoder`] does).
    #[must_use]
    pub fn aws(decoded_length: u64, limits: &Limits) -> Self {
        Self::new(Coding::Aws { decoded_length }, limits)
    }

    fn new(coding: Coding, limits: &Limits) -> Self {
        ChunkedDecoder {
            coding,
            state: State::SizeLine,
            limits: *limits,
            decoded: 0,
            signed: None,
            trailer_bytes: 0,
            trailers: 0,
        }
    }

    /// Payload bytes handed out so far.
    #[must_use]
    pub fn decoded_len(&self) -> u64 {
        self.decoded
    }

    /// Whether [`BodyEvent::End`] has been returned.
    #[must_use]
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Decodes from the start of `input`.
    ///
    /// Returns how many bytes of `input` were consumed and the event they
    /// made. `None` means the decoder needs more input: the caller MUST
    /// discard the consumed bytes, keep the rest, append newly read bytes
    /// and call again. After [`BodyEvent::End`] it returns `(0, None)`;
    /// bytes left in `input` then belong to whatever follows the body.
    ///
    /// # Errors
    /// Any framing error of [`Error`]; the decoder is then unusable.
    pub fn decode<'a>(&mut self, input: &'a [u8]) -> Result<(usize, Option<BodyEvent<'a>>)> {
        match self.state {
            State::SizeLine => self.size_line(input),
            State::Data { remaining } => {
                let take = usize::try_from(remaining)
                    .unwrap_or(usize::MAX)
                    .min(input.len());
                if take == 0 {
                    return Ok((0, None));
                }
                let left = remaining - take as u64;
                self.state = if left == 0 {
                    State::DataCrlf
                } else {
                    State::Data { remaining: left }
                };
                self.decoded += take as u64;
                Ok((take, Some(BodyEvent::Data(&input[..take]))))
            }
            State::DataCrlf => match input {
                [b'\r', b'\n', ..] => {
                    self.state = State::SizeLine;
                    Ok((2, Some(BodyEvent::ChunkEnd)))
                }
                [] | [b'\r'] => Ok((0, None)),
                _ => Err(Error::MalformedChunk),
            },
            State::LastChunkEnd => {
                self.state = State::Trailers;
                Ok((0, Some(BodyEvent::ChunkEnd)))
            }
            State::Trailers => self.trailer_line(input),
            State::Done => Ok((0, None)),
        }
    }

    fn size_line<'a>(&mut self, input: &'a [u8]) -> Result<(usize, Option<BodyEvent<'a>>)> {
        let Some((line, used)) = take_line(input, self.limits.max_line_bytes)? else {
            return Ok((0, None));
        };
        let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
        let (size_hex, ext) = line.split_at(digits);
        let size = parse_hex(size_hex)?;
        if size > self.limits.max_chunk_bytes {
            return Err(Error::ChunkTooLarge);
        }
        let signature = match self.coding {
            Coding::Http => {
                check_http_extensions(ext)?;
                None
            }
            Coding::Aws { decoded_length } => {
                let signature = aws_signature(ext)?;
                if *self.signed.get_or_insert(signature.is_some()) != signature.is_some() {
                    return Err(Error::MalformedChunkExtension);
                }
                if self
                    .decoded
                    .checked_add(size)
                    .is_none_or(|total| total > decoded_length)
                {
                    return Err(Error::DecodedLengthMismatch);
                }
                signature
            }
        };
        if size > self.limits.max_body_bytes.saturating_sub(self.decoded) {
            return Err(Error::BodyTooLarge);
        }
        self.state = if size == 0 {
            State::LastChunkEnd
        } else {
            State::Data { remaining: size }
        };
        Ok((used, Some(BodyEvent::ChunkStart { size, signature })))
    }

    fn trailer_line<'a>(&mut self, input: &'a [u8]) -> Result<(usize, Option<BodyEvent<'a>>)> {
        let Some((line, used)) = take_line(input, self.limits.max_line_bytes)? else {
            return Ok((0, None));
        };
        if line.is_empty() {
            if let Coding::Aws { decoded_length } = self.coding {
                if self.decoded != decoded_length {
                    return Err(Error::DecodedLengthMismatch);
                }
            }
            self.state = State::Done;
            return Ok((used, Some(BodyEvent::End)));
        }
        self.trailers += 1;
        self.trailer_bytes += used;
        if self.trailers > self.limits.max_trailers
            || self.trailer_bytes > self.limits.max_trailer_bytes
        {
            return Err(Error::TrailerTooLarge);
        }
        let colon = memchr::memchr(b':', line).ok_or(Error::MalformedTrailer)?;
        let (name, value) = (&line[..colon], trim(&line[colon + 1..]));
        if name.is_empty()
            || !name.iter().copied().all(is_token)
            || !value.iter().copied().all(is_field_vchar)
        {
            return Err(Error::MalformedTrailer);
        }
        Ok((used, Some(BodyEvent::Trailer { name, value })))
    }
}

/// Finds a CRLF-terminated line at the start of `input`. Returns the line
/// without its CRLF and the bytes it spans, or None if no line end has
/// arrived yet. A bare LF anywhere, or a line longer than `max`, is an error;
/// a bare CR is left to the callers' byte checks.
fn take_line(input: &[u8], max: usize) -> Result<Option<(&[u8], usize)>> {
    let window = &input[..input.len().min(max)];
    match memchr::memchr(b'\n', window) {
        Some(lf) if lf > 0 && window[lf - 1] == b'\r' => Ok(Some((&window[..lf - 1], lf + 1))),
        Some(_) => Err(Error::MalformedChunk),
        None if input.len() >= max => Err(Error::LineTooLong),
        None => Ok(None),
    }
}

fn parse_hex(digits: &[u8]) -> Result<u64> {
    if digits.is_empty() {
        return Err(Error::InvalidChunkSize);
    }
    // Leading zeros are legal; what counts is the significant digits.
    let significant = digits
        .iter()
        .position(|&b| b != b'0')
        .map_or(&[][..], |i| &digits[i..]);
    if significant.len() > 15 {
        return Err(Error::InvalidChunkSize);
    }
    Ok(significant
        .iter()
        .fold(0u64, |n, &b| n << 4 | u64::from(hex_value(b).unwrap_or(0))))
}

/// `*( BWS ";" BWS name [ BWS "=" BWS value ] )` checked loosely: after
/// optional whitespace there must be a `;`, and no control characters.
fn check_http_extensions(ext: &[u8]) -> Result<()> {
    let rest = trim(ext);
    if rest.is_empty() {
        return Ok(());
    }
    if rest[0] != b';' || !rest.iter().all(|&b| is_field_vchar(b) || b == b'\t') {
        return Err(Error::MalformedChunkExtension);
    }
    Ok(())
}

/// The aws-chunked extension: nothing, or exactly
/// `;chunk-signature=<64 lowercase hex>`.
fn aws_signature(ext: &[u8]) -> Result<Option<&[u8]>> {
    if ext.is_empty() {
        return Ok(None);
    }
    let sig = ext
        .strip_prefix(b";")
        .and_then(|e| e.strip_prefix(SIGNATURE_EXT))
        .ok_or(Error::MalformedChunkExtension)?;
    if sig.len() != CHUNK_SIGNATURE_LEN
        || !sig.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        return Err(Error::MalformedChunkExtension);
    }
    Ok(Some(sig))
}

/// tchar of RFC 9110.
fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Visible characters, space and obs-text; no controls.
fn is_field_vchar(b: u8) -> bool {
    b == b' ' || b == b'\t' || (b > 0x20 && b != 0x7f)
}
