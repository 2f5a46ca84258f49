//! Receiving a request body into the store: decoding its framing, checking
//! every signature, digest and checksum in the same pass, handing aligned
//! buffers to an object or part writer.

use sluice_core::AlignedBuf;
use sluice_http::{BodyDecoder, BodyEvent};
use sluice_sigv4::{base64_decode, Checksum, ChecksumAlgorithm, ChecksumValue, Verified};

use crate::context::ThreadContext;
use crate::error::{S3Error, S3ErrorCode};
use crate::request::{Input, Request, Stream};
use crate::storage::{BodyWrite, Storage};

/// Where the payload goes.
pub(crate) trait DataSink {
    async fn write(&mut self, buf: AlignedBuf) -> Result<(), S3Error>;
    fn md5(&self) -> [u8; 16];
}

/// Any backend's object or part writer.
impl<W: BodyWrite> DataSink for W {
    async fn write(&mut self, buf: AlignedBuf) -> Result<(), S3Error> {
        BodyWrite::write(self, buf).await.map_err(S3Error::from)
    }

    fn md5(&self) -> [u8; 16] {
        BodyWrite::md5(self)
    }
}

/// Largest body read into memory (XML and JSON documents).
pub(crate) const MAX_DOCUMENT_BYTES: usize = 1 << 20;

/// A body read into memory: a request document (DeleteObjects, tagging,
/// CORS, CompleteMultipartUpload, ...). It goes through [`receive`] like an
/// object, so the same signatures, digests and checksums are checked before
/// anything is done with it.
#[derive(Default)]
pub(crate) struct Document(pub Vec<u8>);

impl DataSink for Document {
    async fn write(&mut self, buf: AlignedBuf) -> Result<(), S3Error> {
        if self.0.len().saturating_add(buf.len()) > MAX_DOCUMENT_BYTES {
            return Err(S3Error::new(
                S3ErrorCode::MaxMessageLengthExceeded,
                "Your request was too big.",
            ));
        }
        self.0.extend_from_slice(buf.as_slice());
        Ok(())
    }

    fn md5(&self) -> [u8; 16] {
        use md5::Digest as _;
        md5::Md5::digest(&self.0).into()
    }
}

/// What a received body proved.
pub(crate) struct Received {
    /// The flexible checksum computed and verified, if one was sent.
    pub checksum: Option<ChecksumValue>,
}

impl Received {
    /// The checksum as a header to store and return.
    pub(crate) fn checksum_header(&self) -> Option<(String, String)> {
        self.checksum
            .map(|c| (c.algorithm().header_name().to_owned(), c.to_base64()))
    }
}

fn incomplete() -> S3Error {
    S3Error::new(
        S3ErrorCode::IncompleteBody,
        "You did not provide the number of bytes specified by the Content-Length HTTP header.",
    )
}

/// Bytes a second a body must average once its grace (the header timeout)
/// is spent: Apache's mod_reqtimeout default (`MinRate=500`). A body that
/// trickles slower (a slowloris body, which each read's timeout alone
/// would let hold its connection for days) is refused with 400
/// RequestTimeout; any real client sends far faster.
const BODY_MIN_RATE: u64 = 500;

/// The time a body has to arrive: the grace, plus a second for every
/// [`BODY_MIN_RATE`] bytes received.
struct BodyClock {
    started: std::time::Instant,
    grace: std::time::Duration,
    consumed_at_start: u64,
}

impl BodyClock {
    fn start(grace: std::time::Duration, consumed: u64) -> Self {
        BodyClock {
            started: std::time::Instant::now(),
            grace,
            consumed_at_start: consumed,
        }
    }

    /// How long the next read may wait: at most `grace` (no progress at
    /// all), at most what is left of the body's time; Err when that is
    /// spent.
    fn wait(&self, consumed: u64) -> Result<std::time::Duration, S3Error> {
        let received = consumed.saturating_sub(self.consumed_at_start);
        let earned = std::time::Duration::from_secs(received / BODY_MIN_RATE);
        let allowed = self.grace.saturating_add(earned);
        let left = allowed.saturating_sub(self.started.elapsed());
        if left.is_zero() {
            return Err(S3ErrorCode::RequestTimeout.into());
        }
        Ok(left.min(self.grace))
    }
}

fn bad_checksum_header(alg: ChecksumAlgorithm) -> S3Error {
    S3Error::new(
        S3ErrorCode::InvalidRequest,
        format!("Value for {} header is invalid.", alg.header_name()),
    )
}

/// Failure with whether the body was consumed.
type Fail = (S3Error, bool);

