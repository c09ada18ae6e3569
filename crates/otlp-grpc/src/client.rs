//! The exporter: OTLP exports as unary gRPC calls over a set of connections.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::header::{AUTHORIZATION, CONTENT_TYPE, TE};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use otlp_codec::Codec;
use otlp_compression::{Compression, Encoder};
use otlp_transport::proxy::{Proxies, ProxyError, TunnelError, Via};
use otlp_transport::{
    Encoded, ExportError, ExportResponse, Outcome, Payload, WireFormat, grpc_code,
};
use tokio::sync::Semaphore;
use tonic::Status;
use tonic::body::Body;
use tonic::transport::{Channel, Endpoint};
use tower::{Service, ServiceExt};

use crate::body::UnaryBody;
use crate::wire;

/// The default per-call deadline: 10 s, as `OTEL_EXPORTER_OTLP_TIMEOUT`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The default limit on a response message: 4 MiB, as gRPC's default.
pub const DEFAULT_MAX_RESPONSE_SIZE: usize = 4 << 20;

/// The default number of connections to each endpoint.
pub const DEFAULT_CONNECTIONS: usize = 2;

/// The default limit on calls in flight across all connections.
pub const DEFAULT_CONCURRENCY_LIMIT: usize = 64;

/// Configures a [`Client`]; [`build`](Self::build) checks it.
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    endpoints: Vec<String>,
    encoder: Encoder,
    metadata: Vec<(String, String)>,
    bearer_token: Option<String>,
    timeout: Duration,
    connect_timeout: Option<Duration>,
    keepalive: Option<(Duration, Duration)>,
    keepalive_while_idle: bool,
    max_request_size: usize,
    max_response_size: usize,
    connections: usize,
    concurrency_limit: usize,
    stream_window: Option<usize>,
    proxies: Option<Proxies>,
    #[cfg(feature = "tls")]
    tls: crate::tls::ClientTls,
}

impl Default for ClientBuilder {
    fn default() -> Self {
        Self {
            endpoints: Vec::new(),
            encoder: Encoder::new(Compression::None),
            metadata: Vec::new(),
            bearer_token: None,
            timeout: DEFAULT_TIMEOUT,
            connect_timeout: None,
            keepalive: None,
            keepalive_while_idle: false,
            max_request_size: otlp_transport::DEFAULT_MAX_REQUEST_SIZE,
            max_response_size: DEFAULT_MAX_RESPONSE_SIZE,
            connections: DEFAULT_CONNECTIONS,
            concurrency_limit: DEFAULT_CONCURRENCY_LIMIT,
            stream_window: None,
            proxies: None,
            #[cfg(feature = "tls")]
            tls: crate::tls::ClientTls::default(),
        }
    }
}

