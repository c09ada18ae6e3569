//! The receiver: the upgrade handler ([`Upgrade`]) that any hyper server can
//! hand `/v1/ws` requests to, and a standalone [`Server`] built on it.

use std::convert::Infallible;
use std::future::{Future, Ready, ready};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream::FuturesUnordered;
use futures_util::{SinkExt, StreamExt};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper_util::rt::{TokioIo, TokioTimer};
use otlp_codec::Codec;
use otlp_transport::{Encoded, Payload, Sink, SinkError};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, ToSocketAddrs};
use tokio::sync::{Notify, oneshot, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Error as WsError;
use tokio_tungstenite::tungstenite::error::ProtocolError;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Message, Role, WebSocketConfig};

use crate::close;
use crate::frame::{self, Reply};

/// Where the endpoint is served: `/v1/ws`.
pub const DEFAULT_PATH: &str = "/v1/ws";

/// The default limit on one request's payload, in bytes, as it arrives and
/// after decompression: 20 MiB, the Collector's HTTP receiver limit.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 20 << 20;

/// Room for the request header or the JSON envelope around a payload.
const ENVELOPE_ROOM: usize = 4096;

/// How long a closing connection waits for the peer's close frame.
const CLOSE_WAIT: Duration = Duration::from_secs(5);

/// How the receiver treats connections; every setting has a default.
#[derive(Debug, Clone)]
pub struct Settings {
    path: String,
    bearer_token: Option<String>,
    allowed_origins: Option<Vec<String>>,
    max_message_size: usize,
    idle_timeout: Duration,
    max_in_flight: usize,
    drain_timeout: Duration,
    header_read_timeout: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            path: DEFAULT_PATH.to_string(),
            bearer_token: None,
            allowed_origins: None,
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            idle_timeout: Duration::from_secs(60),
            max_in_flight: 32,
            drain_timeout: Duration::from_secs(30),
            header_read_timeout: Duration::from_secs(60),
        }
    }
}

impl Settings {
    /// The path of the standalone [`Server`]'s endpoint (default `/v1/ws`);
    /// a server that mounts an [`Upgrade`] chooses its own.
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.path = path.into();
        self
    }

    /// Requires `token`: in `Authorization: Bearer <token>`, or, for browsers
    /// that cannot set headers, as `?token=<token>` on the URL. Connections
    /// without it are closed with [`close::UNAUTHORIZED`] (4401).
    pub fn bearer_token(mut self, token: impl Into<String>) -> Self {
        self.bearer_token = Some(token.into());
        self
    }

    /// Accepts browser connections only from pages of `origin` (for example
    /// `https://app.example.com`); call once per origin. With none given,
    /// every origin is accepted. Clients that send no `Origin` (not
    /// browsers) are not affected. Refused ones are closed with
    /// [`close::FORBIDDEN_ORIGIN`] (4403).
    pub fn allow_origin(mut self, origin: impl Into<String>) -> Self {
        self.allowed_origins
            .get_or_insert_with(Vec::new)
            .push(origin.into());
        self
    }

    /// The largest payload of one request, in bytes, as it arrives and after
    /// decompression. A larger message closes the connection with
    /// [`close::TOO_BIG`] (1009); a payload that decompresses past it is
    /// answered with a permanent error. Default [`DEFAULT_MAX_MESSAGE_SIZE`].
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes;
        self
    }

    /// How long a connection may stay open with no request and nothing in
    /// flight (pings count as activity); then it is closed with
    /// [`close::IDLE`] (4000). Default 60 s.
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// The most requests of one connection handled at once. With that many
    /// unacknowledged, the receiver stops reading the connection (so TCP
    /// pushes back on the sender) instead of buffering. Default 32.
    pub fn max_in_flight(mut self, requests: usize) -> Self {
        self.max_in_flight = requests.max(1);
        self
    }

    /// How long a shutdown waits for connections to answer what they read
    /// and close. Default 30 s.
    pub fn drain_timeout(mut self, timeout: Duration) -> Self {
        self.drain_timeout = timeout;
        self
    }

    /// How long the standalone [`Server`] waits for the upgrade request's
    /// headers. Default 60 s.
    pub fn header_read_timeout(mut self, timeout: Duration) -> Self {
        self.header_read_timeout = timeout;
        self
    }
}

