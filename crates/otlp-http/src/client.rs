//! The exporter: POSTs encoded exports and classifies the answers.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use crate::body::read_capped;
use crate::pool::Pool;
use crate::{retry_after, status};
use bytes::Bytes;
use http::header::{
    AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE, HeaderName, RETRY_AFTER, USER_AGENT,
};
use http::{HeaderMap, HeaderValue, Request, Uri};
use http_body_util::Full;
use otlp_codec::Codec;
use otlp_compression::{Compression, Encoder};
use otlp_transport::proxy::{Proxies, ProxyError};
use otlp_transport::{
    DEFAULT_MAX_REQUEST_SIZE, Encoded, ExportError, ExportResponse, Outcome, Payload, Signal,
    WireFormat,
};

/// The default endpoint, as `OTEL_EXPORTER_OTLP_ENDPOINT` gives it for HTTP.
pub const DEFAULT_ENDPOINT: &str = "http://localhost:4318";

/// The most of a response body read: 4 MiB, as the OTLP specification
/// suggests for clients.
pub const DEFAULT_MAX_RESPONSE_SIZE: usize = 4 << 20;

/// `User-Agent` in the form the OTLP exporter specification asks for.
pub const USER_AGENT_VALUE: &str = concat!("OTel-OTLP-Exporter-Rust/", env!("CARGO_PKG_VERSION"));

/// The HTTP version a [`Client`] speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Protocol {
    /// HTTP/1.1 with keep-alive: one request per connection at a time, up to
    /// the connection limit in parallel.
    #[default]
    Http1,
    /// HTTP/2: prior knowledge (h2c) on `http://`, ALPN `h2` on `https://`;
    /// requests multiplexed over up to the connection limit of connections.
    Http2,
}

/// An OTLP/HTTP exporter: a cheap-to-clone handle on a connection pool.
///
/// It is an [`ExportService`](otlp_transport::ExportService): a
/// `tower::Service<Encoded>` that answers an [`Outcome`] or an [`ExportError`]
/// classified per the OTLP specification. Bodies are sent as they are
/// encoded, in their own codec (`Content-Type`) and compression
/// (`Content-Encoding`); [`Client::export`] encodes in the client's
/// [`WireFormat`] first.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    urls: [Uri; 4],
    pool: Pool,
    headers: HeaderMap,
    wire: WireFormat,
    timeout: Duration,
    max_response_size: usize,
}

/// Settings of a [`Client`]; every one has a default.
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    endpoint: String,
    signal_endpoints: [Option<String>; 4],
    codec: Codec,
    encoder: Encoder,
    max_request_size: usize,
    max_response_size: usize,
    headers: Vec<(String, String)>,
    bearer_token: Option<String>,
    timeout: Duration,
    protocol: Protocol,
    max_connections: usize,
    idle_timeout: Duration,
    proxies: Option<Proxies>,
    #[cfg(feature = "tls")]
    tls: Option<rustls::ClientConfig>,
}

impl Default for ClientBuilder {
    fn default() -> Self {
        Self {
            endpoint: DEFAULT_ENDPOINT.to_string(),
            signal_endpoints: Default::default(),
            codec: Codec::Protobuf,
            encoder: Encoder::new(Compression::None),
            max_request_size: DEFAULT_MAX_REQUEST_SIZE,
            max_response_size: DEFAULT_MAX_RESPONSE_SIZE,
            headers: Vec::new(),
            bearer_token: None,
            // OTEL_EXPORTER_OTLP_TIMEOUT's default.
            timeout: Duration::from_secs(10),
            protocol: Protocol::Http1,
            max_connections: 8,
            idle_timeout: Duration::from_secs(50),
            proxies: None,
            #[cfg(feature = "tls")]
            tls: None,
        }
    }
}

impl ClientBuilder {
    /// The base endpoint (`OTEL_EXPORTER_OTLP_ENDPOINT`): each signal goes to
    /// it with `v1/traces`, `v1/metrics`, `v1/logs` or
    /// `v1development/profiles` appended (after a `/` if the path lacks one).
    /// Default `http://localhost:4318`.
    pub fn endpoint(mut self, url: impl Into<String>) -> Self {
        self.endpoint = url.into();
        self
    }

