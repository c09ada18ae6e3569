//! The facade's pieces end to end, in one process: producers submit to a
//! batch processor, whose batches (encoded once, gzip-compressed) go to a
//! JSON lines sink writing a file, which is read back record by record.
#![cfg(feature = "json")]

use otlp::batch::BatchProcessor;
use otlp::config::{ExporterConfig, Protocol};
use otlp::sink::{JsonLinesSink, decode_line};
use otlp::transport::{Encoded, ExportError, ExportRequest, Payload, Signal, Sink};
use otlp_compression::Compression;

#[tokio::test(flavor = "current_thread")]
async fn batched_exports_reach_the_json_lines_file_record_for_record() {
    let compression = if Compression::Gzip.is_supported() {
        Compression::Gzip
    } else {
        Compression::None
    };
    let config = ExporterConfig::builder(Signal::Traces)
        .protocol(Protocol::HttpProtobuf)
        .compression(compression)
        .build()
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("received.jsonl");
    let file = tokio::fs::File::create(&path).await.unwrap();
    let sink = JsonLinesSink::builder().build(file).unwrap();

    // Stands in for a transport: the encoded batch goes to the receiver's sink.
    let to_sink = {
        let sink = sink.clone();
        tower::service_fn(move |encoded: Encoded| {
            let sink = sink.clone();
            async move {
                assert_eq!(
                    encoded.compression(),
                    compression,
                    "encoded once, as configured"
                );
                sink.export(Payload::from(encoded))
                    .await
                    .map_err(|e| ExportError::retryable(e.to_string()))
            }
        })
    };
    let processor = BatchProcessor::builder()
        .max_batch_size(100)
        .build(to_sink, config.wire_format())
        .unwrap();

    let mut sent = Vec::new();
    for seed in 0..30 {
        let spans = otlp_datagen::Generator::new(seed)
            .resources(1)
            .spans(17)
            .traces();
        let request = ExportRequest::from(spans);
        sent.push(request.clone());
        processor.submit(request).unwrap();
    }
    processor.shutdown().await.unwrap();
    let summary = sink.finish().await.unwrap();

    let text = std::fs::read_to_string(&path).unwrap();
    let batches: Vec<ExportRequest> = text
        .lines()
        .map(|line| decode_line(line.as_bytes()).unwrap())
        .collect();
    let sizes: Vec<usize> = batches.iter().map(ExportRequest::record_count).collect();
    assert_eq!(sizes, [100, 100, 100, 100, 100, 10]);
    assert_eq!(summary.records(Signal::Traces), 510);
    assert_eq!(processor.stats().exported_records, 510);

    // The same spans, in the same order, under the same resources.
    let spans = |requests: &[ExportRequest]| -> Vec<(
        Vec<u8>,
        Vec<u8>,
        Option<otlp::proto::resource::v1::Resource>,
    )> {
        requests
            .iter()
            .flat_map(|request| match request {
                ExportRequest::Traces(t) => t.resource_spans.clone(),
                other => panic!("not traces: {other:?}"),
            })
            .flat_map(|rs| {
                let resource = rs.resource.clone();
                rs.scope_spans.into_iter().flat_map(move |ss| {
                    let resource = resource.clone();
                    ss.spans
                        .into_iter()
                        .map(move |s| (s.trace_id.to_vec(), s.span_id.to_vec(), resource.clone()))
                })
            })
            .collect()
    };
    assert_eq!(spans(&batches), spans(&sent));
}
