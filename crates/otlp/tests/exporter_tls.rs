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
/// PEM files in `dir`; the server's pair and the CA are returned as text too.
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
    std::fs::write(dir.join("server.pem"), &server_cert).unwrap();
    std::fs::write(dir.join("server-key.pem"), &server_key).unwrap();
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

/// Set in the child process that runs a test again with `SSL_CERT_FILE`.
#[cfg(all(feature = "http", feature = "grpc"))]
const PKI_DIR: &str = "OTLP_TEST_PKI_DIR";

/// Runs the test `name` of this binary again in a child process whose system
/// trust store is `SSL_CERT_FILE=trusted` (read by rustls-native-certs as
/// by OpenSSL; a process-wide setting, so not changed in this one), with
/// [`PKI_DIR`] naming `dir`, and checks that it ran and passed.
#[cfg(all(feature = "http", feature = "grpc"))]
fn rerun_with_trust_store(name: &str, dir: &Path, trusted: &Path) {
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env("SSL_CERT_FILE", trusted)
        .env_remove("SSL_CERT_DIR")
        .env(PKI_DIR, dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Exports 25 spans over `https://localhost` with no CA configured to an
/// OTLP/HTTP and an OTLP/gRPC server presenting `dir`'s server certificate,
/// and returns what each exporter delivered.
#[cfg(all(feature = "http", feature = "grpc"))]
async fn export_with_no_ca_configured(dir: &Path) -> Vec<(Protocol, u64)> {
    let cert = std::fs::read(dir.join("server.pem")).unwrap();
    let key = std::fs::read(dir.join("server-key.pem")).unwrap();
    let received = Received::default();
    let http = otlp_http::Server::builder()
        .tls(otlp_http::tls::server_config(&cert, &key, None).unwrap())
        .bind("127.0.0.1:0")
        .await
        .unwrap()
        .spawn(received.clone());
    let grpc = otlp_grpc::Server::builder()
        .tls(&cert, &key)
        .bind("127.0.0.1:0")
        .await
        .unwrap()
        .spawn(received.clone());
    let endpoints = [
        (
            Protocol::HttpProtobuf,
            format!("https://localhost:{}/v1/traces", http.local_addr().port()),
        ),
        (
            Protocol::Grpc,
            format!("https://localhost:{}", grpc.local_addr().port()),
        ),
    ];
    let mut delivered = Vec::new();
    for (protocol, endpoint) in endpoints {
        let config = ExporterConfig::builder(Signal::Traces)
            .protocol(protocol)
            .endpoint(endpoint)
            .build()
            .unwrap();
        // Without retry, an untrusted server fails the export at once.
        let exporter = Exporter::builder(config).no_retry().build().unwrap();
        let spans = otlp_datagen::Generator::new(1)
            .resources(1)
            .spans(25)
            .traces();
        exporter.submit(ExportRequest::from(spans)).unwrap();
        exporter.shutdown().await.unwrap();
        let stats = exporter.stats();
        assert_eq!(
            stats.exported_records + stats.dropped_export_failed,
            25,
            "{protocol}: every record is exported or counted: {stats:?}"
        );
        delivered.push((protocol, stats.exported_records));
    }
    http.shutdown().await.unwrap();
    grpc.shutdown().await.unwrap();
    let total: u64 = delivered.iter().map(|(_, n)| n).sum();
    assert_eq!(*received.0.lock().unwrap() as u64, total);
    delivered
}

#[cfg(all(feature = "http", feature = "grpc"))]
#[tokio::test(flavor = "current_thread")]
async fn https_with_no_ca_configured_trusts_the_system_store() {
    if let Some(dir) = std::env::var_os(PKI_DIR) {
        let delivered = export_with_no_ca_configured(Path::new(&dir)).await;
        assert_eq!(
            delivered,
            [(Protocol::HttpProtobuf, 25), (Protocol::Grpc, 25)]
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    make_pki(dir.path());
    // The test's CA stands in for a public one in the system store.
    rerun_with_trust_store(
        "https_with_no_ca_configured_trusts_the_system_store",
        dir.path(),
        &dir.path().join("ca.pem"),
    );
}

#[cfg(all(feature = "http", feature = "grpc"))]
#[tokio::test(flavor = "current_thread")]
async fn https_with_no_ca_configured_refuses_a_server_the_system_store_does_not_trust() {
    if let Some(dir) = std::env::var_os(PKI_DIR) {
        let delivered = export_with_no_ca_configured(Path::new(&dir)).await;
        assert_eq!(
            delivered,
            [(Protocol::HttpProtobuf, 0), (Protocol::Grpc, 0)]
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    make_pki(dir.path());
    // The store holds another CA only.
    let other = tempfile::tempdir().unwrap();
    make_pki(other.path());
    rerun_with_trust_store(
        "https_with_no_ca_configured_refuses_a_server_the_system_store_does_not_trust",
        dir.path(),
        &other.path().join("ca.pem"),
    );
}
