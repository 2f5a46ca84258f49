//! Harnesses shared by the fuzz targets and the corpus replay test. Not API.
//!
//! Each harness does more than "does not panic": it checks that decoding
//! input split into pieces gives exactly what decoding it whole gives, and
//! that a complete head's prefix is reported partial.

use crate::{BodyDecoder, BodyEvent, ChunkedDecoder, Error, Limits, RequestHead, Status};

/// A PutObject head as botocore sends it with SigV4 and a streaming trailer.
pub const SAMPLE_S3_PUT_HEAD: &[u8] = b"PUT /my-bucket/photos/2026/cat%20pic.jpg?x-id=PutObject HTTP/1.1\r\n\
Host: 127.0.0.1:9000\r\n\
Accept-Encoding: identity\r\n\
Content-Type: image/jpeg\r\n\
User-Agent: Boto3/1.36.2 md/Botocore#1.36.2 ua/2.0 os/linux#6.1 md/arch#x86_64 lang/python#3.11.7 cfg/retry-mode#legacy Botocore/1.36.2\r\n\
Content-Encoding: aws-chunked\r\n\
X-Amz-Trailer: x-amz-checksum-crc32\r\n\
X-Amz-Decoded-Content-Length: 1048576\r\n\
Expect: 100-continue\r\n\
X-Amz-Date: 20261129T063228Z\r\n\
X-Amz-Content-SHA256: STREAMING-UNSIGNED-PAYLOAD-TRAILER\r\n\
Authorization: AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20261129/us-east-1/s3/aws4_request, SignedHeaders=accept-encoding;content-encoding;content-type;expect;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-trailer, Signature=6c9c5e3ec0d1a9e1e8fd6b1f0c5a3a0b9f2c3e1d4f5a6b7c8d9e0f1a2b3c4d5e\r\n\
amz-sdk-invocation-id: 5f1f0b7e-8b0e-4c1a-9d4e-2a3b4c5d6e7f\r\n\
amz-sdk-request: attempt=1\r\n\
Content-Length: 1048651\r\n\r\n";

/// Everything a body decoder produced, owned, for comparisons.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DecodedBody {
    /// Payload with framing removed.
    pub data: Vec<u8>,
    /// (size, signature) of each chunk start.
    pub chunks: Vec<(u64, Option<Vec<u8>>)>,
    /// Number of chunk ends.
    pub chunk_ends: usize,
    /// Trailer fields.
    pub trailers: Vec<(Vec<u8>, Vec<u8>)>,
    /// Whether End was reached.
    pub ended: bool,
    /// Input bytes consumed up to End (or up to where decoding stopped).
    pub consumed: usize,
}

/// Something that decodes body events.
pub trait Decode {
    /// See [`BodyDecoder::decode`].
    ///
    /// # Errors
    /// Framing errors.
    fn step<'a>(&'a mut self, input: &'a [u8]) -> Result<(usize, Option<BodyEvent<'a>>), Error>;
}

impl Decode for BodyDecoder {
    fn step<'a>(&'a mut self, input: &'a [u8]) -> Result<(usize, Option<BodyEvent<'a>>), Error> {
        self.decode(input)
    }
}

impl Decode for ChunkedDecoder {
    fn step<'a>(&'a mut self, input: &'a [u8]) -> Result<(usize, Option<BodyEvent<'a>>), Error> {
        self.decode(input)
    }
}

/// Feeds `input` to `decoder` the way a server reading a socket does: piece
/// by piece (cut at `cuts`, which are clamped and sorted), keeping unconsumed
/// bytes and appending the next piece to them.
///
/// # Errors
/// The first framing error.
pub fn decode_in_pieces<D: Decode>(
    mut decoder: D,
    input: &[u8],
    cuts: &[usize],
) -> Result<DecodedBody, Error> {
    let mut cuts: Vec<usize> = cuts.iter().map(|&c| c.min(input.len())).collect();
    cuts.push(input.len());
    cuts.sort_unstable();
    let mut out = DecodedBody::default();
    let mut pending: Vec<u8> = Vec::new();
    let mut fed = 0;
    for cut in cuts {
        pending.extend_from_slice(&input[fed..cut]);
        fed = cut;
        let mut pos = 0;
        loop {
            let (used, event) = decoder.step(&pending[pos..])?;
            // Both count bytes of `input`, so neither can saturate.
            pos = pos.saturating_add(used);
            out.consumed = out.consumed.saturating_add(used);
            match event {
                None => break,
                Some(BodyEvent::Data(d)) => out.data.extend_from_slice(d),
                Some(BodyEvent::ChunkStart { size, signature }) => {
                    out.chunks.push((size, signature.map(<[u8]>::to_vec)));
                }
                Some(BodyEvent::ChunkEnd) => out.chunk_ends = out.chunk_ends.saturating_add(1),
                Some(BodyEvent::Trailer { name, value }) => {
                    out.trailers.push((name.to_vec(), value.to_vec()));
                }
                Some(BodyEvent::End) => {
                    out.ended = true;
                    return Ok(out);
                }
            }
        }
        pending.drain(..pos);
    }
    Ok(out)
}

