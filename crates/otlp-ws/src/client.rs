//! The exporter: one WebSocket connection carrying many requests, each
//! answered by an acknowledgement, resent after a reconnect until it is.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http::{HeaderName, HeaderValue, Uri, header};
use otlp_codec::Codec;
use otlp_compression::{Compression, Encoder};
use otlp_transport::proxy::{Proxies, ProxyError, Via};
use otlp_transport::{Encoded, ExportError, Outcome, Payload, WireFormat};
use tokio::net::TcpStream;
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Message, WebSocketConfig};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::close;
use crate::frame;

/// The endpoint when none is given.
pub const DEFAULT_ENDPOINT: &str = "ws://localhost:4318/v1/ws";

/// How to reach the receiver and how to behave on the connection.
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    endpoint: String,
    codec: Codec,
    encoder: Encoder,
    headers: Vec<(String, String)>,
    bearer_token: Option<String>,
    timeout: Duration,
    connect_timeout: Duration,
    window: usize,
    keepalive: Duration,
    backoff: (Duration, Duration),
    max_message_size: usize,
    proxies: Option<Proxies>,
    #[cfg(feature = "tls")]
    tls: Option<rustls::ClientConfig>,
}

impl Default for ClientBuilder {
    fn default() -> Self {
        Self {
            endpoint: DEFAULT_ENDPOINT.to_string(),
            codec: Codec::Protobuf,
            encoder: Encoder::new(Compression::None),
            headers: Vec::new(),
            bearer_token: None,
            timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(10),
            window: 64,
            keepalive: Duration::from_secs(20),
            backoff: (Duration::from_millis(50), Duration::from_secs(5)),
            max_message_size: crate::DEFAULT_MAX_MESSAGE_SIZE,
            proxies: None,
            #[cfg(feature = "tls")]
            tls: None,
        }
    }
}

impl ClientBuilder {
    /// The receiver's URL: `ws://host:port/path` (`http://` is taken as
    /// `ws://`), or `wss://` (`https://`) with the `tls` feature. Without a
    /// path, `/v1/ws` is used. Default [`DEFAULT_ENDPOINT`].
    pub fn endpoint(mut self, url: impl Into<String>) -> Self {
        self.endpoint = url.into();
        self
    }

    /// The codec of the payloads, offered as the subprotocol
    /// (`otlp.v1.protobuf`, …). Default protobuf.
    pub fn codec(mut self, codec: Codec) -> Self {
        self.codec = codec;
        self
    }

    /// The compression of every payload. Default none.
    pub fn compression(mut self, compression: Compression) -> Self {
        self.encoder = Encoder::new(compression);
        self
    }

    /// The compressor, with its level.
    pub fn encoder(mut self, encoder: Encoder) -> Self {
        self.encoder = encoder;
        self
    }

    /// A header on the upgrade request; repeatable.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sends `Authorization: Bearer <token>` on the upgrade request.
    pub fn bearer_token(mut self, token: impl Into<String>) -> Self {
        self.bearer_token = Some(token.into());
        self
    }

    /// How long one export waits for its acknowledgement, reconnects
    /// included; then it fails as retryable. Default 10 s.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How long one connection attempt (TCP and handshake) may take.
    /// Default 10 s.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The most requests sent and not yet acknowledged; further exports wait
    /// for a place. Default 64.
    pub fn window(mut self, requests: usize) -> Self {
        self.window = requests.max(1);
        self
    }

    /// How often to ping the receiver; a connection that stays silent for
    /// twice as long is taken as dead and replaced. Default 20 s.
    pub fn keepalive(mut self, interval: Duration) -> Self {
        self.keepalive = interval.max(Duration::from_millis(10));
        self
    }