    /// The endpoint of one signal (`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, …),
    /// used exactly as given (an empty path is `/`); it wins over the base.
    pub fn signal_endpoint(mut self, signal: Signal, url: impl Into<String>) -> Self {
        self.signal_endpoints[signal_index(signal)] = Some(url.into());
        self
    }

    /// The codec [`Client::export`] encodes with. Default protobuf.
    pub fn codec(mut self, codec: Codec) -> Self {
        self.codec = codec;
        self
    }

    /// The compression [`Client::export`] applies. Default none.
    pub fn compression(mut self, compression: Compression) -> Self {
        self.encoder = Encoder::new(compression);
        self
    }

    /// The compressor with its level, instead of [`compression`](Self::compression).
    pub fn encoder(mut self, encoder: Encoder) -> Self {
        self.encoder = encoder;
        self
    }

    /// The largest request body before compression, in bytes; larger exports
    /// fail as permanent. Default 64 MiB.
    pub fn max_request_size(mut self, bytes: usize) -> Self {
        self.max_request_size = bytes;
        self
    }

    /// The most of a response body read, in bytes. Default 4 MiB.
    pub fn max_response_size(mut self, bytes: usize) -> Self {
        self.max_response_size = bytes;
        self
    }

    /// Adds a header to every request (`OTEL_EXPORTER_OTLP_HEADERS`).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sends `Authorization: Bearer <token>`.
    pub fn bearer_token(mut self, token: impl Into<String>) -> Self {
        self.bearer_token = Some(token.into());
        self
    }

    /// How long one export may take, connecting and reading the answer
    /// included; past it the export fails as retryable. Default 10 s.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// HTTP/1.1 (default) or HTTP/2.
    pub fn protocol(mut self, protocol: Protocol) -> Self {
        self.protocol = protocol;
        self
    }

    /// The most connections open at once (at least 1). Default 8.
    pub fn max_connections(mut self, max: usize) -> Self {
        self.max_connections = max.max(1);
        self
    }

    /// How long an unused connection is kept. Default 50 s, under the
    /// Collector's 60 s idle timeout so the client closes first.
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// TLS settings for `https://` endpoints: trusted roots and, for mTLS, a
    /// client certificate. See [`crate::tls`] for building one from PEM.
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    pub fn tls(mut self, config: rustls::ClientConfig) -> Self {
        self.tls = Some(config);
        self
    }

    /// The forward proxies to reach the endpoints through. Default: the
    /// environment's `HTTPS_PROXY`, `HTTP_PROXY` and `NO_PROXY`, read when
    /// the client is built (see [`otlp_transport::proxy`]);
    /// [`Proxies::none`] to always connect directly. Plain `http://`
    /// requests over HTTP/1.1 go to the proxy in absolute form; `https://`
    /// and HTTP/2 ones through a `CONNECT` tunnel.
    pub fn proxy(mut self, proxies: Proxies) -> Self {
        self.proxies = Some(proxies);
        self
    }

