//! Exporter configuration: where and how one signal is exported, built in code
//! with [`ExporterConfig::builder`] or read from the standard
//! `OTEL_EXPORTER_OTLP_*` environment variables with
//! [`ExporterConfig::from_env`].
//!
//! The rules are those of the OpenTelemetry specification, "OTLP Exporter
//! Configuration" (`specification/protocol/exporter.md`); the tests of this
//! module are named after them. Where this crate goes further (more
//! protocols, more compressions) or is stricter (a malformed value is an
//! error naming the variable, never silently replaced by a default), the
//! item's documentation says so.

mod endpoint;
mod env;
mod error;
mod protocol;

use std::path::{Path, PathBuf};
use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue};
use otlp_codec::Codec;
use otlp_compression::{Compression, Encoder};
use otlp_transport::proxy::Proxies;
use otlp_transport::{Signal, WireFormat};

pub use endpoint::{Endpoint, Scheme};
pub use env::{ENV_PREFIX, ExporterConfigs};
pub use error::ConfigError;
pub use protocol::{ParseProtocolError, Protocol};

/// The export timeout when none is configured: 10 seconds, as the
/// specification's `OTEL_EXPORTER_OTLP_TIMEOUT` default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Where and how one signal is exported: endpoint, protocol, headers,
/// compression, timeout and TLS.
///
/// Every value in it has been checked: an `ExporterConfig` can be handed to a
/// transport without further validation.
///
/// ```
/// use std::time::Duration;
/// use otlp::config::{ExporterConfig, Protocol};
/// use otlp_transport::Signal;
///
/// let config = ExporterConfig::builder(Signal::Logs)
///     .base_endpoint("https://collector.example.com:4318/otlp")
///     .header("api-key", "s3cr3t")
///     .timeout(Duration::from_secs(5))
///     .build()?;
/// assert_eq!(config.endpoint().to_string(), "https://collector.example.com:4318/otlp/v1/logs");
/// assert_eq!(config.protocol(), Protocol::HttpProtobuf);
/// assert!(config.is_secure());
/// # Ok::<(), otlp::config::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ExporterConfig {
    signal: Signal,
    protocol: Protocol,
    endpoint: Endpoint,
    headers: HeaderMap,
    compression: Compression,
    timeout: Duration,
    tls: TlsFiles,
    insecure: bool,
    proxies: Option<Proxies>,
}

impl ExporterConfig {
    /// A builder for `signal`, starting from the specification's defaults:
    /// `http/protobuf` to `http://localhost:4318/v1/<signal>`, no headers, no
    /// compression, a 10 s timeout.
    pub fn builder(signal: Signal) -> ExporterConfigBuilder {
        ExporterConfigBuilder::new(signal)
    }

    /// The signal exported.
    pub fn signal(&self) -> Signal {
        self.signal
    }

    /// The protocol (transport and codec).
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// Where to send: for HTTP the full URL of the signal, for gRPC and
    /// WebSocket the target whose host and port
    /// ([`Endpoint::authority`]) the client connects to.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// Headers (gRPC metadata) to send with every export. Their values are
    /// marked sensitive, so that `Debug` output never shows credentials.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The compression of request bodies.
    pub fn compression(&self) -> Compression {
        self.compression
    }

    /// The longest an export may take, each attempt included.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The TLS files: trusted certificate and client identity.
    pub fn tls(&self) -> &TlsFiles {
        &self.tls
    }

    /// The `insecure` setting as given. It only matters for a gRPC endpoint
    /// without a scheme; see [`is_secure`](Self::is_secure).
    pub fn insecure(&self) -> bool {
        self.insecure
    }

    /// Whether the connection uses TLS: a scheme of `https` (or `wss`) says
    /// yes and `http` (or `ws`) says no, whatever `insecure` says; an endpoint
    /// without a scheme (gRPC only) uses TLS unless `insecure` is set.
    pub fn is_secure(&self) -> bool {
        match self.endpoint.scheme() {
            Some(scheme) => scheme.is_secure(),
            None => !self.insecure,
        }
    }

    /// The forward proxies the exporter goes through: those of
    /// [`from_env`](Self::from_env) (`HTTPS_PROXY`, `HTTP_PROXY`,
    /// `NO_PROXY`) or [`ExporterConfigBuilder::proxy`]; `None` leaves the
    /// transport client's default, which reads the same variables.
    pub fn proxies(&self) -> Option<&Proxies> {
        self.proxies.as_ref()
    }

