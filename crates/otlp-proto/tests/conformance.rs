//! Wire conformance with the `opentelemetry-proto` crate (OTLP v1.10.0 types,
//! whose schema v1.11.0 leaves unchanged except for the new `ProcessContext`).
//!
//! For every message kind, values drawn with every field populated are taken
//! around the loop
//!
//! ```text
//! ours ─encode→ bytes A ─decode→ theirs ─encode→ bytes B ─decode→ ours'
//! ```
//!
//! and the test requires `B == A` and `ours' == ours`. Their encoder writes, byte
//! for byte, what ours wrote, so their decoder saw every field with the value we
//! meant (a field it dropped or misread would change B); our decoder reads their
//! encoding back to the very value we started from. That covers both directions:
//! ours read by them, theirs read by us.

use std::fmt::Debug;

use bytes::Bytes;
use otlp_proto::strategy::{self, DEPTH};
use proptest::strategy::BoxedStrategy;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use prost::Message;

use opentelemetry_proto::tonic as theirs;

fn round_trip<Ours, Theirs>(strategy: BoxedStrategy<Ours>, cases: u32)
where
    Ours: Message + Default + PartialEq + Debug,
    Theirs: Message + Default,
{
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&strategy, |ours| {
        let ours_wire = ours.encode_to_vec();
        let decoded = Theirs::decode(ours_wire.as_slice()).map_err(|e| {
            TestCaseError::fail(format!("opentelemetry-proto rejected our bytes: {e}"))
        })?;
        let theirs_wire = decoded.encode_to_vec();
        proptest::prop_assert_eq!(&theirs_wire, &ours_wire, "re-encoding differs");
        let back = Ours::decode(Bytes::from(theirs_wire))
            .map_err(|e| TestCaseError::fail(format!("we rejected their bytes: {e}")))?;
        proptest::prop_assert_eq!(back, ours);
        Ok(())
    });
    if let Err(error) = result {
        panic!("{error}");
    }
}

macro_rules! conformance {
    ($($test:ident: $strategy:expr => $theirs:ty, $cases:expr;)*) => {$(
        #[test]
        fn $test() {
            round_trip::<_, $theirs>($strategy, $cases);
        }
    )*};
}

const SMALL: u32 = 128;
const LARGE: u32 = 32;

