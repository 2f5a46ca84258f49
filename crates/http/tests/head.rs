//! Request head parsing: fields, framing facts, limits and refused shapes.
#![allow(clippy::unwrap_used)]

use sluice_http::{
    stored_content_encoding, AwsChunked, Error, Framing, Limits, Method, RequestHead, Status,
    Version,
};

use sluice_http::fuzzing::SAMPLE_S3_PUT_HEAD as S3_PUT;

/// (head length, framing, aws-chunked, keep-alive, expect 100-continue)
type Facts = (usize, Framing, Option<AwsChunked>, bool, bool);

fn parse(wire: &[u8]) -> Result<Status<Facts>, Error> {
    parse_with(wire, &Limits::default())
}

fn parse_with(wire: &[u8], limits: &Limits) -> Result<Status<Facts>, Error> {
    let mut fields = [httparse::EMPTY_HEADER; 128];
    Ok(match RequestHead::parse(wire, &mut fields, limits)? {
        Status::Complete(h) => Status::Complete((
            h.len(),
            h.framing(),
            h.aws_chunked(),
            h.keep_alive(),
            h.expect_continue(),
        )),
        Status::Partial => Status::Partial,
    })
}

fn err(wire: &str) -> Error {
    parse(wire.as_bytes()).expect_err(wire)
}

#[test]
fn s3_put_head_fields() {
    let mut fields = [httparse::EMPTY_HEADER; 64];
    let Status::Complete(head) =
        RequestHead::parse(S3_PUT, &mut fields, &Limits::default()).unwrap()
    else {
        panic!("complete head reported partial")
    };
    assert_eq!(head.method(), Method::Put);
    assert_eq!(head.method_str(), "PUT");
    assert_eq!(
        head.target(),
        "/my-bucket/photos/2026/cat%20pic.jpg?x-id=PutObject"
    );
    assert_eq!(head.raw_path(), "/my-bucket/photos/2026/cat%20pic.jpg");
    assert_eq!(head.raw_query(), "x-id=PutObject");
    assert_eq!(head.version(), Version::Http11);
    assert_eq!(head.len(), S3_PUT.len());
    assert_eq!(head.headers().len(), 14);
    assert_eq!(head.headers().get("host"), Some(&b"127.0.0.1:9000"[..]));
    assert_eq!(
        head.headers().get_str("X-AMZ-DATE"),
        Some("20261129T063228Z")
    );
    assert_eq!(head.headers().get("x-amz-missing"), None);
    assert_eq!(head.framing(), Framing::Length(1_048_651));
    assert_eq!(
        head.aws_chunked(),
        Some(AwsChunked {
            decoded_length: 1_048_576
        })
    );
    assert!(head.keep_alive());
    assert!(head.expect_continue());
}

#[test]
fn every_prefix_of_a_head_is_partial() {
    for end in 0..S3_PUT.len() {
        assert_eq!(
            parse(&S3_PUT[..end]),
            Ok(Status::Partial),
            "prefix of {end} bytes"
        );
    }
}

#[test]
fn pipelined_requests_parse_one_after_another() {
    let wire = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nHEAD /b HTTP/1.1\r\nHost: x\r\n\r\nDELETE /c?x HTTP/1.1\r\n\r\n";
    let mut pos = 0;
    let mut seen = Vec::new();
    while pos < wire.len() {
        let mut fields = [httparse::EMPTY_HEADER; 8];
        let Status::Complete(head) =
            RequestHead::parse(&wire[pos..], &mut fields, &Limits::default()).unwrap()
        else {
            panic!("partial")
        };
        seen.push((head.method(), head.target().to_owned(), head.framing()));
        pos += head.len();
    }
    assert_eq!(
        seen,
        [
            (Method::Get, "/a".to_owned(), Framing::Empty),
            (Method::Head, "/b".to_owned(), Framing::Empty),
            (Method::Delete, "/c?x".to_owned(), Framing::Empty),
        ]
    );
}

#[test]
fn keep_alive_and_expect_rules() {
    let cases = [
        ("GET / HTTP/1.1\r\n\r\n", true, false),
        ("GET / HTTP/1.1\r\nConnection: close\r\n\r\n", false, false),
        (
            "GET / HTTP/1.1\r\nConnection: Keep-Alive, Close\r\n\r\n",
            false,
            false,
        ),
        ("GET / HTTP/1.0\r\n\r\n", false, false),
        (
            "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
            true,
            false,
        ),
        (
            "GET / HTTP/1.0\r\nconnection: upgrade,  KEEP-ALIVE\r\n\r\n",
            true,
            false,
        ),
        (
            "PUT / HTTP/1.1\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n",
            true,
            true,
        ),
        // HTTP/1.0 clients cannot wait for 100 Continue (RFC 9110 §10.1.1).
        (
            "PUT / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n",
            false,
            false,
        ),
        (
            "PUT / HTTP/1.1\r\nExpect: something-else\r\nContent-Length: 1\r\n\r\n",
            true,
            false,
        ),
    ];
    for (wire, keep_alive, expect) in cases {
        let Ok(Status::Complete((_, _, _, k, e))) = parse(wire.as_bytes()) else {
            panic!("{wire:?} did not parse")
        };
        assert_eq!((k, e), (keep_alive, expect), "{wire:?}");
    }
}

