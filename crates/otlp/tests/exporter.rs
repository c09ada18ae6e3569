//! `Exporter` end to end over real sockets on 127.0.0.1: a configuration in,
//! batches out through the transport's client, received by its server.
#![cfg(any(feature = "grpc", feature = "http"))]

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use otlp::config::{ExporterConfig, Protocol};
use otlp::exporter::{Exporter, ExporterError};
use otlp::transport::{ExportRequest, Outcome, Payload, Signal, Sink, SinkError};
use otlp_compression::Compression;

/// A sink keeping every request a server accepted.
#[derive(Clone, Default)]
struct Received(Arc<Mutex<Vec<ExportRequest>>>);

#[async_trait]
impl Sink for Received {
    async fn export(&self, payload: Payload) -> Result<Outcome, SinkError> {
        let request = payload
            .into_request(64 << 20)
            .map_err(|e| SinkError::InvalidData(e.to_string()))?;
        self.0.lock().unwrap().push(request);
        Ok(Outcome::Success)
    }
}

impl Received {
    fn records(&self) -> usize {
        self.0
            .lock()
            .unwrap()
            .iter()
            .map(ExportRequest::record_count)
            .sum()
    }

    fn sizes(&self) -> Vec<usize> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .map(ExportRequest::record_count)
            .collect()
    }
}

fn compression() -> Compression {
    if Compression::Gzip.is_supported() {
        Compression::Gzip
    } else {
        Compression::None
    }
}

async fn export_through(exporter: Exporter, received: &Received) {
    for seed in 0..7 {
        let spans = otlp_datagen::Generator::new(seed)
            .resources(1)
            .spans(30)
            .traces();
        exporter.submit(ExportRequest::from(spans)).unwrap();
    }
    exporter.shutdown().await.unwrap();
    let stats = exporter.stats();
    assert_eq!(stats.exported_records, 210, "{stats:?}");
    assert_eq!(stats.dropped_records(), 0, "{stats:?}");
    assert_eq!(received.records(), 210);
    assert_eq!(received.sizes(), [100, 100, 10]);
}

#[cfg(feature = "http")]
#[tokio::test(flavor = "current_thread")]
async fn http_exporter_from_environment_variables_delivers_every_record() {
    let received = Received::default();
    let server = otlp_http::Server::builder()
        .bind("127.0.0.1:0")
        .await
        .unwrap()
        .spawn(received.clone());
    let base = format!("http://{}", server.local_addr());
    let env = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", base.as_str()),
        ("OTEL_EXPORTER_OTLP_COMPRESSION", compression().as_str()),
        ("OTEL_EXPORTER_OTLP_HEADERS", "x-tenant=a%20b"),
    ];
    let config = ExporterConfig::from_lookup_for(Signal::Traces, |name| {
        env.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
    })
    .unwrap();
    assert_eq!(config.protocol(), Protocol::HttpProtobuf);
    let exporter = Exporter::builder(config)
        .batch(otlp::BatchProcessor::builder().max_batch_size(100))
        .build()
        .unwrap();
    export_through(exporter, &received).await;
    server.shutdown().await.unwrap();
}

#[cfg(feature = "grpc")]
#[tokio::test(flavor = "current_thread")]
async fn grpc_exporter_delivers_every_record() {
    let received = Received::default();
    let server = otlp_grpc::Server::builder()
        .bind("127.0.0.1:0")
        .await
        .unwrap()
        .spawn(received.clone());
    let config = ExporterConfig::builder(Signal::Traces)
        .protocol(Protocol::Grpc)
        .endpoint(server.local_addr().to_string())
        .insecure(true)
        .compression(compression())
        .build()
        .unwrap();
    let exporter = Exporter::builder(config)
        .batch(otlp::BatchProcessor::builder().max_batch_size(100))
        .build()
        .unwrap();
    export_through(exporter, &received).await;
    server.shutdown().await.unwrap();
}

#[cfg(feature = "http")]
#[tokio::test(flavor = "current_thread")]
async fn an_unreachable_endpoint_is_counted_as_failed_exports_not_lost() {
    // A port nothing listens on: bind, note it, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = ExporterConfig::builder(Signal::Logs)
        .endpoint(format!("http://127.0.0.1:{port}/v1/logs"))
        .build()
        .unwrap();
    let exporter = Exporter::builder(config).no_retry().build().unwrap();
    let logs = otlp_datagen::Generator::new(1).records(5).logs();
    exporter.submit(ExportRequest::from(logs)).unwrap();
    exporter.shutdown().await.unwrap();
    let stats = exporter.stats();
    assert_eq!((stats.dropped_export_failed, stats.failed_batches), (5, 1));
}

#[test]
fn a_protocol_without_its_transport_is_a_clear_error() {
    let config = ExporterConfig::builder(Signal::Logs)
        .protocol(Protocol::Ws)
        .build()
        .unwrap();
    let error = Exporter::builder(config).build().unwrap_err();
    assert!(
        matches!(
            error,
            ExporterError::TransportNotBuilt { feature: "ws", .. }
        ),
        "{error}"
    );
}

#[cfg(all(feature = "http", not(feature = "tls")))]
#[test]
fn https_without_tls_compiled_in_is_a_clear_error() {
    let config = ExporterConfig::builder(Signal::Logs)
        .endpoint("https://collector.example.com/v1/logs")
        .build()
        .unwrap();
    let error = Exporter::builder(config).build().unwrap_err();
    assert!(error.to_string().contains("`tls` feature"), "{error}");
}
