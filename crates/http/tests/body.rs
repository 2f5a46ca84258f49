//! Body decoders: Content-Length, chunked with trailers, aws-chunked, and
//! every framing error a peer can cause.
#![allow(clippy::unwrap_used)]

use sluice_http::fuzzing::{decode_in_pieces, DecodedBody};
use sluice_http::{BodyDecoder, ChunkedDecoder, Error, Limits, RequestHead, Status};

/// The three chunk signatures of the AWS documentation's streaming PUT
/// example (sigv4-streaming: 65536 + 1024 bytes of `a`, then the final chunk).
const AWS_DOC_SIGNATURES: [&str; 3] = [
    "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
    "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
    "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
];

fn aws_doc_body() -> Vec<u8> {
    let mut body = Vec::new();
    for (size, sig) in [65536usize, 1024, 0].into_iter().zip(AWS_DOC_SIGNATURES) {
        body.extend_from_slice(format!("{size:x};chunk-signature={sig}\r\n").as_bytes());
        if size > 0 {
            body.extend(std::iter::repeat_n(b'a', size));
            body.extend_from_slice(b"\r\n");
        }
    }
    body.extend_from_slice(b"\r\n");
    body
}

/// Decodes a body behind the given head fields, whole and in pieces.
fn decode(fields: &str, body: &[u8], cuts: &[usize]) -> Result<DecodedBody, Error> {
    let head = format!("PUT /bucket/key HTTP/1.1\r\nHost: s3\r\n{fields}\r\n\r\n");
    let limits = Limits::default();
    let mut storage = [httparse::EMPTY_HEADER; 16];
    let Status::Complete(head) = RequestHead::parse(head.as_bytes(), &mut storage, &limits)? else {
        panic!("test head is incomplete")
    };
    let decoder = BodyDecoder::for_head(&head, &limits);
    let whole = decode_in_pieces(decoder.clone(), body, &[]);
    let split = decode_in_pieces(decoder, body, cuts);
    assert_eq!(whole, split, "split at {cuts:?}");
    whole
}

fn chunked(body: &str) -> Result<DecodedBody, Error> {
    let limits = Limits {
        max_line_bytes: 64,
        max_trailers: 2,
        max_chunk_bytes: 1000,
        ..Limits::default()
    };
    let cuts: Vec<usize> = (0..body.len()).collect();
    let whole = decode_in_pieces(ChunkedDecoder::http(&limits), body.as_bytes(), &[]);
    assert_eq!(
        whole,
        decode_in_pieces(ChunkedDecoder::http(&limits), body.as_bytes(), &cuts)
    );
    whole
}

#[test]
fn aws_documentation_streaming_example() {
    let body = aws_doc_body();
    assert_eq!(
        body.len(),
        66824,
        "Content-Length of the documented request"
    );
    let fields = "x-amz-content-sha256: STREAMING-AWS4-HMAC-SHA256-PAYLOAD\r\n\
                  Content-Encoding: aws-chunked\r\nx-amz-decoded-content-length: 66560\r\n\
                  Content-Length: 66824";
    for cuts in [
        vec![],
        vec![1, 87, 88, 89, 65624, 65625, 65626, 66700],
        (0..66824).step_by(997).collect(),
    ] {
        let out = decode(fields, &body, &cuts).unwrap();
        assert!(out.ended);
        assert_eq!(out.consumed, 66824);
        assert_eq!(out.data, vec![b'a'; 66560]);
        let sizes: Vec<u64> = out.chunks.iter().map(|c| c.0).collect();
        assert_eq!(sizes, [65536, 1024, 0]);
        let sigs: Vec<&[u8]> = out.chunks.iter().map(|c| c.1.as_deref().unwrap()).collect();
        assert_eq!(sigs, AWS_DOC_SIGNATURES.map(str::as_bytes));
        assert_eq!(out.chunk_ends, 3);
        assert!(out.trailers.is_empty());
    }
}

