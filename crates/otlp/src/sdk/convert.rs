//! OpenTelemetry SDK data → OTLP messages of `otlp-proto`.
//!
//! Field for field what `opentelemetry-proto`'s `transform` (used by
//! `opentelemetry-otlp`) produces, so that switching exporter changes
//! nothing a backend sees. Two deliberate differences: scopes keep the order
//! in which they first appear in a batch (a hash map decides it there), and
//! a `u64` value above `i64::MAX` saturates instead of becoming 0.
//!
//! Every proto string is assigned through `.into()` from an owned `String`,
//! so that this module does not depend on which string type the proto
//! crate uses.

// The `.into()`s are no-ops while proto strings are `String`s: they are there
// so that this module compiles unchanged with a `Bytes`-backed string type.
#![allow(clippy::useless_conversion)]

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use opentelemetry::logs::AnyValue as LogValue;
use opentelemetry::trace::{SpanId, Status};
use opentelemetry::{Array, InstrumentationScope, KeyValue, Value};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::logs::{LogBatch, SdkLogRecord};
use opentelemetry_sdk::metrics::Temporality;
use opentelemetry_sdk::metrics::data::{
    AggregatedMetrics, Exemplar as SdkExemplar, ExponentialHistogram as SdkExponentialHistogram,
    Gauge as SdkGauge, Histogram as SdkHistogram, Metric as SdkMetric, MetricData,
    ResourceMetrics as SdkResourceMetrics, Sum as SdkSum,
};
use opentelemetry_sdk::trace::SpanData;
use otlp_proto::collector::logs::v1::ExportLogsServiceRequest;
use otlp_proto::collector::metrics::v1::ExportMetricsServiceRequest;
use otlp_proto::collector::trace::v1::ExportTraceServiceRequest;
use otlp_proto::common::v1 as common;
use otlp_proto::logs::v1 as logs;
use otlp_proto::metrics::v1 as metrics;
use otlp_proto::resource::v1 as resource;
use otlp_proto::trace::v1 as trace;

/// A resource as the OTLP messages carry it: attributes and schema URL.
#[derive(Debug, Clone, Default)]
pub(crate) struct ProtoResource {
    resource: resource::Resource,
    schema_url: String,
}

impl From<&Resource> for ProtoResource {
    fn from(sdk: &Resource) -> Self {
        Self {
            resource: resource::Resource {
                attributes: sdk
                    .iter()
                    .map(|(key, value)| key_value(key.as_str(), value.clone()))
                    .collect(),
                ..Default::default()
            },
            schema_url: sdk.schema_url().unwrap_or_default().to_owned(),
        }
    }
}

/// Nanoseconds since the Unix epoch; 0 for a time before it (the proto's
/// "unknown"), the largest value for one past the year 2554.
fn nanos(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |since| {
        u64::try_from(since.as_nanos()).unwrap_or(u64::MAX)
    })
}

fn key_value(key: &str, value: Value) -> common::KeyValue {
    common::KeyValue {
        key: key.to_owned().into(),
        value: Some(any_value(value)),
        ..Default::default()
    }
}

fn attributes<'a>(kvs: impl IntoIterator<Item = &'a KeyValue>) -> Vec<common::KeyValue> {
    kvs.into_iter()
        .map(|kv| key_value(kv.key.as_str(), kv.value.clone()))
        .collect()
}

fn owned_attributes(kvs: Vec<KeyValue>) -> Vec<common::KeyValue> {
    kvs.into_iter()
        .map(|kv| key_value(kv.key.as_str(), kv.value))
        .collect()
}

/// An attribute value; arrays become `ArrayValue`s of their elements.
fn any_value(value: Value) -> common::AnyValue {
    use common::any_value::Value as V;
    fn array<T>(values: Vec<T>, one: impl Fn(T) -> V) -> V {
        V::ArrayValue(common::ArrayValue {
            values: values
                .into_iter()
                .map(|v| common::AnyValue {
                    value: Some(one(v)),
                })
                .collect(),
        })
    }
    let value = match value {
        Value::Bool(b) => V::BoolValue(b),
        Value::I64(i) => V::IntValue(i),
        Value::F64(f) => V::DoubleValue(f),
        Value::String(s) => V::StringValue(String::from(s).into()),
        Value::Array(Array::Bool(values)) => array(values, V::BoolValue),
        Value::Array(Array::I64(values)) => array(values, V::IntValue),
        Value::Array(Array::F64(values)) => array(values, V::DoubleValue),
        Value::Array(Array::String(values)) => {
            array(values, |s| V::StringValue(String::from(s).into()))
        }
        // Kinds added to the API after this was written: their text, rather
        // than losing the attribute.
        other => V::StringValue(other.to_string().into()),
    };
    common::AnyValue { value: Some(value) }
}