    /// The first and the longest wait between connection attempts; the wait
    /// doubles after each failure, with jitter. Default 50 ms and 5 s.
    pub fn backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.backoff = (initial, max.max(initial));
        self
    }

    /// The largest payload sent (a larger export fails as permanent), and the
    /// largest message read. Default 20 MiB, the receiver's default.
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes;
        self
    }

    /// The TLS settings of a `wss://` endpoint: the CAs to trust and, for
    /// mutual TLS, the client certificate ([`crate::tls`] builds one from
    /// PEM). Its ALPN protocols are replaced by `http/1.1`, the protocol of
    /// the upgrade. Without it, a `wss://` endpoint trusts the system's root
    /// certificates (feature `tls-native-roots`).
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    pub fn tls(mut self, config: rustls::ClientConfig) -> Self {
        self.tls = Some(config);
        self
    }

    /// The forward proxies to reach the endpoint through (a `CONNECT`
    /// tunnel). Default: the environment's `HTTPS_PROXY` (for `wss://`),
    /// `HTTP_PROXY` (for `ws://`) and `NO_PROXY`, read when the client is
    /// built (see [`otlp_transport::proxy`]); [`Proxies::none`] to always
    /// connect directly.
    pub fn proxy(mut self, proxies: Proxies) -> Self {
        self.proxies = Some(proxies);
        self
    }

    /// Checks the settings and builds the client; it connects on the first
    /// export.
    pub fn build(self) -> Result<Client, BuildError> {
        if !self.codec.is_enabled() {
            return Err(BuildError::Codec(self.codec));
        }
        if !self.encoder.compression().is_supported() {
            return Err(BuildError::Compression(self.encoder.compression()));
        }
        let url = endpoint_url(&self.endpoint)?;
        #[cfg(feature = "tls")]
        let tls = match url.starts_with("wss:") {
            true => Some(Arc::new(tls_settings(self.tls)?)),
            false => None,
        };
        #[cfg(not(feature = "tls"))]
        if url.starts_with("wss:") {
            return Err(BuildError::TlsDisabled(url));
        }
        let mut request = url
            .as_str()
            .into_client_request()
            .map_err(|e| BuildError::Endpoint(self.endpoint.clone(), e.to_string()))?;
        let headers = request.headers_mut();
        headers.insert(
            header::SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static(frame::subprotocol(self.codec)),
        );
        if let Some(token) = &self.bearer_token {
            let value = HeaderValue::try_from(format!("Bearer {token}"))
                .map_err(|_| BuildError::Header("authorization".into()))?;
            headers.insert(header::AUTHORIZATION, value);
        }
        for (name, value) in &self.headers {
            let name = HeaderName::try_from(name.as_str())
                .map_err(|_| BuildError::Header(name.clone()))?;
            let value = HeaderValue::try_from(value.as_str())
                .map_err(|_| BuildError::Header(name.to_string()))?;
            headers.append(name, value);
        }
        let proxies = match self.proxies {
            Some(proxies) => proxies,
            None => Proxies::from_env()?,
        };
        let uri = request.uri();
        let proxy = proxies.route(
            uri.scheme_str(),
            uri.host().unwrap_or_default(),
            uri.port_u16(),
        );
        let wire = WireFormat::new(self.codec, self.encoder).with_max_size(self.max_message_size);
        Ok(Client {
            shared: Arc::new(Shared {
                window: Arc::new(Semaphore::new(self.window)),
                next_id: AtomicU64::new(1),
                driver: OnceLock::new(),
                stats: Arc::new(Stats::default()),
                wire,
                config: Arc::new(Config {
                    url,
                    request,
                    timeout: self.timeout,
                    connect_timeout: self.connect_timeout,
                    keepalive: self.keepalive,
                    backoff: self.backoff,
                    max_message_size: self.max_message_size,
                    subprotocol: frame::subprotocol(self.codec),
                    proxy,
                    #[cfg(feature = "tls")]
                    tls,
                }),
            }),
        })
    }
}

/// `ws://host:port/path`, from what the user wrote.
fn endpoint_url(endpoint: &str) -> Result<String, BuildError> {
    let invalid = |why: &str| BuildError::Endpoint(endpoint.to_string(), why.to_string());
    let uri: Uri = endpoint
        .trim()
        .parse()
        .map_err(|e: http::uri::InvalidUri| invalid(&e.to_string()))?;
    let scheme = match uri.scheme_str() {
        Some("ws" | "http") => "ws",
        Some("wss" | "https") => "wss",
        Some(other) => return Err(invalid(&format!("the scheme {other:?} is not ws or wss"))),
        None => return Err(invalid("it has no scheme: write ws://host:port")),
    };
    let authority = uri.authority().ok_or_else(|| invalid("it has no host"))?;
    let path = match uri.path_and_query().map(|p| p.as_str()) {
        None | Some("" | "/") => crate::DEFAULT_PATH,
        Some(path) => path,
    };
    Ok(format!("{scheme}://{authority}{path}"))
}