/// Answers `Expect: 100-continue` (when the request asks) before its body
/// is read.
pub(crate) async fn send_continue(
    ctx: &ThreadContext<impl Storage>,
    req: &Request,
    input: &mut Input<impl Stream>,
) -> Result<(), S3Error> {
    if req.expect_continue {
        input
            .write_all(sluice_http::CONTINUE.to_vec(), ctx.config.send_timeout)
            .await
            .map_err(S3Error::internal)?;
    }
    Ok(())
}

/// Which flexible checksums of a request are its body's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyChecksum {
    /// Those its headers or trailer name.
    Named,
    /// Those named, else this one, computed for the record (an UploadPart
    /// of a FULL_OBJECT upload).
    NamedOr(ChecksumAlgorithm),
    /// Only a trailer's: its `x-amz-checksum-*` headers are of something
    /// else (CompleteMultipartUpload's are the object's).
    TrailerOnly,
}

/// The flexible checksum a request names for its body: in an
/// `x-amz-checksum-*` header, or the trailer `x-amz-trailer` announces.
pub(crate) fn named_algorithm(req: &Request) -> Option<ChecksumAlgorithm> {
    ChecksumAlgorithm::ALL
        .into_iter()
        .find(|a| req.header(a.header_name()).is_some())
        .or_else(|| {
            req.header("x-amz-trailer")
                .and_then(|t| ChecksumAlgorithm::from_header_name(t.trim().as_bytes()))
        })
}

