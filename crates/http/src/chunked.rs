//! Incremental decoders for `Transfer-Encoding: chunked` and for the
//! aws-chunked content coding. Both share one state machine: a size line,
//! data, CRLF, ..., a zero-size chunk, trailer fields, a blank line.
//!
//! Data is never copied: it is handed out as slices of the caller's input.
//! Framing lines (size lines, trailer fields) are usually read in place too;
//! only a line that arrives split across inputs is assembled in a small
//! internal buffer (at most [`Limits::max_line_bytes`]). So the decoder
//! consumes every byte it is given, and can be fed the payload of another
//! decoder piece by piece, which is how aws-chunked inside
//! `Transfer-Encoding: chunked` (what boto3 sends) is decoded.

use core::ops::Range;

use crate::body::BodyEvent;
use crate::encoding::hex_value;
use crate::error::{Error, Result};
use crate::headers::trim;
use crate::limits::Limits;

/// Length of a chunk signature: a hex-encoded HMAC-SHA256.
pub const CHUNK_SIGNATURE_LEN: usize = 64;
const SIGNATURE_EXT: &[u8] = b";chunk-signature=";

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

/// Where an event's bytes are: in the input of the step that made it, or
/// in the decoder's line buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Loc {
    Input(Range<usize>),
    Line(Range<usize>),
}

impl Loc {
    fn shift(self, by: usize) -> Loc {
        match self {
            Loc::Input(r) => Loc::Input(advance(r.start, by)..advance(r.end, by)),
            line @ Loc::Line(_) => line,
        }
    }
}

/// An event as offsets, so that decoders can be stacked without holding
/// borrows; [`ChunkedDecoder::resolve`] turns it into a [`BodyEvent`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RawEvent {
    ChunkStart { size: u64, signature: Option<Loc> },
    Data(Range<usize>),
    ChunkEnd,
    Trailer { name: Loc, value: Loc },
    End,
}

impl RawEvent {
    /// The same event for an input that starts `by` bytes earlier.
    pub(crate) fn shift(self, by: usize) -> RawEvent {
        match self {
            RawEvent::ChunkStart { size, signature } => RawEvent::ChunkStart {
                size,
                signature: signature.map(|s| s.shift(by)),
            },
            RawEvent::Data(r) => RawEvent::Data(advance(r.start, by)..advance(r.end, by)),
            RawEvent::Trailer { name, value } => RawEvent::Trailer {
                name: name.shift(by),
                value: value.shift(by),
            },
            other => other,
        }
    }
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
    /// A framing line that arrived in pieces, CRLF included once complete.
    line: Vec<u8>,
    /// The line buffer holds a complete line an event may point into; it is
    /// cleared at the next step.
    line_used: bool,
}

impl ChunkedDecoder {
    /// A decoder for `Transfer-Encoding: chunked`.
    #[must_use]
    pub fn http(limits: &Limits) -> Self {
        Self::new(Coding::Http, limits)
    }