/// The settings a `wss://` connection uses: the given ones, or the system's
/// root certificates; ALPN `http/1.1`, since the upgrade is an HTTP/1.1
/// request (a server preferring HTTP/2 would otherwise choose it).
#[cfg(feature = "tls")]
fn tls_settings(given: Option<rustls::ClientConfig>) -> Result<rustls::ClientConfig, BuildError> {
    let mut config = match given {
        Some(config) => config,
        #[cfg(feature = "tls-native-roots")]
        None => otlp_transport::tls::system_client_config(None)
            .map_err(|e| BuildError::Tls(e.to_string()))?,
        #[cfg(not(feature = "tls-native-roots"))]
        None => {
            return Err(BuildError::Tls(
                "a wss:// endpoint needs TLS settings: pass a rustls ClientConfig to ClientBuilder::tls \
                 (otlp_ws::tls::client_config builds one from PEM), or enable the \
                 `tls-native-roots` feature to trust the system's root certificates"
                    .into(),
            ));
        }
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// The settings could not make a client.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The endpoint is not a usable `ws://` URL.
    #[error("the OTLP/WebSocket endpoint {0:?} is not valid: {1}")]
    Endpoint(String, String),
    /// A `wss://` endpoint, but the crate was built without `tls`.
    #[error("{0} needs TLS: enable the `tls` feature of otlp-ws")]
    TlsDisabled(String),
    /// The TLS settings of a `wss://` endpoint are missing or unusable.
    #[error("TLS: {0}")]
    Tls(String),
    /// A header name or value cannot be sent.
    #[error("the header {0:?} has an invalid name or value")]
    Header(String),
    /// The codec's feature is not compiled in.
    #[error("the {0:?} codec is not enabled: turn on its otlp-ws feature")]
    Codec(Codec),
    /// The compression's feature is not compiled in.
    #[error("the {0:?} compression is not enabled: turn on its otlp-ws feature")]
    Compression(Compression),
    /// A proxy variable (`HTTPS_PROXY`, `HTTP_PROXY`) cannot be used.
    #[error(transparent)]
    Proxy(#[from] ProxyError),
}

/// An OTLP/WebSocket exporter: cheap to clone, all clones sharing one
/// connection, opened on the first export and reopened (with backoff) when
/// lost. Requests not yet acknowledged when a connection is lost are sent
/// again on the next one, so delivery is at least once.
#[derive(Clone)]
pub struct Client {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("url", &self.shared.config.url)
            .field("wire", &self.shared.wire)
            .finish_non_exhaustive()
    }
}

struct Shared {
    config: Arc<Config>,
    wire: WireFormat,
    window: Arc<Semaphore>,
    next_id: AtomicU64,
    driver: OnceLock<mpsc::UnboundedSender<Command>>,
    stats: Arc<Stats>,
}

struct Config {
    url: String,
    request: http::Request<()>,
    timeout: Duration,
    connect_timeout: Duration,
    keepalive: Duration,
    backoff: (Duration, Duration),
    max_message_size: usize,
    subprotocol: &'static str,
    proxy: Option<Via>,
    #[cfg(feature = "tls")]
    tls: Option<Arc<rustls::ClientConfig>>,
}

#[derive(Debug, Default)]
struct Stats {
    connections: AtomicU64,
    connect_failures: AtomicU64,
    sent: AtomicU64,
    resent: AtomicU64,
    acknowledged: AtomicU64,
    /// Why the latest connection attempt failed, until one succeeds: what a
    /// timed-out export reports.
    last_failure: std::sync::Mutex<Option<String>>,
}

impl Stats {
    fn set_last_failure(&self, failure: Option<&str>) {
        if let Ok(mut last) = self.last_failure.lock() {
            *last = failure.map(str::to_owned);
        }
    }
}

/// Live counters of a client's connection.
#[derive(Debug, Clone)]
pub struct ClientStats(Arc<Stats>);

impl ClientStats {
    /// Connections opened (the first one and every reconnect).
    pub fn connections(&self) -> u64 {
        self.0.connections.load(Ordering::Relaxed)
    }

    /// Connection attempts that failed.
    pub fn connect_failures(&self) -> u64 {
        self.0.connect_failures.load(Ordering::Relaxed)
    }

    /// Request messages written, resends included.
    pub fn sent(&self) -> u64 {
        self.0.sent.load(Ordering::Relaxed)
    }

    /// Requests written again on a new connection because the previous one
    /// was lost before their acknowledgement.
    pub fn resent(&self) -> u64 {
        self.0.resent.load(Ordering::Relaxed)
    }

    /// Acknowledgements received (any outcome).
    pub fn acknowledged(&self) -> u64 {
        self.0.acknowledged.load(Ordering::Relaxed)
    }
}

enum Command {
    Send {
        id: u64,
        frame: Bytes,
        reply: oneshot::Sender<Result<Outcome, ExportError>>,
    },
    /// The caller stopped waiting (timeout): do not send it again.
    Forget(u64),
    /// Close once every request is acknowledged.
    Close(oneshot::Sender<()>),
}

impl Client {
    /// The settings, to change before [`build`](ClientBuilder::build).
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// The codec, compression and size cap payloads are put in.
    pub fn wire_format(&self) -> WireFormat {
        self.shared.wire
    }

    /// The counters of the connection.
    pub fn stats(&self) -> ClientStats {
        ClientStats(self.shared.stats.clone())
    }

    /// Encodes `payload` in the [wire format](Self::wire_format) and exports it.
    pub async fn export(&self, payload: impl Into<Payload>) -> Result<Outcome, ExportError> {
        let encoded = self.shared.wire.encode(payload.into())?;
        send(self.shared.clone(), encoded).await
    }

    /// Waits for every request in flight to be acknowledged (or to time
    /// out), then closes the connection with code 1000. Exports after this
    /// open a new connection.
    pub async fn close(&self) {
        let Some(driver) = self.shared.driver.get() else {
            return;
        };
        let (done, closed) = oneshot::channel();
        if driver.send(Command::Close(done)).is_ok() {
            let _ = closed.await;
        }
    }
}

impl tower::Service<Encoded> for Client {
    type Response = Outcome;
    type Error = ExportError;
    type Future = Pin<Box<dyn Future<Output = Result<Outcome, ExportError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), ExportError>> {
        // The window is taken in the call, so that a request waits for a
        // place without holding one in `poll_ready` that it may never use.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, encoded: Encoded) -> Self::Future {
        Box::pin(send(self.shared.clone(), encoded))
    }
}

