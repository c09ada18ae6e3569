//! The exporter options shared by `otlp send` and `otlp relay`, and the
//! transport client they build.

use std::path::PathBuf;
use std::time::Duration;

use otlp::config::Protocol;
use otlp_compression::Compression;
use otlp_transport::{BoxExportService, WireFormat};

use crate::Error;

/// Where and how to export.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct ExporterArgs {
    /// The receiver's base URL; each signal's path is appended for HTTP.
    /// Default: http://localhost:4317 for grpc, http://localhost:4318 otherwise.
    #[arg(
        long,
        short,
        visible_alias = "to",
        env = "OTEL_EXPORTER_OTLP_ENDPOINT",
        value_name = "URL"
    )]
    endpoint: Option<String>,
    /// grpc, http/protobuf, http/json, http/msgpack, http/cbor or ws
    /// (OTLP/WebSocket, protobuf, at `<endpoint>/v1/ws`).
    #[arg(
        long,
        short,
        env = "OTEL_EXPORTER_OTLP_PROTOCOL",
        default_value = "grpc"
    )]
    pub(crate) protocol: Protocol,
    /// none, gzip, deflate, zstd, snappy, x-snappy-framed or lz4 (lz4: over
    /// HTTP and WebSocket; gRPC peers have no lz4 grpc-encoding).
    #[arg(
        long,
        short,
        env = "OTEL_EXPORTER_OTLP_COMPRESSION",
        default_value = "gzip"
    )]
    compression: Compression,
    /// A header (gRPC metadata) on every request, as name=value; repeatable.
    #[arg(long = "header", short = 'H', value_name = "NAME=VALUE", value_parser = parse_header)]
    headers: Vec<(String, String)>,
    /// Send `Authorization: Bearer TOKEN`.
    #[arg(
        long,
        env = "OTLP_BEARER_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    bearer_token: Option<String>,
    /// Give up on a request after this many seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 10.0)]
    timeout: f64,
    /// Trust servers whose certificate chains to this CA (PEM).
    #[arg(long, env = "OTEL_EXPORTER_OTLP_CERTIFICATE", value_name = "FILE")]
    ca: Option<PathBuf>,
    /// Client certificate chain (PEM) for mutual TLS; needs --client-key.
    #[arg(
        long,
        env = "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE",
        value_name = "FILE",
        requires = "client_key"
    )]
    client_cert: Option<PathBuf>,
    /// Client private key (PEM) for mutual TLS.
    #[arg(
        long,
        env = "OTEL_EXPORTER_OTLP_CLIENT_KEY",
        value_name = "FILE",
        requires = "client_cert"
    )]
    client_key: Option<PathBuf>,
}

fn parse_header(value: &str) -> Result<(String, String), String> {
    let (name, value) = value
        .split_once('=')
        .ok_or_else(|| format!("`{value}` is not NAME=VALUE"))?;
    let name = name.trim();
    if name.is_empty() {
        return Err("a header needs a name before `=`".to_owned());
    }
    Ok((name.to_owned(), value.trim().to_owned()))
}

impl ExporterArgs {
    pub(crate) fn endpoint(&self) -> String {
        self.endpoint
            .clone()
            .unwrap_or_else(|| format!("http://localhost:{}", self.protocol.default_port()))
    }

    pub(crate) fn timeout(&self) -> Result<Duration, Error> {
        if self.timeout.is_finite() && self.timeout > 0.0 {
            Ok(Duration::from_secs_f64(self.timeout))
        } else {
            Err(format!(
                "--timeout must be a positive number of seconds, not {}",
                self.timeout
            )
            .into())
        }
    }

    fn read(path: &Option<PathBuf>) -> Result<Option<Vec<u8>>, Error> {
        path.as_ref()
            .map(|path| {
                std::fs::read(path)
                    .map_err(|e| format!("cannot read {}: {e}", path.display()).into())
            })
            .transpose()
    }
}

/// The transport client the options describe, and the wire form to encode
/// payloads in before handing them to it.
pub(crate) fn exporter(args: &ExporterArgs) -> Result<(BoxExportService, WireFormat), Error> {
    let endpoint = args.endpoint();
    let timeout = args.timeout()?;
    let ca = ExporterArgs::read(&args.ca)?;
    let identity = match (
        ExporterArgs::read(&args.client_cert)?,
        ExporterArgs::read(&args.client_key)?,
    ) {
        (Some(cert), Some(key)) => Some((cert, key)),
        _ => None,
    };
    match args.protocol {
        Protocol::Grpc => {
            let mut builder = otlp_grpc::Client::builder()
                .endpoint(endpoint)
                .compression(args.compression)
                .timeout(timeout);
            for (name, value) in &args.headers {
                builder = builder.metadata(name.clone(), value.clone());
            }
            if let Some(token) = &args.bearer_token {
                builder = builder.bearer_token(token.clone());
            }
            if let Some(ca) = ca {
                builder = builder.tls_ca(ca);
            }
            if let Some((cert, key)) = identity {
                builder = builder.tls_identity(cert, key);
            }
            let client = builder.build()?;
            let wire = client.wire_format();
            Ok((BoxExportService::new(client), wire))
        }
        protocol if protocol.is_http() => {
            let mut builder = otlp_http::Client::builder()
                .endpoint(endpoint)
                .codec(protocol.codec())
                .compression(args.compression)
                .timeout(timeout);
            for (name, value) in &args.headers {
                builder = builder.header(name.clone(), value.clone());
            }
            if let Some(token) = &args.bearer_token {
                builder = builder.bearer_token(token.clone());
            }
            if let Some(tls) = rustls_settings(ca.as_deref(), identity.as_ref())? {
                builder = builder.tls(tls);
            }
            let client = builder.build()?;
            let wire = client.wire_format();
            Ok((BoxExportService::new(client), wire))
        }
        Protocol::Ws => {
            let mut builder = otlp_ws::Client::builder()
                .endpoint(endpoint)
                .codec(args.protocol.codec())
                .compression(args.compression)
                .timeout(timeout);
            for (name, value) in &args.headers {
                builder = builder.header(name.clone(), value.clone());
            }
            if let Some(token) = &args.bearer_token {
                builder = builder.bearer_token(token.clone());
            }
            if let Some(tls) = rustls_settings(ca.as_deref(), identity.as_ref())? {
                builder = builder.tls(tls);
            }
            let client = builder.build()?;
            let wire = client.wire_format();
            Ok((BoxExportService::new(client), wire))
        }
        other => Err(format!(
            "the {other} protocol is not available in this build of otlp yet; use grpc or http/*"
        )
        .into()),
    }
}

/// The rustls settings of the HTTP and WebSocket clients: trust `ca`, or the
/// system's roots when only a client certificate is given; `None` leaves the
/// client's default (the system's roots for `https://` and `wss://`).
fn rustls_settings(
    ca: Option<&[u8]>,
    identity: Option<&(Vec<u8>, Vec<u8>)>,
) -> Result<Option<otlp_transport::tls::ClientConfig>, Error> {
    let identity = identity.map(|(cert, key)| (cert.as_slice(), key.as_slice()));
    Ok(match (ca, identity) {
        (Some(ca), identity) => Some(otlp_transport::tls::client_config(ca, identity)?),
        (None, Some(identity)) => Some(otlp_transport::tls::system_client_config(Some(identity))?),
        (None, None) => None,
    })
}