    /// A decoder for aws-chunked with the declared
    /// `x-amz-decoded-content-length`. The caller MUST bound its input to the
    /// wire body ([`crate::BodyDecoder`] does).
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
            line: Vec::new(),
            line_used: false,
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
    /// made. `None` means every byte was consumed and the decoder needs more
    /// input. After [`BodyEvent::End`] it returns `(0, None)`; bytes left in
    /// `input` then belong to whatever follows the body.
    ///
    /// # Errors
    /// Any framing error of [`Error`]; the decoder is then unusable.
    pub fn decode<'a>(&'a mut self, input: &'a [u8]) -> Result<(usize, Option<BodyEvent<'a>>)> {
        let (used, raw) = self.step(input)?;
        Ok((used, raw.map(|r| self.resolve(input, r))))
    }

    /// Payload bytes left in the current chunk, when the decoder is inside one.
    pub(crate) fn data_remaining(&self) -> Option<u64> {
        match self.state {
            State::Data { remaining } => Some(remaining),
            _ => None,
        }
    }

    /// Marks `n` bytes of the current chunk's data (at most
    /// [`Self::data_remaining`]) as consumed by someone else.
    pub(crate) fn skip_data(&mut self, n: u64) {
        if let State::Data { remaining } = self.state {
            let n = n.min(remaining);
            // The size line admitted this chunk only if the total stays
            // within max_body_bytes (and the declared decoded length), so
            // the sum never saturates.
            self.decoded = self.decoded.saturating_add(n);
            self.state = match remaining.checked_sub(n) {
                Some(0) | None => State::DataCrlf,
                Some(left) => State::Data { remaining: left },
            };
        }
    }

    pub(crate) fn resolve<'a>(&'a self, input: &'a [u8], raw: RawEvent) -> BodyEvent<'a> {
        let bytes = |loc: Loc| match loc {
            Loc::Input(r) => &input[r],
            Loc::Line(r) => &self.line[r],
        };
        match raw {
            RawEvent::ChunkStart { size, signature } => BodyEvent::ChunkStart {
                size,
                signature: signature.map(bytes),
            },
            RawEvent::Data(r) => BodyEvent::Data(&input[r]),
            RawEvent::ChunkEnd => BodyEvent::ChunkEnd,
            RawEvent::Trailer { name, value } => BodyEvent::Trailer {
                name: bytes(name),
                value: bytes(value),
            },
            RawEvent::End => BodyEvent::End,
        }
    }

    pub(crate) fn step(&mut self, input: &[u8]) -> Result<(usize, Option<RawEvent>)> {
        if self.line_used {
            self.line.clear();
            self.line_used = false;
        }
        match self.state {
            State::SizeLine | State::Trailers => {
                let Some((used, line)) = self.take_line(input)? else {
                    return Ok((input.len(), None));
                };
                let event = if self.state == State::SizeLine {
                    self.size_line(input, line)?
                } else {
                    self.trailer_line(input, line)?
                };
                Ok((used, Some(event)))
            }
            State::Data { remaining } => {
                let take = usize::try_from(remaining)
                    .unwrap_or(usize::MAX)
                    .min(input.len());
                if take == 0 {
                    return Ok((0, None));
                }
                self.skip_data(take as u64);
                Ok((take, Some(RawEvent::Data(0..take))))
            }
            State::DataCrlf => {
                // The CR may have arrived alone at the end of a previous input.
                let have_cr = self.line.as_slice() == b"\r";
                match (have_cr, input) {
                    (false, [b'\r', b'\n', ..]) | (true, [b'\n', ..]) => {
                        let used = if have_cr { 1 } else { 2 };
                        self.line.clear();
                        self.state = State::SizeLine;
                        Ok((used, Some(RawEvent::ChunkEnd)))
                    }
                    (false, [b'\r']) => {
                        self.line.push(b'\r');
                        Ok((1, None))
                    }
                    (_, []) => Ok((0, None)),
                    _ => Err(Error::MalformedChunk),
                }
            }
            State::LastChunkEnd => {
                self.state = State::Trailers;
                Ok((0, Some(RawEvent::ChunkEnd)))
            }
            State::Done => Ok((0, None)),
        }
    }

    /// Finds the line being read: in `input` when it is whole there, else
    /// assembled in `self.line`. Returns the bytes of `input` consumed and
    /// where the line is (CRLF excluded), or None when all of `input` went
    /// into the buffer and the line is still incomplete.
    fn take_line(&mut self, input: &[u8]) -> Result<Option<(usize, Loc)>> {
        // The buffer never holds max_line_bytes without its LF: it grows
        // only by less than the room left, or by a complete line.
        let room = self
            .limits
            .max_line_bytes
            .checked_sub(self.line.len())
            .ok_or(Error::LineTooLong)?;
        let window = input.get(..room).unwrap_or(input);
        let Some(lf) = memchr::memchr(b'\n', window) else {
            if input.len() >= room {
                return Err(Error::LineTooLong);
            }
            self.line.extend_from_slice(input);
            return Ok(None);
        };
        let through_lf = &window[..=lf];
        if self.line.is_empty() {
            let line = through_lf
                .strip_suffix(b"\r\n")
                .ok_or(Error::MalformedChunk)?;
            return Ok(Some((through_lf.len(), Loc::Input(0..line.len()))));
        }
        self.line.extend_from_slice(through_lf);
        self.line_used = true;
        let line = self
            .line
            .strip_suffix(b"\r\n")
            .ok_or(Error::MalformedChunk)?;
        Ok(Some((through_lf.len(), Loc::Line(0..line.len()))))
    }

    fn line_bytes<'s>(&'s self, input: &'s [u8], loc: &Loc) -> &'s [u8] {
        match loc {
            Loc::Input(r) => &input[r.clone()],
            Loc::Line(r) => &self.line[r.clone()],
        }
    }

    fn size_line(&mut self, input: &[u8], loc: Loc) -> Result<RawEvent> {
        let (size, signature_at) = {
            let line = self.line_bytes(input, &loc);
            let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
            let (size_hex, ext) = line.split_at(digits);
            let size = parse_hex(size_hex)?;
            let signature_at = match self.coding {
                Coding::Http => {
                    check_http_extensions(ext)?;
                    None
                }
                Coding::Aws { .. } => check_aws_signature(ext)?
                    .then(|| (advance(digits, SIGNATURE_EXT.len()), line.len())),
            };
            (size, signature_at)
        };
        if size > self.limits.max_chunk_bytes {
            return Err(Error::ChunkTooLarge);
        }
        if let Coding::Aws { decoded_length } = self.coding {
            if *self.signed.get_or_insert(signature_at.is_some()) != signature_at.is_some() {
                return Err(Error::MalformedChunkExtension);
            }
            if self
                .decoded
                .checked_add(size)
                .is_none_or(|total| total > decoded_length)
            {
                return Err(Error::DecodedLengthMismatch);
            }
        }
        if size > self.limits.max_body_bytes.saturating_sub(self.decoded) {
            return Err(Error::BodyTooLarge);
        }
        self.state = if size == 0 {
            State::LastChunkEnd
        } else {
            State::Data { remaining: size }
        };
        let signature = signature_at.map(|(start, end)| sub_loc(&loc, start, end));
        Ok(RawEvent::ChunkStart { size, signature })
    }

    fn trailer_line(&mut self, input: &[u8], loc: Loc) -> Result<RawEvent> {
        let (line_len, colon, value) = {
            let line = self.line_bytes(input, &loc);
            if line.is_empty() {
                (0, 0, 0..0)
            } else {
                let colon = memchr::memchr(b':', line).ok_or(Error::MalformedTrailer)?;
                let (name, after_colon) = line.split_at(colon);
                let raw_value = &after_colon[1..];
                let leading = raw_value
                    .iter()
                    .take_while(|b| matches!(b, b' ' | b'\t'))
                    .count();
                let value = trim(raw_value);
                // The value starts after the colon and its leading blanks.
                let start = advance(advance(colon, 1), leading);
                let valid = !name.is_empty()
                    && name.iter().copied().all(is_token)
                    && value.iter().copied().all(is_field_vchar);
                if !valid {
                    return Err(Error::MalformedTrailer);
                }
                (line.len(), colon, start..advance(start, value.len()))
            }
        };
        if line_len == 0 {
            if let Coding::Aws { decoded_length } = self.coding {
                if self.decoded != decoded_length {
                    return Err(Error::DecodedLengthMismatch);
                }
            }
            self.state = State::Done;
            return Ok(RawEvent::End);
        }
        // Checked, not added: with limits of usize::MAX a count could
        // otherwise wrap back under them.
        self.trailers = self.trailers.checked_add(1).ok_or(Error::TrailerTooLarge)?;
        self.trailer_bytes = self
            .trailer_bytes
            .checked_add(line_len)
            .and_then(|n| n.checked_add(2))
            .ok_or(Error::TrailerTooLarge)?;
        if self.trailers > self.limits.max_trailers
            || self.trailer_bytes > self.limits.max_trailer_bytes
        {
            return Err(Error::TrailerTooLarge);
        }
        Ok(RawEvent::Trailer {
            name: sub_loc(&loc, 0, colon),
            value: sub_loc(&loc, value.start, value.end),
        })
    }
}

