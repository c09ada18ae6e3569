//! The OpenTelemetry SDK adapters end to end: real `opentelemetry_sdk`
//! providers set up as an application would, exporting through `otlp::sdk`
//! over real sockets on 127.0.0.1 to this workspace's receiver, which checks
//! record for record what arrived.
#![cfg(feature = "opentelemetry-sdk")]

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use opentelemetry::logs::{AnyValue, LogRecord as _, Logger as _, LoggerProvider as _, Severity};
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::trace::{
    Link, SpanKind, Status, TraceContextExt as _, Tracer as _, TracerProvider as _,
};
use opentelemetry::{Context, InstrumentationScope, Key, KeyValue};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkError;
use opentelemetry_sdk::logs::SdkLoggerProvider;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider, Temporality};
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanData, SpanExporter as _};
use otlp::Receiver;
use otlp::config::{ExporterConfig, Protocol};
use otlp::exporter::ExporterError;
use otlp::proto::common::v1::{KeyValue as ProtoKeyValue, any_value};
use otlp::sdk::{LogExporter, MetricExporter, SpanExporter};
use otlp::transport::{ExportRequest, Outcome, Payload, Signal, Sink, SinkError};

/// Longest a test may take before it is called hung: a bound, not a measure.
const HANG: Duration = Duration::from_secs(60);

/// A sink keeping every request the receiver accepted, answering with
/// `outcome`.
#[derive(Clone, Default)]
struct Received {
    requests: Arc<Mutex<Vec<ExportRequest>>>,
    outcome: Outcome,
}

#[async_trait]
impl Sink for Received {
    async fn export(&self, payload: Payload) -> Result<Outcome, SinkError> {
        let request = payload
            .into_request(64 << 20)
            .map_err(|e| SinkError::InvalidData(e.to_string()))?;
        self.requests.lock().unwrap().push(request);
        Ok(self.outcome.clone())
    }
}

impl Received {
    fn take(&self) -> Vec<ExportRequest> {
        std::mem::take(&mut *self.requests.lock().unwrap())
    }
}

/// A receiver (gRPC and HTTP) on a runtime of its own, so that nothing the
/// test does on its thread can starve it.
struct Collector {
    runtime: tokio::runtime::Runtime,
    receiver: Option<Receiver>,
    received: Received,
}

impl Collector {
    fn start(outcome: Outcome) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let received = Received {
            outcome,
            ..Received::default()
        };
        let receiver = runtime
            .block_on(
                Receiver::builder()
                    .grpc("127.0.0.1:0")
                    .http("127.0.0.1:0")
                    .start(received.clone()),
            )
            .unwrap();
        Self {
            runtime,
            receiver: Some(receiver),
            received,
        }
    }

    fn config(&self, signal: Signal, protocol: Protocol) -> ExporterConfig {
        let receiver = self.receiver.as_ref().unwrap();
        let builder = ExporterConfig::builder(signal).protocol(protocol);
        match protocol {
            Protocol::Grpc => builder
                .endpoint(format!("http://{}", receiver.grpc_addr().unwrap()))
                .build()
                .unwrap(),
            _ => builder
                .base_endpoint(format!("http://{}", receiver.http_addr().unwrap()))
                .build()
                .unwrap(),
        }
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        if let Some(receiver) = self.receiver.take() {
            let problems = self.runtime.block_on(receiver.shutdown());
            assert!(problems.is_empty(), "{problems:?}");
        }
    }
}

/// Runs `f` on a thread of its own and fails the test if it hangs.
fn bounded<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (done, result) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(f());
    });
    result
        .recv_timeout(HANG)
        .expect("hung: did not finish within the bound")
}

fn resource() -> Resource {
    Resource::builder_empty()
        .with_schema_url(
            [KeyValue::new("service.name", "checkout")],
            "https://opentelemetry.io/schemas/1.26.0",
        )
        .build()
}

fn attribute<'a>(attributes: &'a [ProtoKeyValue], key: &str) -> Option<&'a any_value::Value> {
    attributes
        .iter()
        .find(|kv| AsRef::<str>::as_ref(&kv.key) == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| v.value.as_ref())
}

fn text(value: &impl AsRef<str>) -> &str {
    value.as_ref()
}

fn string(value: Option<&any_value::Value>) -> Option<&str> {
    match value {
        Some(any_value::Value::StringValue(s)) => Some(text(s)),
        _ => None,
    }
}

