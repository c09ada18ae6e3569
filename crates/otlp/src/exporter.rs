//! Exporters wired from an [`ExporterConfig`]: the transport client of its
//! protocol (gRPC, OTLP/HTTP with any codec, or WebSocket with feature
//! `ws`), retry, and a batch processor in front; on request a circuit
//! breaker per endpoint, a timeout per attempt, and failover endpoints.
//!
//! The stack, from the batch processor down: retry (the Collector's
//! defaults) → failover across the endpoints in order → per endpoint: its
//! breaker → its attempt timeout → its transport client. Concurrency is the
//! batch processor's `max_concurrent_exports` (1 by default, as in the SDK).
//!
//! ```no_run
//! use otlp::exporter::Exporter;
//! use otlp::transport::Signal;
//!
//! # #[tokio::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // OTEL_EXPORTER_OTLP_* decide where and how.
//! let exporter = Exporter::from_env(Signal::Traces)?;
//! let spans = otlp_datagen::Generator::new(1).spans(100).traces();
//! exporter.submit(spans.into())?;
//! exporter.shutdown().await?;
//! # Ok(())
//! # }
//! ```

#[cfg(feature = "tls")]
use std::path::Path;

use std::time::Duration;

use otlp_reliability::{
    BreakerConfig, CircuitBreakerLayer, Failover, RetryLayer, RetryPolicy, Stats, StatsSnapshot,
    TimeoutLayer,
};
use otlp_transport::{BoxExportService, ExportRequest, Signal, WireFormat};
use tower::Layer;

use crate::batch::{
    BatchProcessor, BatchProcessorBuilder, BatchStats, BuildError, Closed, SubmitError,
};
use crate::config::{ConfigError, ExporterConfig, Protocol};

/// Exports the requests of one signal: batched, encoded once, sent by the
/// transport the configuration names, retried per the OTLP rules.
///
/// Cloning gives another handle to the same exporter.
#[derive(Debug, Clone)]
pub struct Exporter {
    config: ExporterConfig,
    processor: BatchProcessor,
    reliability: Stats,
}

/// Builds an [`Exporter`] from a configuration.
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct ExporterBuilder {
    config: ExporterConfig,
    batch: BatchProcessorBuilder,
    layers: Layers,
}

/// The reliability layers around the transport clients, as
/// [`ExporterBuilder`] and the SDK adapters' builders configure them.
#[derive(Debug, Clone)]
pub(crate) struct Layers {
    pub(crate) retry: Option<RetryPolicy>,
    pub(crate) breaker: Option<BreakerConfig>,
    pub(crate) failover: Vec<ExporterConfig>,
    pub(crate) attempt_timeout: Option<Duration>,
}

impl Default for Layers {
    /// The Collector's retry defaults; no breaker, no failover, each
    /// attempt bounded by the configuration's (the transport's) timeout.
    fn default() -> Self {
        Self {
            retry: Some(RetryPolicy::default()),
            breaker: None,
            failover: Vec::new(),
            attempt_timeout: None,
        }
    }
}