#[test]
fn content_length_forms() {
    let ok = |wire: &str| match parse(wire.as_bytes()) {
        Ok(Status::Complete((_, f, ..))) => f,
        other => panic!("{wire:?}: {other:?}"),
    };
    assert_eq!(
        ok("PUT / HTTP/1.1\r\nContent-Length: 0\r\n\r\n"),
        Framing::Length(0)
    );
    assert_eq!(
        ok("PUT / HTTP/1.1\r\nContent-Length:  42 \r\n\r\n"),
        Framing::Length(42)
    );
    assert_eq!(
        ok("PUT / HTTP/1.1\r\nContent-Length: 007\r\n\r\n"),
        Framing::Length(7)
    );
    assert_eq!(
        ok("PUT / HTTP/1.1\r\nContent-Length: 7\r\ncontent-length: 7\r\n\r\n"),
        Framing::Length(7)
    );
    for bad in [
        "+5",
        "-5",
        "5 5",
        "0x5",
        "5a",
        "",
        "99999999999999999999",
        "9223372036854775808",
    ] {
        assert_eq!(
            err(&format!("PUT / HTTP/1.1\r\nContent-Length: {bad}\r\n\r\n")),
            Error::InvalidContentLength,
            "{bad:?}"
        );
    }
}

#[test]
fn smuggling_shapes_are_refused() {
    let cases = [
        (
            "Content-Length: 5\r\nContent-Length: 6",
            Error::ConflictingContentLength,
        ),
        ("Content-Length: 5, 5", Error::ConflictingContentLength),
        (
            "Content-Length: 5\r\nTransfer-Encoding: chunked",
            Error::LengthWithTransferEncoding,
        ),
        (
            "Transfer-Encoding: chunked\r\nContent-Length: 5",
            Error::LengthWithTransferEncoding,
        ),
        (
            "Transfer-Encoding: gzip, chunked",
            Error::UnsupportedTransferEncoding,
        ),
        (
            "Transfer-Encoding: chunked, gzip",
            Error::UnsupportedTransferEncoding,
        ),
        (
            "Transfer-Encoding: chunked, chunked",
            Error::UnsupportedTransferEncoding,
        ),
        (
            "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked",
            Error::UnsupportedTransferEncoding,
        ),
        (
            "Transfer-Encoding: identity",
            Error::UnsupportedTransferEncoding,
        ),
        (
            "Transfer-Encoding: xchunked",
            Error::UnsupportedTransferEncoding,
        ),
        ("Transfer-Encoding: ", Error::UnsupportedTransferEncoding),
    ];
    for (fields, expected) in cases {
        assert_eq!(
            err(&format!("POST /b HTTP/1.1\r\nHost: x\r\n{fields}\r\n\r\n")),
            expected,
            "{fields:?}"
        );
    }
    assert_eq!(
        err("POST /b HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"),
        Error::UnsupportedTransferEncoding
    );
    // Obsolete line folding and whitespace before the colon are not HTTP/1.1.
    assert_eq!(
        err("GET / HTTP/1.1\r\nX-A: 1\r\n folded\r\n\r\n"),
        Error::MalformedHeader
    );
    assert_eq!(
        err("GET / HTTP/1.1\r\nContent-Length : 5\r\n\r\n"),
        Error::MalformedHeader
    );
    let chunked = parse(b"POST / HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n\r\n");
    assert!(matches!(
        chunked,
        Ok(Status::Complete((_, Framing::Chunked, None, ..)))
    ));
}