/// The part `start..end` of a line at `loc`.
fn sub_loc(loc: &Loc, start: usize, end: usize) -> Loc {
    match loc {
        Loc::Input(r) => Loc::Input(advance(r.start, start)..advance(r.start, end)),
        Loc::Line(r) => Loc::Line(advance(r.start, start)..advance(r.start, end)),
    }
}

/// `pos + n` for a position in an input (or the line buffer) and a count of
/// bytes after it in the same input: at most the input's length, which a
/// slice keeps within isize::MAX, so the sum never saturates.
pub(crate) fn advance(pos: usize, n: usize) -> usize {
    pos.saturating_add(n)
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
/// `;chunk-signature=<64 lowercase hex>`. Returns whether a signature is there.
fn check_aws_signature(ext: &[u8]) -> Result<bool> {
    if ext.is_empty() {
        return Ok(false);
    }
    let sig = ext
        .strip_prefix(SIGNATURE_EXT)
        .ok_or(Error::MalformedChunkExtension)?;
    if sig.len() != CHUNK_SIGNATURE_LEN
        || !sig.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        return Err(Error::MalformedChunkExtension);
    }
    Ok(true)
}

/// tchar of RFC 9110.
fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Visible characters, space and obs-text; no controls.
fn is_field_vchar(b: u8) -> bool {
    b == b' ' || b == b'\t' || (b > 0x20 && b != 0x7f)
}