/// Cut positions derived from fuzz bytes: a step between 1 and 256.
fn cuts_from(selector: u8, len: usize) -> Vec<usize> {
    let step = usize::from(selector) + 1;
    (step..len).step_by(step).collect()
}

/// Checks that split decoding agrees with whole decoding.
///
/// # Panics
/// When they disagree: that is the bug a fuzzer looks for.
pub fn check_split_agrees<D: Decode + Clone>(decoder: &D, input: &[u8], selector: u8) {
    let whole = decode_in_pieces(decoder.clone(), input, &[]);
    let split = decode_in_pieces(decoder.clone(), input, &cuts_from(selector, input.len()));
    let bytewise = decode_in_pieces(
        decoder.clone(),
        input,
        &(1..input.len().min(512)).collect::<Vec<_>>(),
    );
    assert_eq!(whole, split, "split decoding differs from whole decoding");
    // Cutting only the first 512 bytes one by one must agree as well.
    assert_eq!(
        whole, bytewise,
        "byte-wise decoding differs from whole decoding"
    );
    if let Ok(body) = &whole {
        assert!(body.consumed <= input.len());
        if body.ended {
            let bytes_framed = body.chunks.iter().try_fold(0u64, |n, c| n.checked_add(c.0));
            assert!(body.chunks.is_empty() || bytes_framed == Some(body.data.len() as u64));
        }
    }
}

/// Fuzz harness for request heads followed by a body.
pub fn head(data: &[u8]) {
    let Some((&selector, data)) = data.split_first() else {
        return;
    };
    let limits = Limits::default();
    let mut fields = [httparse::EMPTY_HEADER; 128];
    let Ok(Status::Complete(head)) = RequestHead::parse(data, &mut fields, &limits) else {
        return;
    };
    let len = head.len();
    assert!(len <= data.len());
    let _ = crate::percent_decode(head.raw_path(), false);
    for (name, value) in crate::query_pairs(head.raw_query()) {
        let _ = crate::percent_decode(name, true);
        let _ = crate::percent_decode(value, true);
    }
    for (name, _) in head.headers().iter() {
        assert!(head.headers().get(name).is_some());
    }
    let decoder = BodyDecoder::for_head(&head, &limits);
    check_split_agrees(&decoder, &data[len..], selector);

    let mut again = [httparse::EMPTY_HEADER; 128];
    match RequestHead::parse(&data[..len], &mut again, &limits) {
        Ok(Status::Complete(h)) => assert_eq!(h.len(), len),
        other => panic!("a complete head parsed alone gave {other:?}"),
    }
    let mut prefix = [httparse::EMPTY_HEADER; 128];
    let Some((_, shorter)) = data[..len].split_last() else {
        panic!("a complete head is not empty");
    };
    match RequestHead::parse(shorter, &mut prefix, &limits) {
        Ok(Status::Partial) => {}
        other => panic!("a complete head's prefix gave {other:?}"),
    }
}

/// Fuzz harness for `Transfer-Encoding: chunked` bodies.
pub fn chunked(data: &[u8]) {
    let Some((&selector, data)) = data.split_first() else {
        return;
    };
    let limits = Limits {
        max_line_bytes: 64,
        max_trailer_bytes: 256,
        ..Limits::default()
    };
    check_split_agrees(&ChunkedDecoder::http(&limits), data, selector);
}