/// Serves OTLP/WebSocket on connections a hyper server upgrades.
///
/// A `tower::Service` over upgrade requests: it checks the handshake, answers
/// `101 Switching Protocols` and runs the connection on a task of its own
/// once hyper hands the connection over. Mount it on any hyper server that
/// serves connections with upgrades (for example with
/// `otlp_http::ServerBuilder::route`), and call [`shutdown`](Self::shutdown)
/// when that server stops: upgraded connections outlive the HTTP server's
/// own drain.
#[derive(Clone)]
pub struct Upgrade {
    hub: Arc<Hub>,
}

impl std::fmt::Debug for Upgrade {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upgrade")
            .field("settings", &self.hub.settings)
            .field("open", &self.connections())
            .finish()
    }
}

struct Hub {
    settings: Settings,
    sink: Arc<dyn Sink>,
    stop: watch::Sender<bool>,
    kill: watch::Sender<bool>,
    open: AtomicUsize,
    closed: Notify,
    stats: Arc<Stats>,
}

/// Counters of what the receiver did and turned away.
#[derive(Debug, Default)]
struct Stats {
    connections: AtomicU64,
    refused: AtomicU64,
    requests: AtomicU64,
    failed: AtomicU64,
    closed_on_error: AtomicU64,
}

/// Live counters of a receiver: nothing is dropped unseen.
#[derive(Debug, Clone)]
pub struct ServerStats(Arc<Stats>);

impl ServerStats {
    /// Connections upgraded (refused ones included).
    pub fn connections(&self) -> u64 {
        self.0.connections.load(Ordering::Relaxed)
    }

    /// Connections closed at once for a wrong token or a refused origin.
    pub fn connections_refused(&self) -> u64 {
        self.0.refused.load(Ordering::Relaxed)
    }

    /// Requests acknowledged (with any outcome).
    pub fn requests(&self) -> u64 {
        self.0.requests.load(Ordering::Relaxed)
    }

    /// Requests acknowledged with an error (undecodable, too large, or
    /// refused by the sink).
    pub fn requests_failed(&self) -> u64 {
        self.0.failed.load(Ordering::Relaxed)
    }

    /// Connections closed for a malformed or oversized message, or a failed
    /// sink; their unread requests were never seen.
    pub fn connections_closed_on_error(&self) -> u64 {
        self.0.closed_on_error.load(Ordering::Relaxed)
    }
}

impl Upgrade {
    /// An upgrade handler that hands requests to `sink`.
    pub fn new(sink: impl Sink, settings: Settings) -> Self {
        Self {
            hub: Arc::new(Hub {
                settings,
                sink: Arc::new(sink),
                stop: watch::Sender::new(false),
                kill: watch::Sender::new(false),
                open: AtomicUsize::new(0),
                closed: Notify::new(),
                stats: Arc::new(Stats::default()),
            }),
        }
    }

    /// The counters of the connections it served.
    pub fn stats(&self) -> ServerStats {
        ServerStats(self.hub.stats.clone())
    }

    /// Connections open now.
    pub fn connections(&self) -> usize {
        self.hub.open.load(Ordering::Acquire)
    }

    /// Stops taking requests: every connection answers what it read, closes
    /// with [`close::GOING_AWAY`] (1001), and this returns when all are
    /// closed (or the drain timeout passed: then `false`). Later upgrade
    /// requests are answered 503.
    pub async fn shutdown(&self) -> bool {
        self.hub.stop.send_replace(true);
        let drained = async {
            loop {
                let closed = self.hub.closed.notified();
                if self.hub.open.load(Ordering::Acquire) == 0 {
                    break;
                }
                closed.await;
            }
        };
        tokio::time::timeout(self.hub.settings.drain_timeout, drained)
            .await
            .is_ok()
    }

    /// Drops every connection at once, answering nothing, as a crash would:
    /// exporters send their unacknowledged requests again elsewhere. For
    /// tests of what exporters do then; [`shutdown`](Self::shutdown) is the
    /// way to stop.
    pub fn abort(&self) {
        self.hub.stop.send_replace(true);
        self.hub.kill.send_replace(true);
    }

