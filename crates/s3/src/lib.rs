//! sluice-s3: the S3 protocol of sluice. It joins sluice-http (framing),
//! sluice-sigv4 (authentication and integrity) and sluice-core (the store):
//! a request passes through named stages (read head and write response in
//! `conn`; route, authenticate, authorize and run in `dispatch`), and each
//! operation lives in the module of its family under `ops/`. Authorization
//! and observation are hooks ([`Authorizer`], [`Observer`]) set in
//! [`ServiceConfig`]; the connection runs over any [`Stream`].
//!
//! It is not the server: the `sluice` binary (sluice-server) owns
//! listeners, processes and configuration files.
//!
//! ```no_run
//! use std::sync::Arc;
//! use sluice_core::{Driver, Store, StoreOptions};
//! use sluice_s3::{Credentials, RootOnly, ServiceConfig, ThreadContext};
//!
//! let store = Store::open("/srv/s3", StoreOptions::default()).unwrap();
//! let config = ServiceConfig {
//!     credentials: std::sync::Arc::new(Credentials(vec![("AKEXAMPLE".into(), "secret".into())])),
//!     authorizer: Arc::new(RootOnly),
//!     ..ServiceConfig::default()
//! };
//! sluice_core::block_on(Driver::Auto, async move {
//!     let listener = monoio::net::TcpListener::bind("127.0.0.1:9000").unwrap();
//!     sluice_s3::serve(listener, ThreadContext::new(store, config, 0)).await;
//! })
//! .unwrap();
//! ```
#![deny(missing_docs)]
// Every value from a request is checked: no arithmetic that can overflow
// or panic (issue 12). Tests may compute freely.
#![cfg_attr(not(test), deny(clippy::arithmetic_side_effects))]

mod access;
mod bytes;
mod conn;
mod context;
mod dispatch;
mod document;
mod error;
mod file_store;
mod grant;
mod memory;
mod observe;
mod ops;
mod params;
mod request;
mod response;
mod route;
mod sse;
mod storage;
mod time;
mod tls;
mod upload;
mod xml;

#[doc(hidden)]
pub mod fuzzing;

pub use access::{
    action_names, arn, Authorizer, ConditionContext, ExistingTags, Identity, Permission, RootOnly,
};
pub use bytes::{BytesReader, BytesWriter, Publish};
pub use conn::{serve, serve_connection, serve_tls};
pub use context::{
    AlwaysReady, BucketPolicyStore, Credentials, Health, PublicAccessBlock, SecretStore,
    ServiceConfig, SessionIssuer, Stats, TemporaryCredentials, ThreadContext,
};
pub use error::{S3Error, S3ErrorCode};
pub use memory::{MemoryPartWriter, MemoryStorage};
pub use observe::{Observer, RequestEvent, Unobserved};
pub use ops::tagging::tag_pairs;
pub use request::Stream;
pub use route::{route, Op, Route, ALL_OPS};
/// rustls, as sluice-s3 uses it (for building a [`TlsSource`]).
pub use rustls;
pub use sse::{rewrap, FixedKeys, MasterKeys, MAC_KEY_HEADER, SSE_HEADER};
pub use storage::{BodyWrite, HeaderUpdate, NoParts, ObjectRead, ObjectWrite, PartWrite, Storage};
pub use time::{http_date, iso8601, iso8601_into};
pub use tls::{server_config as tls_server_config, FixedTls, TlsSource};
