//! Property tests: any valid request, split at any byte positions, decodes to
//! the same head and body as the model it was written from; random and
//! mutated bytes never panic.
#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use sluice_http::fuzzing::{decode_in_pieces, DecodedBody};
use sluice_http::{BodyDecoder, Framing, Limits, RequestHead, Status};

#[derive(Debug, Clone)]
enum BodyModel {
    None,
    Length(Vec<u8>),
    Chunked {
        chunks: Vec<(Vec<u8>, String)>,
        trailers: Vec<(String, String)>,
    },
    AwsSigned {
        chunks: Vec<(Vec<u8>, String)>,
        last_signature: String,
    },
    AwsTrailer {
        chunks: Vec<Vec<u8>>,
        trailers: Vec<(String, String)>,
    },
    /// aws-chunked with trailers inside Transfer-Encoding: chunked, as boto3 streams.
    AwsInChunked {
        chunks: Vec<Vec<u8>>,
        trailers: Vec<(String, String)>,
        outer: usize,
    },
}

#[derive(Debug, Clone)]
struct RequestModel {
    method: &'static str,
    target: String,
    fields: Vec<(String, String)>,
    body: BodyModel,
    close: bool,
}

fn token() -> impl Strategy<Value = String> {
    "[a-z0-9!#$%&'*+.^_`|~-]{1,12}"
}

fn field_value() -> impl Strategy<Value = String> {
    "[!-~]([ -~]{0,30}[!-~])?"
}

fn signature() -> impl Strategy<Value = String> {
    "[0-9a-f]{64}"
}

fn data() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 1..300)
}

fn body_model() -> impl Strategy<Value = BodyModel> {
    let trailers = || prop::collection::vec((token(), field_value()), 0..3);
    prop_oneof![
        Just(BodyModel::None),
        prop::collection::vec(any::<u8>(), 0..600).prop_map(BodyModel::Length),
        (
            prop::collection::vec((data(), "(;[a-z]{1,5}(=[a-z0-9]{1,5})?){0,2}"), 0..5),
            trailers()
        )
            .prop_map(|(chunks, trailers)| BodyModel::Chunked { chunks, trailers }),
        (
            prop::collection::vec((data(), signature()), 0..5),
            signature()
        )
            .prop_map(|(chunks, last_signature)| BodyModel::AwsSigned {
                chunks,
                last_signature
            }),
        (prop::collection::vec(data(), 0..5), trailers())
            .prop_map(|(chunks, trailers)| BodyModel::AwsTrailer { chunks, trailers }),
        (prop::collection::vec(data(), 0..5), trailers(), 1usize..400).prop_map(
            |(chunks, trailers, outer)| BodyModel::AwsInChunked {
                chunks,
                trailers,
                outer
            }
        ),
    ]
}

fn request_model() -> impl Strategy<Value = RequestModel> {
    (
        prop::sample::select(vec!["GET", "PUT", "POST", "DELETE", "HEAD", "OPTIONS"]),
        "/[a-z0-9.-]{0,20}(/[A-Za-z0-9%._~-]{0,20}){0,3}(\\?[a-z0-9=&%-]{0,30})?",
        prop::collection::vec((token(), field_value()), 0..8),
        body_model(),
        any::<bool>(),
    )
        .prop_map(|(method, target, fields, body, close)| RequestModel {
            method,
            target,
            // Names that cannot collide with the framing fields.
            fields: fields
                .into_iter()
                .map(|(n, v)| (format!("x-r-{n}"), v))
                .collect(),
            body,
            close,
        })
}

fn chunk_line(size: usize, ext: &str) -> String {
    format!("{size:x}{ext}\r\n")
}

