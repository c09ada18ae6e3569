//! The receiver: the four OTLP services on one port, handing every request
//! to a [`Sink`].

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE};
use http::{HeaderMap, HeaderValue, Request, Response};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use otlp_codec::Codec;
use otlp_compression::Compression;
use otlp_transport::{
    Encoded, ExportRequest, ExportResponse, Outcome, Payload, Signal, Sink, SinkError,
};
use tokio::net::{TcpListener, ToSocketAddrs};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::body::Body;
use tonic::server::NamedService;
use tonic::transport::server::TcpIncoming;
use tonic::{Code, Status};
use tonic_health::ServingStatus;
use tower::Service;

use crate::body::UnaryBody;
use crate::wire;

/// The default limit on a request after decompression: 4 MiB, the
/// Collector's default.
pub const DEFAULT_MAX_REQUEST_SIZE: usize = 4 << 20;

/// The largest request limit a server accepts: 64 MiB, the largest request
/// the OTLP specification says a receiver should take.
pub const MAX_REQUEST_SIZE_LIMIT: usize = 64 << 20;

/// Configures a [`Server`]; [`bind`](Self::bind) opens its port.
#[derive(Debug, Clone)]
pub struct ServerBuilder {
    max_request_size: usize,
    bearer_token: Option<String>,
    max_concurrent_streams: Option<u32>,
    concurrency_limit_per_connection: Option<usize>,
    keepalive: Option<(Duration, Duration)>,
    request_timeout: Option<Duration>,
    drain_timeout: Duration,
    #[cfg(feature = "tls")]
    tls: crate::tls::ServerTls,
}

/// How long a shutdown waits for the calls in flight by default: 30 seconds.
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

impl Default for ServerBuilder {
    fn default() -> Self {
        Self {
            max_request_size: DEFAULT_MAX_REQUEST_SIZE,
            bearer_token: None,
            max_concurrent_streams: None,
            concurrency_limit_per_connection: None,
            keepalive: None,
            request_timeout: None,
            drain_timeout: DEFAULT_DRAIN_TIMEOUT,
            #[cfg(feature = "tls")]
            tls: crate::tls::ServerTls::default(),
        }
    }
}

impl ServerBuilder {
    /// Limits a request after decompression to `bytes` (default
    /// [`DEFAULT_MAX_REQUEST_SIZE`], at most [`MAX_REQUEST_SIZE_LIMIT`]).
    /// Larger requests are answered RESOURCE_EXHAUSTED, which clients do not
    /// retry. The compressed body is held to the same limit.
    pub fn max_request_size(mut self, bytes: usize) -> Self {
        self.max_request_size = bytes;
        self
    }

    /// Requires `authorization: Bearer <token>` on every export; calls
    /// without it are answered UNAUTHENTICATED. The health service stays open.
    pub fn bearer_token(mut self, token: impl Into<String>) -> Self {
        self.bearer_token = Some(token.into());
        self
    }

    /// The most concurrent calls (HTTP/2 streams) one connection may open
    /// (hyper's default, 200, when unset).
    pub fn max_concurrent_streams(mut self, streams: u32) -> Self {
        self.max_concurrent_streams = Some(streams);
        self
    }

    /// The most calls of one connection handed to the sink at once; the others
    /// wait their turn.
    pub fn concurrency_limit_per_connection(mut self, calls: usize) -> Self {
        self.concurrency_limit_per_connection = Some(calls);
        self
    }

    /// Sends HTTP/2 pings every `interval` and closes a connection that does
    /// not answer within `timeout`.
    pub fn http2_keepalive(mut self, interval: Duration, timeout: Duration) -> Self {
        self.keepalive = Some((interval, timeout));
        self
    }

