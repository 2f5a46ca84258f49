//! sluice-http: ns per parsed S3 PUT head next to raw httparse on the same
//! bytes, and aws-chunked decode throughput on 1 MiB of 64 KiB signed chunks.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use sluice_http::fuzzing::SAMPLE_S3_PUT_HEAD;
use sluice_http::{BodyDecoder, BodyEvent, Limits, RequestHead, Status};

fn head(c: &mut Criterion) {
    let limits = Limits::default();
    let mut g = c.benchmark_group("head");
    g.throughput(Throughput::Elements(1));
    g.bench_function("httparse_raw", |b| {
        b.iter(|| {
            let mut fields = [httparse::EMPTY_HEADER; 32];
            let mut req = httparse::Request::new(&mut fields);
            let status = req.parse(black_box(SAMPLE_S3_PUT_HEAD));
            black_box((status.is_ok(), req.headers.len()))
        });
    });
    g.bench_function("sluice_parse", |b| {
        b.iter(|| {
            let mut fields = [httparse::EMPTY_HEADER; 32];
            match RequestHead::parse(black_box(SAMPLE_S3_PUT_HEAD), &mut fields, &limits) {
                Ok(Status::Complete(h)) => black_box((h.len(), h.framing(), h.keep_alive())),
                _ => unreachable!("the sample head is complete and valid"),
            }
        });
    });
    g.finish();
}

/// 1 MiB of payload as 16 signed chunks of 64 KiB, and the final chunk.
fn signed_body() -> Vec<u8> {
    const SIG: &str = "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648";
    let mut body = Vec::new();
    for i in 0..16u8 {
        body.extend_from_slice(format!("10000;chunk-signature={SIG}\r\n").as_bytes());
        body.extend(std::iter::repeat_n(i, 65536));
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("0;chunk-signature={SIG}\r\n\r\n").as_bytes());
    body
}

fn aws_decoder(wire_len: usize, limits: &Limits) -> BodyDecoder {
    let head = format!(
        "PUT /b/k HTTP/1.1\r\nx-amz-content-sha256: STREAMING-AWS4-HMAC-SHA256-PAYLOAD\r\n\
         x-amz-decoded-content-length: 1048576\r\nContent-Length: {wire_len}\r\n\r\n"
    );
    let mut fields = [httparse::EMPTY_HEADER; 8];
    match RequestHead::parse(head.as_bytes(), &mut fields, limits) {
        Ok(Status::Complete(h)) => BodyDecoder::for_head(&h, limits),
        _ => unreachable!("the bench head is valid"),
    }
}

fn aws_chunked(c: &mut Criterion) {
    let limits = Limits::default();
    let body = signed_body();
    let mut g = c.benchmark_group("aws_chunked_1MiB_64KiB_chunks");
    g.throughput(Throughput::Bytes(1 << 20));
    // Events only: payload slices handed out in place, as a hashing or
    // writing caller consumes them.
    g.bench_function("decode", |b| {
        b.iter(|| {
            let mut dec = aws_decoder(body.len(), &limits);
            let (mut pos, mut payload, mut sigs) = (0, 0usize, 0usize);
            loop {
                let (used, event) = dec.decode(black_box(&body[pos..])).unwrap_or((0, None));
                pos += used;
                match event {
                    Some(BodyEvent::Data(d)) => payload += d.len(),
                    Some(BodyEvent::ChunkStart {
                        signature: Some(s), ..
                    }) => sigs += s.len(),
                    Some(BodyEvent::End) | None => break,
                    Some(_) => {}
                }
            }
            assert_eq!(payload, 1 << 20);
            black_box(sigs)
        });
    });
    // Framing removed in place so the payload is contiguous at the front of
    // the buffer, as an O_DIRECT write of the same buffer needs it.
    g.bench_function("decode_compact_in_place", |b| {
        b.iter_batched_ref(
            || body.clone(),
            |buf| {
                let mut dec = aws_decoder(buf.len(), &limits);
                let (mut pos, mut out) = (0usize, 0usize);
                loop {
                    let (used, event) = dec.decode(&buf[pos..]).unwrap_or((0, None));
                    let data_len = match event {
                        Some(BodyEvent::Data(d)) => d.len(),
                        Some(BodyEvent::End) | None => break,
                        Some(_) => 0,
                    };
                    if data_len > 0 {
                        buf.copy_within(pos..pos + data_len, out);
                        out += data_len;
                    }
                    pos += used;
                }
                black_box(out)
            },
            BatchSize::LargeInput,
        );
    });
    g.finish();
}

criterion_group!(benches, head, aws_chunked);
criterion_main!(benches);
