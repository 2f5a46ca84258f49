//! Every operation family of sluice-s3, on both backends (sluice-core's
//! file store in a temporary directory, and the in-memory store), served
//! on 127.0.0.1 in this process and driven by signed HTTP requests.
//!
//! The authorize stage: every operation asks the configured `Authorizer`
//! for its IAM action on its resource before it does anything, and a
//! refusal is answered 403 AccessDenied with nothing changed. A recording
//! authorizer denies each operation's action once, then allows it: the
//! allowed request must then succeed, which shows the denied one changed
//! nothing it needed. The observe stage sees each request once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use sluice_core::{Driver, Store, StoreOptions};
use sluice_s3::{
    Authorizer, ConditionContext, Credentials, Identity, MemoryStorage, Observer, Permission,
    RequestEvent, S3Error, S3ErrorCode, ServiceConfig, Storage, ThreadContext,
};
use sluice_sigv4::{format_amz_date, sign_headers, SignedRequest};

/// Records every permission asked for; refuses the action in `deny`.
#[derive(Debug, Default)]
struct Recorder {
    asked: Mutex<Vec<(String, String)>>,
    deny: Mutex<Option<&'static str>>,
}

impl Authorizer for Recorder {
    fn authorize(
        &self,
        identity: &Identity,
        permission: &Permission,
        _context: &ConditionContext<'_>,
    ) -> Result<(), S3Error> {
        assert_eq!(identity.access_key(), Some("AKTEST"));
        self.asked
            .lock()
            .unwrap()
            .push((permission.action.to_owned(), permission.resource.clone()));
        if *self.deny.lock().unwrap() == Some(permission.action) {
            return Err(S3ErrorCode::AccessDenied.into());
        }
        Ok(())
    }
}

/// Counts the requests observed, with their operations and statuses.
#[derive(Debug, Default)]
struct Seen(Mutex<Vec<(&'static str, u16)>>);

impl Observer for Seen {
    fn observe(&self, e: &RequestEvent<'_>) {
        assert!(!e.request_id.is_empty());
        self.0.lock().unwrap().push((e.operation, e.status));
    }
}

/// Starts sluice-s3 over `store` on a runtime thread; its port.
fn start<B: Storage + Send>(store: B, authorizer: Arc<Recorder>, seen: Arc<Seen>) -> u16 {
    let config = ServiceConfig {
        credentials: Arc::new(Credentials(vec![("AKTEST".into(), "secret".into())])),
        authorizer,
        observer: seen,
        ..ServiceConfig::default()
    };
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        sluice_core::block_on(Driver::Auto, async move {
            let listener = monoio::net::TcpListener::bind("127.0.0.1:0").unwrap();
            tx.send(listener.local_addr().unwrap().port()).unwrap();
            sluice_s3::serve(listener, ThreadContext::new(store, config, 0)).await;
        })
        .unwrap();
    });
    rx.recv().unwrap()
}

/// One signed request on its own connection; status and body.
fn call(
    port: u16,
    method: &str,
    target: &str,
    extra: &[(&str, String)],
    body: &[u8],
) -> (u16, String) {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let host = format!("127.0.0.1:{port}");
    let mut headers: Vec<(String, Vec<u8>)> = vec![
        ("host".into(), host.clone().into_bytes()),
        ("x-amz-content-sha256".into(), b"UNSIGNED-PAYLOAD".to_vec()),
        ("x-amz-date".into(), format_amz_date(now).into_bytes()),
    ];
    for (n, v) in extra {
        headers.push((n.to_ascii_lowercase(), v.clone().into_bytes()));
    }
    headers.sort();
    let names: Vec<&str> = headers.iter().map(|(n, _)| n.as_str()).collect();
    let signed = SignedRequest {
        method,
        path,
        query,
        headers: &headers[..],
    };
    let sig = sign_headers(
        &signed,
        &names.join(";"),
        "UNSIGNED-PAYLOAD",
        &sluice_sigv4::Credentials::new("AKTEST", "secret"),
        "us-east-1",
        now,
    );
    let mut head = format!("{method} {target} HTTP/1.1\r\nConnection: close\r\nContent-Length: {}\r\nAuthorization: {}\r\n", body.len(), sig.authorization);
    for (n, v) in &headers {
        head.push_str(&format!("{n}: {}\r\n", String::from_utf8_lossy(v)));
    }
    head.push_str("\r\n");
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut answer = Vec::new();
    s.read_to_end(&mut answer).unwrap();
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

fn md5_b64(data: &[u8]) -> String {
    use md5::Digest as _;
    sluice_sigv4::base64_encode(&md5::Md5::digest(data))
}

fn between<'a>(text: &'a str, open: &str, close: &str) -> &'a str {
    let start = text.find(open).map(|i| i + open.len()).unwrap_or(0);
    let end = text[start..].find(close).map_or(text.len(), |i| start + i);
    &text[start..end]
}