/// A log body or log attribute value, maps and bytes included.
fn log_value(value: &LogValue) -> common::AnyValue {
    use common::any_value::Value as V;
    let value = match value {
        LogValue::Int(i) => V::IntValue(*i),
        LogValue::Double(f) => V::DoubleValue(*f),
        LogValue::String(s) => V::StringValue(s.as_str().to_owned().into()),
        LogValue::Boolean(b) => V::BoolValue(*b),
        LogValue::Bytes(bytes) => V::BytesValue(Bytes::copy_from_slice(bytes)),
        LogValue::ListAny(values) => V::ArrayValue(common::ArrayValue {
            values: values.iter().map(log_value).collect(),
        }),
        LogValue::Map(map) => V::KvlistValue(common::KeyValueList {
            values: map
                .iter()
                .map(|(key, value)| common::KeyValue {
                    key: key.as_str().to_owned().into(),
                    value: Some(log_value(value)),
                    ..Default::default()
                })
                .collect(),
        }),
        other => V::StringValue(format!("{other:?}").into()),
    };
    common::AnyValue { value: Some(value) }
}

/// The proto scope; `name` replaces the scope's name when given (a log
/// record's target, as `opentelemetry-otlp` does).
fn scope(scope: &InstrumentationScope, name: Option<&str>) -> common::InstrumentationScope {
    common::InstrumentationScope {
        name: name.unwrap_or(scope.name()).to_owned().into(),
        version: scope.version().unwrap_or_default().to_owned().into(),
        attributes: attributes(scope.attributes()),
        ..Default::default()
    }
}

fn scope_schema_url(scope: &InstrumentationScope) -> String {
    scope.schema_url().unwrap_or_default().to_owned()
}

/// `flags` of a span or link: the W3C trace flags, and whether the parent
/// (or linked) context is remote, with the bit saying that this is known.
fn span_flags(trace_flags: u8, remote: bool) -> u32 {
    let mut flags = u32::from(trace_flags) | trace::SpanFlags::ContextHasIsRemoteMask as u32;
    if remote {
        flags |= trace::SpanFlags::ContextIsRemoteMask as u32;
    }
    flags
}

fn id_bytes(bytes: &[u8]) -> Bytes {
    Bytes::copy_from_slice(bytes)
}