#[test]
fn aws_chunked_unsigned_trailer_as_boto3_sends_it() {
    let body = b"400\r\n".iter().copied().chain(vec![b'z'; 1024]).chain(
        b"\r\n0\r\nx-amz-checksum-crc32:mKsmTw==\r\nx-amz-trailer-signature:b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9\r\n\r\n"
            .iter()
            .copied(),
    );
    let body: Vec<u8> = body.collect();
    let fields = format!(
        "x-amz-content-sha256: STREAMING-UNSIGNED-PAYLOAD-TRAILER\r\nContent-Encoding: aws-chunked\r\n\
         x-amz-trailer: x-amz-checksum-crc32\r\nx-amz-decoded-content-length: 1024\r\nContent-Length: {}",
        body.len()
    );
    let out = decode(&fields, &body, &[3, 4, 5, 500, 1031, 1032, 1040, 1070]).unwrap();
    assert!(out.ended);
    assert_eq!(out.data, vec![b'z'; 1024]);
    assert_eq!(out.chunks, [(1024, None), (0, None)]);
    assert_eq!(
        out.trailers,
        [
            (b"x-amz-checksum-crc32".to_vec(), b"mKsmTw==".to_vec()),
            (
                b"x-amz-trailer-signature".to_vec(),
                AWS_DOC_SIGNATURES[2].as_bytes().to_vec()
            ),
        ]
    );
}

#[test]
fn aws_chunked_errors() {
    let sig = AWS_DOC_SIGNATURES[0];
    let streaming = "x-amz-content-sha256: STREAMING-AWS4-HMAC-SHA256-PAYLOAD";
    let run = |decoded: u64, body: String| {
        let fields = format!(
            "{streaming}\r\nx-amz-decoded-content-length: {decoded}\r\nContent-Length: {}",
            body.len()
        );
        decode(&fields, body.as_bytes(), &[1, 2, 10, 40])
    };
    let good = format!("3;chunk-signature={sig}\r\nabc\r\n0;chunk-signature={sig}\r\n\r\n");
    assert_eq!(run(3, good.clone()).unwrap().data, b"abc");
    // Declared length larger or smaller than the data (s3s#772).
    assert_eq!(run(4, good.clone()), Err(Error::DecodedLengthMismatch));
    assert_eq!(run(2, good.clone()), Err(Error::DecodedLengthMismatch));
    // A signature on some chunks but not on others.
    let mixed = format!("3;chunk-signature={sig}\r\nabc\r\n0\r\n\r\n");
    assert_eq!(run(3, mixed), Err(Error::MalformedChunkExtension));
    let upper = format!(
        "3;chunk-signature={}\r\nabc\r\n0\r\n\r\n",
        sig.to_uppercase()
    );
    assert_eq!(run(3, upper), Err(Error::MalformedChunkExtension));
    let short = format!("3;chunk-signature={}\r\nabc\r\n0\r\n\r\n", &sig[1..]);
    assert_eq!(run(3, short), Err(Error::MalformedChunkExtension));
    let other_ext = "3;foo=bar\r\nabc\r\n0\r\n\r\n".to_owned();
    assert_eq!(run(3, other_ext), Err(Error::MalformedChunkExtension));
    let spaced = format!("3 ;chunk-signature={sig}\r\nabc\r\n0\r\n\r\n");
    assert_eq!(run(3, spaced), Err(Error::MalformedChunkExtension));

    // Framing longer than Content-Length: the wire ends inside the framing.
    let fields = format!(
        "{streaming}\r\nx-amz-decoded-content-length: 3\r\nContent-Length: {}",
        good.len() - 1
    );
    assert_eq!(
        decode(&fields, good.as_bytes(), &[5]),
        Err(Error::MalformedChunk)
    );
    // Content-Length longer than the framing: bytes after the end are not a body.
    let fields = format!(
        "{streaming}\r\nx-amz-decoded-content-length: 3\r\nContent-Length: {}",
        good.len() + 2
    );
    let padded = format!("{good}xx");
    assert_eq!(
        decode(&fields, padded.as_bytes(), &[5]),
        Err(Error::MalformedChunk)
    );
    // A peer that stops early leaves the body incomplete, never ended.
    let fields = format!(
        "{streaming}\r\nx-amz-decoded-content-length: 3\r\nContent-Length: {}",
        good.len()
    );
    let cut = decode(&fields, &good.as_bytes()[..good.len() - 1], &[]).unwrap();
    assert!(!cut.ended);
}

