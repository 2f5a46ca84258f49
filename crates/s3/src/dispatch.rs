//! The stages of a request after its head was read: route, authenticate,
//! authorize, then the operation, dispatched by one table (`run`) to the
//! module of its family under `ops/`.

use std::net::SocketAddr;

use sluice_http::{BodyDecoder, Method};
use sluice_sigv4::{ChecksumAlgorithm, SignedRequest, Verified};

use crate::access::Identity;
use crate::context::ThreadContext;
use crate::error::{S3Error, S3ErrorCode};
use crate::ops;
use crate::request::{Input, Request, Stream};
use crate::response::{error_response, Body, Response};
use crate::route::{route, Op, Route};
use crate::storage::Storage;
use crate::upload::{receive, BodyChecksum, Document};

pub(crate) struct Outcome<R> {
    pub response: Response<R>,
    /// Whether the request body was read to its end (else the connection closes).
    pub body_consumed: bool,
    /// The routed request, when routing succeeded.
    pub route: Option<Route>,
    /// The S3 operation's name (empty when not routed).
    pub operation: &'static str,
    /// Who sent it, as far as authentication got.
    pub identity: Identity,
    /// The S3 error code answered, if the request failed.
    pub error: Option<S3ErrorCode>,
}

/// Failure with whether the body was consumed.
type Fail = (S3Error, bool);

