//! The transport-neutral vocabulary of otlp-rs: what every transport (gRPC,
//! HTTP, WebSocket) sends, receives and reports, in the same words.
//!
//! # What it provides
//! - [`Signal`]: traces, metrics, logs, profiles, with their HTTP paths and
//!   gRPC methods.
//! - [`ExportRequest`] / [`ExportResponse`]: decoded messages of any signal,
//!   encoded and decoded with any [`Codec`](otlp_codec::Codec).
//! - [`Payload`]: a request either decoded or still [`Encoded`] (body, codec,
//!   compression), so that a relay can forward bytes without decoding them, or
//!   recompress them without decoding when only the compression differs.
//! - [`Outcome`]: success or partial success (rejected count and message),
//!   following the OTLP rules (an all-empty partial success is a success; a
//!   partial success is never retried).
//! - [`ExportError`]: a failed export classified as OTLP says a client must
//!   treat it — [`Retryable`](ErrorKind::Retryable),
//!   [`Throttled`](ErrorKind::Throttled) with the delay the receiver gave, or
//!   [`Permanent`](ErrorKind::Permanent) — from gRPC codes or HTTP statuses.
//! - [`Sink`] and [`SinkError`]: where a receiver puts what it accepted, and
//!   the failures it reports, each mapped to the gRPC code and HTTP status the
//!   specification gives.
//! - [`ExportService`] and [`WireFormat`]: the exporter side. Every transport
//!   client is a `tower::Service<Encoded>` answering an [`Outcome`] or an
//!   [`ExportError`]; payloads are put in the client's wire form once, so the
//!   reliability layers above it never re-encode between attempts.
//!
//! # Place in the layers
//! Level 2: above `otlp-codec` and `otlp-compression`, below the transports
//! (`otlp-grpc`, `otlp-http`, `otlp-ws`) and the reliability layers, which all
//! speak this vocabulary.
//!
//! # Feature flags
//! The codecs and compressions that payloads may use, passed through to
//! `otlp-codec` and `otlp-compression`: `json`, `msgpack`, `cbor`, `gzip`,
//! `deflate`, `zstd`, `snappy`, `lz4`, and `full` for all of them. Protobuf and no
//! compression are always there. `tls` adds [`tls`]: rustls settings from PEM
//! for the transports on rustls; `tls-native-roots` adds client settings
//! trusting the system's root certificates. `proxy` adds [`proxy`]: forward
//! proxies from `HTTPS_PROXY` / `HTTP_PROXY` / `NO_PROXY` and `CONNECT`
//! tunnels, for the transport clients.
//!
//! # Example
//! ```
//! use otlp_codec::Codec;
//! use otlp_compression::{Compression, Encoder};
//! use otlp_proto::collector::trace::v1::ExportTraceServiceRequest;
//! use otlp_transport::{ExportError, ExportRequest, ErrorKind, Payload, Signal};
//!
//! // A relay got protobuf bytes and forwards them as they are.
//! let request = ExportRequest::from(ExportTraceServiceRequest::default());
//! let encoded = Payload::from(request)
//!     .into_encoded(Codec::Protobuf, &Encoder::new(Compression::None), 4 << 20)?;
//! assert_eq!(encoded.signal(), Signal::Traces);
//! let again = Payload::from(encoded.clone())
//!     .into_encoded(Codec::Protobuf, &Encoder::new(Compression::None), 4 << 20)?;
//! assert_eq!(again, encoded);
//!
//! // The peer answered HTTP 503 with `Retry-After: 2`.
//! let error = ExportError::from_http_status(503, "", Some(std::time::Duration::from_secs(2)));
//! assert_eq!(error.kind(), ErrorKind::Throttled);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]

mod client;
mod error;
mod message;
mod payload;
#[cfg(feature = "proxy")]
#[cfg_attr(docsrs, doc(cfg(feature = "proxy")))]
pub mod proxy;
mod signal;
mod sink;
#[cfg(feature = "tls")]
#[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
pub mod tls;

pub use client::{BoxExportService, DEFAULT_MAX_REQUEST_SIZE, ExportService, WireFormat};
pub use error::{ErrorKind, ExportError, SinkError, grpc_code, grpc_code_name};
pub use message::{ExportRequest, ExportResponse, Outcome};
pub use payload::{Encoded, Payload, PayloadError};
pub use signal::{Signal, UnknownSignal};
pub use sink::Sink;
