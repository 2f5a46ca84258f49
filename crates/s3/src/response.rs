//! An answer before it is written: status, headers and body, and the
//! helpers that build the common ones (XML documents, S3 error documents).

use sluice_core::{BufPool, Chunk, ObjectInfo};

use crate::error::S3Error;
use crate::storage::ObjectRead;
use crate::xml;

/// A response before it is written. `R` is the backend's object reader; an
/// answer that carries no object has none (`NoObject`).
pub(crate) struct Response<R = NoObject> {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Body<R>,
}

pub(crate) enum Body<R = NoObject> {
    Empty,
    Bytes(Vec<u8>),
    /// An object (range already set on the reader).
    Object {
        reader: R,
        len: u64,
    },
    /// A HEAD answer: the length a GET would send, and no body.
    HeadOnly(u64),
}

/// The reader of answers that carry no object: there is no value of it.
pub(crate) enum NoObject {}

impl ObjectRead for NoObject {
    fn info(&self) -> &ObjectInfo {
        match *self {}
    }

    fn set_range(&mut self, _start: u64, _end: u64) {
        match *self {}
    }

    async fn next_chunk(&mut self, _pool: &BufPool) -> sluice_core::Result<Option<Chunk>> {
        match *self {}
    }
}

impl Response {
    /// The same answer, typed for a backend's reader.
    pub(crate) fn widen<R>(self) -> Response<R> {
        Response {
            status: self.status,
            headers: self.headers,
            body: match self.body {
                Body::Empty => Body::Empty,
                Body::Bytes(b) => Body::Bytes(b),
                Body::HeadOnly(n) => Body::HeadOnly(n),
                Body::Object { reader, .. } => match reader {},
            },
        }
    }
}

pub(crate) fn response(status: u16) -> Response {
    Response {
        status,
        headers: Vec::new(),
        body: Body::Empty,
    }
}

pub(crate) fn xml_response(status: u16, body: String) -> Response {
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
        tracing::warn!(request_id = id, resource, detail = %detail, "internal error");
    }
    let mut r = response(err.status());
    r.headers
        .push(("Content-Type".into(), "application/xml".into()));
    r.body = Body::Bytes(error_body(err, resource, id));
    r
}

/// An error of an STS call, in STS's own document (the query protocol's
/// `ErrorResponse`, which SDKs' STS clients parse).
pub(crate) fn sts_error_response(err: &S3Error, id: &str) -> Response {
    let mut x = xml::Xml::new();
    x.root_ns("ErrorResponse", "https://sts.amazonaws.com/doc/2011-06-15/")
        .open("Error")
        .leaf(
            "Type",
            if err.status() >= 500 {
                "Receiver"
            } else {
                "Sender"
            },
        )
        .leaf("Code", err.code.as_str())
        .leaf("Message", &err.message)
        .close("Error")
        .leaf("RequestId", id)
        .close("ErrorResponse");
    let mut r = response(err.status());
    r.headers.push(("Content-Type".into(), "text/xml".into()));
    r.body = Body::Bytes(x.finish().into_bytes());
    r
}

/// The error document as a response body.
pub(crate) fn error_body(err: &S3Error, resource: &str, id: &str) -> Vec<u8> {
    let detail = err.detail.as_ref().map(|(n, v)| (*n, v.as_str()));
    xml::error(err.code.as_str(), &err.message, detail, resource, id).into_bytes()
}
