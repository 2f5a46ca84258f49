//! The worked examples of the AWS S3 SigV4 documentation, with the
//! documented signatures as expected values, verified end to end.
#![allow(clippy::unwrap_used)]

use sluice_http::{BodyDecoder, BodyEvent, Limits, RequestHead, Status};
use sluice_sigv4::{
    presign, sign_headers, Credentials, Error, PayloadMode, PresignRequest, Result, SecretLookup,
    SignedRequest, StreamingMode, Verifier,
};

const ACCESS_KEY: &str = "AKIAIOSFODNN7EXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
/// 20130524T000000Z
const T0: i64 = 1_369_353_600;
const EMPTY: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

struct ExampleKeys;

impl SecretLookup for ExampleKeys {
    fn secret_key(&self, access_key: &str, token: Option<&str>) -> Result<String> {
        match (access_key, token) {
            (ACCESS_KEY, None) => Ok(SECRET.to_owned()),
            (ACCESS_KEY, Some(_)) => Err(Error::InvalidToken),
            _ => Err(Error::InvalidAccessKeyId),
        }
    }
}

/// Parses a raw request with sluice-http and verifies it at `now`.
fn verify_raw(raw: &[u8], now: i64) -> Result<sluice_sigv4::Verified> {
    let mut fields = [httparse::EMPTY_HEADER; 32];
    let Ok(Status::Complete(head)) = RequestHead::parse(raw, &mut fields, &Limits::default())
    else {
        panic!("example request does not parse")
    };
    let headers: Vec<(&str, &[u8])> = head.headers().iter().collect();
    let req = SignedRequest {
        method: head.method_str(),
        path: head.raw_path(),
        query: head.raw_query(),
        headers: &headers[..],
    };
    Verifier::new(Some("us-east-1"), "s3").verify(&req, &ExampleKeys, now)
}

fn auth(signed: &str, signature: &str) -> String {
    format!(
        "Authorization: AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/20130524/us-east-1/s3/aws4_request, \
         SignedHeaders={signed}, Signature={signature}\r\n"
    )
}

fn get_object_range(signature: &str) -> String {
    format!(
        "GET /test.txt HTTP/1.1\r\nHost: examplebucket.s3.amazonaws.com\r\n{}Range: bytes=0-9\r\n\
         x-amz-content-sha256: {EMPTY}\r\nx-amz-date: 20130524T000000Z\r\n\r\n",
        auth("host;range;x-amz-content-sha256;x-amz-date", signature)
    )
}

const GET_OBJECT_SIG: &str = "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41";

#[test]
fn get_object_with_range() {
    let v = verify_raw(get_object_range(GET_OBJECT_SIG).as_bytes(), T0).unwrap();
    assert_eq!(v.access_key, ACCESS_KEY);
    assert!(matches!(v.payload, PayloadMode::Sha256(_)));
    assert!(!v.presigned);
    let mut empty = v.payload_hash().unwrap();
    empty.update(b"");
    assert_eq!(empty.finish(), Ok(()));
}

#[test]
fn put_object() {
    let raw = format!(
        "PUT /test%24file.text HTTP/1.1\r\nHost: examplebucket.s3.amazonaws.com\r\n\
         Date: Fri, 24 May 2013 00:00:00 GMT\r\n{}x-amz-date: 20130524T000000Z\r\n\
         x-amz-storage-class: REDUCED_REDUNDANCY\r\n\
         x-amz-content-sha256: 44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072\r\n\
         Content-Length: 21\r\n\r\nWelcome to Amazon S3.",
        auth(
            "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class",
            "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"
        )
    );
    let v = verify_raw(raw.as_bytes(), T0).unwrap();
    let mut body = v.payload_hash().unwrap();
    body.update(b"Welcome to Amazon S3.");
    assert_eq!(body.finish(), Ok(()));
    let mut tampered = v.payload_hash().unwrap();
    tampered.update(b"Welcome to Amazon S4.");
    assert_eq!(tampered.finish(), Err(Error::XAmzContentSHA256Mismatch));
}

