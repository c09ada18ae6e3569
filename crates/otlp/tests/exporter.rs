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

#[cfg(not(feature = "ws"))]
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

/// A port nothing listens on: bind, note it, close.
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[cfg(feature = "http")]
#[tokio::test(flavor = "current_thread")]
async fn failover_delivers_everything_to_the_secondary_when_the_primary_is_closed() {
    let received = Received::default();
    let server = otlp_http::Server::builder()
        .bind("127.0.0.1:0")
        .await
        .unwrap()
        .spawn(received.clone());
    let config = |base: String| {
        ExporterConfig::builder(Signal::Traces)
            .base_endpoint(base)
            .compression(compression())
            .build()
            .unwrap()
    };
    let primary = config(format!("http://127.0.0.1:{}", closed_port()));
    let secondary = config(format!("http://{}", server.local_addr()));
    let exporter = Exporter::builder(primary)
        .failover(secondary)
        .no_retry()
        .batch(otlp::BatchProcessor::builder().max_batch_size(100))
        .build()
        .unwrap();
    export_through(exporter.clone(), &received).await;
    let endpoints = exporter.reliability().endpoints;
    assert_eq!(endpoints.len(), 2);
    assert!(!endpoints[0].healthy, "{endpoints:?}");
    assert!(endpoints[0].failed >= 1, "{endpoints:?}");
    assert_eq!(endpoints[1].sent, 3, "{endpoints:?}");
    server.shutdown().await.unwrap();
}

#[cfg(feature = "http")]
#[test]
fn a_failover_endpoint_must_fit_the_primary() {
    let primary = ExporterConfig::builder(Signal::Traces).build().unwrap();
    let other_signal = ExporterConfig::builder(Signal::Logs).build().unwrap();
    let error = Exporter::builder(primary.clone())
        .failover(other_signal)
        .build()
        .unwrap_err();
    assert!(
        matches!(error, ExporterError::Failover { .. }) && error.to_string().contains("logs"),
        "{error}"
    );
    if Compression::Gzip.is_supported() {
        let gzip = ExporterConfig::builder(Signal::Traces)
            .compression(Compression::Gzip)
            .build()
            .unwrap();
        let error = Exporter::builder(primary)
            .failover(gzip)
            .build()
            .unwrap_err();
        assert!(error.to_string().contains("encoded once"), "{error}");
    }
}

#[cfg(feature = "http")]
#[tokio::test(flavor = "current_thread")]
async fn an_open_breaker_fails_fast_and_every_dropped_record_is_counted() {
    use otlp_reliability::{BreakerConfig, BreakerState};
    let config = ExporterConfig::builder(Signal::Logs)
        .base_endpoint(format!("http://127.0.0.1:{}", closed_port()))
        .build()
        .unwrap();
    let breaker = BreakerConfig::builder()
        .window(4)
        .minimum_calls(2)
        .failure_rate(0.5)
        .cool_down(std::time::Duration::from_secs(600))
        .build()
        .unwrap();
    let exporter = Exporter::builder(config)
        .breaker(breaker)
        .no_retry()
        .batch(otlp::BatchProcessor::builder().max_batch_size(10))
        .build()
        .unwrap();
    for seed in 0..6 {
        let logs = otlp_datagen::Generator::new(seed).records(10).logs();
        exporter.submit(ExportRequest::from(logs)).unwrap();
        // One export per submission, each after the previous one's answer.
        exporter.flush().await.unwrap();
    }
    exporter.shutdown().await.unwrap();
    let stats = exporter.stats();
    assert_eq!(stats.dropped_export_failed, 60, "{stats:?}");
    assert_eq!(stats.failed_batches, 6, "{stats:?}");
    let breakers = exporter.reliability().breakers;
    assert_eq!(breakers.len(), 1);
    let (name, breaker) = &breakers[0];
    assert!(name.starts_with("http://127.0.0.1:"), "{name}");
    assert_eq!(breaker.state, BreakerState::Open, "{breaker:?}");
    assert_eq!(breaker.opened, 1, "{breaker:?}");
    // Two calls reached the dead port; the other four failed fast.
    assert_eq!(breaker.rejected, 4, "{breaker:?}");
}

