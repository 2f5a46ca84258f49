//! sluice-http: the HTTP/1.1 layer of sluice, without I/O.
//!
//! It reads bytes the caller hands it and writes response heads into
//! buffers the caller owns, so it can be embedded in any runtime, tested
//! without sockets and fuzzed. It is not a client, does not do HTTP/2, and
//! knows nothing of S3 beyond the aws-chunked body coding and the limits
//! that suit S3.
//!
//! - [`RequestHead::parse`]: a request head over borrowed bytes (httparse),
//!   with the framing rules that refuse request smuggling shapes.
//! - [`BodyDecoder`]: Content-Length, `Transfer-Encoding: chunked` and
//!   aws-chunked bodies as incremental decoders fed input split anywhere,
//!   handing out payload, chunk signatures and trailers as borrowed slices.
//! - [`FormParser`]: `multipart/form-data` bodies (browser POST uploads),
//!   fed in pieces like the body decoders, a file part streamed through.
//! - [`ResponseHead`]: response heads into a caller's buffer.
//! - [`percent_decode`] and [`hex_encode`] with their siblings: the one
//!   percent-decoder and hex codec of sluice, shared by routing, SigV4 and
//!   storage so that all of them read the same name from the same bytes.
//!
//! ```
//! use sluice_http::{BodyDecoder, BodyEvent, Limits, RequestHead, Status};
//!
//! let wire = b"PUT /bucket/key HTTP/1.1\r\nHost: s3\r\nContent-Length: 5\r\n\r\nhello";
//! let limits = Limits::default();
//! let mut fields = [httparse::EMPTY_HEADER; 32];
//! let Status::Complete(head) = RequestHead::parse(wire, &mut fields, &limits).unwrap() else {
//!     unreachable!("the head is complete")
//! };
//! assert_eq!(head.raw_path(), "/bucket/key");
//! let mut body = BodyDecoder::for_head(&head, &limits);
//! let (n, event) = body.decode(&wire[head.len()..]).unwrap();
//! assert_eq!((n, event), (5, Some(BodyEvent::Data(b"hello"))));
//! assert_eq!(body.decode(&[]).unwrap(), (0, Some(BodyEvent::End)));
//! ```
#![deny(missing_docs)]
// Lengths, offsets and counts come from the peer: every sum is checked,
// bounded by construction (and says so), or restructured away.
#![deny(clippy::arithmetic_side_effects)]

mod body;
mod chunked;
mod encoding;
mod error;
pub mod form;
mod head;
mod headers;
mod limits;
mod response;
mod target;

#[doc(hidden)]
pub mod fuzzing;
pub mod proxy;

pub use body::{BodyDecoder, BodyEvent};
pub use chunked::{ChunkedDecoder, CHUNK_SIGNATURE_LEN};
pub use encoding::{
    hex_decode, hex_decode_array, hex_encode, hex_encode32, hex_encode_into, hex_value,
    percent_decode, percent_decode_bytes,
};
pub use error::{Error, Result};
pub use form::{form_boundary, FormEvent, FormParser, PartHead};
pub use head::{AwsChunked, Framing, Method, RequestHead, Status, Version};
pub use headers::{stored_content_encoding, Headers};
pub use limits::*;
pub use response::{reason_phrase, write_chunk_header, ResponseHead, CONTINUE, LAST_CHUNK};
pub use target::{query_pairs, split as split_target};

/// Re-exported so callers can size the header array [`RequestHead::parse`] takes.
pub use httparse;