    /// How payloads are put on the wire: the protocol's codec and the
    /// configured compression at its default level.
    pub fn wire_format(&self) -> WireFormat {
        WireFormat::new(self.protocol.codec(), Encoder::new(self.compression))
    }
}

/// The TLS files of an exporter, as paths to PEM files (read by the
/// transport when it connects).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsFiles {
    certificate: Option<PathBuf>,
    client_key: Option<PathBuf>,
    client_certificate: Option<PathBuf>,
}

impl TlsFiles {
    /// The trusted certificate(s) to verify the server with, instead of the
    /// system's roots (`OTEL_EXPORTER_OTLP_CERTIFICATE`).
    pub fn certificate(&self) -> Option<&Path> {
        self.certificate.as_deref()
    }

    /// The client's private key for mutual TLS (`OTEL_EXPORTER_OTLP_CLIENT_KEY`).
    pub fn client_key(&self) -> Option<&Path> {
        self.client_key.as_deref()
    }

    /// The client's certificate chain for mutual TLS
    /// (`OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE`).
    pub fn client_certificate(&self) -> Option<&Path> {
        self.client_certificate.as_deref()
    }

    /// Whether a client identity (key and certificate) is configured.
    pub fn has_client_identity(&self) -> bool {
        self.client_key.is_some() && self.client_certificate.is_some()
    }
}

/// Builds an [`ExporterConfig`]; every value is checked by
/// [`build`](Self::build), which names the setter of a bad one.
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct ExporterConfigBuilder {
    signal: Signal,
    protocol: Protocol,
    endpoint: Option<(EndpointForm, String)>,
    headers: Vec<(String, String)>,
    compression: Compression,
    timeout: Duration,
    tls: TlsFiles,
    insecure: bool,
    proxies: Option<Proxies>,
}

/// How an endpoint string given to the builder is turned into the signal's
/// endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EndpointForm {
    /// Used exactly as given (a per-signal endpoint).
    AsIs,
    /// A base URL to which HTTP protocols append `v1/<signal>`.
    Base,
}

impl ExporterConfigBuilder {
    fn new(signal: Signal) -> Self {
        Self {
            signal,
            protocol: Protocol::default(),
            endpoint: None,
            headers: Vec::new(),
            compression: Compression::None,
            timeout: DEFAULT_TIMEOUT,
            tls: TlsFiles::default(),
            insecure: false,
            proxies: None,
        }
    }

    /// The protocol; `http/protobuf` by default, as the specification
    /// recommends.
    pub fn protocol(mut self, protocol: Protocol) -> Self {
        self.protocol = protocol;
        self
    }

    /// The endpoint of this signal, used exactly as given (an HTTP URL
    /// without a path gets the root path `/`), like
    /// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`.
    pub fn endpoint(mut self, url: impl Into<String>) -> Self {
        self.endpoint = Some((EndpointForm::AsIs, url.into()));
        self
    }

    /// A base URL shared by every signal, like `OTEL_EXPORTER_OTLP_ENDPOINT`:
    /// HTTP protocols append `v1/<signal>` to its path; gRPC and WebSocket use
    /// it as given.
    pub fn base_endpoint(mut self, url: impl Into<String>) -> Self {
        self.endpoint = Some((EndpointForm::Base, url.into()));
        self
    }

    /// Adds a header (gRPC metadata) sent with every export; the name is
    /// case-insensitive, and a repeated name sends every value.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The compression of request bodies; none by default.
    pub fn compression(mut self, compression: Compression) -> Self {
        self.compression = compression;
        self
    }

    /// The longest an export may take; 10 s by default.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// A PEM file with the certificate(s) to trust for the server.
    pub fn certificate(mut self, path: impl Into<PathBuf>) -> Self {
        self.tls.certificate = Some(path.into());
        self
    }

    /// A PEM file with the client's private key, for mutual TLS (with
    /// [`client_certificate`](Self::client_certificate)).
    pub fn client_key(mut self, path: impl Into<PathBuf>) -> Self {
        self.tls.client_key = Some(path.into());
        self
    }

    /// A PEM file with the client's certificate chain, for mutual TLS (with
    /// [`client_key`](Self::client_key)).
    pub fn client_certificate(mut self, path: impl Into<PathBuf>) -> Self {
        self.tls.client_certificate = Some(path.into());
        self
    }