/// The wire bytes of the body, its framing fields, and what decoding it must give.
fn encode_body(body: &BodyModel) -> (Vec<u8>, Vec<String>, DecodedBody) {
    let mut wire = Vec::new();
    let mut expected = DecodedBody {
        ended: true,
        ..DecodedBody::default()
    };
    let mut fields = Vec::new();
    let push_chunk = |wire: &mut Vec<u8>,
                      expected: &mut DecodedBody,
                      data: &[u8],
                      ext: &str,
                      sig: Option<&str>| {
        wire.extend_from_slice(chunk_line(data.len(), ext).as_bytes());
        wire.extend_from_slice(data);
        wire.extend_from_slice(b"\r\n");
        expected.data.extend_from_slice(data);
        expected
            .chunks
            .push((data.len() as u64, sig.map(|s| s.as_bytes().to_vec())));
        expected.chunk_ends += 1;
    };
    let write_trailers =
        |wire: &mut Vec<u8>, expected: &mut DecodedBody, trailers: &[(String, String)]| {
            for (n, v) in trailers {
                wire.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
                expected
                    .trailers
                    .push((n.as_bytes().to_vec(), v.as_bytes().to_vec()));
            }
            wire.extend_from_slice(b"\r\n");
        };
    match body {
        BodyModel::None => {}
        BodyModel::Length(data) => {
            wire.extend_from_slice(data);
            expected.data.clone_from(data);
            fields.push(format!("Content-Length: {}", data.len()));
        }
        BodyModel::Chunked { chunks, trailers } => {
            for (data, ext) in chunks {
                push_chunk(&mut wire, &mut expected, data, ext, None);
            }
            wire.extend_from_slice(b"0\r\n");
            expected.chunks.push((0, None));
            expected.chunk_ends += 1;
            write_trailers(&mut wire, &mut expected, trailers);
            fields.push("Transfer-Encoding: chunked".into());
        }
        BodyModel::AwsSigned {
            chunks,
            last_signature,
        } => {
            for (data, sig) in chunks {
                push_chunk(
                    &mut wire,
                    &mut expected,
                    data,
                    &format!(";chunk-signature={sig}"),
                    Some(sig),
                );
            }
            wire.extend_from_slice(
                format!("0;chunk-signature={last_signature}\r\n\r\n").as_bytes(),
            );
            expected
                .chunks
                .push((0, Some(last_signature.as_bytes().to_vec())));
            expected.chunk_ends += 1;
            fields.push("x-amz-content-sha256: STREAMING-AWS4-HMAC-SHA256-PAYLOAD".into());
        }
        BodyModel::AwsTrailer { chunks, trailers }
        | BodyModel::AwsInChunked {
            chunks, trailers, ..
        } => {
            for data in chunks {
                push_chunk(&mut wire, &mut expected, data, "", None);
            }
            wire.extend_from_slice(b"0\r\n");
            expected.chunks.push((0, None));
            expected.chunk_ends += 1;
            write_trailers(&mut wire, &mut expected, trailers);
            fields.push("x-amz-content-sha256: STREAMING-UNSIGNED-PAYLOAD-TRAILER".into());
        }
    }
    let aws = matches!(
        body,
        BodyModel::AwsSigned { .. } | BodyModel::AwsTrailer { .. } | BodyModel::AwsInChunked { .. }
    );
    if aws {
        fields.push("Content-Encoding: aws-chunked".into());
        fields.push(format!(
            "x-amz-decoded-content-length: {}",
            expected.data.len()
        ));
    }
    if let BodyModel::AwsInChunked { outer, .. } = body {
        wire = sluice_http::fuzzing::chunk_wrap(&wire, *outer);
        fields.push("Transfer-Encoding: chunked".into());
    } else if aws {
        fields.push(format!("Content-Length: {}", wire.len()));
    }
    expected.consumed = wire.len();
    (wire, fields, expected)
}

