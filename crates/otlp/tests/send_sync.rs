//! Public types can cross threads and tasks (as tokio's `async_send_sync` checks).

fn send_sync<T: Send + Sync + 'static>() {}

#[test]
fn public_types_are_send_and_sync() {
    send_sync::<otlp::ExporterConfig>();
    send_sync::<otlp::config::ExporterConfigs>();
    send_sync::<otlp::config::ExporterConfigBuilder>();
    send_sync::<otlp::config::ConfigError>();
    send_sync::<otlp::BatchProcessor>();
    send_sync::<otlp::batch::BatchProcessorBuilder>();
    send_sync::<otlp::batch::BatchStats>();
    send_sync::<otlp::batch::SubmitError>();
    send_sync::<otlp::batch::BuildError>();
    #[cfg(any(feature = "grpc", feature = "http"))]
    {
        send_sync::<otlp::exporter::Exporter>();
        send_sync::<otlp::exporter::ExporterBuilder>();
        send_sync::<otlp::exporter::ExporterError>();
    }
    #[cfg(feature = "opentelemetry-sdk")]
    {
        send_sync::<otlp::sdk::SpanExporter>();
        send_sync::<otlp::sdk::SpanExporterBuilder>();
        send_sync::<otlp::sdk::LogExporter>();
        send_sync::<otlp::sdk::LogExporterBuilder>();
        send_sync::<otlp::sdk::MetricExporter>();
        send_sync::<otlp::sdk::MetricExporterBuilder>();
        send_sync::<otlp::sdk::SdkExportStats>();
    }
    #[cfg(feature = "json")]
    {
        send_sync::<otlp::sink::JsonLinesSink>();
        send_sync::<otlp::sink::SinkSummary>();
        send_sync::<otlp::sink::JsonLinesError>();
        send_sync::<otlp::sink::LineError>();
    }
}

#[tokio::test(flavor = "current_thread")]
async fn flush_and_shutdown_futures_are_send() {
    fn send<T: Send>(_: &T) {}
    let client = tower::service_fn(|_: otlp::transport::Encoded| async {
        Ok::<_, otlp::transport::ExportError>(otlp::transport::Outcome::Success)
    });
    let processor = otlp::BatchProcessor::builder()
        .build(
            client,
            otlp::transport::WireFormat::new(
                otlp::codec::Codec::Protobuf,
                otlp::compression::Encoder::new(otlp::compression::Compression::None),
            ),
        )
        .unwrap();
    let flush = processor.flush();
    send(&flush);
    flush.await.unwrap();
    let shutdown = processor.shutdown();
    send(&shutdown);
    shutdown.await.unwrap();
}