async fn send(shared: Arc<Shared>, encoded: Encoded) -> Result<Outcome, ExportError> {
    let config = &shared.config;
    if encoded.codec() != shared.wire.codec() {
        return Err(ExportError::permanent(format!(
            "a {:?} payload on a {} connection: encode payloads with Client::wire_format()",
            encoded.codec(),
            config.subprotocol
        )));
    }
    if encoded.body().len() > config.max_message_size {
        return Err(ExportError::permanent(format!(
            "the request is {} bytes, over the message limit of {} bytes",
            encoded.body().len(),
            config.max_message_size
        )));
    }
    let deadline = Instant::now() + config.timeout;
    let no_ack = || {
        let last = shared
            .stats
            .last_failure
            .lock()
            .ok()
            .and_then(|l| l.clone());
        ExportError::retryable(match last {
            Some(failure) => format!(
                "no acknowledgement within {:?}; the last connection attempt failed: {failure}",
                config.timeout
            ),
            None => format!("no acknowledgement within {:?}", config.timeout),
        })
    };
    let Ok(permit) = tokio::time::timeout_at(deadline, shared.window.clone().acquire_owned()).await
    else {
        return Err(no_ack());
    };
    let permit = permit.expect("the window is never closed");
    let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
    let driver = shared.driver.get_or_init(|| {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(drive(shared.config.clone(), rx, shared.stats.clone()));
        tx
    });
    let (reply, answer) = oneshot::channel();
    let frame = frame::encode_request(id, &encoded);
    if driver.send(Command::Send { id, frame, reply }).is_err() {
        return Err(ExportError::retryable(
            "the connection task has ended (its runtime shut down)",
        ));
    }
    let result = match tokio::time::timeout_at(deadline, answer).await {
        Ok(Ok(result)) => result,
        Ok(Err(_)) => Err(ExportError::retryable(
            "the connection task ended before the acknowledgement",
        )),
        Err(_) => {
            let _ = driver.send(Command::Forget(id));
            Err(no_ack())
        }
    };
    drop(permit);
    result
}