    /// Checks the handshake; on success answers 101 and spawns the
    /// connection.
    fn accept<B>(&self, mut request: Request<B>) -> Response<Full<Bytes>> {
        let hub = &self.hub;
        if *hub.stop.borrow() {
            return plain(
                StatusCode::SERVICE_UNAVAILABLE,
                "the receiver is shutting down",
            );
        }
        let headers = request.headers();
        if request.method() != Method::GET {
            return plain(
                StatusCode::METHOD_NOT_ALLOWED,
                "OTLP/WebSocket connections open with a GET upgrade request",
            );
        }
        if !has_token(headers, header::UPGRADE, "websocket")
            || !has_token(headers, header::CONNECTION, "upgrade")
        {
            let mut response = plain(
                StatusCode::UPGRADE_REQUIRED,
                "this is the OTLP/WebSocket endpoint: connect with a WebSocket client",
            );
            response
                .headers_mut()
                .insert(header::UPGRADE, HeaderValue::from_static("websocket"));
            return response;
        }
        if headers
            .get(header::SEC_WEBSOCKET_VERSION)
            .is_none_or(|v| v.as_bytes() != b"13")
        {
            let mut response = plain(
                StatusCode::UPGRADE_REQUIRED,
                "only WebSocket version 13 is spoken",
            );
            response.headers_mut().insert(
                header::SEC_WEBSOCKET_VERSION,
                HeaderValue::from_static("13"),
            );
            return response;
        }
        let Some(key) = headers.get(header::SEC_WEBSOCKET_KEY) else {
            return plain(StatusCode::BAD_REQUEST, "Sec-WebSocket-Key is missing");
        };
        let accept_key = derive_accept_key(key.as_bytes());
        let (codec, named) = match negotiate(headers) {
            Ok(chosen) => chosen,
            Err(offered) => {
                return plain(
                    StatusCode::BAD_REQUEST,
                    &format!(
                        "none of the subprotocols {offered:?} is spoken here; offer one of {}",
                        offered_list()
                    ),
                );
            }
        };
        let verdict = if !origin_allowed(&hub.settings, headers) {
            Err((
                close::FORBIDDEN_ORIGIN,
                "this page's Origin is not on the receiver's allow-list",
            ))
        } else if !authorized(&hub.settings, headers, request.uri().query()) {
            Err((
                close::UNAUTHORIZED,
                "missing or wrong bearer token: send Authorization: Bearer <token> or ?token=<token>",
            ))
        } else {
            Ok(codec)
        };
        let on_upgrade = hyper::upgrade::on(&mut request);
        let open = Open::new(self.hub.clone());
        tokio::spawn(async move {
            let Ok(upgraded) = on_upgrade.await else {
                return;
            };
            let mut kill = open.0.kill.subscribe();
            tokio::select! {
                () = run(open, TokioIo::new(upgraded), verdict) => {}
                _ = kill.wait_for(|killed| *killed) => {}
            }
        });
        let mut response = Response::new(Full::new(Bytes::new()));
        *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        let headers = response.headers_mut();
        headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        headers.insert(
            header::SEC_WEBSOCKET_ACCEPT,
            HeaderValue::from_str(&accept_key).expect("base64 is a valid header value"),
        );
        if named {
            headers.insert(
                header::SEC_WEBSOCKET_PROTOCOL,
                HeaderValue::from_static(frame::subprotocol(codec)),
            );
        }
        response
    }
}

impl<B> tower::Service<Request<B>> for Upgrade {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        ready(Ok(self.accept(request)))
    }
}

/// One open connection, counted until it is dropped.
struct Open(Arc<Hub>);

impl Open {
    fn new(hub: Arc<Hub>) -> Self {
        hub.open.fetch_add(1, Ordering::AcqRel);
        hub.stats.connections.fetch_add(1, Ordering::Relaxed);
        Self(hub)
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::AcqRel);
        self.0.closed.notify_waiters();
    }
}

fn plain(status: StatusCode, message: &str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(format!("{message}\n"))));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

fn has_token(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers.get_all(name).iter().any(|value| {
        value
            .to_str()
            .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    })
}