    /// Checks the settings and builds the client. Connections open lazily,
    /// on the first export; building needs no runtime.
    pub fn build(self) -> Result<Client, BuildError> {
        let base = parse_url(&self.endpoint)?;
        let urls = Signal::ALL.map(
            |signal| match &self.signal_endpoints[signal_index(signal)] {
                Some(url) => parse_url(url),
                None => Ok(base.clone()).and_then(|base| signal_url(&base, signal)),
            },
        );
        let [traces, metrics, logs, profiles] = urls;
        let urls = [traces?, metrics?, logs?, profiles?];
        let https = urls
            .iter()
            .find(|url| url.scheme() == Some(&http::uri::Scheme::HTTPS));
        #[cfg(not(feature = "tls"))]
        if let Some(url) = https {
            return Err(BuildError::TlsDisabled {
                url: url.to_string(),
            });
        }
        #[cfg(feature = "tls")]
        let tls = https_settings(https, self.tls)?;
        let mut headers = HeaderMap::new();
        headers.insert(USER_AGENT, HeaderValue::from_static(USER_AGENT_VALUE));
        for (name, value) in &self.headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| BuildError::InvalidHeader { name: name.clone() })?;
            let value = HeaderValue::from_str(value).map_err(|_| BuildError::InvalidHeader {
                name: name.to_string(),
            })?;
            headers.append(name, value);
        }
        if let Some(token) = &self.bearer_token {
            let mut value = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
                BuildError::InvalidHeader {
                    name: "authorization".to_string(),
                }
            })?;
            value.set_sensitive(true);
            headers.insert(AUTHORIZATION, value);
        }
        let proxies = match self.proxies {
            Some(proxies) => proxies,
            None => Proxies::from_env()?,
        };
        let pool = Pool::new(
            self.protocol,
            self.max_connections,
            self.idle_timeout,
            proxies,
            #[cfg(feature = "tls")]
            tls.map(Arc::new),
        );
        Ok(Client {
            inner: Arc::new(Inner {
                urls,
                pool,
                headers,
                wire: WireFormat::new(self.codec, self.encoder)
                    .with_max_size(self.max_request_size),
                timeout: self.timeout,
                max_response_size: self.max_response_size,
            }),
        })
    }
}

impl Client {
    /// The settings, to change before [`build`](ClientBuilder::build).
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// How [`export`](Self::export) encodes payloads.
    pub fn wire_format(&self) -> WireFormat {
        self.inner.wire
    }

    /// Where `signal` exports go.
    pub fn url(&self, signal: Signal) -> &Uri {
        &self.inner.urls[signal_index(signal)]
    }

    /// Encodes `payload` in the client's wire format (bytes already in it are
    /// sent as they are) and exports it.
    pub async fn export(&self, payload: impl Into<Payload>) -> Result<Outcome, ExportError> {
        let encoded = self.inner.wire.encode(payload.into())?;
        self.inner.clone().send(encoded).await
    }
}

impl tower::Service<Encoded> for Client {
    type Response = Outcome;
    type Error = ExportError;
    type Future = Pin<Box<dyn Future<Output = Result<Outcome, ExportError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), ExportError>> {
        // Back-pressure is the connection limit, waited for inside the call
        // (under its timeout).
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, encoded: Encoded) -> Self::Future {
        Box::pin(self.inner.clone().send(encoded))
    }
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("urls", &self.inner.urls)
            .field("wire", &self.inner.wire)
            .finish_non_exhaustive()
    }
}

impl Inner {
    async fn send(self: Arc<Self>, encoded: Encoded) -> Result<Outcome, ExportError> {
        let signal = encoded.signal();
        let url = &self.urls[signal_index(signal)];
        if encoded.body().len() > self.wire.max_size() {
            return Err(ExportError::permanent(format!(
                "the request is {} bytes, over the limit of {} bytes; send smaller batches",
                encoded.body().len(),
                self.wire.max_size()
            )));
        }
        let codec = encoded.codec();
        let mut request = Request::post(url.clone())
            .body(Full::new(encoded.body().clone()))
            .map_err(|e| ExportError::permanent(format!("cannot build the request: {e}")))?;
        let headers = request.headers_mut();
        headers.clone_from(&self.headers);
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(codec.content_type()));
        if encoded.compression() != Compression::None {
            headers.insert(
                CONTENT_ENCODING,
                HeaderValue::from_static(encoded.compression().as_str()),
            );
        }
        let exchange = async {
            let (response, lease) = self.pool.send(request).await.map_err(|e| {
                ExportError::retryable(format!("cannot reach {url}: {e}")).with_source(e)
            })?;
            let (parts, body) = response.into_parts();
            let body = read_capped(body, self.max_response_size).await.ok();
            if body.is_some() {
                lease.release();
            }
            Ok::<_, ExportError>((parts, body))
        };
        let (parts, body) = tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| {
                ExportError::retryable(format!("no answer from {url} within {:?}", self.timeout))
            })??;
        classify(signal, codec, &parts, body, SystemTime::now())
    }
}

