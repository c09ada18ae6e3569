//! The conversion cross-checked against `opentelemetry-proto`'s `transform`
//! (what `opentelemetry-otlp` sends): the same SDK data through both, their
//! wire bytes decoded into the same message type, must be equal.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use opentelemetry::logs::{AnyValue, LogRecord as _, Logger as _, LoggerProvider as _, Severity};
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::trace::{
    Event, Link, SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState,
};
use opentelemetry::{Array, InstrumentationScope, Key, KeyValue, StringValue, Value};
use opentelemetry_proto::transform::common::tonic::ResourceAttributesWithSchema;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::logs::{LogBatch, SdkLoggerProvider};
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::metrics::{
    Aggregation, Instrument, PeriodicReader, SdkMeterProvider, Stream, Temporality,
};
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanLinks};
use otlp_proto::Message;
use otlp_proto::collector::logs::v1::ExportLogsServiceRequest;
use otlp_proto::collector::metrics::v1::ExportMetricsServiceRequest;
use otlp_proto::collector::trace::v1::ExportTraceServiceRequest;

/// Their message, through the wire, as ours (both are messages of the same
/// prost).
fn theirs<T: Message + Default>(message: &impl Message) -> T {
    T::decode(message.encode_to_vec().as_slice()).unwrap()
}

fn resource() -> Resource {
    Resource::builder_empty()
        .with_schema_url(
            [
                KeyValue::new("service.name", "checkout"),
                KeyValue::new("host.cores", 8_i64),
            ],
            "https://opentelemetry.io/schemas/1.26.0",
        )
        .build()
}

fn every_attribute_kind() -> Vec<KeyValue> {
    vec![
        KeyValue::new("bool", true),
        KeyValue::new("int", -42_i64),
        KeyValue::new("double", 2.5_f64),
        KeyValue::new("string", "text"),
        KeyValue::new("bools", Value::Array(Array::Bool(vec![true, false]))),
        KeyValue::new("ints", Value::Array(Array::I64(vec![1, 2, 3]))),
        KeyValue::new("doubles", Value::Array(Array::F64(vec![0.5, -1.0]))),
        KeyValue::new(
            "strings",
            Value::Array(Array::String(vec![StringValue::from("a"), "b".into()])),
        ),
    ]
}

fn at(nanos: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_nanos(nanos)
}

fn scope(name: &'static str, schema_url: Option<&'static str>) -> InstrumentationScope {
    let builder = InstrumentationScope::builder(name)
        .with_version("1.2.3")
        .with_attributes([KeyValue::new("scope.attr", "x")]);
    match schema_url {
        Some(url) => builder.with_schema_url(url).build(),
        None => builder.build(),
    }
}

fn span(index: u8, scope: InstrumentationScope) -> SpanData {
    let trace_state = TraceState::from_key_value([("vendor", "value")]).unwrap();
    let mut events = SpanEvents::default();
    events.events.push(Event::new(
        "retry",
        at(1_500),
        vec![KeyValue::new("attempt", 2_i64)],
        1,
    ));
    events.dropped_count = 3;
    let mut links = SpanLinks::default();
    links.links.push(Link::new(
        SpanContext::new(
            TraceId::from(77_u128),
            SpanId::from(88_u64),
            TraceFlags::SAMPLED,
            true,
            trace_state.clone(),
        ),
        vec![KeyValue::new("link.kind", "follows")],
        2,
    ));
    links.dropped_count = 4;
    SpanData {
        span_context: SpanContext::new(
            TraceId::from(0x0102_0304_0506_0708_090a_0b0c_0d0e_0f10_u128),
            SpanId::from(u64::from(index) + 1),
            TraceFlags::SAMPLED,
            false,
            trace_state,
        ),
        parent_span_id: if index == 0 {
            SpanId::INVALID
        } else {
            SpanId::from(99_u64)
        },
        parent_span_is_remote: index == 2,
        span_kind: [SpanKind::Server, SpanKind::Client, SpanKind::Consumer][usize::from(index % 3)]
            .clone(),
        name: Cow::Owned(format!("span-{index}")),
        start_time: at(1_000),
        end_time: at(2_000),
        attributes: every_attribute_kind(),
        dropped_attributes_count: 5,
        events,
        links,
        status: match index {
            0 => Status::Ok,
            1 => Status::error("card declined"),
            _ => Status::Unset,
        },
        instrumentation_scope: scope,
    }
}