#[cfg(feature = "ws")]
#[tokio::test(flavor = "current_thread")]
async fn ws_exporter_delivers_every_record() {
    let received = Received::default();
    let receiver = otlp::Receiver::builder()
        .http("127.0.0.1:0")
        .websocket("/v1/ws")
        .start(received.clone())
        .await
        .unwrap();
    let config = ExporterConfig::builder(Signal::Traces)
        .protocol(Protocol::Ws)
        .endpoint(format!("ws://{}/v1/ws", receiver.http_addr().unwrap()))
        .compression(compression())
        .build()
        .unwrap();
    let exporter = Exporter::builder(config)
        .batch(otlp::BatchProcessor::builder().max_batch_size(100))
        .build()
        .unwrap();
    export_through(exporter, &received).await;
    assert!(receiver.shutdown().await.is_empty());
}

/// `HTTPS_PROXY` / `HTTP_PROXY` read by `from_lookup` (or set with
/// `ExporterConfigBuilder::proxy`) take every transport through the proxy.
#[cfg(all(feature = "grpc", feature = "http", feature = "ws"))]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_configured_proxy_carries_every_protocol() {
    let received = Received::default();
    let receiver = otlp::Receiver::builder()
        .grpc("127.0.0.1:0")
        .http("127.0.0.1:0")
        .websocket("/v1/ws")
        .start(received.clone())
        .await
        .unwrap();
    let proxy = otlp_datagen::proxy::TestProxy::start().await.unwrap();
    // Names only the proxy resolves: loopback endpoints are never proxied.
    let grpc = proxy.resolve("collector.test", receiver.grpc_addr().unwrap());
    let http = proxy.resolve("collector.test", receiver.http_addr().unwrap());
    let proxy_url = proxy.url();
    for (protocol, endpoint) in [
        (Protocol::Grpc, format!("http://{grpc}")),
        (Protocol::HttpProtobuf, format!("http://{http}/v1/traces")),
        (Protocol::Ws, format!("ws://{http}/v1/ws")),
    ] {
        let from_env = ExporterConfig::from_lookup_for(Signal::Traces, |name| {
            (name == "HTTP_PROXY").then(|| proxy_url.clone())
        })
        .unwrap();
        let built = ExporterConfig::builder(Signal::Traces)
            .protocol(protocol)
            .endpoint(&endpoint)
            .proxy(from_env.proxies().unwrap().clone())
            .build()
            .unwrap();
        let (client, wire) = otlp::exporter::client(&built).unwrap();
        let spans = otlp_datagen::Generator::new(3)
            .resources(1)
            .spans(10)
            .traces();
        let encoded = wire
            .encode(Payload::from(ExportRequest::from(spans)))
            .unwrap();
        let outcome = tokio::time::timeout(
            std::time::Duration::from_secs(20),
            tower::ServiceExt::oneshot(client, encoded),
        )
        .await
        .unwrap();
        assert_eq!(outcome.unwrap(), Outcome::Success, "{protocol}");
    }
    assert_eq!(received.records(), 30);
    let asked: Vec<String> = proxy
        .seen()
        .iter()
        .map(|s| format!("{} {}", s.method, s.target))
        .collect();
    assert_eq!(asked.len(), 3, "{asked:?}");
    assert!(asked.contains(&format!("CONNECT {grpc}")), "{asked:?}");
    assert!(
        asked.contains(&format!("POST http://{http}/v1/traces")),
        "{asked:?}"
    );
    assert!(asked.contains(&format!("CONNECT {http}")), "{asked:?}");
    receiver.shutdown().await;
}
