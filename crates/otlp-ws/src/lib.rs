//! OTLP over WebSocket: one long-lived connection carrying many export
//! requests, each acknowledged by id — for browsers and for real-time paths
//! where a request per HTTP round trip costs too much.
//!
//! WebSocket is not part of the OTLP specification, so the framing is ours;
//! `docs/websocket.md` in the repository describes it in full. In short:
//! - the codec is negotiated once, with `Sec-WebSocket-Protocol`:
//!   `otlp.v1.protobuf`, `otlp.v1.json`, `otlp.v1.msgpack`, `otlp.v1.cbor`;
//! - a request is a binary message: a 12-byte header (type, signal,
//!   compression, request id) and the payload; on `otlp.v1.json` a text
//!   message `{"id":…,"signal":"traces","payload":{…}}` works too, so a
//!   browser needs no binary tooling;
//! - every request id is acknowledged with OTLP's outcome vocabulary:
//!   success, partial success (rejected count, message), or an error that is
//!   retryable, throttled (with a delay) or permanent;
//! - faults close the connection with a code that names them
//!   ([`close`]).
//!
//! # What it provides
//! - [`Client`]: an [`ExportService`](otlp_transport::ExportService) on one
//!   connection, opened lazily, with keepalive pings, reconnection with
//!   exponential backoff and jitter, every unacknowledged request sent again
//!   after a reconnect (at-least-once delivery), a bounded in-flight window,
//!   a clean close, and forward proxies (`HTTPS_PROXY` / `HTTP_PROXY` /
//!   `NO_PROXY` or [`ClientBuilder::proxy`]: a `CONNECT` tunnel).
//! - [`Upgrade`]: a `tower::Service` over hyper upgrade requests, to serve
//!   `/v1/ws` on another server's listener (the OTLP/HTTP one), with auth at
//!   upgrade (bearer header or `?token=`), an `Origin` allow-list, a message
//!   size limit, an idle timeout, backpressure (a bounded number of requests
//!   in flight per connection; past it the connection is not read) and a
//!   drain on shutdown.
//! - [`Server`]: the same on a listener of its own, shaped like the other
//!   transports' servers (`builder`, `bind`, `serve`, `spawn`).
//!
//! # Place in the layers
//! Level 3, one of the transports: above `otlp-transport`, `otlp-codec` and
//! `otlp-compression`; below the reliability layers and the `otlp` facade.
//!
//! # Feature flags
//! Protobuf and uncompressed payloads are always there.
//! - `json` (and JSON text frames), `msgpack`, `cbor`: the codecs.
//! - `gzip`, `deflate`, `zstd`, `snappy`, `lz4`: the compressions.
//! - `tls`: `wss://` for [`Client`] and [`Server`] on rustls, with [`tls`]
//!   to build the settings from PEM; `tls-native-roots`: a `wss://`
//!   endpoint given no settings trusts the system's root certificates.
//! - `full`: all of the above.
//!
//! # Example
//! ```
//! use async_trait::async_trait;
//! use otlp_proto::collector::trace::v1::ExportTraceServiceRequest;
//! use otlp_transport::{ExportRequest, Outcome, Payload, Sink, SinkError};
//! use otlp_ws::{Client, Server};
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
//!     .endpoint(format!("ws://{}/v1/ws", server.local_addr()))
//!     .build()?;
//! let request = ExportRequest::from(ExportTraceServiceRequest::default());
//! assert_eq!(client.export(request).await?, Outcome::Success);
//! client.close().await;
//! server.shutdown().await?;
//! # Ok(())
//! # }
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]

mod client;
pub mod close;
mod frame;
mod server;

/// TLS and mTLS settings from PEM for `wss://` (feature `tls`).
#[cfg(feature = "tls")]
#[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
pub mod tls {
    #[cfg(feature = "tls-native-roots")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls-native-roots")))]
    pub use otlp_transport::tls::system_client_config;
    pub use otlp_transport::tls::{TlsError, client_config, server_config};
}

pub use client::{BuildError, Client, ClientBuilder, ClientStats, DEFAULT_ENDPOINT};
pub use server::{
    BindError, DEFAULT_MAX_MESSAGE_SIZE, DEFAULT_PATH, ServeError, Server, ServerBuilder,
    ServerHandle, ServerStats, Settings, Upgrade,
};
