//! POST Object: uploads from an HTML form (`multipart/form-data`), as
//! browsers send them. The form's fields come first: the key (where
//! `${filename}` is the file's name), a POST policy signed with SigV4 or
//! SigV2 (or none, for a bucket whose policy lets anyone upload), the
//! object's headers; then the file, streamed into the store as it arrives.
//!
//! Nothing is written before the fields are complete, the signature over
//! the policy verified, the policy's conditions met and `s3:PutObject`
//! granted on the key; nothing is published before the body has ended
//! with its closing delimiter and the file's size is within the policy's
//! `content-length-range`. Fields after the file are ignored, as S3 does.
//!
//! The file's bytes are copied once more than a PutObject's: from the
//! received buffers, where they sit at any offset after the part's head,
//! into the aligned buffers the store writes.

use std::net::SocketAddr;

use md5::Digest as _;
use sluice_core::{AlignedBuf, BufPool, WriteCondition};
use sluice_http::{form_boundary, BodyDecoder, FormEvent, FormParser, PartHead};
use sluice_sigv4::{PostPolicy, PostSignature};

use crate::access::{arn, Identity};
use crate::context::ThreadContext;
use crate::error::{S3Error, S3ErrorCode};
use crate::request::{Input, Request, Stream};
use crate::response::{response, xml_response, Response};
use crate::route::{Op, Route};
use crate::storage::{BodyWrite, ObjectWrite, Storage};
use crate::upload::{receive, BodyChecksum, DataSink};
use crate::xml::Xml;

/// Failure with whether the body was consumed.
type Fail = (S3Error, bool);

/// Largest total of the fields before the file (names and values).
const MAX_FIELDS_BYTES: usize = 64 << 10;

/// Most fields before the file.
const MAX_FIELDS: usize = 100;

fn invalid_argument(message: impl Into<std::borrow::Cow<'static, str>>) -> S3Error {
    S3Error::new(S3ErrorCode::InvalidArgument, message)
}

fn malformed(e: sluice_http::Error) -> S3Error {
    S3Error::new(S3ErrorCode::MalformedPOSTRequest, e.to_string())
}

/// The fields that carry the policy and its signature: never expanded.
fn is_signature_field(name: &str) -> bool {
    ["policy", "x-amz-signature", "signature", "awsaccesskeyid"]
        .iter()
        .any(|f| name.eq_ignore_ascii_case(f))
}

/// The fields (lowercase) that become the object's headers of the same name.
fn is_header_field(lower: &str) -> bool {
    matches!(
        lower,
        "content-type"
            | "cache-control"
            | "content-disposition"
            | "content-encoding"
            | "content-language"
            | "expires"
            | "x-amz-storage-class"
            | "x-amz-server-side-encryption"
    )
}

/// A header name: RFC 9110's token characters.
fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// A field value that can be a header's: no control characters but tab
/// (a CR, LF or NUL would make the object's answers unwritable).
fn is_header_value(value: &str) -> bool {
    value
        .bytes()
        .all(|b| b == b'\t' || (b >= 0x20 && b != 0x7f))
}

/// A redirect S3 follows: an http(s) URL of visible ASCII, short enough to
/// fit a response head with the bucket, key and ETag added. Others are
/// ignored, as S3 ignores a redirect it cannot interpret.
fn valid_redirect(url: &str) -> bool {
    (url.starts_with("http://") || url.starts_with("https://"))
        && url.len() <= 2048
        && url.bytes().all(|b| b.is_ascii_graphic())
}

/// The Host header when it is a plain host name or address with a port.
fn plain_host(host: Option<&str>) -> &str {
    host.filter(|h| {
        !h.is_empty()
            && h.len() <= 255
            && h.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
    })
    .unwrap_or("localhost")
}