fn check_resource(resource: Option<&otlp::proto::resource::v1::Resource>, schema_url: &str) {
    let resource = resource.expect("a resource");
    assert_eq!(
        string(attribute(&resource.attributes, "service.name")),
        Some("checkout")
    );
    assert_eq!(schema_url, "https://opentelemetry.io/schemas/1.26.0");
}

fn traces_through(protocol: Protocol) {
    let collector = Collector::start(Outcome::Success);
    let exporter = SpanExporter::new(collector.config(Signal::Traces, protocol)).unwrap();
    let provider = SdkTracerProvider::builder()
        .with_resource(resource())
        .with_batch_exporter(exporter)
        .build();
    let tracer = provider.tracer_with_scope(
        InstrumentationScope::builder("payments")
            .with_version("2.0.1")
            .build(),
    );
    let parent = tracer
        .span_builder("charge")
        .with_kind(SpanKind::Server)
        .with_attributes([
            KeyValue::new("amount", 1999_i64),
            KeyValue::new("currency", "EUR"),
            KeyValue::new("retried", false),
            KeyValue::new("ratio", 0.25),
        ])
        .start(&tracer);
    let parent_cx = Context::current_with_span(parent);
    let parent_context = parent_cx.span().span_context().clone();
    {
        let span = parent_cx.span();
        span.add_event("card.checked", vec![KeyValue::new("issuer", "visa")]);
    }
    let mut child = tracer
        .span_builder("db.insert")
        .with_kind(SpanKind::Client)
        .with_links(vec![Link::with_context(parent_context.clone())])
        .start_with_context(&tracer, &parent_cx);
    opentelemetry::trace::Span::set_status(&mut child, Status::error("duplicate key"));
    opentelemetry::trace::Span::end(&mut child);
    parent_cx.span().end();
    provider.shutdown().unwrap();

    let requests = collector.received.take();
    let spans: Vec<_> = requests
        .iter()
        .flat_map(|r| match r {
            ExportRequest::Traces(t) => t.resource_spans.clone(),
            other => panic!("not traces: {other:?}"),
        })
        .inspect(|rs| check_resource(rs.resource.as_ref(), text(&rs.schema_url)))
        .flat_map(|rs| rs.scope_spans)
        .inspect(|ss| {
            let scope = ss.scope.as_ref().unwrap();
            assert_eq!(text(&scope.name), "payments");
            assert_eq!(text(&scope.version), "2.0.1");
        })
        .flat_map(|ss| ss.spans)
        .collect();
    assert_eq!(spans.len(), 2, "{spans:?}");
    let child = spans.iter().find(|s| text(&s.name) == "db.insert").unwrap();
    let parent = spans.iter().find(|s| text(&s.name) == "charge").unwrap();
    assert_eq!(&parent.trace_id[..], &parent_context.trace_id().to_bytes());
    assert_eq!(&parent.span_id[..], &parent_context.span_id().to_bytes());
    assert!(parent.parent_span_id.is_empty());
    assert_eq!(child.trace_id, parent.trace_id);
    assert_eq!(child.parent_span_id, parent.span_id);
    assert_eq!(parent.kind, 2, "server");
    assert_eq!(child.kind, 3, "client");
    assert_eq!(parent.flags, 0x101, "sampled, parent not remote");
    assert_eq!(
        attribute(&parent.attributes, "amount"),
        Some(&any_value::Value::IntValue(1999))
    );
    assert_eq!(
        string(attribute(&parent.attributes, "currency")),
        Some("EUR")
    );
    assert_eq!(
        attribute(&parent.attributes, "retried"),
        Some(&any_value::Value::BoolValue(false))
    );
    assert_eq!(
        attribute(&parent.attributes, "ratio"),
        Some(&any_value::Value::DoubleValue(0.25))
    );
    assert_eq!(parent.events.len(), 1);
    assert_eq!(text(&parent.events[0].name), "card.checked");
    assert_eq!(
        string(attribute(&parent.events[0].attributes, "issuer")),
        Some("visa")
    );
    assert!(parent.events[0].time_unix_nano >= parent.start_time_unix_nano);
    assert!(parent.end_time_unix_nano >= parent.start_time_unix_nano);
    assert_eq!(child.links.len(), 1);
    assert_eq!(child.links[0].span_id, parent.span_id);
    let status = child.status.as_ref().unwrap();
    assert_eq!(status.code, 2, "error");
    assert_eq!(text(&status.message), "duplicate key");
}