/// Wraps `body` in `Transfer-Encoding: chunked` framing with chunks of
/// `size` bytes, as an HTTP client streaming an aws-chunked body does.
#[must_use]
pub fn chunk_wrap(body: &[u8], size: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len());
    for piece in body.chunks(size.max(1)) {
        out.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        out.extend_from_slice(piece);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

/// Fuzz harness for aws-chunked bodies, inside a Content-Length body or,
/// when the selector's top bit is set, inside `Transfer-Encoding: chunked`
/// with outer chunks that cut the aws-chunked framing anywhere.
pub fn aws_chunked(data: &[u8]) {
    let [selector, declared, rest @ ..] = data else {
        return;
    };
    let limits = Limits {
        max_line_bytes: 160,
        max_trailer_bytes: 512,
        ..Limits::default()
    };
    let declared = u64::from(*declared) * 16;
    let nested = selector & 0x80 != 0;
    let (framing, wire) = if nested {
        (
            "Transfer-Encoding: chunked".to_owned(),
            chunk_wrap(rest, usize::from(selector & 0x3f) + 1),
        )
    } else {
        // Wire length: all input, or less so truncation paths run too.
        let wire = rest.len().saturating_sub(usize::from(selector % 4));
        (format!("Content-Length: {wire}"), rest.to_vec())
    };
    let head = format!(
        "PUT /b/k HTTP/1.1\r\nx-amz-content-sha256: STREAMING-UNSIGNED-PAYLOAD-TRAILER\r\n\
         x-amz-decoded-content-length: {declared}\r\n{framing}\r\n\r\n"
    );
    let mut fields = [httparse::EMPTY_HEADER; 4];
    let Ok(Status::Complete(parsed)) = RequestHead::parse(head.as_bytes(), &mut fields, &limits)
    else {
        panic!("the harness's own head must parse");
    };
    let decoder = BodyDecoder::for_head(&parsed, &limits);
    check_split_agrees(&decoder, &wire, *selector);
    if nested {
        // Inside chunked framing the aws-chunked layer must decode exactly as
        // it does on its own.
        let plain = ChunkedDecoder::aws(declared, &limits);
        let alone = decode_in_pieces(plain, rest, &[]);
        let wrapped = decode_in_pieces(decoder, &wire, &[]);
        match (alone, wrapped) {
            (Ok(a), Ok(w)) if a.ended => {
                assert_eq!(
                    (&a.data, &a.chunks, &a.trailers),
                    (&w.data, &w.chunks, &w.trailers)
                );
                // Bytes after the aws-chunked end make the wrapped body invalid.
                assert!(w.ended && a.consumed == rest.len());
            }
            (Ok(a), Err(_)) => assert!(
                !a.ended || a.consumed < rest.len(),
                "wrapping broke a valid body"
            ),
            (Err(e), Ok(_)) => panic!("wrapping hid the error {e:?}"),
            _ => {}
        }
    }
}

/// One part of a parsed form, owned, for comparisons.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormPart {
    /// Its field name.
    pub name: String,
    /// Its file name.
    pub filename: Option<String>,
    /// Its Content-Type.
    pub content_type: Option<String>,
    /// Its content.
    pub data: Vec<u8>,
}

/// Parses a `multipart/form-data` body the way a server reading a socket
/// does: piece by piece (cut at `cuts`, clamped and sorted), keeping unused
/// bytes and appending the next piece to them.
///
/// # Errors
/// The first error, or [`Error::MalformedForm`] when the body ends before
/// the closing delimiter.
pub fn parse_form_in_pieces(
    boundary: &[u8],
    input: &[u8],
    cuts: &[usize],
) -> Result<Vec<FormPart>, Error> {
    let mut parser = crate::FormParser::new(boundary)?;
    let mut cuts: Vec<usize> = cuts.iter().map(|&c| c.min(input.len())).collect();
    cuts.push(input.len());
    cuts.sort_unstable();
    let mut parts: Vec<FormPart> = Vec::new();
    let mut pending: Vec<u8> = Vec::new();
    let mut fed = 0;
    for cut in cuts {
        pending.extend_from_slice(&input[fed..cut]);
        fed = cut;
        let mut pos = 0;
        loop {
            let (used, event) = parser.parse(&pending[pos..])?;
            assert!(
                used <= pending.len().saturating_sub(pos),
                "used more than it was given"
            );
            pos = pos.saturating_add(used);
            match event {
                None => break,
                Some(crate::FormEvent::Part(head)) => parts.push(FormPart {
                    name: head.name,
                    filename: head.filename,
                    content_type: head.content_type,
                    data: Vec::new(),
                }),
                Some(crate::FormEvent::Data(d)) => {
                    assert!(!d.is_empty(), "an empty Data event");
                    parts
                        .last_mut()
                        .expect("data comes after a part's head")
                        .data
                        .extend_from_slice(d);
                }
                Some(crate::FormEvent::PartEnd) => {}
                Some(crate::FormEvent::End) => assert!(parser.is_complete()),
            }
        }
        pending.drain(..pos);
    }
    if parser.is_complete() {
        Ok(parts)
    } else {
        Err(Error::MalformedForm(
            "the form ends before its closing delimiter",
        ))
    }
}