fn offered_list() -> String {
    Codec::ALL
        .into_iter()
        .filter(|codec| codec.is_enabled())
        .map(frame::subprotocol)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The codec of the first offered subprotocol spoken here, and whether one
/// was named (none offered: protobuf, nothing echoed); the offer otherwise.
fn negotiate(headers: &HeaderMap) -> Result<(Codec, bool), String> {
    let offered: Vec<&str> = headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .collect();
    if offered.is_empty() {
        return Ok((Codec::Protobuf, false));
    }
    offered
        .iter()
        .filter_map(|name| frame::codec_of(name))
        .find(|codec| codec.is_enabled())
        .map(|codec| (codec, true))
        .ok_or_else(|| offered.join(", "))
}

fn origin_allowed(settings: &Settings, headers: &HeaderMap) -> bool {
    let (Some(allowed), Some(origin)) = (&settings.allowed_origins, headers.get(header::ORIGIN))
    else {
        return true;
    };
    allowed.iter().any(|a| a.as_bytes() == origin.as_bytes())
}

fn authorized(settings: &Settings, headers: &HeaderMap, query: Option<&str>) -> bool {
    let Some(token) = &settings.bearer_token else {
        return true;
    };
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .is_some_and(|(_, given)| same(given.trim(), token));
    let queried = query.is_some_and(|query| {
        query
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .any(|(name, given)| name == "token" && same(given, token))
    });
    bearer || queried
}

/// Compares without stopping at the first difference, so the time taken does
/// not tell how much of a guessed token was right.
fn same(given: &str, token: &str) -> bool {
    given.len() == token.len()
        && given
            .bytes()
            .zip(token.bytes())
            .fold(0u8, |diff, (a, b)| diff | (a ^ b))
            == 0
}

type Verdict = Result<Codec, (u16, &'static str)>;

async fn run<S>(open: Open, io: S, verdict: Verdict)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let hub = open.0.clone();
    let limit = hub.settings.max_message_size.saturating_add(ENVELOPE_ROOM);
    let config = WebSocketConfig::default()
        .max_message_size(Some(limit))
        .max_frame_size(Some(limit));
    let mut ws = WebSocketStream::from_raw_socket(io, Role::Server, Some(config)).await;
    let (code, reason) = match verdict {
        Ok(codec) => match serve(&hub, &mut ws, codec).await {
            Some(close) => close,
            None => return,
        },
        Err((code, reason)) => {
            hub.stats.refused.fetch_add(1, Ordering::Relaxed);
            (code, reason.to_string())
        }
    };
    if !matches!(code, close::GOING_AWAY | close::IDLE | close::NORMAL) {
        hub.stats.closed_on_error.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(code, %reason, "closing an OTLP/WebSocket connection");
    }
    let frame = CloseFrame {
        code: CloseCode::from(code),
        reason: truncate(reason).into(),
    };
    if ws.close(Some(frame)).await.is_ok() {
        let _ = tokio::time::timeout(CLOSE_WAIT, async {
            while let Some(Ok(_)) = ws.next().await {}
        })
        .await;
    }
    drop(open);
}

/// A close reason must fit in a control frame (125 bytes with the code).
fn truncate(mut reason: String) -> String {
    if reason.len() > 123 {
        let mut end = 120;
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        reason.truncate(end);
        reason.push_str("...");
    }
    reason
}

/// Reads requests and answers them until the connection ends (`None`) or
/// must be closed with a code and reason.
async fn serve<S>(
    hub: &Arc<Hub>,
    ws: &mut WebSocketStream<S>,
    codec: Codec,
) -> Option<(u16, String)>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let settings = &hub.settings;
    let mut stop = hub.stop.subscribe();
    let mut draining = *stop.borrow_and_update();
    let mut in_flight = FuturesUnordered::new();
    let idle = tokio::time::sleep(settings.idle_timeout);
    tokio::pin!(idle);
    loop {
        if draining && in_flight.is_empty() {
            return Some((
                close::GOING_AWAY,
                "the receiver is shutting down; send unacknowledged requests again".into(),
            ));
        }
        tokio::select! {
            Some(done) = in_flight.next(), if !in_flight.is_empty() => {
                let Ok(answer) = done else {
                    return Some((close::INTERNAL, "the receiver's sink failed".into()));
                };
                if ws.send(answer).await.is_err() {
                    return None;
                }
                idle.as_mut().reset(Instant::now() + settings.idle_timeout);
            }
            message = ws.next(), if !draining && in_flight.len() < settings.max_in_flight => {
                idle.as_mut().reset(Instant::now() + settings.idle_timeout);
                let request = match message {
                    None => return None,
                    Some(Ok(Message::Binary(bytes))) => frame::decode_request(bytes),
                    Some(Ok(Message::Text(text))) => match text_request(codec, text.as_str()) {
                        Ok(request) => Ok(request),
                        Err(close) => return Some(close),
                    },
                    Some(Ok(Message::Close(_))) => {
                        // The exporter is done; tungstenite queued the reply.
                        let _ = tokio::time::timeout(CLOSE_WAIT, async {
                            while let Some(Ok(_)) = ws.next().await {}
                        }).await;
                        return None;
                    }
                    Some(Ok(_)) => continue,
                    Some(Err(WsError::Capacity(e))) => {
                        return Some((close::TOO_BIG, format!(
                            "message over the limit of {} bytes ({e})", settings.max_message_size
                        )));
                    }
                    // The peer went away without a close: nobody to tell.
                    Some(Err(WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake))) => {
                        return None;
                    }
                    Some(Err(WsError::Protocol(e))) => return Some((close::PROTOCOL, e.to_string())),
                    Some(Err(WsError::Utf8(_))) => {
                        return Some((close::INVALID, "a text message is not UTF-8".into()));
                    }
                    Some(Err(_)) => return None,
                };
                match request {
                    Ok(request) => in_flight.push(tokio::spawn(answer(hub.clone(), codec, request))),
                    Err(error) => return Some((error.close_code(), error.to_string())),
                }
            }
            _ = stop.changed(), if !draining => draining = true,
            () = &mut idle, if in_flight.is_empty() => {
                return Some((close::IDLE, format!(
                    "no request for {:?}; reconnect when there is something to send",
                    settings.idle_timeout
                )));
            }
        }
    }
}