#[test]
fn get_bucket_lifecycle() {
    let raw = format!(
        "GET /?lifecycle HTTP/1.1\r\nHost: examplebucket.s3.amazonaws.com\r\n{}\
         x-amz-date: 20130524T000000Z\r\nx-amz-content-sha256: {EMPTY}\r\n\r\n",
        auth(
            "host;x-amz-content-sha256;x-amz-date",
            "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543"
        )
    );
    verify_raw(raw.as_bytes(), T0).unwrap();
}

#[test]
fn list_objects_with_query_parameters() {
    let raw = format!(
        "GET /?max-keys=2&prefix=J HTTP/1.1\r\nHost: examplebucket.s3.amazonaws.com\r\n{}\
         x-amz-date: 20130524T000000Z\r\nx-amz-content-sha256: {EMPTY}\r\n\r\n",
        auth(
            "host;x-amz-content-sha256;x-amz-date",
            "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"
        )
    );
    verify_raw(raw.as_bytes(), T0).unwrap();
    // The same parameters in another order sign the same.
    let reordered = raw.replace("?max-keys=2&prefix=J", "?prefix=J&max-keys=2");
    verify_raw(reordered.as_bytes(), T0).unwrap();
}

const PRESIGNED_QUERY: &str = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404";

#[test]
fn presigned_url_verifies_and_expires() {
    let raw = format!(
        "GET /test.txt?{PRESIGNED_QUERY} HTTP/1.1\r\nHost: examplebucket.s3.amazonaws.com\r\n\r\n"
    );
    let v = verify_raw(raw.as_bytes(), T0 + 3600).unwrap();
    assert!(v.presigned);
    assert_eq!(v.payload, PayloadMode::Unsigned);
    assert_eq!(
        verify_raw(raw.as_bytes(), T0 + 86_400).map(|v| v.access_key),
        Ok(ACCESS_KEY.into())
    );
    assert_eq!(
        verify_raw(raw.as_bytes(), T0 + 86_401).unwrap_err(),
        Error::AccessDenied("Request has expired")
    );
    assert_eq!(
        verify_raw(raw.as_bytes(), T0 - 901).unwrap_err(),
        Error::AccessDenied("Request is not valid yet")
    );
    let e = verify_raw(raw.as_bytes(), T0 + 86_401).unwrap_err();
    assert_eq!((e.code(), e.status()), ("AccessDenied", 403));
    // Our presigner produces the documented URL.
    let ours = presign(
        &PresignRequest {
            method: "GET",
            host: "examplebucket.s3.amazonaws.com",
            raw_path: "/test.txt",
            raw_query: "",
            region: "us-east-1",
            time: T0,
            expires: 86_400,
        },
        &Credentials::new(ACCESS_KEY, SECRET),
    );
    assert_eq!(ours, PRESIGNED_QUERY);
}

/// The seed request of the documented streaming upload.
fn streaming_head(seed: &str) -> String {
    format!(
        "PUT /examplebucket/chunkObject.txt HTTP/1.1\r\nHost: s3.amazonaws.com\r\n\
         x-amz-date: 20130524T000000Z\r\nx-amz-storage-class: REDUCED_REDUNDANCY\r\n{}\
         x-amz-content-sha256: STREAMING-AWS4-HMAC-SHA256-PAYLOAD\r\nContent-Encoding: aws-chunked\r\n\
         x-amz-decoded-content-length: 66560\r\nContent-Length: 66824\r\n\r\n",
        auth(
            "content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class",
            seed
        )
    )
}

const SEED: &str = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9";
const CHUNK_SIGS: [&str; 3] = [
    "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
    "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
    "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
];