/// One span.
pub(crate) fn span(data: SpanData) -> trace::Span {
    let context = &data.span_context;
    let kind = match data.span_kind {
        opentelemetry::trace::SpanKind::Client => trace::span::SpanKind::Client,
        opentelemetry::trace::SpanKind::Server => trace::span::SpanKind::Server,
        opentelemetry::trace::SpanKind::Producer => trace::span::SpanKind::Producer,
        opentelemetry::trace::SpanKind::Consumer => trace::span::SpanKind::Consumer,
        opentelemetry::trace::SpanKind::Internal => trace::span::SpanKind::Internal,
    };
    let (code, message) = match data.status {
        Status::Unset => (trace::status::StatusCode::Unset, String::new()),
        Status::Ok => (trace::status::StatusCode::Ok, String::new()),
        Status::Error { description } => {
            (trace::status::StatusCode::Error, description.into_owned())
        }
    };
    trace::Span {
        trace_id: id_bytes(&context.trace_id().to_bytes()),
        span_id: id_bytes(&context.span_id().to_bytes()),
        trace_state: context.trace_state().header().into(),
        parent_span_id: if data.parent_span_id == SpanId::INVALID {
            Bytes::new()
        } else {
            id_bytes(&data.parent_span_id.to_bytes())
        },
        flags: span_flags(context.trace_flags().to_u8(), data.parent_span_is_remote),
        name: data.name.into_owned().into(),
        kind: kind as i32,
        start_time_unix_nano: nanos(data.start_time),
        end_time_unix_nano: nanos(data.end_time),
        attributes: owned_attributes(data.attributes),
        dropped_attributes_count: data.dropped_attributes_count,
        dropped_events_count: data.events.dropped_count,
        events: data
            .events
            .events
            .into_iter()
            .map(|event| trace::span::Event {
                time_unix_nano: nanos(event.timestamp),
                name: event.name.into_owned().into(),
                attributes: owned_attributes(event.attributes),
                dropped_attributes_count: event.dropped_attributes_count,
            })
            .collect(),
        dropped_links_count: data.links.dropped_count,
        links: data
            .links
            .links
            .into_iter()
            .map(|link| {
                let context = &link.span_context;
                trace::span::Link {
                    trace_id: id_bytes(&context.trace_id().to_bytes()),
                    span_id: id_bytes(&context.span_id().to_bytes()),
                    trace_state: context.trace_state().header().into(),
                    flags: span_flags(context.trace_flags().to_u8(), context.is_remote()),
                    attributes: owned_attributes(link.attributes),
                    dropped_attributes_count: link.dropped_attributes_count,
                }
            })
            .collect(),
        status: Some(trace::Status {
            code: code as i32,
            message: message.into(),
        }),
    }
}

/// A batch of spans of one resource, grouped by scope in order of first
/// appearance.
pub(crate) fn traces(batch: Vec<SpanData>, resource: &ProtoResource) -> ExportTraceServiceRequest {
    let mut index: HashMap<InstrumentationScope, usize> = HashMap::new();
    let mut scope_spans: Vec<trace::ScopeSpans> = Vec::new();
    for data in batch {
        // Looked up before inserting: most spans of a batch share a few
        // scopes, and a key costs a clone of the scope.
        let position = match index.get(&data.instrumentation_scope) {
            Some(&position) => position,
            None => {
                scope_spans.push(trace::ScopeSpans {
                    scope: Some(scope(&data.instrumentation_scope, None)),
                    schema_url: scope_schema_url(&data.instrumentation_scope).into(),
                    spans: Vec::new(),
                });
                index.insert(data.instrumentation_scope.clone(), scope_spans.len() - 1);
                scope_spans.len() - 1
            }
        };
        scope_spans[position].spans.push(span(data));
    }
    ExportTraceServiceRequest {
        resource_spans: vec![trace::ResourceSpans {
            resource: Some(resource.resource.clone()),
            scope_spans,
            schema_url: resource.schema_url.clone().into(),
        }],
    }
}

/// One log record.
pub(crate) fn log_record(record: &SdkLogRecord) -> logs::LogRecord {
    let context = record.trace_context();
    logs::LogRecord {
        time_unix_nano: record.timestamp().map_or(0, nanos),
        observed_time_unix_nano: record.observed_timestamp().map_or(0, nanos),
        severity_number: record.severity_number().map_or(0, |s| s as i32),
        severity_text: record.severity_text().unwrap_or_default().to_owned().into(),
        body: record.body().map(log_value),
        attributes: record
            .attributes_iter()
            .map(|(key, value)| common::KeyValue {
                key: key.as_str().to_owned().into(),
                value: Some(log_value(value)),
                ..Default::default()
            })
            .collect(),
        dropped_attributes_count: 0,
        flags: context
            .and_then(|c| c.trace_flags)
            .map_or(0, |flags| u32::from(flags.to_u8())),
        trace_id: context.map_or_else(Bytes::new, |c| id_bytes(&c.trace_id.to_bytes())),
        span_id: context.map_or_else(Bytes::new, |c| id_bytes(&c.span_id.to_bytes())),
        event_name: record.event_name().unwrap_or_default().to_owned().into(),
    }
}