#[test]
fn spans_convert_as_opentelemetry_proto_does() {
    let resource = resource();
    let batch = vec![
        span(0, scope("payments", Some("https://example.com/s"))),
        span(1, scope("payments", Some("https://example.com/s"))),
        span(2, scope("db", None)),
    ];
    let ours = super::traces_request(batch.clone(), &resource);
    let reference = opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest {
        resource_spans:
            opentelemetry_proto::transform::trace::tonic::group_spans_by_resource_and_scope(
                batch,
                &ResourceAttributesWithSchema::from(&resource),
            ),
    };
    let reference: ExportTraceServiceRequest = theirs(&reference);
    assert_eq!(ours, reference);

    // What matters most, spelled out.
    let resource_spans = &ours.resource_spans[0];
    assert_eq!(
        resource_spans.schema_url.as_ref() as &str,
        "https://opentelemetry.io/schemas/1.26.0"
    );
    assert_eq!(resource_spans.scope_spans.len(), 2);
    let spans = &resource_spans.scope_spans[0].spans;
    assert_eq!(spans.len(), 2);
    assert!(spans[0].parent_span_id.is_empty());
    assert_eq!(spans[0].flags, 0x101, "sampled, parent known not remote");
    assert_eq!(resource_spans.scope_spans[1].spans[0].flags, 0x301);
    assert_eq!(spans[1].links[0].flags, 0x301);
    assert_eq!(spans[1].attributes.len(), 8);
    assert_eq!(spans[1].dropped_events_count, 3);
    assert_eq!(spans[1].dropped_links_count, 4);
}

#[test]
fn log_records_convert_as_opentelemetry_proto_does() {
    let provider = SdkLoggerProvider::builder().build();
    let logger = provider.logger("unused");
    let map = HashMap::from([
        (Key::from("nested"), AnyValue::from(7_i64)),
        (
            Key::from("list"),
            AnyValue::ListAny(Box::new(vec![AnyValue::from("a"), AnyValue::from(true)])),
        ),
    ]);
    let mut records = Vec::new();
    for (index, body) in [
        AnyValue::from("message"),
        AnyValue::Map(Box::new(map)),
        AnyValue::Bytes(Box::new(vec![0, 159, 255])),
        AnyValue::Double(1.25),
    ]
    .into_iter()
    .enumerate()
    {
        let mut record = logger.create_log_record();
        record.set_body(body);
        record.set_timestamp(at(10));
        record.set_observed_timestamp(at(20));
        record.set_severity_number(Severity::Warn2);
        record.set_severity_text("WARN");
        record.set_event_name("checkout.failed");
        record.add_attribute("int", 3_i64);
        record.add_attribute("bytes", AnyValue::Bytes(Box::new(vec![1, 2])));
        if index % 2 == 0 {
            record.set_target("my_app::handlers");
        }
        if index == 1 {
            record.set_trace_context(
                TraceId::from(5_u128),
                SpanId::from(6_u64),
                Some(TraceFlags::SAMPLED),
            );
        }
        records.push(record);
    }
    // A lone record keeps the grouping deterministic on their side (a hash
    // map orders their scopes); ours keeps first-seen order.
    let scope = scope("my-lib", Some("https://example.com/s"));
    let resource = resource();
    for record in &records {
        let pairs = [(record, &scope)];
        let batch = LogBatch::new(&pairs);
        let ours = super::logs_request(&batch, &resource);
        let reference = opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest {
            resource_logs:
                opentelemetry_proto::transform::logs::tonic::group_logs_by_resource_and_scope(
                    &batch,
                    &ResourceAttributesWithSchema::from(&resource),
                ),
        };
        let reference: ExportLogsServiceRequest = theirs(&reference);
        assert_eq!(ours, reference);
    }
    // All in one batch: two scopes (with and without target), in order.
    let pairs: Vec<_> = records.iter().map(|r| (r, &scope)).collect();
    let ours = super::logs_request(&LogBatch::new(&pairs), &resource);
    let scopes = &ours.resource_logs[0].scope_logs;
    let names: Vec<&str> = scopes
        .iter()
        .map(|s| s.scope.as_ref().unwrap().name.as_ref())
        .collect();
    assert_eq!(names, ["my_app::handlers", "my-lib"]);
    assert_eq!(scopes[0].log_records.len(), 2);
    let traced = &scopes[1].log_records[0];
    assert_eq!(traced.flags, 1);
    assert_eq!(traced.span_id.as_ref(), &6_u64.to_be_bytes());
    assert_eq!(traced.severity_number, 14);
}