conformance! {
    // The export requests, responses and partial successes of each signal.
    traces_request: strategy::collector::trace::v1::export_trace_service_request(DEPTH)
        => theirs::collector::trace::v1::ExportTraceServiceRequest, LARGE;
    traces_response: strategy::collector::trace::v1::export_trace_service_response(DEPTH)
        => theirs::collector::trace::v1::ExportTraceServiceResponse, SMALL;
    traces_partial_success: strategy::collector::trace::v1::export_trace_partial_success(DEPTH)
        => theirs::collector::trace::v1::ExportTracePartialSuccess, SMALL;
    metrics_request: strategy::collector::metrics::v1::export_metrics_service_request(DEPTH)
        => theirs::collector::metrics::v1::ExportMetricsServiceRequest, LARGE;
    metrics_response: strategy::collector::metrics::v1::export_metrics_service_response(DEPTH)
        => theirs::collector::metrics::v1::ExportMetricsServiceResponse, SMALL;
    metrics_partial_success: strategy::collector::metrics::v1::export_metrics_partial_success(DEPTH)
        => theirs::collector::metrics::v1::ExportMetricsPartialSuccess, SMALL;
    logs_request: strategy::collector::logs::v1::export_logs_service_request(DEPTH)
        => theirs::collector::logs::v1::ExportLogsServiceRequest, LARGE;
    logs_response: strategy::collector::logs::v1::export_logs_service_response(DEPTH)
        => theirs::collector::logs::v1::ExportLogsServiceResponse, SMALL;
    logs_partial_success: strategy::collector::logs::v1::export_logs_partial_success(DEPTH)
        => theirs::collector::logs::v1::ExportLogsPartialSuccess, SMALL;
    profiles_request: strategy::collector::profiles::v1development::export_profiles_service_request(DEPTH)
        => theirs::collector::profiles::v1development::ExportProfilesServiceRequest, LARGE;
    profiles_response: strategy::collector::profiles::v1development::export_profiles_service_response(DEPTH)
        => theirs::collector::profiles::v1development::ExportProfilesServiceResponse, SMALL;
    profiles_partial_success: strategy::collector::profiles::v1development::export_profiles_partial_success(DEPTH)
        => theirs::collector::profiles::v1development::ExportProfilesPartialSuccess, SMALL;

    // common and resource.
    any_value: strategy::common::v1::any_value(DEPTH) => theirs::common::v1::AnyValue, SMALL;
    array_value: strategy::common::v1::array_value(DEPTH) => theirs::common::v1::ArrayValue, SMALL;
    key_value_list: strategy::common::v1::key_value_list(DEPTH) => theirs::common::v1::KeyValueList, SMALL;
    key_value: strategy::common::v1::key_value(DEPTH) => theirs::common::v1::KeyValue, SMALL;
    instrumentation_scope: strategy::common::v1::instrumentation_scope(DEPTH)
        => theirs::common::v1::InstrumentationScope, SMALL;
    entity_ref: strategy::common::v1::entity_ref(DEPTH) => theirs::common::v1::EntityRef, SMALL;
    resource: strategy::resource::v1::resource(DEPTH) => theirs::resource::v1::Resource, SMALL;

    // trace.
    traces_data: strategy::trace::v1::traces_data(DEPTH) => theirs::trace::v1::TracesData, LARGE;
    resource_spans: strategy::trace::v1::resource_spans(DEPTH) => theirs::trace::v1::ResourceSpans, LARGE;
    scope_spans: strategy::trace::v1::scope_spans(DEPTH) => theirs::trace::v1::ScopeSpans, SMALL;
    span: strategy::trace::v1::span(DEPTH) => theirs::trace::v1::Span, SMALL;
    span_event: strategy::trace::v1::span_event(DEPTH) => theirs::trace::v1::span::Event, SMALL;
    span_link: strategy::trace::v1::span_link(DEPTH) => theirs::trace::v1::span::Link, SMALL;
    status: strategy::trace::v1::status(DEPTH) => theirs::trace::v1::Status, SMALL;

    // metrics.
    metrics_data: strategy::metrics::v1::metrics_data(DEPTH) => theirs::metrics::v1::MetricsData, LARGE;
    resource_metrics: strategy::metrics::v1::resource_metrics(DEPTH) => theirs::metrics::v1::ResourceMetrics, LARGE;
    scope_metrics: strategy::metrics::v1::scope_metrics(DEPTH) => theirs::metrics::v1::ScopeMetrics, SMALL;
    metric: strategy::metrics::v1::metric(DEPTH) => theirs::metrics::v1::Metric, SMALL;
    gauge: strategy::metrics::v1::gauge(DEPTH) => theirs::metrics::v1::Gauge, SMALL;
    sum: strategy::metrics::v1::sum(DEPTH) => theirs::metrics::v1::Sum, SMALL;
    histogram: strategy::metrics::v1::histogram(DEPTH) => theirs::metrics::v1::Histogram, SMALL;
    exponential_histogram: strategy::metrics::v1::exponential_histogram(DEPTH)
        => theirs::metrics::v1::ExponentialHistogram, SMALL;
    summary: strategy::metrics::v1::summary(DEPTH) => theirs::metrics::v1::Summary, SMALL;
    number_data_point: strategy::metrics::v1::number_data_point(DEPTH)
        => theirs::metrics::v1::NumberDataPoint, SMALL;
    histogram_data_point: strategy::metrics::v1::histogram_data_point(DEPTH)
        => theirs::metrics::v1::HistogramDataPoint, SMALL;
    exponential_histogram_data_point: strategy::metrics::v1::exponential_histogram_data_point(DEPTH)
        => theirs::metrics::v1::ExponentialHistogramDataPoint, SMALL;
    exponential_histogram_buckets: strategy::metrics::v1::exponential_histogram_data_point_buckets(DEPTH)
        => theirs::metrics::v1::exponential_histogram_data_point::Buckets, SMALL;
    summary_data_point: strategy::metrics::v1::summary_data_point(DEPTH)
        => theirs::metrics::v1::SummaryDataPoint, SMALL;
    value_at_quantile: strategy::metrics::v1::summary_data_point_value_at_quantile(DEPTH)
        => theirs::metrics::v1::summary_data_point::ValueAtQuantile, SMALL;
    exemplar: strategy::metrics::v1::exemplar(DEPTH) => theirs::metrics::v1::Exemplar, SMALL;

    // logs.
    logs_data: strategy::logs::v1::logs_data(DEPTH) => theirs::logs::v1::LogsData, LARGE;
    resource_logs: strategy::logs::v1::resource_logs(DEPTH) => theirs::logs::v1::ResourceLogs, LARGE;
    scope_logs: strategy::logs::v1::scope_logs(DEPTH) => theirs::logs::v1::ScopeLogs, SMALL;
    log_record: strategy::logs::v1::log_record(DEPTH) => theirs::logs::v1::LogRecord, SMALL;

    // profiles (development).
    profiles_data: strategy::profiles::v1development::profiles_data(DEPTH)
        => theirs::profiles::v1development::ProfilesData, LARGE;
    profiles_dictionary: strategy::profiles::v1development::profiles_dictionary(DEPTH)
        => theirs::profiles::v1development::ProfilesDictionary, SMALL;
    resource_profiles: strategy::profiles::v1development::resource_profiles(DEPTH)
        => theirs::profiles::v1development::ResourceProfiles, SMALL;
    scope_profiles: strategy::profiles::v1development::scope_profiles(DEPTH)
        => theirs::profiles::v1development::ScopeProfiles, SMALL;
    profile: strategy::profiles::v1development::profile(DEPTH) => theirs::profiles::v1development::Profile, SMALL;
    profile_link: strategy::profiles::v1development::link(DEPTH) => theirs::profiles::v1development::Link, SMALL;
    value_type: strategy::profiles::v1development::value_type(DEPTH)
        => theirs::profiles::v1development::ValueType, SMALL;
    sample: strategy::profiles::v1development::sample(DEPTH) => theirs::profiles::v1development::Sample, SMALL;
    mapping: strategy::profiles::v1development::mapping(DEPTH) => theirs::profiles::v1development::Mapping, SMALL;
    stack: strategy::profiles::v1development::stack(DEPTH) => theirs::profiles::v1development::Stack, SMALL;
    location: strategy::profiles::v1development::location(DEPTH)
        => theirs::profiles::v1development::Location, SMALL;
    line: strategy::profiles::v1development::line(DEPTH) => theirs::profiles::v1development::Line, SMALL;
    function: strategy::profiles::v1development::function(DEPTH)
        => theirs::profiles::v1development::Function, SMALL;
    key_value_and_unit: strategy::profiles::v1development::key_value_and_unit(DEPTH)
        => theirs::profiles::v1development::KeyValueAndUnit, SMALL;
}