/// A request sent and not yet acknowledged.
struct Pending {
    frame: Bytes,
    reply: oneshot::Sender<Result<Outcome, ExportError>>,
    /// Written on an earlier connection: writing it again is a resend.
    written: bool,
}

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Why a connection ended.
enum End {
    /// Lost (network, silence, going away, idle): reconnect and resend.
    Lost(String),
    /// Closed with a code that resending cannot fix.
    Refused(String),
    /// Closed as asked; every client gone if `true`.
    Done(bool),
}

/// The connection task: owns the socket and every unacknowledged request.
async fn drive(
    config: Arc<Config>,
    mut commands: mpsc::UnboundedReceiver<Command>,
    stats: Arc<Stats>,
) {
    let mut pending: BTreeMap<u64, Pending> = BTreeMap::new();
    let mut closing: Vec<oneshot::Sender<()>> = Vec::new();
    let mut failures: u32 = 0;
    loop {
        // Requests whose callers stopped waiting are not worth a connection.
        pending.retain(|_, request| !request.reply.is_closed());
        if pending.is_empty() {
            for done in closing.drain(..) {
                let _ = done.send(());
            }
            // Connect only when there is something to send.
            match commands.recv().await {
                None => return,
                Some(command) => apply(command, &mut pending, &mut closing),
            }
            continue;
        }
        if failures > 0 {
            let wait = backoff(config.backoff, failures);
            let sleep = tokio::time::sleep(wait);
            tokio::pin!(sleep);
            loop {
                tokio::select! {
                    () = &mut sleep => break,
                    command = commands.recv() => match command {
                        Some(command) => apply(command, &mut pending, &mut closing),
                        None => return,
                    },
                }
            }
            if pending.is_empty() {
                continue;
            }
        }
        let connect = connect(&config);
        tokio::pin!(connect);
        let connected = loop {
            tokio::select! {
                result = &mut connect => break result,
                command = commands.recv() => match command {
                    Some(command) => apply(command, &mut pending, &mut closing),
                    None => return,
                },
            }
        };
        let ws = match connected {
            Ok(ws) => ws,
            Err(Failure::Permanent(message)) => {
                fail(&mut pending, &message);
                failures = 0;
                continue;
            }
            Err(Failure::Retryable(message)) => {
                stats.connect_failures.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(%message, "OTLP/WebSocket connection attempt failed");
                stats.set_last_failure(Some(&message));
                failures = failures.saturating_add(1);
                continue;
            }
        };
        stats.connections.fetch_add(1, Ordering::Relaxed);
        stats.set_last_failure(None);
        failures = 0;
        match session(
            &config,
            ws,
            &mut commands,
            &mut pending,
            &mut closing,
            &stats,
        )
        .await
        {
            End::Lost(why) => {
                tracing::debug!(%why, unacknowledged = pending.len(), "OTLP/WebSocket connection lost");
                // Reconnect at once the first time, with backoff after.
                failures = 0;
            }
            End::Refused(message) => fail(&mut pending, &message),
            End::Done(gone) => {
                for done in closing.drain(..) {
                    let _ = done.send(());
                }
                if gone {
                    return;
                }
            }
        }
    }
}

fn apply(
    command: Command,
    pending: &mut BTreeMap<u64, Pending>,
    closing: &mut Vec<oneshot::Sender<()>>,
) {
    match command {
        Command::Send { id, frame, reply } => {
            pending.insert(
                id,
                Pending {
                    frame,
                    reply,
                    written: false,
                },
            );
        }
        Command::Forget(id) => {
            pending.remove(&id);
        }
        Command::Close(done) => closing.push(done),
    }
}

fn fail(pending: &mut BTreeMap<u64, Pending>, message: &str) {
    for (_, request) in std::mem::take(pending) {
        let _ = request
            .reply
            .send(Err(ExportError::permanent(message.to_string())));
    }
}