/// A batch of log records of one resource, grouped by scope — the record's
/// target, when it has one, names the scope, as `opentelemetry-otlp` does —
/// in order of first appearance.
pub(crate) fn logs(batch: &LogBatch<'_>, resource: &ProtoResource) -> ExportLogsServiceRequest {
    // Key: the scope and the target replacing its name.
    let mut index: HashMap<(&InstrumentationScope, Option<&str>), usize> = HashMap::new();
    let mut scope_logs: Vec<logs::ScopeLogs> = Vec::new();
    for (record, instrumentation) in batch.iter() {
        let target = record.target().map(|t| t.as_ref());
        let position = *index.entry((instrumentation, target)).or_insert_with(|| {
            scope_logs.push(logs::ScopeLogs {
                scope: Some(scope(instrumentation, target)),
                schema_url: scope_schema_url(instrumentation).into(),
                log_records: Vec::new(),
            });
            scope_logs.len() - 1
        });
        scope_logs[position].log_records.push(log_record(record));
    }
    ExportLogsServiceRequest {
        resource_logs: vec![logs::ResourceLogs {
            resource: Some(resource.resource.clone()),
            scope_logs,
            schema_url: resource.schema_url.clone().into(),
        }],
    }
}

/// A number of a metric as OTLP carries it.
trait Number: Copy {
    fn point_value(self) -> metrics::number_data_point::Value;
    fn exemplar_value(self) -> metrics::exemplar::Value;
    fn as_f64(self) -> f64;
}

impl Number for f64 {
    fn point_value(self) -> metrics::number_data_point::Value {
        metrics::number_data_point::Value::AsDouble(self)
    }
    fn exemplar_value(self) -> metrics::exemplar::Value {
        metrics::exemplar::Value::AsDouble(self)
    }
    fn as_f64(self) -> f64 {
        self
    }
}

impl Number for i64 {
    fn point_value(self) -> metrics::number_data_point::Value {
        metrics::number_data_point::Value::AsInt(self)
    }
    fn exemplar_value(self) -> metrics::exemplar::Value {
        metrics::exemplar::Value::AsInt(self)
    }
    #[allow(clippy::cast_precision_loss)] // a sum, min or max: OTLP carries them as doubles
    fn as_f64(self) -> f64 {
        self as f64
    }
}

impl Number for u64 {
    fn point_value(self) -> metrics::number_data_point::Value {
        metrics::number_data_point::Value::AsInt(i64::try_from(self).unwrap_or(i64::MAX))
    }
    fn exemplar_value(self) -> metrics::exemplar::Value {
        metrics::exemplar::Value::AsInt(i64::try_from(self).unwrap_or(i64::MAX))
    }
    #[allow(clippy::cast_precision_loss)] // a sum, min or max: OTLP carries them as doubles
    fn as_f64(self) -> f64 {
        self as f64
    }
}

fn temporality(temporality: Temporality) -> i32 {
    match temporality {
        Temporality::Delta => metrics::AggregationTemporality::Delta as i32,
        // Cumulative, and anything newer, which OTLP has no name for.
        _ => metrics::AggregationTemporality::Cumulative as i32,
    }
}

fn exemplars<'a, T: Number + 'a>(
    exemplars: impl Iterator<Item = &'a SdkExemplar<T>>,
) -> Vec<metrics::Exemplar> {
    exemplars
        .map(|exemplar| metrics::Exemplar {
            filtered_attributes: attributes(exemplar.filtered_attributes()),
            time_unix_nano: nanos(exemplar.time()),
            span_id: id_bytes(exemplar.span_id()),
            trace_id: id_bytes(exemplar.trace_id()),
            value: Some(exemplar.value.exemplar_value()),
        })
        .collect()
}

fn gauge<T: Number>(gauge: &SdkGauge<T>) -> metrics::metric::Data {
    metrics::metric::Data::Gauge(metrics::Gauge {
        data_points: gauge
            .data_points()
            .map(|point| metrics::NumberDataPoint {
                attributes: attributes(point.attributes()),
                start_time_unix_nano: gauge.start_time().map_or(0, nanos),
                time_unix_nano: nanos(gauge.time()),
                exemplars: exemplars(point.exemplars()),
                flags: 0,
                value: Some(point.value().point_value()),
            })
            .collect(),
    })
}

