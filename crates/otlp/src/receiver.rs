//! One receiver, every transport: OTLP/gRPC, OTLP/HTTP and OTLP over
//! WebSocket listeners feeding one [`Sink`].
//!
//! ```no_run
//! # async fn example(sink: impl otlp::transport::Sink + Clone) -> Result<(), otlp::receiver::ReceiverError> {
//! use otlp::Receiver;
//!
//! let receiver = Receiver::builder()
//!     .grpc("127.0.0.1:4317")
//!     .http("127.0.0.1:4318")
//!     .websocket("/v1/ws") // on the HTTP port
//!     .bearer_token("s3cret")
//!     .start(sink)
//!     .await?;
//! println!("gRPC on {:?}", receiver.grpc_addr());
//! // ... later: stop accepting, answer what is in flight.
//! receiver.shutdown().await;
//! # Ok(())
//! # }
//! ```

use std::error::Error as StdError;
use std::net::SocketAddr;

use otlp_transport::Sink;

/// Why a [`Receiver`] could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReceiverError {
    /// Neither a gRPC nor an HTTP address was given.
    #[error("no listener: give a gRPC or an HTTP address (or both)")]
    NoListener,
    /// A WebSocket path without an HTTP listener to mount it on.
    #[error("OTLP over WebSocket is served on the HTTP listener: give an HTTP address too")]
    WebSocketWithoutHttp,
    /// The WebSocket path does not start with `/`.
    #[error("the WebSocket path {0:?} must start with '/'")]
    InvalidPath(String),
    /// A transport needed by the settings is not compiled in.
    #[error(
        "OTLP/{transport} is not compiled in: enable the `{feature}` feature of the `otlp` crate"
    )]
    NotBuilt {
        /// The transport.
        transport: &'static str,
        /// The feature that brings it in.
        feature: &'static str,
    },
    /// The TLS settings could not be used.
    #[error("TLS: {0}")]
    Tls(String),
    /// A listener could not be bound.
    #[error(
        "cannot listen for OTLP/{transport} on {addr}: {source} (is another collector running there?)"
    )]
    Bind {
        /// The transport.
        transport: &'static str,
        /// The address asked for.
        addr: String,
        /// What went wrong.
        #[source]
        source: Box<dyn StdError + Send + Sync>,
    },
}

/// Settings of a [`Receiver`]: which listeners, and what they share.
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `start` is called"]
pub struct ReceiverBuilder {
    grpc: Option<String>,
    http: Option<String>,
    websocket: Option<String>,
    bearer_token: Option<String>,
    max_request_size: usize,
    tls: Option<(Vec<u8>, Vec<u8>)>,
    client_ca: Option<Vec<u8>>,
}

impl Default for ReceiverBuilder {
    fn default() -> Self {
        Self {
            grpc: None,
            http: None,
            websocket: None,
            bearer_token: None,
            max_request_size: DEFAULT_MAX_REQUEST_SIZE,
            tls: None,
            client_ca: None,
        }
    }
}

/// The default request limit after decompression: 4 MiB, the Collector's gRPC
/// default (the HTTP and WebSocket listeners get the same, so that a request
/// is judged alike whatever it came by).
pub const DEFAULT_MAX_REQUEST_SIZE: usize = 4 << 20;

impl ReceiverBuilder {
    /// Listens for OTLP/gRPC on `addr` (e.g. `127.0.0.1:4317`).
    pub fn grpc(mut self, addr: impl Into<String>) -> Self {
        self.grpc = Some(addr.into());
        self
    }

    /// Listens for OTLP/HTTP (HTTP/1.1 and h2c) on `addr` (e.g. `127.0.0.1:4318`).
    pub fn http(mut self, addr: impl Into<String>) -> Self {
        self.http = Some(addr.into());
        self
    }

    /// Serves OTLP over WebSocket at `path` on the HTTP listener.
    pub fn websocket(mut self, path: impl Into<String>) -> Self {
        self.websocket = Some(path.into());
        self
    }

    /// Accepts only requests with `Authorization: Bearer <token>`, on every
    /// listener.
    pub fn bearer_token(mut self, token: impl Into<String>) -> Self {
        self.bearer_token = Some(token.into());
        self
    }

    /// The largest request accepted, in bytes after decompression (default
    /// [`DEFAULT_MAX_REQUEST_SIZE`]).
    pub fn max_request_size(mut self, bytes: usize) -> Self {
        self.max_request_size = bytes;
        self
    }

    /// Serves TLS on every listener with this certificate chain and key (PEM).
    pub fn tls(mut self, cert_chain_pem: impl Into<Vec<u8>>, key_pem: impl Into<Vec<u8>>) -> Self {
        self.tls = Some((cert_chain_pem.into(), key_pem.into()));
        self
    }