/// Exponential backoff with jitter: half to all of `initial * 2^(n-1)`,
/// capped, so that many exporters cut off together do not reconnect together.
fn backoff((initial, max): (Duration, Duration), failures: u32) -> Duration {
    let exp = initial.saturating_mul(1u32 << failures.saturating_sub(1).min(16));
    exp.min(max).mul_f64(0.5 + fastrand::f64() / 2.0)
}

enum Failure {
    Retryable(String),
    Permanent(String),
}

async fn connect(config: &Config) -> Result<Socket, Failure> {
    let ws_config = WebSocketConfig::default()
        .max_message_size(Some(config.max_message_size.saturating_add(4096)))
        .max_frame_size(Some(config.max_message_size.saturating_add(4096)));
    let attempt = async {
        let Some(via) = &config.proxy else {
            #[cfg(feature = "tls")]
            return tokio_tungstenite::connect_async_tls_with_config(
                config.request.clone(),
                Some(ws_config),
                true,
                config.tls.clone().map(tokio_tungstenite::Connector::Rustls),
            )
            .await;
            #[cfg(not(feature = "tls"))]
            return tokio_tungstenite::connect_async_with_config(
                config.request.clone(),
                Some(ws_config),
                true,
            )
            .await;
        };
        let stream = via.tunnel().await.map_err(|error| {
            tokio_tungstenite::tungstenite::Error::Io(std::io::Error::other(error))
        })?;
        #[cfg(feature = "tls")]
        return tokio_tungstenite::client_async_tls_with_config(
            config.request.clone(),
            stream,
            Some(ws_config),
            config.tls.clone().map(tokio_tungstenite::Connector::Rustls),
        )
        .await;
        #[cfg(not(feature = "tls"))]
        return tokio_tungstenite::client_async_with_config(
            config.request.clone(),
            MaybeTlsStream::Plain(stream),
            Some(ws_config),
        )
        .await;
    };
    let (ws, response) = match tokio::time::timeout(config.connect_timeout, attempt).await {
        Err(_) => {
            return Err(Failure::Retryable(format!(
                "no connection to {} within {:?}",
                config.url, config.connect_timeout
            )));
        }
        Ok(Err(tokio_tungstenite::tungstenite::Error::Http(response))) => {
            let status = response.status();
            let body = response
                .body()
                .as_deref()
                .map(String::from_utf8_lossy)
                .unwrap_or_default()
                .trim()
                .to_string();
            let message = format!(
                "{} refused the upgrade with HTTP {status}: {body}",
                config.url
            );
            return Err(if matches!(status.as_u16(), 429 | 502 | 503 | 504) {
                Failure::Retryable(message)
            } else {
                Failure::Permanent(message)
            });
        }
        Ok(Err(error)) => {
            return Err(Failure::Retryable(format!(
                "cannot connect to {}: {error}",
                config.url
            )));
        }
        Ok(Ok(connected)) => connected,
    };
    let chosen = response.headers().get(header::SEC_WEBSOCKET_PROTOCOL);
    if chosen.is_none_or(|v| v.as_bytes() != config.subprotocol.as_bytes()) {
        return Err(Failure::Permanent(format!(
            "{} did not accept the subprotocol {} (answered {chosen:?})",
            config.url, config.subprotocol
        )));
    }
    Ok(ws)
}