fn sum<T: Number>(sum: &SdkSum<T>) -> metrics::metric::Data {
    metrics::metric::Data::Sum(metrics::Sum {
        data_points: sum
            .data_points()
            .map(|point| metrics::NumberDataPoint {
                attributes: attributes(point.attributes()),
                start_time_unix_nano: nanos(sum.start_time()),
                time_unix_nano: nanos(sum.time()),
                exemplars: exemplars(point.exemplars()),
                flags: 0,
                value: Some(point.value().point_value()),
            })
            .collect(),
        aggregation_temporality: temporality(sum.temporality()),
        is_monotonic: sum.is_monotonic(),
    })
}

fn histogram<T: Number>(histogram: &SdkHistogram<T>) -> metrics::metric::Data {
    metrics::metric::Data::Histogram(metrics::Histogram {
        data_points: histogram
            .data_points()
            .map(|point| metrics::HistogramDataPoint {
                attributes: attributes(point.attributes()),
                start_time_unix_nano: nanos(histogram.start_time()),
                time_unix_nano: nanos(histogram.time()),
                count: point.count(),
                sum: Some(point.sum().as_f64()),
                bucket_counts: point.bucket_counts().collect(),
                explicit_bounds: point.bounds().collect(),
                exemplars: exemplars(point.exemplars()),
                flags: 0,
                min: point.min().map(Number::as_f64),
                max: point.max().map(Number::as_f64),
            })
            .collect(),
        aggregation_temporality: temporality(histogram.temporality()),
    })
}

fn exponential_histogram<T: Number>(
    histogram: &SdkExponentialHistogram<T>,
) -> metrics::metric::Data {
    use metrics::exponential_histogram_data_point::Buckets;
    metrics::metric::Data::ExponentialHistogram(metrics::ExponentialHistogram {
        data_points: histogram
            .data_points()
            .map(|point| metrics::ExponentialHistogramDataPoint {
                attributes: attributes(point.attributes()),
                start_time_unix_nano: nanos(histogram.start_time()),
                time_unix_nano: nanos(histogram.time()),
                count: point.count() as u64,
                sum: Some(point.sum().as_f64()),
                scale: point.scale().into(),
                zero_count: point.zero_count(),
                positive: Some(Buckets {
                    offset: point.positive_bucket().offset(),
                    bucket_counts: point.positive_bucket().counts().collect(),
                }),
                negative: Some(Buckets {
                    offset: point.negative_bucket().offset(),
                    bucket_counts: point.negative_bucket().counts().collect(),
                }),
                flags: 0,
                exemplars: exemplars(point.exemplars()),
                min: point.min().map(Number::as_f64),
                max: point.max().map(Number::as_f64),
                zero_threshold: point.zero_threshold(),
            })
            .collect(),
        aggregation_temporality: temporality(histogram.temporality()),
    })
}

fn metric_data<T: Number>(data: &MetricData<T>) -> metrics::metric::Data {
    match data {
        MetricData::Gauge(g) => gauge(g),
        MetricData::Sum(s) => sum(s),
        MetricData::Histogram(h) => histogram(h),
        MetricData::ExponentialHistogram(h) => exponential_histogram(h),
    }
}

fn metric(metric: &SdkMetric) -> metrics::Metric {
    metrics::Metric {
        name: metric.name().to_owned().into(),
        description: metric.description().to_owned().into(),
        unit: metric.unit().to_owned().into(),
        data: Some(match metric.data() {
            AggregatedMetrics::F64(data) => metric_data(data),
            AggregatedMetrics::I64(data) => metric_data(data),
            AggregatedMetrics::U64(data) => metric_data(data),
        }),
        ..Default::default()
    }
}

/// What a metric reader collected: one resource, its scopes in the SDK's
/// order.
pub(crate) fn metrics(collected: &SdkResourceMetrics) -> ExportMetricsServiceRequest {
    let resource = ProtoResource::from(collected.resource());
    ExportMetricsServiceRequest {
        resource_metrics: vec![metrics::ResourceMetrics {
            resource: Some(resource.resource),
            scope_metrics: collected
                .scope_metrics()
                .map(|scope_metrics| metrics::ScopeMetrics {
                    scope: Some(scope(scope_metrics.scope(), None)),
                    metrics: scope_metrics.metrics().map(metric).collect(),
                    schema_url: scope_schema_url(scope_metrics.scope()).into(),
                })
                .collect(),
            schema_url: resource.schema_url.into(),
        }],
    }
}