impl ClientBuilder {
    /// Adds a server to export to: `http://host:port`, `https://host:port`,
    /// or `host:port` (https when TLS is configured). Calls go round-robin
    /// across every endpoint.
    pub fn endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoints.push(endpoint.into());
        self
    }

    /// Adds several endpoints; see [`endpoint`](Self::endpoint).
    pub fn endpoints<I: IntoIterator<Item = S>, S: Into<String>>(mut self, endpoints: I) -> Self {
        self.endpoints.extend(endpoints.into_iter().map(Into::into));
        self
    }

    /// Compresses requests with `compression` at its default level (none by
    /// default). Payloads already compressed this way are sent as they are.
    pub fn compression(mut self, compression: Compression) -> Self {
        self.encoder = Encoder::new(compression);
        self
    }

    /// Compresses requests with this encoder (a coding and its level).
    pub fn encoder(mut self, encoder: Encoder) -> Self {
        self.encoder = encoder;
        self
    }

    /// Sends `name: value` metadata with every call.
    pub fn metadata(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.push((name.into(), value.into()));
        self
    }

    /// Sends `authorization: Bearer <token>` with every call.
    pub fn bearer_token(mut self, token: impl Into<String>) -> Self {
        self.bearer_token = Some(token.into());
        self
    }

    /// The deadline of each call, sent as `grpc-timeout` and enforced here
    /// (default [`DEFAULT_TIMEOUT`]). A call past it fails DEADLINE_EXCEEDED,
    /// which is retryable.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Gives up connecting after `timeout`.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = Some(timeout);
        self
    }

    /// Sends HTTP/2 pings every `interval` and drops a connection that does
    /// not answer within `timeout`, so a dead peer is noticed between exports.
    pub fn keepalive(mut self, interval: Duration, timeout: Duration) -> Self {
        self.keepalive = Some((interval, timeout));
        self
    }

    /// Pings also while no call is in flight (off by default: servers may
    /// close connections that ping too often).
    pub fn keepalive_while_idle(mut self, enabled: bool) -> Self {
        self.keepalive_while_idle = enabled;
        self
    }

    /// The largest request before compression, in bytes (default 64 MiB, the
    /// specification's limit); larger payloads fail permanently.
    pub fn max_request_size(mut self, bytes: usize) -> Self {
        self.max_request_size = bytes;
        self
    }

    /// The largest response message, after decompression (default 4 MiB).
    pub fn max_response_size(mut self, bytes: usize) -> Self {
        self.max_response_size = bytes;
        self
    }

    /// The number of HTTP/2 connections opened to each endpoint (default
    /// [`DEFAULT_CONNECTIONS`]); calls go round-robin across all of them.
    /// One connection serialises its frames through one task: more of them
    /// let concurrent calls use more cores.
    pub fn connections(mut self, per_endpoint: usize) -> Self {
        self.connections = per_endpoint;
        self
    }

    /// The most unary calls in flight at once across all connections
    /// (default [`DEFAULT_CONCURRENCY_LIMIT`]); further calls wait for a slot.
    /// Streamed exports are bounded by the stream's window instead.
    pub fn concurrency_limit(mut self, calls: usize) -> Self {
        self.concurrency_limit = calls;
        self
    }

    /// Sends over the otlp-rs streaming extension: one long-lived stream per
    /// signal with at most `window` requests awaiting their ack (see the
    /// crate docs). Against a server without it, the first call finds out
    /// (UNIMPLEMENTED) and every call goes unary from then on. Each signal's
    /// stream runs on one connection (the next one, round-robin, when it
    /// opens).
    pub fn streaming(mut self, window: usize) -> Self {
        self.stream_window = Some(window);
        self
    }

    /// Trusts servers whose certificate chains to this CA (PEM), and turns
    /// TLS on.
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    pub fn tls_ca(mut self, ca_pem: impl AsRef<[u8]>) -> Self {
        self.tls.enabled = true;
        self.tls
            .ca
            .push(tonic::transport::Certificate::from_pem(ca_pem));
        self
    }

    /// Presents this certificate chain and key (PEM) to the server: mutual
    /// TLS. Turns TLS on.
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    pub fn tls_identity(
        mut self,
        cert_chain_pem: impl AsRef<[u8]>,
        key_pem: impl AsRef<[u8]>,
    ) -> Self {
        self.tls.enabled = true;
        self.tls.identity = Some(tonic::transport::Identity::from_pem(
            cert_chain_pem,
            key_pem,
        ));
        self
    }

    /// Verifies the server's certificate against `name` instead of the
    /// endpoint's host.
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    pub fn tls_domain(mut self, name: impl Into<String>) -> Self {
        self.tls.enabled = true;
        self.tls.domain = Some(name.into());
        self
    }

    /// The forward proxies to reach the endpoints through (a `CONNECT`
    /// tunnel, as gRPC clients do). Default: the environment's
    /// `HTTPS_PROXY` (for `https://`), `HTTP_PROXY` (for `http://`) and
    /// `NO_PROXY`, read when the client is built (see
    /// [`otlp_transport::proxy`]); [`Proxies::none`] to always connect
    /// directly.
    pub fn proxy(mut self, proxies: Proxies) -> Self {
        self.proxies = Some(proxies);
        self
    }

    /// Checks the configuration. Connects lazily, on the first export, so it
    /// needs no runtime.
    pub fn build(self) -> Result<Client, BuildError> {
        if self.endpoints.is_empty() {
            return Err(BuildError::NoEndpoint);
        }
        if self.connections == 0 {
            return Err(BuildError::Zero("connections"));
        }
        if self.concurrency_limit == 0 {
            return Err(BuildError::Zero("concurrency_limit"));
        }
        if self.stream_window == Some(0) {
            return Err(BuildError::Zero("streaming window"));
        }
        #[cfg(feature = "tls")]
        let tls = self.tls.config();
        #[cfg(not(feature = "tls"))]
        let tls: Option<()> = None;

        let proxies = match &self.proxies {
            Some(proxies) => proxies.clone(),
            None => Proxies::from_env()?,
        };
        let mut endpoints = Vec::with_capacity(self.endpoints.len());
        for given in &self.endpoints {
            let uri = if given.contains("://") {
                given.clone()
            } else if tls.is_some() {
                format!("https://{given}")
            } else {
                format!("http://{given}")
            };
            let invalid = |reason: String| BuildError::InvalidEndpoint {
                endpoint: given.clone(),
                reason,
            };
            let mut endpoint = Endpoint::from_shared(uri.clone())
                .map_err(|e| invalid(wire::describe(&e)))?
                .user_agent(concat!("otlp-rs/", env!("CARGO_PKG_VERSION")))
                .map_err(|e| invalid(wire::describe(&e)))?
                .tcp_nodelay(true)
                .keep_alive_while_idle(self.keepalive_while_idle);
            match endpoint.uri().scheme_str() {
                Some("http") => {}
                #[cfg(feature = "tls")]
                Some("https") => match &tls {
                    Some(config) => {
                        endpoint = endpoint
                            .tls_config(config.clone())
                            .map_err(|e| invalid(wire::describe(&e)))?;
                    }
                    #[cfg(feature = "tls-native-roots")]
                    None => {
                        let config = tonic::transport::ClientTlsConfig::new().with_native_roots();
                        endpoint = endpoint
                            .tls_config(config)
                            .map_err(|e| invalid(wire::describe(&e)))?;
                    }
                    #[cfg(not(feature = "tls-native-roots"))]
                    None => {
                        return Err(invalid(
                            "https needs a CA to trust: give one with tls_ca, or build with \
                             the `tls-native-roots` feature to trust the system's"
                                .into(),
                        ));
                    }
                },
                _ => {
                    return Err(invalid(if cfg!(feature = "tls") {
                        "the scheme must be http or https".into()
                    } else {
                        "the scheme must be http (https needs the `tls` feature)".into()
                    }));
                }
            }
            if let Some(timeout) = self.connect_timeout {
                endpoint = endpoint.connect_timeout(timeout);
            }
            if let Some((interval, timeout)) = self.keepalive {
                endpoint = endpoint
                    .http2_keep_alive_interval(interval)
                    .keep_alive_timeout(timeout);
            }
            let target = endpoint.uri();
            let proxy = proxies.route(
                target.scheme_str(),
                target.host().unwrap_or_default(),
                target.port_u16(),
            );
            endpoints.push(Route {
                uri,
                endpoint,
                proxy,
            });
        }

        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
        headers.insert(TE, HeaderValue::from_static("trailers"));
        headers.insert(
            "grpc-accept-encoding",
            HeaderValue::try_from(Compression::grpc_accept_encoding())
                .expect("compression names are header-safe ASCII"),
        );
        for (name, value) in &self.metadata {
            let invalid = || BuildError::InvalidMetadata { name: name.clone() };
            let header = HeaderName::try_from(name.to_ascii_lowercase()).map_err(|_| invalid())?;
            let value = HeaderValue::try_from(value.as_str()).map_err(|_| invalid())?;
            headers.append(header, value);
        }
        if let Some(token) = &self.bearer_token {
            let mut value = HeaderValue::try_from(format!("Bearer {token}"))
                .map_err(|_| BuildError::InvalidToken)?;
            value.set_sensitive(true);
            headers.insert(AUTHORIZATION, value);
        }
        headers.insert(
            "grpc-timeout",
            HeaderValue::try_from(wire::timeout_value(self.timeout))
                .expect("a number and a unit letter"),
        );

        Ok(Client {
            inner: Arc::new(Inner {
                endpoints,
                connections: self.connections,
                channels: OnceLock::new(),
                next: AtomicUsize::new(0),
                headers,
                timeout: self.timeout,
                slots: Arc::new(Semaphore::new(self.concurrency_limit)),
                wire: WireFormat::new(Codec::Protobuf, self.encoder)
                    .with_max_size(self.max_request_size),
                max_response_size: self.max_response_size,
                streams: self.stream_window.map(crate::stream::Streams::new),
            }),
        })
    }
}

