//! Round trips with a real client: botocore signs requests in every payload
//! mode it uses (hex digest, UNSIGNED-PAYLOAD, aws-chunked with an unsigned
//! trailer inside Transfer-Encoding: chunked, presigned URLs), a capture
//! server records them byte for byte (botocore_capture.py), and this test
//! verifies each with sluice-http and sluice-sigv4: signature, payload hash,
//! chunk framing, flexible checksum. Then it flips one payload byte and
//! expects the check to fail.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use sluice_http::{BodyDecoder, BodyEvent, Limits, RequestHead, Status};
use sluice_sigv4::{
    Checksum, ChecksumAlgorithm, ChecksumValue, Error, PayloadMode, Result, SecretLookup,
    SignedRequest, Verifier,
};

const ACCESS_KEY: &str = "AKIDSLUICETEST";
const SECRET: &str = "sluice/test+secret/key";

struct Keys;

impl SecretLookup for Keys {
    fn secret_key(&self, access_key: &str, _token: Option<&str>) -> Result<String> {
        if access_key == ACCESS_KEY {
            Ok(SECRET.to_owned())
        } else {
            Err(Error::InvalidAccessKeyId)
        }
    }
}

fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("SLUICE_PYTHON") {
        return p.into();
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/venv/bin/python");
    assert!(
        venv.exists(),
        "no Python with boto3: run tools/venv.sh (tools/test.sh does) or set SLUICE_PYTHON"
    );
    venv
}

/// What a verified request carried.
#[derive(Debug)]
struct Checked {
    payload: Vec<u8>,
    mode: PayloadMode,
    presigned: bool,
    checksum: Option<ChecksumAlgorithm>,
}

/// Everything a server must check before accepting the request.
fn check(raw: &[u8], now: i64) -> Result<Checked> {
    let limits = Limits::default();
    let mut fields = [httparse::EMPTY_HEADER; 64];
    let Ok(Status::Complete(head)) = RequestHead::parse(raw, &mut fields, &limits) else {
        panic!("captured request does not parse")
    };
    let headers: Vec<(&str, &[u8])> = head.headers().iter().collect();
    let req = SignedRequest {
        method: head.method_str(),
        path: head.raw_path(),
        query: head.raw_query(),
        headers: &headers[..],
    };
    let verified = Verifier::new(None, "s3").verify(&req, &Keys, now)?;
    let mut payload_hash = verified.payload_hash();
    let mut chunks = verified.chunk_verifier();
    let header_checksum = ChecksumAlgorithm::ALL.into_iter().find_map(|a| {
        head.headers()
            .get(a.header_name())
            .map(|v| (a, ChecksumValue::from_base64(a, v)))
    });
    let trailer_algorithm = head
        .headers()
        .get("x-amz-trailer")
        .and_then(ChecksumAlgorithm::from_header_name);
    let algorithm = header_checksum
        .as_ref()
        .map(|(a, _)| *a)
        .or(trailer_algorithm);
    let mut checksum = algorithm.map(Checksum::new);
    let mut trailer_value = None;
    let mut decoder = BodyDecoder::for_head(&head, &limits);
    let mut pos = head.len();
    let mut payload = Vec::new();
    loop {
        let (used, event) = decoder.decode(&raw[pos..]).expect("framing");
        pos += used;
        match event.expect("the captured body is complete") {
            BodyEvent::Data(d) => {
                payload.extend_from_slice(d);
                if let Some(h) = payload_hash.as_mut() {
                    h.update(d);
                }
                if let Some(c) = chunks.as_mut() {
                    c.update(d);
                }
                if let Some(c) = checksum.as_mut() {
                    c.update(d);
                }
            }
            BodyEvent::ChunkStart { size, signature } => chunks
                .as_mut()
                .expect("streaming")
                .chunk_start(size, signature)?,
            BodyEvent::ChunkEnd => chunks.as_mut().expect("streaming").chunk_end()?,
            BodyEvent::Trailer { name, value } => {
                chunks.as_mut().expect("streaming").trailer(name, value)?;
                if trailer_algorithm
                    .is_some_and(|a| a.header_name().as_bytes().eq_ignore_ascii_case(name))
                {
                    trailer_value = Some(ChecksumValue::from_base64(
                        trailer_algorithm.unwrap(),
                        value,
                    )?);
                }
            }
            BodyEvent::End => break,
        }
    }
    if let Some(h) = payload_hash {
        h.finish()?;
    }
    if let Some(c) = &chunks {
        c.finish()?;
    }
    if let Some(c) = checksum {
        let expected = match header_checksum {
            Some((_, value)) => value?,
            None => {
                trailer_value.ok_or(Error::InvalidRequest("the declared trailer was not sent"))?
            }
        };
        c.finish().verify(&expected)?;
    }
    Ok(Checked {
        payload,
        mode: verified.payload,
        presigned: verified.presigned,
        checksum: algorithm,
    })
}