#[test]
fn spans_from_a_tracer_provider_arrive_over_grpc() {
    bounded(|| traces_through(Protocol::Grpc));
}

#[test]
fn spans_from_a_tracer_provider_arrive_over_http_protobuf() {
    bounded(|| traces_through(Protocol::HttpProtobuf));
}

fn logs_through(protocol: Protocol) {
    let collector = Collector::start(Outcome::Success);
    let exporter = LogExporter::new(collector.config(Signal::Logs, protocol)).unwrap();
    let provider = SdkLoggerProvider::builder()
        .with_resource(resource())
        .with_batch_exporter(exporter)
        .build();
    let logger = provider.logger("orders");
    for index in 0..3_i64 {
        let mut record = logger.create_log_record();
        record.set_severity_number(Severity::Error);
        record.set_severity_text("ERROR");
        record.set_event_name("order.rejected");
        record.set_timestamp(SystemTime::now());
        record.add_attribute("order", index);
        record.set_body(match index {
            0 => AnyValue::from("plain text"),
            1 => AnyValue::Map(Box::new(
                [(Key::from("reason"), AnyValue::from("stock"))].into(),
            )),
            _ => AnyValue::Bytes(Box::new(vec![0xde, 0xad])),
        });
        logger.emit(record);
    }
    provider.shutdown().unwrap();

    let requests = collector.received.take();
    let records: Vec<_> = requests
        .iter()
        .flat_map(|r| match r {
            ExportRequest::Logs(l) => l.resource_logs.clone(),
            other => panic!("not logs: {other:?}"),
        })
        .inspect(|rl| check_resource(rl.resource.as_ref(), text(&rl.schema_url)))
        .flat_map(|rl| rl.scope_logs)
        .inspect(|sl| assert_eq!(text(&sl.scope.as_ref().unwrap().name), "orders"))
        .flat_map(|sl| sl.log_records)
        .collect();
    assert_eq!(records.len(), 3, "{records:?}");
    for (index, record) in records.iter().enumerate() {
        assert_eq!(record.severity_number, 17);
        assert_eq!(text(&record.severity_text), "ERROR");
        assert_eq!(text(&record.event_name), "order.rejected");
        assert!(record.time_unix_nano > 0);
        assert!(record.observed_time_unix_nano > 0, "set by the SDK on emit");
        assert_eq!(
            attribute(&record.attributes, "order"),
            Some(&any_value::Value::IntValue(index as i64))
        );
    }
    let bodies: Vec<_> = records
        .iter()
        .map(|r| r.body.as_ref().and_then(|b| b.value.clone()))
        .collect();
    assert_eq!(string(bodies[0].as_ref()), Some("plain text"));
    match &bodies[1] {
        Some(any_value::Value::KvlistValue(map)) => {
            assert_eq!(string(attribute(&map.values, "reason")), Some("stock"));
        }
        other => panic!("not a map: {other:?}"),
    }
    assert_eq!(
        bodies[2],
        Some(any_value::Value::BytesValue(vec![0xde, 0xad].into()))
    );
}

#[test]
fn log_records_from_a_logger_provider_arrive_over_grpc() {
    bounded(|| logs_through(Protocol::Grpc));
}

#[test]
fn log_records_from_a_logger_provider_arrive_over_http_protobuf() {
    bounded(|| logs_through(Protocol::HttpProtobuf));
}