/// An OTLP/gRPC exporter: a cloneable
/// [`ExportService`](otlp_transport::ExportService) that sends each
/// [`Encoded`] payload as one unary `Export` call.
///
/// Protobuf bodies are sent as they are, compressed or not: the client never
/// decodes or re-encodes. Clones share the connections and the limit on
/// calls in flight.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field(
                "endpoints",
                &self
                    .inner
                    .endpoints
                    .iter()
                    .map(|route| &route.uri)
                    .collect::<Vec<_>>(),
            )
            .field("connections", &self.inner.connections)
            .field("wire", &self.inner.wire)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A builder with the defaults: no compression, 10 s deadline,
    /// [`DEFAULT_CONNECTIONS`] connections per endpoint.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// How payloads must be encoded for this client: protobuf, its
    /// compression, its request size cap.
    pub fn wire_format(&self) -> WireFormat {
        self.inner.wire
    }

    /// Puts `payload` in the client's wire format (the least work: bytes
    /// already in it are passed on) and exports it.
    pub async fn export(&self, payload: impl Into<Payload>) -> Result<Outcome, ExportError> {
        let encoded = self.inner.wire.encode(payload.into())?;
        self.inner.clone().send(encoded).await
    }
}

impl Service<Encoded> for Client {
    type Response = Outcome;
    type Error = ExportError;
    type Future = Pin<Box<dyn Future<Output = Result<Outcome, ExportError>> + Send>>;