    /// Whether a gRPC endpoint without a scheme connects without TLS; false
    /// by default. A scheme (`http`, `https`) always wins over this setting.
    pub fn insecure(mut self, insecure: bool) -> Self {
        self.insecure = insecure;
        self
    }

    /// The forward proxies to reach the endpoint through
    /// ([`Proxies::none`] to connect directly whatever the environment
    /// says). Unset, the transport reads `HTTPS_PROXY`, `HTTP_PROXY` and
    /// `NO_PROXY` itself.
    pub fn proxy(mut self, proxies: Proxies) -> Self {
        self.proxies = Some(proxies);
        self
    }

    /// Checks every value and builds the configuration.
    pub fn build(self) -> Result<ExporterConfig, ConfigError> {
        let endpoint = match &self.endpoint {
            None => Endpoint::default_for(self.protocol, self.signal),
            Some((form, url)) => {
                let (setter, base) = match form {
                    EndpointForm::AsIs => ("ExporterConfigBuilder::endpoint", false),
                    EndpointForm::Base => ("ExporterConfigBuilder::base_endpoint", true),
                };
                Endpoint::resolve(url, self.protocol, self.signal, base)
                    .map_err(|reason| ConfigError::invalid_endpoint(setter, url, reason))?
            }
        };
        let mut headers = HeaderMap::new();
        for (position, (name, value)) in self.headers.iter().enumerate() {
            let (name, value) = header(name, value).map_err(|reason| {
                ConfigError::invalid_headers("ExporterConfigBuilder::header", position + 1, reason)
            })?;
            headers.append(name, value);
        }
        check_protocol("ExporterConfigBuilder::protocol", self.protocol)?;
        check_compression("ExporterConfigBuilder::compression", self.compression)?;
        if self.timeout.is_zero() {
            return Err(ConfigError::InvalidTimeout {
                variable: "ExporterConfigBuilder::timeout".into(),
                value: "0".into(),
            });
        }
        check_client_identity(
            &self.tls,
            "ExporterConfigBuilder::client_key",
            "ExporterConfigBuilder::client_certificate",
        )?;
        Ok(ExporterConfig {
            signal: self.signal,
            protocol: self.protocol,
            endpoint,
            headers,
            compression: self.compression,
            timeout: self.timeout,
            tls: self.tls,
            insecure: self.insecure,
            proxies: self.proxies,
        })
    }
}

/// A header name and value usable in HTTP and gRPC alike, the value marked
/// sensitive so that it never shows in `Debug` output.
fn header(name: &str, value: &str) -> Result<(HeaderName, HeaderValue), String> {
    let name = name.trim();
    if name.is_empty() {
        return Err("has an empty key".into());
    }
    let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
        format!("has the key {name:?}, which is not a valid header name (letters, digits and !#$%&'*+-.^_`|~ only)")
    })?;
    if name.as_str().starts_with("grpc-") || name.as_str() == "content-type" {
        return Err(format!(
            "sets {:?}, which the transport sets itself",
            name.as_str()
        ));
    }
    // The message must never carry the value: headers hold credentials.
    let not_printable = || {
        format!(
            "has a value for {:?} that is not printable ASCII (gRPC metadata allows no other)",
            name.as_str()
        )
    };
    // HTTP tolerates other bytes, gRPC metadata does not: refuse them up front.
    if !value.is_ascii() {
        return Err(not_printable());
    }
    let mut value = HeaderValue::from_str(value).map_err(|_| not_printable())?;
    value.set_sensitive(true);
    Ok((name, value))
}

fn check_protocol(variable: &str, protocol: Protocol) -> Result<(), ConfigError> {
    let feature = match protocol.codec() {
        Codec::Json => "json",
        Codec::MessagePack => "msgpack",
        Codec::Cbor => "cbor",
        _ => return Ok(()),
    };
    if protocol.codec().is_enabled() {
        return Ok(());
    }
    Err(ConfigError::UnsupportedProtocol {
        variable: variable.into(),
        value: protocol.as_str().into(),
        feature,
    })
}

fn check_compression(variable: &str, compression: Compression) -> Result<(), ConfigError> {
    match compression.feature() {
        Some(feature) if !compression.is_supported() => Err(ConfigError::UnsupportedCompression {
            variable: variable.into(),
            value: compression.as_str().into(),
            feature,
        }),
        _ => Ok(()),
    }
}