/// Runs one connection: resends what is pending, then sends, reads
/// acknowledgements and pings until it ends.
async fn session(
    config: &Config,
    mut ws: Socket,
    commands: &mut mpsc::UnboundedReceiver<Command>,
    pending: &mut BTreeMap<u64, Pending>,
    closing: &mut Vec<oneshot::Sender<()>>,
    stats: &Stats,
) -> End {
    for request in pending.values_mut() {
        if request.written {
            stats.resent.fetch_add(1, Ordering::Relaxed);
        }
        request.written = true;
        stats.sent.fetch_add(1, Ordering::Relaxed);
        if let Err(error) = ws.feed(Message::Binary(request.frame.clone())).await {
            return End::Lost(error.to_string());
        }
    }
    if let Err(error) = ws.flush().await {
        return End::Lost(error.to_string());
    }
    let mut ping = tokio::time::interval(config.keepalive);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ping.tick().await;
    let mut heard = Instant::now();
    let mut gone = false;
    loop {
        if (gone || !closing.is_empty()) && pending.is_empty() {
            let frame = CloseFrame {
                code: CloseCode::Normal,
                reason: "the exporter is done".into(),
            };
            if ws.close(Some(frame)).await.is_ok() {
                let _ = tokio::time::timeout(Duration::from_secs(5), async {
                    while let Some(Ok(_)) = ws.next().await {}
                })
                .await;
            }
            return End::Done(gone);
        }
        tokio::select! {
            command = commands.recv(), if !gone => match command {
                Some(Command::Send { id, frame, reply }) => {
                    pending.insert(id, Pending { frame: frame.clone(), reply, written: true });
                    stats.sent.fetch_add(1, Ordering::Relaxed);
                    if let Err(error) = ws.send(Message::Binary(frame)).await {
                        return End::Lost(error.to_string());
                    }
                }
                Some(other) => apply(other, pending, closing),
                None => gone = true,
            },
            message = ws.next() => {
                heard = Instant::now();
                match message {
                    Some(Ok(Message::Binary(bytes))) => match frame::decode_ack(&bytes) {
                        Ok((id, reply)) => {
                            stats.acknowledged.fetch_add(1, Ordering::Relaxed);
                            if let Some(request) = pending.remove(&id) {
                                let _ = request.reply.send(reply.into_result());
                            }
                        }
                        Err(error) => return End::Refused(error.to_string()),
                    },
                    Some(Ok(Message::Close(frame))) => {
                        let (code, reason) = frame
                            .map(|f| (u16::from(f.code), f.reason.to_string()))
                            .unwrap_or((1005, String::new()));
                        // Let tungstenite send its reply to the close.
                        let _ = tokio::time::timeout(Duration::from_secs(1), async {
                            while let Some(Ok(_)) = ws.next().await {}
                        }).await;
                        let message = format!("the receiver closed the connection with code {code}: {reason}");
                        return if close::is_permanent(code) {
                            End::Refused(message)
                        } else {
                            End::Lost(message)
                        };
                    }
                    Some(Ok(Message::Text(_))) => {
                        return End::Refused("the receiver sent a text message on a binary connection".into());
                    }
                    Some(Ok(_)) => {}
                    Some(Err(error)) => return End::Lost(error.to_string()),
                    None => return End::Lost("the connection closed".into()),
                }
            }
            _ = ping.tick() => {
                if heard.elapsed() > config.keepalive * 2 {
                    return End::Lost(format!("no answer to pings for {:?}", heard.elapsed()));
                }
                if let Err(error) = ws.send(Message::Ping(Bytes::new())).await {
                    return End::Lost(error.to_string());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_get_the_default_path() {
        assert_eq!(endpoint_url("ws://h:1").unwrap(), "ws://h:1/v1/ws");
        assert_eq!(endpoint_url("http://h:1/").unwrap(), "ws://h:1/v1/ws");
        assert_eq!(
            endpoint_url("ws://h:1/x?token=a").unwrap(),
            "ws://h:1/x?token=a"
        );
        assert_eq!(endpoint_url("wss://h:1").unwrap(), "wss://h:1/v1/ws");
        assert_eq!(endpoint_url("https://h:1/x").unwrap(), "wss://h:1/x");
        assert!(endpoint_url("h:1").is_err());
        assert!(endpoint_url("ftp://h:1").is_err());
    }

    #[test]
    fn backoff_grows_with_jitter_and_stays_capped() {
        let bounds = (Duration::from_millis(100), Duration::from_secs(1));
        for failures in 1..40 {
            let wait = backoff(bounds, failures);
            let full = (bounds.0 * (1 << (failures - 1).min(16))).min(bounds.1);
            assert!(wait >= full / 2 && wait <= full, "{failures}: {wait:?}");
        }
    }

    #[test]
    fn builds_outside_a_runtime() {
        let client = Client::builder()
            .endpoint("ws://127.0.0.1:9/v1/ws")
            .build()
            .unwrap();
        assert_eq!(client.wire_format().codec(), Codec::Protobuf);
    }
}