    /// Answers DEADLINE_EXCEEDED to a call not done within `timeout` (a
    /// client's shorter `grpc-timeout` still wins).
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = Some(timeout);
        self
    }

    /// The longest a shutdown waits for calls in flight and for clients to
    /// close their connections (default [`DEFAULT_DRAIN_TIMEOUT`]); then the
    /// server stops anyway. Without it, a client that vanished without
    /// closing its connection (a dead host, a dropped NAT entry) would hold
    /// the shutdown forever. A call cut off this way gets no answer, so its
    /// client retries it: nothing the sink accepted is lost.
    pub fn drain_timeout(mut self, timeout: Duration) -> Self {
        self.drain_timeout = timeout;
        self
    }

    /// Serves TLS with this certificate chain and private key (PEM).
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    pub fn tls(mut self, cert_chain_pem: impl AsRef<[u8]>, key_pem: impl AsRef<[u8]>) -> Self {
        self.tls.identity = Some(tonic::transport::Identity::from_pem(
            cert_chain_pem,
            key_pem,
        ));
        self
    }

    /// Requires clients to present a certificate signed by this CA (PEM):
    /// mutual TLS, on top of [`tls`](Self::tls).
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    pub fn client_ca(mut self, ca_pem: impl AsRef<[u8]>) -> Self {
        self.tls.client_ca = Some(tonic::transport::Certificate::from_pem(ca_pem));
        self
    }

    /// Checks the configuration and listens on `addr` (`"127.0.0.1:0"` picks
    /// a free port; see [`Server::local_addr`]).
    pub async fn bind(self, addr: impl ToSocketAddrs) -> Result<Server, BindError> {
        if self.max_request_size == 0 || self.max_request_size > MAX_REQUEST_SIZE_LIMIT {
            return Err(BindError::MaxRequestSize(self.max_request_size));
        }
        let token = self
            .bearer_token
            .as_deref()
            .map(|token| {
                HeaderValue::try_from(format!("Bearer {token}"))
                    .map(|value| Bytes::copy_from_slice(value.as_bytes()))
                    .map_err(|_| BindError::InvalidToken)
            })
            .transpose()?;
        let mut transport =
            tonic::transport::Server::builder().max_concurrent_streams(self.max_concurrent_streams);
        if let Some(limit) = self.concurrency_limit_per_connection {
            transport = transport.concurrency_limit_per_connection(limit);
        }
        if let Some((interval, timeout)) = self.keepalive {
            transport = transport
                .http2_keepalive_interval(Some(interval))
                .http2_keepalive_timeout(Some(timeout));
        }
        if let Some(timeout) = self.request_timeout {
            transport = transport.timeout(timeout);
        }
        #[cfg(feature = "tls")]
        if let Some(config) = self.tls.into_config().map_err(BindError::Tls)? {
            transport = transport
                .tls_config(config)
                .map_err(|error| BindError::Tls(wire::describe(&error)))?;
        }
        let listener = TcpListener::bind(addr).await.map_err(BindError::Io)?;
        let local_addr = listener.local_addr().map_err(BindError::Io)?;
        Ok(Server {
            listener,
            local_addr,
            transport,
            max_request_size: self.max_request_size,
            token,
            drain_timeout: self.drain_timeout,
        })
    }
}

/// An OTLP/gRPC receiver listening on its port: the trace, metrics, logs and
/// profiles services, and `grpc.health.v1.Health`.
pub struct Server {
    listener: TcpListener,
    local_addr: SocketAddr,
    transport: tonic::transport::Server,
    max_request_size: usize,
    token: Option<Bytes>,
    drain_timeout: Duration,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("local_addr", &self.local_addr)
            .field("max_request_size", &self.max_request_size)
            .field("bearer_token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish_non_exhaustive()
    }
}