fn streaming_body(fill: u8, signatures: [&str; 3]) -> Vec<u8> {
    let mut body = Vec::new();
    for (size, sig) in [65536usize, 1024, 0].into_iter().zip(signatures) {
        body.extend_from_slice(format!("{size:x};chunk-signature={sig}\r\n").as_bytes());
        if size > 0 {
            body.extend(std::iter::repeat_n(fill, size));
            body.extend_from_slice(b"\r\n");
        }
    }
    body.extend_from_slice(b"\r\n");
    body
}

/// Decodes the body with sluice-http and feeds the chunk verifier; returns
/// the payload once every signature checked out.
fn stream_verify(head: &str, body: &[u8]) -> Result<Vec<u8>> {
    let mut wire = head.as_bytes().to_vec();
    wire.extend_from_slice(body);
    let v = verify_raw(&wire, T0 + 60)?;
    let mut chunks = v.chunk_verifier().unwrap();
    let mut fields = [httparse::EMPTY_HEADER; 32];
    let limits = Limits::default();
    let Ok(Status::Complete(parsed)) = RequestHead::parse(&wire, &mut fields, &limits) else {
        panic!()
    };
    let mut decoder = BodyDecoder::for_head(&parsed, &limits);
    let mut pos = parsed.len();
    let mut payload = Vec::new();
    loop {
        let (used, event) = decoder.decode(&wire[pos..]).unwrap();
        pos += used;
        match event.unwrap() {
            BodyEvent::ChunkStart { size, signature } => chunks.chunk_start(size, signature)?,
            BodyEvent::Data(d) => {
                chunks.update(d);
                payload.extend_from_slice(d);
            }
            BodyEvent::ChunkEnd => chunks.chunk_end()?,
            BodyEvent::Trailer { name, value } => chunks.trailer(name, value)?,
            BodyEvent::End => break,
        }
    }
    chunks.finish()?;
    Ok(payload)
}

/// Signs a documented request head (its Authorization left out) with our
/// signer, as a client would.
fn sign_like_client(
    head: &str,
    signed_headers: &str,
    payload: &str,
) -> sluice_sigv4::HeaderSignature {
    let mut fields = [httparse::EMPTY_HEADER; 32];
    let Ok(Status::Complete(parsed)) =
        RequestHead::parse(head.as_bytes(), &mut fields, &Limits::default())
    else {
        panic!("documented head does not parse")
    };
    let headers: Vec<(&str, &[u8])> = parsed
        .headers()
        .iter()
        .filter(|(n, _)| *n != "Authorization")
        .collect();
    let req = SignedRequest {
        method: "PUT",
        path: parsed.raw_path(),
        query: "",
        headers: &headers[..],
    };
    sign_headers(
        &req,
        signed_headers,
        payload,
        &Credentials::new(ACCESS_KEY, SECRET),
        "us-east-1",
        T0,
    )
}

#[test]
fn streaming_upload_example_chunk_signatures() {
    let payload = stream_verify(&streaming_head(SEED), &streaming_body(b'a', CHUNK_SIGS)).unwrap();
    assert_eq!(payload, vec![b'a'; 66560]);
    // One changed byte in the data breaks the chain.
    assert_eq!(
        stream_verify(&streaming_head(SEED), &streaming_body(b'b', CHUNK_SIGS)),
        Err(Error::SignatureDoesNotMatch)
    );
    // Reordered signatures break it too.
    let swapped = [CHUNK_SIGS[1], CHUNK_SIGS[0], CHUNK_SIGS[2]];
    assert_eq!(
        stream_verify(&streaming_head(SEED), &streaming_body(b'a', swapped)),
        Err(Error::SignatureDoesNotMatch)
    );
    // Our signer reproduces the documented seed and chunk signatures.
    let sig = sign_like_client(&streaming_head(SEED), "content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD");
    assert_eq!(&sig.signature, SEED.as_bytes());
    let mut signer = sig.chunk_signer();
    assert_eq!(&signer.sign_chunk(&[b'a'; 65536]), CHUNK_SIGS[0].as_bytes());
    assert_eq!(&signer.sign_chunk(&[b'a'; 1024]), CHUNK_SIGS[1].as_bytes());
    assert_eq!(&signer.sign_chunk(b""), CHUNK_SIGS[2].as_bytes());
}