/// POST /bucket with a form: see the module's documentation.
pub(crate) async fn post_object<B: Storage>(
    ctx: &ThreadContext<B>,
    req: &Request,
    r: &Route,
    identity: &mut Identity,
    peer: Option<SocketAddr>,
    decoder: BodyDecoder,
    input: &mut Input<impl Stream>,
) -> Result<Response, Fail> {
    let early = |e: S3Error| (e, false);
    let bucket = r.bucket.as_deref().unwrap_or_default();
    if !req.is_unsigned() {
        return Err(early(S3Error::new(
            S3ErrorCode::InvalidRequest,
            "A POST upload is authenticated by the policy and signature fields of its form, \
             not by an Authorization header or query.",
        )));
    }
    let boundary = req
        .header("content-type")
        .and_then(|t| form_boundary(t.as_bytes()))
        .ok_or_else(|| {
            early(S3Error::new(
                S3ErrorCode::PreconditionFailed,
                "Bucket POST must be of the enclosure-type multipart/form-data",
            ))
        })?;
    if ctx.auth_throttled(peer.map(|p| p.ip())) {
        return Err(early(crate::context::throttled()));
    }
    ctx.store.head_bucket(bucket).map_err(|e| early(e.into()))?;
    crate::ops::object_write::check_unsupported(req, Op::PostObject).map_err(early)?;
    crate::upload::send_continue(ctx, req, input)
        .await
        .map_err(early)?;
    let mut form = FormSink {
        ctx,
        req,
        bucket,
        peer,
        parser: FormParser::new(&boundary).map_err(|e| early(malformed(e)))?,
        pending: Vec::new(),
        phase: Phase::Fields,
        fields: Vec::new(),
        fields_bytes: 0,
        field: None,
        file: None,
        identity: Identity::Anonymous,
        body_md5: req.header("content-md5").map(|_| md5::Md5::new()),
        pool: ctx.pool_for(req.decoded_length.unwrap_or(u64::MAX)),
    };
    let received = receive(
        ctx,
        req,
        None,
        decoder,
        input,
        &mut form,
        BodyChecksum::Named,
    )
    .await;
    *identity = form.identity.clone();
    received?;
    form.finish(req).await.map_err(|e| (e, true))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Reading the fields before the file.
    Fields,
    /// Streaming the file into the store.
    File,
    /// After the file: fields ignored until the closing delimiter.
    After,
    /// The closing delimiter was read.
    Done,
}

/// The file being written, and what was decided before its first byte.
struct FileUpload<W> {
    writer: W,
    payload: Option<AlignedBuf>,
    size: u64,
    /// The policy's content-length-range.
    range: Option<(u64, u64)>,
    key: String,
    /// The headers kept with the object.
    headers: Vec<(String, String)>,
    content_md5: Option<Vec<u8>>,
    /// The encryption headers to answer.
    sse_headers: Vec<(String, String)>,
}

/// The form, as its body arrives: a [`DataSink`] that [`receive`] feeds
/// with the body, decoded and checked as any body is.
struct FormSink<'a, B: Storage> {
    ctx: &'a ThreadContext<B>,
    req: &'a Request,
    bucket: &'a str,
    peer: Option<SocketAddr>,
    parser: FormParser,
    /// Body bytes the parser has not used yet (a part head being read, or
    /// what may be the start of a delimiter).
    pending: Vec<u8>,
    phase: Phase,
    /// The fields before the file: names as sent, values.
    fields: Vec<(String, String)>,
    fields_bytes: usize,
    /// The field being read: its name and bytes so far.
    field: Option<(String, Vec<u8>)>,
    file: Option<FileUpload<crate::sse::Writer<B::Writer>>>,
    /// Who signed the form, once known.
    identity: Identity,
    /// The whole body's MD5, when a Content-MD5 header asks for it.
    body_md5: Option<md5::Md5>,
    pool: &'a BufPool,
}

