//! `Exporter` over mutual TLS, configured by file paths as
//! `OTEL_EXPORTER_OTLP_CERTIFICATE`, `_CLIENT_KEY` and `_CLIENT_CERTIFICATE`
//! give them; certificates made for each test (rcgen).
#![cfg(all(feature = "tls", feature = "http"))]

use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use otlp::config::{ExporterConfig, Protocol};
use otlp::exporter::Exporter;
use otlp::transport::{ExportRequest, Outcome, Payload, Signal, Sink, SinkError};

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
/// PEM files in `dir`.
fn make_pki(dir: &Path) {
    let ca = otlp_datagen::pki::Pki::new();
    let client = ca.leaf(&["exporter"]);
    let server = ca.leaf(&["localhost"]);
    for (file, pem) in [
        ("ca.pem", ca.ca_pem()),
        ("client.pem", &client.cert_pem),
        ("client-key.pem", &client.key_pem),
        ("server.pem", &server.cert_pem),
        ("server-key.pem", &server.key_pem),
    ] {
        std::fs::write(dir.join(file), pem).unwrap();
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

/// 25 spans.
fn spans() -> otlp::proto::collector::trace::v1::ExportTraceServiceRequest {
    otlp_datagen::Generator::new(1)
        .resources(1)
        .spans(25)
        .traces()
}

async fn send(exporter: Exporter) {
    assert_eq!(export_spans(exporter).await, 25);
}

/// Exports 25 spans and returns how many were delivered; every other one
/// must be counted as failed.
async fn export_spans(exporter: Exporter) -> u64 {
    exporter.submit(ExportRequest::from(spans())).unwrap();
    exporter.shutdown().await.unwrap();
    let stats = exporter.stats();
    assert_eq!(
        stats.exported_records + stats.dropped_export_failed,
        25,
        "every record is exported or counted: {stats:?}"
    );
    stats.exported_records
}

/// An exporter to `endpoint` without retry, so that a refused connection
/// fails the export at once, trusting `ca` or else the system's roots.
fn exporter_without_retry(protocol: Protocol, endpoint: String, ca: Option<&Path>) -> Exporter {
    let mut config = ExporterConfig::builder(Signal::Traces)
        .protocol(protocol)
        .endpoint(endpoint)
        .timeout(std::time::Duration::from_secs(3));
    if let Some(ca) = ca {
        config = config.certificate(ca);
    }
    Exporter::builder(config.build().unwrap())
        .no_retry()
        .build()
        .unwrap()
}

/// A receiver on every transport, TLS with `dir`'s server certificate,
/// requiring client certificates from `dir`'s CA when `mutual`.
#[cfg(all(feature = "grpc", feature = "ws"))]
async fn tls_receiver(dir: &Path, mutual: bool, received: &Received) -> otlp::Receiver {
    let read = |file: &str| std::fs::read(dir.join(file)).unwrap();
    let mut builder = otlp::Receiver::builder()
        .grpc("127.0.0.1:0")
        .http("127.0.0.1:0")
        .websocket("/v1/ws")
        .tls(read("server.pem"), read("server-key.pem"));
    if mutual {
        builder = builder.client_ca(read("ca.pem"));
    }
    builder.start(received.clone()).await.unwrap()
}

/// The endpoint of each exporter protocol on `receiver`, over TLS.
#[cfg(all(feature = "grpc", feature = "ws"))]
fn tls_endpoints(receiver: &otlp::Receiver) -> [(Protocol, String); 3] {
    let grpc = receiver.grpc_addr().unwrap().port();
    let http = receiver.http_addr().unwrap().port();
    [
        (Protocol::Grpc, format!("https://localhost:{grpc}")),
        (
            Protocol::HttpProtobuf,
            format!("https://localhost:{http}/v1/traces"),
        ),
        (Protocol::Ws, format!("wss://localhost:{http}/v1/ws")),
    ]
}

#[cfg(all(feature = "grpc", feature = "ws"))]
#[tokio::test(flavor = "current_thread")]
async fn every_exporter_speaks_mutual_tls_from_certificate_files() {
    let dir = tempfile::tempdir().unwrap();
    make_pki(dir.path());
    let received = Received::default();
    let receiver = tls_receiver(dir.path(), true, &received).await;
    for (protocol, endpoint) in tls_endpoints(&receiver) {
        send(
            Exporter::builder(config(dir.path(), protocol, endpoint))
                .build()
                .unwrap(),
        )
        .await;
    }
    assert_eq!(*received.0.lock().unwrap(), 3 * 25);
    receiver.shutdown().await;
}

#[cfg(all(feature = "grpc", feature = "ws"))]
#[tokio::test(flavor = "current_thread")]
async fn an_exporter_without_a_client_certificate_is_refused_by_mutual_tls() {
    let dir = tempfile::tempdir().unwrap();
    make_pki(dir.path());
    let received = Received::default();
    let receiver = tls_receiver(dir.path(), true, &received).await;
    let ca = dir.path().join("ca.pem");
    for (protocol, endpoint) in tls_endpoints(&receiver) {
        let exporter = exporter_without_retry(protocol, endpoint, Some(&ca));
        assert_eq!(export_spans(exporter).await, 0, "{protocol}");
    }
    assert_eq!(*received.0.lock().unwrap(), 0);
    receiver.shutdown().await;
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
#[cfg(all(feature = "grpc", feature = "ws"))]
const PKI_DIR: &str = "OTLP_TEST_PKI_DIR";

/// Runs the test `name` of this binary again in a child process whose system
/// trust store is `SSL_CERT_FILE=trusted` (read by rustls-native-certs as
/// by OpenSSL; a process-wide setting, so not changed in this one), with
/// [`PKI_DIR`] naming `dir`, and checks that it ran and passed.
#[cfg(all(feature = "grpc", feature = "ws"))]
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

/// Exports 25 spans over `https://localhost` (and `wss://`) with no CA
/// configured, with each protocol, to a receiver presenting `dir`'s server
/// certificate, and returns what each exporter delivered.
#[cfg(all(feature = "grpc", feature = "ws"))]
async fn export_with_no_ca_configured(dir: &Path) -> Vec<(Protocol, u64)> {
    let received = Received::default();
    let receiver = tls_receiver(dir, false, &received).await;
    let mut delivered = Vec::new();
    for (protocol, endpoint) in tls_endpoints(&receiver) {
        let exporter = exporter_without_retry(protocol, endpoint, None);
        delivered.push((protocol, export_spans(exporter).await));
    }
    receiver.shutdown().await;
    let total: u64 = delivered.iter().map(|(_, n)| n).sum();
    assert_eq!(*received.0.lock().unwrap() as u64, total);
    delivered
}

#[cfg(all(feature = "grpc", feature = "ws"))]
#[tokio::test(flavor = "current_thread")]
async fn https_with_no_ca_configured_trusts_the_system_store() {
    if let Some(dir) = std::env::var_os(PKI_DIR) {
        let delivered = export_with_no_ca_configured(Path::new(&dir)).await;
        assert_eq!(
            delivered,
            [
                (Protocol::Grpc, 25),
                (Protocol::HttpProtobuf, 25),
                (Protocol::Ws, 25)
            ]
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

#[cfg(all(feature = "grpc", feature = "ws"))]
#[tokio::test(flavor = "current_thread")]
async fn https_with_no_ca_configured_refuses_a_server_the_system_store_does_not_trust() {
    if let Some(dir) = std::env::var_os(PKI_DIR) {
        let delivered = export_with_no_ca_configured(Path::new(&dir)).await;
        assert_eq!(
            delivered,
            [
                (Protocol::Grpc, 0),
                (Protocol::HttpProtobuf, 0),
                (Protocol::Ws, 0)
            ]
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