#[cfg(test)]
mod tests {
    use super::*;

    const UNBOUNDED: Limits = Limits {
        max_head_bytes: usize::MAX,
        max_headers: usize::MAX,
        max_line_bytes: usize::MAX,
        max_chunk_bytes: u64::MAX,
        max_trailer_bytes: usize::MAX,
        max_trailers: usize::MAX,
        max_body_bytes: u64::MAX,
    };

    /// The error of the first step that fails, feeding `input` whole.
    fn first_error(mut d: ChunkedDecoder, mut input: &[u8]) -> Option<Error> {
        loop {
            match d.step(input) {
                Err(e) => return Some(e),
                Ok((_, None | Some(RawEvent::End))) => return None,
                Ok((used, Some(_))) => input = &input[used..],
            }
        }
    }

    /// Counters a peer drives, started where no peer can bring them
    /// (usize::MAX trailers, 2^64 bytes of data) to show that the sums at
    /// the ends are refused with the crate's error. The old trailer
    /// counters overflowed there (a panic in debug builds) when the limits
    /// were usize::MAX.
    #[test]
    fn counters_at_the_ends_of_their_types() {
        let trailer = b"x: 1\r\n\r\n";
        let mut d = ChunkedDecoder::http(&UNBOUNDED);
        d.state = State::Trailers;
        d.trailers = usize::MAX;
        assert_eq!(first_error(d, trailer), Some(Error::TrailerTooLarge));
        let mut d = ChunkedDecoder::http(&UNBOUNDED);
        d.state = State::Trailers;
        d.trailer_bytes = usize::MAX - 3;
        assert_eq!(first_error(d, trailer), Some(Error::TrailerTooLarge));

        // A chunk that would carry the total past u64::MAX.
        let mut d = ChunkedDecoder::http(&UNBOUNDED);
        d.decoded = u64::MAX - 5;
        assert_eq!(first_error(d.clone(), b"5\r\n"), None);
        assert_eq!(first_error(d, b"6\r\n"), Some(Error::BodyTooLarge));
        let mut d = ChunkedDecoder::aws(u64::MAX, &UNBOUNDED);
        d.decoded = u64::MAX - 5;
        assert_eq!(first_error(d.clone(), b"5\r\n"), None);
        assert_eq!(first_error(d, b"6\r\n"), Some(Error::DecodedLengthMismatch));
    }

    #[test]
    fn skipping_more_than_the_chunk_holds_ends_it() {
        let mut d = ChunkedDecoder::http(&UNBOUNDED);
        d.state = State::Data { remaining: 3 };
        d.skip_data(u64::MAX);
        assert_eq!((d.state, d.decoded), (State::DataCrlf, 3));
    }
}