impl Server {
    /// A builder with the defaults: 4 MiB requests, no authentication, no TLS.
    pub fn builder() -> ServerBuilder {
        ServerBuilder::default()
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Serves until `shutdown` completes, then stops accepting connections,
    /// lets the calls in flight finish (their answers reach the clients) and
    /// returns — at the latest after the
    /// [drain timeout](ServerBuilder::drain_timeout).
    pub async fn serve(
        self,
        sink: impl Sink,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), ServeError> {
        let (drain, draining) = tokio::sync::watch::channel(false);
        let mut stopping = drain.subscribe();
        let drain_timeout = self.drain_timeout;
        let shared = Arc::new(Shared {
            sink: Arc::new(sink),
            max_request_size: self.max_request_size,
            token: self.token,
            accept_encoding: HeaderValue::try_from(Compression::grpc_accept_encoding())
                .expect("compression names are header-safe ASCII"),
            draining,
        });
        let (health, health_service) = tonic_health::server::health_reporter();
        for signal in Signal::ALL {
            health
                .set_service_status(signal.grpc_service(), ServingStatus::Serving)
                .await;
        }
        let shutdown = async move {
            shutdown.await;
            // Streams end after the request they are on, so that draining ends.
            let _ = drain.send(true);
            // Load balancers that probe health stop sending while we drain.
            health
                .set_service_status("", ServingStatus::NotServing)
                .await;
            for signal in Signal::ALL {
                health
                    .set_service_status(signal.grpc_service(), ServingStatus::NotServing)
                    .await;
            }
        };
        let mut transport = self.transport;
        let incoming = TcpIncoming::from(self.listener).with_nodelay(Some(true));
        let serving = transport
            .add_service(health_service)
            .add_service(TracesService(shared.clone()))
            .add_service(MetricsService(shared.clone()))
            .add_service(LogsService(shared.clone()))
            .add_service(ProfilesService(shared.clone()))
            .add_service(crate::stream::StreamService(shared))
            .serve_with_incoming_shutdown(incoming, shutdown);
        let deadline = async move {
            if stopping.wait_for(|stopping| *stopping).await.is_err() {
                // Serving ended on its own; the other branch has its result.
                std::future::pending::<()>().await;
            }
            tokio::time::sleep(drain_timeout).await;
        };
        tokio::select! {
            biased;
            served = serving => served.map_err(ServeError),
            () = deadline => Ok(()),
        }
    }

    /// Serves on a task of the current tokio runtime until
    /// [`ServerHandle::shutdown`].
    pub fn spawn(self, sink: impl Sink) -> ServerHandle {
        let local_addr = self.local_addr;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(self.serve(sink, async move {
            // A dropped handle stops the server too.
            let _ = stopped.await;
        }));
        ServerHandle {
            local_addr,
            stop,
            task,
        }
    }
}

/// A server running on its own task.
#[derive(Debug)]
pub struct ServerHandle {
    local_addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<(), ServeError>>,
}

impl ServerHandle {
    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops accepting, waits for the calls in flight to be answered, and
    /// returns how serving ended.
    pub async fn shutdown(self) -> Result<(), ServeError> {
        let _ = self.stop.send(());
        match self.task.await {
            Ok(result) => result,
            Err(join) if join.is_panic() => std::panic::resume_unwind(join.into_panic()),
            Err(_) => Ok(()),
        }
    }
}

/// Why a [`ServerBuilder`] could not bind.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BindError {
    /// The port could not be opened.
    #[error("cannot listen: {0}")]
    Io(#[source] std::io::Error),
    /// The request limit is zero or above the 64 MiB the specification allows.
    #[error(
        "max request size {0} bytes is out of range: give 1 byte to {MAX_REQUEST_SIZE_LIMIT} bytes (64 MiB)"
    )]
    MaxRequestSize(usize),
    /// The bearer token holds characters an HTTP header cannot carry.
    #[error("the bearer token holds characters an HTTP header cannot carry (use visible ASCII)")]
    InvalidToken,
    /// The certificate, key or CA could not be loaded.
    #[error("invalid TLS configuration: {0}")]
    Tls(String),
}

/// Serving failed (the transport could not run; calls that fail are answered
/// to their client and never end serving).
#[derive(Debug, thiserror::Error)]
#[error("the gRPC server failed: {0}")]
pub struct ServeError(#[source] tonic::transport::Error);

/// What every service of a server shares.
pub(crate) struct Shared {
    pub(crate) sink: Arc<dyn Sink>,
    pub(crate) max_request_size: usize,
    token: Option<Bytes>,
    pub(crate) accept_encoding: HeaderValue,
    /// Turns true when the server starts draining: open streams end then.
    pub(crate) draining: tokio::sync::watch::Receiver<bool>,
}

type ServiceFuture = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

/// One raw tower service per OTLP service: tonic routes by service name, so
/// each needs its own [`NamedService`].
macro_rules! export_services {
    ($($name:ident => $signal:expr),*) => {$(
        #[derive(Clone)]
        struct $name(Arc<Shared>);

        impl NamedService for $name {
            const NAME: &'static str = $signal.grpc_service();
        }

        impl Service<Request<Body>> for $name {
            type Response = Response<Body>;
            type Error = Infallible;
            type Future = ServiceFuture;

            fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
                Poll::Ready(Ok(()))
            }

            fn call(&mut self, request: Request<Body>) -> ServiceFuture {
                let shared = self.0.clone();
                Box::pin(async move { Ok(handle(&shared, $signal, request).await) })
            }
        }
    )*};
}