/// Why an [`Exporter`] could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExporterError {
    /// The configuration (from the environment) is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The protocol's transport is not compiled in.
    #[error(
        "protocol {protocol} needs the `{feature}` feature of the `otlp` crate, which this build lacks"
    )]
    TransportNotBuilt {
        /// The protocol asked for.
        protocol: Protocol,
        /// The cargo feature that compiles its transport in.
        feature: &'static str,
    },
    /// TLS files are configured but TLS is not compiled in, or one cannot be read.
    #[error("TLS: {0}")]
    Tls(String),
    /// The transport client refused the configuration.
    #[error("cannot build the {protocol} client: {message}")]
    Client {
        /// The protocol.
        protocol: Protocol,
        /// The transport's explanation.
        message: String,
    },
    /// The batch processor refused its settings or found no runtime.
    #[error(transparent)]
    Batch(#[from] BuildError),
    /// The configuration is for another signal than the exporter's.
    #[error(
        "a {expected} exporter was given a configuration of {configured}: build it with ExporterConfig::builder(Signal::{expected:?}) or ExporterConfig::from_env_for(Signal::{expected:?})"
    )]
    WrongSignal {
        /// The signal the exporter exports.
        expected: Signal,
        /// The signal of the configuration given.
        configured: Signal,
    },
    /// A failover configuration does not fit the primary one.
    #[error("failover endpoint {endpoint}: {reason}")]
    Failover {
        /// The failover endpoint.
        endpoint: String,
        /// What does not fit, and what to change.
        reason: String,
    },
    /// A reliability layer refused its settings.
    #[error(transparent)]
    Reliability(#[from] otlp_reliability::ConfigError),
    /// The exporter's own thread or runtime could not be started.
    #[error("cannot start the exporter's thread: {0}")]
    Runtime(#[source] std::io::Error),
}

impl Exporter {
    /// A builder exporting as `config` says, with the Collector's retry
    /// defaults and the SDK's batch defaults; no circuit breaker, no
    /// failover endpoint, and each attempt bounded by the configuration's
    /// timeout (the transport's own).
    pub fn builder(config: ExporterConfig) -> ExporterBuilder {
        ExporterBuilder {
            config,
            batch: BatchProcessor::builder(),
            layers: Layers::default(),
        }
    }

    /// An exporter of `signal` configured by the `OTEL_EXPORTER_OTLP_*`
    /// environment variables, with the default retry and batching.
    pub fn from_env(signal: Signal) -> Result<Self, ExporterError> {
        Self::builder(ExporterConfig::from_env_for(signal)?).build()
    }

    /// The configuration it exports with.
    pub fn config(&self) -> &ExporterConfig {
        &self.config
    }

    /// Queues a request for export, without blocking (see
    /// [`BatchProcessor::submit`]).
    pub fn submit(&self, request: ExportRequest) -> Result<(), SubmitError> {
        self.processor.submit(request)
    }

    /// Exports everything submitted so far and waits for the exports.
    pub async fn flush(&self) -> Result<(), Closed> {
        self.processor.flush().await
    }

    /// Exports everything submitted, then stops.
    pub async fn shutdown(&self) -> Result<(), Closed> {
        self.processor.shutdown().await
    }

    /// What was exported, rejected and dropped.
    pub fn stats(&self) -> BatchStats {
        self.processor.stats()
    }

    /// The reliability layers' state: retries, each endpoint's breaker
    /// (named by its URL) and, with failover, each endpoint's health.
    pub fn reliability(&self) -> StatsSnapshot {
        self.reliability.snapshot()
    }
}

impl ExporterBuilder {
    /// The retry policy; the OpenTelemetry Collector's defaults unless set.
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.layers.retry = Some(policy);
        self
    }

    /// No retry: a failed export is dropped (and counted) at once.
    pub fn no_retry(mut self) -> Self {
        self.layers.retry = None;
        self
    }

    /// Batching settings; the SDK's defaults unless set.
    pub fn batch(mut self, batch: BatchProcessorBuilder) -> Self {
        self.batch = batch;
        self
    }

    /// A circuit breaker in front of each endpoint: after too many failures
    /// it fails exports at once (counted as dropped by the batch processor,
    /// or handed to the next failover endpoint) instead of waiting on a dead
    /// collector, and probes it again after its cool-down. None by default.
    pub fn breaker(mut self, config: BreakerConfig) -> Self {
        self.layers.breaker = Some(config);
        self
    }

    /// Adds an endpoint tried, in the order added, when those before it fail
    /// with a retryable error (or their breaker is open); the first is
    /// taken back when healthy again. Its signal must be the primary's, and
    /// its codec and compression too (payloads are encoded once); its
    /// headers, TLS and timeout are its own.
    pub fn failover(mut self, config: ExporterConfig) -> Self {
        self.layers.failover.push(config);
        self
    }

    /// Bounds each attempt on each endpoint, over the transport's own
    /// timeout (the configuration's, 10 s by default), so that a stalled
    /// endpoint fails over or is retried in bounded time.
    pub fn attempt_timeout(mut self, timeout: Duration) -> Self {
        self.layers.attempt_timeout = Some(timeout);
        self
    }

    /// Builds the clients (connecting lazily) and starts the batch processor
    /// on the current tokio runtime.
    pub fn build(self) -> Result<Exporter, ExporterError> {
        let (service, wire_format, reliability) = self.layers.service(&self.config)?;
        let processor = self.batch.build(service, wire_format)?;
        Ok(Exporter {
            config: self.config,
            processor,
            reliability,
        })
    }
}