/// Streams the body into `sink`, verifying the payload SHA-256 or chunk
/// signatures (when the request was signed: `verified`), the flexible
/// checksum (header or trailer, as `which` says) and Content-MD5. On error nothing the sink wrote may be published or acted on:
/// the caller drops it.
pub(crate) async fn receive<S: DataSink>(
    ctx: &ThreadContext<impl Storage>,
    req: &Request,
    verified: Option<&Verified>,
    mut decoder: BodyDecoder,
    input: &mut Input<impl Stream>,
    sink: &mut S,
    which: BodyChecksum,
) -> Result<Received, Fail> {
    let early = |e: S3Error| (e, false);
    let content_md5 = match req.header("content-md5") {
        Some(v) => Some(
            base64_decode(v.as_bytes())
                .filter(|d| d.len() == 16)
                .ok_or_else(|| {
                    early(S3Error::new(
                        S3ErrorCode::InvalidDigest,
                        "The Content-MD5 you specified is not valid.",
                    ))
                })?,
        ),
        None => None,
    };
    let header_checksum = match ChecksumAlgorithm::ALL
        .into_iter()
        .filter(|_| which != BodyChecksum::TrailerOnly)
        .find(|a| req.header(a.header_name()).is_some())
    {
        Some(alg) => {
            let value = req.header(alg.header_name()).unwrap_or_default();
            Some(
                ChecksumValue::from_base64(alg, value.as_bytes())
                    .map_err(|_| early(bad_checksum_header(alg)))?,
            )
        }
        None => None,
    };
    let trailer_alg = req
        .header("x-amz-trailer")
        .and_then(|t| ChecksumAlgorithm::from_header_name(t.trim().as_bytes()));
    let named = header_checksum.map(|c| c.algorithm()).or(trailer_alg);
    let compute = match which {
        BodyChecksum::NamedOr(alg) => Some(alg),
        BodyChecksum::Named | BodyChecksum::TrailerOnly => None,
    };
    let mut checksum = named.or(compute).map(Checksum::new);
    let mut payload_hash = verified.and_then(Verified::payload_hash);
    let mut chunks = verified.and_then(Verified::chunk_verifier);
    let mut trailer_value: Option<ChecksumValue> = None;
    let pool = ctx.pool_for(
        req.decoded_length
            .unwrap_or(if req.has_body { u64::MAX } else { 0 }),
    );
    let mut payload = pool.get();
    let mut pos = 0;
    let body_err = |e: S3Error| (e, false);
    let clock = BodyClock::start(ctx.config.header_timeout, input.consumed);
    if let Some(length) = req.plain_length {
        // A plain body: what arrived with the head is copied once, the rest
        // is read from the socket straight into aligned buffers and hashed
        // there, then written with O_DIRECT: no copy in user space.
        let mut remaining = length;
        let take = usize::try_from(remaining)
            .unwrap_or(usize::MAX)
            .min(input.buf.len());
        let mut head_bytes = &input.buf[..take];
        if let Some(h) = payload_hash.as_mut() {
            h.update(head_bytes);
        }
        if let Some(c) = checksum.as_mut() {
            c.update(head_bytes);
        }
        while !head_bytes.is_empty() {
            let n = payload.extend_from_slice(head_bytes);
            head_bytes = &head_bytes[n..];
            if payload.len() == payload.capacity() {
                sink.write(std::mem::replace(&mut payload, pool.get()))
                    .await
                    .map_err(body_err)?;
            }
        }
        input.consume(take);
        // take <= remaining: it was bounded by it.
        remaining = remaining.saturating_sub(take as u64);
        while remaining > 0 {
            let start = payload.len();
            let want = (payload.capacity().saturating_sub(start))
                .min(usize::try_from(remaining).unwrap_or(usize::MAX));
            let wait = clock.wait(input.consumed).map_err(body_err)?;
            let (result, back) = input
                .read_into(payload, start, start.saturating_add(want), wait)
                .await;
            payload = back;
            let n = match result {
                Ok(n) if n > 0 => n,
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                    return Err(body_err(S3ErrorCode::RequestTimeout.into()))
                }
                _ => return Err(body_err(incomplete())),
            };
            let Some(fresh) = payload.as_slice().get(start..start.saturating_add(n)) else {
                return Err(body_err(incomplete()));
            };
            if let Some(h) = payload_hash.as_mut() {
                h.update(fresh);
            }
            if let Some(c) = checksum.as_mut() {
                c.update(fresh);
            }
            // n <= want <= remaining: the read was bounded by it.
            remaining = remaining.saturating_sub(n as u64);
            input.consumed = input.consumed.saturating_add(n as u64);
            if payload.len() == payload.capacity() {
                sink.write(std::mem::replace(&mut payload, pool.get()))
                    .await
                    .map_err(body_err)?;
            }
        }
    }
    while req.plain_length.is_none() {
        let (used, event) = decoder
            .decode(&input.buf[pos..])
            .map_err(|e| body_err(e.into()))?;
        pos = pos.saturating_add(used);
        let need_more = match event {
            None => true,
            Some(BodyEvent::Data(d)) => {
                if let Some(h) = payload_hash.as_mut() {
                    h.update(d);
                }
                if let Some(c) = chunks.as_mut() {
                    c.update(d);
                }
                if let Some(c) = checksum.as_mut() {
                    c.update(d);
                }
                let mut rest = d;
                while !rest.is_empty() {
                    let n = payload.extend_from_slice(rest);
                    rest = &rest[n..];
                    if payload.len() == payload.capacity() {
                        let full = std::mem::replace(&mut payload, pool.get());
                        sink.write(full).await.map_err(body_err)?;
                    }
                }
                false
            }
            Some(BodyEvent::ChunkStart { size, signature }) => {
                if let Some(c) = chunks.as_mut() {
                    c.chunk_start(size, signature)
                        .map_err(|e| body_err(e.into()))?;
                }
                false
            }
            Some(BodyEvent::ChunkEnd) => {
                if let Some(c) = chunks.as_mut() {
                    c.chunk_end().map_err(|e| body_err(e.into()))?;
                }
                false
            }
            Some(BodyEvent::Trailer { name, value }) => {
                if let Some(c) = chunks.as_mut() {
                    c.trailer(name, value).map_err(|e| body_err(e.into()))?;
                }
                if let Some(alg) =
                    trailer_alg.filter(|a| a.header_name().as_bytes().eq_ignore_ascii_case(name))
                {
                    trailer_value = Some(
                        ChecksumValue::from_base64(alg, value)
                            .map_err(|_| body_err(bad_checksum_header(alg)))?,
                    );
                }
                false
            }
            Some(BodyEvent::End) => break,
        };
        if need_more {
            input.consume(pos);
            pos = 0;
            let wait = clock.wait(input.consumed).map_err(body_err)?;
            match input.fill(wait).await {
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                    return Err(body_err(S3ErrorCode::RequestTimeout.into()))
                }
                Ok(0) | Err(_) => return Err(body_err(incomplete())),
                Ok(_) => {}
            }
        }
    }
    input.consume(pos);
    // The body is complete: from here on errors keep the connection.
    let done = |e: S3Error| (e, true);
    if !payload.is_empty() {
        sink.write(payload).await.map_err(done)?;
    }
    if let Some(h) = payload_hash {
        h.finish().map_err(|e| done(e.into()))?;
    }
    if let Some(c) = &chunks {
        c.finish().map_err(|e| done(e.into()))?;
    }
    let mut verified_checksum = None;
    if let Some(c) = checksum {
        let computed = c.finish();
        if named.is_some() {
            let Some(expected) = header_checksum.or(trailer_value) else {
                return Err(done(S3Error::new(
                    S3ErrorCode::InvalidRequest,
                    "The trailer named in x-amz-trailer was not sent.",
                )));
            };
            computed.verify(&expected).map_err(|e| done(e.into()))?;
        }
        verified_checksum = Some(computed);
    }
    if let Some(md5) = content_md5 {
        if sink.md5()[..] != md5[..] {
            return Err(done(S3Error::new(
                S3ErrorCode::BadDigest,
                "The Content-MD5 you specified did not match what we received.",
            )));
        }
    }
    Ok(Received {
        checksum: verified_checksum,
    })
}
