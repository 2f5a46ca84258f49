//! Request heads: parsed by httparse over the caller's bytes, then checked
//! for the framing, keep-alive and expectation rules of HTTP/1.x.

use crate::error::{Error, Result};
use crate::headers::{self, Headers};
use crate::limits::Limits;
use crate::target;

/// Outcome of parsing input that may still be incomplete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status<T> {
    /// Parsing finished.
    Complete(T),
    /// The input ends before the head does: the caller MUST read more bytes,
    /// append them after the ones it has and parse again from the start.
    Partial,
}

/// HTTP version of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// HTTP/1.0: connections close after each response unless asked otherwise.
    Http10,
    /// HTTP/1.1: connections stay open unless `Connection: close`.
    Http11,
}

/// Request method. S3 uses the first six; any other token is kept as [`Method::Other`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// GET
    Get,
    /// HEAD
    Head,
    /// PUT
    Put,
    /// POST
    Post,
    /// DELETE
    Delete,
    /// OPTIONS
    Options,
    /// Any other method token (see [`RequestHead::method_str`]).
    Other,
}

impl Method {
    fn from_token(token: &str) -> Method {
        match token {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "PUT" => Method::Put,
            "POST" => Method::Post,
            "DELETE" => Method::Delete,
            "OPTIONS" => Method::Options,
            _ => Method::Other,
        }
    }
}

/// How the body of a request is delimited on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body (no Content-Length, no Transfer-Encoding): zero bytes.
    Empty,
    /// `Content-Length: n`.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

/// The aws-chunked content coding: the wire body (delimited by
/// Content-Length) is a sequence of signed or unsigned chunks and trailers.
///
/// It is recognised by `x-amz-content-sha256: STREAMING-...`, which every SDK
/// sends with it. A `Content-Encoding: aws-chunked` without a streaming payload
/// hash is taken as a plain body of Content-Length bytes, as S3 does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AwsChunked {
    /// `x-amz-decoded-content-length`: the payload size once framing is removed.
    pub decoded_length: u64,
}

/// A parsed request head, borrowing from the caller's buffer (`'b`) and
/// header array (`'h`).
#[derive(Debug)]
pub struct RequestHead<'h, 'b> {
    method: Method,
    method_str: &'b str,
    target: &'b str,
    version: Version,
    headers: Headers<'h, 'b>,
    len: usize,
    framing: Framing,
    aws_chunked: Option<AwsChunked>,
    keep_alive: bool,
    expect_continue: bool,
}