fn metrics_through(protocol: Protocol, temporality: Option<Temporality>) {
    use otlp::proto::metrics::v1::metric::Data;
    use otlp::proto::metrics::v1::number_data_point::Value as Number;
    let collector = Collector::start(Outcome::Success);
    let mut builder = MetricExporter::builder(collector.config(Signal::Metrics, protocol));
    if let Some(temporality) = temporality {
        builder = builder.temporality(temporality);
    }
    let exporter = builder.build().unwrap();
    let provider = SdkMeterProvider::builder()
        .with_resource(resource())
        .with_reader(PeriodicReader::builder(exporter).build())
        .build();
    let meter = provider.meter("shop");
    let route = [KeyValue::new("route", "/pay")];
    let counter = meter.u64_counter("requests").build();
    counter.add(2, &route);
    counter.add(3, &route);
    meter.f64_gauge("temperature").build().record(21.5, &[]);
    let latency = meter.f64_histogram("latency").with_unit("ms").build();
    for value in [1.0, 30.0, 700.0] {
        latency.record(value, &route);
    }
    provider.shutdown().unwrap();

    let requests = collector.received.take();
    let metrics: Vec<_> = requests
        .iter()
        .flat_map(|r| match r {
            ExportRequest::Metrics(m) => m.resource_metrics.clone(),
            other => panic!("not metrics: {other:?}"),
        })
        .inspect(|rm| check_resource(rm.resource.as_ref(), text(&rm.schema_url)))
        .flat_map(|rm| rm.scope_metrics)
        .inspect(|sm| assert_eq!(text(&sm.scope.as_ref().unwrap().name), "shop"))
        .flat_map(|sm| sm.metrics)
        .collect();
    let expected_temporality = match temporality {
        Some(Temporality::Delta) => 1,
        _ => 2,
    };
    let find = |name: &str| {
        metrics
            .iter()
            .find(|m| text(&m.name) == name)
            .and_then(|m| m.data.clone())
            .unwrap_or_else(|| panic!("{name} missing from {metrics:?}"))
    };
    match find("requests") {
        Data::Sum(sum) => {
            assert!(sum.is_monotonic);
            assert_eq!(sum.aggregation_temporality, expected_temporality);
            assert_eq!(sum.data_points.len(), 1);
            let point = &sum.data_points[0];
            assert_eq!(point.value, Some(Number::AsInt(5)));
            assert_eq!(string(attribute(&point.attributes, "route")), Some("/pay"));
            assert!(point.time_unix_nano >= point.start_time_unix_nano);
            assert!(point.start_time_unix_nano > 0);
        }
        other => panic!("not a sum: {other:?}"),
    }
    match find("temperature") {
        Data::Gauge(gauge) => {
            assert_eq!(gauge.data_points[0].value, Some(Number::AsDouble(21.5)));
        }
        other => panic!("not a gauge: {other:?}"),
    }
    match find("latency") {
        Data::Histogram(histogram) => {
            assert_eq!(histogram.aggregation_temporality, expected_temporality);
            let point = &histogram.data_points[0];
            assert_eq!(point.count, 3);
            assert_eq!(point.sum, Some(731.0));
            assert_eq!(point.min, Some(1.0));
            assert_eq!(point.max, Some(700.0));
            assert_eq!(point.bucket_counts.len(), point.explicit_bounds.len() + 1);
            assert_eq!(point.bucket_counts.iter().sum::<u64>(), 3);
        }
        other => panic!("not a histogram: {other:?}"),
    }
    let unit = metrics.iter().find(|m| text(&m.name) == "latency").unwrap();
    assert_eq!(text(&unit.unit), "ms");
}

#[test]
fn metrics_from_a_meter_provider_arrive_over_grpc_cumulative_by_default() {
    bounded(|| metrics_through(Protocol::Grpc, None));
}

#[test]
fn metrics_from_a_meter_provider_arrive_over_http_protobuf_as_delta_when_asked() {
    bounded(|| metrics_through(Protocol::HttpProtobuf, Some(Temporality::Delta)));
}

#[test]
fn provider_shutdown_inside_a_current_thread_runtime_completes() {
    // The collector lives on its own runtime: the one below is blocked by
    // the synchronous shutdown, as it would be in an application.
    let collector = Collector::start(Outcome::Success);
    let config = collector.config(Signal::Traces, Protocol::Grpc);
    let result = bounded(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            // Built inside the runtime too, as `#[tokio::main(flavor =
            // "current_thread")]` applications do.
            let provider = SdkTracerProvider::builder()
                .with_batch_exporter(SpanExporter::new(config).unwrap())
                .build();
            let tracer = provider.tracer("inside");
            for index in 0..10 {
                tracer.in_span(format!("span-{index}"), |_| {});
            }
            tokio::task::yield_now().await;
            provider.shutdown()
        })
    });
    assert!(result.is_ok(), "{result:?}");
    let spans: usize = collector
        .received
        .take()
        .iter()
        .map(ExportRequest::record_count)
        .sum();
    assert_eq!(spans, 10);
}