/// Runs one request through its stages: [`route_request`],
/// [`authenticate`], [`authorize`], then the operation; the connection reads
/// the head before and writes and observes the answer after.
pub(crate) async fn handle<B: Storage>(
    ctx: &ThreadContext<B>,
    req: &Request,
    decoder: BodyDecoder,
    input: &mut Input<impl Stream>,
    id: &str,
    peer: Option<SocketAddr>,
) -> Outcome<crate::sse::Reader<B::Reader>> {
    // MinIO's health paths, which load balancers poll unauthenticated.
    if let Some(response) = health(ctx, req) {
        return Outcome {
            response,
            body_consumed: !req.has_body,
            route: None,
            operation: "HealthCheck",
            identity: Identity::Anonymous,
            error: None,
        };
    }
    let routed = route_request(ctx, req);
    let mut identity = Identity::Anonymous;
    let result = match &routed {
        Ok(r) => run(ctx, req, r, &mut identity, peer, decoder, input, id).await,
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
            let mut response = if route.as_ref().is_some_and(|r| r.op == Op::AssumeRole) {
                crate::response::sts_error_response(&err, id)
            } else {
                error_response(&err, &resource, id)
            };
            if req.method == Method::Head {
                response.body = Body::HeadOnly(0);
                response.headers.clear();
            }
            return Outcome {
                response: with_cors(ctx, req, route.as_ref(), response.widen()),
                body_consumed: consumed || !req.has_body,
                route,
                operation,
                identity,
                error: Some(err.code),
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
        error: None,
    }
}

/// The answer to `GET|HEAD /minio/health/live` (200 while the process
/// serves) and `/minio/health/ready` (200, or 503 while the server is not
/// ready); None for any other request.
fn health<R>(ctx: &ThreadContext<impl Storage>, req: &Request) -> Option<Response<R>> {
    if !matches!(req.method, Method::Get | Method::Head) {
        return None;
    }
    let ok = match req.raw_path.as_str() {
        "/minio/health/live" => true,
        "/minio/health/ready" => ctx.config.health.ready(),
        _ => return None,
    };
    Some(Response {
        status: if ok { 200 } else { 503 },
        headers: Vec::new(),
        body: Body::Empty,
    })
}

/// Adds the CORS headers of the bucket to the answer of a cross-origin
/// request (one with an Origin header).
fn with_cors<R>(
    ctx: &ThreadContext<impl Storage>,
    req: &Request,
    route: Option<&Route>,
    mut response: Response<R>,
) -> Response<R> {
    if req.method == Method::Options || req.header("origin").is_none() {
        return response;
    }
    if let Some(bucket) = route.and_then(|r| r.bucket.as_deref()) {
        response
            .headers
            .extend(ops::cors::headers_for(ctx, req, bucket));
    }
    response
}

/// Stage: routing. The operation, bucket and key a request names.
fn route_request(ctx: &ThreadContext<impl Storage>, req: &Request) -> Result<Route, S3Error> {
    route(
        req.method,
        &req.raw_path,
        &req.raw_query,
        req.header("host"),
        ctx.config.domain.as_deref(),
    )
}

/// Stage: authentication. The request's signature (SigV4, or SigV2 unless
/// the server refuses it; header or presigned), checked against the secret
/// of the key it names.
fn authenticate(
    ctx: &ThreadContext<impl Storage>,
    req: &Request,
    service: &str,
    headers: &[(String, Vec<u8>)],
) -> Result<Verified, S3Error> {
    let signed = SignedRequest {
        method: &req.method_str,
        path: &req.raw_path,
        query: &req.raw_query,
        headers,
    };
    let mut host_bucket = None;
    if sluice_sigv4::is_sigv2(&signed) {
        if !ctx.config.sigv2 {
            // As S3 answers SigV2 where only SigV4 is accepted: 400
            // InvalidRequest, "Please use AWS4-HMAC-SHA256."
            return Err(sluice_sigv4::Error::UnsupportedSignatureVersion.into());
        }
        // SigV2 signs `/bucket/key` whatever the addressing style: the
        // bucket a virtual-hosted Host names, as routing reads it.
        host_bucket = route(
            Method::Get,
            "/",
            "",
            req.header("host"),
            ctx.config.domain.as_deref(),
        )
        .ok()
        .and_then(|r| r.bucket);
    }
    let verify = |v: &mut sluice_sigv4::Verifier| {
        v.verify_with_host_bucket(
            &signed,
            host_bucket.as_deref(),
            &*ctx.config.credentials,
            crate::time::unix_now(),
        )
    };
    let mut verifier = ctx.verifier.borrow_mut();
    Ok(if service == "s3" {
        verify(&mut verifier)
    } else {
        verifier.with_service(service, verify)
    }?)
}

/// Stage: authorization. Every permission the request needs (its IAM
/// action on its resource, and the copy source's), asked of the
/// configured [`crate::Authorizer`] before any body byte is read.
fn authorize(
    ctx: &ThreadContext<impl Storage>,
    req: &Request,
    r: &Route,
    identity: &Identity,
    peer: Option<SocketAddr>,
) -> Result<(), S3Error> {
    let context = crate::access::context(r, req, peer.map(|p| p.ip()));
    for permission in crate::access::permissions(r, req) {
        crate::grant::authorize_one(ctx, identity, &permission, context)?;
    }
    Ok(())
}

/// [`authenticate`], throttled per source address: an address that failed
/// too often lately gets 503 SlowDown unverified, and each wrong key or
/// signature counts.
fn authenticate_counted(
    ctx: &ThreadContext<impl Storage>,
    req: &Request,
    service: &str,
    headers: &[(String, Vec<u8>)],
    peer: Option<SocketAddr>,
) -> Result<Verified, S3Error> {
    let ip = peer.map(|p| p.ip());
    if ctx.auth_throttled(ip) {
        return Err(crate::context::throttled());
    }
    authenticate(ctx, req, service, headers).inspect_err(|e| {
        if matches!(
            e.code,
            S3ErrorCode::SignatureDoesNotMatch | S3ErrorCode::InvalidAccessKeyId
        ) {
            ctx.auth_failed(ip);
        }
    })
}

/// STS AssumeRole as SDKs send it: signed for `sts` over the SHA-256 of a
/// form body that no `x-amz-content-sha256` header carries. The form (at
/// most a document's size) is read first, its hash given to the verifier
/// as that header would, and nothing is acted on unless the signature
/// covers exactly that body.
#[allow(clippy::too_many_arguments)]
async fn assume_role<B: Storage>(
    ctx: &ThreadContext<B>,
    req: &Request,
    r: &Route,
    identity: &mut Identity,
    peer: Option<SocketAddr>,
    decoder: BodyDecoder,
    input: &mut Input<impl Stream>,
    id: &str,
) -> Result<Response<crate::sse::Reader<B::Reader>>, Fail> {
    if ctx.auth_throttled(peer.map(|p| p.ip())) {
        return Err((crate::context::throttled(), false));
    }
    let body = read_document(ctx, req, None, decoder, input, BodyChecksum::Named).await?;
    let done = |e: S3Error| (e, true);
    let hash = sluice_sigv4::sha256_hex(&body);
    let mut headers = req.headers.clone();
    headers.push(("x-amz-content-sha256".into(), hash.to_vec()));
    let verified = authenticate_counted(ctx, req, "sts", &headers, peer).map_err(done)?;
    if verified.payload.is_streaming() {
        return Err(done(S3Error::new(
            S3ErrorCode::InvalidRequest,
            "The body framing does not match the signed payload mode.",
        )));
    }
    check_sts_signed(&verified).map_err(done)?;
    *identity = Identity::Key {
        access_key: verified.access_key.clone(),
        session_token: verified.session_token.clone(),
    };
    authorize(ctx, req, r, identity, peer).map_err(done)?;
    ops::sts::assume_role(ctx, identity, &body, id)
        .map(Response::widen)
        .map_err(done)
}

/// PutObjectTagging's permissions, with the tags its document sets as the
/// request's tags (as an `x-amz-tagging` header gives them to PutObject).
fn authorize_tagging(
    ctx: &ThreadContext<impl Storage>,
    req: &Request,
    r: &Route,
    identity: &Identity,
    peer: Option<SocketAddr>,
    body: &[u8],
) -> Result<(), S3Error> {
    let tags = ops::tagging::tags_from_xml(body, ops::tagging::MAX_OBJECT_TAGS)?;
    let mut headers: Vec<(String, Vec<u8>)> = req
        .headers
        .iter()
        .filter(|(n, _)| !n.eq_ignore_ascii_case("x-amz-tagging"))
        .cloned()
        .collect();
    headers.push(("x-amz-tagging".into(), tags.into_bytes()));
    let mut context = crate::access::context(r, req, peer.map(|p| p.ip()));
    context.headers = &headers;
    for permission in crate::access::permissions(r, req) {
        crate::grant::authorize_one(ctx, identity, &permission, context)?;
    }
    Ok(())
}

/// An STS call's form says what the credentials may do (its Policy narrows
/// them): it must be covered by a SigV4 signature over its SHA-256, never
/// UNSIGNED-PAYLOAD or SigV2 (which signs no body).
fn check_sts_signed(verified: &Verified) -> Result<(), S3Error> {
    let signed_body = verified.version == sluice_sigv4::SignatureVersion::V4
        && matches!(verified.payload, sluice_sigv4::PayloadMode::Sha256(_));
    if signed_body {
        Ok(())
    } else {
        Err(S3Error::new(
            S3ErrorCode::InvalidRequest,
            "STS requests must be signed with SigV4 over the SHA-256 of their body.",
        ))
    }
}

/// A GetObject or HeadObject of a key that does not exist answers 404 only
/// to whom may list the bucket, as S3 does: to others it is 403, so that
/// which keys exist is not told to someone who may not list them.
fn missing_key_answer(
    ctx: &ThreadContext<impl Storage>,
    req: &Request,
    r: &Route,
    identity: &Identity,
    peer: Option<SocketAddr>,
    err: S3Error,
) -> S3Error {
    if err.code != S3ErrorCode::NoSuchKey {
        return err;
    }
    let context = crate::access::context(r, req, peer.map(|p| p.ip()));
    let list = crate::access::Permission {
        action: "s3:ListBucket",
        resource: crate::access::arn(r.bucket.as_deref().unwrap_or_default(), None),
    };
    match ctx.config.authorizer.authorize(identity, &list, &context) {
        Ok(()) => err,
        Err(denied) => denied,
    }
}

/// The stages after routing, and the operation.
#[allow(clippy::too_many_arguments)]
// The handlers' futures (put_object's is 8 KiB, a document's read 4 KiB)
// are boxed where they are awaited: held inline, each would make this
// future, and `handle`'s around it, as large as the largest, and every
// request would copy those kilobytes at each level it is moved into.
async fn run<B: Storage>(
    ctx: &ThreadContext<B>,
    req: &Request,
    r: &Route,
    identity: &mut Identity,
    peer: Option<SocketAddr>,
    decoder: BodyDecoder,
    input: &mut Input<impl Stream>,
    id: &str,
) -> Result<Response<crate::sse::Reader<B::Reader>>, Fail> {
    let early = |e: S3Error| (e, false);
    if r.op == Op::CorsPreflight {
        // The one unauthenticated request: its body (there should be none)
        // is still read to its end, and checked against any digest it names.
        let _ = Box::pin(read_document(
            ctx,
            req,
            None,
            decoder,
            input,
            BodyChecksum::Named,
        ))
        .await?;
        return ops::cors::preflight(ctx, req, r.bucket.as_deref().unwrap_or_default())
            .map(Response::widen)
            .map_err(|e| (e, true));
    }
    // A browser form: authenticated by its fields, authorized once they
    // are read, before the file is written.
    if r.op == Op::PostObject {
        return Box::pin(ops::post_object::post_object(
            ctx, req, r, identity, peer, decoder, input,
        ))
        .await
        .map(Response::widen);
    }
    // An unsigned request stays anonymous: the authorizer decides what it
    // may do (a bucket policy for everyone), and its body is checked
    // against what it names (Content-MD5, checksums) but no signature.
    let verified = if req.is_unsigned() {
        None
    } else {
        if r.op == Op::AssumeRole && req.header("x-amz-content-sha256").is_none() {
            return Box::pin(assume_role(ctx, req, r, identity, peer, decoder, input, id)).await;
        }
        // STS calls are signed for the `sts` service.
        let service = if r.op == Op::AssumeRole { "sts" } else { "s3" };
        let verified =
            authenticate_counted(ctx, req, service, &req.headers, peer).map_err(early)?;
        *identity = Identity::Key {
            access_key: verified.access_key.clone(),
            session_token: verified.session_token.clone(),
        };
        Some(verified)
    };
    if r.op == Op::AssumeRole {
        if let Some(v) = &verified {
            check_sts_signed(v).map_err(early)?;
        }
    }
    // PutObjectTagging is authorized once its document is read: the tags
    // it sets are its `s3:RequestObjectTag` condition keys.
    if r.op != Op::PutObjectTagging {
        authorize(ctx, req, r, identity, peer).map_err(early)?;
    }
    if ctx.config.panic_on_key.is_some() && ctx.config.panic_on_key == r.key {
        panic!("a test asked this request to panic");
    }
    ops::object_write::check_unsupported(req, r.op).map_err(early)?;
    // Buckets are unversioned: a version other than `null` names nothing,
    // and must not be taken for the current object (a DeleteObject with
    // VersionId=abc deleted it).
    if r.param("versionId").is_some_and(|v| v != "null") {
        return Err(early(S3Error::new(
            S3ErrorCode::InvalidArgument,
            "Invalid version id specified",
        )));
    }
    // The body decoder chose aws-chunked from the header; the signature
    // chose the payload mode. They agree whenever the header was signed (or
    // equals the presigned hash, which sigv4 checks); refuse anything else
    // rather than decode a body one way and verify it another.
    if verified.as_ref().is_some_and(|v| v.payload.is_streaming()) != req.aws_chunked {
        return Err(early(S3Error::new(
            S3ErrorCode::InvalidRequest,
            "The body framing does not match the signed payload mode.",
        )));
    }
    ops::object_write::check_expected_owner(req).map_err(early)?;
    if matches!(r.op, Op::PutObject | Op::CompleteMultipartUpload) {
        let (bucket, key) = (
            r.bucket.as_deref().unwrap_or_default(),
            r.key.as_deref().unwrap_or_default(),
        );
        // A cheap early refusal; the condition is checked again, atomically,
        // when the object is published.
        ops::object_write::check_write_conditions(ctx, req, bucket, key).map_err(early)?;
    }
    if r.op == Op::DeleteObjects && !names_a_digest(req) {
        // S3 refuses a multi-object delete whose body nothing protects.
        return Err(early(S3Error::new(
            S3ErrorCode::InvalidRequest,
            "Missing required header for this request: Content-MD5 OR x-amz-checksum-*",
        )));
    }
    if req.expect_continue {
        Box::pin(crate::upload::send_continue(ctx, req, input))
            .await
            .map_err(early)?;
    }
    if r.op == Op::PutObject {
        if let Some(source) = req.header("x-amz-copy-source") {
            let _ = Box::pin(read_document(
                ctx,
                req,
                verified.as_ref(),
                decoder,
                input,
                BodyChecksum::Named,
            ))
            .await?;
            let (bucket, key) = (
                r.bucket.as_deref().unwrap_or_default(),
                r.key.as_deref().unwrap_or_default(),
            );
            let owner = ctx.config.authorizer.owner(identity);
            return Box::pin(ops::copy::copy_object(ctx, req, bucket, key, source, owner))
                .await
                .map(Response::widen)
                .map_err(|e| (e, true));
        }
        let owner = ctx.config.authorizer.owner(identity);
        return Box::pin(ops::object_write::put_object(
            ctx,
            req,
            r,
            verified.as_ref(),
            decoder,
            input,
            owner,
        ))
        .await
        .map(Response::widen);
    }
    if r.op == Op::UploadPart {
        if let Some(source) = req.header("x-amz-copy-source") {
            let _ = Box::pin(read_document(
                ctx,
                req,
                verified.as_ref(),
                decoder,
                input,
                BodyChecksum::Named,
            ))
            .await?;
            return Box::pin(ops::copy::upload_part_copy(ctx, req, r, source))
                .await
                .map(Response::widen)
                .map_err(|e| (e, true));
        }
        return Box::pin(ops::multipart::upload_part(
            ctx,
            req,
            r,
            verified.as_ref(),
            decoder,
            input,
        ))
        .await
        .map(Response::widen);
    }
    // The other operations take a document at most: read it and verify it
    // like any body before acting on it.
    // CompleteMultipartUpload's `x-amz-checksum-*` headers are the
    // object's checksum, not its document's.
    let which = if r.op == Op::CompleteMultipartUpload {
        BodyChecksum::TrailerOnly
    } else {
        BodyChecksum::Named
    };
    let body = Box::pin(read_document(
        ctx,
        req,
        verified.as_ref(),
        decoder,
        input,
        which,
    ))
    .await?;
    let bucket = r.bucket.as_deref().unwrap_or_default();
    let key = r.key.as_deref().unwrap_or_default();
    // The body was read to its end: errors from here keep the connection.
    let answered = match r.op {
        Op::ListBuckets => ops::bucket::list_buckets(ctx, r),
        // The location constraint in the body is accepted as it is.
        Op::CreateBucket => ops::bucket::create(ctx, bucket, &body),
        Op::DeleteBucket => ops::bucket::delete(ctx, bucket).and_then(|answer| {
            // A bucket made again later with this name starts without it.
            if let Some(p) = &ctx.config.bucket_policies {
                p.delete(bucket)?;
                p.set_public_access_block(bucket, None)?;
            }
            Ok(answer)
        }),
        Op::AssumeRole => ops::sts::assume_role(ctx, identity, &body, id),
        Op::PutBucketPolicy => ops::policy::put(ctx, bucket, &body),
        Op::PutPublicAccessBlock => ops::policy::put_public_access_block(ctx, bucket, &body),
        Op::GetPublicAccessBlock => ops::policy::get_public_access_block(ctx, bucket),
        Op::DeletePublicAccessBlock => ops::policy::delete_public_access_block(ctx, bucket),
        Op::GetBucketPolicy => ops::policy::get(ctx, bucket),
        Op::DeleteBucketPolicy => ops::policy::delete(ctx, bucket),
        Op::GetBucketPolicyStatus => ops::policy::status(ctx, bucket),
        Op::HeadBucket => ops::bucket::head(ctx, bucket),
        Op::GetBucketLocation => ops::bucket::location(ctx, bucket),
        Op::GetBucketVersioning => ops::bucket::versioning(ctx, bucket),
        Op::ListObjectsV2 | Op::ListObjects => ops::list::list_objects(ctx, bucket, r),
        Op::ListObjectVersions => ops::list::list_versions(ctx, bucket, r),
        // The one answer that carries an object.
        Op::GetObject | Op::HeadObject => {
            return ops::object_read::get_object(ctx, req, r, bucket, key)
                .map_err(|e| (missing_key_answer(ctx, req, r, identity, peer, e), true))
        }
        Op::GetObjectAttributes => ops::object_read::object_attributes(ctx, req, r, bucket, key),
        Op::DeleteObject => ops::object_write::delete(ctx, bucket, key).await,
        Op::DeleteObjects => {
            let context = crate::access::context(r, req, peer.map(|p| p.ip()));
            Box::pin(ops::object_write::delete_objects(
                ctx, bucket, &body, identity, &context,
            ))
            .await
        }
        Op::CreateMultipartUpload => ops::multipart::create(ctx, req, bucket, key),
        Op::CompleteMultipartUpload => {
            let owner = ctx.config.authorizer.owner(identity);
            Box::pin(ops::multipart::complete(
                ctx, req, r, bucket, key, &body, owner,
            ))
            .await
        }
        Op::AbortMultipartUpload => ops::multipart::abort(ctx, r, bucket, key).await,
        Op::ListParts => ops::multipart::list_parts(ctx, req, r, bucket, key),
        Op::ListMultipartUploads => ops::multipart::list_uploads(ctx, r, bucket),
        Op::PutObjectTagging => {
            authorize_tagging(ctx, req, r, identity, peer, &body).map_err(|e| (e, true))?;
            ops::tagging::put_tagging(ctx, bucket, key, &body)
        }
        Op::GetObjectTagging => ops::tagging::get_tagging(ctx, bucket, key),
        Op::DeleteObjectTagging => ops::tagging::delete_tagging(ctx, bucket, key),
        Op::PutBucketCors => ops::cors::put(ctx, bucket, &body),
        Op::GetBucketCors => ops::cors::get(ctx, bucket),
        Op::DeleteBucketCors => ops::cors::delete(ctx, bucket),
        Op::PutBucketEncryption => ops::encryption::put(ctx, bucket, &body),
        Op::GetBucketEncryption => ops::encryption::get(ctx, bucket),
        Op::DeleteBucketEncryption => ops::encryption::delete(ctx, bucket),
        Op::GetBucketAcl => ops::acl::get_acl(ctx, bucket, None),
        Op::GetObjectAcl => ops::acl::get_acl(ctx, bucket, Some(key)),
        Op::PutBucketAcl => ops::acl::put_acl(ctx, req, bucket, None, &body),
        Op::PutObjectAcl => ops::acl::put_acl(ctx, req, bucket, Some(key), &body),
        Op::GetBucketOwnershipControls => ops::acl::get_ownership(ctx, bucket),
        Op::PutBucketOwnershipControls => ops::acl::put_ownership(ctx, bucket, &body),
        Op::DeleteBucketOwnershipControls => ops::acl::delete_ownership(ctx, bucket),
        Op::GetBucketTagging => ops::tagging::get_bucket_tagging(ctx, bucket),
        Op::PutBucketTagging => ops::tagging::put_bucket_tagging(ctx, bucket, &body),
        Op::DeleteBucketTagging => ops::tagging::delete_bucket_tagging(ctx, bucket),
        // Answered above: the preflight before authentication, the
        // streamed writes before any body was read.
        Op::CorsPreflight | Op::PutObject | Op::UploadPart | Op::PostObject => Err(
            S3Error::internal("an operation answered earlier reached the operation table"),
        ),
    };
    // As for GetObject: whether a key exists is told only to whom may list.
    let answered = match answered {
        Err(e)
            if matches!(
                r.op,
                Op::GetObjectAttributes
                    | Op::GetObjectTagging
                    | Op::PutObjectTagging
                    | Op::DeleteObjectTagging
                    | Op::GetObjectAcl
                    | Op::PutObjectAcl
            ) =>
        {
            Err(missing_key_answer(ctx, req, r, identity, peer, e))
        }
        other => other,
    };
    answered.map(Response::widen).map_err(|e| (e, true))
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
    ctx: &ThreadContext<impl Storage>,
    req: &Request,
    verified: Option<&Verified>,
    decoder: BodyDecoder,
    input: &mut Input<impl Stream>,
    which: BodyChecksum,
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
    receive(ctx, req, verified, decoder, input, &mut doc, which).await?;
    Ok(doc.0)
}