impl Layers {
    /// The clients of `config` and its failover endpoints behind the
    /// layers, the wire format to encode payloads in, and the layers' stats.
    pub(crate) fn service(
        &self,
        config: &ExporterConfig,
    ) -> Result<(BoxExportService, WireFormat, Stats), ExporterError> {
        let mut reliability = Stats::new();
        let (primary, wire_format) = self.endpoint(config, &mut reliability)?;
        let service = if self.failover.is_empty() {
            primary
        } else {
            let mut failover = Failover::builder().endpoint(name(config), primary);
            for other in &self.failover {
                let mismatch = |reason: String| ExporterError::Failover {
                    endpoint: name(other),
                    reason,
                };
                if other.signal() != config.signal() {
                    return Err(mismatch(format!(
                        "it is configured for {}, the primary for {}",
                        other.signal(),
                        config.signal()
                    )));
                }
                let (service, format) = self.endpoint(other, &mut reliability)?;
                if (format.codec(), format.compression())
                    != (wire_format.codec(), wire_format.compression())
                {
                    return Err(mismatch(format!(
                        "it takes {:?} with {} compression, the primary {:?} with {}: payloads are encoded once, give both the same",
                        format.codec(),
                        format.compression(),
                        wire_format.codec(),
                        wire_format.compression()
                    )));
                }
                failover = failover.endpoint(name(other), service);
            }
            let failover = failover.build()?;
            reliability = reliability.failover(failover.monitor());
            BoxExportService::new(failover)
        };
        let service = match self.retry.clone() {
            Some(policy) => {
                let retry = RetryLayer::new(policy);
                reliability = reliability.retry(retry.stats());
                BoxExportService::new(retry.layer(service))
            }
            None => service,
        };
        Ok((service, wire_format, reliability))
    }

    /// One endpoint's client, behind its timeout and breaker when asked.
    fn endpoint(
        &self,
        config: &ExporterConfig,
        reliability: &mut Stats,
    ) -> Result<(BoxExportService, WireFormat), ExporterError> {
        let (mut service, wire_format) = client(config)?;
        if let Some(timeout) = self.attempt_timeout {
            service = BoxExportService::new(TimeoutLayer::new(timeout).layer(service));
        }
        if let Some(breaker) = &self.breaker {
            let breaker = CircuitBreakerLayer::new(breaker.clone());
            *reliability = std::mem::take(reliability).breaker(name(config), breaker.monitor());
            service = BoxExportService::new(breaker.layer(service));
        }
        Ok((service, wire_format))
    }
}

/// How an endpoint is named in stats and errors: its URL (which carries no
/// credentials; headers do).
fn name(config: &ExporterConfig) -> String {
    config.endpoint().to_string()
}

/// The transport client of the configuration's protocol, set up as the
/// configuration says (endpoint, codec, compression, headers, timeout,
/// TLS), and the wire format to encode payloads in before calling it — for
/// a stack of your own (a `Queue` or other layers of `otlp-reliability`);
/// [`Exporter`] adds retry, breaker, failover and batching to it. Connects
/// lazily; needs no runtime to build.
///
/// ```
/// use otlp::config::{ExporterConfig, Protocol};
/// use otlp::transport::Signal;
///
/// let config = ExporterConfig::builder(Signal::Logs)
///     .protocol(Protocol::Grpc)
///     .endpoint("http://127.0.0.1:4317")
///     .build()?;
/// # #[cfg(feature = "grpc")] {
/// let (client, wire_format) = otlp::exporter::client(&config)?;
/// assert_eq!(wire_format.codec(), otlp::codec::Codec::Protobuf);
/// # drop(client);
/// # }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn client(config: &ExporterConfig) -> Result<(BoxExportService, WireFormat), ExporterError> {
    let protocol = config.protocol();
    let headers = config
        .headers()
        .iter()
        // Values were checked to be printable ASCII when configured.
        .filter_map(|(name, value)| {
            Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
        });
    let client_error = |message: String| ExporterError::Client { protocol, message };
    match protocol {
        #[cfg(feature = "grpc")]
        Protocol::Grpc => {
            let scheme = if config.is_secure() { "https" } else { "http" };
            let mut builder = otlp_grpc::Client::builder()
                .endpoint(format!("{scheme}://{}", config.endpoint().authority()))
                .compression(config.compression())
                .timeout(config.timeout());
            for (name, value) in headers {
                builder = builder.metadata(name, value);
            }
            if let Some(proxies) = config.proxies() {
                builder = builder.proxy(proxies.clone());
            }
            builder = grpc_tls(builder, config)?;
            let client = builder.build().map_err(|e| client_error(e.to_string()))?;
            let wire_format = client.wire_format();
            Ok((BoxExportService::new(client), wire_format))
        }
        #[cfg(feature = "http")]
        Protocol::HttpProtobuf
        | Protocol::HttpJson
        | Protocol::HttpMsgpack
        | Protocol::HttpCbor => {
            let mut builder = otlp_http::Client::builder()
                .signal_endpoint(config.signal(), config.endpoint().to_string())
                .codec(protocol.codec())
                .compression(config.compression())
                .timeout(config.timeout());
            for (name, value) in headers {
                builder = builder.header(name, value);
            }
            if let Some(proxies) = config.proxies() {
                builder = builder.proxy(proxies.clone());
            }
            builder = match rustls_settings(config)? {
                #[cfg(feature = "tls")]
                Some(tls) => builder.tls(tls),
                _ => builder,
            };
            let client = builder.build().map_err(|e| client_error(e.to_string()))?;
            let wire_format = client.wire_format();
            Ok((BoxExportService::new(client), wire_format))
        }
        #[cfg(feature = "ws")]
        Protocol::Ws => {
            let mut builder = otlp_ws::Client::builder()
                .endpoint(config.endpoint().to_string())
                .codec(protocol.codec())
                .compression(config.compression())
                .timeout(config.timeout());
            for (name, value) in headers {
                builder = builder.header(name, value);
            }
            if let Some(proxies) = config.proxies() {
                builder = builder.proxy(proxies.clone());
            }
            builder = match rustls_settings(config)? {
                #[cfg(feature = "tls")]
                Some(tls) => builder.tls(tls),
                _ => builder,
            };
            let client = builder.build().map_err(|e| client_error(e.to_string()))?;
            let wire_format = client.wire_format();
            Ok((BoxExportService::new(client), wire_format))
        }
        // Unreachable when every transport is compiled in.
        #[allow(unreachable_patterns)]
        other => Err(ExporterError::TransportNotBuilt {
            protocol: other,
            feature: match other {
                Protocol::Grpc => "grpc",
                Protocol::Ws => "ws",
                _ => "http",
            },
        }),
    }
}