    /// Requires client certificates signed by this CA (PEM): mutual TLS.
    pub fn client_ca(mut self, ca_pem: impl Into<Vec<u8>>) -> Self {
        self.client_ca = Some(ca_pem.into());
        self
    }

    /// Binds every listener and starts serving `sink`.
    pub async fn start<S: Sink + Clone>(self, sink: S) -> Result<Receiver, ReceiverError> {
        if self.grpc.is_none() && self.http.is_none() {
            return Err(ReceiverError::NoListener);
        }
        if self.websocket.is_some() && self.http.is_none() {
            return Err(ReceiverError::WebSocketWithoutHttp);
        }
        if let Some(path) = &self.websocket
            && !path.starts_with('/')
        {
            return Err(ReceiverError::InvalidPath(path.clone()));
        }
        if self.client_ca.is_some() && self.tls.is_none() {
            return Err(ReceiverError::Tls(
                "a client CA (mutual TLS) needs a server certificate and key too".into(),
            ));
        }
        let grpc = match &self.grpc {
            Some(addr) => Some(self.start_grpc(addr, sink.clone()).await?),
            None => None,
        };
        let (http, websocket) = match &self.http {
            Some(addr) => {
                let (http, websocket) = self.start_http(addr, sink).await?;
                (Some(http), websocket)
            }
            None => (None, None),
        };
        Ok(Receiver {
            grpc,
            http,
            websocket,
        })
    }

    #[cfg(feature = "grpc")]
    async fn start_grpc<S: Sink>(
        &self,
        addr: &str,
        sink: S,
    ) -> Result<Listener<otlp_grpc::ServerHandle>, ReceiverError> {
        let mut builder = otlp_grpc::Server::builder().max_request_size(self.max_request_size);
        if let Some(token) = &self.bearer_token {
            builder = builder.bearer_token(token.clone());
        }
        if self.tls.is_some() {
            builder = grpc_tls(builder, self)?;
        }
        let server = builder.bind(addr).await.map_err(|e| ReceiverError::Bind {
            transport: "gRPC",
            addr: addr.to_owned(),
            source: e.into(),
        })?;
        let local_addr = server.local_addr();
        Ok(Listener {
            handle: server.spawn(sink),
            local_addr,
        })
    }

    #[cfg(not(feature = "grpc"))]
    async fn start_grpc<S: Sink>(
        &self,
        _addr: &str,
        _sink: S,
    ) -> Result<Listener<Never>, ReceiverError> {
        Err(ReceiverError::NotBuilt {
            transport: "gRPC",
            feature: "grpc",
        })
    }

    #[cfg(feature = "http")]
    async fn start_http<S: Sink + Clone>(
        &self,
        addr: &str,
        sink: S,
    ) -> Result<(Listener<otlp_http::ServerHandle>, Option<WebSocket>), ReceiverError> {
        let mut builder = otlp_http::Server::builder().max_request_size(self.max_request_size);
        if let Some(token) = &self.bearer_token {
            builder = builder.bearer_token(token.clone());
        }
        let websocket = match &self.websocket {
            #[cfg(feature = "ws")]
            Some(path) => {
                let (upgrade, websocket) = self.websocket_upgrade(path, sink.clone());
                builder = builder.route(path.clone(), upgrade);
                Some(websocket)
            }
            #[cfg(not(feature = "ws"))]
            Some(_) => {
                return Err(ReceiverError::NotBuilt {
                    transport: "WebSocket",
                    feature: "ws",
                });
            }
            None => None,
        };
        if self.tls.is_some() {
            builder = http_tls(builder, self)?;
        }
        let server = builder.bind(addr).await.map_err(|e| ReceiverError::Bind {
            transport: "HTTP",
            addr: addr.to_owned(),
            source: e.into(),
        })?;
        let local_addr = server.local_addr();
        Ok((
            Listener {
                handle: server.spawn(sink),
                local_addr,
            },
            websocket,
        ))
    }

    #[cfg(not(feature = "http"))]
    async fn start_http<S: Sink + Clone>(
        &self,
        _addr: &str,
        _sink: S,
    ) -> Result<(Listener<Never>, Option<WebSocket>), ReceiverError> {
        Err(ReceiverError::NotBuilt {
            transport: "HTTP",
            feature: "http",
        })
    }

    #[cfg(all(feature = "http", feature = "ws"))]
    fn websocket_upgrade<S: Sink>(&self, path: &str, sink: S) -> (otlp_ws::Upgrade, WebSocket) {
        let mut settings = otlp_ws::Settings::default()
            .path(path)
            .max_message_size(self.max_request_size);
        if let Some(token) = &self.bearer_token {
            settings = settings.bearer_token(token.clone());
        }
        let upgrade = otlp_ws::Upgrade::new(sink, settings);
        let websocket = WebSocket {
            upgrade: upgrade.clone(),
            path: path.to_owned(),
        };
        (upgrade, websocket)
    }
}