export_services!(
    TracesService => Signal::Traces,
    MetricsService => Signal::Metrics,
    LogsService => Signal::Logs,
    ProfilesService => Signal::Profiles
);

pub(crate) async fn handle(
    shared: &Shared,
    signal: Signal,
    request: Request<Body>,
) -> Response<Body> {
    let mut response = match refuse_content_type(request.headers()) {
        Some(refusal) => refusal,
        None => match export(shared, signal, request).await {
            Ok(response) => response,
            Err(status) => status.into_http(),
        },
    };
    response
        .headers_mut()
        .insert("grpc-accept-encoding", shared.accept_encoding.clone());
    response
}

async fn export(
    shared: &Shared,
    signal: Signal,
    request: Request<Body>,
) -> Result<Response<Body>, Status> {
    let (parts, body) = request.into_parts();
    if parts.uri.path() != signal.grpc_path() {
        return Err(Status::unimplemented(format!(
            "no method {} (OTLP services have one method, Export)",
            parts.uri.path()
        )));
    }
    authorized(shared, &parts.headers)?;
    let compression = request_compression(&parts.headers)?;

    let limit = shared.max_request_size;
    let body = Limited::new(body, limit + wire::PREFIX_LEN)
        .collect()
        .await
        .map_err(|error| {
            if error.is::<LengthLimitError>() {
                too_large(limit)
            } else {
                Status::cancelled(format!("the request body did not arrive whole: {error}"))
            }
        })?
        .to_bytes();
    let (compressed, message) =
        wire::split_message(body).map_err(|error| Status::invalid_argument(error.to_string()))?;
    let compression = match (compressed, compression) {
        (false, _) => Compression::None,
        (true, Compression::None) => {
            return Err(Status::internal(
                "the message is flagged compressed but the call has no grpc-encoding",
            ));
        }
        (true, compression) => compression,
    };

    let payload = to_payload(shared, signal, compression, message)?;
    let outcome = call_sink(shared, payload).await.map_err(sink_status)?;
    let mut message = Vec::new();
    ExportResponse::new(signal, &outcome)
        .encode(Codec::Protobuf, &mut message)
        .map_err(|error| Status::internal(format!("cannot encode the response: {error}")))?;
    let prefix = wire::prefix(false, message.len())?;
    let mut trailers = HeaderMap::with_capacity(1);
    trailers.insert("grpc-status", HeaderValue::from_static("0"));
    let mut response = Response::new(Body::new(UnaryBody::new(
        prefix,
        message.into(),
        Some(trailers),
    )));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
    Ok(response)
}

/// The request as the sink wants it: the bytes as received, or decompressed
/// under the limit and decoded.
pub(crate) fn to_payload(
    shared: &Shared,
    signal: Signal,
    compression: Compression,
    message: Bytes,
) -> Result<Payload, Status> {
    if shared.sink.wants_encoded(signal) {
        // Handed on as received: the sink (a relay) bounds any decompression.
        return Ok(Payload::Encoded(Encoded::new(
            signal,
            Codec::Protobuf,
            compression,
            message,
        )));
    }
    let limit = shared.max_request_size;
    let raw = if compression == Compression::None {
        if message.len() > limit {
            return Err(too_large(limit));
        }
        message
    } else {
        let mut out = Vec::new();
        compression
            .decompress(&message, limit, &mut out)
            .map_err(|error| {
                if error.is_limit_exceeded() {
                    too_large(limit)
                } else {
                    Status::invalid_argument(format!(
                        "cannot decompress the {compression} message: {error}"
                    ))
                }
            })?;
        Bytes::from(out)
    };
    let request = ExportRequest::decode(signal, Codec::Protobuf, raw).map_err(|error| {
        Status::invalid_argument(format!("cannot decode the {signal} request: {error}"))
    })?;
    Ok(Payload::Request(request))
}