#[test]
fn request_line_and_target_forms() {
    assert_eq!(
        err("GET http://h/x HTTP/1.1\r\n\r\n"),
        Error::MalformedTarget
    );
    assert_eq!(err("GET * HTTP/1.1\r\n\r\n"), Error::MalformedTarget);
    assert!(matches!(
        parse(b"OPTIONS * HTTP/1.1\r\n\r\n"),
        Ok(Status::Complete(_))
    ));
    assert_eq!(err("GET / HTTP/2.0\r\n\r\n"), Error::MalformedRequestLine);
    assert_eq!(
        err("GET /a b HTTP/1.1\r\n\r\n"),
        Error::MalformedRequestLine
    );
    assert_eq!(err("G(T / HTTP/1.1\r\n\r\n"), Error::MalformedRequestLine);
    assert_eq!(
        err("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
        Error::MalformedRequestLine
    );
    let mut fields = [httparse::EMPTY_HEADER; 4];
    let Ok(Status::Complete(h)) = RequestHead::parse(
        b"PATCH /x HTTP/1.1\r\n\r\n",
        &mut fields,
        &Limits::default(),
    ) else {
        panic!()
    };
    assert_eq!((h.method(), h.method_str()), (Method::Other, "PATCH"));
}

#[test]
fn limits_map_to_431_and_413() {
    let limits = Limits {
        max_head_bytes: 256,
        max_headers: 8,
        ..Limits::default()
    };
    let long = format!("GET / HTTP/1.1\r\nX-Long: {}\r\n\r\n", "a".repeat(300));
    assert_eq!(
        parse_with(long.as_bytes(), &limits),
        Err(Error::HeadTooLarge)
    );
    // Still incomplete, but already past the limit: no point waiting.
    assert_eq!(
        parse_with(&long.as_bytes()[..280], &limits),
        Err(Error::HeadTooLarge)
    );
    assert_eq!(
        parse_with(&long.as_bytes()[..200], &limits),
        Ok(Status::Partial)
    );
    let many: String = (0..9).map(|i| format!("X-{i}: v\r\n")).collect();
    let many = format!("GET / HTTP/1.1\r\n{many}\r\n");
    assert_eq!(
        parse_with(many.as_bytes(), &limits),
        Err(Error::TooManyHeaders)
    );
    assert_eq!(Error::TooManyHeaders.status(), 431);
    assert_eq!(Error::HeadTooLarge.status(), 431);
    let huge = "PUT / HTTP/1.1\r\nContent-Length: 5368709121\r\n\r\n";
    assert_eq!(err(huge), Error::BodyTooLarge);
    assert_eq!(Error::BodyTooLarge.status(), 413);
    assert_eq!(Error::UnsupportedTransferEncoding.status(), 501);
    assert_eq!(Error::MissingDecodedContentLength.status(), 411);
    assert_eq!(Error::LengthWithTransferEncoding.status(), 400);
}

#[test]
fn aws_chunked_is_recognised_by_the_streaming_payload_hash() {
    let streaming =
        "PUT /b/k HTTP/1.1\r\nx-amz-content-sha256: STREAMING-AWS4-HMAC-SHA256-PAYLOAD\r\n";
    assert_eq!(
        err(&format!("{streaming}Content-Length: 10\r\n\r\n")),
        Error::MissingDecodedContentLength
    );
    assert_eq!(
        err(&format!(
            "{streaming}x-amz-decoded-content-length: 1\r\n\r\n"
        )),
        Error::MissingContentLength
    );
    assert_eq!(
        err(&format!(
            "{streaming}x-amz-decoded-content-length: -1\r\nContent-Length: 9\r\n\r\n"
        )),
        Error::InvalidDecodedContentLength
    );
    // boto3 streams aws-chunked inside Transfer-Encoding: chunked, without
    // Content-Length (boto3#4398).
    let nested =
        format!("{streaming}x-amz-decoded-content-length: 1\r\nTransfer-Encoding: chunked\r\n\r\n");
    assert!(matches!(
        parse(nested.as_bytes()),
        Ok(Status::Complete((
            _,
            Framing::Chunked,
            Some(AwsChunked { decoded_length: 1 }),
            ..
        )))
    ));
    assert_eq!(
        err(&format!(
            "{streaming}x-amz-decoded-content-length: 5368709121\r\nContent-Length: 9\r\n\r\n"
        )),
        Error::BodyTooLarge
    );
    // A bare Content-Encoding: aws-chunked without a streaming payload hash
    // is a plain body of Content-Length bytes (rustfs#4962).
    let bare = b"PUT /b/k HTTP/1.1\r\nContent-Encoding: aws-chunked\r\nx-amz-content-sha256: UNSIGNED-PAYLOAD\r\nContent-Length: 3\r\n\r\n";
    assert!(matches!(
        parse(bare),
        Ok(Status::Complete((_, Framing::Length(3), None, ..)))
    ));
}

#[test]
fn aws_chunked_is_dropped_from_the_stored_content_encoding() {
    assert_eq!(stored_content_encoding(b"aws-chunked"), None);
    assert_eq!(
        stored_content_encoding(b"AWS-CHUNKED , gzip").as_deref(),
        Some("gzip")
    );
    assert_eq!(
        stored_content_encoding(b"gzip,aws-chunked,br").as_deref(),
        Some("gzip, br")
    );
    assert_eq!(stored_content_encoding(b"").as_deref(), None);
}

#[test]
fn header_values_are_trimmed_and_all_values_listed() {
    let wire = b"GET / HTTP/1.1\r\nX-Meta: \t a b \t\r\nx-meta: second\r\n\r\n";
    let mut fields = [httparse::EMPTY_HEADER; 8];
    let Ok(Status::Complete(h)) = RequestHead::parse(wire, &mut fields, &Limits::default()) else {
        panic!()
    };
    assert_eq!(
        h.headers().get_all("X-META").collect::<Vec<_>>(),
        [&b"a b"[..], b"second"]
    );
}