    /// Always ready: the limit on calls in flight is applied inside each call,
    /// where the wait also counts against the deadline.
    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), ExportError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, encoded: Encoded) -> Self::Future {
        Box::pin(self.inner.clone().send(encoded))
    }
}

/// Why a [`ClientBuilder`] could not build.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// No endpoint was given.
    #[error("no endpoint: give at least one, e.g. http://localhost:4317")]
    NoEndpoint,
    /// An endpoint is not a usable URI.
    #[error("invalid endpoint {endpoint:?}: {reason}")]
    InvalidEndpoint {
        /// The endpoint as given.
        endpoint: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A metadata name or value cannot travel as an HTTP/2 header.
    #[error(
        "metadata {name:?} has a name or value an HTTP/2 header cannot carry (use visible ASCII)"
    )]
    InvalidMetadata {
        /// The metadata name as given.
        name: String,
    },
    /// The bearer token holds characters a header cannot carry.
    #[error("the bearer token holds characters an HTTP header cannot carry (use visible ASCII)")]
    InvalidToken,
    /// A count that must be at least one is zero.
    #[error("{0} must be at least 1")]
    Zero(&'static str),
    /// A proxy variable (`HTTPS_PROXY`, `HTTP_PROXY`) cannot be used.
    #[error(transparent)]
    Proxy(#[from] ProxyError),
}

/// One endpoint and how it is reached.
struct Route {
    uri: String,
    endpoint: Endpoint,
    proxy: Option<Via>,
}

impl Route {
    fn channel(&self) -> Channel {
        match &self.proxy {
            None => self.endpoint.connect_lazy(),
            // TLS, when configured, runs inside the tunnel (tonic wraps the
            // connector).
            Some(proxy) => self
                .endpoint
                .connect_with_connector_lazy(Tunnel(proxy.clone())),
        }
    }
}

/// Connects through a `CONNECT` tunnel of the proxy, to the endpoint worked
/// out when the client was built.
#[derive(Clone)]
struct Tunnel(Via);

impl Service<http::Uri> for Tunnel {
    type Response = hyper_util::rt::TokioIo<tokio::net::TcpStream>;
    type Error = TunnelError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, TunnelError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), TunnelError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: http::Uri) -> Self::Future {
        let via = self.0.clone();
        Box::pin(async move { via.tunnel().await.map(hyper_util::rt::TokioIo::new) })
    }
}

pub(crate) struct Inner {
    endpoints: Vec<Route>,
    connections: usize,
    /// Opened on first use: a tonic channel spawns its connection task, which
    /// needs the runtime `build` must not require.
    channels: OnceLock<Vec<Channel>>,
    next: AtomicUsize,
    pub(crate) headers: HeaderMap,
    timeout: Duration,
    slots: Arc<Semaphore>,
    wire: WireFormat,
    pub(crate) max_response_size: usize,
    /// The streaming extension, when asked for.
    streams: Option<crate::stream::Streams>,
}

