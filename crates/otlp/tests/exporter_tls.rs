//! `Exporter` over mutual TLS, configured by file paths as
//! `OTEL_EXPORTER_OTLP_CERTIFICATE`, `_CLIENT_KEY` and `_CLIENT_CERTIFICATE`
//! give them; certificates made for each test (rcgen).
#![cfg(all(feature = "tls", any(feature = "grpc", feature = "http")))]

use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use otlp::config::{ExporterConfig, Protocol};
use otlp::exporter::Exporter;
use otlp::transport::{ExportRequest, Outcome, Payload, Signal, Sink, SinkError};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};

#[derive(Clone, Default)]
struct Received(Arc<Mutex<usize>>);

#[async_trait]
impl Sink for Received {
    async fn export(&self, payload: Payload) -> Result<Outcome, SinkError> {
        let request = payload
            .into_request(64 << 20)
            .map_err(|e| SinkError::InvalidData(e.to_string()))?;
        *self.0.lock().unwrap() += request.record_count();
        Ok(Outcome::Success)
    }
}

/// A CA, a server certificate for `localhost` and a client certificate, as
/// PEM files in `dir`; the server's pair is returned as text.
struct Pki {
    server_cert: String,
    server_key: String,
    ca: String,
}

fn make_pki(dir: &Path) -> Pki {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
    let leaf = |name: &str| {
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(vec![name.to_string()])
            .unwrap()
            .signed_by(&key, &ca)
            .unwrap();
        (cert.pem(), key.serialize_pem())
    };
    let (client_cert, client_key) = leaf("exporter");
    std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
    std::fs::write(dir.join("client.pem"), client_cert).unwrap();
    std::fs::write(dir.join("client-key.pem"), client_key).unwrap();
    let (server_cert, server_key) = leaf("localhost");
    Pki {
        server_cert,
        server_key,
        ca: ca.pem(),
    }
}

fn config(dir: &Path, protocol: Protocol, endpoint: String) -> ExporterConfig {
    ExporterConfig::builder(Signal::Traces)
        .protocol(protocol)
        .endpoint(endpoint)
        .certificate(dir.join("ca.pem"))
        .client_certificate(dir.join("client.pem"))
        .client_key(dir.join("client-key.pem"))
        .build()
        .unwrap()
}

async fn send(exporter: Exporter) {
    let spans = otlp_datagen::Generator::new(1)
        .resources(1)
        .spans(25)
        .traces();
    exporter.submit(ExportRequest::from(spans)).unwrap();
    exporter.shutdown().await.unwrap();
    assert_eq!(
        exporter.stats().exported_records,
        25,
        "{:?}",
        exporter.stats()
    );
}

#[cfg(feature = "http")]
#[tokio::test(flavor = "current_thread")]
async fn http_exporter_speaks_mutual_tls_from_certificate_files() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let tls = otlp_http::tls::server_config(
        pki.server_cert.as_bytes(),
        pki.server_key.as_bytes(),
        Some(pki.ca.as_bytes()),
    )
    .unwrap();
    let received = Received::default();
    let server = otlp_http::Server::builder()
        .tls(tls)
        .bind("127.0.0.1:0")
        .await
        .unwrap()
        .spawn(received.clone());
    let port = server.local_addr().port();
    let config = config(
        dir.path(),
        Protocol::HttpProtobuf,
        format!("https://localhost:{port}/v1/traces"),
    );
    send(Exporter::builder(config).build().unwrap()).await;
    assert_eq!(*received.0.lock().unwrap(), 25);
    server.shutdown().await.unwrap();
}

#[cfg(feature = "grpc")]
#[tokio::test(flavor = "current_thread")]
async fn grpc_exporter_speaks_mutual_tls_from_certificate_files() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let received = Received::default();
    let server = otlp_grpc::Server::builder()
        .tls(&pki.server_cert, &pki.server_key)
        .client_ca(&pki.ca)
        .bind("127.0.0.1:0")
        .await
        .unwrap()
        .spawn(received.clone());
    let port = server.local_addr().port();
    let config = config(
        dir.path(),
        Protocol::Grpc,
        format!("https://localhost:{port}"),
    );
    send(Exporter::builder(config).build().unwrap()).await;
    assert_eq!(*received.0.lock().unwrap(), 25);
    server.shutdown().await.unwrap();
}

#[cfg(feature = "http")]
#[tokio::test(flavor = "current_thread")]
async fn a_missing_certificate_file_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(
        dir.path(),
        Protocol::HttpProtobuf,
        "https://localhost:4318/v1/traces".into(),
    );
    let error = Exporter::builder(config).build().unwrap_err();
    assert!(error.to_string().contains("ca.pem"), "{error}");
}