#[test]
fn every_operation_on_the_file_store() {
    let root = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("sluice-s3-authorize-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let store = Store::open(&root, StoreOptions::default()).unwrap();
    every_operation(store);
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn every_operation_on_the_memory_store() {
    every_operation(MemoryStorage::with_min_part_size(1));
}

/// Each operation denied once (403, nothing done), then allowed (it
/// succeeds, with the right content where there is one to check).
fn every_operation<B: Storage + Send>(store: B) {
    let recorder = Arc::new(Recorder::default());
    let seen = Arc::new(Seen::default());
    let port = start(store, Arc::clone(&recorder), Arc::clone(&seen));
    let deny = |action: Option<&'static str>| *recorder.deny.lock().unwrap() = action;

    // Denied once (403, nothing done), then allowed (it succeeds): each
    // operation in an order where every step needs the ones before.
    let step = |name: &str,
                action: &'static str,
                resource: &str,
                method: &str,
                target: &str,
                extra: Vec<(&str, String)>,
                body: &[u8]|
     -> String {
        recorder.asked.lock().unwrap().clear();
        deny(Some(action));
        let (status, answer) = call(port, method, target, &extra, body);
        let denied_element = method == "POST" && target.ends_with("?delete");
        if denied_element {
            assert!(
                answer.contains("<Code>AccessDenied</Code>"),
                "{name}: {answer}"
            );
        } else {
            assert_eq!(status, 403, "{name} denied: {answer}");
            assert!(
                method == "HEAD" || answer.contains("<Code>AccessDenied</Code>"),
                "{name}: {answer}"
            );
        }
        let asked = recorder.asked.lock().unwrap().clone();
        assert!(
            asked.iter().any(|(a, r)| a == action && r == resource),
            "{name} asked {asked:?}, not {action} on {resource}"
        );
        deny(None);
        let (status, answer) = call(port, method, target, &extra, body);
        assert!(
            (200..300).contains(&status),
            "{name} allowed: {status} {answer}"
        );
        answer
    };

    let b = "arn:aws:s3:::bkt";
    let k = "arn:aws:s3:::bkt/dir/k";
    let cors = b"<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod></CORSRule></CORSConfiguration>";
    let tags = b"<Tagging><TagSet><Tag><Key>a</Key><Value>b</Value></Tag></TagSet></Tagging>";
    let tag_doc: &[u8] = tags;
    step(
        "CreateBucket",
        "s3:CreateBucket",
        b,
        "PUT",
        "/bkt",
        vec![],
        b"",
    );
    step(
        "ListBuckets",
        "s3:ListAllMyBuckets",
        "arn:aws:s3:::*",
        "GET",
        "/",
        vec![],
        b"",
    );
    step(
        "HeadBucket",
        "s3:ListBucket",
        b,
        "HEAD",
        "/bkt",
        vec![],
        b"",
    );
    step(
        "GetBucketLocation",
        "s3:GetBucketLocation",
        b,
        "GET",
        "/bkt?location",
        vec![],
        b"",
    );
    step(
        "GetBucketVersioning",
        "s3:GetBucketVersioning",
        b,
        "GET",
        "/bkt?versioning",
        vec![],
        b"",
    );
    step(
        "PutObject",
        "s3:PutObject",
        k,
        "PUT",
        "/bkt/dir/k",
        vec![],
        b"hello",
    );
    step(
        "PutObject with tags",
        "s3:PutObjectTagging",
        "arn:aws:s3:::bkt/t",
        "PUT",
        "/bkt/t",
        vec![("x-amz-tagging", "a=b".into())],
        b"x",
    );
    step(
        "GetObject",
        "s3:GetObject",
        k,
        "GET",
        "/bkt/dir/k",
        vec![],
        b"",
    );
    step(
        "HeadObject",
        "s3:GetObject",
        k,
        "HEAD",
        "/bkt/dir/k",
        vec![],
        b"",
    );
    step(
        "CopyObject (target)",
        "s3:PutObject",
        "arn:aws:s3:::bkt/copy",
        "PUT",
        "/bkt/copy",
        vec![("x-amz-copy-source", "bkt/dir/k".into())],
        b"",
    );
    step(
        "CopyObject (source)",
        "s3:GetObject",
        k,
        "PUT",
        "/bkt/copy2",
        vec![("x-amz-copy-source", "bkt/dir/k".into())],
        b"",
    );
    step(
        "ListObjectsV2",
        "s3:ListBucket",
        b,
        "GET",
        "/bkt?list-type=2&prefix=dir/",
        vec![],
        b"",
    );
    let listed = step(
        "ListObjects",
        "s3:ListBucket",
        b,
        "GET",
        "/bkt",
        vec![],
        b"",
    );
    assert!(listed.contains("<Key>dir/k</Key>"), "{listed}");
    step(
        "ListObjectVersions",
        "s3:ListBucketVersions",
        b,
        "GET",
        "/bkt?versions",
        vec![],
        b"",
    );
    step(
        "PutObjectTagging",
        "s3:PutObjectTagging",
        k,
        "PUT",
        "/bkt/dir/k?tagging",
        vec![("content-md5", md5_b64(tags))],
        tags,
    );
    let tags = step(
        "GetObjectTagging",
        "s3:GetObjectTagging",
        k,
        "GET",
        "/bkt/dir/k?tagging",
        vec![],
        b"",
    );
    assert!(tags.contains("<Key>a</Key><Value>b</Value>"), "{tags}");
    step(
        "DeleteObjectTagging",
        "s3:DeleteObjectTagging",
        k,
        "DELETE",
        "/bkt/dir/k?tagging",
        vec![],
        b"",
    );
    step(
        "GetObjectAttributes",
        "s3:GetObjectAttributes",
        k,
        "GET",
        "/bkt/dir/k?attributes",
        vec![("x-amz-object-attributes", "ETag".into())],
        b"",
    );
    step(
        "PutBucketCors",
        "s3:PutBucketCORS",
        b,
        "PUT",
        "/bkt?cors",
        vec![("content-md5", md5_b64(cors))],
        cors,
    );
    let rules = step(
        "GetBucketCors",
        "s3:GetBucketCORS",
        b,
        "GET",
        "/bkt?cors",
        vec![],
        b"",
    );
    assert!(
        rules.contains("<AllowedOrigin>*</AllowedOrigin>"),
        "{rules}"
    );
    step(
        "DeleteBucketCors",
        "s3:PutBucketCORS",
        b,
        "DELETE",
        "/bkt?cors",
        vec![],
        b"",
    );
    let acl = step(
        "GetBucketAcl",
        "s3:GetBucketAcl",
        b,
        "GET",
        "/bkt?acl",
        vec![],
        b"",
    );
    assert!(
        acl.contains("<Permission>FULL_CONTROL</Permission>"),
        "{acl}"
    );
    let private = || vec![("x-amz-acl", "private".to_owned())];
    step(
        "PutBucketAcl",
        "s3:PutBucketAcl",
        b,
        "PUT",
        "/bkt?acl",
        private(),
        b"",
    );
    step(
        "GetObjectAcl",
        "s3:GetObjectAcl",
        k,
        "GET",
        "/bkt/dir/k?acl",
        vec![],
        b"",
    );
    step(
        "PutObjectAcl",
        "s3:PutObjectAcl",
        k,
        "PUT",
        "/bkt/dir/k?acl",
        private(),
        b"",
    );
    let ownership = step(
        "GetBucketOwnershipControls",
        "s3:GetBucketOwnershipControls",
        b,
        "GET",
        "/bkt?ownershipControls",
        vec![],
        b"",
    );
    assert!(ownership.contains("BucketOwnerEnforced"), "{ownership}");
    let enforced = b"<OwnershipControls><Rule><ObjectOwnership>BucketOwnerEnforced</ObjectOwnership></Rule></OwnershipControls>";
    step(
        "PutBucketOwnershipControls",
        "s3:PutBucketOwnershipControls",
        b,
        "PUT",
        "/bkt?ownershipControls",
        vec![("content-md5", md5_b64(enforced))],
        enforced,
    );
    step(
        "PutBucketTagging",
        "s3:PutBucketTagging",
        b,
        "PUT",
        "/bkt?tagging",
        vec![("content-md5", md5_b64(tag_doc))],
        tag_doc,
    );
    let bucket_tags = step(
        "GetBucketTagging",
        "s3:GetBucketTagging",
        b,
        "GET",
        "/bkt?tagging",
        vec![],
        b"",
    );
    assert!(
        bucket_tags.contains("<Key>a</Key><Value>b</Value>"),
        "{bucket_tags}"
    );
    step(
        "DeleteBucketTagging",
        "s3:PutBucketTagging",
        b,
        "DELETE",
        "/bkt?tagging",
        vec![],
        b"",
    );
    let m = "arn:aws:s3:::bkt/mpu";
    let created = step(
        "CreateMultipartUpload",
        "s3:PutObject",
        m,
        "POST",
        "/bkt/mpu?uploads",
        vec![],
        b"",
    );
    let id = between(&created, "<UploadId>", "</UploadId>").to_owned();
    step(
        "ListMultipartUploads",
        "s3:ListBucketMultipartUploads",
        b,
        "GET",
        "/bkt?uploads",
        vec![],
        b"",
    );
    let part = step(
        "UploadPart",
        "s3:PutObject",
        m,
        "PUT",
        &format!("/bkt/mpu?partNumber=1&uploadId={id}"),
        vec![],
        b"part one",
    );
    let _ = part;
    step(
        "UploadPartCopy (source)",
        "s3:GetObject",
        k,
        "PUT",
        &format!("/bkt/mpu?partNumber=2&uploadId={id}"),
        vec![("x-amz-copy-source", "bkt/dir/k".into())],
        b"",
    );
    let parts = step(
        "ListParts",
        "s3:ListMultipartUploadParts",
        m,
        "GET",
        &format!("/bkt/mpu?uploadId={id}"),
        vec![],
        b"",
    );
    let etag = between(&parts, "<ETag>", "</ETag>").replace("&quot;", "\"");
    let complete = format!("<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>{etag}</ETag></Part></CompleteMultipartUpload>");
    step(
        "CompleteMultipartUpload",
        "s3:PutObject",
        m,
        "POST",
        &format!("/bkt/mpu?uploadId={id}"),
        vec![],
        complete.as_bytes(),
    );
    let other = call(port, "POST", "/bkt/mpu2?uploads", &[], b"").1;
    let other = between(&other, "<UploadId>", "</UploadId>").to_owned();
    step(
        "AbortMultipartUpload",
        "s3:AbortMultipartUpload",
        "arn:aws:s3:::bkt/mpu2",
        "DELETE",
        &format!("/bkt/mpu2?uploadId={other}"),
        vec![],
        b"",
    );
    // What the operations stored reads back.
    assert_eq!(
        call(port, "GET", "/bkt/dir/k", &[], b""),
        (200, "hello".into())
    );
    let range = call(
        port,
        "GET",
        "/bkt/dir/k",
        &[("range", "bytes=1-3".into())],
        b"",
    );
    assert_eq!(range, (206, "ell".into()));
    assert_eq!(
        call(port, "GET", "/bkt/copy", &[], b""),
        (200, "hello".into())
    );
    assert_eq!(
        call(port, "GET", "/bkt/mpu", &[], b""),
        (200, "part one".into())
    );
    let rolled = call(port, "GET", "/bkt?list-type=2&delimiter=/", &[], b"").1;
    assert!(
        rolled.contains("<Prefix>dir/</Prefix>") && rolled.contains("<Key>mpu</Key>"),
        "{rolled}"
    );
    let delete = b"<Delete><Object><Key>copy</Key></Object></Delete>";
    step(
        "DeleteObjects",
        "s3:DeleteObject",
        "arn:aws:s3:::bkt/copy",
        "POST",
        "/bkt?delete",
        vec![("content-md5", md5_b64(delete))],
        delete,
    );
    step(
        "DeleteObject",
        "s3:DeleteObject",
        k,
        "DELETE",
        "/bkt/dir/k",
        vec![],
        b"",
    );
    for key in ["t", "copy2", "mpu"] {
        assert_eq!(
            call(port, "DELETE", &format!("/bkt/{key}"), &[], b"").0,
            204
        );
    }
    step(
        "DeleteBucket",
        "s3:DeleteBucket",
        b,
        "DELETE",
        "/bkt",
        vec![],
        b"",
    );
    // The observe stage saw every request once, after its answer.
    let seen = seen.0.lock().unwrap();
    assert!(seen.len() > 60, "{}", seen.len());
    assert!(seen.contains(&("UploadPartCopy", 403)) && seen.contains(&("UploadPartCopy", 200)));
    assert!(seen.contains(&("CopyObject", 200)) && seen.contains(&("DeleteBucket", 204)));
}

/// Regression (issue 12): a panic in one request stopped the runtime
/// thread and every connection on it. Now it closes that connection only:
/// no answer, the panic counted; another connection opened before it, on
/// the same (single) thread, is still answered, and so are new ones.
#[test]
fn a_panicking_request_closes_its_connection_only() {
    let config = ServiceConfig {
        credentials: Arc::new(Credentials(vec![("AKTEST".into(), "secret".into())])),
        panic_on_key: Some("boom".into()),
        ..ServiceConfig::default()
    };
    let panics = Arc::clone(&config.panics);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        sluice_core::block_on(Driver::Auto, async move {
            let listener = monoio::net::TcpListener::bind("127.0.0.1:0").unwrap();
            tx.send(listener.local_addr().unwrap().port()).unwrap();
            let store = MemoryStorage::new();
            sluice_s3::serve(listener, ThreadContext::new(store, config, 0)).await;
        })
        .unwrap();
    });
    let port = rx.recv().unwrap();
    assert_eq!(call(port, "PUT", "/bkt", &[], b"").0, 200);
    // A connection opened before the panic, kept alive.
    let mut before = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let (status, _) = call(port, "GET", "/bkt/boom", &[], b"");
    assert_eq!(status, 0, "no answer on the panicking connection");
    assert_eq!(panics.load(std::sync::atomic::Ordering::Relaxed), 1);
    // The earlier connection and new ones are still served.
    before
        .write_all(b"GET /nowhere HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = Vec::new();
    before.read_to_end(&mut answer).unwrap();
    assert!(
        answer.starts_with(b"HTTP/1.1 403"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    assert_eq!(call(port, "PUT", "/bkt/fine", &[], b"ok").0, 200);
    assert_eq!(call(port, "GET", "/bkt/fine", &[], b""), (200, "ok".into()));
}