/// Hands `payload` to the sink on a task of its own, so that a panicking sink
/// costs one INTERNAL answer, not the connection's other calls.
pub(crate) async fn call_sink(shared: &Shared, payload: Payload) -> Result<Outcome, SinkError> {
    let sink = shared.sink.clone();
    match tokio::spawn(async move { sink.export(payload).await }).await {
        Ok(result) => result,
        Err(join) => Err(SinkError::Internal(if join.is_panic() {
            "the sink panicked handling this request".into()
        } else {
            "the sink's task was cancelled".into()
        })),
    }
}

/// Whether the call carries the bearer token, when one is required.
pub(crate) fn authorized(shared: &Shared, headers: &HeaderMap) -> Result<(), Status> {
    let Some(token) = &shared.token else {
        return Ok(());
    };
    let given = headers.get(AUTHORIZATION).map(HeaderValue::as_bytes);
    if given.is_some_and(|given| constant_time_eq(given, token)) {
        Ok(())
    } else {
        Err(Status::unauthenticated(
            "missing or wrong bearer token in the authorization metadata",
        ))
    }
}

/// The answer to a call that is not gRPC with protobuf messages; those are
/// `application/grpc`, optionally `+proto`, with or without parameters.
///
/// Anything else is not a gRPC call, and gets HTTP 415 as the gRPC protocol
/// asks (with `grpc-status` INVALID_ARGUMENT, as grpc-go answers), so that a
/// plain HTTP client cannot take the error for a success. `application/grpc+json`
/// and other codecs are gRPC calls this server cannot read: UNIMPLEMENTED.
pub(crate) fn refuse_content_type(headers: &HeaderMap) -> Option<Response<Body>> {
    let value = headers.get(CONTENT_TYPE).map(HeaderValue::as_bytes);
    let text = String::from_utf8_lossy(value.unwrap_or_default());
    let essence = text.split(';').next().unwrap_or_default().trim();
    let subtype = essence
        .get(..GRPC.len())
        .filter(|prefix| prefix.eq_ignore_ascii_case(GRPC))
        .map(|_| &essence[GRPC.len()..]);
    match subtype {
        Some(subtype) if subtype.is_empty() || subtype.eq_ignore_ascii_case("+proto") => None,
        Some(subtype) if subtype.starts_with('+') => Some(
            Status::unimplemented(format!(
                "content-type {text:?}: this server reads protobuf messages only; send application/grpc"
            ))
            .into_http(),
        ),
        _ => {
            let mut response = Status::invalid_argument(format!(
                "invalid gRPC request content-type {text:?}: send application/grpc (OTLP/HTTP is served on another port)"
            ))
            .into_http();
            *response.status_mut() = http::StatusCode::UNSUPPORTED_MEDIA_TYPE;
            Some(response)
        }
    }
}

const GRPC: &str = "application/grpc";

/// The compression named by `grpc-encoding`; an unknown or unsupported one is
/// UNIMPLEMENTED, as gRPC requires (the response lists what is supported).
fn request_compression(headers: &HeaderMap) -> Result<Compression, Status> {
    let Some(value) = headers.get("grpc-encoding") else {
        return Ok(Compression::None);
    };
    value
        .to_str()
        .ok()
        .and_then(|name| name.parse::<Compression>().ok())
        .filter(|compression| compression.is_supported())
        .ok_or_else(|| {
            Status::unimplemented(format!(
                "grpc-encoding {:?} is not supported; supported: {}",
                String::from_utf8_lossy(value.as_bytes()),
                Compression::grpc_accept_encoding()
            ))
        })
}

pub(crate) fn too_large(limit: usize) -> Status {
    Status::resource_exhausted(format!(
        "the request is larger than the limit of {limit} bytes after decompression; send smaller batches"
    ))
}

pub(crate) fn sink_status(error: SinkError) -> Status {
    let code = Code::from(error.grpc_code());
    let message = error.to_string();
    match error.retry_after() {
        Some(delay) => wire::status_with_retry(code, message, delay),
        None => Status::new(code, message),
    }
}

/// Compares without stopping at the first difference, so that the time taken
/// does not tell an attacker how much of a guessed token was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
