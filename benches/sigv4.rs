//! sluice-sigv4: µs per header-auth verify of a typical PUT; SHA-256 through
//! ring next to the portable `sha2` crate; streaming chunk verification with
//! 64 KiB chunks next to plain SHA-256; the CRCs of flexible checksums.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sha2::Digest as _;
use sluice_sigv4::{
    format_amz_date, sign_headers, Checksum, ChecksumAlgorithm, Credentials, Result, SecretLookup,
    SignedRequest, Verifier,
};

const MIB: usize = 1 << 20;
const TIME: i64 = 1_764_400_000;

struct Keys;

impl SecretLookup for Keys {
    fn secret_key(&self, _access_key: &str, _token: Option<&str>) -> Result<String> {
        Ok("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".to_owned())
    }
}

/// The headers of a PutObject as boto3 sends it over HTTP (signed digest,
/// CRC32 header), signed by our signer.
fn put_headers(payload_hash: &str) -> Vec<(String, Vec<u8>)> {
    let mut headers: Vec<(String, Vec<u8>)> = [
        ("Host", "127.0.0.1:9000"),
        ("Accept-Encoding", "identity"),
        ("Content-Type", "application/octet-stream"),
        (
            "User-Agent",
            "Boto3/1.44.8 md/Botocore#1.44.8 ua/2.1 os/linux md/arch#x86_64 lang/python#3.11.7",
        ),
        ("Content-MD5", "1B2M2Y8AsgTpgAmY7PhCfg=="),
        ("x-amz-checksum-crc32", "AAAAAA=="),
        ("x-amz-sdk-checksum-algorithm", "CRC32"),
        ("Expect", "100-continue"),
        ("x-amz-content-sha256", payload_hash),
        (
            "amz-sdk-invocation-id",
            "5f1f0b7e-8b0e-4c1a-9d4e-2a3b4c5d6e7f",
        ),
        ("amz-sdk-request", "attempt=1"),
        ("Content-Length", "1048576"),
    ]
    .iter()
    .map(|(n, v)| ((*n).to_owned(), v.as_bytes().to_vec()))
    .collect();
    headers.push(("X-Amz-Date".to_owned(), format_amz_date(TIME).into_bytes()));
    let signed = "content-md5;content-type;host;x-amz-checksum-crc32;x-amz-content-sha256;x-amz-date;x-amz-sdk-checksum-algorithm";
    let req = SignedRequest {
        method: "PUT",
        path: "/bucket/photos/2026/cat%20pic.jpg",
        query: "",
        headers: &headers[..],
    };
    let sig = sign_headers(
        &req,
        signed,
        payload_hash,
        &Credentials::new(
            "AKIAIOSFODNN7EXAMPLE",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        ),
        "us-east-1",
        TIME,
    );
    headers.push(("Authorization".to_owned(), sig.authorization.into_bytes()));
    headers
}

fn verify(c: &mut Criterion) {
    let headers = put_headers("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    let req = SignedRequest {
        method: "PUT",
        path: "/bucket/photos/2026/cat%20pic.jpg",
        query: "",
        headers: &headers[..],
    };
    let mut verifier = Verifier::new(None, "s3");
    assert!(verifier.verify(&req, &Keys, TIME).is_ok());
    let mut g = c.benchmark_group("sigv4");
    g.throughput(Throughput::Elements(1));
    g.bench_function("verify_put_header_auth", |b| {
        b.iter(|| black_box(verifier.verify(black_box(&req), &Keys, TIME).is_ok()));
    });
    g.finish();
}

fn hashing(c: &mut Criterion) {
    let data = vec![0x5au8; MIB];
    let mut g = c.benchmark_group("hash_1MiB");
    g.throughput(Throughput::Bytes(MIB as u64));
    g.bench_function("sha256_ring", |b| {
        b.iter(|| black_box(ring::digest::digest(&ring::digest::SHA256, &data)))
    });
    g.bench_function("sha256_sha2_crate", |b| {
        b.iter(|| black_box(sha2::Sha256::digest(&data)))
    });
    for alg in [
        ChecksumAlgorithm::Crc32c,
        ChecksumAlgorithm::Crc32,
        ChecksumAlgorithm::Crc64Nvme,
        ChecksumAlgorithm::Sha1,
    ] {
        g.bench_function(alg.name(), |b| {
            b.iter(|| {
                let mut c = Checksum::new(alg);
                c.update(&data);
                black_box(c.finish())
            });
        });
    }
    g.finish();
}

/// Verifying 1 MiB of aws-chunked payload in 64 KiB signed chunks.
fn streaming(c: &mut Criterion) {
    let chunk = 64 * 1024;
    let data = vec![0x33u8; MIB];
    let mut headers: Vec<(String, Vec<u8>)> = vec![
        ("host".to_owned(), b"h".to_vec()),
        (
            "x-amz-content-sha256".to_owned(),
            b"STREAMING-AWS4-HMAC-SHA256-PAYLOAD".to_vec(),
        ),
        ("x-amz-date".to_owned(), format_amz_date(TIME).into_bytes()),
    ];
    let req = SignedRequest {
        method: "PUT",
        path: "/b/k",
        query: "",
        headers: &headers[..],
    };
    let sig = sign_headers(
        &req,
        "host;x-amz-content-sha256;x-amz-date",
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
        &Credentials::new("AK", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
        "us-east-1",
        TIME,
    );
    let mut signer = sig.chunk_signer();
    let sigs: Vec<[u8; 64]> = data
        .chunks(chunk)
        .chain(std::iter::once(&[][..]))
        .map(|c| signer.sign_chunk(c))
        .collect();
    headers.push(("authorization".to_owned(), sig.authorization.into_bytes()));
    let req = SignedRequest {
        method: "PUT",
        path: "/b/k",
        query: "",
        headers: &headers[..],
    };
    let verified = Verifier::new(None, "s3")
        .verify(&req, &Keys, TIME)
        .expect("signed by us");
    let mut g = c.benchmark_group("streaming_1MiB_64KiB_chunks");
    g.throughput(Throughput::Bytes(MIB as u64));
    g.bench_function("chunk_signature_chain", |b| {
        b.iter(|| {
            let mut v = verified.chunk_verifier().expect("streaming mode");
            for (piece, s) in data
                .chunks(chunk)
                .chain(std::iter::once(&[][..]))
                .zip(&sigs)
            {
                v.chunk_start(piece.len() as u64, Some(s))
                    .expect("in order");
                v.update(piece);
                v.chunk_end().expect("valid signature");
            }
            v.finish().expect("complete")
        });
    });
    g.bench_function("plain_sha256_same_bytes", |b| {
        b.iter(|| black_box(ring::digest::digest(&ring::digest::SHA256, &data)));
    });
    g.finish();
}

criterion_group!(benches, verify, hashing, streaming);
criterion_main!(benches);
