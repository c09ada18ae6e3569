//! OTLP protocol types: traces, metrics, logs and profiles, generated with prost.
//!
//! These types *are* the data model of otlp-rs: every codec, transport and the
//! facade move `ExportTraceServiceRequest` and its kin as they are, with no second
//! model to convert into. They are generated from the `.proto` files in the
//! repository's `proto/` folder, which are wire-compatible with
//! [opentelemetry-proto] **v1.11.0** (same packages, messages, field numbers,
//! types, enums and oneofs), by `cargo xtask codegen`; no `protoc` is needed to
//! build this crate.
//!
//! # What it provides
//! - The OTLP messages under their protobuf package paths: [`common::v1`],
//!   [`resource::v1`], [`trace::v1`], [`metrics::v1`], [`logs::v1`],
//!   [`profiles::v1development`] and [`processcontext::v1development`]
//!   (both development maturity), and the export
//!   requests/responses in [`collector`].
//! - [`google::rpc::Status`], the body of OTLP/HTTP errors, with
//!   [`google::rpc::RetryInfo`] and [`google::rpc::BadRequest`].
//! - [`TraceId`] and [`SpanId`]: parse and format hex, check validity.
//! - Every `bytes` field is a [`bytes::Bytes`], so decoding from a `Bytes` buffer
//!   shares it instead of copying ids and binary values.
//! - Every `string` field of the OTLP messages is a [`ByteString`] (from the
//!   [bytestring] crate): an immutable UTF-8 string backed by [`bytes::Bytes`]
//!   that derefs to `str`. Decoding from a `Bytes` buffer (prost's
//!   `Message::decode`, or `otlp-codec`) slices each string out of the body
//!   after checking it is UTF-8 — no allocation, no copy. Build one with
//!   `"literal".into()` or [`ByteString::from_static`] (no allocation),
//!   `String::into()` (no copy), or [`ByteString::try_from`] a `Bytes`.
//!   `google.rpc.*` keeps `String`.
//! - `Debug` prints enum fields by their value's name (`kind: Server`), as
//!   prost's derive does, and trace and span ids as hex (`trace_id:
//!   5b8efff798038103d269b633813fc60c`), as OTLP/JSON writes them.
//!
//! # Decoded messages keep their body alive
//! A decoded string or id shares the buffer the whole request arrived in, so
//! the buffer lives as long as any of them does (ids read from OTLP/JSON
//! share a 4 KiB buffer of the document's ids instead). Keeping a few strings of a
//! large request (a service name for a cache, say) keeps the whole request's
//! memory: detach them with `ByteString::from(s.to_string())`, and ids with
//! `Bytes::copy_from_slice(&id)`.
//!
//! # Place in the layers
//! Level 0, the bottom of the workspace: it depends on prost, bytes and bytestring only (tonic
//! behind the `grpc` feature). Codecs (`otlp-codec`) sit on top of it.
//!
//! # Feature flags
//! - `grpc`: tonic client and server stubs for the collector services
//!   (`collector::trace::v1::trace_service_client`, `…_server`, and likewise).
//! - `proptest`: [proptest] strategies that generate every message with every
//!   field populated, in `strategy`.
//! - `full`: all of the above.
//!
//! # Example
//! ```
//! use otlp_proto::collector::trace::v1::ExportTraceServiceRequest;
//! use otlp_proto::trace::v1::{ResourceSpans, ScopeSpans, Span};
//! use otlp_proto::{Message, SpanId, TraceId};
//!
//! let trace_id: TraceId = "5B8EFFF798038103D269B633813FC60C".parse()?;
//! let span = Span {
//!     trace_id: trace_id.to_bytes(),
//!     span_id: SpanId::from([1, 2, 3, 4, 5, 6, 7, 8]).to_bytes(),
//!     name: "GET /api/users/{id}".into(),
//!     ..Default::default()
//! };
//! let request = ExportTraceServiceRequest {
//!     resource_spans: vec![ResourceSpans {
//!         scope_spans: vec![ScopeSpans { spans: vec![span], ..Default::default() }],
//!         ..Default::default()
//!     }],
//! };
//!
//! let wire = request.encode_to_vec();
//! let decoded = ExportTraceServiceRequest::decode(wire.as_slice())?;
//! let span = &decoded.resource_spans[0].scope_spans[0].spans[0];
//! assert_eq!(TraceId::try_from(&span.trace_id[..])?.to_string(), "5b8efff798038103d269b633813fc60c");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! [opentelemetry-proto]: https://github.com/open-telemetry/opentelemetry-proto
//! [proptest]: https://docs.rs/proptest
//! [bytestring]: https://docs.rs/bytestring
#![cfg_attr(docsrs, feature(doc_cfg))]

mod debug;
mod id;
#[cfg(feature = "proptest")]
#[cfg_attr(docsrs, doc(cfg(feature = "proptest")))]
pub mod strategy;
mod string_field;

#[rustfmt::skip]
#[allow(
    missing_docs,
    unreachable_pub,
    clippy::all,
    clippy::pedantic,
    rustdoc::broken_intra_doc_links,
    rustdoc::invalid_html_tags,
    rustdoc::bare_urls
)]
mod generated;

pub use bytestring::ByteString;
pub use generated::google;
pub use generated::opentelemetry::proto::{
    collector, common, logs, metrics, processcontext, profiles, resource, trace,
};
pub use id::{IdError, SpanId, TraceId};
pub use prost::{self, Message};