fn encode(req: &RequestModel) -> (Vec<u8>, usize, DecodedBody) {
    let (body, framing_fields, expected) = encode_body(&req.body);
    let mut wire = format!(
        "{} {} HTTP/1.1\r\nHost: 127.0.0.1\r\n",
        req.method, req.target
    )
    .into_bytes();
    for (n, v) in &req.fields {
        wire.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
    }
    for f in framing_fields {
        wire.extend_from_slice(format!("{f}\r\n").as_bytes());
    }
    if req.close {
        wire.extend_from_slice(b"Connection: close\r\n");
    }
    wire.extend_from_slice(b"\r\n");
    let head_len = wire.len();
    wire.extend_from_slice(&body);
    (wire, head_len, expected)
}

const NEXT_REQUEST: &[u8] = b"GET /next HTTP/1.1\r\n\r\n";

proptest! {
    #![proptest_config(ProptestConfig::with_cases(768))]

    #[test]
    fn any_valid_request_split_anywhere_decodes_the_same(
        req in request_model(),
        raw_cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..12),
    ) {
        let (mut wire, head_len, expected) = encode(&req);
        wire.extend_from_slice(NEXT_REQUEST);
        let mut cuts: Vec<usize> = raw_cuts.iter().map(|i| i.index(wire.len() + 1)).collect();
        cuts.sort_unstable();
        let limits = Limits::default();

        // The server's view of the head: everything received so far, parsed
        // from the start after each read.
        let mut parsed_at = None;
        for &cut in cuts.iter().chain(std::iter::once(&wire.len())) {
            let mut fields = [httparse::EMPTY_HEADER; 32];
            match RequestHead::parse(&wire[..cut], &mut fields, &limits).unwrap() {
                Status::Partial => prop_assert!(cut < head_len, "partial at {} past head end {}", cut, head_len),
                Status::Complete(head) => {
                    prop_assert_eq!(head.len(), head_len);
                    prop_assert_eq!(head.method_str(), req.method);
                    prop_assert_eq!(head.target(), req.target.as_str());
                    prop_assert_eq!(head.keep_alive(), !req.close);
                    for (n, v) in &req.fields {
                        prop_assert!(head.headers().get_all(n).any(|x| x == v.as_bytes()));
                    }
                    let framing = head.framing();
                    match &req.body {
                        BodyModel::None => prop_assert_eq!(framing, Framing::Empty),
                        BodyModel::Chunked { .. } | BodyModel::AwsInChunked { .. } => {
                            prop_assert_eq!(framing, Framing::Chunked);
                        }
                        _ => prop_assert!(matches!(framing, Framing::Length(_))),
                    }
                    let decoder = BodyDecoder::for_head(&head, &limits);
                    parsed_at = Some((cut, decoder));
                    break;
                }
            }
        }
        let (received, decoder) = parsed_at.expect("the whole wire holds a complete head");

        // The body: what arrived with the head, then the remaining pieces.
        let body = &wire[head_len..];
        let mut body_cuts = vec![received - head_len];
        body_cuts.extend(cuts.iter().filter(|&&c| c > received).map(|&c| c - head_len));
        let decoded = decode_in_pieces(decoder, body, &body_cuts).unwrap();
        prop_assert_eq!(&decoded, &expected);
        prop_assert_eq!(&body[decoded.consumed..], NEXT_REQUEST);
    }

    #[test]
    fn random_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..2048)) {
        sluice_http::fuzzing::head(&data);
        sluice_http::fuzzing::chunked(&data);
        sluice_http::fuzzing::aws_chunked(&data);
    }

    #[test]
    fn mutated_requests_never_panic(
        req in request_model(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..6),
        selector in any::<u8>(),
    ) {
        let (mut wire, _, _) = encode(&req);
        for (at, byte, kind) in edits {
            let i = at.index(wire.len() + 1);
            match kind {
                0 if i < wire.len() => wire[i] = byte,
                1 => wire.insert(i, byte),
                _ if i < wire.len() => { wire.remove(i); }
                _ => {}
            }
        }
        wire.insert(0, selector);
        sluice_http::fuzzing::head(&wire);
    }
}