#[test]
fn content_length_body_then_pipelined_request() {
    let wire = b"hello worldGET /next HTTP/1.1\r\n\r\n";
    for cut in 0..wire.len() {
        let out = decode("Content-Length: 11", wire, &[cut]).unwrap();
        assert_eq!(
            (out.data.as_slice(), out.ended, out.consumed),
            (&b"hello world"[..], true, 11)
        );
    }
    let out = decode("", b"GET / HTTP/1.1\r\n\r\n", &[]).unwrap();
    assert_eq!((out.data.len(), out.ended, out.consumed), (0, true, 0));
    let short = decode("Content-Length: 11", b"hello", &[2]).unwrap();
    assert!(!short.ended);
}

#[test]
fn chunked_with_extensions_and_trailers() {
    let body = "5\r\nhello\r\n6;name=value;flag\r\n world\r\n000A\r\n0123456789\r\n0\r\nExpires: never\r\nX-Sum:  abc \r\n\r\nGET";
    let out = chunked(body).unwrap();
    assert!(out.ended);
    assert_eq!(out.data, b"hello world0123456789");
    assert_eq!(out.chunks, [(5, None), (6, None), (10, None), (0, None)]);
    assert_eq!(out.chunk_ends, 4);
    assert_eq!(
        out.trailers,
        [
            (b"Expires".to_vec(), b"never".to_vec()),
            (b"X-Sum".to_vec(), b"abc".to_vec())
        ]
    );
    assert_eq!(
        out.consumed,
        body.len() - 3,
        "the pipelined GET is left unconsumed"
    );
    let tabbed = chunked("1\t;x\r\na\r\n0\r\n\r\n").unwrap();
    assert_eq!(tabbed.data, b"a");
}

#[test]
fn chunked_framing_errors() {
    let cases = [
        ("5\nhello\r\n0\r\n\r\n", Error::MalformedChunk), // bare LF after the size
        ("5\r\nhello\n0\r\n\r\n", Error::MalformedChunk), // bare LF after data
        ("5\r\nhelloX\r\n0\r\n\r\n", Error::MalformedChunk), // data longer than declared
        ("5\r\nhello\r\r\n0\r\n\r\n", Error::MalformedChunk), // CR CR LF
        ("5\r\nhello\r\n0\r\n\n", Error::MalformedChunk), // bare LF ending trailers
        ("5\r\nhello\r\n0\r\nX: a\n\r\n", Error::MalformedChunk), // bare LF in a trailer
        ("5\rX\r\nhello\r\n0\r\n\r\n", Error::MalformedChunkExtension), // bare CR in the size line
        ("0x5\r\nhello\r\n0\r\n\r\n", Error::MalformedChunkExtension),
        ("-5\r\nhello\r\n0\r\n\r\n", Error::InvalidChunkSize),
        ("+5\r\nhello\r\n0\r\n\r\n", Error::InvalidChunkSize),
        ("\r\nhello\r\n0\r\n\r\n", Error::InvalidChunkSize),
        (" 5\r\nhello\r\n0\r\n\r\n", Error::InvalidChunkSize),
        ("10000000000000000\r\n", Error::InvalidChunkSize), // 2^64: overflow
        ("fffffffffffffff\r\n", Error::ChunkTooLarge),      // 15 digits: within u64, over the limit
        ("3e9\r\n", Error::ChunkTooLarge),                  // 1001 > max_chunk_bytes 1000
        ("5 x\r\nhello\r\n0\r\n\r\n", Error::MalformedChunkExtension),
        (
            "5;a\x01b\r\nhello\r\n0\r\n\r\n",
            Error::MalformedChunkExtension,
        ),
        (
            "5;aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n",
            Error::LineTooLong,
        ),
        ("0\r\nno-colon\r\n\r\n", Error::MalformedTrailer),
        ("0\r\n: empty-name\r\n\r\n", Error::MalformedTrailer),
        ("0\r\nbad name: v\r\n\r\n", Error::MalformedTrailer),
        ("0\r\nx: a\x7fb\r\n\r\n", Error::MalformedTrailer),
        ("0\r\na: 1\r\nb: 2\r\nc: 3\r\n\r\n", Error::TrailerTooLarge),
    ];
    for (body, expected) in cases {
        assert_eq!(chunked(body), Err(expected), "{body:?}");
    }
    assert_eq!(Error::ChunkTooLarge.status(), 413);
    assert_eq!(Error::MalformedChunk.status(), 400);
    // Leading zeros are legal however many there are, within the line limit.
    assert_eq!(
        chunked("0000000000000000000000001\r\na\r\n0\r\n\r\n")
            .unwrap()
            .data,
        b"a"
    );
}

