//! sluice-s3: the S3 protocol of sluice. It joins sluice-http (framing),
//! sluice-sigv4 (authentication and integrity) and sluice-core (the store):
//! routing requests to operations, running them, and answering with the
//! headers and XML that S3 clients expect. The server binary
//! (sluice-server) owns listeners, configuration and processes; this crate
//! owns what happens on one connection.
//!
//! Implemented so far: ListBuckets, CreateBucket, DeleteBucket, HeadBucket,
//! GetBucketLocation, GetBucketVersioning, PutObject (every payload mode,
//! Content-MD5 and flexible checksums), GetObject (Range, conditions,
//! response-* overrides), HeadObject, DeleteObject, ListObjects (v1, v2).
//! Every other operation is answered NotImplemented.
#![deny(missing_docs)]

mod access;
mod conn;
mod cors;
mod error;
mod extras;
mod handlers;
mod multipart;
mod observe;
mod route;
mod time;
mod upload;
mod xml;

#[doc(hidden)]
pub mod fuzzing;

pub use access::{arn, Authorizer, ConditionContext, Identity, Permission, RootOnly};
pub use conn::{serve, serve_connection, Credentials, ServiceConfig, ThreadContext};
pub use error::{S3Error, S3ErrorCode};
pub use observe::{Observer, RequestEvent, Unobserved};
pub use route::{route, Op, Route, ALL_OPS};
pub use time::{http_date, iso8601};