fn check_client_identity(tls: &TlsFiles, key: &str, certificate: &str) -> Result<(), ConfigError> {
    match (&tls.client_key, &tls.client_certificate) {
        (Some(_), None) => Err(ConfigError::IncompleteClientIdentity {
            present: key.into(),
            missing: certificate.into(),
        }),
        (None, Some(_)) => Err(ConfigError::IncompleteClientIdentity {
            present: certificate.into(),
            missing: key.into(),
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_defaults_follow_the_spec() {
        let config = ExporterConfig::builder(Signal::Traces).build().unwrap();
        assert_eq!(config.protocol(), Protocol::HttpProtobuf);
        assert_eq!(
            config.endpoint().to_string(),
            "http://localhost:4318/v1/traces"
        );
        assert_eq!(config.timeout(), Duration::from_secs(10));
        assert_eq!(config.compression(), Compression::None);
        assert!(config.headers().is_empty());
        assert!(!config.is_secure());
        let grpc = ExporterConfig::builder(Signal::Metrics)
            .protocol(Protocol::Grpc)
            .build()
            .unwrap();
        assert_eq!(grpc.endpoint().to_string(), "http://localhost:4317");
        assert_eq!(grpc.endpoint().authority(), "localhost:4317");
    }

    #[test]
    fn builder_errors_name_the_setter() {
        let error = ExporterConfig::builder(Signal::Logs)
            .endpoint("ftp://example.com")
            .build()
            .unwrap_err();
        assert!(
            error
                .to_string()
                .contains("ExporterConfigBuilder::endpoint"),
            "{error}"
        );
        let error = ExporterConfig::builder(Signal::Logs)
            .timeout(Duration::ZERO)
            .build()
            .unwrap_err();
        assert!(
            matches!(error, ConfigError::InvalidTimeout { .. }),
            "{error}"
        );
        let error = ExporterConfig::builder(Signal::Logs)
            .client_key("key.pem")
            .build()
            .unwrap_err();
        assert!(
            error
                .to_string()
                .contains("ExporterConfigBuilder::client_certificate"),
            "{error}"
        );
        let error = ExporterConfig::builder(Signal::Logs)
            .header("bad name", "v")
            .build()
            .unwrap_err();
        assert!(
            matches!(error, ConfigError::InvalidHeaders { position: 1, .. }),
            "{error}"
        );
    }

    #[test]
    fn header_values_never_show_in_debug_output() {
        let config = ExporterConfig::builder(Signal::Logs)
            .header("authorization", "Bearer hunter2")
            .build()
            .unwrap();
        let debug = format!("{config:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert_eq!(config.headers()["authorization"], "Bearer hunter2");
    }

    #[test]
    fn a_compression_not_compiled_in_is_an_error_naming_the_feature() {
        for compression in Compression::ALL {
            let result = ExporterConfig::builder(Signal::Logs)
                .compression(compression)
                .build();
            match result {
                Ok(config) => assert!(compression.is_supported(), "{compression}: {config:?}"),
                Err(ConfigError::UnsupportedCompression { feature, .. }) => {
                    assert!(!compression.is_supported());
                    assert_eq!(Some(feature), compression.feature());
                }
                Err(other) => panic!("{compression}: {other}"),
            }
        }
    }

    #[test]
    fn a_protocol_whose_codec_is_not_compiled_in_is_an_error_naming_the_feature() {
        for protocol in Protocol::ALL {
            let result = ExporterConfig::builder(Signal::Logs)
                .protocol(protocol)
                .build();
            match result {
                Ok(_) => assert!(protocol.codec().is_enabled(), "{protocol}"),
                Err(ConfigError::UnsupportedProtocol { feature, .. }) => {
                    assert!(!protocol.codec().is_enabled(), "{protocol}");
                    assert!(["json", "msgpack", "cbor"].contains(&feature));
                }
                Err(other) => panic!("{protocol}: {other}"),
            }
        }
    }

    #[test]
    fn wire_format_follows_protocol_and_compression() {
        let config = ExporterConfig::builder(Signal::Logs)
            .protocol(Protocol::Grpc)
            .build()
            .unwrap();
        let wire = config.wire_format();
        assert_eq!(wire.codec(), Codec::Protobuf);
        assert_eq!(wire.compression(), Compression::None);
    }
}