#[test]
fn chunked_total_is_bounded_by_the_body_limit() {
    let limits = Limits {
        max_body_bytes: 8,
        ..Limits::default()
    };
    let body = b"5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n";
    assert_eq!(
        decode_in_pieces(ChunkedDecoder::http(&limits), body, &[]),
        Err(Error::BodyTooLarge)
    );
}

/// boto3 sends `Transfer-Encoding: chunked` around aws-chunked, with outer
/// chunks that do not line up with the aws-chunked framing (boto3#4398).
#[test]
fn aws_chunked_inside_transfer_encoding_chunked() {
    use sluice_http::fuzzing::chunk_wrap;
    let sig_free = b"400\r\n".iter().copied().chain(vec![b'q'; 1024]).chain(
        b"\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n"
            .iter()
            .copied(),
    );
    let inner: Vec<u8> = sig_free.collect();
    let fields = "x-amz-content-sha256: STREAMING-UNSIGNED-PAYLOAD-TRAILER\r\nContent-Encoding: aws-chunked\r\n\
                  x-amz-decoded-content-length: 1024\r\nTransfer-Encoding: chunked";
    for outer in [1, 2, 3, 5, 7, 64, 1000, 1031, 1032, 5000] {
        let wire = chunk_wrap(&inner, outer);
        let out = decode(fields, &wire, &[1, 2, 3, 9, 100, 1050]).unwrap();
        assert!(out.ended, "outer chunks of {outer}");
        assert_eq!(out.consumed, wire.len());
        assert_eq!(out.data, vec![b'q'; 1024]);
        assert_eq!(
            out.chunks,
            [(1024, None), (0, None)],
            "only the aws-chunked layer's chunks are reported"
        );
        assert_eq!(
            out.trailers,
            [(b"x-amz-checksum-crc32".to_vec(), b"AAAAAA==".to_vec())]
        );
    }
    // The HTTP body ends inside the aws-chunked framing.
    let truncated = chunk_wrap(&inner[..inner.len() - 2], 100);
    assert_eq!(decode(fields, &truncated, &[]), Err(Error::MalformedChunk));
    // Payload after the aws-chunked end.
    let mut extra = inner.clone();
    extra.extend_from_slice(b"junk");
    assert_eq!(
        decode(fields, &chunk_wrap(&extra, 100), &[]),
        Err(Error::MalformedChunk)
    );
    // The declared decoded length still binds.
    let wrong = fields.replace("length: 1024", "length: 1023");
    assert_eq!(
        decode(&wrong, &chunk_wrap(&inner, 100), &[]),
        Err(Error::DecodedLengthMismatch)
    );
}