#[tokio::test(flavor = "current_thread")]
async fn provider_shutdown_in_a_current_thread_tokio_test_completes() {
    let collector = tokio::task::spawn_blocking(|| Collector::start(Outcome::Success))
        .await
        .unwrap();
    let config = collector.config(Signal::Logs, Protocol::HttpProtobuf);
    let provider = SdkLoggerProvider::builder()
        .with_batch_exporter(LogExporter::new(config).unwrap())
        .build();
    let logger = provider.logger("tokio-test");
    let mut record = logger.create_log_record();
    record.set_body("inside a current-thread runtime".into());
    logger.emit(record);
    // Blocks this runtime's only thread; the adapter's own thread exports.
    provider.shutdown().unwrap();
    assert_eq!(
        collector
            .received
            .take()
            .iter()
            .map(ExportRequest::record_count)
            .sum::<usize>(),
        1
    );
    tokio::task::spawn_blocking(move || drop(collector))
        .await
        .unwrap();
}

fn span_data(name: &'static str) -> SpanData {
    use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};
    SpanData {
        span_context: SpanContext::new(
            TraceId::from(1_u128),
            SpanId::from(2_u64),
            TraceFlags::SAMPLED,
            false,
            TraceState::default(),
        ),
        parent_span_id: SpanId::INVALID,
        parent_span_is_remote: false,
        span_kind: SpanKind::Internal,
        name: name.into(),
        start_time: SystemTime::now(),
        end_time: SystemTime::now(),
        attributes: Vec::new(),
        dropped_attributes_count: 0,
        events: Default::default(),
        links: Default::default(),
        status: Status::Unset,
        instrumentation_scope: InstrumentationScope::builder("direct").build(),
    }
}

#[test]
fn a_partial_success_is_a_success_for_the_sdk_with_the_rejected_counted() {
    let collector = Collector::start(Outcome::PartialSuccess {
        rejected: 1,
        message: "one span too old".into(),
    });
    let exporter = SpanExporter::new(collector.config(Signal::Traces, Protocol::Grpc)).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let result = runtime.block_on(exporter.export(vec![span_data("a"), span_data("b")]));
    assert!(result.is_ok(), "{result:?}");
    let stats = exporter.stats();
    assert_eq!(stats.requests, 1);
    assert_eq!(stats.exported_records, 1);
    assert_eq!(stats.rejected_records, 1);
    assert_eq!(stats.failed_records, 0);
    exporter.shutdown().unwrap();
    let again = exporter.shutdown();
    assert!(
        matches!(again, Err(OTelSdkError::AlreadyShutdown)),
        "{again:?}"
    );
    // After shutdown nothing is sent, and what was refused is counted.
    let result = runtime.block_on(exporter.export(vec![span_data("late")]));
    assert!(
        matches!(result, Err(OTelSdkError::AlreadyShutdown)),
        "{result:?}"
    );
    assert_eq!(exporter.stats().failed_records, 1);
}