#[test]
fn signature_errors_map_to_s3_codes() {
    let wrong = GET_OBJECT_SIG.replace("f0e8", "f0e9");
    let e = verify_raw(get_object_range(&wrong).as_bytes(), T0).unwrap_err();
    assert_eq!((e.code(), e.status()), ("SignatureDoesNotMatch", 403));
    // A header changed after signing.
    let changed = get_object_range(GET_OBJECT_SIG).replace("bytes=0-9", "bytes=0-10");
    assert_eq!(
        verify_raw(changed.as_bytes(), T0).unwrap_err(),
        Error::SignatureDoesNotMatch
    );
    // Unknown key, and a session token the key does not have.
    let unknown = get_object_range(GET_OBJECT_SIG).replace("AKIAIOSFODNN7EXAMPLE", "AKIAUNKNOWN");
    let e = verify_raw(unknown.as_bytes(), T0).unwrap_err();
    assert_eq!((e.code(), e.status()), ("InvalidAccessKeyId", 403));
    let with_token =
        get_object_range(GET_OBJECT_SIG).replace("Range:", "x-amz-security-token: abc\r\nRange:");
    assert_eq!(
        verify_raw(with_token.as_bytes(), T0).unwrap_err().code(),
        "InvalidToken"
    );
    // 15 minutes of skew are tolerated, one second more is not.
    assert!(verify_raw(get_object_range(GET_OBJECT_SIG).as_bytes(), T0 + 900).is_ok());
    let e = verify_raw(get_object_range(GET_OBJECT_SIG).as_bytes(), T0 - 901).unwrap_err();
    assert_eq!((e.code(), e.status()), ("RequestTimeTooSkewed", 403));
    // A scope for another day, region or service.
    for (from, to) in [
        ("/20130524/", "/20130525/"),
        ("/us-east-1/", "/eu-west-1/"),
        ("/s3/", "/sts/"),
    ] {
        let bad = get_object_range(GET_OBJECT_SIG).replace(from, to);
        assert_eq!(
            verify_raw(bad.as_bytes(), T0).unwrap_err().code(),
            "AuthorizationHeaderMalformed",
            "{to}"
        );
    }
    let no_hash =
        get_object_range(GET_OBJECT_SIG).replace(&format!("x-amz-content-sha256: {EMPTY}\r\n"), "");
    assert_eq!(
        verify_raw(no_hash.as_bytes(), T0).unwrap_err().code(),
        "InvalidRequest"
    );
    let bad_hash = get_object_range(GET_OBJECT_SIG).replace(EMPTY, "not-a-hash");
    assert_eq!(
        verify_raw(bad_hash.as_bytes(), T0).unwrap_err().code(),
        "InvalidArgument"
    );
    // SigV2 is verified as SigV2 (tests/sigv2.rs): here it has no Date.
    let sigv2 =
        "GET /test.txt HTTP/1.1\r\nHost: x\r\nAuthorization: AWS AKIAIOSFODNN7EXAMPLE:abc=\r\n\r\n";
    let e = verify_raw(sigv2.as_bytes(), T0).unwrap_err();
    assert_eq!(e.code(), "AccessDenied");
}

#[test]
fn streaming_modes_are_reported() {
    let v = verify_raw(streaming_head(SEED).as_bytes(), T0).unwrap();
    assert_eq!(v.payload, PayloadMode::StreamingSigned);
    assert_eq!(v.chunk_verifier().unwrap().mode(), StreamingMode::Signed);
    assert!(v.payload_hash().is_none());
}

#[test]
fn fuzz_corpus_replays_clean() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/sigv4_auth");
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        sluice_sigv4::fuzzing::auth_parsers(&std::fs::read(entry.unwrap().path()).unwrap());
        count += 1;
    }
    assert!(count > 0);
}

