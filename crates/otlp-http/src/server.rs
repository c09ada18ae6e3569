//! The receiver: one listener for HTTP/1.1 and h2c (and TLS), handing each
//! export to a [`Sink`].

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use otlp_transport::{Signal, Sink};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream, ToSocketAddrs};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinSet;
use tower::util::BoxCloneSyncService;

use crate::cors::Cors;
use crate::receive::{self, Routes};

/// The Collector's HTTP receiver limit: 20 MiB of request body after
/// decompression (the OTLP specification recommends up to 64 MiB).
pub const DEFAULT_MAX_REQUEST_SIZE: usize = 20 << 20;

/// An OTLP/HTTP receiver bound to its address, not yet serving.
///
/// ```no_run
/// # async fn run(sink: impl otlp_transport::Sink) -> Result<(), Box<dyn std::error::Error>> {
/// let server = otlp_http::Server::builder().bind("0.0.0.0:4318").await?;
/// let handle = server.spawn(sink);
/// // … later: stop accepting, let in-flight requests finish.
/// handle.shutdown().await?;
/// # Ok(()) }
/// ```
pub struct Server {
    listener: TcpListener,
    config: Arc<Config>,
    stats: Arc<Stats>,
}

/// Settings of a [`Server`]; every one has a default.
#[derive(Debug, Clone)]
pub struct ServerBuilder {
    config: Config,
}

#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) max_request_size: usize,
    pub(crate) paths: [String; 4],
    pub(crate) health_path: Option<String>,
    pub(crate) bearer_token: Option<String>,
    pub(crate) header_read_timeout: Duration,
    pub(crate) idle_timeout: Duration,
    pub(crate) body_read_timeout: Duration,
    pub(crate) max_connections: usize,
    pub(crate) drain_timeout: Duration,
    pub(crate) cors: Option<Cors>,
    pub(crate) routes: Vec<Route>,
    #[cfg(feature = "tls")]
    pub(crate) tls: Option<Arc<rustls::ServerConfig>>,
}

/// The service of an extra route: any request in, any response out.
pub(crate) type RouteService =
    BoxCloneSyncService<Request<Incoming>, Response<Full<Bytes>>, Infallible>;

/// A path served by a service of the user's (see [`ServerBuilder::route`]).
#[derive(Clone)]
pub(crate) struct Route {
    pub(crate) path: String,
    pub(crate) service: RouteService,
}

impl std::fmt::Debug for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Route")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Default for ServerBuilder {
    fn default() -> Self {
        Self {
            config: Config {
                max_request_size: DEFAULT_MAX_REQUEST_SIZE,
                paths: Signal::ALL.map(|signal| signal.http_path().to_string()),
                health_path: Some("/health".to_string()),
                bearer_token: None,
                // The Collector's defaults: read headers within 1 min, idle 1 min.
                header_read_timeout: Duration::from_secs(60),
                idle_timeout: Duration::from_secs(60),
                body_read_timeout: Duration::from_secs(60),
                max_connections: 10_000,
                drain_timeout: Duration::from_secs(30),
                cors: None,
                routes: Vec::new(),
                #[cfg(feature = "tls")]
                tls: None,
            },
        }
    }
}

impl ServerBuilder {
    /// The largest request body accepted, in bytes, after decompression (and
    /// as it arrives): larger ones are answered 413. Default
    /// [`DEFAULT_MAX_REQUEST_SIZE`] (20 MiB, like the Collector).
    pub fn max_request_size(mut self, bytes: usize) -> Self {
        self.config.max_request_size = bytes;
        self
    }

    /// Serves `signal` at `path` instead of its OTLP path (`/v1/traces`, …).
    pub fn path(mut self, signal: Signal, path: impl Into<String>) -> Self {
        self.config.paths[signal_index(signal)] = path.into();
        self
    }

    /// Where `GET` answers 200 while the server runs (default `/health`);
    /// `None` turns it off.
    pub fn health_path(mut self, path: Option<String>) -> Self {
        self.config.health_path = path;
        self
    }

    /// Requires `Authorization: Bearer <token>` on exports; others get 401.
    pub fn bearer_token(mut self, token: impl Into<String>) -> Self {
        self.config.bearer_token = Some(token.into());
        self
    }

    /// How long a client may take to send a request's headers (slowloris
    /// defence); the connection is closed after that. Default 60 s.
    pub fn header_read_timeout(mut self, timeout: Duration) -> Self {
        self.config.header_read_timeout = timeout;
        self
    }