#[test]
fn a_failed_export_is_an_error_for_the_sdk_and_counted() {
    // A port that was just free: nothing listens there.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let config = ExporterConfig::builder(Signal::Traces)
        .protocol(Protocol::HttpProtobuf)
        .base_endpoint(format!("http://{closed}"))
        .build()
        .unwrap();
    let exporter = SpanExporter::builder(config).no_retry().build().unwrap();
    let result = bounded(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let result = runtime.block_on(exporter.export(vec![span_data("lost")]));
        (result, exporter.stats())
    });
    let (result, stats) = result;
    match result {
        Err(OTelSdkError::InternalFailure(message)) => {
            assert!(message.contains("1 traces records failed"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(stats.failed_records, 1);
    assert_eq!(stats.exported_records, 0);
}

#[test]
fn a_configuration_of_another_signal_is_refused() {
    let config = ExporterConfig::builder(Signal::Logs).build().unwrap();
    match SpanExporter::new(config) {
        Err(ExporterError::WrongSignal {
            expected: Signal::Traces,
            configured: Signal::Logs,
        }) => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn exporters_build_without_a_runtime() {
    // Connecting is lazy: nothing listens at the default endpoints, and
    // building must neither fail nor need tokio.
    for protocol in [Protocol::Grpc, Protocol::HttpProtobuf] {
        let config = |signal| {
            ExporterConfig::builder(signal)
                .protocol(protocol)
                .build()
                .unwrap()
        };
        SpanExporter::new(config(Signal::Traces)).unwrap();
        LogExporter::new(config(Signal::Logs)).unwrap();
        MetricExporter::new(config(Signal::Metrics)).unwrap();
    }
}

#[test]
fn a_shutdown_that_times_out_gives_up_on_the_exports_in_flight_and_counts_them() {
    use opentelemetry_sdk::trace::SpanExporter as _;
    use otlp::reliability::RetryPolicy;
    // Nothing listens: with an hour of retries, the export is still in
    // flight when the shutdown's short wait ends.
    let config = ExporterConfig::builder(Signal::Traces)
        .base_endpoint(format!(
            "http://{}",
            std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
        ))
        .build()
        .unwrap();
    let hour = Duration::from_secs(3600);
    let policy = RetryPolicy::builder()
        .initial_interval(hour / 4)
        .max_interval(hour / 4)
        .max_elapsed(hour)
        .build()
        .unwrap();
    let exporter = Arc::new(SpanExporter::builder(config).retry(policy).build().unwrap());
    let exporting = Arc::clone(&exporter);
    let (result, stats) = bounded(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let export = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            runtime.block_on(exporting.export(vec![span_data("stuck")]))
        });
        // Wait (bounded) until the export is in flight.
        runtime.block_on(async {
            for _ in 0..1000 {
                if exporter.stats().requests == 1 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        });
        assert_eq!(exporter.stats().requests, 1);
        let shutdown = exporter.shutdown_with_timeout(Duration::from_millis(50));
        assert!(
            matches!(shutdown, Err(OTelSdkError::Timeout(_))),
            "{shutdown:?}"
        );
        (export.join().unwrap(), exporter.stats())
    });
    assert!(
        matches!(&result, Err(OTelSdkError::InternalFailure(m)) if m.contains("stopped")),
        "{result:?}"
    );
    assert_eq!(stats.failed_records, 1, "{stats:?}");
}

#[cfg(feature = "ws")]
#[test]
fn spans_arrive_over_websocket() {
    bounded(|| {
        let received = Received::default();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let receiver = runtime
            .block_on(
                Receiver::builder()
                    .http("127.0.0.1:0")
                    .websocket("/v1/ws")
                    .start(received.clone()),
            )
            .unwrap();
        let config = ExporterConfig::builder(Signal::Traces)
            .protocol(Protocol::Ws)
            .endpoint(format!("ws://{}/v1/ws", receiver.http_addr().unwrap()))
            .build()
            .unwrap();
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(SpanExporter::new(config).unwrap())
            .build();
        let tracer = provider.tracer("ws");
        for index in 0..5 {
            tracer.in_span(format!("span-{index}"), |_| {});
        }
        provider.shutdown().unwrap();
        let mut names: Vec<String> = received
            .take()
            .iter()
            .flat_map(|r| match r {
                ExportRequest::Traces(t) => t.resource_spans.clone(),
                other => panic!("not traces: {other:?}"),
            })
            .flat_map(|rs| rs.scope_spans)
            .flat_map(|ss| ss.spans)
            .map(|s| text(&s.name).to_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["span-0", "span-1", "span-2", "span-3", "span-4"]);
        assert!(runtime.block_on(receiver.shutdown()).is_empty());
    });
}

#[test]
fn a_span_exporter_fails_over_when_its_primary_is_down() {
    let collector = Collector::start(Outcome::Success);
    // A port that was just free: nothing listens there.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let primary = ExporterConfig::builder(Signal::Traces)
        .protocol(Protocol::Grpc)
        .endpoint(format!("http://{closed}"))
        .build()
        .unwrap();
    let exporter = SpanExporter::builder(primary)
        .failover(collector.config(Signal::Traces, Protocol::Grpc))
        .breaker(otlp::reliability::BreakerConfig::default())
        .attempt_timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let (results, stats, reliability) = bounded(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let results: Vec<_> = (0..3)
            .map(|_| runtime.block_on(exporter.export(vec![span_data("moved")])))
            .collect();
        (results, exporter.stats(), exporter.reliability())
    });
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(stats.exported_records, 3);
    assert_eq!(stats.failed_records, 0);
    assert_eq!(collector.received.take().len(), 3);
    // Both endpoints are watched, each behind its own breaker.
    assert_eq!(reliability.breakers.len(), 2, "{reliability:?}");
}