impl<'h, 'b> RequestHead<'h, 'b> {
    /// Parses a request head from the start of `buf`.
    ///
    /// `headers` is scratch space for httparse; at most
    /// [`Limits::max_headers`] of it is used. Returns [`Status::Partial`] while
    /// the blank line ending the head has not arrived, unless `buf` already
    /// exceeds [`Limits::max_head_bytes`]. On success the body (if any) starts
    /// at `buf[head.len()..]`.
    ///
    /// # Errors
    /// Malformed syntax, oversized heads and the framing shapes listed in
    /// [`Error`] (duplicate or signed lengths, Content-Length with
    /// Transfer-Encoding, unknown codings).
    pub fn parse(
        buf: &'b [u8],
        headers: &'h mut [httparse::Header<'b>],
        limits: &Limits,
    ) -> Result<Status<Self>> {
        let max_headers = headers.len().min(limits.max_headers);
        let mut req = httparse::Request::new(&mut headers[..max_headers]);
        let len = match req.parse(buf) {
            Ok(httparse::Status::Complete(len)) => len,
            Ok(httparse::Status::Partial) => {
                return if buf.len() > limits.max_head_bytes {
                    Err(Error::HeadTooLarge)
                } else {
                    Ok(Status::Partial)
                };
            }
            Err(e) => return Err(map_httparse(e, buf.len(), limits)),
        };
        if len > limits.max_head_bytes {
            return Err(Error::HeadTooLarge);
        }
        // httparse reports Complete only with method, path and version set.
        let (Some(method_str), Some(target), Some(minor)) = (req.method, req.path, req.version)
        else {
            return Err(Error::MalformedRequestLine);
        };
        let version = if minor == 0 {
            Version::Http10
        } else {
            Version::Http11
        };
        let method = Method::from_token(method_str);
        target::check_form(target, method)?;
        let headers = Headers::new(req.headers);
        let facts = headers::framing_facts(&headers, version)?;
        let head = RequestHead {
            method,
            method_str,
            target,
            version,
            headers,
            len,
            framing: facts.framing,
            aws_chunked: facts.aws_chunked,
            keep_alive: facts.keep_alive,
            expect_continue: facts.expect_continue,
        };
        head.check_body_limit(limits)?;
        Ok(Status::Complete(head))
    }

    fn check_body_limit(&self, limits: &Limits) -> Result<()> {
        let payload = match (self.aws_chunked, self.framing) {
            (Some(aws), _) => aws.decoded_length,
            (None, Framing::Length(n)) => n,
            (None, Framing::Empty | Framing::Chunked) => 0,
        };
        if payload > limits.max_body_bytes {
            return Err(Error::BodyTooLarge);
        }
        Ok(())
    }

    /// The method.
    #[must_use]
    pub fn method(&self) -> Method {
        self.method
    }

    /// The method token exactly as sent.
    #[must_use]
    pub fn method_str(&self) -> &'b str {
        self.method_str
    }

    /// The request target exactly as sent (path and query, still
    /// percent-encoded), as SigV4 canonicalisation needs it.
    #[must_use]
    pub fn target(&self) -> &'b str {
        self.target
    }

    /// The path part of the target, still percent-encoded.
    #[must_use]
    pub fn raw_path(&self) -> &'b str {
        target::split(self.target).0
    }

    /// The query part of the target after `?`, still percent-encoded; empty
    /// when there is none.
    #[must_use]
    pub fn raw_query(&self) -> &'b str {
        target::split(self.target).1
    }

    /// The HTTP version.
    #[must_use]
    pub fn version(&self) -> Version {
        self.version
    }

    /// The header fields.
    #[must_use]
    pub fn headers(&self) -> &Headers<'h, 'b> {
        &self.headers
    }

    /// Length of the head in bytes, blank line included: the body or the
    /// next pipelined request starts at this offset of the parsed buffer.
    #[must_use]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Always false: a complete head has at least a request line.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        false
    }

    /// How the body is delimited on the wire.
    #[must_use]
    pub fn framing(&self) -> Framing {
        self.framing
    }

    /// Present when the body uses the aws-chunked content coding.
    #[must_use]
    pub fn aws_chunked(&self) -> Option<AwsChunked> {
        self.aws_chunked
    }

    /// Whether the connection may carry another request after this one
    /// (HTTP/1.1 unless `Connection: close`; HTTP/1.0 only with `keep-alive`).
    #[must_use]
    pub fn keep_alive(&self) -> bool {
        self.keep_alive
    }

    /// Whether the client waits for `100 Continue` before sending the body.
    /// The server SHOULD authorise the head first and answer an error
    /// without reading the body when it refuses.
    #[must_use]
    pub fn expect_continue(&self) -> bool {
        self.expect_continue
    }
}

fn map_httparse(e: httparse::Error, buf_len: usize, limits: &Limits) -> Error {
    match e {
        // httparse runs out of header slots before it knows the head's end;
        // a head that is too long anyway is reported as such.
        httparse::Error::TooManyHeaders if buf_len > limits.max_head_bytes => Error::HeadTooLarge,
        httparse::Error::TooManyHeaders => Error::TooManyHeaders,
        httparse::Error::HeaderName | httparse::Error::HeaderValue | httparse::Error::NewLine => {
            Error::MalformedHeader
        }
        _ => Error::MalformedRequestLine,
    }
}