impl Inner {
    async fn send(self: Arc<Self>, encoded: Encoded) -> Result<Outcome, ExportError> {
        if encoded.codec() != Codec::Protobuf {
            return Err(ExportError::permanent(format!(
                "OTLP/gRPC carries protobuf, not {}: encode payloads with Client::wire_format()",
                encoded.codec()
            )));
        }
        let signal = encoded.signal();
        let compression = encoded.compression();
        let message = encoded.into_body();
        if compression == Compression::None && message.len() > self.wire.max_size() {
            return Err(ExportError::permanent(format!(
                "the request is {} bytes, over the limit of {} bytes",
                message.len(),
                self.wire.max_size()
            )));
        }
        let prefix = wire::prefix(compression != Compression::None, message.len())
            .map_err(|status| ExportError::permanent(status.message()))?;

        if let Some(streams) = &self.streams
            && !streams.unsupported()
        {
            let deadline = tokio::time::Instant::now() + self.timeout;
            let streamed = streams.send(&self, signal, compression, message.clone(), deadline);
            match tokio::time::timeout_at(deadline, streamed).await {
                Ok(Some(result)) => return result,
                // The server has no stream service: unary, below.
                Ok(None) => {}
                Err(_) => {
                    return Err(ExportError::from_grpc_code(
                        grpc_code::DEADLINE_EXCEEDED,
                        &format!("no ack within {:?}", self.timeout),
                        None,
                    ));
                }
            }
        }

        let request = || {
            let body = UnaryBody::new(prefix.clone(), message.clone(), None);
            let mut request = Request::new(Body::new(body));
            *request.method_mut() = Method::POST;
            *request.uri_mut() = http::Uri::from_static(signal.grpc_path());
            *request.headers_mut() = self.headers.clone();
            if compression != Compression::None {
                request.headers_mut().insert(
                    "grpc-encoding",
                    HeaderValue::from_static(compression.as_str()),
                );
            }
            request
        };

        let call = async {
            let _slot = self
                .slots
                .acquire()
                .await
                .expect("the semaphore is never closed");
            let mut attempt = 1;
            let response = loop {
                let (uri, channel) = self.channel();
                let sent = match channel.ready_oneshot().await {
                    Ok(mut channel) => channel.call(request()).await,
                    Err(error) => Err(error),
                };
                match sent {
                    Ok(response) => break response,
                    // The server refused the stream unprocessed (a new
                    // connection's stream limit not yet known): as gRPC
                    // clients do, try again at once, on the next connection.
                    Err(error) if attempt < TRANSPARENT_ATTEMPTS && is_refused_stream(&error) => {
                        attempt += 1;
                    }
                    Err(error) => return Err(unreachable_error(uri, &error)),
                }
            };
            self.read_response(signal, response).await
        };
        match tokio::time::timeout(self.timeout, call).await {
            Ok(result) => result,
            Err(_) => Err(ExportError::from_grpc_code(
                grpc_code::DEADLINE_EXCEEDED,
                &format!("no answer within {:?}", self.timeout),
                None,
            )),
        }
    }

    /// The next connection, round-robin; endpoints alternate.
    pub(crate) fn channel(&self) -> (&str, Channel) {
        let channels = self.channels.get_or_init(|| {
            (0..self.connections)
                .flat_map(|_| self.endpoints.iter().map(Route::channel))
                .collect()
        });
        let index = self.next.fetch_add(1, Ordering::Relaxed) % channels.len();
        let uri = &self.endpoints[index % self.endpoints.len()].uri;
        (uri, channels[index].clone())
    }