#[cfg(feature = "json")]
fn text_request(codec: Codec, text: &str) -> Result<frame::Request, (u16, String)> {
    if codec != Codec::Json {
        return Err(text_refused(codec));
    }
    frame::decode_text(text).map_err(|e| (e.close_code(), e.to_string()))
}

#[cfg(not(feature = "json"))]
fn text_request(codec: Codec, _text: &str) -> Result<frame::Request, (u16, String)> {
    Err(text_refused(codec))
}

fn text_refused(codec: Codec) -> (u16, String) {
    (
        close::UNSUPPORTED,
        format!(
            "text messages carry OTLP/JSON on {} connections only; this one speaks {}",
            frame::subprotocol(Codec::Json),
            frame::subprotocol(codec)
        ),
    )
}

/// Hands one request to the sink and puts the outcome in an acknowledgement.
async fn answer(hub: Arc<Hub>, codec: Codec, request: frame::Request) -> Message {
    let id = request.id;
    let text = request.text;
    let reply = export(&hub, codec, request).await;
    hub.stats.requests.fetch_add(1, Ordering::Relaxed);
    if !matches!(reply, Reply::Success | Reply::PartialSuccess { .. }) {
        hub.stats.failed.fetch_add(1, Ordering::Relaxed);
    }
    #[cfg(feature = "json")]
    if text {
        return Message::Text(frame::encode_text_ack(id, &reply).into());
    }
    let _ = text;
    Message::Binary(frame::encode_ack(id, &reply))
}

async fn export(hub: &Hub, codec: Codec, request: frame::Request) -> Reply {
    if !request.compression.is_supported() {
        return Reply::Permanent {
            message: format!(
                "compression {} is not enabled in this receiver",
                request.compression.as_str()
            ),
        };
    }
    let encoded = Encoded::new(request.signal, codec, request.compression, request.payload);
    let payload = if hub.sink.wants_encoded(request.signal) {
        Payload::Encoded(encoded)
    } else {
        match encoded.decode(hub.settings.max_message_size) {
            Ok(decoded) => Payload::Request(decoded),
            Err(error) => {
                return Reply::Permanent {
                    message: error.to_string(),
                };
            }
        }
    };
    match hub.sink.export(payload).await {
        Ok(outcome) => Reply::from_outcome(outcome),
        Err(error) => sink_reply(&error),
    }
}