    /// How long a connection may stay open with no request in flight.
    /// Default 60 s.
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.config.idle_timeout = timeout;
        self
    }

    /// How long a client may take to send a request's body; slower ones get
    /// 408. Default 60 s.
    pub fn body_read_timeout(mut self, timeout: Duration) -> Self {
        self.config.body_read_timeout = timeout;
        self
    }

    /// The most connections served at once; further ones are closed as soon
    /// as they are accepted (clients see a connection failure, which OTLP
    /// clients retry). Default 10,000.
    pub fn max_connections(mut self, max: usize) -> Self {
        self.config.max_connections = max.max(1);
        self
    }

    /// How long a graceful shutdown waits for in-flight requests before
    /// closing what is left. Default 30 s.
    pub fn drain_timeout(mut self, timeout: Duration) -> Self {
        self.config.drain_timeout = timeout;
        self
    }

    /// Answers browsers' cross-origin requests as `cors` allows.
    pub fn cors(mut self, cors: Cors) -> Self {
        self.config.cors = Some(cors);
        self
    }

    /// Serves `path` with `service` on the same listener, before the OTLP
    /// paths: requests to it (exact match) go to the service as they came,
    /// without this server's bearer token, CORS or size limit — the service
    /// applies its own. Connections are served with upgrades, so the service
    /// may answer `101 Switching Protocols` and take the connection over
    /// with `hyper::upgrade::on` (how `otlp-ws` serves `/v1/ws` here).
    pub fn route<S>(mut self, path: impl Into<String>, service: S) -> Self
    where
        S: tower::Service<Request<Incoming>, Response = Response<Full<Bytes>>, Error = Infallible>
            + Clone
            + Send
            + Sync
            + 'static,
        S::Future: Send + 'static,
    {
        self.config.routes.push(Route {
            path: path.into(),
            service: BoxCloneSyncService::new(service),
        });
        self
    }

    /// Serves TLS only (HTTP/1.1 and HTTP/2 by ALPN); for mTLS give a config
    /// with a client certificate verifier. See [`crate::tls`] for building one
    /// from PEM.
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    pub fn tls(mut self, config: rustls::ServerConfig) -> Self {
        self.config.tls = Some(Arc::new(crate::tls::with_alpn(config)));
        self
    }

    /// Binds the listener (use port 0 for an ephemeral port).
    pub async fn bind(self, addr: impl ToSocketAddrs) -> Result<Server, BindError> {
        for (signal, path) in Signal::ALL.iter().zip(&self.config.paths) {
            if !path.starts_with('/') {
                return Err(BindError::InvalidPath {
                    signal: *signal,
                    path: path.clone(),
                });
            }
        }
        if let Some(route) = self.config.routes.iter().find(|r| !r.path.starts_with('/')) {
            return Err(BindError::InvalidRoute(route.path.clone()));
        }
        let listener = TcpListener::bind(addr).await.map_err(BindError::Io)?;
        Ok(Server {
            listener,
            config: Arc::new(self.config),
            stats: Arc::new(Stats::default()),
        })
    }
}

impl Server {
    /// The settings, to change before [`bind`](ServerBuilder::bind).
    pub fn builder() -> ServerBuilder {
        ServerBuilder::default()
    }

    /// Binds with the default settings.
    pub async fn bind(addr: impl ToSocketAddrs) -> Result<Server, BindError> {
        Self::builder().bind(addr).await
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound TCP listener has a local address")
    }

