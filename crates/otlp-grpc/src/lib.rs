//! OTLP/gRPC for otlp-rs: an exporter ([`Client`]) and a receiver ([`Server`])
//! on tonic's HTTP/2 transport.
//!
//! # What it provides
//! - [`Server`]: the trace, metrics, logs and profiles `Export` services and
//!   `grpc.health.v1.Health` on one port. Each request goes to an
//!   [`otlp_transport::Sink`] — decoded, or as the very bytes received
//!   ([`Payload::Encoded`](otlp_transport::Payload::Encoded)) when the sink
//!   [`wants_encoded`](otlp_transport::Sink::wants_encoded) — and the sink's
//!   answer becomes the response: success, partial success, or the status the
//!   OTLP specification gives ([`SinkError`](otlp_transport::SinkError):
//!   RESOURCE_EXHAUSTED with `google.rpc.RetryInfo` for throttling,
//!   UNAVAILABLE, INVALID_ARGUMENT, INTERNAL). Requests are limited after
//!   decompression (4 MiB by default, up to 64 MiB) and decompressed under
//!   that limit, so a decompression bomb is answered RESOURCE_EXHAUSTED
//!   without being inflated. `grpc-encoding` gzip, deflate, zstd and snappy
//!   are accepted (as compiled in) and advertised in `grpc-accept-encoding`;
//!   an optional bearer token (UNAUTHENTICATED otherwise), TLS and mutual TLS,
//!   HTTP/2 stream limits, and a graceful shutdown that answers every call in
//!   flight.
//! - [`Client`]: an [`ExportService`](otlp_transport::ExportService) that sends
//!   [`Encoded`](otlp_transport::Encoded) protobuf payloads as they are —
//!   compressed or not, never decoded or re-encoded — as unary `Export`
//!   calls, round-robin over several connections to each of several
//!   endpoints, with a limit on calls in flight, a per-call deadline
//!   (`grpc-timeout`), custom metadata, a bearer token, keepalive, TLS and
//!   mutual TLS, and forward proxies (`HTTPS_PROXY` / `HTTP_PROXY` /
//!   `NO_PROXY` or [`ClientBuilder::proxy`]: a `CONNECT` tunnel, as gRPC
//!   clients do). Every failure is classified by
//!   [`ExportError::from_grpc_code`](otlp_transport::ExportError::from_grpc_code):
//!   retryable, throttled with the `RetryInfo` delay, or permanent; a partial
//!   success is an [`Outcome`](otlp_transport::Outcome), never an error.
//!
//! # Streaming extension
//! Not part of OTLP: `otlprs.stream.v1.ExportStream/Export`
//! (`proto/otlprs/stream/v1/stream.proto`), one long-lived bidirectional
//! stream per signal. Enabled on the client by
//! [`ClientBuilder::streaming`]`(window)`; every [`Server`] serves it.
//! - The client sends `StreamRequest { sequence, signal, request,
//!   compression }`: `request` is the OTLP export request exactly as the
//!   [`Encoded`](otlp_transport::Encoded) payload holds it (protobuf, with its
//!   own compression), written to the wire without a copy; the gRPC messages
//!   of the stream themselves are not compressed.
//! - The server hands each request to the sink like a unary call and answers
//!   `StreamAck { sequence, code, message, rejected, retry_delay_nanos }`,
//!   one per request, in the order received: code 0 with a partial success,
//!   or the gRPC code (and `RetryInfo` delay) a unary call would have got —
//!   so the client classifies acks exactly like unary statuses. A bad request
//!   is answered in its ack and the stream goes on; only a message that is
//!   not a `StreamRequest` ends the stream (INVALID_ARGUMENT).
//! - Backpressure: the client keeps at most `window` requests unacknowledged
//!   per stream; further exports wait for an ack. The server handles one
//!   request of a stream at a time.
//! - Fallback: a server without the service answers UNIMPLEMENTED when the
//!   stream opens; the client remembers it and sends unary `Export` calls.
//! - When a stream ends (server shutdown: after the request in hand, with
//!   UNAVAILABLE; connection loss), the requests awaiting acks fail
//!   retryable, and the next export opens a new stream. Authentication is
//!   checked when the stream opens.
//!
//! # Design: our own message framing on tonic's transport
//! tonic's generated services decode with `tonic::codec`, which knows only
//! gzip, deflate and zstd (a `snappy` call is refused before the service sees
//! it), applies its own size limit before our decompression, and copies every
//! message into its buffer. The OTLP services here are instead plain tower
//! services mounted on `tonic::transport::Server` (which still provides
//! HTTP/2, TLS, stream limits, `grpc-timeout`, health and graceful drain);
//! they read the body under the limit, split the five-byte gRPC prefix off
//! without copying, and decompress with `otlp-compression`. The client does
//! the same over tonic `Channel`s, sending the prefix and the payload's own
//! bytes as two chunks. Writing HTTP/2 serving on hyper directly would have
//! repeated what tonic's transport already does well (accept loop, TLS,
//! drain) for no gain: the costs that matter are in the framing, which is
//! ours either way.
//!
//! A relay sink gets compressed bytes as they came: checking their size
//! after decompression would mean decompressing, which is what a relay
//! avoids. The compressed body is still held to the limit, and whoever
//! decodes the payload later bounds the decompression
//! ([`Encoded::decompressed`](otlp_transport::Encoded::decompressed)).
//!
//! # Place in the layers
//! Level 3, one of the transports: on `otlp-transport` (its vocabulary),
//! `otlp-codec` and `otlp-compression`; `otlp-reliability` and the `otlp`
//! facade stack on top of [`Client`] and [`Server`].
//!
//! # Feature flags
//! - `gzip` *(default)*, `deflate`, `zstd`, `snappy`: the `grpc-encoding`s
//!   compiled in (passed through to `otlp-transport` and `otlp-compression`).
//! - `tls`: TLS and mutual TLS with rustls on the ring provider
//!   (`tonic/tls-ring`): [`ServerBuilder::tls`], [`ServerBuilder::client_ca`],
//!   [`ClientBuilder::tls_ca`], [`ClientBuilder::tls_identity`]. Without a
//!   CA, an `https` endpoint is refused at build time unless…
//! - `tls-native-roots`: …the system's root certificates are trusted
//!   (`tonic/tls-native-roots`).
//! - `full`: all of the above.
//!
//! The streaming extension's messages are generated by `cargo xtask codegen`
//! into `src/generated/` (checked in).
//!
//! # Example
//! ```
//! use std::sync::atomic::{AtomicUsize, Ordering};
//! use std::sync::Arc;
//!
//! use otlp_compression::Compression;
//! use otlp_grpc::{Client, Server};
//! use otlp_transport::{ExportRequest, Outcome, Payload, Sink, SinkError};
//!
//! /// Counts the spans it receives.
//! #[derive(Clone, Default)]
//! struct Count(Arc<AtomicUsize>);
//!
//! #[async_trait::async_trait]
//! impl Sink for Count {
//!     async fn export(&self, payload: Payload) -> Result<Outcome, SinkError> {
//!         let request = payload
//!             .into_request(4 << 20)
//!             .map_err(|e| SinkError::InvalidData(e.to_string()))?;
//!         self.0.fetch_add(request.record_count(), Ordering::Relaxed);
//!         Ok(Outcome::Success)
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // A receiver on a free port, counting the spans it gets.
//! let sink = Count::default();
//! let server = Server::builder().bind("127.0.0.1:0").await?.spawn(sink.clone());
//!
//! // An exporter sending gzip-compressed traces to it.
//! let client = Client::builder()
//!     .endpoint(format!("http://{}", server.local_addr()))
//!     .compression(Compression::Gzip)
//!     .build()?;
//! let traces = otlp_datagen::Generator::new(7).resources(1).spans(10).traces();
//! let outcome = client.export(ExportRequest::from(traces)).await?;
//! assert_eq!(outcome, Outcome::Success);
//! assert_eq!(sink.0.load(Ordering::Relaxed), 10);
//!
//! server.shutdown().await?;
//! # Ok(())
//! # }
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]

mod body;
mod client;
mod server;
mod stream;
#[cfg(feature = "tls")]
mod tls;
mod wire;

pub use client::{
    BuildError, Client, ClientBuilder, DEFAULT_CONCURRENCY_LIMIT, DEFAULT_CONNECTIONS,
    DEFAULT_MAX_RESPONSE_SIZE, DEFAULT_TIMEOUT,
};
pub use server::{
    BindError, DEFAULT_DRAIN_TIMEOUT, DEFAULT_MAX_REQUEST_SIZE, MAX_REQUEST_SIZE_LIMIT, ServeError,
    Server, ServerBuilder, ServerHandle,
};
