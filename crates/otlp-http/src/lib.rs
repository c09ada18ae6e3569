//! OTLP/HTTP on hyper: the exporter ([`Client`]) and the receiver
//! ([`Server`]), HTTP/1.1 and HTTP/2, every codec and compression.
//!
//! # What it provides
//! - [`Server`]: one listener serving HTTP/1.1 and h2c, detected per
//!   connection (and TLS with ALPN, feature `tls`), at `/v1/traces`,
//!   `/v1/metrics`, `/v1/logs` and `/v1development/profiles` (configurable).
//!   The codec comes from `Content-Type` (protobuf, OTLP/JSON, MessagePack,
//!   CBOR; 415 otherwise), the compression from `Content-Encoding` (415 when
//!   unknown); bodies are read and decompressed under the size limit (413
//!   past it); the answer is in the request's codec (compressed when
//!   `Accept-Encoding` asks). Statuses follow the OTLP
//!   specification: 200 (with partial success), 400 with a `google.rpc.Status`
//!   on undecodable input, 401 for a wrong bearer token, 404, 405, 413, 415,
//!   429 / 503 with `Retry-After` when the [`Sink`](otlp_transport::Sink)
//!   throttles. `GET /health`, CORS for browsers ([`Cors`]), header-read and
//!   idle timeouts, a connection limit, and a graceful shutdown that drains.
//!   A sink that [`wants_encoded`](otlp_transport::Sink::wants_encoded) gets
//!   the bytes as they came.
//! - [`Client`]: an [`ExportService`](otlp_transport::ExportService) that
//!   POSTs to the signal's URL, built from the base endpoint or per-signal
//!   endpoints exactly as the OTLP exporter specification says, over HTTP/1.1
//!   keep-alive or HTTP/2 (h2c prior knowledge, ALPN over TLS) with a limit on
//!   parallel connections. Answers are classified per OTLP/HTTP: 2xx is an
//!   [`Outcome`](otlp_transport::Outcome) (partial success included, never an
//!   error); 429, 502, 503 and 504 are retryable, honouring `Retry-After` in
//!   seconds or as an HTTP-date; every other status is permanent, with the
//!   `google.rpc.Status` message. Behind a forward proxy (`HTTPS_PROXY`,
//!   `HTTP_PROXY`, `NO_PROXY`, or [`ClientBuilder::proxy`]), plain HTTP/1.1
//!   goes to the proxy in absolute form and everything else through a
//!   `CONNECT` tunnel.
//!
//! # Place in the layers
//! Level 3, one of the transports: above `otlp-transport` (whose vocabulary it
//! speaks), `otlp-codec` and `otlp-compression`; below the reliability layers
//! and the `otlp` facade.
//!
//! # Feature flags
//! Protobuf and uncompressed bodies are always there.
//! - `json`, `msgpack`, `cbor`: the codecs (passed to `otlp-transport`).
//! - `gzip`, `deflate`, `zstd`, `snappy`, `lz4`: the compressions
//!   (`Content-Encoding: lz4` is the LZ4 frame format, as the OpenTelemetry
//!   Collector takes it).
//! - `tls`: TLS and mTLS with rustls (ring provider), see [`tls`].
//! - `full`: all of the above.
//!
//! # Example
//! ```
//! use async_trait::async_trait;
//! use otlp_http::{Client, Server};
//! use otlp_proto::collector::trace::v1::ExportTraceServiceRequest;
//! use otlp_transport::{ExportRequest, Outcome, Payload, Sink, SinkError};
//!
//! struct Print;
//!
//! #[async_trait]
//! impl Sink for Print {
//!     async fn export(&self, payload: Payload) -> Result<Outcome, SinkError> {
//!         println!("got {:?}", payload.signal());
//!         Ok(Outcome::Success)
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let server = Server::builder().bind("127.0.0.1:0").await?.spawn(Print);
//! let client = Client::builder()
//!     .endpoint(format!("http://{}", server.local_addr()))
//!     .build()?;
//! let request = ExportRequest::from(ExportTraceServiceRequest::default());
//! assert_eq!(client.export(request).await?, Outcome::Success);
//! server.shutdown().await?;
//! # Ok(())
//! # }
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]

mod body;
mod client;
mod cors;
mod pool;
mod receive;
mod retry_after;
mod server;
mod status;
#[cfg(feature = "tls")]
#[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
pub mod tls;

pub use client::{
    BuildError, Client, ClientBuilder, DEFAULT_ENDPOINT, DEFAULT_MAX_RESPONSE_SIZE, Protocol,
    USER_AGENT_VALUE,
};
pub use cors::Cors;
pub use server::{
    BindError, DEFAULT_MAX_REQUEST_SIZE, ServeError, Server, ServerBuilder, ServerHandle,
    ServerStats,
};