#[cfg(all(feature = "grpc", feature = "tls"))]
fn grpc_tls(
    builder: otlp_grpc::ServerBuilder,
    settings: &ReceiverBuilder,
) -> Result<otlp_grpc::ServerBuilder, ReceiverError> {
    let Some((cert, key)) = &settings.tls else {
        return Ok(builder);
    };
    let mut builder = builder.tls(cert, key);
    if let Some(ca) = &settings.client_ca {
        builder = builder.client_ca(ca);
    }
    Ok(builder)
}

#[cfg(all(feature = "grpc", not(feature = "tls")))]
fn grpc_tls(
    _: otlp_grpc::ServerBuilder,
    _: &ReceiverBuilder,
) -> Result<otlp_grpc::ServerBuilder, ReceiverError> {
    Err(ReceiverError::NotBuilt {
        transport: "gRPC over TLS",
        feature: "tls",
    })
}

#[cfg(all(feature = "http", feature = "tls"))]
fn http_tls(
    builder: otlp_http::ServerBuilder,
    settings: &ReceiverBuilder,
) -> Result<otlp_http::ServerBuilder, ReceiverError> {
    let Some((cert, key)) = &settings.tls else {
        return Ok(builder);
    };
    let config = otlp_http::tls::server_config(cert, key, settings.client_ca.as_deref())
        .map_err(|e| ReceiverError::Tls(e.to_string()))?;
    Ok(builder.tls(config))
}

#[cfg(all(feature = "http", not(feature = "tls")))]
fn http_tls(
    _: otlp_http::ServerBuilder,
    _: &ReceiverBuilder,
) -> Result<otlp_http::ServerBuilder, ReceiverError> {
    Err(ReceiverError::NotBuilt {
        transport: "HTTP over TLS",
        feature: "tls",
    })
}

/// Stands for a listener type whose transport is not compiled in.
#[derive(Debug)]
#[allow(dead_code)]
enum Never {}

#[derive(Debug)]
struct Listener<H> {
    #[cfg_attr(not(any(feature = "grpc", feature = "http")), allow(dead_code))]
    handle: H,
    local_addr: SocketAddr,
}

/// The WebSocket endpoint mounted on the HTTP listener.
#[derive(Debug)]
struct WebSocket {
    #[cfg(all(feature = "http", feature = "ws"))]
    upgrade: otlp_ws::Upgrade,
    path: String,
}

#[cfg(feature = "grpc")]
type GrpcHandle = otlp_grpc::ServerHandle;
#[cfg(not(feature = "grpc"))]
type GrpcHandle = Never;
#[cfg(feature = "http")]
type HttpHandle = otlp_http::ServerHandle;
#[cfg(not(feature = "http"))]
type HttpHandle = Never;

/// Running listeners feeding one sink; [`shutdown`](Self::shutdown) drains
/// them.
#[derive(Debug)]
pub struct Receiver {
    grpc: Option<Listener<GrpcHandle>>,
    http: Option<Listener<HttpHandle>>,
    websocket: Option<WebSocket>,
}

impl Receiver {
    /// No listener yet: add them on the builder.
    pub fn builder() -> ReceiverBuilder {
        ReceiverBuilder::default()
    }

    /// Where the gRPC listener listens (the port chosen when `:0` was asked).
    pub fn grpc_addr(&self) -> Option<SocketAddr> {
        self.grpc.as_ref().map(|l| l.local_addr)
    }

    /// Where the HTTP listener listens.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http.as_ref().map(|l| l.local_addr)
    }

    /// The WebSocket path on the HTTP listener, when there is one.
    pub fn websocket_path(&self) -> Option<&str> {
        self.websocket.as_ref().map(|w| w.path.as_str())
    }

    /// Stops accepting and answers every call in flight, on every listener
    /// (WebSocket connections, which outlive the HTTP drain, included).
    /// Returns what did not stop cleanly, in words, if anything.
    pub async fn shutdown(self) -> Vec<String> {
        #[cfg_attr(not(any(feature = "grpc", feature = "http")), allow(unused_mut))]
        let mut problems = Vec::new();
        #[cfg(feature = "grpc")]
        if let Some(grpc) = self.grpc
            && let Err(error) = grpc.handle.shutdown().await
        {
            problems.push(format!("the gRPC listener stopped with an error: {error}"));
        }
        #[cfg(feature = "http")]
        if let Some(http) = self.http
            && let Err(error) = http.handle.shutdown().await
        {
            problems.push(format!("the HTTP listener stopped with an error: {error}"));
        }
        #[cfg(all(feature = "http", feature = "ws"))]
        if let Some(websocket) = self.websocket
            && !websocket.upgrade.shutdown().await
        {
            problems.push("some OTLP/WebSocket connections did not close in time".into());
        }
        problems
    }
}