#[cfg(feature = "tls")]
fn read(path: &Path, what: &str) -> Result<Vec<u8>, ExporterError> {
    std::fs::read(path)
        .map_err(|e| ExporterError::Tls(format!("cannot read the {what} {}: {e}", path.display())))
}

/// A client certificate chain and its key, PEM.
#[cfg(feature = "tls")]
struct Identity {
    certificate: Vec<u8>,
    key: Vec<u8>,
}

#[cfg(feature = "tls")]
fn identity(config: &ExporterConfig) -> Result<Option<Identity>, ExporterError> {
    let tls = config.tls();
    match (tls.client_certificate(), tls.client_key()) {
        (Some(certificate), Some(key)) => Ok(Some(Identity {
            certificate: read(certificate, "client certificate")?,
            key: read(key, "client key")?,
        })),
        _ => Ok(None),
    }
}

#[cfg(feature = "grpc")]
fn grpc_tls(
    builder: otlp_grpc::ClientBuilder,
    config: &ExporterConfig,
) -> Result<otlp_grpc::ClientBuilder, ExporterError> {
    #[cfg(feature = "tls")]
    {
        let mut builder = builder;
        if let Some(ca) = config.tls().certificate() {
            builder = builder.tls_ca(read(ca, "certificate")?);
        }
        if let Some(identity) = identity(config)? {
            builder = builder.tls_identity(identity.certificate, identity.key);
        }
        Ok(builder)
    }
    #[cfg(not(feature = "tls"))]
    {
        if config.tls().certificate().is_some() || config.tls().has_client_identity() {
            return Err(ExporterError::Tls(
                "certificate files are configured, but the `otlp` crate was built without its `tls` feature".into(),
            ));
        }
        Ok(builder)
    }
}

/// The rustls settings of an `https://` or `wss://` endpoint (HTTP and
/// WebSocket run on rustls); `None` for a plain one.
#[cfg(feature = "http")]
fn rustls_settings(config: &ExporterConfig) -> Result<Option<RustlsConfig>, ExporterError> {
    if !config.is_secure() {
        return Ok(None);
    }
    #[cfg(feature = "tls")]
    {
        let ca = match config.tls().certificate() {
            Some(path) => Some(read(path, "certificate")?),
            None => None,
        };
        let identity = identity(config)?;
        let identity = identity
            .as_ref()
            .map(|id| (id.certificate.as_slice(), id.key.as_slice()));
        // No CA configured: the system's roots, as the Collector's exporters.
        let tls = match &ca {
            Some(ca) => otlp_transport::tls::client_config(ca, identity),
            None => otlp_transport::tls::system_client_config(identity),
        }
        .map_err(|e| ExporterError::Tls(e.to_string()))?;
        Ok(Some(tls))
    }
    #[cfg(not(feature = "tls"))]
    {
        Err(ExporterError::Tls(format!(
            "{} is {}, but the `otlp` crate was built without its `tls` feature",
            config.endpoint(),
            config.endpoint().scheme().map_or("secure", |s| s.as_str()),
        )))
    }
}

/// What [`rustls_settings`] gives: a rustls config when TLS is built in,
/// nothing otherwise (a secure endpoint is then an error).
#[cfg(all(feature = "http", feature = "tls"))]
type RustlsConfig = otlp_transport::tls::ClientConfig;
#[cfg(all(feature = "http", not(feature = "tls")))]
type RustlsConfig = std::convert::Infallible;
