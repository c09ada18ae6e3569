//! The client's connections: HTTP/1.1 keep-alive with a hard cap on open
//! connections, or HTTP/2 multiplexed over a fixed number of them.
//!
//! hyper-util's pool may open more connections than asked (it races a new
//! connection against a busy one and keeps both), so the cap is kept here,
//! on hyper's connection API.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::uri::{Authority, Scheme};
use http::{Request, Response, Uri};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use otlp_transport::proxy::{Proxies, Proxy, Via};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::Protocol;

/// Why no response came back.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SendError {
    /// Connecting (TCP or TLS) failed.
    #[error("cannot connect: {0}")]
    Connect(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The request failed on an open connection.
    #[error("{0}")]
    Http(#[from] hyper::Error),
}

/// Every host the client sends to (per-signal endpoints may differ).
pub(crate) struct Pool {
    protocol: Protocol,
    max_connections: usize,
    idle_timeout: Duration,
    proxies: Proxies,
    #[cfg(feature = "tls")]
    tls: Option<tokio_rustls::TlsConnector>,
    hosts: Mutex<HashMap<(Scheme, Authority), Arc<Host>>>,
}

/// A connection to hand back when its exchange is over.
pub(crate) enum Lease {
    /// An HTTP/1.1 connection, returned to the idle list once its response
    /// body has been read whole.
    Http1 {
        host: Arc<Host>,
        sender: http1::SendRequest<Full<Bytes>>,
        _slot: OwnedSemaphorePermit,
    },
    /// HTTP/2 streams need no handing back.
    Http2,
}

impl Lease {
    /// The exchange finished cleanly: the connection may serve another.
    pub(crate) fn release(self) {
        if let Lease::Http1 { host, sender, .. } = self
            && !sender.is_closed()
        {
            host.idle
                .lock()
                .expect("the idle list is never poisoned: no panics under its lock")
                .push((sender, Instant::now()));
        }
    }
}

pub(crate) struct Host {
    scheme: Scheme,
    authority: Authority,
    route: Route,
    /// HTTP/1.1: one permit per open connection.
    slots: Arc<Semaphore>,
    idle: Mutex<Vec<(http1::SendRequest<Full<Bytes>>, Instant)>>,
    /// HTTP/2: the connections, filled lazily, used in turn.
    streams: Vec<tokio::sync::Mutex<Option<http2::SendRequest<Full<Bytes>>>>>,
    next: std::sync::atomic::AtomicUsize,
}

/// How a host is reached.
enum Route {
    Direct,
    /// Through a `CONNECT` tunnel: TLS and HTTP/2 run end to end inside it.
    Tunnel(Via),
    /// Plain HTTP/1.1 requests in absolute form to the proxy, which most
    /// proxies only allow for port 80 and 443 as `CONNECT` targets.
    Forward(Proxy),
}

impl Pool {
    pub(crate) fn new(
        protocol: Protocol,
        max_connections: usize,
        idle_timeout: Duration,
        proxies: Proxies,
        #[cfg(feature = "tls")] tls: Option<Arc<rustls::ClientConfig>>,
    ) -> Self {
        Self {
            protocol,
            max_connections,
            idle_timeout,
            proxies,
            #[cfg(feature = "tls")]
            tls: tls.map(|config| {
                let mut config = (*config).clone();
                config.alpn_protocols = match protocol {
                    Protocol::Http1 => vec![b"http/1.1".to_vec()],
                    Protocol::Http2 => vec![b"h2".to_vec()],
                };
                tokio_rustls::TlsConnector::from(Arc::new(config))
            }),
            hosts: Mutex::new(HashMap::new()),
        }
    }

    /// Sends `request` (absolute URI) and returns the response with the lease
    /// of its connection.
    pub(crate) async fn send(
        &self,
        mut request: Request<Full<Bytes>>,
    ) -> Result<(Response<Incoming>, Lease), SendError> {
        let host = self.host(request.uri());
        match self.protocol {
            Protocol::Http1 => {
                // HTTP/1.1 wants a Host header, and the origin form but to a
                // forward proxy (the absolute form, with its credentials).
                if let Ok(value) = http::HeaderValue::from_str(host.authority.as_str()) {
                    request.headers_mut().insert(http::header::HOST, value);
                }
                if let Route::Forward(proxy) = &host.route {
                    if let Some(mut value) = proxy
                        .authorization()
                        .and_then(|auth| http::HeaderValue::from_str(auth).ok())
                    {
                        value.set_sensitive(true);
                        request
                            .headers_mut()
                            .insert(http::header::PROXY_AUTHORIZATION, value);
                    }
                } else {
                    let origin = request
                        .uri()
                        .path_and_query()
                        .map_or("/", |p| p.as_str())
                        .parse::<Uri>()
                        .unwrap_or_else(|_| Uri::from_static("/"));
                    *request.uri_mut() = origin;
                }
                let slot = host
                    .slots
                    .clone()
                    .acquire_owned()
                    .await
                    .expect("the semaphore is never closed");
                // A kept-alive connection may have been closed by the server
                // while idle; the request then never left, so it goes again
                // on a fresh connection.
                while let Some(mut sender) = self.idle_sender(&host) {
                    if sender.ready().await.is_err() {
                        continue;
                    }
                    match sender.send_request(clone_request(&request)).await {
                        Ok(response) => {
                            return Ok((
                                response,
                                Lease::Http1 {
                                    host,
                                    sender,
                                    _slot: slot,
                                },
                            ));
                        }
                        Err(error) if error.is_canceled() || error.is_closed() => continue,
                        Err(error) => return Err(error.into()),
                    }
                }
                let mut sender = self.connect_http1(&host).await?;
                let response = sender.send_request(request).await?;
                Ok((
                    response,
                    Lease::Http1 {
                        host,
                        sender,
                        _slot: slot,
                    },
                ))
            }
            Protocol::Http2 => {
                let index = host.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                    % host.streams.len();
                let mut sender = {
                    let mut slot = host.streams[index].lock().await;
                    match slot.as_ref().filter(|s| !s.is_closed()) {
                        Some(sender) => sender.clone(),
                        None => {
                            let sender = self.connect_http2(&host).await?;
                            *slot = Some(sender.clone());
                            sender
                        }
                    }
                };
                sender.ready().await?;
                let response = sender.send_request(request).await?;
                Ok((response, Lease::Http2))
            }
        }
    }

    fn host(&self, uri: &Uri) -> Arc<Host> {
        let scheme = uri.scheme().cloned().unwrap_or(Scheme::HTTP);
        let authority = uri
            .authority()
            .cloned()
            .unwrap_or_else(|| Authority::from_static("localhost"));
        let mut hosts = self
            .hosts
            .lock()
            .expect("the host map is never poisoned: no panics under its lock");
        hosts
            .entry((scheme.clone(), authority.clone()))
            .or_insert_with(|| {
                let streams = match self.protocol {
                    Protocol::Http1 => 0,
                    Protocol::Http2 => self.max_connections,
                };
                let route = match self.proxies.route(
                    Some(scheme.as_str()),
                    authority.host(),
                    authority.port_u16(),
                ) {
                    None => Route::Direct,
                    Some(via) if scheme == Scheme::HTTP && self.protocol == Protocol::Http1 => {
                        Route::Forward(via.proxy().clone())
                    }
                    Some(via) => Route::Tunnel(via),
                };
                Arc::new(Host {
                    scheme,
                    authority,
                    route,
                    slots: Arc::new(Semaphore::new(self.max_connections)),
                    idle: Mutex::new(Vec::new()),
                    streams: (0..streams)
                        .map(|_| tokio::sync::Mutex::new(None))
                        .collect(),
                    next: std::sync::atomic::AtomicUsize::new(0),
                })
            })
            .clone()
    }

    fn idle_sender(&self, host: &Host) -> Option<http1::SendRequest<Full<Bytes>>> {
        let mut idle = host
            .idle
            .lock()
            .expect("the idle list is never poisoned: no panics under its lock");
        while let Some((sender, since)) = idle.pop() {
            if !sender.is_closed() && since.elapsed() < self.idle_timeout {
                return Some(sender);
            }
        }
        None
    }

    async fn connect_http1(
        &self,
        host: &Host,
    ) -> Result<http1::SendRequest<Full<Bytes>>, SendError> {
        macro_rules! handshake {
            ($io:expr) => {{
                let (sender, connection) =
                    http1::Builder::new().handshake(TokioIo::new($io)).await?;
                tokio::spawn(connection);
                Ok(sender)
            }};
        }
        let tcp = self.tcp(host).await?;
        #[cfg(feature = "tls")]
        if host.scheme == Scheme::HTTPS {
            return handshake!(self.tls(host, tcp).await?);
        }
        handshake!(tcp)
    }

    async fn connect_http2(
        &self,
        host: &Host,
    ) -> Result<http2::SendRequest<Full<Bytes>>, SendError> {
        macro_rules! handshake {
            ($io:expr) => {{
                let (sender, connection) = http2::Builder::new(TokioExecutor::new())
                    .timer(TokioTimer::new())
                    // OTLP bodies are hundreds of KiB: the 64 KiB default
                    // windows would stall every request on flow control.
                    .initial_stream_window_size(WINDOW)
                    .initial_connection_window_size(WINDOW * 4)
                    .max_frame_size(MAX_FRAME)
                    .handshake(TokioIo::new($io))
                    .await?;
                tokio::spawn(connection);
                Ok(sender)
            }};
        }
        let tcp = self.tcp(host).await?;
        #[cfg(feature = "tls")]
        if host.scheme == Scheme::HTTPS {
            return handshake!(self.tls(host, tcp).await?);
        }
        handshake!(tcp)
    }

    async fn tcp(&self, host: &Host) -> Result<TcpStream, SendError> {
        let stream = match &host.route {
            Route::Direct => {
                let default_port = if host.scheme == Scheme::HTTPS {
                    443
                } else {
                    80
                };
                let port = host.authority.port_u16().unwrap_or(default_port);
                let name = host
                    .authority
                    .host()
                    .trim_start_matches('[')
                    .trim_end_matches(']');
                TcpStream::connect((name, port))
                    .await
                    .map_err(|e| SendError::Connect(e.into()))?
            }
            Route::Tunnel(via) => via
                .tunnel()
                .await
                .map_err(|e| SendError::Connect(e.into()))?,
            Route::Forward(proxy) => proxy
                .connect()
                .await
                .map_err(|e| SendError::Connect(e.into()))?,
        };
        // Small requests must not wait for Nagle.
        let _ = stream.set_nodelay(true);
        Ok(stream)
    }

    #[cfg(feature = "tls")]
    async fn tls(
        &self,
        host: &Host,
        tcp: TcpStream,
    ) -> Result<tokio_rustls::client::TlsStream<TcpStream>, SendError> {
        let Some(connector) = &self.tls else {
            return Err(SendError::Connect(
                "an https endpoint needs TLS settings: give the client builder a rustls config"
                    .into(),
            ));
        };
        let name = host
            .authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']');
        let server_name = rustls::pki_types::ServerName::try_from(name.to_string())
            .map_err(|e| SendError::Connect(e.into()))?;
        connector
            .connect(server_name, tcp)
            .await
            .map_err(|e| SendError::Connect(e.into()))
    }
}

/// The HTTP/2 stream window (the connection's is four times larger).
pub(crate) const WINDOW: u32 = 2 << 20;

/// The largest HTTP/2 frame accepted (the protocol's default is 16 KiB).
pub(crate) const MAX_FRAME: u32 = 1 << 20;

fn clone_request(request: &Request<Full<Bytes>>) -> Request<Full<Bytes>> {
    let mut copy = Request::new(request.body().clone());
    *copy.method_mut() = request.method().clone();
    *copy.uri_mut() = request.uri().clone();
    *copy.headers_mut() = request.headers().clone();
    copy
}