/// Changes one byte of each thing a SigV2 signature covers (method, path,
/// a sub-resource, an x-amz-* header value, Content-Type, the date or
/// expiry) and expects SignatureDoesNotMatch.
fn sigv2_tampering_is_refused(name: &str, raw: &[u8]) {
    let text = String::from_utf8_lossy(raw).into_owned();
    let head_end = text.find("\r\n\r\n").unwrap();
    let head = &text[..head_end];
    let mut probes: Vec<String> = vec![
        head.replacen("/bucket", "/bucket2", 1),
        head.replacen(head.split(' ').next().unwrap(), "HEAD", 1),
    ];
    for needle in [
        "response-content-disposition=attachment",
        "versionId=null",
        "acl",
        "x-amz-meta-reviewed-by: joe",
        "x-amz-acl: private",
        "Content-Type: text/plain",
    ] {
        if head.contains(needle) {
            probes.push(head.replacen(needle, &format!("{needle}x"), 1));
        }
    }
    if let Some(at) = head.find("Expires=") {
        let mut h = head.to_owned();
        h.insert(at + "Expires=".len(), '1');
        probes.push(h);
    }
    if head.contains("\r\nDate: ") && head.contains(" GMT\r\n") {
        // The same instant written otherwise: Date is signed as sent.
        probes.push(head.replacen(" GMT\r\n", " +0000\r\n", 1));
    }
    for probe in probes.into_iter().filter(|p| p != head) {
        let mut tampered = probe.into_bytes();
        tampered.extend_from_slice(&raw[head_end..]);
        let e = check(&tampered, now()).expect_err(&String::from_utf8_lossy(&tampered));
        assert!(
            matches!(e, Error::SignatureDoesNotMatch),
            "{name}: tampering gave {e:?}"
        );
    }
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[test]
fn botocore_requests_verify_in_every_payload_mode() {
    let out = std::env::temp_dir().join(format!("sluice-botocore-{}", std::process::id()));
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/botocore_capture.py");
    let status = Command::new(python())
        .arg(&script)
        .arg(&out)
        .status()
        .expect("python runs");
    assert!(status.success(), "botocore_capture.py failed");
    let manifest = std::fs::read_to_string(out.join("manifest")).unwrap();
    let mut seen = Vec::new();
    let mut sigv2 = 0;
    for base in manifest.lines() {
        let name = &base[3..];
        let raw = std::fs::read(out.join(format!("{base}.raw"))).unwrap();
        let expected = std::fs::read(out.join(format!("{base}.payload"))).unwrap();
        let checked = check(&raw, now()).unwrap_or_else(|e| panic!("{name}: {e:?}"));
        if name.contains("sigv2") {
            // SigV2 signs no payload hash: the body is unsigned, and
            // any change to what it signs is refused.
            assert_eq!(checked.mode, PayloadMode::Unsigned, "{name}");
            assert_eq!(checked.payload, expected, "{name}: payload");
            sigv2_tampering_is_refused(name, &raw);
            sigv2 += 1;
        }
        assert_eq!(checked.payload, expected, "{name}: payload");
        let want_checksum = match name {
            "http-put"
            | "http-upload-part"
            | "https-put"
            | "https-put-payload-signing"
            | "sigv2-put"
            | "sigv2-acl" => Some(ChecksumAlgorithm::Crc32),
            "https-put-crc32c" => Some(ChecksumAlgorithm::Crc32c),
            "https-put-crc64nvme" => Some(ChecksumAlgorithm::Crc64Nvme),
            "https-put-sha1" => Some(ChecksumAlgorithm::Sha1),
            "https-put-sha256" => Some(ChecksumAlgorithm::Sha256),
            _ => None,
        };
        assert_eq!(checked.checksum, want_checksum, "{name}: checksum");
        assert_eq!(checked.presigned, name.starts_with("presigned"), "{name}");
        seen.push(checked.mode);
        // Flip one payload byte on the wire: something must notice.
        let integrity =
            matches!(checked.mode, PayloadMode::Sha256(_)) || checked.checksum.is_some();
        if integrity && !expected.is_empty() {
            let probe = &expected[expected.len() / 2..(expected.len() / 2 + 8).min(expected.len())];
            let at = raw
                .windows(probe.len())
                .position(|w| w == probe)
                .expect("payload on the wire");
            let mut tampered = raw.clone();
            tampered[at] ^= 0x20;
            let e = check(&tampered, now()).expect_err(&String::from_utf8_lossy(&tampered));
            assert!(
                matches!(e, Error::XAmzContentSHA256Mismatch | Error::BadDigest(_)),
                "{name}: tampering gave {e:?}"
            );
        }
    }
    assert!(
        seen.iter().any(|m| matches!(m, PayloadMode::Sha256(_))),
        "hex digest mode"
    );
    assert!(
        seen.contains(&PayloadMode::Unsigned),
        "UNSIGNED-PAYLOAD mode"
    );
    assert!(
        seen.contains(&PayloadMode::StreamingUnsignedTrailer),
        "aws-chunked trailer mode"
    );
    assert!(seen.len() >= 12, "captured {} requests", seen.len());
    assert!(sigv2 >= 7, "captured {sigv2} SigV2 requests");
    std::fs::remove_dir_all(&out).unwrap();
}