/// Turns a response into an outcome or an error, per OTLP/HTTP.
fn classify(
    signal: Signal,
    sent: Codec,
    parts: &http::response::Parts,
    body: Option<Bytes>,
    now: SystemTime,
) -> Result<Outcome, ExportError> {
    let codec = parts
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| Codec::from_content_type(v).ok())
        .unwrap_or(sent);
    let body = body.and_then(|body| decompressed(&parts.headers, body));
    if parts.status.is_success() {
        // The receiver took the data: whatever the body says, it must not be
        // sent again. A body that cannot be read is a success with no details.
        let outcome = body
            .filter(|body| !body.is_empty())
            .and_then(|body| ExportResponse::decode(signal, codec, body).ok())
            .map_or(Outcome::Success, |response| response.outcome());
        return Ok(outcome);
    }
    let delay = parts
        .headers
        .get(RETRY_AFTER)
        .and_then(|value| retry_after::parse(value, now));
    let message = body
        .and_then(|body| status::decode_message(codec, &body))
        .unwrap_or_default();
    Err(ExportError::from_http_status(
        parts.status.as_u16(),
        &message,
        delay,
    ))
}

/// Response bodies are small; one compressed by a receiver that was not asked
/// to is still read, up to the same cap.
fn decompressed(headers: &HeaderMap, body: Bytes) -> Option<Bytes> {
    let Some(coding) = headers.get(CONTENT_ENCODING) else {
        return Some(body);
    };
    let compression: Compression = coding.to_str().ok()?.parse().ok()?;
    if compression == Compression::None {
        return Some(body);
    }
    let mut out = Vec::new();
    compression
        .decompress(&body, DEFAULT_MAX_RESPONSE_SIZE, &mut out)
        .ok()?;
    Some(Bytes::from(out))
}

/// The client's settings are wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// An endpoint is not an absolute `http://` or `https://` URL.
    #[error("invalid endpoint {url:?}: {reason}")]
    InvalidEndpoint {
        /// The endpoint given.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A header name or value cannot be sent (the value is not shown: it may
    /// be a secret).
    #[error("invalid header {name:?}: not a valid HTTP header name or value")]
    InvalidHeader {
        /// The header's name.
        name: String,
    },
    /// An `https://` endpoint, but the crate was built without `tls`.
    #[error("{url} needs TLS: enable the `tls` feature of otlp-http")]
    TlsDisabled {
        /// The endpoint.
        url: String,
    },
    /// The TLS settings could not be used.
    #[error("invalid TLS settings: {0}")]
    Tls(String),
    /// A proxy variable (`HTTPS_PROXY`, `HTTP_PROXY`) cannot be used.
    #[error(transparent)]
    Proxy(#[from] ProxyError),
}

/// The TLS settings of a client with an `https://` endpoint: those given, or
/// else the system's root certificates when the crate can load them.
#[cfg(feature = "tls")]
fn https_settings(
    https: Option<&Uri>,
    given: Option<rustls::ClientConfig>,
) -> Result<Option<rustls::ClientConfig>, BuildError> {
    match (https, given) {
        (Some(_), None) => {
            #[cfg(feature = "tls-native-roots")]
            {
                crate::tls::system_client_config(None)
                    .map(Some)
                    .map_err(|error| BuildError::Tls(error.to_string()))
            }
            #[cfg(not(feature = "tls-native-roots"))]
            {
                Err(BuildError::Tls(format!(
                    "{} needs TLS settings: pass a rustls ClientConfig to ClientBuilder::tls \
                     (otlp_http::tls::client_config builds one from PEM), or enable the \
                     `tls-native-roots` feature to trust the system's root certificates",
                    https.map(ToString::to_string).unwrap_or_default()
                )))
            }
        }
        (_, given) => Ok(given),
    }
}

fn parse_url(url: &str) -> Result<Uri, BuildError> {
    let invalid = |reason| BuildError::InvalidEndpoint {
        url: url.to_string(),
        reason,
    };
    let uri: Uri = url.trim().parse().map_err(|_| invalid("not a URL"))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        Some(_) => return Err(invalid("the scheme must be http or https")),
        None => return Err(invalid("the URL needs a scheme, http:// or https://")),
    }
    if uri.authority().is_none() {
        return Err(invalid("the URL needs a host"));
    }
    Ok(uri)
}