/// Builds a form body from parts, as a browser does.
#[must_use]
pub fn build_form(boundary: &[u8], parts: &[FormPart]) -> Vec<u8> {
    let mut out = Vec::new();
    for p in parts {
        out.extend_from_slice(b"--");
        out.extend_from_slice(boundary);
        out.extend_from_slice(b"\r\nContent-Disposition: form-data; name=\"");
        out.extend_from_slice(p.name.as_bytes());
        out.push(b'"');
        if let Some(f) = &p.filename {
            out.extend_from_slice(b"; filename=\"");
            out.extend_from_slice(f.as_bytes());
            out.push(b'"');
        }
        out.extend_from_slice(b"\r\n");
        if let Some(t) = &p.content_type {
            out.extend_from_slice(b"Content-Type: ");
            out.extend_from_slice(t.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&p.data);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"--");
    out.extend_from_slice(boundary);
    out.extend_from_slice(b"--\r\n");
    out
}

/// Fuzz harness for `multipart/form-data` bodies: the boundary is `b`
/// repeated (1 to 8 times, from the first byte), the rest is the body.
/// Parsing it split anywhere must agree with parsing it whole; a body that
/// parses must have contents that hold no delimiter.
pub fn form(data: &[u8]) {
    let [selector, body @ ..] = data else {
        return;
    };
    let boundary = vec![b'b'; usize::from(selector & 7) + 1];
    let whole = parse_form_in_pieces(&boundary, body, &[]);
    let split = parse_form_in_pieces(&boundary, body, &cuts_from(*selector >> 3, body.len()));
    let bytewise = parse_form_in_pieces(
        &boundary,
        body,
        &(1..body.len().min(512)).collect::<Vec<_>>(),
    );
    assert_eq!(whole, split, "split parsing differs from whole parsing");
    assert_eq!(
        whole, bytewise,
        "byte-wise parsing differs from whole parsing"
    );
    if let Ok(parts) = whole {
        let mut delimiter = b"\r\n--".to_vec();
        delimiter.extend_from_slice(&boundary);
        for p in &parts {
            assert!(
                memchr::memmem::find(&p.data, &delimiter).is_none(),
                "a part's content holds the delimiter"
            );
        }
        // What parsed is rebuilt and parses to the same parts, unless a
        // name or file name holds what a rebuilt head cannot carry.
        let plain = |s: &str| !s.contains(['"', '\\', '\r', '\n', ';']);
        if parts.iter().all(|p| {
            plain(&p.name)
                && p.filename.as_deref().is_none_or(plain)
                && p.content_type.as_deref().is_none_or(|t| !t.is_empty())
                && !p.data.ends_with(b"\r")
        }) {
            let rebuilt = build_form(&boundary, &parts);
            assert_eq!(parse_form_in_pieces(&boundary, &rebuilt, &[]), Ok(parts));
        }
    }
}

/// Fuzz harness for the PROXY protocol header: fed as a connection feeds
/// it (only the bytes [`crate::proxy::parse`] asks for), it never asks for
/// nothing or for bytes past a header it then completes, it completes at
/// exactly the bytes fed, and parsing the same bytes whole agrees.
pub fn proxy(data: &[u8]) {
    use crate::proxy::{parse, ProxyStatus};
    let mut have = 0;
    let fed = loop {
        match parse(&data[..have]) {
            Ok(ProxyStatus::Partial(n)) => {
                assert!(n > 0, "asked for no bytes");
                have = have.saturating_add(n);
                if have > data.len() {
                    return;
                }
            }
            Ok(ProxyStatus::Complete { len, source }) => {
                assert_eq!(len, have, "completed at other than the bytes fed");
                break (len, source);
            }
            Err(e) => {
                // The bytes fed are a prefix of the whole input: it is
                // refused the same way.
                assert_eq!(parse(data), Err(e), "whole input parses otherwise");
                return;
            }
        }
    };
    assert_eq!(
        parse(data),
        Ok(ProxyStatus::Complete {
            len: fed.0,
            source: fed.1
        }),
        "whole input parses otherwise"
    );
}