impl<B: Storage> DataSink for FormSink<'_, B> {
    async fn write(&mut self, buf: AlignedBuf) -> Result<(), S3Error> {
        if let Some(h) = self.body_md5.as_mut() {
            h.update(buf.as_slice());
        }
        let mut pending = std::mem::take(&mut self.pending);
        pending.extend_from_slice(buf.as_slice());
        drop(buf);
        let mut pos = 0usize;
        loop {
            let (used, event) = self.parser.parse(&pending[pos..]).map_err(malformed)?;
            // The parser uses at most what it was given.
            pos = pos.saturating_add(used);
            match event {
                None => break,
                Some(event) => self.on_event(event).await?,
            }
        }
        pending.drain(..pos);
        self.pending = pending;
        Ok(())
    }

    fn md5(&self) -> [u8; 16] {
        self.body_md5
            .clone()
            .map(|h| h.finalize().into())
            .unwrap_or_default()
    }
}

impl<B: Storage> FormSink<'_, B> {
    async fn on_event(&mut self, event: FormEvent<'_>) -> Result<(), S3Error> {
        match (self.phase, event) {
            (Phase::Fields, FormEvent::Part(head)) if head.name.eq_ignore_ascii_case("file") => {
                self.file = Some(self.start_file(&head)?);
                self.phase = Phase::File;
            }
            (Phase::Fields, FormEvent::Part(head)) => {
                if self.fields.len() >= MAX_FIELDS
                    || self
                        .fields
                        .iter()
                        .any(|(n, _)| n.eq_ignore_ascii_case(&head.name))
                {
                    return Err(invalid_argument(format!(
                        "The form field {} is repeated, or the form has too many fields.",
                        head.name
                    )));
                }
                self.count_field_bytes(head.name.len())?;
                self.field = Some((head.name, Vec::new()));
            }
            (Phase::Fields, FormEvent::Data(d)) => {
                self.count_field_bytes(d.len())?;
                if let Some((_, value)) = self.field.as_mut() {
                    value.extend_from_slice(d);
                }
            }
            (Phase::Fields, FormEvent::PartEnd) => {
                if let Some((name, value)) = self.field.take() {
                    let value = String::from_utf8(value).map_err(|_| {
                        invalid_argument(format!("The form field {name} is not UTF-8."))
                    })?;
                    self.fields.push((name, value));
                }
            }
            (Phase::Fields | Phase::After, FormEvent::End) => {
                if self.file.is_none() {
                    return Err(S3ErrorCode::IncorrectNumberOfFilesInPostRequest.into());
                }
                self.phase = Phase::Done;
            }
            (Phase::File, FormEvent::Data(d)) => self.write_file(d).await?,
            (Phase::File, FormEvent::PartEnd) => self.phase = Phase::After,
            (Phase::After, FormEvent::Part(head)) if head.name.eq_ignore_ascii_case("file") => {
                return Err(S3ErrorCode::IncorrectNumberOfFilesInPostRequest.into());
            }
            // Fields after the file are ignored, as S3 ignores them.
            (Phase::After, _) => {}
            (phase, event) => {
                return Err(S3Error::internal(format!(
                    "form event {event:?} in phase {phase:?}"
                )))
            }
        }
        Ok(())
    }

    fn count_field_bytes(&mut self, n: usize) -> Result<(), S3Error> {
        self.fields_bytes = self.fields_bytes.saturating_add(n);
        if self.fields_bytes > MAX_FIELDS_BYTES {
            return Err(S3ErrorCode::MaxPostPreDataLengthExceeded.into());
        }
        Ok(())
    }

    /// A field's value, by name (case-insensitively).
    fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Who signed the form (checked against its policy), or anonymous
    /// when it carries neither a policy nor a signature.
    fn authenticate(&self) -> Result<Identity, S3Error> {
        let ctx = self.ctx;
        let policy = self.get("policy");
        let v4 = self.get("x-amz-signature");
        let v2 = self.get("signature");
        let access_key_v2 = self.get("awsaccesskeyid");
        let missing = |name: &str| {
            invalid_argument(format!(
                "Bucket POST must contain a field named '{name}'.  If it is specified, \
                 please check the order of the fields."
            ))
        };
        let signature =
            match (policy, v4, v2) {
                (None, None, None) if access_key_v2.is_none() => return Ok(Identity::Anonymous),
                (None, _, _) => return Err(missing("policy")),
                (Some(_), Some(_), Some(_)) => return Err(invalid_argument(
                    "A form carries one signature: x-amz-signature (SigV4) or signature (SigV2).",
                )),
                (Some(_), Some(signature), None) => PostSignature::V4 {
                    algorithm: self
                        .get("x-amz-algorithm")
                        .ok_or_else(|| missing("x-amz-algorithm"))?,
                    credential: self
                        .get("x-amz-credential")
                        .ok_or_else(|| missing("x-amz-credential"))?,
                    date: self
                        .get("x-amz-date")
                        .ok_or_else(|| missing("x-amz-date"))?,
                    signature,
                },
                (Some(_), None, Some(signature)) => {
                    if !ctx.config.sigv2 {
                        return Err(sluice_sigv4::Error::UnsupportedSignatureVersion.into());
                    }
                    PostSignature::V2 {
                        access_key: access_key_v2.ok_or_else(|| missing("AWSAccessKeyId"))?,
                        signature,
                    }
                }
                (Some(_), None, None) => {
                    return Err(missing(if access_key_v2.is_some() {
                        "signature"
                    } else {
                        "x-amz-signature"
                    }))
                }
            };
        let policy = policy.unwrap_or_default();
        let token = self.get("x-amz-security-token");
        let ip = self.peer.map(|p| p.ip());
        let access_key = ctx
            .verifier
            .borrow_mut()
            .verify_post(&signature, policy, token, &*ctx.config.credentials)
            .inspect_err(|e| {
                if matches!(
                    e,
                    sluice_sigv4::Error::SignatureDoesNotMatch
                        | sluice_sigv4::Error::InvalidAccessKeyId
                ) {
                    ctx.auth_failed(ip);
                }
            })?;
        PostPolicy::parse(policy)?.check(&self.fields, self.bucket, crate::time::unix_now())?;
        Ok(Identity::Key {
            access_key,
            session_token: token.map(str::to_owned),
        })
    }

    /// The fields before the file are complete: authenticate, check the
    /// policy, authorize the write of the key, and open the object.
    fn start_file(
        &mut self,
        head: &PartHead,
    ) -> Result<FileUpload<crate::sse::Writer<B::Writer>>, S3Error> {
        let ctx = self.ctx;
        if self.get("key").is_none_or(str::is_empty) {
            return Err(invalid_argument(
                "Bucket POST must contain a field named 'key'.  If it is specified, \
                 please check the order of the fields.",
            ));
        }
        // `${filename}` is the file's name without its path (a browser may
        // send `C:\\Users\\a.txt`), in every field's value; the policy is
        // checked against the values so expanded, as S3 does.
        let path = head.filename.as_deref().unwrap_or_default();
        let filename = path.rsplit(['/', '\\']).next().unwrap_or_default();
        for (name, value) in &mut self.fields {
            if !is_signature_field(name) && value.contains("${filename}") {
                *value = value.replace("${filename}", filename);
            }
        }
        let identity = self.authenticate()?;
        self.identity = identity.clone();
        let key = self.get("key").unwrap_or_default().to_owned();
        let range = match self.get("policy") {
            Some(p) => PostPolicy::parse(p)?.content_length_range(),
            None => None,
        };
        let headers = self.object_headers()?;
        let as_put = Request {
            method: sluice_http::Method::Put,
            method_str: "PUT".into(),
            raw_path: self.req.raw_path.clone(),
            raw_query: String::new(),
            headers,
            keep_alive: self.req.keep_alive,
            expect_continue: false,
            has_body: true,
            plain_length: None,
            decoded_length: None,
            aws_chunked: false,
            secure: self.req.secure,
        };
        crate::ops::object_write::check_unsupported(&as_put, Op::PutObject)?;
        let route = Route {
            op: Op::PutObject,
            bucket: Some(self.bucket.to_owned()),
            key: Some(key.clone()),
            query: Vec::new(),
        };
        let context = crate::access::context(&route, &as_put, self.peer.map(|p| p.ip()));
        for permission in crate::access::permissions(&route, &as_put) {
            crate::grant::authorize_one(ctx, &identity, &permission, context)?;
        }
        let content_md5 = match self.get("content-md5") {
            Some(v) => Some(
                sluice_sigv4::base64_decode(v.trim().as_bytes())
                    .filter(|d| d.len() == 16)
                    .ok_or_else(|| S3Error::from(S3ErrorCode::InvalidDigest))?,
            ),
            None => None,
        };
        let owner = ctx.config.authorizer.owner(&identity);
        // Stored encrypted as a PutObject with these headers would be.
        let keys = ctx.config.master_keys.as_ref();
        let seal = crate::sse::for_new_object(ctx, &as_put, self.bucket)?;
        let mut headers = crate::ops::object_write::kept_headers(&as_put);
        if let Some(seal) = &seal {
            headers.extend(crate::sse::kept_headers(seal, keys)?);
        }
        let inner = ctx.store_as(owner).put_object(self.bucket, &key, None)?;
        Ok(FileUpload {
            writer: crate::sse::writer(ctx, inner, seal.as_ref(), 0, None),
            payload: Some(self.pool.get()),
            size: 0,
            range,
            key,
            headers,
            content_md5,
            sse_headers: seal
                .iter()
                .flat_map(crate::sse::Seal::response_headers)
                .collect(),
        })
    }

    /// The fields that become the object's headers, as a PutObject's
    /// headers would carry them (so that they are checked, authorized and
    /// kept alike).
    fn object_headers(&self) -> Result<Vec<(String, Vec<u8>)>, S3Error> {
        let mut out = Vec::new();
        for (name, value) in &self.fields {
            let lower = name.to_ascii_lowercase();
            // What is authorized, checked and kept is the same value, as a
            // header would carry it: trimmed, and one a header can hold.
            let value = value.trim_matches([' ', '\t']);
            let carried = lower.starts_with("x-amz-") || is_header_field(&lower);
            if carried && (!is_token(name) || !is_header_value(value)) {
                return Err(invalid_argument(format!(
                    "The form field {} has a name or value that a header cannot carry.",
                    name.escape_debug()
                )));
            }
            let header = match lower.as_str() {
                _ if is_header_field(&lower) => lower,
                "acl" => "x-amz-acl".to_owned(),
                "tagging" => {
                    let tags = crate::ops::tagging::tags_from_xml(
                        value.as_bytes(),
                        crate::ops::tagging::MAX_OBJECT_TAGS,
                    )?;
                    out.push((crate::ops::tagging::TAGGING.to_owned(), tags.into_bytes()));
                    continue;
                }
                _ if lower.starts_with("x-amz-meta-")
                    || lower.starts_with("x-amz-server-side-encryption-") =>
                {
                    lower
                }
                _ if lower.starts_with("x-amz-checksum-") => {
                    return Err(S3Error::not_implemented(
                        "Checksum fields in a POST upload form",
                    ))
                }
                _ => continue,
            };
            out.push((header, value.as_bytes().to_vec()));
        }
        Ok(out)
    }

    async fn write_file(&mut self, mut data: &[u8]) -> Result<(), S3Error> {
        let Some(file) = self.file.as_mut() else {
            return Err(S3Error::internal("file data before the file's head"));
        };
        file.size = file
            .size
            .saturating_add(u64::try_from(data.len()).unwrap_or(u64::MAX));
        if file.range.is_some_and(|(_, max)| file.size > max) {
            return Err(S3Error::new(
                S3ErrorCode::EntityTooLarge,
                "Your proposed upload exceeds the maximum allowed size",
            ));
        }
        while !data.is_empty() {
            let payload = file.payload.get_or_insert_with(|| self.pool.get());
            let n = payload.extend_from_slice(data);
            data = &data[n..];
            if payload.len() == payload.capacity() {
                if let Some(full) = file.payload.take() {
                    BodyWrite::write(&mut file.writer, full).await?;
                }
            }
        }
        Ok(())
    }

    /// The body has ended: publish the object and answer as the form asks.
    async fn finish(self, req: &Request) -> Result<Response, S3Error> {
        if self.phase != Phase::Done || !self.parser.is_complete() {
            return Err(S3Error::new(
                S3ErrorCode::MalformedPOSTRequest,
                "The body of your POST request ends before its closing boundary.",
            ));
        }
        let redirect = self
            .get("success_action_redirect")
            .or_else(|| self.get("redirect"))
            .filter(|u| valid_redirect(u))
            .map(str::to_owned);
        let status = self.get("success_action_status").map(str::to_owned);
        let Some(mut file) = self.file else {
            return Err(S3ErrorCode::IncorrectNumberOfFilesInPostRequest.into());
        };
        if file.range.is_some_and(|(min, _)| file.size < min) {
            return Err(S3Error::new(
                S3ErrorCode::EntityTooSmall,
                "Your proposed upload is smaller than the minimum allowed size",
            ));
        }
        if let Some(last) = file.payload.take().filter(|p| !p.is_empty()) {
            BodyWrite::write(&mut file.writer, last).await?;
        }
        if let Some(expected) = &file.content_md5 {
            if BodyWrite::md5(&file.writer)[..] != expected[..] {
                return Err(S3Error::new(
                    S3ErrorCode::BadDigest,
                    "The Content-MD5 you specified did not match what we received.",
                ));
            }
        }
        let info = file
            .writer
            .finish_if(file.headers, &WriteCondition::Always)
            .await?;
        let etag = format!("\"{}\"", info.meta.etag);
        let bucket = self.bucket;
        let key = file.key;
        let sse_headers = file.sse_headers;
        // A virtual-hosted form (its bucket in the Host) was posted to `/`.
        let host = plain_host(req.header("host"));
        let location = if req.raw_path == "/" {
            format!("http://{host}/{}", sluice_sigv4::uri_encode(&key, true))
        } else {
            format!(
                "http://{host}/{}/{}",
                sluice_sigv4::uri_encode(bucket, false),
                sluice_sigv4::uri_encode(&key, true)
            )
        };
        let mut answer = if let Some(url) = redirect {
            let mut to = url;
            to.push(if to.contains('?') { '&' } else { '?' });
            to.push_str(&format!(
                "bucket={}&key={}&etag={}",
                sluice_sigv4::uri_encode(bucket, false),
                sluice_sigv4::uri_encode(&key, false),
                sluice_sigv4::uri_encode(&etag, false)
            ));
            let mut r = response(303);
            r.headers.push(("Location".into(), to));
            r
        } else {
            match status.as_deref() {
                Some("200") => response(200),
                Some("201") => {
                    let mut x = Xml::new();
                    x.root("PostResponse")
                        .leaf("Location", &location)
                        .leaf("Bucket", bucket)
                        .leaf("Key", &key)
                        .leaf("ETag", &etag)
                        .close("PostResponse");
                    let mut r = xml_response(201, x.finish());
                    r.headers.push(("Location".into(), location.clone()));
                    r
                }
                _ => {
                    let mut r = response(204);
                    r.headers.push(("Location".into(), location.clone()));
                    r
                }
            }
        };
        answer.headers.push(("ETag".into(), etag));
        answer.headers.extend(sse_headers);
        tracing::debug!(bucket, key = %key, resource = %arn(bucket, Some(&key)), "POST upload");
        Ok(answer)
    }
}