/// Converts what a real meter provider collects with both conversions.
#[derive(Clone, Default)]
struct BothConversions(Arc<Mutex<Vec<(ExportMetricsServiceRequest, ExportMetricsServiceRequest)>>>);

impl PushMetricExporter for BothConversions {
    async fn export(&self, metrics: &ResourceMetrics) -> OTelSdkResult {
        let reference =
            opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest::from(
                metrics,
            );
        let pair = (super::metrics_request(metrics), theirs(&reference));
        self.0.lock().unwrap().push(pair);
        Ok(())
    }
    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }
    fn shutdown_with_timeout(&self, _: Duration) -> OTelSdkResult {
        Ok(())
    }
    fn temporality(&self) -> Temporality {
        Temporality::Delta
    }
}

#[test]
fn metrics_convert_as_opentelemetry_proto_does() {
    let exporter = BothConversions::default();
    let exponential = |instrument: &Instrument| {
        (instrument.name() == "exp.latency").then(|| {
            Stream::builder()
                .with_aggregation(Aggregation::Base2ExponentialHistogram {
                    max_size: 160,
                    max_scale: 20,
                    record_min_max: true,
                })
                .build()
                .unwrap()
        })
    };
    let provider = SdkMeterProvider::builder()
        .with_resource(resource())
        .with_reader(PeriodicReader::builder(exporter.clone()).build())
        .with_view(exponential)
        .build();
    let meter = provider.meter_with_scope(scope("meters", Some("https://example.com/m")));
    let attributes = [KeyValue::new("route", "/pay"), KeyValue::new("ok", true)];
    meter.u64_counter("requests").build().add(3, &attributes);
    meter.f64_counter("bytes").build().add(1.5, &attributes);
    meter
        .i64_up_down_counter("in_flight")
        .build()
        .add(-2, &attributes);
    meter
        .f64_gauge("temperature")
        .build()
        .record(21.5, &attributes);
    meter.i64_gauge("queue").build().record(7, &[]);
    let histogram = meter.f64_histogram("latency").with_unit("ms").build();
    let exp = meter.u64_histogram("exp.latency").build();
    for value in [0.5, 3.0, 120.0, 7_000.0] {
        histogram.record(value, &attributes);
    }
    for value in [1, 2, 4, 1_000] {
        exp.record(value, &attributes);
    }
    provider.force_flush().unwrap();
    provider.shutdown().unwrap();
    let exports = exporter.0.lock().unwrap();
    assert!(!exports.is_empty());
    for (ours, reference) in exports.iter() {
        assert_eq!(ours, reference);
    }
    let (first, _) = &exports[0];
    let metrics = &first.resource_metrics[0].scope_metrics[0].metrics;
    use otlp_proto::metrics::v1::metric::Data;
    let kinds: Vec<&str> = metrics
        .iter()
        .map(|m| match m.data.as_ref().unwrap() {
            Data::Gauge(_) => "gauge",
            Data::Sum(_) => "sum",
            Data::Histogram(_) => "histogram",
            Data::ExponentialHistogram(_) => "exponential",
            Data::Summary(_) => "summary",
        })
        .collect();
    for kind in ["gauge", "sum", "histogram", "exponential"] {
        assert!(kinds.contains(&kind), "{kind} missing from {kinds:?}");
    }
}