    /// Serves until `shutdown` completes, then stops accepting, lets the
    /// requests in flight finish (up to the drain timeout) and returns.
    pub async fn serve(
        self,
        sink: impl Sink,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), ServeError> {
        let shared = Arc::new(Shared::new(self.config, Arc::new(sink), self.stats.clone()));
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut connections = JoinSet::new();
        let open = Arc::new(AtomicUsize::new(0));
        tokio::pin!(shutdown);
        let result = loop {
            tokio::select! {
                () = &mut shutdown => break Ok(()),
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
                accepted = self.listener.accept() => match accepted {
                    Ok((stream, _peer)) => {
                        let Some(slot) = Slot::take(&open, shared.config.max_connections) else {
                            shared.stats.connections_rejected.fetch_add(1, Ordering::Relaxed);
                            drop(stream);
                            continue;
                        };
                        // Small OTLP responses must not wait for Nagle.
                        let _ = stream.set_nodelay(true);
                        connections.spawn(serve_connection(stream, shared.clone(), stop_rx.clone(), slot));
                    }
                    Err(error) if is_per_connection(&error) => {}
                    Err(error) if is_resource_exhaustion(&error) => {
                        // Out of file descriptors: wait for connections to close
                        // rather than spin on accept.
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    Err(error) => break Err(ServeError::Accept(error)),
                },
            }
        };
        drop(self.listener);
        let _ = stop_tx.send(true);
        let drain = async { while connections.join_next().await.is_some() {} };
        if tokio::time::timeout(shared.config.drain_timeout, drain)
            .await
            .is_err()
        {
            connections.abort_all();
        }
        result
    }

    /// What the server turned away so far (live counters, also after
    /// [`serve`](Self::serve) has taken the server: take them first).
    pub fn stats(&self) -> ServerStats {
        ServerStats(self.stats.clone())
    }

    /// Serves on a task of its own; the handle stops it.
    pub fn spawn(self, sink: impl Sink) -> ServerHandle {
        let local_addr = self.local_addr();
        let stats = self.stats();
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(self.serve(sink, async {
            let _ = rx.await;
        }));
        ServerHandle {
            local_addr,
            stats,
            stop: Some(tx),
            task,
        }
    }
}

/// A server running on its own task.
///
/// Dropping the handle also stops the server (gracefully, without waiting
/// for it): keep the handle for as long as the server should run.
#[derive(Debug)]
pub struct ServerHandle {
    local_addr: SocketAddr,
    stats: ServerStats,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), ServeError>>,
}

impl ServerHandle {
    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// What the server turned away so far.
    pub fn stats(&self) -> &ServerStats {
        &self.stats
    }

    /// Stops accepting, drains the requests in flight and waits for the end.
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
    #[error("cannot bind the OTLP/HTTP listener: {0}")]
    Io(#[source] io::Error),
    /// A signal path does not start with `/`.
    #[error("the {signal} path {path:?} must start with '/'")]
    InvalidPath {
        /// The signal.
        signal: Signal,
        /// The path given.
        path: String,
    },
    /// An extra route's path does not start with `/`.
    #[error("the route path {0:?} must start with '/'")]
    InvalidRoute(String),
}

/// Serving stopped on an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The listener failed in a way that accepting again cannot fix.
    #[error("the OTLP/HTTP listener failed: {0}")]
    Accept(#[source] io::Error),
    /// The serving task panicked or was cancelled.
    #[error("the OTLP/HTTP server task ended abnormally: {0}")]
    Task(String),
}

/// What every connection shares.
pub(crate) struct Shared {
    pub(crate) config: Arc<Config>,
    pub(crate) sink: Arc<dyn Sink>,
    pub(crate) routes: Routes,
    pub(crate) stats: Arc<Stats>,
    builder: auto::Builder<TokioExecutor>,
}

/// Counters of what was turned away.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub(crate) connections_rejected: AtomicU64,
    pub(crate) requests_rejected: AtomicU64,
}

/// Live counters of what a server turned away: nothing is dropped unseen.
#[derive(Debug, Clone)]
pub struct ServerStats(Arc<Stats>);

impl ServerStats {
    /// Connections closed on arrival because the connection limit was reached.
    pub fn connections_rejected(&self) -> u64 {
        self.0.connections_rejected.load(Ordering::Relaxed)
    }

    /// Export requests answered with an error status (4xx or 5xx): bad or
    /// oversized input, failed authentication, or a sink that refused them.
    pub fn requests_rejected(&self) -> u64 {
        self.0.requests_rejected.load(Ordering::Relaxed)
    }
}

impl Shared {
    fn new(config: Arc<Config>, sink: Arc<dyn Sink>, stats: Arc<Stats>) -> Self {
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(config.header_read_timeout)
            .keep_alive(true);
        builder
            .http2()
            .timer(TokioTimer::new())
            // OTLP bodies are hundreds of KiB: the 64 KiB default windows
            // would stall every request on flow control.
            .initial_stream_window_size(crate::pool::WINDOW)
            .initial_connection_window_size(crate::pool::WINDOW * 4)
            // Fewer, larger DATA frames: less framing work per body.
            .max_frame_size(crate::pool::MAX_FRAME);
        Self {
            routes: Routes::new(&config),
            config,
            sink,
            stats,
            builder,
        }
    }
}

/// One connection's place under the connection limit.
struct Slot(Arc<AtomicUsize>);

impl Slot {
    fn take(open: &Arc<AtomicUsize>, max: usize) -> Option<Self> {
        open.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
            (n < max).then_some(n + 1)
        })
        .ok()
        .map(|_| Slot(open.clone()))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// What the watchdog of a connection knows about its requests.