/// The same classes OTLP/HTTP gives the sink's errors: 429 and 503 are
/// retryable (throttled when a delay is given), the rest permanent.
fn sink_reply(error: &SinkError) -> Reply {
    let message = error.to_string();
    match (error.http_status(), error.retry_after()) {
        (429 | 502 | 503 | 504, Some(delay)) => Reply::Throttled { delay, message },
        (429 | 502 | 503 | 504, None) => Reply::Retryable { message },
        _ => Reply::Permanent { message },
    }
}

/// Serves one HTTP/1.1 connection, upgrades allowed, until it ends.
async fn serve_http1<IO, S>(io: IO, service: S, header_timeout: Duration)
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    S: hyper::service::HttpService<hyper::body::Incoming>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    S::ResBody: 'static,
    <S::ResBody as hyper::body::Body>::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    let _ = connection.await;
}

/// An OTLP/WebSocket receiver on a listener of its own, bound and not yet
/// serving. To serve `/v1/ws` on the OTLP/HTTP port instead, mount an
/// [`Upgrade`] on that server.
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    settings: Settings,
    #[cfg(feature = "tls")]
    tls: Option<Arc<rustls::ServerConfig>>,
}

/// Settings of a [`Server`]: the [`Settings`] of its connections.
#[derive(Debug, Clone, Default)]
pub struct ServerBuilder {
    settings: Settings,
    #[cfg(feature = "tls")]
    tls: Option<Arc<rustls::ServerConfig>>,
}

