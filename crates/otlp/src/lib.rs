//! The OpenTelemetry Protocol (OTLP) for Rust: the facade of otlp-rs, the
//! crate applications depend on.
//!
//! # What it provides
//! - [`config`]: where and how each signal is exported —
//!   [`ExporterConfig`] from a builder or from the standard
//!   `OTEL_EXPORTER_OTLP_*` environment variables (generic and per signal,
//!   exactly by the specification's rules, with errors naming the variable).
//! - [`batch`]: a [`BatchProcessor`] that merges many small requests into
//!   batches by size and delay (adaptive if asked), hands them to any
//!   transport client ([`ExportService`](transport::ExportService)), and
//!   counts every record it drops; `flush` and `shutdown` are async and safe
//!   on a current-thread runtime. It is also a receiver's
//!   [`Sink`](transport::Sink), the front of a relay. Also [`batch::split`]
//!   and [`batch::merge`] for requests of every signal.
//! - `exporter` (features `grpc`, `http`): an `Exporter` built from an
//!   [`ExporterConfig`] (or straight from the environment with
//!   `Exporter::from_env`): the protocol's transport client (gRPC, HTTP,
//!   WebSocket), retry with the Collector's defaults, and a batch processor
//!   in front; optionally a circuit breaker, attempt timeouts and failover
//!   endpoints, their state in `Exporter::reliability`.
//! - [`receiver`]: a [`Receiver`] — OTLP/gRPC (feature `grpc`), OTLP/HTTP
//!   (feature `http`) and OTLP over WebSocket on the HTTP port (feature `ws`)
//!   listening together, feeding one sink, with shared auth, TLS and size
//!   limit, and one drain on shutdown.
//! - `sdk` (feature `opentelemetry-sdk`): `SpanExporter`, `LogExporter` and
//!   `MetricExporter` for the OpenTelemetry Rust SDK (`opentelemetry_sdk`'s
//!   exporter traits) over these transports, so an application instrumented
//!   with the SDK switches exporter in one line:
//!   `.with_batch_exporter(otlp::sdk::SpanExporter::from_env()?)`.
//! - `sink` (feature `json`): receiver-side sinks, such as `JsonLinesSink`,
//!   which writes what a receiver accepts as OTLP/JSON lines.
//! - The layers below, re-exported: [`proto`] (the OTLP types), [`codec`],
//!   [`compression`], [`transport`] (signals, payloads, outcomes, errors),
//!   and `reliability` (with `grpc` or `http`: retry policy, breaker, stats).
//!
//! Any transport client plugs into a [`BatchProcessor`] as an export
//! service, and any transport server (or the [`Receiver`]) takes a sink.
//!
//! # Place in the layers
//! Level 5: above the transports and the reliability layers, below the
//! `otlp` command line.
//!
//! # Feature flags
//! - `grpc`, `http`: the transports behind `Exporter` (`otlp-grpc`,
//!   `otlp-http`, with retry from `otlp-reliability`); `tls`: TLS and mTLS
//!   for them (rustls).
//! - `ws`: OTLP over WebSocket (`otlp-ws`): the receiver's WebSocket path on
//!   its HTTP listener, and protocol `ws` for `Exporter`.
//! - `opentelemetry-sdk`: the `sdk` module, exporters for
//!   `opentelemetry_sdk` 0.33 (pulls in `grpc` and `http`).
//!
//! Codecs and compressions, passed through to `otlp-codec`,
//! `otlp-compression` and the transports; protobuf and no compression are
//! always there.
//! - `json` (default): OTLP/JSON, and the `sink` module's JSON lines.
//! - `msgpack`, `cbor`: MessagePack and CBOR bodies.
//! - `gzip` (default), `deflate`, `zstd`, `snappy`: compressions.
//! - `lz4`: the LZ4 frame format, over OTLP/HTTP and WebSocket (gRPC has no
//!   `lz4` grpc-encoding, so `otlp-grpc` is not given it).
//! - `full`: all of the above, transports and TLS included.
//!
//! # Example
//! ```
//! use std::collections::HashMap;
//! use otlp::transport::{Encoded, ExportError, ExportRequest, Outcome, Signal};
//! use otlp::{BatchProcessor, ExporterConfig};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // What `OTEL_EXPORTER_OTLP_*` would say (use `ExporterConfig::from_env()`).
//! let env = HashMap::from([
//!     ("OTEL_EXPORTER_OTLP_ENDPOINT", "https://collector.example.com"),
//!     ("OTEL_EXPORTER_OTLP_HEADERS", "api-key=abc"),
//! ]);
//! let config = ExporterConfig::from_lookup_for(Signal::Logs, |name| {
//!     env.get(name).map(|value| value.to_string())
//! })?;
//! assert_eq!(config.endpoint().to_string(), "https://collector.example.com/v1/logs");
//!
//! // Any transport client is a `tower::Service<Encoded>`; this one accepts all.
//! let client = tower::service_fn(|_: Encoded| async { Ok::<_, ExportError>(Outcome::Success) });
//! let processor = BatchProcessor::builder().build(client, config.wire_format())?;
//! for seed in 0..4 {
//!     let logs = otlp_datagen::Generator::new(seed).records(200).logs();
//!     processor.submit(ExportRequest::from(logs))?;
//! }
//! processor.shutdown().await?;
//! assert_eq!(processor.stats().exported_records, 800);
//! assert_eq!(processor.stats().batches, 2); // 512 + 288
//! # Ok(())
//! # }
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod batch;
pub mod config;
#[cfg(any(feature = "grpc", feature = "http"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "grpc", feature = "http"))))]
pub mod exporter;
pub mod receiver;
#[cfg(feature = "opentelemetry-sdk")]
#[cfg_attr(docsrs, doc(cfg(feature = "opentelemetry-sdk")))]
pub mod sdk;
#[cfg(feature = "json")]
#[cfg_attr(docsrs, doc(cfg(feature = "json")))]
pub mod sink;

pub use batch::BatchProcessor;
pub use config::{ExporterConfig, Protocol};
pub use otlp_codec as codec;
pub use otlp_compression as compression;
pub use otlp_proto as proto;
/// The reliability layers (`otlp-reliability`): the retry policy, breaker
/// settings and stats the exporters take and report.
#[cfg(any(feature = "grpc", feature = "http"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "grpc", feature = "http"))))]
pub use otlp_reliability as reliability;
pub use otlp_transport as transport;
pub use receiver::Receiver;