pub(crate) struct ConnState {
    opened: Instant,
    seen_request: AtomicBool,
    in_flight: AtomicUsize,
    /// Milliseconds after `opened` when the last request finished.
    last_done: AtomicU64,
}

impl ConnState {
    fn new() -> Self {
        Self {
            opened: Instant::now(),
            seen_request: AtomicBool::new(false),
            in_flight: AtomicUsize::new(0),
            last_done: AtomicU64::new(0),
        }
    }

    fn started(&self) {
        self.seen_request.store(true, Ordering::Relaxed);
        self.in_flight.fetch_add(1, Ordering::Relaxed);
    }

    fn finished(&self) {
        let now = self.opened.elapsed().as_millis() as u64;
        self.last_done.store(now, Ordering::Relaxed);
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
    }

    fn idle_for(&self) -> Option<Duration> {
        if self.in_flight.load(Ordering::Relaxed) > 0 {
            return None;
        }
        let last = Duration::from_millis(self.last_done.load(Ordering::Relaxed));
        Some(self.opened.elapsed().saturating_sub(last))
    }
}

/// Counts a request in flight for as long as it lives, even if hyper drops
/// its future half-way (client gone).
struct InFlight(Arc<ConnState>);

impl InFlight {
    fn new(state: Arc<ConnState>) -> Self {
        state.started();
        Self(state)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.finished();
    }
}

/// The hyper service of one connection.
#[derive(Clone)]
struct Handler {
    shared: Arc<Shared>,
    state: Arc<ConnState>,
}

impl hyper::service::Service<Request<Incoming>> for Handler {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        let shared = self.shared.clone();
        let guard = InFlight::new(self.state.clone());
        Box::pin(async move {
            let response = receive::handle(&shared, request).await;
            drop(guard);
            Ok(response)
        })
    }
}

async fn serve_connection(
    stream: TcpStream,
    shared: Arc<Shared>,
    stop: watch::Receiver<bool>,
    slot: Slot,
) {
    #[cfg(feature = "tls")]
    if let Some(tls) = shared.config.tls.clone() {
        let acceptor = tokio_rustls::TlsAcceptor::from(tls);
        // The handshake counts against the header timeout: a client that
        // stalls it is a slowloris too.
        let timeout = shared.config.header_read_timeout;
        if let Ok(Ok(stream)) = tokio::time::timeout(timeout, acceptor.accept(stream)).await {
            run_connection(stream, shared, stop).await;
        }
        drop(slot);
        return;
    }
    run_connection(stream, shared, stop).await;
    drop(slot);
}

async fn run_connection<I>(io: I, shared: Arc<Shared>, mut stop: watch::Receiver<bool>)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let state = Arc::new(ConnState::new());
    let handler = Handler {
        shared: shared.clone(),
        state: state.clone(),
    };
    let connection = shared
        .builder
        .serve_connection_with_upgrades(TokioIo::new(io), handler);
    tokio::pin!(connection);
    let header_timeout = shared.config.header_read_timeout;
    let idle_timeout = shared.config.idle_timeout;
    let period = (header_timeout.min(idle_timeout) / 4).max(Duration::from_millis(10));
    let mut watchdog = tokio::time::interval(period);
    watchdog.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut closing = false;
    loop {
        tokio::select! {
            _ = connection.as_mut() => return,
            _ = stop.changed(), if !closing => {
                connection.as_mut().graceful_shutdown();
                closing = true;
            }
            _ = watchdog.tick() => {
                // hyper times out the headers of HTTP/1.1 requests once it reads
                // them; before the first request (protocol detection, HTTP/2
                // preface, a trickled first line) that is the watchdog's job.
                if !state.seen_request.load(Ordering::Relaxed)
                    && state.opened.elapsed() > header_timeout
                {
                    return;
                }
                if !closing && state.idle_for().is_some_and(|idle| idle > idle_timeout) {
                    connection.as_mut().graceful_shutdown();
                    closing = true;
                }
            }
        }
    }
}

fn signal_index(signal: Signal) -> usize {
    match signal {
        Signal::Traces => 0,
        Signal::Metrics => 1,
        Signal::Logs => 2,
        Signal::Profiles => 3,
    }
}

fn is_per_connection(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
    )
}

fn is_resource_exhaustion(error: &io::Error) -> bool {
    // EMFILE / ENFILE / ENOBUFS / ENOMEM have no stable ErrorKind of their own.
    matches!(error.raw_os_error(), Some(23 | 24 | 105 | 12))
        || error.kind() == io::ErrorKind::OutOfMemory
}