/// The documented upload with signed chunks and a signed trailer
/// (sigv4-streaming-trailers). The page's own Content-Length and
/// SignedHeaders contradict its signature; the values here are the ones that
/// reproduce the documented seed, chunk and trailer signatures.
#[test]
fn streaming_upload_with_signed_trailer_example() {
    const SIGS: [&str; 3] = [
        "b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2",
        "1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7",
        "2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992",
    ];
    const TRAILER_SIG: &str = "d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435";
    let body = |trailer_sig: &str, crc: &str| {
        let mut body = Vec::new();
        for (size, sig) in [65536usize, 1024, 0].into_iter().zip(SIGS) {
            body.extend_from_slice(format!("{size:x};chunk-signature={sig}\r\n").as_bytes());
            if size > 0 {
                body.extend(std::iter::repeat_n(b'a', size));
                body.extend_from_slice(b"\r\n");
            }
        }
        body.extend_from_slice(
            format!("x-amz-checksum-crc32c:{crc}\r\nx-amz-trailer-signature:{trailer_sig}\r\n\r\n")
                .as_bytes(),
        );
        body
    };
    let head = |len: usize| {
        format!(
            "PUT /examplebucket/chunkObject.txt HTTP/1.1\r\nHost: s3.amazonaws.com\r\n\
             x-amz-date: 20130524T000000Z\r\nx-amz-storage-class: REDUCED_REDUNDANCY\r\n{}\
             x-amz-content-sha256: STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER\r\nContent-Encoding: aws-chunked\r\n\
             x-amz-trailer: x-amz-checksum-crc32c\r\nx-amz-decoded-content-length: 66560\r\nContent-Length: {len}\r\n\r\n",
            auth(
                "content-encoding;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class;x-amz-trailer",
                "106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e"
            )
        )
    };
    let good = body(TRAILER_SIG, "sOO8/Q==");
    assert_eq!(good.len(), 66946);
    let payload = stream_verify(&head(good.len()), &good).unwrap();
    let mut crc = sluice_sigv4::Checksum::new(sluice_sigv4::ChecksumAlgorithm::Crc32c);
    crc.update(&payload);
    assert_eq!(crc.finish().to_base64(), "sOO8/Q==");
    // A changed trailer value no longer matches the trailer signature.
    let forged = body(TRAILER_SIG, "AAAAAA==");
    assert_eq!(
        stream_verify(&head(forged.len()), &forged),
        Err(Error::SignatureDoesNotMatch)
    );
    // Without the trailer signature the signed-trailer stream is incomplete.
    let mut unsigned = body(TRAILER_SIG, "sOO8/Q==");
    let cut = unsigned.len() - (24 + 64 + 2 + 2);
    unsigned.truncate(cut);
    unsigned.extend_from_slice(b"\r\n");
    assert_eq!(
        stream_verify(&head(unsigned.len()), &unsigned),
        Err(Error::SignatureDoesNotMatch)
    );
    let v = verify_raw(head(good.len()).as_bytes(), T0).unwrap();
    assert_eq!(v.payload, PayloadMode::StreamingSignedTrailer);
    // Our signer produces the same chain, trailer signature included.
    let sig = sign_like_client(&head(good.len()), "content-encoding;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class;x-amz-trailer", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER");
    let mut signer = sig.chunk_signer();
    for (data, expected) in [
        (&[b'a'; 65536][..], SIGS[0]),
        (&[b'a'; 1024][..], SIGS[1]),
        (&[][..], SIGS[2]),
    ] {
        assert_eq!(&signer.sign_chunk(data), expected.as_bytes());
    }
    assert_eq!(
        &signer.sign_trailers(&[("x-amz-checksum-crc32c", "sOO8/Q==")]),
        TRAILER_SIG.as_bytes()
    );
}

#[test]
fn post_policy_fuzz_corpus_replays_clean() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus/sigv4_post_policy");
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        sluice_sigv4::fuzzing::post_policy(&std::fs::read(entry.unwrap().path()).unwrap());
        count += 1;
    }
    assert!(count > 0);
}