    async fn read_response(
        &self,
        signal: otlp_transport::Signal,
        response: Response<Body>,
    ) -> Result<Outcome, ExportError> {
        let (parts, mut body) = response.into_parts();
        if parts.status != StatusCode::OK {
            return Err(http_status_error(parts.status));
        }
        // A trailers-only response carries the status in the headers.
        if let Some(status) = Status::from_header_map(&parts.headers)
            && status.code() != tonic::Code::Ok
        {
            return Err(status_error(&status));
        }
        let limit = self.max_response_size.saturating_add(wire::PREFIX_LEN);
        let mut data = BytesMut::new();
        let mut trailers = None;
        while let Some(frame) = body.frame().await {
            // The answer broke off mid-way (connection reset, stream reset):
            // the server never said how the call went, so, as gRPC clients
            // do for transport failures, it is UNAVAILABLE (retryable), not
            // the UNKNOWN/INTERNAL the body error carries.
            let frame = frame.map_err(|status| {
                ExportError::from_grpc_code(
                    grpc_code::UNAVAILABLE,
                    &format!(
                        "the connection failed while reading the answer: {}",
                        status.message()
                    ),
                    None,
                )
            })?;
            match frame.into_data() {
                Ok(chunk) => {
                    if data.len() + chunk.len() > limit {
                        return Err(ExportError::permanent(format!(
                            "the response passes the limit of {} bytes",
                            self.max_response_size
                        )));
                    }
                    data.extend_from_slice(&chunk);
                }
                Err(frame) => trailers = frame.into_trailers().ok(),
            }
        }
        let status = trailers
            .as_ref()
            .and_then(Status::from_header_map)
            .or_else(|| Status::from_header_map(&parts.headers))
            // A stream cut before its trailers: a transport failure.
            .unwrap_or_else(|| Status::unavailable("the response ended without a grpc-status"));
        if status.code() != tonic::Code::Ok {
            return Err(status_error(&status));
        }
        let bad_response = |what: String| {
            ExportError::from_grpc_code(
                grpc_code::INTERNAL,
                &format!("the {signal} export was answered OK but {what}"),
                None,
            )
        };
        if data.is_empty() {
            // Some servers answer an export with no message at all.
            return Ok(Outcome::Success);
        }
        let (compressed, message) =
            wire::split_message(data.freeze()).map_err(|e| bad_response(e.to_string()))?;
        let message = if compressed {
            let compression = parts
                .headers
                .get("grpc-encoding")
                .and_then(|v| v.to_str().ok())
                .and_then(|name| name.parse::<Compression>().ok())
                .filter(|c| c.is_supported() && *c != Compression::None)
                .ok_or_else(|| {
                    bad_response("its message is compressed with an unsupported coding".into())
                })?;
            let mut out = Vec::new();
            compression
                .decompress(&message, self.max_response_size, &mut out)
                .map_err(|e| bad_response(format!("its message cannot be decompressed: {e}")))?;
            Bytes::from(out)
        } else {
            message
        };
        let response = ExportResponse::decode(signal, Codec::Protobuf, message)
            .map_err(|e| bad_response(format!("its message cannot be decoded: {e}")))?;
        Ok(response.outcome())
    }
}

pub(crate) fn status_error(status: &Status) -> ExportError {
    ExportError::from_grpc_code(
        status.code() as i32,
        status.message(),
        wire::retry_delay(status.details()),
    )
}

/// How many times a call refused unprocessed (HTTP/2 `REFUSED_STREAM`) is sent.
const TRANSPARENT_ATTEMPTS: usize = 3;

fn is_refused_stream(error: &tonic::transport::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(cause) = source {
        if let Some(h2) = cause.downcast_ref::<h2::Error>() {
            return h2.reason() == Some(h2::Reason::REFUSED_STREAM);
        }
        source = cause.source();
    }
    false
}

pub(crate) fn unreachable_error(uri: &str, error: &tonic::transport::Error) -> ExportError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(cause) = source {
        if cause.is::<tonic::TimeoutExpired>() {
            return ExportError::from_grpc_code(
                grpc_code::DEADLINE_EXCEEDED,
                &format!("{uri} did not answer within the deadline"),
                None,
            );
        }
        source = cause.source();
    }
    ExportError::from_grpc_code(
        grpc_code::UNAVAILABLE,
        &format!("cannot reach {uri}: {}", wire::describe(error)),
        None,
    )
}

/// A non-200 HTTP status, mapped to a gRPC code as gRPC's
/// `http-grpc-status-mapping.md` says.
pub(crate) fn http_status_error(status: StatusCode) -> ExportError {
    let code = match status.as_u16() {
        400 => grpc_code::INTERNAL,
        401 => grpc_code::UNAUTHENTICATED,
        403 => grpc_code::PERMISSION_DENIED,
        404 => grpc_code::UNIMPLEMENTED,
        429 | 502 | 503 | 504 => grpc_code::UNAVAILABLE,
        _ => grpc_code::UNKNOWN,
    };
    ExportError::from_grpc_code(code, &format!("the server answered HTTP {status}"), None)
}
