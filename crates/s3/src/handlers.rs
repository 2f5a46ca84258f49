//! The operations: what each does with the store and what it answers.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::SystemTime;

use sluice_core::{ListQuery, ObjectInfo, ObjectReader};
use sluice_http::{BodyDecoder, Method, CONTINUE};
use sluice_sigv4::{ChecksumAlgorithm, SignedRequest, Verified};

use crate::access::Identity;
use crate::conn::{error_body, Input, Request, Stream, ThreadContext};
use crate::error::{S3Error, S3ErrorCode};
use crate::route::{route, Op, Route};
use crate::time::{http_date, iso8601};
use crate::upload::{receive, Document};
use crate::xml::Xml;

/// A response before it is written.
pub(crate) struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Body,
}

pub(crate) enum Body {
    Empty,
    Bytes(Vec<u8>),
    /// An object (range already set on the reader).
    Object {
        reader: ObjectReader,
        len: u64,
    },
    /// A HEAD answer: the length a GET would send, and no body.
    HeadOnly(u64),
}

pub(crate) struct Outcome {
    pub response: Response,
    /// Whether the request body was read to its end (else the connection closes).
    pub body_consumed: bool,
    /// The routed request, when routing succeeded.
    pub route: Option<Route>,
    /// The S3 operation's name (empty when not routed).
    pub operation: &'static str,
    /// Who sent it, as far as authentication got.
    pub identity: Identity,
}

/// Failure with whether the body was consumed.
type Fail = (S3Error, bool);

fn response(status: u16) -> Response {
    Response {
        status,
        headers: Vec::new(),
        body: Body::Empty,
    }
}

fn xml_response(status: u16, body: String) -> Response {
    Response {
        status,
        headers: vec![("Content-Type".into(), "application/xml".into())],
        body: Body::Bytes(body.into_bytes()),
    }
}

