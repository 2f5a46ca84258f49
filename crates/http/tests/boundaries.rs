//! Numbers a peer sends at the ends of the integer types: lengths and chunk
//! sizes near u64::MAX, limits at usize::MAX and zero. Each is refused with
//! the crate's error or decoded as sent; none wraps or panics.
#![allow(clippy::unwrap_used)]

use sluice_http::fuzzing::decode_in_pieces;
use sluice_http::{
    write_chunk_header, BodyDecoder, BodyEvent, ChunkedDecoder, Error, Framing, Limits,
    RequestHead, ResponseHead, Status,
};

/// No limit of a peer's numbers but the types' own.
const UNBOUNDED: Limits = Limits {
    max_head_bytes: usize::MAX,
    max_headers: usize::MAX,
    max_line_bytes: usize::MAX,
    max_chunk_bytes: u64::MAX,
    max_trailer_bytes: usize::MAX,
    max_trailers: usize::MAX,
    max_body_bytes: u64::MAX,
};

fn head(fields: &str, limits: &Limits) -> Result<(Framing, Option<u64>), Error> {
    let wire = format!("PUT /b/k HTTP/1.1\r\nHost: s3\r\n{fields}\r\n\r\n");
    let mut storage = [httparse::EMPTY_HEADER; 16];
    match RequestHead::parse(wire.as_bytes(), &mut storage, limits)? {
        Status::Complete(h) => Ok((h.framing(), h.aws_chunked().map(|a| a.decoded_length))),
        Status::Partial => panic!("incomplete test head"),
    }
}

#[test]
fn lengths_near_u64_max_are_refused_not_wrapped() {
    let max = i64::MAX.to_string();
    assert_eq!(
        head(&format!("Content-Length: {max}"), &UNBOUNDED),
        Ok((Framing::Length(i64::MAX as u64), None))
    );
    assert_eq!(
        head(&format!("Content-Length: {max}"), &Limits::default()),
        Err(Error::BodyTooLarge)
    );
    let streaming =
        "x-amz-content-sha256: STREAMING-UNSIGNED-PAYLOAD-TRAILER\r\nContent-Length: 10";
    assert_eq!(
        head(
            &format!("{streaming}\r\nx-amz-decoded-content-length: {max}"),
            &UNBOUNDED
        ),
        Ok((Framing::Length(10), Some(i64::MAX as u64)))
    );
    for bad in [
        "9223372036854775808",  // i64::MAX + 1: past what an off_t holds
        "9999999999999999999",  // 19 digits, the most that are parsed
        "18446744073709551615", // u64::MAX
        "18446744073709551616", // u64::MAX + 1
        "99999999999999999999999999999999999999",
    ] {
        assert_eq!(
            head(&format!("Content-Length: {bad}"), &UNBOUNDED),
            Err(Error::InvalidContentLength),
            "{bad}"
        );
        assert_eq!(
            head(
                &format!("{streaming}\r\nx-amz-decoded-content-length: {bad}"),
                &UNBOUNDED
            ),
            Err(Error::InvalidDecodedContentLength),
            "{bad}"
        );
    }
}

#[test]
fn a_length_of_u64_max_counts_down() {
    let mut body = BodyDecoder::length(u64::MAX);
    assert_eq!(
        body.decode(b"abc").unwrap(),
        (3, Some(BodyEvent::Data(b"abc")))
    );
    assert_eq!(body.decode(b"").unwrap(), (0, None));
    assert!(!body.is_done());
}

#[test]
fn chunk_sizes_near_u64_max() {
    let decode = |coding: ChunkedDecoder, body: &[u8]| decode_in_pieces(coding, body, &[1, 7]);
    // 15 significant digits are the most a size may have: below 2^60.
    let got = decode(
        ChunkedDecoder::http(&UNBOUNDED),
        b"000fffffffffffffff\r\nabc",
    )
    .unwrap();
    assert_eq!(got.chunks, [((1 << 60) - 1, None)]);
    assert_eq!(got.data, b"abc");
    for too_long in ["ffffffffffffffff", "10000000000000000", "1000000000000000"] {
        assert_eq!(
            decode(
                ChunkedDecoder::http(&UNBOUNDED),
                format!("{too_long}\r\n").as_bytes()
            ),
            Err(Error::InvalidChunkSize),
            "{too_long}"
        );
    }
    // aws-chunked: a chunk larger than what is left of the declared length,
    // however large both are, is refused before its data.
    let aws = || ChunkedDecoder::aws(u64::MAX, &UNBOUNDED);
    let sized = decode(aws(), b"fffffffffffffff\r\nab").unwrap();
    assert_eq!(sized.chunks, [((1 << 60) - 1, None)]);
    assert_eq!(
        decode(ChunkedDecoder::aws(5, &UNBOUNDED), b"6\r\n"),
        Err(Error::DecodedLengthMismatch)
    );
    assert_eq!(
        decode(
            ChunkedDecoder::aws(i64::MAX as u64, &Limits::default()),
            b"fffffffffffffff\r\n"
        ),
        Err(Error::ChunkTooLarge)
    );
}

#[test]
fn limits_at_the_ends_of_usize() {
    let body = b"3\r\nabc\r\n0\r\nx-amz-checksum-crc32: AAAAAA==\r\n\r\n";
    let got = decode_in_pieces(ChunkedDecoder::http(&UNBOUNDED), body, &[2, 9]).unwrap();
    assert!(got.ended);
    assert_eq!(got.trailers.len(), 1);
    let none = Limits {
        max_line_bytes: 0,
        ..Limits::default()
    };
    assert_eq!(
        decode_in_pieces(ChunkedDecoder::http(&none), body, &[]),
        Err(Error::LineTooLong)
    );
    let no_trailers = Limits {
        max_trailers: 0,
        ..UNBOUNDED
    };
    assert_eq!(
        decode_in_pieces(ChunkedDecoder::http(&no_trailers), body, &[]),
        Err(Error::TrailerTooLarge)
    );
}

#[test]
fn response_numbers_at_u64_max() {
    let mut buf = [0u8; 18];
    let n = write_chunk_header(&mut buf, u64::MAX).unwrap();
    assert_eq!(&buf[..n], b"ffffffffffffffff\r\n");
    assert_eq!(
        write_chunk_header(&mut buf[..17], u64::MAX),
        Err(Error::ResponseBufferFull)
    );
    let mut buf = [0u8; 64];
    let mut head = ResponseHead::new(&mut buf, 200);
    head.content_length(u64::MAX);
    let n = head.finish().unwrap();
    assert!(buf[..n].ends_with(b"Content-Length: 18446744073709551615\r\n\r\n"));
    // A head that exactly fills the buffer fits; one byte less does not.
    let mut exact = [0u8; 19];
    assert_eq!(ResponseHead::new(&mut exact, 200).finish(), Ok(19));
    let mut short = [0u8; 18];
    assert_eq!(
        ResponseHead::new(&mut short, 200).finish(),
        Err(Error::ResponseBufferFull)
    );
}