macro_rules! delegate {
    ($($(#[$doc:meta])* $name:ident($arg:ty);)*) => {$(
        $(#[$doc])*
        pub fn $name(mut self, value: $arg) -> Self {
            self.settings = self.settings.$name(value);
            self
        }
    )*};
}

impl ServerBuilder {
    /// Replaces every setting.
    pub fn settings(mut self, settings: Settings) -> Self {
        self.settings = settings;
        self
    }

    delegate! {
        /// See [`Settings::path`].
        path(impl Into<String>);
        /// See [`Settings::bearer_token`].
        bearer_token(impl Into<String>);
        /// See [`Settings::allow_origin`].
        allow_origin(impl Into<String>);
        /// See [`Settings::max_message_size`].
        max_message_size(usize);
        /// See [`Settings::idle_timeout`].
        idle_timeout(Duration);
        /// See [`Settings::max_in_flight`].
        max_in_flight(usize);
        /// See [`Settings::drain_timeout`].
        drain_timeout(Duration);
        /// See [`Settings::header_read_timeout`].
        header_read_timeout(Duration);
    }

    /// Serves `wss://`: TLS (and mutual TLS when the config verifies client
    /// certificates) with these settings ([`crate::tls::server_config`]
    /// builds them from PEM). The TLS handshake shares the header read
    /// timeout. ALPN offers `http/1.1` unless the config already says.
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    pub fn tls(mut self, mut config: rustls::ServerConfig) -> Self {
        if config.alpn_protocols.is_empty() {
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
        }
        self.tls = Some(Arc::new(config));
        self
    }

    /// Binds the listener (port 0 for an ephemeral port).
    pub async fn bind(self, addr: impl ToSocketAddrs) -> Result<Server, BindError> {
        if !self.settings.path.starts_with('/') {
            return Err(BindError::InvalidPath(self.settings.path));
        }
        let listener = TcpListener::bind(addr).await.map_err(BindError::Io)?;
        Ok(Server {
            listener,
            settings: self.settings,
            #[cfg(feature = "tls")]
            tls: self.tls,
        })
    }
}

impl Server {
    /// The settings, to change before [`bind`](ServerBuilder::bind).
    pub fn builder() -> ServerBuilder {
        ServerBuilder::default()
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound TCP listener has a local address")
    }

    /// Serves until `shutdown` completes, then stops accepting, lets every
    /// connection answer what it read and close (up to the drain timeout).
    pub async fn serve(
        self,
        sink: impl Sink,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), ServeError> {
        let upgrade = Upgrade::new(sink, self.settings.clone());
        self.serve_upgrade(upgrade, shutdown).await
    }

    /// Serves on a task of its own; the handle stops it.
    pub fn spawn(self, sink: impl Sink) -> ServerHandle {
        let upgrade = Upgrade::new(sink, self.settings.clone());
        let stats = upgrade.stats();
        let upgrade_handle = upgrade.clone();
        let local_addr = self.local_addr();
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(self.serve_upgrade(upgrade, async {
            let _ = rx.await;
        }));
        ServerHandle {
            local_addr,
            stats,
            upgrade: upgrade_handle,
            stop: Some(tx),
            task,
        }
    }

    async fn serve_upgrade(
        self,
        upgrade: Upgrade,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), ServeError> {
        let path: Arc<str> = self.settings.path.clone().into();
        let header_timeout = self.settings.header_read_timeout;
        let mut handshakes = JoinSet::new();
        tokio::pin!(shutdown);
        let result = loop {
            tokio::select! {
                () = &mut shutdown => break Ok(()),
                Some(_) = handshakes.join_next(), if !handshakes.is_empty() => {}
                accepted = self.listener.accept() => match accepted {
                    Ok((stream, _)) => {
                        let _ = stream.set_nodelay(true);
                        let upgrade = upgrade.clone();
                        let path = path.clone();
                        #[cfg(feature = "tls")]
                        let tls = self.tls.clone();
                        handshakes.spawn(async move {
                            let service = hyper::service::service_fn(move |request: Request<hyper::body::Incoming>| {
                                let response = if request.uri().path() == &*path {
                                    upgrade.accept(request)
                                } else {
                                    plain(StatusCode::NOT_FOUND, "the OTLP/WebSocket endpoint is elsewhere")
                                };
                                ready(Ok::<_, Infallible>(response))
                            });
                            #[cfg(feature = "tls")]
                            if let Some(tls) = tls {
                                // A peer that never completes the handshake
                                // is dropped like one that never sends headers.
                                if let Ok(Ok(stream)) = tokio::time::timeout(header_timeout, tokio_rustls::TlsAcceptor::from(tls).accept(stream)).await {
                                    serve_http1(stream, service, header_timeout).await;
                                }
                                return;
                            }
                            serve_http1(stream, service, header_timeout).await;
                        });
                    }
                    Err(error) if is_transient(&error) => {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                    Err(error) => break Err(ServeError::Accept(error)),
                },
            }
        };
        drop(self.listener);
        // Connections still before their upgrade have sent nothing to answer.
        handshakes.abort_all();
        upgrade.shutdown().await;
        result
    }
}

fn is_transient(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
            | io::ErrorKind::OutOfMemory
    ) || matches!(error.raw_os_error(), Some(23 | 24 | 105 | 12))
}

/// A [`Server`] running on its own task.
#[derive(Debug)]
pub struct ServerHandle {
    local_addr: SocketAddr,
    stats: ServerStats,
    upgrade: Upgrade,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), ServeError>>,
}

impl ServerHandle {
    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// What the server did and turned away so far.
    pub fn stats(&self) -> &ServerStats {
        &self.stats
    }

    /// Stops at once: closes the listener and drops every connection without
    /// answering what is in flight, as a crash would (see [`Upgrade::abort`]).
    pub async fn abort(self) {
        self.upgrade.abort();
        self.task.abort();
        let _ = self.task.await;
    }

    /// Stops accepting, lets connections answer what they read and close,
    /// and waits for the end.
    pub async fn shutdown(mut self) -> Result<(), ServeError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match (&mut self.task).await {
            Ok(result) => result,
            Err(error) => Err(ServeError::Task(error.to_string())),
        }
    }
}

/// The listener could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BindError {
    /// Binding the address failed (in use, no permission, unresolvable).
    #[error("cannot bind the OTLP/WebSocket listener: {0}")]
    Io(#[source] io::Error),
    /// The path does not start with `/`.
    #[error("the OTLP/WebSocket path {0:?} must start with '/'")]
    InvalidPath(String),
}

/// Serving stopped on an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The listener failed in a way that accepting again cannot fix.
    #[error("the OTLP/WebSocket listener failed: {0}")]
    Accept(#[source] io::Error),
    /// The serving task panicked or was cancelled.
    #[error("the OTLP/WebSocket server task ended abnormally: {0}")]
    Task(String),
}