pub(crate) fn error_response(err: &S3Error, resource: &str, id: &str) -> Response {
    if let Some(detail) = &err.internal {
        // The client sees InternalError and the request id; the detail
        // (paths, OS messages) is for the operator.
        eprintln!("sluice: request {id} ({resource}): internal error: {detail}");
    }
    let mut r = response(err.status());
    r.headers
        .push(("Content-Type".into(), "application/xml".into()));
    r.body = Body::Bytes(error_body(err, resource, id));
    r
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Runs one request through its stages: [`route_request`],
/// [`authenticate`], [`authorize`], then the operation; the connection reads
/// the head before and writes and observes the answer after.
pub(crate) async fn handle(
    ctx: &ThreadContext,
    req: &Request,
    decoder: BodyDecoder,
    input: &mut Input<impl Stream>,
    id: &str,
    peer: Option<SocketAddr>,
) -> Outcome {
    let routed = route_request(ctx, req);
    let mut identity = Identity::Anonymous;
    let result = match &routed {
        Ok(r) => run(ctx, req, r, &mut identity, peer, decoder, input).await,
        Err(e) => Err((e.clone(), false)),
    };
    let route = routed.ok();
    let operation = route.as_ref().map_or("", |r| {
        r.op.name_with_copy(req.header("x-amz-copy-source").is_some())
    });
    let mut response = match result {
        Ok(response) => response,
        Err((err, consumed)) => {
            let resource = sluice_http::percent_decode(&req.raw_path, false)
                .map(|p| p.into_owned())
                .unwrap_or_default();
            let mut response = error_response(&err, &resource, id);
            if req.method == Method::Head {
                response.body = Body::HeadOnly(0);
                response.headers.clear();
            }
            return Outcome {
                response: with_cors(ctx, req, route.as_ref(), response),
                body_consumed: consumed || !req.has_body,
                route,
                operation,
                identity,
            };
        }
    };
    response = with_cors(ctx, req, route.as_ref(), response);
    Outcome {
        response,
        body_consumed: true,
        route,
        operation,
        identity,
    }
}

/// Adds the CORS headers of the bucket to the answer of a cross-origin
/// request (one with an Origin header).
fn with_cors(
    ctx: &ThreadContext,
    req: &Request,
    route: Option<&Route>,
    mut response: Response,
) -> Response {
    if req.method == Method::Options || req.header("origin").is_none() {
        return response;
    }
    if let Some(bucket) = route.and_then(|r| r.bucket.as_deref()) {
        response
            .headers
            .extend(crate::cors::headers_for(ctx, req, bucket));
    }
    response
}

/// Stage: routing. The operation, bucket and key a request names.
fn route_request(ctx: &ThreadContext, req: &Request) -> Result<Route, S3Error> {
    route(
        req.method,
        &req.raw_path,
        &req.raw_query,
        req.header("host"),
        ctx.config.domain.as_deref(),
    )
}

/// Stage: authentication. The request's signature (SigV4, header or
/// presigned), checked against the secret of the key it names.
fn authenticate(ctx: &ThreadContext, req: &Request) -> Result<Verified, S3Error> {
    let signed = SignedRequest {
        method: &req.method_str,
        path: &req.raw_path,
        query: &req.raw_query,
        headers: &req.headers[..],
    };
    Ok(ctx
        .verifier
        .borrow_mut()
        .verify(&signed, &ctx.config.credentials, now())?)
}

/// Stage: authorization. Every permission the request needs (its IAM
/// action on its resource, and the copy source's), asked of the
/// configured [`crate::Authorizer`] before any body byte is read.
fn authorize(
    ctx: &ThreadContext,
    req: &Request,
    r: &Route,
    identity: &Identity,
    peer: Option<SocketAddr>,
) -> Result<(), S3Error> {
    let context = crate::access::context(r, req, peer.map(|p| p.ip()));
    for permission in crate::access::permissions(r, req) {
        ctx.config
            .authorizer
            .authorize(identity, &permission, &context)?;
    }
    Ok(())
}

/// The stages after routing, and the operation.
async fn run(
    ctx: &ThreadContext,
    req: &Request,
    r: &Route,
    identity: &mut Identity,
    peer: Option<SocketAddr>,
    decoder: BodyDecoder,
    input: &mut Input<impl Stream>,
) -> Result<Response, Fail> {
    let early = |e: S3Error| (e, false);
    if r.op == Op::CorsPreflight {
        // The one unauthenticated request: its body (there should be none)
        // is still read to its end, and checked against any digest it names.
        let _ = read_document(ctx, req, None, decoder, input).await?;
        return crate::cors::preflight(ctx, req, r.bucket.as_deref().unwrap_or_default())
            .map_err(|e| (e, true));
    }
    let verified = authenticate(ctx, req).map_err(early)?;
    *identity = Identity::Key {
        access_key: verified.access_key.clone(),
        session_token: verified.session_token.clone(),
    };
    authorize(ctx, req, r, identity, peer).map_err(early)?;
    // The body decoder chose aws-chunked from the header; the signature
    // chose the payload mode. They agree whenever the header was signed (or
    // equals the presigned hash, which sigv4 checks); refuse anything else
    // rather than decode a body one way and verify it another.
    if verified.payload.is_streaming() != req.aws_chunked {
        return Err(early(S3Error::new(
            S3ErrorCode::InvalidRequest,
            "The body framing does not match the signed payload mode.",
        )));
    }
    crate::extras::check_expected_owner(req).map_err(early)?;
    if matches!(r.op, Op::PutObject | Op::CompleteMultipartUpload) {
        let (bucket, key) = (
            r.bucket.as_deref().unwrap_or_default(),
            r.key.as_deref().unwrap_or_default(),
        );
        // A cheap early refusal; the condition is checked again, atomically,
        // when the object is published.
        crate::extras::check_write_conditions(ctx, req, bucket, key).map_err(early)?;
    }
    if r.op == Op::DeleteObjects && !names_a_digest(req) {
        // S3 refuses a multi-object delete whose body nothing protects.
        return Err(early(S3Error::new(
            S3ErrorCode::InvalidRequest,
            "Missing required header for this request: Content-MD5 OR x-amz-checksum-*",
        )));
    }
    if req.expect_continue {
        input
            .write_all(CONTINUE.to_vec())
            .await
            .map_err(|e| early(S3Error::internal(e)))?;
    }
    if r.op == Op::PutObject {
        if let Some(source) = req.header("x-amz-copy-source") {
            let _ = read_document(ctx, req, Some(&verified), decoder, input).await?;
            let (bucket, key) = (
                r.bucket.as_deref().unwrap_or_default(),
                r.key.as_deref().unwrap_or_default(),
            );
            return crate::multipart::copy_object(ctx, req, bucket, key, source)
                .await
                .map_err(|e| (e, true));
        }
        return put_object(ctx, req, r, &verified, decoder, input).await;
    }
    if r.op == Op::UploadPart {
        return crate::multipart::upload_part(ctx, req, r, &verified, decoder, input).await;
    }
    // The other operations take a document at most: read it and verify it
    // like any body before acting on it.
    let body = read_document(ctx, req, Some(&verified), decoder, input).await?;
    let bucket = r.bucket.as_deref().unwrap_or_default();
    let key = r.key.as_deref().unwrap_or_default();
    let store = &ctx.store;
    let s3 = |e: sluice_core::StoreError| (S3Error::from(e), true);
    Ok(match r.op {
        Op::ListBuckets => list_buckets(ctx, r)?,
        Op::CreateBucket => {
            let _location_constraint = body;
            store.create_bucket(bucket).map_err(s3)?;
            let mut resp = response(200);
            resp.headers.push(("Location".into(), format!("/{bucket}")));
            resp
        }
        Op::DeleteBucket => {
            store.delete_bucket(bucket).map_err(s3)?;
            response(204)
        }
        Op::HeadBucket => {
            store.head_bucket(bucket).map_err(s3)?;
            let mut resp = response(200);
            resp.headers
                .push(("x-amz-bucket-region".into(), ctx.config.region.clone()));
            resp
        }
        Op::GetBucketLocation => {
            store.head_bucket(bucket).map_err(s3)?;
            let mut x = Xml::new();
            x.root("LocationConstraint");
            if ctx.config.region != "us-east-1" {
                crate::xml::escape_into(x.text_mut(), &ctx.config.region);
            }
            x.close("LocationConstraint");
            xml_response(200, x.finish())
        }
        Op::GetBucketVersioning => {
            store.head_bucket(bucket).map_err(s3)?;
            let mut x = Xml::new();
            x.root("VersioningConfiguration")
                .close("VersioningConfiguration");
            xml_response(200, x.finish())
        }
        Op::ListObjectsV2 | Op::ListObjects => {
            list_objects(ctx, bucket, r).map_err(|e| (e, true))?
        }
        Op::GetObject | Op::HeadObject => {
            get_object(ctx, req, r, bucket, key).map_err(|e| (e, true))?
        }
        Op::DeleteObject => {
            match store.delete_object(bucket, key) {
                // S3 answers 204 whether or not the key existed.
                Ok(()) | Err(sluice_core::StoreError::NoSuchKey) => {}
                Err(e) => return Err(s3(e)),
            }
            response(204)
        }
        // Streamed above, before any body is read.
        Op::CreateMultipartUpload => {
            crate::multipart::create(ctx, req, bucket, key).map_err(|e| (e, true))?
        }
        Op::CompleteMultipartUpload => crate::multipart::complete(ctx, req, r, bucket, key, &body)
            .await
            .map_err(|e| (e, true))?,
        Op::AbortMultipartUpload => {
            crate::multipart::abort(ctx, r, bucket, key).map_err(|e| (e, true))?
        }
        Op::ListParts => {
            crate::multipart::list_parts(ctx, r, bucket, key).map_err(|e| (e, true))?
        }
        Op::ListMultipartUploads => {
            crate::multipart::list_uploads(ctx, r, bucket).map_err(|e| (e, true))?
        }
        Op::DeleteObjects => {
            let context = crate::access::context(r, req, peer.map(|p| p.ip()));
            crate::multipart::delete_objects(ctx, bucket, &body, identity, &context)
                .map_err(|e| (e, true))?
        }
        Op::ListObjectVersions => {
            crate::extras::list_versions(ctx, bucket, r).map_err(|e| (e, true))?
        }
        Op::PutObjectTagging => {
            crate::extras::put_tagging(ctx, bucket, key, &body).map_err(|e| (e, true))?
        }
        Op::GetObjectTagging => {
            crate::extras::get_tagging(ctx, bucket, key).map_err(|e| (e, true))?
        }
        Op::GetObjectAttributes => {
            crate::multipart::object_attributes(ctx, req, r, bucket, key).map_err(|e| (e, true))?
        }
        Op::PutBucketCors => crate::cors::put(ctx, bucket, &body).map_err(|e| (e, true))?,
        Op::GetBucketCors => crate::cors::get(ctx, bucket).map_err(|e| (e, true))?,
        Op::DeleteBucketCors => crate::cors::delete(ctx, bucket).map_err(|e| (e, true))?,
        Op::CorsPreflight => {
            return Err((
                S3Error::internal("preflight reached the operation table"),
                true,
            ))
        }
        Op::DeleteObjectTagging => {
            crate::extras::delete_tagging(ctx, bucket, key).map_err(|e| (e, true))?
        }
        // Streamed above, before any body is read.
        Op::PutObject | Op::UploadPart => {
            return Err((
                S3Error::internal("a streamed operation reached the small-body path"),
                true,
            ))
        }
    })
}

/// Whether the request carries a digest of its body: Content-MD5, an
/// `x-amz-checksum-*` header, or a checksum trailer announced.
fn names_a_digest(req: &Request) -> bool {
    req.header("content-md5").is_some()
        || ChecksumAlgorithm::ALL
            .into_iter()
            .any(|a| req.header(a.header_name()).is_some())
        || req
            .header("x-amz-trailer")
            .and_then(|t| ChecksumAlgorithm::from_header_name(t.as_bytes()))
            .is_some()
}

/// Reads a request document (at most [`crate::upload::MAX_DOCUMENT_BYTES`])
/// and checks it against the signed payload hash or chunk signatures,
/// Content-MD5 and any checksum, exactly as an object body is checked:
/// nothing is acted on that was not signed.
async fn read_document(
    ctx: &ThreadContext,
    req: &Request,
    verified: Option<&Verified>,
    decoder: BodyDecoder,
    input: &mut Input<impl Stream>,
) -> Result<Vec<u8>, Fail> {
    if !req.has_body && !names_a_digest(req) {
        // Most requests (GET, HEAD, DELETE): no body, so no buffer either;
        // a signed payload hash must then be that of nothing.
        if let Some(hash) = verified.and_then(Verified::payload_hash) {
            hash.finish().map_err(|e| (e.into(), true))?;
        }
        return Ok(Vec::new());
    }
    let mut doc = Document::default();
    receive(ctx, req, verified, decoder, input, &mut doc).await?;
    Ok(doc.0)
}

/// Headers kept with an object and returned on GET/HEAD.
pub(crate) fn kept_headers(req: &Request) -> Vec<(String, String)> {
    let mut kept = Vec::new();
    for (name, value) in &req.headers {
        let lower = name.to_ascii_lowercase();
        let keep = matches!(
            lower.as_str(),
            "content-type"
                | "cache-control"
                | "content-disposition"
                | "content-language"
                | "expires"
        ) || lower.starts_with("x-amz-meta-")
            || lower == crate::extras::TAGGING;
        if keep {
            kept.push((lower, String::from_utf8_lossy(value).trim().to_owned()));
        }
    }
    if let Some(encoding) = req
        .header("content-encoding")
        .and_then(|v| sluice_http::stored_content_encoding(v.as_bytes()))
    {
        kept.push(("content-encoding".into(), encoding));
    }
    if !kept.iter().any(|(n, _)| n == "content-type") {
        kept.push(("content-type".into(), "binary/octet-stream".into()));
    }
    kept
}

async fn put_object(
    ctx: &ThreadContext,
    req: &Request,
    r: &Route,
    verified: &Verified,
    decoder: BodyDecoder,
    input: &mut Input<impl Stream>,
) -> Result<Response, Fail> {
    let bucket = r.bucket.as_deref().unwrap_or_default();
    let key = r.key.as_deref().unwrap_or_default();
    let mut writer = ctx
        .store
        .put_object(bucket, key, req.decoded_length)
        .map_err(|e| (e.into(), false))?;
    let received = receive(ctx, req, Some(verified), decoder, input, &mut writer).await?;
    let mut headers = kept_headers(req);
    headers.extend(received.checksum_header());
    let cond = crate::extras::write_condition(req);
    let info = writer
        .finish_if(headers, &cond)
        .await
        .map_err(|e| (e.into(), true))?;
    let mut resp = response(200);
    resp.headers
        .push(("ETag".into(), format!("\"{}\"", info.meta.etag)));
    resp.headers.extend(received.checksum_header());
    Ok(resp)
}

fn list_buckets(ctx: &ThreadContext, r: &Route) -> Result<Response, Fail> {
    let mut buckets = ctx
        .store
        .list_buckets()
        .map_err(|e| (S3Error::from(e), true))?;
    let prefix = r.param("prefix").unwrap_or_default();
    let after = r.param("continuation-token").and_then(unhex_token);
    buckets.retain(|b| {
        b.name.starts_with(prefix) && after.as_ref().is_none_or(|a| b.name.as_str() > a.as_str())
    });
    let max = r
        .param("max-buckets")
        .and_then(|m| m.parse::<usize>().ok())
        .unwrap_or(10_000)
        .clamp(1, 10_000);
    let truncated = buckets.len() > max;
    buckets.truncate(max);
    let mut x = Xml::new();
    x.root("ListAllMyBucketsResult")
        .open("Owner")
        .leaf("ID", crate::extras::OWNER_ID)
        .leaf("DisplayName", crate::extras::OWNER_ID)
        .close("Owner");
    x.open("Buckets");
    for b in &buckets {
        x.open("Bucket")
            .leaf("Name", &b.name)
            .leaf("CreationDate", &iso8601(b.created))
            .leaf("BucketRegion", &ctx.config.region)
            .close("Bucket");
    }
    x.close("Buckets");
    if truncated {
        if let Some(last) = buckets.last() {
            x.leaf("ContinuationToken", &hex_token(&last.name));
        }
    }
    if !prefix.is_empty() {
        x.leaf("Prefix", prefix);
    }
    x.close("ListAllMyBucketsResult");
    Ok(xml_response(200, x.finish()))
}

fn hex_token(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

fn unhex_token(t: &str) -> Option<String> {
    if t.len() % 2 != 0 {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..t.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(t.get(i..i + 2)?, 16).ok())
        .collect();
    String::from_utf8(bytes?).ok()
}

fn list_objects(ctx: &ThreadContext, bucket: &str, r: &Route) -> Result<Response, S3Error> {
    let v2 = r.op == Op::ListObjectsV2;
    let max_keys = match r.param("max-keys") {
        Some(v) => v.parse::<usize>().map_err(|_| {
            S3Error::new(
                S3ErrorCode::InvalidArgument,
                "Provided max-keys not an integer or within integer range",
            )
        })?,
        None => 1000,
    }
    .min(1000);
    let url = r.param("encoding-type") == Some("url");
    let enc = |s: &str| {
        if url {
            sluice_sigv4::uri_encode(s, true)
        } else {
            s.to_owned()
        }
    };
    let token = r.param("continuation-token");
    let start_after = if v2 {
        match token {
            Some(t) => Some(unhex_token(t).ok_or_else(|| {
                S3Error::new(
                    S3ErrorCode::InvalidArgument,
                    "The continuation token provided is incorrect",
                )
            })?),
            None => r.param("start-after").map(str::to_owned),
        }
    } else {
        r.param("marker").map(str::to_owned)
    };
    let prefix = r.param("prefix").unwrap_or_default().to_owned();
    let delimiter = r
        .param("delimiter")
        .filter(|d| !d.is_empty())
        .map(str::to_owned);
    let q = ListQuery {
        prefix: prefix.clone(),
        delimiter: delimiter.clone(),
        start_after,
        max_keys,
        with_etag: true,
    };
    let page = if max_keys == 0 {
        ctx.store.head_bucket(bucket)?;
        sluice_core::ListPage::default()
    } else {
        ctx.store.list_objects(bucket, &q)?
    };
    let mut x = Xml::new();
    x.root("ListBucketResult")
        .leaf("Name", bucket)
        .leaf("Prefix", &enc(&prefix))
        .leaf("MaxKeys", &max_keys.to_string());
    if let Some(d) = &delimiter {
        x.leaf("Delimiter", &enc(d));
    }
    if url {
        x.leaf("EncodingType", "url");
    }
    x.leaf("IsTruncated", if page.truncated { "true" } else { "false" });
    if v2 {
        x.leaf(
            "KeyCount",
            &(page.objects.len() + page.common_prefixes.len()).to_string(),
        );
        if let Some(t) = token {
            x.leaf("ContinuationToken", t);
        }
        if let Some(sa) = r.param("start-after") {
            x.leaf("StartAfter", &enc(sa));
        }
        if let Some(next) = &page.next_marker {
            x.leaf("NextContinuationToken", &hex_token(next));
        }
    } else {
        x.leaf("Marker", &enc(r.param("marker").unwrap_or_default()));
        if let Some(next) = &page.next_marker {
            x.leaf("NextMarker", &enc(next));
        }
    }
    let owner = !v2 || r.param("fetch-owner") == Some("true");
    for o in &page.objects {
        // The hot loop of a listing: text goes straight into the document.
        x.open("Contents");
        if url {
            x.leaf("Key", &enc(&o.key));
        } else {
            x.leaf("Key", &o.key);
        }
        x.open("LastModified");
        crate::time::iso8601_into(x.text_mut(), o.modified);
        x.close("LastModified").open("ETag");
        x.text_mut().push_str("&quot;");
        crate::xml::escape_into(x.text_mut(), o.etag.as_deref().unwrap_or_default());
        x.text_mut().push_str("&quot;");
        x.close("ETag").open("Size");
        let _ = write!(x.text_mut(), "{}", o.size);
        x.close("Size");
        if owner {
            x.open("Owner")
                .leaf("ID", "sluice")
                .leaf("DisplayName", "sluice")
                .close("Owner");
        }
        x.leaf("StorageClass", "STANDARD").close("Contents");
    }
    for p in &page.common_prefixes {
        x.open("CommonPrefixes")
            .leaf("Prefix", &enc(p))
            .close("CommonPrefixes");
    }
    x.close("ListBucketResult");
    Ok(xml_response(200, x.finish()))
}

/// Parses `Range: bytes=a-b | a- | -n` against `size`: Some((start, end)) or
/// None to serve the whole object (an unparseable range is ignored, as S3 does).
fn parse_range(value: &str, size: u64) -> Result<Option<(u64, u64)>, S3Error> {
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((a, b)) = spec.split_once('-') else {
        return Ok(None);
    };
    let num = |s: &str| s.trim().parse::<u64>().ok();
    let unsatisfiable = || {
        S3Error::new(
            S3ErrorCode::InvalidRange,
            "The requested range is not satisfiable",
        )
    };
    let range = match (a.trim().is_empty(), num(a), num(b)) {
        (true, _, Some(n)) if n > 0 => (size.saturating_sub(n), size),
        (true, _, _) => return Err(unsatisfiable()),
        (false, Some(start), None) if b.trim().is_empty() => (start, size),
        (false, Some(start), Some(end)) if end >= start => (start, (end + 1).min(size)),
        _ => return Ok(None),
    };
    if range.0 >= size {
        return Err(unsatisfiable());
    }
    Ok(Some(range))
}

fn etag_matches(header: &str, etag: &str) -> bool {
    header
        .split(',')
        .map(|t| t.trim().trim_start_matches("W/").trim_matches('"'))
        .any(|t| t == "*" || t == etag)
}

fn get_object(
    ctx: &ThreadContext,
    req: &Request,
    r: &Route,
    bucket: &str,
    key: &str,
) -> Result<Response, S3Error> {
    let mut reader = ctx.store.get_object(bucket, key)?;
    let info: ObjectInfo = reader.info().clone();
    let etag = info.meta.etag.clone();
    let modified_secs = info
        .modified
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let since = |h: &str| {
        req.header(h)
            .and_then(|v| sluice_sigv4::parse_http_date(v.as_bytes()))
    };
    let mut base = Vec::new();
    base.push(("ETag".to_owned(), format!("\"{etag}\"")));
    base.push(("Last-Modified".to_owned(), http_date(info.modified)));
    // Preconditions in RFC 9110 order.
    if let Some(m) = req.header("if-match") {
        if !etag_matches(m, &etag) {
            return Err(S3Error::new(
                S3ErrorCode::PreconditionFailed,
                "At least one of the pre-conditions you specified did not hold",
            ));
        }
    } else if since("if-unmodified-since").is_some_and(|t| modified_secs > t) {
        return Err(S3Error::new(
            S3ErrorCode::PreconditionFailed,
            "At least one of the pre-conditions you specified did not hold",
        ));
    }
    let not_modified = match req.header("if-none-match") {
        Some(m) => etag_matches(m, &etag),
        None => since("if-modified-since").is_some_and(|t| modified_secs <= t),
    };
    if not_modified {
        let mut resp = response(304);
        resp.headers = base;
        return Ok(resp);
    }
    let part_sizes: Option<Vec<u64>> = info
        .meta
        .header(sluice_core::PART_SIZES_HEADER)
        .map(|v| v.split(',').filter_map(|n| n.parse().ok()).collect());
    let range = match (r.param("partNumber"), req.header("range")) {
        (Some(n), _) => {
            let n: usize = n.parse().ok().filter(|n| *n >= 1).ok_or_else(|| {
                S3Error::new(
                    S3ErrorCode::InvalidArgument,
                    "Part number must be an integer between 1 and 10000, inclusive",
                )
            })?;
            let sizes = part_sizes.clone().unwrap_or_else(|| vec![info.size]);
            let start: u64 = sizes.iter().take(n - 1).sum();
            let size = *sizes.get(n - 1).ok_or_else(|| {
                S3Error::new(
                    S3ErrorCode::InvalidPartNumber,
                    "The requested partnumber is not satisfiable",
                )
            })?;
            Some((start, start + size))
        }
        (None, Some(v)) => parse_range(v, info.size)?,
        (None, None) => None,
    };
    let mut headers = base;
    headers.push(("Accept-Ranges".into(), "bytes".into()));
    // A --null store answers generated bytes: the stored checksums are those
    // of the body that was put, and would fail the client's check.
    let checksum_mode = req
        .header("x-amz-checksum-mode")
        .is_some_and(|v| v.eq_ignore_ascii_case("ENABLED"))
        && !ctx.store.options().null_data;
    if let Some(sizes) = &part_sizes {
        if r.param("partNumber").is_some() {
            headers.push(("x-amz-mp-parts-count".into(), sizes.len().to_string()));
        }
    }
    for (n, v) in &info.meta.headers {
        if n.starts_with("x-amz-checksum-") && !(checksum_mode && range.is_none()) {
            continue;
        }
        if n.starts_with("x-sluice-") {
            continue;
        }
        if n == crate::extras::TAGGING {
            headers.push((
                "x-amz-tagging-count".into(),
                crate::extras::tag_pairs(v).len().to_string(),
            ));
            continue;
        }
        let overridden = r.query.iter().any(|(q, _)| {
            q.strip_prefix("response-")
                .is_some_and(|h| h.eq_ignore_ascii_case(n))
        });
        if !overridden {
            headers.push((n.clone(), v.clone()));
        }
    }
    for (q, v) in &r.query {
        if let Some(h) = q.strip_prefix("response-") {
            if matches!(
                h,
                "content-type"
                    | "content-language"
                    | "expires"
                    | "cache-control"
                    | "content-disposition"
                    | "content-encoding"
            ) {
                headers.push((h.to_owned(), v.clone()));
            }
        }
    }
    let (status, len) = match range {
        Some((start, end)) => {
            reader.set_range(start, end);
            headers.push((
                "Content-Range".into(),
                format!("bytes {start}-{}/{}", end - 1, info.size),
            ));
            (206, end - start)
        }
        None => (200, info.size),
    };
    if ctx.store.options().null_data {
        // `sluice serve --null`: the body is generated, say so to clients
        // that verify what they read (sluice-bench).
        headers.push(("x-sluice-generated".into(), "true".into()));
    }
    let body = if req.method == Method::Head {
        Body::HeadOnly(len)
    } else {
        Body::Object { reader, len }
    };
    Ok(Response {
        status,
        headers,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100).unwrap(), Some((0, 10)));
        assert_eq!(parse_range("bytes=90-", 100).unwrap(), Some((90, 100)));
        assert_eq!(parse_range("bytes=-10", 100).unwrap(), Some((90, 100)));
        assert_eq!(parse_range("bytes=-200", 100).unwrap(), Some((0, 100)));
        assert_eq!(parse_range("bytes=50-1000", 100).unwrap(), Some((50, 100)));
        assert_eq!(parse_range("bytes=100-", 100).unwrap_err().status(), 416);
        assert_eq!(parse_range("bytes=-0", 100).unwrap_err().status(), 416);
        assert_eq!(parse_range("bytes=5-1", 100).unwrap(), None);
        assert_eq!(parse_range("items=0-1", 100).unwrap(), None);
        assert_eq!(parse_range("bytes=0-1,5-6", 100).unwrap(), None);
    }

    #[test]
    fn tokens_and_etags() {
        assert_eq!(unhex_token(&hex_token("a/b ü")).as_deref(), Some("a/b ü"));
        assert_eq!(unhex_token("zz"), None);
        assert!(etag_matches("\"abc\"", "abc"));
        assert!(etag_matches("W/\"x\", \"abc\"", "abc"));
        assert!(etag_matches("*", "abc"));
        assert!(!etag_matches("\"abd\"", "abc"));
    }
}