/// `ProcessContext` is new in v1.11.0, so `opentelemetry-proto` has no type for
/// it: check its bytes by hand instead (field 1 = Resource, field 2 = KeyValue).
#[test]
fn process_context_wire_layout() {
    use otlp_proto::common::v1::{AnyValue, KeyValue, any_value};
    use otlp_proto::processcontext::v1development::ProcessContext;
    use otlp_proto::resource::v1::Resource;

    let context = ProcessContext {
        resource: Some(Resource {
            dropped_attributes_count: 1,
            ..Default::default()
        }),
        attributes: vec![KeyValue {
            key: "k".into(),
            value: Some(AnyValue {
                value: Some(any_value::Value::BoolValue(true)),
            }),
            ..Default::default()
        }],
    };
    let wire = context.encode_to_vec();
    // 0x0a: field 1, length-delimited; Resource { dropped_attributes_count (2) = 1 }.
    // 0x12: field 2, length-delimited; KeyValue { key (1) = "k", value (2) = { bool (2) = true } }.
    assert_eq!(
        wire,
        [
            0x0a, 0x02, 0x10, 0x01, 0x12, 0x07, 0x0a, 0x01, b'k', 0x12, 0x02, 0x10, 0x01
        ]
    );
    assert_eq!(ProcessContext::decode(wire.as_slice()).unwrap(), context);
}

/// `google.rpc.Status`, the body of every OTLP/HTTP error response.
#[test]
fn google_rpc_status_wire_layout() {
    use otlp_proto::google::protobuf::Any;
    use otlp_proto::google::rpc::Status;

    let status = Status {
        code: 3,
        message: "bad".into(),
        details: vec![Any {
            type_url: "t".into(),
            value: Bytes::from_static(&[1]),
        }],
    };
    let wire = status.encode_to_vec();
    assert_eq!(
        wire,
        [
            0x08, 0x03, 0x12, 0x03, b'b', b'a', b'd', 0x1a, 0x06, 0x0a, 0x01, b't', 0x12, 0x01,
            0x01
        ]
    );
    assert_eq!(Status::decode(wire.as_slice()).unwrap(), status);
}