/// The exporter spec: the base endpoint's path gets a trailing `/` if it has
/// none, then the signal's relative path (`v1/traces`, …).
fn signal_url(base: &Uri, signal: Signal) -> Result<Uri, BuildError> {
    let path = base.path();
    let separator = if path.ends_with('/') { "" } else { "/" };
    let relative = signal.http_path().trim_start_matches('/');
    let mut url = format!(
        "{}://{}{path}{separator}{relative}",
        base.scheme_str().unwrap_or("http"),
        base.authority().map_or("", |a| a.as_str()),
    );
    if let Some(query) = base.query() {
        url.push('?');
        url.push_str(query);
    }
    parse_url(&url)
}

fn signal_index(signal: Signal) -> usize {
    match signal {
        Signal::Traces => 0,
        Signal::Metrics => 1,
        Signal::Logs => 2,
        Signal::Profiles => 3,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn urls(builder: ClientBuilder) -> Vec<String> {
        let client = builder.build().unwrap();
        Signal::ALL
            .iter()
            .map(|s| client.url(*s).to_string())
            .collect()
    }

    /// Exporter spec: the generic endpoint is a base, `v1/<signal>` appended
    /// after ensuring a trailing slash; per-signal endpoints are used as is.
    #[test]
    fn endpoints_follow_the_exporter_spec() {
        assert_eq!(
            urls(Client::builder()),
            [
                "http://localhost:4318/v1/traces",
                "http://localhost:4318/v1/metrics",
                "http://localhost:4318/v1/logs",
                "http://localhost:4318/v1development/profiles"
            ]
        );
        let with_path = urls(Client::builder().endpoint("http://collector:4318/mycollector"));
        assert_eq!(with_path[0], "http://collector:4318/mycollector/v1/traces");
        let trailing = urls(Client::builder().endpoint("http://collector:4318/mycollector/"));
        assert_eq!(trailing[1], "http://collector:4318/mycollector/v1/metrics");
        let per_signal = urls(
            Client::builder()
                .endpoint("http://base:4318")
                .signal_endpoint(Signal::Traces, "http://traces:4318/custom/path")
                .signal_endpoint(Signal::Logs, "http://logs:4318"),
        );
        assert_eq!(per_signal[0], "http://traces:4318/custom/path");
        assert_eq!(per_signal[1], "http://base:4318/v1/metrics");
        assert_eq!(per_signal[2], "http://logs:4318/");
    }

    #[test]
    fn bad_settings_are_typed_errors() {
        for url in ["localhost:4318", "ftp://h/", "not a url", "http://"] {
            assert!(
                matches!(
                    Client::builder().endpoint(url).build(),
                    Err(BuildError::InvalidEndpoint { .. })
                ),
                "{url}"
            );
        }
        let error = Client::builder()
            .header("x-key", "line\nbreak")
            .build()
            .unwrap_err();
        assert!(matches!(error, BuildError::InvalidHeader { .. }));
        assert!(!error.to_string().contains("line"), "values are not shown");
    }

    #[test]
    fn builds_outside_a_runtime() {
        let client = Client::builder().protocol(Protocol::Http2).build().unwrap();
        assert_eq!(client.wire_format().codec(), Codec::Protobuf);
    }

    #[test]
    fn user_agent_has_the_spec_form() {
        let version = USER_AGENT_VALUE
            .strip_prefix("OTel-OTLP-Exporter-Rust/")
            .unwrap();
        assert_eq!(version, env!("CARGO_PKG_VERSION"));
    }
}
